"""Optional CloudWatch figures against moto's CloudWatch: values, vCPU scaling, counters, rate limit."""

from __future__ import annotations

import datetime
from typing import Any

import boto3

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.im_ec2 import report
from one_drivers.im_ec2.cloudwatch import CloudWatchMetrics
from one_drivers.im_ec2.cycle import take_snapshot
from one_drivers.im_ec2.instances import Instance
from one_drivers.one.template import parse_template
from tests.im_ec2.conftest import Region


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def put(cw: Any, instance_id: str, name: str, value: float) -> None:
    cw.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Value": value,
                "Timestamp": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=30),
            }
        ],
    )


def test_cloudwatch_figures_and_rate_limit(region: Region) -> None:
    cw = boto3.client("cloudwatch", endpoint_url=region.endpoint, region_name="us-east-1")
    put(cw, region.running, "CPUUtilization", 40.0)
    put(cw, region.running, "NetworkIn", 1000.0)
    put(cw, region.running, "NetworkOut", 500.0)
    clock = Clock()
    source = CloudWatchMetrics(lambda _client: cw, period=300, clock=clock)
    instances = [
        Instance(region.running, "running", "t3.micro", one_id=1),
        Instance(region.small, "running", "m1.small", one_id=2),
    ]
    first = source.metrics(region.client, instances, {"t3.micro": 2, "m1.small": 1})
    assert first[region.running].cpu == 80.0  # 40 % of 2 vCPUs, in OpenNebula's 100-per-CPU unit
    assert (first[region.running].netrx, first[region.running].nettx) == (1000, 500)
    assert first[region.small].cpu == 0.0  # no data: zeros
    calls = source.calls
    assert calls == 1  # 6 queries fit one GetMetricData
    clock.now += 100
    assert source.metrics(region.client, instances) == first  # cached within the period
    assert source.calls == calls
    clock.now += 300
    put(cw, region.running, "NetworkIn", 250.0)
    later = source.metrics(region.client, instances, {"t3.micro": 2})
    assert source.calls == calls + 1
    assert later[region.running].netrx >= 1000 + 250  # a running counter, never going back


def test_snapshot_uses_cloudwatch_when_enabled(region: Region, catalog: InstanceTypeCatalog) -> None:
    cw = boto3.client("cloudwatch", endpoint_url=region.endpoint, region_name="us-east-1")
    put(cw, region.running, "CPUUtilization", 25.0)
    source = CloudWatchMetrics(lambda _client: cw, period=300)
    snap = take_snapshot(1, "h", region.client, {"T3_MICRO": "1"}, catalog, source)
    vms = {v["DEPLOY_ID"]: v for v in parse_template(report.probe_text(snap)).vectors("VM")}
    assert parse_template(vms[region.running]["POLL"]).get("CPU") == "50"


def test_cloudwatch_failure_never_fails_the_cycle(region: Region, catalog: InstanceTypeCatalog) -> None:
    def broken(_client: Any) -> Any:
        raise RuntimeError("no CloudWatch here")

    snap = take_snapshot(1, "h", region.client, {"T3_MICRO": "1"}, catalog, CloudWatchMetrics(broken))
    assert snap.metrics == {}
    assert snap.capacity.used_cpu > 0
