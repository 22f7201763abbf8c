"""The simulator over real XML-RPC: auth files, authentication forms, faults, users and permissions."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest

from one_drivers.one.cipher import KEY_DERIVED_IV, ZERO_IV, ServerCipher
from one_drivers.one.gateway import (
    OneAuthenticationError,
    OneAuthorizationError,
    OneFault,
    OneGateway,
    OneNotFoundError,
)
from one_drivers.sim import auth
from one_drivers.sim.server import Simulator
from tests.conftest import free_port

AUTH_FAIL = "User couldn't be authenticated, aborting call."


def test_auth_files_and_version(sim: Simulator, admin: OneGateway) -> None:
    assert (sim.auth_dir / "one_auth").read_text().strip() == sim.oneadmin_auth
    assert (sim.auth_dir / "sunstone_auth").read_text().strip() == sim.serveradmin_auth
    assert sim.endpoint.startswith("http://127.0.0.1:") and sim.endpoint.endswith("/RPC2")
    assert admin.call("one.system.version") == "6.10.5"
    assert (
        OneGateway.from_env(sim.endpoint, str(sim.auth_dir / "one_auth")).call("one.system.version")
        == "6.10.5"
    )


@pytest.mark.parametrize("session", ["oneadmin:wrong", "nosuchuser:x", "nocolon"])
def test_authentication_failures_are_256(raw: Any, session: str) -> None:
    assert raw.one.vm.info(session, 0, False) == [False, f"[one.vm.info] {AUTH_FAIL}", 256, -1, -1]


def test_faults(raw: Any, sim: Simulator) -> None:
    with pytest.raises(xmlrpc.client.Fault) as exc:
        raw.one.vm.nosuchmethod(sim.oneadmin_auth, 0)
    assert exc.value.faultCode == -506 and exc.value.faultString == "Method 'one.vm.nosuchmethod' not defined"
    # xmlrpc-c's paramList getters name the type they wanted, "a string" with its article
    for args, wanted in (
        (("zero", False), "integer"),
        ((0, "no"), "boolean"),
    ):
        with pytest.raises(xmlrpc.client.Fault) as exc:
            raw.one.vm.info(sim.oneadmin_auth, *args)
        assert (exc.value.faultCode, exc.value.faultString) == (
            -501,
            f"Parameter that is supposed to be {wanted} is not",
        )
    with pytest.raises(xmlrpc.client.Fault) as exc:
        raw.one.vm.rename(sim.oneadmin_auth, 0, 7)
    assert (exc.value.faultCode, exc.value.faultString) == (
        -501,
        "Parameter that is supposed to be a string is not",
    )
    with pytest.raises(xmlrpc.client.Fault) as exc:
        raw.one.vm.info(sim.oneadmin_auth)
    assert exc.value.faultString == "Not enough parameters"


def test_gateway_maps_errors(admin: OneGateway, sim: Simulator) -> None:
    with pytest.raises(OneNotFoundError) as exc:
        admin.document("one.vm.info", 9999, False)
    assert exc.value.object_id == 9999
    with pytest.raises(OneFault):
        admin.call("one.nothing.here")
    with pytest.raises(OneAuthenticationError):
        OneGateway(sim.endpoint, "oneadmin:bad").document("one.vm.info", 0, False)


def test_server_cipher_token_acts_for_user(sim: Simulator, admin: OneGateway, raw: Any) -> None:
    uid = admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    token_session = sim.login_token("bob")
    doc = OneGateway(sim.endpoint, token_session).call("one.user.info", -1)
    assert f"<ID>{uid}</ID>" in doc and "<NAME>bob</NAME>" in doc and "<GNAME>users</GNAME>" in doc
    # the base64 may carry newlines (Ruby's Base64.encode64 does)
    user, target, token = token_session.split(":", 2)
    folded = token[:20] + "\n" + token[20:] + "\n"
    assert raw.one.user.info(f"{user}:{target}:{folded}", -1)[0] is True


def test_server_cipher_bad_and_expired_tokens(sim: Simulator, admin: OneGateway, raw: Any) -> None:
    admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    assert raw.one.user.info("serveradmin:bob:Zm9vYmFy", -1)[:3] == [
        False,
        f"[one.user.info] {AUTH_FAIL}",
        256,
    ]
    expired = sim.login_token("bob", valid=-10)
    assert raw.one.user.info(expired, -1)[2] == 256
    # oned's server_cipher driver checks the server user and the expiry only, not the target named in
    # the token (authenticate_server passes it the bare token): alice's token serves for bob too.
    admin.call("one.user.allocate", "alice", "x", "core", [])
    alice = sim.login_token("alice").split(":", 2)[2]
    assert raw.one.user.info(f"serveradmin:bob:{alice}", -1)[0] is True


def test_server_token_checks_as_the_driver() -> None:
    stored = auth.hash_password("secret")
    good = auth.make_login_token("serveradmin", stored, "bob").split(":", 2)[2]
    assert auth.server_token_error(KEY_DERIVED_IV, "serveradmin", stored, good) is None
    assert auth.server_token_error(ZERO_IV, "serveradmin", stored, good) == "User name missmatch"
    assert auth.server_token_error(KEY_DERIVED_IV, "other", stored, good) == "User name missmatch"
    assert auth.server_token_error(KEY_DERIVED_IV, "serveradmin", stored, good, now=2**40) == (
        "login token expired"
    )
    assert auth.server_token_error(KEY_DERIVED_IV, "serveradmin", stored, "not base64!") == "bad decrypt"


def test_core_and_public_users(sim: Simulator, admin: OneGateway) -> None:
    admin.call("one.user.allocate", "carol", "pw1", "core", [])
    pub = admin.call("one.user.allocate", "pubby", "plain", "public", [])
    assert OneGateway(sim.endpoint, "carol:pw1").call("one.user.info", -1)
    assert OneGateway(sim.endpoint, "pubby:plain").call("one.user.info", -1)
    pool = admin.call("one.userpool.info")
    # the stored secret: SHA256 hex for core users, as is for public ones (econe signs with it)
    assert f"<PASSWORD><![CDATA[{auth.hash_password('pw1')}]]></PASSWORD>" in pool
    assert "<PASSWORD><![CDATA[plain]]></PASSWORD>" in pool
    admin.call("one.user.passwd", pub, "changed")
    assert OneGateway(sim.endpoint, "pubby:changed").call("one.user.info", -1)
    with pytest.raises(OneAuthenticationError):
        OneGateway(sim.endpoint, "pubby:plain").call("one.user.info", -1)


def test_userpool_newest_first_and_non_admin_view(sim: Simulator, admin: OneGateway) -> None:
    admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    pool = admin.call("one.userpool.info")
    assert (
        pool.index("<NAME>bob</NAME>")
        < pool.index("<NAME>serveradmin</NAME>")
        < pool.index("<NAME>oneadmin</NAME>")
    )
    bob = OneGateway(sim.endpoint, "bob:bobpass")
    assert "<NAME>oneadmin</NAME>" not in bob.call("one.userpool.info")
    with pytest.raises(OneAuthorizationError):
        bob.call("one.user.info", 0)


def test_duplicate_user_and_unknown_group(admin: OneGateway) -> None:
    admin.call("one.user.allocate", "bob", "x", "core", [])
    with pytest.raises(Exception, match="NAME is already taken by USER"):
        admin.call("one.user.allocate", "bob", "x", "core", [])


def test_command_line_entry_point(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "one_drivers.sim", "--port", str(port), "--auth-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert f"127.0.0.1:{port}/RPC2" in line
        session = (tmp_path / "one_auth").read_text().strip()
        assert OneGateway(f"http://127.0.0.1:{port}/RPC2", session).call("one.system.version") == "6.10.5"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_state_file_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with Simulator(auth_dir=tmp_path / "a", state_file=state) as s1:
        gw = OneGateway(s1.endpoint, s1.oneadmin_auth)
        gw.call("one.template.allocate", 'NAME="kept"\nCPU=1\nMEMORY=64')
        s1.bulk_vms(3)
        session = s1.oneadmin_auth
    with Simulator(auth_dir=tmp_path / "a", state_file=state) as s2:
        assert s2.oneadmin_auth == session
        gw = OneGateway(s2.endpoint, s2.oneadmin_auth)
        assert "<NAME>kept</NAME>" in gw.call("one.template.info", 0)
        assert gw.document("one.vmpool.info", -2, -1, -1, -1).count("<VM>") == 3
        assert gw.call("one.template.allocate", 'NAME="next"\nCPU=1\nMEMORY=64') == 1


def test_http_get_is_rejected(sim: Simulator) -> None:
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(sim.endpoint, timeout=5)


def test_concurrent_requests(sim: Simulator, admin: OneGateway) -> None:
    import concurrent.futures

    sim.bulk_vms(50)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        docs = list(
            pool.map(
                lambda _: OneGateway(sim.endpoint, sim.oneadmin_auth).document(
                    "one.vmpool.info", -2, -1, -1, -1
                ),
                range(16),
            )
        )
    assert all(d.count("<VM>") == 50 for d in docs)
    time.sleep(0)


def test_no_shortcuts_in_authentication(sim: Simulator, admin: OneGateway, raw: Any) -> None:
    admin.call("one.user.allocate", "dave", "pw", "core", [])
    # the stored hash is not a password, and serveradmin logs in only with tokens (as oned's drivers do)
    assert raw.one.user.info(f"dave:{auth.hash_password('pw')}", -1)[2] == 256
    assert raw.one.user.info(sim.serveradmin_auth, -1)[2] == 256
    assert raw.one.user.info(sim.login_token("serveradmin"), -1)[0] is True
    admin.call("one.user.chauth", 2, "ldap", "")
    assert raw.one.user.info("dave:pw", -1)[2] == 256


def test_host_decrypt_needs_admin(sim: Simulator, admin: OneGateway) -> None:
    hid = admin.call("one.host.allocate", "ec2host", "dummy", "dummy", -1)
    admin.call("one.host.update", hid, 'EC2_ACCESS="AKIA"\nEC2_SECRET="s3cr3t"', 1)
    plain = admin.document("one.host.info", hid, True)
    assert "<EC2_SECRET><![CDATA[s3cr3t]]></EC2_SECRET>" in plain
    hidden = admin.document("one.host.info", hid, False)
    assert "s3cr3t" not in hidden and "<EC2_SECRET><![CDATA[" in hidden
    uid = admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    with pytest.raises(
        OneAuthorizationError, match=rf"User \[{uid}\] : Not authorized to perform ADMIN HOST \[{hid}\]"
    ):
        OneGateway(sim.endpoint, "bob:bobpass").document("one.host.info", hid, True)


def test_state_file_keeps_vm_documents(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with Simulator(auth_dir=tmp_path / "a", state_file=state) as s1:
        gw = OneGateway(s1.endpoint, s1.oneadmin_auth)
        gw.call("one.host.allocate", "h", "dummy", "dummy", -1)
        vm = gw.call("one.vm.allocate", 'NAME="kept"\nCPU=1\nMEMORY=64\nLABELS="x"', False)
        s1.schedule()
        gw.call("one.vm.action", "poweroff", vm)
        before = (
            gw.document("one.vm.info", vm, False),
            gw.document("one.vmpool.info", -2, -1, -1, -1),
            gw.document("one.vmpool.infoextended", -2, -1, -1, -1),
        )
    with Simulator(auth_dir=tmp_path / "a", state_file=state) as s2:
        gw = OneGateway(s2.endpoint, s2.oneadmin_auth)
        assert (
            gw.document("one.vm.info", vm, False),
            gw.document("one.vmpool.info", -2, -1, -1, -1),
            gw.document("one.vmpool.infoextended", -2, -1, -1, -1),
        ) == before
        gw.call("one.vm.action", "resume", vm)
        assert "<STATE>3</STATE><LCM_STATE>3</LCM_STATE>" in gw.document("one.vm.info", vm, False)
        assert s2.vm_log(vm)[-2:] == ["New LCM state is BOOT_POWEROFF", "New LCM state is RUNNING"]


def test_a_zero_iv_token_is_refused_as_the_recorded_oned_refused_it(sim: Simulator, real_dir: Path) -> None:
    # On the real 6.10.5 a server_cipher token made with a zero IV (econe's before 6.2) was refused; the
    # recorded answer, byte for byte, is what the simulator gives, and its log says what oned.log said.
    OneGateway(sim.endpoint, sim.oneadmin_auth).user_allocate("bob", "bobpass", "core", (1,))
    stored = sim.cloud.users[1].password
    token = ServerCipher("serveradmin", stored, ZERO_IV).session_for("bob", 2**31)
    request = (real_dir / "error_server_cipher_bad_token.request.xml").read_text()
    body = request.replace("serveradmin:bob:<aes-256-cbc token, base64>", token)
    assert body != request  # the recorded request's redacted token was replaced
    answer = urllib.request.urlopen(urllib.request.Request(sim.endpoint, body.encode()), timeout=10).read()
    assert answer == (real_dir / "error_server_cipher_bad_token.response.xml").read_bytes()
    assert list(sim.cloud.auth_log) == ["Auth Error: User name missmatch"]
