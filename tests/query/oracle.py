"""botocore as the oracle: its EC2Serializer makes our input, its EC2QueryParser reads our output."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import botocore.parsers
import botocore.serialize

from one_drivers.query.model import operation_model

_SERIALIZER = botocore.serialize.create_serializer("ec2", include_validation=False)


def botocore_query(action: str, params: dict[str, Any]) -> dict[str, str]:
    """The decoded form pairs botocore would POST for `client.<action>(**params)`."""
    body = _SERIALIZER.serialize_to_request(params, operation_model(action))["body"]
    # Through the real form encoding and back, as econe's HTTP layer receives them.
    return dict(parse_qsl(urlencode(body), keep_blank_values=True))


def botocore_parse(action: str, body: bytes, status: int = 200) -> dict[str, Any]:
    """What boto3 returns for this response body (ResponseMetadata removed for comparisons)."""
    parser = botocore.parsers.EC2QueryParser()
    parsed: dict[str, Any] = parser.parse(
        {"body": body, "headers": {}, "status_code": status}, operation_model(action).output_shape
    )
    return parsed
