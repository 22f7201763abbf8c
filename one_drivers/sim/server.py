"""The simulator as a running service: XML-RPC over HTTP on loopback, scheduler, drivers, monitord.

`Simulator` is the in-process API for tests (a context manager) and what `python -m one_drivers.sim`
runs. One thread per request (ThreadingHTTPServer); every call takes the cloud lock, so calls are
serialized like oned's database writes while the socket work stays parallel.
"""

from __future__ import annotations

import email.parser
import email.utils
import http.client
import logging
import secrets
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from one_drivers.one.cipher import parse_version
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim import access, instantiate
from one_drivers.sim.auth import make_login_token
from one_drivers.sim.cloud import Cloud
from one_drivers.sim.drivers import MonitordListener, driver_env
from one_drivers.sim.lifecycle import Lifecycle
from one_drivers.sim.methods import METHODS, MUTATING, Api
from one_drivers.sim.model import ONE_VERSION
from one_drivers.sim.persist import StateFile
from one_drivers.sim.wire import (
    INTERNAL,
    OneFailure,
    Params,
    RpcFault,
    parse_call,
    render_failure,
    render_fault,
    render_success,
)

log = logging.getLogger(__name__)

_MAX_HEADERS = 100  # as http.client allows


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xmlrpc-c/1.59"
    sim: Simulator
    raw_requestline: bytes  # set by handle_one_request (not in the stdlib's stubs)

    def setup(self) -> None:
        super().setup()
        # Small request/response pairs: no Nagle delay against the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        """The stdlib's checks for a plain `METHOD path HTTP/1.x` request, with the headers read
        directly instead of through the email package (which cost more than a `vm.info` itself);
        anything else (HTTP/0.9, bad request lines) goes to the stdlib's own parse and error pages."""
        words = self.raw_requestline.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return super().parse_request()
        self.command, self.path, self.request_version = (w.decode("iso-8859-1") for w in words)
        self.requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        self.close_connection = self.request_version != "HTTP/1.1"
        lines: list[bytes] = []
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            lines.append(line)
            if line in (b"\r\n", b"\n", b""):
                break
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        headers = http.client.HTTPMessage()
        for line in lines[:-1]:
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon or not name.strip() or name[0] in " \t":
                # Folded or odd lines: the email parser's reading, exactly as the stdlib does it.
                text = b"".join(lines).decode("iso-8859-1")
                headers = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
                break
            headers[name.strip()] = value.strip()
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("Expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        reply = self.server.sim.dispatch(body)  # type: ignore[attr-defined]
        log.debug("xmlrpc %s 200 %d", self.requestline, len(reply))
        # Status, headers and body in one write, the headers as send_response() would add them.
        head = (
            f"{self.protocol_version} 200 OK\r\nServer: {self.version_string()}\r\n"
            f"Date: {_http_date()}\r\nContent-Type: text/xml\r\nContent-Length: {len(reply)}\r\n\r\n"
        )
        self.wfile.write(head.encode("latin-1") + reply)

    def log_message(self, format: str, *args: object) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("xmlrpc %s", format % args)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The Date header, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class Simulator:
    """A simulated oned on 127.0.0.1. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        auth_dir: Path | str,
        port: int = 0,
        *,
        state_file: Path | str | None = None,
        vmm: dict[str, str] | None = None,
        im: dict[str, str] | None = None,
        sched_interval: float | None = None,
        oneadmin_password: str | None = None,
        serveradmin_password: str | None = None,
        monitord_port: int = 0,
        probes_period: dict[str, int] | None = None,
        monitor_interval_host: float = 180.0,
        manager_timer: float = 15.0,
        hold_image_copies: bool = False,
        one_version: str = ONE_VERSION,
        auth_driver_seconds: float = 0.0,
    ) -> None:
        self.auth_dir = Path(auth_dir)
        self.auth_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.sched_interval = sched_interval
        self.oneadmin_password = oneadmin_password or secrets.token_hex(12)
        self.serveradmin_password = serveradmin_password or secrets.token_hex(12)
        self.cloud = Cloud(self.oneadmin_password, self.serveradmin_password, version=one_version)
        # The files oned writes "serveradmin:<password>" into at bootstrap (UserPool's constructor), and the
        # one econe reads it from: ec2_auth and occi_auth only up to 6.0, when econe and OCCI were shipped.
        shipped = ("occi_auth", "ec2_auth") if parse_version(one_version) < (6, 2) else ()
        self.server_auth_files = ("sunstone_auth", *shipped, "onegate_auth", "oneflow_auth")
        self.cipher_auth_file = self.auth_dir / ("ec2_auth" if shipped else "sunstone_auth")
        self.one_auth_file = self.auth_dir / "one_auth"
        # What a login through an auth driver process costs (oned forks none for core passwords, but
        # the server_cipher driver is a Ruby process: ~140 ms was seen on a real 6.10.5). 0 in tests.
        self.auth_driver_seconds = auth_driver_seconds
        self.state = StateFile(Path(state_file)) if state_file else None
        if self.state is not None and self.state.load(self.cloud):
            # Keep the stored passwords: the auth files below must match them.
            self.oneadmin_password = self._read_auth("one_auth", "oneadmin") or self.oneadmin_password
            self.serveradmin_password = (
                self._read_auth(self.server_auth_files[0], "serveradmin") or self.serveradmin_password
            )
        self.oneadmin_auth = f"oneadmin:{self.oneadmin_password}"
        self.serveradmin_auth = f"serveradmin:{self.serveradmin_password}"
        # Held copies keep new images LOCKED until finish_image_copies() or a scheduler pass.
        self.cloud.image_store.hold = hold_image_copies
        self.cloud.image_store.on_change = self._changed

        def env() -> dict[str, str]:  # read when a driver starts, once start() has bound the port
            return driver_env(self.endpoint, str(self.one_auth_file))

        self.lifecycle = Lifecycle(self.cloud, self.auth_dir, vmm or {}, im or {}, env)
        self.lifecycle.on_change = self._changed
        self.lifecycle.probes_period.update(probes_period or {})
        # monitord.conf MONITORING_INTERVAL_HOST and MANAGER_TIMER (6.10 defaults 180 and 15 s).
        self.lifecycle.monitor_interval_host = monitor_interval_host
        self.manager_timer = manager_timer
        self.api = Api(self.cloud, self.lifecycle)
        self._monitord_port = monitord_port
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.monitord: MonitordListener | None = None

    def _read_auth(self, filename: str, user: str) -> str | None:
        path = self.auth_dir / filename
        if path.is_file():
            line = path.read_text(encoding="utf-8").strip()
            if line.startswith(user + ":"):
                return line.split(":", 1)[1]
        return None

    # --- service --------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/RPC2"

    def start(self) -> Simulator:
        lines = [("one_auth", self.oneadmin_auth)]
        lines += [(name, self.serveradmin_auth) for name in self.server_auth_files]
        for name, line in lines:
            path = self.auth_dir / name
            path.write_text(line + "\n", encoding="utf-8")
            path.chmod(0o600)
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.sim = self  # type: ignore[attr-defined]
        self.port = int(self._server.server_address[1])
        self.monitord = MonitordListener(self.lifecycle.apply_message, self._monitord_port)
        self.lifecycle.monitor_port = self.monitord.port
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True),
            threading.Thread(target=self._monitord_timer_loop, name="sim-monitord", daemon=True),
        ]
        if self.sched_interval:
            # In-process users call schedule() themselves (deterministic tests); the CLI runs it periodically.
            self._threads.append(
                threading.Thread(target=self._scheduler_loop, name="sim-scheduler", daemon=True)
            )
        for t in self._threads:
            t.start()
        log.info("simulator listening on %s", self.endpoint)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.monitord is not None:
            self.monitord.stop()
        self.lifecycle.stop_drivers()
        for t in self._threads:
            t.join(timeout=5)
        if self.state is not None:
            with self.cloud.lock:
                self.state.save(self.cloud)
            self.state.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _monitord_timer_loop(self) -> None:
        while not self._stop.wait(self.manager_timer):
            with self.cloud.lock:
                if self.lifecycle.monitord_timer():
                    self._changed()

    def _scheduler_loop(self) -> None:
        while not self._stop.wait(self.sched_interval or 1.0):
            self.schedule()

    def schedule(self) -> int:
        """Run one scheduler pass now (tests use it instead of waiting)."""
        with self.cloud.lock:
            count = self.lifecycle.schedule()
            if count:
                self._changed()
            self.cloud.image_store.finish()  # the datastore copies started before this pass end
            return count

    def finish_image_copies(self) -> int:
        """End every datastore copy in flight now (images LOCKED -> READY); returns how many."""
        with self.cloud.lock:
            return self.cloud.image_store.finish()

    def _changed(self) -> None:
        if self.state is not None:
            self.state.save(self.cloud)

    # --- XML-RPC --------------------------------------------------------------------------------------
    def dispatch(self, body: bytes) -> bytes:
        try:
            call = parse_call(body)
        except RpcFault as fault:
            return render_fault(fault)
        handler = METHODS.get(call.method)
        if handler is None:
            return render_fault(RpcFault(-506, f"Method '{call.method}' not defined"))
        try:
            session = Params(call.params).string(0)
            with self.cloud.lock:
                driver_auths = self.cloud.driver_auths
                try:
                    user = access.authenticate(self.cloud, session)
                finally:
                    through_driver = self.cloud.driver_auths != driver_auths
            if through_driver and self.auth_driver_seconds:
                # oned waits for the auth driver without holding its pools (AuthRequest::wait).
                time.sleep(self.auth_driver_seconds)
            with self.cloud.lock:
                value = handler(self.api, user, Params(call.params[1:]))
                if call.method in MUTATING:
                    self._changed()
            return render_success(value)
        except RpcFault as fault:
            return render_fault(fault)
        except OneFailure as failure:
            return render_failure(call.method, failure)
        except Exception as exc:  # oned answers INTERNAL rather than dropping the connection
            log.exception("simulator: %s failed", call.method)
            return render_failure(call.method, OneFailure(INTERNAL, f"Internal error: {exc}"))

    # --- fast paths for tests and benchmarks ------------------------------------------------------
    def bulk_vms(
        self,
        count: int,
        *,
        uid: int = 0,
        state: VmState = VmState.PENDING,
        lcm: LcmState = LcmState.LCM_INIT,
        name_prefix: str = "bulk",
        host_id: int | None = None,
    ) -> list[int]:
        """Put `count` VMs straight into the pool (no scheduler, no drivers). Returns their ids.
        See `instantiate.bulk_vms`: e.g. `bulk_vms(10_000, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=0)`."""
        with self.cloud.lock:
            ids = instantiate.bulk_vms(
                self.cloud, count, uid=uid, state=state, lcm=lcm, name_prefix=name_prefix, host_id=host_id
            )
            self._changed()
            return ids

    def vm_log(self, vm_id: int) -> list[str]:
        """The VM's state log lines, as oned writes them in vms/<id>/vm.log (without timestamps)."""
        with self.cloud.lock:
            return list(self.cloud.vms[vm_id].state_log)

    def login_token(self, user: str, valid: int = 1800) -> str:
        """A `serveradmin:<user>:<token>` session as econe builds it."""
        return make_login_token("serveradmin", self.cloud.users[1].password, user, valid, self.cloud.scheme)
