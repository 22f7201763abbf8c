"""The full loop: OpenNebula A bursts through EC2 into OpenNebula B's econe.

Simulator A runs this repo's one_vmm_ec2 and one_im_ec2 (started as oned starts them) with an `ec2`
host whose EC2_ENDPOINT is econe in front of simulator B; the EC2 credentials are B's user alice. A VM
on A is deployed (a VM of alice's on B), monitored (host capacity, the VM's poll, its tags on B),
powered off, resumed and terminated, and nothing is left behind on either side.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from tests.conftest import installed_program, wait_for
from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env

PERIODS = {
    "BEACON_HOST": 1,
    "MONITOR_HOST": 1,
    "MONITOR_VM": 1,
    "STATE_VM": 1,
    "SYNC_STATE_VM": 2,
    "SYSTEM_HOST": 1,
}


@pytest.fixture
def cloud_b(tmp_path: Path) -> Iterator[tuple[EconeEnv, Seed]]:
    """OpenNebula B (its scheduler running) with econe in front; alice may use its m1.small template."""
    sim, env = start_econe_env(tmp_path / "b", {"sched_interval": 0.1})
    try:
        yield env, seed(env)
    finally:
        stop_econe_env(sim, env)


def b_vms(env: EconeEnv) -> list[Any]:
    """B's VMs that are not DONE."""
    return env.oneadmin.vmpool_info(-2, -1, -1, -1)


@pytest.mark.slow
def test_a_bursts_into_b_through_econe(tmp_path: Path, cloud_b: tuple[EconeEnv, Seed]) -> None:
    env_b, s = cloud_b
    # An EBS-backed AMI (a persistent image): EC2 stops only EBS-backed instances, and the driver on A
    # checks RootDeviceType before it powers a VM off.
    env_b.oneadmin.image_persistent(s.ami, True)
    (tmp_path / "b").mkdir(exist_ok=True)
    vmm, im = installed_program("one_vmm_ec2"), installed_program("one_im_ec2")
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text("state_wait_timeout_seconds: 30\nmax_attempts: 2\n")
    defaults = tmp_path / "ec2_driver.default"
    defaults.write_text("<TEMPLATE><PUBLIC_CLOUD></PUBLIC_CLOUD></TEMPLATE>")
    vmm_args = f"-t 4 --config {conf} --defaults {defaults} --log-file {tmp_path}/vmm.log --no-socket --poll-interval 0.05"
    im_args = f"--config {conf} --log {tmp_path}/im.log"
    with Simulator(
        auth_dir=tmp_path / "a",
        vmm={"ec2": f"{vmm} {vmm_args}"},
        im={"ec2": f"{im} {im_args}"},
        probes_period=PERIODS,
    ) as sim_a:
        a = OneGateway(sim_a.endpoint, sim_a.oneadmin_auth)
        host = a.call("one.host.allocate", "opennebula-b", "ec2", "ec2", -1)
        a.call(
            "one.host.update",
            host,
            f'EC2_ACCESS="alice"\nEC2_SECRET="{env_b.alice.secret}"\nREGION_NAME="opennebula"\n'
            f'EC2_ENDPOINT="{env_b.endpoint}"\nCAPACITY=[M1_SMALL="4"]',
            1,
        )

        def host_doc() -> ET.Element:
            return ET.fromstring(a.document("one.host.info", host, False))

        # Monitored through econe: capacity from CAPACITY, a PUBLIC_CLOUD host.
        wait_for(
            lambda: (
                host_doc().findtext("STATE") == "2" and host_doc().findtext("TEMPLATE/PUBLIC_CLOUD") == "YES"
            )
        )
        assert int(host_doc().findtext("HOST_SHARE/TOTAL_CPU") or 0) > 0

        vm = a.call(
            "one.vm.allocate",
            f'NAME="burst"\nCPU="1"\nMEMORY="512"\n'
            f'PUBLIC_CLOUD=[TYPE="ec2",AMI="ami-{s.ami:08d}",INSTANCETYPE="m1.small"]',
            False,
        )
        sim_a.schedule()

        def a_state() -> tuple[int, int]:
            doc = ET.fromstring(a.document("one.vm.info", vm, False))
            return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)

        def a_error() -> str:
            return ET.fromstring(a.document("one.vm.info", vm, False)).findtext("USER_TEMPLATE/ERROR") or ""

        wait_for(lambda: a_state() == (VmState.ACTIVE, LcmState.RUNNING) or bool(a_error()))
        assert a_state() == (VmState.ACTIVE, LcmState.RUNNING), a_error()
        instance_id = ET.fromstring(a.document("one.vm.info", vm, False)).findtext("DEPLOY_ID") or ""
        assert instance_id.startswith("i-")
        # On B it is a VM of alice's, with the driver's tags kept in their spelling.
        b_vm = env_b.oneadmin.vm_info(int(instance_id[2:]))
        assert b_vm.uname == "alice" and (b_vm.state, b_vm.lcm_state) == (VmState.ACTIVE, LcmState.RUNNING)
        tags = {t["Key"]: t["Value"] for t in env_b.client().describe_tags()["Tags"]}
        assert tags, "the driver tags what it launches"
        # A's monitoring reaches the VM (one DescribeInstances per cycle through econe).
        wait_for(
            lambda: (
                ET.fromstring(a.document("one.vm.info", vm, False)).find("MONITORING/TIMESTAMP") is not None
            ),
            timeout=30,
        )

        def b_state() -> tuple[VmState, LcmState]:
            found = env_b.oneadmin.vm_info(int(instance_id[2:]))
            return found.state, found.lcm_state

        a.call("one.vm.action", "poweroff", vm)
        wait_for(lambda: a_state()[0] == VmState.POWEROFF or bool(a_error()))
        assert a_state()[0] == VmState.POWEROFF, a_error()
        assert b_state()[0] == VmState.POWEROFF

        a.call("one.vm.action", "resume", vm)
        wait_for(lambda: a_state() == (VmState.ACTIVE, LcmState.RUNNING) or bool(a_error()))
        assert a_state() == (VmState.ACTIVE, LcmState.RUNNING), a_error()
        wait_for(lambda: b_state() == (VmState.ACTIVE, LcmState.RUNNING))
        assert (
            ET.fromstring(a.document("one.vm.info", vm, False)).findtext("DEPLOY_ID") or ""
        ) == instance_id

        a.call("one.vm.action", "terminate", vm)
        wait_for(lambda: a_state()[0] == VmState.DONE)
        wait_for(lambda: b_vms(env_b) == [])
        assert b_state()[0] == VmState.DONE
        # Nothing left: no live VM on either side, no volume or snapshot on B, A's host empty.
        assert a.vmpool_info(-2, -1, -1, -1) == []
        ec2 = env_b.client()
        assert ec2.describe_volumes()["Volumes"] == [] and ec2.describe_snapshots()["Snapshots"] == []
        states = [
            i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
        ]
        assert set(states) <= {"terminated"}
        wait_for(lambda: host_doc().findtext("HOST_SHARE/RUNNING_VMS") == "0")
