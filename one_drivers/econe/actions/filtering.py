"""EC2 `Filter.N` evaluation shared by the Describe* actions: names as data, values with `*`/`?` wildcards.

Each action passes a table `{filter name: function(resource) -> the resource's values}`; a filter name the
table lacks is refused (InvalidParameterValue) rather than ignored, since ignoring it would widen the
answer. `tag:<key>` and `tag-key` work on the resource's EC2 `Tags` list.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from one_drivers.econe.shapes import Tag
from one_drivers.query.errors import filter_without_name, filter_without_values, invalid_filter

T = TypeVar("T")


@lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(value), re.DOTALL)


def value_matches(patterns: Iterable[str], values: Iterable[str]) -> bool:
    """True when any value matches any pattern (EC2 ORs the values of one filter)."""
    compiled = [_pattern(p) for p in patterns]
    return any(c.match(v) for v in values for c in compiled)


@dataclass(frozen=True)
class Filters(Generic[T]):
    """Parsed filters: each (name, values) must match (EC2 ANDs distinct filters)."""

    items: tuple[tuple[str, tuple[str, ...]], ...]
    table: Mapping[str, Callable[[T], Iterable[str]]]
    tags: Callable[[T], list[Tag]]

    def values_of(self, name: str) -> tuple[str, ...] | None:
        """The values given for `name` (None when the filter is absent)."""
        found = [values for n, values in self.items if n == name]
        if not found:
            return None
        return tuple(v for values in found for v in values)

    def matches(self, resource: T) -> bool:
        for name, patterns in self.items:
            if name.startswith("tag:"):
                key = name[4:]
                values = [t["Value"] for t in self.tags(resource) if t["Key"] == key]
            elif name == "tag-key":
                values = [t["Key"] for t in self.tags(resource)]
            elif name == "tag-value":
                values = [t["Value"] for t in self.tags(resource)]
            else:
                values = list(self.table[name](resource))
            if not value_matches(patterns, values):
                return False
        return True


def parse_filters(
    raw: Iterable[Mapping[str, Any]] | None,
    table: Mapping[str, Callable[[T], Iterable[str]]],
    tags: Callable[[T], list[Tag]],
) -> Filters[T]:
    items: list[tuple[str, tuple[str, ...]]] = []
    for f in raw or []:
        name = str(f.get("Name") or "")
        values = tuple(str(v) for v in f.get("Values") or [])
        if not name:
            raise filter_without_name()
        if name not in table and not name.startswith("tag:") and name not in ("tag-key", "tag-value"):
            raise invalid_filter(name)
        if not values:
            raise filter_without_values(name)
        items.append((name, values))
    return Filters(tuple(items), table, tags)
