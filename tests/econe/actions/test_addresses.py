"""Elastic IPs through boto3 against econe on the simulator, with real associate/disassociate scripts."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.econe.actions.seed import Seed, seed
from tests.econe.actions.test_security_groups import code_of, make_net
from tests.econe.conftest import EconeEnv

SCRIPT = """#!/bin/sh
# Record our arguments, one per line, then succeed or fail as the marker files say.
printf '%s\\n' "$0" "$@" >> "{log}"
[ -e "{fail}" ] && exit 3
[ -e "{slow}" ] && sleep 30
exit 0
"""


class Scripts:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "calls.log"
        self.fail = root / "fail"
        self.slow = root / "slow"
        for name in ("associate", "disassociate"):
            path = root / name
            path.write_text(SCRIPT.format(log=self.log, fail=self.fail, slow=self.slow))
            path.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [lines[i : i + 4] for i in range(0, len(lines), 4)]


@pytest.fixture
def world(econe_env_factory: Any, tmp_path: Path) -> tuple[EconeEnv, Seed, Scripts, int]:
    scripts_dir = tmp_path / "scripts"
    scripts_dir.mkdir()
    scripts = Scripts(scripts_dir)
    # A fresh simulator numbers networks from 0: network 0 holds the public addresses.
    env: EconeEnv = econe_env_factory(
        elasticips_vnet_id=0,
        associate_script=str(scripts_dir / "associate"),
        disassociate_script=str(scripts_dir / "disassociate"),
        script_timeout=2,
    )
    public = make_net(env, "public", "198.51.100.10", 3)
    assert public == 0
    private = make_net(env, "private", "10.40.0.1", 8)
    return env, seed(env), scripts, private


def addresses_record(env: EconeEnv) -> list[dict[str, str]]:
    return env.oneadmin.vn_info(0).template.vectors("EC2_ADDRESSES")


def test_allocate_associate_disassociate_release(world: tuple[EconeEnv, Seed, Scripts, int]) -> None:
    env, s, scripts, private = world
    ec2 = env.client()
    run = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{private:08d}"
    )
    iid = run["Instances"][0]["InstanceId"]
    private_ip = run["Instances"][0]["PrivateIpAddress"]

    allocated = ec2.allocate_address(Domain="vpc")
    ip, alloc = allocated["PublicIp"], allocated["AllocationId"]
    assert ip == "198.51.100.10" and alloc.startswith("eipalloc-") and allocated["Domain"] == "vpc"
    assert addresses_record(env) == [{"IP": ip, "UID": str(env.alice.user_id), "VMID": "-1", "DOMAIN": "vpc"}]
    leases = env.oneadmin.vn_info(0).address_ranges[0].leases
    assert [(x.ip, x.vm) for x in leases] == [(ip, -1)]  # held in oned

    assoc = ec2.associate_address(AllocationId=alloc, InstanceId=iid)["AssociationId"]
    assert assoc.startswith("eipassoc-")
    ((script, pub, priv, xml),) = scripts.calls()
    assert script.endswith("associate") and (pub, priv) == (ip, private_ip)
    assert base64.b64decode(xml).startswith(b"<VNET>")
    (shown,) = ec2.describe_addresses(PublicIps=[ip])["Addresses"]
    assert (
        shown["InstanceId"] == iid
        and shown["AssociationId"] == assoc
        and shown["PrivateIpAddress"] == private_ip
    )
    assert shown["NetworkInterfaceId"].startswith("eni-")
    (described,) = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"]
    assert described["PublicIpAddress"] == ip and described["PrivateIpAddress"] == private_ip
    assert described["NetworkInterfaces"][0]["Association"]["PublicIp"] == ip
    by_instance = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [iid]}])["Addresses"]
    assert [a["PublicIp"] for a in by_instance] == [ip]

    # Associated: release is refused, a second association needs AllowReassociation.
    assert code_of(ec2.release_address, AllocationId=alloc) == "InvalidIPAddress.InUse"
    other = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{private:08d}"
    )
    other_id = other["Instances"][0]["InstanceId"]
    assert (
        code_of(ec2.associate_address, AllocationId=alloc, InstanceId=other_id)
        == "Resource.AlreadyAssociated"
    )
    ec2.associate_address(AllocationId=alloc, InstanceId=other_id, AllowReassociation=True)
    assert [c[0].rsplit("/", 1)[1] for c in scripts.calls()] == ["associate", "disassociate", "associate"]
    assert ec2.describe_addresses()["Addresses"][0]["InstanceId"] == other_id

    ec2.disassociate_address(AssociationId=assoc)
    assert scripts.calls()[-1][0].endswith("disassociate")
    assert "InstanceId" not in ec2.describe_addresses()["Addresses"][0]
    assert code_of(ec2.disassociate_address, AssociationId=assoc) == "InvalidAssociationID.NotFound"
    ec2.release_address(AllocationId=alloc)
    assert ec2.describe_addresses()["Addresses"] == [] and addresses_record(env) == []
    assert env.oneadmin.vn_info(0).address_ranges[0].leases == ()


def test_errors_and_other_users(world: tuple[EconeEnv, Seed, Scripts, int]) -> None:
    env, s, scripts, private = world
    ec2 = env.client()
    alloc = ec2.allocate_address()["AllocationId"]
    assert code_of(ec2.describe_addresses, PublicIps=["203.0.113.9"]) == "InvalidAddress.NotFound"
    assert (
        code_of(ec2.describe_addresses, AllocationIds=["eipalloc-00009999"]) == "InvalidAllocationID.NotFound"
    )
    assert code_of(ec2.release_address, PublicIp="203.0.113.9") == "InvalidAddress.NotFound"
    assert (
        code_of(ec2.associate_address, AllocationId=alloc, InstanceId="i-0") == "InvalidInstanceID.NotFound"
    )
    assert (
        code_of(ec2.disassociate_address, AssociationId="eipassoc-00000000")
        == "InvalidAssociationID.NotFound"
    )
    bob = env.client("bob")
    assert bob.describe_addresses()["Addresses"] == []
    assert code_of(bob.release_address, AllocationId=alloc) == "InvalidAllocationID.NotFound"
    assert code_of(bob.describe_addresses, AllocationIds=[alloc]) == "InvalidAllocationID.NotFound"
    # Bob cannot take alice's instance either.
    run = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{private:08d}"
    )
    bobs = bob.allocate_address()["AllocationId"]
    assert code_of(
        bob.associate_address, AllocationId=bobs, InstanceId=run["Instances"][0]["InstanceId"]
    ) == ("InvalidInstanceID.NotFound")
    bob.allocate_address()
    assert code_of(bob.allocate_address) == "AddressLimitExceeded"  # three addresses in the pool
    assert scripts.calls() == []


@pytest.mark.parametrize("marker", ["fail", "slow"])
def test_failing_script_leaves_the_address_as_it_was(
    world: tuple[EconeEnv, Seed, Scripts, int], marker: str
) -> None:
    env, s, scripts, private = world
    ec2 = env.client()
    run = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{private:08d}"
    )
    iid = run["Instances"][0]["InstanceId"]
    alloc = ec2.allocate_address()["AllocationId"]
    (scripts.root / marker).touch()
    assert code_of(ec2.associate_address, AllocationId=alloc, InstanceId=iid) == "InternalError"
    assert "InstanceId" not in ec2.describe_addresses()["Addresses"][0]
    (scripts.root / marker).unlink()
    assoc = ec2.associate_address(AllocationId=alloc, InstanceId=iid)["AssociationId"]
    (scripts.root / marker).touch()
    assert code_of(ec2.disassociate_address, AssociationId=assoc) == "InternalError"
    assert ec2.describe_addresses()["Addresses"][0]["InstanceId"] == iid


def test_without_elastic_ips_configured(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    assert ec2.describe_addresses()["Addresses"] == []
    assert code_of(ec2.allocate_address) == "UnsupportedOperation"
