"""Render a handler's result with query.render and parse it back with botocore's own EC2 parser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.parsers import create_parser

from one_drivers.query.model import operation_model
from one_drivers.query.render import render_response


def round_trip(action: str, result: Mapping[str, Any], version: str = "2016-11-15") -> dict[str, Any]:
    body = render_response(action, result, "req-1", version)
    shape = operation_model(action).output_shape
    parsed: dict[str, Any] = create_parser("ec2").parse(
        {"body": body, "headers": {}, "status_code": 200}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed
