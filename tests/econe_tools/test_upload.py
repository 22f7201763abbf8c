"""econe-upload: the multipart body, its signature and the progress bar, seen by a loopback receiver."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from werkzeug.formparser import parse_form_data

from one_drivers.econe_tools.images import upload
from one_drivers.econe_tools.upload import MultipartFile
from one_drivers.query.errors import Ec2Error
from one_drivers.query.signing import SignedRequest, access_key_of, verify_signature

SECRET = "alice-secret"


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny EC2-ish endpoint: records each request, verifies it with our verifier, answers like econe."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: tuple[int, bytes] | None = None

    def verify(self, got: Received) -> None:
        signed = SignedRequest(
            got.method,
            got.headers["host"],
            got.path,
            got.query,
            [],
            got.headers,
            b"",
            payload_sha256=hashlib.sha256(got.body).hexdigest(),
        )
        assert access_key_of(signed)[0] == "alice"
        verify_signature(signed, SECRET, now=datetime.now(UTC))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            got = Received(
                "POST",
                parts.path,
                parse_qsl(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            state.requests.append(got)
            try:
                state.verify(got)
                status, answer = state.answer or (
                    200,
                    b'<?xml version="1.0" encoding="UTF-8"?>\n<UploadImageResponse xmlns="http://ec2.amazonaws.com/'
                    b'doc/2016-11-15/"><requestId>r1</requestId><imageId>ami-00000042</imageId></UploadImageResponse>',
                )
            except Ec2Error as error:
                status = error.status
                answer = (
                    f"<Response><Errors><Error><Code>{error.code}</Code><Message>{error.message}</Message>"
                    "</Error></Errors><RequestID>r2</RequestID></Response>"
                ).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def upload_cli(receiver: Receiver, *args: str, secret: str = SECRET) -> tuple[int, str, str]:
    env = {"EC2_ACCESS_KEY": "alice", "EC2_SECRET_KEY": secret, "EC2_URL": receiver.url}
    result = CliRunner().invoke(upload, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def the_file(got: Received) -> tuple[dict[str, str], str, bytes]:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": got.headers["content-type"],
        "CONTENT_LENGTH": str(len(got.body)),
        "wsgi.input": __import__("io").BytesIO(got.body),
    }
    _, form, files = parse_form_data(environ)
    storage = files["file"]
    return dict(form), storage.filename or "", storage.read()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / 'disk "one".qcow2'
    path.write_bytes(bytes(range(256)) * 9000 + b"\r\n--tail")  # > 2 chunks, binary, boundary-like bytes
    return path


def test_upload_sigv4_with_payload_hash(receiver: Receiver, image: Path) -> None:
    code, out, err = upload_cli(receiver, str(image))
    assert (code, out) == (0, "Success: ImageId ami-00000042\n"), err
    got = receiver.requests[0]
    assert dict(got.query) == {"Action": "UploadImage", "Version": "2016-11-15"}
    assert got.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=alice/")
    assert got.headers["x-amz-content-sha256"] == hashlib.sha256(got.body).hexdigest()
    assert got.headers["host"] == receiver.url.split("/")[2]
    form, filename, content = the_file(got)
    assert content == image.read_bytes()
    assert filename == 'disk "one".qcow2'  # sent as %22, the browser convention werkzeug decodes
    assert form == {}
    assert "Uploading" in err  # the progress bar goes to stderr, never stdout


def test_upload_unsigned_payload_and_sigv2(receiver: Receiver, image: Path) -> None:
    named = ["-n", "my disk é+1", "-d", "a/b c"]
    assert upload_cli(receiver, "--unsigned-payload", "--no-progress", *named, str(image))[0] == 0
    assert receiver.requests[-1].headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    query = dict(receiver.requests[-1].query)
    assert (query["Name"], query["Description"]) == ("my disk é+1", "a/b c")
    assert upload_cli(receiver, "--no-progress", *named, str(image))[0] == 0
    code, _, err = upload_cli(receiver, "--signature-version", "v2", "--no-progress", *named, str(image))
    assert code == 0, err
    code, _, err = upload_cli(receiver, "--signature-version", "v2", "--no-progress", str(image))
    assert code == 0, err
    query = dict(receiver.requests[-1].query)
    assert (query["SignatureVersion"], query["AWSAccessKeyId"], query["Action"]) == (
        "2",
        "alice",
        "UploadImage",
    )
    assert the_file(receiver.requests[-1])[2] == image.read_bytes()


def test_upload_error_is_code_and_message(receiver: Receiver, image: Path) -> None:
    code, _, err = upload_cli(receiver, "--no-progress", str(image), secret="wrong")
    assert code == 1
    assert err.startswith("SignatureDoesNotMatch: ")
    receiver.answer = (
        413,
        b"<Response><Errors><Error><Code>RequestEntityTooLarge</Code><Message>too big</Message></Error></Errors></Response>",
    )
    assert upload_cli(receiver, "--no-progress", str(image))[1:] == ("", "RequestEntityTooLarge: too big\n")
    receiver.answer = (502, b"<html>bad gateway</html")
    code, _, err = upload_cli(receiver, "--no-progress", str(image))
    assert (code, err) == (1, "Error: HTTP 502 Bad Gateway (not an EC2 response)\n")


def test_missing_file_is_a_usage_error(receiver: Receiver, tmp_path: Path) -> None:
    code, _, err = upload_cli(receiver, str(tmp_path / "nope.img"))
    assert code == 2
    assert "does not exist" in err


def test_multipart_length_matches_what_is_sent(image: Path) -> None:
    body = MultipartFile(str(image), fields=[("Name", "x")])
    sent = b"".join(body.chunks())
    assert len(sent) == body.length()
    assert hashlib.sha256(sent).hexdigest() == body.sha256()
    seen: list[int] = []
    b"".join(body.chunks(seen.append))
    assert sum(seen) == image.stat().st_size
