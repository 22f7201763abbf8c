"""Rebuild the exact VMM request/reply lines of the recorded 6.10.5 trace (driver_messages.txt).

The trace shows each payload decoded (`    | ` lines) and the first 80 characters of the exact line;
re-encoding the decoded text rebuilds the line, and the recorded prefix is checked against it. (The raw
logs are not in the shared data, and the decoded text is a few characters shorter than the recorded
base64 length, so only the prefix and the decoded document are byte-exact.)
"""

from __future__ import annotations

import ast
import base64
import re
from dataclasses import dataclass
from pathlib import Path

_EVENT = re.compile(r"^\[(?P<ts>[^\]]+)\] (?P<kind>CORE->DRIVER|DRIVER->CORE): (?P<rest>.*)$")
_B64 = re.compile(r"^(?P<head>\S+ {1,2}\S+) <base64 (?P<n>\d+) chars>$")


@dataclass(frozen=True)
class Event:
    direction: str  # "in" (oned -> driver) or "out" (driver -> oned)
    line: str  # exact line without newline
    decoded: str  # decoded payload for requests with base64, else ""


def vmm_events(real_dir: Path) -> list[Event]:
    text = (real_dir / "driver_messages.txt").read_text(encoding="utf-8")
    section = text.split("## VM_MAD dummy", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    events: list[Event] = []
    i = 0
    while i < len(lines):
        m = _EVENT.match(lines[i])
        i += 1
        if not m:
            continue
        rest = m.group("rest")
        if m.group("kind") == "DRIVER->CORE":
            events.append(Event("out", rest, ""))
            continue
        b = _B64.match(rest)
        if not b:
            # exact repr follows for lines such as 'DRIVER_CANCEL  2 '
            if i < len(lines) and "exact line repr:" in lines[i]:
                rest = ast.literal_eval(lines[i].split("exact line repr: ", 1)[1].rstrip(")"))
                i += 1
            events.append(Event("in", rest, ""))
            continue
        prefix = ""
        if i < len(lines) and "exact line repr:" in lines[i]:
            prefix = ast.literal_eval(lines[i].split("exact line repr: ", 1)[1].rstrip(".)"))
        decoded: list[str] = []
        while i < len(lines) and not _EVENT.match(lines[i]):
            if lines[i].startswith("    | "):
                decoded.append(lines[i][6:])
            i += 1
        xml = "\n".join(decoded)
        payload = base64.b64encode(xml.encode()).decode()
        line = f"{b.group('head')} {payload}"
        assert line.startswith(prefix), (line[:80], prefix)
        events.append(Event("in", line, xml))
    return events
