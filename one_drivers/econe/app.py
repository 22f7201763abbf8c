"""The econe WSGI application: one endpoint, dispatch on `Action`, one place where errors become responses.

Flow per request: read (request.py) -> authenticate (auth.py) -> look the action up in botocore's model
and our registry -> parse by input shape -> handler acting as the user -> render by output shape. Every
failure is rendered once here, with its HTTP status (never 200), and the response body is built whole so
the server writes headers and body in one send.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from one_drivers.econe.config import EconeConfig
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.faults import ec2_error_for
from one_drivers.econe.request import IncomingRequest, read_request
from one_drivers.one.gateway import OneError, OneGateway, ServerLoginRefused
from one_drivers.one.records import UserRecord
from one_drivers.query.errors import (
    Ec2Error,
    dry_run_succeeded,
    internal_error,
    invalid_version,
    missing_action,
    unsupported_operation,
)
from one_drivers.query.model import API_VERSION, operation_model
from one_drivers.query.parse import check_xml_text, parse_request
from one_drivers.query.render import render_error, render_extension, render_response
from one_drivers.web.server import StartResponse, set_request_id

log = logging.getLogger(__name__)

# Non-AWS actions econe has always offered; they bypass the model and get the raw parameters.
EXTENSION_ACTIONS = frozenset({"UploadImage"})

_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    412: "Precondition Failed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# Refusals of who the caller is (counted as authentication failures in the metrics).
AUTH_FAILURE_CODES = frozenset({"AuthFailure", "SignatureDoesNotMatch", "RequestExpired"})


class RequestObserver(Protocol):
    """Told about every request (econe's metrics); `action` is a served action's name, else "other"."""

    def request_done(self, action: str, status: int, seconds: float) -> None: ...

    def auth_failed(self, code: str) -> None: ...


class _Outcome:
    """What one request did, for the observer: filled in by `handle` as it learns it."""

    __slots__ = ("action", "code")

    def __init__(self) -> None:
        self.action = "-"
        self.code = ""


class Authenticator(Protocol):
    def authenticate(self, request: IncomingRequest) -> UserRecord: ...


class EconeApp:
    """WSGI callable. Stateless beyond caches: any number of these can serve one cloud."""

    def __init__(
        self,
        config: EconeConfig,
        admin: OneGateway,
        authenticator: Authenticator,
        handlers: dict[str, Handler],
    ) -> None:
        self.config = config
        self.admin = admin
        self.authenticator = authenticator
        self.handlers = handlers
        self.observer: RequestObserver | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        set_request_id(request_id)
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            status, body = self.handle(environ, request_id, outcome)
        finally:
            set_request_id("-")
        if self.observer is not None:
            self._observe(self.observer, outcome, status, time.perf_counter() - started)
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [
                ("Content-Type", "text/xml;charset=UTF-8"),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", request_id),
            ],
        )
        return [body]

    def _observe(self, observer: RequestObserver, outcome: _Outcome, status: int, seconds: float) -> None:
        # Only served actions get their own label: names from clients must not grow the series.
        action = outcome.action if outcome.action in self.handlers else "other"
        observer.request_done(action, status, seconds)
        if outcome.code in AUTH_FAILURE_CODES:
            observer.auth_failed(outcome.code)

    def handle(
        self, environ: dict[str, Any], request_id: str, outcome: _Outcome | None = None
    ) -> tuple[int, bytes]:
        """(HTTP status, body) for one request; never raises."""
        action = "-"
        outcome = outcome or _Outcome()
        request: IncomingRequest | None = None
        try:
            request = read_request(
                environ, tmpdir=self.config.tmpdir, max_upload_bytes=self.config.max_upload_bytes
            )
            action = outcome.action = request.params.get("Action", "-")
            body = self._dispatch(request, request_id)
            log.info("%s %s from %s: 200", action, request.method, request.remote_addr)
            return 200, body
        except Ec2Error as err:
            outcome.code = err.code
            return self._error(err, request_id, action)
        except ServerLoginRefused as exc:
            log.error("%s: cannot act for the caller: %s", action, exc.message)
            return self._error(ec2_error_for(exc), request_id, action)
        except OneError as exc:
            log.warning("%s: OpenNebula %s: %s", action, type(exc).__name__, exc.message)
            return self._error(ec2_error_for(exc), request_id, action)
        except Exception:
            log.exception("%s: unexpected failure", action)
            return self._error(internal_error(), request_id, action)
        finally:
            if request is not None:
                request.cleanup()

    def _error(self, err: Ec2Error, request_id: str, action: str) -> tuple[int, bytes]:
        status = err.status if 400 <= err.status <= 599 else 500
        log.info("%s: %d %s", action, status, err.code)
        return status, render_error(err, request_id)

    def _dispatch(self, request: IncomingRequest, request_id: str) -> bytes:
        user = self.authenticator.authenticate(request)
        action = request.params.get("Action")
        if not action:
            raise missing_action()
        version = request.params.get("Version") or API_VERSION
        if not _VERSION.fullmatch(version):
            raise invalid_version()
        if action in EXTENSION_ACTIONS:
            for name, value in request.params.items():
                check_xml_text(name, value)  # no shape to parse by, the same refusal as shaped values
            params: dict[str, Any] = dict(request.params)
            params["Files"] = {f.field: f for f in request.files}
        else:
            operation_model(action)  # InvalidAction for names the model does not know
            # Parameters are validated before support is checked, as AWS validates before acting.
            params = parse_request(action, request.params)
        handler = self.handlers.get(action)
        if handler is None:
            raise unsupported_operation(action)
        if params.get("DryRun") is True:
            # Authenticated and well-formed is all a dry run can promise without acting.
            raise dry_run_succeeded()
        ctx = RequestContext(
            request_id=request_id,
            action=action,
            user=user.name,
            user_id=user.id,
            one=self.admin.for_user(user.name),
            admin=self.admin,
            config=self.config,
        )
        log.debug("%s as %s", action, user.name)
        result = handler(ctx, params)
        if action in EXTENSION_ACTIONS:
            return render_extension(action, result, request_id, version)
        return render_response(action, result, request_id, version)
