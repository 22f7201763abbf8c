"""Image and instance-type handlers against the simulator over real XML-RPC."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from one_drivers.econe.actions import images, instance_types
from one_drivers.econe.request import UploadedFile
from one_drivers.query.errors import Ec2Error
from tests.econe.actions.roundtrip import round_trip
from tests.econe.actions.seed import Seed, allocate_template, ctx_for, oneadmin_ctx, seed, share_image
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def error_of(fn: Any, *args: Any) -> Ec2Error:
    with pytest.raises(Ec2Error) as err:
        fn(*args)
    return err.value


def image_ids(result: Mapping[str, Any]) -> list[str]:
    assert round_trip("DescribeImages", result) == result
    return [i["ImageId"] for i in result["Images"]]


def test_describe_images_lists_visible_amis(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ctx = ctx_for(env)
    ami = f"ami-{s.ami:08d}"
    assert image_ids(images.describe_images(ctx, {})) == [ami]  # not the plain image, not the private AMI
    (image,) = images.describe_images(ctx, {"ImageIds": [ami]})["Images"]
    assert image["Name"] == "ubuntu" and image["State"] == "available" and image["OwnerId"] == "0"
    assert image["Public"] is True and image["ImageLocation"] == "oneadmin/ubuntu"
    assert image_ids(images.describe_images(ctx, {"Owners": ["self"]})) == []
    assert image_ids(images.describe_images(ctx, {"Owners": ["0"]})) == [ami]
    assert image_ids(images.describe_images(ctx, {"Owners": ["all"]})) == [ami]
    assert image_ids(images.describe_images(ctx, {"Owners": ["amazon"]})) == []
    assert image_ids(images.describe_images(ctx, {"Filters": [{"Name": "name", "Values": ["ubu*"]}]})) == [
        ami
    ]
    assert image_ids(images.describe_images(ctx, {"Filters": [{"Name": "name", "Values": ["x"]}]})) == []
    assert error_of(images.describe_images, ctx, {"ImageIds": ["ami-x"]}).code == "InvalidAMIID.Malformed"
    for hidden in (s.plain_image, s.private_ami, 999):
        err = error_of(images.describe_images, ctx, {"ImageIds": [f"ami-{hidden:08d}"]})
        assert err.code == "InvalidAMIID.NotFound"


def test_register_and_deregister(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    admin_ctx = oneadmin_ctx(env)
    result = images.register_image(
        admin_ctx,
        {
            "ImageLocation": str(s.plain_image),
            "Name": "ignored",
            "Description": 'data "disk"\nRAW=[x]',
            "TagSpecifications": [{"ResourceType": "image", "Tags": [{"Key": "Team", "Value": "a"}]}],
        },
    )
    assert round_trip("RegisterImage", result) == result
    ami = f"ami-{s.plain_image:08d}"
    assert result == {"ImageId": ami}
    stored = env.oneadmin.image_info(s.plain_image)
    assert stored.template.get("EC2_AMI") == "YES" and stored.template.get("RAW") is None
    assert stored.template.get("DESCRIPTION") == 'data "disk"\nRAW=[x]'
    (described,) = images.describe_images(ctx_for(env), {"ImageIds": [ami]})["Images"]
    assert described["Tags"] == [{"Key": "Team", "Value": "a"}] and described["Description"].startswith(
        "data"
    )
    # ami-N spelling works too, and registering twice is harmless.
    assert images.register_image(admin_ctx, {"ImageLocation": ami, "Name": "x"}) == {"ImageId": ami}
    assert images.deregister_image(admin_ctx, {"ImageId": ami}) == {"Return": True}
    assert env.oneadmin.image_info(s.plain_image).template.get("EC2_AMI") == "NO"
    assert ami not in image_ids(images.describe_images(ctx_for(env), {}))
    assert error_of(images.deregister_image, admin_ctx, {"ImageId": ami}).code == "InvalidAMIID.NotFound"
    for location, code in [("vol-1", "InvalidParameterValue"), ("12345", "InvalidAMIID.NotFound")]:
        assert (
            error_of(images.register_image, admin_ctx, {"ImageLocation": location, "Name": "x"}).code == code
        )


def test_register_refuses_volumes_and_foreign_images(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    volume = env.oneadmin.image_allocate('NAME="vol"\nTYPE="DATABLOCK"\nSIZE="1"\nEBS_VOLUME="YES"\n', 1)
    share_image(env, volume)
    err = error_of(images.register_image, ctx_for(env), {"ImageLocation": str(volume), "Name": "v"})
    assert err.code == "InvalidParameterValue"
    err = error_of(images.register_image, ctx_for(env), {"ImageLocation": str(s.private_ami), "Name": "p"})
    assert err.code == "InvalidAMIID.NotFound"
    # Alice may USE the shared image but not MANAGE it: oned refuses the update, econe says so.
    from one_drivers.one.gateway import OneAuthorizationError

    with pytest.raises(OneAuthorizationError):
        images.register_image(ctx_for(env), {"ImageLocation": str(s.plain_image), "Name": "x"})
    assert env.oneadmin.image_info(s.plain_image).template.get("EC2_AMI") is None


def test_upload_image_allocates_from_the_streamed_file(econe_env: EconeEnv, tmp_path: Path) -> None:
    env = econe_env
    staged = Path(env.config.tmpdir) / "upload-part"
    staged.write_bytes(b"\0" * 4096)
    ctx = oneadmin_ctx(env)
    params = {"Files": {"file": UploadedFile("file", "disk.img", str(staged), 4096)}, "Description": "up"}
    result = images.upload_image(ctx, params)
    image_id = int(result["ImageId"][4:])
    image = env.oneadmin.image_info(image_id)
    assert image.name == "disk.img" and image.template.get("EC2_AMI") == "YES"
    assert image.path.startswith(env.config.tmpdir) and os.path.exists(image.path) and not staged.exists()
    assert image.datastore_id == 1 and image.template.get("DESCRIPTION") == "up"
    err = error_of(images.upload_image, ctx, {"Files": {}})
    assert err.code == "MissingParameter"


def test_describe_instance_types(seeded: tuple[EconeEnv, Seed]) -> None:
    env, _ = seeded
    alice = env.alice.one
    allocate_template(
        alice, [("NAME", "large"), ("CPU", "3.5"), ("MEMORY", "8192"), ("EC2_INSTANCE_TYPE", "m1.large")]
    )
    allocate_template(
        alice, [("NAME", "dup"), ("VCPU", "9"), ("MEMORY", "1"), ("EC2_INSTANCE_TYPE", "m1.small")]
    )
    allocate_template(alice, [("NAME", "plain"), ("MEMORY", "1")])
    ctx = ctx_for(env)
    result = instance_types.describe_instance_types(ctx, {})
    assert round_trip("DescribeInstanceTypes", result) == result
    by_name = {t["InstanceType"]: t for t in result["InstanceTypes"]}
    assert list(by_name) == ["m1.large", "m1.small"]
    assert by_name["m1.small"]["VCpuInfo"]["DefaultVCpus"] == 2  # the first template, not "dup"
    assert by_name["m1.small"]["MemoryInfo"] == {"SizeInMiB": 512}
    assert by_name["m1.large"]["VCpuInfo"]["DefaultVCpus"] == 4  # CPU 3.5 rounded up
    only = instance_types.describe_instance_types(ctx, {"InstanceTypes": ["m1.large"]})
    assert [t["InstanceType"] for t in only["InstanceTypes"]] == ["m1.large"]
    filtered = instance_types.describe_instance_types(
        ctx, {"Filters": [{"Name": "memory-info.size-in-mib", "Values": ["512"]}]}
    )
    assert [t["InstanceType"] for t in filtered["InstanceTypes"]] == ["m1.small"]
    err = error_of(instance_types.describe_instance_types, ctx, {"InstanceTypes": ["x1.nope"]})
    assert err.code == "InvalidInstanceType" and "x1.nope" in err.message
    assert instance_types.describe_instance_types(ctx_for(env, "bob"), {}) == {"InstanceTypes": []}
    page = instance_types.describe_instance_types(ctx, {"MaxResults": 5})
    assert "NextToken" not in page and len(page["InstanceTypes"]) == 2
    assert (
        error_of(instance_types.describe_instance_types, ctx, {"NextToken": "zz"}).code
        == "InvalidParameterValue"
    )
