"""The resident side of the remotes scripts: a unix socket served by the long-running `one_vmm_ec2`.

A script (vmm_ec2/remote.py) sends one JSON line `{"action", "document", "vm_id", "host", "deploy_id"}`
and gets one JSON line `{"ok", "info", "logs"}` back, so the action runs with warm boto3 clients instead
of paying ~0.6 s of imports per script. The socket is created owner-only (0600): it can launch instances.
"""

from __future__ import annotations

import json
import logging
import os
import socket
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


def serve_request(
    vmm: Ec2Vmm, message: dict[str, Any], cancelled: threading.Event | None = None
) -> dict[str, Any]:
    """Run one script's action in this process; never raises. Setting `cancelled` cancels it."""
    logs: list[list[str]] = []
    control = PlainControl(lambda level, text: logs.append([level, text]))
    if cancelled is not None:
        control.cancelled = cancelled
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
                    reply = _serve_until_hangup(vmm, message, self.connection)
                try:
                    self.wfile.write(json.dumps(reply).encode() + b"\n")
                except OSError as exc:  # the script is gone (killed by one_vmm_sh): nobody to answer
                    log.info("remotes %s: script went away before the answer (%s)", _action_named(line), exc)

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


def _action_named(line: bytes) -> str:
    """The action named by a request line, for the log ('?' if unreadable)."""
    try:
        message = json.loads(line)
    except ValueError:
        return "?"
    return str(message.get("action", "?")) if isinstance(message, dict) else "?"


def _serve_until_hangup(vmm: Ec2Vmm, message: dict[str, Any], conn: socket.socket) -> dict[str, Any]:
    """serve_request, cancelled when the script hangs up first.

    one_vmm_sh cancels an action (DRIVER_CANCEL, its -w timeout) by killing the script, which closes
    its end of the socket. The script sends one line and then only reads, so end-of-file on our side
    while the action runs means exactly that: the action is cancelled as DRIVER_CANCEL would, and a
    DEPLOY rolls back what it launched.
    """
    cancelled = threading.Event()
    finished = threading.Event()

    def watch() -> None:
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if not data and not finished.is_set():
            log.info("remotes %s: the script hung up; cancelling the action", message.get("action", "?"))
            cancelled.set()

    watcher = threading.Thread(target=watch, name="remotes-hangup", daemon=True)
    watcher.start()
    try:
        return serve_request(vmm, message, cancelled)
    finally:
        finished.set()
        try:
            conn.shutdown(socket.SHUT_RD)  # wakes the watcher's recv with end-of-file
        except OSError:
            pass
        watcher.join(timeout=5)


def start_socket_service(vmm: Ec2Vmm, path: str | os.PathLike[str] | None = None) -> SocketService | None:
    """Start serving; on failure (directory not writable...) log and let the scripts run in-process."""
    target = Path(path) if path else default_socket_path()
    try:
        return SocketService(vmm, target)
    except OSError as exc:
        log.warning("cannot serve the remotes scripts on %s: %s (they will run in-process)", target, exc)
        return None
