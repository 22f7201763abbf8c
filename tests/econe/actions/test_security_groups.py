"""Security groups through boto3 against econe on the simulator, checked in the OpenNebula groups they make."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def code_of(fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as err:
        fn(**kwargs)
    return str(err.value.response["Error"]["Code"])


def one_rules(env: EconeEnv, group_id: str) -> list[dict[str, str]]:
    return env.oneadmin.secgroup_info(int(group_id[3:])).rules


def make_net(env: EconeEnv, name: str = "private", ip: str = "10.10.0.1", size: int = 8) -> int:
    text = f'NAME="{name}"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="{ip}",SIZE="{size}"]'
    return int(env.oneadmin.call("one.vn.allocate", text, -1))


SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "192.0.2.0/24"}]}


def test_create_authorize_revoke_describe_delete(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    made = ec2.create_security_group(GroupName="web", Description="web servers")
    gid = made["GroupId"]
    assert gid.startswith("sg-")
    # A new group lets everything out, as AWS's VPC groups do.
    assert one_rules(econe_env, gid) == [{"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND"}]

    ec2.authorize_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            SSH,
            {"IpProtocol": "udp", "FromPort": 1000, "ToPort": 2000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.5/32"}]},
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/112"}]},
        ],
    )
    rules = one_rules(econe_env, gid)
    assert {
        "PROTOCOL": "TCP",
        "RULE_TYPE": "INBOUND",
        "RANGE": "22",
        "IP": "192.0.2.0",
        "SIZE": "256",
    } in rules
    assert {"PROTOCOL": "UDP", "RULE_TYPE": "INBOUND", "RANGE": "1000:2000"} in rules
    assert {
        "PROTOCOL": "ICMP",
        "RULE_TYPE": "INBOUND",
        "ICMP_TYPE": "8",
        "IP": "10.0.0.5",
        "SIZE": "1",
    } in rules
    assert {"PROTOCOL": "ALL", "RULE_TYPE": "INBOUND", "IP": "2001:db8::", "SIZE": "65536"} in rules
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[SSH])

    (group,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert group["GroupName"] == "web" and group["Description"] == "web servers"
    assert group["OwnerId"] == str(econe_env.alice.user_id) and group["VpcId"] == "vpc-00000001"
    ingress = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in group["IpPermissions"]}
    assert ingress[("tcp", 22, 22)]["IpRanges"] == [{"CidrIp": "192.0.2.0/24"}]
    assert ingress[("udp", 1000, 2000)]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert ingress[("icmp", 8, -1)]["IpRanges"] == [{"CidrIp": "10.0.0.5/32"}]
    assert ingress[("-1", None, None)]["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/112"}]
    egress = {(p["IpProtocol"], p.get("FromPort")) for p in group["IpPermissionsEgress"]}
    assert egress == {("-1", None), ("tcp", 22)}

    # The same rule twice is InvalidPermission.Duplicate and changes nothing.
    before = one_rules(econe_env, gid)
    assert code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[SSH]) == (
        "InvalidPermission.Duplicate"
    )
    assert one_rules(econe_env, gid) == before
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[SSH])
    assert code_of(ec2.revoke_security_group_ingress, GroupId=gid, IpPermissions=[SSH]) == (
        "InvalidPermission.NotFound"
    )
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[SSH])
    # The flat EC2-Classic form and a GroupName.
    ec2.authorize_security_group_ingress(
        GroupName="web", IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0"
    )
    assert {"PROTOCOL": "TCP", "RULE_TYPE": "INBOUND", "RANGE": "80"} in one_rules(econe_env, gid)

    names = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert sorted(names) == ["default", "web"]  # the default group is made on first use
    found = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.from-port", "Values": ["80"]}])
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [gid]
    assert ec2.describe_security_groups(GroupNames=["web"])["SecurityGroups"][0]["GroupId"] == gid
    assert ec2.delete_security_group(GroupId=gid)["Return"] is True
    assert code_of(ec2.describe_security_groups, GroupIds=[gid]) == "InvalidGroup.NotFound"


def test_errors_change_nothing(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    gid = ec2.create_security_group(GroupName="g", Description="d")["GroupId"]
    before = one_rules(econe_env, gid)
    refused: list[dict[str, Any]] = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": gid}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": "pl-1"}]},
        {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "sctp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/64"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2},
    ]
    for perm in refused:
        # A good permission next to the bad one is not stored either.
        assert code_of(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[SSH, perm]) == (
            "InvalidParameterValue"
        ), perm
    assert (
        code_of(
            ec2.authorize_security_group_ingress,
            GroupId=gid,
            IpPermissions=[{**SSH, "IpRanges": [{"CidrIp": "1.2.3"}]}],
        )
        == "InvalidParameterValue"
    )
    assert one_rules(econe_env, gid) == before

    assert code_of(ec2.create_security_group, GroupName="g", Description="again") == "InvalidGroup.Duplicate"
    assert code_of(ec2.create_security_group, GroupName="default", Description="x") == "InvalidGroup.Reserved"
    assert code_of(ec2.create_security_group, GroupName="a:b", Description="x") == "InvalidParameterValue"
    assert code_of(ec2.create_security_group, GroupName="v", Description="x", VpcId="vpc-0badbad0") == (
        "InvalidVpcID.NotFound"
    )
    assert code_of(ec2.describe_security_groups, GroupIds=["sg-00099999"]) == "InvalidGroup.NotFound"
    assert code_of(ec2.describe_security_groups, GroupIds=["nope"]) == "InvalidGroupId.Malformed"
    assert code_of(ec2.describe_security_groups, GroupNames=["nope"]) == "InvalidGroup.NotFound"
    assert code_of(ec2.delete_security_group, GroupName="nope") == "InvalidGroup.NotFound"
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    assert code_of(ec2.delete_security_group, GroupId=default) == "CannotDelete"
    assert sorted(g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]) == [
        "default",
        "g",
    ]

    # Another user's group does not exist for bob, whatever he tries.
    bob = econe_env.client("bob")
    assert code_of(bob.describe_security_groups, GroupIds=[gid]) == "InvalidGroup.NotFound"
    assert code_of(bob.delete_security_group, GroupId=gid) == "InvalidGroup.NotFound"
    assert (
        code_of(bob.authorize_security_group_ingress, GroupId=gid, IpPermissions=[SSH])
        == "InvalidGroup.NotFound"
    )
    assert [g["GroupName"] for g in bob.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert one_rules(econe_env, gid) == before


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("x", 'd" ]\nRULE = [ PROTOCOL = "ALL", RULE_TYPE = "INBOUND" ]\nX = "'),
        ("y", 'd"\nRULE=[PROTOCOL=ALL,RULE_TYPE=INBOUND]'),
        ('n" RULE=[PROTOCOL=ALL', "d"),
        ("z", "ends with backslash\\"),
    ],
)
def test_hostile_names_and_descriptions_add_no_rules(
    econe_env: EconeEnv, name: str, description: str
) -> None:
    ec2 = econe_env.client()
    try:
        gid = ec2.create_security_group(GroupName=name, Description=description)["GroupId"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidParameterValue"
        pool = econe_env.oneadmin.secgrouppool_info(-2, -1, -1)
        assert [g.name for g in pool] == ["default"]  # nothing was made
        return
    group = econe_env.oneadmin.secgroup_info(int(gid[3:]))
    assert group.template.get("DESCRIPTION") == description
    assert group.rules == [{"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND"}]


def test_rule_fields_cannot_inject(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    gid = ec2.create_security_group(GroupName="r", Description="d")["GroupId"]
    evil = '0.0.0.0/0" ]\nRULE=[PROTOCOL="ALL",RULE_TYPE="INBOUND"'
    assert (
        code_of(
            ec2.authorize_security_group_ingress,
            GroupId=gid,
            IpPermissions=[{**SSH, "IpRanges": [{"CidrIp": evil}]}],
        )
        == "InvalidParameterValue"
    )
    assert (
        code_of(
            ec2.authorize_security_group_ingress,
            GroupId=gid,
            IpPermissions=[{**SSH, "IpProtocol": 'tcp",RULE_TYPE="OUTBOUND'}],
        )
        == "InvalidParameterValue"
    )
    assert one_rules(econe_env, gid) == [{"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND"}]


def test_run_instances_with_groups_and_group_set(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    net = make_net(env)
    ec2 = env.client()
    web = ec2.create_security_group(GroupName="web", Description="w")["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="d")["GroupId"]
    run = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}",
        MinCount=1,
        MaxCount=1,
        SubnetId=f"subnet-{net:08d}",
        SecurityGroupIds=[web],
    )
    (inst,) = run["Instances"]
    vm = env.oneadmin.vm_info(int(inst["InstanceId"][2:]))
    assert vm.template.vectors("NIC")[0]["SECURITY_GROUPS"] == f"0,{int(web[3:])}"
    assert inst["SecurityGroups"] == [{"GroupName": "web", "GroupId": web}]
    assert run["Groups"] == [{"GroupName": "web", "GroupId": web}]  # the reservation lists them too
    by_group = ec2.describe_instances(Filters=[{"Name": "instance.group-id", "Values": [web]}])[
        "Reservations"
    ]
    assert [i["InstanceId"] for r in by_group for i in r["Instances"]] == [inst["InstanceId"]]
    (reservation,) = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"]
    assert reservation["Groups"] == [{"GroupName": "web", "GroupId": web}]
    assert code_of(ec2.delete_security_group, GroupId=web) == "DependencyViolation"
    # By name, through the template's own NIC when no subnet is named: the default group otherwise.
    by_name = ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{net:08d}",
                                SecurityGroups=["db"])  # fmt: skip
    assert by_name["Instances"][0]["SecurityGroups"] == [{"GroupName": "db", "GroupId": db}]
    plain = ec2.run_instances(
        ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SubnetId=f"subnet-{net:08d}"
    )
    assert [g["GroupName"] for g in plain["Instances"][0]["SecurityGroups"]] == ["default"]
    assert code_of(
        ec2.run_instances, ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, SecurityGroupIds=["sg-00099999"],
        SubnetId=f"subnet-{net:08d}",
    ) == "InvalidGroup.NotFound"  # fmt: skip

    # ModifyInstanceAttribute groupSet replaces the groups on the instance's NIC.
    ec2.modify_instance_attribute(InstanceId=inst["InstanceId"], Groups=[db])
    attr = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="groupSet")
    assert attr["Groups"] == [{"GroupName": "db", "GroupId": db}]
    vm = env.oneadmin.vm_info(int(inst["InstanceId"][2:]))
    assert vm.template.vectors("NIC")[0]["SECURITY_GROUPS"] == f"0,{int(db[3:])}"
    described = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["SecurityGroups"] == [{"GroupName": "db", "GroupId": db}]
    assert ec2.delete_security_group(GroupId=web)["Return"] is True  # no VM uses it any more


def test_security_group_tags(econe_env: EconeEnv) -> None:
    ec2 = econe_env.client()
    gid = ec2.create_security_group(
        GroupName="t",
        Description="d",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "a"}]}],
    )["GroupId"]
    ec2.create_tags(Resources=[gid], Tags=[{"Key": "Name", "Value": "front"}])
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["front"]}])[
        "SecurityGroups"
    ]
    assert sorted((t["Key"], t["Value"]) for t in group["Tags"]) == [("Name", "front"), ("team", "a")]
    assert {t["ResourceId"] for t in ec2.describe_tags()["Tags"]} == {gid}
