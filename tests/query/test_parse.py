"""parse_request edges: types from the shape, required members, enums, list numbering, junk input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from one_drivers.query.errors import Ec2Error
from one_drivers.query.parse import parse_request, required


def error_of(action: str, params: dict[str, str]) -> Ec2Error:
    with pytest.raises(Ec2Error) as info:
        parse_request(action, params)
    return info.value


def test_protocol_and_signing_parameters_are_not_members() -> None:
    params = {
        "Action": "DescribeInstances",
        "Version": "2016-11-15",
        "AWSAccessKeyId": "alice",
        "SignatureVersion": "2",
        "SignatureMethod": "HmacSHA256",
        "Signature": "abc=",
        "Timestamp": "2026-01-01T00:00:00Z",
        "X-Amz-Date": "20260101T000000Z",
        "X-Amz-Signature": "ff",
        "Bogus.1.Thing": "ignored like AWS does",
    }
    assert parse_request("DescribeInstances", params) == {}


def test_list_members_are_ordered_by_number_with_gaps() -> None:
    params = {"InstanceId.10": "i-10", "InstanceId.2": "i-2", "InstanceId.1": "i-1", "InstanceId.x": "junk"}
    assert parse_request("DescribeInstances", params) == {"InstanceIds": ["i-1", "i-2", "i-10"]}


def test_unindexed_single_list_value_from_old_clients() -> None:
    assert parse_request("TerminateInstances", {"InstanceId": "i-00000001"}) == {
        "InstanceIds": ["i-00000001"]
    }


def test_filters_nest() -> None:
    params = {
        "Filter.1.Name": "tag:Name",
        "Filter.1.Value.1": "web",
        "Filter.1.Value.2": "db",
        "Filter.2.Name": "instance-state-name",
        "Filter.2.Value.1": "running",
        "MaxResults": "5",
        "NextToken": "abc",
    }
    assert parse_request("DescribeInstances", params) == {
        "Filters": [
            {"Name": "tag:Name", "Values": ["web", "db"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ],
        "MaxResults": 5,
        "NextToken": "abc",
    }


def test_types_come_from_the_shape_not_the_text() -> None:
    # A string member keeps "0777", "None", "true" exactly; an integer member parses them or refuses.
    parsed = parse_request(
        "RunInstances",
        {"ImageId": "None", "MinCount": "1", "MaxCount": "0002", "KeyName": "0777", "ClientToken": "true"},
    )
    assert parsed == {
        "ImageId": "None",
        "MinCount": 1,
        "MaxCount": 2,
        "KeyName": "0777",
        "ClientToken": "true",
    }


@pytest.mark.parametrize("bad", ["", "1.5", "one", "0x10", "1e3", "99999999999", "--1"])
def test_bad_integers(bad: str) -> None:
    error = error_of("RunInstances", {"ImageId": "ami-1", "MinCount": bad, "MaxCount": "1"})
    assert (error.code, error.status) == ("InvalidParameterValue", 400)
    assert "MinCount" in error.message


def test_booleans() -> None:
    assert parse_request("StopInstances", {"InstanceId.1": "i-1", "Force": "TRUE"})["Force"] is True
    assert parse_request("StopInstances", {"InstanceId.1": "i-1", "Force": "false"})["Force"] is False
    assert error_of("StopInstances", {"InstanceId.1": "i-1", "Force": "yes"}).code == "InvalidParameterValue"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05.000Z",
        "2026-01-02T04:04:05+01:00",
        "2026-01-02T03:04:05",
        "1767323045",
    ],
)
def test_timestamps(text: str) -> None:
    parsed = parse_request("DescribeSpotPriceHistory", {"StartTime": text})
    assert parsed["StartTime"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_bad_timestamp() -> None:
    error = error_of("DescribeSpotPriceHistory", {"StartTime": "yesterday"})
    assert (error.code, "StartTime" in error.message) == ("InvalidParameterValue", True)


def test_blobs_are_base64() -> None:
    parsed = parse_request("ImportKeyPair", {"KeyName": "k", "PublicKeyMaterial": "c3NoLXJzYSBBQUFB"})
    assert parsed == {"KeyName": "k", "PublicKeyMaterial": b"ssh-rsa AAAA"}
    assert error_of("ImportKeyPair", {"KeyName": "k", "PublicKeyMaterial": "not base64!"}).code == (
        "InvalidParameterValue"
    )


def test_required_members() -> None:
    error = error_of("ImportKeyPair", {"KeyName": "k"})
    assert (error.code, error.status) == ("MissingParameter", 400)
    assert "PublicKeyMaterial" in error.message
    assert "InstanceId" in error_of("TerminateInstances", {}).message
    assert error_of("RunInstances", {"ImageId": "ami-1", "MinCount": "1"}).code == "MissingParameter"
    # Required inside an optional structure: only checked when the structure is there.
    error = error_of("CreateSnapshots", {"InstanceSpecification.ExcludeBootVolume": "true"})
    assert (error.code, "InstanceSpecification.InstanceId" in error.message) == ("MissingParameter", True)


def test_enums_are_checked_except_instance_types() -> None:
    error = error_of(
        "DescribeImages", {"Filter.1.Name": "x", "ExecutableBy.1": "x", "IncludeDeprecated": "maybe"}
    )
    assert error.code == "InvalidParameterValue"
    error = error_of(
        "RunInstances",
        {"ImageId": "a", "MinCount": "1", "MaxCount": "1", "TagSpecification.1.ResourceType": "bogus"},
    )
    assert (error.code, "TagSpecification.1.ResourceType" in error.message) == ("InvalidParameterValue", True)
    assert len(error.message) < 300
    run = {"ImageId": "a", "MinCount": "1", "MaxCount": "1", "InstanceType": "opennebula.large"}
    assert parse_request("RunInstances", run)["InstanceType"] == "opennebula.large"
    assert parse_request("DescribeInstanceTypes", {"InstanceType.1": "small"}) == {"InstanceTypes": ["small"]}


def test_unknown_action() -> None:
    error = error_of("DescribeUnicorns", {})
    assert (error.code, error.status) == ("InvalidAction", 400)


def test_user_data_stays_as_received() -> None:
    # boto3 base64-encodes UserData itself; the model says string, so econe stores it as sent.
    parsed = parse_request(
        "RunInstances", {"ImageId": "a", "MinCount": "1", "MaxCount": "1", "UserData": "aGk="}
    )
    assert parsed["UserData"] == "aGk="


NAMES = st.sampled_from(
    [
        "InstanceId.1",
        "InstanceId",
        "MinCount",
        "MaxCount",
        "ImageId",
        "Filter.1.Name",
        "Filter.1.Value.1",
        "Filter.x.Name",
        "Filter.1",
        "BlockDeviceMapping.1.Ebs.VolumeSize",
        "DryRun",
        "MaxResults",
        "UserData",
        "TagSpecification.1.Tag.1.Key",
        "TagSpecification.1.ResourceType",
        "Placement",
        "Placement.Tenancy",
        "Filter.99999999999999999999.Name",
        "InstanceId.0",
        "InstanceId.-1",
        "..",
        "",
        "KeyName",
    ]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from(
        ["RunInstances", "DescribeInstances", "TerminateInstances", "DescribeImages", "CreateTags"]
    ),
    params=st.dictionaries(NAMES, st.text(max_size=20), max_size=8),
)
def test_junk_never_escapes_as_anything_but_a_400(action: str, params: dict[str, str]) -> None:
    try:
        parse_request(action, params)
    except Ec2Error as error:
        assert error.status == 400
        assert error.code in ("MissingParameter", "InvalidParameterValue")


def test_required_gives_the_text_or_missing_parameter() -> None:
    assert required({"VolumeId": "vol-00000001"}, "VolumeId") == "vol-00000001"
    assert required({"Count": 3}, "Count") == "3"
    for params in ({}, {"VolumeId": ""}, {"VolumeId": None}):
        with pytest.raises(Ec2Error) as refused:
            required(params, "VolumeId")
        assert (refused.value.code, refused.value.message) == (
            "MissingParameter",
            "The request must contain the parameter VolumeId",
        )
