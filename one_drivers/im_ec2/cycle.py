"""One monitoring cycle of one EC2 host: the single DescribeInstances and everything derived from it.

`take_snapshot` makes the cycle's EC2 calls (one paginated DescribeInstances, DescribeInstanceTypes
only for types not cached yet, CloudWatch only when enabled and due) and returns an immutable
`HostSnapshot`; the era-specific outputs in `report.py` and the reaper read only the snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from one_drivers.ec2.catalog import InstanceSize, InstanceTypeCatalog
from one_drivers.im_ec2.capacity import CapacityError, HostCapacity, host_capacity, parse_counts
from one_drivers.im_ec2.instances import Instance, Metrics, current_instances, describe_instances

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)


class MetricsSource(Protocol):
    """Per-instance CPU/network figures (CloudWatch); may return cached values between its own periods."""

    def metrics(
        self, client: EC2Client, instances: list[Instance], vcpus: Mapping[str, int] | None = None
    ) -> Mapping[str, Metrics]: ...


@dataclass(frozen=True)
class HostSnapshot:
    host_id: int
    host_name: str
    capacity: HostCapacity
    instances: tuple[Instance, ...]  # one per VM id (see current_instances), wild ones included
    all_instances: tuple[Instance, ...]  # everything DescribeInstances returned (the reaper's view)
    sizes: Mapping[str, InstanceSize] = field(default_factory=dict)  # by instance type
    metrics: Mapping[str, Metrics] = field(default_factory=dict)  # by instance id
    taken_at: float = field(default_factory=time.time)

    def size_of(self, inst: Instance) -> InstanceSize | None:
        return self.sizes.get(inst.instance_type)

    def metrics_of(self, inst: Instance) -> Metrics:
        return self.metrics.get(inst.instance_id) or Metrics()

    @property
    def vms(self) -> list[Instance]:
        """Instances of OpenNebula VMs (ONE_ID tag)."""
        return [i for i in self.instances if not i.wild]

    @property
    def wild(self) -> list[Instance]:
        return [i for i in self.instances if i.wild]


def take_snapshot(
    host_id: int,
    host_name: str,
    client: EC2Client,
    capacity: Mapping[str, object],
    catalog: InstanceTypeCatalog,
    metrics_source: MetricsSource | None = None,
) -> HostSnapshot:
    """Describe the host's instances once and size everything; CapacityError names an unknown type."""
    counts = parse_counts(capacity)
    found = describe_instances(client)
    current = current_instances(found)
    types = sorted({i.instance_type for i in found if i.instance_type})
    # One catalog lookup (at most one DescribeInstanceTypes for uncached names) for both uses.
    known, unknown = catalog.resolve([*counts, *types], client)
    for name in counts:
        if name in unknown:
            raise CapacityError(f"CAPACITY names unknown EC2 instance type {name!r}")
    for itype in unknown:
        log.warning(
            "host %s: instance type %s is not in the catalog; its instances count as 0", host_name, itype
        )
    metrics: Mapping[str, Metrics] = {}
    if metrics_source is not None:
        try:
            running = [i for i in current if i.mapping.uses_capacity]
            metrics = metrics_source.metrics(client, running, {t: s.vcpus for t, s in known.items()})
        except Exception as exc:  # metrics are optional: a CloudWatch failure never fails the cycle
            log.warning("host %s: CloudWatch metrics unavailable: %s", host_name, exc)
    log.debug("host %s: %d instances (%d current)", host_name, len(found), len(current))
    return HostSnapshot(
        host_id=host_id,
        host_name=host_name,
        capacity=host_capacity(counts, current, known),
        instances=tuple(current),
        all_instances=tuple(found),
        sizes={t: known[t] for t in types if t in known},
        metrics=metrics,
    )
