"""Host monitoring as oned 6.10's monitord does it: IM programs, START/STOP_MONITOR, pushed messages.

A `dummy` host is monitored at once with what one_im_dummy reported on the recorded 6.10.5 (the two
`dummy_*_host.txt` files); a configured IM program gets START_MONITOR and answers, and host agents push
SYSTEM_HOST, MONITOR_HOST, BEACON_HOST, MONITOR_VM and STATE_VM messages (the listener is in drivers.py).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from pathlib import Path

from one_drivers.mad.monitord import Frame, MonitordError, decode_frame, encode_frame, parse_monitor_messages
from one_drivers.one.states import HostState, LcmState, VmState
from one_drivers.one.template import TemplateError, parse_template
from one_drivers.sim import docs
from one_drivers.sim.cloud import Cloud
from one_drivers.sim.drivers import DriverEnv, DriverError, DriverSet
from one_drivers.sim.model import Attrs, Host, Vm, get_attr, get_vectors, set_attr

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
DUMMY_SYSTEM_HOST = (_HERE / "dummy_system_host.txt").read_text(encoding="utf-8")
DUMMY_MONITOR_HOST = (_HERE / "dummy_monitor_host.txt").read_text(encoding="utf-8")
# SYSTEM_HOST vectors that make a host's NUMA nodes, and all members that go to HOST_SHARE (or are
# per-VM), not to the host's TEMPLATE.
NUMA_KINDS = ("CORE", "HUGEPAGE", "MEMORY_NODE")
SHARE_KEYS = frozenset({"TOTALCPU", "TOTALMEMORY", "DS_LOCATION_USED_MB", "DS_LOCATION_TOTAL_MB",
                        "DS_LOCATION_FREE_MB", *NUMA_KINDS, "PCI", "VM", "HOSTNAME_"})  # fmt: skip
# monitord.conf (6.10): MANAGER_TIMER 15 s; MONITORING_INTERVAL_HOST 180 s; a START_MONITOR that got no
# answer is re-sent after 300 s (HostMonitorManager::monitor_expire).
MONITOR_EXPIRE = 300.0
H = HostState


class HostMonitor:
    """monitord's side of the simulator. All methods expect `cloud.lock` held (it is re-entrant)."""

    def __init__(self, cloud: Cloud, im: dict[str, str], env: DriverEnv) -> None:
        self.cloud = cloud
        self.im = DriverSet(im, env, self._im_line)
        self.monitor_port = 0
        # monitord.conf PROBES_PERIOD (seconds) handed to IM programs; oned's defaults.
        self.probes_period: dict[str, int] = {"BEACON_HOST": 30, "MONITOR_HOST": 120, "MONITOR_VM": 30,
                                              "STATE_VM": 5, "SYNC_STATE_VM": 180, "SYSTEM_HOST": 600}  # fmt: skip
        self.on_change: Callable[[], None] = lambda: None
        self.monitor_interval_host = 180.0
        # Every state a host went through, in order (tests check that a host never passed ERROR).
        self.host_states: dict[int, list[int]] = {}

    def _im_line(self, line: str) -> None:
        if not line.startswith(("START_MONITOR ", "STOP_MONITOR ")):
            log.info("im: %s", line[:300])
            return
        try:
            frame = decode_frame(line)
        except MonitordError as exc:
            log.warning("im: unreadable reply %r: %s", line[:120], exc)
            return
        if frame.type != "START_MONITOR":
            return
        with self.cloud.lock:
            host = self.cloud.hosts.get(frame.host_id)
            if host is None or host.state == H.OFFLINE:
                return
            host.monitor_in_progress = False
            if frame.success and self._apply_monitor_messages(host, frame.text):
                host.last_monitored = time.time()
            else:
                # monitord 6.10 (start_monitor_failure, also for a SUCCESS whose document it cannot
                # read) sends oned `HOST_STATE ERROR` without the reply's text: the host's ERROR names
                # no reason. Its last_monitored stays at the send time, so the timer retries it after
                # MONITORING_INTERVAL_HOST.
                log.info("im: START_MONITOR failed for host %d: %s", host.id, frame.text[:200])
                self.host_error(host, "")
            self.on_change()

    # --- host states -------------------------------------------------------------------------------------
    def host_added(self, host: Host) -> None:
        """Monitor a new host: dummy at once, a configured IM program with START_MONITOR."""
        if host.im_mad == "dummy":
            self.apply_system(host, DUMMY_SYSTEM_HOST, set_hostname=True)
            self.apply_monitor(host, DUMMY_MONITOR_HOST, self.cloud.now())
            self.set_host_state(host, H.MONITORED)
            return
        self.start_monitor(host)

    def host_error(self, host: Host, message: str) -> None:
        """oned's HOST_STATE ERROR <message>: only a change of state records the message (an ERROR
        host keeps its first reason); DISABLED and OFFLINE hosts keep their state."""
        if host.state in (H.ERROR, H.OFFLINE):
            return
        if host.state != H.DISABLED:
            self.set_host_state(host, H.ERROR)
        error = f"{time.ctime(self.cloud.now())} : Error monitoring Host {host.name} ({host.id}): {message}"
        set_attr(host.template, "ERROR", error)  # the time as one_util::log_time writes it

    def set_host_state(self, host: Host, state: int) -> None:
        if host.state != state:
            host.prev_state, host.state = host.state, state
            self.host_states.setdefault(host.id, [H.INIT]).append(state)

    def host_status_changed(self, host: Host, old_state: int) -> None:
        """monitord's update_host on a state change: OFFLINE stops monitoring, leaving OFFLINE starts it."""
        if host.state == H.OFFLINE:
            self.stop_monitor(host)
        elif old_state == H.OFFLINE and not host.monitor_in_progress and host.im_mad != "dummy":
            self.start_monitor(host)

    # --- START/STOP_MONITOR ------------------------------------------------------------------------------
    def monitord_timer(self, now: float | None = None) -> int:
        """One tick of monitord's timer (6.10 HostMonitorManager::timer_action): a host not heard of for
        MONITORING_INTERVAL_HOST gets START_MONITOR again (INIT, MONITORED, ERROR and DISABLED alike; an
        unanswered one only after MONITOR_EXPIRE). Returns how many were (re)started."""
        now = time.time() if now is None else now
        started = 0
        for host in list(self.cloud.hosts.values()):
            if host.im_mad == "dummy" or host.last_monitored >= now - self.monitor_interval_host:
                continue
            if host.state == H.OFFLINE:
                host.last_monitored = now
            elif not host.monitor_in_progress or now - host.last_monitored >= MONITOR_EXPIRE:
                self.start_monitor(host)
                started += 1
        return started

    def stop_monitor(self, host: Host) -> None:
        """STOP_MONITOR to the host's IM program (host OFFLINE, or deleted: RequestManagerDelete)."""
        host.monitor_in_progress = False
        if host.im_mad != "dummy":
            self._send_monitor(host, "STOP_MONITOR", "")

    def start_monitor(self, host: Host) -> None:
        """START_MONITOR to the host's IM program: when the host is created (monitord 6.10 starts an INIT
        host at once) and from monitord_timer. Not on host.update: 6.10's monitord only refreshes its copy
        of the host then (HostMonitorManager::update_host restarts nothing unless the state changed)."""
        host.monitor_in_progress = True
        host.last_monitored = time.time()
        c = docs.cdata
        probes = "".join(f"<{k}>{c(str(v))}</{k}>" for k, v in sorted(self.probes_period.items()))
        config = (
            f"<MONITOR_CONFIGURATION><DATASTORE_LOCATION>{c('/var/lib/one//datastores')}</DATASTORE_LOCATION>"
            f"<NETWORK><ADDRESS>{c('127.0.0.1')}</ADDRESS><MONITOR_ADDRESS>{c('127.0.0.1')}"
            f"</MONITOR_ADDRESS><PORT>{c(str(self.monitor_port))}</PORT><PRIKEY>{c('')}</PRIKEY>"
            f"<PUBKEY>{c('')}</PUBKEY><THREADS>{c('8')}</THREADS></NETWORK>"
            f"<PROBES_PERIOD>{probes}</PROBES_PERIOD></MONITOR_CONFIGURATION>"
        )
        if not self._send_monitor(host, "START_MONITOR", config):
            self.host_error(host, f"Cannot start monitoring driver {host.im_mad}")

    def _send_monitor(self, host: Host, action: str, config: str) -> bool:
        """The action to the host's IM program with the host as monitord knows it; False when the program
        cannot be started or written to. Without a program there is nothing to send (monitord logs
        "Cannot find driver")."""
        document = f"<MONITOR_DRIVER_ACTION>{docs.render('HOST brief', host)}{config}</MONITOR_DRIVER_ACTION>"
        try:
            proc = self.im.get(host.im_mad)
            if proc is not None:
                proc.send(encode_frame(action, "-", host.id, document, timestamp=0))
        except DriverError:
            return False
        return True

    # --- what the host agents report ----------------------------------------------------------------------
    def apply_system(self, host: Host, text: str, set_hostname: bool = False) -> bool:
        """SYSTEM_HOST into the host's share and template; False when oned cannot parse it (it only logs)."""
        attrs = _attrs(text)
        if attrs is None:
            log.warning("host %d: unreadable SYSTEM_HOST", host.id)
            return False
        flat = {k: v for k, v in attrs if isinstance(v, str)}
        host.total_cpu = int(float(flat.get("TOTALCPU", host.total_cpu)))
        host.total_mem = int(float(flat.get("TOTALMEMORY", host.total_mem)))
        if "DS_LOCATION_TOTAL_MB" in flat:
            free, total, used = (int(flat.get(f"DS_LOCATION_{k}_MB", "0")) for k in ("FREE", "TOTAL", "USED"))
            host.ds_usage = (free, total, used)
        host.pci = get_vectors(attrs, "PCI")
        host.numa = [{**v, "_KIND": k} for k, v in attrs if k in NUMA_KINDS and isinstance(v, dict)]
        for key, value in attrs:
            if key not in SHARE_KEYS:
                set_attr(host.template, key, value)
        if set_hostname and get_attr(host.template, "HOSTNAME") is None:
            set_attr(host.template, "HOSTNAME", host.name)
        return True

    def apply_monitor(self, host: Host, text: str, stamp: int) -> None:
        attrs = _attrs(text)
        if attrs is not None:
            host.monitoring, host.monitor_time = attrs, stamp or self.cloud.now()

    def _apply_monitor_messages(self, host: Host, text: str) -> bool:
        """The <MONITOR_MESSAGES> document of a START_MONITOR SUCCESS: each child as if pushed. An empty
        answer changes nothing (an INIT host stays INIT); False when the text is not such a document."""
        if not text.strip():
            return True
        try:
            stamp, messages = parse_monitor_messages(text)
        except MonitordError:
            return False
        for msg_type, body in messages:
            self.apply_message(Frame(msg_type, "SUCCESS", host.id, stamp or self.cloud.now(), body.encode()))
        return True

    def apply_message(self, msg: Frame) -> None:
        """A monitord message from a host agent: host system/monitoring, VM monitoring and state."""
        with self.cloud.lock:
            host = self.cloud.hosts.get(msg.host_id)
            if host is None or host.state == H.OFFLINE:
                return
            if msg.status != "SUCCESS" and msg.type in ("SYSTEM_HOST", "MONITOR_HOST", "BEACON_HOST"):
                # 6.10 MonitorDriverProtocol: these three go to error_monitor (the host was heard of,
                # ERROR with the text); a failed MONITOR_VM or STATE_VM is only logged.
                host.monitor_in_progress, host.last_monitored = False, time.time()
                self.host_error(host, msg.text)
            elif msg.status != "SUCCESS":
                return
            elif msg.type == "SYSTEM_HOST" and self.apply_system(host, msg.text):
                # oned's Host::update_info: the ERROR text goes, the host is MONITORED (unless
                # DISABLED); this is the only message that changes an INIT or ERROR host's state.
                host.template[:] = [(k, v) for k, v in host.template if k != "ERROR"]
                if host.state != H.DISABLED:
                    self.set_host_state(host, H.MONITORED)
            elif msg.type == "MONITOR_HOST":
                # monitor_host stores monitoring and last_monitored; no state change.
                self.apply_monitor(host, msg.text, msg.timestamp)
                host.last_monitored, host.monitor_in_progress = time.time(), False
            elif msg.type == "BEACON_HOST":
                host.last_monitored = time.time()
            elif msg.type == "MONITOR_VM":
                self._apply_vm_monitor(msg)
            elif msg.type == "STATE_VM":
                self._apply_vm_states(host, msg)
            self.on_change()

    def _find_vm(self, vec: dict[str, str]) -> Vm | None:
        """The VM a report names by its ID. Without a valid one it is a wild VM, which oned looks up by
        DEPLOY_ID among imported VMs only (_monitor_vm, InformationManager::_vm_state); there are none here."""
        vm_id = vec.get("ID", "")
        return self.cloud.vms.get(int(vm_id)) if vm_id.isdigit() else None

    def _apply_vm_monitor(self, msg: Frame) -> None:
        for vec in get_vectors(_attrs(msg.text) or [], "VM"):
            vm = self._find_vm(vec)
            if vm is None or vm.state == VmState.DONE:
                continue
            try:
                text = base64.b64decode(vec.get("MONITOR", "")).decode("utf-8", "replace")
            except ValueError:
                text = ""
            attrs = [(k, v) for k, v in _attrs(text) or [] if isinstance(v, str)]
            vm.monitoring = [*attrs, ("ID", str(vm.id)), ("TIMESTAMP", str(msg.timestamp))]
            vm.last_poll = msg.timestamp
            vm.touch()

    def _apply_vm_states(self, host: Host, msg: Frame) -> None:
        """STATE_VM: states seen from outside; with SYNC_STATE=yes, RUNNING VMs of the host that are not
        listed take MISSING_STATE (unless they were deployed after the probe ran)."""
        attrs = _attrs(msg.text) or []
        seen: set[int] = set()
        for vec in get_vectors(attrs, "VM"):
            vm = self._find_vm(vec)
            if vm is not None:
                seen.add(vm.id)
                self.state_seen(vm, vec.get("STATE", ""))
        flat = {k: v for k, v in attrs if isinstance(v, str)}
        if flat.get("SYNC_STATE", "").lower() != "yes":
            return
        for vm in [
            v for v in self.cloud.vms.values() if (v.state, v.lcm_state) == (VmState.ACTIVE, LcmState.RUNNING)
        ]:
            h = vm.current
            if vm.id not in seen and h is not None and h.hid == host.id and h.rstime < msg.timestamp:
                self.state_seen(vm, flat.get("MISSING_STATE", "UNKNOWN"))

    def state_seen(self, vm: Vm, state: str) -> None:
        """What the host's agent reports of a VM (STATE_VM's STATE): the life cycle (a subclass) applies it."""
        raise NotImplementedError


def _attrs(text: str) -> Attrs | None:
    """A template a host agent sent; None when it cannot be read (monitord drops it)."""
    try:
        return list(parse_template(text).attributes)
    except TemplateError:
        return None
