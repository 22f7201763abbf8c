"""The drivers' counters of EC2 calls, throttled answers and resends, from a real boto3 client against a
loopback endpoint that throttles, and the one_vmm_ec2 / one_im_ec2 flags that expose them."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from one_drivers.ec2.observe import watch_client
from one_drivers.metrics.drivers import DriverMetrics

THROTTLED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>"
)
REGIONS = (
    b'<?xml version="1.0" encoding="UTF-8"?><DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/'
    b'2016-11-15/"><requestId>r</requestId><regionInfo/></DescribeRegionsResponse>'
)


class ThrottlingEndpoint(http.server.ThreadingHTTPServer):
    """Answers the first `throttle` requests with 503 RequestLimitExceeded, the rest with no regions."""

    def __init__(self, throttle: int) -> None:
        self.throttle = throttle
        self.seen = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    server: ThrottlingEndpoint

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen += 1
            throttled = self.server.seen <= self.server.throttle
        body = THROTTLED if throttled else REGIONS
        self.send_response(503 if throttled else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def throttling() -> Iterator[ThrottlingEndpoint]:
    server = ThrottlingEndpoint(throttle=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_calls_throttles_and_retries_are_counted(throttling: ThrottlingEndpoint) -> None:
    metrics = DriverMetrics("test")
    client = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{throttling.server_address[1]}",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"mode": "standard", "total_max_attempts": 4}),
    )
    watch_client(client, metrics)
    throttling.throttle = 2  # two throttled answers, then success: one call, three attempts
    client.describe_regions()
    throttling.throttle, throttling.seen = 10, 0  # throttled to the end: one failed call of 4 attempts
    with pytest.raises(client.exceptions.ClientError):
        client.describe_regions()
    from prometheus_client import generate_latest

    got = samples(generate_latest(metrics.registry).decode())
    labels = (("driver", "test"), ("operation", "DescribeRegions"))
    assert got[("one_driver_ec2_calls_total", (*labels, ("outcome", "ok")))] == 1
    assert got[("one_driver_ec2_calls_total", (*labels, ("outcome", "error")))] == 1
    assert got[("one_driver_ec2_throttles_total", labels)] == 2 + 4
    assert got[("one_driver_ec2_retries_total", labels)] == 2 + 3


def test_one_im_ec2_writes_its_metrics_file(tmp_path: Path) -> None:
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text("regions:\n  default:\n    region_name: us-east-1\n")
    target = tmp_path / "one_im_ec2.prom"
    driver = Path(sys.executable).with_name("one_im_ec2")
    done = subprocess.run(
        [str(driver), f"--config {conf} --log {tmp_path}/im.log --metrics-file {target}"],
        input="INIT\nNO_SUCH_ACTION 3 x\nFINALIZE\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ONE_AUTH": str(tmp_path / "no_auth")},
    )
    assert "NO_SUCH_ACTION FAILURE 3" in done.stdout
    got = samples(target.read_text())
    key = (("action", "NO_SUCH_ACTION"), ("driver", "one_im_ec2"), ("result", "failure"))
    assert got[("one_driver_actions_total", key)] == 1
