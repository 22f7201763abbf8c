"""`<server> start|stop|status` for our HTTP servers: a `run` child in its own session, pid and log files.

`start` launches `python -m <module> --config FILE run` with its output in the log file, writes the pid
file and waits until the port answers; a second start is refused while the pid is alive, a stale pid file
is cleaned. `stop` sends SIGTERM (in-flight requests finish), then SIGKILL after a timeout.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


class DaemonError(RuntimeError):
    """The server could not be started; the message says why and where to look."""


def read_pid(pid_file: str) -> int | None:
    try:
        text = Path(pid_file).read_text().strip()
        return int(text) if text else None
    except (FileNotFoundError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie child of ours is not alive for our purposes.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def running_pid(pid_file: str, notice: list[str] | None = None) -> int | None:
    """The live server's pid; a stale pid file is removed (and said so in `notice`)."""
    pid = read_pid(pid_file)
    if pid is None:
        if Path(pid_file).exists():
            Path(pid_file).unlink()
        return None
    if pid_alive(pid):
        return pid
    Path(pid_file).unlink(missing_ok=True)
    if notice is not None:
        notice.append(f"removed stale pid file {pid_file} (pid {pid})")
    return None


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Daemon:
    """One server program: its module (with a click `--config FILE run`), pid and log files, port."""

    name: str
    module: str
    config_path: str
    pid_file: str
    log_file: str
    host: str
    port: int

    def start(self) -> int:
        """The started child's pid, once its port answers."""
        pid = running_pid(self.pid_file)
        if pid is not None:
            raise DaemonError(f"{self.name} is already running (pid {pid})")
        Path(self.pid_file).parent.mkdir(parents=True, exist_ok=True)
        Path(self.log_file).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", self.module, "--config", self.config_path, "run"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                close_fds=True,
            )
        Path(self.pid_file).write_text(f"{child.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                Path(self.pid_file).unlink(missing_ok=True)
                raise DaemonError(
                    f"{self.name} exited at start (code {child.returncode}); see {self.log_file}"
                )
            if port_open(self.host, self.port):
                return child.pid
            time.sleep(0.1)
        raise DaemonError(f"{self.name} did not open port {self.port} in time; see {self.log_file}")

    def stop(self) -> bool:
        """True when a running server was stopped."""
        pid = running_pid(self.pid_file)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        Path(self.pid_file).unlink(missing_ok=True)
        return True
