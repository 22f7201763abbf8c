"""econe-create-tags, econe-delete-tags, econe-describe-tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, parse_filters
from one_drivers.econe_tools.table import print_table

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2.type_defs import TagTypeDef

TAG_COLUMNS = ("ResourceId", "ResourceType", "Key", "Value")
TAG_HELP = "Tag as KEY=VALUE, or KEY alone (repeatable)."


def parse_tags(specs: Sequence[str], values: bool) -> list[TagTypeDef]:
    """`-t KEY=VALUE`; a bare KEY is an empty value (create) or any value (delete)."""
    tags: list[TagTypeDef] = []
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not key:
            raise click.BadParameter(f"{spec!r} has no key", param_hint="-t/--tag")
        tags.append({"Key": key, "Value": value} if sep or values else {"Key": key})
    return tags


@ec2_command("econe-create-tags", "Add or overwrite tags on the RESOURCE_IDs.")
@click.argument("resource_ids", nargs=-1, required=True)
@click.option("-t", "--tag", "tags", multiple=True, required=True, help=TAG_HELP)
def create_tags(conn: Connection, resource_ids: tuple[str, ...], tags: tuple[str, ...]) -> None:
    conn.client().create_tags(Resources=list(resource_ids), Tags=parse_tags(tags, values=True))
    click.echo(f"Success: {len(tags)} tag(s) on {' '.join(resource_ids)}")


@ec2_command("econe-delete-tags", "Delete tags from the RESOURCE_IDs (all of them without -t).")
@click.argument("resource_ids", nargs=-1, required=True)
@click.option("-t", "--tag", "tags", multiple=True, help=TAG_HELP + " KEY=VALUE deletes only that value.")
def delete_tags(conn: Connection, resource_ids: tuple[str, ...], tags: tuple[str, ...]) -> None:
    kwargs: dict[str, Any] = {"Resources": list(resource_ids)}
    if tags:
        kwargs["Tags"] = parse_tags(tags, values=False)
    conn.client().delete_tags(**kwargs)
    click.echo(f"Success: tags deleted from {' '.join(resource_ids)}")


@ec2_command("econe-describe-tags", "Describe tags (filters: resource-id, resource-type, key, value).")
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_tags(conn: Connection, filters: tuple[str, ...]) -> None:
    kwargs: dict[str, Any] = {"Filters": parse_filters(filters)} if filters else {}
    rows = []
    for page in conn.client().get_paginator("describe_tags").paginate(**kwargs):
        rows += [(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in page.get("Tags", [])]
    print_table(TAG_COLUMNS, rows)
