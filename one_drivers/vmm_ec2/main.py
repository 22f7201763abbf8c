"""`one_vmm_ec2`: the long-running VMM driver program oned (or one_vmm_sh's scripts) talks to.

oned runs it as VM_MAD EXECUTABLE with ARGUMENTS in one argv element, e.g.
`-t 15 --config /etc/one/ec2_driver.conf`. It serves the line protocol on stdin/stdout (mad/loop.py)
and, unless `--no-socket`, a unix socket on which the remotes scripts hand over their action so they
avoid importing boto3 (see vmm_ec2/remote.py and vmm_ec2/service.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from one_drivers.ec2.clients import Ec2Clients
from one_drivers.ec2.config import DEFAULT_DEFAULTS_PATH, ConfigError, load_config
from one_drivers.mad.codec import CodecError, decode_action_data
from one_drivers.mad.loop import (
    ActionContext,
    ActionError,
    ActionSpec,
    DriverLoop,
    Handler,
    configure_file_logging,
    split_arguments,
)
from one_drivers.metrics.drivers import DriverMetrics, add_metrics_arguments, metrics_from_args
from one_drivers.vmm_ec2.actions import Ec2Vmm, VmRequest
from one_drivers.vmm_ec2.section import SectionError, parse_defaults

log = logging.getLogger(__name__)

NAME = "one_vmm_ec2"
# Every action oned's VMM core may send (4.x-7.x); the ones Ec2Vmm lacks get "not supported".
VMM_ACTIONS = [
    "DEPLOY",
    "SHUTDOWN",
    "CANCEL",
    "CLEANUP",
    "REBOOT",
    "RESET",
    "SAVE",
    "RESTORE",
    "MIGRATE",
    "POLL",
    "CHECKPOINT",
    "ATTACHDISK",
    "DETACHDISK",
    "ATTACHNIC",
    "DETACHNIC",
    "SNAPSHOTCREATE",
    "SNAPSHOTREVERT",
    "SNAPSHOTDELETE",
    "DISKSNAPSHOTCREATE",
    "RESIZEDISK",
    "UPDATECONF",
    "UPDATESG",
    "RESIZE",
    "BACKUP",
    "BACKUPCANCEL",
    "UPDATENIC",
    "EXEC",
    "EXEC_CANCEL",
]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description="OpenNebula VMM driver for EC2 (line protocol)")
    parser.add_argument("-t", "--threads", type=int, default=15, help="concurrent actions (default 15)")
    parser.add_argument("-r", "--retries", type=int, default=0, help="accepted for one_vmm_sh compatibility")
    parser.add_argument(
        "-w", "--timeout", type=int, default=None, help="accepted for one_vmm_sh compatibility"
    )
    parser.add_argument("-p", "--parallel", action="store_true", help="accepted for one_vmm_sh compatibility")
    parser.add_argument("-l", "--local", default=None, help="accepted for one_vmm_sh compatibility")
    parser.add_argument("-s", "--shell", default=None, help="accepted for one_vmm_sh compatibility")
    parser.add_argument("--config", default=None, help="ec2_driver.conf (default /etc/one/ec2_driver.conf)")
    parser.add_argument("--defaults", default=None, help="ec2_driver.default (PUBLIC_CLOUD defaults)")
    parser.add_argument(
        "--log-file", default=None, help="log file (default $ONE_LOCATION/var or /var/log/one)"
    )
    parser.add_argument("--socket", default=None, help="unix socket for the remotes scripts")
    parser.add_argument("--no-socket", action="store_true", help="do not serve the remotes scripts")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between state checks")
    parser.add_argument("--debug", action="store_true")
    add_metrics_arguments(parser)
    args, unknown = parser.parse_known_args(list(argv))
    args.unknown = unknown
    return args


def load_defaults(path: str | None) -> dict[str, str]:
    """ec2_driver.default; an explicitly named file must parse, the default one may be absent."""
    target = Path(path or DEFAULT_DEFAULTS_PATH)
    if not target.is_file():
        if path:
            raise ConfigError(f"defaults file {target} not found")
        return {}
    try:
        defaults = parse_defaults(target.read_text(encoding="utf-8"))
    except Exception as exc:
        raise ConfigError(f"cannot read defaults file {target}: {exc}") from exc
    log.info("defaults from %s: %s", target, ", ".join(sorted(defaults)) or "none")
    return defaults


def build_vmm(args: argparse.Namespace, metrics: DriverMetrics | None = None) -> Ec2Vmm:
    config = load_config(args.config)
    defaults = load_defaults(args.defaults or config.defaults_file)
    return Ec2Vmm(Ec2Clients(config, observer=metrics), defaults=defaults, poll_interval=args.poll_interval)


def vmm_handler(vmm: Ec2Vmm, action: str) -> Handler:
    """A loop handler: decode the payload, build the request, run the action."""

    def handle(ctx: ActionContext) -> str:
        try:
            data = decode_action_data(ctx.request.fields[1])
        except CodecError as exc:
            raise ActionError(f"{action}: {exc}") from exc
        request = VmRequest.from_action_data(data, ctx.oid)
        try:
            return vmm.run(action, request, ctx)
        except SectionError as exc:
            raise ActionError(str(exc)) from exc

    return handle


def build_loop(vmm: Ec2Vmm, threads: int, metrics: DriverMetrics | None = None) -> DriverLoop:
    specs = {
        action: ActionSpec(vmm_handler(vmm, action), 2) for action in VMM_ACTIONS if action in vmm.actions
    }
    return DriverLoop(NAME, specs, threads=threads, on_reply=metrics.action_done if metrics else None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(split_arguments(sys.argv[1:] if argv is None else argv))
    log_path = configure_file_logging(NAME, args.log_file, args.debug)
    if args.unknown:
        log.warning("ignoring unknown arguments: %s", " ".join(args.unknown))
    metrics = metrics_from_args(NAME, args)
    try:
        vmm = build_vmm(args, metrics)
    except ConfigError as exc:
        log.error("%s", exc)
        # oned waits for the INIT answer: tell it why we cannot start instead of dying silently.
        sys.stdout.write(f"INIT FAILURE - {exc}\n")
        sys.stdout.flush()
        return 1
    log.info("%s logging to %s", NAME, log_path)
    server = None
    if not args.no_socket:
        from one_drivers.vmm_ec2.service import start_socket_service

        server = start_socket_service(vmm, args.socket)
    try:
        return build_loop(vmm, args.threads, metrics).run(sys.stdin, sys.stdout)
    finally:
        if server is not None:
            server.close()
        if metrics is not None:
            metrics.close()


if __name__ == "__main__":
    raise SystemExit(main())
