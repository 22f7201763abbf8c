"""`-f name=value[,value...]` options -> EC2 Filters, shared by the describe-* tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

FILTER_HELP = "Filter as name=value[,value...] (repeatable), e.g. -f instance-state-name=running."


def parse_filters(specs: Sequence[str]) -> list[dict[str, Any]]:
    filters: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{spec!r} is not name=value", param_hint="-f/--filter")
        filters.setdefault(name, []).extend(values.split(","))
    return [{"Name": name, "Values": values} for name, values in filters.items()]


def describe_kwargs(ids_key: str, ids: Sequence[str], filters: Sequence[str]) -> dict[str, Any]:
    """Only the members given: an empty InstanceIds list is not the same request as none on every server."""
    kwargs: dict[str, Any] = {}
    if ids:
        kwargs[ids_key] = list(ids)
    if filters:
        kwargs["Filters"] = parse_filters(filters)
    return kwargs


def split_groups(groups: Sequence[str]) -> tuple[list[str], list[str]]:
    """Security groups as given on the command line: (sg- ids, names)."""
    return [g for g in groups if g.startswith("sg-")], [g for g in groups if not g.startswith("sg-")]
