"""End to end: the simulator with an `ec2` host wired to this repo's one_vmm_ec2 (started as oned starts
it), bursting a VM to moto's EC2 on loopback; RUNNING in the simulator, terminated in EC2 at the end.
The driver reads the host's EC2_* attributes with one.host.info(id, true) via ONE_XMLRPC/ONE_AUTH."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from tests.conftest import installed_program, wait_for


@pytest.mark.slow
def test_burst_a_vm_to_moto(tmp_path: Path, moto_endpoint: str) -> None:
    vmm = installed_program("one_vmm_ec2")
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text("state_wait_timeout_seconds: 30\nmax_attempts: 2\n")
    defaults = tmp_path / "ec2_driver.default"
    defaults.write_text("<TEMPLATE><PUBLIC_CLOUD></PUBLIC_CLOUD></TEMPLATE>")
    arguments = f"-t 4 -r 0 --config {conf} --defaults {defaults} --log-file {tmp_path}/vmm.log --no-socket --poll-interval 0.05"
    with Simulator(auth_dir=tmp_path / "one", vmm={"ec2": f"{vmm} {arguments}"}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "ec2-moto", "ec2", "ec2", -1)
        gw.call(
            "one.host.update",
            host,
            f'EC2_ACCESS="testing"\nEC2_SECRET="testing"\nREGION_NAME="us-east-1"\nEC2_ENDPOINT="{moto_endpoint}"',
            1,
        )
        # secrets are ciphertext unless decrypted by an admin
        assert "<EC2_SECRET><![CDATA[testing]]>" not in gw.document("one.host.info", host, False)
        assert "<EC2_SECRET><![CDATA[testing]]>" in gw.document("one.host.info", host, True)
        vm = gw.call(
            "one.vm.allocate",
            'NAME="burst"\nCPU="1"\nMEMORY="512"\nPUBLIC_CLOUD=[TYPE="ec2",AMI="ami-12c6146b",INSTANCETYPE="t3.micro"]',
            True,
        )
        gw.call("one.vm.deploy", vm, host, False, -1)

        def vm_doc() -> ET.Element:
            return ET.fromstring(gw.document("one.vm.info", vm, False))

        def state() -> tuple[int, int]:
            doc = vm_doc()
            return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)

        wait_for(lambda: state()[1] != LcmState.BOOT)
        assert state() == (VmState.ACTIVE, LcmState.RUNNING), vm_doc().findtext("USER_TEMPLATE/ERROR")
        instance_id = vm_doc().findtext("DEPLOY_ID") or ""
        assert instance_id.startswith("i-")
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)

        def ec2_state() -> str:
            found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            return str(found["State"]["Name"])

        assert ec2_state() in ("pending", "running")
        gw.call("one.vm.action", "terminate", vm)
        wait_for(lambda: state()[0] == VmState.DONE)
        assert ec2_state() in ("shutting-down", "terminated")


@pytest.mark.slow
def test_monitored_ec2_host_gets_scheduled_vm(tmp_path: Path, moto_endpoint: str) -> None:
    """one_im_ec2 monitors the host (START_MONITOR, then pushes to the monitord listener); the scheduler
    puts a PUBLIC_CLOUD VM on it; one_vmm_ec2 launches it; monitoring reaches the VM; terminate ends it."""
    vmm = installed_program("one_vmm_ec2")
    im = installed_program("one_im_ec2")
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text("state_wait_timeout_seconds: 30\nmax_attempts: 2\n")
    defaults = tmp_path / "ec2_driver.default"
    defaults.write_text("<TEMPLATE><PUBLIC_CLOUD></PUBLIC_CLOUD></TEMPLATE>")
    vmm_args = f"-t 4 --config {conf} --defaults {defaults} --log-file {tmp_path}/vmm.log --no-socket --poll-interval 0.05"
    im_args = f"--config {conf} --log {tmp_path}/im.log"
    periods = {
        "BEACON_HOST": 1,
        "MONITOR_HOST": 1,
        "MONITOR_VM": 1,
        "STATE_VM": 1,
        "SYNC_STATE_VM": 2,
        "SYSTEM_HOST": 1,
    }
    with Simulator(
        auth_dir=tmp_path / "one",
        vmm={"ec2": f"{vmm} {vmm_args}"},
        im={"ec2": f"{im} {im_args}"},
        probes_period=periods,
    ) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "ec2-moto", "ec2", "ec2", -1)
        gw.call(
            "one.host.update",
            host,
            f'EC2_ACCESS="testing"\nEC2_SECRET="testing"\nREGION_NAME="us-east-1"\nEC2_ENDPOINT="{moto_endpoint}"\n'
            'CAPACITY=[T3_MICRO="4"]',
            1,
        )

        def host_doc() -> ET.Element:
            return ET.fromstring(gw.document("one.host.info", host, False))

        wait_for(
            lambda: (
                host_doc().findtext("STATE") == "2" and host_doc().findtext("TEMPLATE/PUBLIC_CLOUD") == "YES"
            )
        )
        local = gw.call("one.vm.allocate", 'NAME="local"\nCPU="1"\nMEMORY="64"', False)
        vm = gw.call(
            "one.vm.allocate",
            'NAME="burst"\nCPU="1"\nMEMORY="512"\nPUBLIC_CLOUD=[TYPE="ec2",AMI="ami-12c6146b",INSTANCETYPE="t3.micro"]',
            False,
        )
        sim.schedule()

        def vm_doc(vid: int = vm) -> ET.Element:
            return ET.fromstring(gw.document("one.vm.info", vid, False))

        wait_for(lambda: vm_doc().findtext("LCM_STATE") == str(int(LcmState.RUNNING)))
        assert vm_doc(local).findtext("STATE") == str(int(VmState.PENDING))  # never on a public cloud host
        instance_id = vm_doc().findtext("DEPLOY_ID") or ""
        assert instance_id.startswith("i-")
        # the IM's MONITOR_VM reaches the VM through the monitord listener
        wait_for(lambda: vm_doc().find("MONITORING/TIMESTAMP") is not None, timeout=30)
        gw.call("one.vm.action", "terminate", vm)
        wait_for(lambda: vm_doc().findtext("STATE") == str(int(VmState.DONE)))
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
        found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert found["State"]["Name"] in ("shutting-down", "terminated")
