"""The EC2 error factories: the code strings clients match and the statuses they travel with."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import one_drivers
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
    "service_unavailable": (errors.service_unavailable, "Unavailable", 503),
    "missing_action": (errors.missing_action, "MissingAction", 400),
    "invalid_version": (errors.invalid_version, "InvalidParameterValue", 400),
    "unsupported_method": (lambda: errors.unsupported_method("PUT"), "InvalidAction", 400),
    "malformed_query": (lambda: errors.malformed_query("bad"), "MalformedQueryString", 400),
    "request_too_large": (lambda: errors.request_too_large(10), "RequestEntityTooLarge", 413),
    "dry_run_succeeded": (errors.dry_run_succeeded, "DryRunOperation", 412),
    "missing_value": (lambda: errors.missing_value("x"), "MissingParameter", 400),
    "invalid_value": (lambda: errors.invalid_value("x"), "InvalidParameterValue", 400),
    "unstorable_value": (lambda: errors.unstorable_value("x"), "InvalidParameterValue", 400),
    "invalid_filter": (lambda: errors.invalid_filter("x"), "InvalidParameterValue", 400),
    "filter_without_name": (errors.filter_without_name, "InvalidParameterValue", 400),
    "filter_without_values": (lambda: errors.filter_without_values("x"), "InvalidParameterValue", 400),
    "invalid_next_token": (errors.invalid_next_token, "InvalidParameterValue", 400),
    "invalid_combination": (lambda: errors.invalid_combination("x"), "InvalidParameterCombination", 400),
    "unsupported": (lambda: errors.unsupported("x"), "UnsupportedOperation", 400),
    "unauthorized_operation": (errors.unauthorized_operation, "UnauthorizedOperation", 403),
    "malformed_id": (lambda: errors.malformed_id("VpcID", "v"), "InvalidVpcID.Malformed", 400),
    "not_found": (lambda: errors.not_found("KeyPair", "key pair", "k"), "InvalidKeyPair.NotFound", 400),
    "address_not_found": (lambda: errors.address_not_found("1.2.3.4"), "InvalidAddress.NotFound", 400),
    "association_not_found": (
        lambda: errors.association_not_found("1.2.3.4"),
        "InvalidAssociationID.NotFound",
        400,
    ),
    "attachment_not_found": (lambda: errors.attachment_not_found("x"), "InvalidAttachment.NotFound", 400),
    "permission_not_found": (lambda: errors.permission_not_found({}), "InvalidPermission.NotFound", 400),
    "invalid_resource_id": (lambda: errors.invalid_resource_id("x-1"), "InvalidID", 400),
    "unknown_instance_types": (lambda: errors.unknown_instance_types(["t9"]), "InvalidInstanceType", 400),
    "duplicate_group": (lambda: errors.duplicate_group("g"), "InvalidGroup.Duplicate", 400),
    "duplicate_key_pair": (lambda: errors.duplicate_key_pair("k"), "InvalidKeyPair.Duplicate", 400),
    "duplicate_ami_name": (lambda: errors.duplicate_ami_name("a"), "InvalidAMIName.Duplicate", 400),
    "duplicate_permission": (
        lambda: errors.duplicate_permission({}, "sg-1"),
        "InvalidPermission.Duplicate",
        400,
    ),
    "reserved_group": (lambda: errors.reserved_group("default"), "InvalidGroup.Reserved", 400),
    "malformed_ami_name": (lambda: errors.malformed_ami_name("x"), "InvalidAMIName.Malformed", 400),
    "invalid_key_format": (lambda: errors.invalid_key_format("x"), "InvalidKeyPair.Format", 400),
    "incorrect_state": (lambda: errors.incorrect_state("x"), "IncorrectState", 400),
    "incorrect_instance_state": (lambda: errors.incorrect_instance_state("x"), "IncorrectInstanceState", 400),
    "operation_not_permitted": (lambda: errors.operation_not_permitted("x"), "OperationNotPermitted", 400),
    "volume_in_use": (lambda: errors.volume_in_use("x"), "VolumeInUse", 400),
    "snapshot_in_use": (lambda: errors.snapshot_in_use("snap-1"), "InvalidSnapshot.InUse", 400),
    "address_in_use": (lambda: errors.address_in_use("x"), "InvalidIPAddress.InUse", 400),
    "dependency_violation": (lambda: errors.dependency_violation("sg-1"), "DependencyViolation", 400),
    "cannot_delete": (lambda: errors.cannot_delete("x"), "CannotDelete", 400),
    "already_associated": (lambda: errors.already_associated("1.2.3.4"), "Resource.AlreadyAssociated", 400),
    "tag_limit_exceeded": (lambda: errors.tag_limit_exceeded(50), "TagLimitExceeded", 400),
    "instance_limit_exceeded": (lambda: errors.instance_limit_exceeded(5), "InstanceLimitExceeded", 400),
    "address_limit_exceeded": (errors.address_limit_exceeded, "AddressLimitExceeded", 400),
    "insufficient_capacity": (
        lambda: errors.insufficient_capacity("m1"),
        "InsufficientInstanceCapacity",
        400,
    ),
    "resource_limit_exceeded": (errors.resource_limit_exceeded, "ResourceLimitExceeded", 400),
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


def test_messages_are_the_ones_clients_have_always_seen() -> None:
    # Moved here from their handlers with no change: spot-check the patterned ones, word for word.
    assert errors.not_found("Volume", "volume", "vol-1").message == "The volume 'vol-1' does not exist"
    assert errors.malformed_id("InstanceID", "x").message == 'Invalid id: "x"'
    assert errors.missing_parameter("size or snapshotId").message == (
        "The request must contain the parameter size or snapshotId"
    )
    assert errors.unstorable_value("bad", "A tag").message == "A tag cannot be stored: bad"
    assert errors.tag_limit_exceeded(50).message == "The maximum number of tags per resource is 50"
    assert (
        errors.tag_limit_exceeded(50, "i-1").message == "The maximum number of tags per resource is 50 (i-1)"
    )
    assert errors.unknown_instance_types(["a", "b"]).message == (
        "The following supplied instance types do not exist: [a, b]"
    )


def _constructions(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Ec2Error")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Ec2Error")
        )
    ]


def test_only_the_errors_module_builds_ec2_errors() -> None:
    """Every EC2 error comes from a factory above: a code spelled by hand elsewhere fails here."""
    package = Path(one_drivers.__file__).parent
    own = package / "query" / "errors.py"
    assert _constructions(own)  # the scan sees constructions where they are
    found = {
        f"{path.relative_to(package)}:{line}"
        for path in sorted(package.rglob("*.py"))
        if path != own
        for line in _constructions(path)
    }
    assert not found, f"build these through one_drivers.query.errors factories: {sorted(found)}"
