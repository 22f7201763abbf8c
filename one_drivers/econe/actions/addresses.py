"""Elastic IPs = the addresses of one OpenNebula network (`elasticips_vnet_id`), handled as the server admin.

An allocated address is an address held in that network (`one.vn.hold`, the source of truth: oned refuses
to hold one address twice) plus upstream's record in the network's template,
`EC2_ADDRESSES = [ IP, UID, VMID ]` (VMID -1 when not associated; we add PRIVATE_IP, NIC_ID and DOMAIN).
`eipalloc-N` / `eipassoc-N` name the address by N = AR_ID * 65536 + its offset in the range. Associating
runs `associate_script <public ip> <private ip> <base64 network XML>` (and disassociating its
counterpart) with an argument list, never a shell, with a timeout and with both IPs checked first; a
script that fails leaves the address as it was.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.instances import load_vm
from one_drivers.econe.actions.vpcs import eni_not_found, format_eni, parse_eni, vm_nics
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    Address as AddressShape,
)
from one_drivers.econe.shapes import (
    AllocateAddressResult,
    AssociateAddressResult,
    DescribeAddressesResult,
    NoOutput,
)
from one_drivers.one.gateway import OneError, OneNotFoundError
from one_drivers.one.records import VnetRecord
from one_drivers.one.states import VmState
from one_drivers.one.template import build_template
from one_drivers.query.errors import (
    Ec2Error,
    address_in_use,
    address_limit_exceeded,
    address_not_found,
    already_associated,
    association_not_found,
    internal_error,
    invalid_parameter_value,
    missing_parameter,
    unsupported,
)
from one_drivers.query.ids import ALLOCATION, ASSOCIATION, INSTANCE

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        AllocateAddressRequestTypeDef,
        AssociateAddressRequestTypeDef,
        DescribeAddressesRequestTypeDef,
        DisassociateAddressRequestTypeDef,
        ReleaseAddressRequestTypeDef,
    )

log = logging.getLogger(__name__)

ADDRESSES_ATTR = "EC2_ADDRESSES"
AR_SPAN = 65536  # addresses per range an allocation id can name
WRITE_ATTEMPTS = 3  # the network template is read-modified-written; a lost race is retried


@dataclass(frozen=True)
class Slot:
    """One public address of the elastic IP network."""

    ip: str
    ar_id: int
    offset: int
    held: bool  # on hold in oned (allocated), whatever the template says

    @property
    def number(self) -> int:
        return self.ar_id * AR_SPAN + self.offset


def _network_id(ctx: RequestContext) -> int:
    vnet_id = ctx.config.elasticips_vnet_id
    if vnet_id is None:
        raise unsupported("Elastic IPs are not configured on this cloud (econe.conf elasticips_vnet_id)")
    return vnet_id


def _read(ctx: RequestContext) -> tuple[VnetRecord, str]:
    return ctx.admin.vn_info_with_text(_network_id(ctx))


def slots(vnet: VnetRecord) -> list[Slot]:
    found: list[Slot] = []
    for ar in vnet.address_ranges:
        try:
            first = ipaddress.IPv4Address(ar.ip)
        except ValueError:
            continue  # IPv6/Ethernet ranges carry no public IPv4 address
        held = {lease.ip for lease in ar.leases if lease.vm == -1}
        for offset in range(min(ar.size, AR_SPAN)):
            ip = str(first + offset)
            found.append(Slot(ip, ar.ar_id, offset, ip in held))
    return found


def records(vnet: VnetRecord) -> dict[str, dict[str, str]]:
    """EC2_ADDRESSES vectors by IP."""
    return {v["IP"]: v for v in vnet.template.vectors(ADDRESSES_ATTR) if v.get("IP")}


def _write(ctx: RequestContext, ip: str, entry: dict[str, str] | None) -> None:
    """Set (or, with None, drop) the record of `ip`; re-read to make sure a concurrent writer kept it."""
    for _ in range(WRITE_ATTEMPTS):
        vnet, _text = _read(ctx)
        current = records(vnet)
        if entry is None:
            current.pop(ip, None)
        else:
            current[ip] = entry
        attrs: list[tuple[str, str | dict[str, str]]] = [
            (k, v) for k, v in vnet.template if k != ADDRESSES_ATTR
        ]
        attrs.extend((ADDRESSES_ATTR, dict(v)) for v in current.values())
        ctx.admin.vn_update(vnet.id, build_template(attrs), append=False)
        after = records(_read(ctx)[0])
        if all(after.get(ip) == v for ip, v in current.items()) and set(after) == set(current):
            return
    log.warning("request %s: elastic IP records kept changing under us", ctx.request_id)
    raise internal_error()


@dataclass(frozen=True)
class Address:
    slot: Slot
    record: dict[str, str]

    @property
    def vm_id(self) -> int:
        text = self.record.get("VMID", "-1")
        return int(text) if text.lstrip("-").isdigit() else -1


def user_addresses(ctx: RequestContext, vnet: VnetRecord) -> list[Address]:
    recs = records(vnet)
    mine = []
    for slot in slots(vnet):
        rec = recs.get(slot.ip)
        if slot.held and rec is not None and rec.get("UID") == str(ctx.user_id):
            mine.append(Address(slot, rec))
    return mine


def find_address(ctx: RequestContext, params: Mapping[str, Any]) -> tuple[VnetRecord, Address]:
    vnet, _ = _read(ctx)
    mine = user_addresses(ctx, vnet)
    if params.get("AllocationId"):
        text = str(params["AllocationId"])
        number = ALLOCATION.parse(text)
        for address in mine:
            if address.slot.number == number:
                return vnet, address
        raise ALLOCATION.not_found(text)
    if params.get("PublicIp"):
        ip = str(params["PublicIp"])
        for address in mine:
            if address.slot.ip == ip:
                return vnet, address
        raise address_not_found(ip)
    raise missing_parameter("AllocationId")


def _live_vm(ctx: RequestContext, vm_id: int) -> bool:
    if vm_id < 0:
        return False
    try:
        vm = ctx.admin.vm_info(vm_id)
    except OneNotFoundError:
        return False
    return vm.state is not VmState.DONE


def address_dict(ctx: RequestContext, address: Address) -> AddressShape:
    number = address.slot.number
    out: AddressShape = {
        "PublicIp": address.slot.ip,
        "AllocationId": ALLOCATION.format(number),
        "Domain": address.record.get("DOMAIN") or "vpc",
        "PublicIpv4Pool": "opennebula",
        "NetworkBorderGroup": ctx.config.region_name,
        "Tags": [],
    }
    # A terminated instance lets its address go, as in EC2 (the record is cleared on the next change).
    if _live_vm(ctx, address.vm_id):
        out["InstanceId"] = INSTANCE.format(address.vm_id)
        out["AssociationId"] = ASSOCIATION.format(number)
        out["PrivateIpAddress"] = address.record.get("PRIVATE_IP", "")
        out["NetworkInterfaceOwnerId"] = str(ctx.user_id)
        nic = address.record.get("NIC_ID", "")
        if nic.isdigit():
            out["NetworkInterfaceId"] = format_eni(address.vm_id, int(nic))
    return out


# --- the scripts ---------------------------------------------------------------------------------------


def _checked_ip(text: str, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise invalid_parameter_value(what, f"'{text}' is not an IPv4 address") from None


def run_script(
    ctx: RequestContext, script: str | None, public_ip: str, private_ip: str, vnet_xml: str
) -> None:
    """Run an (dis)associate script; any failure raises and the caller changes nothing."""
    if not script:
        return
    argv = [
        script,
        _checked_ip(public_ip, "PublicIp"),
        _checked_ip(private_ip, "PrivateIpAddress"),
        base64.b64encode(vnet_xml.encode("utf-8")).decode("ascii"),
    ]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=ctx.config.script_timeout, check=False)
    except subprocess.TimeoutExpired:
        log.error("request %s: %s timed out after %ss", ctx.request_id, script, ctx.config.script_timeout)
        raise internal_error() from None
    except OSError as exc:
        log.error("request %s: cannot run %s: %s", ctx.request_id, script, exc)
        raise internal_error() from None
    if done.returncode != 0:
        log.error(
            "request %s: %s %s %s exited %d: %s",
            ctx.request_id,
            script,
            public_ip,
            private_ip,
            done.returncode,
            done.stderr.decode("utf-8", "replace")[-500:],
        )
        raise internal_error()


# --- handlers ------------------------------------------------------------------------------------------------


def allocate_address(ctx: RequestContext, params: AllocateAddressRequestTypeDef) -> AllocateAddressResult:
    domain = str(params.get("Domain") or "vpc")
    if params.get("Address") or params.get("PublicIpv4Pool") or params.get("IpamPoolId"):
        raise invalid_parameter_value("Address", "addresses come from the cloud's own pool; name none")
    vnet, _ = _read(ctx)
    for slot in slots(vnet):
        if slot.held:
            continue
        try:
            ctx.admin.vn_hold(vnet.id, build_template([("LEASES", {"IP": slot.ip})]))
        except OneError:
            continue  # taken by someone else since we read: try the next one
        entry = {"IP": slot.ip, "UID": str(ctx.user_id), "VMID": "-1", "DOMAIN": domain}
        try:
            _write(ctx, slot.ip, entry)
        except BaseException:
            ctx.admin.vn_release(vnet.id, build_template([("LEASES", {"IP": slot.ip})]))
            raise
        log.info("request %s: address %s allocated to user %s", ctx.request_id, slot.ip, ctx.user)
        return {
            "PublicIp": slot.ip,
            "AllocationId": ALLOCATION.format(slot.number),
            "Domain": domain,
            "PublicIpv4Pool": "opennebula",
            "NetworkBorderGroup": ctx.config.region_name,
        }
    raise address_limit_exceeded()


def _target(ctx: RequestContext, params: Mapping[str, Any]) -> tuple[int, int, str]:
    """(VM id, NIC id, private IP) the address goes to."""
    if params.get("NetworkInterfaceId"):
        text = str(params["NetworkInterfaceId"])
        vm_id, nic_id = parse_eni(text)
        try:
            vm = load_vm(ctx, INSTANCE.format(vm_id))
        except Ec2Error:
            raise eni_not_found(text) from None
        nics = [n for n in vm_nics(vm) if n.get("NIC_ID") == str(nic_id)]
    elif params.get("InstanceId"):
        vm = load_vm(ctx, str(params["InstanceId"]))
        nics = vm_nics(vm)[:1]
    else:
        raise missing_parameter("InstanceId")
    if vm.state is VmState.DONE:
        raise INSTANCE.not_found(INSTANCE.format(vm.id))
    if not nics or not nics[0].get("IP"):
        raise invalid_parameter_value("InstanceId", "the instance has no IPv4 network interface")
    private = str(params.get("PrivateIpAddress") or nics[0]["IP"])
    if private != nics[0]["IP"]:
        raise invalid_parameter_value("PrivateIpAddress", f"{private} is not an address of that interface")
    return vm.id, int(nics[0]["NIC_ID"] or 0), private


def associate_address(ctx: RequestContext, params: AssociateAddressRequestTypeDef) -> AssociateAddressResult:
    _, address = find_address(ctx, params)
    vm_id, nic_id, private_ip = _target(ctx, params)
    _, vnet_xml = _read(ctx)
    if _live_vm(ctx, address.vm_id):
        same = address.vm_id == vm_id and address.record.get("PRIVATE_IP") == private_ip
        if same:
            return {"AssociationId": ASSOCIATION.format(address.slot.number)}
        if not params.get("AllowReassociation"):
            raise already_associated(address.slot.ip)
        run_script(
            ctx,
            ctx.config.disassociate_script,
            address.slot.ip,
            address.record.get("PRIVATE_IP", ""),
            vnet_xml,
        )
    run_script(ctx, ctx.config.associate_script, address.slot.ip, private_ip, vnet_xml)
    entry = {**address.record, "VMID": str(vm_id), "PRIVATE_IP": private_ip, "NIC_ID": str(nic_id)}
    _write(ctx, address.slot.ip, entry)
    log.info("request %s: address %s -> VM %d (%s)", ctx.request_id, address.slot.ip, vm_id, private_ip)
    return {"AssociationId": ASSOCIATION.format(address.slot.number)}


def disassociate_address(ctx: RequestContext, params: DisassociateAddressRequestTypeDef) -> NoOutput:
    if params.get("AssociationId"):
        text = str(params["AssociationId"])
        number = ASSOCIATION.parse(text)
        vnet, _ = _read(ctx)
        found = [a for a in user_addresses(ctx, vnet) if a.slot.number == number and _live_vm(ctx, a.vm_id)]
        if not found:
            raise ASSOCIATION.not_found(text)
        address = found[0]
    else:
        vnet, address = find_address(ctx, params)
        if not _live_vm(ctx, address.vm_id):
            raise association_not_found(address.slot.ip)
    _, vnet_xml = _read(ctx)
    run_script(
        ctx, ctx.config.disassociate_script, address.slot.ip, address.record.get("PRIVATE_IP", ""), vnet_xml
    )
    entry = {k: v for k, v in address.record.items() if k not in ("PRIVATE_IP", "NIC_ID")}
    entry["VMID"] = "-1"
    _write(ctx, address.slot.ip, entry)
    log.info("request %s: address %s disassociated", ctx.request_id, address.slot.ip)
    return {}


def release_address(ctx: RequestContext, params: ReleaseAddressRequestTypeDef) -> NoOutput:
    vnet, address = find_address(ctx, params)
    if _live_vm(ctx, address.vm_id):
        raise address_in_use(f"Address {address.slot.ip} is associated; disassociate it first")
    ctx.admin.vn_release(vnet.id, build_template([("LEASES", {"IP": address.slot.ip})]))
    # The hold is what counts: a record left behind by a failure below reads as free.
    _write(ctx, address.slot.ip, None)
    log.info("request %s: address %s released", ctx.request_id, address.slot.ip)
    return {}


def associations(ctx: RequestContext) -> dict[int, str]:
    """{VM id: elastic IP} of the held, associated addresses (what DescribeInstances shows as public)."""
    if ctx.config.elasticips_vnet_id is None:
        return {}
    vnet, _ = _read(ctx)
    recs = records(vnet)
    found: dict[int, str] = {}
    for slot in slots(vnet):
        rec = recs.get(slot.ip)
        vm_text = rec.get("VMID", "-1") if rec else "-1"
        if slot.held and vm_text.isdigit():
            found[int(vm_text)] = slot.ip
    return found


ADDRESS_FILTERS: dict[str, Callable[[AddressShape], Iterable[str]]] = {
    "public-ip": lambda a: [a["PublicIp"]],
    "allocation-id": lambda a: [a["AllocationId"]],
    "association-id": lambda a: [a.get("AssociationId", "")],
    "instance-id": lambda a: [a.get("InstanceId", "")],
    "domain": lambda a: [a["Domain"]],
    "private-ip-address": lambda a: [a.get("PrivateIpAddress", "")],
    "network-interface-id": lambda a: [a.get("NetworkInterfaceId", "")],
    "network-interface-owner-id": lambda a: [a.get("NetworkInterfaceOwnerId", "")],
    "network-border-group": lambda a: [a["NetworkBorderGroup"]],
    "public-ipv4-pool": lambda a: [a["PublicIpv4Pool"]],
}


def describe_addresses(
    ctx: RequestContext, params: DescribeAddressesRequestTypeDef
) -> DescribeAddressesResult:
    filters = parse_filters(params.get("Filters"), ADDRESS_FILTERS, lambda a: a["Tags"])
    if ctx.config.elasticips_vnet_id is None:
        return {"Addresses": []}  # a cloud without elastic IPs has none to show
    vnet, _ = _read(ctx)
    shown = [address_dict(ctx, a) for a in user_addresses(ctx, vnet)]
    ips = [str(i) for i in params.get("PublicIps") or []]
    allocations = [str(i) for i in params.get("AllocationIds") or []]
    for text in allocations:
        ALLOCATION.parse(text)
        if text not in {a["AllocationId"] for a in shown}:
            raise ALLOCATION.not_found(text)
    for ip in ips:
        if ip not in {a["PublicIp"] for a in shown}:
            raise address_not_found(ip)
    if ips or allocations:
        shown = [a for a in shown if a["PublicIp"] in ips or a["AllocationId"] in allocations]
    return {"Addresses": [a for a in shown if filters.matches(a)]}


HANDLERS: dict[str, Handler] = {
    "AllocateAddress": allocate_address,
    "AssociateAddress": associate_address,
    "DisassociateAddress": disassociate_address,
    "ReleaseAddress": release_address,
    "DescribeAddresses": describe_addresses,
}
