"""onemonitord's message codec (5.12-7.4) and a sender that pushes messages to it over UDP/TCP.

monitord talks to an IM driver with `<TYPE> <STATUS> <host_id> <epoch> <payload>` lines whose payload is
base64(zlib(data)); probes push the same lines to monitord, with the data RSA-PKCS#1 encrypted in key-sized
chunks first when monitord publishes a PUBKEY. `decode_frame` reads a line exactly as monitord's
`Message::parse_from` does (base64 -> zlib -> optional RSA); the simulator's listener uses it too.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import socket
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The documents in the frames are read in one/ (re-exported: what the drivers and the simulator import).
from one_drivers.one.driver_docs import DEFAULT_PERIODS as DEFAULT_PERIODS
from one_drivers.one.driver_docs import DEFAULT_PORT as DEFAULT_PORT
from one_drivers.one.driver_docs import MonitorConfig as MonitorConfig
from one_drivers.one.driver_docs import MonitordError as MonitordError
from one_drivers.one.driver_docs import parse_monitor_messages as parse_monitor_messages
from one_drivers.one.driver_docs import read_monitor_action

log = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"

# MonitorDriverMessages.h: every type monitord accepts from a driver or a probe.
MESSAGE_TYPES = frozenset(
    {
        "INIT",
        "FINALIZE",
        "MONITOR_VM",
        "MONITOR_HOST",
        "BEACON_HOST",
        "SYSTEM_HOST",
        "STATE_VM",
        "EXEC_VM",
        "START_MONITOR",
        "STOP_MONITOR",
        "LOG",
    }
)
# STATE_VM goes over TCP (the full list can be large and must not be lost); the rest over UDP.
TCP_TYPES = frozenset({"STATE_VM"})
# Ruby's public_encrypt with PKCS#1 v1.5 padding takes at most key_bytes - 11 bytes per block.
_PKCS1_OVERHEAD = 11
# monitord-client.rb compresses with Zlib::BEST_COMPRESSION.
_ZLIB_LEVEL = 9
# A UDP datagram larger than this is dropped by the kernel; such messages go over TCP instead.
_MAX_UDP = 65000


@dataclass(frozen=True)
class Frame:
    """One decoded monitord line: `data` is the payload after base64, zlib and (optional) RSA."""

    type: str
    status: str
    host_id: int
    timestamp: int
    data: bytes

    @property
    def success(self) -> bool:
        return self.status == SUCCESS

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------
# keys and payloads


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """monitord.conf's PUBKEY: a PKCS#1 (`RSA PUBLIC KEY`) or SPKI PEM, newlines possibly turned to spaces.

    monitord copies the key into MONITOR_CONFIGURATION on one line; the Ruby client rebuilt the PEM by
    turning the spaces of the body back into newlines, and so do we.
    """
    m = re.search(r"-----BEGIN (RSA )?PUBLIC KEY-----(.*?)-----END (RSA )?PUBLIC KEY-----", text, re.S)
    if not m:
        raise MonitordError("PUBKEY is not a PEM public key")
    label = "RSA PUBLIC KEY" if m.group(1) else "PUBLIC KEY"
    body = "\n".join(m.group(2).split())
    pem = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except ValueError as exc:
        raise MonitordError(f"PUBKEY cannot be loaded: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise MonitordError("PUBKEY is not an RSA key")
    return key


def encrypt_chunks(data: bytes, key: rsa.RSAPublicKey) -> bytes:
    """RSA-PKCS#1 v1.5 encryption of data in blocks of key_bytes - 11, concatenated (as the Ruby client)."""
    block = key.key_size // 8 - _PKCS1_OVERHEAD
    return b"".join(key.encrypt(data[i : i + block], padding.PKCS1v15()) for i in range(0, len(data), block))


def decrypt_chunks(data: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The inverse of encrypt_chunks: decrypt key-sized blocks and concatenate (monitord's ssl_util)."""
    block = key.key_size // 8
    if len(data) % block:
        raise MonitordError(f"encrypted payload of {len(data)} bytes is not a multiple of {block}")
    try:
        return b"".join(
            key.decrypt(data[i : i + block], padding.PKCS1v15()) for i in range(0, len(data), block)
        )
    except ValueError as exc:
        raise MonitordError(f"payload cannot be decrypted: {exc}") from exc


def encode_payload(data: bytes | str, pubkey: rsa.RSAPublicKey | None = None) -> str:
    """base64(zlib([RSA](data))): the payload field of a line pushed to monitord."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if pubkey is not None:
        raw = encrypt_chunks(raw, pubkey)
    return base64.b64encode(zlib.compress(raw, _ZLIB_LEVEL)).decode("ascii")


def decode_payload(payload: str, private_key: rsa.RSAPrivateKey | None = None) -> bytes:
    """base64 -> zlib -> optional RSA decrypt, in monitord's order; empty payload is empty data."""
    if not payload:
        return b""
    try:
        packed = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MonitordError(f"payload is not valid base64: {exc}") from exc
    try:
        raw = zlib.decompress(packed)
    except zlib.error as exc:
        raise MonitordError(f"payload is not zlib data: {exc}") from exc
    if private_key is not None:
        raw = decrypt_chunks(raw, private_key)
    return raw


# --------------------------------------------------------------------------------------------------
# lines


def encode_frame(
    msg_type: str,
    success: bool | str,
    host_id: int,
    data: bytes | str,
    *,
    timestamp: int | None = None,
    pubkey: rsa.RSAPublicKey | None = None,
) -> str:
    """`<TYPE> <SUCCESS|FAILURE> <host_id> <epoch> <payload>` without newline.

    `success` may also be a literal status string (monitord writes `-` in its requests).
    """
    if msg_type not in MESSAGE_TYPES:
        raise MonitordError(f"unknown monitord message type {msg_type!r}")
    status = success if isinstance(success, str) else (SUCCESS if success else FAILURE)
    epoch = int(time.time()) if timestamp is None else timestamp
    return f"{msg_type} {status} {host_id} {epoch} {encode_payload(data, pubkey)}"


def decode_frame(line: str, private_key: rsa.RSAPrivateKey | None = None) -> Frame:
    """Parse one line as monitord does: type, status, host id, timestamp, then the payload to end of line."""
    parts = line.strip().split(None, 4)
    if len(parts) < 4:
        raise MonitordError(f"monitord message needs at least 4 fields: {line[:80]!r}")
    msg_type, status, oid, stamp = parts[:4]
    if msg_type not in MESSAGE_TYPES:
        raise MonitordError(f"unknown monitord message type {msg_type!r}")
    try:
        host_id, timestamp = int(oid), int(stamp)
    except ValueError as exc:
        raise MonitordError(f"bad host id or timestamp in {line[:80]!r}") from exc
    payload = parts[4].strip() if len(parts) > 4 else ""
    return Frame(msg_type, status, host_id, timestamp, decode_payload(payload, private_key))


def format_reply(action: str, success: bool, host_id: int, text: str, *, timestamp: int | None = None) -> str:
    """The driver's answer to START_MONITOR/STOP_MONITOR: `<ACTION> SUCCESS|FAILURE <hid> <epoch> <b64zlib>`."""
    return encode_frame(action, success, host_id, text, timestamp=timestamp)


# --------------------------------------------------------------------------------------------------
# START_MONITOR / STOP_MONITOR


@dataclass(frozen=True)
class MonitorRequest:
    """A decoded START_MONITOR/STOP_MONITOR: host id and name, the host XML, and the push configuration."""

    action: str
    host_id: int
    host_name: str
    host_xml: str
    config: MonitorConfig


def parse_monitor_request(line: str) -> MonitorRequest:
    """`START_MONITOR - <hid> <ts> <b64zlib(<MONITOR_DRIVER_ACTION>)>` (or STOP_MONITOR) -> MonitorRequest."""
    frame = decode_frame(line)
    if frame.type not in ("START_MONITOR", "STOP_MONITOR"):
        raise MonitordError(f"not a START_MONITOR/STOP_MONITOR message: {frame.type}")
    doc = read_monitor_action(frame.type, frame.data)
    return MonitorRequest(frame.type, frame.host_id, doc.host_name, doc.host_xml, doc.config)


def monitor_messages_document(messages: Mapping[str, str], timestamp: int | None = None) -> str:
    """The START_MONITOR SUCCESS text: `<MONITOR_MESSAGES>` with base64 children and `<TIMESTAMP>`.

    monitord replays each child as if the probe had pushed it, so the first cycle's data lands at once.
    """
    epoch = int(time.time()) if timestamp is None else timestamp
    body = "".join(
        f"<{name}>{base64.b64encode(text.encode('utf-8')).decode('ascii')}</{name}>\n"
        for name, text in messages.items()
    )
    return f"<MONITOR_MESSAGES>{body}<TIMESTAMP>{epoch}</TIMESTAMP></MONITOR_MESSAGES>"


# --------------------------------------------------------------------------------------------------
# sending


class MonitordSender:
    """Pushes frames for one host to monitord: UDP for every type, a short TCP connection for STATE_VM."""

    def __init__(
        self,
        host_id: int,
        address: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        pubkey: str | rsa.RSAPublicKey | None = None,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.host_id = host_id
        self.address = address
        self.port = port
        self.timeout = timeout
        self._pubkey = load_public_key(pubkey) if isinstance(pubkey, str) and pubkey else pubkey or None
        self._udp = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
        self._last_stamp: dict[str, int] = {}

    @classmethod
    def from_config(cls, host_id: int, config: MonitorConfig) -> MonitordSender:
        return cls(host_id, config.address, config.port, config.pubkey or None)

    def _stamp(self, msg_type: str) -> int:
        # monitord drops a message whose timestamp is older than the last one of its type for the host.
        now = max(int(time.time()), self._last_stamp.get(msg_type, 0))
        self._last_stamp[msg_type] = now
        return now

    def send(self, msg_type: str, data: str, success: bool = True) -> str:
        """Send one message and return the line sent (without newline)."""
        assert not isinstance(self._pubkey, str)
        line = encode_frame(
            msg_type, success, self.host_id, data, timestamp=self._stamp(msg_type), pubkey=self._pubkey
        )
        # No newline: monitord reads a datagram, or a TCP connection to its end, as one message.
        wire = line.encode("ascii")
        if msg_type in TCP_TYPES or len(wire) > _MAX_UDP:
            with socket.create_connection((self.address, self.port), timeout=self.timeout) as conn:
                conn.sendall(wire)
        else:
            self._udp.sendto(wire, (self.address, self.port))
        log.debug(
            "host %d: sent %s (%d bytes) to %s:%d", self.host_id, msg_type, len(wire), self.address, self.port
        )
        return line

    def close(self) -> None:
        self._udp.close()
