"""Driver programs run as oned runs them, and the monitord listener.

A `DriverProcess` is started with `execlp(exe, exe, ARGUMENTS)` semantics (ARGUMENTS is ONE argv
element), gets `INIT`, must answer `INIT SUCCESS`, then exchanges one-line messages; each reply line
goes to a callback. `MonitordListener` receives the host agents' `<TYPE> <STATUS> <host> <time>
<base64(zlib(text))>` messages over UDP and TCP on loopback, decoded with `mad/monitord.py`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import socketserver
import subprocess
import threading
from collections.abc import Callable, Mapping
from subprocess import DEVNULL, PIPE

from one_drivers.mad.monitord import Frame, MonitordError, decode_frame

log = logging.getLogger(__name__)

INIT_TIMEOUT = 10.0
# The environment of a driver program, asked for each time one starts.
DriverEnv = Callable[[], dict[str, str]]
OnLine = Callable[[str], None]  # what is done with each line a driver writes (its replies, its logs)


class DriverError(Exception):
    pass


def split_command(command: str) -> list[str]:
    """`"<exe> <arguments...>"` → `[exe, arguments]`: the arguments stay ONE argv element, as in oned."""
    exe, _, args = command.strip().partition(" ")
    return [exe, args.strip()]


class DriverProcess:
    """One long-running driver program speaking oned's line protocol over its stdin/stdout."""

    def __init__(self, name: str, command: str, env: Mapping[str, str], on_line: OnLine) -> None:
        self.name, self.on_line = name, on_line
        self._write_lock = threading.Lock()
        argv = split_command(command)
        self.proc = subprocess.Popen(argv, stdin=PIPE, stdout=PIPE, stderr=DEVNULL, env=dict(env))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin, self._stdout = self.proc.stdin, self.proc.stdout
        self._init_done = threading.Event()
        self._init_ok = False
        # The reader only queues lines, so the driver's stdout is always drained even while a reply
        # waits for the cloud lock held by a call that is writing to the driver's stdin.
        self._lines: queue.Queue[str | None] = queue.Queue()
        for loop, suffix in ((self._read_loop, ""), (self._apply_loop, "-apply")):
            threading.Thread(target=loop, name=f"sim-driver-{name}{suffix}", daemon=True).start()
        self.send("INIT")
        if not self._init_done.wait(INIT_TIMEOUT) or not self._init_ok:
            self.stop()
            raise DriverError(f"driver {name} ({command}) did not answer INIT SUCCESS")
        log.info("driver %s started: %s (pid %d)", name, command, self.proc.pid)

    def _read_loop(self) -> None:
        for raw in self._stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            if not self._init_done.is_set() and line.startswith("INIT"):
                self._init_ok = line.startswith("INIT SUCCESS")
                self._init_done.set()
                continue
            self._lines.put(line)
        self._lines.put(None)
        self._init_done.set()

    def _apply_loop(self) -> None:
        while (line := self._lines.get()) is not None:
            try:
                self.on_line(line)
            except Exception:  # a bad reply must not kill the driver; oned logs and goes on
                log.exception("driver %s: could not apply %r", self.name, line[:200])

    def send(self, line: str) -> None:
        with self._write_lock:
            try:
                self._stdin.write((line + "\n").encode("utf-8"))
                self._stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise DriverError(f"driver {self.name} is gone") from exc

    def stop(self) -> None:
        with contextlib.suppress(DriverError, OSError):
            self.send("FINALIZE")
            self._stdin.close()
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=3)
        with contextlib.suppress(OSError):
            self._stdout.close()


class DriverSet:
    """The programs of one driver kind (VM_MAD or IM_MAD) by name: started on first use, and again when
    one has died, as oned's MadManager keeps its drivers running."""

    def __init__(self, commands: Mapping[str, str], env: DriverEnv, on_line: OnLine) -> None:
        self.commands, self.env, self.on_line = dict(commands), env, on_line
        self.procs: dict[str, DriverProcess] = {}

    def get(self, name: str) -> DriverProcess | None:
        """The running program for `name`, None when none is configured (DriverError if it cannot start)."""
        if name not in self.commands:
            return None
        proc = self.procs.get(name)
        if proc is None or proc.proc.poll() is not None:
            proc = self.procs[name] = DriverProcess(name, self.commands[name], self.env(), self.on_line)
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.procs.clear()


# --- monitord messages --------------------------------------------------------------------------
def parse_monitor_line(line: str) -> Frame | None:
    """One pushed line decoded with mad/monitord.py (base64, zlib); None when monitord would drop it."""
    try:
        return decode_frame(line)
    except MonitordError:
        return None


class _UdpServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = daemon_threads = True


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = daemon_threads = True


class MonitordListener:
    """UDP + TCP on 127.0.0.1:<port>; each decoded message goes to `on_message`."""

    def __init__(self, on_message: Callable[[Frame], None], port: int = 0) -> None:
        self.on_message = on_message
        listener = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                for line in self.request[0].decode("utf-8", "replace").splitlines():
                    listener._deliver(line)

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    listener._deliver(raw.decode("utf-8", "replace"))

        self.tcp = _TcpServer(("127.0.0.1", port), Tcp)
        self.port = int(self.tcp.server_address[1])
        self.udp = _UdpServer(("127.0.0.1", self.port), Udp)
        for server in (self.tcp, self.udp):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def _deliver(self, line: str) -> None:
        msg = parse_monitor_line(line)
        if msg is None:
            log.warning("monitord: unreadable message %r", line[:120])
            return
        try:
            self.on_message(msg)
        except Exception:
            log.exception("monitord: could not apply %s for host %d", msg.type, msg.host_id)

    def stop(self) -> None:
        for server in (self.tcp, self.udp):
            server.shutdown()
            server.server_close()


def send_udp(port: int, line: str) -> None:
    """Send one monitord line over UDP (what a host agent does); used by tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto((line + "\n").encode("utf-8"), ("127.0.0.1", port))


def driver_env(endpoint: str, auth_file: str) -> dict[str, str]:
    """The environment driver programs get: ours, with the endpoint and the auth file oned would give."""
    return {**os.environ, "ONE_XMLRPC": endpoint, "ONE_AUTH": auth_file}
