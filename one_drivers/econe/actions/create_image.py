"""CreateImage: an AMI from an instance's root disk (`one.vm.disksaveas` of disk 0, then flagged
`EC2_AMI="YES"`); the new AMI is `pending` while oned writes the image (LOCKED) and `available` once
READY.

OpenNebula copies the disk while the VM runs (or stays powered off); it does not reboot the guest, so
`NoReboot` is accepted and the copy is what it would be with `NoReboot=true` (see docs/econe.md).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from one_drivers.econe.actions.block_devices import check_no_devices
from one_drivers.econe.actions.images import AMI_ATTR
from one_drivers.econe.actions.instance_state import Ec2State, ec2_state
from one_drivers.econe.actions.instances import load_vm
from one_drivers.econe.actions.tagging import tags_from_specifications, tags_to_vectors
from one_drivers.econe.actions.volumes import flag_new_image, template_text
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import CreateImageResult
from one_drivers.one.gateway import OneInternalError
from one_drivers.one.records import ImageRecord
from one_drivers.query.errors import (
    duplicate_ami_name,
    incorrect_instance_state,
    invalid_value,
    malformed_ami_name,
    missing_parameter,
)
from one_drivers.query.ids import IMAGE, INSTANCE
from one_drivers.query.parse import required

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        CreateImageRequestTypeDef,
    )

log = logging.getLogger(__name__)

FROM_INSTANCE_ATTR = "EC2_FROM_INSTANCE_ID"
# EC2's AMI name rule (3-128 of letters, digits and ( ) [ ] space . / - ' @ _) without the / and ' that
# oned refuses in any object name (PoolObjectSQL::name_is_valid): refused here, before anything is made.
_NAME_RE = re.compile(r"[A-Za-z0-9()\[\] .\-@_]{3,128}\Z")


def _name_taken(ctx: RequestContext, name: str) -> bool:
    mine: list[ImageRecord] = ctx.one.imagepool_info(-3, -1, -1)
    return any(image.name == name for image in mine)


def create_image(ctx: RequestContext, params: CreateImageRequestTypeDef) -> CreateImageResult:
    if not params.get("InstanceId"):
        raise missing_parameter("InstanceId")
    name = required(params, "Name")
    if not _NAME_RE.match(name):
        raise malformed_ami_name(
            "AMI names must be 3 to 128 characters: letters, numbers, ( ) [ ] space . - @ _"
            " (OpenNebula allows no / or ' in an image name)"
        )
    check_no_devices(params, "CreateImage")
    vm = load_vm(ctx, str(params["InstanceId"]))
    state = ec2_state(vm.state, vm.lcm_state)
    if state not in (Ec2State.RUNNING, Ec2State.STOPPED):
        raise incorrect_instance_state(
            f"The instance '{INSTANCE.format(vm.id)}' is not in the 'running' or 'stopped' state."
        )
    disks = vm.template_vectors("DISK")
    if not disks or not disks[0].get("IMAGE_ID", "").isdigit():
        raise invalid_value(f"The instance '{INSTANCE.format(vm.id)}' has no image disk to copy")
    # Image tags; AWS also tags the snapshots an EBS AMI makes, which here are the AMI itself.
    specs = [s for s in params.get("TagSpecifications") or [] if s.get("ResourceType") != "snapshot"]
    attrs: list[tuple[str, str | dict[str, str]]] = [
        (AMI_ATTR, "YES"),
        (FROM_INSTANCE_ATTR, INSTANCE.format(vm.id)),
    ]
    if params.get("Description"):
        attrs.append(("DESCRIPTION", str(params["Description"])))
    attrs.extend(tags_to_vectors(tags_from_specifications(specs, "image")))
    text = template_text(attrs)  # checked before anything is made
    if _name_taken(ctx, name):
        raise duplicate_ami_name(name)
    try:
        image_id = ctx.one.vm_disksaveas(vm.id, int(disks[0].get("DISK_ID", "0")), name)
    except OneInternalError as exc:
        # 6.10 answers a save-as refused for the VM's state as INTERNAL.
        raise incorrect_instance_state(
            f"The instance '{INSTANCE.format(vm.id)}' cannot be copied right now."
        ) from exc
    flag_new_image(ctx, image_id, text)
    log.info("request %s: image %d saved from VM %d", ctx.request_id, image_id, vm.id)
    return {"ImageId": IMAGE.format(image_id)}


HANDLERS: dict[str, Handler] = {"CreateImage": create_image}
