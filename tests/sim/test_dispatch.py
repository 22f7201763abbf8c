"""Driver dispatch: hosts whose VM_MAD/IM_MAD names a configured program get oned's real line protocol
over pipes (fake driver programs here), and the monitord listener applies host and VM messages."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.mad.monitord import encode_payload
from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.drivers import parse_monitor_line, send_udp, split_command
from one_drivers.sim.server import Simulator
from tests.conftest import REAL
from tests.mad.recorded import vmm_events
from tests.sim.fake_drivers import IM, VMM, write_driver


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


class Env:
    def __init__(self, sim: Simulator, log: Path) -> None:
        self.sim = sim
        self.log = log
        self.gw = OneGateway(sim.endpoint, sim.oneadmin_auth)

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def lines(self) -> list[str]:
        return [r["line"] for r in self.records() if "line" in r]

    def state(self, vm: int) -> tuple[int, int]:
        doc = ET.fromstring(self.gw.document("one.vm.info", vm, False))
        return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)


@contextlib.contextmanager
def fake_env(
    tmp_path: Path, vmm_args: str = "-t 15 -r 0 ", im_args: str = "-r 3 -t 15 ", **options: Any
) -> Iterator[Env]:
    """A simulator whose `fake` hosts run the fake VMM and IM programs (their arguments as oned passes
    them), the VMM logging what it was sent."""
    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    im = write_driver(tmp_path / "fake_im", IM)
    vmms, ims = {"fake": f"{vmm} {vmm_args}fake"}, {"fake": f"{im} {im_args}fake"}
    with Simulator(auth_dir=tmp_path / "auth", vmm=vmms, im=ims, **options) as sim:
        yield Env(sim, log)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with fake_env(tmp_path) as started:
        yield started


def test_split_command_keeps_arguments_as_one_element() -> None:
    assert split_command("/x/one_vmm_ec2 -t 15 -r 0 ec2") == ["/x/one_vmm_ec2", "-t 15 -r 0 ec2"]
    assert split_command("/x/drv") == ["/x/drv", ""]


def deploy(env: Env, name: str, host: int) -> int:
    vm = env.gw.call("one.vm.allocate", f'NAME="{name}"\nCPU="1"\nMEMORY="64"\nCONTEXT=[NETWORK="YES"]', True)
    env.gw.call("one.vm.deploy", vm, host, False, -1)
    return int(vm)


def test_deploy_over_the_line_protocol(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    doc = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    assert doc.findtext("DEPLOY_ID") == f"fake-{vm}"
    start = env.records()[0]
    assert start["argv"][1:] == ["-t 15 -r 0 fake"]  # execlp(exe, exe, ARGUMENTS)
    assert start["env"] == {"ONE_XMLRPC": env.sim.endpoint, "ONE_AUTH": str(env.sim.auth_dir / "one_auth")}
    lines = env.lines()
    assert lines[0] == "INIT"
    assert lines[1].startswith(f"DEPLOY  {vm} ")  # empty status field: two spaces
    data = payload(lines[1])
    assert [c.tag for c in data] == [
        "HOST", "MIGR_HOST", "DEPLOY_ID", "LOCAL_DEPLOYMENT_FILE", "REMOTE_DEPLOYMENT_FILE", "CHECKPOINT_FILE",
        "TM_COMMAND", "TM_COMMAND_ROLLBACK", "DISK_TARGET_PATH", "VM", "DATASTORE",
    ]  # fmt: skip
    assert data.findtext("HOST") == "cloudy" and data.findtext("DEPLOY_ID") == ""
    assert data.findtext("VM/LCM_STATE") == str(int(LcmState.BOOT))
    deployment = Path(data.findtext("LOCAL_DEPLOYMENT_FILE") or "")
    assert deployment.name == "deployment.0"
    file_doc = ET.fromstring(deployment.read_text())
    assert file_doc.tag == "VM" and file_doc.findtext("NAME") == "web"
    assert (data.findtext("TM_COMMAND") or "").startswith("CONTEXT ")


def test_actions_and_replies_applied(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    steps = [
        ("poweroff", "SHUTDOWN", (VmState.POWEROFF, 0)),
        ("resume", "DEPLOY", (VmState.ACTIVE, LcmState.RUNNING)),
        ("suspend", "SAVE", (VmState.SUSPENDED, 0)),
        ("resume", "RESTORE", (VmState.ACTIVE, LcmState.RUNNING)),
        ("reboot", "REBOOT", (VmState.ACTIVE, LcmState.RUNNING)),
        ("reboot-hard", "RESET", (VmState.ACTIVE, LcmState.RUNNING)),
        ("poweroff-hard", "CANCEL", (VmState.POWEROFF, 0)),
        ("resume", "DEPLOY", (VmState.ACTIVE, LcmState.RUNNING)),
        ("terminate", "SHUTDOWN", (VmState.DONE, 0)),
    ]
    for action, wire, expected in steps:
        before = len(env.lines())
        env.gw.call("one.vm.action", action, vm)
        wait_for(lambda expected=expected: env.state(vm) == expected)  # type: ignore[misc]
        wait_for(lambda before=before: len(env.lines()) > before)  # type: ignore[misc]
        assert env.lines()[before].startswith(f"{wire}  {vm} "), (action, env.lines()[before][:40])
    # a resume re-sends DEPLOY with an empty top-level DEPLOY_ID and the old one inside the VM
    resumes = [ln for ln in env.lines() if ln.startswith("DEPLOY ")][1]
    data = payload(resumes)
    assert data.findtext("DEPLOY_ID") == "" and data.findtext("VM/DEPLOY_ID") == f"fake-{vm}"
    assert data.findtext("VM/LCM_STATE") == str(int(LcmState.BOOT_POWEROFF))
    assert Path(data.findtext("LOCAL_DEPLOYMENT_FILE") or "").name == "deployment.1"


def test_deploy_failure_then_recover_delete(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "fail-me", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.BOOT_FAILURE))
    doc = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    assert (doc.findtext("USER_TEMPLATE/ERROR") or "").endswith(": DEPLOY: boom: could not start fail-me")
    assert "<ERROR>" in env.gw.document(
        "one.vmpool.info", -2, -1, -1, -1
    )  # ERROR is kept in the reduced body
    env.gw.call("one.vm.recover", vm, 3)
    assert env.state(vm) == (VmState.DONE, 0)  # trigger_delete: DONE at once, the CLEANUP not waited for
    wait_for(lambda: env.lines()[-1].startswith(f"CLEANUP  {vm} "))
    assert env.lines()[-2] == f"DRIVER_CANCEL  {vm} "
    # the CLEANUP's VM document as recorded (vm2): already DONE, the record ended by the delete, no epilog
    cleanup = next(e.line for e in vmm_events(REAL) if e.line.startswith("CLEANUP  2 "))
    for line in (cleanup, env.lines()[-1]):
        sent_vm = payload(line).find("VM")
        assert sent_vm is not None
        record = sent_vm.findall("HISTORY_RECORDS/HISTORY")[-1]
        assert (sent_vm.findtext("STATE"), sent_vm.findtext("LCM_STATE"), record.findtext("ACTION")) == (
            "6",
            "0",
            "13",
        )
        assert int(record.findtext("ETIME") or 0) > 0 and record.findtext("ESTIME") == "0"
    # the recorded vm2 (vm-fail): the same state lines, but the second "New state is ACTIVE" oned logs
    recorded = [line.split("[VM][I]: ", 1)[1] for line in (REAL / "vm_files/vm2/vm.log").read_text().splitlines()
                if "[VM][I]: New " in line]  # fmt: skip
    assert env.sim.vm_log(vm) == [x for i, x in enumerate(recorded) if not (i and x == "New state is ACTIVE")]


def sent(env: Env, action: str, vm: int) -> int:
    """How many `action` requests the VMM driver got for `vm`."""
    return sum(1 for line in env.lines() if line.split()[:2] == [action, str(vm)])


def test_retry_in_a_boot_sends_deploy_again(env: Env) -> None:
    """one.vm.recover retry (LifeCycleManager::retry) while the VM waits for its boot: DEPLOY again, the
    state unchanged; recover success then ends the wait."""
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    boot = deploy(env, "hangboot", host)
    wait_for(lambda: sent(env, "DEPLOY", boot) == 1)
    assert env.state(boot) == (VmState.ACTIVE, LcmState.BOOT)
    env.gw.call("one.vm.recover", boot, 2)
    wait_for(lambda: sent(env, "DEPLOY", boot) == 2)
    assert env.state(boot) == (VmState.ACTIVE, LcmState.BOOT)
    env.gw.call("one.vm.recover", boot, 1)
    assert env.state(boot) == (VmState.ACTIVE, LcmState.RUNNING)


@pytest.mark.parametrize(
    ("action", "waiting", "resent"),
    [
        ("terminate", LcmState.SHUTDOWN, "SHUTDOWN"),
        ("terminate-hard", LcmState.SHUTDOWN, "CANCEL"),
        ("poweroff", LcmState.SHUTDOWN_POWEROFF, "CANCEL"),
        ("undeploy", LcmState.SHUTDOWN_UNDEPLOY, "CANCEL"),
        ("suspend", LcmState.SAVE_SUSPEND, "SAVE"),
        ("stop", LcmState.SAVE_STOP, "SAVE"),
    ],
)
def test_retry_resends_what_the_vm_waits_for(env: Env, action: str, waiting: LcmState, resent: str) -> None:
    """retry in SAVE_* sends SAVE again, in SHUTDOWN* SHUTDOWN after a terminate but CANCEL after a
    poweroff or undeploy (oned re-sends SHUTDOWN for TERMINATE_ACTION only); the state does not change."""
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, f"hang-{action}", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.action", action, vm)
    assert env.state(vm) == (VmState.ACTIVE, waiting)
    first = "CANCEL" if action.endswith("-hard") else "SAVE" if action in ("suspend", "stop") else "SHUTDOWN"
    wait_for(lambda: sent(env, first, vm) == 1)  # the request's own action is in the driver's log
    before = sent(env, resent, vm)
    env.gw.call("one.vm.recover", vm, 2)
    wait_for(lambda: sent(env, resent, vm) == before + 1)
    assert env.state(vm) == (VmState.ACTIVE, waiting)


def payload(line: str) -> ET.Element:
    """The VMM_DRIVER_ACTION_DATA of a request line (`<ACTION>  <id> <base64>`)."""
    return ET.fromstring(base64.b64decode(line.split()[2]))


def recorded_snapshot_vectors() -> dict[str, list[tuple[str, str]]]:
    """The SNAPSHOT vector oned 6.10.5 sent with each SNAPSHOT* action (driver_messages.txt), TIME left out."""
    found = {}
    for event in vmm_events(REAL):
        if event.direction == "in" and event.line.startswith("SNAPSHOT"):
            snap = payload(event.line).find("VM/TEMPLATE/SNAPSHOT")
            assert snap is not None
            found[event.line.split()[0]] = [(c.tag, c.text or "") for c in snap if c.tag != "TIME"]
    return found


def sent_snapshot(env: Env, action: str) -> list[tuple[str, str]]:
    snap = payload([x for x in env.lines() if x.startswith(action + " ")][-1]).find("VM/TEMPLATE/SNAPSHOT")
    assert snap is not None
    return [(c.tag, c.text or "") for c in snap if c.tag != "TIME"]


def test_snapshot_vectors_go_to_the_driver_as_recorded(env: Env) -> None:
    """The SNAPSHOT vector a driver gets: ACTIVE and ACTION (CREATE/REVERT/DELETE), HYPERVISOR_ID (empty
    until the create answers), SYSTEM_DISK_SIZE (MEMORY, VM_SNAPSHOT_FACTOR being 0), as on 6.10.5."""
    recorded = recorded_snapshot_vectors()
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.snapshotcreate", vm, "snap1")
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    assert sent_snapshot(env, "SNAPSHOTCREATE") == recorded["SNAPSHOTCREATE"]
    for method, action in (
        ("one.vm.snapshotrevert", "SNAPSHOTREVERT"),
        ("one.vm.snapshotdelete", "SNAPSHOTDELETE"),
    ):
        env.gw.call(method, vm, 0)
        wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
        # the fake driver answers "-" where one_vmm_dummy answered "dummy-snap"
        want = [(k, "-" if k == "HYPERVISOR_ID" else v) for k, v in recorded[action]]
        assert sent_snapshot(env, action) == want
    assert ET.fromstring(env.gw.document("one.vm.info", vm, False)).find("TEMPLATE/SNAPSHOT") is None


def vm_vectors(env: Env, vm: int, name: str) -> list[dict[str, str]]:
    doc = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    return [{c.tag: c.text or "" for c in v} for v in doc.findall(f"TEMPLATE/{name}")]


def test_recover_mid_hotplug(env: Env) -> None:
    """recover --success/--failure while a hotplug waits for the driver, as LifeCycleManager::recover: a disk
    hotplug as an attach whatever it was (success keeps the disk, failure drops it, a detach in flight
    included), a snapshot by its ACTION (a created one takes its own id as HYPERVISOR_ID)."""
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "hang-hotplug", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    hotplug = (VmState.ACTIVE, LcmState.HOTPLUG)
    env.gw.call("one.vm.attach", vm, 'DISK=[TYPE="fs",SIZE="16"]')
    assert env.state(vm) == hotplug and len(vm_vectors(env, vm, "DISK")) == 1
    env.gw.call("one.vm.recover", vm, 0)
    assert env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING) and vm_vectors(env, vm, "DISK") == []
    env.gw.call("one.vm.attach", vm, 'DISK=[TYPE="fs",SIZE="16"]')
    env.gw.call("one.vm.recover", vm, 1)
    (disk,) = vm_vectors(env, vm, "DISK")
    env.gw.call("one.vm.detach", vm, int(disk["DISK_ID"]))
    assert env.state(vm) == hotplug
    env.gw.call("one.vm.recover", vm, 1)  # attach_success: the disk being detached stays
    assert len(vm_vectors(env, vm, "DISK")) == 1
    env.gw.call("one.vm.detach", vm, int(disk["DISK_ID"]))
    env.gw.call("one.vm.recover", vm, 0)  # attach_failure: it goes
    assert env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING) and vm_vectors(env, vm, "DISK") == []

    snapshotting = (VmState.ACTIVE, LcmState.HOTPLUG_SNAPSHOT)
    env.gw.call("one.vm.snapshotcreate", vm, "s")
    assert env.state(vm) == snapshotting
    env.gw.call("one.vm.recover", vm, 1)
    (snap,) = vm_vectors(env, vm, "SNAPSHOT")
    assert snap["HYPERVISOR_ID"] == snap["SNAPSHOT_ID"] and "ACTIVE" not in snap and "ACTION" not in snap
    env.gw.call("one.vm.snapshotrevert", vm, 0)
    assert vm_vectors(env, vm, "SNAPSHOT")[0]["ACTION"] == "REVERT"
    env.gw.call("one.vm.recover", vm, 0)  # a failed revert keeps the snapshot
    assert [s["SNAPSHOT_ID"] for s in vm_vectors(env, vm, "SNAPSHOT")] == ["0"]
    env.gw.call("one.vm.snapshotdelete", vm, 0)
    env.gw.call("one.vm.recover", vm, 1)
    assert env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING) and vm_vectors(env, vm, "SNAPSHOT") == []
    env.gw.call("one.vm.snapshotcreate", vm, "t")
    env.gw.call("one.vm.recover", vm, 0)  # a failed create leaves nothing
    assert vm_vectors(env, vm, "SNAPSHOT") == []


def test_recover_delete_at_rest_cleans_a_public_cloud_host(env: Env) -> None:
    """recover --delete of a VM at rest (DispatchManager::delete_vm): DONE at once; on a PUBLIC_CLOUD host the
    instance is still there, so its driver gets CLEANUP; on another host nothing is sent."""
    cloud = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    env.gw.call("one.host.update", cloud, 'PUBLIC_CLOUD="YES"', 1)
    local = env.gw.call("one.host.allocate", "local", "dummy", "fake", -1)  # the fake IM reports PUBLIC_CLOUD
    vms = {}
    for name, host in (("in-cloud", cloud), ("on-premise", local)):
        vms[name] = deploy(env, name, host)
        wait_for(lambda vm=vms[name]: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))  # type: ignore[misc]
        env.gw.call("one.vm.action", "poweroff", vms[name])
        wait_for(lambda vm=vms[name]: env.state(vm) == (VmState.POWEROFF, 0))  # type: ignore[misc]
        env.gw.call("one.vm.recover", vms[name], 3)
        assert env.state(vms[name]) == (VmState.DONE, 0)
    wait_for(lambda: sent(env, "CLEANUP", vms["in-cloud"]) == 1)
    assert sent(env, "CLEANUP", vms["on-premise"]) == 0


def test_delete_recreate_waits_for_the_cleanup(env: Env) -> None:
    """recover --delete-recreate of a running VM: DRIVER_CANCEL and CLEANUP, the VM in CLEANUP_RESUBMIT until
    the driver answers; asked again meanwhile, it is resubmitted at once (LifeCycleManager)."""
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "hang-recreate", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.recover", vm, 4)
    assert env.state(vm) == (VmState.ACTIVE, LcmState.CLEANUP_RESUBMIT)
    wait_for(lambda: sent(env, "CLEANUP", vm) == 1 and sent(env, "DRIVER_CANCEL", vm) == 1)
    env.gw.call("one.vm.recover", vm, 4)
    assert env.state(vm) == (VmState.PENDING, 0)


def test_driver_documents_carry_the_open_history_record_only(env: Env) -> None:
    """oned hands drivers VirtualMachine::to_xml: of the history only the open record (every recorded payload
    has one, vm0's after thirteen records too), while vm.info shows them all."""
    recorded = [e.line for e in vmm_events(REAL) if e.direction == "in" and len(e.line.split()) > 2]
    counts = {len(payload(line).findall("VM/HISTORY_RECORDS/HISTORY")) for line in recorded}
    assert counts == {1}
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    for action in ("poweroff", "resume"):
        env.gw.call("one.vm.action", action, vm)
        wait_for(lambda: env.state(vm)[0] != VmState.ACTIVE or env.state(vm)[1] == LcmState.RUNNING)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    data = payload([x for x in env.lines() if x.startswith("DEPLOY ")][-1])
    assert [h.findtext("SEQ") for h in data.findall("VM/HISTORY_RECORDS/HISTORY")] == ["1"]
    deployment = ET.parse(data.findtext("LOCAL_DEPLOYMENT_FILE") or "").getroot()
    assert [h.findtext("SEQ") for h in deployment.findall("HISTORY_RECORDS/HISTORY")] == ["1"]
    info = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    assert [h.findtext("SEQ") for h in info.findall("HISTORY_RECORDS/HISTORY")] == ["0", "1"]


def recorded_payload(prefix: str, lcm: LcmState) -> ET.Element:
    """The first recorded request starting with `prefix` sent in LCM state `lcm`."""
    sent_docs = [payload(e.line) for e in vmm_events(REAL) if e.line.startswith(prefix)]
    return next(d for d in sent_docs if d.findtext("VM/LCM_STATE") == str(int(lcm)))


def payload_facts(doc: ET.Element, names: dict[str, str]) -> tuple[object, ...]:
    """HOST, MIGR_HOST and the VM's (only) record as (host, ACTION), host names mapped by `names`."""
    (record,) = doc.findall("VM/HISTORY_RECORDS/HISTORY")
    host = names.get(doc.findtext("HOST") or "", "?")
    migr = names.get(doc.findtext("MIGR_HOST") or "", "")
    return host, migr, names.get(record.findtext("HOSTNAME") or "", "?"), record.findtext("ACTION")


def test_migrations_go_to_the_source_with_the_target_record(env: Env) -> None:
    """As recorded on 6.10.5 (vm0: live to dummyhost2, then cold back): the target's record exists from the
    request on (the VM document shows it), SAVE and MIGRATE go to the source host, MIGRATE names the target,
    a cold migration's target record carries the action at once, a live one's not."""
    a = env.gw.call("one.host.allocate", "hosta", "fake", "fake", -1)
    b = env.gw.call("one.host.allocate", "hostb", "fake", "fake", -1)
    vm = deploy(env, "web", a)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.migrate", vm, b, True, False, -1, 0)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.migrate", vm, a, False, False, -1, 0)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    ours = {"hosta": "first", "hostb": "second"}
    recorded = {"dummyhost": "first", "dummyhost2": "second"}
    for prefix, lcm in (("MIGRATE  ", LcmState.MIGRATE), ("SAVE  ", LcmState.SAVE_MIGRATE)):
        line = [x for x in env.lines() if x.startswith(prefix)][-1]
        want = payload_facts(recorded_payload(prefix + "0 ", lcm), recorded)
        assert payload_facts(payload(line), ours) == want, prefix
    info = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    records = [
        (h.findtext("HOSTNAME"), h.findtext("ACTION")) for h in info.findall("HISTORY_RECORDS/HISTORY")
    ]
    assert records == [("hosta", "2"), ("hostb", "1"), ("hosta", "0")]


@pytest.mark.parametrize("live", [True, False])
def test_a_failed_migration_stays_on_the_source_in_a_new_record(env: Env, live: bool) -> None:
    """MIGRATE (deploy_failure) or SAVE (revert_migrate_after_failure) failing: RUNNING on the source, the
    target's record and the source's ended, a copy of the source's record open (cp_previous_history)."""
    a = env.gw.call("one.host.allocate", "hosta", "fake", "fake", -1)
    b = env.gw.call("one.host.allocate", "hostb", "fake", "fake", -1)
    vm = deploy(env, "nomove", a)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    env.gw.call("one.vm.migrate", vm, b, live, False, -1, 0)
    wait_for(lambda: sent(env, "MIGRATE" if live else "SAVE", vm) == 1)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    records = ET.fromstring(env.gw.document("one.vm.info", vm, False)).findall("HISTORY_RECORDS/HISTORY")
    assert [h.findtext("HOSTNAME") for h in records] == ["hosta", "hostb", "hosta"]
    assert [h.findtext("ETIME") != "0" for h in records] == [True, True, False]
    assert records[-1].findtext("ACTION") == "0"


def test_im_program_monitors_host(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)

    def monitored() -> bool:
        doc = ET.fromstring(env.gw.document("one.host.info", host, False))
        return doc.findtext("STATE") == "2" and doc.findtext("MONITORING/CAPACITY/USED_CPU") == "100"

    wait_for(monitored)
    doc = ET.fromstring(env.gw.document("one.host.info", host, False))
    assert doc.findtext("TEMPLATE/PUBLIC_CLOUD") == "YES" and doc.findtext("HOST_SHARE/TOTAL_CPU") == "400"
    # a public-cloud host takes VMs with PUBLIC_CLOUD from the scheduler, local ones stay pending
    burst = env.gw.call("one.vm.allocate", 'NAME="b"\nCPU=1\nMEMORY=64\nPUBLIC_CLOUD=[TYPE="ec2"]', False)
    local = env.gw.call("one.vm.allocate", 'NAME="l"\nCPU=1\nMEMORY=64', False)
    env.sim.schedule()
    wait_for(lambda: env.state(burst) == (VmState.ACTIVE, LcmState.RUNNING))
    assert env.state(local) == (VmState.PENDING, 0)


def test_monitord_applies_vm_messages(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING))
    port = env.sim.lifecycle.monitor_port
    monitor = base64.b64encode(b"CPU=12\nMEMORY=4096\nNETRX=10\nNETTX=20\n").decode()
    text = f'VM = [ ID="{vm}", DEPLOY_ID="fake-{vm}", MONITOR="{monitor}" ]'
    send_udp(port, f"MONITOR_VM SUCCESS {host} 1795306873 {encode_payload(text)}")
    wait_for(lambda: "<MONITORING><CPU><![CDATA[12]]></CPU>" in env.gw.document("one.vm.info", vm, False))
    doc = ET.fromstring(env.gw.document("one.vm.info", vm, False))
    assert doc.findtext("LAST_POLL") == "1795306873" and doc.findtext("MONITORING/TIMESTAMP") == "1795306873"
    # the pool bodies leave monitoring out, as 6.10 does
    assert "<MONITORING/>" in env.gw.document(
        "one.vmpool.info", -2, -1, -1, -1
    ) and "<LAST_POLL>0</LAST_POLL>" in env.gw.document("one.vmpool.infoextended", -2, -1, -1, -1)
    # STATE_VM (sent over TCP by the agents; UDP works the same here) powers the VM off
    import socket

    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            f"STATE_VM SUCCESS {host} 1795306900 {encode_payload(f'VM=[ID={vm},DEPLOY_ID=fake-{vm},STATE=POWEROFF]')}\n".encode()
        )
    wait_for(lambda: env.state(vm) == (VmState.POWEROFF, 0))


def test_unknown_driver_fails_deploy(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "nodriver", "dummy", "nosuch", -1)
    vm = deploy(env, "x", host)
    assert env.state(vm) == (VmState.ACTIVE, LcmState.BOOT_FAILURE)
    assert "Cannot find VMM driver nosuch" in env.gw.document("one.vm.info", vm, False)


def test_parse_monitor_line() -> None:
    msg = parse_monitor_line(f"BEACON_HOST SUCCESS 3 1795306870 {encode_payload('1795306870')}")
    assert msg is not None and (msg.type, msg.host_id, msg.text) == ("BEACON_HOST", 3, "1795306870")
    assert parse_monitor_line("garbage") is None


def test_many_deploys_in_one_scheduler_pass(env: Env) -> None:
    """40 DEPLOY lines (~8 KB each) written in one pass while replies flow back: no pipe deadlock."""
    env.gw.call("one.host.allocate", "busy", "dummy", "fake", -1)
    big = "X" * 6000  # make every payload larger, so requests and replies overrun the pipe buffers
    vms = [
        env.gw.call("one.vm.allocate", f'NAME="v{i}"\nCPU="1"\nMEMORY="64"\nNOTE="{big}"', False)
        for i in range(40)
    ]
    assert env.sim.schedule() == 40
    wait_for(lambda: all(env.state(vm) == (VmState.ACTIVE, LcmState.RUNNING) for vm in vms), timeout=30)
    assert len([ln for ln in env.lines() if ln.startswith("DEPLOY")]) == 40


def test_state_vm_sync_marks_missing_vms(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1)
    listed, missing = deploy(env, "a", host), deploy(env, "b", host)
    wait_for(lambda: env.state(missing) == (VmState.ACTIVE, LcmState.RUNNING) == env.state(listed))
    port = env.sim.lifecycle.monitor_port
    later = int(time.time()) + 5
    text = f'SYNC_STATE="yes"\nMISSING_STATE="UNKNOWN"\nVM=[ID="{listed}",DEPLOY_ID="fake-{listed}",STATE="RUNNING"]'
    send_udp(port, f"STATE_VM SUCCESS {host} {later} {encode_payload(text)}")
    wait_for(lambda: env.state(missing) == (VmState.ACTIVE, LcmState.UNKNOWN))
    assert env.state(listed) == (VmState.ACTIVE, LcmState.RUNNING)
    # seen again: back to RUNNING, as oned does
    back = f'VM=[ID="{missing}",DEPLOY_ID="fake-{missing}",STATE="RUNNING"]'
    send_udp(port, f"STATE_VM SUCCESS {host} {later} {encode_payload(back)}")
    wait_for(lambda: env.state(missing) == (VmState.ACTIVE, LcmState.RUNNING))
