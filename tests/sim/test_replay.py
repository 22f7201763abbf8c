"""Replay of the recorded VM histories: the same user actions walk through the same STATE/LCM_STATE
lines oned wrote in vm_files/vm<N>/vm.log, and send the same VMM messages as in driver_messages.txt."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator
from tests.conftest import REAL
from tests.sim.conftest import build_recorded_world


def recorded_log(vm: int) -> list[str]:
    lines = (REAL / "vm_files" / f"vm{vm}" / "vm.log").read_text().splitlines()
    return [line.split("[VM][I]: ", 1)[1] for line in lines if "[VM][I]: New " in line]


def recorded_vmm_actions(vm: int) -> list[str]:
    text = (REAL / "driver_messages.txt").read_text()
    section = text.split("## VM_MAD dummy", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"CORE->DRIVER: ([A-Z_]+)  {vm}\b", section)


def test_vm0_full_history(sim: Simulator) -> None:
    gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
    ids = build_recorded_world(gw)  # vm 0 instantiated on hold and deployed with vm.deploy, as recorded
    vm = ids["vm"]
    img = gw.call("one.image.allocate", 'NAME="extra"\nTYPE="DATABLOCK"\nSIZE="4"', ids["img_ds"])
    host2 = gw.call("one.host.allocate", "dummyhost2", "dummy", "dummy", -1)

    def act(name: str) -> Callable[[], object]:
        return lambda: gw.call("one.vm.action", name, vm)

    def call(method: str, *args: object) -> Callable[[], object]:
        return lambda: gw.call(method, vm, *args)

    steps: list[Callable[[], object]] = [
        act("reboot"), act("reboot-hard"), act("poweroff"), act("resume"), act("poweroff-hard"), act("resume"),
        act("suspend"), act("resume"), act("stop"), act("resume"), sim.schedule, act("undeploy"), act("resume"),
        sim.schedule,
        call("one.vm.snapshotcreate", "s1"), call("one.vm.snapshotrevert", 0), call("one.vm.snapshotdelete", 0),
        call("one.vm.attach", f'DISK=[IMAGE_ID="{img}"]'), call("one.vm.detach", 2),
        call("one.vm.attachnic", 'NIC=[NETWORK_ID="0"]'), call("one.vm.detachnic", 1),
        call("one.vm.migrate", host2, True, False, -1, 0), call("one.vm.migrate", ids["host"], False, False, -1, 0),
        act("poweroff"), call("one.vm.resize", 'CPU="0.2"\nMEMORY="128"', False),
        call("one.vm.updateconf", 'CONTEXT=[NETWORK="YES",SSH_PUBLIC_KEY="ssh-ed25519 AAAAtest user@test"]'),
        act("resume"), act("terminate"),
    ]  # fmt: skip
    for step in steps:
        step()
    assert sim.vm_log(vm) == recorded_log(0)

    # History records: one per deploy/resume, hotplug, migration and the resize while powered off, closed
    # by the action that ended them.
    def records(doc: str) -> list[tuple[str | None, str | None]]:
        return [
            (h.findtext("HOSTNAME"), h.findtext("ACTION"))
            for h in ET.fromstring(doc).findall("HISTORY_RECORDS/HISTORY")
        ]

    recorded = records((REAL / "vm_info_done.xml").read_text())
    assert records(gw.document("one.vm.info", vm, False)) == [
        ("dummyhost2" if h == "dummyhost2" else "dummyhost", a) for h, a in recorded
    ]

    # The resize set CPU/MEMORY and the replace-mode updateconf dropped GRAPHICS and OS, as recorded;
    # the CONTEXT has the recorded names (NETWORK=YES kept the NIC's ETH0_* values).
    want, got = (
        ET.parse(REAL / "vm_info_done.xml").getroot(),
        ET.fromstring(gw.document("one.vm.info", vm, False)),
    )
    for path in ("TEMPLATE/CPU", "TEMPLATE/MEMORY", "TEMPLATE/VCPU", "TEMPLATE/GRAPHICS", "TEMPLATE/OS"):
        assert (got.findtext(path), got.find(path) is None) == (want.findtext(path), want.find(path) is None)
    tags = [[e.tag for e in doc.iterfind("TEMPLATE/CONTEXT/*")] for doc in (got, want)]
    assert tags[0] == tags[1] and "ETH0_IP" in tags[0] and "SSH_PUBLIC_KEY" in tags[0]


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
    """vm0's whole lifecycle against a driver program: the VMM actions the simulator sends are the ones
    oned sent one_vmm_dummy (driver_messages.txt), in the same order."""
    import time

    from tests.sim.fake_drivers import VMM, write_driver

    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    with Simulator(auth_dir=tmp_path / "auth", vmm={"fake": f"{vmm} -t 1"}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "fakehost", "dummy", "fake", -1)
        host2 = gw.call("one.host.allocate", "fakehost2", "dummy", "fake", -1)
        img = gw.call("one.image.allocate", 'NAME="extra"\nTYPE="DATABLOCK"\nSIZE="4"', 1)
        net = gw.call(
            "one.vn.allocate", 'NAME="n"\nVN_MAD="dummy"\nAR=[TYPE="IP4",IP="10.9.0.1",SIZE="2"]', -1
        )
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
                     "resume", "stop", "resume", "SCHED", "undeploy", "resume", "SCHED", "SNAP", "ATTACH", "DETACH",
                     "NIC", "MIGRATE", "poweroff", "resume", "terminate"):  # fmt: skip
            if name == "SCHED":
                steps.append(sim.schedule)
            elif name == "SNAP":
                steps.append(lambda: gw.call("one.vm.snapshotcreate", vm, "s"))
                steps.append(lambda: gw.call("one.vm.snapshotrevert", vm, 0))
                steps.append(lambda: gw.call("one.vm.snapshotdelete", vm, 0))
            elif name == "NIC":
                steps.append(lambda: gw.call("one.vm.attachnic", vm, f'NIC=[NETWORK_ID="{net}"]'))
                steps.append(lambda: gw.call("one.vm.detachnic", vm, 0))
            elif name == "MIGRATE":
                steps.append(lambda: gw.call("one.vm.migrate", vm, host2, True, False, -1, 0))
                steps.append(lambda: gw.call("one.vm.migrate", vm, host, False, False, -1, 0))
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
    assert [a for a in sent if a not in ("INIT", "FINALIZE")] == recorded_vmm_actions(0)


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
