"""Slow clients against the shared cheroot stack: raw sockets on loopback, bounded loops, no timed asserts.

A tiny WSGI app stands in for econe here (the econe tests run the same stack with the real app).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.web.guard import CLOSED, READY, WAIT, head_state
from one_drivers.web.server import HttpService, Listener
from tests.econe.test_x509_auth import pki  # noqa: F401 — the test CA, server and client certificates


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = b"got %d" % len(body)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def service() -> Iterator[HttpService]:
    listener = Listener(host="127.0.0.1", port=0, workers=2, head_timeout=1.0, body_timeout=1.0)
    svc = HttpService("test", listener, echo_app).start()
    try:
        yield svc
    finally:
        svc.stop()


def connect(svc: HttpService) -> socket.socket:
    return socket.create_connection(("127.0.0.1", svc.port), timeout=30)


def trickle_until_closed(sock: socket.socket, data: bytes, limit: int) -> bytes:
    """Send `data` a byte every 0.2 s (at most `limit` bytes); what the server answered once it hung up."""
    for byte in data[:limit]:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
        sock.setblocking(False)
        try:
            answer = sock.recv(4096)
        except BlockingIOError:
            answer = None
        except OSError:
            answer = b""
        sock.setblocking(True)
        if answer is not None:
            return answer
    return b"<still open>"


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"", CLOSED),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", WAIT),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", READY),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", WAIT),
        (b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nabcde", READY),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\nab", READY),  # large: read under deadline
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", READY),
        (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", READY),
        (b"POST / HTTP/1.1\r\nContent-Length: zz\r\n\r\n", READY),  # the worker answers 400
        (b"G" * 70000, READY),  # an endless head: the worker refuses it
        (b"GET / HTTP/1.1\nHost: x\n\n", READY),  # bare LF: the worker answers 400
    ],
)
def test_head_state(data: bytes, state: str) -> None:
    assert head_state(data) == state


def test_a_slow_head_is_cut_with_408(service: HttpService) -> None:
    with connect(service) as sock:
        answer = trickle_until_closed(sock, b"GET / HTTP/1.1\r\nHost: example\r\nX-Slow: " + b"a" * 200, 200)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_slow_small_body_is_cut_with_408(service: HttpService) -> None:
    with connect(service) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        answer = trickle_until_closed(sock, b"b" * 200, 200)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_slow_large_body_is_cut(service: HttpService) -> None:
    """A body beyond the gate's size goes to a worker, whose reads end at the body deadline."""
    size = 100_000  # 1 s + size / 64 KiB/s = about 2.5 s of budget
    with connect(service) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        answer = trickle_until_closed(sock, b"b" * 200, 200)
    assert not answer.startswith(b"HTTP/1.1 200"), answer
    assert answer != b"<still open>"


@contextlib.contextmanager
def slow_heads(port: int, count: int) -> Iterator[None]:
    """`count` connections sending a request head a byte at a time (every 0.1 s, for at most 10 s)."""
    slow = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    stop = threading.Event()

    def dribble() -> None:
        for _ in range(100):
            for sock in slow:
                try:
                    sock.sendall(b"X")
                except OSError:
                    pass
            if stop.wait(0.1):
                return

    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    thread = threading.Thread(target=dribble)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for sock in slow:
            sock.close()


def test_prompt_clients_are_served_while_slow_ones_wait(service: HttpService) -> None:
    """Eight slow heads on a two-worker server: a normal request is still answered."""
    with slow_heads(service.port, 8), connect(service) as sock:
        sock.settimeout(5)  # generous: served at once when slow heads hold no worker
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"got 3"), answer


def test_pipelined_and_keepalive_requests_still_work(service: HttpService) -> None:
    with connect(service) as sock:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
        sock.sendall(request + request)
        got = b""
        for _ in range(50):
            got += sock.recv(4096)
            if got.count(b"got 2") == 2:
                break
        assert got.count(b"HTTP/1.1 200 ") == 2
        sock.sendall(request)
        assert b"got 2" in sock.recv(4096)


def test_a_slow_tls_head_is_cut(pki: dict[str, Path]) -> None:  # noqa: F811 — the imported fixture
    """TLS bytes cannot be peeked: the worker reads the head, and its deadline ends the connection."""
    listener = Listener(
        host="127.0.0.1",
        port=0,
        workers=2,
        head_timeout=1.0,
        ssl_cert=str(pki["server"]),
        ssl_key=str(pki["server"].with_suffix(".key")),
    )
    svc = HttpService("tls", listener, echo_app).start()
    try:
        context = ssl.create_default_context(cafile=str(pki["ca"]))
        with context.wrap_socket(connect(svc), server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the handshake is done: the head is slow
            closed = False
            for _ in range(50):  # 10 s at most, a byte every 0.2 s
                try:
                    sock.sendall(b"X")
                    sock.settimeout(0.2)
                    closed = sock.recv(4096) == b""
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                if closed:
                    break
        assert closed
    finally:
        svc.stop()
