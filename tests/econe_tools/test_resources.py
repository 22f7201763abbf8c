"""econe-*-volume(s), -address(es), -keypair(s), -register, -describe-images against moto's EC2 server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import boto3

from one_drivers.econe_tools.addresses import (
    allocate_address,
    associate_address,
    describe_addresses,
    disassociate_address,
    release_address,
)
from one_drivers.econe_tools.images import describe_images, register
from one_drivers.econe_tools.instances import run_instances
from one_drivers.econe_tools.keypairs import create_keypair, delete_keypair, describe_keypairs
from one_drivers.econe_tools.volumes import (
    attach_volume,
    create_volume,
    delete_volume,
    describe_volumes,
    detach_volume,
)
from tests.econe_tools.conftest import Run
from tests.econe_tools.test_instances import a_moto_image, rows


def one_instance(run: Run, endpoint: str) -> str:
    return rows(run(run_instances, a_moto_image(endpoint)).stdout)[1][0]


def test_volumes(run: Run, moto_endpoint: str) -> None:
    instance = one_instance(run, moto_endpoint)
    created = rows(run(create_volume, "-s", "2").stdout)
    assert created[0] == ["VOLUMEID", "SIZE", "STATE", "ZONE", "SNAPSHOTID", "ATTACHMENTS"]
    volume, size, state, zone = created[1][:4]
    assert (volume[:4], size, state, zone) == (
        "vol-",
        "2",
        "available",
        "us-east-1a",
    )  # first zone by default

    attached = rows(run(attach_volume, volume, "-i", instance, "-d", "/dev/sdh").stdout)
    assert attached[1][:3] == [volume, instance, "/dev/sdh"]
    described = rows(run(describe_volumes, volume).stdout)
    assert described[1][0] == volume
    assert described[1][5] == f"{instance}:/dev/sdh"
    detached = rows(run(detach_volume, volume, "-i", instance).stdout)
    assert detached[1][:2] == [volume, instance]
    assert "Success" in run(delete_volume, volume).stdout
    result = run(describe_volumes, volume, ok=False)
    assert (result.exit_code, result.stderr.split(":")[0]) == (1, "InvalidVolume.NotFound")


def test_create_volume_needs_a_size_or_snapshot(run: Run) -> None:
    result = run(create_volume, ok=False)
    assert result.exit_code == 2
    assert "--size" in result.stderr


def test_addresses(run: Run, moto_endpoint: str) -> None:
    instance = one_instance(run, moto_endpoint)
    allocated = rows(run(allocate_address).stdout)
    assert allocated[0][:2] == ["PUBLICIP", "ALLOCATIONID"]
    public_ip, allocation = allocated[1][:2]
    assert allocation.startswith("eipalloc-")

    assert "Success" in run(associate_address, allocation, "-i", instance).stdout
    listed = rows(run(describe_addresses, public_ip).stdout)
    assert listed[1][:3] == [public_ip, allocation, instance]
    association = listed[1][3]
    assert association.startswith("eipassoc-")
    assert "Success" in run(disassociate_address, association).stdout
    assert rows(run(describe_addresses).stdout)[1][2] == "-"
    assert "Success" in run(release_address, allocation).stdout
    assert len(rows(run(describe_addresses).stdout)) == 1  # only the header


def test_keypairs(run: Run, tmp_path: Path) -> None:
    out = run(create_keypair, "laptop").stdout
    assert out.splitlines()[0].split() == ["KEYNAME", "FINGERPRINT"]
    assert "PRIVATE KEY-----" in out
    key_file = tmp_path / "saved.pem"
    saved = run(create_keypair, "saved", "-o", str(key_file)).stdout
    assert "PRIVATE KEY" not in saved
    assert "PRIVATE KEY-----" in key_file.read_text()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    names = [r[0] for r in rows(run(describe_keypairs).stdout)[1:]]
    assert sorted(names) == ["laptop", "saved"]
    assert [r[0] for r in rows(run(describe_keypairs, "saved").stdout)[1:]] == ["saved"]

    duplicate = run(create_keypair, "laptop", ok=False)
    assert (duplicate.exit_code, duplicate.stderr.split(":")[0]) == (1, "InvalidKeyPair.Duplicate")
    assert "Success" in run(delete_keypair, "laptop").stdout
    missing = run(describe_keypairs, "laptop", ok=False)
    assert (missing.exit_code, missing.stderr.split(":")[0]) == (1, "InvalidKeyPair.NotFound")


def test_images(run: Run, moto_endpoint: str) -> None:
    source = a_moto_image(moto_endpoint)
    described = rows(run(describe_images, source).stdout)
    assert described[0][:3] == ["IMAGEID", "NAME", "STATE"]
    assert described[1][0] == source
    registered = run(register, "my-location/image.manifest.xml", "-n", "mine", "-d", "desc").stdout
    assert registered.startswith("Success: ImageId ami-")
    new_id = registered.split()[-1]
    client = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert client.describe_images(ImageIds=[new_id])["Images"][0]["Name"] == "mine"
    by_filter = rows(run(describe_images, "-f", "name=mine").stdout)
    assert [r[0] for r in by_filter[1:]] == [new_id]
    missing = run(describe_images, "ami-00000000", ok=False)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("InvalidAMIID.")
