"""econe's Prometheus metrics, scraped from their own listener after real boto3 traffic."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.econe.conftest import EconeEnv

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_are_off_by_default(econe_env: EconeEnv) -> None:
    assert econe_env.server.metrics_listener is None
    assert econe_env.server.app.observer is None


def test_requests_latency_oned_calls_and_auth_failures_are_counted(
    econe_env_factory: Callable[..., EconeEnv],
) -> None:
    env = econe_env_factory(metrics_port=free_port())
    listener = env.server.metrics_listener
    assert listener is not None and listener.port == env.config.metrics_port
    before = scrape(listener.url)
    ec2 = env.client()
    for _ in range(3):
        ec2.describe_regions()
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_instances(InstanceIds=["i-zzz"])  # 400 from the parser
    bad = boto3.client(
        "ec2",
        endpoint_url=env.endpoint,
        region_name=env.config.region_name,
        aws_access_key_id="alice",
        aws_secret_access_key="wrong",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(botocore.exceptions.ClientError):
        bad.describe_regions()
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_spot_price_history()  # a real EC2 action econe does not serve
    after = scrape(listener.url)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("econe_requests_total", action="DescribeRegions", status="200") == 3
    assert grew("econe_requests_total", action="DescribeInstances", status="400") == 1
    assert grew("econe_requests_total", action="other") == 1  # unserved names share one label
    assert grew("econe_requests_total", action="DescribeRegions", status="403") == 1
    assert grew("econe_request_duration_seconds_count", action="DescribeRegions") == 4
    assert grew("econe_request_duration_seconds_bucket", action="DescribeRegions", le="+Inf") == 4
    assert grew("econe_auth_failures_total", code="SignatureDoesNotMatch") == 1
    # DescribeRegions reads nothing from oned; the authentication's user pool read is an oned call.
    assert grew("econe_oned_call_duration_seconds_count", outcome="ok") >= 1
    assert (
        value(after, "econe_oned_call_duration_seconds_count", method="one.userpool.info", outcome="ok") >= 1
    )
