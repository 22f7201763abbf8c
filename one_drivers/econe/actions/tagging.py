"""EC2 tags <-> the `EC2_TAGS` vector econe keeps on VMs (USER_TEMPLATE) and images (TEMPLATE).

Upstream stored `EC2_TAGS = [ KEY = "value" ]`; oned upper-cases attribute names and refuses anything but
`[A-Za-z0-9_]`, so the key's spelling was lost and keys such as `aws:x` or `Name tag` could not be stored.
We keep upstream's vector (so old data reads back, upper-cased as upstream showed it) and add a parallel
`EC2_TAG_KEYS = [ NAME = "Original key" ]` vector; keys that are not attribute names, or that collide once
upper-cased, get a stable hashed attribute name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from one_drivers.one.template import Template
from one_drivers.query.errors import Ec2Error

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


def tags_from_template(template: Template) -> list[dict[str, str]]:
    """The EC2 `Tags` list of a resource, original spelling where econe recorded it."""
    tag_values = template.vectors(TAGS_VECTOR)
    if not tag_values:
        return []
    spelled = {}
    for vector in template.vectors(TAG_KEYS_VECTOR):
        spelled.update(vector)
    tags: list[dict[str, str]] = []
    for vector in tag_values:
        for name, value in vector.items():
            tags.append({"Key": spelled.get(name, name), "Value": value})
    return tags


def check_tag(key: str, value: str) -> None:
    if not key or len(key) > 128:
        raise Ec2Error("InvalidParameterValue", "Tag keys must be 1 to 128 characters long")
    if len(value) > 256:
        raise Ec2Error("InvalidParameterValue", "Tag values must be at most 256 characters long")
    if key.lower().startswith("aws:"):
        raise Ec2Error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for AWS use")


def tags_from_specifications(specs: Iterable[Mapping[str, Any]], resource_type: str) -> list[tuple[str, str]]:
    """The tags of TagSpecifications for one resource type ('instance', 'image'...)."""
    tags: list[tuple[str, str]] = []
    for spec in specs:
        kind = spec.get("ResourceType")
        if kind not in (None, resource_type):
            raise Ec2Error(
                "InvalidParameterValue", f"'{kind}' is not a valid taggable resource type for this operation."
            )
        for tag in spec.get("Tags") or []:
            tags.append((str(tag.get("Key", "")), str(tag.get("Value", ""))))
    if len(tags) > MAX_TAGS:
        raise Ec2Error("TagLimitExceeded", f"The maximum number of tags per resource is {MAX_TAGS}")
    return tags
