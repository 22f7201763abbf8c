"""Typed EC2 errors: the code string AWS uses and the HTTP status it travels with.

EC2's model has no error shapes, so clients match errors by code; every error raised anywhere in econe
is one of these and is rendered once, by the error renderer, as `Response/Errors/Error` with a 4xx/5xx.
The factories below are the only place a code string is written (a test keeps it so): callers say what
went wrong, this module says how EC2 spells it.
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


def service_unavailable() -> Ec2Error:
    return Ec2Error("Unavailable", "The service is unavailable. Please try again shortly.", 503)


# --- the request itself ---------------------------------------------------------------------------


def missing_action() -> Ec2Error:
    return Ec2Error("MissingAction", "The request must contain the parameter Action")


def invalid_version() -> Ec2Error:
    return Ec2Error("InvalidParameterValue", "Value for parameter Version is invalid")


def unsupported_method(method: str) -> Ec2Error:
    return Ec2Error("InvalidAction", f"HTTP method {method} is not supported.")


def malformed_query(detail: str) -> Ec2Error:
    return Ec2Error("MalformedQueryString", detail)


def request_too_large(limit: int) -> Ec2Error:
    return Ec2Error("RequestEntityTooLarge", f"The request body exceeds {limit} bytes.", 413)


def dry_run_succeeded() -> Ec2Error:
    # AWS answers a dry run that would have worked with this error (412), not with a result.
    return Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


# --- parameters -----------------------------------------------------------------------------------


def missing_value(message: str) -> Ec2Error:
    """MissingParameter for what is not one named parameter (a file field, one of two parameters)."""
    return Ec2Error("MissingParameter", message)


def invalid_value(message: str) -> Ec2Error:
    """InvalidParameterValue with a sentence of its own (regions, zones, tags, an instance's disks)."""
    return Ec2Error("InvalidParameterValue", message)


def unstorable_value(detail: object, what: str = "A value in the request") -> Ec2Error:
    # A value OpenNebula's template syntax cannot carry: refused before anything is created.
    return Ec2Error("InvalidParameterValue", f"{what} cannot be stored: {detail}")


def invalid_filter(name: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid")


def filter_without_name() -> Ec2Error:
    return Ec2Error("InvalidParameterValue", "A filter must have a Name")


def filter_without_values(name: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", f"The filter '{name}' must have at least one value")


def invalid_next_token() -> Ec2Error:
    return Ec2Error("InvalidParameterValue", "The NextToken value is not valid")


def invalid_combination(message: str) -> Ec2Error:
    return Ec2Error("InvalidParameterCombination", message)


def unsupported(message: str) -> Ec2Error:
    """UnsupportedOperation for a supported action asked something this cloud cannot do."""
    return Ec2Error("UnsupportedOperation", message)


def unauthorized_operation(message: str = "You are not authorized to perform this operation.") -> Ec2Error:
    return Ec2Error("UnauthorizedOperation", message, 403)  # 403, as AWS sends it


# --- resources by id or name ----------------------------------------------------------------------


def malformed_id(kind: str, text: str) -> Ec2Error:
    """`Invalid<kind>.Malformed`: `text` is not of the id form (`kind` as in `InstanceID`, `VpcID`)."""
    return Ec2Error(f"Invalid{kind}.Malformed", f'Invalid id: "{text}"')


def not_found(kind: str, noun: str, text: str) -> Ec2Error:
    """`Invalid<kind>.NotFound`: "The <noun> '<text>' does not exist" (`kind` as in `Volume`, `KeyPair`)."""
    return Ec2Error(f"Invalid{kind}.NotFound", f"The {noun} '{text}' does not exist")


def address_not_found(ip: str) -> Ec2Error:
    return Ec2Error("InvalidAddress.NotFound", f"Address '{ip}' not found.")


def association_not_found(ip: str) -> Ec2Error:
    return Ec2Error("InvalidAssociationID.NotFound", f"Address {ip} is not associated")


def attachment_not_found(message: str) -> Ec2Error:
    return Ec2Error("InvalidAttachment.NotFound", message)


def permission_not_found(rule: object) -> Ec2Error:
    return Ec2Error(
        "InvalidPermission.NotFound", f"The specified rule does not exist in this security group: {rule}"
    )


def invalid_resource_id(resource_id: str) -> Ec2Error:
    return Ec2Error("InvalidID", f"The ID '{resource_id}' is not valid")


def unknown_instance_types(names: list[str]) -> Ec2Error:
    return Ec2Error(
        "InvalidInstanceType", f"The following supplied instance types do not exist: [{', '.join(names)}]"
    )


def duplicate_group(name: str) -> Ec2Error:
    return Ec2Error("InvalidGroup.Duplicate", f"The security group '{name}' already exists")


def duplicate_key_pair(name: str) -> Ec2Error:
    return Ec2Error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")


def duplicate_ami_name(name: str) -> Ec2Error:
    return Ec2Error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by an AMI of yours")


def duplicate_permission(rule: object, group_id: str) -> Ec2Error:
    return Ec2Error("InvalidPermission.Duplicate", f"the specified rule {rule} already exists in {group_id}")


def reserved_group(name: str) -> Ec2Error:
    return Ec2Error("InvalidGroup.Reserved", f"The security group '{name}' is reserved")


def malformed_ami_name(message: str) -> Ec2Error:
    return Ec2Error("InvalidAMIName.Malformed", message)


def invalid_key_format(message: str) -> Ec2Error:
    return Ec2Error("InvalidKeyPair.Format", message)


# --- states and conflicts -------------------------------------------------------------------------


def incorrect_state(message: str) -> Ec2Error:
    return Ec2Error("IncorrectState", message)


def incorrect_instance_state(message: str) -> Ec2Error:
    return Ec2Error("IncorrectInstanceState", message)


def operation_not_permitted(message: str) -> Ec2Error:
    return Ec2Error("OperationNotPermitted", message)


def volume_in_use(message: str) -> Ec2Error:
    return Ec2Error("VolumeInUse", message)


def snapshot_in_use(snapshot_id: str) -> Ec2Error:
    return Ec2Error("InvalidSnapshot.InUse", f"The snapshot {snapshot_id} is in use")


def address_in_use(message: str) -> Ec2Error:
    return Ec2Error("InvalidIPAddress.InUse", message)


def dependency_violation(resource_id: str) -> Ec2Error:
    return Ec2Error("DependencyViolation", f"resource {resource_id} has a dependent object")


def cannot_delete(message: str) -> Ec2Error:
    return Ec2Error("CannotDelete", message)


def already_associated(ip: str) -> Ec2Error:
    return Ec2Error("Resource.AlreadyAssociated", f"Address {ip} is already associated; allow reassociation")


# --- limits ---------------------------------------------------------------------------------------


def tag_limit_exceeded(limit: int, resource_id: str = "") -> Ec2Error:
    suffix = f" ({resource_id})" if resource_id else ""
    return Ec2Error("TagLimitExceeded", f"The maximum number of tags per resource is {limit}{suffix}")


def instance_limit_exceeded(limit: int) -> Ec2Error:
    return Ec2Error("InstanceLimitExceeded", f"At most {limit} instances can be launched at once")


def address_limit_exceeded() -> Ec2Error:
    return Ec2Error("AddressLimitExceeded", "No more addresses are available on this cloud")


def insufficient_capacity(instance_type: str) -> Ec2Error:
    return Ec2Error(
        "InsufficientInstanceCapacity", f"There is not enough capacity for instance type {instance_type}"
    )


def resource_limit_exceeded(message: str = "The request exceeds a quota or resource limit.") -> Ec2Error:
    return Ec2Error("ResourceLimitExceeded", message)
