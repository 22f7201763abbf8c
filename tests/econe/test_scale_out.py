"""econe scaled out: two servers on one simulator are one cloud, and `run --processes N` on one port.

The two-server tests run a second EconeServer (its own app, gateway and caches) beside the fixture's;
the process tests run `econe-server run --processes 2` as systemd would, against the same simulator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from one_drivers.econe.server import EconeServer
from one_drivers.one.states import VmState
from tests.conftest import free_port
from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv
from tests.econe.test_metrics import scrape, total

REPO = Path(__file__).resolve().parents[2]


def client_for(env: EconeEnv, endpoint: str) -> Any:
    alice = env.alice
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=env.config.region_name,
        aws_access_key_id=alice.name,
        aws_secret_access_key=alice.secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def live_vm_ids(env: EconeEnv) -> list[int]:
    pool = env.oneadmin.vmpool_info(-2, -1, -1, -1)
    return sorted(vm.id for vm in pool if vm.state is not VmState.DONE)


@pytest.fixture
def two_servers(econe_env: EconeEnv) -> Any:
    second = EconeServer(replace(econe_env.config, port=free_port())).start()
    try:
        yield econe_env, seed(econe_env), second
    finally:
        second.stop()


def test_a_client_alternating_between_two_servers_sees_one_cloud(
    two_servers: tuple[EconeEnv, Seed, EconeServer],
) -> None:
    env, s, second = two_servers
    a, b = client_for(env, env.endpoint), client_for(env, second.url)
    launched = a.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=2, MaxCount=2)
    ids = sorted(i["InstanceId"] for i in launched["Instances"])
    seen = b.describe_instances(InstanceIds=ids)["Reservations"]
    assert [r["ReservationId"] for r in seen] == [launched["ReservationId"]]
    b.create_tags(Resources=[ids[0]], Tags=[{"Key": "Name", "Value": "web"}])
    tagged = a.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]}])["Reservations"]
    assert [i["InstanceId"] for r in tagged for i in r["Instances"]] == [ids[0]]
    b.terminate_instances(InstanceIds=[ids[1]])
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in a.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert states[ids[1]] in ("shutting-down", "terminated") and states[ids[0]] != "terminated"


def race_one_token(env: EconeEnv, s: Seed, endpoints: list[str], token: str) -> None:
    """RunInstances with one ClientToken at every endpoint at once: one answer, one live VM."""
    clients = [client_for(env, url) for url in endpoints]
    barrier = threading.Barrier(len(clients))
    answers: list[Any] = [None] * len(clients)

    def launch(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = clients[index].run_instances(
                ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, ClientToken=token
            )
        except Exception as exc:
            answers[index] = exc

    threads = [threading.Thread(target=launch, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(a, dict) for a in answers), answers
    ids = {tuple(i["InstanceId"] for i in a["Instances"]) for a in answers}
    assert len(ids) == 1 and len({a["ReservationId"] for a in answers}) == 1
    ((instance,),) = ids
    assert live_vm_ids(env) == [int(instance[2:])]  # exactly one VM alive; the losers' are gone


def test_one_token_at_both_servers_at_once_makes_one_run(
    two_servers: tuple[EconeEnv, Seed, EconeServer],
) -> None:
    env, s, second = two_servers
    race_one_token(env, s, [env.endpoint, second.url] * 3, "both-servers")  # three requests at each


# --- processes -------------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def wait_for(check: Any, rounds: int = 300) -> bool:
    """Poll `check` every 0.1 s, at most `rounds` times (a bound, not a timing assertion)."""
    for _ in range(rounds):
        if check():
            return True
        time.sleep(0.1)
    return False


def write_config(env: EconeEnv, tmp_path: Path, **extra: object) -> tuple[Path, int, int]:
    """An econe.conf for the fixture's simulator; (path, port, metrics port)."""
    port, metrics_port = free_port(), free_port()
    config = tmp_path / "econe.conf"
    config.write_text(
        f":one_xmlrpc: {env.sim.endpoint}\n:one_cipher_auth: {env.config.one_cipher_auth}\n"
        f":host: 127.0.0.1\n:port: {port}\n:tmpdir: {tmp_path}\n:debug_level: 2\n"
        f":metrics_port: {metrics_port}\n:workers: 4\n"
        f":pid_file: {tmp_path / 'econe.pid'}\n:log_file: {tmp_path / 'econe.log'}\n"
        + "".join(f":{key}: {value}\n" for key, value in extra.items())
    )
    return config, port, metrics_port


def start_processes(
    env: EconeEnv, tmp_path: Path, processes: int
) -> tuple[subprocess.Popen[bytes], int, int]:
    config, port, metrics_port = write_config(env, tmp_path)
    process_env = dict(os.environ)
    process_env.pop("ONE_CIPHER_AUTH", None)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "one_drivers.econe.cli",
            "--config",
            str(config),
            "run",
            "--processes",
            str(processes),
        ],
        cwd=REPO,
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "econe.log", "wb"),  # noqa: SIM115 — the child keeps it
    )
    return parent, port, metrics_port


def answering(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # an EC2 error answer is an answer
    except OSError:
        return False


@pytest.mark.slow
def test_processes_share_a_port_sum_metrics_and_stop_together(econe_env: EconeEnv, tmp_path: Path) -> None:
    parent, port, metrics_port = start_processes(econe_env, tmp_path, 2)
    try:
        assert wait_for(lambda: len(children_of(parent.pid)) == 2 and answering(port)), (
            tmp_path / "econe.log"
        ).read_text()
        workers = children_of(parent.pid)
        # Both workers listen: each of them holds a socket bound to the port.
        assert wait_for(lambda: all(listens_on(pid, port) for pid in workers))
        ec2 = client_for(econe_env, f"http://127.0.0.1:{port}")
        before = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        for _ in range(20):
            ec2.describe_regions()
        after = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        grew = total(after, "econe_requests_total", action="DescribeRegions", status="200") - total(
            before, "econe_requests_total", action="DescribeRegions", status="200"
        )
        assert grew == 20  # the parent serves the sum over both workers
        # Eight connections at once, which the kernel spreads over the workers: still one VM per token.
        race_one_token(econe_env, seed(econe_env), [f"http://127.0.0.1:{port}"] * 8, "processes")
        # A worker that dies is replaced.
        os.kill(workers[0], signal.SIGKILL)
        assert wait_for(
            lambda: len(children_of(parent.pid)) == 2 and workers[0] not in children_of(parent.pid)
        )
        workers = children_of(parent.pid)
        assert wait_for(lambda: answering(port))
    finally:
        parent.send_signal(signal.SIGTERM)
        code = parent.wait(timeout=60)
    assert code == 0
    assert wait_for(lambda: not any(alive(pid) for pid in workers)), "worker processes left behind"


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(econe_env: EconeEnv, tmp_path: Path) -> None:
    parent, port, _ = start_processes(econe_env, tmp_path, 2)
    try:
        assert wait_for(lambda: len(children_of(parent.pid)) == 2 and answering(port))
        workers = children_of(parent.pid)
    finally:
        parent.kill()
        parent.wait(timeout=60)
    assert wait_for(lambda: not any(alive(pid) for pid in workers)), "orphaned workers"


def listens_on(pid: int, port: int) -> bool:
    """The process holds a listening TCP socket on `port` (from /proc: its fds' inodes in tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port and inode in inodes:
            return True
    return False


@pytest.mark.slow
def test_econe_server_start_and_stop_with_processes(econe_env: EconeEnv, tmp_path: Path) -> None:
    """The daemon commands deal with the parent only; `stop` leaves no worker behind."""
    config, port, _ = write_config(econe_env, tmp_path, processes=2)
    command = [sys.executable, "-m", "one_drivers.econe.cli", "--config", str(config)]
    process_env = {k: v for k, v in os.environ.items() if k != "ONE_CIPHER_AUTH"}
    started = subprocess.run([*command, "start"], capture_output=True, text=True, timeout=60, env=process_env)
    assert started.returncode == 0, started.stderr
    parent = int((tmp_path / "econe.pid").read_text())
    workers: list[int] = []
    try:
        assert wait_for(lambda: len(children_of(parent)) == 2 and answering(port))
        workers = children_of(parent)
    finally:
        stopped = subprocess.run(
            [*command, "stop"], capture_output=True, text=True, timeout=60, env=process_env
        )
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not alive(parent)
    assert wait_for(lambda: not any(alive(pid) for pid in workers)), "worker processes left behind"
