"""econe on the shared cheroot stack (web/server.py): builds the app from the config and serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from one_drivers.econe.actions import all_handlers
from one_drivers.econe.app import EconeApp
from one_drivers.econe.auth import make_authenticator
from one_drivers.econe.config import EconeConfig, check_config, login_scheme
from one_drivers.metrics.econe import EconeMetrics
from one_drivers.metrics.exposition import MetricsListener, multiprocess_enabled, serve
from one_drivers.one.gateway import OneGateway, cipher_auth_path, logged_in_server_admin
from one_drivers.one.users import UserDirectory
from one_drivers.query.model import action_names
from one_drivers.web import server as web


def cipher_auth_file(config: EconeConfig) -> str:
    """ONE_CIPHER_AUTH wins over econe.conf, as upstream's server did; then ec2_auth, then sunstone_auth."""
    return str(cipher_auth_path(config.one_cipher_auth))


def server_admin_gateway(config: EconeConfig) -> OneGateway:
    """econe's server admin, logged in (see logged_in_server_admin)."""
    return logged_in_server_admin(
        config.one_xmlrpc,
        Path(cipher_auth_file(config)),
        scheme=login_scheme(config),
        user_login_tokens=config.one_login_tokens,
    )


def build_app(config: EconeConfig) -> EconeApp:
    check_config(config)
    admin = server_admin_gateway(config)
    users = UserDirectory(admin, config.user_cache_seconds)
    return EconeApp(config, admin, make_authenticator(config, users), all_handlers())


def configure_logging(config: EconeConfig, stream: Any = None, filename: str | None = None) -> None:
    web.configure_logging(config.debug_level, stream, filename)


def attach_metrics(app: EconeApp) -> EconeMetrics:
    """Count the app's requests and its oned calls."""
    metrics = EconeMetrics()
    app.observer = metrics
    app.admin.observer = metrics.oned_call
    return metrics


class EconeServer(web.HttpService):
    """econe's listener; with x509 auth a client certificate is mandatory on its own TLS listener.

    With `:metrics_port:` its metrics are counted and served there; as one of several worker processes
    (`shared_port`) it only counts them, in the directory its parent sums and serves.
    """

    def __init__(
        self, config: EconeConfig, app: EconeApp | None = None, *, shared_port: bool = False
    ) -> None:
        self.config = config
        self.app = app or build_app(config)
        self.shared_port = shared_port
        self.metrics: EconeMetrics | None = None
        if config.metrics_port is not None or (shared_port and multiprocess_enabled()):
            self.metrics = attach_metrics(self.app)
        self.metrics_listener: MetricsListener | None = None
        listener = web.Listener(
            host=config.host,
            port=config.port,
            workers=config.workers,
            reuse_port=shared_port,
            head_timeout=config.head_timeout,
            body_timeout=config.body_timeout,
            ssl_cert=config.ssl_cert,
            ssl_key=config.ssl_key,
            ssl_ca=config.ssl_ca,
            client_certs="required" if config.auth == "x509" else "optional",
        )
        super().__init__("econe", listener, self.app)

    def warm_up(self) -> None:
        # Load botocore's model now (~0.3 s) rather than in the first client's request.
        action_names()

    def start(self) -> EconeServer:
        super().start()
        if self.metrics is not None and not self.shared_port:
            self.metrics_listener = serve(
                self.metrics.registry, self.config.metrics_host, self.config.metrics_port
            )
        return self

    def stop(self) -> None:
        if self.metrics_listener is not None:
            self.metrics_listener.stop()
            self.metrics_listener = None
        super().stop()

    def __enter__(self) -> EconeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
