"""The remotes `one-ec2 install` places run under oned's environment even when the `python3` on its PATH
cannot import one_drivers (the package in a virtualenv, as Debian 12 / Ubuntu 24.04 require), and they
write their failures in the form of the line whose remotes/VERSION sits next to them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from one_drivers.admin.cli import main
from one_drivers.admin.install import SHIPPED
from tests.admin.test_install import make_tree
from tests.mad.exec_parsers import lines_rule, markers_rule

# oned's PATH on a Debian host: the system python3, which has no one_drivers.
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def plain_env(tmp_path: Path) -> dict[str, str]:
    env = {
        "PATH": PLAIN_PATH,
        "HOME": str(tmp_path),
        "LANG": "C",
        "ONE_AUTH": str(tmp_path / "no_auth"),
        "ONE_EC2_LOG": str(tmp_path / "remote.log"),
        "ONE_EC2_PID_DIR": str(tmp_path),
    }
    probe = subprocess.run(
        ["sh", "-c", "python3 -c 'import one_drivers'"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode != 0, (
        "the plain python3 of this machine imports one_drivers: the test proves nothing"
    )
    return env


def installed(tmp_path: Path, line: str) -> Path:
    root = make_tree(tmp_path, line)
    done = CliRunner().invoke(main, ["install", "--one-location", str(root)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return root / "var" / "remotes"


def run(
    script: Path, args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,
        timeout=60,
    )


def test_vmm_scripts_run_and_speak_the_form_of_their_line(tmp_path: Path, plain_env: dict[str, str]) -> None:
    for line, rule in (("5.10", markers_rule), ("7.0", lambda text: lines_rule(text).message)):
        remotes = installed(tmp_path / line, line)
        done = run(remotes / "vmm" / "ec2" / "attach_disk", ["i-1", "ec2-host", "7", "ec2-host"], plain_env)
        assert done.returncode == 1, done.stderr
        assert "ModuleNotFoundError" not in done.stderr
        assert rule(done.stderr) == "attach_disk is not supported by the ec2 driver", done.stderr
        assert ("ERROR MESSAGE" in done.stderr) is (
            line == "5.10"
        )  # 5.10's remotes/VERSION picked the markers
        bad = run(remotes / "vmm" / "ec2" / "poll", ["7"], plain_env)
        assert rule(bad.stderr).startswith("poll: expected '<params...> <vm_id> <host>'"), bad.stderr


def test_the_monitord_client_starts_its_python(tmp_path: Path, plain_env: dict[str, str]) -> None:
    remotes = installed(tmp_path, "6.10")
    args = ["ec2", "/var/lib/one//datastores", "4124", "7", "ec2-host"]
    done = run(
        remotes / "im" / "ec2.d" / "monitord-client_control.sh", args, plain_env, stdin="%%% not base64"
    )
    # It got as far as one_drivers' own check of stdin: the interpreter could import the package.
    assert done.returncode == 1 and "ModuleNotFoundError" not in done.stderr
    (message,) = done.stderr.strip().splitlines()  # 6.10 shows all of it: one line, nothing else
    assert message.startswith("ec2 monitoring of ec2-host cannot start:")
    assert "stdin is neither XML nor base64" in message
    poll = run(remotes / "im" / "ec2.d" / "poll", ["stop", *args], plain_env)
    assert poll.returncode == 0 and poll.stderr == ""


def test_as_shipped_the_control_script_fails_with_a_plain_python3(
    tmp_path: Path, plain_env: dict[str, str]
) -> None:
    # What oned 6.10.5 ran before the installer wrote the interpreter in: the host went to ERROR.
    ec2_d = tmp_path / "remotes" / "im" / "ec2.d"
    ec2_d.mkdir(parents=True)
    for name in ("monitord-client_control.sh", "monitord-client.py"):
        (ec2_d / name).write_bytes((SHIPPED / "remotes" / "im" / "ec2.d" / name).read_bytes())
    (ec2_d / "monitord-client_control.sh").chmod(0o755)
    args = ["ec2", "ds", "4124", "7", "ec2-host"]
    done = run(ec2_d / "monitord-client_control.sh", args, plain_env, stdin="<MONITOR_CONFIGURATION/>")
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr
