"""CreateTags / DeleteTags / DescribeTags through boto3 against econe on the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from one_drivers.econe.actions.tagging import TAG_KEYS_VECTOR, TAGS_VECTOR, kind_for_id, taggable_kinds
from one_drivers.econe.actions.tags import _kinds
from one_drivers.query.errors import Ec2Error
from tests.econe.actions.seed import Seed, error_code, seed
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def run_one(env: EconeEnv, s: Seed, user: str = "alice") -> str:
    if user != "alice":  # alice's m1.small template, usable by everyone
        env.oneadmin.call("one.template.chmod", s.small, -1, -1, -1, -1, -1, -1, 1, -1, -1)
    ec2 = env.client(user)
    return str(
        ec2.run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    )


def tag_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in result["Tags"]]


def test_every_family_registers_its_kind() -> None:
    kinds = _kinds()
    assert {"i", "ami"} <= set(kinds)
    assert kinds["i"].resource_type == "instance" and kinds["ami"].resource_type == "image"
    assert taggable_kinds() == kinds
    with pytest.raises(Ec2Error) as err:
        kind_for_id("foo-123")
    assert err.value.code == "InvalidID"


def test_create_describe_delete_on_instances_and_images(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    vm = run_one(env, s)
    ec2.create_tags(Resources=[vm], Tags=[{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "a b"}])
    ec2.create_tags(Resources=[vm], Tags=[{"Key": "NAME", "Value": "upper"}, {"Key": "team", "Value": "c"}])
    # Original key case kept, and `Name` and `NAME` are two tags, as on EC2.
    described = ec2.describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in described) == [
        ("NAME", "upper"),
        ("Name", "web"),
        ("team", "c"),
    ]
    assert tag_rows(ec2.describe_tags()) == [
        (vm, "instance", "NAME", "upper"),
        (vm, "instance", "Name", "web"),
        (vm, "instance", "team", "c"),
    ]
    flt = [{"Name": "key", "Values": ["Na*"]}, {"Name": "resource-type", "Values": ["instance"]}]
    assert tag_rows(ec2.describe_tags(Filters=flt)) == [(vm, "instance", "Name", "web")]
    assert tag_rows(ec2.describe_tags(Filters=[{"Name": "value", "Values": ["c"]}])) == [
        (vm, "instance", "team", "c")
    ]
    assert tag_rows(ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vm]}]))[0][0] == vm
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": ["i-99999999"]}])["Tags"] == []
    assert ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["image"]}])["Tags"] == []
    assert ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["web"]}])["Reservations"]
    assert ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["team"]}])["Reservations"]
    assert not ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["db"]}])["Reservations"]

    # DeleteTags: value-matched when a value is given; a key alone deletes whatever the value.
    ec2.delete_tags(Resources=[vm], Tags=[{"Key": "team", "Value": "not-c"}])
    assert len(ec2.describe_tags()["Tags"]) == 3
    ec2.delete_tags(Resources=[vm], Tags=[{"Key": "team", "Value": "c"}, {"Key": "NAME"}])
    assert tag_rows(ec2.describe_tags()) == [(vm, "instance", "Name", "web")]
    ec2.delete_tags(Resources=[vm])  # no Tag.N: all of them
    assert ec2.describe_tags()["Tags"] == []
    stored = env.oneadmin.vm_info(int(vm[2:])).user_template
    assert not stored.vectors(TAGS_VECTOR) and not stored.vectors(TAG_KEYS_VECTOR)

    # An AMI the user owns can be tagged; DescribeImages shows it and filters on it.
    own = env.alice.one.image_allocate("NAME = mine\nPATH = /var/tmp/m.img\nEC2_AMI = YES\n", 1)
    ami = f"ami-{own:08d}"
    ec2.create_tags(Resources=[ami, vm], Tags=[{"Key": "env", "Value": "prod"}])
    assert sorted(tag_rows(ec2.describe_tags())) == [
        (ami, "image", "env", "prod"),
        (vm, "instance", "env", "prod"),
    ]
    images = ec2.describe_images(Filters=[{"Name": "tag:env", "Values": ["prod"]}])["Images"]
    assert [i["ImageId"] for i in images] == [ami] and images[0]["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_describe_tags_pages(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    vm = run_one(env, s)
    ec2.create_tags(Resources=[vm], Tags=[{"Key": f"k{n:02d}", "Value": str(n)} for n in range(12)])
    first = ec2.describe_tags(MaxResults=5)
    assert [t["Key"] for t in first["Tags"]] == ["k00", "k01", "k02", "k03", "k04"]
    keys = [t["Key"] for t in first["Tags"]]
    token = first.get("NextToken")
    while token:
        page = ec2.describe_tags(MaxResults=5, NextToken=token)
        keys += [t["Key"] for t in page["Tags"]]
        token = page.get("NextToken")
    assert keys == [f"k{n:02d}" for n in range(12)]
    paginator = ec2.get_paginator("describe_tags")
    assert sum(len(p["Tags"]) for p in paginator.paginate(PaginationConfig={"PageSize": 5})) == 12
    assert error_code(ec2.describe_tags, MaxResults=4) == "InvalidParameterValue"
    assert error_code(ec2.describe_tags, NextToken="junk") == "InvalidParameterValue"
    assert (
        error_code(ec2.describe_tags, Filters=[{"Name": "owner", "Values": ["x"]}]) == "InvalidParameterValue"
    )


def test_tag_errors_change_nothing(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    vm = run_one(env, s)
    bobs = run_one(env, s, "bob")
    ec2.create_tags(Resources=[vm], Tags=[{"Key": "keep", "Value": "1"}])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Resources": [vm], "Tags": [{"Key": "k" * 129, "Value": "v"}]}, "InvalidParameterValue"),
        ({"Resources": [vm], "Tags": [{"Key": "k", "Value": "v" * 257}]}, "InvalidParameterValue"),
        ({"Resources": [vm], "Tags": [{"Key": "aws:owner", "Value": "v"}]}, "InvalidParameterValue"),
        ({"Resources": [vm], "Tags": [{"Key": "", "Value": "v"}]}, "InvalidParameterValue"),
        ({"Resources": [vm], "Tags": [{"Key": f"t{n}", "Value": ""} for n in range(50)]}, "TagLimitExceeded"),
        (
            {"Resources": [vm, "i-99999999"], "Tags": [{"Key": "x", "Value": "y"}]},
            "InvalidInstanceID.NotFound",
        ),
        ({"Resources": [vm, "i-zz"], "Tags": [{"Key": "x", "Value": "y"}]}, "InvalidInstanceID.Malformed"),
        ({"Resources": [vm, "foo-1"], "Tags": [{"Key": "x", "Value": "y"}]}, "InvalidID"),
        ({"Resources": [vm, bobs], "Tags": [{"Key": "x", "Value": "y"}]}, "InvalidInstanceID.NotFound"),
        ({"Resources": [vm, "ami-99999999"], "Tags": [{"Key": "x", "Value": "y"}]}, "InvalidAMIID.NotFound"),
        ({"Resources": [], "Tags": [{"Key": "x", "Value": "y"}]}, "MissingParameter"),
        ({"Resources": [vm], "Tags": []}, "MissingParameter"),
    ]
    for kwargs, code in cases:
        assert error_code(ec2.create_tags, **kwargs) == code, kwargs
    assert error_code(ec2.delete_tags, Resources=[vm], Tags=[{"Key": "aws:x"}]) == "InvalidParameterValue"
    assert error_code(ec2.delete_tags, Resources=[bobs]) == "InvalidInstanceID.NotFound"
    # A public AMI of another user is visible but not the user's to tag.
    assert (
        error_code(ec2.create_tags, Resources=[f"ami-{s.ami:08d}"], Tags=[{"Key": "x"}])
        == "UnauthorizedOperation"
    )
    assert tag_rows(ec2.describe_tags()) == [(vm, "instance", "keep", "1")]
    # bob's tags are not alice's to see.
    env.client("bob").create_tags(Resources=[bobs], Tags=[{"Key": "b", "Value": "1"}])
    assert tag_rows(ec2.describe_tags()) == [(vm, "instance", "keep", "1")]


@pytest.mark.parametrize(
    "key,value",
    [
        ("Name", 'x"\nRAW = [ TYPE = "kvm", DATA = "<x/>" ]\nSCHED_REQUIREMENTS = "ID=0'),
        ('k"] RAW=[A="1', "v"),
        ("line\nSCHED_RANK = 1", "v"),
        ("k", 'a" ] SCHED_REQUIREMENTS = "FALSE" EC2_TAGS = [ X = "1'),
    ],
)
def test_tag_text_cannot_inject_attributes(seeded: tuple[EconeEnv, Seed], key: str, value: str) -> None:
    env, s = seeded
    ec2 = env.client()
    vm = run_one(env, s)
    own = env.alice.one.image_allocate("NAME = inj\nPATH = /var/tmp/i.img\nEC2_AMI = YES\n", 1)
    ami = f"ami-{own:08d}"
    ec2.create_tags(Resources=[vm, ami], Tags=[{"Key": key, "Value": value}])
    assert sorted(tag_rows(ec2.describe_tags())) == [(ami, "image", key, value), (vm, "instance", key, value)]
    user_template = env.oneadmin.vm_info(int(vm[2:])).user_template
    image_template = env.oneadmin.image_info(own).template
    for template in (user_template, image_template):
        names = {name for name, _ in template}
        assert not names & {"RAW", "SCHED_REQUIREMENTS", "SCHED_RANK"}, names
        assert len(template.vectors(TAGS_VECTOR)) == 1
