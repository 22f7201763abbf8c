"""EC2's instance states (InstanceState.Name) and their documented codes: one enum for both directions.

econe answers with them (OpenNebula state -> EC2 state, econe/actions/instance_state.py) and the drivers
read them from an endpoint (EC2 state -> OpenNebula, ec2/states.py). The codes are the low byte of
InstanceState.Code; AWS may set the high byte for its own use, so readers go by the name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Ec2State(enum.Enum):
    """EC2 instance-state names, in EC2's lifecycle order; `code` is the documented code."""

    PENDING = "pending"
    RUNNING = "running"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def code(self) -> int:
        return STATE_CODES[self]

    @property
    def ec2_name(self) -> str:
        return self.value


STATE_CODES: Mapping[Ec2State, int] = {
    Ec2State.PENDING: 0,
    Ec2State.RUNNING: 16,
    Ec2State.SHUTTING_DOWN: 32,
    Ec2State.TERMINATED: 48,
    Ec2State.STOPPING: 64,
    Ec2State.STOPPED: 80,
}
