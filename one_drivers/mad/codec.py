"""oned's driver line protocol as pure functions: request lines in, reply and LOG lines out.

Used by the long-running loop (`mad/loop.py`), by the per-action scripts, and by the simulator to talk
to drivers. Nothing here does I/O. oned writes `<ACTION> <status> <id> <payload>` with an empty status
(two spaces on 6.10/7.x), so requests are split on runs of whitespace; replies are
`<ACTION> SUCCESS|FAILURE <id> <info>` on one line with `-` for empty info.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

# The documents in the messages are read in one/ (re-exported here: the drivers' one codec import).
from one_drivers.one.driver_docs import ActionData as ActionData
from one_drivers.one.driver_docs import CodecError as CodecError
from one_drivers.one.driver_docs import parse_action_data as parse_action_data

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
LOG_LEVELS = frozenset({"I", "E", "D", "W"})
# The reply the recorded 6.10.5 drivers give to INIT; oned only checks the "INIT SUCCESS" prefix.
INIT_REPLY = "INIT SUCCESS - -"


@dataclass(frozen=True)
class Request:
    """One request line from oned: the action name and the remaining whitespace-separated fields."""

    action: str
    fields: tuple[str, ...]

    def field(self, index: int, default: str = "") -> str:
        return self.fields[index] if 0 <= index < len(self.fields) else default


def parse_request(line: str) -> Request | None:
    """Split a request line on runs of whitespace; None for a blank line.

    `DEPLOY  0 PD94...` (empty status field) and `DEPLOY 0 PD94...` parse the same way, as the Ruby
    drivers' `split(/\\s+/)` did; `DRIVER_CANCEL  2 ` keeps only the id.
    """
    parts = line.split()
    if not parts:
        return None
    return Request(parts[0].upper(), tuple(parts[1:]))


def format_request(action: str, oid: int | str, payload: str = "", status: str = "") -> str:
    """A request line exactly as oned 6.10 writes it (empty status -> two spaces), without newline."""
    line = f"{action} {status} {oid}"
    return f"{line} {payload}" if payload else f"{line} "


def fold_text(text: str) -> str:
    """Multi-line text as one line: lines stripped, blank ones dropped, joined with a space."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def format_reply(action: str, success: bool, oid: int | str, info: str = "") -> str:
    """`<ACTION> SUCCESS|FAILURE <id> <info>` without newline; empty info becomes `-`."""
    folded = fold_text(info)
    return f"{action} {SUCCESS if success else FAILURE} {oid} {folded or '-'}"


def format_log(oid: int | str, text: str, level: str = "I") -> list[str]:
    """`LOG <level> <id> <text>` lines, one per non-blank line of text (oned reads one line each)."""
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {sorted(LOG_LEVELS)}, not {level!r}")
    lines = [part.rstrip() for part in text.splitlines() if part.strip()]
    return [f"LOG {level} {oid} {part}" for part in lines] or [f"LOG {level} {oid} -"]


@dataclass(frozen=True)
class Reply:
    """A parsed reply line (what oned reads back); used by the simulator and tests."""

    action: str
    success: bool
    oid: str
    info: str


def parse_reply(line: str) -> Reply | None:
    """Parse `<ACTION> SUCCESS|FAILURE <id> <info...>`; None for LOG lines and anything else."""
    parts = line.rstrip("\r\n").split(" ", 3)
    if len(parts) < 3 or parts[0] == "LOG" or parts[1] not in (SUCCESS, FAILURE):
        return None
    info = parts[3] if len(parts) > 3 else ""
    return Reply(parts[0], parts[1] == SUCCESS, parts[2], info)


def decode_base64_bytes(payload: str) -> bytes:
    """Decode base64 text to bytes; line breaks allowed (5.0-5.10 remotes stdin has them)."""
    try:
        # oned's own payloads have no line breaks, so the strict form nearly always decodes at once.
        return binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CodecError(f"payload is not valid base64: {exc}") from exc


def decode_base64(payload: str) -> str:
    """Decode base64 text (line breaks allowed) to UTF-8 text."""
    try:
        return decode_base64_bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError("payload is not UTF-8 text") from exc


def encode_base64(text: str) -> str:
    """Strict base64 (no line breaks) of UTF-8 text, as oned encodes payloads."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_action_data(payload: str) -> ActionData:
    """base64 payload of a VMM request -> ActionData; CodecError on bad base64 or XML (non-UTF-8
    bytes included: the parser is told the bytes are UTF-8 and refuses invalid sequences)."""
    return parse_action_data(decode_base64_bytes(payload))
