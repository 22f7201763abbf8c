"""A WSGI app on cheroot, as econe and occi serve: threaded, TLS, graceful stop, one send per response.

cheroot is a pure-Python, thread-pooled HTTP/1.1 WSGI server with keep-alive, TLS through the stdlib
`ssl` module (client certificates end up in the WSGI environ as SSL_CLIENT_*), and a stop() that lets
in-flight requests finish. Log records carry the current request id (`%(request_id)s`).
"""

from __future__ import annotations

import io
import logging
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Self

from cheroot.server import HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WsgiServer

from one_drivers.web.guard import DeadlineReader, HeadGate, ReadDeadlines

log = logging.getLogger(__name__)

LOG_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}
LOG_FORMAT = "%(asctime)s [%(levelname)s] [%(request_id)s] %(name)s: %(message)s"
MIN_BODY_RATE = 64 * 1024  # bytes/s a large body must keep up, beyond body_timeout

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_local = threading.local()


def current_request_id() -> str:
    return str(getattr(_local, "request_id", "-"))


def set_request_id(request_id: str) -> None:
    _local.request_id = request_id


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (`%(request_id)s`), '-' outside requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def configure_logging(debug_level: int, stream: Any = None, filename: str | None = None) -> None:
    """Root logging at upstream's debug_level (0 = ERROR .. 3 = DEBUG), to a file or a stream."""
    handler: logging.Handler
    if filename:
        handler = logging.FileHandler(filename)
    else:
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LOG_LEVELS.get(debug_level, logging.DEBUG))


class GuardedRequest(HTTPRequest):
    """Reads its head under the listener's head timeout (TLS heads, pipelined requests reach here)."""

    def parse_request(self) -> None:
        server = self.server
        key = server.deadlines.arm(self.conn.socket, time.monotonic() + server.head_timeout, answer=True)
        try:
            super().parse_request()
        finally:
            server.deadlines.disarm(key)


class GuardedConnection(HTTPConnection):
    RequestHandlerClass = GuardedRequest


class GuardedServer(WsgiServer):
    """cheroot's server with the head gate in front of its worker pool and read deadlines in it."""

    ConnectionClass = GuardedConnection

    def __init__(self, *args: Any, head_timeout: float, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.deadlines = ReadDeadlines()
        self.gate = HeadGate(super().process_conn, head_timeout)

    def prepare(self) -> None:
        super().prepare()
        self.deadlines.start()
        self.gate.start()

    def process_conn(self, conn: Any) -> None:
        self.gate.offer(conn)

    def stop(self) -> None:
        self.gate.stop()
        super().stop()
        self.deadlines.stop()


class OneSendGateway(Gateway_10):
    """cheroot writes the status+headers and the body in two sends; join them into one.

    Two small segments cost an extra syscall and packet each (and, without TCP_NODELAY on either side,
    ~40 ms of Nagle + delayed ACK). Our apps always declare Content-Length, so the body is never chunked.
    """

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        """wsgi.input reads end by the body deadline: body_timeout, plus the size at MIN_BODY_RATE."""
        environ: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        req = self.req
        server = req.server
        try:
            length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
        except ValueError:
            length = 0
        budget = server.body_timeout + length / MIN_BODY_RATE
        environ["wsgi.input"] = DeadlineReader(
            environ["wsgi.input"], req.conn.socket, server.deadlines, budget
        )
        return environ

    def write(self, chunk: bytes) -> None:
        req = self.req
        if req.sent_headers or not self.started_response:
            super().write(chunk)
            return
        rbo = self.remaining_bytes_out
        if rbo is not None and len(chunk) > rbo:
            super().write(chunk)  # cheroot's own error path
            return
        real = req.conn.wfile
        captured = io.BytesIO()
        req.conn.wfile = captured
        try:
            req.ensure_headers_sent()
        finally:
            req.conn.wfile = real
        if req.chunked_write:
            real.write(captured.getvalue())
            req.write(chunk)
        else:
            real.write(captured.getvalue() + chunk)


@dataclass(frozen=True)
class Listener:
    """Where and how to listen; `client_certs` = "required" | "optional" | "" (with ssl_ca)."""

    host: str
    port: int
    workers: int = 16
    head_timeout: float = 10.0  # a request head (and a body up to 64 KiB) must arrive within this
    body_timeout: float = 60.0  # a larger body: this, plus its size at MIN_BODY_RATE
    reuse_port: bool = False  # SO_REUSEPORT: several processes serve one port
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_ca: str | None = None
    client_certs: str = "optional"


class HttpService:
    """One listener. `start()` serves in a thread (tests, bench); `serve_forever()` blocks (run mode)."""

    def __init__(self, name: str, listener: Listener, app: WsgiApp) -> None:
        self.name = name
        self.listener = listener
        self.wsgi = GuardedServer(
            (listener.host, listener.port),
            app,
            numthreads=listener.workers,
            server_name=name,
            shutdown_timeout=10,
            # cheroot listens with a backlog of 5: a burst of clients would wait for SYN retries (1 s, 3 s).
            request_queue_size=1024,
            reuse_port=listener.reuse_port,
            head_timeout=listener.head_timeout,
            body_timeout=listener.body_timeout,
        )
        self.wsgi.gateway = OneSendGateway
        # The accept loop's poll period: also how long stop() waits for it (cheroot's default is 0.5 s).
        self.wsgi.expiration_interval = 0.1
        if listener.ssl_cert and listener.ssl_key:
            adapter = BuiltinSSLAdapter(listener.ssl_cert, listener.ssl_key, listener.ssl_ca)
            if listener.ssl_ca:
                adapter.context.verify_mode = (
                    ssl.CERT_REQUIRED if listener.client_certs == "required" else ssl.CERT_OPTIONAL
                )
            self.wsgi.ssl_adapter = adapter
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.wsgi.bind_addr[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.wsgi.ssl_adapter is not None else "http"
        return f"{scheme}://{self.listener.host}:{self.port}"

    def warm_up(self) -> None:
        """Load what the first request would otherwise wait for."""

    def start(self) -> Self:
        self.warm_up()
        self.wsgi.prepare()  # binds now, so port 0 resolves to the real port before we return
        self._thread = threading.Thread(target=self.wsgi.serve, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        log.info("%s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        self.wsgi.stop()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve until SIGTERM/SIGINT, then finish in-flight requests and return."""
        stopping = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            stopping.wait()
        finally:
            self.stop()
            log.info("%s stopped", self.name)
