"""The AWS_<NAME> attributes both drivers read from one table, against a real DescribeInstances item."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from moto import mock_aws

from one_drivers.ec2.attributes import IM_ATTRIBUTES, VMM_ATTRIBUTES, aws_attributes

if TYPE_CHECKING:
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import InstanceTypeDef


def test_the_drivers_show_the_same_names_in_the_same_order() -> None:
    vmm = [name for name, _ in VMM_ATTRIBUTES]
    im = [name for name, _ in IM_ATTRIBUTES]
    assert im == [*vmm, "AVAILABILITY_ZONE"]
    assert len(set(im)) == len(im)


def _described() -> InstanceTypeDef:
    ec2: EC2Client = boto3.client("ec2", region_name="us-east-1")
    web = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    ec2.create_key_pair(KeyName="my key")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iid = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        KeyName="my key",
        SecurityGroupIds=[web],
    )["Instances"][0]["InstanceId"]
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def test_a_described_instance_reads_through_both_tables() -> None:
    with mock_aws():
        item = _described()
    groups = item["SecurityGroups"]
    vmm = dict(aws_attributes(item, VMM_ATTRIBUTES))
    im = dict(aws_attributes(item, IM_ATTRIBUTES))
    assert vmm["KEY_NAME"] == im["KEY_NAME"] == "my key"
    assert vmm["INSTANCE_TYPE"] == im["INSTANCE_TYPE"] == "t3.micro"
    assert vmm["IMAGE_ID"] == im["IMAGE_ID"] == item["ImageId"]
    assert vmm["PRIVATE_IP_ADDRESS"] == im["PRIVATE_IP_ADDRESS"] == item["PrivateIpAddress"]
    assert vmm["SECURITY_GROUPS"] == "web" and im["SECURITY_GROUPS"] == groups[0]["GroupId"]
    assert im["AVAILABILITY_ZONE"] == item["Placement"]["AvailabilityZone"] and "AVAILABILITY_ZONE" not in vmm


def test_empty_and_missing_values_are_left_out() -> None:
    item: InstanceTypeDef = {"KeyName": "", "SecurityGroups": [], "Placement": {}, "ImageId": "ami-1"}
    assert aws_attributes(item, IM_ATTRIBUTES) == [("IMAGE_ID", "ami-1")]
    assert aws_attributes(item, VMM_ATTRIBUTES) == [("IMAGE_ID", "ami-1")]
    named: InstanceTypeDef = {"SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2", "GroupName": "db"}]}
    assert aws_attributes(named, VMM_ATTRIBUTES) == [("SECURITY_GROUPS", "sg-1,db")]
    assert aws_attributes(named, IM_ATTRIBUTES) == [("SECURITY_GROUPS", "sg-1,sg-2")]
