"""The simulator's security groups: `one.secgroup.*`, `one.secgrouppool.info`, `one.vm.attachsg/detachsg`.

Behaviour learned from oned 6.10 (SecurityGroup.cc, SecurityGroupPool.cc, RequestManagerSecurityGroup,
DispatchManager::attach_sg): group 0 `default` exists from the start and cannot be deleted, user groups
are numbered from 100, names are unique per owner, every RULE is checked as oned checks it and duplicate
rules are dropped, and a group used by VMs cannot be deleted. Not simulated: the driver round trip of a
rule update on a running VM (`updatesg`); VMs stay in UPDATED_VMS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from one_drivers.one.states import LcmState, VmState
from one_drivers.sim import docs
from one_drivers.sim.cloud import ACTION, INTERNAL, MANAGE, USE, nic_security_groups, parse_text
from one_drivers.sim.methods import Api, _chgrp, _chmod, _update, _vm_for, method
from one_drivers.sim.model import DEFAULT_PERMS, Attrs, SecGroup, User, get_attr
from one_drivers.sim.wire import OneFailure, Params

INVALID_NAME_CHARS = "&|:\\\";/'#{}$<>\t\n\v\f\r"
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPV6", "IPSEC", "ALL")
_PORTS = re.compile(r"(([0-9]+|[0-9]+:[0-9]+),)*([0-9]+|[0-9]+:[0-9]+)\Z")
# LCM states in which oned refuses to change a VM's groups (rules being applied, or the VM is moving).
SG_BUSY_STATES = frozenset(
    {
        LcmState.BOOT,
        LcmState.BOOT_MIGRATE,
        LcmState.BOOT_SUSPENDED,
        LcmState.BOOT_STOPPED,
        LcmState.BOOT_UNDEPLOY,
        LcmState.BOOT_POWEROFF,
        LcmState.BOOT_UNKNOWN,
        LcmState.BOOT_FAILURE,
        LcmState.BOOT_MIGRATE_FAILURE,
        LcmState.BOOT_UNDEPLOY_FAILURE,
        LcmState.BOOT_STOPPED_FAILURE,
        LcmState.MIGRATE,
        LcmState.HOTPLUG_NIC,
        LcmState.HOTPLUG_NIC_POWEROFF,
        LcmState.UNKNOWN,
    }
)


def secgroup_xml(sg: SecGroup) -> str:
    return (
        f"<SECURITY_GROUP>{docs.owner_xml(sg)}{docs.ids('UPDATED_VMS', sg.updated)}"
        f"{docs.ids('OUTDATED_VMS', sg.outdated)}{docs.ids('UPDATING_VMS', sg.updating)}"
        f"{docs.ids('ERROR_VMS', sg.error)}{docs.template_xml(sg.template)}</SECURITY_GROUP>"
    )


# --- checks (SecurityGroup::is_valid and PoolObjectSQL::name_is_valid) --------------------------------


def check_name(name: str) -> None:
    if not name:
        raise OneFailure(INTERNAL, "Invalid NAME, it cannot be empty")
    bad = next((c for c in name if c in INVALID_NAME_CHARS), None)
    if bad is not None:
        raise OneFailure(INTERNAL, f"Invalid NAME, char '{bad}' is not allowed")
    if len(name) > 128:
        raise OneFailure(INTERNAL, "Invalid NAME, max length is 128 chars")


def _check_ports(value: str) -> None:
    if not _PORTS.match(value):
        raise OneFailure(INTERNAL, "Invalid RANGE specification.")
    count = 0
    for part in value.split(","):
        if ":" in part:
            low, high = (int(x) for x in part.split(":"))
            if high > 65535:
                raise OneFailure(INTERNAL, "RANGE out of bounds 0-65536.")
            if high < low:
                raise OneFailure(INTERNAL, "RANGE BEGIN value is greater than RANGE END value")
            count += 2
        else:
            if int(part) > 65535:
                raise OneFailure(INTERNAL, "RANGE out of bounds 0-65536.")
            count += 1
        if count > 15:
            raise OneFailure(INTERNAL, "Not more than 15 ports can be specified in a RULE")


def check_rule(rule: dict[str, str]) -> None:
    proto = rule.get("PROTOCOL", "").upper()
    if proto not in PROTOCOLS:
        raise OneFailure(
            INTERNAL, "Wrong PROTOCOL in rule. Valid options: TCP, UDP, ICMP, ICMPV6, IPSEC, ALL."
        )
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


def _rule_hash(rule: dict[str, str]) -> str:
    # oned hashes the marshalled vector; any stable text of the same members finds the same duplicates.
    return hashlib.sha1(repr(sorted(rule.items())).encode(), usedforsecurity=False).hexdigest()


def checked_template(attrs: Attrs) -> Attrs:
    """The template with every RULE checked and duplicate rules dropped (first kept)."""
    seen: set[str] = set()
    out: Attrs = []
    for key, value in attrs:
        if key == "RULE" and isinstance(value, dict):
            check_rule(value)
            digest = _rule_hash(value)
            if digest in seen:
                continue
            seen.add(digest)
        out.append((key, value))
    return out


# --- methods ------------------------------------------------------------------------------------------


@method("one.secgroup.allocate", mutating=True)
def secgroup_allocate(api: Api, user: User, p: Params) -> Any:
    text = p.string(0)
    cloud = api.cloud
    attrs = parse_text(text)
    cloud.authorize_create(user, "secgroup")
    name = get_attr(attrs, "NAME") or ""
    check_name(name)
    for sg in cloud.secgroups.values():
        if sg.name == name and sg.uid == user.id:
            raise OneFailure(INTERNAL, f"NAME is already taken by SecurityGroup {sg.id}.")
    template = checked_template([(k, v) for k, v in attrs if k != "NAME"])
    sg_id = cloud.take_id("secgroup")
    cloud.secgroups[sg_id] = SecGroup(
        sg_id, *cloud.owner_fields(user), name, DEFAULT_PERMS, template=template
    )
    return sg_id


@method("one.secgroup.info")
def secgroup_info(api: Api, user: User, p: Params) -> Any:
    sg_id = p.integer(0)
    p.opt_bool(1)
    sg = api.cloud.get("secgroup", api.cloud.secgroups, sg_id)
    api.cloud.authorize(user, "secgroup", sg, USE)
    return secgroup_xml(sg)


@method("one.secgrouppool.info")
def secgrouppool_info(api: Api, user: User, p: Params) -> Any:
    flag, start, end = p.integer(0), p.integer(1), p.integer(2)
    cloud = api.cloud
    groups = cloud.paginate(cloud.filtered(user, cloud.secgroups.values(), flag, "secgroup"), start, end)
    return docs.pool_xml("SECURITY_GROUP_POOL", (secgroup_xml(sg) for sg in groups))


@method("one.secgroup.update", mutating=True)
def secgroup_update(api: Api, user: User, p: Params) -> Any:
    sg_id, text, merge = p.integer(0), p.string(1), p.opt_int(2, 0)
    cloud = api.cloud
    sg = cloud.get("secgroup", cloud.secgroups, sg_id)
    cloud.authorize(user, "secgroup", sg, MANAGE)
    attrs = list(sg.template)
    _update(attrs, text, merge)
    sg.template = checked_template(attrs)  # a bad rule fails the update and changes nothing
    _refresh_vm_rules(api, sg)
    return sg_id


def _refresh_vm_rules(api: Api, sg: SecGroup) -> None:
    """A VM using the group gets its new rules (oned's LCM does this through the driver)."""
    for vm_id in list(sg.updated):
        vm = api.cloud.vms.get(vm_id)
        if vm is None:
            continue
        _set_vm_rules(api, vm)


def _set_vm_rules(api: Api, vm: Any) -> None:
    groups = sorted(
        {g for k, v in vm.template if k == "NIC" and isinstance(v, dict) for g in nic_security_groups(v)}
    )
    rest = [(k, v) for k, v in vm.template if k != "SECURITY_GROUP_RULE"]
    vm.template = rest + [("SECURITY_GROUP_RULE", r) for r in api.cloud.security_group_rules(groups)]
    vm.touch()


@method("one.secgroup.delete", mutating=True)
def secgroup_delete(api: Api, user: User, p: Params) -> Any:
    sg_id = p.integer(0)
    cloud = api.cloud
    sg = cloud.get("secgroup", cloud.secgroups, sg_id)
    cloud.authorize(user, "secgroup", sg, MANAGE)
    if sg_id == 0:
        raise OneFailure(
            ACTION,
            "Cannot delete security group. The default security group (ID 0) cannot be deleted.",
            sg_id,
        )
    if sg.vm_count:
        raise OneFailure(ACTION, "Cannot delete security group. The security group has VMs using it", sg_id)
    del cloud.secgroups[sg_id]
    return sg_id


@method("one.secgroup.chmod", mutating=True)
def secgroup_chmod(api: Api, user: User, p: Params) -> Any:
    return _chmod(api, user, p, "secgroup", api.cloud.secgroups)


@method("one.secgroup.chown", mutating=True)
def secgroup_chown(api: Api, user: User, p: Params) -> Any:
    return _chgrp(api, user, p, "secgroup", api.cloud.secgroups)


@method("one.secgroup.rename", mutating=True)
def secgroup_rename(api: Api, user: User, p: Params) -> Any:
    sg_id, name = p.integer(0), p.string(1)
    cloud = api.cloud
    sg = cloud.get("secgroup", cloud.secgroups, sg_id)
    cloud.authorize(user, "secgroup", sg, MANAGE)
    check_name(name)
    for other in cloud.secgroups.values():
        if other.name == name and other.uid == sg.uid and other.id != sg_id:
            raise OneFailure(ACTION, f"NAME is already taken by SecurityGroup {other.id}.")
    sg.name = name
    return sg_id


def _sg_change(api: Api, user: User, p: Params, attach: bool) -> Any:
    vm_id, nic_id, sg_id = p.integer(0), p.integer(1), p.integer(2)
    cloud = api.cloud
    vm = _vm_for(api, user, vm_id, MANAGE)
    api.lc.check_lock(user.id, vm, MANAGE)
    sg = cloud.secgroups.get(sg_id)
    if attach:
        if sg is None:
            raise OneFailure(ACTION, f"Could not attach SG {sg_id} to VM, SG does not exist")
        cloud.authorize(user, "secgroup", sg, USE)
    if vm.state is VmState.ACTIVE and vm.lcm_state in SG_BUSY_STATES:
        raise OneFailure(ACTION, f"VM {vm_id} is in wrong state {vm.state_label}")
    nic = next(
        (v for k, v in vm.template if k == "NIC" and isinstance(v, dict) and v.get("NIC_ID") == str(nic_id)),
        None,
    )
    if nic is None:
        raise OneFailure(ACTION, f"VM {vm_id} doesn't have NIC id {nic_id}")
    groups = nic_security_groups(nic)
    if attach and sg_id in groups:
        raise OneFailure(ACTION, f"VM {vm_id} SG {sg_id} already in NIC {nic_id}")
    if not attach and sg_id not in groups:
        raise OneFailure(ACTION, f"VM {vm_id} NIC {nic_id} doesn't contain SG {sg_id}")
    new_groups = sorted({*groups, sg_id}) if attach else [g for g in groups if g != sg_id]
    nic["SECURITY_GROUPS"] = ",".join(str(g) for g in new_groups)
    _set_vm_rules(api, vm)
    if sg is not None:
        still = any(
            sg_id in nic_security_groups(v) for k, v in vm.template if k == "NIC" and isinstance(v, dict)
        )
        sg.drop_vm(vm_id)
        if still:
            sg.updated.append(vm_id)
    return vm_id


@method("one.vm.attachsg", mutating=True)
def vm_attachsg(api: Api, user: User, p: Params) -> Any:
    return _sg_change(api, user, p, True)


@method("one.vm.detachsg", mutating=True)
def vm_detachsg(api: Api, user: User, p: Params) -> Any:
    return _sg_change(api, user, p, False)
