"""monitord codec: recorded 6.10.5 frames, START_MONITOR requests and replies, RSA, and the sender."""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from one_drivers.mad import monitord
from one_drivers.mad.monitord import (
    MonitordError,
    MonitordSender,
    decode_frame,
    decode_payload,
    encode_frame,
    encode_payload,
    load_public_key,
    monitor_messages_document,
    parse_monitor_messages,
    parse_monitor_request,
)
from tests.im_ec2.receiver import MonitordReceiver

_EVENT = re.compile(
    r"^\[[^\]]+\] (?:CORE->DRIVER|DRIVER->CORE): (?P<type>\S+) (?P<status>\S+) (?P<oid>\S+) (?P<ts>\S+) "
    r"<base64\+zlib (?P<b64len>\d+) chars>$"
)


@dataclass(frozen=True)
class Recorded:
    type: str
    status: str
    oid: int
    timestamp: int
    b64len: int
    text: str  # the decoded payload as recorded (exact length checked)


def recorded_frames(real_dir: Path, section: str) -> list[Recorded]:
    """Monitord-protocol lines of one trace section with their decoded payloads."""
    text = (real_dir / "driver_messages.txt").read_text(encoding="utf-8")
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    lines = body.splitlines()
    out: list[Recorded] = []
    i = 0
    while i < len(lines):
        m = _EVENT.match(lines[i])
        i += 1
        if not m:
            continue
        size = int(re.search(r"(\d+) chars\)", lines[i]).group(1))  # type: ignore[union-attr]
        i += 1
        chunk = []
        while i < len(lines) and lines[i].startswith("    | "):
            chunk.append(lines[i][6:])
            i += 1
        decoded = "\n".join(chunk)
        if len(decoded) == size - 1:
            decoded += "\n"
        out.append(Recorded(m["type"], m["status"], int(m["oid"]), int(m["ts"]), int(m["b64len"]), decoded))
    return out


@pytest.fixture(scope="module")
def agent_frames(real_dir: Path) -> list[Recorded]:
    return recorded_frames(real_dir, "## monitord-client.rb")


@pytest.fixture(scope="module")
def im_frames(real_dir: Path) -> list[Recorded]:
    return recorded_frames(real_dir, "## monitord's IM_MAD dummy")


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def pkcs1_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode("ascii")
    )


@pytest.fixture
def receiver(private_key: rsa.RSAPrivateKey) -> Iterator[MonitordReceiver]:
    r = MonitordReceiver()
    yield r
    r.close()


# --- recorded reality ------------------------------------------------------------------------------


def test_recorded_agent_frames_rebuild_and_decode(agent_frames: list[Recorded]) -> None:
    assert {f.type for f in agent_frames} == {"BEACON_HOST", "MONITOR_VM", "MONITOR_HOST"}
    for rec in agent_frames:
        line = encode_frame(rec.type, rec.status == "SUCCESS", rec.oid, rec.text, timestamp=rec.timestamp)
        payload = line.split(" ", 4)[4]
        # Same zlib level as monitord-client.rb: the base64 length matches the capture byte for byte.
        assert len(payload) == rec.b64len, rec
        frame = decode_frame(line)
        assert (frame.type, frame.status, frame.host_id, frame.timestamp) == (
            rec.type,
            rec.status,
            rec.oid,
            rec.timestamp,
        )
        assert frame.text == rec.text
        assert frame.success


def test_recorded_beacon_payload_is_the_timestamp(agent_frames: list[Recorded]) -> None:
    for rec in agent_frames:
        if rec.type == "BEACON_HOST":
            assert rec.text == str(rec.timestamp)


def test_recorded_monitor_vm_nested_base64(agent_frames: list[Recorded]) -> None:
    rec = next(f for f in agent_frames if f.type == "MONITOR_VM")
    m = re.search(r'MONITOR="([^"]+)"', rec.text)
    assert m
    assert "MEMORY=" in base64.b64decode(m.group(1)).decode()


def test_recorded_start_monitor_request(im_frames: list[Recorded]) -> None:
    starts = [f for f in im_frames if f.type == "START_MONITOR" and f.status == "-"]
    assert [s.oid for s in starts] == [0, 1]
    for rec, name in zip(starts, ["dummyhost", "dummyhost2"], strict=True):
        line = f"START_MONITOR - {rec.oid} {rec.timestamp} " + base64.b64encode(
            zlib.compress(rec.text.encode())
        ).decode("ascii")
        req = parse_monitor_request(line)
        assert (req.action, req.host_id, req.host_name) == ("START_MONITOR", rec.oid, name)
        assert req.host_xml.startswith("<HOST><ID>")
        cfg = req.config
        assert (cfg.address, cfg.port, cfg.pubkey) == ("127.0.0.1", 4124, "")
        assert cfg.period("BEACON_HOST") == 30
        assert cfg.period("SYSTEM_HOST") == 600
        assert cfg.period("MONITOR_HOST") == 120
        assert cfg.period("STATE_VM") == 5
        assert cfg.period("MONITOR_VM") == 30
        assert cfg.period("SYNC_STATE_VM") == 180


def test_recorded_start_monitor_reply_document(im_frames: list[Recorded]) -> None:
    replies = [f for f in im_frames if f.type == "START_MONITOR" and f.status == "SUCCESS"]
    assert replies
    for rec in replies:
        stamp, messages = parse_monitor_messages(rec.text)
        assert stamp > 1795306000
        kinds = [k for k, _ in messages]
        assert kinds[:3] == ["SYSTEM_HOST", "MONITOR_HOST", "STATE_VM"]
        system = dict(messages)["SYSTEM_HOST"]
        assert "HYPERVISOR=dummy" in system.splitlines()
        assert "TOTALCPU=800" in system.splitlines()
        assert "USEDCPU=" in dict(messages)["MONITOR_HOST"]
        # Our reply line for the same text decodes back to it.
        line = monitord.format_reply("START_MONITOR", True, rec.oid, rec.text, timestamp=rec.timestamp)
        assert line.startswith(f"START_MONITOR SUCCESS {rec.oid} {rec.timestamp} ")
        assert decode_frame(line).text == rec.text


def test_monitor_messages_document_round_trip() -> None:
    doc = monitor_messages_document(
        {"SYSTEM_HOST": "HYPERVISOR=ec2\nTOTALCPU=100\n", "STATE_VM": "", "MONITOR_VM": 'VM=[ID="1"]'},
        timestamp=42,
    )
    assert doc.startswith("<MONITOR_MESSAGES><SYSTEM_HOST>")
    stamp, messages = parse_monitor_messages(doc)
    assert stamp == 42
    assert messages == [
        ("SYSTEM_HOST", "HYPERVISOR=ec2\nTOTALCPU=100\n"),
        ("STATE_VM", ""),
        ("MONITOR_VM", 'VM=[ID="1"]'),
    ]


# --- edges -------------------------------------------------------------------------------------------


def test_decode_frame_empty_payload() -> None:
    frame = decode_frame("STOP_MONITOR - 3 0 ")
    assert (frame.type, frame.host_id, frame.data) == ("STOP_MONITOR", 3, b"")


@pytest.mark.parametrize(
    "line",
    [
        "NOPE SUCCESS 1 2 eJwDAAAAAAE=",
        "MONITOR_VM SUCCESS 1",
        "MONITOR_VM SUCCESS x 2 eJwDAAAAAAE=",
        "MONITOR_VM SUCCESS 1 2 !!!notbase64",
        "MONITOR_VM SUCCESS 1 2 aGVsbG8=",  # base64 but not zlib
    ],
)
def test_decode_frame_rejects(line: str) -> None:
    with pytest.raises(MonitordError):
        decode_frame(line)


def test_start_monitor_auto_address_and_missing_periods() -> None:
    xml = (
        "<MONITOR_DRIVER_ACTION><HOST><ID>7</ID><NAME>ec2-us</NAME></HOST><MONITOR_CONFIGURATION>"
        "<NETWORK><MONITOR_ADDRESS>auto</MONITOR_ADDRESS><PORT>4999</PORT></NETWORK>"
        "<PROBES_PERIOD><STATE_VM>2</STATE_VM></PROBES_PERIOD>"
        "</MONITOR_CONFIGURATION></MONITOR_DRIVER_ACTION>"
    )
    req = parse_monitor_request(f"START_MONITOR - 7 0 {encode_payload(xml)}")
    assert (req.config.address, req.config.port) == ("127.0.0.1", 4999)
    assert req.config.period("STATE_VM") == 2
    assert req.config.period("SYSTEM_HOST") == 600


def test_start_monitor_bad_xml() -> None:
    with pytest.raises(MonitordError):
        parse_monitor_request(f"START_MONITOR - 7 0 {encode_payload('<not xml')}")


def test_rsa_chunks_round_trip(private_key: rsa.RSAPrivateKey) -> None:
    pub = load_public_key(pkcs1_pem(private_key))
    data = ('VM = [ ID="1", STATE="RUNNING" ]\n' * 40).encode()  # many 117-byte blocks
    payload = encode_payload(data, pub)
    raw = zlib.decompress(base64.b64decode(payload))
    assert len(raw) % 128 == 0 and len(raw) > 128
    assert decode_payload(payload, private_key) == data


def test_pubkey_on_one_line_as_monitord_sends_it(private_key: rsa.RSAPrivateKey) -> None:
    flat = pkcs1_pem(private_key).replace("\n", " ")
    key = load_public_key(flat)
    assert key.public_numbers() == private_key.public_key().public_numbers()
    spki = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert load_public_key(spki).public_numbers() == key.public_numbers()
    with pytest.raises(MonitordError):
        load_public_key("not a key")


def test_wrong_private_key_fails(private_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    payload = encode_payload(b"secret", load_public_key(pkcs1_pem(private_key)))
    # OpenSSL's implicit rejection may hand back random bytes instead of an error: never the data.
    try:
        assert decode_payload(payload, other) != b"secret"
    except MonitordError:
        pass


# --- sender over loopback ---------------------------------------------------------------------------


def test_sender_udp_and_tcp(receiver: MonitordReceiver) -> None:
    sender = MonitordSender(5, "127.0.0.1", receiver.port)
    try:
        sender.send("BEACON_HOST", "123")
        sender.send("STATE_VM", 'VM = [ ID="3", DEPLOY_ID="i-1", STATE="RUNNING" ]\n')
        sender.send("MONITOR_HOST", "USEDCPU=0", success=False)
    finally:
        sender.close()
    assert receiver.wait_for(lambda fs: len(fs) == 3)
    by_type = {f.type: (t, f) for t, f in receiver.frames}
    assert by_type["BEACON_HOST"][0] == "udp" and by_type["BEACON_HOST"][1].text == "123"
    assert by_type["STATE_VM"][0] == "tcp"
    assert 'STATE="RUNNING"' in by_type["STATE_VM"][1].text
    assert by_type["MONITOR_HOST"][1].status == "FAILURE"
    assert all(f.host_id == 5 for _, f in receiver.frames)
    # Like monitord-client.rb: no trailing newline on the wire.
    assert all(not raw.endswith(b"\n") for _, raw in receiver.raw)


def test_sender_encrypts_with_pubkey(private_key: rsa.RSAPrivateKey) -> None:
    receiver = MonitordReceiver(private_key)
    try:
        sender = MonitordSender(9, "127.0.0.1", receiver.port, pkcs1_pem(private_key).replace("\n", " "))
        sender.send("SYSTEM_HOST", "HYPERVISOR=ec2\n" * 30)
        sender.send("STATE_VM", "SYNC_STATE=yes\nMISSING_STATE=UNKNOWN\n")
        sender.close()
        assert receiver.wait_for(lambda fs: len(fs) == 2)
        texts = {f.type: f.text for _, f in receiver.frames}
        assert texts["SYSTEM_HOST"] == "HYPERVISOR=ec2\n" * 30
        assert texts["STATE_VM"].startswith("SYNC_STATE=yes")
    finally:
        receiver.close()


def test_sender_timestamps_never_go_back(receiver: MonitordReceiver) -> None:
    sender = MonitordSender(1, "127.0.0.1", receiver.port)
    lines = [sender.send("BEACON_HOST", "x") for _ in range(3)]
    sender.close()
    stamps = [int(line.split()[3]) for line in lines]
    assert stamps == sorted(stamps)
