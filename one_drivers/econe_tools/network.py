"""econe-describe-security-groups, -create-security-group, -delete-security-group, -authorize, -revoke,
econe-describe-subnets, econe-import-keypair.

`econe-authorize GROUP -P tcp -p 22 -s 192.0.2.0/24` follows the old `ec2-authorize` options: a port
`22` or a range `1000-2000`, ICMP as `-t type:code`, `--egress` for outbound rules; GROUP is a name or
an `sg-` id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs, split_groups
from one_drivers.econe_tools.table import print_table


def _group_key(group: str) -> dict[str, Any]:  # Any: unpacked into the typed client calls
    return {"GroupId": group} if group.startswith("sg-") else {"GroupName": group}


def _rules(perms: Sequence[Mapping[str, Any]], direction: str) -> list[tuple[Any, ...]]:
    rows = []
    for perm in perms:
        ports = "all" if perm.get("FromPort") is None else f"{perm['FromPort']}-{perm['ToPort']}"
        blocks = [r.get("CidrIp") for r in perm.get("IpRanges", [])] + [
            r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])
        ]
        for block in blocks:
            rows.append((direction, perm.get("IpProtocol"), ports, block))
    return rows


@ec2_command("econe-describe-security-groups", "Describe security groups (all, or the names/ids given).")
@click.argument("groups", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_security_groups(conn: Connection, groups: tuple[str, ...], filters: tuple[str, ...]) -> None:
    kwargs: dict[str, Any] = describe_kwargs("GroupNames", (), filters)
    ids, names = split_groups(groups)
    if ids:
        kwargs["GroupIds"] = ids
    if names:
        kwargs["GroupNames"] = names
    found = conn.client().describe_security_groups(**kwargs).get("SecurityGroups", [])
    rows: list[tuple[Any, ...]] = []
    for group in found:
        head = (group.get("GroupId"), group.get("GroupName"), group.get("Description"))
        rules = _rules(group.get("IpPermissions", []), "in") + _rules(
            group.get("IpPermissionsEgress", []), "out"
        )
        if not rules:
            rows.append((*head, None, None, None, None))
        rows.extend((*head, *rule) for rule in rules)
    print_table(("GroupId", "GroupName", "Description", "Direction", "Protocol", "Ports", "Source"), rows)


@ec2_command("econe-create-security-group", "Create the security group NAME.")
@click.argument("name")
@click.option("-d", "--description", required=True, help="What the group is for.")
def create_security_group(conn: Connection, name: str, description: str) -> None:
    made = conn.client().create_security_group(GroupName=name, Description=description)
    print_table(("GroupId", "GroupName"), [(made.get("GroupId"), name)])


@ec2_command("econe-delete-security-group", "Delete the security group GROUP (name or sg- id).")
@click.argument("group")
def delete_security_group(conn: Connection, group: str) -> None:
    conn.client().delete_security_group(**_group_key(group))
    click.echo(f"Success: {group} deleted")


def _permission(
    protocol: str, ports: str | None, icmp: str | None, sources: tuple[str, ...]
) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if protocol in ("tcp", "udp", "6", "17"):
        if not ports:
            raise click.UsageError("tcp and udp rules need -p PORT or -p FROM-TO")
        low, _, high = ports.partition("-")
        try:
            perm["FromPort"], perm["ToPort"] = int(low), int(high or low)
        except ValueError:
            raise click.UsageError(f"bad port range {ports!r}") from None
    elif protocol in ("icmp", "1"):
        kind, _, code = (icmp or "-1:-1").partition(":")
        try:
            perm["FromPort"], perm["ToPort"] = int(kind), int(code or "-1")
        except ValueError:
            raise click.UsageError(f"bad ICMP type:code {icmp!r}") from None
    blocks = sources or ("0.0.0.0/0",)
    perm["IpRanges"] = [{"CidrIp": b} for b in blocks if ":" not in b]
    perm["Ipv6Ranges"] = [{"CidrIpv6": b} for b in blocks if ":" in b]
    return perm


def _rule_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.argument("group"),
            click.option(
                "-P", "--protocol", default="tcp", show_default=True, help="tcp, udp, icmp or -1 (all)."
            ),
            click.option("-p", "--port-range", "ports", help="PORT or FROM-TO (tcp and udp)."),
            click.option("-t", "--icmp-type-code", "icmp", help="TYPE:CODE for icmp (-1 = all)."),
            click.option("-s", "--source-subnet", "sources", multiple=True, help="CIDR block (repeatable)."),
            click.option("--egress", is_flag=True, help="An outbound rule instead of an inbound one."),
        ]
    ):
        fn = option(fn)
    return fn


def _change_rule(conn: Connection, group: str, perm: dict[str, Any], egress: bool, add: bool) -> None:
    client = conn.client()
    verb = "authorize" if add else "revoke"
    direction = "egress" if egress else "ingress"
    getattr(client, f"{verb}_security_group_{direction}")(IpPermissions=[perm], **_group_key(group))
    click.echo(f"Success: rule {'added to' if add else 'removed from'} {group}")


@ec2_command("econe-authorize", "Add a rule to the security group GROUP (name or sg- id).")
@_rule_options
def authorize(
    conn: Connection, group: str, protocol: str, ports: str | None, icmp: str | None, sources: tuple[str, ...],
    egress: bool,
) -> None:  # fmt: skip
    _change_rule(conn, group, _permission(protocol, ports, icmp, sources), egress, add=True)


@ec2_command("econe-revoke", "Remove a rule from the security group GROUP (name or sg- id).")
@_rule_options
def revoke(
    conn: Connection, group: str, protocol: str, ports: str | None, icmp: str | None, sources: tuple[str, ...],
    egress: bool,
) -> None:  # fmt: skip
    _change_rule(conn, group, _permission(protocol, ports, icmp, sources), egress, add=False)


@ec2_command("econe-describe-subnets", "Describe subnets (the OpenNebula networks you may use).")
@click.argument("subnets", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_subnets(conn: Connection, subnets: tuple[str, ...], filters: tuple[str, ...]) -> None:
    found = (
        conn.client().describe_subnets(**describe_kwargs("SubnetIds", subnets, filters)).get("Subnets", [])
    )
    print_table(
        ("SubnetId", "CidrBlock", "Available", "Zone", "Default", "VpcId"),
        [
            (
                s.get("SubnetId"),
                s.get("CidrBlock"),
                s.get("AvailableIpAddressCount"),
                s.get("AvailabilityZone"),
                "yes" if s.get("DefaultForAz") else "no",
                s.get("VpcId"),
            )
            for s in found
        ],
    )


@ec2_command("econe-import-keypair", "Import the public key in FILE as the key pair NAME.")
@click.argument("name")
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False))
def import_keypair(conn: Connection, name: str, public_key_file: str) -> None:
    material = Path(public_key_file).read_bytes()
    pair = conn.client().import_key_pair(KeyName=name, PublicKeyMaterial=material)
    print_table(("KeyName", "Fingerprint"), [(pair.get("KeyName"), pair.get("KeyFingerprint"))])
