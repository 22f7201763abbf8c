"""`one-ec2 check HOST`: what the drivers would use for an ec2 host, and whether the endpoint takes it.

Reads the host through the OpenNebula gateway (ONE_XMLRPC / ONE_AUTH, as the CLI does), resolves its EC2
settings with the drivers' own resolver (host template, then ec2_driver.conf, then boto3's chain), and makes
one DescribeRegions and one DescribeInstances call without retries. Prints each finding and each problem
with what to change; secrets are never printed (the key id is shortened).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from one_drivers.admin.tree import AdminError
from one_drivers.ec2.clients import (
    FALLBACK_REGION,
    Ec2Clients,
    Ec2Settings,
    HostSettingsResolver,
    credentials_available,
    find_host_id,
    known_ec2_regions,
)
from one_drivers.ec2.config import ConfigError, DriverConfig, load_config, parse_config
from one_drivers.ec2.errors import AUTH_CODES, ErrorKind, classify, describe, error_code
from one_drivers.one.gateway import OneError, OneGateway
from one_drivers.one.records import RecordError
from one_drivers.one.states import HostState

Say = Callable[[str], None]


def _short_key(key: str | None) -> str:
    if not key:
        return "none"
    return f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "****"


class _Report:
    def __init__(self, say: Say) -> None:
        self.say = say
        self.problems: list[str] = []

    def found(self, text: str) -> None:
        self.say(f"  ok   {text}")

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.say(f"  FAIL {text}")


def _config(path: Path | None, report: _Report) -> DriverConfig:
    try:
        config = load_config(path)
    except (ConfigError, OSError) as exc:
        report.problem(f"ec2_driver.conf: {exc}")
        return parse_config({})
    report.found(f"driver configuration {config.path or '(defaults: no file)'}")
    return config


def _host(host: str, gateway: OneGateway, report: _Report) -> bool:
    """Report the host as OpenNebula has it; False when it is not there to read."""
    try:
        host_id = find_host_id(gateway.hostpool_info(), host)
        if host_id is None:
            report.problem(f"OpenNebula has no host named {host!r} (onehost list)")
            return False
        record = gateway.host_info(host_id, True)
    except (OneError, OSError, RecordError) as exc:
        report.problem(
            f"cannot read the host from OpenNebula ({type(exc).__name__}: {exc}); check ONE_XMLRPC/ONE_AUTH"
        )
        return False
    try:
        state = HostState(record.state).name
    except ValueError:
        state = str(record.state)
    report.found(
        f"host {host!r} id {record.id}: state {state}, IM_MAD {record.im_mad}, VM_MAD {record.vm_mad}"
    )
    if record.state == HostState.ERROR:
        report.problem(f"the host is in ERROR: {record.template.get('ERROR') or 'no message'}")
    present = [
        name
        for name in ("EC2_ACCESS", "EC2_SECRET", "REGION_NAME", "EC2_ENDPOINT", "CAPACITY")
        if record.template.get_all(name)
    ]
    report.found(f"host template sets {', '.join(present) or 'no EC2 attributes'}")
    if bool(record.template.get("EC2_ACCESS")) != bool(record.template.get("EC2_SECRET")):
        report.problem("the host template has only one of EC2_ACCESS / EC2_SECRET: set both (onehost update)")
    return True


def _call(name: str, call: Callable[[], Any], settings: Ec2Settings, report: _Report) -> Any:
    try:
        return call()
    except Exception as exc:
        kind = classify(exc)
        where = settings.endpoint_url or f"AWS region {settings.region_name}"
        if error_code(exc) in AUTH_CODES:
            report.problem(
                f"{name}: {where} refused the keys ({describe(exc)}): check EC2_ACCESS/EC2_SECRET "
                f"(from {settings.sources.get('credentials')})"
            )
        elif kind is ErrorKind.UNAVAILABLE:
            hint = (
                "" if settings.endpoint_url else f" (is REGION_NAME {settings.region_name!r} a real region?)"
            )
            report.problem(f"{name}: cannot reach {where}{hint}: {describe(exc)}")
        else:
            report.problem(f"{name}: {describe(exc)}")
        return None


def check_host(host: str, config_path: Path | None, say: Say, gateway: OneGateway | None = None) -> bool:
    """Print the findings for `host`; True when nothing is wrong."""
    report = _Report(say)
    say(f"Checking ec2 host {host!r}")
    config = _config(config_path, report)
    if gateway is None:
        try:
            gateway = OneGateway.from_env()
        except OneError as exc:
            report.problem(f"no OpenNebula credentials: {exc} (set ONE_AUTH, run as oneadmin)")
    if gateway is not None:
        _host(host, gateway, report)
    oned = gateway
    resolver = HostSettingsResolver(config, oned=(lambda: oned) if oned is not None else lambda: _no_oned())
    settings = resolver.resolve(host)
    report.found(
        f"region {settings.region_name} (from {settings.sources.get('region_name')}), endpoint "
        f"{settings.endpoint_url or 'AWS default'} (from {settings.sources.get('endpoint_url', 'boto3')})"
    )
    if not credentials_available(settings):
        report.problem(
            "no EC2 credentials: set EC2_ACCESS and EC2_SECRET on the host (onehost update) or "
            "access_key_id/secret_access_key in ec2_driver.conf regions:"
        )
    else:
        report.found(
            f"credentials from {settings.sources.get('credentials')}, key id {_short_key(settings.access_key_id)}"
        )
        try:
            client = Ec2Clients(config, resolver).client_for(settings, retry=False)
        except Exception as exc:
            raise AdminError(f"cannot build an EC2 client: {describe(exc)}") from exc
        regions = _call("DescribeRegions", client.describe_regions, settings, report)
        names = sorted(r["RegionName"] for r in (regions or {}).get("Regions", []))
        if regions is not None:
            report.found(f"DescribeRegions: {len(names)} regions")
        elif settings.endpoint_url and settings.region_name != FALLBACK_REGION:
            names = _regions_seen_from(FALLBACK_REGION, settings, Ec2Clients(config, resolver))
        if names and settings.region_name not in names:
            offered = ", ".join(names[:8])
            report.problem(f"unknown region {settings.region_name!r}: the endpoint offers {offered}…")
        elif not names and not settings.endpoint_url and settings.region_name not in known_ec2_regions():
            # No list from AWS itself: judge by AWS's names (other endpoints name their regions freely).
            report.problem(
                f"unknown region {settings.region_name!r}: no AWS partition has it (e.g. us-east-1)"
            )
        instances = _call(
            "DescribeInstances", lambda: client.describe_instances(MaxResults=50), settings, report
        )
        if instances is not None:
            count = sum(len(r.get("Instances", [])) for r in instances.get("Reservations", []))
            more = " (first page)" if instances.get("NextToken") else ""
            report.found(f"DescribeInstances: {count} instances visible{more}")
    if report.problems:
        say(f"{len(report.problems)} problem(s) found for {host!r}.")
        return False
    say(f"{host!r} looks right: the ec2 drivers can reach its endpoint with these settings.")
    return True


def _regions_seen_from(region: str, settings: Ec2Settings, clients: Ec2Clients) -> list[str]:
    """The endpoint's region list asked in another region (some endpoints fail every call in a region
    they do not have, moto with a 500); [] when that fails too."""
    try:
        answer = clients.client_for(replace(settings, region_name=region), retry=False).describe_regions()
    except Exception:
        return []
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def _no_oned() -> Any:
    raise AdminError("no OpenNebula gateway")
