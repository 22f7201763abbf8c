"""`one_im_ec2`: the long-running IM driver program oned (≤4.2) or onemonitord (5.12-7.4) starts.

    IM_MAD = [ NAME = "ec2", EXECUTABLE = "one_im_ec2", ARGUMENTS = "--config /etc/one/ec2_driver.conf" ]

ARGUMENTS arrive as one argv element (split here). Logs go to a file (oned closes stderr). The protocol
loop is `mad/loop.py`; the actions are `im_ec2/driver.py`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from one_drivers.ec2.catalog import InstanceTypeCatalog, parse_overrides
from one_drivers.ec2.clients import Ec2Clients
from one_drivers.ec2.config import load_config
from one_drivers.im_ec2.cloudwatch import CloudWatchMetrics
from one_drivers.im_ec2.driver import ClientsAccess, ImDriver
from one_drivers.im_ec2.monitor import im_settings
from one_drivers.mad.loop import DriverLoop, configure_file_logging, split_arguments
from one_drivers.metrics.drivers import add_metrics_arguments, metrics_from_args

log = logging.getLogger(__name__)

NAME = "one_im_ec2"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=NAME, description="OpenNebula IM driver for EC2 hosts")
    parser.add_argument("--config", "-c", help="ec2_driver.conf (default /etc/one/ec2_driver.conf)")
    parser.add_argument("--log", help="log file (default $ONE_LOCATION/var/one_im_ec2.log or /var/log/one)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("--threads", "-t", type=int, default=16, help="concurrent actions (default 16)")
    parser.add_argument(
        "--legacy-format",
        choices=("base64", "comma"),
        default="base64",
        help="≤4.2 MONITOR reply: base64 host text (4.0-4.2, default) or comma list (3.x)",
    )
    parser.add_argument("--no-reaper", action="store_true", help="never terminate orphaned instances")
    add_metrics_arguments(parser)
    # Options of upstream's IM drivers (-r retries, -w timeout...) may be left in ARGUMENTS: ignored.
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, ignored = build_parser().parse_known_args(split_arguments(sys.argv[1:] if argv is None else argv))
    path = configure_file_logging(NAME, args.log, args.debug)
    if ignored:
        log.info("ignoring arguments %s", " ".join(ignored))
    config = load_config(args.config)
    settings = im_settings(config.raw.get("monitoring"))
    if args.no_reaper:
        settings = type(settings)(**{**settings.__dict__, "reaper": False})
    catalog = InstanceTypeCatalog(parse_overrides(config.instance_types))
    counters = metrics_from_args(NAME, args)
    access = ClientsAccess(Ec2Clients(config, observer=counters))
    metrics = (
        CloudWatchMetrics(access.cloudwatch_for, settings.cloudwatch_period) if settings.cloudwatch else None
    )
    driver = ImDriver(access, catalog, settings, metrics=metrics, comma_format=args.legacy_format == "comma")
    log.info("%s starting (log %s, reaper %s)", NAME, path, "on" if settings.reaper else "off")
    loop = DriverLoop(
        NAME, driver.actions(), threads=args.threads, on_reply=counters.action_done if counters else None
    )
    try:
        return loop.run(sys.stdin, sys.stdout)
    finally:
        driver.stop_all()
        if counters is not None:
            counters.close()


if __name__ == "__main__":
    sys.exit(main())
