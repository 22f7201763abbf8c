"""Block devices: what images and instances show (`RootDeviceType`, `RootDeviceName`,
`BlockDeviceMappings`) and what RunInstances' `BlockDeviceMappings` become in OpenNebula.

A persistent image is an EBS-backed AMI (its disk outlives the VM); any other is instance-store. On an
instance, every persistent image disk is an EBS volume. RunInstances maps each EBS entry onto a DISK:
the root device's VolumeSize grows the AMI disk; a new volume that is deleted on termination is a
volatile disk (or a non-persistent copy of the snapshot) that oned drops with the VM; one that is kept
is a persistent volume image made for the instance (rolled back if the launch fails).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from one_drivers.econe.shapes import BlockDeviceMapping, Image, Instance, InstanceBlockDeviceMapping
from one_drivers.one.records import ImageRecord, VmRecord
from one_drivers.query.errors import invalid_parameter_value, missing_parameter
from one_drivers.query.ids import VOLUME

_TARGET_RE = re.compile(r"(?:/dev/)?((?:sd|xvd|vd|hd)[a-z]{1,2})([0-9]*)\Z")


def gib(mb: int) -> int:
    return max(1, -(-mb // 1024))


def device_target(device: str) -> str:
    """`/dev/sdh` (or `sdh`, `/dev/sda1`) -> the OpenNebula disk TARGET `sdh`; other names refused."""
    m = _TARGET_RE.match(device)
    if not m:
        raise invalid_parameter_value("Device", f"'{device}' is not a valid device name (e.g. /dev/sdh)")
    return m.group(1)


def root_device_name(image: ImageRecord) -> str:
    """Where an instance of the image finds its root: the first disk, `<DEV_PREFIX>a`."""
    return "/dev/" + (image.template.get("DEV_PREFIX") or "sd") + "a"


def root_device_type(image: ImageRecord) -> str:
    return "ebs" if image.persistent else "instance-store"


def image_block_devices(image: ImageRecord) -> list[BlockDeviceMapping]:
    """An AMI's BlockDeviceMappings: the root volume for an EBS-backed one, none for instance-store."""
    if not image.persistent:
        return []
    return [
        {
            "DeviceName": root_device_name(image),
            "Ebs": {
                "DeleteOnTermination": False,
                "VolumeSize": gib(image.size),
                "VolumeType": "standard",
                "Encrypted": False,
            },
        }
    ]


def image_device_fields(image: ImageRecord) -> Image:
    return {
        "RootDeviceType": root_device_type(image),
        "RootDeviceName": root_device_name(image),
        "BlockDeviceMappings": image_block_devices(image),
    }


_DISK_FIELDS = ("TARGET", "PERSISTENT", "IMAGE_ID")
# Read in the instance's one walk of its TEMPLATE (instances.py), with DISK/IMAGE_ID.
DEVICE_PATHS = ("DISK/TARGET", "DISK/PERSISTENT")


def instance_device_fields(vm: VmRecord, walked: Mapping[str, list[str]] | None = None) -> Instance:
    """RootDeviceType/RootDeviceName/BlockDeviceMappings of a VM: its persistent disks are volumes.

    `walked`: DEVICE_PATHS already read (a page's instances); a VM without persistent disks, the usual
    case, needs nothing more. Otherwise each DISK's members are read together, since PERSISTENT is
    only on some disks and the walked lists do not line up.
    """
    if walked is not None and not walked["DISK/PERSISTENT"]:
        targets = walked["DISK/TARGET"]
        quick: Instance = {"RootDeviceType": "instance-store", "BlockDeviceMappings": []}
        if targets and targets[0]:
            quick["RootDeviceName"] = "/dev/" + targets[0]
        return quick
    disks = vm.template_vector_fields("DISK", _DISK_FIELDS)
    mappings: list[InstanceBlockDeviceMapping] = []
    attach_time = None
    for target, persistent, image_id in disks:
        if persistent == "YES" and image_id.isdigit():
            attach_time = attach_time or datetime.fromtimestamp(vm.stime, UTC)
            mappings.append(
                {
                    "DeviceName": "/dev/" + target,
                    "Ebs": {
                        "AttachTime": attach_time,
                        "DeleteOnTermination": False,
                        "Status": "attached",
                        "VolumeId": VOLUME.format(int(image_id)),
                    },
                }
            )
    fields: Instance = {
        "RootDeviceType": "ebs" if disks and disks[0][1] == "YES" else "instance-store",
        "BlockDeviceMappings": mappings,
    }
    if disks and disks[0][0]:
        fields["RootDeviceName"] = "/dev/" + disks[0][0]
    return fields


# --- RunInstances' BlockDeviceMappings --------------------------------------------------------------


@dataclass
class LaunchDisks:
    """What RunInstances' BlockDeviceMappings add to each VM: the root size, extra DISK vectors
    (volatile ones, or `SNAPSHOT` = the snapshot id to copy), and the entries that need a persistent
    volume made per instance."""

    root_size_mb: int | None = None
    disks: list[dict[str, str]] = field(default_factory=list)
    kept: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # (target, Ebs)


def plan_launch_disks(params: Mapping[str, Any], image: ImageRecord) -> LaunchDisks:
    """Check every mapping before anything is made; ephemeral and encrypted devices are refused."""
    plan = LaunchDisks()
    root = device_target(root_device_name(image))
    seen: set[str] = set()
    for entry in params.get("BlockDeviceMappings") or []:
        name = str(entry.get("DeviceName") or "")
        if not name:
            raise missing_parameter("BlockDeviceMapping.N.DeviceName")
        target = device_target(name)
        if target in seen:
            raise invalid_parameter_value("BlockDeviceMapping", f"device {name} is given twice")
        seen.add(target)
        if "NoDevice" in entry:
            continue  # suppresses a mapping of the AMI; OpenNebula AMIs carry none beyond the root
        if entry.get("VirtualName"):
            raise invalid_parameter_value(
                "VirtualName", "instance-store (ephemeral) devices are not offered here"
            )
        ebs = entry.get("Ebs")
        if not ebs:
            raise missing_parameter("BlockDeviceMapping.N.Ebs")
        if ebs.get("Encrypted"):
            raise invalid_parameter_value("Encrypted", "encrypted volumes are not supported by this cloud")
        size = ebs.get("VolumeSize")
        if size is not None and not 1 <= int(size) <= 16384:
            raise invalid_parameter_value("VolumeSize", "must be between 1 and 16384 GiB")
        if target == root:
            if size is not None:
                if int(size) * 1024 < image.size:
                    raise invalid_parameter_value(
                        "VolumeSize", "the root volume cannot be smaller than the AMI"
                    )
                plan.root_size_mb = int(size) * 1024
            continue
        if ebs.get("SnapshotId"):
            if ebs.get("DeleteOnTermination", True) is False:
                plan.kept.append((target, ebs))
            else:
                disk = {"TARGET": target, "SNAPSHOT": str(ebs["SnapshotId"])}
                if size is not None:
                    disk["SIZE"] = str(int(size) * 1024)
                plan.disks.append(disk)
            continue
        if size is None:
            raise missing_parameter("BlockDeviceMapping.N.Ebs.VolumeSize")
        if ebs.get("DeleteOnTermination", True) is False:
            plan.kept.append((target, ebs))
        else:
            plan.disks.append(
                {"TYPE": "fs", "SIZE": str(int(size) * 1024), "FORMAT": "raw", "TARGET": target}
            )
    return plan


def check_no_devices(params: Mapping[str, Any], what: str) -> None:
    """CreateImage copies the instance's root disk; extra mappings would be silently dropped, so refuse."""
    if params.get("BlockDeviceMappings"):
        raise invalid_parameter_value("BlockDeviceMapping", f"{what} copies the instance's root disk only")
