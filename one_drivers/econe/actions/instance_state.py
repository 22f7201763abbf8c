"""OpenNebula (STATE, LCM_STATE) -> EC2 instance state: the one table DescribeInstances and friends use.

Every VmState and every LcmState has an explicit row (a test walks them all); nothing defaults. Failure
LCM states keep the last stable EC2 state the VM had before the failed step and are flagged, so the
instance shows a `stateReason` instead of a made-up transition.
"""

from __future__ import annotations

from dataclasses import dataclass

from one_drivers.econe.shapes import InstanceState, StateReason
from one_drivers.one.states import LcmState, VmState, state_label
from one_drivers.query.states import Ec2State

__all__ = [
    "EC2_STATE_NAMES",
    "Ec2State",
    "StateReason",
    "StateRow",
    "ec2_state",
    "state_dict",
    "state_reason",
    "state_row",
]


def state_dict(state: Ec2State) -> InstanceState:
    """The InstanceState member of a response."""
    return {"Code": state.code, "Name": state.ec2_name}


EC2_STATE_NAMES = frozenset(s.ec2_name for s in Ec2State)


@dataclass(frozen=True)
class StateRow:
    ec2: Ec2State
    failure: bool = False


_P, _R, _SD, _T, _SG, _S = (
    Ec2State.PENDING,
    Ec2State.RUNNING,
    Ec2State.SHUTTING_DOWN,
    Ec2State.TERMINATED,
    Ec2State.STOPPING,
    Ec2State.STOPPED,
)
_FAIL = True

# STATE other than ACTIVE decides alone; ACTIVE (None here) defers to the LCM table.
VM_STATE_TABLE: dict[VmState, StateRow | None] = {
    VmState.INIT: StateRow(_P),
    VmState.PENDING: StateRow(_P),
    VmState.HOLD: StateRow(_P),
    VmState.ACTIVE: None,
    VmState.STOPPED: StateRow(_S),
    VmState.SUSPENDED: StateRow(_S),
    VmState.DONE: StateRow(_T),
    VmState.FAILED: StateRow(_T, _FAIL),  # retired; old databases only
    VmState.POWEROFF: StateRow(_S),
    VmState.UNDEPLOYED: StateRow(_S),
    VmState.CLONING: StateRow(_P),
    VmState.CLONING_FAILURE: StateRow(_P, _FAIL),
}

# Transitions out of a stopped VM (BOOT_POWEROFF, PROLOG_RESUME...) show `pending` as EC2 does when
# starting a stopped instance; stop paths (SAVE_*, *_POWEROFF/*_UNDEPLOY shutdowns, EPILOG_STOP and
# EPILOG_UNDEPLOY) are `stopping` (upstream showed them as shutting-down); work done on a powered-off,
# suspended or undeployed VM (hotplug, disk snapshot, resize, backup) keeps it `stopped`.
LCM_STATE_TABLE: dict[LcmState, StateRow] = {
    LcmState.LCM_INIT: StateRow(_P),
    LcmState.PROLOG: StateRow(_P),
    LcmState.BOOT: StateRow(_P),
    LcmState.RUNNING: StateRow(_R),
    LcmState.MIGRATE: StateRow(_R),
    LcmState.SAVE_STOP: StateRow(_SG),
    LcmState.SAVE_SUSPEND: StateRow(_SG),
    LcmState.SAVE_MIGRATE: StateRow(_SG),
    LcmState.PROLOG_MIGRATE: StateRow(_R),
    LcmState.PROLOG_RESUME: StateRow(_P),
    LcmState.EPILOG_STOP: StateRow(_SG),
    LcmState.EPILOG: StateRow(_SD),
    LcmState.SHUTDOWN: StateRow(_SD),
    LcmState.CANCEL: StateRow(_SD),
    LcmState.FAILURE: StateRow(_P, _FAIL),  # retired generic failure (deploy path)
    LcmState.CLEANUP_RESUBMIT: StateRow(_SD),
    LcmState.UNKNOWN: StateRow(_R, _FAIL),  # the hypervisor lost the VM: it was running
    LcmState.HOTPLUG: StateRow(_R),
    LcmState.SHUTDOWN_POWEROFF: StateRow(_SG),
    LcmState.BOOT_UNKNOWN: StateRow(_P),
    LcmState.BOOT_POWEROFF: StateRow(_P),
    LcmState.BOOT_SUSPENDED: StateRow(_P),
    LcmState.BOOT_STOPPED: StateRow(_P),
    LcmState.CLEANUP_DELETE: StateRow(_SD),
    LcmState.HOTPLUG_SNAPSHOT: StateRow(_R),
    LcmState.HOTPLUG_NIC: StateRow(_R),
    LcmState.HOTPLUG_SAVEAS: StateRow(_R),
    LcmState.HOTPLUG_SAVEAS_POWEROFF: StateRow(_S),
    LcmState.HOTPLUG_SAVEAS_SUSPENDED: StateRow(_S),
    LcmState.SHUTDOWN_UNDEPLOY: StateRow(_SG),
    LcmState.EPILOG_UNDEPLOY: StateRow(_SG),
    LcmState.PROLOG_UNDEPLOY: StateRow(_P),
    LcmState.BOOT_UNDEPLOY: StateRow(_P),
    LcmState.HOTPLUG_PROLOG_POWEROFF: StateRow(_S),
    LcmState.HOTPLUG_EPILOG_POWEROFF: StateRow(_S),
    LcmState.BOOT_MIGRATE: StateRow(_R),
    LcmState.BOOT_FAILURE: StateRow(_P, _FAIL),
    LcmState.BOOT_MIGRATE_FAILURE: StateRow(_R, _FAIL),
    LcmState.PROLOG_MIGRATE_FAILURE: StateRow(_R, _FAIL),
    LcmState.PROLOG_FAILURE: StateRow(_P, _FAIL),
    LcmState.EPILOG_FAILURE: StateRow(_R, _FAIL),
    LcmState.EPILOG_STOP_FAILURE: StateRow(_R, _FAIL),
    LcmState.EPILOG_UNDEPLOY_FAILURE: StateRow(_R, _FAIL),
    LcmState.PROLOG_MIGRATE_POWEROFF: StateRow(_S),
    LcmState.PROLOG_MIGRATE_POWEROFF_FAILURE: StateRow(_S, _FAIL),
    LcmState.PROLOG_MIGRATE_SUSPEND: StateRow(_S),
    LcmState.PROLOG_MIGRATE_SUSPEND_FAILURE: StateRow(_S, _FAIL),
    LcmState.BOOT_UNDEPLOY_FAILURE: StateRow(_S, _FAIL),
    LcmState.BOOT_STOPPED_FAILURE: StateRow(_S, _FAIL),
    LcmState.PROLOG_RESUME_FAILURE: StateRow(_S, _FAIL),
    LcmState.PROLOG_UNDEPLOY_FAILURE: StateRow(_S, _FAIL),
    LcmState.DISK_SNAPSHOT_POWEROFF: StateRow(_S),
    LcmState.DISK_SNAPSHOT_REVERT_POWEROFF: StateRow(_S),
    LcmState.DISK_SNAPSHOT_DELETE_POWEROFF: StateRow(_S),
    LcmState.DISK_SNAPSHOT_SUSPENDED: StateRow(_S),
    LcmState.DISK_SNAPSHOT_REVERT_SUSPENDED: StateRow(_S),
    LcmState.DISK_SNAPSHOT_DELETE_SUSPENDED: StateRow(_S),
    LcmState.DISK_SNAPSHOT: StateRow(_R),
    LcmState.DISK_SNAPSHOT_REVERT: StateRow(_R),
    LcmState.DISK_SNAPSHOT_DELETE: StateRow(_R),
    LcmState.PROLOG_MIGRATE_UNKNOWN: StateRow(_R),
    LcmState.PROLOG_MIGRATE_UNKNOWN_FAILURE: StateRow(_R, _FAIL),
    LcmState.DISK_RESIZE: StateRow(_R),
    LcmState.DISK_RESIZE_POWEROFF: StateRow(_S),
    LcmState.DISK_RESIZE_UNDEPLOYED: StateRow(_S),
    LcmState.HOTPLUG_NIC_POWEROFF: StateRow(_S),
    LcmState.HOTPLUG_RESIZE: StateRow(_R),
    LcmState.HOTPLUG_SAVEAS_UNDEPLOYED: StateRow(_S),
    LcmState.HOTPLUG_SAVEAS_STOPPED: StateRow(_S),
    LcmState.BACKUP: StateRow(_R),
    LcmState.BACKUP_POWEROFF: StateRow(_S),
    LcmState.RESTORE: StateRow(_S),
}


def state_row(state: VmState, lcm: LcmState) -> StateRow:
    """The table row for a VM; ACTIVE VMs are decided by their LCM state."""
    row = VM_STATE_TABLE[state]
    return LCM_STATE_TABLE[lcm] if row is None else row


def ec2_state(state: VmState, lcm: LcmState) -> Ec2State:
    return state_row(state, lcm).ec2


def state_reason(state: VmState, lcm: LcmState, error: str = "") -> StateReason | None:
    """EC2 `StateReason` for a VM in a failure state, or None. `error` is the VM's ERROR text."""
    if not state_row(state, lcm).failure:
        return None
    label = state_label(state, lcm)
    message = f"OpenNebula state {label}" + (f": {error}" if error else "")
    return {"Code": "Server.InternalError", "Message": message}
