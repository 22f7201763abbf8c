"""The `one.*` XML-RPC methods of the simulator: one registry from method name to handler.

Each handler gets the authenticated user and the typed parameters (read in xmlrpc-c's order, so
missing or mistyped ones become the same -501 faults) and returns the value of the success tuple,
or raises `OneFailure` with oned's code and message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import docs
from one_drivers.sim.auth import encrypt_attribute
from one_drivers.sim.cloud import ACTION, ADMIN, INTERNAL, MANAGE, USE, Cloud, not_found, parse_text
from one_drivers.sim.lifecycle import Lifecycle
from one_drivers.sim.model import Attrs, User, Vm, VmLock, get_attr, merge_attrs
from one_drivers.sim.storage import SAVEAS_FROM, TYPE_NAMES, resize_disk
from one_drivers.sim.wire import OneFailure, Params

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


def _update(attrs: Attrs, text: str, merge: int) -> None:
    new = parse_text(text)
    if merge:
        merge_attrs(attrs, new)
    else:
        attrs[:] = new


def _decrypt_ok(api: Api, user: User, decrypt: bool, kind: str, oid: int) -> None:
    """Decrypted attributes need the ADMIN right on the object (oned answers 512 otherwise)."""
    if decrypt and not api.cloud.is_admin(user):
        api.cloud.require_admin(user, kind, oid, ADMIN)


# --- system ---------------------------------------------------------------------------------------
@method("one.system.version")
def system_version(api: Api, user: User, p: Params) -> Any:
    return api.cloud.version


@method("one.system.config")
def system_config(api: Api, user: User, p: Params) -> Any:
    api.cloud.require_admin(user, "user", -1)
    return (
        "<OPENNEBULA_CONFIGURATION><DEFAULT_AUTH><![CDATA[default]]></DEFAULT_AUTH>"
        "<HOST_ENCRYPTED_ATTR><![CDATA[EC2_ACCESS]]></HOST_ENCRYPTED_ATTR>"
        "<HOST_ENCRYPTED_ATTR><![CDATA[EC2_SECRET]]></HOST_ENCRYPTED_ATTR>"
        "<VM_RESTRICTED_ATTR><![CDATA[CONTEXT/FILES]]></VM_RESTRICTED_ATTR>"
        f"<VERSION><![CDATA[{api.cloud.version}]]></VERSION></OPENNEBULA_CONFIGURATION>"
    )


# --- users and groups -----------------------------------------------------------------------------
@method("one.user.info")
def user_info(api: Api, user: User, p: Params) -> Any:
    uid = p.integer(0)
    p.opt_bool(1)
    if uid == -1:
        uid = user.id
    target = api.cloud.get("user", api.cloud.users, uid)
    if target.id != user.id:
        api.cloud.require_admin(user, "user", uid, USE)
    return docs.user_xml(target)


@method("one.userpool.info")
def userpool_info(api: Api, user: User, p: Params) -> Any:
    users = sorted(api.cloud.users.values(), key=lambda u: u.id, reverse=True)
    if not api.cloud.is_admin(user):
        users = [u for u in users if u.id == user.id]
    return docs.userpool_xml(users)


@method("one.user.allocate", mutating=True)
def user_allocate(api: Api, user: User, p: Params) -> Any:
    name, password, driver = p.string(0), p.string(1), p.string(2)
    groups: list[int] = []
    if len(p) > 3:
        raw = p.values[3]
        if not isinstance(raw, list):
            raise OneFailure(0x1000, "groups must be an array")
        groups = [int(g) for g in raw]
    api.cloud.require_admin(user, "user", -1, MANAGE)
    return api.cloud.allocate_user(name, password, driver, groups).id


@method("one.user.update", mutating=True)
def user_update(api: Api, user: User, p: Params) -> Any:
    uid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    target = api.cloud.get("user", api.cloud.users, uid)
    if target.id != user.id:
        api.cloud.require_admin(user, "user", uid, MANAGE)
    _update(target.template, text, merge)
    return uid


@method("one.user.passwd", mutating=True)
def user_passwd(api: Api, user: User, p: Params) -> Any:
    uid, password = p.integer(0), p.string(1)
    target = api.cloud.get("user", api.cloud.users, uid)
    if target.id != user.id:
        api.cloud.require_admin(user, "user", uid, MANAGE)
    api.cloud.set_password(target, password)
    return uid


@method("one.user.enable", mutating=True)
def user_enable(api: Api, user: User, p: Params) -> Any:
    """UserEnable: ADMIN on the user; disabling drops its cached session and login tokens."""
    uid, enable = p.integer(0), p.boolean(1)
    target = api.cloud.get("user", api.cloud.users, uid)
    api.cloud.require_admin(user, "user", uid, ADMIN)
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
    if target.id != user.id:
        api.cloud.require_admin(user, "user", target.id, MANAGE)
    return api.cloud.user_login(target, token, valid, egid)


@method("one.user.chauth", mutating=True)
def user_chauth(api: Api, user: User, p: Params) -> Any:
    uid, driver, password = p.integer(0), p.string(1), p.opt_str(2)
    target = api.cloud.get("user", api.cloud.users, uid)
    api.cloud.require_admin(user, "user", uid, ADMIN)
    target.auth_driver = driver
    if password:
        api.cloud.set_password(target, password)
    return uid


def _members(api: Api, gid: int) -> list[int]:
    return sorted(u.id for u in api.cloud.users.values() if gid in u.groups)


@method("one.group.info")
def group_info(api: Api, user: User, p: Params) -> Any:
    gid = p.integer(0)
    p.opt_bool(1)
    if gid == -1:
        gid = user.gid
    group = api.cloud.get("group", api.cloud.groups, gid)
    if gid not in user.groups:
        api.cloud.require_admin(user, "group", gid, USE)
    return docs.group_xml(group, _members(api, gid))


@method("one.grouppool.info")
def grouppool_info(api: Api, user: User, p: Params) -> Any:
    groups = sorted(api.cloud.groups.values(), key=lambda g: g.id, reverse=True)
    if not api.cloud.is_admin(user):
        groups = [g for g in groups if g.id in user.groups]
    return docs.grouppool_xml((g, _members(api, g.id)) for g in groups)


# --- infrastructure -------------------------------------------------------------------------------
def _cluster_doc(api: Api, cid: int) -> str:
    c = api.cloud.clusters[cid]
    hosts = sorted(h.id for h in api.cloud.hosts.values() if h.cluster_id == cid)
    dss = sorted(d.id for d in api.cloud.datastores.values() if cid in d.cluster_ids)
    nets = sorted(v.id for v in api.cloud.vnets.values() if cid in v.cluster_ids)
    return docs.cluster_xml(c, hosts, dss, nets)


@method("one.cluster.info")
def cluster_info(api: Api, user: User, p: Params) -> Any:
    cid = p.integer(0)
    p.opt_bool(1)
    api.cloud.get("cluster", api.cloud.clusters, cid)
    return _cluster_doc(api, cid)


@method("one.clusterpool.info")
def clusterpool_info(api: Api, user: User, p: Params) -> Any:
    return docs.pool_xml("CLUSTER_POOL", (_cluster_doc(api, c) for c in sorted(api.cloud.clusters)))


def _ds_doc(api: Api, ds_id: int) -> str:
    ds = api.cloud.datastores[ds_id]
    images = sorted(i.id for i in api.cloud.images.values() if i.datastore_id == ds_id)
    return docs.datastore_xml(ds, images)


@method("one.datastore.info")
def datastore_info(api: Api, user: User, p: Params) -> Any:
    did = p.integer(0)
    p.opt_bool(1)
    ds = api.cloud.get("datastore", api.cloud.datastores, did)
    api.cloud.authorize(user, "datastore", ds, USE)
    return _ds_doc(api, did)


@method("one.datastorepool.info")
def datastorepool_info(api: Api, user: User, p: Params) -> Any:
    dss = api.cloud.filtered(user, api.cloud.datastores.values(), -2, "datastore")
    return docs.pool_xml("DATASTORE_POOL", (_ds_doc(api, d.id) for d in sorted(dss, key=lambda d: -d.id)))


@method("one.datastore.allocate", mutating=True)
def datastore_allocate(api: Api, user: User, p: Params) -> Any:
    text, cluster = p.string(0), p.opt_int(1, -1)
    api.cloud.require_admin(user, "datastore", -1, MANAGE)
    return api.cloud.allocate_datastore(user, parse_text(text), cluster).id


ENCRYPTED_HOST_ATTRS = ("EC2_ACCESS", "EC2_SECRET")


def _host_doc(api: Api, hid: int, decrypt: bool, pool: bool = False) -> str:
    host = api.cloud.hosts[hid]
    vms = [
        v for v in api.cloud.vms.values() if v.state == VmState.ACTIVE and v.current and v.current.hid == hid
    ]
    mem = sum(int(float(_tmpl(v.template, "MEMORY") or 0)) * 1024 for v in vms)
    cpu = sum(int(float(_tmpl(v.template, "CPU") or 0) * 100) for v in vms)
    template = host.template
    if not decrypt:
        key = api.cloud.users[0].password
        template = [
            (k, encrypt_attribute(key, v) if k in ENCRYPTED_HOST_ATTRS and isinstance(v, str) else v)
            for k, v in template
        ]
    return docs.host_xml(host, sorted(v.id for v in vms), mem, cpu, template, pool)


def _tmpl(attrs: Attrs, name: str) -> str | None:
    for k, v in attrs:
        if k == name and isinstance(v, str):
            return v
    return None


@method("one.host.info")
def host_info(api: Api, user: User, p: Params) -> Any:
    hid = p.integer(0)
    decrypt = p.opt_bool(1)
    api.cloud.get("host", api.cloud.hosts, hid)
    _decrypt_ok(api, user, decrypt, "host", hid)
    return _host_doc(api, hid, decrypt)


@method("one.hostpool.info")
def hostpool_info(api: Api, user: User, p: Params) -> Any:
    return docs.pool_xml(
        "HOST_POOL", (_host_doc(api, h, False, True) for h in sorted(api.cloud.hosts, reverse=True))
    )


@method("one.host.allocate", mutating=True)
def host_allocate(api: Api, user: User, p: Params) -> Any:
    name, im, vmm, cluster = p.string(0), p.string(1), p.string(2), p.opt_int(3, -1)
    api.cloud.require_admin(user, "host", -1, MANAGE)
    host = api.cloud.allocate_host(name, im, vmm, cluster)
    api.lc.host_added(host)
    return host.id


@method("one.host.update", mutating=True)
def host_update(api: Api, user: User, p: Params) -> Any:
    hid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    host = api.cloud.get("host", api.cloud.hosts, hid)
    api.cloud.require_admin(user, "host", hid, ADMIN)
    _update(host.template, text, merge)
    # oned sends monitord UPDATE_HOST; 6.10's monitord restarts monitoring only on a state change, so
    # an IM program sees the new template only if it reads it (one_im_ec2 does, while it waits).
    return hid


@method("one.host.status", mutating=True)
def host_status(api: Api, user: User, p: Params) -> Any:
    hid, status = p.integer(0), p.integer(1)
    host = api.cloud.get("host", api.cloud.hosts, hid)
    api.cloud.require_admin(user, "host", hid, ADMIN)
    # 0 enable, 1 disable, 2 offline. Host::enable: a DISABLED host with capacity is MONITORED again,
    # any other becomes INIT (monitoring sets it MONITORED).
    if status == 0:
        new_state = 2 if host.state == 4 and host.total_cpu > 0 else 0
    else:
        found = {1: 4, 2: 8}.get(status)
        if found is None:
            raise OneFailure(ACTION, "Wrong status code")
        new_state = found
    old_state = host.state
    api.lc.set_host_state(host, new_state)
    if new_state != old_state:
        api.lc.host_status_changed(host, old_state)
    return hid


@method("one.host.delete", mutating=True)
def host_delete(api: Api, user: User, p: Params) -> Any:
    hid = p.integer(0)
    api.cloud.get("host", api.cloud.hosts, hid)
    api.cloud.require_admin(user, "host", hid, ADMIN)
    if any(v.state == VmState.ACTIVE and v.current and v.current.hid == hid for v in api.cloud.vms.values()):
        raise OneFailure(ACTION, "Cannot delete host, it has VMs running.")
    api.lc.stop_monitor(api.cloud.hosts[hid])
    del api.cloud.hosts[hid]
    return hid


# --- virtual networks -----------------------------------------------------------------------------
def _vnet_doc(api: Api, vid: int, pool: bool = False) -> str:
    vnet = api.cloud.vnets[vid]
    vms = sorted({vm for ar in vnet.ars for vm in ar.leases.values() if vm >= 0})
    return docs.vnet_xml(vnet, vms, pool)


@method("one.vn.info")
def vn_info(api: Api, user: User, p: Params) -> Any:
    vid = p.integer(0)
    p.opt_bool(1)
    vnet = api.cloud.get("vnet", api.cloud.vnets, vid)
    api.cloud.authorize(user, "vnet", vnet, USE)
    return _vnet_doc(api, vid)


@method("one.vnpool.info")
def vnpool_info(api: Api, user: User, p: Params) -> Any:
    flag, start, end = p.integer(0), p.integer(1), p.integer(2)
    nets = api.cloud.paginate(api.cloud.filtered(user, api.cloud.vnets.values(), flag, "vnet"), start, end)
    return docs.pool_xml("VNET_POOL", (_vnet_doc(api, v.id, True) for v in nets))


@method("one.vn.allocate", mutating=True)
def vn_allocate(api: Api, user: User, p: Params) -> Any:
    text, cluster = p.string(0), p.opt_int(1, -1)
    return api.cloud.allocate_vnet(user, text, cluster).id


@method("one.vn.add_ar", mutating=True)
def vn_add_ar(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vnet = api.cloud.get("vnet", api.cloud.vnets, vid)
    api.cloud.authorize(user, "vnet", vnet, ADMIN)
    for key, value in parse_text(text):
        if key == "AR" and isinstance(value, dict):
            api.cloud.add_ar(vnet, value)
    return vid


@method("one.vn.update", mutating=True)
def vn_update(api: Api, user: User, p: Params) -> Any:
    vid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    vnet = api.cloud.get("vnet", api.cloud.vnets, vid)
    api.cloud.authorize(user, "vnet", vnet, MANAGE)
    _update(vnet.template, text, merge)
    return vid


def _lease_op(api: Api, user: User, p: Params, hold: bool) -> Any:
    """oned's hold_leases/free_leases: one IP, held as a VM lease of id -1; release frees holds only."""
    vid, text = p.integer(0), p.string(1)
    vnet = api.cloud.get("vnet", api.cloud.vnets, vid)
    api.cloud.authorize(user, "vnet", vnet, MANAGE)
    attrs = parse_text(text)
    lease = next((v for k, v in attrs if k == "LEASES" and isinstance(v, dict)), None)
    if lease is None:
        raise OneFailure(INTERNAL, "Empty lease description.")
    given = [k for k in ("IP", "IP6", "MAC") if lease.get(k)]
    if not given:
        raise OneFailure(INTERNAL, "Missing MAC, IP or IP6.")
    if len(given) > 1:
        raise OneFailure(INTERNAL, "Only one attribute MAC, IP or IP6 can be set.")
    ip = lease.get("IP", "")
    ar_id = lease.get("AR_ID", "")
    for rng in vnet.ars:
        if ar_id.isdigit() and rng.ar_id != int(ar_id):
            continue
        for offset in range(rng.size):
            if ip and docs.offset_ip(rng.ip, offset) == ip:
                if hold:
                    if offset in rng.leases:
                        break
                    rng.leases[offset] = -1
                elif rng.leases.get(offset) == -1:
                    del rng.leases[offset]
                return vid
    if hold:
        raise OneFailure(INTERNAL, "Address is not part of the address range or in use.")
    return vid


@method("one.vn.hold", mutating=True)
def vn_hold(api: Api, user: User, p: Params) -> Any:
    return _lease_op(api, user, p, True)


@method("one.vn.release", mutating=True)
def vn_release(api: Api, user: User, p: Params) -> Any:
    return _lease_op(api, user, p, False)


@method("one.vn.delete", mutating=True)
def vn_delete(api: Api, user: User, p: Params) -> Any:
    # oned 6.10 (VirtualNetworkDelete): MANAGE on the network; refused while any lease is in use.
    vid = p.integer(0)
    p.opt_bool(1)
    vnet = api.cloud.get("vnet", api.cloud.vnets, vid)
    api.cloud.authorize(user, "vnet", vnet, MANAGE)
    if any(rng.leases for rng in vnet.ars):
        raise OneFailure(
            ACTION, "Cannot delete virtual network. Can not remove a virtual network with leases in use"
        )
    del api.cloud.vnets[vid]
    return vid


@method("one.vn.chmod", mutating=True)
def vn_chmod(api: Api, user: User, p: Params) -> Any:
    return _chmod(api, user, p, "vnet", api.cloud.vnets)


# --- templates ------------------------------------------------------------------------------------
@method("one.template.info")
def template_info(api: Api, user: User, p: Params) -> Any:
    tid = p.integer(0)
    extended = p.opt_bool(1)
    p.opt_bool(2)
    tmpl = api.cloud.get("template", api.cloud.templates, tid)
    api.cloud.authorize(user, "template", tmpl, USE)
    attrs = tmpl.template
    if extended:
        attrs = []
        disk_id = 0
        for key, value in tmpl.template:
            if key == "DISK" and isinstance(value, dict) and ("IMAGE_ID" in value or "IMAGE" in value):
                try:
                    img = api.cloud.image_by_ref(user, value)
                    disk = api.cloud.image_disk(img, value, disk_id)
                    disk.pop("TARGET", None)
                    attrs.append(("DISK", disk))
                except OneFailure:
                    attrs.append((key, value))
                disk_id += 1
            else:
                attrs.append((key, value))
    return docs.vmtemplate_xml(tmpl, attrs)


@method("one.templatepool.info")
def templatepool_info(api: Api, user: User, p: Params) -> Any:
    flag, start, end = p.integer(0), p.integer(1), p.integer(2)
    tmpls = api.cloud.paginate(
        api.cloud.filtered(user, api.cloud.templates.values(), flag, "template"), start, end
    )
    return docs.pool_xml("VMTEMPLATE_POOL", (docs.vmtemplate_xml(t) for t in tmpls))


@method("one.template.allocate", mutating=True)
def template_allocate(api: Api, user: User, p: Params) -> Any:
    return api.cloud.allocate_template(user, p.string(0)).id


@method("one.template.update", mutating=True)
def template_update(api: Api, user: User, p: Params) -> Any:
    tid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    tmpl = api.cloud.get("template", api.cloud.templates, tid)
    api.cloud.authorize(user, "template", tmpl, MANAGE)
    _update(tmpl.template, text, merge)
    return tid


@method("one.template.delete", mutating=True)
def template_delete(api: Api, user: User, p: Params) -> Any:
    tid = p.integer(0)
    p.opt_bool(1)
    tmpl = api.cloud.get("template", api.cloud.templates, tid)
    api.cloud.authorize(user, "template", tmpl, MANAGE)
    del api.cloud.templates[tid]
    return tid


def _chmod(api: Api, user: User, p: Params, kind: str, pool: dict[int, Any]) -> Any:
    oid = p.integer(0)
    bits = [p.integer(i) for i in range(1, 10)]
    obj = api.cloud.get(kind, pool, oid)
    api.cloud.authorize(user, kind, obj, MANAGE)
    if any(b == 1 for b in bits[2::3]) and not api.cloud.is_admin(user):
        api.cloud.authorize(user, kind, obj, ADMIN)
    obj.perms = tuple(old if new == -1 else new for old, new in zip(obj.perms, bits, strict=True))
    if hasattr(obj, "touch"):
        obj.touch()
    return oid


def _chgrp(api: Api, user: User, p: Params, kind: str, pool: dict[int, Any]) -> Any:
    oid, new_uid, new_gid = p.integer(0), p.integer(1), p.integer(2)
    obj = api.cloud.get(kind, pool, oid)
    api.cloud.authorize(user, kind, obj, ADMIN if new_uid >= 0 else MANAGE)
    if new_uid >= 0:
        owner = api.cloud.get("user", api.cloud.users, new_uid)
        obj.uid, obj.uname = owner.id, owner.name
    if new_gid >= 0:
        group = api.cloud.get("group", api.cloud.groups, new_gid)
        if not api.cloud.is_admin(user) and new_gid not in user.groups:
            api.cloud.require_admin(user, "group", new_gid, USE)
        obj.gid, obj.gname = group.id, group.name
    if hasattr(obj, "touch"):
        obj.touch()
    return oid


@method("one.template.chmod", mutating=True)
def template_chmod(api: Api, user: User, p: Params) -> Any:
    return _chmod(api, user, p, "template", api.cloud.templates)


@method("one.template.chown", mutating=True)
def template_chown(api: Api, user: User, p: Params) -> Any:
    return _chgrp(api, user, p, "template", api.cloud.templates)


@method("one.template.chgrp", mutating=True)
def template_chgrp(api: Api, user: User, p: Params) -> Any:
    oid, gid = p.integer(0), p.integer(1)
    return _chgrp(api, user, Params((oid, -1, gid)), "template", api.cloud.templates)


@method("one.template.instantiate", mutating=True)
def template_instantiate(api: Api, user: User, p: Params) -> Any:
    tid, name, hold = p.integer(0), p.string(1), p.opt_bool(2)
    extra = p.opt_str(3)
    p.opt_bool(4)
    tmpl = api.cloud.templates.get(tid)
    if tmpl is None:
        raise OneFailure(0x0400, f"Error getting virtual machine template [{tid}].", tid)
    api.cloud.authorize(user, "template", tmpl, USE)
    attrs = [(k, dict(v) if isinstance(v, dict) else v) for k, v in tmpl.template]
    if extra.strip():
        merge_attrs(attrs, parse_text(extra))
    vm_name = name or f"{tmpl.name}-{api.cloud.next_id['vm']}"
    vm = api.cloud.build_vm(user, attrs, hold, template_id=tid, name=vm_name)
    return vm.id


# --- images ---------------------------------------------------------------------------------------
@method("one.image.info")
def image_info(api: Api, user: User, p: Params) -> Any:
    iid = p.integer(0)
    p.opt_bool(1)
    img = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", img, USE)
    return docs.image_xml(img)


@method("one.imagepool.info")
def imagepool_info(api: Api, user: User, p: Params) -> Any:
    flag, start, end = p.integer(0), p.integer(1), p.integer(2)
    imgs = api.cloud.paginate(api.cloud.filtered(user, api.cloud.images.values(), flag, "image"), start, end)
    return docs.pool_xml("IMAGE_POOL", (docs.image_xml(i) for i in imgs))


@method("one.image.allocate", mutating=True)
def image_allocate(api: Api, user: User, p: Params) -> Any:
    text, ds = p.string(0), p.integer(1)
    p.opt_bool(2)
    return api.cloud.allocate_image(user, text, ds).id


@method("one.image.update", mutating=True)
def image_update(api: Api, user: User, p: Params) -> Any:
    iid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    img = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", img, MANAGE)
    _update(img.template, text, merge)
    return iid


@method("one.image.delete", mutating=True)
def image_delete(api: Api, user: User, p: Params) -> Any:
    iid = p.integer(0)
    p.opt_bool(1)
    img = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", img, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, f"Cannot delete image: image is used by VMs {img.vms}")
    del api.cloud.images[iid]
    return iid


@method("one.image.persistent", mutating=True)
def image_persistent(api: Api, user: User, p: Params) -> Any:
    iid, persistent = p.integer(0), p.boolean(1)
    img = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", img, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, "Cannot change persistent attribute, image in use.")
    img.persistent = int(persistent)
    return iid


@method("one.image.chtype", mutating=True)
def image_chtype(api: Api, user: User, p: Params) -> Any:
    iid, type_name = p.integer(0), p.string(1)
    img = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", img, MANAGE)
    types = {"OS": 0, "CDROM": 1, "DATABLOCK": 2, "KERNEL": 3, "RAMDISK": 4, "CONTEXT": 5}
    if type_name.upper() not in types:
        raise OneFailure(INTERNAL, f"Unknown value for TYPE: {type_name}")
    img.type = types[type_name.upper()]
    return iid


@method("one.image.chmod", mutating=True)
def image_chmod(api: Api, user: User, p: Params) -> Any:
    return _chmod(api, user, p, "image", api.cloud.images)


@method("one.image.clone", mutating=True)
def image_clone(api: Api, user: User, p: Params) -> Any:
    iid, name = p.integer(0), p.string(1)
    ds = p.opt_int(2, -1)
    src = api.cloud.get("image", api.cloud.images, iid)
    api.cloud.authorize(user, "image", src, USE)
    api.cloud.image_store.check_clone(src)
    # oned copies the source's template (clone_template); the clone is not persistent by default.
    attrs: list[tuple[str, str | dict[str, str]]] = [
        ("NAME", name),
        ("TYPE", TYPE_NAMES[src.type]),
        ("SIZE", str(src.size)),
        ("FORMAT", src.format),
        ("CLONING_ID", str(src.id)),
    ]
    inherited = [(k, v) for k, v in src.template if k not in ("CLONING_ID",)]
    text = build_template(attrs + inherited)
    img = api.cloud.allocate_image(user, text, ds if ds >= 0 else src.datastore_id, copy=False)
    api.cloud.image_store.start_clone(src, img.id)
    return img.id


# --- virtual machines -----------------------------------------------------------------------------
def _vm_for(api: Api, user: User, vid: int, op: int) -> Any:
    vm = api.cloud.vms.get(vid)
    if vm is None:
        raise not_found("vm", vid)
    api.cloud.authorize(user, "vm", vm, op)
    return vm


@method("one.vm.info")
def vm_info(api: Api, user: User, p: Params) -> Any:
    vid = p.integer(0)
    p.opt_bool(1)
    return docs.vm_info_wire(_vm_for(api, user, vid, USE))


def _vm_pool(api: Api, user: User, p: Params) -> list[Any]:
    flag, start, end, state = p.integer(0), p.integer(1), p.integer(2), p.integer(3)
    p.opt_str(4)
    cloud = api.cloud
    if end < -1:
        # A page (-end VMs from offset `start`, newest first) is what econe asks for over and over:
        # walk the ids down and stop when the page is full, instead of filtering and sorting the
        # whole pool per call. Same VMs, same order as `paginate(filtered(...))`.
        shown = cloud.filter_test(user, flag, "vm")
        skip, size = max(start, 0), -end
        page: list[Vm] = []
        for vid in sorted(cloud.vms, reverse=True):
            vm = cloud.vms[vid]
            if (state == -1 and vm.state == VmState.DONE) or (state >= 0 and int(vm.state) != state):
                continue
            if not shown(vm):
                continue
            if skip:
                skip -= 1
                continue
            page.append(vm)
            if len(page) == size:
                break
        return page
    vms: list[Vm] = list(cloud.vms.values())
    if state == -1:
        vms = [v for v in vms if v.state != VmState.DONE]
    elif state >= 0:
        vms = [v for v in vms if int(v.state) == state]
    return cloud.paginate(cloud.filtered(user, vms, flag, "vm"), start, end)


@method("one.vmpool.info")
def vmpool_info(api: Api, user: User, p: Params) -> Any:
    return docs.pool_wire("VM_POOL", (docs.vm_wire(v, full=False) for v in _vm_pool(api, user, p)))


@method("one.vmpool.infoextended")
def vmpool_infoextended(api: Api, user: User, p: Params) -> Any:
    return docs.pool_wire("VM_POOL", (docs.vm_wire(v, full=True) for v in _vm_pool(api, user, p)))


@method("one.vm.allocate", mutating=True)
def vm_allocate(api: Api, user: User, p: Params) -> Any:
    text, hold = p.string(0), p.opt_bool(1)
    return api.cloud.build_vm(user, parse_text(text), hold).id


VM_ACTION_OPS = {"hold": MANAGE, "release": MANAGE, "resched": ADMIN, "unresched": ADMIN}


@method("one.vm.action", mutating=True)
def vm_action(api: Api, user: User, p: Params) -> Any:
    name, vid = p.string(0), p.integer(1)
    vm = api.cloud.vms.get(vid)
    if vm is None:
        raise not_found("vm", vid)
    op = VM_ACTION_OPS.get(name, MANAGE)
    api.cloud.authorize(user, "vm", vm, op)
    api.lc.check_lock(user.id, vm, op)
    api.lc.action(vm, name, user.id, user.gid)
    return vid


@method("one.vm.deploy", mutating=True)
def vm_deploy(api: Api, user: User, p: Params) -> Any:
    vid, hid = p.integer(0), p.integer(1)
    p.opt_bool(2)
    ds = p.opt_int(3, -1)
    vm = _vm_for(api, user, vid, ADMIN)
    host = api.cloud.get("host", api.cloud.hosts, hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    if vm.state not in (VmState.PENDING, VmState.HOLD):
        raise OneFailure(ACTION, f"Deploy action is not available for state {vm.state_label}")
    api.lc.deploy(vm, host, ds)
    return vid


@method("one.vm.update", mutating=True)
def vm_update(api: Api, user: User, p: Params) -> Any:
    vid, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    _update(vm.user_template, text, merge)
    vm.touch()
    return vid


@method("one.vm.lock", mutating=True)
def vm_lock(api: Api, user: User, p: Params) -> Any:
    vid, level = p.integer(0), p.opt_int(1, 1)
    test = p.opt_bool(2)
    vm = _vm_for(api, user, vid, MANAGE)
    if vm.lock is not None and test:
        raise OneFailure(0x0200, f"Error trying to lock the resource VM [{vid}]")
    vm.lock = VmLock(level, user.id, api.cloud.now(), api.cloud.next_request_id())
    vm.touch()
    return vid


@method("one.vm.unlock", mutating=True)
def vm_unlock(api: Api, user: User, p: Params) -> Any:
    vid = p.integer(0)
    vm = _vm_for(api, user, vid, MANAGE)
    vm.lock = None
    vm.touch()
    return vid


@method("one.vm.recover", mutating=True)
def vm_recover(api: Api, user: User, p: Params) -> Any:
    vid, op = p.integer(0), p.integer(1)
    vm = _vm_for(api, user, vid, ADMIN)
    api.lc.recover(vm, op)
    return vid


@method("one.vm.chmod", mutating=True)
def vm_chmod(api: Api, user: User, p: Params) -> Any:
    return _chmod(api, user, p, "vm", api.cloud.vms)


@method("one.vm.chown", mutating=True)
def vm_chown(api: Api, user: User, p: Params) -> Any:
    return _chgrp(api, user, p, "vm", api.cloud.vms)


@method("one.vm.rename", mutating=True)
def vm_rename(api: Api, user: User, p: Params) -> Any:
    vid, name = p.integer(0), p.string(1)
    vm = _vm_for(api, user, vid, MANAGE)
    vm.name = name
    vm.touch()
    return vid


HOTPLUG_STATES = ((VmState.ACTIVE, LcmState.RUNNING), (VmState.POWEROFF, LcmState.LCM_INIT))


def _disks(vm: Vm) -> list[dict[str, str]]:
    return [v for k, v in vm.template if k == "DISK" and isinstance(v, dict)]


@method("one.vm.attach", mutating=True)
def vm_attach(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if (vm.state, vm.lcm_state) not in HOTPLUG_STATES:
        raise OneFailure(ACTION, f"Could not attach a new disk to VM {vid}, wrong state {vm.state_label}.")
    given = next((v for k, v in parse_text(text) if k == "DISK" and isinstance(v, dict)), None)
    if given is None:
        raise OneFailure(INTERNAL, "Wrong format for disk attachment: no DISK vector")
    ids = [int(d.get("DISK_ID", "0")) for d in _disks(vm)]
    context = next((v for k, v in vm.template if k == "CONTEXT" and isinstance(v, dict)), None)
    if context is not None and context.get("DISK_ID", "").isdigit():
        ids.append(int(context["DISK_ID"]))
    disk_id = max(ids, default=-1) + 1
    if "IMAGE_ID" in given or "IMAGE" in given:
        image = api.cloud.image_by_ref(user, given)
        api.cloud.authorize(user, "image", image, USE)
        api.cloud.image_store.check_acquire(image, attach=True)
        disk = api.cloud.image_disk(image, given, disk_id)
        api.cloud.image_store.acquire(image, vid, attach=True)
    else:
        disk = {**given, "DISK_ID": str(disk_id)}
        disk.setdefault("TYPE", "fs")
        disk.setdefault("TARGET", "sd" + chr(ord("a") + disk_id))
    api.lc.attach_disk(vm, disk)
    return vid


@method("one.vm.detach", mutating=True)
def vm_detach(api: Api, user: User, p: Params) -> Any:
    vid, disk_id = p.integer(0), p.integer(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if (vm.state, vm.lcm_state) not in HOTPLUG_STATES:
        raise OneFailure(ACTION, f"Could not detach disk from VM {vid}, wrong state {vm.state_label}.")
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(ACTION, f"Could not detach disk with DISK_ID {disk_id}, it does not exist.")
    api.lc.detach_disk(vm, disk)
    return vid


@method("one.vm.diskresize", mutating=True)
def vm_diskresize(api: Api, user: User, p: Params) -> Any:
    vid, disk_id, size = p.integer(0), p.integer(1), p.string(2)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(ACTION, "VM disk does not exist")
    resize_disk(api.cloud, vm, disk, size)
    return vid


@method("one.vm.disksaveas", mutating=True)
def vm_disksaveas(api: Api, user: User, p: Params) -> Any:
    vid, disk_id, name = p.integer(0), p.integer(1), p.string(2)
    image_type = p.opt_str(3)
    p.opt_int(4, -1)
    vm = _vm_for(api, user, vid, MANAGE)
    if not (vm.state == VmState.ACTIVE and vm.lcm_state == LcmState.RUNNING) and vm.state not in SAVEAS_FROM:
        raise OneFailure(INTERNAL, "VM has to be RUNNING, POWEROFF or SUSPENDED to save disks.")
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not exist.")
    if not disk.get("IMAGE_ID", "").isdigit():
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not have a valid IMAGE_ID.")
    source = api.cloud.images.get(int(disk["IMAGE_ID"]))
    if source is None:
        raise not_found("image", int(disk["IMAGE_ID"]))
    if source.type not in (0, 1, 2):
        raise OneFailure(INTERNAL, f"Cannot save_as image of type {TYPE_NAMES[source.type]}")
    attrs: list[tuple[str, str]] = [
        ("NAME", name),
        ("SIZE", disk.get("SIZE", str(source.size))),
        ("SAVED_IMAGE_ID", str(source.id)),
        ("SAVED_DISK_ID", str(disk_id)),
        ("SAVED_VM_ID", str(vid)),
        ("TYPE", image_type or TYPE_NAMES[source.type]),
    ]
    prefix = get_attr(source.template, "DEV_PREFIX")
    if prefix:
        attrs.append(("DEV_PREFIX", str(prefix)))
    img = api.cloud.allocate_image(user, build_template(attrs), source.datastore_id, copy=False)
    api.cloud.image_store.start_saveas(vm, disk, img.id)
    return img.id


def _running(vm: Vm) -> bool:
    return vm.state == VmState.ACTIVE and vm.lcm_state == LcmState.RUNNING


def _snapshots(vm: Vm) -> list[dict[str, str]]:
    return [v for k, v in vm.template if k == "SNAPSHOT" and isinstance(v, dict)]


@method("one.vm.snapshotcreate", mutating=True)
def vm_snapshotcreate(api: Api, user: User, p: Params) -> Any:
    vid, name = p.integer(0), p.string(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if not _running(vm):
        raise OneFailure(
            ACTION, f"Could not create a new snapshot for VM {vid}, wrong state {vm.state_label}."
        )
    snap_id = max((int(s.get("SNAPSHOT_ID", "0")) for s in _snapshots(vm)), default=-1) + 1
    snap = {"NAME": name or f"snapshot-{snap_id}", "SNAPSHOT_ID": str(snap_id), "TIME": str(api.cloud.now())}
    api.lc.snapshot(vm, "SNAPSHOTCREATE", snap)
    return snap_id


def _snapshot_op(api: Api, user: User, p: Params, action: str, verb: str) -> Any:
    vid, snap_id = p.integer(0), p.integer(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if not _running(vm):
        raise OneFailure(
            ACTION, f"Could not {verb} snapshot {snap_id} of VM {vid}, wrong state {vm.state_label}."
        )
    snap = next((s for s in _snapshots(vm) if s.get("SNAPSHOT_ID") == str(snap_id)), None)
    if snap is None:
        raise OneFailure(ACTION, f"Could not {verb} snapshot {snap_id}, it does not exist.")
    api.lc.snapshot(vm, action, snap)
    return vid


@method("one.vm.snapshotrevert", mutating=True)
def vm_snapshotrevert(api: Api, user: User, p: Params) -> Any:
    return _snapshot_op(api, user, p, "SNAPSHOTREVERT", "revert to")


@method("one.vm.snapshotdelete", mutating=True)
def vm_snapshotdelete(api: Api, user: User, p: Params) -> Any:
    return _snapshot_op(api, user, p, "SNAPSHOTDELETE", "delete")


@method("one.vm.attachnic", mutating=True)
def vm_attachnic(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if (vm.state, vm.lcm_state) not in HOTPLUG_STATES:
        raise OneFailure(ACTION, f"Could not attach a new NIC to VM {vid}, wrong state {vm.state_label}.")
    given = next((v for k, v in parse_text(text) if k == "NIC" and isinstance(v, dict)), None)
    if given is None:
        raise OneFailure(INTERNAL, "Wrong format for NIC attachment: no NIC vector")
    nics = [v for k, v in vm.template if k == "NIC" and isinstance(v, dict)]
    nic_id = max((int(n.get("NIC_ID", "0")) for n in nics), default=-1) + 1
    leases: list[Any] = []
    nic = api.cloud.lease_nic(user, dict(given), vid, nic_id, leases)
    for rng, offset in leases:
        rng.leases[offset] = vid
    api.lc.attach_nic(vm, nic)
    return vid


@method("one.vm.detachnic", mutating=True)
def vm_detachnic(api: Api, user: User, p: Params) -> Any:
    vid, nic_id = p.integer(0), p.integer(1)
    vm = _vm_for(api, user, vid, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    if (vm.state, vm.lcm_state) not in HOTPLUG_STATES:
        raise OneFailure(ACTION, f"Could not detach NIC from VM {vid}, wrong state {vm.state_label}.")
    nic = next(
        (v for k, v in vm.template if k == "NIC" and isinstance(v, dict) and v.get("NIC_ID") == str(nic_id)),
        None,
    )
    if nic is None:
        raise OneFailure(ACTION, f"Could not detach NIC with NIC_ID {nic_id}, it does not exist.")
    api.lc.detach_nic(vm, nic)
    return vid


@method("one.vm.migrate", mutating=True)
def vm_migrate(api: Api, user: User, p: Params) -> Any:
    vid, hid, live = p.integer(0), p.integer(1), p.opt_bool(2)
    p.opt_bool(3)
    p.opt_int(4, -1)
    p.opt_int(5, 0)
    vm = _vm_for(api, user, vid, ADMIN)
    target = api.cloud.get("host", api.cloud.hosts, hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    if not _running(vm):
        raise OneFailure(ACTION, f"Migrate action is not available for state {vm.state_label}")
    if vm.current is not None and vm.current.hid == hid:
        raise OneFailure(ACTION, f"VM is already running on host [{hid}] and datastore [{vm.current.ds_id}]")
    api.lc.migrate(vm, target, live)
    return vid


# Method families kept in their own modules register themselves on import (they use `method` above).
from one_drivers.sim import secgroups, vmconf  # noqa: E402,F401
