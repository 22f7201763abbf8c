"""The methods particular to one kind, beside the generic ones of `methods.py`: system version and
config, users (allocate, password, enable, login tokens, auth driver), hosts (allocate, status) and
datastores, networks (allocate, address ranges, held leases), template instantiate, images (allocate,
persistent, type, clone), and the hooks these kinds give the generic delete and info.
"""

from __future__ import annotations

from typing import Any

from one_drivers.one.states import HostState, ImageType, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import not_found, parse_text
from one_drivers.sim.methods import HOOKS, Api, Handler, Hooks, fetch, method
from one_drivers.sim.model import Attrs, User, merge_attrs
from one_drivers.sim.storage import TYPE_NAMES
from one_drivers.sim.wire import ACTION, INTERNAL, XML_RPC_API, OneFailure, Params


# --- system ---------------------------------------------------------------------------------------
@method("one.system.version")
def system_version(api: Api, user: User, p: Params) -> Any:
    return api.cloud.version


@method("one.system.config")
def system_config(api: Api, user: User, p: Params) -> Any:
    access.require_admin(user, "user", -1)
    return docs.config_xml(api.cloud.version)


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
    target = fetch(api, user, "user", uid, MANAGE)
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
    vnet = fetch(api, user, "vnet", vid, ADMIN)
    for key, value in parse_text(text):
        if key == "AR" and isinstance(value, dict):
            allocate.add_ar(vnet, value)
    return vid


def _lease_op(hold: bool) -> Handler:
    """oned's hold_leases/free_leases: one IP, held as a VM lease of id -1; release frees holds only."""

    def lease_op(api: Api, user: User, p: Params) -> Any:
        vid, text = p.integer(0), p.string(1)
        vnet = fetch(api, user, "vnet", vid, MANAGE)
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
    tmpl = fetch(api, user, "template", tid, USE)
    attrs = [(k, dict(v) if isinstance(v, dict) else v) for k, v in tmpl.template]
    if extra.strip():
        merge_attrs(attrs, parse_text(extra))
    vm_name = name or f"{tmpl.name}-{api.cloud.next_id['vm']}"
    return instantiate.build_vm(api.cloud, user, attrs, hold, template_id=tid, name=vm_name).id


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
    img = fetch(api, user, "image", iid, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, "Cannot change persistent attribute, image in use.")
    img.persistent = int(persistent)
    return iid


@method("one.image.chtype", mutating=True)
def image_chtype(api: Api, user: User, p: Params) -> Any:
    iid, type_name = p.integer(0), p.string(1)
    img = fetch(api, user, "image", iid, MANAGE)
    if type_name.upper() not in ImageType.__members__ or type_name.upper() == "BACKUP":
        raise OneFailure(INTERNAL, f"Unknown value for TYPE: {type_name}")
    img.type = ImageType[type_name.upper()]
    return iid


@method("one.image.clone", mutating=True)
def image_clone(api: Api, user: User, p: Params) -> Any:
    iid, name = p.integer(0), p.string(1)
    ds = p.opt_int(2, -1)
    src = fetch(api, user, "image", iid, USE)
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
