"""oned's driver line protocol as pure functions: request lines in, reply and LOG lines out.

Used by the long-running loop (`mad/loop.py`), by the per-action scripts, and by the simulator to talk
to drivers. Nothing here does I/O. oned writes `<ACTION> <status> <id> <payload>` with an empty status
(two spaces on 6.10/7.x), so requests are split on runs of whitespace; replies are
`<ACTION> SUCCESS|FAILURE <id> <info>` on one line with `-` for empty info.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
LOG_LEVELS = frozenset({"I", "E", "D", "W"})
# The reply the recorded 6.10.5 drivers give to INIT; oned only checks the "INIT SUCCESS" prefix.
INIT_REPLY = "INIT SUCCESS - -"


class CodecError(ValueError):
    """A driver message that cannot be decoded (bad base64, bad XML, missing element)."""


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


class XmlElement(Protocol):
    """What the drivers read of a parsed document; lxml's and ElementTree's elements both fit."""

    @property
    def tag(self) -> str: ...

    @property
    def text(self) -> str | None: ...

    def find(self, path: str) -> XmlElement | None: ...

    def findall(self, path: str) -> Sequence[XmlElement]: ...

    def findtext(self, path: str) -> str | None: ...

    def __iter__(self) -> Iterator[XmlElement]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class ActionData:
    """The decoded `<VMM_DRIVER_ACTION_DATA>` of a VMM request (or a bare VM document).

    `vm` is the `<VM>` element (or `<TEMPLATE>` for <= 3.8 messages and pre-4.0.1 deployment files).
    Top-level fields are '' when absent or empty.
    """

    host: str
    migr_host: str
    deploy_id: str
    local_deployment_file: str
    checkpoint_file: str
    vm: XmlElement

    def vm_text(self, path: str, default: str = "") -> str:
        """Text of an element under the VM document, stripped; default when absent or empty."""
        node = self.vm.find(path)
        text = (node.text or "").strip() if node is not None else ""
        return text or default


def parse_xml(text: str | bytes) -> XmlElement:
    """Parse an XML document (text, or UTF-8 bytes as decoded from base64), refusing DTDs.

    oned never sends a DTD; one is refused (`xmlsafe.DRIVER_MESSAGE`: read as UTF-8 whatever it
    declares, comments and PIs dropped, no entities, no network). The factory is imported on first use:
    the remotes scripts import this module and must start fast, without lxml.
    """
    from one_drivers import xmlsafe

    try:
        root: XmlElement = xmlsafe.parse(text, xmlsafe.DRIVER_MESSAGE)
    except xmlsafe.DtdRefused as exc:
        raise CodecError(str(exc)) from exc
    except xmlsafe.XmlError as exc:
        raise CodecError(f"payload is not well-formed XML: {exc}") from exc
    return root


def children_named(element: XmlElement, tags: Collection[str]) -> Iterator[XmlElement]:
    """The children of `element` named in `tags`, in document order.

    lxml filters by name in C and makes Python objects for the matches only (a VM document has dozens
    of children, and a proxy per child costs more than the parse of the few we read); other element
    types are filtered here.
    """
    iterchildren = getattr(element, "iterchildren", None)
    if iterchildren is not None:
        return iter(iterchildren(*tags))
    return (child for child in element if child.tag in tags)


def first_children(
    element: XmlElement, texts: frozenset[str], elements: tuple[str, ...] = ()
) -> tuple[dict[str, str], dict[str, XmlElement]]:
    """One walk over an element's children: the stripped text of the first child named in `texts`, and
    the first child element named in `elements` (a find() per name would walk them again each time)."""
    values: dict[str, str] = {}
    found: dict[str, XmlElement] = {}
    for child in children_named(element, texts.union(elements)):
        tag = child.tag
        if tag in texts:
            if tag not in values:
                values[tag] = (child.text or "").strip()
        elif tag not in found:
            found[tag] = child
    return values, found


def parse_action_data(xml_text: str | bytes) -> ActionData:
    """Parse VMM_DRIVER_ACTION_DATA XML, or a bare `<VM>`/`<TEMPLATE>` deployment document."""
    root = parse_xml(xml_text)
    if root.tag in ("VM", "TEMPLATE"):
        return ActionData("", "", "", "", "", root)
    if root.tag != "VMM_DRIVER_ACTION_DATA":
        raise CodecError(f"unexpected document <{root.tag}>, expected <VMM_DRIVER_ACTION_DATA>")
    fields, found = first_children(root, _ACTION_FIELDS, ("VM", "TEMPLATE"))
    document = found.get("VM")
    if document is None:
        document = found.get("TEMPLATE")
    if document is None:
        raise CodecError("VMM_DRIVER_ACTION_DATA has no <VM> document")
    return ActionData(
        host=fields.get("HOST", ""),
        migr_host=fields.get("MIGR_HOST", ""),
        deploy_id=fields.get("DEPLOY_ID", ""),
        local_deployment_file=fields.get("LOCAL_DEPLOYMENT_FILE", ""),
        checkpoint_file=fields.get("CHECKPOINT_FILE", ""),
        vm=document,
    )


_ACTION_FIELDS = frozenset({"HOST", "MIGR_HOST", "DEPLOY_ID", "LOCAL_DEPLOYMENT_FILE", "CHECKPOINT_FILE"})


def decode_action_data(payload: str) -> ActionData:
    """base64 payload of a VMM request -> ActionData; CodecError on bad base64 or XML (non-UTF-8
    bytes included: the parser is told the bytes are UTF-8 and refuses invalid sequences)."""
    return parse_action_data(decode_base64_bytes(payload))
