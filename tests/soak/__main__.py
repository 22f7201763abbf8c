"""`make soak`: the long versions of the driver and econe soaks, printed as one table (minutes).

    python -m tests.soak [--ops 1000] [--fuzz 20000] [--raw 2000] [--clients 32] [--seconds 60]

Every figure in the table's `problems` column must be 0; the process exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from bench.table import print_table
from tests.soak.driver_soak import soak_driver
from tests.soak.econe_soak import clients_econe, fuzz_econe


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak")
    parser.add_argument("--ops", type=int, default=1000, help="driver lifecycle operations")
    parser.add_argument("--fuzz", type=int, default=20000, help="fuzzed econe requests")
    parser.add_argument("--raw", type=int, default=140, help="raw malformed HTTP requests")
    parser.add_argument("--clients", type=int, default=32, help="concurrent econe clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # econe logs every refused request; the table is the output
    rows: list[list[object]] = []

    started = time.monotonic()
    d = soak_driver(args.ops)
    rows += [
        ["driver", f"{d.operations} operations ({d.resent} re-sent, {d.kills} SIGKILLs)", ""],
        ["driver", "leaked instances", d.leaked],
        ["driver", "duplicated instances", d.duplicated + d.mismatched_resends],
        ["driver", "unanswered messages (hangs)", d.unanswered],
        ["driver", "FAILURE replies (faults may cause these)", f"{sum(d.failures.values())} (info)"],
        ["driver", "faults injected", f"{sum(d.faults.values())} (info)"],
        ["driver", "seconds", f"{time.monotonic() - started:.0f} (info)"],
    ]
    started = time.monotonic()
    f = fuzz_econe(args.fuzz, args.raw)
    rows += [
        [
            "econe fuzz",
            f"{f.requests} model-generated requests: 2xx {sum(n for s, n in f.statuses.items() if s < 300)}, 4xx {sum(n for s, n in f.statuses.items() if 400 <= s < 500)}",
            "",
        ],
        ["econe fuzz", "5xx", len(f.server_errors)],
        ["econe fuzz", "hangs", f.hangs],
        ["econe raw HTTP", f"{f.raw} malformed requests", ""],
        ["econe raw HTTP", "5xx (505 for HTTP/9.9 excepted)", len(f.raw_server_errors)],
        ["econe raw HTTP", "hangs", f.raw_hangs],
        ["econe fuzz", "seconds", f"{time.monotonic() - started:.0f} (info)"],
    ]
    c = clients_econe(args.clients, args.seconds)
    rows += [
        [
            "econe clients",
            f"{c.clients} clients x {c.seconds:g} s: {c.runs} RunInstances on {c.tokens} tokens",
            "",
        ],
        ["econe clients", "duplicated VMs (one ClientToken, several VMs)", c.duplicated],
        ["econe clients", "lost VMs (answered, not in OpenNebula)", c.lost],
        ["econe clients", "5xx", c.server_errors],
        ["econe clients", "hangs (client read timeouts)", c.errors.get("ReadTimeoutError", 0)],
    ]
    print_table("soak", ["part", "figure", "problems"], rows)
    for detail in [*f.server_errors[:10], *f.raw_server_errors[:10]]:
        print("  5xx:", detail)
    for failure, count in d.failures.most_common(10):
        print(f"  driver FAILURE x{count}: {failure}")
    if c.errors:
        print("  econe client errors:", dict(c.errors))
    problems = [r[2] for r in rows if isinstance(r[2], int)]
    return 1 if any(problems) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
