"""The shared fixtures work: moto answers EC2 over HTTP and resets between tests."""

from __future__ import annotations

from pathlib import Path

import boto3


def test_moto_server_runs_instances_and_resets(moto_endpoint: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    assert len(ec2.describe_instances()["Reservations"]) == 1


def test_moto_server_is_empty_after_reset(moto_endpoint: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert ec2.describe_instances()["Reservations"] == []


def test_recorded_data_present(real_dir: Path) -> None:
    assert (real_dir / "driver_messages.txt").is_file()
