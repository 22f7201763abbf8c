"""ec2 VMM driver: action latency through one_vmm_ec2's line protocol vs the same raw boto3 calls, and the
cold start of a remotes script (through the resident driver's socket vs in-process), against one moto
server process started here. Targets: MAD/raw p50 ratio <= 1.05; remotes script <= 300 ms.

Like with like: moto is served with keep-alive (AWS keeps connections open; moto's own server closes
each one, which would hide a connection-reuse difference), the raw client is built by the driver's own
Ec2Clients (same config, user agent, retries), and the three ways take turns in a rotating order."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bench.table import p50, print_table, time_calls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from demo.demo import HOST, VM_ID, vm_action_data  # noqa: E402  (the demo's VM documents)

REAL = ROOT / "tests" / "data" / "opennebula-6.10.5"
# Turns before timing: the figures are a resident driver's steady state, not its first hundred requests.
WARM_TURNS = 100


def recorded_action_data(iid: str) -> str:
    """The recorded 6.10.5 DEPLOY data (~6.6 KB, what oned really sends) re-targeted at the instance."""
    from tests.vmm_ec2.vmdocs import action_data

    return action_data(REAL, vm_id=VM_ID, host=HOST, lcm=3, deploy_id=iid)


# moto's WSGI app behind cheroot, which keeps HTTP/1.1 connections open (werkzeug's server always closes)
MOTO_KEEPALIVE = """
import sys
from cheroot.wsgi import Server
from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
Server(("127.0.0.1", int(sys.argv[1])), DomainDispatcherApplication(create_backend_app), numthreads=8).safe_start()
"""


# The floor of ANY driver living in its own process: the same raw boto3 call made by a bare child that
# oned-style pipes wake per request (the same request line in, one line out; no decoding, no driver code).
# With "read" it first decodes the payload as every driver must to check it (base64 + XML parse, our
# codec's decode_action_data): the floor of a driver that refuses bad input before acting.
BARE_CHILD = """
import os, sys
from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
from one_drivers.ec2.config import load_config
from one_drivers.mad.codec import decode_action_data
config = load_config(sys.argv[1])
def no_oned():
    raise OSError("no oned in the bench")
client, _ = Ec2Clients(config, HostSettingsResolver(config, no_oned)).for_host(sys.argv[2])
iid, read = sys.argv[3], sys.argv[4] == "read"
calls = {b"REBOOT": lambda: client.reboot_instances(InstanceIds=[iid]),
         b"POLL": lambda: client.describe_instances(InstanceIds=[iid])}
reader = os.fdopen(0, "rb")
for line in reader:
    parts = line.split()
    if read:
        decode_action_data(parts[-1].decode())
    calls[parts[0]]()
    os.write(1, b"ok\\n")
"""


class _BareChild:
    def __init__(self, conf: Path, iid: str, env: dict[str, str], read: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", BARE_CHILD, str(conf), HOST, iid, "read" if read else "bare"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin.fileno(), self.proc.stdout

    def ask(self, line: str) -> None:
        os.write(self.stdin, line.encode() + b"\n")
        if self.stdout.readline() != b"ok\n":
            raise RuntimeError("bare child failed")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server did not start on port {port}")


class _Driver:
    """one_vmm_ec2 started as oned starts it; requests written as oned writes them (one write of bytes)."""

    def __init__(self, arguments: str, env: dict[str, str]) -> None:
        exe = Path(sys.executable).with_name("one_vmm_ec2")
        self.proc = subprocess.Popen(
            [str(exe), arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin.fileno()
        self.stdout: IO[bytes] = self.proc.stdout

    def ask(self, line: str) -> str:
        os.write(self.stdin, line.encode() + b"\n")
        while True:
            reply = self.stdout.readline().decode().rstrip("\n")
            if not reply.startswith("LOG "):
                return reply

    def close(self) -> None:
        os.write(self.stdin, b"FINALIZE\n")
        self.proc.wait(15)


def _line(action: str, xml: str) -> str:
    return f"{action}  {VM_ID} {base64.b64encode(xml.encode()).decode()}"


def run(repeat: int = 300) -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = _free_port()
    # moto in its own process: the raw client and one_vmm_ec2 then both reach EC2 across processes,
    # as they would reach AWS (an in-process server would favour the raw side with thread hand-offs).
    moto = subprocess.Popen(
        [sys.executable, "-c", MOTO_KEEPALIVE, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_PORT": str(port)},
    )
    _wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench_vmm_"))
    driver: _Driver | None = None
    child: _BareChild | None = None
    reader: _BareChild | None = None
    try:
        conf = work / "ec2_driver.conf"
        conf.write_text(f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {endpoint}\n")
        (work / "none.default").write_text("<TEMPLATE/>")
        sock = work / "vmm.sock"
        env = {
            **os.environ,
            "ONE_AUTH": str(work / "no_auth"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        driver = _Driver(
            f"-t 15 --config {conf} --defaults {work}/none.default --log-file {work}/vmm.log "
            f"--socket {sock} --poll-interval 0.05",
            env,
        )
        assert driver.ask("INIT").startswith("INIT SUCCESS")
        iid = driver.ask(_line("DEPLOY", vm_action_data(lcm=2))).split()[3]
        document = recorded_action_data(iid)
        reboot = _line("REBOOT", document)
        poll = _line("POLL", document)
        from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
        from one_drivers.ec2.config import load_config
        from one_drivers.mad.codec import decode_action_data
        from one_drivers.vmm_ec2.actions import Ec2Vmm, PlainControl, VmRequest

        config = load_config(conf)

        def no_oned() -> Any:
            raise OSError("no oned in the bench")

        local = Ec2Vmm(Ec2Clients(config, HostSettingsResolver(config, no_oned)))
        # the raw baseline: the same calls through a client built exactly as the driver builds its own
        raw, _ = Ec2Clients(config, HostSettingsResolver(config, no_oned)).for_host(HOST)
        child = _BareChild(conf, iid, env)
        reader = _BareChild(conf, iid, env, read=True)
        rows: list[list[Any]] = []
        for name, line, call in (
            ("REBOOT", reboot, lambda: raw.reboot_instances(InstanceIds=[iid])),
            ("POLL", poll, lambda: raw.describe_instances(InstanceIds=[iid])),
        ):
            payload = line.split()[2]

            def in_process(payload: str = payload, action: str = name) -> None:
                request = VmRequest.from_action_data(decode_action_data(payload), str(VM_ID))
                local.run(action, request, PlainControl())

            def pair(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
                """p50 of each, taking single-call turns in alternating order (load hits both alike)."""
                ways: list[tuple[list[float], Callable[[], object]]] = [([], first), ([], second)]
                for _ in range(WARM_TURNS):  # steady state: imports, pools, allocator, moto's caches
                    for _, way in ways:
                        way()
                for turn in range(repeat):
                    for samples, way in ways[turn % 2 :] + ways[: turn % 2]:
                        samples += time_calls(way, 1, warmup=0)
                return p50(ways[0][0]), p50(ways[1][0])

            # Two separate pairings: a third way in the same rotation would run more of this process's
            # code between the driver's turns and leave the driver's caches colder than in service.
            mad, base = pair(lambda line=line: driver.ask(line), call)  # type: ignore[misc]
            inproc, base_inproc = pair(in_process, call)
            # the bare child gets the same request line (and ignores all but the action name)
            bare, base_bare = pair(lambda line=line: child.ask(line), call)  # type: ignore[misc]
            read, base_read = pair(lambda line=line: reader.ask(line), call)  # type: ignore[misc]
            rows.append(
                [
                    name,
                    f"{base * 1000:.2f}",
                    f"{inproc * 1000:.2f}",
                    f"{inproc / base_inproc:.3f}",
                    f"{bare * 1000:.2f}",
                    f"{bare / base_bare:.3f}",
                    f"{read * 1000:.2f}",
                    f"{read / base_read:.3f}",
                    f"{mad * 1000:.2f}",
                    f"{mad / base:.3f}",
                    f"{(mad - base) * 1e6:.0f}",
                    "<= 1.05",
                ]
            )
        echo = p50(time_calls(lambda: driver.ask("INIT"), repeat, warmup=5))
        rows.append(
            ["(pipe echo, INIT)", "-", "-", "-", "-", "-", "-", "-", f"{echo * 1000:.3f}", "-", "-", ""]
        )
        print_table(
            "ec2 VMM: action latency vs the same raw boto3 call (p50 ms, rotating turns, same keep-alive moto server;"
            " 'action code' = decode + Ec2Vmm.run in this process; 'bare child' = the raw call in a 10-line child"
            " process woken over a pipe, the floor of any separate driver; 'reading child' = the same child"
            " decoding the payload first (base64 + XML parse), the floor of a driver that checks its input"
            " before acting; 'MAD' = one_vmm_ec2 over its pipes;"
            " each ratio is against raw boto3 timed in alternation with it; requests carry the recorded"
            f" {len(document):,}-byte VMM_DRIVER_ACTION_DATA)",
            [
                "action",
                "raw boto3",
                "action code",
                "ratio",
                "bare child",
                "ratio",
                "reading child",
                "ratio",
                "via MAD",
                "ratio",
                "MAD-raw us",
                "target",
            ],
            rows,
        )

        script = ROOT / "remotes" / "vmm" / "ec2" / "poll"
        stdin = base64.b64encode(vm_action_data(lcm=3, deploy_id=iid).encode()).decode()
        argv = [str(script), iid, HOST, str(VM_ID), HOST]
        resident_env = {**env, "ONE_VMM_EC2_SOCKET": str(sock)}
        local_env = {**env, "ONE_VMM_EC2_IN_PROCESS": "1", "ONE_EC2_DRIVER_CONF": str(conf)}

        def script_run(run_env: dict[str, str]) -> None:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=run_env, check=False)
            if done.returncode != 0 or not done.stdout.startswith("STATE=a"):
                raise RuntimeError(f"poll script failed: {done.stderr}")

        bare = p50(time_calls(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 10, 1))
        resident = p50(time_calls(lambda: script_run(resident_env), 10, 1))
        fallback = p50(time_calls(lambda: script_run(local_env), 5, 1))
        print_table(
            "ec2 VMM: cold start of remotes/vmm/ec2/poll (p50, ms)",
            ["how", "ms", "vs bare python", "target"],
            [
                ["bare `python -c pass` (baseline)", f"{bare * 1000:.0f}", "1.00", ""],
                [
                    "via resident one_vmm_ec2 socket",
                    f"{resident * 1000:.0f}",
                    f"{resident / bare:.2f}",
                    "<= 300 ms",
                ],
                [
                    "in-process fallback (imports boto3)",
                    f"{fallback * 1000:.0f}",
                    f"{fallback / bare:.2f}",
                    "",
                ],
            ],
        )
        driver.ask(_line("CLEANUP", vm_action_data(state=6, lcm=0, deploy_id=iid)))
    finally:
        for helper in (child, reader):
            if helper is not None:
                helper.close()
        if driver is not None:
            try:
                driver.close()
            except Exception:
                driver.proc.kill()
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        time.sleep(0)


if __name__ == "__main__":
    run()
