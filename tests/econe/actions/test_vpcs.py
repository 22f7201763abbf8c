"""The VPC face through boto3: DescribeVpcs/Subnets/NetworkInterfaces and RunInstances' network parameters."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.econe.actions.seed import Seed, seed, vm_count
from tests.econe.actions.test_security_groups import code_of, make_net
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def test_vpc_and_subnets_from_virtual_networks(econe_env_factory: object) -> None:
    # A fresh simulator numbers networks from 0: a = 0, b = 1 (the default subnet), 2 holds elastic IPs.
    env: EconeEnv = econe_env_factory(default_subnet_id=1, elasticips_vnet_id=2)  # type: ignore[operator]
    a = make_net(env, "a", "10.10.0.1", 8)  # 10.10.0.1-8 -> 10.10.0.0/28
    b = make_net(env, "b", "192.168.5.0", 256)
    env.oneadmin.vn_update(b, 'NETWORK_ADDRESS="192.168.5.0"\nNETWORK_MASK="255.255.255.0"', True)
    hidden = make_net(env, "eips", "198.51.100.1", 4)
    assert (a, b, hidden) == (0, 1, 2)
    ec2 = env.client()
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets()["Subnets"]}
    assert sorted(subnets) == [f"subnet-{a:08d}", f"subnet-{b:08d}"]  # the elastic IP network is hidden
    sa, sb = subnets[f"subnet-{a:08d}"], subnets[f"subnet-{b:08d}"]
    assert sa["CidrBlock"] == "10.10.0.0/28" and sa["AvailableIpAddressCount"] == 8
    assert sb["CidrBlock"] == "192.168.5.0/24" and sb["DefaultForAz"] is True and sa["DefaultForAz"] is False
    assert (
        sa["VpcId"] == "vpc-00000001"
        and sa["AvailabilityZone"] == "opennebula"
        and sa["State"] == "available"
    )
    defaults = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert [s["SubnetId"] for s in defaults] == [f"subnet-{b:08d}"]
    by_cidr = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.10.*"]}])["Subnets"]
    assert [s["SubnetId"] for s in by_cidr] == [f"subnet-{a:08d}"]
    assert code_of(ec2.describe_subnets, SubnetIds=[f"subnet-{hidden:08d}"]) == "InvalidSubnetID.NotFound"
    assert code_of(ec2.describe_subnets, SubnetIds=["subnet-00009999"]) == "InvalidSubnetID.NotFound"
    assert code_of(ec2.describe_subnets, SubnetIds=["net-1"]) == "InvalidSubnetID.Malformed"

    (vpc,) = ec2.describe_vpcs()["Vpcs"]
    assert vpc["VpcId"] == "vpc-00000001" and vpc["IsDefault"] is True
    assert vpc["CidrBlock"] == "0.0.0.0/0"  # the smallest block covering 10.10.0.0/28 and 192.168.5.0/24
    assert code_of(ec2.describe_vpcs, VpcIds=["vpc-0badbad0"]) == "InvalidVpcID.NotFound"
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"] == []
    assert code_of(ec2.create_vpc, CidrBlock="10.0.0.0/16") == "UnsupportedOperation"
    assert code_of(ec2.create_subnet, VpcId="vpc-00000001", CidrBlock="10.0.0.0/24") == "UnsupportedOperation"
    attrs = {
        a["AttributeName"]: a["AttributeValues"]
        for a in ec2.describe_account_attributes()["AccountAttributes"]
    }
    assert attrs == {
        "supported-platforms": [{"AttributeValue": "VPC"}],
        "default-vpc": [{"AttributeValue": "vpc-00000001"}],
    }


def test_run_instances_network_parameters(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    net = make_net(env, "private", "10.20.0.1", 4)
    other = make_net(env, "second", "10.30.0.1", 4)
    ec2 = env.client()
    ami = f"ami-{s.ami:08d}"
    run = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, SubnetId=f"subnet-{net:08d}", PrivateIpAddress="10.20.0.3"
    )
    (inst,) = run["Instances"]
    assert inst["SubnetId"] == f"subnet-{net:08d}" and inst["VpcId"] == "vpc-00000001"
    assert inst["PrivateIpAddress"] == "10.20.0.3"
    (iface,) = inst["NetworkInterfaces"]
    assert iface["PrivateIpAddress"] == "10.20.0.3" and iface["SubnetId"] == f"subnet-{net:08d}"
    assert iface["NetworkInterfaceId"].startswith("eni-") and iface["Attachment"]["DeviceIndex"] == 0
    vm = env.oneadmin.vm_info(int(inst["InstanceId"][2:]))
    (nic,) = vm.template.vectors("NIC")
    assert nic["NETWORK_ID"] == str(net) and nic["IP"] == "10.20.0.3"

    # Two interfaces, in device order.
    two = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {"DeviceIndex": 1, "SubnetId": f"subnet-{other:08d}"},
            {"DeviceIndex": 0, "SubnetId": f"subnet-{net:08d}", "PrivateIpAddress": "10.20.0.4"},
        ],
    )["Instances"][0]
    assert [i["SubnetId"] for i in two["NetworkInterfaces"]] == [f"subnet-{net:08d}", f"subnet-{other:08d}"]
    assert two["PrivateIpAddress"] == "10.20.0.4"
    by_subnet = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [f"subnet-{other:08d}"]}])
    assert [i["InstanceId"] for r in by_subnet["Reservations"] for i in r["Instances"]] == [two["InstanceId"]]
    in_vpc = ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": ["vpc-00000001"]}])["Reservations"]
    assert sorted(i["InstanceId"] for r in in_vpc for i in r["Instances"]) == sorted(
        [inst["InstanceId"], two["InstanceId"]]
    )
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [two["InstanceId"]]}]
    )
    assert len(enis["NetworkInterfaces"]) == 2
    eni = two["NetworkInterfaces"][1]["NetworkInterfaceId"]
    (found,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
    assert (
        found["Attachment"]["InstanceId"] == two["InstanceId"] and found["SubnetId"] == f"subnet-{other:08d}"
    )
    assert code_of(ec2.describe_network_interfaces, NetworkInterfaceIds=["eni-7fffffff0000"]) == (
        "InvalidNetworkInterfaceID.NotFound"
    )

    count = vm_count(env)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"SubnetId": "subnet-00009999"}, "InvalidSubnetID.NotFound"),
        ({"SubnetId": f"subnet-{net:08d}", "PrivateIpAddress": "10.20.0.3"}, "InvalidIPAddress.InUse"),
        ({"SubnetId": f"subnet-{net:08d}", "PrivateIpAddress": "10.99.0.1"}, "InvalidParameterValue"),
        ({"SubnetId": f"subnet-{net:08d}", "PrivateIpAddress": "10.20.0.2", "MaxCount": 2}, "InvalidParameterCombination"),
        ({"SubnetId": f"subnet-{net:08d}", "NetworkInterfaces": [{"DeviceIndex": 0}]}, "InvalidParameterCombination"),
    ]  # fmt: skip
    for extra, code in bad:
        params = {"ImageId": ami, "MinCount": 1, "MaxCount": 1, **extra}
        assert code_of(ec2.run_instances, **params) == code, extra
    assert vm_count(env) == count  # nothing was launched

    # Bob cannot see alice's interfaces.
    assert code_of(env.client("bob").describe_network_interfaces, NetworkInterfaceIds=[eni]) == (
        "InvalidNetworkInterfaceID.NotFound"
    )


def test_subnet_tags_need_manage_rights(econe_env: EconeEnv) -> None:
    """Users may use a network without managing it: tagging its subnet is UnauthorizedOperation with
    AWS's 403, and changes nothing; once the user may manage the network, the tags are stored and shown."""
    net = make_net(econe_env, "shared", "10.40.0.1", 4)
    subnet = f"subnet-{net:08d}"
    ec2 = econe_env.client()
    with pytest.raises(ClientError) as err:
        ec2.create_tags(Resources=[subnet], Tags=[{"Key": "team", "Value": "a"}])
    assert err.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    (shown,) = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert shown.get("Tags", []) == []
    econe_env.oneadmin.call("one.vn.chmod", net, -1, -1, -1, -1, -1, -1, 1, 1, -1)  # others may manage it
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": "team", "Value": "a"}])
    (shown,) = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert shown["Tags"] == [{"Key": "team", "Value": "a"}]
