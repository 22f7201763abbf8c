"""The XML documents the simulator returns, element for element as oned 6.10.5 writes them.

Element names and order follow the recorded `real-6.10.5/*.xml` and are data (documents.yaml's
`layouts`, rendered by `render`); template attributes are sorted by name (oned keeps them in a
multimap) and their values wrapped in CDATA. Pools are the object bodies joined under the pool root;
VMs come in two bodies, the full one and the reduced one of `vmpool.info`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from one_drivers.sim.model import AddressRange, Attrs, Host, User, Vm, VNet, get_attr, load_data
from one_drivers.sim.wire import Escaped, escaped

# Element names of the documents, as data: see documents.yaml.
_NAMES = load_data("documents.yaml")
PERM_NAMES: tuple[str, ...] = tuple(_NAMES["permissions"])
QUOTAS: str = "".join(f"<{name}></{name}>" for name in _NAMES["quotas"])
SHORT_USER_TEMPLATE = frozenset(_NAMES["short_vm"]["user_template"])
SHORT_VECTORS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _NAMES["short_vm"]["vectors"].items()}
ONED_CONF: dict[str, list[str]] = _NAMES["oned_conf"]


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text(value: object) -> str:
    return escape(str(value))


def elements(pairs: Iterable[tuple[str, object]]) -> str:
    """`<NAME>` with the value in CDATA for each (name, value), as oned writes template values."""
    return "".join(f"<{name}>{cdata(str(value))}</{name}>" for name, value in pairs)


def attrs_xml(attrs: Attrs) -> str:
    """Template attributes sorted by name (stable for repeated names), vector members sorted too."""
    out = []
    for name, value in sorted(attrs, key=lambda a: a[0]):
        if isinstance(value, dict):  # written out here, not through elements(): the pools' hot path
            inner = "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in sorted(value.items()))
            out.append(f"<{name}>{inner}</{name}>")
        else:
            out.append(f"<{name}>{cdata(value)}</{name}>")
    return "".join(out)


def config_xml(version: str) -> str:
    """The answer of one.system.config: each value of each oned.conf setting, then VERSION."""
    settings = elements([*((n, v) for n, values in ONED_CONF.items() for v in values), ("VERSION", version)])
    return f"<OPENNEBULA_CONFIGURATION>{settings}</OPENNEBULA_CONFIGURATION>"


# --- the generic writer of documents.yaml's layouts --------------------------------------------
_KINDS: dict[str, Callable[[Any], str]] = {
    "text": lambda v: escape(v) if isinstance(v, str) else str(v),  # numbers need no escaping
    "cdata": lambda v: cdata(str(v)),
    "int": lambda v: str(int(v)),
    "ids": lambda v: "".join(f"<ID>{i}</ID>" for i in v),
    "perms": lambda v: "".join(f"<{n}>{p}</{n}>" for n, p in zip(PERM_NAMES, v, strict=True)),
    "tmpl": attrs_xml,
    "raw": str,
}
# An entry: (literal XML, "", None, ...), ("$", "", name, ...) or ("<TAG>", "</TAG>", key, kind, "<TAG/>"
# or None when an empty value is written in full).
_Entry = tuple[str, str, str | None, Callable[[Any], str], str | None]


def _compile(entry: str) -> _Entry:
    if entry.startswith("<"):
        return (entry, "", None, str, None)
    if entry.startswith("$"):
        return ("$", "", entry[1:], str, None)
    tag, kind, key = [*entry.split(), "", ""][:3]
    kind = kind or "text"
    short = f"<{tag}/>" if kind.endswith("?") else None
    return (f"<{tag}>", f"</{tag}>", key or tag.lower(), _KINDS[kind.rstrip("?")], short)


def _wrapper(name: str) -> tuple[str, str]:
    tag = name.split(" ")[0]
    return ("", "") if name[0].islower() else (f"<{tag}>", f"</{tag}>")


# name -> (opening tag, closing tag, entries)
LAYOUTS: dict[str, tuple[str, str, list[_Entry]]] = {
    name: (*_wrapper(name), [_compile(entry) for entry in entries])
    for name, entries in _NAMES["layouts"].items()
}


def render(layout: str, obj: object, **values: object) -> str:
    """The layout `layout` of documents.yaml for `obj`; `values` stand in for (or add to) its attributes."""
    return _render(layout, obj, values)


def _render(layout: str, obj: object, values: dict[str, object]) -> str:
    # nested layouts get the same dict (a **values call would copy it for each)
    head, tail, entries = LAYOUTS[layout]
    out = [head]
    for start, end, key, kind, short in entries:
        if key is None:
            out.append(start)
        elif start == "$":
            out.append(str(values[key]) if key in values else _render(key, obj, values))
        else:
            value = values[key] if key in values else getattr(obj, key)
            out.append(short if short is not None and not value else f"{start}{kind(value)}{end}")
    out.append(tail)
    return "".join(out)


# --- users and groups -------------------------------------------------------------------------
def user_body(user: User) -> str:
    tokens = "".join(
        render("LOGIN_TOKEN", None, token=token, expiration_time=expiry, egid=egid)
        for token, (expiry, egid) in user.login_tokens.items()
    )
    return render("user", user, tokens=tokens)


def with_quotas(tag: str, body: str) -> str:
    """A user's or group's info document: its body, its (empty) quotas and the defaults."""
    return f"<{tag}>{body}{QUOTAS}<DEFAULT_{tag}_QUOTAS>{QUOTAS}</DEFAULT_{tag}_QUOTAS></{tag}>"


def pool_with_quotas(tag: str, bodies: Iterable[tuple[int, str]]) -> str:
    """The user or group pool: each body followed by a QUOTAS sibling, then the defaults."""
    inner = "".join(f"<{tag}>{body}</{tag}><QUOTAS><ID>{oid}</ID>{QUOTAS}</QUOTAS>" for oid, body in bodies)
    return f"<{tag}_POOL>{inner}<DEFAULT_{tag}_QUOTAS>{QUOTAS}</DEFAULT_{tag}_QUOTAS></{tag}_POOL>"


# --- hosts and networks ----------------------------------------------------------------------
def host_xml(host: Host, vms: list[int], mem: int, cpu: int, template: Attrs, pool: bool) -> str:
    """The host document; the pool's show no MONITORING (oned keeps it in a table of its own)."""
    values: dict[str, object] = dict(zip(("free_disk", "max_disk", "used_disk"), host.ds_usage, strict=True))
    values["monitoring"] = "<MONITORING/>" if pool or not host.monitor_time else _monitoring_xml(host)
    values["pci"] = "".join(f"<PCI>{elements(sorted({**p, 'VMID': '-1'}.items()))}</PCI>" for p in host.pci)
    values["numa"] = _numa_xml([_numa_share(v) for v in host.numa], "share", "NODE", True)
    return render(
        "HOST", host, vms=vms, mem_usage=mem, cpu_usage=cpu, running_vms=len(vms), template=template, **values
    )


def _numa_xml(vectors: list[tuple[str, dict[str, str]]], section: str, node_tag: str, in_order: bool) -> str:
    """The NUMA nodes of documents.yaml's `numa` section: one `node_tag` per NODE_ID (first seen first)."""
    layouts: dict[str, list[str]] = _NAMES["numa"][section]
    nodes: dict[str, list[tuple[int, str]]] = {}
    for kind, vec in vectors:
        if kind in layouts:
            tag, *members = layouts[kind]
            split = (m.partition("=") for m in members)
            inner = elements((name, const if eq else vec.get(name, "0")) for name, eq, const in split)
            order = list(layouts).index(kind) if in_order else 0
            nodes.setdefault(vec.get("NODE_ID", "0"), []).append((order, f"<{tag}>{inner}</{tag}>"))
    return "".join(
        f"<{node_tag}>{''.join(p for _, p in sorted(parts, key=lambda p: p[0]))}<NODE_ID>{cdata(node)}</NODE_ID></{node_tag}>"
        for node, parts in nodes.items()
    )


def _numa_share(vec: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A NUMA vector of the host's probes as HOST_SHARE shows it: a core's CPUs all free (`<cpu>:-1`)."""
    cpus = [c for c in vec.get("CPUS", "").split(",") if c]
    shown = {**vec, "DISTANCE": vec.get("DISTANCE", "").strip()}
    if vec.get("_KIND") == "CORE":
        shown.update(CPUS=",".join(f"{c}:-1" for c in cpus), FREE=str(len(cpus)))
    return vec.get("_KIND", ""), shown


def _monitoring_xml(host: Host) -> str:
    """The host's last monitoring message as documents.yaml's `host_monitoring` picks from it."""
    mon = {k: v for k, v in host.monitoring if isinstance(v, str)}
    sections = {
        section.lower(): elements((tag, mon[key]) for tag, key in names.items() if key in mon)
        for section, names in _NAMES["host_monitoring"].items()
    }
    numa = [(name, vec) for name, vec in host.monitoring if isinstance(vec, dict)]
    return render("MONITORING", host, numa=_numa_xml(numa, "monitoring", "NUMA_NODE", False), **sections)


def vnet_xml(vnet: VNet, pool: bool) -> str:
    """The network document: its pool's ARs as stored (leases packed in ALLOCATED), vn.info's in full."""
    ars = "".join(_ar_stored(ar) if pool else _ar_full(ar) for ar in vnet.ars)
    updated = sorted({vm for ar in vnet.ars for vm in ar.leases.values() if vm >= 0})
    used = sum(len(ar.leases) for ar in vnet.ars)
    return render("VNET", vnet, updated_vms=updated, used_leases=used, ars=ars)


def _ar_stored(ar: AddressRange) -> str:
    # oned packs the leases in ALLOCATED as " <index> <type<<36|vm id>".
    allocated = "".join(f" {off} {(1 << 36) | (vm & 0xFFFFFFFF)}" for off, vm in sorted(ar.leases.items()))
    return render("AR stored", ar, allocated=elements([("ALLOCATED", allocated)]) if allocated else "")


def _ar_full(ar: AddressRange) -> str:
    leases = "".join(
        render("LEASE", None, ip=offset_ip(ar.ip, off), mac=offset_mac(ar.mac, off), vm=vm)
        for off, vm in sorted(ar.leases.items())
    )
    end = ar.size - 1
    ends = {"mac_end": offset_mac(ar.mac, end), "ip_end": offset_ip(ar.ip, end)}
    return render("AR full", ar, used_leases=len(ar.leases), leases=leases, **ends)


def offset_ip(ip: str, offset: int) -> str:
    parts = [int(p) for p in ip.split(".")]
    value = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) + offset
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def offset_mac(mac: str, offset: int) -> str:
    raw = f"{int(mac.replace(':', ''), 16) + offset:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


# --- virtual machines -------------------------------------------------------------------------
def vm_full_xml(vm: Vm, monitoring: bool = False) -> str:
    """The full VM body. `vmpool.infoextended` and driver payloads carry it without monitoring
    (LAST_POLL 0, empty MONITORING: oned 6.x keeps monitoring in its own table and only `vm.info`
    merges it in). The two halves around the monitoring are cached until the VM changes."""
    if vm.full_xml is None:
        lock = render("LOCK", vm.lock) if vm.lock else ""
        history = "".join(render("HISTORY full", h, oid=vm.id) for h in vm.history)
        head = "<VM>" + render("vm head", vm, lock=lock)
        tail = render("vm tail", vm)
        rest = render("vm rest", vm, history=history) + "</VM>"
        vm.full_parts = (head, tail, rest)
        vm.full_xml = f"{head}<LAST_POLL>0</LAST_POLL>{tail}<MONITORING></MONITORING>{rest}"
    if not monitoring:
        return vm.full_xml
    head, tail, rest = vm.full_parts
    return f"{head}<LAST_POLL>{vm.last_poll}</LAST_POLL>{tail}<MONITORING>{attrs_xml(vm.monitoring)}</MONITORING>{rest}"


def vm_driver_xml(vm: Vm) -> str:
    """The VM as oned hands it to its drivers (VirtualMachine::to_xml): the full body without monitoring,
    but of the history only the open record (vm.info and infoextended carry them all)."""
    vm_full_xml(vm)  # (re)builds vm.full_parts
    head, tail, _ = vm.full_parts
    history = render("HISTORY full", vm.current, oid=vm.id) if vm.current else ""
    rest = render("vm rest", vm, history=history) + "</VM>"
    return f"{head}<LAST_POLL>0</LAST_POLL>{tail}<MONITORING></MONITORING>{rest}"


def vm_short_xml(vm: Vm) -> str:
    """The reduced body of `vmpool.info` (oned's to_xml_short), cached until the VM changes."""
    if vm.short_xml is not None:
        return vm.short_xml
    tmpl = vm.template
    parts = [f"<{k}>{text(get_attr(tmpl, k) or '')}</{k}>" for k in ("CPU", "MEMORY", "VCPU")]
    for kind, keys in SHORT_VECTORS.items():
        for k, v in tmpl:
            if k == kind and isinstance(v, dict):
                parts.append(f"<{kind}>{elements((key, v[key]) for key in keys if key in v)}</{kind}>")
    user = [(k, v) for k, v in vm.user_template if k in SHORT_USER_TEMPLATE]
    history = render("HISTORY short", vm.current, oid=vm.id) if vm.current else ""
    vm.short_xml = render("VM short", vm, short_template="".join(parts), user=user, history=history)
    return vm.short_xml


def pool_xml(root: str, bodies: Iterable[str]) -> str:
    return f"<{root}>{''.join(bodies)}</{root}>"


def vm_wire(vm: Vm, full: bool) -> bytes:
    """The VM's pool body (full or reduced) in wire form, cached with the body until the VM changes."""
    kind = "full" if full else "short"
    data = vm.wire.get(kind)
    if data is None:
        data = vm.wire[kind] = escaped(vm_full_xml(vm) if full else vm_short_xml(vm))
    return data


def vm_info_wire(vm: Vm) -> Escaped:
    """`vm_full_xml(vm, monitoring=True)` in wire form: the parts around LAST_POLL and MONITORING are
    escaped once per VM change, only those two (monitord updates them without a touch) per call."""
    wire = vm.wire
    if "info_rest" not in wire:
        vm_full_xml(vm)  # (re)builds vm.full_parts
        for key, part in zip(("info_head", "info_tail", "info_rest"), vm.full_parts, strict=True):
            wire[key] = escaped(part)
    poll = escaped(f"<LAST_POLL>{vm.last_poll}</LAST_POLL>")
    monitoring = escaped(f"<MONITORING>{attrs_xml(vm.monitoring)}</MONITORING>")
    return Escaped((wire["info_head"], poll, wire["info_tail"], monitoring, wire["info_rest"]))


def pool_wire(root: str, bodies: Iterable[bytes]) -> Escaped:
    """`pool_xml` in wire form, from bodies already in wire form."""
    return Escaped((escaped(f"<{root}>"), *bodies, escaped(f"</{root}>")))
