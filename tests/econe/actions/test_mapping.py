"""Pure mappings: recorded VMs/images/templates -> EC2 dicts, round-tripped through botocore's parser;
the extra template RunInstances sends, proven unable to carry injected attributes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from one_drivers.econe.actions import images, instance_types, instances
from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.tagging import (
    hashed_name,
    tags_from_specifications,
    tags_from_template,
    tags_to_vectors,
)
from one_drivers.one import records
from one_drivers.one.template import TemplateError, build_template, parse_template
from one_drivers.query.errors import Ec2Error
from tests.conftest import REAL
from tests.econe.actions.roundtrip import round_trip


def read(real_dir: Path, name: str) -> str:
    return (real_dir / name).read_text(encoding="utf-8")


def test_recorded_running_vm_as_instance(real_dir: Path) -> None:
    vm = records.parse(records.VmRecord, read(real_dir, "vm_info.xml"))
    inst = instances.instance_from_vm(vm, "zone-a")
    assert inst["InstanceId"] == "i-00000000"
    assert inst["State"] == {"Code": 16, "Name": "running"}
    assert inst["ImageId"] == "ami-00000000"  # no IMAGE_ID attribute: the first disk's image
    assert inst["PrivateIpAddress"] == inst["PublicIpAddress"] == "10.0.0.10"
    assert inst["LaunchTime"] == datetime.fromtimestamp(1795306730, UTC)
    assert inst["Placement"] == {"AvailabilityZone": "zone-a"}
    assert "StateReason" not in inst and "Tags" not in inst and "KeyName" not in inst
    result = {"Reservations": instances.reservations([vm], "zone-a")}
    assert result["Reservations"][0]["ReservationId"] == "r-00000000"
    assert round_trip("DescribeInstances", result) == result


def test_recorded_done_pool_as_terminated(real_dir: Path) -> None:
    vms = records.parse_pool(records.VmRecord, read(real_dir, "vmpool_info_final_all_states.xml"))
    result = {"Reservations": instances.reservations(vms, "z")}
    assert [r["Instances"][0]["State"]["Name"] for r in result["Reservations"]] == ["terminated"] * 6
    assert all("PrivateIpAddress" not in r["Instances"][0] for r in result["Reservations"])
    assert round_trip("DescribeInstances", result) == result


def test_econe_attributes_read_back() -> None:
    user_template = build_template(
        [
            ("IMAGE_ID", "ami-00000007"),
            ("EC2_INSTANCE_TYPE", "m1.small"),
            ("EC2_CLIENT_TOKEN", "tok-1"),
            ("EC2_RESERVATION_ID", "r-00000004"),
            *tags_to_vectors([("Name", "web"), ("aws-like:key", "v"), ("NAME", "other")]),
            ("ERROR", "boot failed"),
        ]
    )
    doc = (
        "<VM><ID>5</ID><UID>3</UID><STATE>3</STATE><LCM_STATE>36</LCM_STATE><STIME>100</STIME>"
        "<TEMPLATE><CONTEXT><EC2_KEYNAME><![CDATA[k1]]></EC2_KEYNAME></CONTEXT>"
        "<NIC><IP>10.1.1.1</IP></NIC><NIC><IP>10.1.1.2</IP></NIC></TEMPLATE>"
        f"<USER_TEMPLATE>{_xml(user_template)}</USER_TEMPLATE></VM>"
    )
    vm = records.parse(records.VmRecord, doc)
    inst = instances.instance_from_vm(vm, "z")
    assert inst["ImageId"] == "ami-00000007" and inst["InstanceType"] == "m1.small"
    assert inst["ClientToken"] == "tok-1" and inst["KeyName"] == "k1"
    assert inst["PrivateIpAddress"] == "10.1.1.1"
    assert inst["State"]["Name"] == "pending"  # BOOT_FAILURE keeps pending ...
    assert inst["StateReason"]["Message"] == "OpenNebula state BOOT_FAILURE: boot failed"  # ... with a reason
    assert sorted((t["Key"], t["Value"]) for t in inst["Tags"]) == [
        ("NAME", "other"),
        ("Name", "web"),
        ("aws-like:key", "v"),
    ]
    assert instances.reservation_id(vm) == "r-00000004"
    result = {"Reservations": instances.reservations([vm], "z")}
    assert round_trip("DescribeInstances", result) == result


def _xml(template_text: str) -> str:
    """Template text -> the XML oned would show (one element per attribute, vectors nested)."""
    parts = []
    for name, value in parse_template(template_text):
        if isinstance(value, dict):
            inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in value.items())
            parts.append(f"<{name}>{inner}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    return "".join(parts)


def test_upstream_tags_read_back_upper_cased() -> None:
    tmpl = parse_template('EC2_TAGS = [ NAME = "web", ENV = "prod" ]\n')
    assert tags_from_template(tmpl) == [{"Key": "NAME", "Value": "web"}, {"Key": "ENV", "Value": "prod"}]


def test_tag_codec_edges() -> None:
    vectors = dict(tags_to_vectors([("Name", "a"), ("name", "b"), ("x y", "c")]))
    assert vectors["EC2_TAGS"]["NAME"] == "a"
    assert vectors["EC2_TAGS"][hashed_name("name")] == "b"
    assert vectors["EC2_TAG_KEYS"][hashed_name("x y")] == "x y"
    assert tags_to_vectors([]) == []
    for bad in [("", "v"), ("k" * 129, "v"), ("aws:x", "v"), ("k", "v" * 257)]:
        with pytest.raises(Ec2Error):
            tags_to_vectors([bad])
    with pytest.raises(Ec2Error) as err:
        tags_from_specifications([{"ResourceType": "volume", "Tags": []}], "instance")
    assert err.value.code == "InvalidParameterValue"
    with pytest.raises(Ec2Error) as err:
        tags_from_specifications([{"Tags": [{"Key": f"k{i}", "Value": ""} for i in range(51)]}], "instance")
    assert err.value.code == "TagLimitExceeded"


def test_filters() -> None:
    table = {"name": lambda s: [s]}
    f = parse_filters([{"Name": "name", "Values": ["web-*", "db?"]}], table, lambda s: [])
    assert [s for s in ["web-1", "db1", "db12", "x"] if f.matches(s)] == ["web-1", "db1"]
    bads: list[list[dict[str, Any]]] = [
        [{"Name": "nope", "Values": ["x"]}],
        [{"Name": "name", "Values": []}],
        [{"Values": ["x"]}],
    ]
    for bad in bads:
        with pytest.raises(Ec2Error) as err:
            parse_filters(bad, table, lambda s: [])
        assert err.value.code == "InvalidParameterValue"


HOSTILE = [
    'x"\nRAW = [ TYPE = "kvm", DATA = "evil" ]\nSCHED_REQUIREMENTS = "ID=0',
    'v" ] \n SCHED_RANK = "1',
    'line1\nline2\rSCHED_DS_REQUIREMENTS="x"',
    "tab\t\"quote\"'single'$VAR[X]",
]


@pytest.mark.parametrize("evil", HOSTILE)
def test_user_values_cannot_add_attributes(real_dir: Path, evil: str) -> None:
    tmpl = records.parse(records.TemplateRecord, read(real_dir, "template_info.xml"))
    image = records.parse(records.ImageRecord, read(real_dir, "image_info.xml"))
    text = instances.run_extra_template(
        image=image,
        tmpl=tmpl,
        instance_type="m1.small",
        client_token="tok",
        reservation=None,
        tags=[("Name", evil), ("k2", evil)],
        key_name=evil,
        public_key=evil,
        user_data=base64.b64encode(evil.encode()).decode(),
    )
    parsed = parse_template(text)
    names = [name for name, _ in parsed]
    assert names == [
        "DISK",
        "DISK",
        "IMAGE_ID",
        "EC2_INSTANCE_TYPE",
        "EC2_CLIENT_TOKEN",
        "EC2_TAGS",
        "EC2_TAG_KEYS",
        "CONTEXT",
    ]
    assert parsed.vectors("DISK") == [{"IMAGE_ID": "0"}, {"IMAGE_ID": "0"}]
    assert parsed.vectors("EC2_TAGS")[0] == {"NAME": evil, "K2": evil}
    context = parsed.vectors("CONTEXT")[0]
    # The template's own CONTEXT is kept, ours is added (the key pair's key replaces the template's
    # SSH_PUBLIC_KEY), and the hostile text stays one value.
    assert context["SSH_PUBLIC_KEY"] == evil
    assert context["EC2_KEYNAME"] == evil and context["EC2_PUBLIC_KEY"] == evil
    assert base64.b64decode(context["EC2_USER_DATA"]).decode() == evil
    assert set(context) == {"NETWORK", "SSH_PUBLIC_KEY", "EC2_PUBLIC_KEY", "EC2_KEYNAME", "EC2_USER_DATA"}


def test_recorded_image_mapping(real_dir: Path) -> None:
    image = records.parse(records.ImageRecord, read(real_dir, "image_info.xml"))
    assert not images.is_ami(image) and not images.is_volume_or_snapshot(image)
    mapped = images.image_from_record(image)
    assert mapped["ImageId"] == "ami-00000000" and mapped["State"] == "available"
    assert (
        mapped["Description"] == "test datablock" and mapped["OwnerId"] == "0" and mapped["Public"] is False
    )
    result = {"Images": [mapped]}
    assert round_trip("DescribeImages", result) == result


def test_image_state_table_covers_every_oned_state() -> None:
    assert set(images.IMAGE_STATE_TABLE) == set(range(len(records.IMAGE_STATES)))


def test_recorded_template_as_instance_type(real_dir: Path) -> None:
    tmpl = records.parse(records.TemplateRecord, read(real_dir, "template_info.xml"))
    info = instance_types.instance_type_info("m1.small", tmpl)
    assert info["VCpuInfo"]["DefaultVCpus"] == 1 and info["MemoryInfo"] == {"SizeInMiB": 64}
    result = {"InstanceTypes": [info], "NextToken": "t:1"}
    assert round_trip("DescribeInstanceTypes", result) == result


def test_state_change_and_run_results_round_trip(real_dir: Path) -> None:
    vm = records.parse(records.VmRecord, read(real_dir, "vm_info.xml"))
    change = {
        "InstanceId": "i-00000000",
        "PreviousState": {"Code": 16, "Name": "running"},
        "CurrentState": {"Code": 32, "Name": "shutting-down"},
    }
    for action, key in [
        ("TerminateInstances", "TerminatingInstances"),
        ("StartInstances", "StartingInstances"),
        ("StopInstances", "StoppingInstances"),
    ]:
        assert round_trip(action, {key: [change]}) == {key: [change]}
    run = instances.reservations([vm], "z")[0]
    assert round_trip("RunInstances", run) == run
    assert round_trip("RebootInstances", {}) == {}
    results: list[tuple[str, dict[str, Any]]] = [
        ("RegisterImage", {"ImageId": "ami-00000001"}),
        ("DeregisterImage", {"Return": True}),
    ]
    for action, result in results:
        assert round_trip(action, result) == result


_IMAGE = records.parse(records.ImageRecord, (REAL / "image_info.xml").read_text(encoding="utf-8"))
_TEMPLATE = records.parse(records.TemplateRecord, (REAL / "template_info.xml").read_text(encoding="utf-8"))


@settings(max_examples=300, deadline=None)
@given(
    tag_key=st.text(min_size=1, max_size=40).filter(lambda k: not k.lower().startswith("aws:")),
    tag_value=st.text(max_size=60),
    key_name=st.text(min_size=1, max_size=40),
    token=st.text(min_size=1, max_size=20),
)
def test_any_user_value_stays_one_value(tag_key: str, tag_value: str, key_name: str, token: str) -> None:
    # Either the value is refused (TemplateError -> InvalidParameterValue) or it reads back unchanged,
    # under exactly the attribute names econe wrote.
    try:
        text = instances.run_extra_template(
            image=_IMAGE,
            tmpl=_TEMPLATE,
            instance_type=token,
            client_token=token,
            reservation=None,
            tags=[(tag_key, tag_value)],
            key_name=key_name,
            public_key=tag_value,
            user_data=None,
        )
    except TemplateError:
        return
    parsed = parse_template(text)
    assert [n for n, _ in parsed] == [
        "DISK",
        "DISK",
        "IMAGE_ID",
        "EC2_INSTANCE_TYPE",
        "EC2_CLIENT_TOKEN",
        "EC2_TAGS",
        "EC2_TAG_KEYS",
        "CONTEXT",
    ]
    assert parsed.get("EC2_CLIENT_TOKEN") == token == parsed.get("EC2_INSTANCE_TYPE")
    assert tags_from_template(parsed) == [{"Key": tag_key, "Value": tag_value}]
    context = parsed.vectors("CONTEXT")[0]
    assert context["EC2_KEYNAME"] == key_name and context["EC2_PUBLIC_KEY"] == tag_value
    assert set(context) == {"NETWORK", "SSH_PUBLIC_KEY", "EC2_PUBLIC_KEY", "EC2_KEYNAME"}
