"""Host capacity of an EC2 host: CAPACITY counts x instance sizes -> TOTAL, running instances -> USED.

CAPACITY comes from the host template (`CAPACITY=[M1_SMALL=5, T3_MICRO=10]`) or, as upstream 4.4
allowed, from the driver's YAML `regions: {<host>|default: {capacity: {m1.small: 5}}}`; the host
template wins. CPU is vCPUs x 100 and memory KB, as oned counts them; FREE = TOTAL - USED.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from one_drivers.ec2.catalog import InstanceSize, UnknownInstanceType
from one_drivers.im_ec2.instances import Instance

log = logging.getLogger(__name__)


class CapacityError(ValueError):
    """CAPACITY that cannot be turned into totals (an unknown type, a bad count)."""


@dataclass(frozen=True)
class HostCapacity:
    total_cpu: int
    total_memory: int  # KB
    used_cpu: int
    used_memory: int  # KB

    @property
    def free_cpu(self) -> int:
        return self.total_cpu - self.used_cpu

    @property
    def free_memory(self) -> int:
        return self.total_memory - self.used_memory


def parse_counts(raw: Mapping[str, object]) -> dict[str, int]:
    """`{M1_SMALL: "5"}` -> `{M1_SMALL: 5}`; a count that is not a non-negative integer is an error."""
    counts: dict[str, int] = {}
    for name, value in raw.items():
        text = str(value).strip()
        if not text.isdigit():
            raise CapacityError(f"CAPACITY {name}={value!r}: the count must be a non-negative integer")
        counts[str(name)] = int(text)
    return counts


def totals(counts: Mapping[str, int], sizes: Mapping[str, InstanceSize]) -> tuple[int, int]:
    """(TOTALCPU, TOTALMEMORY KB) of CAPACITY counts, given the size of every named type."""
    cpu = memory = 0
    for name, count in counts.items():
        size = sizes.get(name)
        if size is None:
            raise CapacityError(f"CAPACITY names unknown EC2 instance type {name!r}")
        cpu += count * size.cpu
        memory += count * size.memory_kb
    return cpu, memory


def usage(instances: Iterable[Instance], sizes: Mapping[str, InstanceSize]) -> tuple[int, int]:
    """(USEDCPU, USEDMEMORY KB) of the instances that hold capacity (pending/running, wild ones too)."""
    cpu = memory = 0
    for inst in instances:
        if not inst.mapping.uses_capacity:
            continue
        size = sizes.get(inst.instance_type)
        if size is None:
            # Already logged when sizes were resolved; the instance runs, so it is not free either.
            continue
        cpu += size.cpu
        memory += size.memory_kb
    return cpu, memory


def host_capacity(
    counts: Mapping[str, int], instances: Iterable[Instance], sizes: Mapping[str, InstanceSize]
) -> HostCapacity:
    total_cpu, total_memory = totals(counts, sizes)
    used_cpu, used_memory = usage(instances, sizes)
    return HostCapacity(total_cpu, total_memory, used_cpu, used_memory)


def unknown_capacity_error(exc: UnknownInstanceType) -> CapacityError:
    return CapacityError(f"CAPACITY names unknown EC2 instance type {exc.name!r}")
