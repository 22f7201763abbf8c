"""Instance-type catalog: vCPUs and memory of each EC2 instance type, for capacity and monitoring.

The IM driver turns `CAPACITY=[M1_SMALL=5]` and running instances into CPU/memory through this catalog.
Sizes come from the endpoint's DescribeInstanceTypes (asked only for the types in use, cached), else
from `instance_types.json` shipped with the package; `instance_types` in ec2_driver.conf overrides both
(upstream's `{name: {cpu: <vcpus>, memory: <GiB>}}` spelling, or `vcpus`/`memory_mib`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from one_drivers.ec2.errors import ErrorKind, classify, error_code

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.literals import InstanceTypeType
    from types_boto3_ec2.type_defs import DescribeInstanceTypesRequestTypeDef, InstanceTypeInfoTypeDef

log = logging.getLogger(__name__)

# DescribeInstanceTypes takes at most 100 names per request.
_BATCH = 100
# Codes of an endpoint that does not implement DescribeInstanceTypes (OpenStack ec2-api, old econe).
_UNSUPPORTED_CODES = frozenset(
    {"InvalidAction", "UnsupportedOperation", "NotImplemented", "UnknownOperation", "InvalidRequest"}
)


class UnknownInstanceType(LookupError):
    """A type name that neither the endpoint, the config nor the shipped table knows."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown EC2 instance type {name!r}")
        self.name = name


@dataclass(frozen=True)
class InstanceSize:
    """One instance type: vCPUs and memory; CPU in OpenNebula units (100 per vCPU) and memory in KB."""

    name: str
    vcpus: int
    memory_mib: int

    @property
    def cpu(self) -> int:
        return self.vcpus * 100

    @property
    def memory_kb(self) -> int:
        return self.memory_mib * 1024


def type_key(name: str) -> str:
    """Spelling-independent key: `m1.small`, `M1_SMALL` and `u-6tb1.metal`/`U_6TB1_METAL` collide on purpose.

    OpenNebula attribute names cannot hold `.` or `-`, so CAPACITY spells types with `_`.
    """
    return re.sub(r"[^A-Z0-9]", "_", name.strip().upper())


def type_name(capacity_name: str) -> str:
    """The EC2 name for a CAPACITY key as upstream mapped it: lower-case, `_` -> `.` (M1_SMALL -> m1.small)."""
    return capacity_name.strip().lower().replace("_", ".")


@cache
def shipped_table() -> Mapping[str, InstanceSize]:
    """The table shipped with the package, keyed by EC2 name."""
    # Imported here: importlib.resources costs ~15 ms, and every remotes script imports this module.
    from importlib import resources

    raw = json.loads(resources.files("one_drivers.ec2").joinpath("instance_types.json").read_text("utf-8"))
    return {name: InstanceSize(name, int(v[0]), int(v[1])) for name, v in raw["types"].items()}


def parse_overrides(config: Mapping[str, Any] | None) -> dict[str, InstanceSize]:
    """ec2_driver.conf `instance_types`: `{m1.small: {cpu: 1, memory: 1.7}}` (GiB) or vcpus/memory_mib."""
    out: dict[str, InstanceSize] = {}
    for name, spec in (config or {}).items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"instance_types.{name} must be a mapping with cpu and memory")
        try:
            vcpus = int(spec.get("vcpus", spec.get("cpu")))
            if "memory_mib" in spec:
                mib = int(spec["memory_mib"])
            else:
                mib = round(float(spec["memory"]) * 1024)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"instance_types.{name}: need cpu/vcpus and memory (GiB) or memory_mib") from exc
        out[str(name)] = InstanceSize(str(name), vcpus, mib)
    return out


class InstanceTypeCatalog:
    """Resolves type names to sizes; safe to share between the per-host monitoring threads.

    `sizes(names, client)` asks the endpoint only for names not cached yet, in one request per 100 names.
    An endpoint without DescribeInstanceTypes is remembered (for `ttl` seconds) and not asked again.
    """

    def __init__(
        self,
        overrides: Mapping[str, InstanceSize] | None = None,
        table: Mapping[str, InstanceSize] | None = None,
        *,
        ttl: float = 86400.0,
    ) -> None:
        self._overrides = {type_key(k): v for k, v in (overrides or {}).items()}
        self._table = {type_key(k): v for k, v in (shipped_table() if table is None else table).items()}
        self._ttl = ttl
        self._lock = threading.Lock()
        # endpoint id -> (fetched-at, {key: size}); endpoint id -> unsupported-until
        self._fetched: dict[str, tuple[float, dict[str, InstanceSize]]] = {}
        self._unsupported: dict[str, float] = {}
        # endpoint id -> {key: until}: names the endpoint said it does not have (not asked again soon)
        self._absent: dict[str, dict[str, float]] = {}
        self.endpoint_calls = 0

    def size(self, name: str, client: EC2Client | None = None) -> InstanceSize:
        return self.sizes([name], client)[name]

    def sizes(self, names: Iterable[str], client: EC2Client | None = None) -> dict[str, InstanceSize]:
        """Sizes for every name (any spelling); raise UnknownInstanceType naming the first unknown one."""
        found, missing = self.resolve(names, client)
        if missing:
            raise UnknownInstanceType(missing[0])
        return found

    def resolve(
        self, names: Iterable[str], client: EC2Client | None = None
    ) -> tuple[dict[str, InstanceSize], list[str]]:
        """(sizes of the names found, names nobody knows), asking the endpoint once for the uncached ones."""
        wanted = list(dict.fromkeys(names))
        out: dict[str, InstanceSize] = {}
        missing: list[str] = []
        endpoint = _endpoint_id(client) if client is not None else ""
        now = time.monotonic()
        with self._lock:
            cached = self._cached(endpoint)
            absent = self._absent.setdefault(endpoint, {})
            for name in wanted:
                key = type_key(name)
                found = self._overrides.get(key) or cached.get(key)
                if found is not None:
                    out[name] = found
                elif absent.get(key, 0.0) < now:
                    missing.append(name)
        if missing and client is not None and self._endpoint_usable(endpoint):
            fetched, answered = self._fetch(client, endpoint, [self._ec2_name(n) for n in missing])
            for name in missing:
                key = type_key(name)
                if key in fetched:
                    out[name] = fetched[key]
                elif answered:
                    with self._lock:
                        absent[key] = now + self._ttl
        unknown: list[str] = []
        for name in wanted:
            if name not in out:
                found = self._table.get(type_key(name))
                if found is None:
                    unknown.append(name)
                else:
                    out[name] = found
        return out, unknown

    def _ec2_name(self, name: str) -> str:
        # Prefer the real spelling from the table (u-6tb1.metal), else upstream's mapping.
        known = self._table.get(type_key(name))
        if known is not None:
            return known.name
        return name if "." in name else type_name(name)

    def _cached(self, endpoint: str) -> dict[str, InstanceSize]:
        entry = self._fetched.get(endpoint)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return {}
        return entry[1]

    def _endpoint_usable(self, endpoint: str) -> bool:
        with self._lock:
            return self._unsupported.get(endpoint, 0.0) < time.monotonic()

    def _describe(self, client: EC2Client, batch: list[str]) -> list[InstanceTypeInfoTypeDef]:
        """DescribeInstanceTypes for up to 100 names, following NextToken if the endpoint pages."""
        items: list[InstanceTypeInfoTypeDef] = []
        token = ""
        while True:
            # The stubs list the types AWS had when they were made; an endpoint may know newer ones.
            kwargs: DescribeInstanceTypesRequestTypeDef = {
                "InstanceTypes": cast("list[InstanceTypeType]", batch)
            }
            if token:
                kwargs["NextToken"] = token
            self.endpoint_calls += 1
            reply = client.describe_instance_types(**kwargs)
            items.extend(reply.get("InstanceTypes", []))
            token = reply.get("NextToken") or ""
            if not token:
                return items

    def _fetch(
        self, client: EC2Client, endpoint: str, names: list[str]
    ) -> tuple[dict[str, InstanceSize], bool]:
        """(sizes found, whether the endpoint answered for every name: a miss then means 'no such type')."""
        found: dict[str, InstanceSize] = {}
        answered = True
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            try:
                items = self._describe(client, batch)
            except Exception as exc:
                code = error_code(exc)
                if code in _UNSUPPORTED_CODES or (
                    classify(exc) is ErrorKind.FATAL and code.startswith("Unsupported")
                ):
                    log.info(
                        "endpoint %s has no DescribeInstanceTypes (%s): using the shipped table",
                        endpoint,
                        code,
                    )
                    with self._lock:
                        self._unsupported[endpoint] = time.monotonic() + self._ttl
                    return found, False
                if code == "InvalidInstanceType":
                    # One unknown name fails the whole request: ask for the others one by one.
                    if len(batch) > 1:
                        for single in batch:
                            more, ok = self._fetch(client, endpoint, [single])
                            found.update(more)
                            answered = answered and ok
                    continue
                log.warning(
                    "DescribeInstanceTypes on %s failed (%s): using the shipped table", endpoint, code
                )
                return found, False
            for item in items:
                size = InstanceSize(
                    str(item["InstanceType"]),
                    int(item.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
                    int(item.get("MemoryInfo", {}).get("SizeInMiB", 0)),
                )
                found[type_key(size.name)] = size
        with self._lock:
            entry = self._fetched.get(endpoint)
            if entry is None or time.monotonic() - entry[0] > self._ttl:
                entry = (time.monotonic(), {})
            entry[1].update(found)
            self._fetched[endpoint] = entry
        return found, answered


def _endpoint_id(client: EC2Client) -> str:
    meta = getattr(client, "meta", None)
    url = getattr(meta, "endpoint_url", "") if meta is not None else ""
    region = getattr(meta, "region_name", "") if meta is not None else ""
    return f"{url}|{region}"
