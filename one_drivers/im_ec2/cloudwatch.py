"""Optional CloudWatch CPU/network figures for monitored instances (off by default: AWS bills the calls).

At most one query round per host every `period` seconds (GetMetricData, 500 queries per request, so
~166 instances per request); between rounds the cached figures are served. CPU is CloudWatch's
CPUUtilization (percent of all the instance's vCPUs) x vCPUs, OpenNebula's unit; NETTX/NETRX are
running byte counters built from NetworkOut/NetworkIn sums, as oned expects counters.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from one_drivers.im_ec2.instances import Instance, Metrics

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import GetMetricDataInputTypeDef, MetricDataQueryTypeDef
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

_QUERIES_PER_CALL = 500
_METRICS = (("cpu", "CPUUtilization", "Average"), ("rx", "NetworkIn", "Sum"), ("tx", "NetworkOut", "Sum"))


class CloudWatchMetrics:
    """A MetricsSource; `client_for(ec2_client)` gives the CloudWatch client of the same account/region."""

    def __init__(
        self,
        client_for: Callable[[EC2Client], CloudWatchClient],
        period: float = 360.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.client_for = client_for
        self.period = max(60.0, period)
        self.clock = clock
        self.now = now
        self._lock = threading.Lock()
        self._next: dict[int, float] = {}
        self._cache: dict[int, dict[str, Metrics]] = {}
        self.calls = 0

    def metrics(
        self, client: EC2Client, instances: list[Instance], vcpus: Mapping[str, int] | None = None
    ) -> Mapping[str, Metrics]:
        key = id(client)
        with self._lock:
            cached = self._cache.setdefault(key, {})
            if self.clock() < self._next.get(key, 0.0):
                return dict(cached)
            self._next[key] = self.clock() + self.period
        if instances:
            fresh = self._query(self.client_for(client), instances, vcpus or {})
            with self._lock:
                for instance_id, (cpu, rx, tx) in fresh.items():
                    old = cached.get(instance_id, Metrics())
                    cached[instance_id] = Metrics(cpu, old.nettx + int(tx), old.netrx + int(rx))
        with self._lock:
            return dict(cached)

    def _query(
        self, cw: CloudWatchClient, instances: list[Instance], vcpus: Mapping[str, int]
    ) -> dict[str, tuple[float, float, float]]:
        end = self.now()
        start = end - datetime.timedelta(seconds=self.period)
        queries: list[MetricDataQueryTypeDef] = []
        index: dict[str, tuple[str, str]] = {}
        for n, inst in enumerate(instances):
            for short, metric, stat in _METRICS:
                qid = f"{short}{n}"
                index[qid] = (inst.instance_id, short)
                queries.append(
                    {
                        "Id": qid,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/EC2",
                                "MetricName": metric,
                                "Dimensions": [{"Name": "InstanceId", "Value": inst.instance_id}],
                            },
                            "Period": int(self.period),
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        values: dict[str, dict[str, float]] = {i.instance_id: {} for i in instances}
        for first in range(0, len(queries), _QUERIES_PER_CALL):
            batch = queries[first : first + _QUERIES_PER_CALL]
            token: str | None = None
            while True:
                kwargs: GetMetricDataInputTypeDef = {
                    "MetricDataQueries": batch,
                    "StartTime": start,
                    "EndTime": end,
                }
                if token:
                    kwargs["NextToken"] = token
                self.calls += 1
                reply = cw.get_metric_data(**kwargs)
                for result in reply.get("MetricDataResults", []):
                    instance_id, short = index[result["Id"]]
                    points = result.get("Values") or []
                    if points:
                        # newest first by default: the latest CPU average, all network bytes of the window
                        values[instance_id][short] = points[0] if short == "cpu" else sum(points)
                token = reply.get("NextToken")
                if not token:
                    break
        types = {i.instance_id: i.instance_type for i in instances}
        return {
            iid: (
                v.get("cpu", 0.0) * vcpus.get(types[iid], 1),
                v.get("rx", 0.0),
                v.get("tx", 0.0),
            )
            for iid, v in values.items()
        }
