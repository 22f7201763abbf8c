"""The storage actions through the AWS CLI and libcloud (one round trip each), against econe on the
simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.econe.actions.seed import Seed, seed
from tests.econe.actions.test_clients import aws
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def out(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_aws_cli_storage(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    vm = env.client().run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]
    env.sim.schedule()
    vol = out(aws(env, "create-volume", "--availability-zone", "opennebula", "--size", "1"))["VolumeId"]
    attached = out(
        aws(
            env,
            "attach-volume",
            "--volume-id",
            vol,
            "--instance-id",
            vm["InstanceId"],
            "--device",
            "/dev/sdh",
        )
    )
    assert attached["State"] == "attaching"
    (volume,) = out(aws(env, "describe-volumes", "--volume-ids", vol))["Volumes"]
    assert volume["State"] == "in-use" and volume["Attachments"][0]["Device"] == "/dev/sdh"
    snap = out(aws(env, "create-snapshot", "--volume-id", vol, "--description", "cli"))["SnapshotId"]
    assert out(aws(env, "describe-snapshots", "--snapshot-ids", snap))["Snapshots"][0]["Description"] == "cli"
    out(aws(env, "create-tags", "--resources", vol, snap, "--tags", "Key=env,Value=test"))
    tags = out(aws(env, "describe-tags", "--filters", "Name=key,Values=env"))["Tags"]
    assert sorted(t["ResourceId"] for t in tags) == sorted([vol, snap])
    out(aws(env, "delete-tags", "--resources", vol, "--tags", "Key=env"))
    assert out(aws(env, "detach-volume", "--volume-id", vol))["State"] == "detaching"
    ami = out(aws(env, "create-image", "--instance-id", vm["InstanceId"], "--name", "from-cli"))["ImageId"]
    attr = out(aws(env, "describe-image-attribute", "--image-id", ami, "--attribute", "launchPermission"))
    assert attr["LaunchPermissions"] == []
    out(aws(env, "delete-snapshot", "--snapshot-id", snap))
    out(aws(env, "delete-volume", "--volume-id", vol))
    missing = aws(env, "delete-volume", "--volume-id", vol)
    assert missing.returncode != 0 and "InvalidVolume.NotFound" in missing.stderr


def libcloud_driver(env: EconeEnv) -> Any:
    from libcloud.compute.drivers.ec2 import EC2NodeDriver

    port = int(env.endpoint.rsplit(":", 1)[1].rstrip("/"))
    return EC2NodeDriver(
        env.alice.name, env.alice.secret, secure=False, host="127.0.0.1", port=port, signature_version="2"
    )


def test_libcloud_list_nodes(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    vm = env.client().run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]
    # list_nodes() calls DescribeInstances and DescribeAddresses (the addresses family).
    nodes = {n.id: n for n in libcloud_driver(env).list_nodes()}
    assert list(nodes) == [vm["InstanceId"]]


def test_libcloud_storage(seeded: tuple[EconeEnv, Seed]) -> None:
    from libcloud.compute.base import Node
    from libcloud.compute.drivers.ec2 import EC2NodeDriver, EC2NodeLocation, ExEC2AvailabilityZone
    from libcloud.compute.types import NodeState

    env, s = seeded
    port = int(env.endpoint.rsplit(":", 1)[1].rstrip("/"))
    driver = EC2NodeDriver(
        env.alice.name, env.alice.secret, secure=False, host="127.0.0.1", port=port, signature_version="2"
    )
    vm = env.client().run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]
    env.sim.schedule()
    # libcloud's list_locations() asks for its own region's zones (us-east-1 here): name ours directly.
    zone = ExEC2AvailabilityZone(name="opennebula", zone_state="available", region_name="opennebula")
    location = EC2NodeLocation(0, "opennebula", "", driver, zone)
    volume = driver.create_volume(size=1, name="data", location=location)
    assert volume.id.startswith("vol-") and volume.size == 1
    assert [v.id for v in driver.list_volumes()] == [volume.id]
    assert driver.list_volumes()[0].extra["tags"] == {"Name": "data"}
    node = Node(vm["InstanceId"], "", NodeState.RUNNING, [], [], driver)
    assert driver.attach_volume(node, volume, device="/dev/sdh") is True
    assert driver.list_volumes()[0].extra["instance_id"] == vm["InstanceId"]
    snapshot = driver.create_volume_snapshot(volume, name="snap1")
    assert snapshot.id.startswith("snap-") and snapshot.extra["volume_id"] == volume.id
    assert [x.id for x in driver.list_snapshots()] == [snapshot.id]
    assert driver.detach_volume(volume) is True
