"""Round trips through botocore: its serializer -> our parse_request, our render_response -> its parser."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from one_drivers.query.errors import Ec2Error
from one_drivers.query.model import action_names, operation_model
from one_drivers.query.parse import parse_request
from one_drivers.query.render import render_response
from tests.query.generate import prune_empty, value_for
from tests.query.oracle import botocore_parse, botocore_query

ECONE_ACTIONS = [
    "RunInstances",
    "DescribeInstances",
    "TerminateInstances",
    "StartInstances",
    "StopInstances",
    "RebootInstances",
    "DescribeImages",
    "RegisterImage",
    "DeregisterImage",
    "DescribeInstanceTypes",
    "DescribeRegions",
    "DescribeAvailabilityZones",
    "DescribeAccountAttributes",
    "CreateVolume",
    "DeleteVolume",
    "DescribeVolumes",
    "AttachVolume",
    "DetachVolume",
    "CreateSnapshot",
    "DescribeSnapshots",
    "CreateKeyPair",
    "ImportKeyPair",
    "DescribeKeyPairs",
    "DeleteKeyPair",
    "AllocateAddress",
    "AssociateAddress",
    "DisassociateAddress",
    "ReleaseAddress",
    "DescribeAddresses",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
    "CreateImage",
]


def test_econe_actions_are_modelled() -> None:
    assert set(ECONE_ACTIONS) <= action_names()


def _check_input(action: str, params: dict[str, Any]) -> None:
    query = botocore_query(action, params)
    try:
        parsed = parse_request(action, query)
    except Ec2Error as exc:
        # Only legitimate when botocore itself sent nothing for a required member (an empty list/struct).
        assert exc.code == "MissingParameter", exc
        missing = exc.message.rsplit(" ", 1)[-1]
        assert not any(key == missing or key.startswith(missing + ".") for key in query), exc
        return
    assert parsed == prune_empty(params)


def _check_output(action: str, result: dict[str, Any]) -> None:
    body = render_response(action, result, "req-1", "2016-11-15")
    parsed = botocore_parse(action, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert parsed == result


def _sweep(actions: list[str], seed: int, output: bool) -> int:
    checked = 0
    for action in actions:
        model = operation_model(action)
        shape = model.output_shape if output else model.input_shape
        if shape is None:
            continue
        rnd = random.Random(f"{seed}:{action}")
        value = value_for(shape, rnd, output=output)
        if output:
            _check_output(action, value)
        else:
            _check_input(action, value)
        checked += 1
    return checked


@pytest.mark.parametrize("seed", range(5))
def test_every_operation_input_round_trips(seed: int) -> None:
    assert _sweep(sorted(action_names()), seed, output=False) > 700


@pytest.mark.parametrize("seed", range(5))
def test_every_operation_output_round_trips(seed: int) -> None:
    assert _sweep(sorted(action_names()), seed, output=True) > 700


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action=st.sampled_from(ECONE_ACTIONS), rnd=st.randoms(use_true_random=False))
def test_econe_inputs_round_trip(action: str, rnd: random.Random) -> None:
    shape = operation_model(action).input_shape
    if shape is not None:
        _check_input(action, value_for(shape, rnd, output=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action=st.sampled_from(ECONE_ACTIONS), rnd=st.randoms(use_true_random=False))
def test_econe_outputs_round_trip(action: str, rnd: random.Random) -> None:
    shape = operation_model(action).output_shape
    if shape is not None:
        _check_output(action, value_for(shape, rnd, output=True))


def test_run_instances_as_boto3_sends_it() -> None:
    params = {
        "ImageId": "ami-00000003",
        "MinCount": 1,
        "MaxCount": 2,
        "InstanceType": "small",  # an OpenNebula-named type: not in the model's enum, still accepted
        "KeyName": "my key",
        "UserData": "IyEvYmluL3NoCmVjaG8gaGk=",
        "Placement": {"AvailabilityZone": "opennebula"},
        "ClientToken": "tok-1",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}
        ],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": 'a"]\nRAW=x'}]}],
        "DryRun": False,
    }
    query = botocore_query("RunInstances", params)
    assert query["BlockDeviceMapping.1.Ebs.VolumeSize"] == "8"
    assert query["TagSpecification.1.Tag.1.Value"] == 'a"]\nRAW=x'
    assert parse_request("RunInstances", query) == params


def test_describe_instances_renders_like_aws() -> None:
    launch = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    result = {
        "Reservations": [
            {
                "ReservationId": "r-00000007",
                "OwnerId": "oneadmin",
                "Groups": [],
                "Instances": [
                    {
                        "InstanceId": "i-00000007",
                        "ImageId": "ami-00000001",
                        "State": {"Code": 16, "Name": "running"},
                        "LaunchTime": launch,
                        "Tags": [{"Key": "Name", "Value": "<web & db>"}],
                        "EbsOptimized": False,
                        "AmiLaunchIndex": 0,
                    }
                ],
            }
        ]
    }
    body = render_response("DescribeInstances", result, "rid-7", "2014-10-01")
    text = body.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse ')
    assert text.count("<?xml") == 1
    assert 'xmlns="http://ec2.amazonaws.com/doc/2014-10-01/"' in text
    assert text.index("<requestId>rid-7</requestId>") < text.index("<reservationSet>")
    assert "<instancesSet><item><instanceId>i-00000007</instanceId>" in text
    assert "<instanceState><code>16</code><name>running</name></instanceState>" in text
    assert "<launchTime>2024-05-01T12:00:00.123Z</launchTime>" in text
    assert "<ebsOptimized>false</ebsOptimized>" in text
    assert "<groupSet></groupSet>" in text
    assert "&lt;web &amp; db&gt;" in text
    parsed = botocore_parse("DescribeInstances", body)
    parsed.pop("ResponseMetadata")
    assert parsed == result
