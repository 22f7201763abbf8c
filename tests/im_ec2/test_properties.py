"""Properties: any AWS value or name survives the poll string, the VM vectors and the import template;
our monitord payloads have the shapes of the recorded 6.10.5 agent messages."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from one_drivers.ec2.catalog import InstanceSize
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.capacity import HostCapacity
from one_drivers.im_ec2.cycle import HostSnapshot
from one_drivers.im_ec2.instances import Instance, import_template, poll_string
from one_drivers.mad.monitord import decode_frame, encode_frame
from one_drivers.one.template import parse_template

# What EC2 (or an EC2-compatible endpoint) may put in a tag or an attribute: anything printable.
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)
SIZE = InstanceSize("t3.micro", 2, 1024)


def snapshot(inst: Instance) -> HostSnapshot:
    return HostSnapshot(
        5, "ec2-host", HostCapacity(200, 1048576, 200, 1048576), (inst,), (inst,), {"t3.micro": SIZE}
    )


def survived(sent: str, got: str | None) -> bool:
    # quote_value refuses the few values oned cannot carry (']]>', trailing backslash): those travel URI-encoded.
    return got == sent or got == urllib.parse.quote(sent, safe="")


@settings(max_examples=150, deadline=None)
@given(key_name=values, group=values)
@example(key_name="ends with \\", group='a"b')
@example(key_name="x]]>y", group="\\")
def test_aws_values_survive_the_poll_string(key_name: str, group: str) -> None:
    inst = Instance(
        "i-0123",
        "running",
        "t3.micro",
        one_id=3,
        aws=(("KEY_NAME", key_name), ("SECURITY_GROUPS", f"{group},sg-2")),
    )
    poll = parse_template(poll_string(inst, SIZE))
    assert poll.get("STATE") == "a"
    assert survived(key_name, poll.get("AWS_KEY_NAME"))
    assert survived(f"{group},sg-2", poll.get("AWS_SECURITY_GROUPS"))
    # and again one level down, inside the VM=[POLL="..."] vector of the 4.4-5.10 probe
    vms = parse_template(report.probe_text(snapshot(inst))).vectors("VM")
    assert len(vms) == 1
    inner = parse_template(vms[0]["POLL"])
    assert survived(key_name, inner.get("AWS_KEY_NAME"))


@settings(max_examples=150, deadline=None)
@given(name=values)
@example(name="\\")
@example(name='web 1, prod ]]> "x"')
def test_names_survive_vectors_and_import_templates(name: str) -> None:
    wild = Instance("i-0456", "running", "t3.micro", image_id="ami-1", name=name)
    system = parse_template(report.system_host(snapshot(wild))).vectors("VM")
    assert survived(name, system[0]["VM_NAME"])
    tmpl = parse_template(base64.b64decode(import_template(wild, "ec2-host", SIZE)).decode())
    assert survived(name, tmpl.get("NAME"))
    assert tmpl.get("IMPORT_VM_ID") == "i-0456"


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=5000), host=st.integers(min_value=0, max_value=2**31 - 1))
def test_frames_round_trip(data: bytes, host: int) -> None:
    line = encode_frame("MONITOR_VM", True, host, data, timestamp=1795306873)
    assert "\n" not in line
    frame = decode_frame(line)
    assert (frame.host_id, frame.data) == (host, data)


def test_our_monitor_vm_has_the_recorded_agent_shape(real_dir: Path) -> None:
    text = (real_dir / "driver_messages.txt").read_text(encoding="utf-8")
    recorded = next(
        line[6:] for line in text.splitlines() if line.startswith('    | VM = [ ID="4", DEPLOY_ID=')
    )
    theirs = parse_template(recorded).vectors("VM")[0]
    inst = Instance("i-0789", "running", "t3.micro", one_id=4)
    ours = parse_template(report.monitor_vm(snapshot(inst))).vectors("VM")[0]
    assert set(theirs) <= set(ours)  # ID, DEPLOY_ID, MONITOR (+ UUID, NAME, TYPE, STATE)
    for vector in (theirs, ours):
        monitor = parse_template(base64.b64decode(vector["MONITOR"]).decode())
        assert {"NETTX", "NETRX", "MEMORY", "CPU"} <= {k for k, _ in monitor}
