"""EC2 security groups = the user's OpenNebula security groups: Create, Delete, Describe, Authorize/Revoke.

`sg-%08d` is security group N; a user sees the groups they own (another user's group does not exist for
them, as another account's in AWS). EC2 permissions become OpenNebula RULE vectors: protocol -1/tcp/udp/
icmp/icmpv6 (or their numbers) -> PROTOCOL ALL/TCP/UDP/ICMP/ICMPV6, a port range -> RANGE "from:to", an
IPv4 CIDR -> IP + SIZE (0.0.0.0/0 -> no target, oned's "any"), an ICMP type -> ICMP_TYPE. What OpenNebula
cannot express (group references, prefix lists, ICMP codes, IPv6 blocks wider than /96) is refused with
InvalidParameterValue, never dropped. Each user has a `default` group, made on first use.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.tagging import (
    TaggableKind,
    TaggedResource,
    register_kind,
    tags_from_specifications,
    tags_from_template,
    tags_template,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    AuthorizeSecurityGroupEgressResult,
    AuthorizeSecurityGroupIngressResult,
    CreateSecurityGroupResult,
    DeleteSecurityGroupResult,
    DescribeSecurityGroupsResult,
    NoOutput,
    RevokeSecurityGroupEgressResult,
    RevokeSecurityGroupIngressResult,
    SecurityGroup,
)
from one_drivers.one.gateway import OneAuthorizationError, OneError, OneNotFoundError
from one_drivers.one.records import SecurityGroupRecord
from one_drivers.one.template import TemplateError, build_template
from one_drivers.query.errors import (
    Ec2Error,
    cannot_delete,
    dependency_violation,
    duplicate_group,
    duplicate_permission,
    invalid_parameter_value,
    missing_parameter,
    not_found,
    permission_not_found,
    reserved_group,
)
from one_drivers.query.ids import SECURITY_GROUP

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        AuthorizeSecurityGroupEgressRequestTypeDef,
        AuthorizeSecurityGroupIngressRequestTypeDef,
        CreateSecurityGroupRequestTypeDef,
        DeleteSecurityGroupRequestTypeDef,
        DescribeSecurityGroupsRequestTypeDef,
        IpPermissionOutputTypeDef,
        RevokeSecurityGroupEgressRequestTypeDef,
        RevokeSecurityGroupIngressRequestTypeDef,
    )

log = logging.getLogger(__name__)

DEFAULT_GROUP = "default"
DEFAULT_DESCRIPTION = "default VPC security group"
# oned's PoolObjectSQL::INVALID_NAME_CHARS and its 128-character limit.
ONE_INVALID_NAME_CHARS = frozenset("&|:\\\";/'#{}$<>\t\n\v\f\r")
MAX_ONE_NAME = 128
PROTOCOLS = {"-1": "ALL", "all": "ALL", "tcp": "TCP", "6": "TCP", "udp": "UDP", "17": "UDP"}
PROTOCOLS.update({"icmp": "ICMP", "1": "ICMP", "icmpv6": "ICMPV6", "58": "ICMPV6"})
EC2_PROTOCOL = {"ALL": "-1", "TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMPV6": "icmpv6", "IPSEC": "50"}
INBOUND, OUTBOUND = "INBOUND", "OUTBOUND"
ALLOW_ALL_OUT = {"PROTOCOL": "ALL", "RULE_TYPE": OUTBOUND}

Rule = dict[str, str]


# --- lookups -----------------------------------------------------------------------------------------


def _mine(ctx: RequestContext, record: SecurityGroupRecord) -> bool:
    return record.uid == ctx.user_id


def user_groups(ctx: RequestContext) -> list[SecurityGroupRecord]:
    """The user's own groups, oldest first (oned lists newest first)."""
    groups = ctx.one.secgrouppool_info(-3, -1, -1)
    return sorted((g for g in groups if _mine(ctx, g)), key=lambda g: g.id)


def load_group(ctx: RequestContext, group_id: str) -> SecurityGroupRecord:
    number = SECURITY_GROUP.parse(group_id)
    try:
        record = ctx.one.secgroup_info(number)
    except (OneNotFoundError, OneAuthorizationError):
        raise SECURITY_GROUP.not_found(group_id) from None
    if not _mine(ctx, record):
        raise SECURITY_GROUP.not_found(group_id)
    return record


def group_by_name(ctx: RequestContext, name: str) -> SecurityGroupRecord:
    if name == DEFAULT_GROUP:
        return ensure_default_group(ctx)
    for group in user_groups(ctx):
        if group.name == name:
            return group
    raise not_found("Group", "security group", name)


def named_group(ctx: RequestContext, params: Mapping[str, Any]) -> SecurityGroupRecord:
    """The group a request names by GroupId or GroupName."""
    if params.get("GroupId"):
        return load_group(ctx, str(params["GroupId"]))
    if params.get("GroupName"):
        return group_by_name(ctx, str(params["GroupName"]))
    raise missing_parameter("GroupId")


def ensure_default_group(ctx: RequestContext) -> SecurityGroupRecord:
    """The user's `default` group, made now if it does not exist yet (as every AWS account has one)."""
    for group in user_groups(ctx):
        if group.name == DEFAULT_GROUP:
            return group
    text = build_template(
        [("NAME", DEFAULT_GROUP), ("DESCRIPTION", DEFAULT_DESCRIPTION), ("RULE", dict(ALLOW_ALL_OUT))]
    )
    try:
        sg_id = ctx.one.secgroup_allocate(text)
    except OneError as exc:
        # Another request made it first (oned keeps names unique per owner): read theirs.
        for group in user_groups(ctx):
            if group.name == DEFAULT_GROUP:
                return group
        raise exc
    log.info("request %s: default security group %d made for user %s", ctx.request_id, sg_id, ctx.user)
    return ctx.one.secgroup_info(sg_id)


def resolve_groups(ctx: RequestContext, ids: Iterable[str], names: Iterable[str]) -> list[int]:
    """OpenNebula ids of groups named by id or name (RunInstances, ModifyInstanceAttribute)."""
    found: list[int] = []
    for group_id in ids:
        found.append(load_group(ctx, str(group_id)).id)
    for name in names:
        found.append(group_by_name(ctx, str(name)).id)
    return list(dict.fromkeys(found))


# --- EC2 permissions <-> OpenNebula rules ------------------------------------------------------------


def _refuse(detail: str) -> Ec2Error:
    return invalid_parameter_value("IpPermissions", detail)


def _target(cidr: str, v6: bool) -> dict[str, str]:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise invalid_parameter_value("CidrIp", f"CIDR block {cidr} is malformed") from None
    if (net.version == 6) != v6:
        raise invalid_parameter_value("CidrIp", f"CIDR block {cidr} is not an IPv{6 if v6 else 4} block")
    if net.prefixlen == 0:
        return {}  # oned's rule without a target applies to every address
    if net.version == 6 and net.prefixlen < 96:
        raise _refuse(f"OpenNebula rules cannot hold IPv6 blocks wider than /96 ({cidr})")
    return {"IP": str(net.network_address), "SIZE": str(net.num_addresses)}


def _ports(proto: str, perm: Mapping[str, Any]) -> dict[str, str]:
    low = perm.get("FromPort")
    high = perm.get("ToPort")
    if proto in ("TCP", "UDP"):
        if low is None or high is None:
            raise _refuse("FromPort and ToPort are required for tcp and udp")
        low, high = int(low), int(high)
        if low == -1 and high == -1:
            return {}
        if not 0 <= low <= high <= 65535:
            raise _refuse(f"invalid port range {low}-{high}")
        if (low, high) == (0, 65535):
            return {}
        return {"RANGE": str(low) if low == high else f"{low}:{high}"}
    if proto == "ICMP":
        icmp_type = -1 if low is None else int(low)
        code = -1 if high is None else int(high)
        if code != -1:
            raise _refuse("OpenNebula rules cannot filter ICMP codes; use ToPort -1")
        if icmp_type == -1:
            return {}
        if not 0 <= icmp_type <= 255:
            raise _refuse(f"invalid ICMP type {icmp_type}")
        return {"ICMP_TYPE": str(icmp_type)}
    if proto == "ICMPV6" and ((low not in (None, -1)) or (high not in (None, -1))):
        raise _refuse("OpenNebula rules cannot filter ICMPv6 types and codes here; use -1")
    return {}


def rules_from_permission(perm: Mapping[str, Any], rule_type: str) -> list[Rule]:
    """One OpenNebula rule per address block of an EC2 IpPermission."""
    raw_proto = str(perm.get("IpProtocol", "")).lower()
    if not raw_proto:
        raise missing_parameter("IpProtocol")
    proto = PROTOCOLS.get(raw_proto)
    if proto is None:
        raise _refuse(f"protocol '{raw_proto}' (OpenNebula filters -1, tcp, udp, icmp and icmpv6)")
    if perm.get("UserIdGroupPairs"):
        raise _refuse("OpenNebula security group rules cannot refer to other security groups")
    if perm.get("PrefixListIds"):
        raise _refuse("OpenNebula security group rules cannot refer to prefix lists")
    base = {"PROTOCOL": proto, "RULE_TYPE": rule_type, **_ports(proto, perm)}
    targets = [_target(str(r.get("CidrIp", "")), False) for r in perm.get("IpRanges") or []]
    targets += [_target(str(r.get("CidrIpv6", "")), True) for r in perm.get("Ipv6Ranges") or []]
    if not targets:
        raise _refuse("a permission needs at least one IpRanges or Ipv6Ranges block")
    return [{**base, **target} for target in targets]


def permissions_of(params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """IpPermissions, or the flat EC2-Classic form (IpProtocol, FromPort, ToPort, CidrIp)."""
    perms: list[Mapping[str, Any]] = list(params.get("IpPermissions") or [])
    if params.get("SourceSecurityGroupName") or params.get("SourceSecurityGroupOwnerId"):
        raise _refuse("OpenNebula security group rules cannot refer to other security groups")
    if params.get("IpProtocol") or params.get("CidrIp"):
        flat: dict[str, Any] = {
            "IpProtocol": params.get("IpProtocol") or "-1",
            "IpRanges": [{"CidrIp": params.get("CidrIp") or "0.0.0.0/0"}],
        }
        for key in ("FromPort", "ToPort"):
            if params.get(key) is not None:
                flat[key] = params[key]
        perms.append(flat)
    if not perms:
        raise missing_parameter("IpPermissions")
    return perms


def _normal(rule: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A rule as a comparable key: names and protocol/direction upper-cased, as oned compares them."""
    items = {k.upper(): v for k, v in rule.items() if v != ""}
    for key in ("PROTOCOL", "RULE_TYPE"):
        if key in items:
            items[key] = items[key].upper()
    return tuple(sorted(items.items()))


def _ports_of(rule: Mapping[str, str]) -> list[tuple[int, int]]:
    ports = rule.get("RANGE", "")
    if not ports:
        return [(0, 65535)]
    spans = []
    for part in ports.split(","):
        low, _, high = part.partition(":")
        spans.append((int(low), int(high or low)))
    return spans


def permissions_from_rules(
    rules: Iterable[Mapping[str, str]], rule_type: str
) -> list[IpPermissionOutputTypeDef]:
    """EC2 IpPermissions for one direction, rules with the same protocol and ports grouped."""
    grouped: dict[tuple[str, int, int], IpPermissionOutputTypeDef] = {}
    for rule in rules:
        if rule.get("RULE_TYPE", "").upper() != rule_type or rule.get("NETWORK_ID"):
            continue  # a rule naming a virtual network has no EC2 form
        proto = rule.get("PROTOCOL", "").upper()
        ec2_proto = EC2_PROTOCOL.get(proto)
        if ec2_proto is None:
            continue
        if proto in ("TCP", "UDP"):
            spans = _ports_of(rule)
        elif proto == "ICMP":
            icmp = rule.get("ICMP_TYPE", "")
            spans = [(int(icmp) if icmp.isdigit() else -1, -1)]
        else:
            spans = [(-1, -1)]
        ip, size = rule.get("IP", ""), rule.get("SIZE", "")
        if ip and size.isdigit():
            try:
                address = ipaddress.ip_address(ip)
                prefix = address.max_prefixlen - (max(int(size), 1) - 1).bit_length()
                cidr = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
            except ValueError:
                continue
            v6 = address.version == 6
        else:
            cidr, v6 = "0.0.0.0/0", False
        for low, high in spans:
            perm = grouped.setdefault(
                (ec2_proto, low, high),
                {
                    "IpProtocol": ec2_proto,
                    "IpRanges": [],
                    "Ipv6Ranges": [],
                    "UserIdGroupPairs": [],
                    "PrefixListIds": [],
                },
            )
            if ec2_proto != "-1":
                perm["FromPort"], perm["ToPort"] = low, high
            if v6:
                perm.setdefault("Ipv6Ranges", []).append({"CidrIpv6": cidr})
            else:
                perm.setdefault("IpRanges", []).append({"CidrIp": cidr})
    return list(grouped.values())


# --- EC2 view --------------------------------------------------------------------------------------------


def group_dict(ctx: RequestContext, group: SecurityGroupRecord) -> SecurityGroup:
    from one_drivers.econe.actions.vpcs import vpc_id

    return {
        "GroupId": SECURITY_GROUP.format(group.id),
        "GroupName": group.name,
        "OwnerId": str(group.uid),
        "Description": group.template.get("DESCRIPTION") or "",
        "VpcId": vpc_id(ctx),
        "IpPermissions": permissions_from_rules(group.rules, INBOUND),
        "IpPermissionsEgress": permissions_from_rules(group.rules, OUTBOUND),
        "Tags": tags_from_template(group.template),
    }


def _flat(perms: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    out: list[str] = []
    for perm in perms:
        if key in ("CidrIp", "CidrIpv6"):
            ranges = perm.get("IpRanges" if key == "CidrIp" else "Ipv6Ranges") or []
            out.extend(str(r[key]) for r in ranges)
        elif key in perm:
            out.append(str(perm[key]))
    return out


def _perm_filter(
    direction: Literal["IpPermissions", "IpPermissionsEgress"], key: str
) -> Callable[[SecurityGroup], list[str]]:
    return lambda g: _flat(g[direction], key)


GROUP_FILTERS: dict[str, Callable[[SecurityGroup], Iterable[str]]] = {
    "group-id": lambda g: [g["GroupId"]],
    "group-name": lambda g: [g["GroupName"]],
    "description": lambda g: [g["Description"]],
    "owner-id": lambda g: [g["OwnerId"]],
    "vpc-id": lambda g: [g["VpcId"]],
    "ip-permission.protocol": _perm_filter("IpPermissions", "IpProtocol"),
    "ip-permission.from-port": _perm_filter("IpPermissions", "FromPort"),
    "ip-permission.to-port": _perm_filter("IpPermissions", "ToPort"),
    "ip-permission.cidr": _perm_filter("IpPermissions", "CidrIp"),
    "ip-permission.ipv6-cidr": _perm_filter("IpPermissions", "CidrIpv6"),
    "egress.ip-permission.protocol": _perm_filter("IpPermissionsEgress", "IpProtocol"),
    "egress.ip-permission.from-port": _perm_filter("IpPermissionsEgress", "FromPort"),
    "egress.ip-permission.to-port": _perm_filter("IpPermissionsEgress", "ToPort"),
    "egress.ip-permission.cidr": _perm_filter("IpPermissionsEgress", "CidrIp"),
    "egress.ip-permission.ipv6-cidr": _perm_filter("IpPermissionsEgress", "CidrIpv6"),
}


# --- handlers ----------------------------------------------------------------------------------------------


def _check_group_name(name: str) -> None:
    if not name:
        raise missing_parameter("GroupName")
    if len(name) > 255 or not name.isascii():
        raise invalid_parameter_value("GroupName", "must be 1 to 255 ASCII characters")
    if name.lower().startswith("sg-"):
        raise invalid_parameter_value("GroupName", "names starting with 'sg-' are reserved")
    bad = next((c for c in name if c in ONE_INVALID_NAME_CHARS), None)
    if bad is not None or len(name) > MAX_ONE_NAME:
        detail = f"the character {bad!r}" if bad is not None else f"more than {MAX_ONE_NAME} characters"
        raise invalid_parameter_value("GroupName", f"OpenNebula cannot name a security group with {detail}")


def create_security_group(
    ctx: RequestContext, params: CreateSecurityGroupRequestTypeDef
) -> CreateSecurityGroupResult:
    from one_drivers.econe.actions.vpcs import check_vpc_id

    name = str(params.get("GroupName") or "")
    description = str(params.get("Description") or "")
    _check_group_name(name)
    if not description:
        raise missing_parameter("GroupDescription")
    if len(description) > 255 or not description.isascii():
        raise invalid_parameter_value("GroupDescription", "must be at most 255 ASCII characters")
    if params.get("VpcId"):
        check_vpc_id(ctx, str(params["VpcId"]))
    if name == DEFAULT_GROUP:
        raise reserved_group("default")
    tags = tags_from_specifications(params.get("TagSpecifications") or [], "security-group")
    if any(g.name == name for g in user_groups(ctx)):
        raise duplicate_group(name)
    try:
        text = build_template([("NAME", name), ("DESCRIPTION", description), ("RULE", dict(ALLOW_ALL_OUT))])
        text += tags_template(tags) if tags else ""
    except TemplateError as exc:
        raise invalid_parameter_value("GroupDescription", str(exc)) from exc
    try:
        sg_id = ctx.one.secgroup_allocate(text)
    except OneError as exc:
        if "already taken" in exc.message:
            raise duplicate_group(name) from exc
        raise
    log.info("request %s: security group %d (%s) made for user %s", ctx.request_id, sg_id, name, ctx.user)
    result: CreateSecurityGroupResult = {"GroupId": SECURITY_GROUP.format(sg_id)}
    if tags:
        result["Tags"] = [{"Key": k, "Value": v} for k, v in dict(tags).items()]
    return result


def delete_security_group(
    ctx: RequestContext, params: DeleteSecurityGroupRequestTypeDef
) -> DeleteSecurityGroupResult:
    group = named_group(ctx, params)
    group_id = SECURITY_GROUP.format(group.id)
    if group.name == DEFAULT_GROUP:
        raise cannot_delete(f'the specified group: "{group_id}" name: "default" cannot be deleted')
    if group.vm_ids:
        raise dependency_violation(group_id)
    try:
        ctx.one.secgroup_delete(group.id)
    except OneError as exc:
        # A VM took the group between the read and the delete: oned refuses, as AWS would.
        raise dependency_violation(group_id) from exc
    log.info("request %s: security group %d deleted", ctx.request_id, group.id)
    return {"Return": True, "GroupId": group_id}


def describe_security_groups(
    ctx: RequestContext, params: DescribeSecurityGroupsRequestTypeDef
) -> DescribeSecurityGroupsResult:
    filters = parse_filters(params.get("Filters"), GROUP_FILTERS, lambda g: g["Tags"])
    ensure_default_group(ctx)
    groups = user_groups(ctx)
    ids = [str(i) for i in params.get("GroupIds") or []]
    names = [str(n) for n in params.get("GroupNames") or []]
    for group_id in ids:
        SECURITY_GROUP.parse(group_id)
    if ids or names:
        by_id = {SECURITY_GROUP.format(g.id): g for g in groups}
        by_name = {g.name: g for g in groups}
        for group_id in ids:
            if group_id not in by_id:
                raise SECURITY_GROUP.not_found(group_id)
        for name in names:
            if name not in by_name:
                raise not_found("Group", "security group", name)
        groups = [g for g in groups if SECURITY_GROUP.format(g.id) in ids or g.name in names]
    shown = [group_dict(ctx, g) for g in groups]
    return {"SecurityGroups": [g for g in shown if filters.matches(g)]}


def _change_rules(ctx: RequestContext, params: Mapping[str, Any], rule_type: str, add: bool) -> NoOutput:
    group = named_group(ctx, params)
    wanted = [rule for perm in permissions_of(params) for rule in rules_from_permission(perm, rule_type)]
    current = group.rules
    keys = [_normal(r) for r in current]
    new_keys = [_normal(r) for r in wanted]
    if add:
        for key in new_keys:
            if key in keys:
                raise duplicate_permission(dict(key), SECURITY_GROUP.format(group.id))
        rules = current + [r for i, r in enumerate(wanted) if new_keys.index(new_keys[i]) == i]
    else:
        for key in new_keys:
            if key not in keys:
                raise permission_not_found(dict(key))
        rules = [r for r, key in zip(current, keys, strict=True) if key not in new_keys]
    # Replace the whole template: every attribute but the rules as it was, then the new rule list.
    attrs: list[tuple[str, str | dict[str, str]]] = [(k, v) for k, v in group.template if k != "RULE"]
    attrs.extend(("RULE", rule) for rule in rules)
    try:
        ctx.one.secgroup_update(group.id, build_template(attrs), append=False)
    except OneError as exc:
        raise _refuse(f"OpenNebula refused the rules: {exc.message}") from exc
    log.info("request %s: security group %d now has %d rules", ctx.request_id, group.id, len(rules))
    return {"Return": True}


def authorize_security_group_ingress(
    ctx: RequestContext, params: AuthorizeSecurityGroupIngressRequestTypeDef
) -> AuthorizeSecurityGroupIngressResult:
    return _change_rules(ctx, params, INBOUND, True)


def authorize_security_group_egress(
    ctx: RequestContext, params: AuthorizeSecurityGroupEgressRequestTypeDef
) -> AuthorizeSecurityGroupEgressResult:
    return _change_rules(ctx, params, OUTBOUND, True)


def revoke_security_group_ingress(
    ctx: RequestContext, params: RevokeSecurityGroupIngressRequestTypeDef
) -> RevokeSecurityGroupIngressResult:
    return _change_rules(ctx, params, INBOUND, False)


def revoke_security_group_egress(
    ctx: RequestContext, params: RevokeSecurityGroupEgressRequestTypeDef
) -> RevokeSecurityGroupEgressResult:
    return _change_rules(ctx, params, OUTBOUND, False)


# --- tags (the `tags` family's registry) ---------------------------------------------------------------


def _load_tagged(ctx: RequestContext, group_id: str) -> TaggedResource:
    group = load_group(ctx, group_id)
    return TaggedResource(group_id, "security-group", tags_from_template(group.template))


def _store_tags(ctx: RequestContext, group_id: str, tags: list[tuple[str, str]]) -> None:
    ctx.one.secgroup_update(SECURITY_GROUP.parse(group_id), tags_template(tags), append=True)


def _tagged_groups(ctx: RequestContext) -> list[TaggedResource]:
    return [
        TaggedResource(SECURITY_GROUP.format(g.id), "security-group", tags_from_template(g.template))
        for g in user_groups(ctx)
    ]


register_kind(
    TaggableKind("security-group", SECURITY_GROUP.prefix, _load_tagged, _store_tags, _tagged_groups)
)


HANDLERS: dict[str, Handler] = {
    "CreateSecurityGroup": create_security_group,
    "DeleteSecurityGroup": delete_security_group,
    "DescribeSecurityGroups": describe_security_groups,
    "AuthorizeSecurityGroupIngress": authorize_security_group_ingress,
    "AuthorizeSecurityGroupEgress": authorize_security_group_egress,
    "RevokeSecurityGroupIngress": revoke_security_group_ingress,
    "RevokeSecurityGroupEgress": revoke_security_group_egress,
}
