"""EBS volumes = persistent DATABLOCK images flagged `EBS_VOLUME="YES"`.

CreateVolume allocates the image (or clones a snapshot's), AttachVolume hot-plugs it (`one.vm.attach`,
`/dev/sdh` -> TARGET `sdh`) and records `EBS=[INSTANCE_ID, DEVICE, ATTACH_TIME]` in the image,
DetachVolume unplugs it and clears the record, DeleteVolume deletes only volumes, never an image in use.
A volume's state comes from its image's state; an attachment's from the VM: `attaching` while the VM
hot-plugs a disk econe recorded, `detaching` while it unplugs one whose record is gone.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from one_drivers.econe.actions.block_devices import LaunchDisks, device_target, plan_launch_disks
from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.images import SNAPSHOT_ROLE, VOLUME_ROLE, register_image_kind
from one_drivers.econe.actions.instances import load_vm
from one_drivers.econe.actions.tagging import (
    put_tags,
    tags_from_specifications,
    tags_from_template,
    tags_to_vectors,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DescribeVolumesResult,
    DescribeVolumeStatusResult,
    ModifyVolumeResult,
    NoOutput,
    Tag,
    Volume,
    VolumeAttachment,
    VolumeStatusItem,
)
from one_drivers.one.gateway import OneActionError, OneAuthorizationError, OneError, OneNotFoundError
from one_drivers.one.records import ImageRecord, VmRecord
from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import TemplateError, build_template
from one_drivers.query.errors import (
    Ec2Error,
    attachment_not_found,
    incorrect_instance_state,
    incorrect_state,
    invalid_combination,
    invalid_filter,
    invalid_next_token,
    invalid_parameter_value,
    missing_parameter,
    operation_not_permitted,
    unstorable_value,
    volume_in_use,
)
from one_drivers.query.ids import INSTANCE, SNAPSHOT, VOLUME, IdKind
from one_drivers.query.parse import required

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        AttachVolumeRequestTypeDef,
        CreateVolumeRequestTypeDef,
        DeleteVolumeRequestTypeDef,
        DescribeVolumesRequestTypeDef,
        DescribeVolumeStatusRequestTypeDef,
        DetachVolumeRequestTypeDef,
        ModifyVolumeRequestTypeDef,
    )

log = logging.getLogger(__name__)

EBS_ATTR = "EBS"  # [INSTANCE_ID, DEVICE, ATTACH_TIME] while econe has the volume attached
FROM_SNAPSHOT_ATTR = "EBS_FROM_SNAPSHOT_ID"
VOLUME_TYPE_ATTR = "EBS_VOLUME_TYPE"
SIZE_ATTR = "EBS_SIZE"  # MB asked for beyond the snapshot's size: the disk grows to it when attached
MAX_GIB = 16384
MIN_PAGE, MAX_PAGE = 5, 500  # DescribeVolumes' MaxResults range
_TOKEN_RE = re.compile(r"p:([0-9]{1,9})\Z")

# oned image state -> EC2 volume state (every state oned has; a test walks them all).
VOLUME_STATE_TABLE: dict[int, str] = {
    0: "creating",  # INIT
    1: "available",  # READY
    2: "in-use",  # USED
    3: "error",  # DISABLED
    4: "creating",  # LOCKED: being copied or written
    5: "error",  # ERROR
    6: "available",  # CLONE: a snapshot is being copied from it; still usable
    7: "deleting",  # DELETE
    8: "in-use",  # USED_PERS
    9: "in-use",  # LOCKED_USED
    10: "in-use",  # LOCKED_USED_PERS
}
HOTPLUG_STATES = {(VmState.ACTIVE, LcmState.RUNNING), (VmState.POWEROFF, LcmState.LCM_INIT)}


def volume_state(image: ImageRecord) -> str:
    return VOLUME_STATE_TABLE.get(image.state, "error")


def size_gib(image: ImageRecord) -> int:
    """The volume's size in GiB (rounded up; a grown disk's asked-for size when larger)."""
    grown = image.template.get(SIZE_ATTR) or ""
    mb = max(image.size, int(grown) if grown.isdigit() else 0)
    return max(1, -(-mb // 1024))


def iso_time(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


# --- attachments ----------------------------------------------------------------------------------


@dataclass
class VmCache:
    """VMs read once per request (a page of volumes attached to one VM reads it once)."""

    ctx: RequestContext
    vms: dict[int, VmRecord | None]

    def get(self, vm_id: int) -> VmRecord | None:
        if vm_id not in self.vms:
            try:
                self.vms[vm_id] = self.ctx.one.vm_info(vm_id)
            except (OneNotFoundError, OneAuthorizationError):
                self.vms[vm_id] = None
        return self.vms[vm_id]


def _record(image: ImageRecord) -> dict[str, str]:
    vectors = image.template.vectors(EBS_ATTR)
    return vectors[0] if vectors else {}


def attachments(image: ImageRecord, vms: VmCache) -> list[VolumeAttachment]:
    """The volume's attachments: one per VM using the image."""
    record = _record(image)
    found: list[VolumeAttachment] = []
    for vm_id in image.vm_ids:
        instance = INSTANCE.format(vm_id)
        recorded = record.get("INSTANCE_ID") == instance
        vm = vms.get(vm_id)
        device, attach_time, state = "", int(record.get("ATTACH_TIME", "0") or 0), "attached"
        if recorded:
            device = record.get("DEVICE", "")
        if vm is not None:
            disk = next((d for d in vm.template_vectors("DISK") if d.get("IMAGE_ID") == str(image.id)), None)
            if disk is not None and not device:
                device = "/dev/" + disk.get("TARGET", "")
            if vm.lcm_state is LcmState.HOTPLUG:
                state = "attaching" if recorded else "detaching"
            attach_time = attach_time or vm.stime
        found.append(
            {
                "AttachTime": iso_time(attach_time),
                "Device": device,
                "InstanceId": instance,
                "State": state,
                "VolumeId": VOLUME.format(image.id),
                "DeleteOnTermination": False,
            }
        )
    return found


def volume_from_image(image: ImageRecord, zone: str, vms: VmCache) -> Volume:
    volume: Volume = {
        "VolumeId": VOLUME.format(image.id),
        "Size": size_gib(image),
        "SnapshotId": image.template.get(FROM_SNAPSHOT_ATTR) or "",
        "AvailabilityZone": zone,
        "State": volume_state(image),
        "CreateTime": iso_time(image.regtime),
        "Attachments": attachments(image, vms),
        "Encrypted": False,
        "VolumeType": image.template.get(VOLUME_TYPE_ATTR) or "standard",
        "MultiAttachEnabled": False,
    }
    put_tags(volume, image.template)
    return volume


load_volume = VOLUME_ROLE.load
is_volume = VOLUME_ROLE.holds


# --- CreateVolume ----------------------------------------------------------------------------------


def check_zone(ctx: RequestContext, zone: Any) -> str:
    if not zone:
        raise missing_parameter("AvailabilityZone")
    if str(zone) != ctx.config.zone_name:
        raise invalid_parameter_value("AvailabilityZone", f"Invalid availability zone: [{zone}]")
    return str(zone)


def template_text(template: list[tuple[str, str | dict[str, str]]]) -> str:
    try:
        return build_template(template)
    except TemplateError as exc:
        raise unstorable_value(exc) from exc


def new_image_name(kind: str) -> str:
    # Image names are unique per user in OpenNebula; the EC2 id is the image id, not the name.
    return f"{kind}-{uuid.uuid4().hex[:16]}"


def volume_attrs(
    volume_type: str | None, tags: list[tuple[str, str]]
) -> list[tuple[str, str | dict[str, str]]]:
    attrs: list[tuple[str, str | dict[str, str]]] = [(VOLUME_ROLE.attr, "YES")]
    if volume_type:
        attrs.append((VOLUME_TYPE_ATTR, volume_type))
    attrs.extend(tags_to_vectors(tags))
    return attrs


def create_volume(ctx: RequestContext, params: CreateVolumeRequestTypeDef) -> Volume:
    zone = check_zone(ctx, params.get("AvailabilityZone"))
    if params.get("Encrypted"):
        raise invalid_parameter_value("Encrypted", "encrypted volumes are not supported by this cloud")
    size = params.get("Size")
    snapshot_text = params.get("SnapshotId")
    if size is None and not snapshot_text:
        raise missing_parameter("size or snapshotId")
    if size is not None and not 1 <= int(size) <= MAX_GIB:
        raise invalid_parameter_value("Size", f"must be between 1 and {MAX_GIB} GiB")
    tags = tags_from_specifications(params.get("TagSpecifications") or [], "volume")
    image_id = new_volume(
        ctx,
        None if size is None else int(size),
        str(snapshot_text) if snapshot_text else None,
        str(params["VolumeType"]) if params.get("VolumeType") else None,
        tags,
    )
    log.info("request %s: volume %s created", ctx.request_id, VOLUME.format(image_id))
    image = ctx.one.image_info(image_id)
    return volume_from_image(image, zone, VmCache(ctx, {}))


def new_volume(
    ctx: RequestContext,
    size: int | None,
    snapshot_text: str | None,
    volume_type: str | None,
    tags: list[tuple[str, str]],
) -> int:
    """A persistent volume image of `size` GiB, empty or from a snapshot; returns its id."""
    attrs = volume_attrs(volume_type, tags)
    if snapshot_text:
        return volume_from_snapshot(ctx, snapshot_text, size, attrs)
    text = template_text(
        [
            ("NAME", new_image_name("ebs")),
            ("TYPE", "DATABLOCK"),
            ("SIZE", str(int(size or 0) * 1024)),
            ("PERSISTENT", "YES"),
            ("FS", ctx.config.ebs_fstype),
            ("FSTYPE", ctx.config.ebs_fstype),
            *attrs,
        ]
    )
    return ctx.one.image_allocate(text, datastore(ctx))


# --- RunInstances' BlockDeviceMappings ---------------------------------------------------------------


@dataclass(frozen=True)
class LaunchDevices:
    """Disks a launch adds: the same for every instance (`disks`), plus a persistent volume per
    instance for each mapping kept after termination (`for_instance`)."""

    root_size_mb: int | None
    disks: list[dict[str, str]]
    plan: LaunchDisks

    def for_instance(
        self, ctx: RequestContext, rollback: ExitStack, tags: list[tuple[str, str]]
    ) -> list[dict[str, str]]:
        disks = []
        for target, ebs in self.plan.kept:
            size = ebs.get("VolumeSize")
            image_id = new_volume(
                ctx,
                None if size is None else int(size),
                str(ebs["SnapshotId"]) if ebs.get("SnapshotId") else None,
                str(ebs["VolumeType"]) if ebs.get("VolumeType") else None,
                tags,
            )
            rollback.callback(delete_image_quietly, ctx, image_id)
            disks.append({"IMAGE_ID": str(image_id), "TARGET": target})
        return disks


def launch_devices(ctx: RequestContext, params: Mapping[str, Any], image: ImageRecord) -> LaunchDevices:
    """RunInstances' BlockDeviceMappings checked and resolved before anything is launched."""
    plan = plan_launch_disks(params, image)
    disks = []
    for disk in plan.disks:
        if "SNAPSHOT" not in disk:
            disks.append(dict(disk))
            continue
        snapshot = SNAPSHOT_ROLE.load(ctx, disk["SNAPSHOT"])
        out = {"IMAGE_ID": str(snapshot.id), "TARGET": disk["TARGET"]}
        if "SIZE" in disk:
            if int(disk["SIZE"]) < snapshot.size:
                raise invalid_parameter_value("VolumeSize", "a volume cannot be smaller than its snapshot")
            out["SIZE"] = disk["SIZE"]
        disks.append(out)
    for _, ebs in plan.kept:
        if ebs.get("SnapshotId"):
            SNAPSHOT_ROLE.load(ctx, str(ebs["SnapshotId"]))
    return LaunchDevices(plan.root_size_mb, disks, plan)


def datastore(ctx: RequestContext) -> int:
    return ctx.config.datastore_id if ctx.config.datastore_id is not None else 1


# Attributes a clone inherits from its source that must not follow it (oned copies the whole template).
INHERITED_ROLE = ("EC2_AMI", "EBS_VOLUME", "EBS_SNAPSHOT", EBS_ATTR, "EC2_TAGS", "EC2_TAG_KEYS", SIZE_ATTR)


def clone_as(
    ctx: RequestContext, source: ImageRecord, kind: str, attrs: list[tuple[str, str | dict[str, str]]]
) -> int:
    """Clone an image into a new role: the source's role attributes blanked, `attrs` set; rolled back
    if anything after the clone fails."""
    setting = {name for name, _ in attrs}
    blanks = [(name, "") for name in INHERITED_ROLE if name not in setting]
    text = template_text([*blanks, *attrs])  # checked before cloning
    new_id = ctx.one.image_clone(source.id, new_image_name(kind))
    return flag_new_image(ctx, new_id, text)


def flag_new_image(ctx: RequestContext, image_id: int, text: str) -> int:
    """Merge econe's attributes into an image just made (clone, save-as); delete it if that fails."""
    try:
        ctx.one.image_update(image_id, text, append=True)
    except OneError:
        delete_image_quietly(ctx, image_id)
        raise
    return image_id


def delete_image_quietly(ctx: RequestContext, image_id: int) -> None:
    try:
        ctx.one.image_delete(image_id)
        log.info("request %s: rolled back image %d", ctx.request_id, image_id)
    except OneError as exc:
        log.error("request %s: could not roll back image %d: %s", ctx.request_id, image_id, exc.message)


def volume_from_snapshot(
    ctx: RequestContext, snapshot_text: str, size: int | None, attrs: list[tuple[str, str | dict[str, str]]]
) -> int:
    snapshot = SNAPSHOT_ROLE.load(ctx, snapshot_text)
    if size is not None and size * 1024 < snapshot.size:
        raise invalid_parameter_value(
            "Size", f"the volume must be at least the snapshot's size ({-(-snapshot.size // 1024)} GiB)"
        )
    extra: list[tuple[str, str | dict[str, str]]] = [(FROM_SNAPSHOT_ATTR, SNAPSHOT.format(snapshot.id))]
    if size is not None and size * 1024 > snapshot.size:
        extra.append((SIZE_ATTR, str(size * 1024)))
    image_id = clone_as(ctx, snapshot, "ebs", [*attrs, *extra])
    try:
        ctx.one.image_persistent(image_id, True)
    except OneError:
        delete_image_quietly(ctx, image_id)
        raise
    return image_id


# --- DescribeVolumes --------------------------------------------------------------------------------

VOLUME_FILTERS: dict[str, Callable[[ImageRecord], Iterable[str]]] = {
    "volume-id": lambda i: [VOLUME.format(i.id)],
    "status": lambda i: [volume_state(i)],
    "size": lambda i: [str(size_gib(i))],
    "snapshot-id": lambda i: [i.template.get(FROM_SNAPSHOT_ATTR) or ""],
    "volume-type": lambda i: [i.template.get(VOLUME_TYPE_ATTR) or "standard"],
    "encrypted": lambda i: ["false"],
    "multi-attach-enabled": lambda i: ["false"],
    "attachment.instance-id": lambda i: [INSTANCE.format(v) for v in i.vm_ids],
    "attachment.delete-on-termination": lambda i: ["false"] if i.vm_ids else [],
    "availability-zone": lambda i: [],  # replaced per request by the configured zone
    "create-time": lambda i: [iso_time(i.regtime).strftime("%Y-%m-%dT%H:%M:%S.000Z")],
}


def _image_tags(image: ImageRecord) -> list[Tag]:
    return tags_from_template(image.template)


def page_bounds(
    params: Mapping[str, Any], ids: list[str], max_page: int = MAX_PAGE
) -> tuple[int, int | None]:
    """(offset, page size or None) from MaxResults/NextToken; ids and paging do not mix."""
    size = params.get("MaxResults")
    token = params.get("NextToken")
    if ids and (size is not None or token):
        raise invalid_combination("The parameter volumeSet cannot be used with maxResults")
    if size is not None and not MIN_PAGE <= int(size) <= max_page:
        raise invalid_parameter_value("MaxResults", f"must be between {MIN_PAGE} and {max_page}")
    offset = 0
    if token:
        m = _TOKEN_RE.match(str(token))
        if not m:
            raise invalid_next_token()
        offset = int(m.group(1))
    return offset, None if size is None else int(size)


def selected_volumes(
    ctx: RequestContext, params: Mapping[str, Any], ids_param: str
) -> tuple[list[ImageRecord], str | None]:
    """The volumes a Describe names (ids, or the pool), filtered, and the next page's token."""
    zone = ctx.config.zone_name
    table = dict(VOLUME_FILTERS)
    table["availability-zone"] = lambda i: [zone]
    filters = parse_filters(params.get("Filters"), table, _image_tags)
    ids = [str(v) for v in dict.fromkeys(params.get(ids_param) or [])]
    offset, size = page_bounds(params, ids)
    images = listed_images(ctx, ids, VOLUME, load_volume, is_volume)
    return page_of([i for i in images if filters.matches(i)], offset, size)


def listed_images(
    ctx: RequestContext,
    ids: list[str],
    kind: IdKind,
    load: Callable[[RequestContext, str], ImageRecord],
    is_kind: Callable[[ImageRecord], bool],
) -> list[ImageRecord]:
    """The volumes or snapshots a Describe names: those `ids` (each checked, in their order), else every
    image of the kind, by id."""
    if ids:
        for text in ids:
            kind.parse(text)
        return [load(ctx, text) for text in ids]
    return sorted((i for i in ctx.one.imagepool_info(-2, -1, -1) if is_kind(i)), key=lambda i: i.id)


T = TypeVar("T")


def page_of(items: list[T], offset: int, size: int | None) -> tuple[list[T], str | None]:
    """One page of a listing and the token of the next (None on the last)."""
    if size is None:
        return items[offset:], None
    return items[offset : offset + size], f"p:{offset + size}" if offset + size < len(items) else None


def describe_volumes(ctx: RequestContext, params: DescribeVolumesRequestTypeDef) -> DescribeVolumesResult:
    images, token = selected_volumes(ctx, params, "VolumeIds")
    vms = VmCache(ctx, {})
    result: DescribeVolumesResult = {
        "Volumes": [volume_from_image(i, ctx.config.zone_name, vms) for i in images]
    }
    if token:
        result["NextToken"] = token
    return result


# --- DescribeVolumeStatus ---------------------------------------------------------------------------


def _status(image: ImageRecord) -> tuple[str, str]:
    state = volume_state(image)
    if state in ("available", "in-use"):
        return "ok", "passed"
    if state == "error":
        return "impaired", "failed"
    return "insufficient-data", "insufficient-data"


def describe_volume_status(
    ctx: RequestContext, params: DescribeVolumeStatusRequestTypeDef
) -> DescribeVolumeStatusResult:
    plain = {k: v for k, v in params.items() if k != "Filters"}  # status filters are not volume filters
    images, token = selected_volumes(ctx, plain, "VolumeIds")
    statuses: list[VolumeStatusItem] = []
    for image in images:
        status, io = _status(image)
        item: VolumeStatusItem = {
            "VolumeId": VOLUME.format(image.id),
            "AvailabilityZone": ctx.config.zone_name,
            "VolumeStatus": {"Status": status, "Details": [{"Name": "io-enabled", "Status": io}]},
            "Actions": [],
            "Events": [],
        }
        statuses.append(item)
    wanted = {
        str(f.get("Name")): [str(v) for v in f.get("Values") or []] for f in params.get("Filters") or []
    }
    for name in wanted:
        if name not in ("volume-status.status", "availability-zone"):
            raise invalid_filter(name)
    if "volume-status.status" in wanted:
        statuses = [s for s in statuses if s["VolumeStatus"]["Status"] in wanted["volume-status.status"]]
    if "availability-zone" in wanted:
        statuses = [s for s in statuses if s["AvailabilityZone"] in wanted["availability-zone"]]
    result: DescribeVolumeStatusResult = {"VolumeStatuses": statuses}
    if token:
        result["NextToken"] = token
    return result


# --- AttachVolume / DetachVolume ---------------------------------------------------------------------


def _vm_disk_for(vm: VmRecord, image_id: int) -> dict[str, str] | None:
    return next((d for d in vm.template_vectors("DISK") if d.get("IMAGE_ID") == str(image_id)), None)


def _incorrect_volume_state(image: ImageRecord) -> Ec2Error:
    return incorrect_state(f"Volume '{VOLUME.format(image.id)}' is in the '{volume_state(image)}' state.")


def attach_volume(ctx: RequestContext, params: AttachVolumeRequestTypeDef) -> VolumeAttachment:
    for name in ("VolumeId", "InstanceId", "Device"):
        if not params.get(name):
            raise missing_parameter(name)
    device = str(params["Device"])
    target = device_target(device)
    image = load_volume(ctx, str(params["VolumeId"]))
    vm = load_vm(ctx, str(params["InstanceId"]))
    if image.vm_ids:
        raise volume_in_use(f"{VOLUME.format(image.id)} is already attached to an instance")
    if volume_state(image) != "available":
        raise _incorrect_volume_state(image)
    if (vm.state, vm.lcm_state) not in HOTPLUG_STATES:
        raise incorrect_instance_state(f"Instance '{INSTANCE.format(vm.id)}' is not 'running' or 'stopped'.")
    if any(d.get("TARGET") == target for d in vm.template_vectors("DISK")):
        raise invalid_parameter_value("Device", f"Attachment point {device} is already in use")
    now = int(time.time())
    disk = {"IMAGE_ID": str(image.id), "TARGET": target}
    grown = image.template.get(SIZE_ATTR) or ""
    if grown.isdigit() and int(grown) > image.size:
        disk["SIZE"] = grown  # oned grows the disk to the size the volume was created with
    record = {"INSTANCE_ID": INSTANCE.format(vm.id), "DEVICE": device, "ATTACH_TIME": str(now)}
    ctx.one.image_update(image.id, template_text([(EBS_ATTR, record)]), append=True)
    with ExitStack() as rollback:
        rollback.callback(_clear_record, ctx, image.id)
        try:
            ctx.one.vm_attach(vm.id, template_text([("DISK", disk)]))
        except OneActionError as exc:
            log.info("request %s: attach of image %d refused: %s", ctx.request_id, image.id, exc.message)
            raise _incorrect_volume_state(image) from exc
        rollback.pop_all()
    log.info("request %s: volume %d attached to VM %d as %s", ctx.request_id, image.id, vm.id, target)
    return {
        "AttachTime": iso_time(now),
        "Device": device,
        "InstanceId": INSTANCE.format(vm.id),
        "State": "attaching",
        "VolumeId": VOLUME.format(image.id),
        "DeleteOnTermination": False,
    }


def _clear_record(ctx: RequestContext, image_id: int) -> None:
    try:
        ctx.one.image_update(image_id, build_template([(EBS_ATTR, "")]), append=True)
    except OneError as exc:
        log.error("request %s: could not clear EBS of image %d: %s", ctx.request_id, image_id, exc.message)


def detach_volume(ctx: RequestContext, params: DetachVolumeRequestTypeDef) -> VolumeAttachment:
    image = load_volume(ctx, required(params, "VolumeId"))
    if not image.vm_ids:
        raise _incorrect_volume_state(image)
    wanted = str(params.get("InstanceId") or "")
    vm_id = INSTANCE.parse(wanted) if wanted else image.vm_ids[0]
    if vm_id not in image.vm_ids:
        raise attachment_not_found(
            f"Volume '{VOLUME.format(image.id)}' is not attached to instance '{wanted}'."
        )
    vm = load_vm(ctx, INSTANCE.format(vm_id))
    disk = _vm_disk_for(vm, image.id)
    if disk is None:
        raise _incorrect_volume_state(image)
    device = str(params.get("Device") or "")
    if device and device_target(device) != disk.get("TARGET"):
        raise attachment_not_found(f"Volume '{VOLUME.format(image.id)}' is not attached at {device}.")
    if disk.get("DISK_ID") == "0":
        raise operation_not_permitted("The root device of an instance cannot be detached.")
    # Force: EC2's last resort when the guest does not let go; OpenNebula's detach is the same call.
    try:
        ctx.one.vm_detach(vm.id, int(disk.get("DISK_ID", "-1")))
    except OneActionError as exc:
        raise incorrect_instance_state(
            f"Instance '{INSTANCE.format(vm.id)}' cannot detach a volume now."
        ) from exc
    record = _record(image)
    _clear_record(ctx, image.id)
    log.info("request %s: volume %d detached from VM %d", ctx.request_id, image.id, vm.id)
    return {
        "AttachTime": iso_time(int(record.get("ATTACH_TIME", "0") or 0) or vm.stime),
        "Device": record.get("DEVICE") or "/dev/" + disk.get("TARGET", ""),
        "InstanceId": INSTANCE.format(vm.id),
        "State": "detaching",
        "VolumeId": VOLUME.format(image.id),
        "DeleteOnTermination": False,
    }


# --- DeleteVolume ------------------------------------------------------------------------------------


def delete_volume(ctx: RequestContext, params: DeleteVolumeRequestTypeDef) -> NoOutput:
    image = load_volume(ctx, required(params, "VolumeId"))
    if image.vm_ids or volume_state(image) == "in-use":
        raise volume_in_use(f"Volume {VOLUME.format(image.id)} is currently attached")
    try:
        ctx.one.image_delete(image.id)
    except OneActionError as exc:
        raise _incorrect_volume_state(image) from exc
    log.info("request %s: volume %d deleted", ctx.request_id, image.id)
    return {}


# --- ModifyVolume -------------------------------------------------------------------------------------


def modify_volume(ctx: RequestContext, params: ModifyVolumeRequestTypeDef) -> ModifyVolumeResult:
    """Grow a volume or change its type. Attached, the VM's disk is resized now (`one.vm.diskresize`,
    which also sets the persistent image's size); detached, the size is recorded and the disk grows to
    it when next attached, as OpenNebula resizes disks of VMs, not images."""
    if not params.get("VolumeId"):
        raise missing_parameter("VolumeId")
    if params.get("MultiAttachEnabled"):
        raise invalid_parameter_value("MultiAttachEnabled", "a volume serves one instance here")
    image = load_volume(ctx, str(params["VolumeId"]))
    original, original_type = size_gib(image), image.template.get(VOLUME_TYPE_ATTR) or "standard"
    size = int(params["Size"]) if params.get("Size") is not None else original
    volume_type = str(params.get("VolumeType") or original_type)
    if size < original:
        raise invalid_parameter_value("Size", f"a volume cannot shrink (it has {original} GiB)")
    if size > MAX_GIB:
        raise invalid_parameter_value("Size", f"must be at most {MAX_GIB} GiB")
    if size == original and volume_type == original_type:
        raise invalid_parameter_value("Size", "the request changes nothing")
    if volume_state(image) not in ("available", "in-use"):
        raise _incorrect_volume_state(image)
    attrs: list[tuple[str, str | dict[str, str]]] = []
    if volume_type != original_type:
        attrs.append((VOLUME_TYPE_ATTR, volume_type))
    if size > original:
        attrs.append((SIZE_ATTR, str(size * 1024)))
    text = template_text(attrs)
    if size > original and image.vm_ids:
        vm = load_vm(ctx, INSTANCE.format(image.vm_ids[0]))
        disk = _vm_disk_for(vm, image.id)
        if disk is None:
            raise _incorrect_volume_state(image)
        try:
            ctx.one.vm_diskresize(vm.id, int(disk.get("DISK_ID", "-1")), size * 1024)
        except OneActionError as exc:
            raise incorrect_state(
                f"The instance of {VOLUME.format(image.id)} cannot resize a disk now."
            ) from exc
    ctx.one.image_update(image.id, text, append=True)
    now = iso_time(int(time.time()))
    log.info("request %s: volume %d modified to %d GiB %s", ctx.request_id, image.id, size, volume_type)
    return {
        "VolumeModification": {
            "VolumeId": VOLUME.format(image.id),
            "ModificationState": "completed",
            "TargetSize": size,
            "TargetVolumeType": volume_type,
            "OriginalSize": original,
            "OriginalVolumeType": original_type,
            "Progress": 100,
            "StartTime": now,
            "EndTime": now,
        }
    }


register_image_kind(VOLUME_ROLE)


HANDLERS: dict[str, Handler] = {
    "CreateVolume": create_volume,
    "DescribeVolumes": describe_volumes,
    "DescribeVolumeStatus": describe_volume_status,
    "AttachVolume": attach_volume,
    "DetachVolume": detach_volume,
    "DeleteVolume": delete_volume,
    "ModifyVolume": modify_volume,
}
