"""What the soak and the burst bench share: moto in its own process, the fault proxy, and one_vmm_ec2
driven over its real pipes the way oned drives it (one request line in, replies read by a thread).

    with Endpoint() as ep:                       # moto (cheroot, keep-alive) + FaultProxy in front
        driver = DriverPipe.start(ep.proxy.url, workdir, threads=15)
        driver.send(request_line("DEPLOY", 7, action_data(REAL, vm_id=7)))
        driver.wait_replies(1)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3

from tests.ec2.fault_proxy import FaultProxy

DRIVER = Path(sys.executable).with_name("one_vmm_ec2")
# moto's WSGI app behind cheroot: HTTP/1.1 keep-alive and a thread pool, in a process of its own so
# moto's CPU does not compete with the proxy's and the harness's threads for one GIL. A thin WSGI
# wrapper (moto itself unchanged) measures moto's service time: the wall time during which it was
# serving at least one request (its threads share one GIL, so that is the time its work took), and
# per action the requests and the seconds spent in them; GET /__service_time__ answers them as JSON.
MOTO = """
import io, json, sys, threading, time, urllib.parse
from cheroot.wsgi import Server
from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
moto = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
busy = {"active": 0, "since": 0.0, "seconds": 0.0, "actions": {}}
def timed(environ, start_response):
    if environ.get("PATH_INFO") == "/__service_time__":
        with lock:
            data = json.dumps({"busy": busy["seconds"], "actions": busy["actions"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    action = urllib.parse.parse_qs(body.decode("latin-1")).get("Action", ["?"])[0]
    with lock:
        if busy["active"] == 0:
            busy["since"] = time.perf_counter()
        busy["active"] += 1
    start = time.perf_counter()
    try:
        return list(moto(environ, start_response))
    finally:
        with lock:
            now = time.perf_counter()
            busy["active"] -= 1
            if busy["active"] == 0:
                busy["seconds"] += now - busy["since"]
            count, seconds = busy["actions"].get(action, (0, 0.0))
            busy["actions"][action] = (count + 1, seconds + now - start)
Server(("127.0.0.1", int(sys.argv[1])), timed, numthreads=16).safe_start()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Endpoint:
    """moto in a child process on a free port, and a FaultProxy in front of it."""

    def __init__(self, seed: int = 0) -> None:
        self.port = free_port()
        self.seed = seed
        self.moto: subprocess.Popen[bytes] | None = None
        self.proxy: FaultProxy

    def __enter__(self) -> Endpoint:
        self.moto = subprocess.Popen([sys.executable, "-c", MOTO, str(self.port)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.proxy = FaultProxy(self.url, seed=self.seed)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ec2(self) -> Any:
        """A client straight to moto (no faults), for checking what really exists."""
        return boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=self.url,
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )

    def service_time(self) -> tuple[float, dict[str, tuple[int, float]]]:
        """moto's busy seconds so far, and per action (requests, seconds in them)."""
        with urllib.request.urlopen(f"{self.url}/__service_time__", timeout=30) as answer:
            data = json.load(answer)
        return float(data["busy"]), {k: (int(n), float(t)) for k, (n, t) in data["actions"].items()}

    def instances(self) -> list[dict[str, Any]]:
        found = []
        for page in self.ec2().get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                found.extend(reservation["Instances"])
        return found

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.proxy.close()
        if self.moto is not None:
            self.moto.terminate()
            self.moto.wait(10)


def live_by_vm(instances: list[dict[str, Any]]) -> Counter[str]:
    """Live (not shutting-down/terminated) instances per ONE_ID tag."""
    counts: Counter[str] = Counter()
    for instance in instances:
        if instance["State"]["Name"] in ("shutting-down", "terminated"):
            continue
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        counts[tags.get("ONE_ID", "?")] += 1
    return counts


def write_config(workdir: Path, endpoint: str, *, state_wait: float = 120, max_attempts: int = 5) -> Path:
    conf = workdir / "ec2_driver.conf"
    conf.write_text(
        f"state_wait_timeout_seconds: {state_wait}\nmax_attempts: {max_attempts}\nread_timeout: 10\n"
        f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {endpoint}\n"
        "    access_key_id: a\n    secret_access_key: b\n"
    )
    return conf


class DriverPipe:
    """one_vmm_ec2 started as oned starts it; every reply line is collected by a reader thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[str] = proc.stdin
        self.replies: list[str] = []
        self.logs = 0
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, endpoint: str, workdir: Path, *, threads: int = 15, poll: float = 0.2) -> DriverPipe:
        conf = workdir / "ec2_driver.conf"
        if not conf.exists():
            write_config(workdir, endpoint)
        arguments = (
            f"-t {threads} --config {conf} --log-file {workdir}/vmm.log --no-socket --poll-interval {poll}"
        )
        proc = subprocess.Popen(
            [str(DRIVER), arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "ONE_AUTH": str(workdir / "no_auth")},
        )
        pipe = cls(proc)
        pipe.send("INIT")
        pipe.wait_replies(1, timeout=60)
        return pipe

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            line = line.rstrip("\n")
            with self._cond:
                if line.startswith("LOG "):
                    self.logs += 1
                    continue
                self.replies.append(line)
                self._cond.notify_all()

    def send(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def wait_replies(self, count: int, timeout: float = 600) -> bool:
        """True once `count` reply lines have arrived in all; False at the timeout (a hang)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.replies) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return len(self.replies) >= count
                self._cond.wait(min(left, 1.0))
            return True

    def kill(self) -> None:
        """SIGKILL: the driver dies mid-action, as on an OOM kill or a host crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def finalize(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("FINALIZE")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
