"""OCCI XML request bodies (COMPUTE, NETWORK, STORAGE, ACTION) -> typed values; nothing else is read.

Bodies are parsed with a hardened parser (no DTD, no entities, no network), and a body that is not the
expected document is a `BadRequest` naming what was wrong. `href`s are read by their last path segment,
as upstream's server did, and must be a number for OpenNebula objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from one_drivers import xmlsafe
from one_drivers.occi.errors import BadRequest

_Element = xmlsafe.XmlNode

MAX_BODY_BYTES = 1024 * 1024


def parse_document(body: bytes, root: str) -> _Element:
    """The body's root element, which must be `root`."""
    if not body.strip():
        raise BadRequest(f"Missing {root} section in the XML body")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadRequest("XML bodies with a DOCTYPE are not accepted")
    try:
        el = xmlsafe.parse(body)
    except xmlsafe.XmlError as exc:
        raise BadRequest(f"The body is not well-formed XML: {exc}") from None
    if el.tag != root:
        raise BadRequest(f"Missing {root} section in the XML body (found {el.tag})")
    return el


def _text(el: _Element, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def href_id(href: str | None, kind: str) -> int | None:
    """`http://host/storage/7` (or `7`) -> 7; None for no href."""
    if href is None:
        return None
    last = href.rstrip("/").rsplit("/", 1)[-1]
    if not last.isdigit():
        raise BadRequest(f"{kind} href {href!r} does not end in a numeric id")
    return int(last)


@dataclass(frozen=True)
class DiskSpec:
    storage_id: int | None
    target: str | None = None
    disk_id: int | None = None  # PUT: which disk a SAVE_AS names
    save_as: str | None = None


@dataclass(frozen=True)
class NicSpec:
    network_id: int | None
    ip: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class ComputeDoc:
    name: str | None
    instance_type: str | None
    state: str | None
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    context: tuple[tuple[str, str], ...] = ()
    cpu: str | None = None
    memory: str | None = None


def parse_compute(body: bytes) -> ComputeDoc:
    el = parse_document(body, "COMPUTE")
    itype_el = el.find("INSTANCE_TYPE")
    itype = None
    if itype_el is not None:
        href = itype_el.get("href")
        itype = href.rstrip("/").rsplit("/", 1)[-1] if href else (itype_el.text or "").strip() or None
    disks = []
    for disk in el.iterfind("DISK"):
        storage = disk.find("STORAGE")
        save_as = disk.find("SAVE_AS")
        disk_id = disk.get("id")
        if disk_id is not None and not disk_id.strip().isdigit():
            raise BadRequest(f"DISK id {disk_id!r} is not a number")
        disks.append(
            DiskSpec(
                storage_id=href_id(storage.get("href") if storage is not None else None, "STORAGE"),
                target=_text(disk, "TARGET"),
                disk_id=int(disk_id) if disk_id is not None else None,
                save_as=save_as.get("name") if save_as is not None else None,
            )
        )
    nics = []
    for nic in el.iterfind("NIC"):
        network = nic.find("NETWORK")
        nics.append(
            NicSpec(
                network_id=href_id(network.get("href") if network is not None else None, "NETWORK"),
                ip=_text(nic, "IP"),
                mac=_text(nic, "MAC"),
            )
        )
    context: list[tuple[str, str]] = []
    ctx_el = el.find("CONTEXT")
    if ctx_el is not None:
        for child in ctx_el:
            if isinstance(child.tag, str) and child.text is not None:
                context.append((child.tag, child.text))
    state = _text(el, "STATE")
    return ComputeDoc(
        name=_text(el, "NAME"),
        instance_type=itype,
        state=state.upper() if state else None,
        disks=tuple(disks),
        nics=tuple(nics),
        context=tuple(context),
        cpu=_text(el, "CPU"),
        memory=_text(el, "MEMORY"),
    )


@dataclass(frozen=True)
class NetworkDoc:
    name: str | None
    address: str | None
    size: str | None
    description: str | None
    public: str | None


def parse_network(body: bytes) -> NetworkDoc:
    el = parse_document(body, "NETWORK")
    public = _text(el, "PUBLIC")
    return NetworkDoc(
        name=_text(el, "NAME"),
        address=_text(el, "ADDRESS"),
        size=_text(el, "SIZE"),
        description=_text(el, "DESCRIPTION"),
        public=public.upper() if public else None,
    )


@dataclass(frozen=True)
class StorageDoc:
    name: str | None
    type: str | None
    size: str | None
    fstype: str | None
    description: str | None
    public: str | None
    persistent: str | None


def parse_storage(body: bytes) -> StorageDoc:
    el = parse_document(body, "STORAGE")

    def upper(path: str) -> str | None:
        value = _text(el, path)
        return value.upper() if value else None

    return StorageDoc(
        name=_text(el, "NAME"),
        type=upper("TYPE"),
        size=_text(el, "SIZE"),
        fstype=_text(el, "FSTYPE"),
        description=_text(el, "DESCRIPTION"),
        public=upper("PUBLIC"),
        persistent=upper("PERSISTENT"),
    )


@dataclass(frozen=True)
class ActionDoc:
    """`<ACTION><PERFORM>attachdisk</PERFORM><PARAMS>…</PARAMS></ACTION>` (upstream 4.x)."""

    perform: str
    storage_id: int | None = None
    target: str | None = None
    disk_id: int | None = None
    network_id: int | None = None
    nic_id: int | None = None
    ip: str | None = None
    name: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _int_attr(el: _Element | None, what: str) -> int | None:
    if el is None:
        return None
    value = el.get("id")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise BadRequest(f"{what} id {value!r} is not a number")
    return int(value)


def parse_action(body: bytes) -> ActionDoc:
    el = parse_document(body, "ACTION")
    perform = _text(el, "PERFORM")
    if not perform:
        raise BadRequest("The ACTION has no PERFORM")
    storage = el.find("PARAMS/STORAGE")
    network = el.find("PARAMS/NETWORK")
    return ActionDoc(
        perform=perform.lower(),
        storage_id=href_id(storage.get("href") if storage is not None else None, "STORAGE"),
        target=_text(el, "PARAMS/TARGET"),
        disk_id=_int_attr(el.find("PARAMS/DISK"), "DISK"),
        network_id=href_id(network.get("href") if network is not None else None, "NETWORK"),
        nic_id=_int_attr(el.find("PARAMS/NIC"), "NIC"),
        ip=_text(el, "PARAMS/IP"),
        name=_text(el, "PARAMS/NAME"),
    )
