"""IM monitoring cost per cycle: DescribeInstances calls and CPU seconds at 100 / 1,000 / 5,000 instances.

moto runs in a child process, so `time.process_time()` here is the driver's own CPU (botocore parsing
plus our mapping and every era's text). The baseline is the same cycle on a plain client (botocore's
generic parser walking every field of the reply), measured in the same run.
Targets: calls <= 1 + N/1000; CPU <= 1 s at 5,000 instances.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from bench.table import p50, print_table

SIZES = (100, 1000, 5000)
WILD_SHARE = 10  # one instance in 10 has no ONE_ID tag (offered for import)
REPEAT = 3  # 2 at 5,000: moto itself needs ~10 s of wall time to answer each of those
CAPACITY = {"T3_MICRO": "6000", "M5_LARGE": "100"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    code = (
        "from moto.server import ThreadedMotoServer; import time; "
        f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False); s.start(); "
        "time.sleep(86400)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, url


def _client(url: str) -> Any:
    import boto3

    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _grow(client: Any, have: int, want: int) -> None:
    """Launch want - have instances in big RunInstances calls, then tag most with their own ONE_ID."""
    left = want - have
    ids: list[str] = []
    while left > 0:
        n = min(left, 1000)
        reply = client.run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n, InstanceType="t3.micro")
        ids += [i["InstanceId"] for i in reply["Instances"]]
        left -= n
    for offset, instance_id in enumerate(ids):
        number = have + offset
        if number % WILD_SHARE:
            client.create_tags(Resources=[instance_id], Tags=[{"Key": "ONE_ID", "Value": str(number)}])


def _cycle(client: Any, catalog: Any) -> tuple[int, float]:
    from one_drivers.im_ec2 import report
    from one_drivers.im_ec2.cycle import take_snapshot

    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    client.meta.events.register("before-call.ec2.DescribeInstances", count)
    try:
        start = time.process_time()
        snap = take_snapshot(0, "ec2-bench", client, CAPACITY, catalog)
        report.system_host(snap)
        report.monitor_host(snap)
        report.monitor_vm(snap)
        report.state_vm(snap, None, sync=True)
        report.probe_text(snap)
        return calls[0], time.process_time() - start
    finally:
        client.meta.events.unregister("before-call.ec2.DescribeInstances", count)


def run() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from one_drivers.ec2.catalog import InstanceTypeCatalog
    from one_drivers.im_ec2.instances import trim_describe_instances

    proc, url = _start_moto()
    rows: list[list[object]] = []
    try:
        admin = _client(url)
        catalog = InstanceTypeCatalog()
        trimmed = trim_describe_instances(_client(url))
        baseline = _client(url)
        have = 0
        for size in SIZES:
            _grow(admin, have, size)
            if have == 0:
                _cycle(trimmed, catalog)  # warm-up: catalog lookups, connections
                _cycle(baseline, catalog)
            have = size
            repeat = REPEAT if size <= 1000 else 2
            ours = [_cycle(trimmed, catalog) for _ in range(repeat)]
            base = [_cycle(baseline, catalog) for _ in range(repeat)]
            calls = max(c for c, _ in ours)
            cpu = p50([t for _, t in ours])
            cpu_base = p50([t for _, t in base])
            rows.append(
                [
                    size,
                    calls,
                    f"<= {1 + size // 1000}",
                    cpu,
                    cpu_base,
                    f"{cpu / cpu_base:.2f}x" if cpu_base else "-",
                ]
            )
    finally:
        proc.kill()
        proc.wait()
    print_table(
        "IM monitoring cycle (one host; snapshot + SYSTEM_HOST/MONITOR_HOST/MONITOR_VM/STATE_VM/poll text)",
        [
            "instances",
            "DescribeInstances/cycle",
            "target",
            "CPU s/cycle",
            "CPU s plain botocore (baseline)",
            "ratio",
        ],
        rows,
    )


if __name__ == "__main__":
    run()
