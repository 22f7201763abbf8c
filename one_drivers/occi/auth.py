"""Who is asking: HTTP Basic (upstream's `auth: occi`) or an x509 client certificate -> an OpenNebula user.

Basic: the user name and, as password, what upstream's clients send: the SHA-1 hex of the password (or
SHA-256 hex, what oned 5.10+ stores), compared with the user's PASSWORD from the cached user pool; a
plain password (`--plain`) is hashed here with both digests. A miss forces one (rate-limited) pool
refresh, so a new user or a changed password works at once. x509: as econe, the DN of a certificate
verified by our TLS listener or forwarded by a trusted proxy, matched against x509-driver users.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from one_drivers.occi.config import OcciConfig
from one_drivers.occi.errors import Unauthorized
from one_drivers.one.records import UserRecord
from one_drivers.one.users import UserDirectory
from one_drivers.web.x509 import CertificateRefused, certificate_owner, dn_matches

log = logging.getLogger(__name__)

PASSWORD_DRIVERS = frozenset({"core", "public"})


class Authenticator(Protocol):
    def authenticate(self, environ: Mapping[str, Any]) -> UserRecord: ...


def basic_credentials(header: str) -> tuple[str, str] | None:
    """`Basic base64(user:password)` -> (user, password); None when absent or malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def password_matches(sent: str, stored: str) -> bool:
    """The sent hash equals the stored one, or the sent text is the plain password of it."""
    if not stored:
        return False
    candidates = (
        sent,
        hashlib.sha1(sent.encode("utf-8")).hexdigest(),
        hashlib.sha256(sent.encode("utf-8")).hexdigest(),
    )
    found = False
    for candidate in candidates:  # every candidate is compared, in constant time each
        found |= hmac.compare_digest(candidate.lower().encode(), stored.lower().encode())
    return found


def _refused() -> Unauthorized:
    return Unauthorized("Unable to authenticate: wrong user name or password")


class BasicAuthenticator:
    def __init__(self, users: UserDirectory) -> None:
        self.users = users

    def authenticate(self, environ: Mapping[str, Any]) -> UserRecord:
        creds = basic_credentials(str(environ.get("HTTP_AUTHORIZATION", "")))
        if creds is None:
            raise Unauthorized("Authentication required (HTTP Basic: user name and password hash)")
        name, sent = creds
        user = self.users.get(name)
        if user is None or not self._accepts(user, sent):
            # Maybe a brand-new user or a changed password since the pool was cached.
            fresh = self.users.get(name, force_refresh=True)
            if fresh is None or fresh == user or not self._accepts(fresh, sent):
                log.info("refused Basic credentials for %r", name)
                raise _refused()
            user = fresh
        return user

    @staticmethod
    def _accepts(user: UserRecord, sent: str) -> bool:
        return user.enabled and user.auth_driver in PASSWORD_DRIVERS and password_matches(sent, user.password)


class X509Authenticator:
    """`auth: x509`: the DN of a verified client certificate, matched against x509-driver users."""

    def __init__(self, config: OcciConfig, users: UserDirectory) -> None:
        self.users = users
        self.trusted_proxies = frozenset(config.trusted_proxies)

    def authenticate(self, environ: Mapping[str, Any]) -> UserRecord:
        try:
            return certificate_owner(environ, self.trusted_proxies, self._find)
        except CertificateRefused as exc:
            raise Unauthorized(str(exc)) from None

    def _find(self, dn: str) -> UserRecord | None:
        return self.users.by_distinguished_name(dn, dn_matches)


def make_authenticator(config: OcciConfig, users: UserDirectory) -> Authenticator:
    if config.auth == "x509":
        return X509Authenticator(config, users)
    return BasicAuthenticator(users)
