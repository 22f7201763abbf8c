"""Which EC2 account/region/endpoint an OpenNebula host means, and one reused boto3 client for it.

Resolution per host name, each step logged (secrets never): (1) the host template read decrypted with
`one.host.info(id, true)` (EC2_ACCESS, EC2_SECRET, REGION_NAME, EC2_ENDPOINT, EC2_PROFILE, CAPACITY);
(2) the YAML `regions:` section named like the host, else `default`; (3) boto3's own default chain.
Each field comes from the first source that has it. Clients are cached per (host, credentials, region,
endpoint, profile) with connect/read timeouts; retries and pacing are ec2/retries.py's, with one set of
pacers per endpoint (credentials, region, URL) shared by every client and host that uses it.

    clients = Ec2Clients(load_config(path))            # host templates via OneGateway.from_env()
    ec2, settings = clients.for_host("ec2-host")       # ec2 is a boto3 EC2 client
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from one_drivers.ec2.config import DriverConfig
from one_drivers.ec2.observe import Ec2CallObserver, watch_client
from one_drivers.ec2.retries import Pacers, RetryPolicy

if TYPE_CHECKING:  # the stubs are a development dependency only; records for annotations (~13 ms to import)
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ec2 import EC2Client

    from one_drivers.one.records import HostRecord

log = logging.getLogger(__name__)

FALLBACK_REGION = "us-east-1"  # boto3 refuses to build a client without any region
SETTINGS_TTL_SECONDS = 60.0  # host templates change rarely; do not ask oned on every action
MAX_THROTTLE_WAIT_SECONDS = 600.0  # one call waits out throttling this long at most

_Key = tuple[str | None, ...]
_Client = TypeVar("_Client")


class HostTemplateSource(Protocol):
    """What we need from oned (OneGateway has both methods)."""

    def hostpool_info(self) -> list[HostRecord]: ...

    def host_info(self, host_id: int, decrypt: bool = False) -> HostRecord: ...


@dataclass(frozen=True)
class Ec2Settings:
    """Resolved settings for one OpenNebula host; `sources` says where each field came from."""

    host: str
    region_name: str
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    profile: str | None = None
    capacity: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def cache_key(self) -> tuple[str | None, ...]:
        return (
            self.host,
            self.access_key_id,
            self.secret_access_key,
            self.region_name,
            self.endpoint_url,
            self.profile,
        )


def host_template_attributes(host: HostRecord) -> dict[str, Any]:
    """A host's TEMPLATE: single values as str, vectors (CAPACITY) as dicts."""
    attrs: dict[str, Any] = {}
    for name, value in host.template.attributes:
        if isinstance(value, str):
            attrs[name.upper()] = value.strip()
        else:
            attrs[name.upper()] = {sub.upper(): text.strip() for sub, text in value.items()}
    return attrs


def find_host_id(hosts: Iterable[HostRecord], host: str) -> int | None:
    """The id of the host named `host` in the host pool (exact name match, as oned's)."""
    return next((record.id for record in hosts if record.name == host), None)


def capacity_from_template(value: Any) -> dict[str, int]:
    """CAPACITY=[M1_SMALL=5, T3_MICRO=10] -> {"m1.small": 5, "t3.micro": 10}."""
    if not isinstance(value, dict):
        return {}
    # Imported here: the VMM actions import this module and never read CAPACITY (~3 ms at their start).
    from one_drivers.ec2.catalog import type_name

    result: dict[str, int] = {}
    for name, count in value.items():
        try:
            result[type_name(str(name))] = int(str(count).strip())
        except ValueError:
            log.warning("ignoring CAPACITY %s=%r: not an integer", name, count)
    return result


class HostSettingsResolver:
    """Resolves Ec2Settings per host name; results are cached for SETTINGS_TTL_SECONDS."""

    def __init__(
        self,
        config: DriverConfig,
        oned: Callable[[], HostTemplateSource] | None = None,
        *,
        ttl: float = SETTINGS_TTL_SECONDS,
        default_region: Callable[[], str | None] | None = None,
    ) -> None:
        self.config = config
        self._oned_factory = oned if oned is not None else _gateway_from_env
        self._ttl = ttl
        self._default_region = default_region or _boto3_default_region
        self._cache: dict[str, tuple[float, Ec2Settings]] = {}
        self._lock = threading.Lock()

    def invalidate(self, host: str | None = None) -> None:
        with self._lock:
            if host is None:
                self._cache.clear()
            else:
                self._cache.pop(host, None)

    def resolve(self, host: str) -> Ec2Settings:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(host)
            if cached and now - cached[0] < self._ttl:
                return cached[1]
        settings = self._resolve(host)
        with self._lock:
            self._cache[host] = (now, settings)
        return settings

    def _template(self, host: str) -> dict[str, Any]:
        try:
            oned = self._oned_factory()
            host_id = find_host_id(oned.hostpool_info(), host)
            if host_id is None:
                log.info("host %s: not found in oned's host pool; skipping host attributes", host)
                return {}
            attrs = host_template_attributes(oned.host_info(host_id, True))
        except Exception as exc:  # no ONE_AUTH, oned down, not oneadmin...: fall through to YAML
            log.info("host %s: host attributes not available (%s: %s)", host, type(exc).__name__, exc)
            return {}
        found = sorted(k for k in _TEMPLATE_KEYS.values() if attrs.get(k))
        log.info("host %s: host template (id %d) provides %s", host, host_id, ", ".join(found) or "nothing")
        return attrs

    def _resolve(self, host: str) -> Ec2Settings:
        attrs = self._template(host)
        region_cfg = self.config.region_for(host)
        if region_cfg is not None:
            log.info("host %s: driver configuration section %r", host, region_cfg.name)
        yaml = region_cfg
        yaml_label = f"config regions/{yaml.name}" if yaml is not None else ""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}

        def take(name: str, template_value: Any, yaml_value: Any) -> None:
            if template_value:
                values[name], sources[name] = template_value, "host template"
            elif yaml_value:
                values[name], sources[name] = yaml_value, yaml_label

        # Keys travel as a pair: a key id from one source and a secret from another would never match.
        if attrs.get("EC2_ACCESS") and attrs.get("EC2_SECRET"):
            values["access_key_id"], values["secret_access_key"] = attrs["EC2_ACCESS"], attrs["EC2_SECRET"]
            sources["credentials"] = "host template"
        elif yaml is not None and yaml.access_key_id and yaml.secret_access_key:
            values["access_key_id"], values["secret_access_key"] = yaml.access_key_id, yaml.secret_access_key
            sources["credentials"] = yaml_label
        else:
            sources["credentials"] = "boto3 default chain"
        take("region_name", attrs.get("REGION_NAME"), yaml.region_name if yaml else None)
        take("endpoint_url", attrs.get("EC2_ENDPOINT"), yaml.endpoint_url if yaml else None)
        take("profile", attrs.get("EC2_PROFILE"), yaml.profile if yaml else None)
        take("capacity", capacity_from_template(attrs.get("CAPACITY")), dict(yaml.capacity) if yaml else None)
        if "region_name" not in values:
            values["region_name"] = self._default_region() or FALLBACK_REGION
            sources["region_name"] = "boto3 default chain"
        settings = Ec2Settings(host=host, sources=sources, **values)
        log.info(
            "host %s: region %s (%s), endpoint %s (%s), credentials from %s%s",
            host,
            settings.region_name,
            sources["region_name"],
            settings.endpoint_url or "default",
            sources.get("endpoint_url", "boto3"),
            sources["credentials"],
            f", profile {settings.profile}" if settings.profile else "",
        )
        return settings


_TEMPLATE_KEYS = {
    "access_key_id": "EC2_ACCESS",
    "secret_access_key": "EC2_SECRET",
    "region_name": "REGION_NAME",
    "endpoint_url": "EC2_ENDPOINT",
    "profile": "EC2_PROFILE",
    "capacity": "CAPACITY",
}


def _gateway_from_env() -> HostTemplateSource:
    from one_drivers.one.gateway import OneGateway

    return OneGateway.from_env()


def credentials_available(settings: Ec2Settings) -> bool:
    """Whether a client for these settings would have keys: their own, or boto3's chain (env, profile)."""
    if settings.access_key_id and settings.secret_access_key:
        return True
    import boto3

    try:
        return boto3.session.Session(profile_name=settings.profile).get_credentials() is not None
    except Exception:  # a named profile that does not exist
        return False


def known_ec2_regions() -> frozenset[str]:
    """The EC2 regions of every AWS partition botocore knows (other endpoints may name theirs freely)."""
    import boto3

    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def _boto3_default_region() -> str | None:
    import boto3

    region = boto3.session.Session().region_name
    return str(region) if region else None


def known_region(region: str) -> bool:
    """Whether botocore's endpoint data knows `region` for EC2 in any partition (no network)."""
    import boto3

    session = boto3.session.Session()
    return any(
        region in session.get_available_regions("ec2", partition)
        for partition in session.get_available_partitions()
    )


class Ec2Clients:
    """One boto3 EC2 client per distinct Ec2Settings.cache_key(), created once and shared by threads."""

    def __init__(
        self,
        config: DriverConfig,
        resolver: HostSettingsResolver | None = None,
        observer: Ec2CallObserver | None = None,
    ) -> None:
        self.config = config
        self.resolver = resolver or HostSettingsResolver(config)
        self.observer = observer  # told about every call and attempt (the drivers' metrics)
        self._clients: dict[_Key, EC2Client] = {}
        self._cloudwatch: dict[_Key, CloudWatchClient] = {}
        self._sessions: dict[str | None, Any] = {}
        self._pacers: dict[tuple[str | None, ...], Pacers] = {}
        self._lock = threading.Lock()

    def for_host(self, host: str) -> tuple[EC2Client, Ec2Settings]:
        """The EC2 client and the settings it was built from, for an OpenNebula host name."""
        settings = self.resolver.resolve(host)
        return self.client_for(settings), settings

    def client_for(self, settings: Ec2Settings, *, retry: bool = True) -> EC2Client:
        """The cached client; `retry=False` gives one that never resends a request by itself, for
        calls that are not idempotent on every endpoint (RunInstances where ClientToken is ignored)."""
        key = (*settings.cache_key(), "retry" if retry else "once")
        return self._cached(self._clients, key, lambda: self._create(settings, retry))

    def cloudwatch_for(self, settings: Ec2Settings) -> CloudWatchClient:
        """A CloudWatch client with the same credentials, region, endpoint and retry settings (cached)."""
        key = (*settings.cache_key(), "cloudwatch")
        return self._cached(self._cloudwatch, key, lambda: self._create(settings, True, service="cloudwatch"))

    def _cached(self, cache: dict[_Key, _Client], key: _Key, make: Callable[[], _Client]) -> _Client:
        with self._lock:
            client = cache.get(key)
            if client is None:
                client = cache[key] = make()
            return client

    def _create(self, settings: Ec2Settings, retry: bool, service: str = "ec2") -> Any:
        # Any: boto3 itself is untyped; the public methods give the client its stub type.
        import boto3
        from botocore.config import Config

        # boto3 sessions are not thread-safe; we only touch them under self._lock.
        session = self._sessions.get(settings.profile)
        if session is None:
            session = boto3.session.Session(profile_name=settings.profile)
            self._sessions[settings.profile] = session
        config = Config(
            # One attempt in botocore: RetryPolicy decides every retry (botocore's quota ran dry under
            # sustained throttling and then failed calls without retrying them).
            retries={"mode": self.config.retry_mode, "total_max_attempts": 1},
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
            proxies={"http": self.config.proxy_uri, "https": self.config.proxy_uri}
            if self.config.proxy_uri
            else None,
            user_agent_extra="one_drivers",
        )
        log.info(
            "host %s: new %s client (region %s, endpoint %s, retry %s)",
            settings.host,
            service,
            settings.region_name,
            settings.endpoint_url or "default",
            self.config.retry_mode,
        )
        client = session.client(
            service,
            region_name=settings.region_name,
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=config,
        )
        # AWS limits request rates per account and region: hosts sharing an endpoint share its pacers.
        endpoint = (*settings.cache_key()[1:], service)
        pacers = self._pacers.setdefault(endpoint, Pacers())
        RetryPolicy(
            pacers,
            idempotent=retry,
            max_attempts=self.config.max_attempts,
            throttle_wait=min(self.config.state_wait_timeout, MAX_THROTTLE_WAIT_SECONDS),
        ).attach(client, client.meta.service_model.service_id.hyphenize())
        if self.observer is not None:
            watch_client(client, self.observer)
        return client
