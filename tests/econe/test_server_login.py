"""econe's own login into OpenNebula: refused at start with the file and oned's answer, a later refusal
answered 503 (the server's fault) rather than AuthFailure, the credentials file found on 6.x, older lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from one_drivers.econe.config import EconeConfig
from one_drivers.econe.server import cipher_auth_file
from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator
from tests.conftest import free_port
from tests.econe.conftest import EconeEnv

REPO = Path(__file__).resolve().parents[2]


def econe_server(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ONE_CIPHER_AUTH"}
    return subprocess.run(
        [sys.executable, "-m", "one_drivers.econe.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


@pytest.fixture
def sim(tmp_path: Path) -> Any:
    with Simulator(auth_dir=tmp_path / "one", port=0) as simulator:
        yield simulator


def write_config(tmp_path: Path, sim: Simulator, auth_file: Path) -> Path:
    path = tmp_path / "econe.conf"
    path.write_text(
        f":host: 127.0.0.1\n:port: {free_port()}\n:one_xmlrpc: {sim.endpoint}\n"
        f":one_cipher_auth: {auth_file}\n:pid_file: {tmp_path / 'econe.pid'}\n"
        f":log_file: {tmp_path / 'econe.log'}\n:tmpdir: {tmp_path}\n"
    )
    return path


@pytest.mark.parametrize("command", ["run", "start"])
def test_a_wrong_credentials_file_stops_the_start(tmp_path: Path, sim: Simulator, command: str) -> None:
    wrong = tmp_path / "ec2_auth"
    wrong.write_text("serveradmin:an-old-password\n")
    result = econe_server(write_config(tmp_path, sim, wrong), command)
    assert result.returncode != 0
    assert str(wrong) in result.stderr and "refused the login of server admin 'serveradmin'" in result.stderr
    assert "User couldn't be authenticated" in result.stderr
    assert not (tmp_path / "econe.pid").exists()


def test_a_missing_credentials_file_stops_the_start(tmp_path: Path, sim: Simulator) -> None:
    result = econe_server(write_config(tmp_path, sim, tmp_path / "nowhere"), "run")
    assert result.returncode != 0 and str(tmp_path / "nowhere") in result.stderr


def test_a_login_refused_later_is_503_not_auth_failure(econe_env: EconeEnv) -> None:
    assert econe_env.client("bob").describe_instances()["Reservations"] == []
    # The server admin's password changes behind econe's back (a reinstall, a `oneuser passwd`): bob,
    # whose cached session on oned is econe's token, still works until it expires, as on oned; alice's
    # first request needs a fresh login through the auth driver, which oned now refuses.
    econe_env.oneadmin.user_passwd(1, "changed-elsewhere")
    with pytest.raises(ClientError) as refused:
        econe_env.client("alice").describe_instances()
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["Error"]["Code"] == "Unavailable"
    # Another key: the padding no longer checks out, which oned's driver reports as "bad decrypt".
    assert "Auth Error: bad decrypt" in econe_env.sim.cloud.auth_log


def test_the_refusal_is_logged_with_the_file_and_onds_answer(
    econe_env: EconeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    econe_env.oneadmin.user_passwd(1, "changed-elsewhere")
    with caplog.at_level("ERROR"), pytest.raises(ClientError):
        econe_env.client("alice").describe_instances()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(
        str(econe_env.config.one_cipher_auth) in m and "User couldn't be authenticated" in m for m in errors
    )


def test_a_refused_user_is_still_auth_failure(econe_env: EconeEnv) -> None:
    # Disabled after econe learnt the user pool: oned refuses the user, econe's own login is fine.
    econe_env.oneadmin.call("one.user.enable", econe_env.alice.user_id, False)
    with pytest.raises(ClientError) as refused:
        econe_env.client("alice").describe_instances()
    assert refused.value.response["Error"]["Code"] == "AuthFailure"


def test_6_x_credentials_come_from_sunstone_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import one_drivers.one.gateway as gateway

    monkeypatch.delenv("ONE_CIPHER_AUTH", raising=False)
    monkeypatch.setattr(gateway, "DEFAULT_CIPHER_AUTH_DIR", str(tmp_path))
    (tmp_path / "sunstone_auth").write_text("serveradmin:x\n")
    assert cipher_auth_file(EconeConfig()) == str(tmp_path / "sunstone_auth")
    (tmp_path / "ec2_auth").write_text("serveradmin:y\n")
    assert cipher_auth_file(EconeConfig()) == str(tmp_path / "ec2_auth")
    monkeypatch.setenv("ONE_CIPHER_AUTH", str(tmp_path / "sunstone_auth"))
    assert cipher_auth_file(EconeConfig()) == str(tmp_path / "sunstone_auth")


@pytest.mark.parametrize("version", ["6.0.2", "5.12.0.4"])
def test_econe_on_older_lines(econe_env_factory: Any, version: str) -> None:
    env = econe_env_factory(sim_options={"one_version": version})
    assert env.sim.cloud.version == version
    client = env.client()
    assert client.describe_instances()["Reservations"] == []
    assert env.server.app.admin.one_version == version


def test_econe_on_the_default_6_10_line(econe_env: EconeEnv) -> None:
    assert econe_env.server.app.admin.one_version == "6.10.5"
    admin = OneGateway.server_admin(econe_env.sim.endpoint, econe_env.sim.cipher_auth_file)
    assert admin.login() == "6.10.5"
