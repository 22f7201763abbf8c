"""one_vmm_ec2 started as oned starts it (ARGUMENTS as ONE argv element, stderr closed), fed a VM
lifecycle over its real pipes, against moto on loopback; EC2 is checked after every step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

from one_drivers.mad.codec import parse_reply
from tests.vmm_ec2.vmdocs import action_data, request_line

DRIVER = Path(sys.executable).with_name("one_vmm_ec2")


class Oned:
    """The oned side of the pipe."""

    @classmethod
    def start(cls, arguments: str, tmp_path: Path, **popen: Any) -> Oned:
        """one_vmm_ec2 as oned starts it: execlp(exe, exe, ARGUMENTS), ARGUMENTS as one argv element."""
        proc = subprocess.Popen(
            [str(DRIVER), arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "ONE_AUTH": str(tmp_path / "no_auth")},
            **popen,
        )
        return cls(proc)

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[str] = proc.stdin
        self.stdout: IO[str] = proc.stdout
        self.logs: list[str] = []

    def send(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def reply(self) -> str:
        """The next non-LOG line (LOG lines are kept)."""
        while True:
            line = self.stdout.readline()
            assert line, "driver closed stdout"
            line = line.rstrip("\n")
            if line.startswith("LOG "):
                self.logs.append(line)
                continue
            return line


@pytest.fixture
def driver(tmp_path: Path, moto_endpoint: str) -> Iterator[Oned]:
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        "state_wait_timeout_seconds: 20\nmax_attempts: 2\n"
        f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {moto_endpoint}\n"
    )
    defaults = tmp_path / "ec2_driver.default"
    defaults.write_text("<TEMPLATE><PUBLIC_CLOUD><KEYPAIR>from-defaults</KEYPAIR></PUBLIC_CLOUD></TEMPLATE>")
    arguments = (
        f"-t 4 -r 0 -p --config {conf} --defaults {defaults} --log-file {tmp_path}/vmm.log "
        f"--socket {tmp_path}/vmm.sock --poll-interval 0.05"
    )
    oned = Oned.start(arguments, tmp_path, preexec_fn=lambda: os.close(2))  # oned closes stderr
    proc = oned.proc
    yield oned
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def state(endpoint: str, iid: str) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    found = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return str(found["State"]["Name"])


def test_lifecycle_over_pipes(driver: Oned, moto_endpoint: str, real_dir: Path, tmp_path: Path) -> None:
    def step(action: str, **kw: Any) -> str:
        driver.send(request_line(action, 21, action_data(real_dir, vm_id=21, **kw)))
        return driver.reply()

    driver.send("INIT")
    assert driver.reply() == "INIT SUCCESS - -"
    deployed = parse_reply(step("DEPLOY"))
    assert deployed is not None and deployed.success and deployed.info.startswith("i-")
    iid = deployed.info
    assert state(moto_endpoint, iid) == "running"
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert instance["KeyName"] == "from-defaults"  # ec2_driver.default applied

    poll = step("POLL", lcm=3, deploy_id=iid)
    assert poll.startswith("POLL SUCCESS 21 STATE=a ")
    assert step("REBOOT", lcm=3, deploy_id=iid) == "REBOOT SUCCESS 21 -"
    assert state(moto_endpoint, iid) == "running"
    assert step("SHUTDOWN", lcm=18, deploy_id=iid) == "SHUTDOWN SUCCESS 21 -"
    assert state(moto_endpoint, iid) == "stopped"
    assert step("DEPLOY", lcm=20, vm_deploy_id=iid, seq=1) == f"DEPLOY SUCCESS 21 {iid}"
    assert state(moto_endpoint, iid) == "running"
    assert step("CANCEL", lcm=13, deploy_id=iid, seq=1) == "CANCEL SUCCESS 21 -"
    assert state(moto_endpoint, iid) == "terminated"
    driver.send("DRIVER_CANCEL  21 ")
    assert step("CLEANUP", state=6, lcm=0, deploy_id=iid, seq=1) == "CLEANUP SUCCESS 21 -"
    assert "LOG I 21 Driver command for 21 cancelled" in driver.logs

    # malformed input: each gets a FAILURE for its id, and the driver keeps going
    driver.send("DEPLOY  22 !!!notbase64!!!")
    assert driver.reply().startswith("DEPLOY FAILURE 22 DEPLOY: payload is not valid base64")
    driver.send("DEPLOY  23 PG5vdCB4bWw=")  # "<not xml"
    assert driver.reply().startswith("DEPLOY FAILURE 23 DEPLOY: payload is not well-formed XML")
    driver.send("ATTACHDISK  21 eA==")
    assert driver.reply() == "ATTACHDISK FAILURE 21 ATTACHDISK is not supported by the ec2 driver"
    driver.send("SHUTDOWN  24")
    assert driver.reply() == "SHUTDOWN FAILURE 24 malformed SHUTDOWN message: wrong number of fields"
    no_ami = "<PUBLIC_CLOUD><TYPE>ec2</TYPE></PUBLIC_CLOUD>"
    driver.send(request_line("DEPLOY", 25, action_data(real_dir, vm_id=25, section=no_ami)))
    assert driver.reply().startswith("DEPLOY FAILURE 25 DEPLOY of VM 25: AMI: missing")

    driver.send("FINALIZE")
    assert driver.proc.wait(10) == 0
    log_text = (tmp_path / "vmm.log").read_text()
    assert "one_vmm_ec2 started with 4 worker threads" in log_text


def test_eof_exits_and_bad_config_fails_init(tmp_path: Path) -> None:
    env = {**os.environ, "ONE_AUTH": str(tmp_path / "no_auth")}
    proc = subprocess.run(
        [str(DRIVER), f"--config {tmp_path}/missing.conf --log-file {tmp_path}/x.log"],
        input="INIT\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("INIT FAILURE - driver configuration")
    assert proc.stderr == ""  # oned closed stderr: nothing may go there
    ok = subprocess.run(
        [str(DRIVER), f"--log-file {tmp_path}/y.log --no-socket"],
        input="INIT\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "INIT SUCCESS - -\n", "")


def test_resent_deploy_over_pipes_behind_a_throttling_endpoint(
    tmp_path: Path, moto_endpoint: str, real_dir: Path
) -> None:
    """oned re-sends a DEPLOY (its driver timeout fired) while EC2 throttles: one instance, same id."""
    from tests.ec2.fault_proxy import FaultProxy

    proxy = FaultProxy(moto_endpoint)
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        "state_wait_timeout_seconds: 20\nmax_attempts: 4\n"
        f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {proxy.url}\n"
    )
    proxy.fail("RunInstances", 1, 503, "RequestLimitExceeded")
    proxy.fail("DescribeInstances", 2, 503, "ServiceUnavailable")
    oned = Oned.start(
        f"-t 8 --config {conf} --log-file {tmp_path}/v.log --no-socket --poll-interval 0.05", tmp_path
    )
    proc = oned.proc
    try:
        oned.send("INIT")
        assert oned.reply() == "INIT SUCCESS - -"
        line = request_line("DEPLOY", 40, action_data(real_dir, vm_id=40, seq=2))
        oned.send(line)
        oned.send(line)  # the re-send arrives while the first is still running
        first, second = oned.reply(), oned.reply()
        assert first.startswith("DEPLOY SUCCESS 40 i-") and second == first
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
        reservations = ec2.describe_instances()["Reservations"]
        assert [i["State"]["Name"] for r in reservations for i in r["Instances"]] == ["running"]
        oned.send("FINALIZE")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()


def test_driver_cancel_during_deploy_then_cleanup(tmp_path: Path, moto_endpoint: str, real_dir: Path) -> None:
    """The recorded `recover --delete` sequence while a DEPLOY still waits: DRIVER_CANCEL, CLEANUP."""
    import time

    from tests.ec2.fault_proxy import FaultProxy

    proxy = FaultProxy(moto_endpoint)
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        f"state_wait_timeout_seconds: 30\nregions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {proxy.url}\n"
    )
    oned = Oned.start(
        f"-t 4 --config {conf} --log-file {tmp_path}/v.log --no-socket --poll-interval 0.05", tmp_path
    )
    proc = oned.proc
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    try:
        oned.send("INIT")
        assert oned.reply() == "INIT SUCCESS - -"
        # RunInstances happens at once but its answer is late: the cancel lands while DEPLOY is busy
        proxy.delay["RunInstances"] = 0.8
        oned.send(request_line("DEPLOY", 41, action_data(real_dir, vm_id=41)))
        deadline = time.monotonic() + 10
        while not ec2.describe_instances()["Reservations"] and time.monotonic() < deadline:
            time.sleep(0.05)
        oned.send("DRIVER_CANCEL  41 ")
        oned.send(request_line("CLEANUP", 41, action_data(real_dir, vm_id=41, state=6, lcm=0)))
        assert oned.reply() == "CLEANUP SUCCESS 41 -"  # and no DEPLOY reply before it
        assert oned.logs[0] == "LOG I 41 Driver command for 41 cancelled"
        states = [
            i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
        ]
        assert len(states) == 1 and states[0] in ("shutting-down", "terminated")
        oned.send("FINALIZE")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
