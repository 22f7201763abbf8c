"""The `remotes/im/ec2.d/` programs for admins who keep oned's generic `one_im_sh`.

- `poll` (4.4-5.10): `run_probes` runs it as `poll <hypervisor> <ds> <port> <host_id> <host>`; it prints
  the host template with VM_POLL=YES and one VM=[...] per instance (report.probe_text).
- `monitord-client.py` (5.12-7.4), started by `monitord-client_control.sh` from `run_monitord_client`
  with MONITOR_CONFIGURATION on stdin: prints the `<MONITOR_MESSAGES>` document, then detaches and pushes
  to monitord like the long-running driver does (`auto` address = 127.0.0.1: the driver is local).
Both share `ec2.d/` with each other, so each one stays silent when called in the other's era.
A host without credentials yet is not an error: `poll` prints a zero-capacity host (oned 4.4-5.10
sets it MONITORED, nothing is scheduled there) and the monitord client answers an empty document and
waits (see monitor.py); real problems exit 1 (poll) or are pushed as MONITOR_HOST FAILURE.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from one_drivers.ec2.catalog import InstanceTypeCatalog, parse_overrides
from one_drivers.ec2.clients import Ec2Clients
from one_drivers.ec2.config import DriverConfig, load_config
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.cloudwatch import CloudWatchMetrics
from one_drivers.im_ec2.cycle import take_snapshot
from one_drivers.im_ec2.driver import ClientsAccess, gateway_directory
from one_drivers.im_ec2.monitor import HostMonitor, cycle_error_text, im_settings
from one_drivers.mad.failure import form_for, installed_version, render
from one_drivers.mad.loop import configure_file_logging
from one_drivers.one.driver_docs import read_monitor_configuration

log = logging.getLogger(__name__)

CONFIG_ENV = "ONE_EC2_DRIVER_CONF"


def _config() -> DriverConfig:
    return load_config(os.environ.get(CONFIG_ENV) or None)


def report_failure(tag: str, message: str) -> None:
    """The failure on stderr in the form this OpenNebula line's exec driver shows as one message."""
    sys.stderr.write(render(form_for(installed_version(sys.argv[0])), tag, [], message))
    sys.stderr.flush()


def _stdin_text(timeout: float) -> str:
    """What is on stdin within `timeout` seconds ('' for a terminal, nothing or EOF)."""
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return sys.stdin.read() if ready else ""


# --- 4.4-5.10: poll -----------------------------------------------------------------------------------


def poll_main(argv: Sequence[str]) -> int:
    """`poll ... <host_id> <host>`: print the host information; exit 1 with the reason on failure."""
    if len(argv) < 2 or argv[0] == "stop":
        return 0  # stop_monitord_client (5.12+) runs every executable of ec2.d with `stop`
    if _stdin_text(0.2).strip():
        return 0  # run_monitord_client (5.12+) pipes the configuration: monitord-client's turn
    configure_file_logging("one_im_ec2_poll", os.environ.get("ONE_EC2_LOG"))
    host_id, host = int(argv[-2]), argv[-1]
    try:
        config = _config()
        settings = im_settings(config.raw.get("monitoring"))
        access = ClientsAccess(Ec2Clients(config))
        catalog = InstanceTypeCatalog(parse_overrides(config.instance_types))
    except Exception as exc:
        report_failure("poll", f"ec2 monitoring of {host} failed: {cycle_error_text(exc)}")
        return 1
    try:
        client, capacity = access.client_and_capacity(host)
        snap = take_snapshot(host_id, host, client, capacity, catalog)
    except Exception as exc:
        condition = access.explain(exc, host)
        if condition.waiting:
            # A FAILURE would put the host in ERROR until the next MONITORING_INTERVAL.
            log.info("host %s (%d): %s", host, host_id, condition.text)
            sys.stdout.write(report.waiting_probe_text(host))
            return 0
        report_failure("poll", f"ec2 monitoring of {host} failed: {condition.text}")
        return 1
    if settings.reaper:
        from one_drivers.im_ec2.reaper import reap

        directory = gateway_directory()
        if directory is not None:
            reap(client, host, snap.all_instances, directory)
    sys.stdout.write(report.probe_text(snap))
    return 0


# --- 5.12+: monitord client ---------------------------------------------------------------------------


def agent_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitord-client.py", description="ec2 monitord client for one_im_sh"
    )
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--foreground", action="store_true", help="do not detach (tests, debugging)")
    parser.add_argument("args", nargs="*", help="hypervisor ds_location port host_id host")
    return parser


def agent_main(argv: Sequence[str]) -> int:
    args = agent_parser().parse_args(list(argv))
    if len(args.args) < 2:
        report_failure("monitord-client", "monitord-client: need <host_id> <host> as the last arguments")
        return 1
    host_id, host = int(args.args[-2]), args.args[-1]
    configure_file_logging(f"one_im_ec2_monitord_{host_id}", os.environ.get("ONE_EC2_LOG"))
    try:
        monitor_config = read_monitor_configuration(sys.stdin.read())
        config = _config()
        settings = im_settings(config.raw.get("monitoring"))
        access = ClientsAccess(Ec2Clients(config))
        monitor = HostMonitor(
            host_id,
            host,
            monitor_config,
            access,
            InstanceTypeCatalog(parse_overrides(config.instance_types)),
            settings=settings,
            directory=gateway_directory if settings.reaper else None,
            metrics=CloudWatchMetrics(access.cloudwatch_for, settings.cloudwatch_period)
            if settings.cloudwatch
            else None,
            setup=access,
        )
    except Exception as exc:
        report_failure("monitord-client", f"ec2 monitoring of {host} cannot start: {cycle_error_text(exc)}")
        return 1
    # '' while waiting for credentials or failing (the failure is pushed): one_im_sh answers an empty
    # SUCCESS and monitord leaves the host INIT, or in ERROR with the pushed reason.
    document = monitor.start_document()
    if document:
        sys.stdout.write(document + "\n")
    sys.stdout.flush()
    if not args.foreground and os.fork() > 0:
        os._exit(0)  # the parent returns the document to one_im_sh; the child keeps monitoring
    if not args.foreground:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    pid_file = Path(args.pid_file)
    pid_file.write_text(f"{os.getpid()}\n")

    def on_term(signum: int, frame: FrameType | None) -> None:
        monitor.stop(timeout=0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        monitor.run()
    finally:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink(missing_ok=True)
    return 0
