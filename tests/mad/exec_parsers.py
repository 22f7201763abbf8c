"""How each OpenNebula line's exec driver turns a failed remotes script's stderr into the message oned stores
(the VM's or host's ERROR), restated from src/mad/ruby/{CommandManager,DriverExecHelper}.rb of each tag.

- release-4.4 .. release-6.0.2: `GenericCommand#get_error_message` scans stderr (multi-line mode) for the
  first text between a line `ERROR MESSAGE --8<------` and a line `ERROR MESSAGE ------>8--`, strips it;
  no block at all gives "-".
- release-6.0.3 .. release-6.10.5 (B #5065): the whole stderr, every "\\n" replaced by a space, stripped;
  an empty stderr gives "-".
- release-6.99.80 .. release-7.4.0: `get_info_from_execution` walks stderr line by line, each line stripped;
  a line matching `^(ERROR|INFO|WARN|DEBUG):\\s+(\\d+)?\\s*(.*)$` becomes a LOG message to the VM whose id is
  the optional number (else -1: oned's own log); every other line is appended to the message with no
  separator. The message is then stripped; empty gives "-".
In every line, `run_probes` (4.4-5.10 IM) appends its own block `Error executing <probe>` after the probe's
stderr, and `run_monitord_client` (5.12+) does the same with the client's stdout (5.12) or stdout and stderr
together (6.x, 7.x) after `Error executing <client>: `.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKED = re.compile(r"^ERROR MESSAGE --8<------\n(.*?)ERROR MESSAGE ------>8--$", re.MULTILINE | re.DOTALL)
LOG_7X = re.compile(r"^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$")


def markers_rule(stderr: str) -> str:
    """4.4 - 6.0.2."""
    found = MARKED.search(stderr)
    return found.group(1).strip() if found else "-"


def whole_rule(stderr: str) -> str:
    """6.0.3 - 6.10."""
    return stderr.replace("\n", " ").strip() or "-"


@dataclass
class LinesResult:
    message: str
    logs: list[tuple[str, int, str]] = field(default_factory=list)  # (severity word, vm id, text)


def lines_rule(stderr: str) -> LinesResult:
    """7.x: the message and the LOG messages sent on the way."""
    glued = ""
    logs = []
    for raw in stderr.splitlines(keepends=True):
        line = raw.strip()
        found = LOG_7X.match(line)
        if not found:
            glued += line
            continue
        logs.append((found.group(1), int(found.group(2)) if found.group(2) else -1, found.group(3).strip()))
    return LinesResult(glued.replace("\n", " ").strip() or "-", logs)


# (OpenNebula version as in remotes/VERSION, the rule of that line)
LINES = [
    ("4.4.0", markers_rule),
    ("5.10.0", markers_rule),
    ("5.12.0", markers_rule),
    ("6.0.2", markers_rule),
    ("6.0.3", whole_rule),
    ("6.10.5", whole_rule),
    ("7.0.0", lambda text: lines_rule(text).message),
    ("7.4.0", lambda text: lines_rule(text).message),
]
