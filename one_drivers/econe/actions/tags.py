"""CreateTags, DeleteTags, DescribeTags over every kind registered in `tagging` (instances, images,
volumes, snapshots, and whatever other families plug in).

Every resource named in a request is loaded and every new tag set checked before the first one is
stored, so a bad id or a tag over the limits changes nothing. DescribeTags lists each family's pool once
and pages over the sorted (resource id, key) rows; an exact `resource-id` filter reads just those.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from one_drivers.econe.actions.filtering import value_matches
from one_drivers.econe.actions.tagging import (
    MAX_TAGS,
    TaggableKind,
    TaggedResource,
    check_tag,
    kind_for_id,
    taggable_kinds,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import DescribeTagsResult, NoOutput, Tag, TagDescription
from one_drivers.query.errors import (
    Ec2Error,
    filter_without_values,
    invalid_filter,
    invalid_next_token,
    invalid_parameter_value,
    missing_parameter,
    tag_limit_exceeded,
)

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        ClientCreateTagsRequestTypeDef,
        ClientDeleteTagsRequestTypeDef,
        DescribeTagsRequestTypeDef,
    )

log = logging.getLogger(__name__)

MIN_PAGE = 5
MAX_PAGE = 1000
TAG_FILTERS = ("resource-id", "resource-type", "key", "value")
_TOKEN_RE = re.compile(r"t:([0-9]{1,9})\Z")


@cache
def _families_loaded() -> bool:
    # Kinds register when their family module is imported; the registry imports them all.
    from one_drivers.econe.actions import all_handlers

    all_handlers()
    return True


def _kinds() -> dict[str, TaggableKind]:
    _families_loaded()
    return taggable_kinds()


def _resources(params: Mapping[str, Any]) -> list[str]:
    ids = [str(r) for r in params.get("Resources") or []]
    if not ids:
        raise missing_parameter("ResourceId")
    return list(dict.fromkeys(ids))


def _load_all(ctx: RequestContext, ids: list[str]) -> list[tuple[TaggableKind, TaggedResource]]:
    _kinds()
    loaded = []
    for resource_id in ids:
        kind = kind_for_id(resource_id)
        loaded.append((kind, kind.load(ctx, resource_id)))
    return loaded


def _tag_pairs(current: list[Tag]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in current}


def _store_all(ctx: RequestContext, plan: list[tuple[TaggableKind, str, dict[str, str]]]) -> None:
    for kind, resource_id, tags in plan:
        kind.store(ctx, resource_id, list(tags.items()))
        log.info("request %s: %s now has %d tags", ctx.request_id, resource_id, len(tags))


def create_tags(ctx: RequestContext, params: ClientCreateTagsRequestTypeDef) -> NoOutput:
    ids = _resources(params)
    given = params.get("Tags")
    if not given:
        raise missing_parameter("Tag")
    new: dict[str, str] = {}
    for tag in given:
        key, value = str(tag.get("Key") or ""), str(tag.get("Value") or "")
        check_tag(key, value)
        new[key] = value
    plan = []
    for kind, resource in _load_all(ctx, ids):
        tags = _tag_pairs(resource.tags)
        tags.update(new)
        if len(tags) > MAX_TAGS:
            raise tag_limit_exceeded(MAX_TAGS, resource.resource_id)
        plan.append((kind, resource.resource_id, tags))
    _store_all(ctx, plan)
    return {}


def delete_tags(ctx: RequestContext, params: ClientDeleteTagsRequestTypeDef) -> NoOutput:
    ids = _resources(params)
    given = params.get("Tags")
    # (key, value or None): a value given, even empty, deletes the tag only when it matches.
    wanted: list[tuple[str, str | None]] = []
    for tag in given or []:
        key = str(tag.get("Key") or "")
        if not key:
            raise missing_parameter("Tag.N.Key")
        if key.lower().startswith("aws:"):
            raise invalid_parameter_value("Tag.N.Key", "tags starting with 'aws:' are reserved for AWS use")
        wanted.append((key, str(tag["Value"]) if "Value" in tag else None))
    plan = []
    for kind, resource in _load_all(ctx, ids):
        tags = _tag_pairs(resource.tags)
        if given is None:
            tags = {}  # no Tag.N at all: every tag goes, as on EC2
        for key, value in wanted:
            if key in tags and (value is None or tags[key] == value):
                del tags[key]
        if len(tags) != len(resource.tags):
            plan.append((kind, resource.resource_id, tags))
    _store_all(ctx, plan)
    return {}


def _page_size(params: Mapping[str, Any]) -> int | None:
    if params.get("MaxResults") is None:
        return None
    size = int(params["MaxResults"])
    if not MIN_PAGE <= size <= MAX_PAGE:
        raise invalid_parameter_value("MaxResults", f"must be between {MIN_PAGE} and {MAX_PAGE}")
    return size


def _offset(token: Any) -> int:
    if not token:
        return 0
    m = _TOKEN_RE.match(str(token))
    if not m:
        raise invalid_next_token()
    return int(m.group(1))


def _filters(params: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in params.get("Filters") or []:
        name = str(f.get("Name") or "")
        values = [str(v) for v in f.get("Values") or []]
        if name not in TAG_FILTERS:
            raise invalid_filter(name)
        if not values:
            raise filter_without_values(name)
        found.setdefault(name, []).extend(values)
    return found


def _candidates(ctx: RequestContext, filters: dict[str, list[str]]) -> Iterable[TaggedResource]:
    ids = filters.get("resource-id")
    if ids and not any("*" in v or "?" in v for v in ids):
        # Exact ids: read those resources, not the pools; one that does not exist just matches nothing.
        for resource_id in dict.fromkeys(ids):
            try:
                kind = kind_for_id(resource_id)
                yield kind.load(ctx, resource_id)
            except Ec2Error:
                continue
        return
    types = filters.get("resource-type")
    seen: set[int] = set()
    for kind in _kinds().values():
        listed = kind.listed_types or (kind.resource_type,)
        if id(kind.listing) in seen or (types and not value_matches(types, listed)):
            continue
        seen.add(id(kind.listing))
        yield from kind.listing(ctx)


def describe_tags(ctx: RequestContext, params: DescribeTagsRequestTypeDef) -> DescribeTagsResult:
    filters = _filters(params)
    size = _page_size(params)
    offset = _offset(params.get("NextToken"))
    ids, types = filters.get("resource-id"), filters.get("resource-type")
    keys, values = filters.get("key"), filters.get("value")
    rows: list[TagDescription] = []
    for resource in _candidates(ctx, filters):
        if ids and not value_matches(ids, [resource.resource_id]):
            continue
        if types and not value_matches(types, [resource.resource_type]):
            continue
        for tag in resource.tags:
            if keys and not value_matches(keys, [tag["Key"]]):
                continue
            if values and not value_matches(values, [tag["Value"]]):
                continue
            rows.append(
                {
                    "Key": tag["Key"],
                    "ResourceId": resource.resource_id,
                    "ResourceType": resource.resource_type,
                    "Value": tag["Value"],
                }
            )
    rows.sort(key=lambda r: (r["ResourceId"], r["Key"]))
    if size is None:
        return {"Tags": rows[offset:]}
    result: DescribeTagsResult = {"Tags": rows[offset : offset + size]}
    if offset + size < len(rows):
        result["NextToken"] = f"t:{offset + size}"
    return result


HANDLERS: dict[str, Handler] = {
    "CreateTags": create_tags,
    "DeleteTags": delete_tags,
    "DescribeTags": describe_tags,
}
