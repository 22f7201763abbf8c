"""`python -m one_drivers.sim --port P --auth-dir DIR [--state FILE] [--vmm ec2=<cmd>] [--im ec2=<cmd>]`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from one_drivers.sim.model import ONE_VERSION
from one_drivers.sim.server import Simulator


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, command = value.partition("=")
        if not sep or not name or not command:
            raise SystemExit(f"expected NAME=COMMAND, got {value!r}")
        out[name] = command
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m one_drivers.sim", description="A small simulated oned on loopback."
    )
    parser.add_argument("--port", type=int, default=2633)
    parser.add_argument(
        "--auth-dir",
        type=Path,
        required=True,
        help="where one_auth and the server admin's files (sunstone_auth...) are written",
    )
    parser.add_argument("--state", type=Path, help="SQLite file keeping the pools across restarts")
    parser.add_argument(
        "--vmm", action="append", default=[], metavar="NAME=CMD", help="VM_MAD driver program"
    )
    parser.add_argument("--im", action="append", default=[], metavar="NAME=CMD", help="IM_MAD driver program")
    parser.add_argument("--monitord-port", type=int, default=0)
    parser.add_argument("--sched-interval", type=float, default=1.0, help="seconds between scheduler passes")
    parser.add_argument(
        "--one-version",
        default=ONE_VERSION,
        help="the OpenNebula release to answer as (login tokens, digests)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    sim = Simulator(
        args.auth_dir,
        args.port,
        state_file=args.state,
        vmm=_pairs(args.vmm),
        im=_pairs(args.im),
        monitord_port=args.monitord_port,
        sched_interval=args.sched_interval,
        one_version=args.one_version,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with sim:
        print(
            f"one_drivers.sim listening on {sim.endpoint} (monitord 127.0.0.1:{sim.lifecycle.monitor_port})",
            flush=True,
        )
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
