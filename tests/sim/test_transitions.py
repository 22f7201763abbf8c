"""The life-cycle tables walked for exhaustiveness: from a new VM, every request, deploy, VMM reply,
recover and STATE_VM report is followed to every (STATE, LCM_STATE) it reaches.

Shown: every VMM action sent from a state has a SUCCESS and a FAILURE row; no row is unreachable; no
path leaves a VM waiting for a driver it never asked; every reachable state answers every vm.action with
a row or oned's recorded error (checked on the running engine)."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from one_drivers.one.gateway import OneActionError, OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.lifecycle import EFFECTS
from one_drivers.sim.server import Simulator
from one_drivers.sim.transitions import (
    ACTION_IDS,
    BOOT_FAILURES,
    DELETE,
    DELETE_AT_REST,
    DELETE_DB,
    DEPLOYS,
    RECOVER_AS,
    RECOVER_DIRECT,
    RECREATE,
    REPLIES,
    REQUESTS,
    RUN,
    SEEN,
    VM_ACTIONS,
    VMM_ACTIONS,
    Key,
    Steps,
)
from one_drivers.sim.wire import OneFailure
from tests.conftest import REAL

A, S = LcmState, VmState
NEW = [(S.PENDING, A.LCM_INIT), (S.HOLD, A.LCM_INIT)]  # one.vm.allocate, with and without hold


def follow(start: Key, steps: Steps) -> tuple[Key, list[tuple[str, LcmState]]]:
    """Where the steps leave a VM, and the VMM actions they send with the LCM state at the time."""
    state, lcm = start
    sent = []
    for op in steps:
        if isinstance(op, VmState):
            state, lcm = op, A.LCM_INIT
        elif isinstance(op, LcmState):
            state, lcm = S.ACTIVE, op
        elif op in VMM_ACTIONS and state == S.ACTIVE:  # a VM no longer ACTIVE gets its answer dropped
            sent.append((op, lcm))
    return (state, lcm), sent


def all_steps() -> Iterator[Steps]:
    for rows in REQUESTS.values():
        yield from rows.values()
    yield from DEPLOYS.values()
    for ok, failed in REPLIES.values():
        yield ok
        yield failed
    yield from SEEN.values()
    yield from RECOVER_DIRECT.values()
    yield from RECREATE.values()
    yield DELETE_DB


@functools.cache
def walk() -> tuple[set[Key], set[tuple[str, LcmState]], set[tuple[str, LcmState]]]:
    """(reachable states, (VMM action, LCM state) pairs sent, REPLIES rows used)."""
    seen: set[Key] = set()
    sent: set[tuple[str, LcmState]] = set()
    used: set[tuple[str, LcmState]] = set()
    todo = list(NEW)
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        nexts: list[Steps] = [rows[key] for rows in REQUESTS.values() if key in rows]
        nexts += [steps for (at, _), steps in SEEN.items() if at == key]
        if key[0] in (S.PENDING, S.HOLD):
            nexts += DEPLOYS.values()
        if key[0] != S.DONE:  # recover --delete: CLEANUP on an ACTIVE VM, else DONE at once
            nexts += [DELETE if key[0] == S.ACTIVE else DELETE_AT_REST, DELETE_DB, RECREATE.get(key[0], ())]
        if key[0] == S.ACTIVE:  # recover --success/--failure: direct, or the awaited reply replayed
            nexts += [RECOVER_DIRECT[key[1]]] if key[1] in RECOVER_DIRECT else []
            if key[1] in RECOVER_AS:
                replayed = RECOVER_AS[key[1]]  # SNAPSHOT: the active snapshot's ACTION completes it
                actions = (
                    [replayed + a for a in ("CREATE", "REVERT", "DELETE")]
                    if replayed == "SNAPSHOT"
                    else [replayed]
                )
                for row in ((action, key[1]) for action in actions):
                    assert row in REPLIES, f"recover in {key[1].name} replays {row[0]}, which has no row"
                    used.add(row)
                    nexts += REPLIES[row]
        for steps in nexts:
            after, out = follow(key, steps)
            todo.append(after)
            for action in out:
                sent.add(action)
                assert action in REPLIES, f"{action[0]} sent in {action[1].name} has no SUCCESS/FAILURE row"
                used.add(action)
                for reply in REPLIES[action]:
                    todo.append(follow((S.ACTIVE, action[1]), reply)[0])
    return seen, sent, used


def test_every_vmm_action_sent_has_both_outcomes_and_every_reply_row_is_reached() -> None:
    _, sent, used = walk()
    assert set(REPLIES) >= sent
    assert set(REPLIES) - used == set()  # no reply row for a state that never waits for that action


def test_no_request_row_starts_from_an_unreachable_state() -> None:
    reachable = walk()[0]
    for name, rows in REQUESTS.items():
        assert set(rows) <= reachable, (name, set(rows) - reachable)
    assert {at for at, _ in SEEN} <= reachable
    assert {(S.ACTIVE, lcm) for lcm in [*RECOVER_AS, *RECOVER_DIRECT]} <= reachable
    # the stable states oned's users see, and the waits on a driver, are all reached
    for state in (S.PENDING, S.HOLD, S.POWEROFF, S.SUSPENDED, S.STOPPED, S.UNDEPLOYED, S.DONE):
        assert (state, A.LCM_INIT) in reachable
    assert {(S.ACTIVE, lcm) for _, lcm in REPLIES} <= reachable
    assert {(S.ACTIVE, lcm) for lcm in BOOT_FAILURES} <= reachable


def test_steps_name_known_effects_send_last_and_never_leave_a_vm_waiting() -> None:
    waiting = {lcm for _, lcm in REPLIES} - {A.RUNNING} - set(BOOT_FAILURES)
    for steps in all_steps():
        for n, op in enumerate(steps):
            if isinstance(op, str) and op in VMM_ACTIONS:
                assert n == len(steps) - 1, steps  # the driver is asked last, once the VM is in its state
            elif isinstance(op, str):
                assert op in EFFECTS, op
        (state, lcm), out = follow((S.ACTIVE, A.RUNNING), steps)
        if state == S.ACTIVE and lcm in waiting:
            assert out, f"{steps} leaves the VM in {lcm.name} with no driver asked"


def test_table_facts_oned_shares() -> None:
    # VirtualMachineManager sends SHUTDOWN and CANCEL replies to the same LCM triggers, and DEPLOY,
    # RESTORE replies to deploy_success/failure.
    for (vmm, lcm), row in REPLIES.items():
        if vmm == "CANCEL":
            assert REPLIES[("SHUTDOWN", lcm)] == row
    assert {REPLIES[key][0] for key in REPLIES if key[0] in ("DEPLOY", "RESTORE")} == {RUN}
    assert set(VM_ACTIONS) <= set(ACTION_IDS)
    for rows in REQUESTS.values():
        assert all((st == S.ACTIVE) == (lcm != A.LCM_INIT) for st, lcm in rows)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, int]]:
    with Simulator(auth_dir=tmp_path_factory.mktemp("sim")) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        gw.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
        yield sim, gw.call("one.vm.allocate", 'NAME="v"\nCPU="0.1"\nMEMORY="64"', False)


def test_every_reachable_state_answers_every_vm_action(engine: tuple[Simulator, int]) -> None:
    """The running engine, put in each reachable state: a row is accepted, anything else is refused with
    the text oned 6.10.5 answered (recorded: resume of a RUNNING VM)."""
    recorded = ET.parse(REAL / "error_action_not_allowed_resume_running.response.xml").findtext(".//string")
    assert (
        recorded
        == '[one.vm.action] Error performing action "resume": This action is not available for state RUNNING'
    )
    sim, vm_id = engine
    gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
    gw.call("one.vm.deploy", vm_id, 0, False, -1)
    vm = sim.cloud.vms[vm_id]
    for state, lcm in sorted(walk()[0]):
        for name in sorted(VM_ACTIONS):
            with sim.cloud.lock:
                vm.set_state(state, lcm)
                if (state, lcm) in VM_ACTIONS[name]:
                    sim.lifecycle.action(vm, name)
                    continue
                with pytest.raises(OneFailure) as exc:
                    sim.lifecycle.action(vm, name)
            label = lcm.name if state == S.ACTIVE else state.name
            assert f"[one.vm.action] {exc.value.message}" == recorded.replace(
                '"resume"', f'"{name}"'
            ).replace("RUNNING", label)
            assert exc.value.code == 2048


# --- rows where the simulator once disagreed with oned 6.10.5 ----------------------------------------------
@pytest.fixture
def host(admin: OneGateway) -> int:
    return int(admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1))


def running(sim: Simulator, gw: OneGateway, name: str = "vm") -> int:
    vm = int(gw.call("one.vm.allocate", f'NAME="{name}"\nCPU="0.1"\nMEMORY="64"', False))
    assert sim.schedule() == 1
    return vm


def states(gw: OneGateway, vm: int) -> tuple[int, int]:
    doc = ET.fromstring(gw.document("one.vm.info", vm, False))
    return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)


def test_a_reply_the_vm_does_not_wait_for_changes_no_state(
    sim: Simulator, admin: OneGateway, host: int
) -> None:
    """check_vm_state: a VM in LCM_INIT ignores replies; deploy_failure in RUNNING is "a wrong state"."""
    vm = running(sim, admin)
    sim.lifecycle.vmm_reply("DEPLOY", vm, False, "late failure")
    assert states(admin, vm) == (S.ACTIVE, A.RUNNING)
    assert (
        ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("USER_TEMPLATE/ERROR") or ""
    ).endswith(": DEPLOY: late failure")
    admin.call("one.vm.action", "terminate", vm)
    sim.lifecycle.vmm_reply("DEPLOY", vm, True, "i-late")
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert states(admin, vm) == (S.DONE, A.LCM_INIT) and doc.findtext("DEPLOY_ID") == "dummyhost:vm:dummy"


def test_deploy_success_without_an_id_is_a_failure(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running(sim, admin)
    with sim.cloud.lock:
        sim.cloud.vms[vm].set_lcm(A.BOOT)
        sim.lifecycle.vmm_reply("DEPLOY", vm, True, "")
    assert states(admin, vm) == (S.ACTIVE, A.BOOT_FAILURE)
    assert (
        ET.fromstring(admin.document("one.vm.info", vm, False)).find("USER_TEMPLATE/ERROR") is None
    )  # no text to show


@pytest.mark.parametrize(
    ("action", "after"),
    [
        ("poweroff", (S.POWEROFF, A.LCM_INIT)),
        ("undeploy", (S.UNDEPLOYED, A.LCM_INIT)),
        ("resched", (S.ACTIVE, A.UNKNOWN)),
        ("resume", (S.ACTIVE, A.RUNNING)),
        ("reboot-hard", None),
    ],
)
def test_unknown_vm_actions(
    sim: Simulator, admin: OneGateway, host: int, action: str, after: tuple[int, int] | None
) -> None:
    vm = running(sim, admin)
    with sim.cloud.lock:
        sim.lifecycle.state_seen(sim.cloud.vms[vm], "UNKNOWN")
    assert states(admin, vm) == (S.ACTIVE, A.UNKNOWN)
    if after is None:
        with pytest.raises(OneActionError, match="not available for state UNKNOWN"):
            admin.call("one.vm.action", action, vm)
        return
    admin.call("one.vm.action", action, vm)
    assert states(admin, vm) == after
    if action == "resume":  # trigger_restart: booted again, not declared RUNNING
        assert sim.vm_log(vm)[-2:] == ["New LCM state is BOOT_UNKNOWN", "New LCM state is RUNNING"]


def test_terminate_of_done_and_of_a_failed_boot(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running(sim, admin)
    admin.call("one.vm.action", "terminate", vm)
    admin.call("one.vm.action", "terminate", vm)  # DispatchManager::terminate: DONE is no error
    assert states(admin, vm) == (S.DONE, A.LCM_INIT)
    failed = running(sim, admin, "second")
    with sim.cloud.lock:
        sim.cloud.vms[failed].set_lcm(A.BOOT_FAILURE)
    admin.call("one.vm.action", "terminate-hard", failed)
    assert sim.vm_log(failed)[-3:] == [
        "New LCM state is CLEANUP_DELETE",
        "New state is DONE",
        "New LCM state is LCM_INIT",
    ]


def test_recover_replays_the_awaited_reply(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running(sim, admin)
    with sim.cloud.lock:
        sim.cloud.vms[vm].set_lcm(A.BOOT)
    admin.call("one.vm.recover", vm, 0)
    assert states(admin, vm) == (S.ACTIVE, A.BOOT_FAILURE)
    retime = "HISTORY_RECORDS/HISTORY/RETIME"
    assert (
        int(ET.fromstring(admin.document("one.vm.info", vm, False)).findtext(retime) or 0) > 0
    )  # deploy_failure: not running
    admin.call("one.vm.recover", vm, 2)  # retry: DEPLOY again, the dummy host answers at once
    assert states(admin, vm) == (S.ACTIVE, A.RUNNING)
    assert (
        ET.fromstring(admin.document("one.vm.info", vm, False)).findtext(retime) == "0"
    )  # deploy_success: running again
    with sim.cloud.lock:
        sim.cloud.vms[vm].set_lcm(A.SHUTDOWN_POWEROFF)
    admin.call("one.vm.recover", vm, 1)
    assert states(admin, vm) == (S.POWEROFF, A.LCM_INIT)
    with pytest.raises(OneActionError) as exc:
        admin.call("one.vm.recover", vm, 1)
    assert exc.value.message.endswith(
        f"Could not perform a recover operation on VM {vm}, wrong state POWEROFF."
    )


def test_a_failed_poweroff_clears_the_records_action(sim: Simulator, admin: OneGateway, host: int) -> None:
    """shutdown_failure: RUNNING again, and clear_action leaves the record without an action (ACTION 0)."""
    vm = running(sim, admin)
    with sim.cloud.lock:
        record = sim.cloud.vms[vm].current
        assert record is not None
        record.action, record.uid = ACTION_IDS["poweroff"], 0
        sim.cloud.vms[vm].set_lcm(A.SHUTDOWN_POWEROFF)
        sim.lifecycle.vmm_reply("SHUTDOWN", vm, False, "-")
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert states(admin, vm) == (S.ACTIVE, A.RUNNING) and doc.find("USER_TEMPLATE/ERROR") is None
    assert (doc.findtext("HISTORY_RECORDS/HISTORY/ACTION"), doc.findtext("HISTORY_RECORDS/HISTORY/UID")) == (
        "0",
        "-1",
    )


def test_taking_a_vm_off_its_host_clears_resched(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running(sim, admin)
    admin.call("one.vm.action", "resched", vm)
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("RESCHED") == "1"
    admin.call("one.vm.action", "poweroff", vm)  # trigger_poweroff: set_resched(false)
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("RESCHED") == "0"
    admin.call("one.vm.action", "resched", vm)  # allowed while POWEROFF, as oned
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("RESCHED") == "1"
