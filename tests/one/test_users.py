"""The user directory: recorded user pool documents, who may sign, and the bounded cache."""

from __future__ import annotations

from pathlib import Path

from one_drivers.one.records import UserRecord, parse_pool
from one_drivers.one.users import UserDirectory


def test_recorded_userpool_parses(real_dir: Path) -> None:
    users = {u.name: u for u in parse_pool(UserRecord, (real_dir / "userpool_info.xml").read_text())}
    assert set(users) == {"oneadmin", "serveradmin"}
    assert users["oneadmin"].auth_driver == "core" and users["oneadmin"].id == 0
    assert users["oneadmin"].signing_secret == "REDACTED"
    # server_cipher users hold no shareable secret: they can never sign EC2 requests.
    assert users["serveradmin"].signing_secret is None


def test_recorded_server_cipher_user_info_parses(real_dir: Path) -> None:
    text = (real_dir / "server_cipher_as_bob_userinfo.xml").read_text()
    (bob,) = parse_pool(UserRecord, f"<USER_POOL>{text}</USER_POOL>")
    assert (bob.id, bob.name, bob.auth_driver, bob.enabled) == (2, "bob", "core", True)


def _pool(*users: tuple[int, str, str, str, int]) -> str:
    body = "".join(
        f"<USER><ID>{i}</ID><NAME>{n}</NAME><PASSWORD><![CDATA[{p}]]></PASSWORD>"
        f"<AUTH_DRIVER><![CDATA[{d}]]></AUTH_DRIVER><ENABLED>{e}</ENABLED></USER>"
        for i, n, d, p, e in users
    )
    return f"<USER_POOL>{body}</USER_POOL>"


def test_signing_drivers_and_x509_dns() -> None:
    users = {
        u.name: u
        for u in parse_pool(
            UserRecord,
            _pool(
                (2, "core", "core", "abc", 1),
                (3, "pub", "public", "plain", 1),
                (4, "off", "core", "abc", 0),
                (5, "ldap", "ldap", "x", 1),
                (6, "cert", "x509", "/C=ES/CN=a|/C=ES/CN=b\\20c", 1),
            ),
        )
    }
    assert users["core"].signing_secret == "abc"
    assert users["pub"].signing_secret == "plain"
    assert users["off"].signing_secret is None
    assert users["ldap"].signing_secret is None
    assert users["cert"].signing_secret is None
    assert users["cert"].distinguished_names == ("/C=ES/CN=a", "/C=ES/CN=b\\20c")
    assert users["core"].distinguished_names == ()


class FakeAdmin:
    """Implements the one gateway method the directory uses; counts pool fetches."""

    def __init__(self) -> None:
        self.pool = _pool((2, "alice", "core", "s1", 1))
        self.fetches = 0

    def userpool_info(self) -> list[UserRecord]:
        self.fetches += 1
        return parse_pool(UserRecord, self.pool)


def test_cache_expiry_and_forced_refresh_limits() -> None:
    now = [100.0]
    admin = FakeAdmin()
    directory = UserDirectory(admin, 60, key_window=5, max_forced_per_second=3, clock=lambda: now[0])  # type: ignore[arg-type]
    assert directory.get("alice") is not None and admin.fetches == 1
    assert directory.get("alice") is not None and admin.fetches == 1
    admin.pool = _pool((2, "alice", "core", "s2", 1), (3, "newbie", "core", "n", 1))
    # A brand-new user forces a refresh at once, right after a load.
    assert directory.get("newbie", force_refresh=True) is not None and admin.fetches == 2
    # The same key cannot force again within its window...
    assert directory.get("ghost", force_refresh=True) is None and admin.fetches == 3
    assert directory.get("ghost", force_refresh=True) is None and admin.fetches == 3
    # ...and all keys together are capped per second.
    assert directory.get("ghost2", force_refresh=True) is None and admin.fetches == 4
    assert directory.get("ghost3", force_refresh=True) is None and admin.fetches == 4
    now[0] += 1.0
    assert directory.get("ghost3", force_refresh=True) is None and admin.fetches == 5
    now[0] += 5.0
    assert directory.get("ghost", force_refresh=True) is None and admin.fetches == 6
    admin.pool = _pool((2, "alice", "core", "s3", 1))
    now[0] += 59.9  # the last load was at t=106
    assert directory.get("alice").password == "s2"  # type: ignore[union-attr]
    now[0] += 0.2
    assert directory.get("alice").password == "s3"  # type: ignore[union-attr]
