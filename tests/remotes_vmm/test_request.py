"""The scripts' argv/stdin contract as pure functions, and the resident socket service's edges."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
from one_drivers.ec2.config import parse_config
from one_drivers.mad.loop import ActionError
from one_drivers.one.states import LcmState
from one_drivers.vmm_ec2.actions import Ec2Vmm
from one_drivers.vmm_ec2.request import (
    SUPPORTED_SCRIPTS,
    decode_stdin,
    request_from_script,
    split_argv,
)
from one_drivers.vmm_ec2.service import SocketService, serve_request
from tests.vmm_ec2.vmdocs import action_data

# spec §3: each script's argv as oned's exec driver builds it, `<vm_id> <host>` appended
ARGV = {
    "deploy": (["/var/lib/one/vms/7/deployment.0", "h", "7", "h"], ""),
    "shutdown": (["i-1", "h", "7", "h"], "i-1"),
    "cancel": (["i-1", "h", "7", "h"], "i-1"),
    "reboot": (["i-1", "h", "7", "h"], "i-1"),
    "reset": (["i-1", "h", "7", "h"], "i-1"),
    "save": (["i-1", "/ckpt", "h", "7", "h"], "i-1"),
    "restore": (["/ckpt", "h", "i-1", "7", "h"], "i-1"),
    "poll": (["i-1", "h", "7", "h"], "i-1"),
}


def test_every_supported_script_has_an_argv_form() -> None:
    assert set(ARGV) == set(SUPPORTED_SCRIPTS)


@pytest.mark.parametrize("action", sorted(ARGV))
def test_split_argv(action: str) -> None:
    argv, deploy_id = ARGV[action]
    assert split_argv(action, argv) == (deploy_id, "7", "h")


def test_split_argv_too_short() -> None:
    with pytest.raises(ActionError):
        split_argv("poll", ["7"])


def test_decode_stdin_forms() -> None:
    xml = "<VM><ID>1</ID></VM>"
    strict = base64.b64encode(xml.encode()).decode()
    assert decode_stdin("") == "" and decode_stdin(" \n") == ""
    assert decode_stdin(strict) == xml
    assert decode_stdin(strict[:8] + "\n" + strict[8:] + "\n") == xml
    assert decode_stdin(xml + "\n") == xml
    with pytest.raises(ActionError):
        decode_stdin("%%%")


def test_request_from_empty_stdin_uses_argv() -> None:
    req = request_from_script("CANCEL", "", vm_id="7", host="h", deploy_id="i-9")
    assert (req.vm_id, req.host, req.deploy_id, req.lcm) == (7, "h", "i-9", LcmState.RUNNING)
    with pytest.raises(ActionError):
        request_from_script("CANCEL", "", vm_id="x<y", host="h", deploy_id="")
    with pytest.raises(ActionError):
        request_from_script("CANCEL", "<VM>", vm_id="7", host="h", deploy_id="")


def test_request_from_recorded_document(real_dir: Path) -> None:
    xml = action_data(real_dir, vm_id=7, lcm=18, deploy_id="i-5", seq=3)
    req = request_from_script("SHUTDOWN", xml, vm_id="7", host="ignored", deploy_id="i-5")
    assert (req.vm_id, req.host, req.lcm, req.seq, req.stime) == (
        7,
        "ec2host",
        LcmState.SHUTDOWN_POWEROFF,
        3,
        "1795306730",
    )


def _vmm(endpoint: str) -> Ec2Vmm:
    cfg = parse_config({"regions": {"default": {"region_name": "us-east-1", "endpoint_url": endpoint}}})

    def no_oned() -> object:
        raise OSError("no oned")

    return Ec2Vmm(Ec2Clients(cfg, HostSettingsResolver(cfg, no_oned)), wait_timeout=5, poll_interval=0.05)  # type: ignore[arg-type]


def test_serve_request_never_raises(moto_endpoint: str) -> None:
    vmm = _vmm(moto_endpoint)
    assert serve_request(vmm, {"action": "POLL", "vm_id": "x"})["ok"] is False
    assert serve_request(vmm, {"action": "MIGRATE", "vm_id": "1", "host": "h", "deploy_id": "i-1"}) == {
        "ok": False,
        "info": "MIGRATE is not supported by the ec2 driver",
        "logs": [],
    }
    polled = serve_request(
        vmm, {"action": "POLL", "vm_id": "1", "host": "h", "deploy_id": "i-0123456789abcdef0"}
    )
    assert polled == {"ok": True, "info": "STATE=d", "logs": []}


def test_socket_service_edges(moto_endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("stale")  # a leftover file is replaced
    service = SocketService(_vmm(moto_endpoint), path)
    try:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        for payload, expect in ((b"not json\n", "bad request"), (b"[1, 2]\n", "bad request")):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
                sock.sendall(payload)
                reply = json.loads(sock.makefile().readline())
            assert reply["ok"] is False and reply["info"].startswith(expect)
    finally:
        service.close()
    assert not path.exists()


def test_recorded_deployment_files(real_dir: Path) -> None:
    """What oned 6.10.5 wrote as deployment.0 for each VM: the `deploy` script's stdin document."""
    from one_drivers.vmm_ec2.section import SectionError, select_section

    files = sorted((real_dir / "vm_files").glob("vm*/deployment.0"))
    assert len(files) == 5
    for path in files:
        vm_id = path.parent.name.removeprefix("vm")
        encoded = base64.b64encode(path.read_bytes()).decode()
        req = request_from_script("DEPLOY", decode_stdin(encoded), vm_id=vm_id, host="ec2host", deploy_id="")
        assert str(req.vm_id) == vm_id and req.host == "ec2host"
        assert req.lcm is LcmState.BOOT and req.deploy_id == "" and req.stime.isdigit()
        with pytest.raises(SectionError) as info:  # the recorded VMs were dummy ones
            select_section(req.data.vm, req.host)
        assert info.value.attribute == "PUBLIC_CLOUD"


class _SlowVmm:
    """Stands in for Ec2Vmm: its action runs until cancelled (or 10 s), remembering its control."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self.started = threading.Event()
        self.controls: list[Any] = []

    def run(self, action: str, request: object, control: Any) -> str:
        self.controls.append(control)
        self.started.set()
        if control.cancelled.wait(self.seconds):
            control.check_cancelled()
        return "finished"


CANCEL_MESSAGE = {"action": "CANCEL", "vm_id": "7", "host": "h", "deploy_id": "i-1"}


def test_a_script_that_hangs_up_cancels_its_action(tmp_path: Path) -> None:
    # one_vmm_sh cancels (DRIVER_CANCEL, -w timeout) by killing the script: its socket closes.
    vmm = _SlowVmm()
    service = SocketService(vmm, tmp_path / "s.sock")  # type: ignore[arg-type]
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(tmp_path / "s.sock"))
            sock.sendall(json.dumps(CANCEL_MESSAGE).encode() + b"\n")
            assert vmm.started.wait(5)
        assert vmm.controls[0].cancelled.wait(5), "the action was not cancelled when the script hung up"
    finally:
        service.close()


def test_an_action_that_finishes_is_answered_and_not_cancelled(tmp_path: Path) -> None:
    vmm = _SlowVmm(seconds=0.2)
    service = SocketService(vmm, tmp_path / "s.sock")  # type: ignore[arg-type]
    try:
        for _ in range(3):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(tmp_path / "s.sock"))
                sock.sendall(json.dumps(CANCEL_MESSAGE).encode() + b"\n")
                reply = json.loads(sock.makefile().readline())
            assert reply == {"ok": True, "info": "finished", "logs": []}
        assert not any(control.cancelled.is_set() for control in vmm.controls)
    finally:
        service.close()


def test_a_killed_script_cancels_a_deploy_and_leaves_no_instance(moto_endpoint: str, tmp_path: Path) -> None:
    # A real DEPLOY through the socket, its script killed while the driver waits for "running".
    import boto3

    vmm = _vmm(moto_endpoint)
    vmm.wait_timeout = 30
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    real_describe = vmm.clients.for_host("h")[0].describe_instances
    waiting = threading.Event()

    def never_running(**kwargs: Any) -> Any:  # the instance stays "pending" for the driver
        answer = real_describe(**kwargs)
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                instance["State"] = {"Code": 0, "Name": "pending"}
        waiting.set()
        return answer

    vmm.clients.for_host("h")[0].describe_instances = never_running  # type: ignore[method-assign]
    document = (
        "<VM><ID>7</ID><STATE>3</STATE><LCM_STATE>2</LCM_STATE><STIME>1700000000</STIME>"
        "<TEMPLATE/><USER_TEMPLATE><PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-12c6146b</AMI>"
        "<INSTANCETYPE>t2.micro</INSTANCETYPE></PUBLIC_CLOUD></USER_TEMPLATE>"
        "<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HOSTNAME>h</HOSTNAME></HISTORY></HISTORY_RECORDS></VM>"
    )
    message = {"action": "DEPLOY", "vm_id": "7", "host": "h", "deploy_id": "", "document": document}
    service = SocketService(vmm, tmp_path / "s.sock")
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(tmp_path / "s.sock"))
            sock.sendall(json.dumps(message).encode() + b"\n")
            assert waiting.wait(20), "the deploy never started waiting"
        deadline = time.monotonic() + 20
        live: list[str] = []
        while time.monotonic() < deadline:
            live = [
                i["InstanceId"]
                for r in ec2.describe_instances()["Reservations"]
                for i in r["Instances"]
                if i["State"]["Name"] not in ("terminated", "shutting-down")
            ]
            if not live:
                break
            time.sleep(0.1)
        assert live == [], f"instances left running after the script was killed: {live}"
    finally:
        service.close()
