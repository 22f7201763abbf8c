"""HTTP Basic as upstream's clients send it: the stored hash itself (SHA-1 before OpenNebula 5.10,
SHA-256 since), or the plain password hashed here; malformed headers are no credentials."""

from __future__ import annotations

import base64
import hashlib

import pytest

from one_drivers.occi.auth import basic_credentials, password_matches


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("sent", "stored", "ok"),
    [
        (sha1("pw"), sha1("pw"), True),  # upstream's client against an oned before 5.10
        (sha256("pw"), sha256("pw"), True),  # ours against 5.10+
        ("pw", sha1("pw"), True),  # --plain, hashed here
        ("pw", sha256("pw"), True),
        (sha256("pw").upper(), sha256("pw"), True),  # hex case does not matter
        (sha1("pw"), sha256("pw"), False),  # a SHA-1 hash cannot prove a SHA-256-stored password
        ("wrong", sha256("pw"), False),
        (sha256("pw"), "", False),  # no stored password, no login
        ("", "", False),
    ],
)
def test_password_matches(sent: str, stored: str, ok: bool) -> None:
    assert password_matches(sent, stored) is ok


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_credentials() -> None:
    assert basic_credentials(basic("alice:s3:cr:et")) == ("alice", "s3:cr:et")
    assert basic_credentials("basic " + base64.b64encode(b"bob:x").decode()) == ("bob", "x")
    for bad in (
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!",
        basic("no-colon"),
        basic(":nouser"),
        "Basic " + base64.b64encode(b"\xff:x").decode(),
    ):
        assert basic_credentials(bad) is None, bad
