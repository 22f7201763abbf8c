"""Who may sign: the user pool as the server admin sees it, cached for a short, bounded time.

Access key = OpenNebula user name; the signing secret = the user's PASSWORD as `one.userpool.info`
returns it (SHA256 hex on 5.10+, SHA1 hex before, plain for the `public` driver). x509-driver users carry
their certificate DNs in PASSWORD, `|`-separated. A miss (unknown key, failed signature) may force one
refresh, so a brand-new user or a changed password works at once rather than after the cache expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from one_drivers.one.gateway import OneGateway

log = logging.getLogger(__name__)

# Drivers whose PASSWORD is a usable HMAC secret (the others hold no secret econe could share).
SIGNING_DRIVERS = frozenset({"core", "public"})
X509_DRIVER = "x509"


@dataclass(frozen=True)
class UserEntry:
    id: int
    name: str
    auth_driver: str
    password: str
    enabled: bool

    @property
    def signing_secret(self) -> str | None:
        if self.enabled and self.auth_driver in SIGNING_DRIVERS and self.password:
            return self.password
        return None

    @property
    def distinguished_names(self) -> tuple[str, ...]:
        if not self.enabled or self.auth_driver != X509_DRIVER:
            return ()
        return tuple(dn.strip() for dn in self.password.split("|") if dn.strip())


def parse_user_pool(text: str) -> list[UserEntry]:
    """`<USER_POOL><USER>...` -> entries (quotas and templates are ignored)."""
    parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(text.encode("utf-8"), parser)
    users = []
    for el in root.iterchildren("USER"):
        users.append(
            UserEntry(
                id=int(el.findtext("ID") or -1),
                name=el.findtext("NAME") or "",
                auth_driver=el.findtext("AUTH_DRIVER") or "",
                password=el.findtext("PASSWORD") or "",
                # ENABLED is absent on very old releases: treat as enabled, as oned did.
                enabled=(el.findtext("ENABLED") or "1").strip() != "0",
            )
        )
    return users


class UserDirectory:
    """The cached user pool. Thread-safe; one pool fetch at a time."""

    def __init__(
        self,
        admin: OneGateway,
        cache_seconds: float = 60.0,
        *,
        min_refresh_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin
        self._cache_seconds = cache_seconds
        # Forced refreshes are rate-limited so a flood of unknown keys cannot hammer oned.
        self._min_refresh_seconds = min_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._by_name: dict[str, UserEntry] = {}

    def _load(self) -> None:
        users = parse_user_pool(self._admin.userpool_info())
        self._by_name = {u.name: u for u in users}
        self._loaded_at = self._clock()
        log.debug("user pool loaded: %d users", len(users))

    def _ensure(self, force: bool) -> None:
        with self._lock:
            now = self._clock()
            age = None if self._loaded_at is None else now - self._loaded_at
            if age is None or age >= self._cache_seconds or (force and age >= self._min_refresh_seconds):
                self._load()

    def get(self, name: str, *, force_refresh: bool = False) -> UserEntry | None:
        self._ensure(force_refresh)
        return self._by_name.get(name)

    def all(self, *, force_refresh: bool = False) -> list[UserEntry]:
        self._ensure(force_refresh)
        return list(self._by_name.values())
