"""DescribeInstanceAttribute through a table of readers, one per attribute, that other families can
extend (`register_instance_attribute`): block devices and the root device name here, the instance type
and user data from what RunInstances stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from one_drivers.econe.actions.block_devices import instance_device_fields
from one_drivers.econe.actions.instances import INSTANCE_TYPE_ATTR, load_vm
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import InstanceAttribute
from one_drivers.one.records import VmRecord
from one_drivers.query.errors import invalid_parameter_value
from one_drivers.query.ids import INSTANCE
from one_drivers.query.parse import required

Reader = Callable[[RequestContext, VmRecord], InstanceAttribute]
_READERS: dict[str, Reader] = {}

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeInstanceAttributeRequestTypeDef,
    )


def register_instance_attribute(name: str, reader: Reader) -> None:
    """Plug in a reader for one `Attribute` value (e.g. `groupSet`)."""
    _READERS[name] = reader


def _root_device_name(ctx: RequestContext, vm: VmRecord) -> InstanceAttribute:
    name = instance_device_fields(vm).get("RootDeviceName")
    return {"RootDeviceName": {"Value": name} if name else {}}


def _user_data(ctx: RequestContext, vm: VmRecord) -> InstanceAttribute:
    data = vm.template_value("CONTEXT/EC2_USER_DATA")
    return {"UserData": {"Value": data} if data else {}}


register_instance_attribute(
    "blockDeviceMapping",
    lambda ctx, vm: {"BlockDeviceMappings": instance_device_fields(vm)["BlockDeviceMappings"]},
)
register_instance_attribute("rootDeviceName", _root_device_name)
register_instance_attribute(
    "instanceType", lambda ctx, vm: {"InstanceType": {"Value": vm.user_values.get(INSTANCE_TYPE_ATTR) or ""}}
)
register_instance_attribute("userData", _user_data)


def describe_instance_attribute(
    ctx: RequestContext, params: DescribeInstanceAttributeRequestTypeDef
) -> InstanceAttribute:
    name = required(params, "Attribute")
    vm = load_vm(ctx, required(params, "InstanceId"))
    reader = _READERS.get(name)
    if reader is None:
        raise invalid_parameter_value("Attribute", f"the attribute '{name}' is not available here")
    return {"InstanceId": INSTANCE.format(vm.id), **reader(ctx, vm)}


HANDLERS: dict[str, Handler] = {"DescribeInstanceAttribute": describe_instance_attribute}
