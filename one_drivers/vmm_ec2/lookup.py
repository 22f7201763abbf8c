"""Find the live instance a deploy token launched, at a cost that does not grow with the whole account.

DEPLOY asks this before every launch (a re-sent DEPLOY must not launch twice), so a 1,000-VM burst asks
it 1,000 times. DescribeInstances filtered by a tag makes some endpoints test every instance's tags: moto
walks every tag of every resource once per instance (0.47 s a call at 800 instances, growing with the
square). DescribeTags filtered by key and value is one pass over the tags; the instances it names are
then read by id, for their state. An endpoint that refuses DescribeTags (an IAM policy without
ec2:DescribeTags, an endpoint without the action) is asked the tag-filtered DescribeInstances instead,
and is remembered per client.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from one_drivers.ec2.errors import ErrorKind, classify, describe
from one_drivers.ec2.states import LIVE_STATES
from one_drivers.ec2.tags import DEPLOY_TOKEN_TAG

if TYPE_CHECKING:  # the stubs are a development dependency only
    from collections.abc import Iterable

    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import (
        DescribeInstancesResultTypeDef,
        DescribeTagsResultTypeDef,
        FilterTypeDef,
        InstanceTypeDef,
    )

log = logging.getLogger(__name__)

# Clients whose endpoint refused DescribeTags: asked DescribeInstances by tag from then on.
_without_describe_tags: weakref.WeakSet[EC2Client] = weakref.WeakSet()


def find_by_token(client: EC2Client, token: str) -> InstanceTypeDef | None:
    """A live instance tagged with this deploy token, if any."""
    if client not in _without_describe_tags:
        try:
            ids = _tagged_instance_ids(client, DEPLOY_TOKEN_TAG, token)
        except Exception as exc:
            if not _refused(exc):
                raise
            _without_describe_tags.add(client)
            log.info(
                "DescribeTags refused (%s): looking deploy tokens up by DescribeInstances", describe(exc)
            )
        else:
            return _first_live(client, [{"Name": "instance-id", "Values": ids}]) if ids else None
    return _first_live(client, [{"Name": f"tag:{DEPLOY_TOKEN_TAG}", "Values": [token]}])


def _tagged_instance_ids(client: EC2Client, key: str, value: str) -> list[str]:
    """Ids of the instances carrying tag key=value (checked here too: an endpoint may ignore filters)."""
    ids: list[str] = []
    # Typed here: the stubs' PageIterator is botocore's, which this project has no stubs for.
    pages: Iterable[DescribeTagsResultTypeDef] = client.get_paginator("describe_tags").paginate(
        Filters=[
            {"Name": "resource-type", "Values": ["instance"]},
            {"Name": "key", "Values": [key]},
            {"Name": "value", "Values": [value]},
        ]
    )
    for page in pages:
        for tag in page.get("Tags", []):
            resource = str(tag.get("ResourceId", ""))
            exact = tag.get("Key") == key and tag.get("Value") == value
            if exact and resource.startswith("i-") and resource not in ids:
                ids.append(resource)
    return ids


def _first_live(client: EC2Client, filters: list[FilterTypeDef]) -> InstanceTypeDef | None:
    """The first instance matching `filters` that is not shutting down or terminated."""
    pages: Iterable[DescribeInstancesResultTypeDef] = client.get_paginator("describe_instances").paginate(
        Filters=[*filters, {"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
    )
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return instance.copy()
    return None


def _refused(exc: BaseException) -> bool:
    """The endpoint answered DescribeTags with a refusal (not a throttle, not an outage)."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    kind = classify(exc)
    # 501: an endpoint without the action (EC2's own answer to an unknown action is a 400 code).
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return kind in (ErrorKind.FATAL, ErrorKind.NOT_FOUND) or (kind is ErrorKind.TRANSIENT and status == 501)
