"""Who may sign: the user pool as the server admin sees it, cached for a short, bounded time.

Access key = OpenNebula user name; the signing secret = the user's PASSWORD as `one.userpool.info`
returns it (SHA256 hex on 5.10+, SHA1 hex before, plain for the `public` driver; see
`records.UserRecord`). x509-driver users carry their certificate DNs in PASSWORD. A miss (unknown key, failed signature) may force one
refresh, so a brand-new user or a changed password works at once rather than after the cache expires.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from one_drivers.one.gateway import OneGateway
from one_drivers.one.records import UserRecord

log = logging.getLogger(__name__)


class UserDirectory:
    """The cached user pool. Thread-safe; one pool fetch at a time.

    A forced refresh (a miss) is granted at once, so a brand-new user is never locked out, but each key
    may force one only every `key_window` seconds and all keys together `max_forced_per_second`, so a
    flood of bogus keys cannot turn into a flood of `userpool.info` calls.
    """

    def __init__(
        self,
        admin: OneGateway,
        cache_seconds: float = 60.0,
        *,
        key_window: float = 5.0,
        max_forced_per_second: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin
        self._cache_seconds = cache_seconds
        self._key_window = key_window
        self._max_forced = max_forced_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._by_name: dict[str, UserRecord] = {}
        self._forced_by_key: dict[str, float] = {}
        self._forced_recent: collections.deque[float] = collections.deque()

    def _load(self) -> None:
        users = self._admin.userpool_info()
        self._by_name = {u.name: u for u in users}
        self._loaded_at = self._clock()
        log.debug("user pool loaded: %d users", len(users))

    def _may_force(self, key: str, now: float) -> bool:
        while self._forced_recent and now - self._forced_recent[0] >= 1.0:
            self._forced_recent.popleft()
        last = self._forced_by_key.get(key)
        if last is not None and now - last < self._key_window:
            return False
        if len(self._forced_recent) >= self._max_forced:
            return False
        if len(self._forced_by_key) > 10_000:  # bounded memory under a flood of distinct keys
            self._forced_by_key = {k: t for k, t in self._forced_by_key.items() if now - t < self._key_window}
        self._forced_by_key[key] = now
        self._forced_recent.append(now)
        return True

    def _ensure(self, force_key: str | None) -> None:
        with self._lock:
            now = self._clock()
            expired = self._loaded_at is None or now - self._loaded_at >= self._cache_seconds
            if expired or (force_key is not None and self._may_force(force_key, now)):
                self._load()

    def get(self, name: str, *, force_refresh: bool = False) -> UserRecord | None:
        """The user `name`; `force_refresh` re-reads the pool first (subject to the limits above)."""
        self._ensure(name if force_refresh else None)
        return self._by_name.get(name)

    def by_distinguished_name(
        self, dn: str, matches: Callable[[str, tuple[str, ...]], bool]
    ) -> UserRecord | None:
        """The x509 user whose PASSWORD lists `dn` (compared by `matches`); one forced refresh on a miss."""
        for force in (None, dn):
            for user in self.all(force_refresh=force):
                if matches(dn, user.distinguished_names):
                    return user
        return None

    def all(self, *, force_refresh: str | None = None) -> list[UserRecord]:
        """Every user; `force_refresh=<key>` re-reads the pool first, rate-limited per that key."""
        self._ensure(force_refresh)
        return list(self._by_name.values())
