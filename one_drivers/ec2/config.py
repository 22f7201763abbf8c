"""The driver's YAML file (`ec2_driver.conf`), read as upstream 4.4-6.x wrote it, plus our additions.

Upstream layouts are accepted unchanged: `regions: {<host>|default: {region_name, access_key_id,
secret_access_key, capacity}}`, `proxy_uri`, `state_wait_timeout_seconds`, `instance_types`, and the
Ruby-symbol spelling (`:regions:`, `:region_name:`). Ours adds per region `endpoint_url` and `profile`,
and top level `retry_mode`, `max_attempts`, `connect_timeout`, `read_timeout`, `defaults_file`.

    config = load_config(args.config)          # None -> /etc/one/ec2_driver.conf (absent: empty config)
    region = config.region_for("ec2-host")     # the host's section, else `default`, else None
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = "/etc/one/ec2_driver.conf"
DEFAULT_DEFAULTS_PATH = "/etc/one/ec2_driver.default"
# Upstream's wait for an instance to reach a state (VMM actions).
DEFAULT_STATE_WAIT_SECONDS = 1500.0
RETRY_MODES = ("standard", "adaptive")


class ConfigError(ValueError):
    """The driver's YAML file is missing (when named explicitly), unreadable or malformed."""


@dataclass(frozen=True)
class RegionConfig:
    """One `regions:` entry: what a host named like the key (or any host, for `default`) uses."""

    name: str
    region_name: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    profile: str | None = None
    capacity: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DriverConfig:
    """The whole YAML file, typed; `raw` keeps the normalized mapping for the IM side's extras."""

    path: str | None = None
    regions: Mapping[str, RegionConfig] = field(default_factory=dict)
    proxy_uri: str | None = None
    state_wait_timeout: float = DEFAULT_STATE_WAIT_SECONDS
    retry_mode: str = "standard"
    max_attempts: int = 5  # total attempts per request, the first one included
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    defaults_file: str | None = None
    instance_types: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def region_for(self, host: str) -> RegionConfig | None:
        """The section named like the host (exact, then case-insensitive), else `default`, else None."""
        if host in self.regions:
            return self.regions[host]
        lowered = host.lower()
        for name, region in self.regions.items():
            if name.lower() == lowered:
                return region
        return self.regions.get("default")


def normalize_keys(value: Any) -> Any:
    """Strip the leading ':' of Ruby-symbol keys (`:region_name:`) at every level."""
    if isinstance(value, dict):
        return {
            (k[1:] if isinstance(k, str) and k.startswith(":") else str(k)): normalize_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalize_keys(v) for v in value]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} must be a number, not {value!r}") from exc
    if number <= 0:
        raise ConfigError(f"{key} must be positive, not {value!r}")
    return number


def _capacity(name: str, value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"regions/{name}/capacity must be a mapping of instance type to count")
    result: dict[str, int] = {}
    for itype, count in value.items():
        if count is None or count == "":
            continue  # upstream ships empty counts for unused types
        try:
            result[str(itype)] = int(count)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"regions/{name}/capacity/{itype} must be an integer, not {count!r}") from exc
    return result


def parse_config(data: Any, path: str | None = None) -> DriverConfig:
    """Build a DriverConfig from the loaded YAML document (a mapping, or None for an empty file)."""
    if data is None:
        data = {}
    raw = normalize_keys(data)
    if not isinstance(raw, dict):
        raise ConfigError("ec2_driver.conf must be a YAML mapping")
    regions: dict[str, RegionConfig] = {}
    regions_raw = raw.get("regions") or {}
    if not isinstance(regions_raw, dict):
        raise ConfigError("regions must be a mapping of host name (or default) to settings")
    for name, entry in regions_raw.items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"regions/{name} must be a mapping")
        regions[str(name)] = RegionConfig(
            name=str(name),
            region_name=_text(entry.get("region_name")),
            access_key_id=_text(entry.get("access_key_id")),
            secret_access_key=_text(entry.get("secret_access_key")),
            endpoint_url=_text(entry.get("endpoint_url") or entry.get("endpoint")),
            profile=_text(entry.get("profile")),
            capacity=_capacity(str(name), entry.get("capacity")),
        )
    retry_mode = str(raw.get("retry_mode") or "standard").lower()
    if retry_mode not in RETRY_MODES:
        raise ConfigError(f"retry_mode must be one of {', '.join(RETRY_MODES)}, not {retry_mode!r}")
    types = raw.get("instance_types") or {}
    return DriverConfig(
        path=path,
        regions=regions,
        proxy_uri=_text(raw.get("proxy_uri")),
        state_wait_timeout=_number(raw, "state_wait_timeout_seconds", DEFAULT_STATE_WAIT_SECONDS),
        retry_mode=retry_mode,
        max_attempts=int(_number(raw, "max_attempts", 5)),
        connect_timeout=_number(raw, "connect_timeout", 10.0),
        read_timeout=_number(raw, "read_timeout", 60.0),
        defaults_file=_text(raw.get("defaults_file")),
        instance_types=types if isinstance(types, dict) else {},
        raw=raw,
    )


def load_config(path: str | os.PathLike[str] | None = None) -> DriverConfig:
    """Read the YAML file; an explicit path must exist, the default path may be absent (empty config)."""
    import yaml

    explicit = path is not None
    target = Path(path) if path is not None else Path(DEFAULT_CONFIG_PATH)
    if not target.is_file():
        if explicit:
            raise ConfigError(f"driver configuration {target} not found")
        log.info("no driver configuration at %s: using host attributes and boto3 defaults", target)
        return DriverConfig()
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read driver configuration {target}: {exc}") from exc
    config = parse_config(data, str(target))
    log.info("driver configuration %s: %d region sections", target, len(config.regions))
    return config
