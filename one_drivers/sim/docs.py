"""The XML documents the simulator returns, element for element as oned 6.10.5 writes them.

Element names and order follow the recorded `real-6.10.5/*.xml`; template attributes are sorted by
name (oned keeps them in a multimap) and their values wrapped in CDATA. Pools are the object bodies
joined under the pool root; VMs come in two bodies, the full one and the reduced one of `vmpool.info`.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from one_drivers.sim.model import (
    AddressRange,
    Attrs,
    Cluster,
    Datastore,
    Group,
    History,
    Host,
    Image,
    Owned,
    SecGroup,
    User,
    Vm,
    VmTemplate,
    VNet,
    load_data,
)
from one_drivers.sim.wire import Escaped, escaped

# Element names of the documents, as data: see documents.yaml.
_NAMES = load_data("documents.yaml")
PERM_NAMES: tuple[str, ...] = tuple(_NAMES["permissions"])
QUOTAS: str = "".join(f"<{name}></{name}>" for name in _NAMES["quotas"])
SHORT_USER_TEMPLATE = frozenset(_NAMES["short_vm"]["user_template"])
SHORT_VECTORS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _NAMES["short_vm"]["vectors"].items()}
ONED_CONF: dict[str, list[str]] = _NAMES["oned_conf"]


def config_xml(version: str) -> str:
    """The answer of one.system.config."""
    settings = "".join(f"<{name}>{cdata(v)}</{name}>" for name, values in ONED_CONF.items() for v in values)
    return (
        f"<OPENNEBULA_CONFIGURATION>{settings}<VERSION>{cdata(version)}</VERSION></OPENNEBULA_CONFIGURATION>"
    )


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text(value: object) -> str:
    return escape(str(value))


def ids(tag: str, values: Iterable[int]) -> str:
    inner = "".join(f"<ID>{v}</ID>" for v in values)
    return f"<{tag}>{inner}</{tag}>"


def attrs_xml(attrs: Attrs) -> str:
    """Template attributes sorted by name (stable for repeated names), vector members sorted too."""
    out = []
    for name, value in sorted(attrs, key=lambda a: a[0]):
        if isinstance(value, dict):
            inner = "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in sorted(value.items()))
            out.append(f"<{name}>{inner}</{name}>")
        else:
            out.append(f"<{name}>{cdata(value)}</{name}>")
    return "".join(out)


def template_xml(attrs: Attrs, tag: str = "TEMPLATE", empty_short: bool = False) -> str:
    if not attrs and empty_short:
        return f"<{tag}/>"
    return f"<{tag}>{attrs_xml(attrs)}</{tag}>"


def perms_xml(perms: tuple[int, ...]) -> str:
    inner = "".join(f"<{n}>{v}</{n}>" for n, v in zip(PERM_NAMES, perms, strict=True))
    return f"<PERMISSIONS>{inner}</PERMISSIONS>"


def owner_xml(obj: Owned) -> str:
    return (
        f"<ID>{obj.id}</ID><UID>{obj.uid}</UID><GID>{obj.gid}</GID><UNAME>{text(obj.uname)}</UNAME>"
        f"<GNAME>{text(obj.gname)}</GNAME><NAME>{text(obj.name)}</NAME>{perms_xml(obj.perms)}"
    )


# --- users and groups -------------------------------------------------------------------------
def user_body(user: User) -> str:
    return (
        f"<ID>{user.id}</ID><GID>{user.gid}</GID>{ids('GROUPS', user.groups)}<GNAME>{text(user.gname)}</GNAME>"
        f"<NAME>{text(user.name)}</NAME><PASSWORD>{cdata(user.password)}</PASSWORD>"
        f"<AUTH_DRIVER>{cdata(user.auth_driver)}</AUTH_DRIVER><ENABLED>{int(user.enabled)}</ENABLED>"
        + "".join(
            f"<LOGIN_TOKEN><TOKEN>{text(token)}</TOKEN><EXPIRATION_TIME>{expiry}</EXPIRATION_TIME>"
            f"<EGID>{egid}</EGID></LOGIN_TOKEN>"
            for token, (expiry, egid) in user.login_tokens.items()
        )
        + f"{template_xml(user.template)}"
    )


def with_quotas(tag: str, body: str) -> str:
    """A user's or group's info document: its body, its (empty) quotas and the defaults."""
    return f"<{tag}>{body}{QUOTAS}<DEFAULT_{tag}_QUOTAS>{QUOTAS}</DEFAULT_{tag}_QUOTAS></{tag}>"


def pool_with_quotas(tag: str, bodies: Iterable[tuple[int, str]]) -> str:
    """The user or group pool: each body followed by a QUOTAS sibling, then the defaults."""
    inner = "".join(f"<{tag}>{body}</{tag}><QUOTAS><ID>{oid}</ID>{QUOTAS}</QUOTAS>" for oid, body in bodies)
    return f"<{tag}_POOL>{inner}<DEFAULT_{tag}_QUOTAS>{QUOTAS}</DEFAULT_{tag}_QUOTAS></{tag}_POOL>"


def group_body(group: Group, members: list[int]) -> str:
    return (
        f"<ID>{group.id}</ID><NAME>{text(group.name)}</NAME>{template_xml(group.template)}"
        f"{ids('USERS', members)}<ADMINS></ADMINS>"
    )


# --- infrastructure ---------------------------------------------------------------------------
def cluster_xml(cluster: Cluster, hosts: list[int], datastores: list[int], vnets: list[int]) -> str:
    return (
        f"<CLUSTER><ID>{cluster.id}</ID><NAME>{text(cluster.name)}</NAME>{ids('HOSTS', hosts)}"
        f"{ids('DATASTORES', datastores)}{ids('VNETS', vnets)}{template_xml(cluster.template)}</CLUSTER>"
    )


def datastore_xml(ds: Datastore, images: list[int]) -> str:
    return (
        f"<DATASTORE>{owner_xml(ds)}<DS_MAD>{cdata(ds.ds_mad)}</DS_MAD><TM_MAD>{cdata(ds.tm_mad)}</TM_MAD>"
        f"<BASE_PATH>{cdata(ds.base_path)}</BASE_PATH><TYPE>{ds.type}</TYPE><DISK_TYPE>{ds.disk_type}</DISK_TYPE>"
        f"<STATE>{ds.state}</STATE>{ids('CLUSTERS', ds.cluster_ids)}<TOTAL_MB>{ds.total_mb}</TOTAL_MB>"
        f"<FREE_MB>{ds.free_mb}</FREE_MB><USED_MB>{ds.used_mb}</USED_MB>{ids('IMAGES', images)}"
        f"{template_xml(ds.template)}</DATASTORE>"
    )


def _numa_nodes_xml(host: Host) -> str:
    nodes: dict[str, list[str]] = {}
    for vec in host.numa:
        node = vec.get("NODE_ID", "0")
        part = nodes.setdefault(node, [])
        kind = vec.get("_KIND", "")
        if kind == "CORE":
            cpus = ",".join(f"{c}:-1" for c in vec.get("CPUS", "").split(",") if c)
            free = len([c for c in vec.get("CPUS", "").split(",") if c])
            part.append(
                f"<CORE><CPUS>{cdata(cpus)}</CPUS><DEDICATED>{cdata('NO')}</DEDICATED>"
                f"<FREE>{cdata(str(free))}</FREE><ID>{cdata(vec.get('ID', '0'))}</ID></CORE>"
            )
        elif kind == "HUGEPAGE":
            part.append(
                f"<HUGEPAGE><PAGES>{cdata(vec.get('PAGES', '0'))}</PAGES><SIZE>{cdata(vec.get('SIZE', '0'))}</SIZE>"
                f"<USAGE>{cdata('0')}</USAGE></HUGEPAGE>"
            )
        elif kind == "MEMORY_NODE":
            part.append(
                f"<MEMORY><DISTANCE>{cdata(vec.get('DISTANCE', '').strip())}</DISTANCE>"
                f"<TOTAL>{cdata(vec.get('TOTAL', '0'))}</TOTAL><USAGE>{cdata('0')}</USAGE></MEMORY>"
            )
    # CORE, HUGEPAGE, MEMORY children are sorted by name inside a node, as oned does.
    order = {"<CORE>": 0, "<HUGEPAGE>": 1, "<MEMORY>": 2}
    out = []
    for node, parts in nodes.items():
        parts.sort(key=lambda p: order[p[: p.index(">") + 1]])
        out.append(f"<NODE>{''.join(parts)}<NODE_ID>{cdata(node)}</NODE_ID></NODE>")
    return "<NUMA_NODES>" + "".join(out) + "</NUMA_NODES>"


def _host_monitoring_xml(host: Host) -> str:
    if not host.monitor_time:
        return "<MONITORING/>"
    mon = dict((k, v) for k, v in host.monitoring if isinstance(v, str))
    capacity = "".join(
        f"<{tag}>{cdata(mon[key])}</{tag}>"
        for tag, key in (
            ("FREE_CPU", "FREECPU"),
            ("FREE_MEMORY", "FREEMEMORY"),
            ("USED_CPU", "USEDCPU"),
            ("USED_MEMORY", "USEDMEMORY"),
        )
        if key in mon
    )
    system = "".join(f"<{k}>{cdata(mon[k])}</{k}>" for k in ("NETRX", "NETTX") if k in mon)
    numa: dict[str, list[str]] = {}
    for name, vec in host.monitoring:
        if isinstance(vec, dict) and name in ("HUGEPAGE", "MEMORY_NODE"):
            node = vec.get("NODE_ID", "0")
            if name == "HUGEPAGE":
                numa.setdefault(node, []).append(
                    f"<HUGEPAGE><FREE>{cdata(vec.get('FREE', '0'))}</FREE><SIZE>{cdata(vec.get('SIZE', '0'))}</SIZE></HUGEPAGE>"
                )
            else:
                numa.setdefault(node, []).append(
                    f"<MEMORY><FREE>{cdata(vec.get('FREE', '0'))}</FREE><USED>{cdata(vec.get('USED', '0'))}</USED></MEMORY>"
                )
    numa_xml = "".join(
        f"<NUMA_NODE>{''.join(parts)}<NODE_ID>{cdata(node)}</NODE_ID></NUMA_NODE>"
        for node, parts in numa.items()
    )
    return (
        f"<MONITORING><TIMESTAMP>{host.monitor_time}</TIMESTAMP><ID>{host.id}</ID>"
        f"<CAPACITY>{capacity}</CAPACITY><SYSTEM>{system}</SYSTEM>{numa_xml}</MONITORING>"
    )


def host_xml(
    host: Host,
    vms: list[int],
    mem_usage: int,
    cpu_usage: int,
    template: Attrs | None = None,
    pool: bool = False,
) -> str:
    free_disk, max_disk, used_disk = host.ds_usage
    pci = "".join(
        "<PCI>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in sorted({**p, "VMID": "-1"}.items())) + "</PCI>"
        for p in host.pci
    )
    share = (
        f"<HOST_SHARE><MEM_USAGE>{mem_usage}</MEM_USAGE><CPU_USAGE>{cpu_usage}</CPU_USAGE>"
        f"<TOTAL_MEM>{host.total_mem}</TOTAL_MEM><TOTAL_CPU>{host.total_cpu}</TOTAL_CPU>"
        f"<MAX_MEM>{host.total_mem}</MAX_MEM><MAX_CPU>{host.total_cpu}</MAX_CPU>"
        f"<RUNNING_VMS>{len(vms)}</RUNNING_VMS><VMS_THREAD>1</VMS_THREAD>"
        f"<DATASTORES><DISK_USAGE>{cdata('0')}</DISK_USAGE><FREE_DISK>{cdata(str(free_disk))}</FREE_DISK>"
        f"<MAX_DISK>{cdata(str(max_disk))}</MAX_DISK><USED_DISK>{cdata(str(used_disk))}</USED_DISK></DATASTORES>"
        f"<PCI_DEVICES>{pci}</PCI_DEVICES>{_numa_nodes_xml(host)}</HOST_SHARE>"
    )
    return (
        f"<HOST><ID>{host.id}</ID><NAME>{text(host.name)}</NAME><STATE>{host.state}</STATE>"
        f"<PREV_STATE>{host.prev_state}</PREV_STATE><IM_MAD>{cdata(host.im_mad)}</IM_MAD>"
        f"<VM_MAD>{cdata(host.vm_mad)}</VM_MAD><CLUSTER_ID>{host.cluster_id}</CLUSTER_ID>"
        f"<CLUSTER>{text(host.cluster)}</CLUSTER>{share}{ids('VMS', vms)}"
        f"{template_xml(host.template if template is None else template)}"
        f"{'<MONITORING/>' if pool else _host_monitoring_xml(host)}</HOST>"
    )


def _ar_short(ar: AddressRange) -> str:
    # In vnpool.info oned dumps the stored AR: leases packed in ALLOCATED as " <index> <type<<36|vm id>".
    allocated = "".join(f" {off} {(1 << 36) | (vm & 0xFFFFFFFF)}" for off, vm in sorted(ar.leases.items()))
    head = f"<ALLOCATED>{cdata(allocated)}</ALLOCATED>" if allocated else ""
    return (
        f"<AR>{head}<AR_ID>{cdata(str(ar.ar_id))}</AR_ID><IP>{cdata(ar.ip)}</IP><MAC>{cdata(ar.mac)}</MAC>"
        f"<SIZE>{cdata(str(ar.size))}</SIZE><TYPE>{cdata(ar.type)}</TYPE></AR>"
    )


def vnet_xml(vnet: VNet, updated_vms: list[int], pool: bool = False) -> str:
    used = sum(len(ar.leases) for ar in vnet.ars)
    ars = [_ar_short(ar) for ar in vnet.ars] if pool else []
    for ar in [] if pool else vnet.ars:
        leases = "".join(
            f"<LEASE><IP>{cdata(offset_ip(ar.ip, off))}</IP><MAC>{cdata(offset_mac(ar.mac, off))}</MAC>"
            f"<VM>{cdata(str(vm))}</VM></LEASE>"
            for off, vm in sorted(ar.leases.items())
        )
        leases_xml = f"<LEASES>{leases}</LEASES>" if leases else "<LEASES/>"
        ars.append(
            f"<AR><AR_ID>{cdata(str(ar.ar_id))}</AR_ID><IP>{cdata(ar.ip)}</IP><MAC>{cdata(ar.mac)}</MAC>"
            f"<SIZE>{cdata(str(ar.size))}</SIZE><TYPE>{cdata(ar.type)}</TYPE>"
            f"<MAC_END>{cdata(offset_mac(ar.mac, ar.size - 1))}</MAC_END>"
            f"<IP_END>{cdata(offset_ip(ar.ip, ar.size - 1))}</IP_END>"
            f"<USED_LEASES>{len(ar.leases)}</USED_LEASES>{leases_xml}</AR>"
        )
    return (
        f"<VNET>{owner_xml(vnet)}{ids('CLUSTERS', vnet.cluster_ids)}<BRIDGE>{cdata(vnet.bridge)}</BRIDGE>"
        f"<BRIDGE_TYPE>{cdata(vnet.bridge_type)}</BRIDGE_TYPE><STATE>{cdata(str(vnet.state))}</STATE>"
        f"<PREV_STATE>{cdata(str(vnet.state))}</PREV_STATE><PARENT_NETWORK_ID/><VN_MAD>{cdata(vnet.vn_mad)}</VN_MAD>"
        f"<PHYDEV/><VLAN_ID/><OUTER_VLAN_ID/><VLAN_ID_AUTOMATIC>0</VLAN_ID_AUTOMATIC>"
        f"<OUTER_VLAN_ID_AUTOMATIC>0</OUTER_VLAN_ID_AUTOMATIC><USED_LEASES>{used}</USED_LEASES>"
        f"<VROUTERS></VROUTERS>{ids('UPDATED_VMS', updated_vms)}<OUTDATED_VMS></OUTDATED_VMS>"
        f"<UPDATING_VMS></UPDATING_VMS><ERROR_VMS></ERROR_VMS>{template_xml(vnet.template)}"
        f"<AR_POOL>{''.join(ars)}</AR_POOL></VNET>"
    )


def offset_ip(ip: str, offset: int) -> str:
    parts = [int(p) for p in ip.split(".")]
    value = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) + offset
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def offset_mac(mac: str, offset: int) -> str:
    value = int(mac.replace(":", ""), 16) + offset
    raw = f"{value:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def secgroup_xml(sg: SecGroup) -> str:
    return (
        f"<SECURITY_GROUP>{owner_xml(sg)}{ids('UPDATED_VMS', sg.updated)}"
        f"{ids('OUTDATED_VMS', sg.outdated)}{ids('UPDATING_VMS', sg.updating)}"
        f"{ids('ERROR_VMS', sg.error)}{template_xml(sg.template)}</SECURITY_GROUP>"
    )


# --- templates and images ---------------------------------------------------------------------
def vmtemplate_xml(tmpl: VmTemplate, attrs: Attrs | None = None) -> str:
    return (
        f"<VMTEMPLATE>{owner_xml(tmpl)}<REGTIME>{tmpl.regtime}</REGTIME>"
        f"{template_xml(tmpl.template if attrs is None else attrs)}</VMTEMPLATE>"
    )


def image_xml(img: Image) -> str:
    return (
        f"<IMAGE>{owner_xml(img)}<TYPE>{img.type}</TYPE><DISK_TYPE>{img.disk_type}</DISK_TYPE>"
        f"<PERSISTENT>{img.persistent}</PERSISTENT><REGTIME>{img.regtime}</REGTIME>"
        f"<SOURCE>{cdata(img.source)}</SOURCE><PATH>{cdata(img.path)}</PATH><FORMAT>{cdata(img.format)}</FORMAT>"
        f"<FS>{cdata(img.fs)}</FS><SIZE>{img.size}</SIZE><STATE>{img.state}</STATE>"
        f"<PREV_STATE>{img.prev_state}</PREV_STATE><RUNNING_VMS>{len(img.vms)}</RUNNING_VMS>"
        f"<CLONING_OPS>0</CLONING_OPS><CLONING_ID>-1</CLONING_ID><TARGET_SNAPSHOT>-1</TARGET_SNAPSHOT>"
        f"<DATASTORE_ID>{img.datastore_id}</DATASTORE_ID><DATASTORE>{text(img.datastore)}</DATASTORE>"
        f"{ids('VMS', img.vms)}{ids('CLONES', img.clones)}<APP_CLONES></APP_CLONES>{template_xml(img.template)}"
        f"<SNAPSHOTS><ALLOW_ORPHANS>{cdata('NO')}</ALLOW_ORPHANS><CURRENT_BASE>{cdata('-1')}</CURRENT_BASE>"
        f"<NEXT_SNAPSHOT>{cdata('0')}</NEXT_SNAPSHOT></SNAPSHOTS><BACKUP_INCREMENTS></BACKUP_INCREMENTS>"
        f"<BACKUP_DISK_IDS></BACKUP_DISK_IDS></IMAGE>"
    )


# --- virtual machines -------------------------------------------------------------------------
def _history_full(vm_id: int, h: History) -> str:
    return (
        f"<HISTORY><OID>{vm_id}</OID><SEQ>{h.seq}</SEQ><HOSTNAME>{text(h.hostname)}</HOSTNAME><HID>{h.hid}</HID>"
        f"<CID>{h.cid}</CID><STIME>{h.stime}</STIME><ETIME>{h.etime}</ETIME><VM_MAD>{cdata(h.vm_mad)}</VM_MAD>"
        f"<TM_MAD>{cdata(h.tm_mad)}</TM_MAD><DS_ID>{h.ds_id}</DS_ID><PSTIME>{h.pstime}</PSTIME>"
        f"<PETIME>{h.petime}</PETIME><RSTIME>{h.rstime}</RSTIME><RETIME>{h.retime}</RETIME>"
        f"<ESTIME>{h.estime}</ESTIME><EETIME>{h.eetime}</EETIME><ACTION>{h.action}</ACTION>"
        f"<UID>{h.uid}</UID><GID>{h.gid}</GID><REQUEST_ID>{h.request_id}</REQUEST_ID></HISTORY>"
    )


def vm_full_xml(vm: Vm, monitoring: bool = False) -> str:
    """The full VM body. `vmpool.infoextended` and driver payloads carry it without monitoring
    (LAST_POLL 0, empty MONITORING: oned 6.x keeps monitoring in its own table and only `vm.info`
    merges it in). The two halves around the monitoring are cached until the VM changes."""
    if vm.full_xml is None:
        lock = (
            f"<LOCK><LOCKED>{vm.lock.level}</LOCKED><OWNER>{vm.lock.owner}</OWNER><TIME>{vm.lock.time}</TIME>"
            f"<REQ_ID>{vm.lock.req_id}</REQ_ID></LOCK>"
            if vm.lock
            else ""
        )
        history = "".join(_history_full(vm.id, h) for h in vm.history)
        history_xml = f"<HISTORY_RECORDS>{history}</HISTORY_RECORDS>" if history else "<HISTORY_RECORDS/>"
        head = f"<VM>{owner_xml(vm)}{lock}"
        tail = (
            f"<STATE>{int(vm.state)}</STATE>"
            f"<LCM_STATE>{int(vm.lcm_state)}</LCM_STATE><PREV_STATE>{int(vm.prev_state)}</PREV_STATE>"
            f"<PREV_LCM_STATE>{int(vm.prev_lcm_state)}</PREV_LCM_STATE><RESCHED>{vm.resched}</RESCHED>"
            f"<STIME>{vm.stime}</STIME><ETIME>{vm.etime}</ETIME><DEPLOY_ID>{text(vm.deploy_id)}</DEPLOY_ID>"
        )
        rest = (
            f"<SCHED_ACTIONS></SCHED_ACTIONS>"
            f"{template_xml(vm.template)}{template_xml(vm.user_template, 'USER_TEMPLATE', empty_short=True)}"
            f"{history_xml}<BACKUPS><BACKUP_CONFIG/><BACKUP_IDS></BACKUP_IDS></BACKUPS></VM>"
        )
        vm.full_parts = (head, tail, rest)
        vm.full_xml = f"{head}<LAST_POLL>0</LAST_POLL>{tail}<MONITORING></MONITORING>{rest}"
    if not monitoring:
        return vm.full_xml
    head, tail, rest = vm.full_parts
    return f"{head}<LAST_POLL>{vm.last_poll}</LAST_POLL>{tail}<MONITORING>{attrs_xml(vm.monitoring)}</MONITORING>{rest}"


def _short_vector(name: str, vec: dict[str, str], keys: tuple[str, ...]) -> str:
    inner = "".join(f"<{k}>{cdata(vec[k])}</{k}>" for k in keys if k in vec)
    return f"<{name}>{inner}</{name}>"


def vm_short_xml(vm: Vm) -> str:
    """The reduced body of `vmpool.info` (oned's to_xml_short), cached until the VM changes."""
    if vm.short_xml is not None:
        return vm.short_xml
    tmpl = vm.template

    def plain(name: str) -> str:
        for k, v in tmpl:
            if k == name and isinstance(v, str):
                return text(v)
        return ""

    parts = [f"<CPU>{plain('CPU')}</CPU><MEMORY>{plain('MEMORY')}</MEMORY><VCPU>{plain('VCPU')}</VCPU>"]
    for kind, keys in SHORT_VECTORS.items():
        for k, v in tmpl:
            if k == kind and isinstance(v, dict):
                parts.append(_short_vector(kind, v, keys))
    user = [(k, v) for k, v in vm.user_template if k in SHORT_USER_TEMPLATE]
    h = vm.current
    history = (
        f"<HISTORY_RECORDS><HISTORY><OID>{vm.id}</OID><SEQ>{h.seq}</SEQ><HOSTNAME>{cdata(h.hostname)}</HOSTNAME>"
        f"<HID>{h.hid}</HID><CID>{h.cid}</CID><DS_ID>{h.ds_id}</DS_ID><VM_MAD>{cdata(h.vm_mad)}</VM_MAD>"
        f"<TM_MAD>{cdata(h.tm_mad)}</TM_MAD><ACTION>{cdata(str(h.action))}</ACTION></HISTORY></HISTORY_RECORDS>"
        if h
        else "<HISTORY_RECORDS/>"
    )
    body = (
        f"<VM><ID>{vm.id}</ID><UID>{vm.uid}</UID><GID>{vm.gid}</GID><UNAME>{text(vm.uname)}</UNAME>"
        f"<GNAME>{text(vm.gname)}</GNAME><NAME>{text(vm.name)}</NAME><LAST_POLL>0</LAST_POLL>"
        f"<STATE>{int(vm.state)}</STATE><LCM_STATE>{int(vm.lcm_state)}</LCM_STATE><RESCHED>{vm.resched}</RESCHED>"
        f"<STIME>{vm.stime}</STIME><ETIME>{vm.etime}</ETIME><DEPLOY_ID>{text(vm.deploy_id)}</DEPLOY_ID>"
        f"<TEMPLATE>{''.join(parts)}</TEMPLATE><MONITORING/>"
        f"{template_xml(user, 'USER_TEMPLATE', empty_short=True)}{history}</VM>"
    )
    vm.short_xml = body
    return body


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
    head, tail, rest = wire["info_head"], wire["info_tail"], wire["info_rest"]
    return Escaped(
        (
            head,
            escaped(f"<LAST_POLL>{vm.last_poll}</LAST_POLL>"),
            tail,
            escaped(f"<MONITORING>{attrs_xml(vm.monitoring)}</MONITORING>"),
            rest,
        )
    )


def pool_wire(root: str, bodies: Iterable[bytes]) -> Escaped:
    """`pool_xml` in wire form, from bodies already in wire form."""
    return Escaped((escaped(f"<{root}>"), *bodies, escaped(f"</{root}>")))
