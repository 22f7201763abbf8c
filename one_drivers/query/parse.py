"""EC2 query parameters -> the dict a boto3 user passes: the inverse of botocore's EC2Serializer.

econe's HTTP layer hands the decoded `Action=...&InstanceId.1=...` pairs here; the operation's input shape
decides every name and type (never the text), required members and enums are checked before a handler
sees anything, and parameters the shape does not know are ignored, as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.model

from one_drivers.query.errors import invalid_parameter_value, missing_parameter
from one_drivers.query.model import operation_model

# Protocol and signing parameters travel next to the input members but are not part of any input shape.
RESERVED_PARAMETERS = frozenset(
    {
        "Action",
        "Version",
        "AWSAccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SecurityToken",
        "Timestamp",
        "Expires",
    }
)
RESERVED_PREFIX = "X-Amz-"

# Enums that must stay open: OpenNebula sites name their own instance types (EC2_INSTANCE_TYPE=small)
# and boto3 does not validate enums client-side, so econe decides on these values, not the model.
OPEN_ENUMS = frozenset({"InstanceType"})

_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
# List indexes are numbers a client counts up from 1; ten digits is far beyond any real list, and a
# bound keeps `int()` clear of Python's limit on converting huge digit strings (a ValueError, i.e. 500).
_MAX_INDEX_DIGITS = 10
# What XML 1.0 cannot carry (C0 controls but TAB/LF/CR, lone surrogates, U+FFFE/U+FFFF): every value
# ends up in an XML-RPC call to oned or in an XML answer, where such a character fails the whole request.
# A run of digits longer than Python converts with int() (4,300 by default): no id, count or token is
# that long, and a handler's int() of it would raise ValueError, i.e. a 500.
_HUGE_NUMBER_DIGITS = (sys.get_int_max_str_digits() or 4300) + 1
_HUGE_NUMBER = re.compile(f"[0-9]{{{_HUGE_NUMBER_DIGITS}}}")
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass
class _Node:
    """One dotted segment of the parameter names: `Filter` -> `1` -> `Value` -> `1`."""

    value: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def parse_request(action: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Decode the query parameters of `action` into its input dict (types from the shape).

    Unknown action -> InvalidAction; a missing required member -> MissingParameter; a value that is not
    of the member's type or enum -> InvalidParameterValue (all 400).
    """
    shape = operation_model(action).input_shape
    if shape is None:
        return {}
    root = _Node()
    for name, value in params.items():
        if name in RESERVED_PARAMETERS or name.startswith(RESERVED_PREFIX):
            continue
        node = root
        for part in name.split("."):
            node = node.children.setdefault(part, _Node())
        node.value = value
    return _parse_structure(shape, root, "")


def required(params: Mapping[str, Any], name: str) -> str:
    """A parameter the model leaves optional but the action cannot do without: its text, or
    MissingParameter when it is absent or empty."""
    value = params.get(name)
    if not value:
        raise missing_parameter(name)
    return str(value)


def _wire_name(member: botocore.model.Shape, member_name: str) -> str:
    # As EC2Serializer: queryName wins, else the locationName with its first letter upper-cased.
    serialization = member.serialization
    if "queryName" in serialization:
        return str(serialization["queryName"])
    if "name" in serialization:
        name = str(serialization["name"])
        return name[:1].upper() + name[1:]
    return member_name


_MEMBER_TABLES: dict[str, list[tuple[str, str, botocore.model.Shape]]] = {}


def _members(shape: botocore.model.StructureShape) -> list[tuple[str, str, botocore.model.Shape]]:
    table = _MEMBER_TABLES.get(shape.name)
    if table is None:
        table = [(name, _wire_name(member, name), member) for name, member in shape.members.items()]
        _MEMBER_TABLES[shape.name] = table
    return table


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parse_structure(shape: botocore.model.StructureShape, node: _Node, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    wire_of: dict[str, str] = {}
    for name, wire, member in _members(shape):
        wire_of[name] = wire
        child = node.children.get(wire)
        if child is None:
            continue
        parsed = _parse(member, child, _join(path, wire))
        if parsed is not _ABSENT:
            result[name] = parsed
    for required in shape.required_members:
        value = result.get(required)
        if value is None or (isinstance(value, list) and not value):
            raise missing_parameter(_join(path, wire_of.get(required, required)))
    return result


class _Absent:
    """A member whose node carries nothing usable (e.g. `ImageId.1=` for a scalar `ImageId`)."""


_ABSENT: Any = _Absent()


def _parse(shape: botocore.model.Shape, node: _Node, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, botocore.model.StructureShape)
        return _parse_structure(shape, node, path)
    if kind == "list":
        assert isinstance(shape, botocore.model.ListShape)
        return _parse_list(shape, node, path)
    if node.value is None:
        return _ABSENT
    return _parse_scalar(shape, node.value, path)


def _parse_list(shape: botocore.model.ListShape, node: _Node, path: str) -> list[Any]:
    member = shape.member
    indexed = [
        (_list_index(key, path), child)
        for key, child in node.children.items()
        if key.isdigit() and key.isascii()
    ]
    if not indexed:
        # Some old clients send a one-element list without its index (`InstanceId=i-1`).
        if node.value and member.type_name not in ("structure", "list"):
            return [_parse_scalar(member, node.value, path)]
        return []
    items = []
    # AWS orders members by their number, not by the order of the parameters; gaps are allowed.
    for index, child in sorted(indexed, key=lambda pair: pair[0]):
        parsed = _parse(member, child, f"{path}.{index}")
        if parsed is not _ABSENT:
            items.append(parsed)
    return items


def _list_index(key: str, path: str) -> int:
    digits = key.lstrip("0") or "0"
    if len(digits) > _MAX_INDEX_DIGITS:
        raise invalid_parameter_value(f"{path}.N", f"list index of {len(digits)} digits is out of range")
    return int(digits)


def check_xml_text(path: str, text: str) -> None:
    """InvalidParameterValue when `text` holds a character XML 1.0 cannot carry (for values outside
    any input shape, such as an extension action's form fields; shaped values are checked here)."""
    bad = _NOT_XML_CHAR.search(text)
    if bad is not None:
        # Said by position and code point: the character itself cannot travel back in the XML error.
        raise invalid_parameter_value(
            path, f"character U+{ord(bad.group()):04X} at position {bad.start()} is not allowed"
        )


def _parse_scalar(shape: botocore.model.Shape, text: str, path: str) -> Any:
    check_xml_text(path, text)
    if len(text) >= _HUGE_NUMBER_DIGITS and _HUGE_NUMBER.search(text):
        raise invalid_parameter_value(path, f"a number of more than {_HUGE_NUMBER_DIGITS - 1} digits")
    converter = _SCALARS.get(shape.type_name)
    if converter is None:  # pragma: no cover - the model has no other scalar types
        raise invalid_parameter_value(path, f"unsupported type {shape.type_name}")
    value = converter(shape, text, path)
    enum = getattr(shape, "enum", None)
    if enum and shape.name not in OPEN_ENUMS and value not in enum:
        allowed = ", ".join(enum[:8]) + (", ..." if len(enum) > 8 else "")
        raise invalid_parameter_value(path, f"'{text}' is not one of {allowed}")
    return value


def _string(shape: botocore.model.Shape, text: str, path: str) -> str:
    return text


def _integer(shape: botocore.model.Shape, text: str, path: str) -> int:
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped):
        raise invalid_parameter_value(path, f"'{text}' is not an integer")
    value = int(stripped)
    low, high = _INT_RANGES[shape.type_name]
    if not low <= value <= high:
        raise invalid_parameter_value(path, f"'{text}' is out of range")
    return value


def _boolean(shape: botocore.model.Shape, text: str, path: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise invalid_parameter_value(path, f"'{text}' is not a boolean (true or false)")


def _float(shape: botocore.model.Shape, text: str, path: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise invalid_parameter_value(path, f"'{text}' is not a number") from None


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (with `Z`, an offset, or none meaning UTC) or epoch seconds -> an aware UTC datetime."""
    stripped = text.strip()
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]+)?", stripped):
        return datetime.fromtimestamp(float(stripped), UTC)
    moment = datetime.fromisoformat(stripped)  # ValueError on anything else
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _timestamp(shape: botocore.model.Shape, text: str, path: str) -> datetime:
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError, OSError):
        raise invalid_parameter_value(path, f"'{text}' is not an ISO 8601 timestamp") from None


def _blob(shape: botocore.model.Shape, text: str, path: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter_value(path, "not valid base64") from None


_SCALARS: dict[str, Callable[[botocore.model.Shape, str, str], Any]] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "float": _float,
    "double": _float,
    "timestamp": _timestamp,
    "blob": _blob,
}
