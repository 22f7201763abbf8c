"""One cycle against a moto region: instance mapping, poll strings, capacity, and every era's text."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from one_drivers.ec2.catalog import InstanceSize, InstanceTypeCatalog
from one_drivers.ec2.states import STATE_TABLE
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.capacity import CapacityError, HostCapacity, host_capacity, parse_counts, totals
from one_drivers.im_ec2.cycle import HostSnapshot, take_snapshot
from one_drivers.im_ec2.instances import (
    Instance,
    current_instances,
    describe_instances,
    import_template,
    poll_string,
    trim_describe_instances,
)
from one_drivers.one.template import parse_template
from tests.im_ec2.conftest import Region, ec2_client

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import TagTypeDef

CAPACITY = {"T3_MICRO": "10", "M1_SMALL": "5", "C5_LARGE": "2"}


def count_describes(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.ec2.DescribeInstances", lambda **_: calls.append("x"))
    return calls


@pytest.fixture
def snap(region: Region, catalog: InstanceTypeCatalog) -> HostSnapshot:
    client = trim_describe_instances(ec2_client(region.endpoint))
    return take_snapshot(7, "ec2-host", client, CAPACITY, catalog)


# --- tables ----------------------------------------------------------------------------------------


def test_poll_letters_follow_the_state_table() -> None:
    # The VMM driver's POLL reads the same table (tests/vmm_ec2): both give oned the same letter.
    for state, mapping in STATE_TABLE.items():
        inst = Instance("i-1", state.value, "t3.micro")
        assert poll_string(inst, None).startswith(f"STATE={mapping.poll} "), state


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, (0, 0)),
        ({"M1_SMALL": 5}, (500, 5 * 1740 * 1024)),
        ({"T3_MICRO": 10}, (2000, 10 * 1024 * 1024)),
        ({"M1_SMALL": 5, "T3_MICRO": 10}, (2500, 5 * 1740 * 1024 + 10 * 1024 * 1024)),
        ({"c5.2xlarge": 3, "M5_LARGE": 0}, (2400, 3 * 16384 * 1024)),
        ({"U_6TB1_56XLARGE": 1}, (22400, 6291456 * 1024)),
    ],
)
def test_capacity_tables(
    counts: dict[str, int], expected: tuple[int, int], catalog: InstanceTypeCatalog
) -> None:
    assert totals(counts, catalog.sizes(counts)) == expected


def test_capacity_unknown_type_is_a_clear_error(region: Region, catalog: InstanceTypeCatalog) -> None:
    with pytest.raises(CapacityError, match="'M9_GIGANTIC'"):
        take_snapshot(1, "h", ec2_client(region.endpoint), {"M1_SMALL": "1", "M9_GIGANTIC": "2"}, catalog)
    with pytest.raises(CapacityError, match="count"):
        parse_counts({"M1_SMALL": "five"})
    with pytest.raises(CapacityError, match=r"'x\.y'"):
        totals({"x.y": 1}, {})


def test_free_is_total_minus_used() -> None:
    size = InstanceSize("t3.micro", 2, 1024)
    run = Instance("i-1", "running", "t3.micro", one_id=1)
    stop = Instance("i-2", "stopped", "t3.micro", one_id=2)
    cap = host_capacity({"t3.micro": 3}, [run, stop], {"t3.micro": size})
    assert cap == HostCapacity(600, 3 * 1048576, 200, 1048576)
    assert (cap.free_cpu, cap.free_memory) == (400, 2 * 1048576)


# --- the cycle -------------------------------------------------------------------------------------


def test_one_describe_call_serves_the_cycle(region: Region, catalog: InstanceTypeCatalog) -> None:
    client = trim_describe_instances(ec2_client(region.endpoint))
    calls = count_describes(client)
    snap = take_snapshot(7, "ec2-host", client, CAPACITY, catalog)
    for text in (
        report.probe_text(snap),
        report.system_host(snap),
        report.monitor_host(snap),
        report.monitor_vm(snap),
        report.state_vm(snap, None, sync=True),
    ):
        assert text
    assert len(calls) == 1


def test_trimmed_and_full_replies_read_the_same(region: Region) -> None:
    full = describe_instances(ec2_client(region.endpoint))
    trimmed = describe_instances(trim_describe_instances(ec2_client(region.endpoint)))
    assert sorted(full, key=lambda i: i.instance_id) == sorted(trimmed, key=lambda i: i.instance_id)
    assert len(full) == 6


def test_pages_are_followed_with_the_fast_reader(region: Region) -> None:
    client = trim_describe_instances(ec2_client(region.endpoint))
    calls = count_describes(client)
    paged = describe_instances(client, page_size=5)
    assert len(calls) == 2  # 6 reservations, 5 per page
    full = describe_instances(ec2_client(region.endpoint))
    assert sorted(paged, key=lambda i: i.instance_id) == sorted(full, key=lambda i: i.instance_id)


def test_errors_still_come_from_botocore(region: Region) -> None:
    from botocore.exceptions import ClientError

    client = trim_describe_instances(ec2_client(region.endpoint))
    with pytest.raises(ClientError) as err:
        client.describe_instances(InstanceIds=["i-0000000000000dead"])
    assert err.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_snapshot_instances(snap: HostSnapshot, region: Region) -> None:
    by_id = {i.instance_id: i for i in snap.instances}
    # the terminated twin of VM 1 gives way to the running instance
    assert region.old_twin not in by_id
    assert by_id[region.running].one_id == 1
    assert by_id[region.stopped].state == "stopped"
    assert by_id[region.wild].wild and by_id[region.wild].vm_id == -1
    assert by_id[region.terminated].state == "terminated"
    assert {i.instance_id for i in snap.all_instances} >= {region.old_twin, region.running}


def test_snapshot_capacity(snap: HostSnapshot) -> None:
    cap = snap.capacity
    assert cap.total_cpu == 10 * 200 + 5 * 100 + 2 * 200
    assert cap.total_memory == (10 * 1024 + 5 * 1740 + 2 * 4096) * 1024
    # used: running t3.micro + m1.small + the wild c5.large; stopped and terminated hold nothing
    assert cap.used_cpu == 200 + 100 + 200
    assert cap.used_memory == (1024 + 1740 + 4096) * 1024
    assert cap.free_cpu == cap.total_cpu - cap.used_cpu


def test_poll_string_parses_and_keeps_spaces_and_commas(snap: HostSnapshot, region: Region) -> None:
    inst = next(i for i in snap.instances if i.instance_id == region.running)
    poll = poll_string(inst, snap.size_of(inst))
    parsed = parse_template(poll.replace(" ", "\n", 5))  # oned reads the tokens one by one
    assert parsed.get("STATE") == "a"
    assert parsed.get("MEMORY") == str(1024 * 1024)
    assert parsed.get("AWS_KEY_NAME") == "my key"
    groups = parsed.get("AWS_SECURITY_GROUPS")
    assert groups is not None and groups.count(",") == 1 and groups.startswith("sg-")
    assert parsed.get("AWS_INSTANCE_TYPE") == "t3.micro"
    assert parsed.get("AWS_IMAGE_ID") == "ami-12c6146b"
    assert parsed.get("AWS_AVAILABILITY_ZONE") == "us-east-1a"
    assert parse_template(poll).get("AWS_KEY_NAME") == "my key"


def test_import_template(snap: HostSnapshot, region: Region) -> None:
    inst = next(i for i in snap.instances if i.instance_id == region.wild)
    tmpl = parse_template(base64.b64decode(import_template(inst, "ec2-host", snap.size_of(inst))).decode())
    assert tmpl.get("NAME") == "wild one"
    assert (tmpl.get("CPU"), tmpl.get("VCPU"), tmpl.get("MEMORY")) == ("2", "2", "4096")
    assert tmpl.get("HYPERVISOR") == "ec2"
    assert tmpl.vectors("PUBLIC_CLOUD") == [
        {"TYPE": "ec2", "AMI": "ami-12c6146b", "INSTANCETYPE": "c5.large", "HOST": "ec2-host"}
    ]
    assert tmpl.get("IMPORT_VM_ID") == region.wild
    assert tmpl.get("SCHED_REQUIREMENTS") == 'NAME="ec2-host"'


# --- ≤5.10 outputs ---------------------------------------------------------------------------------


def test_probe_text_parses_back(snap: HostSnapshot, region: Region) -> None:
    tmpl = parse_template(report.probe_text(snap))
    for key, value in {
        "HYPERVISOR": "ec2",
        "PUBLIC_CLOUD": "YES",
        "PRIORITY": "-1",
        "CPUSPEED": "1000",
        "HOSTNAME": "ec2-host",
        "VM_POLL": "YES",
        "TOTALCPU": str(snap.capacity.total_cpu),
        "TOTALMEMORY": str(snap.capacity.total_memory),
        "USEDCPU": str(snap.capacity.used_cpu),
        "USEDMEMORY": str(snap.capacity.used_memory),
        "FREECPU": str(snap.capacity.free_cpu),
        "FREEMEMORY": str(snap.capacity.free_memory),
    }.items():
        assert tmpl.get(key) == value, key
    vms = {v["DEPLOY_ID"]: v for v in tmpl.vectors("VM")}
    # pending/running only: the stopped and terminated ones read as lost
    assert set(vms) == {region.running, region.small, region.wild}
    assert vms[region.running]["ID"] == "1" and "IMPORT_TEMPLATE" not in vms[region.running]
    assert vms[region.wild]["ID"] == "-1" and vms[region.wild]["IMPORT_TEMPLATE"]
    poll = parse_template(vms[region.running]["POLL"])
    assert poll.get("STATE") == "a" and poll.get("AWS_KEY_NAME") == "my key"
    assert poll.get("USEDMEMORY") == poll.get("MEMORY")


def test_legacy_monitor_info(snap: HostSnapshot) -> None:
    four = base64.b64decode(report.monitor_reply_info(snap, comma_format=False)).decode()
    assert four == report.probe_text(snap)
    three = report.monitor_reply_info(snap, comma_format=True)
    parsed = parse_template(three.replace(",", "\n"))  # what 3.x oned does before parsing
    assert parsed.get("TOTALCPU") == str(snap.capacity.total_cpu)
    assert parsed.get("HOSTNAME") == "ec2-host"
    assert parsed.vectors("VM") == []


# --- monitord payloads -----------------------------------------------------------------------------


def test_system_host(snap: HostSnapshot, region: Region) -> None:
    tmpl = parse_template(report.system_host(snap))
    assert tmpl.get("HYPERVISOR") == "ec2" and tmpl.get("PUBLIC_CLOUD") == "YES"
    assert tmpl.get("PRIORITY") == "-1"
    assert tmpl.get("TOTALCPU") == str(snap.capacity.total_cpu)
    wild = tmpl.vectors("VM")
    assert [w["DEPLOY_ID"] for w in wild] == [region.wild]
    assert wild[0]["ID"] == "-1" and wild[0]["UUID"] == region.wild
    assert (
        wild[0]["TYPE"] == "c5.large" and wild[0]["STATE"] == "RUNNING" and wild[0]["VM_NAME"] == "wild one"
    )
    assert (
        parse_template(base64.b64decode(wild[0]["IMPORT_TEMPLATE"]).decode()).get("IMPORT_VM_ID")
        == region.wild
    )


def test_monitor_host(snap: HostSnapshot) -> None:
    tmpl = parse_template(report.monitor_host(snap))
    assert tmpl.get("USEDCPU") == "500"
    assert tmpl.get("FREECPU") == str(snap.capacity.total_cpu - 500)
    assert tmpl.get("FREEMEMORY") == str(snap.capacity.free_memory)


def test_monitor_vm_only_real_ids(snap: HostSnapshot, region: Region) -> None:
    vms = parse_template(report.monitor_vm(snap)).vectors("VM")
    assert {v["ID"] for v in vms} == {"1", "2"}
    assert all(int(v["ID"]) >= 0 for v in vms)
    one = next(v for v in vms if v["ID"] == "1")
    assert one["DEPLOY_ID"] == region.running and one["STATE"] == "RUNNING"
    mon = parse_template(base64.b64decode(one["MONITOR"]).decode())
    assert mon.get("MEMORY") == str(1024 * 1024)
    assert mon.get("AWS_KEY_NAME") == "my key"


def test_state_vm_sync_and_changes(snap: HostSnapshot, region: Region) -> None:
    full = parse_template(report.state_vm(snap, None, sync=True))
    assert full.get("SYNC_STATE") == "yes" and full.get("MISSING_STATE") == "UNKNOWN"
    states = {v["ID"]: (v["DEPLOY_ID"], v["STATE"]) for v in full.vectors("VM")}
    assert states == {
        "1": (region.running, "RUNNING"),
        "2": (region.small, "RUNNING"),
        "3": (region.stopped, "POWEROFF"),
        "4": (region.terminated, "POWEROFF"),
    }
    before = report.vm_states(snap)
    assert report.state_vm(snap, before, sync=False) == ""
    changed = dict(before)
    changed[3] = (region.stopped, "RUNNING")
    delta = parse_template(report.state_vm(snap, changed, sync=False))
    assert delta.get("SYNC_STATE") is None
    assert [v["ID"] for v in delta.vectors("VM")] == ["3"]


def test_current_instances_prefers_alive_twin() -> None:
    dead = Instance("i-a", "terminated", "t3.micro", one_id=5)
    alive = Instance("i-b", "stopped", "t3.micro", one_id=5)
    wild1 = Instance("i-c", "running", "t3.micro")
    assert current_instances([dead, alive, wild1]) == [alive, wild1]
    assert current_instances([alive, dead]) == [alive]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([{"Key": "ONE_ID", "Value": "42"}], 42),
        ([{"Key": "ONE_ID", "Value": " 7 "}], 7),
        ([{"Key": "ONE_ID", "Value": "-1"}], None),
        ([{"Key": "ONE_ID", "Value": "abc"}], None),
        ([{"Key": "one_id", "Value": "5"}], None),  # tag keys are case-sensitive in EC2
        ([{"Key": "Name", "Value": "x"}], None),
        ([], None),
    ],
)
def test_parse_one_id(tags: list[TagTypeDef], expected: int | None) -> None:
    from one_drivers.im_ec2.instances import parse_one_id

    assert parse_one_id(tags) == expected
