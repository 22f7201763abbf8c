"""econe under concurrent load: requests per second with 1, 4 and 16 clients, on 1 and 2 processes.

Every server runs in its own process(es): the simulator (oned), econe (`econe-server run`, and
`run --processes 2`) and moto's server as the baseline under the same load. Each client is a process
of its own with a kept-alive HTTP connection sending the same presigned SigV2 DescribeInstances (one
instance by id) as fast as it is answered, so the clients' own cost stays out of the servers' figures.
The machine's cores are shared by clients and servers alike: read the ratios, not the absolute rates.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.bench_econe import Process, RawClient, _free_port, presigned_query, simulator_process
from bench.table import print_table
from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator

CLIENTS = (1, 4, 16)
SECONDS = 3.0  # measured per cell, after each client's warm-up requests
WARMUP = 20
VMS = 100


def _client(url: str, query: str, start_at: float, seconds: float) -> tuple[int, int]:
    """One client process: (answers, errors) between start_at and start_at + seconds."""
    client = RawClient(url)
    for _ in range(WARMUP):
        client.get(query)
    time.sleep(max(start_at - time.time(), 0))
    done = errors = 0
    end = start_at + seconds
    while time.time() < end:
        body = client.get(query)
        if b"<Errors>" in body or b"<Error>" in body:
            errors += 1
        else:
            done += 1
    return done, errors


def requests_per_second(url: str, query: str, clients: int) -> tuple[float, int]:
    """Answers per second of `clients` client processes together, and their error count."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(clients, mp_context=context) as pool:
        start_at = time.time() + 1.0 + 0.05 * clients  # every client connected and warm by then
        futures = [pool.submit(_client, url, query, start_at, SECONDS) for _ in range(clients)]
        results = [f.result() for f in futures]
    return sum(r[0] for r in results) / SECONDS, sum(r[1] for r in results)


def _prepare_cloud(tmp: Path) -> str:
    """VMS running VMs of alice in a simulator state file; returns her secret."""
    with Simulator(auth_dir=tmp, port=0, sched_interval=3600, state_file=tmp / "state.db") as sim:
        oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        uid = oneadmin.user_allocate("alice", "alice-pass", "core", (1,))
        host_id = oneadmin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
        sim.bulk_vms(VMS, uid=uid, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host_id)
    return hashlib.sha256(b"alice-pass").hexdigest()


def _econe(tmp: Path, sim_port: int, processes: int) -> tuple[Process, str]:
    port = _free_port()
    config = tmp / f"econe-{processes}.conf"
    config.write_text(
        f":tmpdir: {tmp}\n:one_xmlrpc: http://127.0.0.1:{sim_port}/RPC2\n:host: 127.0.0.1\n"
        f":port: {port}\n:debug_level: 0\n:one_cipher_auth: {tmp / 'sunstone_auth'}\n"
        ":describe_with_terminated_instances: false\n:workers: 16\n"
    )
    argv = [sys.executable, "-m", "one_drivers.econe.cli", "--config", str(config), "run"]
    argv += ["--processes", str(processes)]
    return Process(argv, port, tmp / f"econe-{processes}.log"), f"http://127.0.0.1:{port}"


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        secret = _prepare_cloud(tmp)
        sim_port, moto_port = _free_port(), _free_port()
        servers = [simulator_process(tmp, sim_port)]
        try:
            moto_bin = str(Path(sys.executable).with_name("moto_server"))
            servers.append(
                Process([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)], moto_port, tmp / "moto.log")
            )
            moto_url = f"http://127.0.0.1:{moto_port}"
            moto_id = _moto_instance(moto_url)
            moto_query = f"Action=DescribeInstances&Version=2016-11-15&InstanceId.1={moto_id}"
            rates: dict[tuple[str, int], tuple[float, int]] = {}
            for clients in CLIENTS:
                rates[("moto", clients)] = requests_per_second(moto_url, moto_query, clients)
            for processes in (1, 2):
                econe, url = _econe(tmp, sim_port, processes)
                servers.append(econe)
                host = url.split("//", 1)[1]
                query = presigned_query(
                    {"Action": "DescribeInstances", "InstanceId.1": f"i-{VMS // 2:08d}"},
                    "alice",
                    secret,
                    host,
                )
                for clients in CLIENTS:
                    rates[(f"econe x{processes}", clients)] = requests_per_second(url, query, clients)
                econe.stop()
                servers.remove(econe)
        finally:
            for server in reversed(servers):
                server.stop()
    rows = []
    for clients in CLIENTS:
        one, two, moto = rates[("econe x1", clients)], rates[("econe x2", clients)], rates[("moto", clients)]
        rows.append(
            (
                clients,
                one[0],
                two[0],
                moto[0],
                one[0] / moto[0],
                two[0] / moto[0],
                two[0] / one[0],
                one[1] + two[1] + moto[1],
            )
        )
    print_table(
        f"econe under load: DescribeInstances by id, requests/s over {SECONDS:.0f} s per cell "
        "(client processes with kept-alive connections; econe x2 = run --processes 2 on one port)",
        ["clients", "econe x1 /s", "econe x2 /s", "moto /s", "x1/moto", "x2/moto", "x2/x1", "errors"],
        rows,
    )


def _moto_instance(url: str) -> str:
    import boto3

    ec2 = boto3.client(
        "ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return str(
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    )
