"""Slow clients cannot hold the worker threads: a head gate before them and a read deadline in them.

cheroot hands a connection to a worker as soon as its first byte arrives, and a worker then waits for
the rest with only a per-recv timeout, so clients sending a byte every few seconds could hold every
worker. `HeadGate` keeps a plain-HTTP connection out of the pool until its whole head (and a small
body) is in the kernel's buffer, peeking without reading; it answers 408 when that takes longer than
the head timeout. `ReadDeadlines` bounds what a worker still reads (TLS heads, large or chunked bodies):
a connection past its deadline has its socket shut down, which ends the blocked read at once.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # cheroot refuses longer heads itself; the gate stops looking there
GATE_BODY_BYTES = 64 * 1024  # bodies up to this size are waited for in the gate too
TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

READY, WAIT, CLOSED = "ready", "wait", "closed"

_T = TypeVar("_T")


def head_state(data: bytes) -> str:
    """READY when `data` holds a whole head (and its small body), WAIT while more is due, CLOSED on EOF."""
    if not data:
        return CLOSED
    end = data.find(b"\r\n\r\n")
    if end < 0:
        # Bare-LF heads are refused by the worker (HTTP requires CRLF): no reason to make them wait.
        return READY if len(data) >= MAX_HEAD_BYTES or b"\n\n" in data else WAIT
    length = 0
    for line in data[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in (b"transfer-encoding", b"expect"):
            return READY  # chunked bodies and 100-continue clients are read under a deadline instead
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return READY  # the worker answers 400
    if length > GATE_BODY_BYTES:
        return READY
    return READY if len(data) >= end + 4 + length else WAIT


def _peek(sock: socket.socket) -> bytes | None:
    """What the peer has sent so far, left unread; None when nothing is there yet."""
    # A socket with a timeout waits for data before any recv, MSG_DONTWAIT or not: go non-blocking for
    # the peek (no worker holds the socket while it is in the gate).
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return sock.recv(MAX_HEAD_BYTES + GATE_BODY_BYTES, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    finally:
        sock.settimeout(timeout)


def _cut(sock: socket.socket, answer: bool) -> None:
    """End a slow connection: a 408 for a plain socket (no worker is writing), then shutdown."""
    if answer and not isinstance(sock, ssl.SSLSocket):
        try:
            sock.send(TIMEOUT_RESPONSE, socket.MSG_DONTWAIT)
        except OSError:
            pass
    try:
        # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would drop its SSL object
        # under the worker that is reading from it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class ReadDeadlines:
    """Sockets whose current read must end by a deadline; a thread shuts down those that overrun."""

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, socket.socket, bool]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="read-deadlines", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def arm(self, sock: socket.socket, deadline: float, answer: bool) -> int:
        with self._lock:
            self._next += 1
            self._armed[self._next] = (deadline, sock, answer)
            return self._next

    def disarm(self, key: int) -> None:
        with self._lock:
            self._armed.pop(key, None)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self._lock:
                late = [(k, v) for k, v in self._armed.items() if v[0] <= now]
                for key, _ in late:
                    del self._armed[key]
            for _, (_, sock, answer) in late:
                log.warning("a client was too slow sending its request; connection closed")
                _cut(sock, answer)


class DeadlineReader:
    """wsgi.input whose reads end by a deadline set at the first read (base time + size at a min rate)."""

    def __init__(
        self, stream: IO[bytes], sock: socket.socket, deadlines: ReadDeadlines, budget: float
    ) -> None:
        self._stream = stream
        self._sock = sock
        self._deadlines = deadlines
        self._budget = budget
        self._deadline: float | None = None

    def _guarded(self, read: Callable[[], _T]) -> _T:
        if self._deadline is None:
            self._deadline = time.monotonic() + self._budget
        key = self._deadlines.arm(self._sock, self._deadline, answer=False)
        try:
            return read()
        finally:
            self._deadlines.disarm(key)

    def read(self, size: int = -1) -> bytes:
        return self._guarded(lambda: self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._guarded(lambda: self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._guarded(lambda: self._stream.readlines(hint))

    def __iter__(self) -> DeadlineReader:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class HeadGate:
    """Holds plain-HTTP connections until their head is complete, then `dispatch`es them to the pool.

    Waiting connections sit in an edge-triggered epoll set: a peek leaves the bytes unread, so only
    the arrival of new bytes may wake the gate (level-triggered, it would spin). Without epoll (not
    Linux) connections go straight to the pool, where the read deadlines still bound them.
    """

    EVENTS = getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLET", 0) | getattr(select, "EPOLLRDHUP", 0)

    def __init__(self, dispatch: Callable[[Any], None], timeout: float) -> None:
        self.dispatch = dispatch
        self.timeout = timeout
        self._pending: dict[int, tuple[float, Any]] = {}  # fd -> (deadline, connection)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._epoll: Any = None

    def start(self) -> None:
        if not hasattr(select, "epoll"):
            return
        self._stop.clear()
        self._epoll = select.epoll()
        self._thread = threading.Thread(target=self._run, name="head-gate", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            held = list(self._pending.values())
            self._pending.clear()
        for _, conn in held:
            conn.close()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def offer(self, conn: Any) -> None:
        """A connection with bytes to read (cheroot's `process_conn`)."""
        sock = conn.socket
        if self._epoll is None or isinstance(sock, ssl.SSLSocket) or conn.rfile.has_data():
            # TLS bytes cannot be peeked as HTTP; buffered bytes are already read: deadlines cover both.
            self.dispatch(conn)
            return
        if self._settle(conn):
            return
        fd = sock.fileno()
        with self._lock:
            self._pending[fd] = (time.monotonic() + self.timeout, conn)
        try:
            # Bytes that came since the peek are reported at once: an edge-triggered add checks readiness.
            self._epoll.register(fd, self.EVENTS)
        except (OSError, ValueError):
            with self._lock:
                self._pending.pop(fd, None)
            self.dispatch(conn)

    @staticmethod
    def _state(conn: Any) -> str:
        data = _peek(conn.socket)
        return WAIT if data is None else head_state(data)

    def _settle(self, conn: Any, state: str | None = None) -> bool:
        """Dispatch or close the connection if its state allows; False while it must wait."""
        state = state or self._state(conn)
        if state == READY:
            self.dispatch(conn)
        elif state == CLOSED:
            conn.close()
        return state != WAIT

    def _release(self, fd: int) -> Any:
        """Take a waiting connection out of the gate (before it is dispatched or closed)."""
        with self._lock:
            entry = self._pending.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass
        return None if entry is None else entry[1]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._epoll.poll(0.25)
            except OSError:
                continue
            for fd, _ in events:
                with self._lock:
                    entry = self._pending.get(fd)
                if entry is None:
                    continue
                state = self._state(entry[1])
                if state != WAIT:
                    conn = self._release(fd)
                    if conn is not None:
                        self._settle(conn, state)
            now = time.monotonic()
            with self._lock:
                late = [fd for fd, (deadline, _) in self._pending.items() if deadline <= now]
            for fd in late:
                conn = self._release(fd)
                if conn is not None:
                    log.warning("a client did not send its request head within %.0f s; 408", self.timeout)
                    _cut(conn.socket, answer=True)
                    conn.close()
