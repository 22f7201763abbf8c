"""A structural view of an XML document for conformance diffs: tag paths in order, with value types."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

_INT = re.compile(r"-?\d+\Z")
_NUM = re.compile(r"-?\d+(\.\d+)?\Z")


def value_type(text: str | None) -> str:
    value = (text or "").strip()
    if not value:
        return "empty"
    if _INT.match(value):
        return "int"
    if _NUM.match(value):
        return "num"
    return "text"


def structure(doc: str) -> list[str]:
    """Distinct `path:type` entries in document order (repeated siblings collapse onto one path)."""
    root = ET.fromstring(doc)
    seen: dict[str, None] = {}

    def walk(el: ET.Element, prefix: str) -> None:
        path = f"{prefix}/{el.tag}"
        children = list(el)
        kind = "node" if children else value_type(el.text)
        # Numbers and empty values of one leaf are one family: a 0 vs. "" or 1 vs. 0.5 is data, not shape.
        if kind in ("int", "num", "empty"):
            kind = "scalar"
        seen.setdefault(f"{path}:{kind}", None)
        for child in children:
            walk(child, path)

    walk(root, "")
    return list(seen)


def paths(doc: str) -> list[str]:
    return [entry.rsplit(":", 1)[0] for entry in structure(doc)]
