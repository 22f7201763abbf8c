"""econe on cheroot: builds the app from the config and serves it (threaded, TLS, graceful stop).

cheroot is a pure-Python, thread-pooled HTTP/1.1 WSGI server with keep-alive, TLS through the stdlib
`ssl` module (client certificates end up in the WSGI environ as SSL_CLIENT_*), and a stop() that lets
in-flight requests finish. The listening socket has TCP_NODELAY, and the app hands it a whole body.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import ssl
import threading
from types import FrameType
from typing import Any

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Gateway_10
from cheroot.wsgi import Server as WsgiServer

from one_drivers.econe.actions import all_handlers
from one_drivers.econe.app import EconeApp, RequestIdFilter
from one_drivers.econe.auth import make_authenticator
from one_drivers.econe.config import EconeConfig, check_config
from one_drivers.econe.users import UserDirectory
from one_drivers.one.gateway import OneGateway
from one_drivers.query.model import action_names

log = logging.getLogger(__name__)

LOG_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}
LOG_FORMAT = "%(asctime)s [%(levelname)s] [%(request_id)s] %(name)s: %(message)s"


def cipher_auth_file(config: EconeConfig) -> str:
    """ONE_CIPHER_AUTH wins over econe.conf, as upstream's server did."""
    return os.environ.get("ONE_CIPHER_AUTH") or config.one_cipher_auth


def build_app(config: EconeConfig) -> EconeApp:
    check_config(config)
    admin = OneGateway.server_admin(
        config.one_xmlrpc, cipher_auth_file(config), digest=config.server_cipher_digest
    )
    users = UserDirectory(admin, config.user_cache_seconds)
    return EconeApp(config, admin, make_authenticator(config, users), all_handlers())


def configure_logging(config: EconeConfig, stream: Any = None, filename: str | None = None) -> None:
    handler: logging.Handler
    if filename:
        handler = logging.FileHandler(filename)
    else:
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LOG_LEVELS.get(config.debug_level, logging.DEBUG))
    # cheroot's own error log goes through the same handler; botocore is never imported here.


class OneSendGateway(Gateway_10):
    """cheroot writes the status+headers and the body in two sends; join them into one.

    Two small segments cost an extra syscall and packet each (and, without TCP_NODELAY on either side,
    ~40 ms of Nagle + delayed ACK). econe always declares Content-Length, so the body is never chunked.
    """

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


class EconeServer:
    """One listener. `start()` serves in a thread (tests, bench); `serve_forever()` blocks (run mode)."""

    def __init__(self, config: EconeConfig, app: EconeApp | None = None) -> None:
        self.config = config
        self.app = app or build_app(config)
        self.wsgi = WsgiServer(
            (config.host, config.port),
            self.app,
            numthreads=config.workers,
            server_name="econe",
            shutdown_timeout=10,
        )
        self.wsgi.gateway = OneSendGateway
        # The accept loop's poll period: also how long stop() waits for it (cheroot's default is 0.5 s).
        self.wsgi.expiration_interval = 0.1
        if config.ssl_cert and config.ssl_key:
            adapter = BuiltinSSLAdapter(config.ssl_cert, config.ssl_key, config.ssl_ca)
            if config.ssl_ca:
                # With x509 auth a certificate is mandatory; otherwise it is optional (signatures still work).
                adapter.context.verify_mode = (
                    ssl.CERT_REQUIRED if config.auth == "x509" else ssl.CERT_OPTIONAL
                )
            self.wsgi.ssl_adapter = adapter
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.wsgi.bind_addr[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.wsgi.ssl_adapter is not None else "http"
        return f"{scheme}://{self.config.host}:{self.port}"

    def start(self) -> EconeServer:
        # Load botocore's model now (~0.3 s) rather than in the first client's request.
        action_names()
        self.wsgi.prepare()  # binds now, so port 0 resolves to the real port before we return
        self._thread = threading.Thread(target=self.wsgi.serve, name="econe-server", daemon=True)
        self._thread.start()
        log.info("econe listening on %s", self.url)
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
            log.info("econe stopped")

    def __enter__(self) -> EconeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
