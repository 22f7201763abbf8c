"""How the simulated oned makes objects: the checks and defaults of each kind's allocate, and a VM's
expansion (image disks, NIC leases, context, security group rules) as oned's VirtualMachine does it.

Functions take the `Cloud` (called under its lock) and raise `OneFailure` with oned's messages.
`bulk_vms` fills the pool fast from `bulk_vm.yaml` for tests and benchmarks.
"""

from __future__ import annotations

import uuid
from typing import Any

from one_drivers.one.states import DatastoreType, ImageType, LcmState, VmState
from one_drivers.sim import access, auth
from one_drivers.sim.access import USE
from one_drivers.sim.cloud import Cloud, data_attrs, load_data, nic_security_groups, parse_text, sg_ids
from one_drivers.sim.docs import offset_ip, offset_mac
from one_drivers.sim.model import (
    DEFAULT_PERMS,
    GROUP_USE_PERMS,
    AddressRange,
    Attrs,
    Datastore,
    History,
    Host,
    Image,
    User,
    Vm,
    VmTemplate,
    VNet,
    get_attr,
)
from one_drivers.sim.storage import Copy
from one_drivers.sim.wire import INTERNAL, OneFailure

# Attributes oned keeps in a VM's TEMPLATE; everything else the user gave lands in USER_TEMPLATE.
VM_TEMPLATE_KEYS = frozenset(
    [
        "CPU",
        "VCPU",
        "MEMORY",
        "DISK",
        "NIC",
        "NIC_ALIAS",
        "NIC_DEFAULT",
        "CONTEXT",
        "GRAPHICS",
        "OS",
        "FEATURES",
        "RAW",
        "INPUT",
        "PCI",
        "NUMA_NODE",
        "TOPOLOGY",
        "VMGROUP",
        "SECURITY_GROUP_RULE",
        "TEMPLATE_ID",
        "VMID",
        "SUBMIT_ON_HOLD",
        "EMULATOR",
        "CPU_MODEL",
        "MEMORY_MAX",
        "VCPU_MAX",
        "MEMORY_SLOTS",
        "MEMORY_COST",
        "CPU_COST",
        "DISK_COST",
        "SPICE_OPTIONS",
        "VROUTER_ID",
        "TM_MAD_SYSTEM",
        "AUTOMATIC_REQUIREMENTS",
        "AUTOMATIC_DS_REQUIREMENTS",
        "AUTOMATIC_NIC_REQUIREMENTS",
    ]
)
# The ETH<n>_* context variables oned writes (empty when the network has none) beside IP and MAC.
CONTEXT_NIC_FIELDS = [
    "DNS",
    "EXTERNAL",
    "GATEWAY",
    "IP6",
    "IP6_GATEWAY",
    "IP6_METHOD",
    "IP6_METRIC",
    "IP6_PREFIX_LENGTH",
    "IP6_ULA",
    "MASK",
    "METHOD",
    "METRIC",
    "MTU",
    "NETWORK",
    "SEARCH_DOMAIN",
    "VLAN_ID",
    "VROUTER_IP",
    "VROUTER_IP6",
    "VROUTER_MANAGEMENT",
]
Lease = tuple[AddressRange, int]


def _with_defaults(attrs: Attrs, defaults: Attrs) -> None:
    for key, value in defaults:
        if get_attr(attrs, key) is None:
            attrs.append((key, value))


def _named(attrs: Attrs, message: str = "No NAME in template.") -> tuple[str, Attrs]:
    name = get_attr(attrs, "NAME") or ""
    if not name:
        raise OneFailure(INTERNAL, message)
    return name, [(k, v) for k, v in attrs if k != "NAME"]


# --- users, hosts, datastores -------------------------------------------------------------------------
def allocate_user(cloud: Cloud, name: str, password: str, driver: str, groups: list[int]) -> User:
    if not name or any(c in name for c in " :\t\n"):
        raise OneFailure(INTERNAL, "Invalid NAME, it cannot contain spaces or colons.")
    cloud.check_name_free("user", name, -1)
    gid = groups[0] if groups else 1
    group = cloud.get("group", gid)
    driver = driver or "core"
    hashed = driver in ("core", "server_cipher")
    stored = auth.hash_password(password, cloud.scheme) if hashed else password
    user = User(cloud.take_id("user"), name, gid, group.name, stored, driver, sorted(set(groups or [gid])))
    user.template.append(("TOKEN_PASSWORD", auth.hash_password(stored, cloud.scheme)))
    cloud.users[user.id] = user
    return user


def set_password(cloud: Cloud, user: User, password: str) -> None:
    public = user.auth_driver == "public"
    user.password = password if public else auth.hash_password(password, cloud.scheme)


def allocate_host(cloud: Cloud, name: str, im_mad: str, vm_mad: str, cluster_id: int) -> Host:
    cluster = cloud.get("cluster", 0 if cluster_id == -1 else cluster_id)
    cloud.check_name_free("host", name, -1)
    host = Host(cloud.take_id("host"), name, im_mad, vm_mad, cluster.id, cluster.name)
    host.template = [("IM_MAD", im_mad), ("VM_MAD", vm_mad), ("RESERVED_CPU", ""), ("RESERVED_MEM", "")]
    cloud.hosts[host.id] = host
    return host


def allocate_datastore(cloud: Cloud, user: User, attrs: Attrs, cluster_id: int = 0) -> Datastore:
    name, tmpl = _named(attrs, "No NAME in template for Datastore.")
    dtype = {t.name: t for t in DatastoreType}.get(
        (get_attr(attrs, "TYPE") or "").upper(), DatastoreType.IMAGE_DS
    )
    if dtype == DatastoreType.BACKUP_DS:
        dtype = DatastoreType.IMAGE_DS  # the simulator has no backup datastores
    ds_mad = get_attr(attrs, "DS_MAD") or "-"
    tm_mad = get_attr(attrs, "TM_MAD") or "ssh"
    did = cloud.take_id("datastore")
    # The defaults oned fills in from its DS_MAD_CONF / TM_MAD_CONF.
    defaults: Attrs = [
        ("ALLOW_ORPHANS", "NO" if tm_mad == "dummy" else "YES"),
        ("RESTRICTED_DIRS", "/"),
        ("SAFE_DIRS", "/var/tmp"),
        ("TM_MAD", tm_mad),
        ("TYPE", dtype.name),
    ]
    if dtype == DatastoreType.SYSTEM_DS:
        defaults += [("DISK_TYPE", "FILE"), ("DS_MIGRATE", "YES"), ("SHARED", "YES")]
    else:
        ln_target = "NONE" if tm_mad == "dummy" else "SYSTEM"
        defaults += [("DS_MAD", ds_mad), ("CLONE_TARGET", "SYSTEM"), ("LN_TARGET", ln_target)]
        if dtype == DatastoreType.IMAGE_DS:
            defaults.append(("DISK_TYPE", "FILE"))
    _with_defaults(tmpl, defaults)
    ds = Datastore(
        did,
        *cloud.owner_fields(user),
        name,
        GROUP_USE_PERMS,
        ds_mad,
        tm_mad,
        f"/var/lib/one//datastores/{did}",
        int(dtype),
        cluster_ids=[max(cluster_id, 0)],
        total_mb=20480,
        free_mb=20480,
        used_mb=0,
        template=tmpl,
    )
    cloud.datastores[did] = ds
    return ds


# --- templates and images -----------------------------------------------------------------------------
def allocate_template(cloud: Cloud, user: User, text: str) -> VmTemplate:
    access.authorize_create(user, "template")
    attrs = parse_text(text)
    tid = cloud.next_id["template"]
    name = get_attr(attrs, "NAME") or f"template-{tid}"
    cloud.check_name_free("template", name, user.id)
    cloud.take_id("template")
    tmpl = [(k, v) for k, v in attrs if k != "NAME"]
    cloud.templates[tid] = VmTemplate(tid, *cloud.owner_fields(user), name, DEFAULT_PERMS, cloud.now(), tmpl)
    return cloud.templates[tid]


def allocate_image(cloud: Cloud, user: User, text: str, ds_id: int, copy: bool = True) -> Image:
    """A new image, LOCKED until the datastore has copied it in (`copy=False`: the caller starts
    the copy, as clone and disk save-as do)."""
    access.authorize_create(user, "image")
    attrs = parse_text(text)
    ds = cloud.get("datastore", ds_id)
    access.authorize(user, "datastore", ds, USE)
    if ds.type not in (DatastoreType.IMAGE_DS, DatastoreType.FILE_DS):
        raise OneFailure(INTERNAL, "Cannot allocate images in a system datastore.")
    name, _ = _named(attrs)
    cloud.check_name_free("image", name, user.id)
    datablock = get_attr(attrs, "SIZE") and not get_attr(attrs, "PATH")
    type_name = (get_attr(attrs, "TYPE") or ("DATABLOCK" if datablock else "OS")).upper()
    if type_name not in ImageType.__members__ or type_name == "BACKUP":
        raise OneFailure(INTERNAL, f"Unknown value for TYPE: {type_name}")
    try:
        size = int(float(get_attr(attrs, "SIZE") or "0"))
    except ValueError as exc:
        raise OneFailure(INTERNAL, "SIZE must be a positive integer.") from exc
    keep = {"NAME", "TYPE", "PERSISTENT", "PATH", "SIZE", "SOURCE", "FORMAT", "FS"}
    tmpl = [(k, v) for k, v in attrs if k not in keep]
    _with_defaults(tmpl, [("DEV_PREFIX", "sd" if type_name == "DATABLOCK" else "hd")])
    img = Image(
        cloud.take_id("image"),
        *cloud.owner_fields(user),
        name,
        DEFAULT_PERMS,
        type=ImageType[type_name],
        persistent=int((get_attr(attrs, "PERSISTENT") or "NO").upper() in ("YES", "1", "TRUE")),
        regtime=cloud.now(),
        source=get_attr(attrs, "SOURCE") or f"{ds.base_path}/{uuid.uuid4().hex}",
        path=get_attr(attrs, "PATH") or "",
        format=get_attr(attrs, "FORMAT") or "raw",
        fs=get_attr(attrs, "FS") or "",
        size=size,
        state=1,
        prev_state=1,
        datastore_id=ds.id,
        datastore=ds.name,
        template=tmpl,
    )
    cloud.images[img.id] = img
    if copy:
        cloud.image_store.start(Copy(img.id))
    return img


def image_by_ref(cloud: Cloud, user: User, vec: dict[str, str]) -> Image:
    if "IMAGE_ID" in vec:
        try:
            iid = int(vec["IMAGE_ID"])
        except ValueError as exc:
            raise OneFailure(INTERNAL, f"Wrong IMAGE_ID {vec['IMAGE_ID']}.") from exc
        img = cloud.images.get(iid)
        if img is None:
            raise OneFailure(INTERNAL, f"Error getting image [{iid}].", -1)
        return img
    name, uname = vec["IMAGE"], vec.get("IMAGE_UNAME", user.name)
    for img in cloud.images.values():
        if img.name == name and img.uname == uname:
            return img
    raise OneFailure(INTERNAL, f"Error getting image named {name}.")


def image_disk(cloud: Cloud, img: Image, given: dict[str, str], disk_id: int) -> dict[str, str]:
    """The DISK vector oned writes for an image disk (VirtualMachineDisk::fill_disk_image)."""
    ds = cloud.datastores.get(img.datastore_id)
    prefix = get_attr(img.template, "DEV_PREFIX") or "hd"
    persistent = bool(img.persistent)
    disk = {
        "ALLOW_ORPHANS": "NO",
        "CLONE": "NO" if persistent else "YES",
        "CLONE_TARGET": "SYSTEM",
        "CLUSTER_ID": "0",
        "DATASTORE": img.datastore,
        "DATASTORE_ID": str(img.datastore_id),
        "DEV_PREFIX": prefix,
        "DISK_ID": str(disk_id),
        "DISK_SNAPSHOT_TOTAL_SIZE": "0",
        "DISK_TYPE": "FILE",
        "DRIVER": img.format,
        "FORMAT": img.format,
        "IMAGE": img.name,
        "IMAGE_ID": str(img.id),
        "IMAGE_STATE": str(img.state if img.state != 1 else 2),
        "LN_TARGET": "NONE",
        "ORIGINAL_SIZE": str(img.size),
        "READONLY": "NO",
        "SAVE": "YES" if persistent else "NO",
        "SIZE": str(img.size),
        "SOURCE": img.source,
        "TARGET": prefix + chr(ord("a") + disk_id),
        "TM_MAD": ds.tm_mad if ds else "ssh",
        "TYPE": "FILE",
        **({"PERSISTENT": "YES"} if persistent else {}),
    }
    disk.update((k, v) for k, v in given.items() if k not in ("IMAGE_ID", "IMAGE", "IMAGE_UNAME"))
    return disk


def volatile_disk(given: dict[str, str], disk_id: int) -> dict[str, str]:
    disk = dict(given)
    disk.setdefault("TYPE", "fs")
    disk["DISK_ID"] = str(disk_id)
    disk.setdefault("TARGET", "sd" + chr(ord("a") + disk_id))
    return disk


# --- virtual networks ---------------------------------------------------------------------------------
def allocate_vnet(cloud: Cloud, user: User, text: str, cluster_id: int) -> VNet:
    access.authorize_create(user, "vnet")
    name, attrs = _named(parse_text(text))
    cloud.check_name_free("vnet", name, user.id)
    vid = cloud.take_id("vnet")
    tmpl = [(k, v) for k, v in attrs if k != "AR"]
    # oned adds the default group 0 to whatever groups the network names.
    given_sgs = get_attr(tmpl, "SECURITY_GROUPS")
    if given_sgs is not None:
        tmpl = [(k, v) for k, v in tmpl if k != "SECURITY_GROUPS"]
        tmpl.append(("SECURITY_GROUPS", ",".join(str(g) for g in sorted({*sg_ids(given_sgs), 0}))))
    defaults = ("OUTER_VLAN_ID", ""), ("PHYDEV", ""), ("SECURITY_GROUPS", "0"), ("VLAN_ID", "")
    _with_defaults(tmpl, [*defaults, ("BRIDGE", f"onebr{vid}"), ("BRIDGE_TYPE", "linux")])
    bridge, vn_mad = get_attr(tmpl, "BRIDGE") or "", get_attr(tmpl, "VN_MAD") or "dummy"
    vnet = VNet(
        vid,
        *cloud.owner_fields(user),
        name,
        DEFAULT_PERMS,
        cluster_ids=[max(cluster_id, 0)],
        bridge=bridge,
        vn_mad=vn_mad,
        template=tmpl,
    )
    cloud.vnets[vid] = vnet
    for ar in (v for k, v in attrs if k == "AR" and isinstance(v, dict)):
        add_ar(vnet, ar)
    return vnet


def add_ar(vnet: VNet, ar: dict[str, str]) -> AddressRange:
    ip = ar.get("IP", "10.0.0.1")
    mac = ar.get("MAC") or "02:00:" + ":".join(f"{int(p):02x}" for p in ip.split("."))
    ar_id = max((a.ar_id for a in vnet.ars), default=-1) + 1
    rng = AddressRange(ar_id, ip, mac, int(ar.get("SIZE", "1")), ar.get("TYPE", "IP4"))
    vnet.ars.append(rng)
    return rng


def lease_nic(
    cloud: Cloud, user: User, nic: dict[str, str], vid: int, nic_id: int, leases: list[Lease]
) -> dict[str, str]:
    """A free address for the NIC (appended to `leases`, taken by the caller) and its NIC vector."""
    vnet: VNet | None = None
    if "NETWORK_ID" in nic:
        vnet = cloud.vnets.get(int(nic["NETWORK_ID"])) if nic["NETWORK_ID"].isdigit() else None
    elif "NETWORK" in nic:
        uname = nic.get("NETWORK_UNAME", user.name)
        vnet = next((v for v in cloud.vnets.values() if v.name == nic["NETWORK"] and v.uname == uname), None)
    if vnet is None:
        ref = nic.get("NETWORK_ID", nic.get("NETWORK", ""))
        raise OneFailure(INTERNAL, f"Error getting virtual network [{ref}].")
    access.authorize(user, "vnet", vnet, USE)
    asked = set(nic_security_groups(nic))
    for sg in filter(None, map(cloud.secgroups.get, sorted(asked))):
        # oned authorizes USE on each group named on the NIC; a missing group is skipped.
        access.authorize(user, "secgroup", sg, USE)
    taken = {(id(r), o) for r, o in leases}
    wanted_ip = nic.get("IP", "")
    for rng in vnet.ars:
        for offset in range(rng.size):
            if wanted_ip and offset_ip(rng.ip, offset) != wanted_ip:
                continue  # oned's allocate_by_ip: that address or nothing
            if offset in rng.leases or (id(rng), offset) in taken:
                continue
            leases.append((rng, offset))
            groups = asked | set(sg_ids(get_attr(vnet.template, "SECURITY_GROUPS") or "0"))
            out = {
                "AR_ID": str(rng.ar_id),
                "BRIDGE": vnet.bridge,
                "BRIDGE_TYPE": vnet.bridge_type,
                "CLUSTER_ID": str(vnet.cluster_ids[0] if vnet.cluster_ids else 0),
                "IP": offset_ip(rng.ip, offset),
                "MAC": offset_mac(rng.mac, offset),
                "NAME": f"NIC{nic_id}",
                "NETWORK": vnet.name,
                "NETWORK_ID": str(vnet.id),
                "NIC_ID": str(nic_id),
                "SECURITY_GROUPS": ",".join(str(g) for g in sorted(groups)),
                "TARGET": f"one-{vid}-{nic_id}",
                "VN_MAD": vnet.vn_mad,
            }
            skip = ("NETWORK_ID", "NETWORK", "NETWORK_UNAME", "SECURITY_GROUPS", "IP")
            out.update((k, v) for k, v in nic.items() if k not in skip)
            return out
    raise OneFailure(INTERNAL, f"Cannot get IP/MAC lease from virtual network {vnet.id}.")


# --- virtual machines ---------------------------------------------------------------------------------
def _check_capacity(attrs: Attrs) -> None:
    for name, read, kind in (("MEMORY", int, "integer"), ("CPU", float, "float or integer")):
        value = get_attr(attrs, name)
        if value is None and name == "CPU":
            continue  # CPU may be left out, MEMORY not
        try:
            ok = value is not None and read(value) > 0
        except ValueError:
            ok = False
        if not ok:
            raise OneFailure(INTERNAL, f"{name} attribute must be a positive {kind} value.")


def _context(context: dict[str, str], disk_id: int, nics: list[dict[str, str]]) -> dict[str, str]:
    ctx = {**context, "DISK_ID": str(disk_id)}
    ctx.setdefault("TARGET", "hda")
    for n, nic in enumerate(nics):
        for field in CONTEXT_NIC_FIELDS:
            ctx.setdefault(f"ETH{n}_{field}", "")
        ctx[f"ETH{n}_IP"], ctx[f"ETH{n}_MAC"] = nic.get("IP", ""), nic.get("MAC", "")
    return ctx


def build_vm(
    cloud: Cloud, user: User, attrs: Attrs, hold: bool, template_id: int | None = None, name: str = ""
) -> Vm:
    """oned's VM allocate: check, split TEMPLATE/USER_TEMPLATE, expand disks/NICs/context."""
    access.authorize_create(user, "vm")
    _check_capacity(attrs)
    vid = cloud.next_id["vm"]
    tmpl: Attrs = []
    user_tmpl: Attrs = []
    for key, value in attrs:
        if key != "NAME":
            (tmpl if key in VM_TEMPLATE_KEYS else user_tmpl).append((key, value))
    if hold:
        tmpl = [(k, v) for k, v in tmpl if k != "SUBMIT_ON_HOLD"] + [("SUBMIT_ON_HOLD", "YES")]
    if template_id is not None:
        tmpl.append(("TEMPLATE_ID", str(template_id)))
    tmpl.append(("VMID", str(vid)))
    expanded: Attrs = []
    images_used: list[Image] = []
    leases: list[Lease] = []
    nics: list[dict[str, str]] = []
    disk_id = 0
    try:
        for key, value in tmpl:
            if key == "DISK" and isinstance(value, dict):
                if "IMAGE_ID" in value or "IMAGE" in value:
                    img = image_by_ref(cloud, user, value)
                    access.authorize(user, "image", img, USE)
                    cloud.image_store.check_acquire(img, attach=False)
                    images_used.append(img)
                    value = image_disk(cloud, img, value, disk_id)
                else:
                    value = volatile_disk(value, disk_id)
                disk_id += 1
            elif key == "NIC" and isinstance(value, dict):
                value = lease_nic(cloud, user, dict(value), vid, len(nics), leases)
                nics.append(value)
            elif key == "GRAPHICS" and isinstance(value, dict):
                value = {**value, "PORT": value.get("PORT", str(5900 + vid))}
            elif key == "CONTEXT":
                continue
            expanded.append((key, value))
    except OneFailure:
        for rng, offset in leases:
            rng.leases.pop(offset, None)
        raise
    context = next((v for k, v in tmpl if k == "CONTEXT" and isinstance(v, dict)), None)
    if context is not None:
        expanded.append(("CONTEXT", _context(context, disk_id, nics)))
    groups = sorted({sg for nic in nics for sg in nic_security_groups(nic)})
    expanded.extend(("SECURITY_GROUP_RULE", rule) for rule in cloud.security_group_rules(groups))
    expanded.append(("AUTOMATIC_DS_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
    if nics:
        expanded.append(("AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
    public = (
        "(PUBLIC_CLOUD = YES)" if any(k == "PUBLIC_CLOUD" for k, _ in user_tmpl) else "!(PUBLIC_CLOUD = YES)"
    )
    expanded.append(("AUTOMATIC_REQUIREMENTS", f"(CLUSTER_ID = 0) & {public} & !(PIN_POLICY = PINNED)"))
    if not any(k == "OS" for k, _ in expanded):
        expanded.append(("OS", {"UUID": str(uuid.uuid4())}))
    cloud.take_id("vm")
    state = VmState.HOLD if hold else VmState.PENDING
    vm_name = name or get_attr(attrs, "NAME") or f"one-{vid}"
    vm = Vm(
        vid,
        *cloud.owner_fields(user),
        vm_name,
        DEFAULT_PERMS,
        state=state,
        prev_state=state,
        stime=cloud.now(),
        template=expanded,
        user_template=user_tmpl,
    )
    for img in images_used:
        cloud.image_store.acquire(img, vid, attach=False)
    for rng, offset in leases:
        rng.leases[offset] = vid
    for sg in filter(None, map(cloud.secgroups.get, groups)):
        if vid not in sg.updated:
            sg.updated.append(vid)
    cloud.vms[vid] = vm
    return vm


_BULK: dict[str, Any] = {}


def _fill(value: str, fields: dict[str, Any]) -> str:
    return value.format_map(fields) if "{" in value else value


def bulk_vms(
    cloud: Cloud,
    count: int,
    *,
    uid: int = 0,
    state: VmState = VmState.PENDING,
    lcm: LcmState = LcmState.LCM_INIT,
    name_prefix: str = "bulk",
    host_id: int | None = None,
    user_template: Attrs | None = None,
) -> list[int]:
    """Create `count` VMs straight in the pool (no drivers, no scheduler); returns their ids.

    Each VM is bulk_vm.yaml's (instantiated from the recorded template: a disk, a NIC, context, VNC),
    so its documents have the recorded sizes (~3.5 KB full, ~1 KB reduced). With `host_id` the VMs
    get a history record on that host (use it with ACTIVE/RUNNING)."""
    if not _BULK:
        _BULK.update(load_data("bulk_vm.yaml"))
    shape, users = data_attrs(_BULK["template"]), data_attrs(_BULK["user_template"])
    owner = cloud.users[uid]
    host = cloud.hosts.get(host_id) if host_id is not None else None
    now = cloud.now()
    out = []
    for _ in range(count):
        vid = cloud.take_id("vm")
        ip = f"10.{(vid >> 16) & 255}.{(vid >> 8) & 255}.{vid & 255}"
        fill = {
            "vid": vid,
            "ip": ip,
            "port": 5900 + vid,
            "uuid": uuid.uuid4(),
            "mac": "02:00:" + ":".join(f"{int(p):02x}" for p in ip.split(".")),
        }
        template: Attrs = [
            (k, {n: _fill(f, fill) for n, f in v.items()} if isinstance(v, dict) else _fill(v, fill))
            for k, v in shape
        ]
        vm = Vm(
            vid,
            *cloud.owner_fields(owner),
            f"{name_prefix}-{vid}",
            DEFAULT_PERMS,
            state=state,
            lcm_state=lcm,
            prev_state=state,
            prev_lcm_state=lcm,
            stime=now,
            template=template,
            user_template=list(user_template or users),
        )
        if host is not None:
            record = History(0, host.name, host.id, host.cluster_id, now, host.vm_mad, "ssh", 0)
            record.pstime = record.petime = record.rstime = now
            vm.history.append(record)
            vm.deploy_id = f"{host.name}:{vm.name}:dummy"
        cloud.vms[vid] = vm
        out.append(vid)
    return out
