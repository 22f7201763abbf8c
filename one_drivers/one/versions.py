"""OpenNebula release numbers as the drivers and the installer compare them (stdlib only: the remotes
scripts import this before anything heavy)."""

from __future__ import annotations

import re


def version_key(version: str) -> tuple[int, ...]:
    """'6.10.5' -> (6, 10, 5); suffixes such as '-fixup' are ignored; () when there is no number."""
    parts = []
    for piece in version.strip().split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)
