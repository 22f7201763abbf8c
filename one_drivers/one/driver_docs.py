"""The documents oned hands its drivers, read into typed objects: VMM_DRIVER_ACTION_DATA and its VM,
ec2_driver.default, MONITOR_DRIVER_ACTION, MONITOR_CONFIGURATION and MONITOR_MESSAGES.

mad/ takes the wire apart (line fields, base64, zlib) and hands the document here; the drivers read what
they need through these objects and never walk XML. xmlsafe (so lxml) is imported on the first parse:
the remotes scripts import this module and must start fast.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class CodecError(ValueError):
    """A driver message that cannot be decoded (bad base64, bad XML, missing element)."""


class MonitordError(ValueError):
    """A monitord message or configuration that cannot be decoded."""


class XmlElement(Protocol):
    """What is read of a parsed document; lxml's and ElementTree's elements both fit."""

    @property
    def tag(self) -> str: ...

    @property
    def text(self) -> str | None: ...

    def find(self, path: str) -> XmlElement | None: ...

    def findall(self, path: str) -> Sequence[XmlElement]: ...

    def findtext(self, path: str) -> str | None: ...

    def __iter__(self) -> Iterator[XmlElement]: ...

    def __len__(self) -> int: ...


def parse_xml(text: str | bytes) -> XmlElement:
    """Parse a driver message (text, or UTF-8 bytes as decoded from base64), refusing DTDs.

    oned never sends a DTD; one is refused (`xmlsafe.DRIVER_MESSAGE`: read as UTF-8 whatever it
    declares, comments and PIs dropped, no entities, no network).
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


def _vector(node: XmlElement) -> dict[str, str]:
    """A vector's members as {UPPER_NAME: text as given}; blank values are dropped."""
    return {child.tag.upper(): text for child in node if (text := child.text or "").strip()}


# --- VMM_DRIVER_ACTION_DATA -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VmHeader:
    """What every action reads of a VM: the first ID/STATE/LCM_STATE/DEPLOY_ID/STIME (stripped, '' when
    absent), the highest HISTORY_RECORDS/HISTORY/SEQ (0 without one) and the first HISTORY's HOSTNAME."""

    id: str
    state: str
    lcm_state: str
    deploy_id: str
    stime: str
    seq: int
    hostname: str


_VM_FIELDS = frozenset({"ID", "STATE", "LCM_STATE", "DEPLOY_ID", "STIME"})
_HISTORY = ("HISTORY",)
_HISTORY_FIELDS = ("SEQ", "HOSTNAME")


class VmDocument:
    """The `<VM>` document of an action (`<TEMPLATE>` in <= 3.8 messages and pre-4.0.1 deployment
    files), read-only: values by path or name, never its elements."""

    __slots__ = ("_root",)

    def __init__(self, root: XmlElement) -> None:
        self._root = root

    @property
    def tag(self) -> str:
        return self._root.tag

    def text(self, path: str, default: str = "") -> str:
        """Text of the element at `path`, stripped; default when absent or empty."""
        node = self._root.find(path)
        text = (node.text or "").strip() if node is not None else ""
        return text or default

    def header(self) -> VmHeader:
        """The VM's header fields, in one walk over its children (the VMM driver reads them per action)."""
        values, found = first_children(self._root, _VM_FIELDS, ("HISTORY_RECORDS",))
        seq = 0
        hostname: str | None = None
        records = found.get("HISTORY_RECORDS")
        for history in children_named(records, _HISTORY) if records is not None else ():
            for leaf in children_named(history, _HISTORY_FIELDS):
                text = (leaf.text or "").strip()
                if leaf.tag == "SEQ" and text.isdigit():
                    seq = max(seq, int(text))
                elif leaf.tag == "HOSTNAME" and hostname is None:
                    hostname = text
        get = values.get
        return VmHeader(
            get("ID", ""),
            get("STATE", ""),
            get("LCM_STATE", ""),
            get("DEPLOY_ID", ""),
            get("STIME", ""),
            seq,
            hostname or "",
        )

    def user_vectors(self, name: str) -> list[dict[str, str]]:
        """USER_TEMPLATE's vectors called `name` (the top level's in a `<TEMPLATE>` document), each as
        {UPPER_NAME: text as given}, blank values dropped."""
        user = self._root.find("USER_TEMPLATE")
        return [_vector(node) for node in (self._root if user is None else user).findall(name)]

    def template_vectors(self, name: str) -> list[dict[str, str]]:
        """TEMPLATE's vectors called `name`, as user_vectors gives them (<= 4.0 kept EC2 there)."""
        return [_vector(node) for node in self._root.findall(f"TEMPLATE/{name}")]

    def context(self) -> dict[str, str]:
        """The CONTEXT vector (TEMPLATE/CONTEXT, or top-level in `<TEMPLATE>` documents), every value as
        given, empty ones included."""
        node = self._root.find("TEMPLATE/CONTEXT")
        if node is None:
            node = self._root.find("CONTEXT")
        if node is None:
            return {}
        return {child.tag.upper(): (child.text or "") for child in node}


@dataclass(frozen=True)
class ActionData:
    """The decoded `<VMM_DRIVER_ACTION_DATA>` of a VMM request (or a bare VM document).

    Top-level fields are '' when absent or empty.
    """

    host: str
    migr_host: str
    deploy_id: str
    local_deployment_file: str
    checkpoint_file: str
    vm: VmDocument

    def vm_text(self, path: str, default: str = "") -> str:
        """Text of an element under the VM document, stripped; default when absent or empty."""
        return self.vm.text(path, default)


_ACTION_FIELDS = frozenset({"HOST", "MIGR_HOST", "DEPLOY_ID", "LOCAL_DEPLOYMENT_FILE", "CHECKPOINT_FILE"})


def parse_action_data(xml_text: str | bytes) -> ActionData:
    """Parse VMM_DRIVER_ACTION_DATA XML, or a bare `<VM>`/`<TEMPLATE>` deployment document."""
    root = parse_xml(xml_text)
    if root.tag in ("VM", "TEMPLATE"):
        return ActionData("", "", "", "", "", VmDocument(root))
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
        vm=VmDocument(document),
    )


def default_section(xml_text: str) -> dict[str, str]:
    """ec2_driver.default: the first PUBLIC_CLOUD (else EC2) vector of `<TEMPLATE>`, or that vector as the
    root, as user_vectors gives it; {} without one."""
    root = parse_xml(xml_text)
    if root.tag.upper() in ("PUBLIC_CLOUD", "EC2"):
        return _vector(root)
    section = root.find("PUBLIC_CLOUD")
    if section is None:
        section = root.find("EC2")
    return {} if section is None else _vector(section)


# --- monitord: MONITOR_DRIVER_ACTION, MONITOR_CONFIGURATION, MONITOR_MESSAGES --------------------------------

# monitord-client.rb defaults, used when PROBES_PERIOD omits a probe.
DEFAULT_PERIODS: Mapping[str, int] = {
    "BEACON_HOST": 30,
    "SYSTEM_HOST": 600,
    "MONITOR_HOST": 120,
    "STATE_VM": 5,
    "MONITOR_VM": 30,
    "SYNC_STATE_VM": 180,
}
DEFAULT_PORT = 4124


@dataclass(frozen=True)
class MonitorConfig:
    """Where and how often to push: from MONITOR_CONFIGURATION (monitord.conf as XML)."""

    address: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    pubkey: str = ""
    periods: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PERIODS))

    def period(self, name: str) -> int:
        return int(self.periods.get(name, DEFAULT_PERIODS[name]))


@dataclass(frozen=True)
class MonitorAction:
    """The document of a START_MONITOR/STOP_MONITOR: the host's name and XML, and the push configuration."""

    host_name: str = ""
    host_xml: str = ""
    config: MonitorConfig = field(default_factory=MonitorConfig)


def _text(elem: XmlElement | None, path: str) -> str:
    if elem is None:
        return ""
    found = elem.find(path)
    return (found.text or "").strip() if found is not None else ""


def _monitor_config(elem: XmlElement | None) -> MonitorConfig:
    """MONITOR_CONFIGURATION -> MonitorConfig; `auto` (or empty) address means this machine: 127.0.0.1."""
    address = _text(elem, "NETWORK/MONITOR_ADDRESS")
    # A local driver runs next to monitord, so `auto` resolves to loopback (the Ruby client could not).
    if not address or address.lower() == "auto":
        address = "127.0.0.1"
    port_text = _text(elem, "NETWORK/PORT")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError as exc:
        raise MonitordError(f"NETWORK/PORT is not a number: {port_text!r}") from exc
    periods = dict(DEFAULT_PERIODS)
    for name in DEFAULT_PERIODS:
        value = _text(elem, f"PROBES_PERIOD/{name}")
        if value:
            try:
                periods[name] = max(1, int(value))
            except ValueError as exc:
                raise MonitordError(f"PROBES_PERIOD/{name} is not a number: {value!r}") from exc
    return MonitorConfig(address, port, _text(elem, "NETWORK/PUBKEY"), periods)


def read_monitor_action(kind: str, data: bytes) -> MonitorAction:
    """The `<MONITOR_DRIVER_ACTION>` of a `kind` (START_MONITOR/STOP_MONITOR) frame; empty data, defaults."""
    from one_drivers import xmlsafe

    if not data.strip():
        return MonitorAction()
    try:
        root = xmlsafe.parse(data)
    except xmlsafe.XmlError as exc:
        raise MonitordError(f"{kind} payload is not XML: {exc}") from exc
    host = root.find("HOST")
    config = _monitor_config(root.find("MONITOR_CONFIGURATION"))
    if host is None:
        return MonitorAction(config=config)
    return MonitorAction(_text(host, "NAME"), xmlsafe.to_text(host), config)


def read_monitor_configuration(text: str) -> MonitorConfig:
    """MONITOR_CONFIGURATION as XML, or base64 of it (5.12+ remotes stdin), alone or in a document.

    ValueError (xmlsafe.XmlError when not XML) names what is wrong.
    """
    from one_drivers import xmlsafe

    body = text.strip()
    if not body.startswith("<"):
        try:
            body = base64.b64decode("".join(body.split()), validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"stdin is neither XML nor base64: {exc}") from exc
    root = xmlsafe.parse(body)
    if root.tag != "MONITOR_CONFIGURATION":
        found = root.find("MONITOR_CONFIGURATION")
        if found is None:
            raise ValueError(f"expected MONITOR_CONFIGURATION, got <{root.tag}>")
        root = found
    return _monitor_config(root)


def parse_monitor_messages(text: str) -> tuple[int, list[tuple[str, str]]]:
    """Read a `<MONITOR_MESSAGES>` document back (timestamp, [(type, decoded text)]) as monitord does."""
    from one_drivers import xmlsafe

    try:
        root = xmlsafe.parse(text)
    except xmlsafe.XmlError as exc:
        raise MonitordError(f"MONITOR_MESSAGES is not XML: {exc}") from exc
    stamp = _text(root, "TIMESTAMP")
    out: list[tuple[str, str]] = []
    for child in root:
        if child.tag == "TIMESTAMP":
            continue
        raw = base64.b64decode("".join((child.text or "").split()))
        out.append((child.tag, raw.decode("utf-8", errors="replace")))
    return (int(stamp) if stamp else 0), out
