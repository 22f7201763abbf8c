"""econe-allocate-address, -associate-address, -disassociate-address, -release-address, -describe-addresses.

An address is named by its public IP (as upstream) or by its eipalloc-/eipassoc- id (VPC style); the tools
send whichever member the given text is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs
from one_drivers.econe_tools.table import print_table

ADDRESS_COLUMNS = ("PublicIp", "AllocationId", "InstanceId", "AssociationId", "PrivateIp", "Domain")


def _keyed(key: str, value: str, **more: str) -> dict[str, Any]:
    """Keyword arguments naming the address by `key` (Any: unpacked into the typed client calls)."""
    return {key: value, **more}


def address_row(address: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        address.get("PublicIp"),
        address.get("AllocationId"),
        address.get("InstanceId"),
        address.get("AssociationId"),
        address.get("PrivateIpAddress"),
        address.get("Domain"),
    )


@ec2_command("econe-allocate-address", "Allocate a public (elastic) IP address.")
def allocate_address(conn: Connection) -> None:
    print_table(ADDRESS_COLUMNS, [address_row(conn.client().allocate_address())])


@ec2_command("econe-associate-address", "Associate ADDRESS (public IP or eipalloc- id) with an instance.")
@click.argument("address")
@click.option("-i", "--instance", "instance_id", required=True, help="Instance id.")
def associate_address(conn: Connection, address: str, instance_id: str) -> None:
    key = "AllocationId" if address.startswith("eipalloc-") else "PublicIp"
    answer = conn.client().associate_address(**_keyed(key, address, InstanceId=instance_id))
    association = answer.get("AssociationId")
    click.echo(f"Success: {address} -> {instance_id}" + (f" ({association})" if association else ""))


@ec2_command(
    "econe-disassociate-address", "Disassociate ADDRESS (public IP or eipassoc- id) from its instance."
)
@click.argument("address")
def disassociate_address(conn: Connection, address: str) -> None:
    key = "AssociationId" if address.startswith("eipassoc-") else "PublicIp"
    conn.client().disassociate_address(**_keyed(key, address))
    click.echo(f"Success: {address} disassociated")


@ec2_command("econe-release-address", "Release ADDRESS (public IP or eipalloc- id).")
@click.argument("address")
def release_address(conn: Connection, address: str) -> None:
    key = "AllocationId" if address.startswith("eipalloc-") else "PublicIp"
    conn.client().release_address(**_keyed(key, address))
    click.echo(f"Success: {address} released")


@ec2_command("econe-describe-addresses", "Describe addresses (all, or the public IPs given).")
@click.argument("public_ips", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_addresses(conn: Connection, public_ips: tuple[str, ...], filters: tuple[str, ...]) -> None:
    addresses = conn.client().describe_addresses(**describe_kwargs("PublicIps", public_ips, filters))
    print_table(ADDRESS_COLUMNS, [address_row(a) for a in addresses.get("Addresses", [])])
