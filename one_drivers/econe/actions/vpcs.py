"""A VPC face on OpenNebula networks: one VPC per econe region, subnets = the virtual networks a user may use.

`subnet-%08d` is virtual network N (the elastic IP network excepted); its CIDR is the network's
NETWORK_ADDRESS/NETWORK_MASK when set, else the smallest block covering its IPv4 address ranges, and its
free address count comes from the ranges' sizes and used leases. Instances show their NICs as network
interfaces (`eni-<vm id:08x><nic id:04x>`). RunInstances' SubnetId, PrivateIpAddress, SecurityGroup(Id)s
and NetworkInterfaces become the NICs of the new VM (`launch_nics`). VPCs and subnets cannot be created or
deleted through econe: the cloud's administrator makes networks in OpenNebula.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.tagging import (
    TaggableKind,
    TaggedResource,
    register_kind,
    tags_from_template,
    tags_template,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DescribeNetworkInterfacesResult,
    DescribeSubnetsResult,
    DescribeVpcsResult,
    Instance,
    InstanceNetworkInterface,
    NetworkInterface,
    NetworkInterfaceAttachment,
    Subnet,
    Tag,
    Vpc,
)
from one_drivers.one.gateway import OneAuthorizationError, OneNotFoundError
from one_drivers.one.records import (
    TemplateRecord,
    VmRecord,
    VnetRecord,
)
from one_drivers.query.errors import (
    Ec2Error,
    address_in_use,
    invalid_combination,
    invalid_parameter_value,
    malformed_id,
    missing_value,
    not_found,
    unauthorized_operation,
    unsupported,
)
from one_drivers.query.ids import INSTANCE, SECURITY_GROUP, SUBNET

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeNetworkInterfacesRequestTypeDef,
        DescribeSubnetsRequestTypeDef,
        DescribeVpcsRequestTypeDef,
        GroupIdentifierTypeDef,
    )

DEFAULT_VPC_CIDR = "10.0.0.0/16"  # shown when no subnet has an IPv4 range to cover
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?\Z")
_ENI = re.compile(r"eni-([0-9a-f]{8})([0-9a-f]{4})\Z")
_ENI_LIKE = re.compile(r"eni-[0-9a-f]{1,17}\Z")


def vpc_id(ctx: RequestContext) -> str:
    return ctx.config.vpc_id


def check_vpc_id(ctx: RequestContext, text: str) -> None:
    if not _VPC_ID.match(text):
        raise malformed_id("VpcID", text)
    if text != vpc_id(ctx):
        raise not_found("VpcID", "vpc ID", text)


# --- subnets ------------------------------------------------------------------------------------------


def _int_ip(text: str) -> int | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return int(address) if address.version == 4 else None


def subnet_cidr(vnet: VnetRecord) -> str | None:
    address = vnet.template.get("NETWORK_ADDRESS") or ""
    mask = vnet.template.get("NETWORK_MASK") or ""
    if address and mask:
        try:
            return str(ipaddress.ip_network(f"{address}/{mask}", strict=False))
        except ValueError:
            pass  # a hand-written template: fall back to the ranges
    low: int | None = None
    high: int | None = None
    for ar in vnet.address_ranges:
        first = _int_ip(ar.ip)
        if first is None or ar.size <= 0:
            continue
        last = first + ar.size - 1
        low = first if low is None else min(low, first)
        high = last if high is None else max(high, last)
    if low is None or high is None:
        return None
    prefix = 32 - (low ^ high).bit_length()
    return str(ipaddress.ip_network(f"{ipaddress.ip_address(low)}/{prefix}", strict=False))


def _available(vnet: VnetRecord) -> int:
    size = sum(ar.size for ar in vnet.address_ranges if _int_ip(ar.ip) is not None)
    return max(size - vnet.used_leases, 0)


def subnet_dict(ctx: RequestContext, vnet: VnetRecord) -> Subnet:
    zone = ctx.config.zone_name
    subnet: Subnet = {
        "SubnetId": SUBNET.format(vnet.id),
        "VpcId": vpc_id(ctx),
        "State": "available",
        "AvailabilityZone": zone,
        "AvailabilityZoneId": f"{zone}-az1",
        "AvailableIpAddressCount": _available(vnet),
        "DefaultForAz": vnet.id == ctx.config.default_subnet_id,
        "MapPublicIpOnLaunch": False,
        "OwnerId": str(vnet.uid),
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tags_from_template(vnet.template),
    }
    cidr = subnet_cidr(vnet)
    if cidr is not None:
        subnet["CidrBlock"] = cidr
    return subnet


def usable_vnets(ctx: RequestContext) -> list[VnetRecord]:
    """The networks the user may use, oldest first, without the elastic IP network."""
    vnets = ctx.one.vnpool_info(-2, -1, -1)
    hidden = ctx.config.elasticips_vnet_id
    return sorted((v for v in vnets if v.id != hidden), key=lambda v: v.id)


def load_subnet(ctx: RequestContext, text: str) -> VnetRecord:
    number = SUBNET.parse(text)
    if number == ctx.config.elasticips_vnet_id:
        raise SUBNET.not_found(text)
    try:
        return ctx.one.vn_info(number)
    except (OneNotFoundError, OneAuthorizationError):
        raise SUBNET.not_found(text) from None


SUBNET_FILTERS: dict[str, Callable[[Subnet], Iterable[str]]] = {
    "subnet-id": lambda s: [s["SubnetId"]],
    "vpc-id": lambda s: [s["VpcId"]],
    "cidr-block": lambda s: [s.get("CidrBlock", "")],
    "cidr": lambda s: [s.get("CidrBlock", "")],
    "cidrBlock": lambda s: [s.get("CidrBlock", "")],
    "default-for-az": lambda s: [str(s["DefaultForAz"]).lower()],
    "defaultForAz": lambda s: [str(s["DefaultForAz"]).lower()],
    "availability-zone": lambda s: [s["AvailabilityZone"]],
    "availabilityZone": lambda s: [s["AvailabilityZone"]],
    "availability-zone-id": lambda s: [s["AvailabilityZoneId"]],
    "available-ip-address-count": lambda s: [str(s["AvailableIpAddressCount"])],
    "state": lambda s: [s["State"]],
    "owner-id": lambda s: [s["OwnerId"]],
    "map-public-ip-on-launch": lambda s: [str(s["MapPublicIpOnLaunch"]).lower()],
}


def describe_subnets(ctx: RequestContext, params: DescribeSubnetsRequestTypeDef) -> DescribeSubnetsResult:
    filters = parse_filters(params.get("Filters"), SUBNET_FILTERS, lambda s: s["Tags"])
    ids = [str(i) for i in params.get("SubnetIds") or []]
    if ids:
        vnets = [load_subnet(ctx, text) for text in dict.fromkeys(ids)]
    else:
        vnets = usable_vnets(ctx)
    subnets = [subnet_dict(ctx, v) for v in vnets]
    return {"Subnets": [s for s in subnets if filters.matches(s)]}


# --- the VPC ------------------------------------------------------------------------------------------


def vpc_cidr(ctx: RequestContext, vnets: Iterable[VnetRecord]) -> str:
    if ctx.config.vpc_cidr:
        return ctx.config.vpc_cidr
    blocks = [ipaddress.ip_network(c) for c in (subnet_cidr(v) for v in vnets) if c]
    if not blocks:
        return DEFAULT_VPC_CIDR
    low = min(int(b.network_address) for b in blocks)
    high = max(int(b.broadcast_address) for b in blocks)
    prefix = 32 - (low ^ high).bit_length()
    return str(ipaddress.ip_network(f"{ipaddress.ip_address(low)}/{prefix}", strict=False))


VPC_FILTERS: dict[str, Callable[[Vpc], Iterable[str]]] = {
    "vpc-id": lambda v: [v["VpcId"]],
    "is-default": lambda v: [str(v["IsDefault"]).lower()],
    "isDefault": lambda v: [str(v["IsDefault"]).lower()],
    "state": lambda v: [v["State"]],
    "cidr": lambda v: [v["CidrBlock"]],
    "cidr-block-association.cidr-block": lambda v: [v["CidrBlock"]],
    "owner-id": lambda v: [v["OwnerId"]],
    "dhcp-options-id": lambda v: [v["DhcpOptionsId"]],
}


def describe_vpcs(ctx: RequestContext, params: DescribeVpcsRequestTypeDef) -> DescribeVpcsResult:
    filters = parse_filters(params.get("Filters"), VPC_FILTERS, lambda v: v["Tags"])
    for text in params.get("VpcIds") or []:
        check_vpc_id(ctx, str(text))
    cidr = vpc_cidr(ctx, usable_vnets(ctx))
    vpc: Vpc = {
        "VpcId": vpc_id(ctx),
        "CidrBlock": cidr,
        "State": "available",
        "IsDefault": True,
        "DhcpOptionsId": "default",
        "InstanceTenancy": "default",
        "OwnerId": str(ctx.user_id),
        "CidrBlockAssociationSet": [
            {
                "AssociationId": f"vpc-cidr-assoc-{vpc_id(ctx)[4:]}",
                "CidrBlock": cidr,
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "Tags": [],
    }
    return {"Vpcs": [vpc] if filters.matches(vpc) else []}


def _not_here(what: str) -> Handler:
    def refuse(ctx: RequestContext, params: dict[str, Any]) -> NoReturn:
        raise unsupported(
            f"{what} is not available on this cloud: it has one VPC ({vpc_id(ctx)}), and its subnets are "
            "the OpenNebula virtual networks the administrator lets you use"
        )

    return refuse


# --- instances' network interfaces ------------------------------------------------------------------


def format_eni(vm_id: int, nic_id: int) -> str:
    return f"eni-{vm_id:08x}{nic_id:04x}"


def parse_eni(text: str) -> tuple[int, int]:
    m = _ENI.match(text)
    if not m:
        if _ENI_LIKE.match(text):
            raise eni_not_found(text)
        raise malformed_id("NetworkInterfaceID", text)
    return int(m.group(1), 16), int(m.group(2), 16)


def eni_not_found(text: str) -> Ec2Error:
    return not_found("NetworkInterfaceID", "networkInterface ID", text)


def nic_groups(text: str) -> list[int]:
    # Group 0 is OpenNebula's own `default`, on every network: it is the network's baseline, not an EC2 group.
    return sorted({int(g) for g in text.split(",") if g.strip().isdigit() and int(g) != 0})


@dataclass
class NicView:
    """Builds the network part of instances for one request; group names are read once, when needed."""

    ctx: RequestContext
    _names: dict[int, str] | None = field(default=None, repr=False)
    _elastic: dict[int, str] | None = field(default=None, repr=False)

    def elastic_ip(self, vm_id: int) -> str | None:
        """The elastic IP associated with the VM (the elastic IP network is read once per request)."""
        if self._elastic is None:
            from one_drivers.econe.actions.addresses import associations

            self._elastic = associations(self.ctx)
        return self._elastic.get(vm_id)

    def group_name(self, sg_id: int) -> str:
        if self._names is None:
            pool = self.ctx.one.secgrouppool_info(-2, -1, -1)
            self._names = {g.id: g.name for g in pool}
        return self._names.get(sg_id, "")

    def groups(self, ids: Iterable[int]) -> list[GroupIdentifierTypeDef]:
        return [{"GroupName": self.group_name(g), "GroupId": SECURITY_GROUP.format(g)} for g in ids]


NIC_PATHS = ("NIC/NIC_ID", "NIC/NETWORK_ID", "NIC/IP", "NIC/MAC", "NIC/SECURITY_GROUPS")
_NIC_PATHS = NIC_PATHS


def vm_nics(vm: VmRecord, walked: Mapping[str, list[str]] | None = None) -> list[dict[str, str]]:
    """Each NIC's members econe shows, from one walk of the VM's TEMPLATE (or one already made that
    covered NIC_PATHS: DescribeInstances reads them in the same walk as the rest of an instance)."""
    values = walked if walked is not None else vm.template_values_of(_NIC_PATHS)
    nics = vm.template.vectors("NIC") if len({len(values[p]) for p in _NIC_PATHS}) > 1 else None
    if nics is not None:  # a NIC lacks a member: read them whole to keep them aligned
        return [
            {k: n.get(k, "") for k in ("NIC_ID", "NETWORK_ID", "IP", "MAC", "SECURITY_GROUPS")} for n in nics
        ]
    count = len(values["NIC/NIC_ID"])
    return [{path[4:]: values[path][i] for path in _NIC_PATHS} for i in range(count)]


def interface_dict(
    ctx: RequestContext, view: NicView, vm: VmRecord, nic: Mapping[str, str], index: int
) -> InstanceNetworkInterface:
    nic_id = int(nic["NIC_ID"]) if nic.get("NIC_ID", "").isdigit() else index
    eni = format_eni(vm.id, nic_id)
    iface: InstanceNetworkInterface = {
        "NetworkInterfaceId": eni,
        "VpcId": vpc_id(ctx),
        "OwnerId": str(vm.uid),
        "Status": "in-use",
        "MacAddress": nic.get("MAC", ""),
        "SourceDestCheck": True,
        "InterfaceType": "interface",
        "Groups": view.groups(nic_groups(nic.get("SECURITY_GROUPS", ""))),
        "Attachment": {
            "AttachmentId": f"eni-attach-{vm.id:08x}{nic_id:04x}",
            "DeviceIndex": index,
            "Status": "attached",
            "DeleteOnTermination": True,
        },
    }
    if nic.get("NETWORK_ID", "").isdigit():
        iface["SubnetId"] = SUBNET.format(int(nic["NETWORK_ID"]))
    if nic.get("IP"):
        iface["PrivateIpAddress"] = nic["IP"]
        iface["PrivateIpAddresses"] = [{"Primary": True, "PrivateIpAddress": nic["IP"]}]
    return iface


def instance_network(
    ctx: RequestContext, view: NicView, vm: VmRecord, walked: Mapping[str, list[str]] | None = None
) -> Instance:
    """VpcId, SubnetId, SecurityGroups and NetworkInterfaces of an instance (added to its EC2 dict)."""
    nics = vm_nics(vm, walked)
    out: Instance = {"VpcId": vpc_id(ctx), "SecurityGroups": [], "NetworkInterfaces": []}
    if not nics:
        return out
    interfaces = [interface_dict(ctx, view, vm, nic, i) for i, nic in enumerate(nics)]
    out["NetworkInterfaces"] = interfaces
    if "SubnetId" in interfaces[0]:
        out["SubnetId"] = interfaces[0]["SubnetId"]
    seen: dict[str, GroupIdentifierTypeDef] = {}
    for iface in interfaces:
        for group in iface["Groups"]:
            seen.setdefault(group["GroupId"], group)
    out["SecurityGroups"] = list(seen.values())
    public = view.elastic_ip(vm.id)
    if public is not None:
        # An associated elastic IP is the instance's public address (upstream showed the private one).
        out["PublicIpAddress"] = out["PublicDnsName"] = public
        interfaces[0]["Association"] = {"PublicIp": public, "IpOwnerId": str(vm.uid)}
    return out


def instance_filters(ctx: RequestContext) -> dict[str, Callable[[VmRecord], Iterable[str]]]:
    """DescribeInstances' filters on the network side of an instance."""

    def subnets(vm: VmRecord) -> list[str]:
        return [SUBNET.format(int(n["NETWORK_ID"])) for n in vm_nics(vm) if n["NETWORK_ID"].isdigit()]

    def groups(vm: VmRecord) -> list[str]:
        return [SECURITY_GROUP.format(g) for n in vm_nics(vm) for g in nic_groups(n["SECURITY_GROUPS"])]

    def interfaces(vm: VmRecord) -> list[str]:
        return [format_eni(vm.id, int(n["NIC_ID"])) for n in vm_nics(vm) if n["NIC_ID"].isdigit()]

    vpc = vpc_id(ctx)
    return {
        "vpc-id": lambda vm: [vpc] if vm_nics(vm) else [],
        "subnet-id": subnets,
        "network-interface.subnet-id": subnets,
        "instance.group-id": groups,
        "group-id": groups,
        "network-interface.group-id": groups,
        "network-interface.network-interface-id": interfaces,
        "network-interface.addresses.private-ip-address": lambda vm: [
            n["IP"] for n in vm_nics(vm) if n["IP"]
        ],
        "network-interface.mac-address": lambda vm: [n["MAC"] for n in vm_nics(vm)],
    }


INTERFACE_FILTERS: dict[str, Callable[[NetworkInterface], Iterable[str]]] = {
    "network-interface-id": lambda i: [i["NetworkInterfaceId"]],
    "subnet-id": lambda i: [i.get("SubnetId", "")],
    "vpc-id": lambda i: [i["VpcId"]],
    "private-ip-address": lambda i: [i.get("PrivateIpAddress", "")],
    "addresses.private-ip-address": lambda i: [i.get("PrivateIpAddress", "")],
    "mac-address": lambda i: [i["MacAddress"]],
    "attachment.instance-id": lambda i: [i["Attachment"]["InstanceId"]],
    "attachment.device-index": lambda i: [str(i["Attachment"]["DeviceIndex"])],
    "group-id": lambda i: [g["GroupId"] for g in i["Groups"]],
    "group-name": lambda i: [g["GroupName"] for g in i["Groups"]],
    "status": lambda i: [i["Status"]],
    "owner-id": lambda i: [i["OwnerId"]],
    "availability-zone": lambda i: [i["AvailabilityZone"]],
}


def _no_tags(interface: NetworkInterface) -> list[Tag]:
    # Interfaces are NICs of VMs: OpenNebula has nowhere to keep tags of one NIC.
    return []


def describe_network_interfaces(
    ctx: RequestContext, params: DescribeNetworkInterfacesRequestTypeDef
) -> DescribeNetworkInterfacesResult:
    from one_drivers.econe.actions.instances import load_vm
    from one_drivers.one.states import VmState

    filters = parse_filters(params.get("Filters"), INTERFACE_FILTERS, _no_tags)
    view = NicView(ctx)
    wanted = [str(t) for t in params.get("NetworkInterfaceIds") or []]
    parsed = [(text, parse_eni(text)) for text in dict.fromkeys(wanted)]
    if parsed:
        vms = []
        for text, (vm_id, _) in parsed:
            try:
                vms.append(load_vm(ctx, INSTANCE.format(vm_id)))
            except Ec2Error:
                raise eni_not_found(text) from None
    else:
        vms = [vm for vm in ctx.one.vmpool_infoextended(-2, -1, -1, -1) if vm.uid == ctx.user_id]
    interfaces: list[NetworkInterface] = []
    for vm in sorted(vms, key=lambda v: v.id):
        if vm.state is VmState.DONE:
            continue
        for index, nic in enumerate(vm_nics(vm)):
            base = interface_dict(ctx, view, vm, nic, index)
            # The instance's view of the interface plus what this one adds (members keep their order).
            attachment: NetworkInterfaceAttachment = {
                **base["Attachment"],
                "InstanceId": INSTANCE.format(vm.id),
                "InstanceOwnerId": str(vm.uid),
            }
            iface: NetworkInterface = {
                **base,
                "Attachment": attachment,
                "AvailabilityZone": ctx.config.zone_name,
                "Description": "",
                "RequesterManaged": False,
            }
            interfaces.append(iface)
    if parsed:
        found = {i["NetworkInterfaceId"] for i in interfaces}
        for text, _ in parsed:
            if text not in found:
                raise eni_not_found(text)
        interfaces = [i for i in interfaces if i["NetworkInterfaceId"] in wanted]
    return {"NetworkInterfaces": [i for i in interfaces if filters.matches(i)]}


# --- RunInstances: the NICs of new VMs --------------------------------------------------------------


def _private_ip(vnet: VnetRecord, text: str, subnet_id: str) -> str:
    value = _int_ip(text)
    if value is None:
        raise invalid_parameter_value("PrivateIpAddress", f"'{text}' is not an IPv4 address")
    for ar in vnet.address_ranges:
        first = _int_ip(ar.ip)
        if first is not None and first <= value < first + ar.size:
            if any(lease.ip == text for lease in ar.leases):
                raise address_in_use(f"Address {text} is in use.")
            return text
    raise invalid_parameter_value(
        "PrivateIpAddress", f"Address {text} does not fall within subnet {subnet_id}"
    )


@dataclass(frozen=True)
class NicPlan:
    subnet: str | None  # "subnet-..." or None for the instance type template's own NIC
    private_ip: str | None
    groups: list[int]


def launch_nics(
    ctx: RequestContext, params: Mapping[str, Any], tmpl: TemplateRecord
) -> list[dict[str, str]] | None:
    """The NIC vectors for RunInstances' extra template, or None to keep the template's NICs as they are.

    Checked before anything is created: an unknown subnet or group, an address outside the subnet or in
    use, or parameters that cannot go together fail the request here.
    """
    from one_drivers.econe.actions.security_groups import ensure_default_group, resolve_groups

    interfaces = list(params.get("NetworkInterfaces") or [])
    top_groups = bool(params.get("SecurityGroupIds") or params.get("SecurityGroups"))
    top_net = bool(params.get("SubnetId") or params.get("PrivateIpAddress"))
    if interfaces and (top_groups or top_net):
        raise invalid_combination(
            "Network interfaces and an instance-level subnet, address or security groups cannot be given together"
        )
    plans: list[NicPlan] = []
    if interfaces:
        for position, iface in enumerate(sorted(interfaces, key=lambda i: int(i.get("DeviceIndex") or 0))):
            if iface.get("NetworkInterfaceId"):
                raise invalid_parameter_value(
                    "NetworkInterfaceId", "existing network interfaces cannot be attached"
                )
            if int(iface.get("DeviceIndex") or 0) != position:
                raise invalid_parameter_value("DeviceIndex", "device indexes must be 0, 1, 2... without gaps")
            groups = resolve_groups(ctx, iface.get("Groups") or [], [])
            plans.append(NicPlan(iface.get("SubnetId"), iface.get("PrivateIpAddress"), groups))
    else:
        groups = resolve_groups(ctx, params.get("SecurityGroupIds") or [], params.get("SecurityGroups") or [])
        subnet = params.get("SubnetId")
        if subnet is None and ctx.config.default_subnet_id is not None:
            subnet = SUBNET.format(ctx.config.default_subnet_id)
        if subnet is None:
            own = tmpl.template.vectors("NIC")
            if not own:
                if groups or params.get("PrivateIpAddress"):
                    raise invalid_parameter_value(
                        "SubnetId", "the instance type has no network interface; name a SubnetId"
                    )
                return None
            if params.get("PrivateIpAddress"):
                raise invalid_parameter_value("PrivateIpAddress", "an address needs a SubnetId")
            groups = groups or [ensure_default_group(ctx).id]
            return [_with_groups(nic, groups) for nic in own]
        plans.append(NicPlan(str(subnet), params.get("PrivateIpAddress"), groups))
    if any(p.private_ip for p in plans) and int(params.get("MaxCount") or 1) > 1:
        raise invalid_combination("A private IP address can be given for one instance only")
    default_group: list[int] | None = None
    nics: list[dict[str, str]] = []
    for plan in plans:
        if not plan.subnet:
            raise missing_value("Each network interface needs a SubnetId")
        vnet = load_subnet(ctx, plan.subnet)
        nic = {"NETWORK_ID": str(vnet.id)}
        if plan.private_ip:
            nic["IP"] = _private_ip(vnet, str(plan.private_ip), plan.subnet)
        groups = plan.groups
        if not groups:
            default_group = default_group or [ensure_default_group(ctx).id]
            groups = default_group
        nics.append(_with_groups(nic, groups))
    return nics


def _with_groups(nic: Mapping[str, str], groups: list[int]) -> dict[str, str]:
    own = {int(g) for g in nic.get("SECURITY_GROUPS", "").split(",") if g.strip().isdigit()}
    return {**nic, "SECURITY_GROUPS": ",".join(str(g) for g in sorted(own | set(groups)))}


# --- tags on subnets (the `tags` family's registry) ----------------------------------------------------


def _load_tagged(ctx: RequestContext, subnet_id: str) -> TaggedResource:
    return TaggedResource(subnet_id, "subnet", tags_from_template(load_subnet(ctx, subnet_id).template))


def _store_tags(ctx: RequestContext, subnet_id: str, tags: list[tuple[str, str]]) -> None:
    try:
        ctx.one.vn_update(SUBNET.parse(subnet_id), tags_template(tags), append=True)
    except OneAuthorizationError as exc:
        # Users may use a network without managing it; only its managers may tag it.
        raise unauthorized_operation(f"You are not authorized to tag {subnet_id}") from exc


def _tagged_subnets(ctx: RequestContext) -> list[TaggedResource]:
    return [
        TaggedResource(SUBNET.format(v.id), "subnet", tags_from_template(v.template))
        for v in usable_vnets(ctx)
    ]


register_kind(TaggableKind("subnet", SUBNET.prefix, _load_tagged, _store_tags, _tagged_subnets))


HANDLERS: dict[str, Handler] = {
    "DescribeVpcs": describe_vpcs,
    "DescribeSubnets": describe_subnets,
    "DescribeNetworkInterfaces": describe_network_interfaces,
    "CreateVpc": _not_here("CreateVpc"),
    "DeleteVpc": _not_here("DeleteVpc"),
    "CreateSubnet": _not_here("CreateSubnet"),
    "DeleteSubnet": _not_here("DeleteSubnet"),
    "CreateDefaultVpc": _not_here("CreateDefaultVpc"),
    "CreateDefaultSubnet": _not_here("CreateDefaultSubnet"),
}
