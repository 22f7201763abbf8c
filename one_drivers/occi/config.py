"""occi-server.conf in both upstream formats, read unchanged: 2.0's shell-style file and the later YAML.

2.0: `ONE_XMLRPC=…`, `SERVER=…`, `PORT=…`, `SSL_SERVER=…`, `BRIDGE=…` and one `VM_TYPE=[NAME=…,TEMPLATE=…]`
per instance type. 3.x/4.x: YAML with `:one_xmlrpc:`, `:host:`, `:port:`, `:instance_types:` (each with
`:template:` and descriptive `:cpu:`/`:memory:`…). Unknown keys are warned about, never fatal. An instance
type's template file (in `template_location`, upstream's etc/occi_templates) is plain OpenNebula template
text; ERB code in it is refused at start, since this server does not run Ruby.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from one_drivers.one.template import Template, TemplateError, parse_template

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """occi-server.conf asks for something the server cannot do; it refuses to start with this message."""


@dataclass(frozen=True)
class InstanceType:
    """A compute size: its name, the template text it contributes, and what `/instance_type` shows."""

    name: str
    template: Template
    attributes: tuple[tuple[str, str], ...] = ()  # descriptive (CPU, MEMORY…), upper-case names
    template_id: int | None = None  # a VM template tagged as econe's types are, instantiated instead


@dataclass(frozen=True)
class OcciConfig:
    tmpdir: str = "/var/tmp"
    one_xmlrpc: str = "http://localhost:2633/RPC2"
    host: str = "127.0.0.1"
    port: int = 4567
    ssl_server: str | None = None  # public URL when behind a TLS-terminating proxy
    auth: str = "occi"  # occi (HTTP Basic) | x509
    core_auth: str = "cipher"
    debug_level: int = 3
    cluster_id: int | None = None
    datastore_id: int = 1
    bridge: str | None = None  # 2.0's BRIDGE for the networks users create
    instance_types: dict[str, InstanceType] = field(default_factory=dict)
    # --- ours -----------------------------------------------------------------------------------
    template_location: str = "/etc/one/occi_templates"
    # None: $ONE_CIPHER_AUTH, else occi_auth, else sunstone_auth in /var/lib/one/.one
    one_cipher_auth: str | None = None
    server_cipher_digest: str = "sha256"  # sha1 for OpenNebula before 5.10
    pid_file: str = "/var/run/one/occi-server.pid"
    log_file: str = "/var/log/one/occi-server.log"
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_ca: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    workers: int = 16
    user_cache_seconds: int = 60
    max_upload_bytes: int = 50 * 1024**3

    @property
    def base_url(self) -> str:
        """The URL every `href` starts with: the proxy's when behind one, else our own listener."""
        if self.ssl_server:
            url = self.ssl_server.rstrip("/")
            return url if "://" in url else f"https://{url}"
        return f"http://{self.host}:{self.port}"


_FIELDS = {f.name for f in fields(OcciConfig)}
_INT_FIELDS = frozenset(
    {"port", "debug_level", "cluster_id", "datastore_id", "workers", "user_cache_seconds", "max_upload_bytes"}
)
# 2.0 names -> ours (2.0 called the listen address SERVER).
_SHELL_KEYS = {"SERVER": "host", "ONE_XMLRPC": "one_xmlrpc", "SSL_SERVER": "ssl_server"}
_SHELL_LINE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*\Z")
_ERB = re.compile(r"<%")


def _strip_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _vm_type(value: str) -> dict[str, str]:
    """`[NAME=small, TEMPLATE=small.erb]` -> {"name": "small", "template": "small.erb"}."""
    inner = value.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ConfigError(f"occi-server.conf: VM_TYPE must be [NAME=…, TEMPLATE=…], not {value!r}")
    members: dict[str, str] = {}
    for part in inner[1:-1].split(","):
        key, sep, val = part.partition("=")
        if not sep:
            raise ConfigError(f"occi-server.conf: VM_TYPE member {part.strip()!r} has no '='")
        members[key.strip().lower()] = _strip_quotes(val.strip())
    if not members.get("name"):
        raise ConfigError(f"occi-server.conf: VM_TYPE {value!r} has no NAME")
    return members


def parse_shell_config(text: str) -> dict[str, Any]:
    """2.0's `KEY=value` lines -> the YAML format's mapping (so one builder serves both)."""
    data: dict[str, Any] = {}
    types: dict[str, dict[str, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _SHELL_LINE.match(stripped)
        if not match:
            raise ConfigError(f"occi-server.conf line {number}: expected KEY=value, got {stripped!r}")
        key, value = match.group(1).upper(), _strip_quotes(match.group(2))
        if key == "VM_TYPE":
            members = _vm_type(value)
            types[members.pop("name")] = members
        else:
            data[_SHELL_KEYS.get(key, key.lower())] = value
    if types:
        data["instance_types"] = types
    return data


def is_shell_config(text: str) -> bool:
    """2.0's format: its first setting is `KEY=value` rather than YAML's `:key: value`."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(_SHELL_LINE.match(stripped)) and not stripped.startswith(":")
    return False


def load_type_template(location: str, name: str, spec: dict[str, Any]) -> InstanceType:
    """An instance type from its config entry and (when present) its template file."""
    attributes: list[tuple[str, str]] = []
    for raw_key, value in spec.items():
        key = str(raw_key).strip(":").lower()
        if key == "template" or value is None:
            continue
        attributes.append((key.upper(), str(value)))
    text = ""
    filename = spec.get("template") or spec.get(":template")
    if filename:
        path = Path(location) / str(filename)
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if _ERB.search(text):
                raise ConfigError(
                    f"{path}: ERB code (<% … %>) is not run by this server; write the instance type as plain "
                    "OpenNebula template text (CPU = 1 …)"
                )
        else:
            log.warning("instance type %s: template file %s not found; using its CPU/MEMORY", name, path)
    if not text.strip():
        text = "".join(f'{k} = "{v}"\n' for k, v in attributes if k in ("CPU", "MEMORY", "VCPU"))
    try:
        template = parse_template(
            "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        )
    except TemplateError as exc:
        raise ConfigError(f"instance type {name}: {exc}") from exc
    return InstanceType(name=name, template=template, attributes=tuple(sorted(attributes)))


def parse_config(data: dict[str, Any] | None, *, base_dir: str | None = None) -> OcciConfig:
    """Build the config from a parsed mapping; keys may carry upstream's leading colon."""
    values: dict[str, Any] = {}
    raw_types: dict[str, Any] = {}
    for raw_key, value in (data or {}).items():
        key = str(raw_key).strip().strip(":").lower()
        if key not in _FIELDS:
            log.warning("occi-server.conf: unknown key %r ignored", raw_key)
            continue
        if value is None or value == "":
            continue  # an upstream key left empty (`:cluster_id:`) means the default
        if key == "instance_types":
            if not isinstance(value, dict):
                raise ConfigError("occi-server.conf: instance_types must be a mapping of name -> settings")
            raw_types = value
            continue
        if key == "trusted_proxies":
            value = tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
        elif key in _INT_FIELDS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError(f"occi-server.conf: {raw_key} must be a number, not {value!r}") from None
        else:
            value = str(value)
        values[key] = value
    if "template_location" not in values and base_dir is not None:
        values["template_location"] = os.path.join(base_dir, "occi_templates")
    location = values.get("template_location", OcciConfig.template_location)
    types = {}
    for raw_name, spec in raw_types.items():
        name = str(raw_name).strip(":")
        types[name] = load_type_template(location, name, dict(spec or {}))
    values["instance_types"] = types
    return OcciConfig(**values)


def check_config(config: OcciConfig) -> None:
    """Refuse settings we do not implement, with the reason, instead of misbehaving later."""
    if config.auth not in ("occi", "basic", "x509"):
        raise ConfigError(f"occi-server.conf: auth must be occi or x509, not {config.auth!r}")
    if config.core_auth != "cipher":
        raise ConfigError(f"occi-server.conf: core_auth {config.core_auth!r} is not supported; use cipher")
    if config.server_cipher_digest not in ("sha256", "sha1"):
        raise ConfigError(
            "occi-server.conf: server_cipher_digest must be sha256 (5.10+) or sha1 (older oned)"
        )
    if bool(config.ssl_cert) != bool(config.ssl_key):
        raise ConfigError("occi-server.conf: ssl_cert and ssl_key go together")
    if not 0 <= config.debug_level <= 3:
        raise ConfigError("occi-server.conf: debug_level must be 0..3")


def load_config(path: str | Path) -> OcciConfig:
    """Either format, detected from the file's first setting."""
    text = Path(path).read_text(encoding="utf-8")
    base_dir = os.path.dirname(os.path.abspath(path))
    if is_shell_config(text):
        return parse_config(parse_shell_config(text), base_dir=base_dir)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML nor KEY=value lines: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: occi-server.conf must be a YAML mapping or KEY=value lines")
    return parse_config(data, base_dir=base_dir)
