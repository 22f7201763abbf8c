"""The simulator's security groups: `one.secgroup.*`, `one.secgrouppool.info`, `one.vm.attachsg/detachsg`.

As oned 6.10 (SecurityGroup*.cc, DispatchManager::attach_sg): group 0 `default` is there and cannot be
deleted, user groups are numbered from 100 with names unique per owner, RULEs are checked as oned checks
them and duplicates dropped, a group used by VMs cannot be deleted. Not simulated: the `updatesg` driver
round trip of a rule update on a running VM; VMs stay in UPDATED_VMS.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from one_drivers.one.states import LcmState as L
from one_drivers.one.states import VmState
from one_drivers.sim import access, model
from one_drivers.sim.access import USE
from one_drivers.sim.cloud import nic_security_groups, parse_text
from one_drivers.sim.methods import HOOKS, Api, Hooks, method, vm_for
from one_drivers.sim.model import Attrs, SecGroup, User, Vm, get_attr, get_vectors
from one_drivers.sim.wire import ACTION, INTERNAL, OneFailure

INVALID_NAME_CHARS = "&|:\\\";/'#{}$<>\t\n\v\f\r"
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPV6", "IPSEC", "ALL")
_PORTS = re.compile(r"(([0-9]+|[0-9]+:[0-9]+),)*([0-9]+|[0-9]+:[0-9]+)\Z")
# LCM states in which oned refuses to change a VM's groups (rules being applied, or the VM is moving).
SG_BUSY_STATES = frozenset({
    L.BOOT, L.BOOT_MIGRATE, L.BOOT_SUSPENDED, L.BOOT_STOPPED, L.BOOT_UNDEPLOY, L.BOOT_POWEROFF, L.BOOT_UNKNOWN,
    L.BOOT_FAILURE, L.BOOT_MIGRATE_FAILURE, L.BOOT_UNDEPLOY_FAILURE, L.BOOT_STOPPED_FAILURE, L.MIGRATE,
    L.HOTPLUG_NIC, L.HOTPLUG_NIC_POWEROFF, L.UNKNOWN,
})  # fmt: skip


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


# --- methods ------------------------------------------------------------------------------------------
@method("one.secgroup.allocate", mutating=True)
def secgroup_allocate(api: Api, user: User, text: str) -> int:
    cloud, attrs = api.cloud, parse_text(text)
    access.authorize_create(user, "secgroup")
    name = get_attr(attrs, "NAME") or ""
    check_name(name)
    cloud.check_name_free("secgroup", name, user.id)
    template = checked_template([(k, v) for k, v in attrs if k != "NAME"])
    return cloud.add("secgroup", SecGroup, user, name, template=template).id


def _updated(api: Api, sg: SecGroup, attrs: Attrs) -> Attrs:
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


def _deleting(api: Api, sg: SecGroup) -> None:
    if sg.id == 0:
        message = "The default security group (ID 0) cannot be deleted."
        raise OneFailure(ACTION, f"Cannot delete security group. {message}", sg.id)
    if sg.vm_count:
        raise OneFailure(ACTION, "Cannot delete security group. The security group has VMs using it", sg.id)


def _renaming(api: Api, sg: SecGroup, name: str) -> None:
    check_name(name)
    api.cloud.check_name_free("secgroup", name, sg.uid, ACTION, sg.id)


HOOKS["secgroup"] = Hooks(updated=_updated, deleting=_deleting, renaming=_renaming)


def _sg_change(attach: bool) -> Callable[..., int]:
    def sg_change(api: Api, user: User, vm_id: int, nic_id: int, sg_id: int) -> int:
        vm = vm_for(api, user, vm_id)
        sg = api.cloud.secgroups.get(sg_id)
        if attach:
            if sg is None:
                raise OneFailure(ACTION, f"Could not attach SG {sg_id} to VM, SG does not exist")
            access.authorize(user, "secgroup", sg, USE)
        if vm.state is VmState.ACTIVE and vm.lcm_state in SG_BUSY_STATES:
            raise OneFailure(ACTION, f"VM {vm_id} is in wrong state {vm.state_label}")
        nic = model.vector_by_id(vm.template, "NIC", nic_id)
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
            still = any(sg_id in nic_security_groups(v) for v in get_vectors(vm.template, "NIC"))
            sg.drop_vm(vm_id)
            if still:
                sg.updated.append(vm_id)
        return vm_id

    return sg_change


method("one.vm.attachsg", mutating=True)(_sg_change(True))
method("one.vm.detachsg", mutating=True)(_sg_change(False))
