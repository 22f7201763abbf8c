"""What a failing remotes/im/ec2.d program leaves as the host's error on each line: its exact stderr, wrapped
the way that line's run_probes / run_monitord_client wraps it, read by that line's exec-driver rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.mad.failure import ERROR_END, ERROR_START, VERSION_ENV
from tests.im_ec2.conftest import Region
from tests.im_ec2.test_main import write_config
from tests.im_ec2.test_remotes import env, run
from tests.mad.exec_parsers import LINES, markers_rule

__all__ = ["env"]  # the fixture, shared with test_remotes.py

ARGS = ["ec2", "/var/lib/one//datastores", "4124", "7", "ec2-host"]


def run_probes_stderr(probe: str, stderr: str) -> str:
    """4.4-5.10 run_probes: the probe's stderr passes through, then its own marker block."""
    return f"{stderr}{ERROR_START}\nError executing {probe}\n{ERROR_END}\n"


def run_monitord_client_stderr(version: str, client: str, stdout: str, stderr: str) -> str:
    """5.12+ run_monitord_client: 5.12 - 6.0.2 capture the client's stdout only (stderr passes through) and
    wrap it in markers; 6.0.3+ capture stdout and stderr together and write them after a prefix."""
    if markers_rule is dict(LINES)[version]:
        return f"{stderr}{ERROR_START}\nError executing {client}: {stdout.strip()}\n{ERROR_END}\n"
    return f"Error executing {client}: {(stdout + stderr).rstrip()}\n"


@pytest.mark.parametrize("version", ["4.4.0", "5.10.0"])
def test_a_failed_poll_is_the_hosts_error(
    version: str, tmp_path: Path, region: Region, env: dict[str, str]
) -> None:
    env = {**env, VERSION_ENV: version}
    env["ONE_EC2_DRIVER_CONF"] = str(write_config(tmp_path, region.endpoint, capacity="qq7.tiny: 1"))
    done = run("poll", ARGS, env)
    assert done.returncode == 1
    shown = markers_rule(run_probes_stderr("poll", done.stderr))
    # Ours, not upstream's bare "Error executing poll".
    assert shown.startswith("ec2 monitoring of ec2-host failed:") and "qq7.tiny" in shown, done.stderr
    assert "\n" not in shown


@pytest.mark.parametrize("version", ["5.12.0", "6.0.2", "6.0.3", "6.10.5", "7.0.0", "7.4.0"])
def test_a_failed_monitord_client_start_is_one_message(version: str, env: dict[str, str]) -> None:
    env = {**env, VERSION_ENV: version}
    done = run("monitord-client_control.sh", ARGS, env, stdin="%%% neither xml nor base64 %%%")
    assert done.returncode == 1 and done.stdout == ""
    wrapped = run_monitord_client_stderr(version, "monitord-client_control.sh", done.stdout, done.stderr)
    shown = dict(LINES)[version](wrapped)
    assert "stdin is neither XML nor base64" in shown, (done.stderr, shown)
    assert "ERROR MESSAGE" not in shown and "Traceback" not in shown and "\n" not in shown
    assert shown.count("ec2 monitoring of ec2-host cannot start") == 1, shown
