"""EC2 error classification: every code in every table, transport errors, and the reply text."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from one_drivers.ec2 import errors
from one_drivers.ec2.errors import ErrorKind, classify


def client_error(code: str, status: int = 400, message: str = "msg") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "RunInstances",
    )


TABLES = {
    ErrorKind.THROTTLED: errors.THROTTLING_CODES,
    ErrorKind.TRANSIENT: errors.TRANSIENT_CODES,
    ErrorKind.NOT_FOUND: errors.NOT_FOUND_CODES,
}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_is_reachable(kind: ErrorKind) -> None:
    samples = {
        ErrorKind.THROTTLED: client_error("RequestLimitExceeded", 503),
        ErrorKind.TRANSIENT: client_error("SomethingNew", 500),
        ErrorKind.UNAVAILABLE: EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ErrorKind.NOT_FOUND: client_error("InvalidInstanceID.NotFound"),
        ErrorKind.FATAL: client_error("InvalidAMIID.NotFound"),
    }
    assert classify(samples[kind]) is kind


def test_every_table_code_classifies_to_its_kind() -> None:
    for kind, codes in TABLES.items():
        for code in codes:
            assert classify(client_error(code)) is kind, code
    assert not (errors.THROTTLING_CODES & errors.TRANSIENT_CODES)
    assert not (errors.NOT_FOUND_CODES & (errors.THROTTLING_CODES | errors.TRANSIENT_CODES))


@pytest.mark.parametrize(
    "code", ["AuthFailure", "UnauthorizedOperation", "InstanceLimitExceeded", "InvalidParameterValue"]
)
def test_request_errors_are_fatal(code: str) -> None:
    assert classify(client_error(code)) is ErrorKind.FATAL


def test_transport_errors() -> None:
    assert classify(ConnectTimeoutError(endpoint_url="http://x")) is ErrorKind.UNAVAILABLE
    assert classify(ReadTimeoutError(endpoint_url="http://x")) is ErrorKind.UNAVAILABLE
    assert classify(ConnectionRefusedError()) is ErrorKind.UNAVAILABLE
    assert classify(ValueError("x")) is ErrorKind.FATAL


def test_describe_and_code() -> None:
    exc = client_error("InvalidAMIID.Malformed", message="Invalid id: ami-x")
    assert errors.describe(exc) == "InvalidAMIID.Malformed: Invalid id: ami-x"
    assert errors.error_code(exc) == "InvalidAMIID.Malformed"
    assert errors.describe(client_error("X", message="")) == "X"
    assert errors.describe(ValueError("bad")) == "ValueError: bad"
    assert errors.error_code(ValueError()) == "ValueError"
    assert errors.is_not_found(client_error("InvalidInstanceID.Malformed"))
