"""remotes/vmm/ec2/<action> run as oned's exec driver runs them: argv with `<vm_id> <host>` appended,
each stdin encoding (empty, base64 with line breaks, strict base64), exit codes and stderr forms;
in-process and through the resident one_vmm_ec2's socket."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from one_drivers.mad.failure import ERROR_END, ERROR_START, VERSION_ENV
from one_drivers.vmm_ec2.request import SUPPORTED_SCRIPTS, UNSUPPORTED_SCRIPTS
from tests.mad.exec_parsers import LINES
from tests.vmm_ec2.vmdocs import action_data

REMOTES = Path(__file__).resolve().parents[2] / "remotes" / "vmm" / "ec2"
VENV_BIN = str(Path(sys.executable).parent)
HOST = "ec2host"


def encode(xml: str, form: str) -> str:
    strict = base64.b64encode(xml.encode()).decode()
    if form == "strict":
        return strict
    if form == "wrapped":  # Ruby's Base64.encode64: 60 columns per line
        return "\n".join(strict[i : i + 60] for i in range(0, len(strict), 60)) + "\n"
    return ""


@pytest.fixture
def env(tmp_path: Path, moto_endpoint: str) -> dict[str, str]:
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        "state_wait_timeout_seconds: 20\nmax_attempts: 2\n"
        f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {moto_endpoint}\n"
    )
    return {
        **os.environ,
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),  # `/usr/bin/env python3` = the venv's
        "ONE_AUTH": str(tmp_path / "no_auth"),
        "ONE_EC2_DRIVER_CONF": str(conf),
        "ONE_EC2_DRIVER_DEFAULT": str(Path(__file__).resolve().parents[2] / "etc" / "ec2_driver.default"),
        "ONE_VMM_EC2_SOCKET": str(tmp_path / "none.sock"),
        "ONE_VMM_EC2_POLL_INTERVAL": "0.05",
    }


def run(action: str, args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REMOTES / action), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def state(endpoint: str, iid: str) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    return str(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"])


def lifecycle(
    env: dict[str, str], endpoint: str, real_dir: Path, tmp_path: Path, form: str, vm_id: int
) -> None:
    data = action_data(real_dir, vm_id=vm_id, host=HOST)
    vm = ET.fromstring(data).find("VM")
    assert vm is not None
    deployment = tmp_path / f"deployment.{vm_id}"
    deployment.write_text(ET.tostring(vm, encoding="unicode"))
    ids = [str(vm_id), HOST]
    done = run("deploy", [str(deployment), HOST, *ids], encode(deployment.read_text(), form), env)
    assert done.returncode == 0, done.stderr
    iid = done.stdout.strip()
    assert iid.startswith("i-") and done.stdout == iid + "\n"  # deploy prints only the id
    assert state(endpoint, iid) == "running"

    def data_for(**kw: object) -> str:
        return encode(action_data(real_dir, vm_id=vm_id, host=HOST, deploy_id=iid, **kw), form)  # type: ignore[arg-type]

    polled = run("poll", [iid, HOST, *ids], data_for(lcm=3), env)
    assert polled.returncode == 0 and polled.stdout.startswith("STATE=a "), polled.stderr
    assert run("reboot", [iid, HOST, *ids], data_for(lcm=3), env).returncode == 0
    if form:  # with the action data the LCM state is known: poweroff stops, save stops, restore starts
        assert run("shutdown", [iid, HOST, *ids], data_for(lcm=18), env).returncode == 0
        assert state(endpoint, iid) == "stopped"
        restored = run("restore", ["/ckpt", HOST, iid, *ids], data_for(lcm=22), env)
        assert restored.returncode == 0 and restored.stdout.strip() == iid
        assert state(endpoint, iid) == "running"
        assert run("save", [iid, "/ckpt", HOST, *ids], data_for(lcm=5), env).returncode == 0
        assert state(endpoint, iid) == "stopped"
        # CLEANUP arrives as `cancel` with the VM DONE: terminate, whatever the instance state
        cleaned = run("cancel", [iid, HOST, *ids], data_for(state=6, lcm=0), env)
        assert cleaned.returncode == 0, cleaned.stderr
    else:  # 4.4-4.14: nothing on stdin, only argv
        assert run("cancel", [iid, HOST, *ids], "", env).returncode == 0
    assert state(endpoint, iid) == "terminated"


@pytest.mark.parametrize("form", ["", "wrapped", "strict"])
def test_scripts_in_process(
    form: str, env: dict[str, str], moto_endpoint: str, real_dir: Path, tmp_path: Path
) -> None:
    lifecycle(env, moto_endpoint, real_dir, tmp_path, form, 31)


@pytest.fixture
def resident(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    sock = tmp_path / "vmm.sock"
    arguments = (
        f"-t 4 --config {env['ONE_EC2_DRIVER_CONF']} --log-file {tmp_path}/vmm.log "
        f"--socket {sock} --poll-interval 0.05"
    )
    proc = subprocess.Popen(
        [str(Path(VENV_BIN) / "one_vmm_ec2"), arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("INIT\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "INIT SUCCESS - -\n"
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    try:
        yield {**env, "ONE_VMM_EC2_SOCKET": str(sock), "ONE_EC2_DRIVER_CONF": str(tmp_path / "unused")}
    finally:
        proc.stdin.write("FINALIZE\n")
        proc.stdin.flush()
        assert proc.wait(10) == 0
        assert not sock.exists()


def test_scripts_through_the_resident_driver(
    resident: dict[str, str], moto_endpoint: str, real_dir: Path, tmp_path: Path
) -> None:
    # ONE_EC2_DRIVER_CONF points nowhere: an in-process fallback would fail, so success proves the socket
    lifecycle(resident, moto_endpoint, real_dir, tmp_path, "strict", 32)


@pytest.mark.parametrize("action", sorted(UNSUPPORTED_SCRIPTS))
def test_unsupported_scripts_exit_1(action: str, env: dict[str, str]) -> None:
    if not (REMOTES / action).exists():
        pytest.fail(f"remotes/vmm/ec2/{action} is missing")
    done = run(action, ["i-1", HOST, "7", HOST], "", {**env, VERSION_ENV: "5.10.0"})
    assert done.returncode == 1 and done.stdout == ""
    message = f"{action} is not supported by the ec2 driver"
    assert done.stderr == f"{ERROR_START}\n{message}\n{ERROR_END}\n"


def test_every_script_exists_and_is_executable() -> None:
    names = {p.name for p in REMOTES.iterdir() if not p.name.startswith(".")}
    assert names == set(SUPPORTED_SCRIPTS) | set(UNSUPPORTED_SCRIPTS)
    for name in names:
        assert os.access(REMOTES / name, os.X_OK), name


@pytest.mark.parametrize(("version", "rule"), LINES, ids=[v for v, _ in LINES])
def test_failures_read_as_one_clean_message_on_each_line(
    version: str, rule: Callable[[str], str], env: dict[str, str], real_dir: Path
) -> None:
    # The exact stderr of the scripts, read by a restatement of that line's exec-driver rule.
    env = {**env, VERSION_ENV: version}
    bad = run("reboot", ["i-1", HOST, "7", HOST], "!!!", env)
    assert bad.returncode == 1
    assert rule(bad.stderr).startswith("reboot: stdin is neither base64 nor XML")
    short = run("poll", ["7"], "", env)
    assert short.returncode == 1
    assert rule(short.stderr).startswith("poll: expected '<params...> <vm_id> <host>', got 1")
    missing = run("poll", ["i-0123456789abcdef0", HOST, "7", HOST], "", env)
    assert missing.returncode == 0 and missing.stdout == "STATE=d\n"
    no_ami = encode(action_data(real_dir, vm_id=9, host=HOST, section=""), "strict")
    failed = run("deploy", ["/nonexistent", HOST, "9", HOST], no_ami, env)
    assert failed.returncode == 1
    assert "PUBLIC_CLOUD" in rule(failed.stderr)
    # One message: nothing of the marker lines or the log lines leaks into it, and it is not doubled.
    for shown in (rule(bad.stderr), rule(short.stderr), rule(failed.stderr)):
        assert "ERROR MESSAGE" not in shown and "INFO:" not in shown and "DEBUG:" not in shown
        assert shown.count(shown[:30]) == 1, shown


@pytest.mark.slow
@pytest.mark.parametrize("version", ["5.10.0", "6.10.5", "7.4.0"])
def test_an_unreachable_endpoint_on_deploy(
    version: str, env: dict[str, str], real_dir: Path, tmp_path: Path
) -> None:
    # The case that reached a 7.4 VM garbled: EndpointConnectionError from DEPLOY through one_vmm_sh.
    conf = tmp_path / "unreachable.conf"
    conf.write_text(
        "max_attempts: 1\nconnect_timeout: 2\n"
        "regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: http://127.0.0.1:9/\n"
        "    access_key_id: AKIAEXAMPLE\n    secret_access_key: secret\n"
    )
    env = {**env, VERSION_ENV: version, "ONE_EC2_DRIVER_CONF": str(conf)}
    data = encode(action_data(real_dir, vm_id=7, host=HOST), "strict")
    done = run("deploy", ["/nonexistent", HOST, "7", HOST], data, env)
    assert done.returncode == 1
    rule = dict(LINES)[version]
    shown = rule(done.stderr)
    assert "EndpointConnectionError" in shown or "Could not connect" in shown, done.stderr
    assert "ERROR MESSAGE" not in shown and shown.count("127.0.0.1:9") == 1, shown


def test_the_socket_path_of_a_script_loads_neither_boto3_nor_lxml() -> None:
    # A script handing its action to the resident driver must start fast (bench: ~60 ms, target 300):
    # what it imports for that path may not pull in boto3 (~250 ms), lxml (~12 ms) or the OpenNebula
    # records (~13 ms of dataclass tables; the bench's socket row grew 78 -> 100 ms when it did).
    heavy = ("boto3", "botocore", "lxml", "lxml.etree", "one_drivers.one.records", "one_drivers.one.gateway")
    code = (
        "import sys\n"
        "import one_drivers.vmm_ec2.remote, one_drivers.vmm_ec2.request, one_drivers.mad.codec\n"
        "from one_drivers.vmm_ec2.request import decode_stdin, split_argv\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_gateway_loads_the_record_tables_on_its_first_info_call_only() -> None:
    # The in-process fallback imports the gateway to read the host's template; the record tables
    # (~13 ms of dataclasses) wait for an info call (bench: the fallback went 387 -> 406 ms with them).
    # The instance-type catalog (~3 ms) is the IM driver's: the VMM actions read no CAPACITY.
    code = (
        "import sys\n"
        "import one_drivers.one.gateway, one_drivers.ec2.clients, one_drivers.vmm_ec2.actions\n"
        "print([m for m in ('one_drivers.one.records', 'one_drivers.ec2.catalog') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
