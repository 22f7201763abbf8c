"""The EC2 instance-state table both drivers read, against EC2's own definition of the states."""

from __future__ import annotations

import boto3
import botocore.session
from moto import mock_aws

from one_drivers.ec2.states import (
    GONE_STATES,
    LIVE_STATES,
    STATE_CODES,
    STATE_TABLE,
    STOPPED_STATES,
    Ec2State,
    map_state,
)

# The EC2 API reference, InstanceState: "0 : pending, 16 : running, 32 : shutting-down,
# 48 : terminated, 64 : stopping, 80 : stopped".
REFERENCE = {
    0: "pending",
    16: "running",
    32: "shutting-down",
    48: "terminated",
    64: "stopping",
    80: "stopped",
}


def test_codes_and_names_are_the_api_references() -> None:
    assert {state.code: state.value for state in Ec2State} == REFERENCE
    assert set(STATE_CODES) == set(Ec2State)


def test_names_are_botocores_enum() -> None:
    model = botocore.session.get_session().get_service_model("ec2")
    assert {s.value for s in Ec2State} == set(model.shape_for("InstanceStateName").enum)


def test_a_real_endpoint_reports_the_same_codes() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        seen = []
        for step in (None, ec2.stop_instances, ec2.terminate_instances):
            if step is not None:
                step(InstanceIds=[iid])
            state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]
            seen.append((state["Code"] & 0xFF, state["Name"]))
    assert seen == [(Ec2State(name).code, name) for _, name in seen]
    assert [name for _, name in seen] == ["running", "stopped", "terminated"]


def test_state_table_covers_every_ec2_state() -> None:
    assert set(STATE_TABLE) == set(Ec2State)
    for state, mapping in STATE_TABLE.items():
        assert mapping.poll in {"a", "d"}, state
        assert mapping.one_state in {"RUNNING", "POWEROFF"}, state
        # only what runs holds capacity, and only what runs reads as active
        assert mapping.uses_capacity == (mapping.poll == "a") == (mapping.one_state == "RUNNING")
    assert not STATE_TABLE[Ec2State.TERMINATED].alive and not STATE_TABLE[Ec2State.SHUTTING_DOWN].alive
    assert STATE_TABLE[Ec2State.STOPPED].alive
    unknown = map_state("hibernating-someday")
    assert (unknown.poll, unknown.one_state, unknown.uses_capacity) == ("-", "UNKNOWN", False)


def test_live_and_gone_split_the_states() -> None:
    assert LIVE_STATES == ("pending", "running", "stopping", "stopped")
    assert {"shutting-down", "terminated"} == GONE_STATES
    assert set(LIVE_STATES) | GONE_STATES == {s.value for s in Ec2State}
    assert {"stopping", "stopped"} == STOPPED_STATES and set(LIVE_STATES) >= STOPPED_STATES
