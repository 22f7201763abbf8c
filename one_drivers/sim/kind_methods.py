"""The methods particular to one kind, beside the generic ones of `methods.py`: system version and
config, users (allocate, password, enable, login tokens, auth driver), hosts and datastores, networks
(allocate, address ranges, held leases), template instantiate, images (allocate, persistent, type, clone),
security groups (allocate, a VM's groups), and the hooks these kinds give the generic handlers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from one_drivers.one.states import HostState, ImageType, VmState
from one_drivers.one.states import LcmState as L
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate, model
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import nic_security_groups, parse_text
from one_drivers.sim.methods import HOOKS, Api, Hooks, fetch, method, vm_for
from one_drivers.sim.model import Attrs, Host, Image, SecGroup, User, Vm, VNet, get_attr, get_vectors
from one_drivers.sim.storage import TYPE_NAMES
from one_drivers.sim.wire import ACTION, ALLOCATE, AUTHORIZATION, INTERNAL, NO_EXISTS, OneFailure, RpcFault


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
    if not isinstance(groups, list | tuple):  # xmlrpc-c's getArray, while UserAllocate authorizes
        raise RpcFault(-501, "Parameter that is supposed to be an array is not")
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
        raise OneFailure(ACTION, "Cannot enable/disable oneadmin user")
    if not enable and target.enabled:
        api.cloud.sessions.pop(uid, None)
        target.login_tokens.clear()
    target.enabled = enable
    return uid


@method("one.user.login", mutating=True)
def user_login(api: Api, user: User, name: str, token: str, valid: int, egid: int = -1) -> str:
    """A login token for `username` (MANAGE on that user: itself, or an admin), as UserLogin answers."""
    target = api.cloud.user_by_name(name)
    if target is None:  # no id to name: Request::failure_message's pool form
        raise OneFailure(NO_EXISTS, "Error getting user Pool.")
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
        raise OneFailure(INTERNAL, "Wrong status code")
    old_state = host.state
    api.lc.set_host_state(host, int(new_state))
    if new_state != old_state:
        api.lc.host_status_changed(host, old_state)
    return hid


def _host_deleting(api: Api, host: Host) -> None:
    if any(
        v.state == VmState.ACTIVE and v.current and v.current.hid == host.id for v in api.cloud.vms.values()
    ):
        raise OneFailure(ACTION, "Cannot delete host. Can not remove a host with running VMs")
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
    # VirtualNetwork::add_ar takes the first AR of the template only
    ar = next((v for k, v in parse_text(text) if k == "AR" and isinstance(v, dict)), None)
    if ar is None:
        raise OneFailure(INTERNAL, "Wrong AR definition. AR vector attribute is missing.")
    allocate.add_ar(vnet, ar)
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
        model.merge_attrs(attrs, parse_text(extra))
    vm_name = name or f"{tmpl.name}-{api.cloud.next_id['vm']}"
    try:
        return instantiate.build_vm(api.cloud, user, attrs, hold, template_id=tid, name=vm_name).id
    except OneFailure as failure:
        # what the VM pool refuses is ALLOCATE for the template (VMTemplateInstantiate); rights are
        # checked before it, as they stand
        if failure.code == AUTHORIZATION:
            raise
        raise OneFailure(
            ALLOCATE, f"Error allocating a new virtual machine template. {failure.message}"
        ) from None


# --- images ---------------------------------------------------------------------------------------
@method("one.image.allocate", mutating=True, unused="bool")  # no capacity check
def image_allocate(api: Api, user: User, text: str, ds: int) -> int:
    return allocate.allocate_image(api.cloud, user, text, ds).id


def _image_deleting(api: Api, img: Image) -> None:
    if img.vms:
        raise OneFailure(ACTION, f"Cannot delete image. There are {len(img.vms)} VMs using it.")


HOOKS["image"] = Hooks(deleting=_image_deleting)


@method("one.image.persistent", mutating=True)
def image_persistent(api: Api, user: User, iid: int, persistent: bool) -> int:
    img = fetch(api, user, "image", iid, MANAGE)
    if img.vms:
        raise OneFailure(ACTION, "Cannot change persistent attribute, image in use.")
    img.persistent = int(persistent)
    return iid


# ImageChangeType: a type changes only within its family (the simulator has no BACKUP images)
_TYPE_FAMILIES = (
    {ImageType.OS, ImageType.DATABLOCK, ImageType.CDROM},
    {ImageType.KERNEL, ImageType.RAMDISK, ImageType.CONTEXT},
)


@method("one.image.chtype", mutating=True)
def image_chtype(api: Api, user: User, iid: int, type_name: str) -> int:
    img = fetch(api, user, "image", iid, MANAGE)
    asked = (type_name or "OS").upper()
    target = ImageType.__members__.get(asked, ImageType.OS)  # str_to_type reads an unknown name as OS
    if not any(img.type in family and target in family for family in _TYPE_FAMILIES):
        message = "Cannot change image type to an incompatible type for the current datastore."
        raise OneFailure(ACTION, message)
    if asked not in ImageType.__members__:
        # Image::set_type appends the image's type to the literal: a pointer offset, not a number
        raise OneFailure(INTERNAL, "Unknown type "[int(img.type) :])
    img.type = target
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


# --- security groups ------------------------------------------------------------------------------
# As oned 6.10 (SecurityGroup*.cc, DispatchManager::attach_sg): group 0 `default` is there and cannot be
# deleted, user groups are numbered from 100 with names unique per owner, RULEs are checked as oned
# checks them and duplicates dropped, a group used by VMs cannot be deleted. Not simulated: the `updatesg`
# driver round trip of a rule update on a running VM; VMs stay in UPDATED_VMS.
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPV6", "IPSEC", "ALL")
_PORTS = re.compile(r"(([0-9]+|[0-9]+:[0-9]+),)*([0-9]+|[0-9]+:[0-9]+)\Z")
# LCM states in which oned refuses to change a VM's groups (rules being applied, or the VM is moving).
SG_BUSY_STATES = frozenset({
    L.BOOT, L.BOOT_MIGRATE, L.BOOT_SUSPENDED, L.BOOT_STOPPED, L.BOOT_UNDEPLOY, L.BOOT_POWEROFF, L.BOOT_UNKNOWN,
    L.BOOT_FAILURE, L.BOOT_MIGRATE_FAILURE, L.BOOT_UNDEPLOY_FAILURE, L.BOOT_STOPPED_FAILURE, L.MIGRATE,
    L.HOTPLUG_NIC, L.HOTPLUG_NIC_POWEROFF, L.UNKNOWN,
})  # fmt: skip


# checks: SecurityGroup::is_valid
def _check_ports(value: str) -> None:
    if not _PORTS.match(value):
        raise OneFailure(INTERNAL, "Invalid RANGE specification.")
    count = 0
    for part in value.split(","):
        low, _, high = part.partition(":")
        if int(high or low) > 65535:
            raise OneFailure(INTERNAL, "RANGE out of bounds 0-65536.")
        if high and int(high) < int(low):
            raise OneFailure(INTERNAL, "RANGE BEGIN value is greater than RANGE END value")
        count += 2 if high else 1
        if count > 15:
            raise OneFailure(INTERNAL, "Not more than 15 ports can be specified in a RULE")


def check_rule(rule: dict[str, str]) -> None:
    proto = rule.get("PROTOCOL", "").upper()
    if proto not in PROTOCOLS:
        raise OneFailure(INTERNAL, f"Wrong PROTOCOL in rule. Valid options: {', '.join(PROTOCOLS)}.")
    ports = rule.get("RANGE", "")
    if ports and proto not in ("TCP", "UDP"):
        raise OneFailure(INTERNAL, "RANGE is supported only for TCP and UDP protocols.")
    if ports:
        _check_ports(ports)
    for attr, needs in (("ICMP_TYPE", "ICMP"), ("ICMPV6_TYPE", "ICMPV6")):
        value = rule.get(attr, "")
        if value:
            if proto != needs:
                raise OneFailure(INTERNAL, f"{attr} is supported only for {needs} protocol.")
            if not value.isdigit():
                raise OneFailure(INTERNAL, f"Wrong {attr}, it must be integer")
    if rule.get("RULE_TYPE", "").upper() not in ("INBOUND", "OUTBOUND"):
        raise OneFailure(INTERNAL, "Wrong RULE_TYPE in rule. Valid options: INBOUND, OUTBOUND.")
    ip = rule.get("IP", "")
    if ip:
        if not rule.get("SIZE", "").isdigit():
            raise OneFailure(INTERNAL, "Wrong or empty SIZE.")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise OneFailure(INTERNAL, "Wrong format for IP value.") from None
    elif "NETWORK_ID" in rule and not re.fullmatch(r"-?[0-9]+", rule["NETWORK_ID"]):
        raise OneFailure(INTERNAL, "Wrong NETWORK_ID.")


def checked_template(attrs: Attrs) -> Attrs:
    """The template with every RULE checked and duplicate rules dropped (first kept)."""
    seen: set[frozenset[tuple[str, str]]] = set()
    out: Attrs = []
    for key, value in attrs:
        if key == "RULE" and isinstance(value, dict):
            check_rule(value)
            members = frozenset(value.items())  # oned hashes the marshalled vector: the same members
            if members in seen:
                continue
            seen.add(members)
        out.append((key, value))
    return out


@method("one.secgroup.allocate", mutating=True)
def secgroup_allocate(api: Api, user: User, text: str) -> int:
    cloud, attrs = api.cloud, parse_text(text)
    access.authorize_create(user, "secgroup")
    name = get_attr(attrs, "NAME") or ""
    allocate.check_name(name)
    cloud.check_name_free("secgroup", name, user.id)
    template = checked_template([(k, v) for k, v in attrs if k != "NAME"])
    return cloud.add("secgroup", SecGroup, user, name, template=template).id


def _sg_updated(api: Api, sg: SecGroup, attrs: Attrs) -> Attrs:
    """A bad rule fails the update and changes nothing; VMs using the group get the new rules (oned's
    LCM does this through the driver)."""
    sg.template = checked_template(attrs)
    for vm in filter(None, map(api.cloud.vms.get, list(sg.updated))):
        _set_vm_rules(api, vm)
    return sg.template


def _set_vm_rules(api: Api, vm: Vm) -> None:
    groups = sorted({g for v in get_vectors(vm.template, "NIC") for g in nic_security_groups(v)})
    rest = [(k, v) for k, v in vm.template if k != "SECURITY_GROUP_RULE"]
    vm.template = rest + [("SECURITY_GROUP_RULE", r) for r in api.cloud.security_group_rules(groups)]
    vm.touch()


def _sg_deleting(api: Api, sg: SecGroup) -> None:
    if sg.id == 0:
        message = "The default security group (ID 0) cannot be deleted."
        raise OneFailure(ACTION, f"Cannot delete security group. {message}", sg.id)
    if sg.vm_count:
        raise OneFailure(ACTION, "Cannot delete security group. The security group has VMs using it", sg.id)


def _sg_renaming(api: Api, sg: SecGroup, name: str) -> None:
    # RequestManagerRename: a name the owner already has is refused (then set_name checks it)
    taken = api.cloud.name_holder("secgroup", name, sg.uid)
    if taken is not None:
        message = f"security group cannot be renamed to {name} because it collides with security group"
        raise OneFailure(ACTION, f"{message} {taken}")


HOOKS["secgroup"] = Hooks(updated=_sg_updated, deleting=_sg_deleting, renaming=_sg_renaming)


def _sg_change(attach: bool) -> Callable[..., int]:
    def sg_change(api: Api, user: User, vm_id: int, nic_id: int, sg_id: int) -> int:
        nic = model.vector_by_id(api.cloud.get("vm", vm_id).template, "NIC", nic_id)
        no_nic = f"VM {vm_id} doesn't have NIC id {nic_id}"
        if attach and nic is None:  # VirtualMachineAttachSG looks for the NIC before asking any right
            raise OneFailure(INTERNAL, no_nic)
        vm = vm_for(api, user, vm_id)
        sg = api.cloud.secgroups.get(sg_id)
        if attach and sg is not None:
            access.authorize(user, "secgroup", sg, USE)
        if attach and sg is None:
            raise OneFailure(ACTION, f"Could not attach SG {sg_id} to VM, SG does not exist")
        if vm.state is VmState.ACTIVE and vm.lcm_state in SG_BUSY_STATES:
            raise OneFailure(ACTION, f"VM {vm_id} is in wrong state {vm.state_label}")
        if nic is None:
            raise OneFailure(ACTION, no_nic)
        groups = nic_security_groups(nic)
        if attach and sg_id in groups:
            raise OneFailure(ACTION, f"VM {vm_id} SG {sg_id} already in NIC {nic_id}")
        if not attach and sg_id not in groups:
            raise OneFailure(ACTION, f"VM {vm_id} NIC {nic_id} doesn't contain SG {sg_id}")
        new_groups = sorted({*groups, sg_id}) if attach else [g for g in groups if g != sg_id]
        nic["SECURITY_GROUPS"] = ",".join(str(g) for g in new_groups)
        _set_vm_rules(api, vm)
        if sg is not None:  # the group's VM lists: the VM stays in UPDATED_VMS while a NIC still uses it
            sg.drop_vm(vm_id)
            if any(sg_id in nic_security_groups(v) for v in get_vectors(vm.template, "NIC")):
                sg.updated.append(vm_id)
        return vm_id

    return sg_change


method("one.vm.attachsg", mutating=True)(_sg_change(True))
method("one.vm.detachsg", mutating=True)(_sg_change(False))
