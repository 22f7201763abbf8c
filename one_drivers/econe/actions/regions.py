"""DescribeRegions, DescribeAvailabilityZones, DescribeAccountAttributes: the cloud's fixed geography.

An OpenNebula cloud behind econe is one region with one zone (names from econe.conf, upstream called both
`opennebula`). Clients probe these before anything else (`supported-platforms` decides EC2-Classic vs VPC
code paths), so the answers must be well-formed even though they never change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from one_drivers.econe.config import EconeConfig
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    AvailabilityZone,
    DescribeAccountAttributesResult,
    DescribeAvailabilityZonesResult,
    DescribeRegionsResult,
    Region,
)
from one_drivers.query.errors import invalid_filter, invalid_value

Item = TypeVar("Item", bound=Mapping[str, object])  # a Region or an AvailabilityZone

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeAccountAttributesRequestTypeDef,
        DescribeAvailabilityZonesRequestTypeDef,
        DescribeRegionsRequestTypeDef,
    )


# econe shows a VPC face (one VPC per region, subnets = OpenNebula networks): clients take their VPC
# code paths and find the default VPC here.
def account_attributes(config: EconeConfig) -> dict[str, list[str]]:
    return {"supported-platforms": ["VPC"], "default-vpc": [config.vpc_id]}


def _filtered(items: list[Item], filters: Iterable[Mapping[str, Any]], keys: dict[str, str]) -> list[Item]:
    """Keep items matching every filter (values OR-ed); a filter name we do not know is an error, as in AWS."""
    for flt in filters:
        name = str(flt.get("Name", ""))
        if name not in keys:
            raise invalid_filter(name)
        values = {str(v) for v in flt.get("Values", [])}
        items = [item for item in items if str(item.get(keys[name], "")) in values]
    return items


def describe_regions(ctx: RequestContext, params: DescribeRegionsRequestTypeDef) -> DescribeRegionsResult:
    region = ctx.config.region_name
    for name in params.get("RegionNames", []):
        if name != region:
            raise invalid_value(f"Invalid region: {name}")
    regions: list[Region] = [
        {"RegionName": region, "Endpoint": ctx.config.public_url, "OptInStatus": "opt-in-not-required"}
    ]
    keys = {"region-name": "RegionName", "endpoint": "Endpoint", "opt-in-status": "OptInStatus"}
    return {"Regions": _filtered(regions, params.get("Filters", []), keys)}


def describe_availability_zones(
    ctx: RequestContext, params: DescribeAvailabilityZonesRequestTypeDef
) -> DescribeAvailabilityZonesResult:
    region, zone = ctx.config.region_name, ctx.config.zone_name
    zone_id = f"{zone}-az1"
    for name in params.get("ZoneNames", []):
        if name != zone:
            raise invalid_value(f"The zone '{name}' does not exist in region {region}")
    for zid in params.get("ZoneIds", []):
        if zid != zone_id:
            raise invalid_value(f"The zone id '{zid}' does not exist in region {region}")
    zones: list[AvailabilityZone] = [
        {
            "ZoneName": zone,
            "ZoneId": zone_id,
            "State": "available",
            "RegionName": region,
            "ZoneType": "availability-zone",
            "OptInStatus": "opt-in-not-required",
            "GroupName": region,
            "NetworkBorderGroup": region,
            "Messages": [],
        }
    ]
    keys = {
        "zone-name": "ZoneName",
        "zone-id": "ZoneId",
        "state": "State",
        "region-name": "RegionName",
        "zone-type": "ZoneType",
        "group-name": "GroupName",
        "opt-in-status": "OptInStatus",
    }
    return {"AvailabilityZones": _filtered(zones, params.get("Filters", []), keys)}


def describe_account_attributes(
    ctx: RequestContext, params: DescribeAccountAttributesRequestTypeDef
) -> DescribeAccountAttributesResult:
    # The model's enum has already restricted AttributeNames to the names we answer.
    attributes = account_attributes(ctx.config)
    wanted: Sequence[str] = params.get("AttributeNames") or list(attributes)
    return {
        "AccountAttributes": [
            {
                "AttributeName": name,
                "AttributeValues": [{"AttributeValue": value} for value in attributes[name]],
            }
            for name in wanted
        ]
    }


HANDLERS: dict[str, Handler] = {
    "DescribeRegions": describe_regions,
    "DescribeAvailabilityZones": describe_availability_zones,
    "DescribeAccountAttributes": describe_account_attributes,
}
