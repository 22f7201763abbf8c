"""The EC2 error factories: the code strings clients match and the statuses they travel with."""

from __future__ import annotations

import pytest

from one_drivers.query import errors
from one_drivers.query.errors import Ec2Error

FACTORIES = {
    "missing_parameter": (lambda: errors.missing_parameter("ImageId"), "MissingParameter", 400),
    "invalid_parameter_value": (
        lambda: errors.invalid_parameter_value("MinCount", "x"),
        "InvalidParameterValue",
        400,
    ),
    "invalid_action": (lambda: errors.invalid_action("Foo"), "InvalidAction", 400),
    "unsupported_operation": (lambda: errors.unsupported_operation("Foo"), "UnsupportedOperation", 400),
    "auth_failure": (errors.auth_failure, "AuthFailure", 401),
    "signature_does_not_match": (errors.signature_does_not_match, "SignatureDoesNotMatch", 403),
    "request_expired": (lambda: errors.request_expired("Request has expired"), "RequestExpired", 400),
    "internal_error": (errors.internal_error, "InternalError", 500),
}


def test_every_factory_is_listed() -> None:
    public = {name for name, value in vars(errors).items() if callable(value) and not name.startswith("_")}
    assert public - {"Ec2Error", "annotations"} == set(FACTORIES)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory(name: str) -> None:
    make, code, status = FACTORIES[name]
    error = make()
    assert (error.code, error.status) == (code, status)
    assert error.message
    assert str(error).startswith(f"{code}: ")


def test_internal_error_says_nothing_specific() -> None:
    assert errors.internal_error().message == "An internal error has occurred."


@pytest.mark.parametrize("status", [200, 204, 302, 399, 600])
def test_an_error_never_travels_as_success(status: int) -> None:
    with pytest.raises(ValueError):
        Ec2Error("Whatever", "message", status)
