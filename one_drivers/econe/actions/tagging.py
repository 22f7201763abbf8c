"""EC2 tags <-> the `EC2_TAGS` vector econe keeps on VMs (USER_TEMPLATE) and images (TEMPLATE), and the
registry every taggable resource family plugs into (`register_kind`), which CreateTags, DeleteTags and
DescribeTags (actions/tags.py) dispatch through.

Upstream stored `EC2_TAGS = [ KEY = "value" ]`; oned upper-cases attribute names and refuses anything but
`[A-Za-z0-9_]`, so the key's spelling was lost and keys such as `aws:x` or `Name tag` could not be stored.
We keep upstream's vector (so old data reads back, upper-cased as upstream showed it) and add a parallel
`EC2_TAG_KEYS = [ NAME = "Original key" ]` vector; keys that are not attribute names, or that collide once
upper-cased, get a stable hashed attribute name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from one_drivers.econe.shapes import Tag
from one_drivers.one.template import Template, TemplateError, build_template
from one_drivers.query.errors import (
    invalid_resource_id,
    invalid_value,
    tag_limit_exceeded,
    unstorable_value,
)

if TYPE_CHECKING:
    from one_drivers.econe.context import RequestContext

TAGS_VECTOR = "EC2_TAGS"
TAG_KEYS_VECTOR = "EC2_TAG_KEYS"
MAX_TAGS = 50

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def attribute_name(key: str) -> str:
    """The attribute name a tag key is stored under (the key itself when oned can carry it)."""
    if _ATTRIBUTE_NAME.match(key):
        return key.upper()
    return hashed_name(key)


def hashed_name(key: str) -> str:
    return "TAG_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20].upper()


def tags_to_vectors(tags: Iterable[tuple[str, str]]) -> list[tuple[str, dict[str, str]]]:
    """(key, value) pairs -> the `EC2_TAGS` and `EC2_TAG_KEYS` vectors, ready for build_template."""
    values: dict[str, str] = {}
    keys: dict[str, str] = {}
    for key, value in tags:
        check_tag(key, value)
        name = attribute_name(key)
        if name in keys and keys[name] != key:
            name = hashed_name(key)  # `Name` and `NAME` are two tags on EC2
        values[name] = value
        keys[name] = key
    if not values:
        return []
    return [(TAGS_VECTOR, values), (TAG_KEYS_VECTOR, keys)]


class Tagged(TypedDict, total=False):
    """Any result with EC2's `Tags` member (an instance, image, volume, snapshot ...)."""

    Tags: list[Tag]


def put_tags(result: Tagged, template: Template) -> None:
    """Give `result` the resource's tags, if it has any (EC2 leaves `Tags` out when there are none)."""
    tags = tags_from_template(template)
    if tags:
        result["Tags"] = tags


def tags_from_template(template: Template) -> list[Tag]:
    """The EC2 `Tags` list of a resource, original spelling where econe recorded it."""
    tag_values = template.vectors(TAGS_VECTOR)
    if not tag_values:
        return []
    spelled = {}
    for vector in template.vectors(TAG_KEYS_VECTOR):
        spelled.update(vector)
    tags: list[Tag] = []
    for vector in tag_values:
        for name, value in vector.items():
            tags.append({"Key": spelled.get(name, name), "Value": value})
    return tags


def check_tag(key: str, value: str) -> None:
    if not key or len(key) > 128:
        raise invalid_value("Tag keys must be 1 to 128 characters long")
    if len(value) > 256:
        raise invalid_value("Tag values must be at most 256 characters long")
    if key.lower().startswith("aws:"):
        raise invalid_value("Tag keys starting with 'aws:' are reserved for AWS use")


def tags_from_specifications(specs: Iterable[Mapping[str, Any]], resource_type: str) -> list[tuple[str, str]]:
    """The tags of TagSpecifications for one resource type ('instance', 'image'...)."""
    tags: list[tuple[str, str]] = []
    for spec in specs:
        kind = spec.get("ResourceType")
        if kind not in (None, resource_type):
            raise invalid_value(f"'{kind}' is not a valid taggable resource type for this operation.")
        for tag in spec.get("Tags") or []:
            tags.append((str(tag.get("Key", "")), str(tag.get("Value", ""))))
    if len(tags) > MAX_TAGS:
        raise tag_limit_exceeded(MAX_TAGS)
    return tags


def launch_tags(specs: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """RunInstances' TagSpecifications: (the instances' tags, the tags of the volumes it makes)."""
    specs = list(specs)
    instance = [s for s in specs if s.get("ResourceType") in (None, "instance")]
    volume = [s for s in specs if s.get("ResourceType") == "volume"]
    others = [s for s in specs if s.get("ResourceType") not in (None, "instance", "volume")]
    return tags_from_specifications(instance + others, "instance"), tags_from_specifications(volume, "volume")


def tags_template(tags: Iterable[tuple[str, str]]) -> str:
    """Template text that replaces a resource's tags in an `*.update` with append (merge) on.

    oned's merge replaces attributes by name, so the two vectors are rewritten whole; with no tags left
    they become empty single values (oned's grammar has no empty vector), which read back as no tags.
    """
    vectors = tags_to_vectors(tags)
    attrs: list[tuple[str, str | dict[str, str]]] = list(vectors) or [
        (TAGS_VECTOR, ""),
        (TAG_KEYS_VECTOR, ""),
    ]
    try:
        return build_template(attrs)
    except TemplateError as exc:
        raise unstorable_value(exc, "A tag") from exc


# --- the plug-in registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggedResource:
    """One resource as DescribeTags sees it."""

    resource_id: str  # "vol-00000007"
    resource_type: str  # DescribeTags' ResourceType: "volume"
    tags: list[Tag]


Loader = Callable[["RequestContext", str], TaggedResource]
Storer = Callable[["RequestContext", str, list[tuple[str, str]]], None]
Lister = Callable[["RequestContext"], Iterable[TaggedResource]]


@dataclass(frozen=True)
class TaggableKind:
    """How one resource kind keeps its tags.

    `load(ctx, id)` returns the resource as the signing user sees it, or raises the kind's
    `Invalid...NotFound` (another user's resource does not exist for them); `store(ctx, id, tags)`
    replaces its tags; `listing(ctx)` yields every visible resource of the family. Kinds stored in one
    OpenNebula pool share one listing function (images, volumes and snapshots are all images): it is
    called once per DescribeTags and yields all of their types.
    """

    resource_type: str
    prefix: str  # the id prefix without '-': "i", "ami", "vol", "snap", "key", "sg", ...
    load: Loader
    store: Storer
    listing: Lister
    listed_types: tuple[str, ...] = ()  # every type `listing` yields (default: this kind's own)


_KINDS: dict[str, TaggableKind] = {}


def register_kind(kind: TaggableKind) -> None:
    """Plug a resource kind in (each family module does this at import)."""
    known = _KINDS.get(kind.prefix)
    if known is not None and known.resource_type != kind.resource_type:
        raise RuntimeError(
            f"id prefix {kind.prefix!r} claimed by {known.resource_type} and {kind.resource_type}"
        )
    _KINDS[kind.prefix] = kind


def taggable_kinds() -> dict[str, TaggableKind]:
    """Registered kinds by id prefix."""
    return dict(_KINDS)


def kind_for_id(resource_id: str) -> TaggableKind:
    """The kind an id names by its prefix; an id of no taggable kind is AWS's `InvalidID`."""
    prefix, dash, rest = resource_id.partition("-")
    kind = _KINDS.get(prefix) if dash and rest else None
    if kind is None:
        raise invalid_resource_id(resource_id)
    return kind
