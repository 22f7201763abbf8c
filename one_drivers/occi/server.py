"""occi-server on the shared cheroot stack (web/server.py): builds the app from the config and serves it."""

from __future__ import annotations

from pathlib import Path

from one_drivers.occi.app import OcciApp
from one_drivers.occi.auth import make_authenticator
from one_drivers.occi.config import OcciConfig, check_config
from one_drivers.one.cipher import ZERO_IV_SHA1
from one_drivers.one.gateway import cipher_auth_path, logged_in_server_admin
from one_drivers.one.users import UserDirectory
from one_drivers.web import server as web

# Up to 6.0 oned wrote occi_auth for this server; 6.2+ writes the same line into sunstone_auth only.
OCCI_AUTH_FILES = ("occi_auth", "sunstone_auth")


def cipher_auth_file(config: OcciConfig) -> str:
    """ONE_CIPHER_AUTH wins over the config, as upstream's server did; then occi_auth, sunstone_auth."""
    return str(cipher_auth_path(config.one_cipher_auth, OCCI_AUTH_FILES))


def build_app(config: OcciConfig) -> OcciApp:
    check_config(config)
    admin = logged_in_server_admin(
        config.one_xmlrpc,
        Path(cipher_auth_file(config)),
        scheme=ZERO_IV_SHA1 if config.server_cipher_digest == "sha1" else None,
    )
    users = UserDirectory(admin, config.user_cache_seconds)
    return OcciApp(config, admin, make_authenticator(config, users))


class OcciServer(web.HttpService):
    """The OCCI listener; with x509 auth a client certificate is mandatory on its own TLS listener."""

    def __init__(self, config: OcciConfig, app: OcciApp | None = None) -> None:
        self.config = config
        self.app = app or build_app(config)
        listener = web.Listener(
            host=config.host,
            port=config.port,
            workers=config.workers,
            ssl_cert=config.ssl_cert,
            ssl_key=config.ssl_key,
            ssl_ca=config.ssl_ca,
            client_certs="required" if config.auth == "x509" else "optional",
        )
        super().__init__("occi", listener, self.app)

    def __enter__(self) -> OcciServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
