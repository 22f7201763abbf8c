"""EC2 instance states and what each one means to OpenNebula: the one table both drivers read.

EC2 reports `State: {Code, Name}`; the VMM driver's POLL and the IM driver's monitoring both turn the
name into OpenNebula terms through `map_state`, and the filters and checks of the VMM actions use
`LIVE_STATES`/`GONE_STATES`/`STOPPED_STATES`, which are derived from the same table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from one_drivers.query.states import STATE_CODES, Ec2State

__all__ = ["STATE_CODES", "Ec2State", "StateMapping", "map_state"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateMapping:
    """How one EC2 state reads in OpenNebula.

    poll: the letter of the poll string (≤5.10): a active, d gone/off, - unknown.
    one_state: the STATE of a STATE_VM entry (5.12+); oned acts on RUNNING and POWEROFF.
    uses_capacity: counts in USEDCPU/USEDMEMORY (a stopped instance holds no EC2 capacity).
    alive: the instance can still run (not terminated or being terminated).
    """

    poll: str
    one_state: str
    uses_capacity: bool
    alive: bool


# Terminated and shutting-down read as POWEROFF, as upstream 5.12 reported them; a stopped instance is
# a powered-off VM (oned then offers resume = StartInstances).
STATE_TABLE: Mapping[Ec2State, StateMapping] = {
    Ec2State.PENDING: StateMapping("a", "RUNNING", True, True),
    Ec2State.RUNNING: StateMapping("a", "RUNNING", True, True),
    Ec2State.STOPPING: StateMapping("d", "POWEROFF", False, True),
    Ec2State.STOPPED: StateMapping("d", "POWEROFF", False, True),
    Ec2State.SHUTTING_DOWN: StateMapping("d", "POWEROFF", False, False),
    Ec2State.TERMINATED: StateMapping("d", "POWEROFF", False, False),
}
UNKNOWN_STATE = StateMapping("-", "UNKNOWN", False, True)

# Names of the instances that can still run (the VMM actions' DescribeInstances filter) and of those
# that are gone or going; in the table's order, which is EC2's lifecycle order.
LIVE_STATES: tuple[str, ...] = tuple(s.value for s, m in STATE_TABLE.items() if m.alive)
GONE_STATES: frozenset[str] = frozenset(s.value for s, m in STATE_TABLE.items() if not m.alive)
# Alive but holding no capacity: stopped or on the way there (StartInstances brings them back).
STOPPED_STATES: frozenset[str] = frozenset(
    s.value for s, m in STATE_TABLE.items() if m.alive and not m.uses_capacity
)


def map_state(name: str) -> StateMapping:
    """The mapping of an EC2 state name; an unheard-of name is unknown (never guessed as running)."""
    try:
        return STATE_TABLE[Ec2State(name)]
    except ValueError:
        log.warning("unknown EC2 instance state %r: reported as unknown", name)
        return UNKNOWN_STATE
