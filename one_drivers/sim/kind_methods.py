"""The methods particular to one kind, beside the generic ones of `methods.py`: system version and
config, users (allocate, password, enable, login tokens, auth driver), hosts (allocate, status) and
datastores, networks (allocate, address ranges, held leases), template instantiate, images (allocate,
persistent, type, clone), and the hooks these kinds give the generic delete and info.
"""

from __future__ import annotations

from collections.abc import Callable

from one_drivers.one.states import HostState, ImageType, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import not_found, parse_text
from one_drivers.sim.methods import HOOKS, Api, Hooks, fetch, method
from one_drivers.sim.model import Host, Image, User, VNet, merge_attrs
from one_drivers.sim.storage import TYPE_NAMES
from one_drivers.sim.wire import ACTION, INTERNAL, XML_RPC_API, OneFailure


# --- system ---------------------------------------------------------------------------------------
@method("one.system.version")
def system_version(api: Api, user: User) -> str:
    return api.cloud.version


@method("one.system.config")
def system_config(api: Api, user: User) -> str:
    access.require_admin(user, "user", -1)
    return docs.config_xml(api.cloud.version)


# --- users ----------------------------------------------------------------------------------------
@method("one.user.allocate", mutating=True)
def user_allocate(api: Api, user: User, name: str, password: str, driver: str, groups: object = ()) -> int:
    if not isinstance(groups, list | tuple):
        raise OneFailure(XML_RPC_API, "groups must be an array")
    access.require_admin(user, "user", -1, MANAGE)
    return allocate.allocate_user(api.cloud, name, password, driver, [int(g) for g in groups]).id


@method("one.user.passwd", mutating=True)
def user_passwd(api: Api, user: User, uid: int, password: str) -> int:
    allocate.set_password(api.cloud, fetch(api, user, "user", uid, MANAGE), password)
    return uid


@method("one.user.enable", mutating=True)
def user_enable(api: Api, user: User, uid: int, enable: bool) -> int:
    """UserEnable: ADMIN on the user; disabling drops its cached session and login tokens."""
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
def user_login(api: Api, user: User, name: str, token: str, valid: int, egid: int = -1) -> str:
    """A login token for `username` (MANAGE on that user: itself, or an admin), as UserLogin answers."""
    target = api.cloud.user_by_name(name)
    if target is None:
        raise not_found("user", -1)
    access.check(user, "user", target, MANAGE)
    return access.user_login(api.cloud, target, token, valid, egid)


@method("one.user.chauth", mutating=True)
def user_chauth(api: Api, user: User, uid: int, driver: str, password: str = "") -> int:
    target = api.cloud.get("user", uid)
    access.require_admin(user, "user", uid, ADMIN)
    target.auth_driver = driver
    if password:
        allocate.set_password(api.cloud, target, password)
    return uid


# --- hosts and datastores -------------------------------------------------------------------------
@method("one.datastore.allocate", mutating=True)
def datastore_allocate(api: Api, user: User, text: str, cluster: int = -1) -> int:
    access.require_admin(user, "datastore", -1, MANAGE)
    return allocate.allocate_datastore(api.cloud, user, parse_text(text), cluster).id


@method("one.host.allocate", mutating=True)
def host_allocate(api: Api, user: User, name: str, im: str, vmm: str, cluster: int = -1) -> int:
    access.require_admin(user, "host", -1, MANAGE)
    host = allocate.allocate_host(api.cloud, name, im, vmm, cluster)
    api.lc.host_added(host)
    return host.id


@method("one.host.status", mutating=True)
def host_status(api: Api, user: User, hid: int, status: int) -> int:
    host = api.cloud.get("host", hid)
    access.require_admin(user, "host", hid, ADMIN)
    # 0 enable, 1 disable, 2 offline. Host::enable: a DISABLED host with capacity is MONITORED again,
    # any other becomes INIT (monitoring sets it MONITORED).
    monitored = host.state == HostState.DISABLED and host.total_cpu > 0
    enabled = HostState.MONITORED if monitored else HostState.INIT
    new_state = {0: enabled, 1: HostState.DISABLED, 2: HostState.OFFLINE}.get(status)
    if new_state is None:
        raise OneFailure(ACTION, "Wrong status code")
    old_state = host.state
    api.lc.set_host_state(host, int(new_state))
    if new_state != old_state:
        api.lc.host_status_changed(host, old_state)
    return hid


def _host_deleting(api: Api, host: Host) -> None:
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
def vn_allocate(api: Api, user: User, text: str, cluster: int = -1) -> int:
    return allocate.allocate_vnet(api.cloud, user, text, cluster).id


@method("one.vn.add_ar", mutating=True)
def vn_add_ar(api: Api, user: User, vid: int, text: str) -> int:
    vnet = fetch(api, user, "vnet", vid, ADMIN)
    for key, value in parse_text(text):
        if key == "AR" and isinstance(value, dict):
            allocate.add_ar(vnet, value)
    return vid


def _lease_op(hold: bool) -> Callable[..., int]:
    """oned's hold_leases/free_leases: one IP, held as a VM lease of id -1; release frees holds only."""

    def lease_op(api: Api, user: User, vid: int, text: str) -> int:
        vnet = fetch(api, user, "vnet", vid, MANAGE)
        lease = next((v for k, v in parse_text(text) if k == "LEASES" and isinstance(v, dict)), None)
        if lease is None:
            raise OneFailure(INTERNAL, "Empty lease description.")
        given = [k for k in ("IP", "IP6", "MAC") if lease.get(k)]
        if len(given) != 1:
            message = "Only one attribute MAC, IP or IP6 can be set." if given else "Missing MAC, IP or IP6."
            raise OneFailure(INTERNAL, message)
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


def _vn_deleting(api: Api, vnet: VNet) -> None:
    # oned 6.10 (VirtualNetworkDelete): refused while any lease is in use.
    if any(rng.leases for rng in vnet.ars):
        message = "Can not remove a virtual network with leases in use"
        raise OneFailure(ACTION, f"Cannot delete virtual network. {message}")


HOOKS["vnet"] = Hooks(deleting=_vn_deleting)


# --- templates ------------------------------------------------------------------------------------
@method("one.template.allocate", mutating=True)
def template_allocate(api: Api, user: User, text: str) -> int:
    return allocate.allocate_template(api.cloud, user, text).id


@method("one.template.instantiate", mutating=True, unused="bool")  # persistent
def template_instantiate(
    api: Api, user: User, tid: int, name: str, hold: bool = False, extra: str = ""
) -> int:
    tmpl = fetch(api, user, "template", tid, USE)
    attrs = [(k, dict(v) if isinstance(v, dict) else v) for k, v in tmpl.template]
    if extra.strip():
        merge_attrs(attrs, parse_text(extra))
    vm_name = name or f"{tmpl.name}-{api.cloud.next_id['vm']}"
    return instantiate.build_vm(api.cloud, user, attrs, hold, template_id=tid, name=vm_name).id


# --- images ---------------------------------------------------------------------------------------
@method("one.image.allocate", mutating=True, unused="bool")  # no capacity check
def image_allocate(api: Api, user: User, text: str, ds: int) -> int:
    return allocate.allocate_image(api.cloud, user, text, ds).id


def _image_deleting(api: Api, img: Image) -> None:
    if img.vms:
        raise OneFailure(ACTION, f"Cannot delete image: image is used by VMs {img.vms}")


HOOKS["image"] = Hooks(deleting=_image_deleting)


@method("one.image.persistent", mutating=True)
def image_persistent(api: Api, user: User, iid: int, persistent: bool) -> int:
    img = fetch(api, user, "image", iid, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, "Cannot change persistent attribute, image in use.")
    img.persistent = int(persistent)
    return iid


@method("one.image.chtype", mutating=True)
def image_chtype(api: Api, user: User, iid: int, type_name: str) -> int:
    img = fetch(api, user, "image", iid, MANAGE)
    if type_name.upper() not in ImageType.__members__ or type_name.upper() == "BACKUP":
        raise OneFailure(INTERNAL, f"Unknown value for TYPE: {type_name}")
    img.type = ImageType[type_name.upper()]
    return iid


@method("one.image.clone", mutating=True)
def image_clone(api: Api, user: User, iid: int, name: str, ds: int = -1) -> int:
    src = fetch(api, user, "image", iid, USE)
    api.cloud.image_store.check_clone(src)
    # oned copies the source's template (clone_template); the clone is not persistent by default.
    own = [("NAME", name), ("TYPE", TYPE_NAMES[src.type]), ("SIZE", str(src.size)), ("FORMAT", src.format)]
    inherited = [(k, v) for k, v in src.template if k != "CLONING_ID"]
    text = build_template([*own, ("CLONING_ID", str(src.id)), *inherited])
    img = allocate.allocate_image(api.cloud, user, text, ds if ds >= 0 else src.datastore_id, copy=False)
    api.cloud.image_store.start_clone(src, img.id)
    return img.id
