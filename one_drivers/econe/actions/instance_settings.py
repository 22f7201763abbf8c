"""ModifyInstanceAttribute, GetConsoleOutput, GetPasswordData, DescribeInstanceStatus, and the readers of
the instance attributes `instance_attributes` does not describe itself (groupSet, disableApiTermination...).

What OpenNebula can change is changed: `groupSet` through
`one.vm.attachsg/detachsg` on each NIC, `disableApiTermination` through a MANAGE-level VM lock (oned then
refuses terminate, and every other managing action, until it is unlocked), `instanceType` of a stopped
instance through `one.vm.resize` to the type's template size, `userData` of a stopped instance through
`one.vm.updateconf` of CONTEXT's EC2_USER_DATA. The rest (kernel, ramdisk, source/dest check off, shutdown
behaviour `terminate`...) is refused with UnsupportedOperation naming the attribute, never ignored.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.instance_attributes import Reader, register_instance_attribute
from one_drivers.econe.actions.instance_state import Ec2State, ec2_state, state_dict, state_row
from one_drivers.econe.actions.instance_types import visible_types
from one_drivers.econe.actions.instances import INSTANCE_TYPE_ATTR, check_user_data, load_vm
from one_drivers.econe.actions.security_groups import resolve_groups
from one_drivers.econe.actions.vpcs import NicView, nic_groups, vm_nics
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DescribeInstanceStatusResult,
    GetConsoleOutputResult,
    GetPasswordDataResult,
    InstanceAttribute,
    InstanceStatus,
    InstanceStatusSummary,
    NoOutput,
)
from one_drivers.one.gateway import OneError
from one_drivers.one.records import VmRecord
from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import build_template
from one_drivers.query.errors import (
    Ec2Error,
    incorrect_instance_state,
    insufficient_capacity,
    invalid_combination,
    invalid_parameter_value,
    missing_parameter,
    unsupported,
)
from one_drivers.query.ids import INSTANCE

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeInstanceStatusRequestTypeDef,
        GetConsoleOutputRequestTypeDef,
        GetPasswordDataRequestTypeDef,
        GroupIdentifierTypeDef,
        ModifyInstanceAttributeRequestTypeDef,
    )

log = logging.getLogger(__name__)

LOCK_MANAGE = 2  # oned's lock level that stops terminate (a MANAGE operation) and everything above it
CONSOLE_BYTES = 64 * 1024  # EC2 returns the last 64 KB of console output
PASSWORD_ATTR = "EC2_PASSWORD_DATA"  # where a guest (OneGate) may publish its encrypted password

# Every `Attribute` the model lists (Describe/ModifyInstanceAttribute's enum).
KNOWN_ATTRIBUTES = frozenset(
    {
        "instanceType", "kernel", "ramdisk", "userData", "disableApiTermination",
        "instanceInitiatedShutdownBehavior", "rootDeviceName", "blockDeviceMapping", "productCodes",
        "sourceDestCheck", "groupSet", "ebsOptimized", "sriovNetSupport", "enaSupport", "enclaveOptions",
        "disableApiStop",
    }
)  # fmt: skip


def _value(value: Any) -> Callable[[RequestContext, VmRecord], Any]:
    return lambda ctx, vm: value


def _groups(ctx: RequestContext, vm: VmRecord) -> list[GroupIdentifierTypeDef]:
    ids = sorted({g for nic in vm_nics(vm) for g in nic_groups(nic.get("SECURITY_GROUPS", ""))})
    return NicView(ctx).groups(ids)


# attribute -> (output member, reader); the values OpenNebula has no setting for are EC2's defaults.
_READ: dict[str, tuple[str, Callable[[RequestContext, VmRecord], Any]]] = {
    "kernel": ("KernelId", lambda ctx, vm: {"Value": vm.template_value("OS/KERNEL")}),
    "ramdisk": ("RamdiskId", lambda ctx, vm: {"Value": vm.template_value("OS/INITRD")}),
    "disableApiTermination": (
        "DisableApiTermination",
        lambda ctx, vm: {"Value": LOCK_MANAGE >= vm.lock_level > 0},
    ),
    # A guest that shuts down is powered off by OpenNebula: the EC2 name for that is stop.
    "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior", _value({"Value": "stop"})),
    "productCodes": ("ProductCodes", _value([])),
    "sourceDestCheck": ("SourceDestCheck", _value({"Value": True})),
    "groupSet": ("Groups", _groups),
    "ebsOptimized": ("EbsOptimized", _value({"Value": False})),
    "enaSupport": ("EnaSupport", _value({"Value": False})),
    "disableApiStop": ("DisableApiStop", _value({"Value": False})),
    "sriovNetSupport": ("SriovNetSupport", _value({})),
    "enclaveOptions": ("EnclaveOptions", _value({"Enabled": False})),
}


def _reader(member: str, read: Callable[[RequestContext, VmRecord], Any]) -> Reader:
    # The member is named at run time; test_shapes checks every _READ member against the model.
    return lambda ctx, vm: cast(InstanceAttribute, {member: read(ctx, vm)})


for _name, (_member, _read) in _READ.items():
    register_instance_attribute(_name, _reader(_member, _read))


# --- ModifyInstanceAttribute ----------------------------------------------------------------------


def _refuse(attribute: str, why: str) -> Ec2Error:
    return unsupported(f"The attribute {attribute} cannot be changed on this cloud: {why}")


def _bool_of(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get("Value")
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def set_termination_protection(ctx: RequestContext, vm: VmRecord, on: bool) -> None:
    if on and not vm.lock_level:
        ctx.one.vm_lock(vm.id, LOCK_MANAGE)
    elif not on and vm.lock_level:
        ctx.one.vm_unlock(vm.id)
    log.info("request %s: VM %d termination protection %s", ctx.request_id, vm.id, "on" if on else "off")


def set_groups(ctx: RequestContext, vm: VmRecord, group_ids: list[str]) -> None:
    """Every NIC of the VM ends up with exactly these groups (plus OpenNebula's own group 0)."""
    if not group_ids:
        raise missing_parameter("GroupId")
    wanted = set(resolve_groups(ctx, group_ids, []))
    nics = vm_nics(vm)
    if not nics:
        raise invalid_parameter_value("GroupId", "the instance has no network interface to put groups on")
    for nic in nics:
        nic_id = int(nic["NIC_ID"])
        current = set(nic_groups(nic.get("SECURITY_GROUPS", "")))
        # Attach first: a failure half-way never leaves a NIC with fewer groups than before.
        for sg in sorted(wanted - current):
            ctx.one.vm_attachsg(vm.id, nic_id, sg)
        for sg in sorted(current - wanted):
            ctx.one.vm_detachsg(vm.id, nic_id, sg)
    log.info("request %s: VM %d security groups now %s", ctx.request_id, vm.id, sorted(wanted))


def _require_stopped(vm: VmRecord, attribute: str) -> None:
    """EC2 changes the type and user data of stopped instances only, and so does econe."""
    if ec2_state(vm.state, vm.lcm_state) is not Ec2State.STOPPED:
        raise incorrect_instance_state(
            f"The instance '{INSTANCE.format(vm.id)}' is not in the 'stopped' state: {attribute} "
            "can only be changed while it is stopped"
        )


def _plain(value: Any) -> Any:
    return value.get("Value") if isinstance(value, dict) else value


def set_instance_type(ctx: RequestContext, vm: VmRecord, name: str) -> None:
    """Resize the VM to the CPU/VCPU/MEMORY of the template RunInstances would use for `name`, then
    record the type where DescribeInstances reads it."""
    tmpl = visible_types(ctx).get(name)
    if tmpl is None:
        raise invalid_parameter_value("InstanceType", f"The instance type '{name}' does not exist")
    _require_stopped(vm, "instanceType")
    size = [(k, v) for k in ("CPU", "VCPU", "MEMORY") if (v := tmpl.template.get(k))]
    try:
        ctx.one.vm_resize(vm.id, build_template(size), False)
    except OneError as exc:
        if "Not enough" not in exc.message:
            raise
        # oned's capacity check on the VM's host: EC2's word for a host that cannot take the new size.
        raise insufficient_capacity(name) from exc
    ctx.one.vm_update(vm.id, build_template([(INSTANCE_TYPE_ATTR, name)]), append=True)
    log.info("request %s: VM %d resized to instance type %s", ctx.request_id, vm.id, name)


def set_user_data(ctx: RequestContext, vm: VmRecord, value: Any) -> None:
    """CONTEXT's EC2_USER_DATA becomes the new base64 text (as RunInstances stores it); updateconf in
    append mode leaves the other CONTEXT values and the OS/GRAPHICS sections as they are."""
    if isinstance(value, bytes):
        # The model's BlobAttributeValue arrives decoded; store it encoded as RunInstances does.
        value = base64.b64encode(value).decode("ascii")
    data = check_user_data(value) or ""
    _require_stopped(vm, "userData")
    ctx.one.vm_updateconf(vm.id, build_template([("CONTEXT", {"EC2_USER_DATA": data})]), append=True)
    log.info("request %s: VM %d user data replaced (%d base64 characters)", ctx.request_id, vm.id, len(data))


# attribute -> (members of the request that carry it)
_SIMPLE_REFUSALS = {
    "kernel": "OpenNebula boots the VM template's kernel",
    "ramdisk": "OpenNebula boots the VM template's initrd",
    "sriovNetSupport": "not an OpenNebula setting",
    "blockDeviceMapping": "attach and detach volumes instead",
    "enclaveOptions": "not an OpenNebula setting",
}


def modify_instance_attribute(ctx: RequestContext, params: ModifyInstanceAttributeRequestTypeDef) -> NoOutput:
    vm = load_vm(ctx, str(params.get("InstanceId") or ""))
    changes: list[tuple[str, Any]] = []
    legacy = params.get("Attribute")
    if legacy:
        if legacy not in KNOWN_ATTRIBUTES:
            raise invalid_parameter_value("Attribute", f"'{legacy}' is not an instance attribute")
        changes.append((str(legacy), params.get("Value")))
    members = {
        "InstanceType": "instanceType",
        "Kernel": "kernel",
        "Ramdisk": "ramdisk",
        "UserData": "userData",
        "DisableApiTermination": "disableApiTermination",
        "InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior",
        "SourceDestCheck": "sourceDestCheck",
        "Groups": "groupSet",
        "EbsOptimized": "ebsOptimized",
        "SriovNetSupport": "sriovNetSupport",
        "EnaSupport": "enaSupport",
        "BlockDeviceMappings": "blockDeviceMapping",
        "DisableApiStop": "disableApiStop",
    }
    given: Mapping[str, Any] = params  # looked up by the names of the table above
    for member, attribute in members.items():
        if given.get(member) is not None:
            changes.append((attribute, given[member]))
    if len(changes) != 1:
        raise invalid_combination("Exactly one attribute must be changed per request")
    attribute, value = changes[0]
    if attribute in _SIMPLE_REFUSALS:
        raise _refuse(attribute, _SIMPLE_REFUSALS[attribute])
    try:
        if attribute == "disableApiTermination":
            set_termination_protection(ctx, vm, _bool_of(value))
        elif attribute == "instanceType":
            set_instance_type(ctx, vm, str(_plain(value) or ""))
        elif attribute == "userData":
            set_user_data(ctx, vm, _plain(value))
        elif attribute == "groupSet":
            ids = value if isinstance(value, list) else [value]
            set_groups(ctx, vm, [str(v) for v in ids])
        elif attribute == "instanceInitiatedShutdownBehavior":
            wanted = value.get("Value") if isinstance(value, dict) else value
            if wanted != "stop":
                raise _refuse(attribute, "a guest that shuts down is powered off (stop) by OpenNebula")
        elif attribute == "sourceDestCheck":
            if not _bool_of(value):
                raise _refuse(attribute, "OpenNebula networks filter spoofed addresses per network")
        elif attribute in ("ebsOptimized", "enaSupport", "disableApiStop"):
            if _bool_of(value):
                raise _refuse(attribute, "not an OpenNebula setting")
        else:
            raise _refuse(attribute, "not an OpenNebula setting")
    except OneError as exc:
        log.info("request %s: %s on VM %d refused by oned: %s", ctx.request_id, attribute, vm.id, exc.message)
        raise incorrect_instance_state(
            f"The instance '{INSTANCE.format(vm.id)}' cannot change {attribute} in its current state"
        ) from exc
    return {}


# --- console, password, status -------------------------------------------------------------------------


def get_console_output(ctx: RequestContext, params: GetConsoleOutputRequestTypeDef) -> GetConsoleOutputResult:
    vm = load_vm(ctx, str(params.get("InstanceId") or ""))
    data = b""
    if ctx.config.console_output_source == "log":
        # oned's own log of the VM (<vm_log_dir>/<id>.log), named by the number alone.
        path = Path(ctx.config.vm_log_dir) / f"{vm.id}.log"
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(size - CONSOLE_BYTES, 0))
                data = handle.read(CONSOLE_BYTES)
        except OSError:
            data = b""  # no log yet: EC2 answers an empty output too
    return {
        "InstanceId": INSTANCE.format(vm.id),
        "Timestamp": datetime.fromtimestamp(time.time(), UTC),
        "Output": base64.b64encode(data).decode("ascii"),
    }


def get_password_data(ctx: RequestContext, params: GetPasswordDataRequestTypeDef) -> GetPasswordDataResult:
    vm = load_vm(ctx, str(params.get("InstanceId") or ""))
    return {
        "InstanceId": INSTANCE.format(vm.id),
        "Timestamp": datetime.fromtimestamp(time.time(), UTC),
        "PasswordData": vm.user_values.get(PASSWORD_ATTR) or "",
    }


_IMPAIRED_LCM = frozenset({LcmState.UNKNOWN})


def instance_status(ctx: RequestContext, vm: VmRecord) -> InstanceStatus:
    state = ec2_state(vm.state, vm.lcm_state)
    row = state_row(vm.state, vm.lcm_state)
    if state is not Ec2State.RUNNING:
        instance_ok = system_ok = "not-applicable"
        reach = "initializing" if state is Ec2State.PENDING else None
    else:
        system_ok = "impaired" if vm.lcm_state in _IMPAIRED_LCM else "ok"
        instance_ok = "impaired" if row.failure else ("ok" if vm.last_poll else "initializing")
        reach = {"ok": "passed", "impaired": "failed", "initializing": "initializing"}[instance_ok]

    def summary(status: str, detail: str | None) -> InstanceStatusSummary:
        out: InstanceStatusSummary = {"Status": status, "Details": []}
        if detail is not None:
            out["Details"] = [{"Name": "reachability", "Status": detail}]
        return out

    return {
        "InstanceId": INSTANCE.format(vm.id),
        "AvailabilityZone": ctx.config.zone_name,
        "InstanceState": state_dict(state),
        "InstanceStatus": summary(instance_ok, reach),
        "SystemStatus": summary(
            system_ok,
            None if system_ok == "not-applicable" else ("failed" if system_ok == "impaired" else "passed"),
        ),
        "Events": [],
    }


STATUS_FILTERS: dict[str, Callable[[InstanceStatus], Iterable[str]]] = {
    "availability-zone": lambda s: [s["AvailabilityZone"]],
    "instance-state-name": lambda s: [s["InstanceState"]["Name"]],
    "instance-state-code": lambda s: [str(s["InstanceState"]["Code"])],
    "instance-status.status": lambda s: [s["InstanceStatus"]["Status"]],
    "instance-status.reachability": lambda s: [d["Status"] for d in s["InstanceStatus"]["Details"]],
    "system-status.status": lambda s: [s["SystemStatus"]["Status"]],
    "system-status.reachability": lambda s: [d["Status"] for d in s["SystemStatus"]["Details"]],
}


def describe_instance_status(
    ctx: RequestContext, params: DescribeInstanceStatusRequestTypeDef
) -> DescribeInstanceStatusResult:
    filters = parse_filters(params.get("Filters"), STATUS_FILTERS, lambda s: [])
    ids = [str(i) for i in params.get("InstanceIds") or []]
    include_all = bool(params.get("IncludeAllInstances"))
    if ids:
        vms = [load_vm(ctx, text) for text in dict.fromkeys(ids)]
    else:
        vms = [vm for vm in ctx.one.vmpool_infoextended(-2, -1, -1, -1) if vm.state is not VmState.DONE]
        vms.sort(key=lambda v: v.id)
    statuses = [instance_status(ctx, vm) for vm in vms]
    if not include_all:
        statuses = [s for s in statuses if s["InstanceState"]["Name"] == "running"]
    statuses = [s for s in statuses if filters.matches(s)]
    start = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
    size = int(params.get("MaxResults") or 0)
    result: DescribeInstanceStatusResult = {"InstanceStatuses": statuses[start:]}
    if size and not ids:
        result["InstanceStatuses"] = statuses[start : start + size]
        if start + size < len(statuses):
            result["NextToken"] = str(start + size)
    return result


HANDLERS: dict[str, Handler] = {
    "ModifyInstanceAttribute": modify_instance_attribute,
    "GetConsoleOutput": get_console_output,
    "GetPasswordData": get_password_data,
    "DescribeInstanceStatus": describe_instance_status,
}
