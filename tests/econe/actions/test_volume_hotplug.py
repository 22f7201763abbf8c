"""Attachment states while oned hot-plugs a volume: a VMM driver program (over the real line protocol)
answers ATTACHDISK/DETACHDISK only when the test opens a gate, so `attaching` and `detaching` show in
DescribeVolumes before `attached` / `available`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env

GATED_VMM = r"""
import os, sys, time
gates = sys.argv[1]
hotplugs = 0
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
for raw in sys.stdin:
    parts = raw.split()
    if not parts:
        continue
    action = parts[0]
    if action == "INIT":
        out("INIT SUCCESS - -")
    elif action == "FINALIZE":
        break
    elif action == "DEPLOY":
        out(f"DEPLOY SUCCESS {parts[1]} gated-{parts[1]}")
    elif action in ("ATTACHDISK", "DETACHDISK"):
        hotplugs += 1
        while not os.path.exists(os.path.join(gates, f"gate-{hotplugs}")):
            time.sleep(0.02)
        out(f"{action} SUCCESS {parts[1]}")
    else:
        out(f"{action} SUCCESS {parts[1]}")
"""


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[EconeEnv, Seed, Path]]:
    # oned starts a driver as one executable with its arguments in ONE argv element.
    program = tmp_path / "gated_vmm"
    program.write_text(f"#!{sys.executable}\n{GATED_VMM}")
    program.chmod(0o755)
    gates = tmp_path / "gates"
    gates.mkdir()
    sim, env = start_econe_env(tmp_path / "env", {"vmm": {"gated": f"{program} {gates}"}})
    try:
        s = seed(env)
        env.oneadmin.call("one.host.allocate", "gated-host", "dummy", "gated", -1)
        env.oneadmin.call("one.host.status", s.host, 1)  # disable the seed's dummy host
        yield env, s, gates
    finally:
        stop_econe_env(sim, env)


def attachment_state(ec2: Any, vol: str) -> str:
    (volume,) = ec2.describe_volumes(VolumeIds=[vol])["Volumes"]
    return str(volume["Attachments"][0]["State"]) if volume["Attachments"] else volume["State"]


@pytest.mark.slow
def test_attaching_then_attached_detaching_then_available(gated: tuple[EconeEnv, Seed, Path]) -> None:
    env, s, gates = gated
    ec2 = env.client()
    vm = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    env.sim.schedule()
    wait_for(
        lambda: (
            ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]["State"]["Name"]
            == "running"
        )
    )
    vol = ec2.create_volume(AvailabilityZone="opennebula", Size=1)["VolumeId"]
    assert ec2.attach_volume(VolumeId=vol, InstanceId=vm, Device="/dev/sdh")["State"] == "attaching"
    assert attachment_state(ec2, vol) == "attaching"
    (gates / "gate-1").touch()
    wait_for(lambda: attachment_state(ec2, vol) == "attached")
    assert ec2.detach_volume(VolumeId=vol)["State"] == "detaching"
    assert attachment_state(ec2, vol) == "detaching"
    (gates / "gate-2").touch()
    wait_for(lambda: attachment_state(ec2, vol) == "available")
