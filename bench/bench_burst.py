"""A burst at the physical limit: 1,000 DEPLOYs sent at once to `one_vmm_ec2 -t 15`, against moto behind
the fault proxy enforcing a RunInstances token bucket the way AWS documents its request-rate limits (a
bucket size and a refill rate; AWS's own RunInstances bucket is 5 requests refilled at 2 per second,
scaled here so a run takes minutes, not 8). The baseline is the bucket's own minimum for 1,000 launches:
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


def burst(vms: int, size: int, refill: float, threads: int = 15) -> dict[str, float]:
    """Deploy `vms` VMs at once through the driver; the figures of the run."""
    with Endpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_config(workdir, endpoint.proxy.url, state_wait=1500)
        driver = DriverPipe.start(endpoint.proxy.url, workdir, threads=threads, poll=0.5)
        lines = [request_line("DEPLOY", 1000 + n, action_data(REAL, vm_id=1000 + n)) for n in range(vms)]
        bucket = endpoint.proxy.token_bucket("RunInstances", size, refill)
        start = time.monotonic()
        for line in lines:
            driver.send(line)
        answered = driver.wait_replies(1 + vms, timeout=max(600.0, 5 * bucket.minimum_seconds(vms)))
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


def run() -> None:
    vms = int(os.environ.get("BURST_VMS", "1000"))
    size = int(os.environ.get("BURST_BUCKET", "25"))
    refill = float(os.environ.get("BURST_REFILL", "5"))
    figures = burst(vms, size, refill)
    ratio = figures["seconds"] / figures["minimum"] if figures["minimum"] else float("nan")
    print_table(
        f"burst: {vms} DEPLOYs at once, one_vmm_ec2 -t 15, RunInstances bucket {size} refilled {refill:g}/s",
        ["figure", "value"],
        [
            ["deployed (DEPLOY SUCCESS)", int(figures["deployed"])],
            ["failed (DEPLOY FAILURE)", int(figures["failed"])],
            ["unanswered", int(figures["unanswered"])],
            ["live instances", int(figures["instances"])],
            ["duplicated instances", int(figures["duplicates"])],
            [
                "RunInstances requests (throttled)",
                f"{int(figures['run_requests'])} ({int(figures['throttled'])})",
            ],
            ["bucket minimum, s (baseline)", figures["minimum"]],
            ["total, s", figures["seconds"]],
            ["ratio total / bucket minimum (target <= 1.2)", f"{ratio:.3f}"],
        ],
    )
