"""econe's UploadImage extension on the client side: a multipart POST streamed from disk, signed.

boto3 cannot send it (the action is not in the model), so the body is built here: the form field `file`
carries the image, `Action=UploadImage` travels in the query string. SigV4 signs the query and the
body's SHA-256 (one extra read of the file; `unsigned_payload` skips it); SigV2 signs the query only.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from botocore.auth import SigV2Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from one_drivers import xmlsafe
from one_drivers.econe_tools.connection import Connection, ToolError
from one_drivers.query.model import API_VERSION

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
FILE_FIELD = "file"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def _quoted(text: str) -> str:
    # A filename inside a quoted header parameter: no quote, CR or LF may end it early.
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(frozen=True)
class MultipartFile:
    """A multipart/form-data body of some text fields and one file, produced in chunks, never whole."""

    path: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    boundary: str = field(default_factory=lambda: f"econe-{uuid.uuid4().hex}")

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self) -> bytes:
        parts = []
        for name, value in self.fields:
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n{value}\r\n'
            )
        filename = _quoted(os.path.basename(self.path))
        parts.append(
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{FILE_FIELD}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        return "".join(parts).encode("utf-8")

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode("ascii")

    def file_size(self) -> int:
        return os.path.getsize(self.path)

    def length(self) -> int:
        return len(self._head()) + self.file_size() + len(self._tail())

    def chunks(self, on_file_bytes: Callable[[int], None] = lambda n: None) -> Iterator[bytes]:
        yield self._head()
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                on_file_bytes(len(chunk))
                yield chunk
        yield self._tail()

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def _host_header(url: str) -> str:
    # What botocore signs and what an HTTP client sends: the port only when it is not the default.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _query_string(params: Mapping[str, str]) -> str:
    # RFC 3986 encoding (space as %20, never +): SigV4 signs the query string exactly as it is sent.
    return urlencode(params, quote_via=quote, safe="-_.~")


def signed_headers(
    conn: Connection,
    url: str,
    body: MultipartFile,
    *,
    unsigned_payload: bool,
    extra: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """(request target, headers) for the upload POST, signed as `conn` says (SigV4 or SigV2).

    `extra` parameters (Name, Description) travel in the query string, so either signature covers them.
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    params = {"Action": "UploadImage", "Version": API_VERSION, **(extra or {})}
    credentials = Credentials(conn.access_key, conn.secret_key)
    if conn.signature_version == "v2":
        request = AWSRequest(
            method="POST", url=base, params=params, headers={"Content-Type": body.content_type}
        )
        SigV2Auth(credentials).add_auth(request)
        query = _query_string(request.params)
    else:
        payload = UNSIGNED_PAYLOAD if unsigned_payload else body.sha256()
        headers = {"Content-Type": body.content_type, "X-Amz-Content-SHA256": payload}
        request = AWSRequest(method="POST", url=f"{base}?{_query_string(params)}", headers=headers)
        SigV4Auth(credentials, "ec2", conn.region).add_auth(request)
        query = _query_string(params)
    sent = {name: str(value) for name, value in request.headers.items()}
    sent["Host"] = _host_header(url)
    return f"{parts.path or '/'}?{query}", sent


def upload_image(
    conn: Connection,
    path: str,
    *,
    unsigned_payload: bool = False,
    name: str | None = None,
    description: str | None = None,
    on_file_bytes: Callable[[int], None] = lambda n: None,
) -> str:
    """POST the file at `path` as UploadImage; returns the new image id (ami-...)."""
    body = MultipartFile(path)
    extra = {k: v for k, v in (("Name", name), ("Description", description)) if v}
    target, headers = signed_headers(conn, conn.url, body, unsigned_payload=unsigned_payload, extra=extra)
    headers["Content-Length"] = str(body.length())
    parts = urlsplit(conn.url)
    link: http.client.HTTPConnection
    if parts.scheme == "https":
        link = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=conn.timeout)
    else:
        link = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=conn.timeout)
    try:
        link.putrequest("POST", target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            link.putheader(name, value)
        link.endheaders()
        for chunk in body.chunks(on_file_bytes):
            link.send(chunk)
        response = link.getresponse()
        status, reason, answer = response.status, response.reason, response.read()
    finally:
        link.close()
    return _image_id_from(status, reason, answer)


def _image_id_from(status: int, reason: str, answer: bytes) -> str:
    try:
        root = xmlsafe.parse(answer)
    except xmlsafe.XmlError:
        raise ToolError(f"Error: HTTP {status} {reason} (not an EC2 response)") from None
    values: dict[str, Any] = {xmlsafe.localname(e): e.text for e in root.iter() if isinstance(e.tag, str)}
    if status >= 300 or "Code" in values:
        raise ToolError(f"{values.get('Code') or f'HTTP{status}'}: {values.get('Message') or reason}")
    image_id = values.get("imageId")
    if not image_id:
        raise ToolError("Error: the server answered without an imageId")
    return str(image_id)
