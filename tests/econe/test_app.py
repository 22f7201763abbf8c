"""The app's own duties with stand-in handlers: one error rendering, 500s without details, request ids in
the log, multipart uploads streamed to tmpdir within the size limit, and the OpenNebula fault table.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from one_drivers.econe.app import EconeApp
from one_drivers.econe.auth import SignatureAuthenticator
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.faults import FAULTS, ec2_error_for
from one_drivers.econe.request import UploadedFile
from one_drivers.econe.server import EconeServer, configure_logging
from one_drivers.one import gateway
from one_drivers.one.gateway import ERROR_BY_CODE, OneError, OneGateway, OneNotFoundError
from one_drivers.one.users import UserDirectory
from tests.conftest import free_port
from tests.econe.conftest import EconeEnv
from tests.econe.sigv2 import Reply, send, sign_v2


def boom(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("secret detail: /var/lib/one password=hunter2")


def one_missing(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    raise OneNotFoundError("[one.vm.info] Error getting virtual machine [42].", method="one.vm.info")


class UploadRecorder:
    def __init__(self) -> None:
        self.seen: list[tuple[UploadedFile, bytes, str]] = []

    def __call__(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        upload: UploadedFile = params["Files"]["file"]
        with open(upload.path, "rb") as handle:
            self.seen.append((upload, handle.read(), ctx.user))
        return {"ImageId": "ami-00000007"}


@pytest.fixture
def custom(econe_env: EconeEnv, tmp_path: Path) -> Iterator[tuple[EconeServer, EconeEnv, UploadRecorder]]:
    recorder = UploadRecorder()
    handlers: dict[str, Handler] = {
        "DescribeRegions": boom,
        "DescribeAvailabilityZones": one_missing,
        "UploadImage": recorder,
    }
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    config = replace(econe_env.config, port=free_port(), tmpdir=str(upload_dir), max_upload_bytes=64 * 1024)
    admin = OneGateway.server_admin(config.one_xmlrpc, config.one_cipher_auth)
    app = EconeApp(config, admin, SignatureAuthenticator(config, UserDirectory(admin, 60)), handlers)
    server = EconeServer(config, app).start()
    try:
        yield server, econe_env, recorder
    finally:
        server.stop()


def signed_get(server: EconeServer, env: EconeEnv, action: str) -> Reply:
    host = urllib.parse.urlsplit(server.url).netloc
    return send(server.url, sign_v2({"Action": action}, key="alice", secret=env.alice.secret, host=host))


def test_unexpected_failure_is_a_generic_500_with_the_trace_in_the_log(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder], caplog: pytest.LogCaptureFixture
) -> None:
    server, env, _ = custom
    with caplog.at_level(logging.INFO):
        reply = signed_get(server, env, "DescribeRegions")
    assert (reply.status, reply.error_code) == (500, "InternalError")
    assert b"secret detail" not in reply.body and b"Traceback" not in reply.body
    request_id = reply.find("RequestID")
    assert request_id and uuid.UUID(request_id)
    failures = [r for r in caplog.records if r.exc_info]
    assert failures and "secret detail" in str(failures[0].exc_info[1])  # type: ignore[index]
    # Every line logged while serving the request carries its id.
    mine = [r for r in caplog.records if r.name.startswith("one_drivers.econe")]
    assert mine and all(getattr(r, "request_id", None) in (request_id, None) for r in mine)


def test_request_id_reaches_every_formatted_log_line(econe_env: EconeEnv, tmp_path: Path) -> None:
    log_file = tmp_path / "econe.log"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(econe_env.config, filename=str(log_file))
        econe_env.client().describe_regions()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved
    lines = [line for line in log_file.read_text().splitlines() if "one_drivers.econe.app" in line]
    assert lines and all("[-]" not in line for line in lines)
    assert econe_env.alice.secret not in log_file.read_text()


def test_opennebula_failures_escaping_a_handler_use_the_fault_table(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder],
) -> None:
    server, env, _ = custom
    reply = signed_get(server, env, "DescribeAvailabilityZones")
    assert (reply.status, reply.error_code) == (400, "InvalidParameterValue")
    assert b"virtual machine [42]" not in reply.body


def test_fault_table_covers_every_gateway_exception() -> None:
    classes = {obj for obj in vars(gateway).values() if isinstance(obj, type) and issubclass(obj, OneError)}
    assert classes == set(FAULTS)
    assert set(ERROR_BY_CODE.values()) <= set(FAULTS)
    for cls in classes:
        err = ec2_error_for(cls("x"))
        assert err.code and 400 <= err.status <= 599 and err.status != 200


def _multipart(fields: dict[str, str], file_bytes: bytes) -> tuple[bytes, str]:
    boundary = "econe-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="disk.img"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _upload(server: EconeServer, env: EconeEnv, payload: bytes) -> tuple[int, bytes]:
    host = urllib.parse.urlsplit(server.url).netloc
    fields = sign_v2(
        {"Action": "UploadImage"}, key="alice", secret=env.alice.secret, host=host, method="POST"
    )
    body, content_type = _multipart(fields, payload)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/", body, {"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_upload_is_streamed_to_tmpdir_and_removed_after(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder],
) -> None:
    server, env, recorder = custom
    payload = os.urandom(40 * 1024)
    status, body = _upload(server, env, payload)
    assert status == 200, body
    assert b"<imageId>ami-00000007</imageId>" in body
    ((upload, content, user),) = recorder.seen
    assert (content, user, upload.filename, upload.size) == (payload, "alice", "disk.img", len(payload))
    assert Path(upload.path).parent == Path(server.config.tmpdir)
    assert not Path(upload.path).exists()  # removed once answered
    assert os.listdir(server.config.tmpdir) == []


def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder],
) -> None:
    server, env, recorder = custom
    status, body = _upload(server, env, b"x" * (80 * 1024))
    assert status == 413 and b"RequestEntityTooLarge" in body
    assert recorder.seen == []
    assert os.listdir(server.config.tmpdir) == []


def test_unsigned_upload_is_refused_and_leaves_nothing(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder],
) -> None:
    server, _, recorder = custom
    body, content_type = _multipart({"Action": "UploadImage"}, b"data")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/", body, {"Content-Type": content_type})
    resp = conn.getresponse()
    assert resp.status == 401 and b"AuthFailure" in resp.read()
    conn.close()
    assert recorder.seen == [] and os.listdir(server.config.tmpdir) == []


def test_other_http_methods_and_big_forms(econe_env: EconeEnv) -> None:
    host, port = urllib.parse.urlsplit(econe_env.endpoint).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("PUT", "/", b"")
    resp = conn.getresponse()
    assert resp.status == 400 and b"<Code>" in resp.read()
    conn.close()
    # The size is refused from Content-Length alone, before the body is read.
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 2097152\r\n\r\nAction=DescribeRegions"
        )
        answer = raw.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413") and b"RequestEntityTooLarge" in answer


def test_graceful_stop_finishes_in_flight_requests(econe_env: EconeEnv) -> None:
    started = threading.Event()

    def slow(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        started.set()
        time.sleep(0.5)
        return {"Regions": []}

    config = replace(econe_env.config, port=free_port())
    admin = OneGateway.server_admin(config.one_xmlrpc, config.one_cipher_auth)
    app = EconeApp(
        config, admin, SignatureAuthenticator(config, UserDirectory(admin, 60)), {"DescribeRegions": slow}
    )
    server = EconeServer(config, app).start()
    replies: list[Reply] = []
    caller = threading.Thread(target=lambda: replies.append(signed_get(server, econe_env, "DescribeRegions")))
    caller.start()
    assert started.wait(10)
    server.stop()
    caller.join(10)
    assert [r.status for r in replies] == [200]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_concurrent_clients(econe_env: EconeEnv) -> None:
    errors: list[BaseException] = []

    def work(user: str) -> None:
        try:
            ec2 = econe_env.client(user)
            for _ in range(10):
                assert ec2.describe_regions()["Regions"][0]["RegionName"] == "opennebula"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u,)) for u in ("alice", "bob") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def _sigv4_upload(
    server: EconeServer, env: EconeEnv, body: bytes, content_type: str, signed_body: bytes
) -> int:
    """POST `body`, signed (SigV4, X-Amz-Content-SHA256) as if it were `signed_body`."""
    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    url = f"{server.url}/?Action=UploadImage&Version=2016-11-15"
    request = AWSRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": content_type,
            "X-Amz-Content-SHA256": hashlib.sha256(signed_body).hexdigest(),
        },
    )
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials("alice", env.alice.secret), "ec2", "opennebula"
    ).add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/?Action=UploadImage&Version=2016-11-15", body, dict(request.headers.items()))
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_sigv4_signed_multipart_upload_checks_the_payload(
    custom: tuple[EconeServer, EconeEnv, UploadRecorder],
) -> None:
    server, env, recorder = custom
    payload = os.urandom(20 * 1024)
    body, content_type = _multipart({}, payload)
    assert _sigv4_upload(server, env, body, content_type, body) == 200
    assert recorder.seen[0][1] == payload
    tampered, _ = _multipart({}, payload[:-1] + b"!")
    assert _sigv4_upload(server, env, tampered, content_type, body) == 403
    assert len(recorder.seen) == 1
    assert os.listdir(server.config.tmpdir) == []
