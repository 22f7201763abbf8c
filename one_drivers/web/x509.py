"""Client certificates -> the DN OpenNebula's x509 driver stores: for `auth: x509`.

The certificate comes either from econe's own TLS listener (verified by the TLS layer against
`ssl_ca`) or as PEM in the `SSL_CLIENT_CERT` header of a TLS-terminating proxy, which is believed only
when the peer address is in `trusted_proxies`. DNs are compared in OpenSSL's one-line form
(`/C=ES/O=ONE/CN=bob`), with whitespace escaped as OpenNebula's x509 driver writes it (`\\20`).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import NameOID

# OpenSSL short names that rfc4514 spells differently or not at all.
_SHORT_NAMES = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
}

log = logging.getLogger(__name__)

Owner = TypeVar("Owner")

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


class CertificateError(ValueError):
    """The presented certificate text is not a PEM certificate."""


def normalize_pem(text: str) -> bytes:
    """Proxies mangle PEM in headers: URL-escaped (nginx), or newlines turned into spaces (Apache)."""
    if "%" in text:
        text = urllib.parse.unquote(text)
    match = _PEM.search(text)
    if not match:
        raise CertificateError("no PEM certificate found")
    body = "".join(match.group(1).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def subject_dn(pem: str) -> str:
    """The certificate subject in OpenSSL's one-line form, RDNs in certificate order."""
    try:
        cert = x509.load_pem_x509_certificate(normalize_pem(pem))
    except ValueError as exc:
        raise CertificateError(str(exc)) from exc
    parts = []
    for rdn in cert.subject.rdns:
        for attr in rdn:
            name = _SHORT_NAMES.get(attr.oid) or attr.rfc4514_attribute_name
            value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
            parts.append(f"/{name}={value}")
    return "".join(parts)


def escape_dn(dn: str) -> str:
    """Whitespace as `\\<hex>`, the form OpenNebula's x509 driver keeps in PASSWORD."""
    return re.sub(r"\s", lambda m: "\\" + format(ord(m.group()), "x"), dn)


def dn_matches(dn: str, stored: tuple[str, ...]) -> bool:
    escaped = escape_dn(dn)
    return any(entry in (dn, escaped) for entry in stored)


def presented_certificate(environ: Mapping[str, Any], trusted_proxies: frozenset[str]) -> str | None:
    """The client's PEM: from our own TLS listener (verified against ssl_ca by the TLS layer), or from
    the `SSL_CLIENT_CERT` header of a TLS-terminating proxy, believed only from a trusted peer."""
    if environ.get("SSL_CLIENT_VERIFY") == "SUCCESS" and environ.get("SSL_CLIENT_CERT"):
        return str(environ["SSL_CLIENT_CERT"])
    header = environ.get("HTTP_SSL_CLIENT_CERT")
    if header:
        peer = str(environ.get("REMOTE_ADDR", ""))
        if peer in trusted_proxies:
            return str(header)
        log.warning("SSL_CLIENT_CERT header from untrusted peer %s ignored", peer)
    return None


class CertificateRefused(Exception):
    """No user for the request's client certificate; the message is one a client may be shown."""


def certificate_owner(
    environ: Mapping[str, Any], trusted_proxies: frozenset[str], find: Callable[[str], Owner | None]
) -> Owner:
    """Who the presented certificate names: `find(dn)` for its subject (econe's and occi's `auth: x509`,
    each turning CertificateRefused into its own 401)."""
    pem = presented_certificate(environ, trusted_proxies)
    if pem is None:
        raise CertificateRefused("A client certificate is required")
    try:
        dn = subject_dn(pem)
    except CertificateError:
        raise CertificateRefused("The client certificate could not be read") from None
    owner = find(dn)
    if owner is None:
        log.info("no x509 user for DN %s", dn)
        raise CertificateRefused("No user is registered for this certificate")
    return owner
