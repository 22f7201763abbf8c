"""An OCCI client over http.client: upstream's endpoint, credentials and password hashing rules.

Endpoint: `--url`, else $OCCI_URL, else http://localhost:4567. Credentials: `--username/--password`,
else the `user:password` line of $ONE_AUTH (or ~/.one/one_auth). The password travels as its SHA-256
hex (what oned 5.10+ stores; `--sha1` for older clouds, as upstream's client always did) or as typed
with `--plain`. Uploads stream the file in chunks with a progress callback, never reading it whole.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import ssl
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://localhost:4567"
CHUNK = 256 * 1024


class ClientError(Exception):
    """The server answered an error (status and its message) or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_one_auth(path: str | None = None) -> tuple[str, str]:
    """`user:password` from $ONE_AUTH or ~/.one/one_auth, as upstream's CloudClient read it."""
    path = path or os.environ.get("ONE_AUTH") or os.path.expanduser("~/.one/one_auth")
    try:
        line = Path(path).read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError):
        raise ClientError(0, f"No authorization data present (ONE_AUTH file {path} not readable)") from None
    user, sep, password = line.partition(":")
    if not sep or not user:
        raise ClientError(0, f"{path}: expected a user:password line")
    return user, password


def hash_password(password: str, scheme: str) -> str:
    if scheme == "plain":
        return password
    if scheme == "sha1":
        return hashlib.sha1(password.encode("utf-8")).hexdigest()
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class OcciClient:
    def __init__(
        self,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float | None = None,
        scheme: str = "sha256",
        accept: str = "application/xml",
        debug: bool = False,
    ) -> None:
        self.url = (url or os.environ.get("OCCI_URL") or DEFAULT_URL).rstrip("/")
        if username and password is not None:
            user, secret = username, password
        else:
            user, secret = read_one_auth()
            if username:
                user = username
        token = base64.b64encode(f"{user}:{hash_password(secret, scheme)}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.timeout = timeout
        self.accept = accept
        self.debug = debug
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(0, f"Not an http(s) URL: {self.url}")
        self._parts = parts

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "localhost", self._parts.port
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        *,
        content_type: str | None = None,
        length: int | None = None,
    ) -> Response:
        prefix = self._parts.path.rstrip("/")
        headers = {"Authorization": self.authorization, "Accept": self.accept}
        if content_type:
            headers["Content-Type"] = content_type
        if length is not None:
            headers["Content-Length"] = str(length)
        conn = self._connection()
        try:
            if self.debug:
                print(f"> {method} {self.url}{path}")
            conn.request(method, prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            raise ClientError(0, f"Cannot reach {self.url}: {exc}") from None
        finally:
            conn.close()
        if self.debug:
            print(f"< {resp.status} {resp.reason}")
        if resp.status >= 400:
            raise ClientError(resp.status, data.decode("utf-8", "replace").strip() or resp.reason)
        return Response(resp.status, resp.getheader("Content-Type", ""), data)

    # --- upstream's operations --------------------------------------------------------------------
    def get(self, kind: str, oid: str | None = None, *, verbose: bool = False) -> Response:
        path = f"/{kind}" if oid is None else f"/{kind}/{urllib.parse.quote(str(oid), safe='')}"
        return self.request("GET", path + ("?verbose=true" if verbose and oid is None else ""))

    def post(self, kind: str, document: bytes, content_type: str = "application/xml") -> Response:
        return self.request("POST", f"/{kind}", document, content_type=content_type)

    def put(self, kind: str, oid: str, document: bytes, content_type: str = "application/xml") -> Response:
        return self.request(
            "PUT", f"/{kind}/{urllib.parse.quote(oid, safe='')}", document, content_type=content_type
        )

    def delete(self, kind: str, oid: str) -> Response:
        return self.request("DELETE", f"/{kind}/{urllib.parse.quote(oid, safe='')}")

    def action(self, kind: str, oid: str, document: bytes) -> Response:
        path = f"/{kind}/{urllib.parse.quote(oid, safe='')}/action"
        return self.request("POST", path, document, content_type="application/xml")

    def upload_storage(
        self, document: bytes, file_path: str | None, progress: Callable[[int], None] | None = None
    ) -> Response:
        """POST /storage as multipart: `occixml` (the document) and `file` (streamed from disk)."""
        boundary = f"occi-{uuid.uuid4().hex}"
        head = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="occixml"\r\n'
                "Content-Type: application/xml\r\n\r\n"
            ).encode()
            + document
            + b"\r\n"
        )
        tail = f"--{boundary}--\r\n".encode()
        file_head = b""
        size = 0
        if file_path is not None:
            size = os.path.getsize(file_path)
            name = os.path.basename(file_path).replace('"', "_")
            file_head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()

        def chunks() -> Iterator[bytes]:
            yield head
            if file_path is not None:
                yield file_head
                with open(file_path, "rb") as handle:
                    while True:
                        block = handle.read(CHUNK)
                        if not block:
                            break
                        if progress is not None:
                            progress(len(block))
                        yield block
                yield b"\r\n"
            yield tail

        length = len(head) + len(tail) + (len(file_head) + size + 2 if file_path is not None else 0)
        return self.request(
            "POST",
            "/storage",
            chunks(),
            content_type=f"multipart/form-data; boundary={boundary}",
            length=length,
        )
