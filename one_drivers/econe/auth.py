"""Who is asking: EC2 signatures (SigV4 header/presigned, SigV2) or x509 client certificates -> a user.

Signatures are checked by `query.signing` against the user's secret from the cached user pool; an unknown
access key or a signature that fails against a cached secret forces one pool refresh first, so a new user
or a changed password is honoured at once. Failures are AuthFailure (401) or SignatureDoesNotMatch (403).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from one_drivers.econe.config import EconeConfig
from one_drivers.econe.request import IncomingRequest
from one_drivers.one.records import UserRecord
from one_drivers.one.users import UserDirectory
from one_drivers.query.errors import Ec2Error, auth_failure
from one_drivers.query.signing import SignedRequest, access_key_of, verify_signature
from one_drivers.web.x509 import CertificateRefused, certificate_owner, dn_matches

log = logging.getLogger(__name__)


def public_hosts(public_url: str) -> list[str]:
    """The host spellings a client may have signed for the configured public URL: with and without port."""
    url = urllib.parse.urlsplit(public_url)
    if not url.hostname:
        return []
    host = url.hostname if ":" not in url.hostname else f"[{url.hostname}]"
    default = 443 if url.scheme == "https" else 80
    port = url.port or default
    return [f"{host}:{port}", host]


def public_path_prefix(public_url: str) -> str:
    """The path a proxy strips before econe sees the request (`https://cloud/ec2` -> `/ec2`), or ''."""
    return urllib.parse.urlsplit(public_url).path.rstrip("/")


def signed_request_of(request: IncomingRequest, body: bytes | None = None) -> SignedRequest:
    return SignedRequest(
        method=request.method,
        host=request.host,
        path=request.path,
        query=request.query_pairs,
        form=request.form_pairs,
        headers=request.headers,
        body=request.body if body is None else body,
    )


class SignatureAuthenticator:
    """`auth: ec2` (upstream's default): HMAC signatures keyed with the user's PASSWORD."""

    def __init__(
        self,
        config: EconeConfig,
        users: UserDirectory,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.users = users
        self.skew = config.clock_skew
        self.alt_hosts = public_hosts(config.public_url)
        self.path_prefix = public_path_prefix(config.public_url)
        # SigV4 scopes econe answers to: its region and the aliases an admin declares for clients that
        # cannot be told another region name (libcloud and old tools sign "us-east-1").
        self.regions = frozenset({config.region_name, *config.region_aliases})
        self.clock = clock

    def authenticate(self, request: IncomingRequest) -> UserRecord:
        with request.signed_body() as body:
            return self._authenticate(signed_request_of(request, body))

    def _authenticate(self, signed: SignedRequest) -> UserRecord:
        access_key, scheme = access_key_of(signed)
        user = self.users.get(access_key)
        if user is None or user.signing_secret is None:
            user = self.users.get(access_key, force_refresh=True)
        if user is None or user.signing_secret is None:
            log.info("refused %s request: unknown or non-signing access key", scheme)
            raise auth_failure()
        try:
            self._verify(signed, user)
        except Ec2Error as first:
            if first.code != "SignatureDoesNotMatch":
                raise
            # Maybe the password changed (or was re-hashed by a 5.10+ login) since the pool was cached.
            fresh = self.users.get(access_key, force_refresh=True)
            if fresh is None or fresh.signing_secret is None or fresh.password == user.password:
                raise
            self._verify(signed, fresh)
            user = fresh
        return user

    def _paths(self, received: str) -> list[str]:
        """The received path, then the path the client saw through a prefix-stripping proxy."""
        if not self.path_prefix or received.startswith(self.path_prefix + "/"):
            return [received]
        prefixed = self.path_prefix + received
        return list(dict.fromkeys([received, prefixed, prefixed.rstrip("/") or "/"]))

    def _verify(self, signed: SignedRequest, user: UserRecord) -> None:
        assert user.signing_secret is not None
        now = self.clock()
        paths = self._paths(signed.path)
        for n, path in enumerate(paths):
            try:
                verify_signature(
                    signed if path == signed.path else replace(signed, path=path),
                    user.signing_secret,
                    now=now,
                    skew_seconds=self.skew,
                    alt_hosts=self.alt_hosts,
                    regions=self.regions,
                )
                return
            except Ec2Error as err:
                if err.code != "SignatureDoesNotMatch" or n == len(paths) - 1:
                    raise


class X509Authenticator:
    """`auth: x509`: the DN of a verified client certificate, matched against x509-driver users."""

    def __init__(self, config: EconeConfig, users: UserDirectory) -> None:
        self.users = users
        self.trusted_proxies = frozenset(config.trusted_proxies)

    def authenticate(self, request: IncomingRequest) -> UserRecord:
        try:
            return certificate_owner(request.environ, self.trusted_proxies, self._find)
        except CertificateRefused as exc:
            raise auth_failure(str(exc)) from None

    def _find(self, dn: str) -> UserRecord | None:
        return self.users.by_distinguished_name(dn, dn_matches)


def make_authenticator(
    config: EconeConfig, users: UserDirectory
) -> SignatureAuthenticator | X509Authenticator:
    if config.auth == "x509":
        return X509Authenticator(config, users)
    if config.auth == "ec2":
        return SignatureAuthenticator(config, users)
    raise ValueError(f"econe.conf: auth must be 'ec2' or 'x509', not {config.auth!r}")
