"""The server admin's login against simulated oned of several lines: the token scheme is found from
oned's answers, a refused admin login is told apart from a refused user, an upgrade is followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.one.cipher import KEY_DERIVED_IV, ZERO_IV, ZERO_IV_SHA1, CipherScheme
from one_drivers.one.gateway import OneApiError, OneAuthenticationError, OneGateway, ServerLoginRefused
from one_drivers.sim.server import Simulator


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Any]:
    started: list[Simulator] = []

    def make(version: str) -> Simulator:
        sim = Simulator(auth_dir=tmp_path / f"sim{len(started)}", port=0, one_version=version)
        started.append(sim.start())
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.mark.parametrize(
    ("version", "scheme"), [("6.10.5", KEY_DERIVED_IV), ("6.0.2", ZERO_IV), ("5.8.5", ZERO_IV_SHA1)]
)
def test_login_finds_the_scheme_of_each_line(make_sim: Any, version: str, scheme: CipherScheme) -> None:
    sim = make_sim(version)
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    assert admin.login() == version
    assert admin.cipher is not None and admin.cipher.scheme is scheme
    oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
    oneadmin.user_allocate("alice", "pw", "core", (1,))
    assert "<NAME>alice</NAME>" in admin.for_user("alice").document("one.user.info", -1, False)


def test_the_first_call_logs_in_by_itself(make_sim: Any) -> None:
    sim = make_sim("6.0.2")
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    assert "<NAME>serveradmin</NAME>" in admin.document("one.user.info", -1, False)
    assert admin.one_version == "6.0.2"


def test_6_2_and_later_write_no_ec2_auth(make_sim: Any) -> None:
    new, old = make_sim("6.10.5"), make_sim("6.0.2")
    assert not (new.auth_dir / "ec2_auth").exists()
    assert (new.auth_dir / "sunstone_auth").read_text().strip() == new.serveradmin_auth
    assert (old.auth_dir / "ec2_auth").read_text().strip() == old.serveradmin_auth


def test_a_pinned_scheme_the_oned_refuses_names_the_file(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, scheme=ZERO_IV)
    with pytest.raises(ServerLoginRefused) as refused:
        admin.login()
    assert str(sim.cipher_auth_file) in refused.value.message
    assert "User couldn't be authenticated" in refused.value.message
    assert list(sim.cloud.auth_log) == ["Auth Error: User name missmatch"]


def test_a_wrong_password_is_a_refused_server_login_not_a_user_failure(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim("6.10.5")
    wrong = tmp_path / "ec2_auth"
    wrong.write_text("serveradmin:not-the-password\n")
    admin = OneGateway.server_admin(sim.endpoint, wrong)
    with pytest.raises(ServerLoginRefused) as refused:
        admin.login()
    assert str(wrong) in refused.value.message
    # Every scheme was tried once, and the same refusal comes back for a user's call.
    assert len(sim.cloud.auth_log) == 3
    with pytest.raises(ServerLoginRefused):
        admin.for_user("oneadmin").document("one.user.info", -1, False)


def test_a_refused_user_stays_the_users_failure(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    admin.login()
    with pytest.raises(OneAuthenticationError) as refused:
        admin.for_user("nobody").document("one.user.info", -1, False)
    assert not isinstance(refused.value, ServerLoginRefused)
    assert "User: nobody does not exist. Returned by server auth" in sim.cloud.auth_log


def test_an_oned_upgraded_underneath_is_followed(make_sim: Any) -> None:
    sim = make_sim("6.0.2")
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    admin.login()
    OneGateway(sim.endpoint, sim.oneadmin_auth).user_allocate("alice", "pw", "core", (1,))
    alice = admin.for_user("alice")
    assert "<NAME>alice</NAME>" in alice.document("one.user.info", -1, False)
    # oned restarts as 6.10: new token scheme, empty session cache.
    with sim.cloud.lock:
        sim.cloud.version, sim.cloud.scheme = "6.10.5", KEY_DERIVED_IV
        sim.cloud.sessions.clear()
    assert "<NAME>alice</NAME>" in alice.document("one.user.info", -1, False)
    assert admin.one_version == "6.10.5" and admin.cipher is not None
    assert admin.cipher.scheme is KEY_DERIVED_IV


# --- users' own login tokens: what oned's one-session-per-user cache does to server_cipher tokens ----


def _alice(sim: Simulator) -> OneGateway:
    """alice's own CLI session (a password login, cached by oned as her one session)."""
    OneGateway(sim.endpoint, sim.oneadmin_auth).user_allocate("alice", "pw", "core", (1,))
    return OneGateway(sim.endpoint, "alice:pw")


@pytest.mark.parametrize(("login_tokens", "driver_logins"), [(False, 5), (True, 1)])
def test_the_users_other_logins_evict_server_cipher_tokens_only(
    make_sim: Any, login_tokens: bool, driver_logins: int
) -> None:
    sim = make_sim("6.10.5")
    cli = _alice(sim)
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, user_login_tokens=login_tokens)
    admin.login()
    before = sim.cloud.driver_auths
    for _ in range(5):
        assert "<NAME>alice</NAME>" in admin.for_user("alice").document("one.user.info", -1, False)
        cli.document(
            "one.user.info", -1, False
        )  # alice at the CLI: her password becomes oned's cached session for her
    # Each server_cipher token had to go through the auth driver again; a login token never does
    # (its one driver login was the one.user.login exchange itself).
    assert sim.cloud.driver_auths - before == driver_logins


def test_processes_share_one_login_token_per_user(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    _alice(sim)
    first, second = (
        OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, user_login_tokens=True) for _ in range(2)
    )
    assert first.for_user("alice").session == second.for_user("alice").session
    assert first.for_user("alice").session.startswith("alice:")
    alice = sim.cloud.user_by_name("alice")
    assert alice is not None and len(alice.login_tokens) == 1
    assert "<LOGIN_TOKEN><TOKEN>" in first.for_user("alice").document("one.user.info", -1, False)


def test_a_dropped_login_token_is_replaced_and_a_disabled_user_refused(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    _alice(sim)
    oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, user_login_tokens=True)
    alice = admin.for_user("alice")
    uid = int(alice.document("one.user.info", -1, False).split("<ID>")[1].split("<")[0])
    oneadmin.call("one.user.enable", uid, False)  # drops her login tokens and cached session
    with pytest.raises(OneAuthenticationError) as refused:
        admin.for_user("alice").document("one.user.info", -1, False)
    assert not isinstance(refused.value, ServerLoginRefused)
    oneadmin.call("one.user.enable", uid, True)
    # At once, not when econe's cached token would have expired: a new login token is made.
    assert "<NAME>alice</NAME>" in admin.for_user("alice").document("one.user.info", -1, False)


def test_a_full_token_pool_falls_back_to_server_cipher_tokens(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    cli = _alice(sim)
    for n in range(10):
        cli.call("one.user.login", "alice", f"cli-token-{n}", 3600, -1)
    with pytest.raises(OneApiError, match="Max number of tokens limit reached"):
        cli.call("one.user.login", "alice", "one-more", 3600, -1)
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, user_login_tokens=True)
    view = admin.for_user("alice")
    assert view.session.startswith("serveradmin:alice:")
    assert "<NAME>alice</NAME>" in view.document("one.user.info", -1, False)


def test_the_admin_never_acts_for_itself_with_a_login_token(make_sim: Any) -> None:
    sim = make_sim("6.10.5")
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file, user_login_tokens=True)
    assert "<NAME>serveradmin</NAME>" in admin.document("one.user.info", -1, False)
    assert sim.cloud.users[1].login_tokens == {}
