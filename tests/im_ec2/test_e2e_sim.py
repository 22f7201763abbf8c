"""End to end with the simulator: it starts one_im_ec2 as monitord does (START_MONITOR), the driver
pushes to the simulator's monitord listener, and its reaper asks the simulator over real XML-RPC."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import VmState
from one_drivers.sim.server import Simulator
from tests.conftest import installed_program, wait_for
from tests.im_ec2.conftest import ec2_client, launch


def test_monitoring_and_reaper_through_the_simulator(tmp_path: Path, moto_endpoint: str) -> None:
    im = installed_program("one_im_ec2")
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        f"""
regions:
    default:
        region_name: us-east-1
        access_key_id: testing
        secret_access_key: testing
        endpoint_url: {moto_endpoint}
        capacity:
            t3.micro: 4
monitoring:
    min_poll_interval: 0.2
    reap_interval: 0.5
"""
    )
    command = f"{im} --config {conf} --log {tmp_path / 'im.log'}"
    with Simulator(auth_dir=tmp_path / "one", sched_interval=3600, im={"ec2": command}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        alive = gw.call("one.vm.allocate", 'NAME="alive"\nCPU="1"\nMEMORY="64"', True)
        done = gw.call("one.vm.allocate", 'NAME="done"\nCPU="1"\nMEMORY="64"', True)
        gw.call("one.vm.action", "terminate", done)
        assert (
            int(ET.fromstring(gw.document("one.vm.info", done, False)).findtext("STATE") or -1)
            == VmState.DONE
        )

        ec2 = ec2_client(moto_endpoint)
        keep = launch(ec2, "t3.micro", {"ONE_ID": str(alive)})
        stime = ET.fromstring(gw.document("one.vm.info", done, False)).findtext("STIME")
        # what our VMM driver tags at launch: the VM id, and the deployment token with the VM's STIME
        leaked = launch(ec2, "t3.micro", {"ONE_ID": str(done), "ONE_DEPLOY_TOKEN": f"one-{done}-{stime}-0"})
        ec2.stop_instances(InstanceIds=[leaked])  # the poweroff-then-terminate leak
        unknown = launch(ec2, "t3.micro", {"ONE_ID": "9999"})  # purged here, or another cloud's VM
        wild = launch(ec2, "t3.micro", {})

        host = gw.call("one.host.allocate", "ec2-moto", "ec2", "ec2", -1)

        def total_cpu() -> int:
            return int(
                ET.fromstring(gw.document("one.host.info", host, False)).findtext("HOST_SHARE/TOTAL_CPU") or 0
            )

        wait_for(lambda: total_cpu() == 4 * 200)
        host_doc = ET.fromstring(gw.document("one.host.info", host, False))
        assert host_doc.findtext("TEMPLATE/HYPERVISOR") == "ec2"
        assert host_doc.findtext("TEMPLATE/PUBLIC_CLOUD") == "YES"

        def state(instance_id: str) -> str:
            reply = ec2.describe_instances(InstanceIds=[instance_id])
            return str(reply["Reservations"][0]["Instances"][0]["State"]["Name"])

        wait_for(lambda: state(leaked) in ("shutting-down", "terminated"))
        wait_for(lambda: f"reaper spares {unknown}" in (tmp_path / "im.log").read_text())
        assert state(unknown) == "running"
        assert state(keep) == "running"
        assert state(wild) == "running"
        log_text = (tmp_path / "im.log").read_text()
        assert f"reaper terminated {leaked}" in log_text
        assert f"reaper terminated {unknown}" not in log_text
        assert f"reaper terminated {keep}" not in log_text
        assert f"reaper terminated {wild}" not in log_text
