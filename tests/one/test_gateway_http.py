"""The gateway's own HTTP answer reader against http.client (the reference) and over a real socket.

Framing (Content-Length, chunked, read-to-close, 1xx), keep-alive decisions and every error must match
what http.client did before, since the gateway's callers translate those exact exception types.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneGateway, OneUnavailable, read_response

BODY = b'<?xml version="1.0"?><methodResponse><params><param><value><array><data>\n'
BODY += b"<value><boolean>1</boolean></value>\n<value><string>6.10.5</string></value>\n"
BODY += b"<value><i4>0</i4></value>\n</data></array></value></param></params></methodResponse>\n"

ANSWERS = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s",
    "length, lower-case, LF only": b"HTTP/1.1 200 OK\ncontent-length:   %d\n\n%s",
    "HTTP/1.0 keep-alive": b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: %d\r\n\r\n%s",
    "HTTP/1.0 closes": b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s",
    "Connection: close": b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: %d\r\n\r\n%s",
    "no length": b"HTTP/1.1 200 OK\r\nServer: x%.0d\r\n\r\n%s",
    "100 Continue first": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s",
    "reason with spaces": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s",
    "no reason": b"HTTP/1.1 200\r\nContent-Length: %d\r\n\r\n%s",
}


def _chunked(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    head = head.replace(b"gzip, ", b"")
    parts = [body[:10], body[10:11], body[11:]]
    out = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts)
    return head + out + b"0\r\nX-Trailer: yes\r\n\r\n"


def _reference(raw: bytes) -> tuple[int, str, bool, bytes]:
    class FakeSock:
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(raw)

    response = http.client.HTTPResponse(FakeSock(), method="POST")  # type: ignore[arg-type]
    response.begin()
    return response.status, response.reason, bool(response.will_close), response.read()


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_framing_matches_http_client(name: str) -> None:
    raw = ANSWERS[name] % (len(BODY), BODY)
    assert read_response(io.BytesIO(raw)) == _reference(raw)


def test_chunked_matches_http_client() -> None:
    raw = _chunked(BODY)
    assert read_response(io.BytesIO(raw)) == _reference(raw) == (200, "OK", False, BODY)


def test_one_reader_serves_consecutive_answers() -> None:
    one = ANSWERS["length"] % (len(BODY), BODY)
    reader = io.BytesIO(one + _chunked(BODY) + one)
    assert [read_response(reader)[3] for _ in range(3)] == [BODY] * 3


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", http.client.IncompleteRead),
        (b"ICY 200 OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 2000 OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", http.client.LineTooLong),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", http.client.IncompleteRead),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", http.client.HTTPException),
    ],
)
def test_errors_are_http_client_errors(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_response(io.BytesIO(raw))


class Scripted:
    """A raw socket server answering each request with the next scripted bytes; None = close first."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = answers
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as reader:
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    reader.read(length)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break  # close without answering: a kept-alive connection dropped while idle
                    conn.sendall(answer)
                    head = answer.split(b"\r\n\r\n")[0].lower()
                    framed = b"content-length" in head or b"chunked" in head
                    if b"close" in head or head.startswith(b"http/1.0") or not framed:
                        break

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    servers: list[Scripted] = []
    yield servers
    for server in servers:
        server.close()


def test_gateway_over_a_socket_keeps_alive_reconnects_and_reports(scripted: list[Scripted]) -> None:
    ok = ANSWERS["length"] % (len(BODY), BODY)
    server = Scripted(
        [
            ok,
            _chunked(BODY),
            ANSWERS["Connection: close"] % (len(BODY), BODY),
            ok,
            None,  # the server dropped the idle connection: the gateway retries once on a new one
            ok,
            ANSWERS["reason with spaces"] % (len(BODY), BODY),
            ANSWERS["no length"] % (0, BODY),
            ok,
        ]
    )
    scripted.append(server)
    gw = OneGateway(f"http://127.0.0.1:{server.port}/RPC2", "u:p")
    assert [gw.system_version() for _ in range(4)] == ["6.10.5"] * 4
    assert server.connections == 2
    assert gw.system_version() == "6.10.5"
    assert server.connections == 3
    with pytest.raises(OneUnavailable, match="HTTP 500 Internal Server Error"):
        gw.system_version()
    assert gw.system_version() == "6.10.5"  # read to the close
    assert gw.system_version() == "6.10.5"
    assert server.connections == 4


def test_the_exact_framing_is_oneds_recorded_one(real_dir: Path) -> None:
    from one_drivers.one import gateway

    body = (real_dir / "vm_info.response.xml").read_bytes()
    assert body.startswith(gateway._XMLRPC_C_STRING_HEAD) and body.endswith(gateway._XMLRPC_C_STRING_TAIL)


@pytest.mark.parametrize(
    "change",
    [
        (b"", b""),  # the exact xmlrpc-c framing: taken without parsing the envelope
        (b"<i4>0</i4>", b"<i4>7</i4>"),
        (b"<i4>0</i4>", b"<int>0</int>"),
        (b"</methodResponse>\n", b"</methodResponse>\n\n"),
        (b"</methodResponse>\n", b"</methodResponse>"),
        (b"<boolean>1</boolean>", b"<boolean>0</boolean>"),
        (b'encoding="UTF-8"', b'encoding="utf-8"'),
        (b"</data>", b"<value><string>more</string></value>\n</data>"),
        (b"x&amp;y", b"x&amp;y</string></value>\n<value><string>"),
    ],
)
def test_exact_framing_shortcut_agrees_with_the_full_decode(change: tuple[bytes, bytes]) -> None:
    from one_drivers.one import gateway

    inner = b"&lt;VM&gt;x&amp;y&lt;/VM&gt;" * 300
    body = gateway._XMLRPC_C_STRING_HEAD + inner + gateway._XMLRPC_C_STRING_TAIL
    if change[0]:
        assert change[0] in body
    body = body.replace(change[0], change[1], 1) if change[0] else body
    fast = gateway.decode_response(body, fast_min=0)
    assert fast == gateway.decode_response(body, fast_min=None)
    if not change[0]:
        assert fast == [True, "<VM>x&y</VM>" * 300, 0]
