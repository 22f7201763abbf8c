"""econe on the simulator with real clients: boto3 (SigV4, SigV2), hand-built SigV2, presigned SigV4.

Each test asserts results, EC2 error codes and HTTP statuses as a client sees them.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import botocore.credentials
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from tests.econe.conftest import EconeEnv
from tests.econe.sigv2 import past, send, sign_v2


def host_of(env: EconeEnv) -> str:
    return urllib.parse.urlsplit(env.endpoint).netloc


def error_of(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("signature_version", ["v4", "v2"])
def test_boto3_probes_regions_zones_and_platforms(econe_env: EconeEnv, signature_version: str) -> None:
    ec2 = econe_env.client(signature_version=signature_version)
    regions = ec2.describe_regions()["Regions"]
    assert regions == [
        {"RegionName": "opennebula", "Endpoint": econe_env.endpoint, "OptInStatus": "opt-in-not-required"}
    ]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["State"], z["RegionName"]) for z in zones] == [
        ("opennebula", "available", "opennebula")
    ]
    attrs = ec2.describe_account_attributes(AttributeNames=["supported-platforms"])["AccountAttributes"]
    assert attrs == [{"AttributeName": "supported-platforms", "AttributeValues": [{"AttributeValue": "VPC"}]}]
    both = ec2.describe_account_attributes()["AccountAttributes"]
    assert {a["AttributeName"] for a in both} == {"supported-platforms", "default-vpc"}


def test_boto3_errors_have_codes_and_statuses(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    cases = [
        (lambda: ec2.describe_regions(RegionNames=["us-east-1"]), ("InvalidParameterValue", 400)),
        (lambda: ec2.describe_availability_zones(ZoneNames=["nope"]), ("InvalidParameterValue", 400)),
        (
            lambda: ec2.describe_regions(Filters=[{"Name": "bogus", "Values": ["x"]}]),
            ("InvalidParameterValue", 400),
        ),
        (lambda: ec2.describe_vpn_gateways(), ("UnsupportedOperation", 400)),
        (lambda: ec2.describe_regions(DryRun=True), ("DryRunOperation", 412)),
    ]
    for call, expected in cases:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            call()
        assert error_of(info.value) == expected


def test_filters_on_zones(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    hit = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available", "x"]}])
    miss = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": ["other"]}])
    assert len(hit["AvailabilityZones"]) == 1 and miss["AvailabilityZones"] == []


def test_boto3_wrong_secret_and_unknown_key(econe_env: EconeEnv) -> None:
    for key, secret in (("alice", "0" * 64), ("nobody", "x")):
        ec2 = boto3.client(
            "ec2",
            endpoint_url=econe_env.endpoint,
            region_name="opennebula",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        with pytest.raises(botocore.exceptions.ClientError) as info:
            ec2.describe_regions()
        assert error_of(info.value) == (
            ("SignatureDoesNotMatch", 403) if key == "alice" else ("AuthFailure", 401)
        )


@pytest.mark.parametrize("algorithm", ["HmacSHA256", "HmacSHA1"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hand_built_sigv2(econe_env: EconeEnv, algorithm: str, method: str) -> None:
    alice = econe_env.alice
    params = sign_v2(
        {"Action": "DescribeRegions"},
        key=alice.name,
        secret=alice.secret,
        method=method,
        host=host_of(econe_env),
        algorithm=algorithm,
    )
    reply = send(econe_env.endpoint, params, method=method)
    assert reply.status == 200, reply.body
    assert reply.xml.tag == "{http://ec2.amazonaws.com/doc/2016-11-15/}DescribeRegionsResponse"
    assert reply.find("regionName") == "opennebula"


def test_sigv2_refusals(econe_env: EconeEnv) -> None:
    alice = econe_env.alice
    host = host_of(econe_env)
    base = {"Action": "DescribeRegions"}

    def signed(**kw: object) -> dict[str, str]:
        return sign_v2(base, key=alice.name, secret=alice.secret, host=host, **kw)  # type: ignore[arg-type]

    expired = signed(expires=past(10))
    outside_skew = signed(timestamp=past(301 + 60))
    future = signed(timestamp=datetime.now(UTC) + timedelta(seconds=400))
    wrong_secret = sign_v2(base, key=alice.name, secret="f" * 64, host=host)
    tampered = dict(signed(), Action="DescribeAvailabilityZones")
    wrong_host = sign_v2(base, key=alice.name, secret=alice.secret, host="evil.example.org")
    sigv1 = dict(signed(), SignatureVersion="1")
    unsigned = dict(base)
    cases = [
        (expired, ("RequestExpired", 400)),
        (outside_skew, ("RequestExpired", 400)),
        (future, ("RequestExpired", 400)),
        (wrong_secret, ("SignatureDoesNotMatch", 403)),
        (tampered, ("SignatureDoesNotMatch", 403)),
        (wrong_host, ("SignatureDoesNotMatch", 403)),
        (sigv1, ("AuthFailure", 401)),
        (unsigned, ("AuthFailure", 401)),
    ]
    for params, (code, status) in cases:
        reply = send(econe_env.endpoint, params)
        assert (reply.error_code, reply.status) == (code, status), params
        assert b"Traceback" not in reply.body
        assert reply.find("RequestID")


def test_action_errors_through_hand_built_requests(econe_env: EconeEnv) -> None:
    alice = econe_env.alice

    def call(params: dict[str, str]) -> tuple[str | None, int]:
        reply = send(
            econe_env.endpoint, sign_v2(params, key=alice.name, secret=alice.secret, host=host_of(econe_env))
        )
        return reply.error_code, reply.status

    assert call({"Action": "Frobnicate"}) == ("InvalidAction", 400)
    assert call({}) == ("MissingAction", 400)
    assert call({"Action": "TerminateInstances"}) == ("MissingParameter", 400)
    assert call({"Action": "DescribeAccountAttributes", "AttributeName.1": "nope"}) == (
        "InvalidParameterValue",
        400,
    )
    assert call({"Action": "DescribeRegions", "DryRun": "maybe"}) == ("InvalidParameterValue", 400)
    assert call({"Action": "CreateVpc", "CidrBlock": "10.0.0.0/16"}) == ("UnsupportedOperation", 400)


def test_presigned_sigv4_get(econe_env: EconeEnv) -> None:
    alice = econe_env.alice
    creds = botocore.credentials.Credentials(alice.name, alice.secret)
    request = AWSRequest(method="GET", url=f"{econe_env.endpoint}/?Action=DescribeRegions&Version=2016-11-15")
    botocore.auth.SigV4QueryAuth(creds, "ec2", "opennebula", expires=60).add_auth(request)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    reply = send(econe_env.endpoint, query)
    assert reply.status == 200 and reply.find("regionName") == "opennebula"
    tampered = dict(query, Action="DescribeAvailabilityZones")
    assert send(econe_env.endpoint, tampered).error_code == "SignatureDoesNotMatch"


def test_new_user_and_new_password_work_at_once(econe_env: EconeEnv) -> None:
    econe_env.client().describe_regions()  # the pool is cached now
    econe_env.add_user("carol", "carol-pass")
    assert econe_env.client("carol").describe_regions()["Regions"]
    econe_env.oneadmin.user_passwd(econe_env.alice.user_id, "alice-new")
    ec2 = boto3.client(
        "ec2",
        endpoint_url=econe_env.endpoint,
        region_name="opennebula",
        aws_access_key_id="alice",
        aws_secret_access_key=hashlib.sha256(b"alice-new").hexdigest(),
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    assert ec2.describe_regions()["Regions"]


def test_public_url_hosts_accepted_behind_a_proxy(econe_env_factory: object) -> None:
    env: EconeEnv = econe_env_factory(ssl_server="https://cloud.example.org:8443/")  # type: ignore[operator]
    alice = env.alice
    for host in ("cloud.example.org:8443", "cloud.example.org", host_of(env)):
        params = sign_v2({"Action": "DescribeRegions"}, key=alice.name, secret=alice.secret, host=host)
        reply = send(env.endpoint, params)
        assert reply.status == 200, host
        assert reply.find("regionEndpoint") == "https://cloud.example.org:8443"
    other = sign_v2(
        {"Action": "DescribeRegions"}, key=alice.name, secret=alice.secret, host="cloud.example.org:9"
    )
    assert send(env.endpoint, other).status == 403


def test_users_without_a_signing_secret_are_refused(econe_env: EconeEnv) -> None:
    econe_env.oneadmin.user_allocate("ldapuser", "whatever", "ldap", (1,))
    params = sign_v2(
        {"Action": "DescribeRegions"}, key="ldapuser", secret="whatever", host=host_of(econe_env)
    )
    reply = send(econe_env.endpoint, params)
    assert (reply.error_code, reply.status) == ("AuthFailure", 401)
    serveradmin = sign_v2(
        {"Action": "DescribeRegions"}, key="serveradmin", secret="x", host=host_of(econe_env)
    )
    assert send(econe_env.endpoint, serveradmin).status == 401


def test_path_prefix_stripped_by_a_proxy(econe_env_factory: object) -> None:
    env: EconeEnv = econe_env_factory(ssl_server="https://cloud.example.org/ec2")  # type: ignore[operator]
    alice = env.alice
    for path in ("/ec2/", "/ec2", "/"):
        params = sign_v2(
            {"Action": "DescribeRegions"},
            key=alice.name,
            secret=alice.secret,
            host="cloud.example.org",
            path=path,
        )
        assert send(env.endpoint, params).status == 200, path
    wrong = sign_v2(
        {"Action": "DescribeRegions"},
        key=alice.name,
        secret=alice.secret,
        host="cloud.example.org",
        path="/x/",
    )
    assert send(env.endpoint, wrong).status == 403
    # SigV4 as boto3 signs it for https://cloud.example.org/ec2, delivered by the proxy to econe's "/".
    request = AWSRequest(
        method="POST",
        url="https://cloud.example.org/ec2/",
        data="Action=DescribeRegions&Version=2016-11-15",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(alice.name, alice.secret), "ec2", "opennebula"
    ).add_auth(request)
    netloc = host_of(env)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    conn.putrequest("POST", "/", skip_host=True)
    conn.putheader("Host", "cloud.example.org")
    for name, value in request.headers.items():
        if name.lower() != "host":
            conn.putheader(name, value)
    body = request.body.encode() if isinstance(request.body, str) else request.body
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()


def test_chunked_form_post(econe_env: EconeEnv) -> None:
    alice = econe_env.alice
    params = sign_v2(
        {"Action": "DescribeRegions"},
        key=alice.name,
        secret=alice.secret,
        host=host_of(econe_env),
        method="POST",
    )
    body = urllib.parse.urlencode(params).encode()
    conn = http.client.HTTPConnection(host_of(econe_env), timeout=30)
    conn.request(
        "POST",
        "/",
        iter([body[:10], body[10:]]),
        {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()


def test_oned_unreachable_is_503_unavailable(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    assert ec2.describe_regions()["Regions"]
    econe_env.sim.stop()  # oned goes away (the fixture's second stop is harmless)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        ec2.describe_instances(InstanceIds=["i-00000000"])
    assert error_of(info.value) == ("Unavailable", 503)


def test_malformed_chunked_body_is_400(econe_env: EconeEnv) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", econe_env.server.port), timeout=30) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nAction=DescribeRegions\r\n0\r\n\r\n"
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"<Code>MalformedQueryString</Code>" in answer


def test_sixteen_slow_clients_do_not_lock_others_out(econe_env: EconeEnv) -> None:
    """Sixteen connections sending a header byte at a time hold no worker (econe has 4 here)."""
    from tests.web.test_guard import slow_heads

    with slow_heads(econe_env.server.port, 16):
        # A read timeout well beyond a normal answer (milliseconds): it fails only while workers are held.
        ec2 = econe_env.client(read_timeout=5, connect_timeout=5)
        assert ec2.describe_regions()["Regions"]
