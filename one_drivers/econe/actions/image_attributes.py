"""DescribeImageAttribute, ModifyImageAttribute, ResetImageAttribute on AMIs.

`description` is the image's DESCRIPTION; `launchPermission` maps onto OpenNebula's permissions: the
`all` group is the image's USE bit for others (OpenNebula cannot grant one other user, so UserIds are
refused); `blockDeviceMapping` is read-only, as on EC2. Reset applies to launchPermission (private again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from one_drivers.econe.actions.block_devices import image_block_devices
from one_drivers.econe.actions.images import load_ami
from one_drivers.econe.actions.volumes import template_text
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import ImageAttribute, LaunchPermission, NoOutput
from one_drivers.one.records import ImageRecord
from one_drivers.query.errors import invalid_parameter_value, missing_parameter
from one_drivers.query.ids import IMAGE
from one_drivers.query.parse import required

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeImageAttributeRequestTypeDef,
        ModifyImageAttributeRequestTypeDef,
        ResetImageAttributeRequestTypeDef,
    )

log = logging.getLogger(__name__)


def _launch_permissions(image: ImageRecord) -> list[LaunchPermission]:
    return [{"Group": "all"}] if image.permissions.other_u else []


READERS: dict[str, Callable[[ImageRecord], ImageAttribute]] = {
    "description": lambda i: {"Description": {"Value": i.template.get("DESCRIPTION") or ""}},
    "launchPermission": lambda i: {"LaunchPermissions": _launch_permissions(i)},
    "blockDeviceMapping": lambda i: {"BlockDeviceMappings": image_block_devices(i)},
    "productCodes": lambda i: {"ProductCodes": []},
    "kernel": lambda i: {"KernelId": {}},
    "ramdisk": lambda i: {"RamdiskId": {}},
}


def describe_image_attribute(
    ctx: RequestContext, params: DescribeImageAttributeRequestTypeDef
) -> ImageAttribute:
    name = required(params, "Attribute")
    image = load_ami(ctx, required(params, "ImageId"))
    reader = READERS.get(name)
    if reader is None:
        raise invalid_parameter_value("Attribute", f"the attribute '{name}' is not available for this image")
    return {"ImageId": IMAGE.format(image.id), **reader(image)}


def _other_use(ctx: RequestContext, image: ImageRecord, allowed: bool) -> None:
    # chmod's nine bits, -1 = unchanged: only other-USE moves.
    ctx.one.image_chmod(image.id, (-1, -1, -1, -1, -1, -1, 1 if allowed else 0, -1, -1))


def _permission_change(params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(added, removed) launch permissions from either spelling EC2 accepts."""
    given = params.get("LaunchPermission") or {}
    added = list(given.get("Add") or [])
    removed = list(given.get("Remove") or [])
    operation = params.get("OperationType")
    if operation is not None:
        entries = [{"Group": g} for g in params.get("UserGroups") or []]
        entries += [{"UserId": u} for u in params.get("UserIds") or []]
        (added if operation == "add" else removed).extend(entries)
    return added, removed


def modify_image_attribute(ctx: RequestContext, params: ModifyImageAttributeRequestTypeDef) -> NoOutput:
    image = load_ami(ctx, required(params, "ImageId"))
    name = str(params.get("Attribute") or "")
    description = (params.get("Description") or {}).get("Value")
    if name == "description" and description is None:
        description = params.get("Value")
    added, removed = _permission_change(params)
    if name and name not in ("description", "launchPermission"):
        raise invalid_parameter_value("Attribute", f"the attribute '{name}' cannot be changed here")
    if description is None and not added and not removed:
        raise missing_parameter("Description or LaunchPermission")
    for entry in added + removed:
        if entry.get("UserId") or entry.get("OrganizationArn") or entry.get("OrganizationalUnitArn"):
            raise invalid_parameter_value(
                "LaunchPermission", "OpenNebula shares an image with everyone or no one: use the group 'all'"
            )
        if entry.get("Group") != "all":
            raise invalid_parameter_value("LaunchPermission.Group", "the only group is 'all'")
    text = template_text([("DESCRIPTION", str(description))]) if description is not None else None
    if text is not None:
        ctx.one.image_update(image.id, text, append=True)
    if added or removed:
        _other_use(ctx, image, bool(added) and not removed)
    log.info("request %s: image %d attributes changed", ctx.request_id, image.id)
    return {}


def reset_image_attribute(ctx: RequestContext, params: ResetImageAttributeRequestTypeDef) -> NoOutput:
    name = required(params, "Attribute")
    image = load_ami(ctx, required(params, "ImageId"))
    if name != "launchPermission":
        raise invalid_parameter_value("Attribute", f"the attribute '{name}' cannot be reset")
    _other_use(ctx, image, False)
    return {}


HANDLERS: dict[str, Handler] = {
    "DescribeImageAttribute": describe_image_attribute,
    "ModifyImageAttribute": modify_image_attribute,
    "ResetImageAttribute": reset_image_attribute,
}
