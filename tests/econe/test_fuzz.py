"""Property-based fuzzing of econe's inputs: parameters of every registered action, raw bodies, headers.

Whatever arrives, econe answers a well-formed EC2 document with a 2xx/4xx status (never 5xx, never a
traceback), and a rejected request changes nothing in OpenNebula.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from one_drivers.econe.actions import all_handlers
from one_drivers.one.states import LcmState, VmState
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env
from tests.econe.sigv2 import Reply, send, sign_v2

ACTIONS = sorted(all_handlers())
NAMES = [
    "InstanceId.1",
    "InstanceId.2",
    "ImageId",
    "ImageId.1",
    "MinCount",
    "MaxCount",
    "InstanceType",
    "KeyName",
    "UserData",
    "ClientToken",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "MaxResults",
    "NextToken",
    "Owner.1",
    "ImageLocation",
    "Name",
    "Force",
    "DryRun",
    "RegionName.1",
    "ZoneName.1",
    "AttributeName.1",
    "Version",
    "Tag.1.Key",
]
INTERESTING = st.sampled_from(
    [
        "",
        "i-00000000",
        "i-00000001",
        "ami-00000000",
        "i-",
        "-1",
        "0",
        "1",
        "99999999999999999999",
        "true",
        "2016-11-15",
        "\x00",
        "<x>",
        ']"\nRAW=[',
        "%",
        "é",
        "a" * 300,
    ]
)
VALUES = st.one_of(INTERESTING, st.text(max_size=40))
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EconeEnv]:
    sim, env = start_econe_env(tmp_path_factory.mktemp("fuzz"), user_cache_seconds=3600)
    # Something to hit: a running VM and an image of alice's; bulk VMs stay put (no scheduler work).
    sim.bulk_vms(2, uid=env.alice.user_id, state=VmState.ACTIVE, lcm=LcmState.RUNNING)
    env.oneadmin.image_allocate('NAME="img"\nTYPE="OS"\nSIZE="8"', 1)
    # The first signed request logs econe's server admin in (oned records a LOGIN_TOKEN in the user
    # pool): make it here, so a snapshot taken around a rejected request sees only what that request did.
    env.client().describe_key_pairs()
    try:
        yield env
    finally:
        stop_econe_env(sim, env)


# econe's login tokens for a user (one.user.login) are made at a user's first request and renewed every
# 30 minutes: authentication state, like oned's session cache, not something a request changed.
_LOGIN_TOKENS = re.compile(r"<LOGIN_TOKEN>.*?</LOGIN_TOKEN>")


def snapshot(env: EconeEnv) -> tuple[str, ...]:
    one = env.oneadmin
    return (
        one.document("one.vmpool.infoextended", -2, -1, -1, -2),
        one.document("one.imagepool.info", -2, -1, -1),
        one.document("one.templatepool.info", -2, -1, -1),
        _LOGIN_TOKENS.sub("", one.document("one.userpool.info")),
    )


def check_reply(reply: Reply) -> None:
    assert 200 <= reply.status < 500, (reply.status, reply.body[:500])
    assert b"Traceback" not in reply.body and b'File "' not in reply.body
    root = etree.fromstring(reply.body)
    if reply.status >= 400:
        assert root.tag == "Response" and root.findtext("Errors/Error/Code")


def host(env: EconeEnv) -> str:
    return urllib.parse.urlsplit(env.endpoint).netloc


@SETTINGS
@given(
    action=st.sampled_from(ACTIONS),
    params=st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), VALUES, max_size=6),
    method=st.sampled_from(["GET", "POST"]),
)
def test_signed_random_parameters(
    fuzz_env: EconeEnv, action: str, params: dict[str, str], method: str
) -> None:
    before = snapshot(fuzz_env)
    alice = fuzz_env.alice
    try:
        signed = sign_v2(
            dict(params, Action=action),
            key=alice.name,
            secret=alice.secret,
            host=host(fuzz_env),
            method=method,
        )
    except UnicodeEncodeError:
        return  # not sendable by any client (lone surrogates)
    reply = send(fuzz_env.endpoint, signed, method=method)
    check_reply(reply)
    if reply.status >= 400:
        assert snapshot(fuzz_env) == before


@SETTINGS
@given(
    params=st.dictionaries(st.text(max_size=15), VALUES, max_size=8),
    action=st.one_of(st.sampled_from(ACTIONS), st.text(max_size=20)),
    tamper=st.sampled_from(["none", "secret", "value", "drop-signature"]),
)
def test_unsigned_or_tampered_requests_change_nothing(
    fuzz_env: EconeEnv, params: dict[str, str], action: str, tamper: str
) -> None:
    before = snapshot(fuzz_env)
    alice = fuzz_env.alice
    try:
        if tamper == "none":
            query = dict(params, Action=action)
        else:
            secret = "0" * 64 if tamper == "secret" else alice.secret
            query = sign_v2(dict(params, Action=action), key=alice.name, secret=secret, host=host(fuzz_env))
            if tamper == "value":
                query["Action"] = action + "x"
            elif tamper == "drop-signature":
                query.pop("Signature")
        reply = send(fuzz_env.endpoint, query)
    except UnicodeEncodeError:
        return
    check_reply(reply)
    assert reply.status in (400, 401, 403)
    assert snapshot(fuzz_env) == before


@SETTINGS
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xx",
            "multipart/form-data",
            "text/plain",
            "",
        ]
    ),
    headers=st.dictionaries(
        st.sampled_from(["Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "SSL_CLIENT_CERT", "Host"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
        max_size=3,
    ),
)
def test_raw_bodies_and_headers(
    fuzz_env: EconeEnv, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    before = snapshot(fuzz_env)
    netloc = host(fuzz_env)
    conn = http.client.HTTPConnection(netloc, timeout=30)
    try:
        all_headers: dict[str, Any] = (
            {"Content-Type": content_type, **headers} if content_type else dict(headers)
        )
        if "Host" in headers:
            conn.putrequest("POST", "/", skip_host=True)
        else:
            conn.putrequest("POST", "/")
        for name, value in all_headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        reply = Reply(resp.status, resp.read())
    finally:
        conn.close()
    check_reply(reply)
    assert reply.status >= 400
    assert snapshot(fuzz_env) == before
    assert not list(Path(fuzz_env.config.tmpdir).glob("econe-upload-*"))
