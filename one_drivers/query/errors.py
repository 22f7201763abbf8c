"""Typed EC2 errors: the code string AWS uses and the HTTP status it travels with.

EC2's model has no error shapes, so clients match errors by code; every error raised anywhere in econe
is one of these and is rendered once, by the error renderer, as `Response/Errors/Error` with a 4xx/5xx.
"""

from __future__ import annotations


class Ec2Error(Exception):
    """An EC2 error response: `code` (e.g. `InvalidInstanceID.NotFound`), message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        if not 400 <= status <= 599:
            # An EC2 error must never travel with a 2xx/3xx: clients would take it for success.
            raise ValueError(f"EC2 error {code} needs a 4xx/5xx status, got {status}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def missing_parameter(name: str) -> Ec2Error:
    return Ec2Error("MissingParameter", f"The request must contain the parameter {name}")


def invalid_parameter_value(name: str, detail: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", f"Value for parameter {name} is invalid: {detail}")


def invalid_action(action: str) -> Ec2Error:
    return Ec2Error("InvalidAction", f"The action {action} is not valid for this web service.")


def unsupported_operation(action: str) -> Ec2Error:
    return Ec2Error("UnsupportedOperation", f"The action {action} is not supported by this server.")


def auth_failure(message: str = "AWS was not able to validate the provided access credentials") -> Ec2Error:
    return Ec2Error("AuthFailure", message, 401)


def signature_does_not_match(
    message: str = "The request signature we calculated does not match the signature you provided.",
) -> Ec2Error:
    return Ec2Error("SignatureDoesNotMatch", message, 403)


def request_expired(message: str) -> Ec2Error:
    # AWS's code for a request outside its time window (expired, too old, or dated in the future);
    # botocore knows it as a clock-skew error and can correct its clock and retry.
    return Ec2Error("RequestExpired", message, 400)


def internal_error() -> Ec2Error:
    # Clients never see the details of a server-side failure; the log has them.
    return Ec2Error("InternalError", "An internal error has occurred.", 500)
