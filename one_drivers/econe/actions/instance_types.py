"""DescribeInstanceTypes from the VM templates that define instance types (`EC2_INSTANCE_TYPE=<type>`).

The first visible template (lowest id) for a type is the one RunInstances instantiates, so it is also
the one described: VCPU (else CPU rounded up, else 1) and MEMORY (MB = MiB in OpenNebula).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import DescribeInstanceTypesResult, InstanceTypeInfo
from one_drivers.one.records import TemplateRecord
from one_drivers.query.errors import (
    invalid_next_token,
    invalid_parameter_value,
    unknown_instance_types,
)

INSTANCE_TYPE_ATTR = "EC2_INSTANCE_TYPE"
MIN_PAGE, MAX_PAGE = 5, 100  # EC2's MaxResults bounds for this action
_TOKEN_RE = re.compile(r"t:([0-9]{1,6})\Z")

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeInstanceTypesRequestTypeDef,
    )


def vcpus(tmpl: TemplateRecord) -> int:
    for name in ("VCPU", "CPU"):
        text = tmpl.template.get(name)
        if text:
            try:
                return max(1, math.ceil(float(text)))
            except ValueError:
                continue
    return 1


def memory_mib(tmpl: TemplateRecord) -> int:
    try:
        return int(float(tmpl.template.get("MEMORY") or "0"))
    except ValueError:
        return 0


def instance_type_info(name: str, tmpl: TemplateRecord) -> InstanceTypeInfo:
    count = vcpus(tmpl)
    return {
        "InstanceType": name,
        "CurrentGeneration": True,
        "SupportedUsageClasses": ["on-demand"],
        "SupportedRootDeviceTypes": ["instance-store"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": False,
        "ProcessorInfo": {"SupportedArchitectures": [tmpl.template.get("ARCH") or "x86_64"]},
        "VCpuInfo": {"DefaultVCpus": count, "DefaultCores": count, "DefaultThreadsPerCore": 1},
        "MemoryInfo": {"SizeInMiB": memory_mib(tmpl)},
        "InstanceStorageSupported": False,
        "HibernationSupported": False,
    }


def visible_types(ctx: RequestContext) -> dict[str, TemplateRecord]:
    """Type name -> the first visible template defining it, in type-name order."""
    by_type: dict[str, TemplateRecord] = {}
    for tmpl in sorted(ctx.one.templatepool_info(-2, -1, -1), key=lambda t: t.id):
        name = tmpl.template.get(INSTANCE_TYPE_ATTR)
        if name and name not in by_type:
            by_type[name] = tmpl
    return dict(sorted(by_type.items()))


TYPE_FILTERS: dict[str, Callable[[tuple[str, TemplateRecord]], Iterable[str]]] = {
    "instance-type": lambda item: [item[0]],
    "vcpu-info.default-vcpus": lambda item: [str(vcpus(item[1]))],
    "memory-info.size-in-mib": lambda item: [str(memory_mib(item[1]))],
    "current-generation": lambda item: ["true"],
}


def describe_instance_types(
    ctx: RequestContext, params: DescribeInstanceTypesRequestTypeDef
) -> DescribeInstanceTypesResult:
    filters = parse_filters(params.get("Filters"), TYPE_FILTERS, lambda item: [])
    types = visible_types(ctx)
    wanted: list[str] = list(dict.fromkeys(params.get("InstanceTypes") or []))
    missing = [name for name in wanted if name not in types]
    if missing:
        raise unknown_instance_types(missing)
    items = [(name, types[name]) for name in (wanted or list(types))]
    items = [item for item in items if filters.matches(item)]
    start = 0
    token = params.get("NextToken")
    if token:
        m = _TOKEN_RE.match(str(token))
        if not m:
            raise invalid_next_token()
        start = int(m.group(1))
    max_results = params.get("MaxResults")
    end = len(items)
    if max_results is not None:
        if not MIN_PAGE <= int(max_results) <= MAX_PAGE:
            raise invalid_parameter_value("MaxResults", f"must be between {MIN_PAGE} and {MAX_PAGE}")
        end = min(end, start + int(max_results))
    result: DescribeInstanceTypesResult = {
        "InstanceTypes": [instance_type_info(n, t) for n, t in items[start:end]]
    }
    if end < len(items):
        result["NextToken"] = f"t:{end}"
    return result


HANDLERS: dict[str, Handler] = {"DescribeInstanceTypes": describe_instance_types}
