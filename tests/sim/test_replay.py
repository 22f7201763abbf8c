"""Replay of the recorded VM histories: the same user actions on a dummy host walk through the same
STATE/LCM_STATE lines oned wrote in vm_files/vm<N>/vm.log, and the same VMM messages as in
driver_messages.txt (hotplug snapshots, NICs and migrations, which the simulator lacks, are cut out)."""

from __future__ import annotations

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
        sent = [line.split()[0] for line in (r for r in log.read_text().splitlines()) if '"line": "' in line]
        sent = [
            json_line.split('"line": "', 1)[1].split(" ", 1)[0].rstrip('"}')
            for json_line in log.read_text().splitlines()
            if '"line"' in json_line
        ]
    recorded = recorded_vmm_actions(0)
    cut = recorded.index("SNAPSHOTCREATE")
    migrate = recorded.index("MIGRATE")
    # the live MIGRATE and the cold migration's SAVE/RESTORE pair that follows it are left out
    expected = [*recorded[:cut], "ATTACHDISK", "DETACHDISK", *recorded[migrate + 3 :]]
    assert [a for a in sent if a not in ("INIT", "FINALIZE")] == expected
