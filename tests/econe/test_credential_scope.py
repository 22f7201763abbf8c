"""SigV4 credential scope: a key signed for another region or for another service (s3) opens nothing.

AWS refuses such a request with AuthFailure; econe did accept it, so a signature captured from an S3 call
(or made for another cloud's region) worked here. The configured region, the declared aliases and the
proxy spellings of the host keep working.
"""

from __future__ import annotations

import http.client
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from one_drivers.econe.config import parse_config
from tests.econe.conftest import EconeEnv
from tests.econe.sigv2 import send


def client_for(env: EconeEnv, region: str, endpoint: str | None = None) -> Any:
    return boto3.client(
        "ec2",
        endpoint_url=endpoint or env.endpoint,
        region_name=region,
        aws_access_key_id=env.alice.name,
        aws_secret_access_key=env.alice.secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def signed_v4(env: EconeEnv, *, region: str, service: str, presign: bool = False) -> tuple[int, bytes]:
    """A DescribeRegions POST (or presigned GET) signed by botocore for any region and service."""
    credentials = Credentials(env.alice.name, env.alice.secret)
    body = "Action=DescribeRegions&Version=2016-11-15"
    if presign:
        request = AWSRequest(method="GET", url=f"{env.endpoint}/?{body}")
        SigV4QueryAuth(credentials, service, region, expires=300).add_auth(request)
    else:
        request = AWSRequest(
            method="POST",
            url=env.endpoint + "/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(credentials, service, region).add_auth(request)
    prepared = request.prepare()

    parts = urllib.parse.urlsplit(prepared.url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(prepared.method, path, body=prepared.body, headers=dict(prepared.headers.items()))
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


@pytest.mark.parametrize("presign", [False, True])
@pytest.mark.parametrize(
    ("region", "service", "message"),
    [
        ("eu-west-1", "ec2", b"Credential should be scoped to a valid region, not &apos;eu-west-1&apos;"),
        ("opennebula", "s3", b"Credential should be scoped to correct service: &apos;ec2&apos;"),
        ("us-east-1", "s3", b"scoped to correct service"),
    ],
)
def test_another_region_or_service_is_refused(
    econe_env: EconeEnv, region: str, service: str, message: bytes, presign: bool
) -> None:
    status, body = signed_v4(econe_env, region=region, service=service, presign=presign)
    assert status == 401 and b"<Code>AuthFailure</Code>" in body
    assert message.replace(b"&apos;", b"'") in body or message in body
    ok_status, _ = signed_v4(econe_env, region="opennebula", service="ec2", presign=presign)
    assert ok_status == 200  # the same signer with the right scope passes


def test_boto3_in_another_region_gets_auth_failure(econe_env: EconeEnv) -> None:
    with pytest.raises(ClientError) as info:
        client_for(econe_env, "us-west-2").describe_regions()
    assert info.value.response["Error"]["Code"] == "AuthFailure"
    assert client_for(econe_env, "opennebula").describe_regions()["Regions"]


def test_declared_region_aliases_are_accepted(econe_env_factory: Any) -> None:
    env: EconeEnv = econe_env_factory(region_aliases=("us-east-1",))
    assert client_for(env, "us-east-1").describe_regions()["Regions"][0]["RegionName"] == "opennebula"
    assert client_for(env, "opennebula").describe_regions()["Regions"]
    with pytest.raises(ClientError, match="AuthFailure"):
        client_for(env, "eu-west-1").describe_regions()


def test_region_aliases_read_from_econe_conf() -> None:
    assert parse_config({":region_aliases:": ["us-east-1", "RegionOne"]}).region_aliases == (
        "us-east-1",
        "RegionOne",
    )
    assert parse_config({":region_aliases:": "us-east-1"}).region_aliases == ("us-east-1",)
    assert parse_config({}).region_aliases == ()


def test_behind_a_proxy_the_scope_is_checked_too(econe_env_factory: Any) -> None:
    env: EconeEnv = econe_env_factory(ssl_server="https://cloud.example.org:8443/")
    # Signed for the public host the client sees; received by econe on its own port.
    credentials = Credentials(env.alice.name, env.alice.secret)
    for region, expected in (("opennebula", 200), ("eu-west-1", 401)):
        request = AWSRequest(method="GET", url="https://cloud.example.org:8443/?Action=DescribeRegions")
        request.context["timestamp"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        SigV4QueryAuth(credentials, "ec2", region, expires=300).add_auth(request)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
        reply = send(env.endpoint, query, headers={"Host": "cloud.example.org:8443"})
        assert reply.status == expected, (region, reply.body[:300])
