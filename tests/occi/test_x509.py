"""`auth: x509` behind a TLS-terminating proxy, as econe: the DN of the SSL_CLIENT_CERT header from a
trusted proxy names an x509-driver user; from any other peer the header is ignored."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from tests.occi.conftest import OcciEnv, start_occi_env, stop_occi_env
from tests.web.test_x509 import make_cert

pytestmark = pytest.mark.slow


@pytest.fixture
def x509_env(tmp_path: Path) -> Iterator[OcciEnv]:
    sim, env = start_occi_env(tmp_path, auth="x509", trusted_proxies=("127.0.0.1",))
    env.oneadmin.user_allocate("carl", "/C=ES/O=OpenNebula/CN=Carl\\20User", "x509", (1,))
    try:
        yield env
    finally:
        stop_occi_env(sim, env)


def test_certificate_from_a_trusted_proxy(x509_env: OcciEnv) -> None:
    pem = make_cert(
        [
            (NameOID.COUNTRY_NAME, "ES"),
            (NameOID.ORGANIZATION_NAME, "OpenNebula"),
            (NameOID.COMMON_NAME, "Carl User"),
        ]
    )
    header = urllib.parse.quote(pem)  # nginx's $ssl_client_escaped_cert
    r = x509_env.request("GET", "/compute", user=None, headers={"SSL_CLIENT_CERT": header})
    assert r.status == 200 and r.text == "<COMPUTE_COLLECTION></COMPUTE_COLLECTION>"
    stranger = make_cert([(NameOID.COMMON_NAME, "Nobody")])
    r = x509_env.request(
        "GET", "/compute", user=None, headers={"SSL_CLIENT_CERT": urllib.parse.quote(stranger)}
    )
    assert r.status == 401 and "No user is registered" in r.text
    r = x509_env.request("GET", "/compute", user=None, headers={"SSL_CLIENT_CERT": "garbage"})
    assert r.status == 401 and "could not be read" in r.text
    # Basic credentials do not open an x509 server.
    assert x509_env.request("GET", "/compute").status == 401


def test_header_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    sim, env = start_occi_env(tmp_path, auth="x509", trusted_proxies=("10.9.9.9",))
    try:
        env.oneadmin.user_allocate("carl", "/CN=Carl", "x509", (1,))
        pem = make_cert([(NameOID.COMMON_NAME, "Carl")])
        r = env.request("GET", "/compute", user=None, headers={"SSL_CLIENT_CERT": urllib.parse.quote(pem)})
        assert r.status == 401 and "certificate is required" in r.text
    finally:
        stop_occi_env(sim, env)
