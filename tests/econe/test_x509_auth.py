"""`auth: x509`: the DN from a trusted proxy's SSL_CLIENT_CERT header, and from econe's own TLS listener
with client-certificate verification (a CA, server and client certificates made here with cryptography).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.econe.conftest import EconeEnv
from tests.econe.sigv2 import send

DN = "/C=ES/O=OpenNebula/CN=Carl User"
STORED = "/C=ES/O=OpenNebula/CN=Carl\\20User"  # as OpenNebula's x509 driver keeps it


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OpenNebula"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    data = cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(data)
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "econe test CA")])
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(_name("127.0.0.1"), server_key, ca_name, ca_key, ip="127.0.0.1")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(_name("Carl User"), client_key, ca_name, ca_key)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _issue(_name("Carl User"), rogue_key, _name("Carl User"), rogue_key)  # self-signed, same DN
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "server", "client", "rogue")}
    _write(paths["ca"], ca)
    _write(paths["server"], server, server_key)
    _write(paths["client"], client, client_key)
    _write(paths["rogue"], rogue, rogue_key)
    return paths


def _add_carl(env: EconeEnv) -> None:
    env.oneadmin.user_allocate("carl", f"/CN=someone-else|{STORED}", "x509", (1,))


def test_dn_from_a_trusted_proxy_header(econe_env_factory: object, pki: dict[str, Path]) -> None:
    env: EconeEnv = econe_env_factory(auth="x509", trusted_proxies=("127.0.0.1",))  # type: ignore[operator]
    _add_carl(env)
    pem = pki["client"].read_text().replace("\n", " ")  # Apache's header form
    reply = send(env.endpoint, {"Action": "DescribeRegions"}, headers={"SSL_CLIENT_CERT": pem})
    assert reply.status == 200, reply.body
    assert reply.find("regionName") == "opennebula"
    # No certificate, or garbage: AuthFailure.
    assert send(env.endpoint, {"Action": "DescribeRegions"}).error_code == "AuthFailure"
    garbage = send(env.endpoint, {"Action": "DescribeRegions"}, headers={"SSL_CLIENT_CERT": "-----BEGIN x"})
    assert (garbage.error_code, garbage.status) == ("AuthFailure", 401)


def test_header_from_an_untrusted_peer_is_ignored(econe_env_factory: object, pki: dict[str, Path]) -> None:
    env: EconeEnv = econe_env_factory(auth="x509", trusted_proxies=("10.1.2.3",))  # type: ignore[operator]
    _add_carl(env)
    pem = pki["client"].read_text().replace("\n", " ")
    reply = send(env.endpoint, {"Action": "DescribeRegions"}, headers={"SSL_CLIENT_CERT": pem})
    assert (reply.error_code, reply.status) == ("AuthFailure", 401)


def test_unknown_dn_is_refused(econe_env_factory: object, pki: dict[str, Path]) -> None:
    env: EconeEnv = econe_env_factory(auth="x509", trusted_proxies=("127.0.0.1",))  # type: ignore[operator]
    env.oneadmin.user_allocate("other", "/CN=Other", "x509", (1,))
    pem = pki["client"].read_text().replace("\n", " ")
    reply = send(env.endpoint, {"Action": "DescribeRegions"}, headers={"SSL_CLIENT_CERT": pem})
    assert (reply.error_code, reply.status) == ("AuthFailure", 401)


def test_econe_own_tls_listener_verifies_client_certificates(
    econe_env_factory: object, pki: dict[str, Path]
) -> None:
    env: EconeEnv = econe_env_factory(  # type: ignore[operator]
        auth="x509",
        ssl_cert=str(pki["server"]),
        ssl_key=str(pki["server"].with_suffix(".key")),
        ssl_ca=str(pki["ca"]),
    )
    _add_carl(env)
    assert env.endpoint.startswith("https://")

    def context(cert: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        if cert:
            ctx.load_cert_chain(str(pki[cert]), str(pki[cert].with_suffix(".key")))
        return ctx

    reply = send(env.endpoint, {"Action": "DescribeRegions"}, context=context("client"))
    assert reply.status == 200 and reply.find("regionName") == "opennebula"
    # Without a client certificate (say, only a forged header) the TLS handshake is refused.
    with pytest.raises(OSError):
        send(
            env.endpoint,
            {"Action": "DescribeRegions"},
            headers={"SSL_CLIENT_CERT": pki["client"].read_text().replace("\n", " ")},
            context=context(None),
        )
    # A certificate from another CA with the same DN never gets through the TLS handshake.
    with pytest.raises(OSError):
        send(env.endpoint, {"Action": "DescribeRegions"}, context=context("rogue"))
