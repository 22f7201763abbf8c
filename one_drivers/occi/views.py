"""What a request answers, before rendering: an entity, a collection, the root, or nothing.

Handlers return these; `render_xml` (upstream's OCCI XML) and `ogf` (OGF OCCI 1.2 text/plain and JSON)
turn them into bodies. Keeping the answer as records means each rendering is one function per kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from one_drivers.occi.config import InstanceType
from one_drivers.one.records import ImageRecord, UserRecord, VmRecord, VnetRecord

Item = VmRecord | VnetRecord | ImageRecord | UserRecord | InstanceType

KINDS = ("compute", "instance_type", "network", "storage", "user")


@dataclass(frozen=True)
class Entity:
    kind: str  # one of KINDS
    item: Item


@dataclass(frozen=True)
class Collection:
    kind: str
    items: tuple[Item, ...]
    verbose: bool


@dataclass(frozen=True)
class Root:
    """`GET /`: the collections this server offers."""


@dataclass(frozen=True)
class Nothing:
    """204 No Content (a delete)."""


@dataclass(frozen=True)
class QueryInterface:
    """`GET /-/`: the OGF categories (kinds, mixins, actions) this server knows."""

    categories: tuple[Any, ...]


View = Entity | Collection | Root | Nothing | QueryInterface


@dataclass(frozen=True)
class Reply:
    status: int
    view: View
