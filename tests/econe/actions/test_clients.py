"""Real EC2 clients against econe on the simulator: boto3 (SigV4 and SigV2), the AWS CLI, libcloud."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.econe.actions.seed import Seed, give_keypair, seed
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def client_error(fn: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        fn(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def instance_ids(reservations: list[dict[str, Any]]) -> list[str]:
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


@pytest.mark.parametrize("signature", ["v4", "v2"])
def test_boto3_instance_lifecycle(seeded: tuple[EconeEnv, Seed], signature: str) -> None:
    env, s = seeded
    give_keypair(env, "alice", "k1")
    ec2 = env.client("alice", signature_version=signature)
    ami = f"ami-{s.ami:08d}"
    run = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=2,
        InstanceType="m1.small",
        KeyName="k1",
        UserData="#!/bin/sh\necho hello\n",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )
    assert run["ResponseMetadata"]["HTTPStatusCode"] == 200
    ids = [i["InstanceId"] for i in run["Instances"]]
    assert len(ids) == 2 and run["ReservationId"].startswith("r-")
    assert {i["State"]["Name"] for i in run["Instances"]} == {"pending"}
    # boto3 base64-encodes UserData itself; econe stores it as received.
    vm = env.oneadmin.vm_info(int(ids[0][2:]))
    context = vm.template.vectors("CONTEXT")[0]
    assert base64.b64decode(context["EC2_USER_DATA"]) == b"#!/bin/sh\necho hello\n"
    assert context["EC2_KEYNAME"] == "k1"

    described = ec2.describe_instances(InstanceIds=ids)
    assert sorted(instance_ids(described["Reservations"])) == sorted(ids)
    (inst,) = ec2.describe_instances(InstanceIds=ids[:1])["Reservations"][0]["Instances"]
    assert (
        inst["ImageId"] == ami
        and inst["KeyName"] == "k1"
        and inst["Tags"] == [{"Key": "Name", "Value": "web"}]
    )
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]}])
    assert sorted(instance_ids(tagged["Reservations"])) == sorted(ids)

    env.sim.schedule()  # deploy on the dummy host
    stopped = ec2.stop_instances(InstanceIds=ids[:1])["StoppingInstances"][0]
    assert stopped["PreviousState"]["Name"] == "running"
    started = ec2.start_instances(InstanceIds=ids[:1])["StartingInstances"][0]
    assert started["PreviousState"]["Name"] == "stopped"
    env.sim.schedule()
    reboot = ec2.reboot_instances(InstanceIds=ids[1:])
    assert reboot["ResponseMetadata"]["HTTPStatusCode"] == 200
    terminated = ec2.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert {t["CurrentState"]["Name"] for t in terminated} <= {"shutting-down", "terminated"}

    assert client_error(ec2.describe_instances, InstanceIds=["i-00000999"]) == (
        "InvalidInstanceID.NotFound",
        400,
    )
    assert client_error(ec2.describe_instances, InstanceIds=["bogus"]) == ("InvalidInstanceID.Malformed", 400)
    assert client_error(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="c5.large") == (
        "InvalidParameterValue",
        400,
    )
    assert client_error(ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, KeyName="nope") == (
        "InvalidKeyPair.NotFound",
        400,
    )


def test_boto3_paginator_and_images(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    made = env.sim.bulk_vms(11, uid=env.alice.user_id)
    ec2 = env.client("alice")
    pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) == 3
    assert [i for p in pages for i in instance_ids(p["Reservations"])] == [
        f"i-{i:08d}" for i in sorted(made, reverse=True)
    ]

    images = ec2.describe_images()["Images"]
    assert [i["ImageId"] for i in images] == [f"ami-{s.ami:08d}"]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert client_error(ec2.describe_images, ImageIds=["ami-00000999"]) == ("InvalidAMIID.NotFound", 400)
    types = ec2.describe_instance_types()["InstanceTypes"]
    assert [
        (t["InstanceType"], t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"]) for t in types
    ] == [("m1.small", 2, 512)]
    assert client_error(ec2.register_image, ImageLocation="vol-1", Name="xyz") == (
        "InvalidParameterValue",
        400,
    )
    assert client_error(ec2.deregister_image, ImageId=f"ami-{s.plain_image:08d}") == (
        "InvalidAMIID.NotFound",
        400,
    )


def aws(env: EconeEnv, *args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("aws")
    environ = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": env.alice.name,
        "AWS_SECRET_ACCESS_KEY": env.alice.secret,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [
            str(cli),
            "ec2",
            *args,
            "--endpoint-url",
            env.endpoint,
            "--region",
            "opennebula",
            "--output",
            "json",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_aws_cli(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ami = f"ami-{s.ami:08d}"
    run = aws(env, "run-instances", "--image-id", ami, "--instance-type", "m1.small", "--count", "1")
    assert run.returncode == 0, run.stderr
    (iid,) = [i["InstanceId"] for i in json.loads(run.stdout)["Instances"]]
    described = aws(env, "describe-instances", "--instance-ids", iid)
    assert described.returncode == 0, described.stderr
    assert instance_ids(json.loads(described.stdout)["Reservations"]) == [iid]
    images = aws(env, "describe-images")
    assert [i["ImageId"] for i in json.loads(images.stdout)["Images"]] == [ami]
    terminated = aws(env, "terminate-instances", "--instance-ids", iid)
    assert terminated.returncode == 0, terminated.stderr
    assert json.loads(terminated.stdout)["TerminatingInstances"][0]["CurrentState"]["Name"] == "terminated"
    missing = aws(env, "describe-instances", "--instance-ids", "i-00000999")
    assert missing.returncode != 0 and "InvalidInstanceID.NotFound" in missing.stderr


def test_libcloud_sigv2(seeded: tuple[EconeEnv, Seed]) -> None:
    from libcloud.compute.base import NodeImage, NodeSize
    from libcloud.compute.drivers.ec2 import EC2NodeDriver

    env, s = seeded
    port = int(env.endpoint.rsplit(":", 1)[1].rstrip("/"))
    driver = EC2NodeDriver(
        env.alice.name, env.alice.secret, secure=False, host="127.0.0.1", port=port, signature_version="2"
    )
    image = NodeImage(id=f"ami-{s.ami:08d}", name="ubuntu", driver=driver)
    size = NodeSize(id="m1.small", name="m1.small", ram=512, disk=0, bandwidth=0, price=0, driver=driver)
    node = driver.create_node(name="", size=size, image=image)
    assert node.id.startswith("i-") and node.extra["instance_type"] == "m1.small"
    assert [i.id for i in driver.list_images()] == [f"ami-{s.ami:08d}"]

    def described() -> list[tuple[str, str]]:
        # list_nodes() also calls DescribeAddresses (the addresses family); read DescribeInstances
        # through libcloud's own connection and namespace-aware XML helpers instead.
        from libcloud.compute.drivers.ec2 import NAMESPACE
        from libcloud.utils.xml import findall, findtext

        body = driver.connection.request(driver.path, params={"Action": "DescribeInstances"}).object
        items = findall(element=body, xpath="reservationSet/item/instancesSet/item", namespace=NAMESPACE)
        return [
            (
                findtext(element=i, xpath="instanceId", namespace=NAMESPACE),
                findtext(element=i, xpath="instanceState/name", namespace=NAMESPACE),
            )
            for i in items
        ]

    assert described() == [(node.id, "pending")]
    assert driver.destroy_node(node) is True
    assert described() == [(node.id, "terminated")]


@pytest.mark.parametrize("signature", ["v4", "v2"])
def test_upload_register_and_run_from_uploaded_image(
    econe_env: EconeEnv, tmp_path: Path, signature: str
) -> None:
    """econe-upload's multipart POST -> UploadImage -> an AMI that RunInstances boots."""
    import hashlib

    from one_drivers.econe_tools.connection import Connection
    from one_drivers.econe_tools.upload import upload_image
    from one_drivers.one.gateway import OneGateway
    from tests.econe.actions.seed import allocate_template
    from tests.econe.conftest import EconeUser

    env = econe_env
    # A member of group oneadmin: the simulator lets that group use datastore 1.
    uid = env.oneadmin.user_allocate("carol", "carol-pass", "core", (0,))
    carol = EconeUser("carol", uid, "carol-pass", hashlib.sha256(b"carol-pass").hexdigest(), None)  # type: ignore[arg-type]
    env.users["carol"] = carol
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\x01" * 100_000)
    conn = Connection(
        carol.name, carol.secret, env.endpoint, region=env.config.region_name, signature_version=signature
    )
    ami = upload_image(conn, str(disk))
    image = env.oneadmin.image_info(int(ami[4:]))
    assert image.uname == "carol" and image.template.get("EC2_AMI") == "YES" and image.datastore_id == 1
    assert Path(image.path).read_bytes() == disk.read_bytes()  # what oned's datastore driver will copy

    allocate_template(
        OneGateway(env.sim.endpoint, "carol:carol-pass"),
        [("NAME", "t"), ("MEMORY", "64"), ("EC2_INSTANCE_TYPE", "t1.micro")],
    )
    ec2 = env.client("carol", signature_version=signature)
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [ami]
    run = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t1.micro")
    assert run["Instances"][0]["ImageId"] == ami
    assert ec2.deregister_image(ImageId=ami)["Return"] is True
    assert ec2.describe_images(Owners=["self"])["Images"] == []


@pytest.mark.parametrize(("algorithm", "method"), [("HmacSHA1", "GET"), ("HmacSHA256", "POST")])
def test_hand_signed_sigv2_requests(seeded: tuple[EconeEnv, Seed], algorithm: str, method: str) -> None:
    """What euca2ools and old SDKs send: wire names, HTTP statuses and the namespace echo checked raw."""
    from urllib.parse import urlsplit

    from tests.econe.sigv2 import send, sign_v2

    env, s = seeded
    host = urlsplit(env.endpoint).netloc

    def call(**params: str) -> Any:
        signed = sign_v2(
            params, key="alice", secret=env.alice.secret, method=method, host=host, algorithm=algorithm
        )
        return send(env.endpoint, signed, method=method)

    ran = call(
        Action="RunInstances", ImageId=f"ami-{s.ami:08d}", MinCount="1", MaxCount="1", InstanceType="m1.small"
    )
    assert ran.status == 200, ran.body
    assert ran.xml.tag == "{http://ec2.amazonaws.com/doc/2016-11-15/}RunInstancesResponse"
    iid = ran.find("instanceId")
    assert iid is not None and iid.startswith("i-") and ran.find("name") == "pending"
    described = call(Action="DescribeInstances", **{"InstanceId.1": iid})
    assert described.status == 200 and described.find("instanceId") == iid
    assert described.find("instanceType") == "m1.small" and described.find("reservationId") is not None
    missing = call(Action="DescribeInstances", **{"InstanceId.1": "i-00000999"})
    assert (missing.status, missing.error_code) == (400, "InvalidInstanceID.NotFound")
    malformed = call(Action="TerminateInstances", **{"InstanceId.1": "vm-1"})
    assert (malformed.status, malformed.error_code) == (400, "InvalidInstanceID.Malformed")
    rebooted = call(Action="RebootInstances", **{"InstanceId.1": iid})
    assert (rebooted.status, rebooted.error_code) == (400, "IncorrectInstanceState")  # pending, not running
    terminated = call(Action="TerminateInstances", **{"InstanceId.1": iid})
    assert terminated.status == 200 and terminated.find("name") == "terminated"  # currentState comes first
    images = call(Action="DescribeImages", **{"Filter.1.Name": "name", "Filter.1.Value.1": "ubu*"})
    assert images.status == 200 and images.find("imageId") == f"ami-{s.ami:08d}"
    types = call(Action="DescribeInstanceTypes")
    assert (
        types.status == 200 and types.find("instanceType") == "m1.small" and types.find("sizeInMiB") == "512"
    )
