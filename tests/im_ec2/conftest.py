"""A moto region with the instance mix the IM driver must tell apart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from one_drivers.ec2.catalog import InstanceTypeCatalog
from tests.conftest import free_port, wait_for

if TYPE_CHECKING:
    from types_boto3_ec2 import EC2Client

AMI = "ami-12c6146b"


def ec2_client(endpoint: str) -> EC2Client:
    client: EC2Client = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    return client


def launch(client: EC2Client, itype: str, tags: dict[str, str], **extra: Any) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    kwargs: dict[str, Any] = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "InstanceType": itype, **extra}
    if tags:
        kwargs["TagSpecifications"] = spec
    reply = client.run_instances(**kwargs)
    return str(reply["Instances"][0]["InstanceId"])


@dataclass(frozen=True)
class Region:
    endpoint: str
    client: EC2Client
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


@dataclass(frozen=True)
class AuthedEndpoint:
    """A moto server that checks signatures: only `access_key`/`secret_key` (an IAM user's) get in."""

    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture
def authed_moto() -> Iterator[AuthedEndpoint]:
    """Its own moto server process, with IAM authentication after the 3 calls that create the user."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: _accepts(port), timeout=30)
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        iam.create_user(UserName="oneadmin")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="oneadmin", PolicyName="ec2", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="oneadmin")["AccessKey"]
        yield AuthedEndpoint(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False
