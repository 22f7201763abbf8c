"""Whatever a client sends, the answer is never a 500 or a crash and nothing is made (an update naming
only fields OCCI does not change is upstream's no-op); when oned is gone the answer is 503 without
details."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.occi.conftest import OcciEnv, start_occi_env

pytestmark = pytest.mark.slow

BODIES = [
    b"\x00\xff\xfe garbage",
    b"<COMPUTE><NAME>\xff\xfe</NAME></COMPUTE>",
    b"<COMPUTE>" * 2000,
    b'<?xml version="1.0" encoding="latin-1"?><COMPUTE/>',
    b"<STORAGE><SIZE>-5</SIZE></STORAGE>",
    b"<NETWORK><ADDRESS>::1</ADDRESS><NAME>x</NAME></NETWORK>",
    b"<ACTION><PERFORM/></ACTION>",
    b'<ACTION><PERFORM>detachdisk</PERFORM><PARAMS><DISK id="-1"/></PARAMS></ACTION>',
    b'{"kind": 5}',
    b"Category: ; scheme=",
]
TARGETS = [
    ("POST", "/compute"),
    ("POST", "/network"),
    ("POST", "/storage"),
    ("PUT", "/compute/0"),
    ("PUT", "/storage/0"),
    ("PUT", "/network/0"),
    ("POST", "/compute/0/action"),
    ("POST", "/storage/0/action"),
    ("POST", "/compute/0?action=stop"),
]
TYPES = [
    "application/xml",
    "text/plain",
    "application/occi+json",
    "text/occi",
    "multipart/form-data; boundary=x",
]


def test_no_body_gets_a_500(occi_env: OcciEnv) -> None:
    env = occi_env
    rng = random.Random(13)
    images = len(env.oneadmin.imagepool_info(-2))
    for method, path in TARGETS:
        for body in [*BODIES, bytes(rng.getrandbits(8) for _ in range(300))]:
            content_type = rng.choice(TYPES)
            r = env.request(method, path, body, user="carol", headers={"Content-Type": content_type})
            assert r.status < 500 and r.text.strip(), (
                method,
                path,
                content_type,
                body[:40],
                r.status,
                r.text,
            )
    assert env.oneadmin.vmpool_info(-2) == []
    assert len(env.oneadmin.imagepool_info(-2)) == images
    assert len(env.oneadmin.vnpool_info(-2)) == 1


def test_oned_gone_is_503(tmp_path: Path) -> None:
    sim, env = start_occi_env(tmp_path, user_cache_seconds=3600)
    try:
        assert env.request("GET", "/compute").status == 200  # the user pool is cached now
        sim.__exit__(None, None, None)
        r = env.request("GET", "/compute")
        assert r.status == 503 and r.text.strip() == "OpenNebula is not available, try again later"
    finally:
        env.server.stop()
