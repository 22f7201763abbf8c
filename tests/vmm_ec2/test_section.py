"""The EC2 section -> RunInstances mapping, attribute by attribute (spec §4.1)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from one_drivers.one.driver_docs import VmDocument, parse_action_data
from one_drivers.vmm_ec2 import section as s
from one_drivers.vmm_ec2.section import SectionError
from tests.vmm_ec2.vmdocs import action_data


def vm_with(user_template: str, top: str = "") -> VmDocument:
    return parse_action_data(
        f"<VM><ID>4</ID><TEMPLATE>{top}</TEMPLATE><USER_TEMPLATE>{user_template}</USER_TEMPLATE></VM>"
    ).vm


def plan(**section: str) -> s.LaunchPlan:
    return s.plan_launch({"AMI": "ami-1", **section}, vm_id=4, token="one-4-1-0")


def test_recorded_vm_document_gets_its_section(real_dir: Path) -> None:
    vm = parse_action_data(action_data(real_dir)).vm
    section = s.select_section(vm, "EC2HOST")
    assert section["AMI"] == "ami-12c6146b" and section["TYPE"] == "ec2"
    context = vm.context()
    assert context["SSH_PUBLIC_KEY"] == "ssh-ed25519 AAAAtest user@test"
    assert context["ETH0_IP"] == "10.0.0.10"


def test_host_matching_is_case_insensitive_and_specific_wins() -> None:
    vm = vm_with(
        "<PUBLIC_CLOUD><TYPE>EC2</TYPE><AMI>ami-any</AMI></PUBLIC_CLOUD>"
        "<PUBLIC_CLOUD><TYPE>ec2</TYPE><HOST>Burst-EU</HOST><AMI>ami-eu</AMI></PUBLIC_CLOUD>"
        "<PUBLIC_CLOUD><TYPE>azure</TYPE><HOST>burst-us</HOST><AMI>ami-az</AMI></PUBLIC_CLOUD>"
    )
    assert s.select_section(vm, "burst-eu")["AMI"] == "ami-eu"
    assert s.select_section(vm, "burst-us")["AMI"] == "ami-any"  # azure section ignored


def test_legacy_ec2_sections() -> None:
    vm = vm_with("<EC2><CLOUD>old</CLOUD><AMI>ami-old</AMI></EC2><EC2><CLOUD>other</CLOUD><AMI>x</AMI></EC2>")
    assert s.select_section(vm, "OLD")["AMI"] == "ami-old"
    v40 = vm_with("", "<EC2><AMI>ami-40</AMI></EC2>")
    assert s.select_section(v40, "h")["AMI"] == "ami-40"
    pre401 = parse_action_data("<TEMPLATE><ID>1</ID><EC2><AMI>ami-t</AMI></EC2></TEMPLATE>").vm
    assert s.select_section(pre401, "h")["AMI"] == "ami-t"


@pytest.mark.parametrize(
    ("user", "attribute"),
    [
        ("", "PUBLIC_CLOUD"),
        ("<PUBLIC_CLOUD><TYPE>ec2</TYPE><HOST>a</HOST><AMI>x</AMI></PUBLIC_CLOUD>", "PUBLIC_CLOUD/HOST"),
        ("<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>x</AMI></PUBLIC_CLOUD>" * 2, "PUBLIC_CLOUD"),
        ("<EC2><CLOUD>a</CLOUD></EC2>", "EC2/HOST"),
    ],
)
def test_no_usable_section(user: str, attribute: str) -> None:
    with pytest.raises(SectionError) as info:
        s.select_section(vm_with(user), "b")
    assert info.value.attribute == attribute
    assert str(info.value).startswith(attribute)


def test_defaults_file_is_applied(tmp_path: Path) -> None:
    shipped = (Path(__file__).resolve().parents[2] / "etc" / "ec2_driver.default").read_text()
    assert s.parse_defaults(shipped) == {"INSTANCETYPE": "m1.small"}
    defaults = s.parse_defaults(
        "<TEMPLATE><EC2><KEYPAIR>gsg</KEYPAIR><INSTANCETYPE>m1.large</INSTANCETYPE><HOST>x</HOST></EC2></TEMPLATE>"
    )
    assert defaults == {"KEYPAIR": "gsg", "INSTANCETYPE": "m1.large"}
    assert s.parse_defaults("<PUBLIC_CLOUD><AMI>ami-d</AMI></PUBLIC_CLOUD>") == {"AMI": "ami-d"}
    assert s.parse_defaults("<TEMPLATE/>") == {}
    merged = s.merge_defaults({"AMI": "ami-1", "INSTANCETYPE": "t3.nano", "TYPE": "ec2"}, defaults)
    assert merged["KEYPAIR"] == "gsg" and merged["INSTANCETYPE"] == "t3.nano"
    assert s.merge_defaults({"AMI": "a"}, {})["INSTANCETYPE"] == "m1.small"


def test_every_attribute_maps() -> None:
    p = plan(
        INSTANCETYPE="t3.micro",
        KEYPAIR="kp",
        SECURITYGROUPS="web, ssh",
        SECURITYGROUPIDS="sg-1,sg-2",
        SUBNETID="subnet-1",
        PRIVATEIP="10.1.2.3",
        AVAILABILITYZONE="us-east-1a",
        PLACEMENTGROUP="pg",
        TENANCY="dedicated",
        AKI="aki-1",
        RAMDISK="ari-1",
        EBS_OPTIMIZED="yes",
        BLOCKDEVICEMAPPING="/dev/sdb=snap-1:20:false:gp3:3000 /dev/sdc=none /dev/sdd=ephemeral0",
        USERDATA="#!/bin/sh\necho hi",
        TAGS="team=burst, env=prod",
        ELASTICIP="203.0.113.7",
        LICENSEPOOL="x",
        AUTHORIZEDPORTS="22",
    )
    params = p.params
    assert params["ImageId"] == "ami-1" and params["MinCount"] == params["MaxCount"] == 1
    assert params["InstanceType"] == "t3.micro" and params["KeyName"] == "kp"
    assert params["SecurityGroups"] == ["web", "ssh"] and params["SecurityGroupIds"] == ["sg-1", "sg-2"]
    assert params["SubnetId"] == "subnet-1" and params["PrivateIpAddress"] == "10.1.2.3"
    assert params["Placement"] == {
        "AvailabilityZone": "us-east-1a",
        "GroupName": "pg",
        "Tenancy": "dedicated",
    }
    assert params["KernelId"] == "aki-1" and params["RamdiskId"] == "ari-1"
    assert params["EbsOptimized"] is True
    assert params["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/sdb",
            "Ebs": {
                "SnapshotId": "snap-1",
                "VolumeSize": 20,
                "DeleteOnTermination": False,
                "VolumeType": "gp3",
                "Iops": 3000,
            },
        },
        {"DeviceName": "/dev/sdc", "NoDevice": ""},
        {"DeviceName": "/dev/sdd", "VirtualName": "ephemeral0"},
    ]
    assert params["UserData"] == "#!/bin/sh\necho hi"  # verbatim: boto3 encodes it
    tags = params["TagSpecifications"][0]["Tags"]
    assert {"Key": "team", "Value": "burst"} in tags and {"Key": "env", "Value": "prod"} in tags
    assert {"Key": "ONE_ID", "Value": "4"} in tags
    assert {"Key": "ONE_DEPLOY_TOKEN", "Value": "one-4-1-0"} in tags
    assert params["ClientToken"] == "one-4-1-0"
    assert p.elastic_ip == "203.0.113.7"
    assert len(p.notes) == 2


def test_user_client_token_wins_and_one_id_cannot_be_spoofed() -> None:
    p = plan(CLIENTTOKEN="mine", TAGS="ONE_ID=99,x=y")
    assert p.params["ClientToken"] == "mine"
    tags = p.params["TagSpecifications"][0]["Tags"]
    assert [t["Value"] for t in tags if t["Key"] == "ONE_ID"] == ["4"]


@pytest.mark.parametrize(
    ("section", "attribute"),
    [
        ({"AMI": ""}, "AMI"),
        ({"EBS_OPTIMIZED": "maybe"}, "EBS_OPTIMIZED"),
        ({"BLOCKDEVICEMAPPING": "sdb"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=snap-1:big"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=vol-1:10"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=::true"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=snap-1:10:maybe"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=snap-1:10:true:gp2:fast"}, "BLOCKDEVICEMAPPING"),
        ({"BLOCKDEVICEMAPPING": "/dev/sdb=a:1:true:gp2:1:extra"}, "BLOCKDEVICEMAPPING"),
        ({"TAGS": "novalue"}, "TAGS"),
        ({"TAGS": "=v"}, "TAGS"),
        ({"PRIVATEIP": "10.0.0.300"}, "PRIVATEIP"),
        ({"ELASTICIP": "my-ip"}, "ELASTICIP"),
        ({"CLOUD_INIT": "perhaps"}, "CLOUD_INIT"),
    ],
)
def test_bad_attributes_are_named(section: dict[str, str], attribute: str) -> None:
    merged = {"AMI": "ami-1", **section}
    with pytest.raises(SectionError) as info:
        s.plan_launch(merged, vm_id=1, token="t")
    assert info.value.attribute == attribute


def test_elastic_ip_forms() -> None:
    assert s.elastic_ip_params("198.51.100.1") == {"PublicIp": "198.51.100.1"}
    assert s.elastic_ip_params("eipalloc-123") == {"AllocationId": "eipalloc-123"}


def test_context_user_data_key_value_lines() -> None:
    context = {"ETH0_IP": "10.0.0.10", "SSH_PUBLIC_KEY": 'ssh-ed25519 AAA "q"', "TOKEN": "YES"}
    p = s.plan_launch({"AMI": "a"}, vm_id=1, token="t", context=context, onegate_token="tok123")
    assert p.params["UserData"] == (
        'ETH0_IP="10.0.0.10"\nSSH_PUBLIC_KEY="ssh-ed25519 AAA \\"q\\""\nTOKEN="YES"\nONEGATE_TOKEN="tok123"\n'
    )
    # never base64 here: boto3 does it once
    assert not p.params["UserData"].startswith(base64.b64encode(b"ETH0").decode())


def test_context_cloud_init() -> None:
    context = {"SSH_PUBLIC_KEY": "ssh-ed25519 A a@b\nssh-rsa B c@d", "SET_HOSTNAME": "burst1"}
    p = s.plan_launch({"AMI": "a", "CLOUD_INIT": "yes"}, vm_id=1, token="t", context=context)
    text = p.params["UserData"]
    assert text.startswith("#cloud-config\n")
    assert yaml.safe_load(text) == {
        "ssh_authorized_keys": ["ssh-ed25519 A a@b", "ssh-rsa B c@d"],
        "hostname": "burst1",
    }
    assert "UserData" not in s.plan_launch({"AMI": "a"}, vm_id=1, token="t").params


def test_deploy_token_is_stable_and_distinct() -> None:
    assert s.deploy_token(5, "1795306730", 0) == s.deploy_token(5, "1795306730", 0)
    tokens = {s.deploy_token(5, "1795306730", n) for n in range(3)} | {s.deploy_token(5, "1795306731", 0)}
    assert len(tokens) == 4
    assert all(len(t) <= 64 for t in tokens)


def test_full_plan_is_valid_for_botocore_run_instances() -> None:
    """botocore's own model is the oracle for the parameter shapes we build."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("ec2")
    shape = model.operation_model("RunInstances").input_shape
    p = plan(
        INSTANCETYPE="t3.micro",
        KEYPAIR="kp",
        SECURITYGROUPS="web,ssh",
        SECURITYGROUPIDS="sg-1",
        SUBNETID="subnet-1",
        PRIVATEIP="10.1.2.3",
        AVAILABILITYZONE="us-east-1a",
        PLACEMENTGROUP="pg",
        TENANCY="default",
        AKI="aki-1",
        RAMDISK="ari-1",
        EBS_OPTIMIZED="no",
        BLOCKDEVICEMAPPING="/dev/sdb=snap-1:20:true:io1:3000 /dev/sdc=none /dev/sdd=ephemeral0 /dev/sde=:8",
        USERDATA="hello",
        TAGS="a=b",
    )
    report = ParamValidator().validate(p.params, shape)
    assert not report.has_errors(), report.generate_report()
