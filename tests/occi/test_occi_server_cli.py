"""`occi-server` as an administrator runs it, with upstream's 2.0 shell-style file: start/status/stop
with pid and log files, a request answered in between, and a refused second start."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def occi_server(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("ONE_CIPHER_AUTH", None)
    return subprocess.run(
        [sys.executable, "-m", "one_drivers.occi.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


def test_start_status_stop_with_a_20_config(tmp_path: Path) -> None:
    from one_drivers.sim.server import Simulator

    with Simulator(auth_dir=tmp_path / "sim", port=0) as sim:
        port = free_port()
        (tmp_path / "occi_templates").mkdir()
        (tmp_path / "occi_templates" / "small.erb").write_text("CPU = 1\nMEMORY = 512\n")
        config = tmp_path / "occi-server.conf"
        config.write_text(
            f"ONE_XMLRPC={sim.endpoint}\nSERVER=127.0.0.1\nPORT={port}\n"
            "VM_TYPE=[NAME=small, TEMPLATE=small.erb]\n"
            f"ONE_CIPHER_AUTH={sim.cipher_auth_file}\n"
            f"PID_FILE={tmp_path / 'run' / 'occi.pid'}\nLOG_FILE={tmp_path / 'log' / 'occi.log'}\n"
            f"TMPDIR={tmp_path}\n"
        )
        started = occi_server(config, "start")
        assert started.returncode == 0, started.stderr + (tmp_path / "log" / "occi.log").read_text()
        try:
            pid = int((tmp_path / "run" / "occi.pid").read_text())
            status = occi_server(config, "status")
            assert status.returncode == 0 and str(pid) in status.stdout
            again = occi_server(config, "start")
            assert again.returncode != 0 and "already running" in again.stderr
            # An unauthenticated request is answered (401) by the daemon.
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/instance_type", timeout=10)
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
            else:
                raise AssertionError("no authentication asked for")
            restarted = occi_server(config, "restart")
            assert restarted.returncode == 0 and "started" in restarted.stdout, restarted.stderr
            assert int((tmp_path / "run" / "occi.pid").read_text()) != pid
        finally:
            stopped = occi_server(config, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        status = occi_server(config, "status")
        assert status.returncode == 3 and "not running" in status.stdout
        assert "occi listening on" in (tmp_path / "log" / "occi.log").read_text()
