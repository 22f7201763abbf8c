"""Values XML 1.0 cannot carry, sent to a running econe: a 400 before any OpenNebula call, never a 500.

A tag value "a\\x01b" or an image description "x\\x0cy" used to reach oned's XML-RPC raw and come back
as a 500 (which boto3 retries). Checked here through real boto3 for the fields the issue names, and over
signed raw requests for every string member of every action econe serves.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import botocore.model
import pytest
from botocore.exceptions import ClientError

from one_drivers.econe.actions import all_handlers
from one_drivers.one.states import LcmState, VmState
from one_drivers.query.model import operation_model
from one_drivers.query.parse import _wire_name
from tests.econe import test_fuzz
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env
from tests.econe.sigv2 import send, sign_v2

snapshot = test_fuzz.snapshot  # what a refused request must leave unchanged


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EconeEnv]:
    """A running VM and an image of alice's to aim at, for the module."""
    sim, env = start_econe_env(tmp_path_factory.mktemp("hostile"), user_cache_seconds=3600)
    sim.bulk_vms(1, uid=env.alice.user_id, state=VmState.ACTIVE, lcm=LcmState.RUNNING)
    env.oneadmin.image_allocate('NAME="img"\nTYPE="OS"\nSIZE="8"', 1)
    try:
        yield env
    finally:
        stop_econe_env(sim, env)


def test_tag_value_and_image_description_through_boto3(fuzz_env: EconeEnv) -> None:
    env = fuzz_env
    client = env.client()
    instance = client.describe_instances()["Reservations"][0]["Instances"][0]["InstanceId"]
    before = snapshot(env)
    calls = [
        lambda: client.create_tags(Resources=[instance], Tags=[{"Key": "k", "Value": "a\x01b"}]),
        lambda: client.create_image(InstanceId=instance, Name="name", Description="x\x0cy"),
        lambda: client.register_image(Name="name\ufffe", ImageLocation="/tmp/x"),
        lambda: client.describe_images(Filters=[{"Name": "name", "Values": ["\uffff"]}]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        error = info.value.response
        assert error["Error"]["Code"] == "InvalidParameterValue"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert snapshot(env) == before
    # The same calls with characters XML carries work: the refusal is about the character only.
    assert client.describe_images(Filters=[{"Name": "name", "Values": ["a\tb\u00e9"]}])["Images"] == []


def string_members(action: str) -> list[str]:
    if action == "UploadImage":  # econe's extension, outside the model: its form fields
        return ["Name", "Description"]
    shape = operation_model(action).input_shape
    if shape is None:
        return []
    found = []
    for name, member in shape.members.items():
        wire = _wire_name(member, name)
        if member.type_name == "string":
            found.append(wire)
        elif isinstance(member, botocore.model.ListShape) and member.member.type_name == "string":
            found.append(f"{wire}.1")
    return found


def test_every_string_member_of_every_served_action_is_refused_with_400(fuzz_env: EconeEnv) -> None:
    env = fuzz_env
    alice = env.alice
    netloc = urllib.parse.urlsplit(env.endpoint).netloc
    before = snapshot(env)
    sent = 0
    for action in sorted(all_handlers()):
        for name in string_members(action):
            signed = sign_v2(
                {"Action": action, name: "a\x01b\x0c"}, key=alice.name, secret=alice.secret, host=netloc
            )
            reply = send(env.endpoint, signed)
            assert reply.status == 400, (action, name, reply.body[:300])
            assert reply.xml.findtext("Errors/Error/Code") == "InvalidParameterValue", (action, name)
            sent += 1
    assert sent > 40  # 14 actions today
    assert snapshot(env) == before
