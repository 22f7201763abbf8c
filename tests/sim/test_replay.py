"""Replay of the recorded VM histories: the same user actions on a dummy host walk through the same
STATE/LCM_STATE lines oned wrote in vm_files/vm<N>/vm.log, and the same VMM messages as in
driver_messages.txt (hotplug snapshots, NICs and migrations, which the simulator lacks, are cut out)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator
from tests.sim.conftest import build_recorded_world

REAL = Path(__file__).resolve().parents[3] / "shared" / "opennebula" / "real-6.10.5"


def recorded_log(vm: int) -> list[str]:
    lines = (REAL / "vm_files" / f"vm{vm}" / "vm.log").read_text().splitlines()
    return [line.split("[VM][I]: ", 1)[1] for line in lines if "[VM][I]: New " in line]


def recorded_vmm_actions(vm: int) -> list[str]:
    text = (REAL / "driver_messages.txt").read_text()
    section = text.split("## VM_MAD dummy", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"CORE->DRIVER: ([A-Z_]+)  {vm}\b", section)


def without_unsupported(lines: list[str]) -> list[str]:
    """Drop the snapshot/NIC/migration stretch of vm0 (from the first HOTPLUG_SNAPSHOT to the RUNNING
    after BOOT_MIGRATE), keeping the disk attach/detach inside it."""
    start = lines.index("New LCM state is HOTPLUG_SNAPSHOT")
    end = len(lines) - 1 - lines[::-1].index("New LCM state is BOOT_MIGRATE") + 2
    middle = [
        "New LCM state is HOTPLUG", "New LCM state is RUNNING", "New LCM state is HOTPLUG", "New LCM state is RUNNING",
    ]  # fmt: skip
    return lines[:start] + middle + lines[end:]


def test_vm0_full_history(sim: Simulator) -> None:
    gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
    ids = build_recorded_world(gw)  # vm 0 instantiated on hold and deployed with vm.deploy, as recorded
    vm = ids["vm"]
    img = gw.call("one.image.allocate", 'NAME="extra"\nTYPE="DATABLOCK"\nSIZE="4"', ids["img_ds"])

    def act(name: str) -> Callable[[], object]:
        return lambda: gw.call("one.vm.action", name, vm)

    steps: list[Callable[[], object]] = [
        act("reboot"), act("reboot-hard"), act("poweroff"), act("resume"), act("poweroff-hard"), act("resume"),
        act("suspend"), act("resume"), act("stop"), act("resume"), sim.schedule, act("undeploy"), act("resume"),
        sim.schedule,
        lambda: gw.call("one.vm.attach", vm, f'DISK=[IMAGE_ID="{img}"]'), lambda: gw.call("one.vm.detach", vm, 2),
        act("poweroff"), act("resume"), act("terminate"),
    ]  # fmt: skip
    for step in steps:
        step()
    assert sim.vm_log(vm) == without_unsupported(recorded_log(0))


@pytest.mark.parametrize(("recorded", "finish"), [(1, "terminate-hard"), (3, "recover-delete")])
def test_scheduled_vm_histories(sim: Simulator, recorded: int, finish: str) -> None:
    gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
    build_recorded_world(gw)
    vm = gw.call("one.template.instantiate", 0, "vm-x", False, "", False)
    sim.schedule()
    if finish == "recover-delete":
        gw.call("one.vm.recover", vm, 3)
    else:
        gw.call("one.vm.action", finish, vm)
    ours = sim.vm_log(vm)
    # oned logs "New state is ACTIVE" again when recover starts CLEANUP_DELETE on an ACTIVE VM
    theirs = [
        line for i, line in enumerate(recorded_log(recorded)) if not (i > 0 and line == "New state is ACTIVE")
    ]
    assert ours == theirs


def test_vmm_messages_match_the_recorded_trace(tmp_path: Path) -> None:
    """vm0's lifecycle against a driver program: the VMM actions the simulator sends are the ones oned
    sent one_vmm_dummy (driver_messages.txt), minus snapshots, NICs and migrations."""
    import time

    from tests.sim.fake_drivers import VMM, write_driver

    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    with Simulator(auth_dir=tmp_path / "auth", vmm={"fake": f"{vmm} -t 1"}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "fakehost", "dummy", "fake", -1)
        img = gw.call("one.image.allocate", 'NAME="extra"\nTYPE="DATABLOCK"\nSIZE="4"', 1)
        vm = gw.call("one.vm.allocate", 'NAME="vm1"\nCPU="0.1"\nMEMORY="64"', True)

        def settle() -> None:
            end = time.monotonic() + 10
            while time.monotonic() < end:
                cloud_vm = sim.cloud.vms[vm]
                if vm not in sim.lifecycle.pending and (cloud_vm.state != 3 or cloud_vm.lcm_state == 3):
                    return
                time.sleep(0.01)
            raise AssertionError(f"VM stuck in {sim.cloud.vms[vm].state_label}")

        steps: list[Callable[[], object]] = [lambda: gw.call("one.vm.deploy", vm, host, False, -1)]
        for name in ("reboot", "reboot-hard", "poweroff", "resume", "poweroff-hard", "resume", "suspend",
                     "resume", "stop", "resume", "SCHED", "undeploy", "resume", "SCHED", "ATTACH", "DETACH",
                     "poweroff", "resume", "terminate"):  # fmt: skip
            if name == "SCHED":
                steps.append(sim.schedule)
            elif name == "ATTACH":
                steps.append(lambda: gw.call("one.vm.attach", vm, f'DISK=[IMAGE_ID="{img}"]'))
            elif name == "DETACH":
                steps.append(lambda: gw.call("one.vm.detach", vm, 0))
            else:
                steps.append(lambda name=name: gw.call("one.vm.action", name, vm))  # type: ignore[misc]
        for step in steps:
            step()
            settle()
        records = [json.loads(line) for line in log.read_text().splitlines()]
        sent = [r["line"].split(" ", 1)[0] for r in records if "line" in r]
    recorded = recorded_vmm_actions(0)
    cut = recorded.index("SNAPSHOTCREATE")
    migrate = recorded.index("MIGRATE")
    # the live MIGRATE and the cold migration's SAVE/RESTORE pair that follows it are left out
    expected = [*recorded[:cut], "ATTACHDISK", "DETACHDISK", *recorded[migrate + 3 :]]
    assert [a for a in sent if a not in ("INIT", "FINALIZE")] == expected


def recorded_payload(action: str, vm: int) -> str:
    """The decoded VMM_DRIVER_ACTION_DATA of the first recorded `<action>  <vm>` message."""
    text = (REAL / "driver_messages.txt").read_text().splitlines()
    start = next(n for n, line in enumerate(text) if f"CORE->DRIVER: {action}  {vm} " in line)
    first = next(n for n in range(start, len(text)) if text[n].startswith("    | <VMM_DRIVER_ACTION_DATA>"))
    parts = []
    while text[first].startswith("    | "):  # TM_COMMAND's newline continues the block
        parts.append(text[first][6:])
        first += 1
    return "\n".join(parts)


def test_deploy_payload_and_deployment_file_match_recorded(tmp_path: Path) -> None:
    import base64
    import time
    import xml.etree.ElementTree as ET

    from tests.sim.fake_drivers import VMM, write_driver
    from tests.sim.structure import structure

    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    with Simulator(auth_dir=tmp_path / "auth", vmm={"fake": f"{vmm} -t 1"}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "dummyhost", "dummy", "fake", -1)
        sys_ds = gw.call("one.datastore.allocate", 'NAME="dummy_sys"\nTYPE="SYSTEM_DS"\nTM_MAD="dummy"', -1)
        img_ds = gw.call("one.datastore.allocate", 'NAME="dummy_img"\nDS_MAD="dummy"\nTM_MAD="dummy"', -1)
        gw.call("one.image.allocate", 'NAME="blk1"\nTYPE="DATABLOCK"\nSIZE="16"', img_ds)
        gw.call(
            "one.vn.allocate",
            'NAME="testnet"\nBRIDGE="br0"\nVN_MAD="dummy"\nAR=[TYPE="IP4",IP="10.0.0.10",SIZE="1"]',
            -1,
        )
        gw.call(
            "one.template.allocate",
            'NAME="tmpl1"\nCPU="0.1"\nMEMORY="64"\nVCPU="1"\nDISK=[IMAGE_ID="0"]\nNIC=[NETWORK_ID="0"]\n'
            'GRAPHICS=[LISTEN="127.0.0.1",TYPE="VNC"]\nCONTEXT=[NETWORK="YES",SSH_PUBLIC_KEY="k"]\n'
            f'LABELS="test"\nSCHED_DS_REQUIREMENTS="ID={sys_ds}"',
        )
        vm = gw.call("one.template.instantiate", 0, "vm1", True, "", False)
        gw.call("one.vm.deploy", vm, host, False, sys_ds)
        end = time.monotonic() + 10
        while sim.cloud.vms[vm].lcm_state != 3 and time.monotonic() < end:
            time.sleep(0.01)
        records = [json.loads(line) for line in log.read_text().splitlines()]
        deploy = next(r["line"] for r in records if r.get("line", "").startswith("DEPLOY"))
    ours = base64.b64decode(deploy.split()[2]).decode()
    assert structure(ours) == structure(recorded_payload("DEPLOY", 0))
    deployment = Path(ET.fromstring(ours).findtext("LOCAL_DEPLOYMENT_FILE") or "")
    recorded_file = (REAL / "vm_files" / "vm0" / "deployment.0").read_text()
    assert structure(deployment.read_text()) == structure(recorded_file)
