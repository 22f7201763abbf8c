"""Hostile values at the parse layer: characters XML 1.0 cannot carry and absurd list indexes.

Every value econe accepts travels on in XML (an XML-RPC call to oned, an XML answer); a character XML
cannot carry would fail there as a 500 after the request was half done. parse_request refuses it first,
for every scalar member of every operation in the model, which this file walks exhaustively.
"""

from __future__ import annotations

from collections.abc import Iterator

import botocore.model
import pytest

from one_drivers.query.errors import Ec2Error
from one_drivers.query.model import service_model
from one_drivers.query.parse import _wire_name, parse_request

BAD_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff", "\ud800"]
GOOD_CHARACTERS = ["\t", "\n", "\r", " ", "\x7f", "\u00e9", "\ufffd", "\U0001f642", "\ue000"]
MAX_DEPTH = 4


def scalar_paths(shape: botocore.model.Shape, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(wire path, scalar type) of every scalar member reachable in `shape`, lists taken at index 1."""
    if shape.type_name == "structure" and depth <= MAX_DEPTH:
        assert isinstance(shape, botocore.model.StructureShape)
        for name, member in shape.members.items():
            wire = _wire_name(member, name)
            yield from scalar_paths(member, f"{path}.{wire}" if path else wire, depth + 1)
    elif shape.type_name == "list" and depth <= MAX_DEPTH:
        assert isinstance(shape, botocore.model.ListShape)
        yield from scalar_paths(shape.member, f"{path}.1", depth + 1)
    elif shape.type_name not in ("structure", "list"):
        yield path, shape.type_name


def every_scalar() -> Iterator[tuple[str, str, str]]:
    model = service_model()
    for action in model.operation_names:
        shape = model.operation_model(action).input_shape
        if shape is not None:
            for path, kind in scalar_paths(shape):
                yield action, path, kind


def test_the_walk_covers_the_fields_the_issue_names() -> None:
    paths = {(action, path) for action, path, _ in every_scalar()}
    assert ("CreateTags", "Tag.1.Value") in paths
    assert ("RegisterImage", "Description") in paths
    assert ("RunInstances", "TagSpecification.1.Tag.1.Value") in paths
    assert ("DescribeInstances", "Filter.1.Value.1") in paths
    assert len(paths) > 5000  # 830 operations


def test_a_character_xml_cannot_carry_is_refused_in_every_scalar_of_every_action() -> None:
    refused: dict[str, int] = {}
    for number, (action, path, kind) in enumerate(every_scalar()):
        bad = BAD_CHARACTERS[number % len(BAD_CHARACTERS)]
        with pytest.raises(Ec2Error) as info:
            parse_request(action, {path: f"a{bad}b"})
        assert info.value.code == "InvalidParameterValue", (action, path)
        assert info.value.status == 400
        assert path in info.value.message and bad not in info.value.message
        refused[kind] = refused.get(kind, 0) + 1
    assert refused["string"] > 3000 and refused["integer"] > 100 and refused["boolean"] > 100


@pytest.mark.parametrize("bad", BAD_CHARACTERS)
def test_each_character_xml_forbids_is_named_by_code_point(bad: str) -> None:
    with pytest.raises(Ec2Error) as info:
        parse_request("CreateTags", {"ResourceId.1": "i-1", "Tag.1.Key": "k", "Tag.1.Value": f"x{bad}"})
    assert f"U+{ord(bad):04X} at position 1" in info.value.message


def test_characters_xml_can_carry_pass_unchanged() -> None:
    value = "".join(GOOD_CHARACTERS)
    parsed = parse_request("CreateTags", {"ResourceId.1": "i-1", "Tag.1.Key": "k", "Tag.1.Value": value})
    assert parsed["Tags"] == [{"Key": "k", "Value": value}]


def test_unindexed_list_value_is_checked_too() -> None:
    with pytest.raises(Ec2Error, match="InvalidParameterValue"):
        parse_request("TerminateInstances", {"InstanceId": "i-\x01"})


@pytest.mark.parametrize("digits", [11, 4301, 5000, 100_000])
def test_a_huge_list_index_is_a_400_not_a_crash(digits: int) -> None:
    with pytest.raises(Ec2Error) as info:
        parse_request("DescribeInstances", {"InstanceId." + "9" * digits: "i-1"})
    assert (info.value.code, info.value.status) == ("InvalidParameterValue", 400)
    assert "InstanceId.N" in info.value.message


def test_leading_zeros_do_not_count_and_ten_digits_are_fine() -> None:
    params = {"InstanceId." + "0" * 5000 + "2": "i-2", "InstanceId.9999999999": "i-9", "InstanceId.1": "i-1"}
    assert parse_request("DescribeInstances", params) == {"InstanceIds": ["i-1", "i-2", "i-9"]}


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("DescribeSnapshots", {"Owner.1": "7" * 5000}),
        ("DescribeInstanceStatus", {"NextToken": "9" * 4301}),
        ("DescribeImages", {"Owner.1": "x" + "1" * 4301}),
    ],
)
def test_a_number_too_long_for_int_is_refused_in_any_string(action: str, params: dict[str, str]) -> None:
    # Handlers int() owner ids and page tokens; Python refuses digit strings over 4300 (a 500 then).
    with pytest.raises(Ec2Error) as info:
        parse_request(action, params)
    assert info.value.code == "InvalidParameterValue" and "more than 4300 digits" in info.value.message


def test_long_values_with_shorter_digit_runs_pass() -> None:
    value = ("1" * 4300 + "-") * 3
    assert parse_request("DescribeImages", {"Owner.1": value}) == {"Owners": [value]}
