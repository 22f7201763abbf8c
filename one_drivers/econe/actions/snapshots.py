"""EBS snapshots = images flagged `EBS_SNAPSHOT="YES"`, made from a volume.

An attached volume is copied with `one.vm.disksaveas` (a persistent image in use cannot be cloned in
OpenNebula), a detached one with `one.image.clone`. The snapshot is `pending` while oned copies the image
(LOCKED) and `completed` when it is READY. CreateVolume with a SnapshotId clones the snapshot back
(volumes.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.images import SNAPSHOT_ROLE, register_image_kind
from one_drivers.econe.actions.tagging import (
    put_tags,
    tags_from_specifications,
    tags_from_template,
    tags_to_vectors,
)
from one_drivers.econe.actions.volumes import (
    VmCache,
    clone_as,
    flag_new_image,
    iso_time,
    listed_images,
    load_volume,
    new_image_name,
    page_bounds,
    page_of,
    size_gib,
    template_text,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import DescribeSnapshotsResult, NoOutput, Snapshot
from one_drivers.one.gateway import OneActionError, OneError
from one_drivers.one.records import ImageRecord
from one_drivers.query.errors import incorrect_state, snapshot_in_use
from one_drivers.query.ids import SNAPSHOT, VOLUME
from one_drivers.query.parse import required

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        CreateSnapshotRequestTypeDef,
        DeleteSnapshotRequestTypeDef,
        DescribeSnapshotsRequestTypeDef,
    )

log = logging.getLogger(__name__)

FROM_VOLUME_ATTR = "EBS_VOLUME_ID"
MAX_PAGE = 1000

# oned image state -> (EC2 snapshot state, progress); every state oned has, walked by a test.
SNAPSHOT_STATE_TABLE: dict[int, tuple[str, str]] = {
    0: ("pending", "0%"),  # INIT
    1: ("completed", "100%"),  # READY
    2: ("completed", "100%"),  # USED: a volume is being made from it
    3: ("error", "0%"),  # DISABLED
    4: ("pending", "0%"),  # LOCKED: being written
    5: ("error", "0%"),  # ERROR
    6: ("completed", "100%"),  # CLONE
    7: ("error", "0%"),  # DELETE: on its way out
    8: ("completed", "100%"),  # USED_PERS
    9: ("pending", "0%"),  # LOCKED_USED
    10: ("pending", "0%"),  # LOCKED_USED_PERS
}


def snapshot_state(image: ImageRecord) -> tuple[str, str]:
    return SNAPSHOT_STATE_TABLE.get(image.state, ("error", "0%"))


def snapshot_from_image(image: ImageRecord) -> Snapshot:
    state, progress = snapshot_state(image)
    snapshot: Snapshot = {
        "SnapshotId": SNAPSHOT.format(image.id),
        "VolumeId": image.template.get(FROM_VOLUME_ATTR) or "",
        "State": state,
        "StartTime": iso_time(image.regtime),
        "Progress": progress,
        "OwnerId": str(image.uid),
        "Description": image.template.get("DESCRIPTION") or "",
        "VolumeSize": size_gib(image),
        "Encrypted": False,
    }
    put_tags(snapshot, image.template)
    return snapshot


load_snapshot = SNAPSHOT_ROLE.load
is_snapshot = SNAPSHOT_ROLE.holds


# --- CreateSnapshot ---------------------------------------------------------------------------------


def create_snapshot(ctx: RequestContext, params: CreateSnapshotRequestTypeDef) -> Snapshot:
    volume = load_volume(ctx, required(params, "VolumeId"))
    tags = tags_from_specifications(params.get("TagSpecifications") or [], "snapshot")
    attrs: list[tuple[str, str | dict[str, str]]] = [
        (SNAPSHOT_ROLE.attr, "YES"),
        (FROM_VOLUME_ATTR, VOLUME.format(volume.id)),
    ]
    if params.get("Description"):
        attrs.append(("DESCRIPTION", str(params["Description"])))
    attrs.extend(tags_to_vectors(tags))
    if volume.vm_ids:
        image_id = _save_attached(ctx, volume, attrs)
    else:
        try:
            image_id = clone_as(ctx, volume, "snap", attrs)
        except OneActionError as exc:
            raise incorrect_state(
                f"Volume '{VOLUME.format(volume.id)}' cannot be copied in its current state."
            ) from exc
    log.info("request %s: snapshot %d of volume %d started", ctx.request_id, image_id, volume.id)
    return snapshot_from_image(ctx.one.image_info(image_id))


def _save_attached(
    ctx: RequestContext, volume: ImageRecord, attrs: list[tuple[str, str | dict[str, str]]]
) -> int:
    """Disk save-as of the VM disk holding the volume, then flagged as a snapshot."""
    text = template_text(attrs)  # checked before anything is made
    vm_id = volume.vm_ids[0]
    vm = VmCache(ctx, {}).get(vm_id)
    disk = None
    if vm is not None:
        disk = next((d for d in vm.template_vectors("DISK") if d.get("IMAGE_ID") == str(volume.id)), None)
    if vm is None or disk is None:
        raise incorrect_state(f"Volume '{VOLUME.format(volume.id)}' is changing its attachment.")
    try:
        image_id = ctx.one.vm_disksaveas(vm_id, int(disk.get("DISK_ID", "-1")), new_image_name("snap"))
    except OneError as exc:
        # oned refuses a save-as while the VM is in a transition (INTERNAL, not ACTION, in 6.10).
        raise incorrect_state(
            f"Volume '{VOLUME.format(volume.id)}' cannot be copied while its instance is changing state."
        ) from exc
    return flag_new_image(ctx, image_id, text)


# --- DescribeSnapshots --------------------------------------------------------------------------------

SNAPSHOT_FILTERS: dict[str, Callable[[ImageRecord], Iterable[str]]] = {
    "snapshot-id": lambda i: [SNAPSHOT.format(i.id)],
    "volume-id": lambda i: [i.template.get(FROM_VOLUME_ATTR) or ""],
    "status": lambda i: [snapshot_state(i)[0]],
    "progress": lambda i: [snapshot_state(i)[1]],
    "owner-id": lambda i: [str(i.uid)],
    "description": lambda i: [i.template.get("DESCRIPTION") or ""],
    "volume-size": lambda i: [str(size_gib(i))],
    "encrypted": lambda i: ["false"],
    "start-time": lambda i: [iso_time(i.regtime).strftime("%Y-%m-%dT%H:%M:%S.000Z")],
}


def _owned(ctx: RequestContext, owners: list[str]) -> Callable[[ImageRecord], bool]:
    if not owners:
        return lambda image: True
    uids = {ctx.user_id if o == "self" else int(o) for o in owners if o == "self" or o.isdigit()}
    return lambda image: image.uid in uids


def describe_snapshots(
    ctx: RequestContext, params: DescribeSnapshotsRequestTypeDef
) -> DescribeSnapshotsResult:
    filters = parse_filters(params.get("Filters"), SNAPSHOT_FILTERS, lambda i: tags_from_template(i.template))
    owned = _owned(ctx, [str(o) for o in params.get("OwnerIds") or []])
    ids = [str(v) for v in dict.fromkeys(params.get("SnapshotIds") or [])]
    offset, size = page_bounds(params, ids, MAX_PAGE)
    images = listed_images(ctx, ids, SNAPSHOT, load_snapshot, is_snapshot)
    page, token = page_of([i for i in images if owned(i) and filters.matches(i)], offset, size)
    result: DescribeSnapshotsResult = {"Snapshots": [snapshot_from_image(i) for i in page]}
    if token:
        result["NextToken"] = token
    return result


# --- DeleteSnapshot ---------------------------------------------------------------------------------


def delete_snapshot(ctx: RequestContext, params: DeleteSnapshotRequestTypeDef) -> NoOutput:
    text = required(params, "SnapshotId")
    image = load_snapshot(ctx, text)
    if image.vm_ids or image.state in (2, 6, 9, 10):
        raise snapshot_in_use(text)
    try:
        ctx.one.image_delete(image.id)
    except OneActionError as exc:
        raise snapshot_in_use(text) from exc
    log.info("request %s: snapshot %d deleted", ctx.request_id, image.id)
    return {}


register_image_kind(SNAPSHOT_ROLE)


HANDLERS: dict[str, Handler] = {
    "CreateSnapshot": create_snapshot,
    "DescribeSnapshots": describe_snapshots,
    "DeleteSnapshot": delete_snapshot,
}
