"""The `one.*` XML-RPC methods of the simulator: one registry from method name to handler.

Each handler gets the authenticated user and the typed parameters (read in xmlrpc-c's order, so
missing or mistyped ones become the same -501 faults) and returns the value of the success tuple,
or raises `OneFailure` with oned's code and message. info, pool info, update, delete, chmod, chown,
chgrp and rename are one handler each over the kinds table (`kinds.py`); what differs per kind is a
document function (`DOCS`) and a few `Hooks`. The VM methods are in `vm_methods.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from one_drivers.one.states import HostState, ImageType, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.auth import encrypt_attribute
from one_drivers.sim.cloud import Cloud, not_found, parse_text
from one_drivers.sim.kinds import KINDS
from one_drivers.sim.lifecycle import Lifecycle
from one_drivers.sim.model import Attrs, Owned, User, Vm, merge_attrs
from one_drivers.sim.storage import TYPE_NAMES
from one_drivers.sim.wire import ACTION, INTERNAL, XML_RPC_API, OneFailure, Params

Handler = Callable[["Api", User, Params], Any]
METHODS: dict[str, Handler] = {}
# Methods that may change state (the persistence layer saves after them).
MUTATING: set[str] = set()


def method(name: str, mutating: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        if mutating:
            MUTATING.add(name)
        return fn

    return register


class Api:
    """What handlers see: the cloud and its lifecycle."""

    def __init__(self, cloud: Cloud, lifecycle: Lifecycle) -> None:
        self.cloud = cloud
        self.lc = lifecycle


def _vm_for(api: Api, user: User, vid: int, op: int) -> Vm:
    vm: Vm = api.cloud.get("vm", vid)
    access.authorize(user, "vm", vm, op)
    return vm


def _managed_vm(api: Api, user: User, vid: int) -> Vm:
    """The VM, for a change that needs MANAGE and is refused on a locked VM."""
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    return vm


def _touch(obj: Any) -> None:
    if isinstance(obj, Vm):
        obj.touch()


# --- documents per kind ---------------------------------------------------------------------------
def _members(cloud: Cloud, gid: int) -> list[int]:
    return sorted(u.id for u in cloud.users.values() if gid in u.groups)


def _host_doc(api: Api, user: User, host: Any, pool: bool, decrypt: bool) -> str:
    vms = [
        v
        for v in api.cloud.vms.values()
        if v.state == VmState.ACTIVE and v.current and v.current.hid == host.id
    ]
    mem = sum(int(float(_plain(v.template, "MEMORY") or 0)) * 1024 for v in vms)
    cpu = sum(int(float(_plain(v.template, "CPU") or 0) * 100) for v in vms)
    template = host.template
    if not decrypt:
        key = api.cloud.users[0].password
        secret = ("EC2_ACCESS", "EC2_SECRET")  # oned.conf HOST_ENCRYPTED_ATTR
        template = [
            (k, encrypt_attribute(key, v) if k in secret and isinstance(v, str) else v) for k, v in template
        ]
    return docs.host_xml(host, sorted(v.id for v in vms), mem, cpu, template, pool)


def _plain(attrs: Attrs, name: str) -> str | None:
    return next((v for k, v in attrs if k == name and isinstance(v, str)), None)


def _template_doc(api: Api, user: User, tmpl: Any, pool: bool, extended: bool) -> str:
    if not extended:
        return docs.vmtemplate_xml(tmpl)
    attrs: Attrs = []
    disk_id = 0
    for key, value in tmpl.template:
        if key == "DISK" and isinstance(value, dict) and ("IMAGE_ID" in value or "IMAGE" in value):
            try:
                disk = allocate.image_disk(
                    api.cloud, allocate.image_by_ref(api.cloud, user, value), value, disk_id
                )
                disk.pop("TARGET", None)
                value = disk
            except OneFailure:
                pass
            disk_id += 1
        attrs.append((key, value))
    return docs.vmtemplate_xml(tmpl, attrs)


def _cluster_doc(api: Api, user: User, c: Any, pool: bool, flag: bool) -> str:
    cloud = api.cloud
    hosts = sorted(h.id for h in cloud.hosts.values() if h.cluster_id == c.id)
    dss = sorted(d.id for d in cloud.datastores.values() if c.id in d.cluster_ids)
    nets = sorted(v.id for v in cloud.vnets.values() if c.id in v.cluster_ids)
    return docs.cluster_xml(c, hosts, dss, nets)


Doc = Callable[[Api, User, Any, bool, bool], Any]
# (api, user, object, in a pool document, the info call's flag) -> the object's document
DOCS: dict[str, Doc] = {
    "user": lambda api, user, u, pool, flag: docs.user_xml(u),
    "group": lambda api, user, g, pool, flag: docs.group_xml(g, _members(api.cloud, g.id)),
    "cluster": _cluster_doc,
    "datastore": lambda api, user, ds, pool, flag: docs.datastore_xml(
        ds, sorted(i.id for i in api.cloud.images.values() if i.datastore_id == ds.id)
    ),
    "host": _host_doc,
    "vnet": lambda api, user, vnet, pool, flag: docs.vnet_xml(
        vnet, sorted({vm for ar in vnet.ars for vm in ar.leases.values() if vm >= 0}), pool
    ),
    "template": _template_doc,
    "image": lambda api, user, img, pool, flag: docs.image_xml(img),
    "vm": lambda api, user, vm, pool, flag: docs.vm_info_wire(vm),
}
# Pool documents that are not the object documents joined under the kind's root.
POOL_DOCS: dict[str, Callable[[Api, list[Any]], Any]] = {
    "user": lambda api, users: docs.userpool_xml(users),
    "group": lambda api, groups: docs.grouppool_xml((g, _members(api.cloud, g.id)) for g in groups),
}


@dataclass(frozen=True)
class Hooks:
    """What one kind does beyond the generic handlers."""

    # the right an info call needs, given its flag (None: none); hosts need ADMIN only to decrypt
    info_op: Callable[[bool], int | None] = lambda flag: USE
    # an update's new template -> the one stored (may refuse it)
    updated: Callable[[Api, Any, Attrs], Attrs] = lambda api, obj, attrs: attrs
    # refuses a delete (or prepares it) before the object leaves its pool
    deleting: Callable[[Api, Any], None] = lambda api, obj: None
    # refuses a rename
    renaming: Callable[[Api, Any, str], None] = lambda api, obj, name: None


HOOKS: dict[str, Hooks] = {}


def _hooks(kind: str) -> Hooks:
    return HOOKS.get(kind) or Hooks()


# --- the generic handlers -------------------------------------------------------------------------
def _info(kind: str) -> Handler:
    def info(api: Api, user: User, p: Params) -> Any:
        oid, flag = p.integer(0), p.opt_bool(1)
        if kind == "template":
            p.opt_bool(2)  # decrypt, after `extended`
        if oid == -1:  # RequestManagerInfo: -1 is the caller's own user or group
            oid = {"user": user.id, "group": user.gid}.get(kind, oid)
        obj = api.cloud.get(kind, oid)
        op = _hooks(kind).info_op(flag)
        if op is not None:
            access.check(user, kind, obj, op)
        return DOCS[kind](api, user, obj, False, flag)

    return info


def _pool_info(kind: str) -> Handler:
    def pool_info(api: Api, user: User, p: Params) -> Any:
        objs = api.cloud.pool(kind).values()
        if KINDS[kind].paged:
            flag, start, end = p.integer(0), p.integer(1), p.integer(2)
            shown = api.cloud.paginate(access.filtered(user, objs, flag, kind), start, end)
        else:
            everyone = _hooks(kind).info_op(False) is None
            shown = [o for o in sorted(objs, key=lambda o: -o.id) if everyone or _visible(user, kind, o)]
        if kind in POOL_DOCS:
            return POOL_DOCS[kind](api, shown)
        return docs.pool_xml(KINDS[kind].root, (DOCS[kind](api, user, o, True, False) for o in shown))

    return pool_info


def _visible(user: User, kind: str, obj: Any) -> bool:
    """In an unpaged pool: what filter flag -2 shows, and for kinds without permission bits a user
    sees itself and a member its groups (admins see all)."""
    if isinstance(obj, Owned):
        return access.filter_test(user, -2, kind)(obj)
    try:
        access.check(user, kind, obj, USE)
    except OneFailure:
        return False
    return True


def _update(kind: str) -> Handler:
    def update(api: Api, user: User, p: Params) -> Any:
        oid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
        obj = api.cloud.get(kind, oid)
        access.check(user, kind, obj, KINDS[kind].manage_op)
        field = "user_template" if kind == "vm" else "template"
        if kind == "vm":
            api.lc.check_lock(user.id, obj, MANAGE)
        new = parse_text(text)
        if merge:
            merged = list(getattr(obj, field))
            merge_attrs(merged, new)
            new = merged
        setattr(obj, field, _hooks(kind).updated(api, obj, new))
        _touch(obj)
        return oid

    return update


def _delete(kind: str) -> Handler:
    def delete(api: Api, user: User, p: Params) -> Any:
        oid = p.integer(0)
        if kind in ("vnet", "template", "image"):
            p.opt_bool(1)  # recursive / force
        obj = api.cloud.get(kind, oid)
        access.check(user, kind, obj, KINDS[kind].manage_op)
        _hooks(kind).deleting(api, obj)
        del api.cloud.pool(kind)[oid]
        return oid

    return delete


def _chmod(kind: str) -> Handler:
    def chmod(api: Api, user: User, p: Params) -> Any:
        oid = p.integer(0)
        bits = [p.integer(i) for i in range(1, 10)]
        obj = api.cloud.get(kind, oid)
        access.authorize(user, kind, obj, MANAGE)
        if any(b == 1 for b in bits[2::3]) and not access.is_admin(user):
            access.authorize(user, kind, obj, ADMIN)  # setting an ADMIN bit needs ADMIN
        obj.perms = tuple(old if new == -1 else new for old, new in zip(obj.perms, bits, strict=True))
        _touch(obj)
        return oid

    return chmod


def _chown(kind: str, chgrp: bool = False) -> Handler:
    def chown(api: Api, user: User, p: Params) -> Any:
        oid = p.integer(0)
        new_uid, new_gid = (-1, p.integer(1)) if chgrp else (p.integer(1), p.integer(2))
        obj = api.cloud.get(kind, oid)
        access.authorize(user, kind, obj, ADMIN if new_uid >= 0 else MANAGE)
        if new_uid >= 0:
            owner = api.cloud.get("user", new_uid)
            obj.uid, obj.uname = owner.id, owner.name
        if new_gid >= 0:
            group = api.cloud.get("group", new_gid)
            if not access.is_admin(user) and new_gid not in user.groups:
                access.require_admin(user, "group", new_gid, USE)
            obj.gid, obj.gname = group.id, group.name
        _touch(obj)
        return oid

    return chown


def _rename(kind: str) -> Handler:
    def rename(api: Api, user: User, p: Params) -> Any:
        oid, name = p.integer(0), p.string(1)
        obj = api.cloud.get(kind, oid)
        access.authorize(user, kind, obj, MANAGE)
        _hooks(kind).renaming(api, obj, name)
        obj.name = name
        _touch(obj)
        return oid

    return rename


GENERIC: dict[str, Callable[[str], Handler]] = {
    "update": _update,
    "delete": _delete,
    "chmod": _chmod,
    "chown": _chown,
    "chgrp": lambda kind: _chown(kind, chgrp=True),
    "rename": _rename,
}
for _kind in KINDS.values():
    method(f"one.{_kind.method}.info")(_info(_kind.name))
    if _kind.name != "vm":  # the VM pool has its own paging and two bodies (vm_methods.py)
        method(f"one.{_kind.method}pool.info")(_pool_info(_kind.name))
    for _op in _kind.ops.split():
        method(f"one.{_kind.method}.{_op}", mutating=True)(GENERIC[_op](_kind.name))

HOOKS["cluster"] = Hooks(info_op=lambda flag: None)


# --- system ---------------------------------------------------------------------------------------
@method("one.system.version")
def system_version(api: Api, user: User, p: Params) -> Any:
    return api.cloud.version


@method("one.system.config")
def system_config(api: Api, user: User, p: Params) -> Any:
    access.require_admin(user, "user", -1)
    return (
        "<OPENNEBULA_CONFIGURATION><DEFAULT_AUTH><![CDATA[default]]></DEFAULT_AUTH>"
        "<HOST_ENCRYPTED_ATTR><![CDATA[EC2_ACCESS]]></HOST_ENCRYPTED_ATTR>"
        "<HOST_ENCRYPTED_ATTR><![CDATA[EC2_SECRET]]></HOST_ENCRYPTED_ATTR>"
        "<VM_RESTRICTED_ATTR><![CDATA[CONTEXT/FILES]]></VM_RESTRICTED_ATTR>"
        f"<VERSION><![CDATA[{api.cloud.version}]]></VERSION></OPENNEBULA_CONFIGURATION>"
    )


# --- users ----------------------------------------------------------------------------------------
@method("one.user.allocate", mutating=True)
def user_allocate(api: Api, user: User, p: Params) -> Any:
    name, password, driver = p.string(0), p.string(1), p.string(2)
    groups: list[int] = []
    if len(p) > 3:
        if not isinstance(p.values[3], list):
            raise OneFailure(XML_RPC_API, "groups must be an array")
        groups = [int(g) for g in p.values[3]]
    access.require_admin(user, "user", -1, MANAGE)
    return allocate.allocate_user(api.cloud, name, password, driver, groups).id


@method("one.user.passwd", mutating=True)
def user_passwd(api: Api, user: User, p: Params) -> Any:
    uid, password = p.integer(0), p.string(1)
    target = api.cloud.get("user", uid)
    access.check(user, "user", target, MANAGE)
    allocate.set_password(api.cloud, target, password)
    return uid


@method("one.user.enable", mutating=True)
def user_enable(api: Api, user: User, p: Params) -> Any:
    """UserEnable: ADMIN on the user; disabling drops its cached session and login tokens."""
    uid, enable = p.integer(0), p.boolean(1)
    target = api.cloud.get("user", uid)
    access.require_admin(user, "user", uid, ADMIN)
    if uid == 0:
        raise OneFailure(ACTION, "Cannot enable/disable oneadmin user", uid)
    if not enable and target.enabled:
        api.cloud.sessions.pop(uid, None)
        target.login_tokens.clear()
    target.enabled = enable
    return uid


@method("one.user.login", mutating=True)
def user_login(api: Api, user: User, p: Params) -> Any:
    """A login token for `username` (MANAGE on that user: itself, or an admin), as UserLogin answers."""
    name, token, valid, egid = p.string(0), p.string(1), p.integer(2), p.opt_int(3, -1)
    target = api.cloud.user_by_name(name)
    if target is None:
        raise not_found("user", -1)
    access.check(user, "user", target, MANAGE)
    return access.user_login(api.cloud, target, token, valid, egid)


@method("one.user.chauth", mutating=True)
def user_chauth(api: Api, user: User, p: Params) -> Any:
    uid, driver, password = p.integer(0), p.string(1), p.opt_str(2)
    target = api.cloud.get("user", uid)
    access.require_admin(user, "user", uid, ADMIN)
    target.auth_driver = driver
    if password:
        allocate.set_password(api.cloud, target, password)
    return uid


# --- hosts and datastores -------------------------------------------------------------------------
@method("one.datastore.allocate", mutating=True)
def datastore_allocate(api: Api, user: User, p: Params) -> Any:
    text, cluster = p.string(0), p.opt_int(1, -1)
    access.require_admin(user, "datastore", -1, MANAGE)
    return allocate.allocate_datastore(api.cloud, user, parse_text(text), cluster).id


@method("one.host.allocate", mutating=True)
def host_allocate(api: Api, user: User, p: Params) -> Any:
    name, im, vmm, cluster = p.string(0), p.string(1), p.string(2), p.opt_int(3, -1)
    access.require_admin(user, "host", -1, MANAGE)
    host = allocate.allocate_host(api.cloud, name, im, vmm, cluster)
    api.lc.host_added(host)
    return host.id


@method("one.host.status", mutating=True)
def host_status(api: Api, user: User, p: Params) -> Any:
    hid, status = p.integer(0), p.integer(1)
    host = api.cloud.get("host", hid)
    access.require_admin(user, "host", hid, ADMIN)
    # 0 enable, 1 disable, 2 offline. Host::enable: a DISABLED host with capacity is MONITORED again,
    # any other becomes INIT (monitoring sets it MONITORED).
    if status == 0:
        monitored = host.state == HostState.DISABLED and host.total_cpu > 0
        new_state = HostState.MONITORED if monitored else HostState.INIT
    elif status in (1, 2):
        new_state = HostState.DISABLED if status == 1 else HostState.OFFLINE
    else:
        raise OneFailure(ACTION, "Wrong status code")
    old_state = host.state
    api.lc.set_host_state(host, int(new_state))
    if new_state != old_state:
        api.lc.host_status_changed(host, old_state)
    return hid


def _host_deleting(api: Api, host: Any) -> None:
    if any(
        v.state == VmState.ACTIVE and v.current and v.current.hid == host.id for v in api.cloud.vms.values()
    ):
        raise OneFailure(ACTION, "Cannot delete host, it has VMs running.")
    api.lc.stop_monitor(host)


# oned sends monitord UPDATE_HOST on update; 6.10's monitord restarts monitoring only on a state change,
# so an IM program sees the new template only if it reads it (one_im_ec2 does, while it waits).
HOOKS["host"] = Hooks(info_op=lambda decrypt: ADMIN if decrypt else None, deleting=_host_deleting)


# --- virtual networks -----------------------------------------------------------------------------
@method("one.vn.allocate", mutating=True)
def vn_allocate(api: Api, user: User, p: Params) -> Any:
    text, cluster = p.string(0), p.opt_int(1, -1)
    return allocate.allocate_vnet(api.cloud, user, text, cluster).id


@method("one.vn.add_ar", mutating=True)
def vn_add_ar(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vnet = api.cloud.get("vnet", vid)
    access.authorize(user, "vnet", vnet, ADMIN)
    for key, value in parse_text(text):
        if key == "AR" and isinstance(value, dict):
            allocate.add_ar(vnet, value)
    return vid


def _lease_op(hold: bool) -> Handler:
    """oned's hold_leases/free_leases: one IP, held as a VM lease of id -1; release frees holds only."""

    def lease_op(api: Api, user: User, p: Params) -> Any:
        vid, text = p.integer(0), p.string(1)
        vnet = api.cloud.get("vnet", vid)
        access.authorize(user, "vnet", vnet, MANAGE)
        lease = next((v for k, v in parse_text(text) if k == "LEASES" and isinstance(v, dict)), None)
        if lease is None:
            raise OneFailure(INTERNAL, "Empty lease description.")
        given = [k for k in ("IP", "IP6", "MAC") if lease.get(k)]
        if len(given) != 1:
            raise OneFailure(
                INTERNAL,
                "Only one attribute MAC, IP or IP6 can be set." if given else "Missing MAC, IP or IP6.",
            )
        ip, ar_id = lease.get("IP", ""), lease.get("AR_ID", "")
        for rng in vnet.ars:
            if ar_id.isdigit() and rng.ar_id != int(ar_id):
                continue
            offset = next((o for o in range(rng.size) if ip and docs.offset_ip(rng.ip, o) == ip), None)
            if offset is None or (hold and offset in rng.leases):
                continue
            if hold:
                rng.leases[offset] = -1
            elif rng.leases.get(offset) == -1:
                del rng.leases[offset]
            return vid
        if hold:
            raise OneFailure(INTERNAL, "Address is not part of the address range or in use.")
        return vid

    return lease_op


method("one.vn.hold", mutating=True)(_lease_op(True))
method("one.vn.release", mutating=True)(_lease_op(False))


def _vn_deleting(api: Api, vnet: Any) -> None:
    # oned 6.10 (VirtualNetworkDelete): refused while any lease is in use.
    if any(rng.leases for rng in vnet.ars):
        raise OneFailure(
            ACTION, "Cannot delete virtual network. Can not remove a virtual network with leases in use"
        )


HOOKS["vnet"] = Hooks(deleting=_vn_deleting)


# --- templates ------------------------------------------------------------------------------------
@method("one.template.allocate", mutating=True)
def template_allocate(api: Api, user: User, p: Params) -> Any:
    return allocate.allocate_template(api.cloud, user, p.string(0)).id


@method("one.template.instantiate", mutating=True)
def template_instantiate(api: Api, user: User, p: Params) -> Any:
    tid, name, hold = p.integer(0), p.string(1), p.opt_bool(2)
    extra = p.opt_str(3)
    p.opt_bool(4)
    tmpl = api.cloud.get("template", tid)
    access.authorize(user, "template", tmpl, USE)
    attrs = [(k, dict(v) if isinstance(v, dict) else v) for k, v in tmpl.template]
    if extra.strip():
        merge_attrs(attrs, parse_text(extra))
    vm_name = name or f"{tmpl.name}-{api.cloud.next_id['vm']}"
    return allocate.build_vm(api.cloud, user, attrs, hold, template_id=tid, name=vm_name).id


# --- images ---------------------------------------------------------------------------------------
@method("one.image.allocate", mutating=True)
def image_allocate(api: Api, user: User, p: Params) -> Any:
    text, ds = p.string(0), p.integer(1)
    p.opt_bool(2)
    return allocate.allocate_image(api.cloud, user, text, ds).id


def _image_deleting(api: Api, img: Any) -> None:
    if img.vms:
        raise OneFailure(ACTION, f"Cannot delete image: image is used by VMs {img.vms}")


HOOKS["image"] = Hooks(deleting=_image_deleting)


@method("one.image.persistent", mutating=True)
def image_persistent(api: Api, user: User, p: Params) -> Any:
    iid, persistent = p.integer(0), p.boolean(1)
    img = api.cloud.get("image", iid)
    access.authorize(user, "image", img, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, "Cannot change persistent attribute, image in use.")
    img.persistent = int(persistent)
    return iid


@method("one.image.chtype", mutating=True)
def image_chtype(api: Api, user: User, p: Params) -> Any:
    iid, type_name = p.integer(0), p.string(1)
    img = api.cloud.get("image", iid)
    access.authorize(user, "image", img, MANAGE)
    if type_name.upper() not in ImageType.__members__ or type_name.upper() == "BACKUP":
        raise OneFailure(INTERNAL, f"Unknown value for TYPE: {type_name}")
    img.type = ImageType[type_name.upper()]
    return iid


@method("one.image.clone", mutating=True)
def image_clone(api: Api, user: User, p: Params) -> Any:
    iid, name = p.integer(0), p.string(1)
    ds = p.opt_int(2, -1)
    src = api.cloud.get("image", iid)
    access.authorize(user, "image", src, USE)
    api.cloud.image_store.check_clone(src)
    # oned copies the source's template (clone_template); the clone is not persistent by default.
    attrs: Attrs = [
        ("NAME", name),
        ("TYPE", TYPE_NAMES[src.type]),
        ("SIZE", str(src.size)),
        ("FORMAT", src.format),
        ("CLONING_ID", str(src.id)),
    ]
    inherited = [(k, v) for k, v in src.template if k != "CLONING_ID"]
    text = build_template(attrs + inherited)
    img = allocate.allocate_image(api.cloud, user, text, ds if ds >= 0 else src.datastore_id, copy=False)
    api.cloud.image_store.start_clone(src, img.id)
    return img.id


# Method families kept in their own modules register themselves on import (they use `method` above).
from one_drivers.sim import secgroups, vm_methods, vmconf  # noqa: E402,F401
