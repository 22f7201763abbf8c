"""The simulator's HTTP layer over raw sockets: its own header reading keeps the stdlib's behaviour.

Keep-alive and close decisions, `Expect: 100-continue`, the one-send answer with Server/Date headers,
and the error answers for malformed requests (the stdlib's pages) are checked byte for byte.
"""

from __future__ import annotations

import socket
import xmlrpc.client

from one_drivers.one.gateway import read_response
from one_drivers.sim.server import Simulator


def _call(sim: Simulator) -> bytes:
    return xmlrpc.client.dumps((sim.oneadmin_auth,), "one.system.version").encode()


def _request(sim: Simulator, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    body = _call(sim)
    head = f"POST /RPC2 {version}\r\nHost: x\r\nContent-Type: text/xml\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _connect(sim: Simulator) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    return sock, sock.makefile("rb")


def test_keep_alive_answers_in_one_piece_with_oned_headers(sim: Simulator) -> None:
    sock, reader = _connect(sim)
    with sock:
        for _ in range(3):
            sock.sendall(_request(sim))
            status, reason, will_close, body = read_response(reader)  # type: ignore[arg-type]
            assert (status, reason, will_close) == (200, "OK", False)
            assert b"<string>6.10.5</string>" in body
        # A folded header goes through the email parser, as in the stdlib: still answered.
        sock.sendall(_request(sim, "X-Folded: a,\r\n b\r\n"))
        head = reader.readline()  # type: ignore[attr-defined]
        assert head == b"HTTP/1.1 200 OK\r\n"
        names = []
        while (line := reader.readline()) != b"\r\n":  # type: ignore[attr-defined]
            names.append(line.split(b":")[0])
        assert names == [b"Server", b"Date", b"Content-Type", b"Content-Length"]


def test_close_requests_and_http_1_0(sim: Simulator) -> None:
    for extra, version in (("Connection: close\r\n", "HTTP/1.1"), ("", "HTTP/1.0")):
        sock, reader = _connect(sim)
        with sock:
            sock.sendall(_request(sim, extra, version))
            assert read_response(reader)[0] == 200  # type: ignore[arg-type]
            assert reader.read() == b""  # type: ignore[attr-defined]
    sock, reader = _connect(sim)
    with sock:  # HTTP/1.0 asking to stay open stays open
        for _ in range(2):
            sock.sendall(_request(sim, "Connection: keep-alive\r\n", "HTTP/1.0"))
            assert read_response(reader)[:3] == (200, "OK", False)  # type: ignore[arg-type]


def test_expect_100_continue(sim: Simulator) -> None:
    sock, reader = _connect(sim)
    with sock:
        sock.sendall(_request(sim, "Expect: 100-continue\r\n"))
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"  # type: ignore[attr-defined]
        assert reader.readline() == b"\r\n"  # type: ignore[attr-defined]
        assert read_response(reader)[0] == 200  # type: ignore[arg-type]


def test_malformed_requests_get_the_stdlib_answers(sim: Simulator) -> None:
    cases = [
        (b"POST /RPC2 HTTP/1.1\r\nno colon here\r\n\r\n", 200),  # the email parser shrugs; so do we
        (b"POST /RPC2 HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
        (b"POST /RPC2 HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /RPC2 HTTP/1.1\r\n\r\n", 501),
    ]
    for raw, status in cases:
        sock, reader = _connect(sim)
        with sock:
            sock.sendall(raw)
            assert read_response(reader)[0] == status, raw[:40]  # type: ignore[arg-type]
