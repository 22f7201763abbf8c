"""A burst at the physical limit: 1,000 DEPLOYs sent at once to `one_vmm_ec2 -t 15`, against moto behind
the fault proxy enforcing a RunInstances token bucket the way AWS documents its request-rate limits (a
bucket size and a refill rate; by default AWS's own RunInstances figures, 5 requests refilled at 2 per
second). The baseline is the bucket's own minimum for 1,000 launches:
(launches - size) / refill seconds. The driver paces itself (ec2/retries.py): every VM must deploy, with
no duplicate, and the total should stay within 1.2x of that minimum.

    make bench ARGS=burst        # BURST_VMS / BURST_BUCKET / BURST_REFILL override the defaults
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.table import print_table
from tests.conftest import REAL
from tests.soak.harness import DriverPipe, Endpoint, live_by_vm, write_config
from tests.vmm_ec2.vmdocs import action_data, request_line


def burst(vms: int, size: int | None, refill: float, threads: int = 15) -> dict[str, float]:
    """Deploy `vms` VMs at once through the driver (`size` None: no bucket); the figures of the run."""
    with Endpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_config(workdir, endpoint.proxy.url, state_wait=1500)
        driver = DriverPipe.start(endpoint.proxy.url, workdir, threads=threads, poll=0.5)
        lines = [request_line("DEPLOY", 1000 + n, action_data(REAL, vm_id=1000 + n)) for n in range(vms)]
        bucket = endpoint.proxy.token_bucket("RunInstances", size or 10**9, refill)
        start = time.monotonic()
        for line in lines:
            driver.send(line)
        answered = driver.wait_replies(1 + vms, timeout=max(3600.0, 5 * bucket.minimum_seconds(vms)))
        elapsed = time.monotonic() - start
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
        }


def _row(label: str, figures: dict[str, float]) -> list[object]:
    minimum = figures["minimum"]
    return [
        label,
        f"{int(figures['deployed'])}/{int(figures['vms'])}",
        int(figures["failed"] + figures["unanswered"]),
        int(figures["duplicates"]),
        f"{int(figures['run_requests'])} ({int(figures['throttled'])})",
        minimum if minimum else "-",
        figures["seconds"],
        f"{figures['seconds'] / minimum:.3f}" if minimum else "-",
    ]


def run() -> None:
    vms = int(os.environ.get("BURST_VMS", "1000"))
    size = int(os.environ.get("BURST_BUCKET", "5"))
    refill = float(os.environ.get("BURST_REFILL", "2"))
    with_floor = os.environ.get("BURST_FLOOR", "1") != "0"
    limited = burst(vms, size, refill)
    rows = [_row(f"bucket {size}, refill {refill:g}/s", limited)]
    # The same burst with no bucket: how fast this machine's endpoint (moto) and harness can go.
    floor = burst(vms, None, refill) if with_floor else None
    if floor is not None:
        rows.append(_row("no bucket (the floor)", floor))
    print_table(
        f"burst: {vms} DEPLOYs at once through one_vmm_ec2 -t 15 (target: ratio <= 1.2, 0 failed, 0 dup)",
        [
            "run",
            "deployed",
            "failed",
            "duplicates",
            "RunInstances (throttled)",
            "bucket min s",
            "total s",
            "ratio",
        ],
        rows,
    )
    if floor is not None and floor["seconds"] > limited["minimum"]:
        print(
            f"  the floor ({floor['seconds']:.1f} s) is above the bucket's minimum ({limited['minimum']:.1f} s):"
            " the endpoint, not the bucket, limits this machine; ratio to the larger of the two:"
            f" {limited['seconds'] / floor['seconds']:.3f}"
        )
