"""Key pairs, security groups, subnets and addresses with the AWS CLI, libcloud and hand-signed SigV2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.econe.actions.seed import Seed, seed
from tests.econe.actions.test_clients import aws
from tests.econe.actions.test_key_pairs import ED25519_FINGERPRINT, ED25519_OPENSSH
from tests.econe.actions.test_security_groups import make_net
from tests.econe.actions.test_storage_clients import libcloud_driver
from tests.econe.conftest import EconeEnv


@pytest.fixture
def world(econe_env_factory: Any) -> tuple[EconeEnv, Seed]:
    # Network 0 holds the public addresses, network 1 is the default subnet.
    env: EconeEnv = econe_env_factory(elasticips_vnet_id=0, default_subnet_id=1)
    make_net(env, "public", "198.51.100.10", 4)
    make_net(env, "private", "10.60.0.1", 8)
    return env, seed(env)


def _json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_aws_cli(world: tuple[EconeEnv, Seed], tmp_path: Path) -> None:
    env, s = world
    made = _json(aws(env, "create-key-pair", "--key-name", "cli", "--key-type", "ed25519"))
    assert made["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public = tmp_path / "k.pub"
    public.write_text(ED25519_OPENSSH)
    imported = _json(
        aws(env, "import-key-pair", "--key-name", "imp", "--public-key-material", f"fileb://{public}")
    )
    assert imported["KeyFingerprint"] == ED25519_FINGERPRINT
    pairs = _json(aws(env, "describe-key-pairs"))["KeyPairs"]
    assert sorted(p["KeyName"] for p in pairs) == ["cli", "imp"]
    gid = _json(aws(env, "create-security-group", "--group-name", "web", "--description", "w"))["GroupId"]
    _json(aws(env, "authorize-security-group-ingress", "--group-id", gid, "--protocol", "tcp", "--port", "22",
              "--cidr", "192.0.2.0/24"))  # fmt: skip
    (group,) = _json(aws(env, "describe-security-groups", "--group-ids", gid))["SecurityGroups"]
    assert group["IpPermissions"][0]["FromPort"] == 22
    subnets = _json(aws(env, "describe-subnets", "--filters", "Name=default-for-az,Values=true"))["Subnets"]
    assert [x["SubnetId"] for x in subnets] == ["subnet-00000001"]
    vpcs = _json(aws(env, "describe-vpcs"))["Vpcs"]
    assert vpcs[0]["VpcId"] == "vpc-00000001" and vpcs[0]["IsDefault"] is True
    run = _json(aws(env, "run-instances", "--image-id", f"ami-{s.ami:08d}", "--key-name", "imp",
                    "--security-group-ids", gid))  # fmt: skip
    (inst,) = run["Instances"]
    assert inst["SubnetId"] == "subnet-00000001" and inst["SecurityGroups"][0]["GroupId"] == gid
    address = _json(aws(env, "allocate-address", "--domain", "vpc"))
    _json(aws(env, "associate-address", "--allocation-id", address["AllocationId"], "--instance-id",
              inst["InstanceId"]))  # fmt: skip
    (shown,) = _json(aws(env, "describe-addresses"))["Addresses"]
    assert shown["InstanceId"] == inst["InstanceId"]
    attr = _json(aws(env, "describe-instance-attribute", "--instance-id", inst["InstanceId"], "--attribute",
                     "groupSet"))  # fmt: skip
    assert attr["Groups"][0]["GroupId"] == gid
    missing = aws(env, "describe-key-pairs", "--key-names", "nope")
    assert missing.returncode != 0 and "InvalidKeyPair.NotFound" in missing.stderr


def test_libcloud(world: tuple[EconeEnv, Seed]) -> None:
    env, s = world
    driver = libcloud_driver(env)
    pair = driver.import_key_pair_from_string("lc", ED25519_OPENSSH)
    assert pair.name == "lc" and pair.fingerprint == ED25519_FINGERPRINT
    assert [p.name for p in driver.list_key_pairs()] == ["lc"]
    made = driver.ex_create_security_group("lc-group", "from libcloud")
    assert made["group_id"].startswith("sg-")
    driver.ex_authorize_security_group_ingress(made["group_id"], 80, 80, ["0.0.0.0/0"], protocol="tcp")
    groups = driver.ex_get_security_groups(group_ids=[made["group_id"]])
    assert groups[0].ingress_rules[0]["from_port"] == "80"  # libcloud keeps the text
    address = driver.ex_allocate_address()
    assert address.ip == "198.51.100.10"
    vm = env.client().run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]
    nodes = {n.id: n for n in driver.list_nodes()}
    assert list(nodes) == [vm["InstanceId"]]
    assert nodes[vm["InstanceId"]].private_ips == [vm["PrivateIpAddress"]]
    assert driver.ex_associate_address_with_node(nodes[vm["InstanceId"]], address)
    assert [a.instance_id for a in driver.ex_describe_all_addresses()] == [vm["InstanceId"]]


def test_hand_signed_sigv2(world: tuple[EconeEnv, Seed]) -> None:
    from tests.econe.sigv2 import send, sign_v2

    env, _ = world
    host = urlsplit(env.endpoint).netloc

    def call(**params: str) -> Any:
        signed = sign_v2(params, key="alice", secret=env.alice.secret, method="POST", host=host)
        return send(env.endpoint, signed, method="POST")

    made = call(Action="CreateKeyPair", KeyName="v2")
    assert made.status == 200 and str(made.find("keyMaterial")).startswith("-----BEGIN RSA")
    assert call(Action="DescribeKeyPairs", **{"KeyName.1": "v2"}).find("keyName") == "v2"
    dup = call(Action="CreateKeyPair", KeyName="v2")
    assert (dup.status, dup.error_code) == (400, "InvalidKeyPair.Duplicate")
    group = call(Action="CreateSecurityGroup", GroupName="g2", GroupDescription="d")
    gid = group.find("groupId")
    assert group.status == 200 and gid is not None and gid.startswith("sg-")
    rule = {
        "IpPermissions.1.IpProtocol": "tcp",
        "IpPermissions.1.FromPort": "443",
        "IpPermissions.1.ToPort": "443",
        "IpPermissions.1.IpRanges.1.CidrIp": "0.0.0.0/0",
    }
    assert call(Action="AuthorizeSecurityGroupIngress", GroupId=gid, **rule).find("return") == "true"
    again = call(Action="AuthorizeSecurityGroupIngress", GroupId=gid, **rule)
    assert (again.status, again.error_code) == (400, "InvalidPermission.Duplicate")
    assert call(Action="DescribeSubnets").find("subnetId") == "subnet-00000001"
    allocated = call(Action="AllocateAddress")
    assert allocated.status == 200 and allocated.find("publicIp") == "198.51.100.10"
    gone = call(Action="DescribeInstanceAttribute", InstanceId="i-0", Attribute="groupSet")
    assert (gone.status, gone.error_code) == (400, "InvalidInstanceID.NotFound")
