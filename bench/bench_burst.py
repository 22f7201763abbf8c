"""A burst at the physical limit: 1,000 DEPLOYs sent at once to `one_vmm_ec2 -t 15`, against moto behind
the fault proxy enforcing a RunInstances token bucket the way AWS documents its request-rate limits (a
bucket size and a refill rate; by default AWS's own RunInstances figures, 5 requests refilled at 2 per
second). The baseline is the bucket's own minimum for 1,000 launches:
(launches - size) / refill seconds. The driver paces itself (ec2/retries.py): every VM must deploy, with
no duplicate, and the total should stay within 1.2x of that minimum. The endpoint has a floor of its own:
moto's service time for the calls the burst made, measured in the same run (tests/soak/harness.py); the
ratio is taken against the larger of the two, and both are printed.

    make bench ARGS=burst        # BURST_VMS / BURST_BUCKET / BURST_REFILL override the defaults
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.table import print_table
from tests.conftest import REAL
from tests.soak.harness import DriverPipe, Endpoint, live_by_vm, write_config
from tests.vmm_ec2.vmdocs import action_data, request_line


def burst(vms: int, size: int | None, refill: float, threads: int = 15) -> dict[str, Any]:
    """Deploy `vms` VMs at once through the driver (`size` None: no bucket); the figures of the run."""
    with Endpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_config(workdir, endpoint.proxy.url, state_wait=1500)
        driver = DriverPipe.start(endpoint.proxy.url, workdir, threads=threads, poll=0.5)
        lines = [request_line("DEPLOY", 1000 + n, action_data(REAL, vm_id=1000 + n)) for n in range(vms)]
        bucket = endpoint.proxy.token_bucket("RunInstances", size or 10**9, refill)
        endpoint.ec2().describe_instances()  # moto builds its region's backend on first use: not the burst's
        busy_before, calls_before = endpoint.service_time()
        start = time.monotonic()
        for line in lines:
            driver.send(line)
        answered = driver.wait_replies(1 + vms, timeout=max(3600.0, 5 * bucket.minimum_seconds(vms)))
        elapsed = time.monotonic() - start
        busy, calls = endpoint.service_time()
        driver.finalize()
        replies = driver.replies[1:]
        live = live_by_vm(endpoint.instances())
        return {
            "vms": vms,
            "deployed": sum(1 for r in replies if r.startswith("DEPLOY SUCCESS")),
            "failed": sum(1 for r in replies if r.startswith("DEPLOY FAILURE")),
            "unanswered": 0 if answered else vms - len(replies),
            "duplicates": sum(n - 1 for n in live.values() if n > 1),
            "instances": sum(live.values()),
            "run_requests": endpoint.proxy.seen["RunInstances"],
            "throttled": bucket.refused,
            "seconds": elapsed,
            "minimum": bucket.minimum_seconds(vms),
            # The endpoint's floor: moto's own service time for the calls this burst made.
            "floor": busy - busy_before,
            "calls": _minus(calls, calls_before),
        }


def _minus(after: dict[str, tuple[int, float]], before: dict[str, tuple[int, float]]) -> dict[str, Any]:
    """Per action (requests, seconds) served between two readings."""
    served = {}
    for action, (count, seconds) in sorted(after.items()):
        count0, seconds0 = before.get(action, (0, 0.0))
        if count > count0:
            served[action] = (count - count0, seconds - seconds0)
    return served


def _row(label: str, figures: dict[str, Any]) -> list[object]:
    limit = max(figures["minimum"], figures["floor"])
    return [
        label,
        f"{int(figures['deployed'])}/{int(figures['vms'])}",
        int(figures["failed"] + figures["unanswered"]),
        int(figures["duplicates"]),
        f"{int(figures['run_requests'])} ({int(figures['throttled'])})",
        figures["minimum"] if figures["minimum"] else "-",
        figures["floor"],
        figures["seconds"],
        f"{figures['seconds'] / limit:.3f}",
    ]


def _floor_row(label: str, figures: dict[str, Any]) -> list[object]:
    calls = sum(n for n, _ in figures["calls"].values())
    return [label, "-", "-", "-", f"{calls} calls", "-", figures["floor"], "-", "-"]


def _calls(figures: dict[str, Any]) -> str:
    return ", ".join(f"{a} {n} ({t:.1f} s)" for a, (n, t) in figures["calls"].items())


def run() -> None:
    vms = int(os.environ.get("BURST_VMS", "1000"))
    size = int(os.environ.get("BURST_BUCKET", "5"))
    refill = float(os.environ.get("BURST_REFILL", "2"))
    no_bucket = os.environ.get("BURST_FLOOR", "1") != "0"
    limited = burst(vms, size, refill)
    rows = [
        _row(f"bucket {size}, refill {refill:g}/s", limited),
        _floor_row("FLOOR: moto serving that run's calls", limited),
    ]
    # The same burst with no bucket: how fast this machine's driver, proxy and moto go together.
    free = burst(vms, None, refill) if no_bucket else None
    if free is not None:
        rows.append(_row("no bucket", free))
    print_table(
        f"burst: {vms} DEPLOYs at once through one_vmm_ec2 -t 15 (target: ratio <= 1.2, 0 failed, 0 dup)",
        [
            "run",
            "deployed",
            "failed",
            "duplicates",
            "RunInstances (throttled)",
            "bucket min s",
            "endpoint floor s",
            "total s",
            "ratio",
        ],
        rows,
    )
    print(
        "  ratio: total / max(bucket min, endpoint floor). The endpoint floor is moto's service time for the"
        " calls of the run (the wall time it was serving at least one; its threads share one GIL)."
    )
    print(f"  calls moto served in the bucket run (seconds summed over concurrent calls): {_calls(limited)}")
    if free is not None:
        print(f"  calls moto served in the no-bucket run: {_calls(free)}")
