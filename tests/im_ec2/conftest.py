"""A moto region with the instance mix the IM driver must tell apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from one_drivers.ec2.catalog import InstanceTypeCatalog

AMI = "ami-12c6146b"


def ec2_client(endpoint: str) -> Any:
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")


def launch(client: Any, itype: str, tags: dict[str, str], **extra: Any) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    kwargs: dict[str, Any] = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": itype, **extra}
    if tags:
        kwargs["TagSpecifications"] = spec
    reply = client.run_instances(**kwargs)
    return str(reply["Instances"][0]["InstanceId"])


@dataclass(frozen=True)
class Region:
    endpoint: str
    client: Any
    running: str  # ONE_ID=1, t3.micro, two security groups, a Name with a comma and spaces
    small: str  # ONE_ID=2, m1.small
    stopped: str  # ONE_ID=3, t3.micro, stopped
    wild: str  # no ONE_ID, c5.large, running
    terminated: str  # ONE_ID=4, terminated
    old_twin: str  # ONE_ID=1 as well, terminated (the VM's previous deployment)


@pytest.fixture
def region(moto_endpoint: str) -> Region:
    client = ec2_client(moto_endpoint)
    sg1 = client.create_security_group(GroupName="web", Description="web")["GroupId"]
    sg2 = client.create_security_group(GroupName="ssh", Description="ssh")["GroupId"]
    old_twin = launch(client, "t3.micro", {"ONE_ID": "1"})
    client.terminate_instances(InstanceIds=[old_twin])
    running = launch(
        client,
        "t3.micro",
        {"ONE_ID": "1", "Name": "web 1, prod"},
        SecurityGroupIds=[sg1, sg2],
        KeyName="my key",
    )
    small = launch(client, "m1.small", {"ONE_ID": "2"})
    stopped = launch(client, "t3.micro", {"ONE_ID": "3"})
    client.stop_instances(InstanceIds=[stopped])
    wild = launch(client, "c5.large", {"Name": "wild one"})
    terminated = launch(client, "t3.micro", {"ONE_ID": "4"})
    client.terminate_instances(InstanceIds=[terminated])
    return Region(moto_endpoint, client, running, small, stopped, wild, terminated, old_twin)


@pytest.fixture(scope="session")
def catalog() -> InstanceTypeCatalog:
    return InstanceTypeCatalog()
