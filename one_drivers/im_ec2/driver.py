"""The IM actions of the long-running `one_im_ec2`: MONITOR (≤4.2), START_MONITOR / STOP_MONITOR (5.12+).

`ImDriver.actions()` is the table the generic `mad/loop.py` dispatches on. MONITOR answers
`MONITOR SUCCESS <hid> <info>` (3.x comma list or 4.x base64 host text; a host without credentials yet
gets a zero-capacity host, not a FAILURE). START_MONITOR answers `START_MONITOR SUCCESS <hid> <epoch>
<base64(zlib(<MONITOR_MESSAGES>))>` (empty while the host waits for credentials or fails: see monitor.py)
and leaves one monitoring thread per host running; STOP_MONITOR (or FINALIZE) ends it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.cycle import MetricsSource, take_snapshot
from one_drivers.im_ec2.instances import trim_describe_instances
from one_drivers.im_ec2.monitor import HostAccess, HostMonitor, HostSetup, ImSettings, NoSetup
from one_drivers.im_ec2.reaper import GatewayVmDirectory, VmDirectory, reap
from one_drivers.im_ec2.setup import HostCondition, TemplateWatch, explain
from one_drivers.mad.loop import ActionContext, ActionError, ActionSpec
from one_drivers.mad.monitord import MonitordError, encode_payload, parse_monitor_request

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ec2 import EC2Client

    from one_drivers.ec2.clients import Ec2Clients, Ec2Settings

log = logging.getLogger(__name__)


class ClientsAccess:
    """HostAccess over the ec2 package's per-host clients (host template, then YAML, then boto3 chain)."""

    def __init__(self, clients: Ec2Clients, watch: TemplateWatch | None = None) -> None:
        self.clients = clients
        self.watch = watch or TemplateWatch()
        self._settings: dict[int, Ec2Settings] = {}
        self._by_host: dict[str, Ec2Settings] = {}
        self._lock = threading.Lock()

    def client_and_capacity(self, host_name: str) -> tuple[EC2Client, Mapping[str, object]]:
        client, settings = self.clients.for_host(host_name)
        with self._lock:
            self._settings[id(client)] = settings
            self._by_host[host_name] = settings
        # This process owns its clients: monitoring reads only a few instance fields (CPU at scale).
        return trim_describe_instances(client), dict(settings.capacity)

    def cloudwatch_for(self, ec2_client: EC2Client) -> CloudWatchClient:
        """A CloudWatch client with the EC2 client's credentials, region and endpoint (made by ec2/)."""
        with self._lock:
            settings = self._settings[id(ec2_client)]
        return self.clients.cloudwatch_for(settings)

    # --- HostSetup: what a failing host needs ------------------------------------------------------
    def explain(self, exc: BaseException, host_name: str) -> HostCondition:
        with self._lock:
            settings = self._by_host.get(host_name)
        # Whatever was wrong, resolve the host's settings afresh on the next try (not after the TTL).
        self.clients.resolver.invalidate(host_name)
        return explain(exc, host_name, settings)

    def template_changed(self, host_id: int, host_name: str) -> bool:
        """One host.info: True (settings cache dropped) when the host's EC2 attributes changed."""
        if self.watch.changed(host_id):
            self.clients.resolver.invalidate(host_name)
            return True
        return False


def gateway_directory() -> VmDirectory | None:
    """GatewayVmDirectory over ONE_XMLRPC/ONE_AUTH, or None (reaper skipped) when oned is not reachable."""
    try:
        from one_drivers.one.gateway import OneGateway

        return GatewayVmDirectory(OneGateway.from_env())
    except Exception as exc:
        log.warning("reaper disabled for this pass: no OpenNebula access (%s)", exc)
        return None


class ImDriver:
    def __init__(
        self,
        access: HostAccess,
        catalog: InstanceTypeCatalog,
        settings: ImSettings | None = None,
        *,
        directory: Callable[[], VmDirectory | None] | None = gateway_directory,
        metrics: MetricsSource | None = None,
        comma_format: bool = False,
        setup: HostSetup | None = None,
    ) -> None:
        self.access = access
        self.setup: HostSetup = setup or (access if isinstance(access, ClientsAccess) else NoSetup())
        self.catalog = catalog
        self.settings = settings or ImSettings()
        self.directory = directory if self.settings.reaper else None
        self.metrics = metrics
        self.comma_format = comma_format
        self.monitors: dict[int, HostMonitor] = {}
        self._spared: dict[str, set[str]] = {}  # per host name, for the <= 4.2 MONITOR path
        self._lock = threading.Lock()

    def actions(self) -> dict[str, ActionSpec]:
        return {
            # MONITOR <hid> <host> [<ds_location>] [<update>]
            "MONITOR": ActionSpec(self.monitor, 2, 4, id_index=0),
            # START_MONITOR <status> <hid> <timestamp> <payload>
            "START_MONITOR": ActionSpec(self.start_monitor, 3, 4, id_index=1),
            "STOP_MONITOR": ActionSpec(self.stop_monitor, 3, 4, id_index=1),
        }

    # --- ≤4.2 --------------------------------------------------------------------------------------
    def monitor(self, ctx: ActionContext) -> str:
        host_id, host_name = int(ctx.request.field(0)), ctx.request.field(1)
        try:
            client, capacity = self.access.client_and_capacity(host_name)
            snap = take_snapshot(host_id, host_name, client, capacity, self.catalog, self.metrics)
        except Exception as exc:
            condition = self.setup.explain(exc, host_name)
            if condition.waiting:
                # oned ≤4.2 would put a FAILURE host in ERROR until its next MONITORING_INTERVAL: a
                # host with no capacity yet is MONITORED instead, and nothing can be scheduled on it.
                log.info("host %s (%d): %s", host_name, host_id, condition.text)
                return report.waiting_reply_info(host_name, self.comma_format)
            text = condition.text
            # 4.x oned base64-decodes the info of a FAILURE too; 3.x shows it as is.
            raise ActionError(text, reply_info=text if self.comma_format else _b64(text)) from exc
        if self.directory is not None:
            directory = self.directory()
            if directory is not None:
                with self._lock:
                    spared = self._spared.setdefault(host_name, set())
                reap(client, host_name, snap.all_instances, directory, spared)
        return report.monitor_reply_info(snap, self.comma_format)

    # --- 5.12+ -------------------------------------------------------------------------------------
    def start_monitor(self, ctx: ActionContext) -> str:
        try:
            request = parse_monitor_request(" ".join(["START_MONITOR", *ctx.request.fields]))
        except MonitordError as exc:
            raise ActionError(str(exc), reply_info=_monitord_info(str(exc))) from exc
        self._stop_host(request.host_id)
        monitor = HostMonitor(
            request.host_id,
            request.host_name,
            request.config,
            self.access,
            self.catalog,
            settings=self.settings,
            directory=self.directory,
            metrics=self.metrics,
            setup=self.setup,
        )
        # Never a FAILURE for the host's own problems: monitord would set ERROR without the reason and
        # retry only after its MONITORING_INTERVAL_HOST. The failure (if any) is already pushed.
        document = monitor.start_document()
        with self._lock:
            self.monitors[request.host_id] = monitor
        monitor.start()
        log.info(
            "host %s (%d): monitoring to %s:%d",
            request.host_name,
            request.host_id,
            request.config.address,
            request.config.port,
        )
        return _monitord_info(document)

    def stop_monitor(self, ctx: ActionContext) -> str:
        try:
            host_id = int(ctx.request.field(1))
        except ValueError as exc:
            text = f"bad host id {ctx.request.field(1)!r}"
            raise ActionError(text, reply_info=_monitord_info(text)) from exc
        stopped = self._stop_host(host_id)
        return _monitord_info("" if stopped else f"host {host_id} was not monitored")

    def _stop_host(self, host_id: int) -> bool:
        with self._lock:
            monitor = self.monitors.pop(host_id, None)
        if monitor is None:
            return False
        monitor.stop()
        return True

    def stop_all(self) -> None:
        with self._lock:
            monitors = list(self.monitors.values())
            self.monitors.clear()
        for monitor in monitors:
            monitor.stop()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _monitord_info(text: str) -> str:
    """`<epoch> <base64(zlib(text))>`: what follows `<ACTION> <RESULT> <hid>` in a monitord reply."""
    return f"{int(time.time())} {encode_payload(text)}"
