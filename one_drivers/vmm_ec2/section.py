"""The VM's EC2 section -> RunInstances parameters, as pure functions (no I/O, no boto3).

Input is the `<VM>` document oned sends (or a pre-4.0.1 `<TEMPLATE>`), as one/driver_docs reads it:
`USER_TEMPLATE/PUBLIC_CLOUD` vectors with TYPE=ec2 (5.0+), else legacy `EC2` sections. The section for the OpenNebula host is
picked (HOST/CLOUD, case-insensitive), defaults from `ec2_driver.default` fill the gaps, and every
attribute of spec §4.1 is mapped; a wrong or missing attribute raises SectionError naming it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

# The tags set in RunInstances; the deploy token is also our idempotency marker, found by a tag filter
# on endpoints that ignore ClientToken (moto, econe).
from one_drivers.ec2.tags import DEPLOY_TOKEN_TAG as DEPLOY_TOKEN_TAG
from one_drivers.ec2.tags import ONE_ID_TAG as ONE_ID_TAG
from one_drivers.ec2.tags import deploy_token as deploy_token
from one_drivers.one.driver_docs import VmDocument, default_section

log = logging.getLogger(__name__)

DEFAULT_INSTANCE_TYPE = "m1.small"
# Attributes that are accepted and deliberately do nothing (logged once per deploy).
IGNORED_ATTRIBUTES = {
    "LICENSEPOOL": "LICENSEPOOL is obsolete (Windows license pools were retired by AWS); ignored",
    "AUTHORIZEDPORTS": "AUTHORIZEDPORTS has had no effect since OpenNebula 4.4; use SECURITYGROUPS",
}
_SELECTORS = ("HOST", "CLOUD", "TYPE")


class SectionError(ValueError):
    """A missing or malformed EC2 attribute; `attribute` names it for the FAILURE message."""

    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(f"{attribute}: {message}")
        self.attribute = attribute


# Values passed on byte for byte (a user script's whitespace is the user's business).
VERBATIM_ATTRIBUTES = frozenset({"USERDATA"})


def _attributes(vector: Mapping[str, str]) -> dict[str, str]:
    """A vector's values stripped, but the verbatim ones."""
    return {name: v if name in VERBATIM_ATTRIBUTES else v.strip() for name, v in vector.items()}


def find_sections(vm: VmDocument) -> tuple[str, list[dict[str, str]]]:
    """('PUBLIC_CLOUD' | 'EC2', sections): ec2-typed PUBLIC_CLOUD vectors, else legacy EC2 sections."""
    public = [v for v in vm.user_vectors("PUBLIC_CLOUD") if v.get("TYPE", "").strip().lower() == "ec2"]
    if public:
        return "PUBLIC_CLOUD", [_attributes(v) for v in public]
    legacy = vm.user_vectors("EC2") or vm.template_vectors("EC2")  # <= 4.0: under TEMPLATE
    return "EC2", [_attributes(v) for v in legacy]


def select_section(vm: VmDocument, host: str) -> dict[str, str]:
    """The section whose HOST (legacy CLOUD) is `host` (case-insensitive), else the only one without."""
    kind, sections = find_sections(vm)
    if not sections:
        raise SectionError(
            "PUBLIC_CLOUD", "the VM has no PUBLIC_CLOUD section with TYPE=ec2 (nor an EC2 section)"
        )
    wanted = host.lower()
    for section in sections:
        target = section.get("HOST") or section.get("CLOUD")
        if target is not None and target.lower() == wanted:
            return section
    unnamed = [s for s in sections if "HOST" not in s and "CLOUD" not in s]
    if len(unnamed) == 1:
        return unnamed[0]
    if unnamed:
        raise SectionError(kind, f"{len(unnamed)} ec2 sections without HOST and none for host {host!r}")
    named = ", ".join(sorted({s.get("HOST") or s.get("CLOUD") or "" for s in sections}))
    raise SectionError(f"{kind}/HOST", f"no ec2 section for host {host!r} (sections are for {named})")


def parse_defaults(xml_text: str) -> dict[str, str]:
    """ec2_driver.default: `<TEMPLATE><PUBLIC_CLOUD|EC2>...` (or that section as root) -> attributes."""
    return {k: v for k, v in _attributes(default_section(xml_text)).items() if k not in _SELECTORS}


def merge_defaults(section: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """The VM's own attributes win; defaults only fill what is missing (upstream 5.12 dropped them)."""
    merged = {k: v for k, v in defaults.items() if k not in _SELECTORS}
    merged.update(section)
    merged.setdefault("INSTANCETYPE", DEFAULT_INSTANCE_TYPE)
    return merged


def parse_bool(attribute: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1", "on"):
        return True
    if lowered in ("no", "false", "0", "off"):
        return False
    raise SectionError(attribute, f"expected yes/no or true/false, not {value!r}")


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_tags(value: str) -> list[dict[str, str]]:
    """TAGS = "k1=v1,k2=v2" -> [{"Key": "k1", "Value": "v1"}, ...]."""
    tags = []
    for item in split_list(value):
        key, sep, tag_value = item.partition("=")
        if not sep or not key.strip():
            raise SectionError("TAGS", f"expected key=value pairs separated by commas, got {item!r}")
        tags.append({"Key": key.strip(), "Value": tag_value.strip()})
    return tags


_DEVICE_RE = re.compile(r"^/?[A-Za-z0-9/_-]+$")


def parse_block_device_mapping(value: str) -> list[dict[str, Any]]:
    """BLOCKDEVICEMAPPING: space-separated `dev=snap:size:delete_on_termination:volume_type:iops`,
    `dev=none` (suppress) or `dev=ephemeralN` (instance store)."""
    mappings: list[dict[str, Any]] = []
    for item in value.split():
        device, sep, spec = item.partition("=")
        if not sep or not _DEVICE_RE.match(device) or not spec:
            raise SectionError("BLOCKDEVICEMAPPING", f"expected device=spec, got {item!r}")
        if spec.lower() == "none":
            mappings.append({"DeviceName": device, "NoDevice": ""})
            continue
        if re.fullmatch(r"ephemeral\d+", spec):
            mappings.append({"DeviceName": device, "VirtualName": spec})
            continue
        parts = spec.split(":")
        if len(parts) > 5:
            raise SectionError("BLOCKDEVICEMAPPING", f"too many ':' fields in {item!r}")
        parts += [""] * (5 - len(parts))
        snapshot, size, delete, volume_type, iops = (p.strip() for p in parts)
        ebs: dict[str, Any] = {}
        if snapshot:
            if not snapshot.startswith("snap-"):
                raise SectionError("BLOCKDEVICEMAPPING", f"{snapshot!r} is not a snapshot id in {item!r}")
            ebs["SnapshotId"] = snapshot
        if size:
            if not size.isdigit() or int(size) <= 0:
                raise SectionError(
                    "BLOCKDEVICEMAPPING", f"size {size!r} is not a positive GiB count in {item!r}"
                )
            ebs["VolumeSize"] = int(size)
        if not snapshot and not size:
            raise SectionError("BLOCKDEVICEMAPPING", f"{item!r} needs a snapshot id or a size")
        if delete:
            ebs["DeleteOnTermination"] = parse_bool("BLOCKDEVICEMAPPING", delete)
        if volume_type:
            ebs["VolumeType"] = volume_type
        if iops:
            if not iops.isdigit():
                raise SectionError("BLOCKDEVICEMAPPING", f"iops {iops!r} is not a number in {item!r}")
            ebs["Iops"] = int(iops)
        mappings.append({"DeviceName": device, "Ebs": ebs})
    if not mappings:
        raise SectionError("BLOCKDEVICEMAPPING", "empty value")
    return mappings


def context_user_data(context: Mapping[str, str], cloud_init: bool, token: str | None = None) -> str:
    """User data from the VM's CONTEXT: `KEY="value"` lines, or `#cloud-config` with CLOUD_INIT=yes."""
    if cloud_init:
        import yaml

        keys = [k for k in context.get("SSH_PUBLIC_KEY", "").splitlines() if k.strip()]
        document: dict[str, Any] = {}
        if keys:
            document["ssh_authorized_keys"] = keys
        hostname = context.get("SET_HOSTNAME")
        if hostname:
            document["hostname"] = hostname
        body = yaml.safe_dump(document, default_flow_style=False, sort_keys=True) if document else ""
        return "#cloud-config\n" + body
    lines = []
    for key, value in context.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{key}="{escaped}"')
    if token and context.get("TOKEN", "").upper() == "YES":
        lines.append(f'ONEGATE_TOKEN="{token}"')
    return "\n".join(lines) + ("\n" if lines else "")


@dataclass(frozen=True)
class LaunchPlan:
    """What DEPLOY does: the RunInstances keyword arguments and the post-launch steps."""

    params: dict[str, Any]
    elastic_ip: str | None
    notes: tuple[str, ...]

    @property
    def client_token(self) -> str:
        return str(self.params["ClientToken"])


def plan_launch(
    section: Mapping[str, str],
    *,
    vm_id: int,
    token: str,
    context: Mapping[str, str] | None = None,
    onegate_token: str | None = None,
) -> LaunchPlan:
    """Map a merged EC2 section to RunInstances kwargs (boto3 names); raise SectionError on bad input."""
    ami = section.get("AMI")
    if not ami:
        raise SectionError("AMI", "missing: the ec2 section must name the image to run (AMI=ami-...)")
    params: dict[str, Any] = {
        "ImageId": ami,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": section.get("INSTANCETYPE", DEFAULT_INSTANCE_TYPE),
        "ClientToken": section.get("CLIENTTOKEN") or token,
    }
    notes = [text for name, text in IGNORED_ATTRIBUTES.items() if name in section]
    simple = {
        "KEYPAIR": "KeyName",
        "SUBNETID": "SubnetId",
        "PRIVATEIP": "PrivateIpAddress",
        "AKI": "KernelId",
        "RAMDISK": "RamdiskId",
    }
    for attribute, key in simple.items():
        if section.get(attribute):
            params[key] = section[attribute]
    if section.get("PRIVATEIP"):
        try:
            ipaddress.IPv4Address(section["PRIVATEIP"])
        except ValueError as exc:
            raise SectionError("PRIVATEIP", f"{section['PRIVATEIP']!r} is not an IPv4 address") from exc
    if section.get("SECURITYGROUPS"):
        params["SecurityGroups"] = split_list(section["SECURITYGROUPS"])
    if section.get("SECURITYGROUPIDS"):
        params["SecurityGroupIds"] = split_list(section["SECURITYGROUPIDS"])
    placement = {
        key: section[attribute]
        for attribute, key in (
            ("AVAILABILITYZONE", "AvailabilityZone"),
            ("PLACEMENTGROUP", "GroupName"),
            ("TENANCY", "Tenancy"),
        )
        if section.get(attribute)
    }
    if placement:
        params["Placement"] = placement
    if section.get("EBS_OPTIMIZED"):
        params["EbsOptimized"] = parse_bool("EBS_OPTIMIZED", section["EBS_OPTIMIZED"])
    if section.get("BLOCKDEVICEMAPPING"):
        params["BlockDeviceMappings"] = parse_block_device_mapping(section["BLOCKDEVICEMAPPING"])
    cloud_init = parse_bool("CLOUD_INIT", section["CLOUD_INIT"]) if section.get("CLOUD_INIT") else False
    if section.get("USERDATA"):
        # Verbatim: boto3 base64-encodes UserData itself, so encoding here would double it.
        params["UserData"] = section["USERDATA"]
    elif context:
        params["UserData"] = context_user_data(context, cloud_init, onegate_token)
    user_tags = parse_tags(section["TAGS"]) if section.get("TAGS") else []
    ours = {ONE_ID_TAG: str(vm_id), DEPLOY_TOKEN_TAG: token}
    tags = [t for t in user_tags if t["Key"] not in ours]
    tags += [{"Key": k, "Value": v} for k, v in ours.items()]
    params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
    elastic_ip = section.get("ELASTICIP") or None
    if elastic_ip:
        elastic_ip_params(elastic_ip)  # refuse a bad value before anything is launched
    return LaunchPlan(params, elastic_ip, tuple(notes))


class ElasticIpParams(TypedDict, total=False):
    """The address half of AssociateAddress's parameters (the instance half is the caller's)."""

    AllocationId: str
    PublicIp: str


def elastic_ip_params(value: str) -> ElasticIpParams:
    """ELASTICIP: an IPv4 literal is a (classic) PublicIp, anything else a VPC AllocationId."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        if not value.startswith("eipalloc-"):
            raise SectionError(
                "ELASTICIP", f"{value!r} is neither an IPv4 address nor an eipalloc- id"
            ) from None
        return {"AllocationId": value}
    return {"PublicIp": value}
