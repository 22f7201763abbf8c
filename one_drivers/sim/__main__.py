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
    add = parser.add_argument
    add("--port", type=int, default=2633)
    add("--auth-dir", type=Path, required=True, help="where one_auth, sunstone_auth... are written")
    add("--state", type=Path, help="SQLite file keeping the pools across restarts")
    add("--vmm", action="append", default=[], metavar="NAME=CMD", help="VM_MAD driver program")
    add("--im", action="append", default=[], metavar="NAME=CMD", help="IM_MAD driver program")
    add("--monitord-port", type=int, default=0)
    add("--sched-interval", type=float, default=1.0, help="seconds between scheduler passes")
    add("--one-version", default=ONE_VERSION, help="OpenNebula release to answer as (login tokens, digests)")
    add("-v", "--verbose", action="store_true")
    options = vars(parser.parse_args(argv))
    level = logging.DEBUG if options.pop("verbose") else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    vmm, im, state_file = _pairs(options.pop("vmm")), _pairs(options.pop("im")), options.pop("state")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with Simulator(vmm=vmm, im=im, state_file=state_file, **options) as sim:
        print(
            f"one_drivers.sim listening on {sim.endpoint} (monitord 127.0.0.1:{sim.lifecycle.monitor_port})",
            flush=True,
        )
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
