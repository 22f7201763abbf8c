"""oned 6.10's VM life cycle as data: what a request does in each state, what a VMM driver reply does.

A row lists its steps, in order: a `VmState` is set (LCM_INIT), an `LcmState` is set (STATE
ACTIVE), a lower-case name is a side effect (`lifecycle.EFFECTS`), an upper-case name is the VMM action
sent to the host's driver (always last). Taken from release-6.10.5: DispatchManagerActions.cc (which
states accept a request), LifeCycleActions.cc (what it does), LifeCycleStates.cc and
VirtualMachineManagerProtocol.cc (what a reply does). tests/sim/test_transitions.py walks the tables.
"""

from __future__ import annotations

from one_drivers.one.states import LcmState, VmAction, VmState

A, S = LcmState, VmState
Op = VmState | LcmState | str
Steps = tuple[Op, ...]
Key = tuple[VmState, LcmState]

# History ACTION numbers by the name oned prints (and `one.vm.action` takes).
ACTION_IDS = {a.label: a.value for a in VmAction}
# What the VMM drivers are asked (the first word of oned's line); DRIVER_CANCEL gets no reply.
VMM_ACTIONS = frozenset({"DEPLOY", "SHUTDOWN", "CANCEL", "SAVE", "RESTORE", "MIGRATE", "REBOOT", "RESET",
                         "CLEANUP", "ATTACHDISK", "DETACHDISK", "ATTACHNIC", "DETACHNIC", "SNAPSHOTCREATE",
                         "SNAPSHOTREVERT", "SNAPSHOTDELETE", "RESIZE", "UPDATECONF"})  # fmt: skip


def at(state: VmState) -> Key:
    return (state, A.LCM_INIT)


def active(lcm: LcmState) -> Key:
    return (S.ACTIVE, lcm)


RUNNING, UNKNOWN = active(A.RUNNING), active(A.UNKNOWN)
# The epilog ran (the VM left the host) and the VM is DONE: its resources go back.
DONE: Steps = ("close_epilog", S.DONE, "release")
# trigger_delete (recover --delete of an ACTIVE VM, terminate of a failed boot): clean_up_vm marks it
# CLEANUP_DELETE with the delete action and cancels the driver's work, and the VM is DONE at once
# (free_vm_resources). The CLEANUP goes out with the VM already DONE, as recorded on 6.10.5; its answer
# finds nothing to do. ("unresched": oned clears the flag whenever it takes a running VM off its host.)
DELETE: Steps = (A.CLEANUP_DELETE, "delete_action", "unresched", "driver_cancel", "close_record", S.DONE, "release",
                 "CLEANUP")  # fmt: skip
# recover --delete of a VM at rest (delete_vm): DONE at once, a PUBLIC_CLOUD host's driver asked to CLEANUP.
DELETE_AT_REST: Steps = ("close_record", S.DONE, "release", "cloud_cleanup")
# recover --delete-db: the VM ends (free_vm_resources), nothing is asked of the drivers.
DELETE_DB: Steps = ("close_record", S.DONE, "release")
# recover --delete-recreate (DispatchManager::delete_recreate): a VM that is not running is PENDING again,
# its record taking the action; a running, powered-off or suspended one is cleaned up first (clean_up_vm:
# CLEANUP_RESUBMIT, the VM's ETIME set) and resubmitted when the CLEANUP answers, whatever it says.
RESUBMIT: Steps = (S.PENDING, "resubmitted")
_CLEANED_UP: Steps = (A.CLEANUP_RESUBMIT, "recreate_action", "unresched", "vm_etime")
RECREATE: dict[VmState, Steps] = {
    S.PENDING: (),
    **dict.fromkeys((S.HOLD, S.STOPPED, S.UNDEPLOYED), ("recreate_action", S.PENDING)),
    **dict.fromkeys((S.POWEROFF, S.SUSPENDED), (*_CLEANED_UP, "CLEANUP")),
    S.ACTIVE: (*_CLEANED_UP, "end_running", "driver_cancel", "CLEANUP"),
}
# Failure states the simulator's VMs can reach (its TM is instant: no PROLOG_/EPILOG_ failures).
BOOT_FAILURES = (A.BOOT_FAILURE, A.BOOT_UNDEPLOY_FAILURE, A.BOOT_STOPPED_FAILURE, A.BOOT_MIGRATE_FAILURE)


def _shutdown(lcm: LcmState, vmm: str, hard: bool) -> dict[Key, Steps]:
    """terminate/poweroff/undeploy of a running VM; the hard one also overrides its own soft one
    in flight (oned cancels the driver's action and sends CANCEL)."""
    rows: dict[Key, Steps] = {RUNNING: (lcm, "unresched", vmm), UNKNOWN: (lcm, "unresched", vmm)}
    if hard:
        rows[active(lcm)] = ("driver_cancel", lcm, "unresched", vmm)
    return rows


def _terminate(hard: bool) -> dict[Key, Steps]:
    rows = _shutdown(A.SHUTDOWN, "CANCEL" if hard else "SHUTDOWN", hard)
    rows.update({at(s): (A.EPILOG, *DONE) for s in (S.SUSPENDED, S.POWEROFF, S.STOPPED, S.UNDEPLOYED)})
    rows.update({at(S.PENDING): DONE, at(S.HOLD): DONE, at(S.DONE): ()})
    rows.update({active(lcm): DELETE for lcm in BOOT_FAILURES})
    return rows


def _undeploy(hard: bool) -> dict[Key, Steps]:
    rows = _shutdown(A.SHUTDOWN_UNDEPLOY, "CANCEL" if hard else "SHUTDOWN", hard)
    rows[at(S.POWEROFF)] = (A.EPILOG_UNDEPLOY, "close_epilog", S.UNDEPLOYED)
    return rows


_RESCHED_FROM = (RUNNING, UNKNOWN, at(S.POWEROFF))
# one.vm.action names, then the requests other methods make once they checked the VM's state.
VM_ACTIONS: dict[str, dict[Key, Steps]] = {
    "terminate": _terminate(hard=False),
    "terminate-hard": _terminate(hard=True),
    "poweroff": _shutdown(A.SHUTDOWN_POWEROFF, "SHUTDOWN", hard=False),
    "poweroff-hard": _shutdown(A.SHUTDOWN_POWEROFF, "CANCEL", hard=True),
    "undeploy": _undeploy(hard=False),
    "undeploy-hard": _undeploy(hard=True),
    "reboot": {RUNNING: ("unresched", "REBOOT")},
    "reboot-hard": {RUNNING: ("unresched", "RESET")},
    "stop": {
        RUNNING: (A.SAVE_STOP, "unresched", "SAVE"),
        at(S.SUSPENDED): (A.EPILOG_STOP, "close_epilog", S.STOPPED),
    },
    "suspend": {RUNNING: (A.SAVE_SUSPEND, "unresched", "SAVE")},
    "resume": {
        # STOPPED/UNDEPLOYED go back to the scheduler, which deploys with PROLOG_RESUME/PROLOG_UNDEPLOY.
        at(S.STOPPED): ("resume_later", S.PENDING),
        at(S.UNDEPLOYED): ("resume_later", S.PENDING),
        at(S.SUSPENDED): ("open_history", A.BOOT_SUSPENDED, "RESTORE"),
        at(S.POWEROFF): ("open_history", A.BOOT_POWEROFF, "DEPLOY"),
        UNKNOWN: (A.BOOT_UNKNOWN, "DEPLOY"),
    },
    "hold": {at(S.PENDING): (S.HOLD,)},
    "release": {at(S.HOLD): (S.PENDING,)},
    "resched": dict.fromkeys(_RESCHED_FROM, ("resched",)),
    "unresched": dict.fromkeys(_RESCHED_FROM, ("unresched",)),
}
# Where each vm.action is allowed: (STATE, LCM_STATE) pairs.
ALLOWED = {name: set(rows) for name, rows in VM_ACTIONS.items()}
REQUESTS: dict[str, dict[Key, Steps]] = {
    **VM_ACTIONS,
    "disk-attach": {RUNNING: ("attach", "reopen_history", A.HOTPLUG, "ATTACHDISK"),
                    at(S.POWEROFF): ("attach", "done")},
    "disk-detach": {RUNNING: ("reopen_history", A.HOTPLUG, "DETACHDISK"), at(S.POWEROFF): ("detach",)},
    # oned sets STATE ACTIVE again for a NIC hotplug, and logs it.
    "nic-attach": {RUNNING: ("attach", "reopen_history", "log_active", A.HOTPLUG_NIC, "ATTACHNIC"),
                   at(S.POWEROFF): ("attach", "done")},
    "nic-detach": {RUNNING: ("reopen_history", "log_active", A.HOTPLUG_NIC, "DETACHNIC"),
                   at(S.POWEROFF): ("detach",)},
    "snapshot-create": {RUNNING: ("attach", "snap_active", A.HOTPLUG_SNAPSHOT, "SNAPSHOTCREATE")},
    "snapshot-revert": {RUNNING: ("snap_active", A.HOTPLUG_SNAPSHOT, "SNAPSHOTREVERT")},
    "snapshot-delete": {RUNNING: ("snap_active", A.HOTPLUG_SNAPSHOT, "SNAPSHOTDELETE")},
    "resize": {RUNNING: (A.HOTPLUG_RESIZE, "RESIZE")},
    "updateconf": {RUNNING: (A.HOTPLUG, "UPDATECONF")},
    # A VM that is not running moves by its prolog alone (trigger_migrate); an UNKNOWN one then boots there.
    # A RUNNING VM gets its record on the target at once (the request's add_history), both records taking
    # the action (the target's only for a cold one); SAVE/MIGRATE go to the source host (Lifecycle._send).
    "migrate": {RUNNING: ("stamp", "migration_record", "stamp", A.SAVE_MIGRATE, "unresched", "SAVE"),
                at(S.POWEROFF): ("migration_record", "source_ended", "stamp", "unresched",
                                 A.PROLOG_MIGRATE_POWEROFF, "prolog_times", "never_ran", S.POWEROFF),
                at(S.SUSPENDED): ("migration_record", "source_ended", "stamp", "unresched",
                                  A.PROLOG_MIGRATE_SUSPEND, "prolog_times", "never_ran", S.SUSPENDED),
                UNKNOWN: ("stamp", "migration_record", "source_ended", "stamp", "unresched",
                          A.PROLOG_MIGRATE_UNKNOWN, "prolog_times", A.BOOT, "DEPLOY")},
    "live-migrate": {RUNNING: ("stamp", "migration_record", A.MIGRATE, "unresched", "MIGRATE")},
    # one.vm.recover 2 (LifeCycleManager::retry): a failed boot is tried again; a VM still waiting for its
    # driver is sent the same action again (a boot from UNDEPLOYED as RESTORE, as oned does; SHUTDOWN* see
    # Lifecycle.fx_shutdown_again), its state unchanged.
    "retry": {
        active(A.BOOT_FAILURE): (A.BOOT, "DEPLOY"),
        active(A.BOOT_UNDEPLOY_FAILURE): (A.BOOT_UNDEPLOY, "DEPLOY"),
        active(A.BOOT_STOPPED_FAILURE): (A.BOOT_STOPPED, "RESTORE"),
        active(A.BOOT_MIGRATE_FAILURE): (A.BOOT_MIGRATE, "RESTORE"),
        **{active(lcm): ("DEPLOY",) for lcm in (A.BOOT, A.BOOT_POWEROFF, A.BOOT_UNKNOWN)},
        **{active(lcm): ("RESTORE",) for lcm in (A.BOOT_MIGRATE, A.BOOT_SUSPENDED, A.BOOT_STOPPED, A.BOOT_UNDEPLOY)},
        **{active(lcm): ("shutdown_again",) for lcm in (A.SHUTDOWN, A.SHUTDOWN_POWEROFF, A.SHUTDOWN_UNDEPLOY)},
        **{active(lcm): ("SAVE",) for lcm in (A.SAVE_STOP, A.SAVE_SUSPEND, A.SAVE_MIGRATE)},
        active(A.MIGRATE): ("MIGRATE",),
    },
}  # fmt: skip
# Where one.vm.resize (DispatchManager::resize) and one.vm.updateconf (VirtualMachine::updateconf) go ahead;
# they change the template, and only a RUNNING VM's driver is asked (the requests of the same names).
RESIZE_FROM = frozenset({RUNNING, *(at(s) for s in S if s not in (S.ACTIVE, S.STOPPED, S.DONE, S.SUSPENDED))})
UPDATECONF_FROM = frozenset({
    *(at(s) for s in (S.PENDING, S.HOLD, S.POWEROFF, S.UNDEPLOYED, S.CLONING, S.CLONING_FAILURE)),
    *(active(lcm) for lcm in (
        A.PROLOG, A.RUNNING, A.EPILOG, A.SHUTDOWN, A.CLEANUP_RESUBMIT, A.SHUTDOWN_POWEROFF, A.CLEANUP_DELETE,
        A.HOTPLUG_SAVEAS_POWEROFF, A.SHUTDOWN_UNDEPLOY, A.EPILOG_UNDEPLOY, A.PROLOG_UNDEPLOY,
        A.HOTPLUG_PROLOG_POWEROFF, A.HOTPLUG_EPILOG_POWEROFF, A.BOOT_FAILURE, A.PROLOG_FAILURE, A.EPILOG_FAILURE,
        A.EPILOG_UNDEPLOY_FAILURE, A.PROLOG_MIGRATE_POWEROFF, A.PROLOG_MIGRATE_POWEROFF_FAILURE,
        A.BOOT_UNDEPLOY_FAILURE, A.PROLOG_UNDEPLOY_FAILURE, A.DISK_SNAPSHOT_POWEROFF,
        A.DISK_SNAPSHOT_REVERT_POWEROFF, A.DISK_SNAPSHOT_DELETE_POWEROFF)),
})  # fmt: skip
# A deploy (scheduler or one.vm.deploy) by where the VM came back from: trigger_deploy's prolog kinds.
DEPLOYS: dict[VmState | None, Steps] = {
    None: ("prolog_times", A.PROLOG, A.BOOT, "DEPLOY"),
    S.STOPPED: ("prolog_times", A.PROLOG_RESUME, A.BOOT_STOPPED, "RESTORE"),
    S.UNDEPLOYED: ("prolog_times", A.PROLOG_UNDEPLOY, A.BOOT_UNDEPLOY, "DEPLOY"),
}

# --- VMM replies: (action, LCM state) -> (path on SUCCESS, path on FAILURE) ---------------------------
RUN: Steps = ("clear_action", "running_again", "dummy_monitor", A.RUNNING)
BACK: Steps = (A.RUNNING,)
# "Fail to shutdown/save VM. Assuming that the VM is still RUNNING."
UNDONE: Steps = ("clear_action", A.RUNNING)
# deploy_failure by boot kind (the record's RETIME set in all; a failed resume from STOPPED/UNDEPLOYED
# also ends the record); deploy_success is RUNNING from all of them, the record running again.
_BOOT_FAILED: dict[LcmState, Steps] = {
    A.BOOT: (A.BOOT_FAILURE, "end_running"),
    A.BOOT_UNKNOWN: (A.UNKNOWN, "end_running"),
    A.BOOT_POWEROFF: ("end_running", S.POWEROFF),
    A.BOOT_SUSPENDED: ("end_running", S.SUSPENDED),
    A.BOOT_UNDEPLOY: (A.BOOT_UNDEPLOY_FAILURE, "close_record"),
    A.BOOT_STOPPED: (A.BOOT_STOPPED_FAILURE, "close_record"),
    A.BOOT_MIGRATE: (A.BOOT_MIGRATE_FAILURE, "end_running"),
    **dict.fromkeys(BOOT_FAILURES, ("end_running",)),  # recover-failure of a failed boot
}
_BOOTS_WITH = {
    "DEPLOY": (A.BOOT, A.BOOT_UNKNOWN, A.BOOT_POWEROFF, A.BOOT_UNDEPLOY, A.BOOT_FAILURE, A.BOOT_UNDEPLOY_FAILURE),
    "RESTORE": (A.BOOT_SUSPENDED, A.BOOT_STOPPED, A.BOOT_MIGRATE, A.BOOT_STOPPED_FAILURE, A.BOOT_MIGRATE_FAILURE),
}  # fmt: skip
_SHUTDOWN_DONE: dict[LcmState, Steps] = {
    A.SHUTDOWN: (A.EPILOG, *DONE),
    A.SHUTDOWN_POWEROFF: ("end_running", S.POWEROFF),
    A.SHUTDOWN_UNDEPLOY: (A.EPILOG_UNDEPLOY, "close_epilog", S.UNDEPLOYED),
}
_HOTPLUG: dict[str, tuple[LcmState, Steps, Steps]] = {
    "ATTACHDISK": (A.HOTPLUG, ("done", *BACK), ("detach", *BACK)),
    "DETACHDISK": (A.HOTPLUG, ("detach", *BACK), ("done", *BACK)),
    "ATTACHNIC": (A.HOTPLUG_NIC, ("done", *BACK), ("detach", *BACK)),
    "DETACHNIC": (A.HOTPLUG_NIC, ("detach", *BACK), ("done", *BACK)),
    "SNAPSHOTCREATE": (A.HOTPLUG_SNAPSHOT, ("done", *BACK), ("detach", *BACK)),
    "SNAPSHOTREVERT": (A.HOTPLUG_SNAPSHOT, ("done", *BACK), ("done", *BACK)),
    "SNAPSHOTDELETE": (A.HOTPLUG_SNAPSHOT, ("detach", *BACK), ("done", *BACK)),
    "RESIZE": (A.HOTPLUG_RESIZE, ("done", *BACK), ("resize_back", *BACK)),
    "UPDATECONF": (A.HOTPLUG, BACK, BACK),
}
REPLIES: dict[tuple[str, LcmState], tuple[Steps, Steps]] = {
    **{(vmm, lcm): (RUN, _BOOT_FAILED[lcm]) for vmm, lcms in _BOOTS_WITH.items() for lcm in lcms},
    # a retried boot from UNDEPLOYED (deploy_success/failure go by the state, whatever the action)
    ("RESTORE", A.BOOT_UNDEPLOY): (RUN, _BOOT_FAILED[A.BOOT_UNDEPLOY]),
    **{(vmm, lcm): (done, UNDONE) for vmm in ("SHUTDOWN", "CANCEL") for lcm, done in _SHUTDOWN_DONE.items()},
    ("SAVE", A.SAVE_SUSPEND): (("end_running", S.SUSPENDED), UNDONE),
    ("SAVE", A.SAVE_STOP): ((A.EPILOG_STOP, "close_epilog", S.STOPPED), UNDONE),
    # cold migration: saved on the source, the prolog moves it, RESTORE on the target; a failed migration
    # is RUNNING on the source again in a copy of its record (revert_migrate_after_failure, deploy_failure)
    ("SAVE", A.SAVE_MIGRATE): (
        (A.PROLOG_MIGRATE, "source_ended", "prolog_times", A.BOOT_MIGRATE, "RESTORE"),
        ("migration_failed", *BACK),
    ),
    ("MIGRATE", A.MIGRATE): (("source_ended", *BACK), ("migration_failed", *BACK)),
    ("CLEANUP", A.CLEANUP_RESUBMIT): (RESUBMIT, RESUBMIT),  # trigger_cleanup_callback, whatever the answer
    ("REBOOT", A.RUNNING): ((), ()),  # only logged
    ("RESET", A.RUNNING): ((), ()),
    **{(vmm, lcm): (ok, failed) for vmm, (lcm, ok, failed) in _HOTPLUG.items()},
}
# one.vm.recover 0/1 (LifeCycleManager::recover): a few states recover directly, whatever the result
# (a VM waiting for its CLEANUP is resubmitted), the others replay the reply the LCM state waits for.
RECOVER_DIRECT: dict[LcmState, Steps] = {A.UNKNOWN: (A.RUNNING,), A.CLEANUP_RESUBMIT: RESUBMIT}
RECOVER_AS: dict[LcmState, str] = {
    **{lcm: vmm for vmm, lcms in _BOOTS_WITH.items() for lcm in lcms},
    **dict.fromkeys(_SHUTDOWN_DONE, "SHUTDOWN"),
    **dict.fromkeys((A.SAVE_SUSPEND, A.SAVE_STOP, A.SAVE_MIGRATE), "SAVE"),
    A.MIGRATE: "MIGRATE",
    A.HOTPLUG_RESIZE: "RESIZE",
    # a hotplug is recovered as an attach, a detach in flight included (oned's attach_success/failure);
    # "SNAPSHOT" is completed by the active snapshot's ACTION (CREATE, REVERT, DELETE)
    A.HOTPLUG: "ATTACHDISK",
    A.HOTPLUG_NIC: "ATTACHNIC",
    A.HOTPLUG_SNAPSHOT: "SNAPSHOT",
}
# STATE_VM: (VM state, what the host's agent sees) -> steps (LifeCycleStates' monitor_poweroff/poweron).
SEEN: dict[tuple[Key, str], Steps] = {
    (RUNNING, "POWEROFF"): ("end_running", S.POWEROFF),
    (RUNNING, "UNKNOWN"): (A.UNKNOWN,),
    (RUNNING, "FAILURE"): (A.UNKNOWN,),
    (at(S.POWEROFF), "RUNNING"): ("open_history", A.RUNNING),
    (UNKNOWN, "RUNNING"): (A.RUNNING,),
}
