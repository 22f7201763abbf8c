"""ec2 VMM driver: action latency through one_vmm_ec2's line protocol vs the same raw boto3 calls, and the
cold start of a remotes script (through the resident driver's socket vs in-process), against one moto
server process started here. Targets: MAD/raw p50 ratio <= 1.05; remotes script <= 300 ms."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bench.table import p50, print_table, time_calls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from demo.demo import HOST, VM_ID, vm_action_data  # noqa: E402  (the demo's VM documents)


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
    def __init__(self, arguments: str, env: dict[str, str]) -> None:
        exe = Path(sys.executable).with_name("one_vmm_ec2")
        self.proc = subprocess.Popen(
            [str(exe), arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[str] = self.proc.stdin
        self.stdout: IO[str] = self.proc.stdout

    def ask(self, line: str) -> str:
        self.stdin.write(line + "\n")
        self.stdin.flush()
        while True:
            reply = self.stdout.readline().rstrip("\n")
            if not reply.startswith("LOG "):
                return reply

    def close(self) -> None:
        self.stdin.write("FINALIZE\n")
        self.stdin.flush()
        self.proc.wait(15)


def _line(action: str, xml: str) -> str:
    return f"{action}  {VM_ID} {base64.b64encode(xml.encode()).decode()}"


def run(repeat: int = 150) -> None:
    import logging

    import boto3
    from botocore.config import Config

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    port = _free_port()
    # moto in its own process: the raw client and one_vmm_ec2 then both reach EC2 across processes,
    # as they would reach AWS (an in-process server would favour the raw side with thread hand-offs).
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench_vmm_"))
    driver: _Driver | None = None
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
        reboot = _line("REBOOT", vm_action_data(lcm=3, deploy_id=iid))
        poll = _line("POLL", vm_action_data(lcm=3, deploy_id=iid))
        # the raw baseline: the same calls with a client configured as the driver's
        raw = boto3.session.Session().client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=endpoint,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=10, read_timeout=60
            ),
        )
        from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
        from one_drivers.ec2.config import load_config
        from one_drivers.mad.codec import decode_action_data
        from one_drivers.vmm_ec2.actions import Ec2Vmm, PlainControl, VmRequest

        config = load_config(conf)

        def no_oned() -> Any:
            raise OSError("no oned in the bench")

        local = Ec2Vmm(Ec2Clients(config, HostSettingsResolver(config, no_oned)))
        rows: list[list[Any]] = []
        for name, line, call in (
            ("REBOOT", reboot, lambda: raw.reboot_instances(InstanceIds=[iid])),
            ("POLL", poll, lambda: raw.describe_instances(InstanceIds=[iid])),
        ):
            # alternate single calls so load from moto and the machine hits both sides alike
            payload = line.split()[2]

            def in_process(payload: str = payload, action: str = name) -> None:
                request = VmRequest.from_action_data(decode_action_data(payload), str(VM_ID))
                local.run(action, request, PlainControl())

            mad_samples: list[float] = []
            raw_samples: list[float] = []
            local_samples: list[float] = []
            for _ in range(5):
                driver.ask(line)
                call()
                in_process()
            for _ in range(repeat):
                mad_samples += time_calls(lambda line=line: driver.ask(line), 1, warmup=0)  # type: ignore[misc]
                raw_samples += time_calls(call, 1, warmup=0)
                local_samples += time_calls(in_process, 1, warmup=0)
            mad, base, inproc = p50(mad_samples), p50(raw_samples), p50(local_samples)
            rows.append(
                [
                    name,
                    f"{base * 1000:.2f}",
                    f"{inproc * 1000:.2f}",
                    f"{inproc / base:.3f}",
                    f"{mad * 1000:.2f}",
                    f"{mad / base:.3f}",
                    "<= 1.05",
                ]
            )
        echo = p50(time_calls(lambda: driver.ask("INIT"), repeat, warmup=5))  # type: ignore[union-attr]
        rows.append(["(pipe echo, INIT)", "-", "-", "-", f"{echo * 1000:.3f}", "-", ""])
        print_table(
            "ec2 VMM: action latency vs the same raw boto3 call (p50 ms, alternating calls, same moto server;"
            " 'action code' = decode + Ec2Vmm.run in this process, 'MAD' = one_vmm_ec2 over its pipes)",
            ["action", "raw boto3", "action code", "ratio", "via MAD", "ratio", "target"],
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
        local = p50(time_calls(lambda: script_run(local_env), 5, 1))
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
                ["in-process fallback (imports boto3)", f"{local * 1000:.0f}", f"{local / bare:.2f}", ""],
            ],
        )
        driver.ask(_line("CLEANUP", vm_action_data(state=6, lcm=0, deploy_id=iid)))
    finally:
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
