"""The 5.12-7.4 monitoring loop of one EC2 host: cycles of one DescribeInstances, pushed to monitord.

START_MONITOR makes a `HostMonitor`: its first cycle answers with the `<MONITOR_MESSAGES>` document,
then a thread pushes SYSTEM_HOST, MONITOR_HOST, MONITOR_VM, STATE_VM (TCP; all VMs with SYNC_STATE=yes
every SYNC_STATE_VM seconds, else only changes) and BEACON_HOST at monitord's periods. Messages due
together share one snapshot; a snapshot is never refreshed more often than `min_poll_interval`.

Setup (see setup.py): a host without credentials yet is WAITING: START_MONITOR gets an empty SUCCESS
(monitord leaves the host INIT) and nothing is pushed. A real problem is pushed as MONITOR_HOST FAILURE
with what to fix (monitord puts the host in ERROR with that text; a START_MONITOR FAILURE would leave
the message out). In both cases the host template is re-read every `setup_poll_interval` (one
host.info) and a cycle is retried at once when it changed, else every `retry_interval`; the first good
cycle pushes SYSTEM_HOST, which is what makes oned set the host MONITORED again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.ec2.errors import describe
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.cycle import HostSnapshot, MetricsSource, take_snapshot
from one_drivers.im_ec2.reaper import VmDirectory, reap
from one_drivers.im_ec2.setup import Condition, HostCondition, explain
from one_drivers.mad.monitord import MonitorConfig, MonitordSender, monitor_messages_document

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

PUSHED_TYPES = ("SYSTEM_HOST", "MONITOR_HOST", "STATE_VM", "MONITOR_VM", "BEACON_HOST")


@dataclass(frozen=True)
class ImSettings:
    """`monitoring:` keys of ec2_driver.conf (all optional)."""

    reaper: bool = True  # terminate instances of this cloud's DONE VMs (see reaper.py)
    reap_interval: float = 120.0  # seconds between reaper passes per host
    min_poll_interval: float = 10.0  # never two DescribeInstances for one host closer than this
    missing_state: str = "UNKNOWN"  # STATE_VM MISSING_STATE for VMs absent from a sync
    cloudwatch: bool = False  # CPU/network from CloudWatch (extra API calls, billed by AWS)
    cloudwatch_period: float = 360.0  # seconds between CloudWatch queries per host
    setup_poll_interval: float = 5.0  # while waiting or failing: seconds between host template reads
    retry_interval: float = 30.0  # while waiting or failing: a cycle at least this often anyway


def im_settings(raw: Mapping[str, Any] | None) -> ImSettings:
    """ImSettings from the `monitoring:` mapping of the YAML file; unknown keys are refused."""
    data = dict(raw or {})
    fields = ImSettings.__dataclass_fields__
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown monitoring settings: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(ImSettings(), name)
        if isinstance(default, bool):
            values[name] = value if isinstance(value, bool) else str(value).lower() in ("yes", "true", "1")
        elif isinstance(default, float):
            values[name] = float(value)
        else:
            values[name] = str(value).upper()
    return ImSettings(**values)


class HostAccess(Protocol):
    """The EC2 client and CAPACITY for an OpenNebula host name (Ec2Clients in production)."""

    def client_and_capacity(self, host_name: str) -> tuple[EC2Client, Mapping[str, object]]: ...


class HostSetup(Protocol):
    """What a failing host needs: an explanation, and whether its template changed (ClientsAccess)."""

    def explain(self, exc: BaseException, host_name: str) -> HostCondition: ...

    def template_changed(self, host_id: int, host_name: str) -> bool: ...


class NoSetup:
    """HostSetup without oned: explanations from the exception alone, no template reads."""

    def explain(self, exc: BaseException, host_name: str) -> HostCondition:
        return explain(exc, host_name, None)

    def template_changed(self, host_id: int, host_name: str) -> bool:
        return False


def cycle_error_text(exc: BaseException) -> str:
    """One line for oned: EC2 errors as `<Code>: <message>`, ours as their text."""
    if isinstance(exc, ValueError):
        return str(exc)
    return describe(exc)


class HostMonitor:
    """Monitoring of one host for monitord; `start_document()` then `start()`, `stop()` on STOP_MONITOR."""

    def __init__(
        self,
        host_id: int,
        host_name: str,
        config: MonitorConfig,
        access: HostAccess,
        catalog: InstanceTypeCatalog,
        *,
        settings: ImSettings | None = None,
        directory: Callable[[], VmDirectory | None] | None = None,
        metrics: MetricsSource | None = None,
        sender: MonitordSender | None = None,
        clock: Callable[[], float] = time.monotonic,
        setup: HostSetup | None = None,
    ) -> None:
        self.host_id = host_id
        self.host_name = host_name
        self.config = config
        self.access = access
        self.catalog = catalog
        self.settings = settings or ImSettings()
        self.directory = directory
        self.metrics = metrics
        self.sender = sender or MonitordSender.from_config(host_id, config)
        self.clock = clock
        self.setup = setup or NoSetup()
        self.condition: HostCondition | None = None  # set while waiting for credentials or failing
        self.error_sent: str | None = None
        self.next_setup_read = 0.0
        self.next_retry = 0.0
        self.snapshot: HostSnapshot | None = None
        self.snapshot_at = float("-inf")
        self.error: str | None = None
        self.error_sent_at = float("-inf")
        self.previous_states: dict[int, tuple[str, str]] | None = None
        self.next_due: dict[str, float] = {}
        self.next_sync = 0.0
        self.next_reap = 0.0
        self.spared: set[str] = set()  # instances the reaper found to be no orphan of this cloud
        self.cycles = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one cycle -------------------------------------------------------------------------------
    def refresh(self) -> HostSnapshot:
        """Take a new snapshot (one DescribeInstances); raise on failure after recording the error."""
        now = self.clock()
        self.snapshot_at = now
        try:
            client, capacity = self.access.client_and_capacity(self.host_name)
            snap = take_snapshot(self.host_id, self.host_name, client, capacity, self.catalog, self.metrics)
        except Exception as exc:
            self._failed(exc, now)
            raise
        self.cycles += 1
        self.snapshot, self.error, self.condition = snap, None, None
        if self.settings.reaper and self.directory is not None and now >= self.next_reap:
            self.next_reap = now + self.settings.reap_interval
            directory = self.directory()
            if directory is not None:
                reap(client, self.host_name, snap.all_instances, directory, self.spared)
        return snap

    def _failed(self, exc: BaseException, now: float) -> None:
        condition = self.setup.explain(exc, self.host_name)
        if condition.waiting and self.cycles:
            # Credentials that worked are gone: VMs would go unmonitored, so this one is an error.
            condition = HostCondition(Condition.OTHER, f"no EC2 credentials any more; {condition.text}")
        if self.condition is None:
            # Entering the failing state: read the template soon, retry a full cycle later.
            self.next_setup_read = now + self.settings.setup_poll_interval
            self.next_retry = now + self.settings.retry_interval
        self.condition = condition
        self.error = None if condition.waiting else condition.text
        if condition.waiting:
            log.info("host %s (%d): %s", self.host_name, self.host_id, condition.text)
        else:
            log.warning("host %s (%d): monitoring failed: %s", self.host_name, self.host_id, condition.text)

    def start_document(self) -> str:
        """The START_MONITOR SUCCESS text: the first cycle's messages, or '' when the host is waiting
        for credentials or failing (then the failure is pushed as MONITOR_HOST FAILURE right away)."""
        try:
            self.refresh()
        except Exception:
            self._report_failure(self.clock(), force=True)
            return ""
        return monitor_messages_document(self._first_messages(self.clock()))

    def _first_messages(self, now: float) -> dict[str, str]:
        """All data messages of the current snapshot, with a full STATE_VM sync; restarts the periods."""
        snap = self.snapshot
        assert snap is not None
        states = report.state_vm(snap, None, sync=True, missing_state=self.settings.missing_state)
        self.previous_states = report.vm_states(snap)
        self.next_sync = now + self.config.period("SYNC_STATE_VM")
        self.next_due = {t: now + self.config.period(t) for t in PUSHED_TYPES}
        # The beacon tells monitord at once that the push channel works.
        self.next_due["BEACON_HOST"] = now
        return {
            "SYSTEM_HOST": report.system_host(snap),
            "MONITOR_HOST": report.monitor_host(snap),
            "STATE_VM": states,
            "MONITOR_VM": report.monitor_vm(snap),
        }

    def _report_failure(self, now: float, force: bool = False) -> list[str]:
        """MONITOR_HOST FAILURE with the reason: at once when it is new, then once per MONITOR_HOST
        period (keeps monitord from restarting us); nothing while merely waiting for credentials."""
        if self.error is None:
            return []
        if (
            force
            or self.error != self.error_sent
            or now - self.error_sent_at >= self.config.period("MONITOR_HOST")
        ):
            self._send("MONITOR_HOST", self.error, success=False)
            self.error_sent, self.error_sent_at = self.error, now
            return ["MONITOR_HOST"]
        return []

    def _step_failing(self, now: float) -> list[str]:
        """One step while waiting or failing: re-read the template, retry when due, report."""
        retry = now >= self.next_retry
        if now >= self.next_setup_read:
            self.next_setup_read = now + self.settings.setup_poll_interval
            if self.setup.template_changed(self.host_id, self.host_name):
                log.info("host %s (%d): host template changed; retrying now", self.host_name, self.host_id)
                retry = True
        if retry:
            self.next_retry = now + self.settings.retry_interval
            try:
                self.refresh()
            except Exception:
                return self._report_failure(now)
            log.info("host %s (%d): monitoring (re)started", self.host_name, self.host_id)
            self.error_sent = None
            # SYSTEM_HOST first: it is what sets an INIT or ERROR host MONITORED in oned.
            sent: list[str] = []
            for msg_type, text in self._first_messages(now).items():
                self._send(msg_type, text)
                sent.append(msg_type)
            return sent
        return self._report_failure(now)

    def wake_at(self) -> float:
        """When the loop has something to do next."""
        if self.condition is not None:
            return min(self.next_setup_read, self.next_retry)
        return min(self.next_due.values(), default=self.clock() + 1.0)

    def step(self) -> list[str]:
        """Send every message that is due now; return the types sent (the loop's unit of work)."""
        now = self.clock()
        if self.condition is not None:
            return self._step_failing(now)
        due = [t for t in PUSHED_TYPES if now >= self.next_due.get(t, 0.0)]
        if not due:
            return []
        for msg_type in due:
            self.next_due[msg_type] = now + self.config.period(msg_type)
        needs_data = [t for t in due if t != "BEACON_HOST"]
        if needs_data and now - self.snapshot_at >= self.settings.min_poll_interval:
            try:
                self.refresh()
            except Exception:
                return self._report_failure(now)  # now in the failing state (see _step_failing)
        sent: list[str] = []
        snap = self.snapshot
        if snap is None:
            return sent
        for msg_type in due:
            text = self._payload(msg_type, snap, now)
            if text:
                self._send(msg_type, text)
                sent.append(msg_type)
        return sent

    def _payload(self, msg_type: str, snap: HostSnapshot, now: float) -> str:
        if msg_type == "SYSTEM_HOST":
            return report.system_host(snap)
        if msg_type == "MONITOR_HOST":
            return report.monitor_host(snap)
        if msg_type == "MONITOR_VM":
            return report.monitor_vm(snap)
        if msg_type == "BEACON_HOST":
            return report.beacon(int(time.time()))
        sync = now >= self.next_sync
        if sync:
            self.next_sync = now + self.config.period("SYNC_STATE_VM")
        text = report.state_vm(
            snap, self.previous_states, sync=sync, missing_state=self.settings.missing_state
        )
        self.previous_states = report.vm_states(snap)
        return text

    def _send(self, msg_type: str, text: str, success: bool = True) -> None:
        try:
            self.sender.send(msg_type, text, success)
        except OSError as exc:
            # monitord restarting: the next period sends again; STATE_VM changes are re-sent at sync.
            log.warning("host %s: cannot send %s to monitord: %s", self.host_name, msg_type, exc)

    # --- the thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"monitor-{self.host_id}", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """The loop itself (in the caller's thread); returns after stop()."""
        log.info("host %s (%d): monitoring loop started", self.host_name, self.host_id)
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the loop must outlive any one bad cycle
                log.exception("host %s: monitoring step failed", self.host_name)
            wait = self.wake_at() - self.clock()
            self._stop.wait(max(0.05, min(wait, 5.0)))
        self.sender.close()
        log.info("host %s (%d): monitoring loop stopped", self.host_name, self.host_id)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
