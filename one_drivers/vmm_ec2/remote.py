"""Entry point of the `remotes/vmm/ec2/<action>` scripts run by oned's exec driver (one_vmm_sh).

Cheap by design: only stdlib is imported up front. The action is handed to the resident `one_vmm_ec2`
over its unix socket (vmm_ec2/service.py); if none answers, it runs in this process (imports boto3).
Exit 0 prints the info on stdout; exit 1 writes the message on stderr in the form the OpenNebula line
found next to the script reads as one clean message (mad/failure.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
from typing import Any, TextIO

from one_drivers.mad.failure import ERROR_END, ERROR_START, form_for, installed_version, render

__all__ = ["ERROR_END", "ERROR_START", "script_main"]

SOCKET_TIMEOUT = float(os.environ.get("ONE_VMM_EC2_SOCKET_TIMEOUT", "3600"))


def _socket_path() -> str:
    explicit = os.environ.get("ONE_VMM_EC2_SOCKET")
    if explicit:
        return explicit
    one_location = os.environ.get("ONE_LOCATION")
    base = os.path.join(one_location, "var") if one_location else "/var/lib/one"
    return os.path.join(base, "one_vmm_ec2.sock")


def _via_socket(message: dict[str, Any]) -> dict[str, Any] | None:
    """The resident driver's answer, or None when there is no resident driver to ask."""
    path = _socket_path()
    if os.environ.get("ONE_VMM_EC2_IN_PROCESS") == "1" or not os.path.exists(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(5)
        sock.connect(path)
    except OSError:
        sock.close()
        return None  # stale socket file: nobody listening
    with sock:
        # Once connected the action may be running: wait for its answer, never run it twice.
        sock.settimeout(SOCKET_TIMEOUT)
        sock.sendall(json.dumps(message).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    reply: dict[str, Any] = json.loads(b"".join(chunks) or b"{}")
    if "ok" not in reply:
        return {"ok": False, "info": "the resident one_vmm_ec2 closed the connection", "logs": []}
    return reply


def _in_process(message: dict[str, Any]) -> dict[str, Any]:
    import logging

    from one_drivers.ec2.clients import Ec2Clients
    from one_drivers.ec2.config import load_config
    from one_drivers.vmm_ec2.actions import Ec2Vmm
    from one_drivers.vmm_ec2.main import load_defaults
    from one_drivers.vmm_ec2.service import serve_request

    # sys.stderr is the script's capture buffer here: these lines become DEBUG log lines.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    config = load_config(os.environ.get("ONE_EC2_DRIVER_CONF") or None)
    defaults = load_defaults(os.environ.get("ONE_EC2_DRIVER_DEFAULT") or config.defaults_file)
    interval = float(os.environ.get("ONE_VMM_EC2_POLL_INTERVAL", "2"))
    vmm = Ec2Vmm(Ec2Clients(config), defaults=defaults, poll_interval=interval)
    return serve_request(vmm, message)


def script_main(action: str, argv: list[str], stdin: TextIO | None = None, script: str | None = None) -> int:
    """Run one remotes action; return the exit status. `script`: this script's path (default argv[0])."""
    form = form_for(installed_version(script or sys.argv[0]))
    captured = io.StringIO()  # stray stderr (warnings, logging) would break the 6.10 message
    with contextlib.redirect_stderr(captured):
        ok, info, logs = _run_action(action, argv, stdin)
    logs = [("D", line) for line in captured.getvalue().splitlines()] + logs
    sys.stderr.write(render(form, action, logs, None if ok else info))
    sys.stderr.flush()
    if not ok:
        return 1
    if info:
        sys.stdout.write(info + "\n")
    return 0


def _run_action(
    action: str, argv: list[str], stdin: TextIO | None
) -> tuple[bool, str, list[tuple[str, str]]]:
    """(succeeded, info or error message, log lines as (level letter, text))."""
    from one_drivers.vmm_ec2.request import SUPPORTED_SCRIPTS

    if action not in SUPPORTED_SCRIPTS:
        # Upstream's stubs exited 0 here, so oned recorded hotplugs and snapshots that never happened.
        return False, f"{action} is not supported by the ec2 driver", []
    try:
        from one_drivers.mad.loop import ActionError
        from one_drivers.vmm_ec2.request import decode_stdin, split_argv

        deploy_id, vm_id, host = split_argv(action, argv)
        source = stdin if stdin is not None else sys.stdin
        raw = "" if source is None or source.isatty() else source.read()
        document = decode_stdin(raw)
        if action == "deploy" and not document and argv:
            # 4.4-4.14: nothing on stdin; the deployment file is local to the front-end.
            with open(argv[0], encoding="utf-8") as handle:
                document = handle.read()
        message = {
            "action": action.upper(),
            "document": document,
            "vm_id": vm_id,
            "host": host,
            "deploy_id": deploy_id,
        }
        reply = _via_socket(message) or _in_process(message)
    except (ActionError, OSError, ValueError) as exc:
        text = str(exc)
        return False, text if text.startswith(f"{action}:") else f"{action}: {text}", []
    logs = [("E" if level == "E" else "I", str(text)) for level, text in reply.get("logs", [])]
    if reply.get("ok"):
        return True, str(reply.get("info") or ""), logs
    return False, str(reply.get("info") or "failed"), logs
