"""Certificate subjects in the form OpenNebula's x509 driver stores, and the header forms proxies send."""

from __future__ import annotations

import datetime
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from one_drivers.web.x509 import (
    CertificateError,
    CertificateRefused,
    certificate_owner,
    dn_matches,
    escape_dn,
    normalize_pem,
    subject_dn,
)


def make_cert(attrs: list[tuple[x509.ObjectIdentifier, str]]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_subject_in_openssl_oneline_order() -> None:
    pem = make_cert(
        [
            (NameOID.COUNTRY_NAME, "ES"),
            (NameOID.STATE_OR_PROVINCE_NAME, "Madrid"),
            (NameOID.ORGANIZATION_NAME, "ONE"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "DEV"),
            (NameOID.COMMON_NAME, "Cloud User"),
            (NameOID.EMAIL_ADDRESS, "u@example.org"),
        ]
    )
    assert subject_dn(pem) == "/C=ES/ST=Madrid/O=ONE/OU=DEV/CN=Cloud User/emailAddress=u@example.org"


def test_proxy_header_forms() -> None:
    pem = make_cert([(NameOID.COMMON_NAME, "bob")])
    apache = pem.replace("\n", " ")  # mod_headers turns newlines into spaces
    nginx = urllib.parse.quote(pem)  # $ssl_client_escaped_cert
    for form in (pem, apache, nginx, "  " + pem + "\r\n"):
        assert subject_dn(form) == "/CN=bob"
        assert normalize_pem(form).startswith(b"-----BEGIN CERTIFICATE-----\n")


@pytest.mark.parametrize(
    "text", ["", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]
)
def test_bad_certificates(text: str) -> None:
    with pytest.raises(CertificateError):
        subject_dn(text)


def test_dn_matching_with_escaped_spaces() -> None:
    assert escape_dn("/CN=Cloud User") == "/CN=Cloud\\20User"
    assert dn_matches("/CN=Cloud User", ("/CN=x", "/CN=Cloud\\20User"))
    assert dn_matches("/CN=bob", ("/CN=bob",))
    assert not dn_matches("/CN=bob", ("/CN=bobby", "/CN=bo"))


def test_certificate_owner_from_a_trusted_proxy_only() -> None:
    pem = make_cert([(NameOID.COMMON_NAME, "bob")])
    owners = {"/CN=bob": "bob-user"}
    proxied = {"HTTP_SSL_CLIENT_CERT": pem, "REMOTE_ADDR": "10.0.0.1"}
    trusted = frozenset({"10.0.0.1"})
    assert certificate_owner(proxied, trusted, owners.get) == "bob-user"
    assert certificate_owner(
        {"SSL_CLIENT_VERIFY": "SUCCESS", "SSL_CLIENT_CERT": pem}, frozenset(), owners.get
    ) == ("bob-user")
    cases = [
        ({}, trusted, "A client certificate is required"),
        (proxied, frozenset(), "A client certificate is required"),  # the header from an untrusted peer
        ({**proxied, "HTTP_SSL_CLIENT_CERT": "garbage"}, trusted, "The client certificate could not be read"),
        (
            {**proxied, "HTTP_SSL_CLIENT_CERT": make_cert([(NameOID.COMMON_NAME, "eve")])},
            trusted,
            "No user is registered for this certificate",
        ),
    ]
    for environ, proxies, message in cases:
        with pytest.raises(CertificateRefused) as refused:
            certificate_owner(environ, proxies, owners.get)
        assert str(refused.value) == message
