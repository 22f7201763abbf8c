"""EC2 images (AMIs) = OpenNebula images flagged `EC2_AMI="YES"`: Describe, Register, Deregister, Upload.

RegisterImage flags an existing image (never a volume or snapshot, which carry EBS_VOLUME / EBS_SNAPSHOT),
through `image.update` with an explicit template (upstream sent none, which 5.6+ refuses).
DeregisterImage sets `EC2_AMI="NO"` and keeps the image, as EC2 keeps an AMI's snapshots: deleting data
is left to OpenNebula's own tools (upstream deleted the image outright).
UploadImage is upstream's multipart extension: the app streams the file to `tmpdir`, we hand its path
to `image.allocate` in `datastore_id`.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from one_drivers.econe.actions.block_devices import image_device_fields, root_device_name, root_device_type
from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.tagging import (
    TaggableKind,
    TaggedResource,
    put_tags,
    register_kind,
    tags_from_specifications,
    tags_from_template,
    tags_template,
    tags_to_vectors,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DeregisterImageResult,
    DescribeImagesResult,
    Image,
    RegisterImageResult,
    Tag,
    UploadImageResult,
)
from one_drivers.one.gateway import OneAuthorizationError, OneNotFoundError
from one_drivers.one.records import ImageRecord
from one_drivers.one.template import TemplateError, build_template
from one_drivers.query.errors import invalid_parameter_value, missing_value, unstorable_value
from one_drivers.query.ids import IMAGE, SNAPSHOT, VOLUME, IdKind

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DeregisterImageRequestTypeDef,
        DescribeImagesRequestTypeDef,
        RegisterImageRequestTypeDef,
    )

log = logging.getLogger(__name__)

AMI_ATTR = "EC2_AMI"
VOLUME_ATTR = "EBS_VOLUME"
SNAPSHOT_ATTR = "EBS_SNAPSHOT"

# oned image state number -> EC2 ImageState (every state oned has: 0..10).
IMAGE_STATE_TABLE: dict[int, str] = {
    0: "pending",  # INIT
    1: "available",  # READY
    2: "available",  # USED
    3: "disabled",  # DISABLED
    4: "pending",  # LOCKED (being copied in)
    5: "failed",  # ERROR
    6: "pending",  # CLONE
    7: "deregistered",  # DELETE
    8: "available",  # USED_PERS
    9: "pending",  # LOCKED_USED
    10: "pending",  # LOCKED_USED_PERS
}

_LOCATION_RE = re.compile(r"(?:ami-)?([0-9]{1,17})\Z")


def flagged(image: ImageRecord, attr: str) -> bool:
    """Whether the image carries one of econe's role flags (`EC2_AMI`, `EBS_VOLUME`...) as YES."""
    return (image.template.get(attr) or "").upper() == "YES"


def is_ami(image: ImageRecord) -> bool:
    return flagged(image, AMI_ATTR)


def is_volume_or_snapshot(image: ImageRecord) -> bool:
    return flagged(image, VOLUME_ATTR) or flagged(image, SNAPSHOT_ATTR)


def image_state(image: ImageRecord) -> str:
    return IMAGE_STATE_TABLE.get(image.state, "error")


def image_from_record(image: ImageRecord) -> Image:
    """The EC2 `Image` for an OpenNebula image."""
    result: Image = {
        "ImageId": IMAGE.format(image.id),
        "ImageLocation": f"{image.uname}/{image.name}",
        "State": image_state(image),
        "OwnerId": str(image.uid),
        "CreationDate": datetime.fromtimestamp(image.regtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "Public": image.permissions.other_u,
        "Architecture": image.template.get("ARCH") or "x86_64",
        "ImageType": "machine",
        "Name": image.name,
        "VirtualizationType": "hvm",
        **image_device_fields(image),
    }
    description = image.template.get("DESCRIPTION")
    if description:
        result["Description"] = description
    put_tags(result, image.template)
    return result


def load_image(ctx: RequestContext, text: str) -> ImageRecord:
    image_id = IMAGE.parse(text)
    try:
        return ctx.one.image_info(image_id)
    except (OneNotFoundError, OneAuthorizationError):
        raise IMAGE.not_found(text) from None


def load_ami(ctx: RequestContext, text: str) -> ImageRecord:
    image = load_image(ctx, text)
    if not is_ami(image):
        raise IMAGE.not_found(text)
    return image


# --- DescribeImages --------------------------------------------------------------------------------

IMAGE_FILTERS: dict[str, Callable[[ImageRecord], Iterable[str]]] = {
    "image-id": lambda i: [IMAGE.format(i.id)],
    "name": lambda i: [i.name],
    "state": lambda i: [image_state(i)],
    "owner-id": lambda i: [str(i.uid)],
    "is-public": lambda i: ["true" if i.permissions.other_u else "false"],
    "image-type": lambda i: ["machine"],
    "architecture": lambda i: [i.template.get("ARCH") or "x86_64"],
    "description": lambda i: [i.template.get("DESCRIPTION") or ""],
    "root-device-type": lambda i: [root_device_type(i)],
    "root-device-name": lambda i: [root_device_name(i)],
    "virtualization-type": lambda i: ["hvm"],
}


def _image_tags(image: ImageRecord) -> list[Tag]:
    return tags_from_template(image.template)


def _owner_matcher(ctx: RequestContext, owners: list[str]) -> Callable[[ImageRecord], bool]:
    if not owners or "all" in owners:
        return lambda image: True
    uids: set[int] = set()
    for owner in owners:
        if owner == "self":
            uids.add(ctx.user_id)
        elif owner.isdigit():
            uids.add(int(owner))
        # "amazon", "aws-marketplace" and aliases own nothing here.
    return lambda image: image.uid in uids


def describe_images(ctx: RequestContext, params: DescribeImagesRequestTypeDef) -> DescribeImagesResult:
    filters = parse_filters(params.get("Filters"), IMAGE_FILTERS, _image_tags)
    owned = _owner_matcher(ctx, [str(o) for o in params.get("Owners") or []])
    ids: list[str] = list(dict.fromkeys(params.get("ImageIds") or []))
    if ids:
        for text in ids:
            IMAGE.parse(text)
        images = [load_ami(ctx, text) for text in ids]
    else:
        images = [i for i in ctx.one.imagepool_info(-2, -1, -1) if is_ami(i)]
    return {"Images": [image_from_record(i) for i in images if owned(i) and filters.matches(i)]}


# --- RegisterImage / DeregisterImage ---------------------------------------------------------------


def register_image(ctx: RequestContext, params: RegisterImageRequestTypeDef) -> RegisterImageResult:
    location = str(params.get("ImageLocation") or "")
    m = _LOCATION_RE.match(location)
    if not m:
        raise invalid_parameter_value("ImageLocation", "expected an OpenNebula image id (N or ami-N)")
    text = IMAGE.format(int(m.group(1)))
    image = load_image(ctx, text)
    if is_volume_or_snapshot(image):
        raise invalid_parameter_value("ImageLocation", f"{text} is a volume or snapshot, not a machine image")
    attrs: list[tuple[str, str | dict[str, str]]] = [(AMI_ATTR, "YES")]
    if params.get("Description"):
        attrs.append(("DESCRIPTION", str(params["Description"])))
    attrs.extend(tags_to_vectors(tags_from_specifications(params.get("TagSpecifications") or [], "image")))
    try:
        template = build_template(attrs)
    except TemplateError as exc:
        raise unstorable_value(exc) from exc
    ctx.one.image_update(image.id, template, append=True)
    log.info("request %s: image %d registered as %s", ctx.request_id, image.id, text)
    return {"ImageId": text}


def deregister_image(ctx: RequestContext, params: DeregisterImageRequestTypeDef) -> DeregisterImageResult:
    text = str(params["ImageId"])
    image = load_ami(ctx, text)
    ctx.one.image_update(image.id, build_template([(AMI_ATTR, "NO")]), append=True)
    log.info("request %s: image %d deregistered (kept in OpenNebula)", ctx.request_id, image.id)
    return {"Return": True}


# --- UploadImage (econe extension) -----------------------------------------------------------------


def upload_image(ctx: RequestContext, params: dict[str, Any]) -> UploadImageResult:
    """Allocate an image from the uploaded file; the app has already streamed it into `tmpdir`."""
    files = params.get("Files") or {}
    upload = files.get("file") or next(iter(files.values()), None)
    if upload is None:
        raise missing_value("The request must contain the file to upload (multipart field 'file')")
    # The app removes request files when the answer is sent, but oned's datastore driver copies PATH
    # after allocate returns: move the file to a name of its own first.
    kept = os.path.join(ctx.config.tmpdir, f"econe-upload-{uuid.uuid4().hex}")
    os.replace(upload.path, kept)
    name = str(
        params.get("Name") or os.path.basename(upload.filename or "") or f"econe-{uuid.uuid4().hex[:8]}"
    )
    attrs: list[tuple[str, str | dict[str, str]]] = [
        ("NAME", name),
        ("PATH", kept),
        ("TYPE", "OS"),
        (AMI_ATTR, "YES"),
    ]
    if params.get("Description"):
        attrs.append(("DESCRIPTION", str(params["Description"])))
    try:
        template = build_template(attrs)
    except TemplateError as exc:
        os.unlink(kept)
        raise unstorable_value(exc) from exc
    datastore_id = ctx.config.datastore_id if ctx.config.datastore_id is not None else 1
    try:
        image_id = ctx.one.image_allocate(template, datastore_id)
    except BaseException:
        os.unlink(kept)
        raise
    log.info("request %s: uploaded %d bytes as image %d", ctx.request_id, upload.size, image_id)
    return {"ImageId": IMAGE.format(image_id)}


# --- tags: images, volumes and snapshots are all OpenNebula images ---------------------------------


@dataclass(frozen=True)
class ImageRole:
    """An EC2 resource an OpenNebula image can be, by its flag: AMI, volume or snapshot."""

    attr: str  # the template flag that gives the image this role
    resource_type: str  # DescribeTags' ResourceType
    kind: IdKind

    def holds(self, image: ImageRecord) -> bool:
        return flagged(image, self.attr)

    def load(self, ctx: RequestContext, text: str) -> ImageRecord:
        """The image an id of this kind names, when the image plays this role (else NotFound)."""
        number = self.kind.parse(text)
        try:
            image = ctx.one.image_info(number)
        except (OneNotFoundError, OneAuthorizationError):
            raise self.kind.not_found(text) from None
        if image_role(image) is not self:
            raise self.kind.not_found(text)
        return image


VOLUME_ROLE = ImageRole(VOLUME_ATTR, "volume", VOLUME)
SNAPSHOT_ROLE = ImageRole(SNAPSHOT_ATTR, "snapshot", SNAPSHOT)
AMI_ROLE = ImageRole(AMI_ATTR, "image", IMAGE)
# In the order a flag wins when an image carries more than one.
IMAGE_ROLES = (VOLUME_ROLE, SNAPSHOT_ROLE, AMI_ROLE)


def image_role(image: ImageRecord) -> ImageRole | None:
    """The role the image's flags give it, or None for a plain image."""
    return next((role for role in IMAGE_ROLES if role.holds(image)), None)


def image_listing(ctx: RequestContext) -> list[TaggedResource]:
    """Every tagged image the user may use, as the resource its flags make it (one pool read)."""
    found = []
    for image in ctx.one.imagepool_info(-2, -1, -1):
        role = image_role(image)
        if role is None:
            continue
        tags = tags_from_template(image.template)
        if tags:
            found.append(TaggedResource(role.kind.format(image.id), role.resource_type, tags))
    return found


def register_image_kind(role: ImageRole) -> None:
    """Plug one image role into the tagging registry (images here; volumes and snapshots in theirs)."""

    def load(ctx: RequestContext, text: str) -> TaggedResource:
        image = role.load(ctx, text)
        return TaggedResource(
            role.kind.format(image.id), role.resource_type, tags_from_template(image.template)
        )

    def store(ctx: RequestContext, text: str, tags: list[tuple[str, str]]) -> None:
        ctx.one.image_update(role.kind.parse(text), tags_template(tags), append=True)

    register_kind(
        TaggableKind(
            role.resource_type,
            role.kind.prefix,
            load,
            store,
            image_listing,
            listed_types=tuple(r.resource_type for r in IMAGE_ROLES),
        )
    )


register_image_kind(AMI_ROLE)


HANDLERS: dict[str, Handler] = {
    "DescribeImages": describe_images,
    "RegisterImage": register_image,
    "DeregisterImage": deregister_image,
    "UploadImage": upload_image,
}
