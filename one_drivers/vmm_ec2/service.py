"""The resident side of the remotes scripts: a unix socket served by the long-running `one_vmm_ec2`.

A script (vmm_ec2/remote.py) sends one JSON line `{"action", "document", "vm_id", "host", "deploy_id"}`
and gets one JSON line `{"ok", "info", "logs"}` back, so the action runs with warm boto3 clients instead
of paying ~0.6 s of imports per script. The socket is created owner-only (0600): it can launch instances.
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
import threading
from pathlib import Path
from typing import Any

from one_drivers.mad.loop import ActionCancelled, ActionError
from one_drivers.vmm_ec2.actions import Ec2Vmm, PlainControl
from one_drivers.vmm_ec2.request import request_from_script

log = logging.getLogger(__name__)

SOCKET_ENV = "ONE_VMM_EC2_SOCKET"
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def default_socket_path() -> Path:
    """$ONE_VMM_EC2_SOCKET, else $ONE_LOCATION/var/one_vmm_ec2.sock, else /var/lib/one/one_vmm_ec2.sock."""
    explicit = os.environ.get(SOCKET_ENV)
    if explicit:
        return Path(explicit)
    one_location = os.environ.get("ONE_LOCATION")
    base = Path(one_location) / "var" if one_location else Path("/var/lib/one")
    return base / "one_vmm_ec2.sock"


def serve_request(vmm: Ec2Vmm, message: dict[str, Any]) -> dict[str, Any]:
    """Run one script's action in this process; never raises."""
    logs: list[list[str]] = []
    control = PlainControl(lambda level, text: logs.append([level, text]))
    try:
        request = request_from_script(
            str(message.get("action", "")),
            str(message.get("document", "")),
            vm_id=str(message.get("vm_id", "")),
            host=str(message.get("host", "")),
            deploy_id=str(message.get("deploy_id", "")),
        )
        info = vmm.run(str(message.get("action", "")), request, control)
        return {"ok": True, "info": info, "logs": logs}
    except (ActionError, ActionCancelled) as exc:
        return {"ok": False, "info": str(exc), "logs": logs}
    except Exception as exc:
        log.exception("remotes action failed unexpectedly")
        return {"ok": False, "info": f"{type(exc).__name__}: {exc}", "logs": logs}


class SocketService:
    """A threading unix-socket server; `close()` stops it and removes the socket file."""

    def __init__(self, vmm: Ec2Vmm, path: Path) -> None:
        self.path = path

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(MAX_REQUEST_BYTES)
                try:
                    message = json.loads(line)
                    if not isinstance(message, dict):
                        raise ValueError("request must be a JSON object")
                except ValueError as exc:
                    reply: dict[str, Any] = {"ok": False, "info": f"bad request: {exc}", "logs": []}
                else:
                    reply = serve_request(vmm, message)
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        if path.exists() or path.is_symlink():
            path.unlink()  # a stale socket from a previous run
        path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o177)
        try:
            self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        finally:
            os.umask(old_umask)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="remotes-socket", daemon=True)
        self._thread.start()
        log.info("serving the remotes scripts on %s", path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        try:
            self.path.unlink()
        except OSError:
            pass


def start_socket_service(vmm: Ec2Vmm, path: str | os.PathLike[str] | None = None) -> SocketService | None:
    """Start serving; on failure (directory not writable...) log and let the scripts run in-process."""
    target = Path(path) if path else default_socket_path()
    try:
        return SocketService(vmm, target)
    except OSError as exc:
        log.warning("cannot serve the remotes scripts on %s: %s (they will run in-process)", target, exc)
        return None
