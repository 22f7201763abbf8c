"""The OCCI WSGI application: routes, content negotiation, one place where errors become responses.

Flow per request: authenticate (auth.py) -> route (werkzeug's Map) -> read the body in the rendering
the client sent (upstream XML, or OGF text/plain / JSON by Content-Type) -> act as the user
(resources.py) -> render in the rendering the client accepts. Failures are plain-text messages with
their HTTP status, as upstream's server answered; 5xx never carry details. Uploads (POST /storage,
multipart) are streamed to `tmpdir` by werkzeug, never held in memory, within `max_upload_bytes`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.formparser import parse_form_data
from werkzeug.routing import Map, Rule

from one_drivers.occi import documents, ogf, render_xml
from one_drivers.occi import resources as res
from one_drivers.occi.auth import Authenticator
from one_drivers.occi.config import OcciConfig
from one_drivers.occi.documents import ComputeDoc, NetworkDoc, StorageDoc
from one_drivers.occi.errors import BadRequest, OcciError, PayloadTooLarge, error_for
from one_drivers.occi.resources import OcciContext, Upload
from one_drivers.occi.views import Reply, Root
from one_drivers.one.gateway import OneError, OneGateway
from one_drivers.web.server import StartResponse, set_request_id

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 1024 * 1024  # an OCCI document; only the image file of POST /storage is larger
# A refused body up to this size is read and dropped first: a client still sending when the server
# closes gets a reset instead of the 413.
DRAIN_REFUSED_BYTES = 8 * MAX_DOCUMENT_BYTES


URLS = Map(
    [
        Rule("/", endpoint="root", methods=["GET"]),
        Rule("/-/", endpoint="query", methods=["GET"]),
        Rule("/.well-known/org/ogf/occi/-/", endpoint="query", methods=["GET"]),
        Rule("/<any(compute,network,storage,user,instance_type):kind>", endpoint="collection",
             methods=["GET", "POST"], strict_slashes=False),
        Rule("/<any(compute,network,storage,user):kind>/<int:oid>", endpoint="entity",
             methods=["GET", "PUT", "DELETE", "POST"], strict_slashes=False),
        Rule("/instance_type/<name>", endpoint="instance_type", methods=["GET"]),
        Rule("/<any(compute,storage):kind>/<int:oid>/action", endpoint="action", methods=["POST"]),
    ]
)  # fmt: skip


@dataclass
class Incoming:
    """The parts of one request the handlers use."""

    method: str
    media: str  # the body's media type, lower-case, no parameters
    body: bytes = b""
    form: dict[str, str] = field(default_factory=dict)
    upload: Upload | None = None
    spooled: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    environ: dict[str, Any] = field(default_factory=dict)  # text/occi bodies travel in headers

    def cleanup(self) -> None:
        for path in self.spooled:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise BadRequest("Invalid Content-Length") from None
    if length < 0:
        raise BadRequest("Invalid Content-Length")
    return length


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))


def read_incoming(environ: dict[str, Any], config: OcciConfig) -> Incoming:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method == "HEAD":
        method = "GET"  # answered as GET, without the body (see OcciApp.__call__)
    media = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
    incoming = Incoming(method=method, media=media, query=_query(environ), environ=environ)
    if method not in ("POST", "PUT"):
        return incoming
    length = _length(environ)
    stream: IO[bytes] = environ["wsgi.input"]
    if media == "multipart/form-data":
        _read_multipart(environ, incoming, config)
        return incoming
    if length is not None and length > MAX_DOCUMENT_BYTES:
        remaining = length if length <= DRAIN_REFUSED_BYTES else 0
        while remaining > 0 and (chunk := stream.read(min(remaining, 65536))):
            remaining -= len(chunk)
        raise PayloadTooLarge(f"An OCCI document is at most {MAX_DOCUMENT_BYTES} bytes")
    if length is None:
        # No Content-Length (chunked): read at most one byte past the limit.
        incoming.body = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(incoming.body) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(f"An OCCI document is at most {MAX_DOCUMENT_BYTES} bytes")
    else:
        incoming.body = stream.read(length)
    return incoming


def _read_multipart(environ: dict[str, Any], incoming: Incoming, config: OcciConfig) -> None:
    def to_disk(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        spool = tempfile.NamedTemporaryFile(dir=config.tmpdir, prefix="occi-part-", delete=False)  # noqa: SIM115
        incoming.spooled.append(spool.name)
        return spool

    try:
        _, form, files = parse_form_data(
            environ,
            stream_factory=to_disk,
            max_form_memory_size=MAX_DOCUMENT_BYTES,
            max_content_length=config.max_upload_bytes,
            silent=False,
        )
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"The upload exceeds {config.max_upload_bytes} bytes") from None
    except ValueError as exc:
        raise BadRequest(f"The multipart body cannot be read: {exc}") from None
    incoming.form = {k: form[k] for k in form}
    occixml = files.get("occixml")
    if occixml is not None:  # upstream's curb client sent the document as a part with a file name
        incoming.form["occixml"] = occixml.stream.read(MAX_DOCUMENT_BYTES + 1).decode("utf-8", "replace")
    image = files.get("file")
    if image is not None:
        spool_name = getattr(image.stream, "name", None)
        image.stream.flush()
        if not isinstance(spool_name, str):
            raise BadRequest("The uploaded file could not be kept")
        incoming.upload = Upload(spool_name, image.filename or "", os.path.getsize(spool_name))
    for part in files.values():
        part.stream.close()


class OcciApp:
    """WSGI callable. Stateless beyond caches: any number of these can serve one cloud."""

    def __init__(self, config: OcciConfig, admin: OneGateway, authenticator: Authenticator) -> None:
        self.config = config
        self.admin = admin
        self.authenticator = authenticator
        self.base_url = config.base_url

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        set_request_id(request_id)
        try:
            status, content_type, body = self.handle(environ, request_id)
        finally:
            set_request_id("-")
        extra: list[tuple[str, str]] = []
        if content_type.startswith("text/occi"):
            extra, body = ogf.text_headers(body), b""
        headers = [
            *extra,
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Request-Id", request_id),
        ]
        if status != 204:
            headers.insert(0, ("Content-Type", content_type))
        if status in (200, 201, 202) and content_type.startswith(("text/plain", "text/occi")):
            headers.append(("Server", "OCCI/1.2 one_drivers"))
        start_response(f"{status} {_reason(status)}", headers)
        if str(environ.get("REQUEST_METHOD", "")).upper() == "HEAD":
            return [b""]
        return [body]

    def handle(self, environ: dict[str, Any], request_id: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request; never raises."""
        label = f"{environ.get('REQUEST_METHOD', '-')} {environ.get('PATH_INFO', '/')}"
        incoming: Incoming | None = None
        try:
            user = self.authenticator.authenticate(environ)
            adapter = URLS.bind_to_environ(environ)
            try:
                endpoint, matched = adapter.match()
            except MethodNotAllowed:
                raise OcciError("Method not allowed on this resource", 405) from None
            except RouteNotFound:
                raise OcciError(f"No such resource: {environ.get('PATH_INFO', '/')}", 404) from None
            except HTTPException as exc:  # werkzeug's redirects for trailing slashes
                raise OcciError(str(exc.description), exc.code or 400) from None
            args: dict[str, Any] = dict(matched)
            incoming = read_incoming(environ, self.config)
            rendering = ogf.choose(environ, incoming.media)
            ctx = OcciContext(
                user=user.name,
                user_id=user.id,
                one=self.admin.for_user(user.name),
                config=self.config,
                request_id=request_id,
            )
            reply = self.dispatch(ctx, endpoint, args, incoming)
            content_type, body = self.render(reply, rendering)
            log.info("%s by %s: %d", label, user.name, reply.status)
            return reply.status, content_type, body
        except OcciError as err:
            return self._error(label, err)
        except OneError as exc:
            log.warning("%s: OpenNebula %s: %s", label, type(exc).__name__, exc.message)
            return self._error(label, error_for(exc))
        except Exception:
            log.exception("%s: unexpected failure", label)
            return self._error(label, OcciError("Internal error"))
        finally:
            if incoming is not None:
                incoming.cleanup()

    def _error(self, label: str, err: OcciError) -> tuple[int, str, bytes]:
        status = err.status if 400 <= err.status <= 599 else 500
        log.info("%s: %d %s", label, status, err.message)
        return status, "text/plain; charset=utf-8", (err.message + "\n").encode("utf-8")

    def render(self, reply: Reply, rendering: str) -> tuple[str, bytes]:
        if rendering == "xml":
            return render_xml.render_reply(reply, self.base_url)
        return ogf.render_reply(reply, rendering, self.base_url, self.config)

    def dispatch(self, ctx: OcciContext, endpoint: str, args: dict[str, Any], incoming: Incoming) -> Reply:
        verbose = incoming.query.get("verbose", "").lower() in ("true", "1", "yes")
        if endpoint == "root":
            return Reply(200, Root())
        if endpoint == "query":
            return ogf.query_interface(res.all_instance_types(ctx).values())
        if endpoint == "instance_type":
            return res.show_instance_type(ctx, args["name"])
        kind = args["kind"]
        if endpoint == "collection":
            if incoming.method == "GET":
                return res.LISTERS[kind](ctx, verbose)
            return self._create(ctx, kind, incoming)
        oid = int(args["oid"])
        if endpoint == "action" or (endpoint == "entity" and incoming.method == "POST"):
            return self._action(ctx, kind, oid, incoming)
        return self._entity(ctx, kind, oid, incoming)

    def _create(self, ctx: OcciContext, kind: str, incoming: Incoming) -> Reply:
        if kind == "compute":
            return res.create_compute(ctx, compute_document(incoming))
        if kind == "network":
            return res.create_network(ctx, network_document(incoming))
        if kind == "storage":
            if incoming.media == "multipart/form-data":
                occixml = incoming.form.get("occixml")
                if occixml is None:
                    raise BadRequest("OCCI XML representation of Image not present in the request")
                storage = documents.parse_storage(occixml.encode("utf-8"))
                return res.create_storage(ctx, storage, incoming.upload)
            return res.create_storage(ctx, storage_document(incoming), None)
        raise OcciError(f"{kind} cannot be created through OCCI", 405)

    def _entity(self, ctx: OcciContext, kind: str, oid: int, incoming: Incoming) -> Reply:
        method = incoming.method
        table: dict[tuple[str, str], Callable[[], Reply]] = {
            ("compute", "GET"): lambda: res.show_compute(ctx, oid),
            ("compute", "DELETE"): lambda: res.delete_compute(ctx, oid),
            ("compute", "PUT"): lambda: res.update_compute(ctx, oid, compute_document(incoming)),
            ("network", "GET"): lambda: res.show_network(ctx, oid),
            ("network", "DELETE"): lambda: res.delete_network(ctx, oid),
            ("network", "PUT"): lambda: res.update_network(ctx, oid, network_document(incoming)),
            ("storage", "GET"): lambda: res.show_storage(ctx, oid),
            ("storage", "DELETE"): lambda: res.delete_storage(ctx, oid),
            ("storage", "PUT"): lambda: res.update_storage(ctx, oid, storage_document(incoming)),
            ("user", "GET"): lambda: res.show_user(ctx, oid),
        }
        handler = table.get((kind, method))
        if handler is None:
            raise OcciError(f"{method} is not allowed on {kind}", 405)
        return handler()

    def _action(self, ctx: OcciContext, kind: str, oid: int, incoming: Incoming) -> Reply:
        if ogf.is_ogf_media(incoming.media) or "action" in incoming.query:
            return ogf.perform_action(
                ctx, kind, oid, incoming.query.get("action", ""), incoming.body, incoming.media
            )
        action = documents.parse_action(incoming.body)
        if kind == "compute":
            return res.compute_action(ctx, oid, action)
        if kind == "storage":
            return res.storage_action(ctx, oid, action)
        raise OcciError(f"{kind} has no actions", 405)


# The body in the rendering it came in: OGF by its media type, else upstream's XML.
def compute_document(incoming: Incoming) -> ComputeDoc:
    if ogf.is_ogf_media(incoming.media):
        return ogf.parse_compute(incoming.body, incoming.media, incoming.environ)
    return documents.parse_compute(incoming.body)


def network_document(incoming: Incoming) -> NetworkDoc:
    if ogf.is_ogf_media(incoming.media):
        return ogf.parse_network(incoming.body, incoming.media, incoming.environ)
    return documents.parse_network(incoming.body)


def storage_document(incoming: Incoming) -> StorageDoc:
    if ogf.is_ogf_media(incoming.media):
        return ogf.parse_storage(incoming.body, incoming.media, incoming.environ)
    return documents.parse_storage(incoming.body)
