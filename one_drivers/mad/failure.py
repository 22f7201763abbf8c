"""What a remotes script writes on stderr so that oned's exec driver shows one clean message, per line.

oned's Ruby exec-driver helper reads a failed script's stderr three different ways:
4.4 - 6.0.2 take the text between the `ERROR MESSAGE` marker lines; 6.0.3 - 6.10 take the whole stderr with
line breaks turned to spaces; 7.x treats `ERROR|INFO|WARN|DEBUG:` lines as logs and glues the other lines
together with no separator. No single text is clean under all three (the markers the first needs show up
verbatim in the others), so the form follows the OpenNebula version found in `remotes/VERSION`, which every
OpenNebula install and upgrade rewrites. Stdlib only: the scripts import this before anything heavy.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable
from pathlib import Path

from one_drivers.one.versions import version_key

ERROR_START = "ERROR MESSAGE --8<------"
ERROR_END = "ERROR MESSAGE ------>8--"
# Overrides remotes/VERSION (tests, or remotes copied somewhere without it).
VERSION_ENV = "ONE_EC2_ONE_VERSION"
# 7.x: such a line is a log line, and digits after the colon are taken as the VM id to log to.
_LOG_LINE_7X = re.compile(r"^(ERROR|INFO|WARN|DEBUG):")
_LEVELS = {"E": "ERROR", "I": "INFO", "D": "DEBUG", "W": "WARN"}


class StderrForm(enum.Enum):
    """How one OpenNebula line's exec driver turns a failed script's stderr into the error message."""

    MARKERS = "markers"  # 4.4 - 6.0.2: only the ERROR MESSAGE block
    WHOLE = "whole"  # 6.0.3 - 6.10: all of stderr, newlines as spaces
    LINES = "lines"  # 7.x: non-log lines, concatenated


def form_for(version: str | None) -> StderrForm:
    """The stderr form for an OpenNebula version such as '6.10.5' (None: unknown)."""
    key = version_key(version) if version else ()
    if not key:
        # Unknown: one plain line is clean on every maintained line (6.0.3 - 7.x).
        return StderrForm.WHOLE
    if key < (6, 0, 3):
        return StderrForm.MARKERS
    if key < (6, 99):  # 6.99.x are the 7.0 betas, with 7.0's parser
        return StderrForm.WHOLE
    return StderrForm.LINES


def installed_version(script: str | os.PathLike[str]) -> str | None:
    """The OpenNebula version next to a remotes script (`<remotes>/<kind>/<driver>/<script>`)."""
    explicit = os.environ.get(VERSION_ENV)
    if explicit:
        return explicit
    version_file = Path(script).resolve().parent.parent.parent / "VERSION"
    try:
        text = version_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def one_line(text: str) -> str:
    """A message folded onto one line (every parser shows one line; 7.x glues lines with no space)."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def render(form: StderrForm, tag: str, logs: Iterable[tuple[str, str]], failure: str | None) -> str:
    """The stderr text: log lines (level letter, text) and, when `failure` is set, the error message.

    Log lines carry `tag: ` after the level, as OpenNebula's own scripts do, which also keeps 7.x from
    reading a leading number of the text as a VM id.
    """
    lines = []
    if failure is None or form is not StderrForm.WHOLE:
        # 6.0.3 - 6.10 would prepend every log line to the message; they never show success logs anyway.
        for level, text in logs:
            for part in text.splitlines():
                if part.strip():
                    lines.append(f"{_LEVELS.get(level, 'INFO')}: {tag}: {part.strip()}")
    if failure is not None:
        message = one_line(failure) or f"{tag} failed"
        if form is StderrForm.MARKERS:
            lines += [ERROR_START, message, ERROR_END]
        elif form is StderrForm.LINES and _LOG_LINE_7X.match(message):
            lines.append(f"{tag}: {message}")  # else 7.x would take the message for a log line
        else:
            lines.append(message)
    return "".join(line + "\n" for line in lines)
