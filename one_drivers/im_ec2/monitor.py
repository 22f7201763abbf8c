"""The 5.12-7.4 monitoring loop of one EC2 host: cycles of one DescribeInstances, pushed to monitord.

START_MONITOR makes a `HostMonitor`: its first cycle answers with the `<MONITOR_MESSAGES>` document,
then a thread pushes SYSTEM_HOST, MONITOR_HOST, MONITOR_VM, STATE_VM (TCP; all VMs with SYNC_STATE=yes
every SYNC_STATE_VM seconds, else only changes) and BEACON_HOST at monitord's periods. Messages due
together share one snapshot; a snapshot is never refreshed more often than `min_poll_interval`.
A failing cycle is reported as MONITOR_HOST/BEACON_HOST FAILURE with the reason (oned shows it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.ec2.errors import describe
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.cycle import HostSnapshot, MetricsSource, take_snapshot
from one_drivers.im_ec2.reaper import VmDirectory, reap
from one_drivers.mad.monitord import MonitorConfig, MonitordSender, monitor_messages_document

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

    def client_and_capacity(self, host_name: str) -> tuple[Any, Mapping[str, object]]: ...


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
            self.error = cycle_error_text(exc)
            log.warning("host %s (%d): monitoring failed: %s", self.host_name, self.host_id, self.error)
            raise
        self.cycles += 1
        self.snapshot, self.error = snap, None
        if self.settings.reaper and self.directory is not None and now >= self.next_reap:
            self.next_reap = now + self.settings.reap_interval
            directory = self.directory()
            if directory is not None:
                reap(client, self.host_name, snap.all_instances, directory, self.spared)
        return snap

    def start_document(self) -> str:
        """The first cycle as the START_MONITOR SUCCESS text; raises when the host cannot be monitored."""
        snap = self.refresh()
        now = self.clock()
        states = report.state_vm(snap, None, sync=True, missing_state=self.settings.missing_state)
        self.previous_states = report.vm_states(snap)
        self.next_sync = now + self.config.period("SYNC_STATE_VM")
        self.next_due = {t: now + self.config.period(t) for t in PUSHED_TYPES}
        # The beacon tells monitord at once that the push channel works.
        self.next_due["BEACON_HOST"] = now
        return monitor_messages_document(
            {
                "SYSTEM_HOST": report.system_host(snap),
                "MONITOR_HOST": report.monitor_host(snap),
                "STATE_VM": states,
                "MONITOR_VM": report.monitor_vm(snap),
            }
        )

    def step(self) -> list[str]:
        """Send every message that is due now; return the types sent (the loop's unit of work)."""
        now = self.clock()
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
                pass  # recorded in self.error; reported below
        sent: list[str] = []
        if self.error is not None:
            # One failure report per MONITOR_HOST period: monitord puts the host in ERROR with it.
            if now - self.error_sent_at >= self.config.period("MONITOR_HOST") or "MONITOR_HOST" in due:
                self._send("MONITOR_HOST", self.error, success=False)
                self.error_sent_at = now
                sent.append("MONITOR_HOST")
            if "BEACON_HOST" in due:
                self._send("BEACON_HOST", self.error, success=False)
                sent.append("BEACON_HOST")
            return sent
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
            wait = min(self.next_due.values(), default=self.clock() + 1.0) - self.clock()
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
