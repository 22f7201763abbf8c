"""EBS volumes and snapshots through boto3 against econe on the simulator (image copies held, so the
states in between show)."""

from __future__ import annotations

from typing import Any

import pytest

from one_drivers.econe.actions import snapshots, volumes
from one_drivers.one import records
from tests.econe.actions.seed import Seed, error_code
from tests.econe.conftest import EconeEnv

ZONE = "opennebula"


def running(env: EconeEnv, s: Seed, user: str = "alice") -> str:
    if user != "alice":
        env.oneadmin.call("one.template.chmod", s.small, -1, -1, -1, -1, -1, -1, 1, -1, -1)
    ec2 = env.client(user)
    vm = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    env.sim.schedule()
    return str(vm)


def one_volume(ec2: Any, volume_id: str) -> dict[str, Any]:
    (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    return dict(volume)


def test_state_tables_cover_every_image_state() -> None:
    assert set(volumes.VOLUME_STATE_TABLE) == set(range(len(records.IMAGE_STATES)))
    assert set(snapshots.SNAPSHOT_STATE_TABLE) == set(range(len(records.IMAGE_STATES)))
    assert set(volumes.VOLUME_STATE_TABLE.values()) <= {
        "creating",
        "available",
        "in-use",
        "deleting",
        "error",
    }
    assert {s for s, _ in snapshots.SNAPSHOT_STATE_TABLE.values()} <= {"pending", "completed", "error"}


def test_volume_lifecycle(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vm = running(env, s)
    created = ec2.create_volume(
        AvailabilityZone=ZONE,
        Size=2,
        VolumeType="gp2",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}],
    )
    vol = created["VolumeId"]
    assert created["State"] == "creating" and created["Size"] == 2 and created["VolumeType"] == "gp2"
    assert created["Tags"] == [{"Key": "Name", "Value": "data"}] and created["AvailabilityZone"] == ZONE
    image = env.oneadmin.image_info(int(vol[4:]))
    assert (image.type_name, image.persistent, image.size, image.fs) == ("DATABLOCK", True, 2048, "ext3")
    assert image.template.get("EBS_VOLUME") == "YES"
    # Still being copied in: no attach yet.
    assert error_code(ec2.attach_volume, VolumeId=vol, InstanceId=vm, Device="/dev/sdh") == "IncorrectState"
    env.sim.finish_image_copies()
    assert one_volume(ec2, vol)["State"] == "available"

    attached = ec2.attach_volume(VolumeId=vol, InstanceId=vm, Device="/dev/sdh")
    assert (attached["State"], attached["Device"], attached["InstanceId"]) == ("attaching", "/dev/sdh", vm)
    disk = env.oneadmin.vm_info(int(vm[2:])).template.vectors("DISK")[-1]
    assert (disk["IMAGE_ID"], disk["TARGET"]) == (str(int(vol[4:])), "sdh")
    described = one_volume(ec2, vol)
    assert described["State"] == "in-use"
    assert [(a["InstanceId"], a["Device"], a["State"]) for a in described["Attachments"]] == [
        (vm, "/dev/sdh", "attached")
    ]
    flt = [{"Name": "attachment.instance-id", "Values": [vm]}]
    assert [v["VolumeId"] for v in ec2.describe_volumes(Filters=flt)["Volumes"]] == [vol]
    assert ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["available"]}])["Volumes"] == []
    assert [
        v["VolumeId"] for v in ec2.describe_volumes(Filters=[{"Name": "size", "Values": ["2"]}])["Volumes"]
    ] == [vol]
    assert [
        v["VolumeId"]
        for v in ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["data"]}])["Volumes"]
    ]
    assert error_code(ec2.delete_volume, VolumeId=vol) == "VolumeInUse"
    assert error_code(ec2.attach_volume, VolumeId=vol, InstanceId=vm, Device="/dev/sdi") == "VolumeInUse"
    status = ec2.describe_volume_status(VolumeIds=[vol])["VolumeStatuses"][0]
    assert status["VolumeStatus"]["Status"] == "ok"

    detached = ec2.detach_volume(VolumeId=vol, InstanceId=vm)
    assert (detached["State"], detached["Device"]) == ("detaching", "/dev/sdh")
    assert one_volume(ec2, vol)["State"] == "available" and one_volume(ec2, vol)["Attachments"] == []
    assert error_code(ec2.detach_volume, VolumeId=vol) == "IncorrectState"
    ec2.delete_volume(VolumeId=vol)
    assert error_code(ec2.describe_volumes, VolumeIds=[vol]) == "InvalidVolume.NotFound"


def test_volume_errors(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vm = running(env, s)
    assert error_code(ec2.create_volume, AvailabilityZone="elsewhere", Size=1) == "InvalidParameterValue"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE) == "MissingParameter"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=0) == "InvalidParameterValue"
    assert (
        error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=1, Encrypted=True)
        == "InvalidParameterValue"
    )
    assert (
        error_code(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId="snap-99999999")
        == "InvalidSnapshot.NotFound"
    )
    assert error_code(ec2.describe_volumes, VolumeIds=["vol-99999999"]) == "InvalidVolume.NotFound"
    assert error_code(ec2.describe_volumes, VolumeIds=["vol-x"]) == "InvalidVolumeID.Malformed"
    # An AMI is not a volume, whatever its id's number.
    assert error_code(ec2.delete_volume, VolumeId=f"vol-{s.ami:08d}") == "InvalidVolume.NotFound"
    assert env.oneadmin.document("one.image.info", s.ami, False)
    vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    env.sim.finish_image_copies()
    for device in ("sdh; RAW=[x]", "/dev/sdh\nRAW=1", "/dev/../../etc", ""):
        assert error_code(ec2.attach_volume, VolumeId=vol, InstanceId=vm, Device=device) in (
            "InvalidParameterValue",
            "MissingParameter",
        )
    assert error_code(ec2.attach_volume, VolumeId=vol, InstanceId="i-99999999", Device="/dev/sdh") == (
        "InvalidInstanceID.NotFound"
    )
    # Another user's volume and instance do not exist for alice.
    bob = env.client("bob")
    bobs_vol = bob.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    bobs_vm = running(env, s, "bob")
    env.sim.finish_image_copies()
    assert error_code(ec2.describe_volumes, VolumeIds=[bobs_vol]) == "InvalidVolume.NotFound"
    assert error_code(ec2.delete_volume, VolumeId=bobs_vol) == "InvalidVolume.NotFound"
    assert error_code(ec2.attach_volume, VolumeId=vol, InstanceId=bobs_vm, Device="/dev/sdh") == (
        "InvalidInstanceID.NotFound"
    )
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [vol]
    # A device in use on the instance.
    ec2.attach_volume(VolumeId=vol, InstanceId=vm, Device="/dev/sdh")
    other = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    env.sim.finish_image_copies()
    assert (
        error_code(ec2.attach_volume, VolumeId=other, InstanceId=vm, Device="/dev/sdh")
        == "InvalidParameterValue"
    )
    assert error_code(ec2.detach_volume, VolumeId=vol, InstanceId=bobs_vm) == "InvalidAttachment.NotFound"
    # An instance that is not running or stopped.
    ec2.terminate_instances(InstanceIds=[vm])
    assert error_code(ec2.attach_volume, VolumeId=other, InstanceId=vm, Device="/dev/sdj") in (
        "IncorrectInstanceState",
        "InvalidInstanceID.NotFound",
    )


def test_describe_volumes_pages(held: tuple[EconeEnv, Seed]) -> None:
    env, _ = held
    ec2 = env.client()
    made = [ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"] for _ in range(7)]
    seen: list[str] = []
    token = None
    while True:
        page = ec2.describe_volumes(MaxResults=5, **({"NextToken": token} if token else {}))
        seen += [v["VolumeId"] for v in page["Volumes"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == made
    assert error_code(ec2.describe_volumes, MaxResults=501) == "InvalidParameterValue"
    assert (
        error_code(ec2.describe_volumes, VolumeIds=[made[0]], MaxResults=5) == "InvalidParameterCombination"
    )


def test_snapshots_of_detached_and_attached_volumes(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    env.sim.finish_image_copies()
    # Detached: a clone; pending while oned copies, completed after.
    snap = ec2.create_snapshot(
        VolumeId=vol,
        Description='nightly "db"\nRAW = [ X = "1" ]',
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}],
    )
    sid = snap["SnapshotId"]
    assert (snap["State"], snap["Progress"], snap["VolumeId"], snap["VolumeSize"]) == (
        "pending",
        "0%",
        vol,
        1,
    )
    assert snap["Tags"] == [{"Key": "k", "Value": "v"}]
    stored = env.oneadmin.image_info(int(sid[5:]))
    assert stored.template.get("RAW") is None and stored.template.get("EBS_VOLUME") == ""
    assert stored.persistent is False
    env.sim.finish_image_copies()
    (described,) = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    assert (described["State"], described["Progress"]) == ("completed", "100%")
    assert described["Description"] == 'nightly "db"\nRAW = [ X = "1" ]'
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"][0]["SnapshotId"] == sid
    assert ec2.describe_snapshots(OwnerIds=["0"])["Snapshots"] == []
    assert ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [vol]}])["Snapshots"]
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [vol]  # a snapshot is no volume

    # Attached: a disk save-as of the VM's disk.
    vm = running(env, s)
    ec2.attach_volume(VolumeId=vol, InstanceId=vm, Device="/dev/sdh")
    snap2 = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    saved = env.oneadmin.image_info(int(snap2[5:]))
    assert (
        saved.template.get("SAVED_VM_ID") == str(int(vm[2:])) and saved.template.get("EBS_SNAPSHOT") == "YES"
    )
    assert (
        ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]["State"]["Name"]
        == "running"
    )
    env.sim.finish_image_copies()
    assert ec2.describe_snapshots(SnapshotIds=[snap2])["Snapshots"][0]["State"] == "completed"

    # A volume from a snapshot, larger than it: the disk grows to it when attached.
    grown = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=sid, Size=3)
    assert (grown["SnapshotId"], grown["Size"], grown["State"]) == (sid, 3, "creating")
    assert ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["State"] == "completed"
    assert error_code(ec2.delete_snapshot, SnapshotId=sid) == "InvalidSnapshot.InUse"  # being copied from
    env.sim.finish_image_copies()
    image = env.oneadmin.image_info(int(grown["VolumeId"][4:]))
    assert (
        image.persistent
        and image.template.get("EBS_SNAPSHOT") == ""
        and image.template.get("EBS_VOLUME") == "YES"
    )
    assert (
        error_code(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=sid, Size=0)
        == "InvalidParameterValue"
    )
    ec2.attach_volume(VolumeId=grown["VolumeId"], InstanceId=vm, Device="/dev/sdi")
    disk = env.oneadmin.vm_info(int(vm[2:])).template.vectors("DISK")[-1]
    assert disk["SIZE"] == str(3 * 1024)

    ec2.delete_snapshot(SnapshotId=sid)
    assert error_code(ec2.describe_snapshots, SnapshotIds=[sid]) == "InvalidSnapshot.NotFound"
    assert error_code(ec2.delete_snapshot, SnapshotId=sid) == "InvalidSnapshot.NotFound"
    assert (
        error_code(ec2.delete_snapshot, SnapshotId=vol.replace("vol", "snap")) == "InvalidSnapshot.NotFound"
    )
    assert error_code(ec2.create_snapshot, VolumeId="vol-99999999") == "InvalidVolume.NotFound"
    assert error_code(ec2.describe_snapshots, SnapshotIds=["snap-zz"]) == "InvalidSnapshotID.Malformed"
    # bob sees none of it.
    assert env.client("bob").describe_snapshots()["Snapshots"] == []
    assert error_code(env.client("bob").create_snapshot, VolumeId=vol) == "InvalidVolume.NotFound"


@pytest.mark.parametrize(
    "text",
    [
        'gp2"\nRAW = [ TYPE = "kvm" ]',
        'x" ] SCHED_REQUIREMENTS = "FALSE',
        "a\nEBS_VOLUME = NO",
        'q"\nPERSISTENT="NO',
    ],
)
def test_volume_values_cannot_inject_attributes(held: tuple[EconeEnv, Seed], text: str) -> None:
    env, _ = held
    ec2 = env.client()
    tags = [{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": text}, {"Key": text, "Value": "v"}]}]
    # VolumeType is an enum: the model refuses anything else before econe stores it.
    assert (
        error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=1, VolumeType=text)
        == "InvalidParameterValue"
    )
    vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1, VolumeType="gp3", TagSpecifications=tags)
    env.sim.finish_image_copies()
    image = env.oneadmin.image_info(int(vol["VolumeId"][4:]))
    names = {name for name, _ in image.template}
    assert not names & {"RAW", "SCHED_REQUIREMENTS"} and image.template.get("EBS_VOLUME") == "YES"
    assert image.persistent
    (described,) = ec2.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"]
    assert described["VolumeType"] == "gp3"
    assert sorted((t["Key"], t["Value"]) for t in described["Tags"]) == sorted([("Name", text), (text, "v")])
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"], Description=text)
    env.sim.finish_image_copies()
    assert ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]["Description"] == text


def test_modify_volume(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vm = running(env, s)
    vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    env.sim.finish_image_copies()
    # Detached: recorded, and the disk grows to it when attached.
    mod = ec2.modify_volume(VolumeId=vol, Size=2, VolumeType="gp3")["VolumeModification"]
    assert (mod["OriginalSize"], mod["TargetSize"], mod["TargetVolumeType"], mod["ModificationState"]) == (
        1,
        2,
        "gp3",
        "completed",
    )
    assert (one_volume(ec2, vol)["Size"], one_volume(ec2, vol)["VolumeType"]) == (2, "gp3")
    ec2.attach_volume(VolumeId=vol, InstanceId=vm, Device="/dev/sdh")
    disk = env.oneadmin.vm_info(int(vm[2:])).template_vectors("DISK")[-1]
    assert disk["SIZE"] == "2048"
    # Attached: the VM's disk is resized now, and the persistent image with it.
    ec2.modify_volume(VolumeId=vol, Size=3)
    disk = env.oneadmin.vm_info(int(vm[2:])).template_vectors("DISK")[-1]
    assert disk["SIZE"] == "3072" and env.oneadmin.image_info(int(vol[4:])).size == 3072
    assert one_volume(ec2, vol)["Size"] == 3
    assert error_code(ec2.modify_volume, VolumeId=vol, Size=2) == "InvalidParameterValue"
    assert error_code(ec2.modify_volume, VolumeId=vol, Size=3) == "InvalidParameterValue"
    assert error_code(ec2.modify_volume, VolumeId="vol-99999999", Size=5) == "InvalidVolume.NotFound"
    env.oneadmin.vm_action("suspend", int(vm[2:]))
    assert error_code(ec2.modify_volume, VolumeId=vol, Size=4) == "IncorrectState"
    assert one_volume(ec2, vol)["Size"] == 3
