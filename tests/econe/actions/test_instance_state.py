"""The (STATE, LCM_STATE) -> EC2 state table covers every oned state and follows the spec's groups."""

from __future__ import annotations

import pytest

from one_drivers.econe.actions.instance_state import (
    EC2_STATE_NAMES,
    LCM_STATE_TABLE,
    VM_STATE_TABLE,
    Ec2State,
    ec2_state,
    state_dict,
    state_reason,
    state_row,
)
from one_drivers.one.states import LcmState, VmState
from one_drivers.query.states import Ec2State as SharedEc2State


def test_every_member_has_a_row() -> None:
    assert set(VM_STATE_TABLE) == set(VmState)
    assert set(LCM_STATE_TABLE) == set(LcmState)
    assert [s for s, row in VM_STATE_TABLE.items() if row is None] == [VmState.ACTIVE]


def test_every_pair_maps() -> None:
    # One walk of all 12 x 72 pairs (the tables' exhaustiveness is test_every_member_has_a_row).
    for state in VmState:
        for lcm in LcmState:
            row = state_row(state, lcm)
            assert row.ec2.ec2_name in EC2_STATE_NAMES, (state, lcm)
            reason = state_reason(state, lcm, "boom")
            assert (reason is not None) == row.failure, (state, lcm)
            if reason is not None:
                assert reason["Code"] == "Server.InternalError" and reason["Message"].endswith(": boom")


def test_codes_are_ec2s() -> None:
    assert {s.ec2_name: s.code for s in Ec2State} == {
        "pending": 0,
        "running": 16,
        "shutting-down": 32,
        "terminated": 48,
        "stopping": 64,
        "stopped": 80,
    }
    assert state_dict(Ec2State.RUNNING) == {"Code": 16, "Name": "running"}


@pytest.mark.parametrize(
    ("state", "lcm", "expected"),
    [
        (VmState.INIT, LcmState.LCM_INIT, "pending"),
        (VmState.PENDING, LcmState.LCM_INIT, "pending"),
        (VmState.HOLD, LcmState.LCM_INIT, "pending"),
        (VmState.CLONING, LcmState.LCM_INIT, "pending"),
        (VmState.ACTIVE, LcmState.PROLOG, "pending"),
        (VmState.ACTIVE, LcmState.BOOT, "pending"),
        (VmState.ACTIVE, LcmState.RUNNING, "running"),
        (VmState.ACTIVE, LcmState.MIGRATE, "running"),
        (VmState.ACTIVE, LcmState.HOTPLUG, "running"),
        (VmState.ACTIVE, LcmState.DISK_SNAPSHOT, "running"),
        (VmState.ACTIVE, LcmState.DISK_RESIZE, "running"),
        (VmState.ACTIVE, LcmState.EPILOG, "shutting-down"),
        (VmState.ACTIVE, LcmState.SHUTDOWN, "shutting-down"),
        (VmState.ACTIVE, LcmState.CANCEL, "shutting-down"),
        (VmState.ACTIVE, LcmState.CLEANUP_DELETE, "shutting-down"),
        (VmState.ACTIVE, LcmState.CLEANUP_RESUBMIT, "shutting-down"),
        (VmState.ACTIVE, LcmState.SAVE_STOP, "stopping"),
        (VmState.ACTIVE, LcmState.SAVE_SUSPEND, "stopping"),
        # Upstream showed a powering-off VM as shutting-down; it is stopping.
        (VmState.ACTIVE, LcmState.SHUTDOWN_POWEROFF, "stopping"),
        (VmState.ACTIVE, LcmState.SHUTDOWN_UNDEPLOY, "stopping"),
        (VmState.STOPPED, LcmState.LCM_INIT, "stopped"),
        (VmState.SUSPENDED, LcmState.LCM_INIT, "stopped"),
        (VmState.POWEROFF, LcmState.LCM_INIT, "stopped"),
        (VmState.UNDEPLOYED, LcmState.LCM_INIT, "stopped"),
        (VmState.DONE, LcmState.LCM_INIT, "terminated"),
        (VmState.FAILED, LcmState.LCM_INIT, "terminated"),
        # Starting a stopped VM is `pending` again, as on EC2.
        (VmState.ACTIVE, LcmState.BOOT_POWEROFF, "pending"),
        (VmState.ACTIVE, LcmState.PROLOG_RESUME, "pending"),
    ],
)
def test_spec_groups(state: VmState, lcm: LcmState, expected: str) -> None:
    assert ec2_state(state, lcm).ec2_name == expected


@pytest.mark.parametrize(
    ("lcm", "expected"),
    [
        (LcmState.BOOT_FAILURE, "pending"),
        (LcmState.PROLOG_FAILURE, "pending"),
        (LcmState.EPILOG_STOP_FAILURE, "running"),
        (LcmState.BOOT_MIGRATE_FAILURE, "running"),
        (LcmState.PROLOG_RESUME_FAILURE, "stopped"),
        (LcmState.BOOT_UNDEPLOY_FAILURE, "stopped"),
        (LcmState.UNKNOWN, "running"),
    ],
)
def test_failures_keep_last_stable_state_with_reason(lcm: LcmState, expected: str) -> None:
    assert ec2_state(VmState.ACTIVE, lcm).ec2_name == expected
    reason = state_reason(VmState.ACTIVE, lcm)
    assert reason == {"Code": "Server.InternalError", "Message": f"OpenNebula state {lcm.name}"}


def test_every_failure_name_is_flagged() -> None:
    flagged = {lcm for lcm, row in LCM_STATE_TABLE.items() if row.failure}
    assert {lcm for lcm in LcmState if lcm.name.endswith("FAILURE")} <= flagged
    assert state_reason(VmState.ACTIVE, LcmState.RUNNING) is None


def test_econe_answers_with_the_states_the_drivers_read() -> None:
    # One enum both ways: what econe answers is what one_vmm_ec2/one_im_ec2 map back to OpenNebula.
    from one_drivers.ec2.states import STATE_TABLE

    assert Ec2State is SharedEc2State and set(STATE_TABLE) == set(Ec2State)
