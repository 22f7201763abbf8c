"""render_response / render_error edges: escaping, namespaces, timestamps, no-output operations, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from one_drivers.query.errors import Ec2Error, internal_error, invalid_action, missing_parameter
from one_drivers.query.render import (
    RenderError,
    format_timestamp,
    render_error,
    render_extension,
    render_response,
)
from tests.query.oracle import botocore_parse


def test_error_document_parsed_by_botocore() -> None:
    error = Ec2Error("InvalidInstanceID.NotFound", "The instance ID 'i-00000009' does not exist")
    body = render_error(error, "req-9")
    assert body.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>'
        "<Message>The instance ID 'i-00000009' does not exist</Message></Error></Errors>"
        "<RequestID>req-9</RequestID></Response>"
    )
    parsed = botocore_parse("DescribeInstances", body, status=400)
    assert parsed["Error"] == {"Code": "InvalidInstanceID.NotFound", "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


@pytest.mark.parametrize("error", [missing_parameter("X"), invalid_action("<x>"), internal_error()])
def test_error_messages_are_escaped(error: Ec2Error) -> None:
    body = render_error(error, "r")
    root = etree.fromstring(body)
    assert root.findtext("Errors/Error/Message") == error.message
    assert root.findtext("Errors/Error/Code") == error.code


def test_control_characters_never_break_the_document() -> None:
    error = Ec2Error("InvalidParameterValue", "bad \x00\x07 value \r\n<&> \ud800 end")
    root = etree.fromstring(render_error(error, "r"))
    assert root.findtext("Errors/Error/Message") == "bad \ufffd\ufffd value \r\n<&> \ufffd end"
    for text in ("non-character \ufffe", "non-character \uffff", "carriage\rreturn", "tab\tand\nnewline"):
        body = render_response("DescribeRegions", {"Regions": [{"RegionName": text}]}, "r", "2016-11-15")
        got = botocore_parse("DescribeRegions", body)["Regions"][0]["RegionName"]
        assert got == text.replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd")


def test_namespace_echoes_the_request_version_safely() -> None:
    body = render_response("DescribeRegions", {"Regions": []}, "r", "2009-04-04")
    assert etree.fromstring(body).tag == "{http://ec2.amazonaws.com/doc/2009-04-04/}DescribeRegionsResponse"
    hostile = render_response("DescribeRegions", {"Regions": []}, "r", '"><x a="')
    assert etree.fromstring(hostile).nsmap[None] == "http://ec2.amazonaws.com/doc/2016-11-15/"


def test_operations_without_output_answer_return_true() -> None:
    for action in ("RebootInstances", "CreateTags", "DeleteTags", "ReleaseAddress", "DeleteVolume"):
        root = etree.fromstring(render_response(action, {}, "r", "2016-11-15"))
        assert [child.tag.split("}")[1] for child in root] == ["requestId", "return"]
        assert root[1].text == "true"
    root = etree.fromstring(render_response("RebootInstances", {"Return": False}, "r", "2016-11-15"))
    assert root[1].text == "false"
    with pytest.raises(RenderError):
        render_response("RebootInstances", {"Instances": []}, "r", "2016-11-15")


def test_unknown_members_and_wrong_types_are_render_errors() -> None:
    with pytest.raises(RenderError, match="Nope"):
        render_response("DescribeRegions", {"Nope": 1}, "r", "2016-11-15")
    with pytest.raises(RenderError):
        render_response("DescribeRegions", {"Regions": [{"RegionName": "x", "Bogus": 1}]}, "r", "2016-11-15")
    with pytest.raises(RenderError):
        render_response("DescribeRegions", {"Regions": [5]}, "r", "2016-11-15")
    with pytest.raises(RenderError, match="needs a list"):
        render_response(
            "DescribeInstances", {"Reservations": [{"Instances": [{"ProductCodes": "abc"}]}]}, "r", "v"
        )
    with pytest.raises(RenderError, match="needs a list"):
        render_response("DescribeRegions", {"Regions": {"RegionName": "x"}}, "r", "2016-11-15")
    with pytest.raises(RenderError):
        render_response(
            "DescribeInstances", {"Reservations": [{"Instances": [{"AmiLaunchIndex": "x"}]}]}, "r", "v"
        )


def test_none_members_are_left_out_and_response_metadata_ignored() -> None:
    body = render_response(
        "DescribeRegions",
        {"Regions": [{"RegionName": "opennebula", "Endpoint": None}], "ResponseMetadata": {"RequestId": "x"}},
        "r",
        "2016-11-15",
    )
    assert b"endpoint" not in body
    assert botocore_parse("DescribeRegions", body)["Regions"] == [{"RegionName": "opennebula"}]


def test_lists_use_the_member_location_name() -> None:
    # Most EC2 output lists are <xSet><item>; a few name their items (e.g. groupId) and must keep that.
    body = render_response(
        "DescribeAccountAttributes",
        {
            "AccountAttributes": [
                {"AttributeName": "supported-platforms", "AttributeValues": [{"AttributeValue": "VPC"}]}
            ]
        },
        "r",
        "2016-11-15",
    ).decode()
    assert (
        "<accountAttributeSet><item><attributeName>supported-platforms</attributeName>"
        "<attributeValueSet><item><attributeValue>VPC</attributeValue></item></attributeValueSet></item>"
    ) in body


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2026-01-02T03:04:05.678Z"),
        (datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1))), "2026-01-02T03:04:05.000Z"),
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000Z"),
        (1795306000, "2026-11-22T00:06:40.000Z"),
        ("2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps(value: object, text: str) -> None:
    assert format_timestamp(value) == text  # type: ignore[arg-type]


def test_big_describe_instances_round_trips() -> None:
    instance = {
        "InstanceId": "i-00000001",
        "State": {"Code": 16, "Name": "running"},
        "Tags": [{"Key": "k", "Value": "v"}],
        "LaunchTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    result = {"Reservations": [{"ReservationId": f"r-{n:08d}", "Instances": [instance]} for n in range(1000)]}
    parsed = botocore_parse(
        "DescribeInstances", render_response("DescribeInstances", result, "r", "2016-11-15")
    )
    parsed.pop("ResponseMetadata")
    assert parsed == result


XML_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\ufffe\uffff"), max_size=30
)


@settings(max_examples=150, deadline=None)
@given(name=XML_TEXT, value=XML_TEXT, key=XML_TEXT)
def test_any_text_survives_or_is_replaced_visibly(name: str, value: str, key: str) -> None:
    result = {
        "Reservations": [
            {
                "Instances": [
                    {"InstanceId": name, "Tags": [{"Key": key, "Value": value}], "EbsOptimized": True}
                ]
            }
        ]
    }
    parsed = botocore_parse(
        "DescribeInstances", render_response("DescribeInstances", result, "r", "2016-11-15")
    )
    got = parsed["Reservations"][0]["Instances"][0]

    def shown(text: str) -> str:
        return "".join("\ufffd" if (ord(c) < 32 and c not in "\t\n\r") else c for c in text)

    assert got["InstanceId"] == shown(name)
    assert got["Tags"] == [{"Key": shown(key), "Value": shown(value)}]


def test_extension_document_is_flat_and_escaped() -> None:
    # The bytes econe's UploadImage has always answered (checked equal to the writer econe/app.py had).
    body = render_extension(
        "UploadImage", {"ImageId": "ami-00000042", "Note": "a<b&c>", "Size": 3}, "r1", "2016-11-15"
    )
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<UploadImageResponse xmlns="http://ec2.amazonaws.com/doc/'
        b'2016-11-15/"><requestId>r1</requestId><imageId>ami-00000042</imageId><note>a&lt;b&amp;c&gt;</note>'
        b"<size>3</size></UploadImageResponse>"
    )
    hostile = render_extension("UploadImage", {"ImageId": "ami-1\x00"}, "r", '"><x a="')
    root = etree.fromstring(hostile)
    assert root.nsmap[None] == "http://ec2.amazonaws.com/doc/2016-11-15/"
    assert root.findtext("{http://ec2.amazonaws.com/doc/2016-11-15/}imageId") == "ami-1\ufffd"
