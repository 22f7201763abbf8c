"""CreateImage, image attributes, block devices on images and instances, RunInstances'
BlockDeviceMappings and DescribeInstanceAttribute, through boto3 on the simulator (copies held)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.econe.actions.seed import Seed, error_code
from tests.econe.conftest import EconeEnv

ZONE = "opennebula"


def launch(env: EconeEnv, s: Seed, **kwargs: Any) -> str:
    ec2 = env.client()
    run = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, **kwargs)
    env.sim.schedule()
    return str(run["Instances"][0]["InstanceId"])


def instance(ec2: Any, vm: str) -> dict[str, Any]:
    return dict(ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0])


def test_images_show_their_root_device(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    (ami,) = ec2.describe_images(ImageIds=[f"ami-{s.ami:08d}"])["Images"]
    assert (ami["RootDeviceType"], ami["RootDeviceName"], ami["BlockDeviceMappings"]) == (
        "instance-store",
        "/dev/hda",
        [],
    )
    env.oneadmin.image_persistent(s.ami, True)
    (ami,) = ec2.describe_images(ImageIds=[f"ami-{s.ami:08d}"])["Images"]
    assert ami["RootDeviceType"] == "ebs"
    assert ami["BlockDeviceMappings"][0]["DeviceName"] == "/dev/hda"
    assert ami["BlockDeviceMappings"][0]["Ebs"]["DeleteOnTermination"] is False
    flt = [{"Name": "root-device-type", "Values": ["ebs"]}]
    assert [i["ImageId"] for i in ec2.describe_images(Filters=flt)["Images"]] == [f"ami-{s.ami:08d}"]


def test_create_image_and_its_attributes(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vm = launch(env, s)
    made = ec2.create_image(
        InstanceId=vm,
        Name="web server (v1)",
        Description='golden "image"\nRAW = [ X = "1" ]',
        NoReboot=True,
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "role", "Value": "web"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "role", "Value": "web"}]},
        ],
    )
    ami = made["ImageId"]
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    assert (image["State"], image["Name"], image["Tags"]) == (
        "pending",
        "web server (v1)",
        [{"Key": "role", "Value": "web"}],
    )
    assert instance(ec2, vm)["State"]["Name"] == "running"  # the copy runs hot (HOTPLUG_SAVEAS)
    stored = env.oneadmin.image_info(int(ami[4:]))
    assert stored.template.get("RAW") is None and stored.template.get("SAVED_VM_ID") == str(int(vm[2:]))
    env.sim.finish_image_copies()
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] == "available"
    assert error_code(ec2.create_image, InstanceId=vm, Name="web server (v1)") == "InvalidAMIName.Duplicate"
    assert error_code(ec2.create_image, InstanceId=vm, Name="a|b") == "InvalidAMIName.Malformed"
    images = len(ec2.describe_images(Owners=["self"])["Images"])
    for name in ("team/web", "bob's web"):  # EC2 takes them, oned's names do not: a clear 400, no image
        with pytest.raises(ClientError) as exc:
            ec2.create_image(InstanceId=vm, Name=name)
        error = exc.value.response["Error"]
        assert error["Code"] == "InvalidAMIName.Malformed" and "no / or '" in error["Message"]
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == images
    assert error_code(ec2.create_image, InstanceId=vm, Name='bad"name\nRAW=1') == "InvalidAMIName.Malformed"
    assert error_code(ec2.create_image, InstanceId="i-99999999", Name="abc") == "InvalidInstanceID.NotFound"

    # Attributes.
    got = ec2.describe_image_attribute(ImageId=ami, Attribute="description")
    assert got["Description"]["Value"] == 'golden "image"\nRAW = [ X = "1" ]'
    ec2.modify_image_attribute(ImageId=ami, Description={"Value": "v2 ]]"})
    assert (
        ec2.describe_image_attribute(ImageId=ami, Attribute="description")["Description"]["Value"] == "v2 ]]"
    )
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == []
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]})
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == [
        {"Group": "all"}
    ]
    assert env.oneadmin.image_info(int(ami[4:])).permissions.other_u
    bob = env.client("bob")
    assert [i["ImageId"] for i in bob.describe_images(ImageIds=[ami])["Images"]] == [ami]
    ec2.reset_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert error_code(bob.describe_images, ImageIds=[ami]) == "InvalidAMIID.NotFound"
    ec2.modify_image_attribute(
        ImageId=ami, Attribute="launchPermission", OperationType="add", UserGroups=["all"]
    )
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"Group": "all"}]})
    assert ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == []
    assert (
        ec2.describe_image_attribute(ImageId=ami, Attribute="blockDeviceMapping")["BlockDeviceMappings"] == []
    )
    assert (
        error_code(ec2.modify_image_attribute, ImageId=ami, LaunchPermission={"Add": [{"UserId": "1"}]})
        == "InvalidParameterValue"
    )
    assert error_code(ec2.describe_image_attribute, ImageId="ami-99999999", Attribute="description") == (
        "InvalidAMIID.NotFound"
    )
    # bob may not change alice's AMI, even a shared one.
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]})
    with pytest.raises(ClientError) as err:
        bob.modify_image_attribute(ImageId=ami, Description={"Value": "mine"})
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_run_instances_block_device_mappings(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    vol = ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
    env.sim.finish_image_copies()
    snap = ec2.create_snapshot(VolumeId=vol)["SnapshotId"]
    env.sim.finish_image_copies()
    vm = launch(
        env,
        s,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/hda", "Ebs": {"VolumeSize": 5}},  # the root, grown
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2}},  # volatile: dropped with the VM
            {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 3, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdh", "Ebs": {"SnapshotId": snap}},
            {"DeviceName": "/dev/sdi", "Ebs": {"SnapshotId": snap, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdj", "NoDevice": ""},
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "owner", "Value": "web"}]},
        ],
    )
    disks = {d["TARGET"]: d for d in env.oneadmin.vm_info(int(vm[2:])).template.vectors("DISK")}
    assert disks["hda"]["SIZE"] == "5120" and disks["hda"]["IMAGE_ID"] == str(s.ami)
    assert disks["sdf"]["SIZE"] == "2048" and "IMAGE_ID" not in disks["sdf"]
    assert disks["sdh"]["IMAGE_ID"] == str(int(snap[5:])) and disks["sdh"].get("PERSISTENT") is None
    assert disks["sdg"].get("PERSISTENT") == "YES" and disks["sdi"].get("PERSISTENT") == "YES"
    kept = {f"vol-{int(disks[t]['IMAGE_ID']):08d}" for t in ("sdg", "sdi")}
    described = instance(ec2, vm)
    assert described["RootDeviceType"] == "instance-store" and described["RootDeviceName"] == "/dev/hda"
    assert {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"]} == {
        "/dev/sdg": f"vol-{int(disks['sdg']['IMAGE_ID']):08d}",
        "/dev/sdi": f"vol-{int(disks['sdi']['IMAGE_ID']):08d}",
    }
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    assert kept <= set(volumes)
    for volume_id in kept:
        assert volumes[volume_id]["Attachments"][0]["InstanceId"] == vm
        assert volumes[volume_id]["Tags"] == [{"Key": "owner", "Value": "web"}]
    attr = ec2.describe_instance_attribute(InstanceId=vm, Attribute="blockDeviceMapping")
    assert {m["DeviceName"] for m in attr["BlockDeviceMappings"]} == {"/dev/sdg", "/dev/sdi"}
    root = ec2.describe_instance_attribute(InstanceId=vm, Attribute="rootDeviceName")
    assert root["RootDeviceName"]["Value"] == "/dev/hda"
    assert (
        ec2.describe_instance_attribute(InstanceId=vm, Attribute="instanceType")["InstanceType"]["Value"]
        == "m1.small"
    )
    assert error_code(
        ec2.describe_instance_attribute, InstanceId="i-99999999", Attribute="rootDeviceName"
    ) == ("InvalidInstanceID.NotFound")
    # After termination the kept volumes are available again; the volatile disks went with the VM.
    ec2.terminate_instances(InstanceIds=[vm])
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    assert all(volumes[v]["State"] == "available" for v in kept)


@pytest.mark.parametrize(
    "mappings,code",
    [
        ([{"DeviceName": "/dev/sdf", "VirtualName": "ephemeral0"}], "InvalidParameterValue"),
        ([{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "Encrypted": True}}], "InvalidParameterValue"),
        ([{"DeviceName": "/dev/sdf", "Ebs": {}}], "MissingParameter"),
        ([{"DeviceName": 'sdf"\nRAW=[A="1"]', "Ebs": {"VolumeSize": 1}}], "InvalidParameterValue"),
        ([{"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": "snap-99999999"}}], "InvalidSnapshot.NotFound"),
        ([{"DeviceName": "/dev/hda", "Ebs": {"VolumeSize": 0}}], "InvalidParameterValue"),
        (
            [
                {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}},
                {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1}},
            ],
            "InvalidParameterValue",
        ),
    ],
)
def test_bad_block_device_mappings_launch_nothing(
    held: tuple[EconeEnv, Seed], mappings: list[dict[str, Any]], code: str
) -> None:
    env, s = held
    ec2 = env.client()
    before = len(env.sim.cloud.images)
    assert (
        error_code(
            ec2.run_instances,
            ImageId=f"ami-{s.ami:08d}",
            MinCount=1,
            MaxCount=1,
            BlockDeviceMappings=mappings,
        )
        == code
    )
    assert env.sim.cloud.vms == {} and len(env.sim.cloud.images) == before


def test_kept_volumes_are_made_per_instance(held: tuple[EconeEnv, Seed]) -> None:
    env, s = held
    ec2 = env.client()
    run = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}",
        MinCount=2,
        MaxCount=2,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}}
        ],
    )
    ids = sorted(i["InstanceId"] for i in run["Instances"])
    volumes = ec2.describe_volumes()["Volumes"]
    assert len(volumes) == 2
    assert sorted(v["Attachments"][0]["InstanceId"] for v in volumes) == ids
    assert {v["Attachments"][0]["Device"] for v in volumes} == {"/dev/sdg"}
