"""`econe-server` as an administrator runs it: start/status/stop with pid and log files, stale pids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.econe.conftest import EconeEnv

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, **extra: object) -> Path:
    (tmp_path / "ec2_auth").write_text("serveradmin:pw\n")
    lines = {
        ":host:": "127.0.0.1",
        ":port:": free_port(),
        # Nothing listens there: start/stop/status never need oned.
        ":one_xmlrpc:": f"http://127.0.0.1:{free_port()}/RPC2",
        ":one_cipher_auth:": tmp_path / "ec2_auth",
        ":pid_file:": tmp_path / "run" / "econe.pid",
        ":log_file:": tmp_path / "log" / "econe.log",
        ":tmpdir:": tmp_path,
        ":debug_level:": 2,
        **{f":{k}:": v for k, v in extra.items()},
    }
    path = tmp_path / "econe.conf"
    path.write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    return path


def econe_server(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("ONE_CIPHER_AUTH", None)
    return subprocess.run(
        [sys.executable, "-m", "one_drivers.econe.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


def test_start_status_double_start_stop(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    pid_file = tmp_path / "run" / "econe.pid"
    started = econe_server(config, "start")
    assert started.returncode == 0, started.stderr
    try:
        pid = int(pid_file.read_text())
        status = econe_server(config, "status")
        assert status.returncode == 0 and str(pid) in status.stdout
        again = econe_server(config, "start")
        assert again.returncode != 0 and "already running" in again.stderr
        assert int(pid_file.read_text()) == pid
    finally:
        stopped = econe_server(config, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not pid_file.exists()
    status = econe_server(config, "status")
    assert status.returncode == 3
    log = (tmp_path / "log" / "econe.log").read_text()
    assert "econe listening on" in log and "econe stopped" in log


def test_stale_pid_file_is_cleaned(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    pid_file = tmp_path / "run" / "econe.pid"
    pid_file.parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file.write_text(f"{dead.pid}\n")
    status = econe_server(config, "status")
    assert status.returncode == 3 and "stale" in status.stdout
    assert not pid_file.exists()
    pid_file.write_text(f"{dead.pid}\n")
    started = econe_server(config, "start")
    assert started.returncode == 0, started.stderr
    try:
        assert int(pid_file.read_text()) != dead.pid
        restarted = econe_server(config, "restart")
        assert restarted.returncode == 0, restarted.stderr
    finally:
        assert econe_server(config, "stop").returncode == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"use_file_templates": "true"}, "use_file_templates"), ({"core_auth": "x509"}, "core_auth")],
)
def test_refused_config_is_a_clear_start_error(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    config = write_config(tmp_path, **extra)
    result = econe_server(config, "start")
    assert result.returncode != 0 and message in result.stderr
    assert not (tmp_path / "run" / "econe.pid").exists()


def test_stop_when_not_running(tmp_path: Path) -> None:
    result = econe_server(write_config(tmp_path), "stop")
    assert result.returncode == 0 and "not running" in result.stdout


def test_secret_prints_the_current_signing_secret(econe_env: EconeEnv, tmp_path: Path) -> None:
    config = tmp_path / "secret.conf"
    config.write_text(
        f":one_xmlrpc: {econe_env.sim.endpoint}\n:one_cipher_auth: {econe_env.config.one_cipher_auth}\n"
    )
    result = econe_server(config, "secret", "alice")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == econe_env.alice.secret
    # The secret printed is the one boto3 signs with successfully.
    assert econe_env.client().describe_regions()["Regions"]
    for user, message in (("nobody", "no such user"), ("serveradmin", "cannot sign")):
        refused = econe_server(config, "secret", user)
        assert refused.returncode != 0 and message in refused.stderr
