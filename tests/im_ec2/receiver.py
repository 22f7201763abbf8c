"""A loopback stand-in for onemonitord's listener: UDP and TCP on one port, decoding as monitord does.

Each datagram, and each TCP connection read to its end, is one message; it is decoded with
`one_drivers.mad.monitord.decode_frame` (base64 -> zlib -> optional RSA with the private key).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from one_drivers.mad.monitord import Frame, decode_frame


class MonitordReceiver:
    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.private_key = private_key
        # monitord listens on one port number for both UDP and TCP: find one free for both.
        for _ in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = int(self.udp.getsockname()[1])
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen(16)
        self.frames: list[tuple[str, Frame]] = []  # (transport, frame)
        self.raw: list[tuple[str, bytes]] = []
        self._lock = threading.Condition()
        self._stop = False
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self._threads = [
            threading.Thread(target=self._udp_loop, daemon=True),
            threading.Thread(target=self._tcp_loop, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _record(self, transport: str, data: bytes) -> None:
        frame = decode_frame(data.decode("ascii"), self.private_key)
        with self._lock:
            self.raw.append((transport, data))
            self.frames.append((transport, frame))
            self._lock.notify_all()

    def _udp_loop(self) -> None:
        while not self._stop:
            try:
                data, _ = self.udp.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self._record("udp", data)

    def _tcp_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                chunks = []
                while True:
                    part = conn.recv(65536)
                    if not part:
                        break
                    chunks.append(part)
            self._record("tcp", b"".join(chunks))

    def wait_for(self, predicate: Callable[[list[tuple[str, Frame]]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self.frames):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def of_type(self, msg_type: str) -> list[tuple[str, Frame]]:
        with self._lock:
            return [(t, f) for t, f in self.frames if f.type == msg_type]

    def close(self) -> None:
        self._stop = True
        for t in self._threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()
