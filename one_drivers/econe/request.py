"""One HTTP request -> the parts econe decides on: parameters, headers, body hash, peer, client cert.

GET carries the parameters in the query string, POST in an urlencoded body (or multipart for the
UploadImage extension, whose file werkzeug streams straight to `tmpdir`, never into memory, within
`max_upload_bytes`). The body is hashed while it is read, for SigV4's payload check.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data

from one_drivers.query.errors import malformed_query, request_too_large, unsupported_method

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 1024 * 1024  # a form without a file: UserData is at most 16 KiB, keys a few KiB
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class UploadedFile:
    """A multipart file part, already on disk in tmpdir; removed after the request."""

    field: str
    filename: str
    path: str
    size: int


@dataclass
class IncomingRequest:
    method: str
    host: str  # the Host header as received (may carry a port)
    path: str
    query_string: str
    params: dict[str, str]
    query_pairs: list[tuple[str, str]]  # as received, for signatures
    form_pairs: list[tuple[str, str]]
    body: bytes  # an urlencoded body (empty for GET and multipart)
    headers: dict[str, str]  # lower-case names
    payload_sha256: str
    remote_addr: str
    environ: dict[str, Any]
    files: list[UploadedFile] = field(default_factory=list)
    # A multipart body whose SigV4 signature covers the payload, kept on disk for the check.
    raw_body_path: str | None = None

    def cleanup(self) -> None:
        paths = [upload.path for upload in self.files]
        if self.raw_body_path:
            paths.append(self.raw_body_path)
        _unlink_all(paths)

    @contextlib.contextmanager
    def signed_body(self) -> Iterator[bytes]:
        """The body a signature covers: the urlencoded form, or the kept multipart body, mapped from
        disk rather than read into memory (hashlib reads the mapping like bytes)."""
        if not self.raw_body_path or os.path.getsize(self.raw_body_path) == 0:
            yield self.body
            return
        with (
            open(self.raw_body_path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        ):
            yield mapped  # type: ignore[misc]


class _HashingReader:
    """wsgi.input that hashes what is read through it (and copies it to `tee` when given)."""

    def __init__(self, stream: IO[bytes], tee: IO[bytes] | None = None) -> None:
        self._stream = stream
        self._tee = tee
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.digest.update(data)
        if self._tee is not None:
            self._tee.write(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.digest.update(data)
        if self._tee is not None:
            self._tee.write(data)
        return data


def _payload_signed_v4(headers: dict[str, str], query_string: str) -> bool:
    """A SigV4 header signature over the payload: the multipart body must be kept to verify it."""
    if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
        return False
    return headers.get("x-amz-content-sha256", "") != "UNSIGNED-PAYLOAD"


def _decode_pairs(text: str, into: dict[str, str]) -> list[tuple[str, str]]:
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise malformed_query("The query string is not valid UTF-8 percent-encoding.") from exc
    for name, value in pairs:
        # A repeated name keeps its first value; EC2 serializations never repeat one.
        into.setdefault(name, value)
    return pairs


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = str(environ["CONTENT_LENGTH"])
    return headers


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError as exc:
        raise malformed_query("Invalid Content-Length.") from exc
    if length < 0:
        raise malformed_query("Invalid Content-Length.")
    return length


def read_request(environ: dict[str, Any], *, tmpdir: str, max_upload_bytes: int) -> IncomingRequest:
    """Read and decode the request; raises Ec2Error (400/413) for what cannot be decoded."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    query_string = str(environ.get("QUERY_STRING", ""))
    # PATH_INFO is decoded as latin-1 by WSGI; signatures are over the raw UTF-8 path.
    path = (str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))) or "/"
    path = path.encode("latin-1", "replace").decode("utf-8", "replace")
    params: dict[str, str] = {}
    query_pairs = _decode_pairs(query_string, params)
    form_pairs: list[tuple[str, str]] = []
    body = b""
    headers = _headers(environ)
    files: list[UploadedFile] = []
    raw_body_path: str | None = None
    payload_sha256 = EMPTY_SHA256
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if method == "POST":
        length = _content_length(environ)
        stream: IO[bytes] = environ["wsgi.input"]
        if content_type == "multipart/form-data":
            if _payload_signed_v4(headers, query_string):
                raw = tempfile.NamedTemporaryFile(dir=tmpdir, prefix="econe-upload-", delete=False)  # noqa: SIM115
                raw_body_path = raw.name
                try:
                    payload_sha256 = _read_multipart(
                        environ, stream, params, form_pairs, files, tmpdir, max_upload_bytes, tee=raw
                    )
                except BaseException:
                    raw.close()
                    _unlink_all([raw_body_path, *(f.path for f in files)])
                    raise
                raw.close()
            else:
                payload_sha256 = _read_multipart(
                    environ, stream, params, form_pairs, files, tmpdir, max_upload_bytes
                )
        else:
            if length is not None and length > MAX_FORM_BYTES:
                raise request_too_large(MAX_FORM_BYTES)
            try:
                if length is not None:
                    body = stream.read(length)
                elif "chunked" in headers.get("transfer-encoding", "").lower():
                    # No Content-Length: read to the end of the chunked body, within the form limit.
                    body = stream.read(MAX_FORM_BYTES + 1)
                    if len(body) > MAX_FORM_BYTES:
                        raise request_too_large(MAX_FORM_BYTES)
            except ValueError as exc:
                # The server's chunked decoder refuses a bad chunk size or trailer with ValueError.
                raise malformed_query("Malformed chunked body.") from exc
            payload_sha256 = hashlib.sha256(body).hexdigest()
            if content_type in ("", "application/x-www-form-urlencoded"):
                form_pairs = _decode_pairs(body.decode("latin-1"), params)
    elif method != "GET":
        raise unsupported_method(method)
    return IncomingRequest(
        method=method,
        host=headers.get("host", str(environ.get("SERVER_NAME", ""))),
        path=path,
        query_string=query_string,
        params=params,
        query_pairs=query_pairs,
        form_pairs=form_pairs,
        body=body,
        headers=headers,
        payload_sha256=payload_sha256,
        remote_addr=str(environ.get("REMOTE_ADDR", "")),
        environ=environ,
        files=files,
        raw_body_path=raw_body_path,
    )


def _read_multipart(
    environ: dict[str, Any],
    stream: IO[bytes],
    params: dict[str, str],
    form_pairs: list[tuple[str, str]],
    files: list[UploadedFile],
    tmpdir: str,
    max_upload_bytes: int,
    tee: IO[bytes] | None = None,
) -> str:
    reader = _HashingReader(stream, tee)
    spooled: list[str] = []

    def to_disk(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        handle = tempfile.NamedTemporaryFile(dir=tmpdir, prefix="econe-upload-", delete=False)  # noqa: SIM115
        spooled.append(handle.name)
        return handle

    environ = dict(environ, **{"wsgi.input": reader})
    try:
        _, form, uploads = parse_form_data(
            environ,
            stream_factory=to_disk,
            max_form_memory_size=MAX_FORM_BYTES,
            max_content_length=max_upload_bytes,
            silent=False,
        )
    except RequestEntityTooLarge as exc:
        _unlink_all(spooled)
        raise request_too_large(max_upload_bytes) from exc
    except ValueError as exc:
        _unlink_all(spooled)
        raise malformed_query("Malformed multipart body.") from exc
    for name, value in form.items(multi=True):
        form_pairs.append((name, value))
        params.setdefault(name, value)
    for name, storage in uploads.items(multi=False):
        stream_name = getattr(storage.stream, "name", None)
        if not isinstance(stream_name, str):
            continue
        storage.stream.close()
        files.append(UploadedFile(name, storage.filename or "", stream_name, os.path.getsize(stream_name)))
    kept = {f.path for f in files}
    _unlink_all([p for p in spooled if p not in kept])
    return reader.digest.hexdigest()


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
