"""remotes/im/ec2.d run as one_im_sh runs them: the 4.4-5.10 poll probe and the 5.12+ monitord client."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.mad.monitord import parse_monitor_messages
from one_drivers.one.template import parse_template
from tests.im_ec2.conftest import Region
from tests.im_ec2.receiver import MonitordReceiver
from tests.im_ec2.test_main import write_config

ROOT = Path(__file__).resolve().parents[2]
EC2_D = ROOT / "remotes" / "im" / "ec2.d"


@pytest.fixture
def env(tmp_path: Path, region: Region) -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e["ONE_DRIVERS_PYTHON"] = sys.executable
    e["ONE_EC2_DRIVER_CONF"] = str(write_config(tmp_path, region.endpoint))
    e["ONE_EC2_LOG"] = str(tmp_path / "remote.log")
    e["ONE_EC2_PID_DIR"] = str(tmp_path)
    e["ONE_XMLRPC"] = "http://127.0.0.1:9/RPC2"
    e["ONE_AUTH"] = str(tmp_path / "no_auth")
    return e


def run(
    script: str, args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EC2_D / script), *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        cwd=EC2_D,
        timeout=60,
    )


def test_only_the_control_script_and_poll_are_executable() -> None:
    executables = sorted(p.name for p in EC2_D.iterdir() if p.is_file() and os.access(p, os.X_OK))
    assert executables == ["monitord-client_control.sh", "poll"]


def test_poll_prints_a_parseable_host_template(region: Region, env: dict[str, str]) -> None:
    done = run("poll", ["ec2", "/var/lib/one/datastores", "4124", "7", "ec2-host"], env)
    assert done.returncode == 0, done.stderr
    tmpl = parse_template(done.stdout)
    assert tmpl.get("HYPERVISOR") == "ec2" and tmpl.get("VM_POLL") == "YES"
    assert tmpl.get("HOSTNAME") == "ec2-host"
    assert tmpl.get("TOTALCPU") == "2500"
    vms = {v["DEPLOY_ID"]: v for v in tmpl.vectors("VM")}
    assert set(vms) == {region.running, region.small, region.wild}
    assert parse_template(vms[region.running]["POLL"]).get("AWS_KEY_NAME") == "my key"


def test_poll_failure_names_the_type(tmp_path: Path, region: Region, env: dict[str, str]) -> None:
    env["ONE_EC2_DRIVER_CONF"] = str(write_config(tmp_path, region.endpoint, capacity="qq7.tiny: 1"))
    done = run("poll", ["ec2", "ds", "4124", "7", "ec2-host"], env)
    assert done.returncode == 1
    assert "qq7.tiny" in done.stderr and done.stdout == ""


def test_poll_is_silent_in_the_monitord_era(env: dict[str, str]) -> None:
    assert run("poll", ["stop", "ec2", "ds", "4124", "7", "h"], env).stdout == ""
    conf = base64.b64encode(b"<MONITOR_CONFIGURATION/>").decode()
    assert run("poll", ["ec2", "ds", "4124", "7", "h"], env, stdin=conf).stdout == ""


def test_control_script_is_silent_as_an_old_probe(env: dict[str, str]) -> None:
    done = run("monitord-client_control.sh", ["ec2", "ds", "4124", "7", "h"], env)
    assert (done.returncode, done.stdout) == (0, "")


@pytest.fixture
def receiver() -> Iterator[MonitordReceiver]:
    r = MonitordReceiver()
    yield r
    r.close()


def test_monitord_client_start_and_stop(
    tmp_path: Path, env: dict[str, str], receiver: MonitordReceiver
) -> None:
    conf = (
        "<MONITOR_CONFIGURATION><NETWORK><MONITOR_ADDRESS>auto</MONITOR_ADDRESS>"
        f"<PORT>{receiver.port}</PORT><PUBKEY></PUBKEY></NETWORK>"
        "<PROBES_PERIOD><BEACON_HOST>1</BEACON_HOST><MONITOR_HOST>1</MONITOR_HOST><MONITOR_VM>1</MONITOR_VM>"
        "</PROBES_PERIOD><HOST_ID>7</HOST_ID></MONITOR_CONFIGURATION>"
    )
    args = ["ec2", "/var/lib/one//datastores", "4124", "7", "ec2-host"]
    pid_file = tmp_path / "one-im-ec2-monitord-7.pid"
    try:
        done = run("monitord-client_control.sh", args, env, stdin=base64.b64encode(conf.encode()).decode())
        assert done.returncode == 0, done.stderr
        _, messages = parse_monitor_messages(done.stdout)
        assert parse_template(dict(messages)["SYSTEM_HOST"]).get("TOTALCPU") == "2500"
        assert receiver.wait_for(
            lambda fs: {f.type for _, f in fs} >= {"BEACON_HOST", "MONITOR_HOST"}, timeout=20
        )
        assert all(f.host_id == 7 for _, f in receiver.frames)
        for _ in range(50):
            if pid_file.exists():
                break
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        stop = run("monitord-client_control.sh", ["stop", *args], env)
        assert stop.returncode == 0
        assert not pid_file.exists()
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
