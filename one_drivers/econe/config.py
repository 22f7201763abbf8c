"""econe.conf: upstream's YAML read unchanged (`:key:` and `key:` spellings), typed, with upstream defaults.

Unknown keys are warned about, never fatal, so an upstream file works as it is. New keys (TLS, proxies,
skew, workers, caches) are ours; their names are documented in etc/econe.conf.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from one_drivers.one.cipher import ZERO_IV_SHA1, CipherScheme, parse_version, scheme_for_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EconeConfig:
    tmpdir: str = "/var/tmp"
    one_xmlrpc: str = "http://localhost:2633/RPC2"
    host: str = "localhost"
    port: int = 4567
    ssl_server: str | None = None  # public URL when behind a TLS-terminating proxy
    debug_level: int = 3
    auth: str = "ec2"  # ec2 | x509
    core_auth: str = "cipher"  # cipher | x509
    use_file_templates: bool = False
    instance_types: dict[str, Any] = field(default_factory=dict)
    describe_with_terminated_instances: bool = True
    terminated_instances_expiration_time: int = 900
    datastore_id: int | None = 1
    cluster_id: int | None = None
    elasticips_vnet_id: int | None = None
    associate_script: str | None = None
    disassociate_script: str | None = None
    ebs_fstype: str = "ext3"
    # --- ours -----------------------------------------------------------------------------------
    region_name: str = "opennebula"
    zone_name: str = "opennebula"
    region_aliases: tuple[str, ...] = ()  # more region names a SigV4 credential scope may name
    # None: $ONE_CIPHER_AUTH, else ec2_auth, else sunstone_auth in /var/lib/one/.one (6.2+ has no ec2_auth)
    one_cipher_auth: str | None = None
    # The OpenNebula line behind econe ("6.10", "5.12"...) pins the login-token scheme; None finds it out.
    one_version: str | None = None
    # Act for users with login tokens of their own (one.user.login) rather than server_cipher tokens:
    # oned checks those without its auth driver, and the user's other logins do not evict them.
    one_login_tokens: bool = True
    server_cipher_digest: str = "sha256"  # sha1 for OpenNebula before 5.10
    pid_file: str = "/var/run/one/econe-server.pid"
    log_file: str = "/var/log/one/econe-server.log"
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_ca: str | None = None  # CA bundle for client certificates on econe's own TLS listener
    trusted_proxies: tuple[str, ...] = ()
    clock_skew: int = 300
    workers: int = 16
    processes: int = 1  # worker processes sharing the port (SO_REUSEPORT)
    head_timeout: float = 10.0  # seconds for a request's head (and a body up to 64 KiB) to arrive
    body_timeout: float = 60.0  # seconds for a larger body, plus its size at 64 KiB/s
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # Prometheus metrics listener; off when unset
    user_cache_seconds: int = 60
    max_upload_bytes: int = 50 * 1024**3
    # The VPC face: one VPC per region, subnets = the virtual networks a user may use.
    vpc_id: str = "vpc-00000001"
    vpc_cidr: str | None = None  # default: the smallest block covering the user's subnets
    default_subnet_id: int | None = None  # the virtual network RunInstances uses when none is named
    console_output_source: str = "log"  # GetConsoleOutput: "log" (oned's vm.log) or "none"
    vm_log_dir: str = "/var/log/one"
    script_timeout: int = 30  # seconds for associate_script / disassociate_script

    @property
    def public_url(self) -> str:
        if self.ssl_server:
            return self.ssl_server.rstrip("/")
        return f"http://{self.host}:{self.port}"


_FIELDS = {f.name: f for f in fields(EconeConfig)}
_INT_FIELDS = frozenset(
    {
        "port",
        "debug_level",
        "terminated_instances_expiration_time",
        "datastore_id",
        "cluster_id",
        "elasticips_vnet_id",
        "clock_skew",
        "workers",
        "processes",
        "metrics_port",
        "user_cache_seconds",
        "max_upload_bytes",
        "default_subnet_id",
        "script_timeout",
    }
)
_FLOAT_FIELDS = frozenset({"head_timeout", "body_timeout"})


class ConfigError(ValueError):
    """econe.conf asks for something econe cannot do; the server refuses to start with this message."""


def parse_config(data: dict[str, Any] | None) -> EconeConfig:
    """Build the config from a parsed YAML mapping; keys may carry upstream's leading colon."""
    values: dict[str, Any] = {}
    for raw_key, value in (data or {}).items():
        key = str(raw_key).strip().strip(":").lower()
        if key not in _FIELDS:
            log.warning("econe.conf: unknown key %r ignored", raw_key)
            continue
        if value is None:
            continue  # an upstream key left empty (`:ssl_server:`) means the default
        if key == "one_version" and not isinstance(value, str):
            # YAML reads 6.10 as the number 6.1: only a quoted version says which line is meant.
            raise ConfigError(f'econe.conf: write {raw_key} quoted, e.g. "6.10" (YAML read {value!r})')
        if key in ("trusted_proxies", "region_aliases"):
            value = tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
        elif key in _INT_FIELDS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"econe.conf: {raw_key} must be a number, not {value!r}") from None
        elif key in _FLOAT_FIELDS:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"econe.conf: {raw_key} must be a number, not {value!r}") from None
        values[key] = value
    return EconeConfig(**values)


def check_config(config: EconeConfig) -> None:
    """Refuse settings we do not implement, with the reason, instead of misbehaving later."""
    if config.auth not in ("ec2", "x509"):
        raise ConfigError(f"econe.conf: auth must be ec2 or x509, not {config.auth!r}")
    if config.core_auth != "cipher":
        raise ConfigError(
            f"econe.conf: core_auth {config.core_auth!r} is not supported; use cipher (server_cipher login tokens)"
        )
    if config.use_file_templates:
        raise ConfigError(
            "econe.conf: use_file_templates (ERB instance-type files, deprecated upstream) is not supported; "
            "tag VM templates with EC2_INSTANCE_TYPE=<type> instead"
        )
    if config.server_cipher_digest not in ("sha256", "sha1"):
        raise ConfigError("econe.conf: server_cipher_digest must be sha256 (5.10+) or sha1 (older oned)")
    if config.one_version is not None:
        try:
            parse_version(str(config.one_version))
        except ValueError:
            raise ConfigError(
                f"econe.conf: one_version must be an OpenNebula version such as 6.10, not {config.one_version!r}"
            ) from None
    if bool(config.ssl_cert) != bool(config.ssl_key):
        raise ConfigError("econe.conf: ssl_cert and ssl_key go together")
    if config.ssl_ca and not config.ssl_cert:
        raise ConfigError("econe.conf: ssl_ca (client certificates) needs ssl_cert and ssl_key")
    if config.processes < 1 or config.workers < 1:
        raise ConfigError("econe.conf: processes and workers must be at least 1")
    if config.head_timeout <= 0 or config.body_timeout <= 0:
        raise ConfigError("econe.conf: head_timeout and body_timeout must be positive")
    if config.metrics_port is not None and config.metrics_port == config.port and config.port != 0:
        raise ConfigError("econe.conf: metrics_port must differ from port")
    if not 0 <= config.debug_level <= 3:
        raise ConfigError("econe.conf: debug_level must be 0..3")
    if not re.fullmatch(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?", config.vpc_id):
        raise ConfigError("econe.conf: vpc_id must look like vpc-0123abcd (8 or 17 hex digits)")
    if config.vpc_cidr is not None:
        try:
            ipaddress.ip_network(config.vpc_cidr)
        except ValueError:
            raise ConfigError(f"econe.conf: vpc_cidr {config.vpc_cidr!r} is not a CIDR block") from None
    if config.console_output_source not in ("log", "none"):
        raise ConfigError("econe.conf: console_output_source must be log or none")
    if config.script_timeout <= 0:
        raise ConfigError("econe.conf: script_timeout must be a positive number of seconds")
    if config.instance_types:
        log.warning("econe.conf: instance_types is only used with file templates; ignored")


def login_scheme(config: EconeConfig) -> CipherScheme | None:
    """The server_cipher token scheme econe.conf pins, or None to find it from oned's answers."""
    if config.one_version is not None:
        return scheme_for_version(str(config.one_version))
    if config.server_cipher_digest == "sha1":
        return ZERO_IV_SHA1
    return None


def load_config(path: str | Path) -> EconeConfig:
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{path}: econe.conf must be a YAML mapping")
    return parse_config(data)
