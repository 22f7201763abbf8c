"""The one place that classifies EC2 failures for the drivers (VMM actions and IM monitoring).

botocore raises `ClientError` with an EC2 code string (EC2's model declares no error shapes) or a
transport exception. `classify(exc)` maps both to an `ErrorKind`; `describe(exc)` gives the one-line
text a FAILURE reply carries. ec2/retries.py already retried THROTTLED/TRANSIENT before we see them, and
gave error answers that are not EC2's XML (HTML, plain text) a code for their HTTP status.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorKind(enum.Enum):
    THROTTLED = "throttled"  # rate limited: retry later with backoff
    TRANSIENT = "transient"  # the endpoint failed this request (5xx, capacity): retry later
    UNAVAILABLE = "unavailable"  # cannot reach the endpoint at all (connection, DNS, timeout)
    NOT_FOUND = "not-found"  # the referenced instance / address does not exist (any more)
    FATAL = "fatal"  # the request is wrong (bad AMI, auth, quota, parameters): retrying will not help


THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientCapacity",
        "RequestTimeout",
        "RequestTimeoutException",
        "IdempotentParameterMismatch.InProgress",
    }
)
# Instance ids that do not exist or cannot exist (e.g. a dummy driver's "host:vm:dummy" id).
NOT_FOUND_CODES = frozenset(
    {
        "InvalidInstanceID.NotFound",
        "InvalidInstanceID.Malformed",
        "InvalidInstanceID",
        "InvalidAllocationID.NotFound",
        "InvalidAssociationID.NotFound",
        "InvalidAddress.NotFound",
    }
)

# The endpoint refused the keys themselves (unknown key id, wrong secret, signature mismatch).
AUTH_CODES = frozenset(
    {
        "AuthFailure",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)


def _response(exc: BaseException) -> dict[str, Any] | None:
    """The parsed answer a botocore ClientError carries (None for any other exception)."""
    response: Any = getattr(exc, "response", None)
    return response if isinstance(response, dict) else None


def error_code(exc: BaseException) -> str:
    """The EC2 error code of a botocore ClientError, else the exception's class name."""
    response = _response(exc)
    if response is not None:
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def _http_status(exc: BaseException) -> int:
    response = _response(exc)
    if response is not None:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return 0


def classify(exc: BaseException) -> ErrorKind:
    """Classify any exception raised by a boto3 EC2 call."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in THROTTLING_CODES or _http_status(exc) == 429:
            return ErrorKind.THROTTLED
        if code in TRANSIENT_CODES or _http_status(exc) >= 500:
            return ErrorKind.TRANSIENT
        if code in NOT_FOUND_CODES:
            return ErrorKind.NOT_FOUND
        return ErrorKind.FATAL
    # EndpointConnectionError, ConnectTimeoutError and ReadTimeoutError are ConnectionError subclasses.
    if isinstance(exc, ConnectionError | HTTPClientError | TimeoutError | OSError):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.FATAL


def describe(exc: BaseException) -> str:
    """One line for a FAILURE reply: `<Code>: <message>` (never includes credentials)."""
    response = _response(exc)
    if response is not None and "Error" in response:
        message = str(response["Error"].get("Message") or "").strip()
        return f"{error_code(exc)}: {message}" if message else error_code(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    return classify(exc) is ErrorKind.NOT_FOUND
