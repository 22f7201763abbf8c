"""one_drivers demo: the ec2 VMM driver bursting a VM lifecycle into an embedded EC2 (moto) endpoint.

`run_driver_demo()` starts a ThreadedMotoServer on loopback, starts `one_vmm_ec2` exactly as oned does
(ARGUMENTS as one argv element, line protocol on its pipes, stderr closed) and plays a scripted VM
lifecycle, printing one row per step: action, the driver's reply line, the EC2 instance state, time.
Needs no configuration and no network; runs in a few seconds.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

HOST = "ec2-burst"
VM_ID = 42
STIME = "1795306730"
_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly demo@one"


def vm_action_data(
    *, lcm: int, state: int = 3, deploy_id: str = "", seq: int = 0, top_deploy_id: str | None = None
) -> str:
    """A VMM_DRIVER_ACTION_DATA document shaped like the ones oned 6.10.5 sends (trimmed)."""
    top = deploy_id if top_deploy_id is None else top_deploy_id
    return (
        f"<VMM_DRIVER_ACTION_DATA><HOST>{HOST}</HOST><MIGR_HOST/><DEPLOY_ID>{top}</DEPLOY_ID>"
        f"<LOCAL_DEPLOYMENT_FILE>/var/lib/one/vms/{VM_ID}/deployment.{seq}</LOCAL_DEPLOYMENT_FILE>"
        "<REMOTE_DEPLOYMENT_FILE/><CHECKPOINT_FILE/><TM_COMMAND/><TM_COMMAND_ROLLBACK/><DISK_TARGET_PATH/>"
        f"<VM><ID>{VM_ID}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>"
        f"<NAME>burst-vm</NAME><LAST_POLL>0</LAST_POLL><STATE>{state}</STATE><LCM_STATE>{lcm}</LCM_STATE>"
        f"<PREV_STATE>{state}</PREV_STATE><PREV_LCM_STATE>{lcm}</PREV_LCM_STATE><RESCHED>0</RESCHED>"
        f"<STIME>{STIME}</STIME><ETIME>0</ETIME><DEPLOY_ID>{deploy_id}</DEPLOY_ID><MONITORING></MONITORING>"
        "<TEMPLATE><CONTEXT><ETH0_IP><![CDATA[10.0.0.10]]></ETH0_IP><NETWORK><![CDATA[YES]]></NETWORK>"
        f"<SSH_PUBLIC_KEY><![CDATA[{_SSH_KEY}]]></SSH_PUBLIC_KEY><TARGET><![CDATA[hda]]></TARGET></CONTEXT>"
        "<CPU><![CDATA[1]]></CPU><MEMORY><![CDATA[1024]]></MEMORY><VCPU><![CDATA[1]]></VCPU>"
        f"<VMID><![CDATA[{VM_ID}]]></VMID></TEMPLATE>"
        "<USER_TEMPLATE><PUBLIC_CLOUD><TYPE><![CDATA[ec2]]></TYPE><AMI><![CDATA[ami-12c6146b]]></AMI>"
        "<INSTANCETYPE><![CDATA[t3.micro]]></INSTANCETYPE><KEYPAIR><![CDATA[burst-key]]></KEYPAIR>"
        "<TAGS><![CDATA[team=burst,env=demo]]></TAGS><CLOUD_INIT><![CDATA[yes]]></CLOUD_INIT></PUBLIC_CLOUD>"
        "</USER_TEMPLATE>"
        f"<HISTORY_RECORDS><HISTORY><OID>{VM_ID}</OID><SEQ>{seq}</SEQ><HOSTNAME>{HOST}</HOSTNAME>"
        f"<HID>3</HID><CID>100</CID><VM_MAD><![CDATA[ec2]]></VM_MAD><TM_MAD><![CDATA[dummy]]></TM_MAD>"
        "</HISTORY></HISTORY_RECORDS></VM></VMM_DRIVER_ACTION_DATA>"
    )


def request_line(action: str, xml: str) -> str:
    # oned writes an empty status field: two spaces after the action
    return f"{action}  {VM_ID} {base64.b64encode(xml.encode()).decode()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _driver_command(arguments: str) -> list[str]:
    script = Path(sys.executable).with_name("one_vmm_ec2")
    if script.exists():
        return [str(script), arguments]
    return [sys.executable, "-m", "one_drivers.vmm_ec2.main", arguments]


class _Pipe:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: IO[str] = proc.stdin
        self.stdout: IO[str] = proc.stdout

    def ask(self, line: str) -> str:
        self.stdin.write(line + "\n")
        self.stdin.flush()
        while True:
            reply = self.stdout.readline().rstrip("\n")
            if not reply.startswith("LOG "):
                return reply


def _short(line: str, width: int = 60) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


def _print_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run_driver_demo() -> list[tuple[str, str, str, str, str]]:
    """Play the lifecycle; print and return the rows (step, action, reply, instance state, seconds)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="one_drivers_demo_"))
    rows: list[tuple[str, str, str, str, str]] = []
    proc: subprocess.Popen[str] | None = None
    try:
        conf = work / "ec2_driver.conf"
        conf.write_text(
            "state_wait_timeout_seconds: 30\n"
            f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {endpoint}\n"
        )
        arguments = (
            f"-t 15 -r 0 --config {conf} --defaults {work}/none.default --log-file {work}/one_vmm_ec2.log "
            f"--socket {work}/one_vmm_ec2.sock --poll-interval 0.1"
        )
        (work / "none.default").write_text("<TEMPLATE><PUBLIC_CLOUD/></TEMPLATE>")
        env = {**os.environ, "ONE_AUTH": str(work / "no_one_auth")}  # no oned here: config file only
        proc = subprocess.Popen(
            _driver_command(arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=lambda: os.close(2),  # oned closes the driver's stderr
        )
        pipe = _Pipe(proc)
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
        instance = {"id": ""}

        def ec2_state() -> str:
            if not instance["id"]:
                return "-"
            found = ec2.describe_instances(InstanceIds=[instance["id"]])["Reservations"]
            return str(found[0]["Instances"][0]["State"]["Name"]) if found else "gone"

        def step(label: str, line: str) -> str:
            started = time.perf_counter()
            reply = pipe.ask(line)
            elapsed = time.perf_counter() - started
            action = line.split()[0]
            rows.append((label, action, _short(reply), ec2_state(), f"{elapsed:.2f}"))
            return reply

        step("driver start", "INIT")
        reply = step("deploy (BOOT)", request_line("DEPLOY", vm_action_data(lcm=2)))
        instance["id"] = reply.split()[3]
        rows[-1] = (*rows[-1][:3], ec2_state(), rows[-1][4])
        iid = instance["id"]
        step("poll", request_line("POLL", vm_action_data(lcm=3, deploy_id=iid)))
        step("reboot", request_line("REBOOT", vm_action_data(lcm=3, deploy_id=iid)))
        step("poweroff", request_line("SHUTDOWN", vm_action_data(lcm=18, deploy_id=iid)))
        # 6.10.5 sends the resume DEPLOY with an empty top-level DEPLOY_ID; the id is in VM/DEPLOY_ID
        step(
            "resume (LCM 20)",
            request_line("DEPLOY", vm_action_data(lcm=20, deploy_id=iid, seq=1, top_deploy_id="")),
        )
        step("disk hotplug", request_line("ATTACHDISK", vm_action_data(lcm=17, deploy_id=iid, seq=1)))
        step("terminate --hard", request_line("CANCEL", vm_action_data(lcm=12, deploy_id=iid, seq=1)))
        step(
            "recover --delete", request_line("CLEANUP", vm_action_data(state=6, lcm=0, deploy_id=iid, seq=1))
        )
        proc.stdin.write("FINALIZE\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        code = proc.wait(15)
        rows.append(("driver stop", "FINALIZE", f"(exit {code})", ec2_state(), "-"))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\n== ec2 VMM driver: one VM's lifecycle over the real line protocol (EC2 = embedded moto)")
    _print_rows(("step", "action", "driver reply", "EC2 state", "s"), rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Part 1: the VMM driver alone. Part 2: the whole story (simulated OpenNebula, econe, moto)."""
    args = sys.argv[1:] if argv is None else argv
    run_driver_demo()
    if "--driver-only" in args:
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from story import main as story_main

    return story_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
