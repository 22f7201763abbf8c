"""EC2 instances as the IM driver sees them: one paginated DescribeInstances, mapped to OpenNebula terms.

`describe_instances` is the only EC2 call a monitoring cycle makes for instances; everything else
(host usage, each VM's poll string, state changes, wild instances and their IMPORT_TEMPLATE) is derived
from its result by the pure functions here. Instances are matched to VMs by the `ONE_ID` tag; an
untagged instance is "wild" (id -1) and offered for import.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from one_drivers import xmlsafe
from one_drivers.ec2.attributes import IM_ATTRIBUTES, aws_attributes
from one_drivers.ec2.catalog import InstanceSize
from one_drivers.ec2.states import StateMapping, map_state
from one_drivers.ec2.tags import DEPLOY_TOKEN_TAG, ONE_ID_TAG
from one_drivers.one.template import TemplateError, build_template, quote_value

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import DescribeInstancesResultTypeDef, InstanceTypeDef, TagTypeDef

log = logging.getLogger(__name__)

# DescribeInstances accepts up to 1000 results per page.
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Metrics:
    """CloudWatch figures for one instance (zeros when CloudWatch is off)."""

    cpu: float = 0.0  # percent of one vCPU x 100, as OpenNebula's CPU
    nettx: int = 0
    netrx: int = 0


@dataclass(frozen=True)
class Instance:
    """What a cycle keeps of one DescribeInstances item."""

    instance_id: str
    state: str
    instance_type: str
    image_id: str = ""
    one_id: int | None = None
    name: str = ""
    aws: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    deploy_token: str = ""  # ONE_DEPLOY_TOKEN, set by our VMM driver at launch

    @property
    def wild(self) -> bool:
        return self.one_id is None

    @property
    def mapping(self) -> StateMapping:
        return map_state(self.state)

    @property
    def vm_id(self) -> int:
        return -1 if self.one_id is None else self.one_id

    @property
    def display_name(self) -> str:
        """The Name tag (else the instance id), safe to put in any template value."""
        return carryable(self.name or self.instance_id)


def parse_one_id(tags: Iterable[TagTypeDef]) -> int | None:
    """The VM id of the `ONE_ID` tag; None when absent or not a non-negative integer."""
    for tag in tags:
        if tag.get("Key") == ONE_ID_TAG:
            value = str(tag.get("Value", "")).strip()
            if value.isdigit():
                return int(value)
            log.warning("ignoring ONE_ID tag %r: not a VM id", value)
    return None


def instance_from_api(item: InstanceTypeDef) -> Instance:
    """One `Reservations[].Instances[]` item (boto3 shape) -> Instance."""
    tags = item.get("Tags") or []
    name = next((str(t.get("Value", "")) for t in tags if t.get("Key") == "Name"), "")
    token = next((str(t.get("Value", "")) for t in tags if t.get("Key") == DEPLOY_TOKEN_TAG), "")
    aws = tuple(aws_attributes(item, IM_ATTRIBUTES))
    return Instance(
        instance_id=str(item["InstanceId"]),
        state=str((item.get("State") or {}).get("Name", "")),
        instance_type=str(item.get("InstanceType", "")),
        image_id=str(item.get("ImageId", "")),
        one_id=parse_one_id(tags),
        name=name,
        aws=aws,
        deploy_token=token,
    )


def describe_instances(client: EC2Client, page_size: int = PAGE_SIZE) -> list[Instance]:
    """Every instance of the host's account/region: one paginated DescribeInstances (1000 per page)."""
    paginator = client.get_paginator("describe_instances")
    # Typed here: the stubs' PageIterator is botocore's, which this project has no stubs for.
    pages: Iterable[DescribeInstancesResultTypeDef] = paginator.paginate(
        PaginationConfig={"PageSize": page_size}
    )
    out: list[Instance] = []
    for page in pages:
        for reservation in page.get("Reservations", []):
            out.extend(instance_from_api(item) for item in reservation.get("Instances", []))
    return out


def current_instances(instances: Iterable[Instance]) -> list[Instance]:
    """One instance per VM id: a VM re-deployed after a terminate has an old terminated twin.

    The live one wins (then a running one); wild instances are all kept.
    """
    chosen: dict[int, Instance] = {}
    wild: list[Instance] = []
    for inst in instances:
        if inst.one_id is None:
            wild.append(inst)
            continue
        old = chosen.get(inst.one_id)
        if old is None or _preference(inst) > _preference(old):
            chosen[inst.one_id] = inst
    return sorted(chosen.values(), key=lambda i: i.vm_id) + wild


def _preference(inst: Instance) -> tuple[bool, bool, str]:
    # Alive beats terminated, running beats the rest; the instance id only makes the choice stable.
    return (inst.mapping.alive, inst.mapping.uses_capacity, inst.instance_id)


def carryable(value: str) -> str:
    """The value itself, or URI-encoded when oned's template syntax cannot carry it (quote_value refuses
    ']]>', NUL and a trailing backslash): one odd tag must never break a host's whole report."""
    try:
        quote_value(value)
    except TemplateError:
        return urllib.parse.quote(value, safe="")
    return value


def _quoted(value: str) -> str:
    return quote_value(carryable(value))


def poll_string(
    inst: Instance, size: InstanceSize | None, metrics: Metrics | None = None, *, legacy_names: bool = False
) -> str:
    """`STATE=a MEMORY=<KB> CPU=<%> NETTX NETRX AWS_...="..."` (spec 5.4); one line, space-separated.

    legacy_names adds USEDMEMORY/USEDCPU, the names oned 4.0-4.12 read.
    """
    m = metrics or Metrics()
    memory = size.memory_kb if size is not None else 0
    cpu = f"{m.cpu:g}"
    parts = [
        f"STATE={inst.mapping.poll}",
        f"MEMORY={memory}",
        f"CPU={cpu}",
        f"NETTX={m.nettx}",
        f"NETRX={m.netrx}",
    ]
    if legacy_names:
        parts += [f"USEDMEMORY={memory}", f"USEDCPU={cpu}"]
    parts += [f"AWS_{name}={_quoted(value)}" for name, value in inst.aws]
    return " ".join(parts)


def monitor_text(inst: Instance, size: InstanceSize | None, metrics: Metrics | None = None) -> str:
    """The MONITOR text of a MONITOR_VM entry (5.12+): the poll attributes, one per line."""
    m = metrics or Metrics()
    lines = [
        f"MEMORY={size.memory_kb if size is not None else 0}",
        f"CPU={m.cpu:g}",
        f"NETTX={m.nettx}",
        f"NETRX={m.netrx}",
    ]
    lines += [f"AWS_{name}={_quoted(value)}" for name, value in inst.aws]
    return "\n".join(lines) + "\n"


def import_template(inst: Instance, host_name: str, size: InstanceSize | None) -> str:
    """The base64 IMPORT_TEMPLATE offered for a wild instance (built with the one template builder)."""
    vcpus = size.vcpus if size is not None else 1
    memory_mb = size.memory_mib if size is not None else 0
    public_cloud = {"TYPE": "ec2", "AMI": carryable(inst.image_id)}
    if inst.instance_type:
        public_cloud["INSTANCETYPE"] = carryable(inst.instance_type)
    public_cloud["HOST"] = carryable(host_name)
    text = build_template(
        [
            ("NAME", inst.display_name),
            ("CPU", str(vcpus)),
            ("VCPU", str(vcpus)),
            ("MEMORY", str(memory_mb)),
            ("HYPERVISOR", "ec2"),
            ("PUBLIC_CLOUD", public_cloud),
            ("IMPORT_VM_ID", carryable(inst.instance_id)),
            ("SCHED_REQUIREMENTS", carryable(f'NAME="{host_name}"')),
            ("DESCRIPTION", carryable(f"Imported from ec2 host {host_name}: {inst.instance_id}")),
        ]
    )
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# --- CPU: reading DescribeInstances replies -----------------------------------------------------------

# botocore's generic parser walks every element of a DescribeInstances reply (network interfaces, block
# devices, options...) in Python: ~0.4 s of CPU per 1,000 instances. The monitoring clients read only
# these members instead, with lxml (C); their wire names come from botocore's own model, so the wire is
# still described once, as data. `None` = a scalar; a mapping = the members wanted of a structure or of
# each item of a list.
MONITORED_MEMBERS: Mapping[str, Any] = {
    "InstanceId": None,
    "ImageId": None,
    "State": {"Name": None},
    "PrivateDnsName": None,
    "PublicDnsName": None,
    "KeyName": None,
    "InstanceType": None,
    "Placement": {"AvailabilityZone": None},
    "Platform": None,
    "SubnetId": None,
    "VpcId": None,
    "PrivateIpAddress": None,
    "PublicIpAddress": None,
    "SecurityGroups": {"GroupId": None},
    "Tags": {"Key": None, "Value": None},
}
_FAST_ID = "one_drivers.im_ec2.fast_describe_instances"

# wire name -> (boto3 name, is_list, sub-plan or None)
_Plan = dict[str, tuple[str, bool, "_Plan | None"]]


def _plan(shape: Any, wanted: Mapping[str, Any]) -> _Plan:
    plan: _Plan = {}
    for name, sub in wanted.items():
        member = shape.members[name]
        wire = member.serialization.get("name", name)
        if member.type_name == "list":
            plan[wire] = (name, True, _plan(member.member, sub) if sub else None)
        elif member.type_name == "structure":
            plan[wire] = (name, False, _plan(member, sub))
        else:
            plan[wire] = (name, False, None)
    return plan


def _read(elem: Any, plan: _Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        entry = plan.get(xmlsafe.localname(child))
        if entry is None:
            continue
        name, is_list, sub = entry
        if is_list:
            out[name] = [_read(item, sub) if sub else (item.text or "") for item in child]
        elif sub is not None:
            out[name] = _read(child, sub)
        else:
            out[name] = child.text or ""
    return out


class _FastReader:
    """before-parse handler: reads the monitored members itself and leaves botocore an empty reservation set."""

    def __init__(self, service_model: Any) -> None:
        output = service_model.operation_model("DescribeInstances").output_shape
        reservations = output.members["Reservations"]
        instances = reservations.member.members["Instances"]
        self.reservation_wire = reservations.serialization.get("name", "Reservations")
        self.instances_wire = instances.serialization.get("name", "Instances")
        self.plan = _plan(instances.member, MONITORED_MEMBERS)

    def __call__(
        self, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
    ) -> None:
        if response_dict.get("status_code") != 200 or not response_dict.get("body"):
            return
        try:
            root: Any = xmlsafe.parse(response_dict["body"])  # lxml-stubs type .tag as str only
        except xmlsafe.XmlError:
            return  # leave it to botocore, which reports it properly
        found = root.find(f"{{*}}{self.reservation_wire}")
        if found is None:
            return
        reservations = []
        for reservation in found:
            if not isinstance(reservation.tag, str):
                continue
            items = reservation.find(f"{{*}}{self.instances_wire}")
            instances = (
                [_read(item, self.plan) for item in items if isinstance(item.tag, str)]
                if items is not None
                else []
            )
            reservations.append({"Instances": instances})
        # What botocore still parses: the same root with everything but the reservations (NextToken,
        # requestId). A fresh small tree: unlinking big subtrees in lxml would cost more than parsing.
        nsmap: Any = root.nsmap  # the default namespace has the key None, which lxml-stubs does not allow
        rest = xmlsafe.element(root.tag, nsmap)
        for child in root:
            if isinstance(child.tag, str) and child is not found:
                xmlsafe.subelement(rest, child.tag, child.text)
        response_dict["body"] = xmlsafe.to_bytes(rest)
        # botocore merges this into its (now empty) result; NextToken is still parsed by botocore.
        customized_response_dict["Reservations"] = reservations


def trim_describe_instances(client: EC2Client) -> EC2Client:
    """Make this client's DescribeInstances results carry only MONITORED_MEMBERS, read fast; returns it.

    Only for clients the IM driver owns: a VMM action on the same client would miss the other fields.
    """
    client.meta.events.register(
        "before-parse.ec2.DescribeInstances", _FastReader(client.meta.service_model), unique_id=_FAST_ID
    )
    return client
