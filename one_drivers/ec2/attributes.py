"""The AWS_<NAME> attributes the drivers show oned for an instance, read from a DescribeInstances item.

One table for both drivers (the VMM driver's POLL, the IM driver's poll strings and MONITOR_VM texts):
the same names in the same order, each read through the stubs' `InstanceTypeDef` so mypy checks the
key. The drivers differ only where their tables say so: the VMM driver shows security groups by name
(else id), the IM driver by id (the only member its fast DescribeInstances reader keeps) and adds the
availability zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2.type_defs import InstanceTypeDef

# A reader returns the value or None; typed as str so that a misspelt key (whose .get() mypy types
# as object) fails the check.
Reader = Callable[["InstanceTypeDef"], "str | None"]


def security_group_ids(item: InstanceTypeDef) -> str:
    return ",".join(str(g.get("GroupId", "")) for g in item.get("SecurityGroups") or [] if g.get("GroupId"))


def security_group_names(item: InstanceTypeDef) -> str:
    return ",".join(g.get("GroupName", g.get("GroupId", "")) for g in item.get("SecurityGroups", []))


def _availability_zone(item: InstanceTypeDef) -> str | None:
    return (item.get("Placement") or {}).get("AvailabilityZone")


_HEAD: Sequence[tuple[str, Reader]] = (
    ("PUBLIC_DNS_NAME", lambda i: i.get("PublicDnsName")),
    ("PRIVATE_DNS_NAME", lambda i: i.get("PrivateDnsName")),
    ("KEY_NAME", lambda i: i.get("KeyName")),
    ("PLATFORM", lambda i: i.get("Platform")),
    ("VPC_ID", lambda i: i.get("VpcId")),
    ("PRIVATE_IP_ADDRESS", lambda i: i.get("PrivateIpAddress")),
    ("PUBLIC_IP_ADDRESS", lambda i: i.get("PublicIpAddress")),
    ("SUBNET_ID", lambda i: i.get("SubnetId")),
)
_TAIL: Sequence[tuple[str, Reader]] = (
    ("INSTANCE_TYPE", lambda i: i.get("InstanceType")),
    ("IMAGE_ID", lambda i: i.get("ImageId")),
)
VMM_ATTRIBUTES: Sequence[tuple[str, Reader]] = (*_HEAD, ("SECURITY_GROUPS", security_group_names), *_TAIL)
IM_ATTRIBUTES: Sequence[tuple[str, Reader]] = (
    *_HEAD,
    ("SECURITY_GROUPS", security_group_ids),
    *_TAIL,
    ("AVAILABILITY_ZONE", _availability_zone),
)


def aws_attributes(item: InstanceTypeDef, table: Sequence[tuple[str, Reader]]) -> list[tuple[str, str]]:
    """(NAME, value) of each attribute of `table` the item has a value for, in the table's order."""
    return [(name, value) for name, read in table if (value := read(item))]
