"""A simulated host as tests read it: its document over XML-RPC, and monitord's view inside the simulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator


class HostView:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.gw = OneGateway(sim.endpoint, sim.oneadmin_auth)

    def doc(self, host: int) -> ET.Element:
        return ET.fromstring(self.gw.document("one.host.info", host, False))

    def state(self, host: int) -> int:
        return int(self.doc(host).findtext("STATE") or -1)

    def answered(self, host: int) -> bool:
        """The host's last START_MONITOR got its reply."""
        with self.sim.cloud.lock:
            return not self.sim.cloud.hosts[host].monitor_in_progress

    def states(self, host: int) -> list[int]:
        """Every state the host went through, INIT first."""
        with self.sim.cloud.lock:
            return list(self.sim.lifecycle.host_states.get(host, [0]))
