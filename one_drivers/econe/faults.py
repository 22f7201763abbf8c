"""OpenNebula failures that reach the app boundary -> the EC2 error a client sees, through one table.

Handlers translate the failures they expect (a missing VM is `InvalidInstanceID.NotFound`); whatever
escapes them is mapped here by exception class. Messages from oned are not passed on: they can name
internal objects and users.
"""

from __future__ import annotations

from collections.abc import Callable

from one_drivers.one.gateway import (
    OneActionError,
    OneAllocateError,
    OneApiError,
    OneAuthenticationError,
    OneAuthorizationError,
    OneError,
    OneFault,
    OneInternalError,
    OneLockedError,
    OneNotFoundError,
    OneUnavailable,
    ServerLoginRefused,
)
from one_drivers.query.errors import (
    Ec2Error,
    auth_failure,
    incorrect_state,
    internal_error,
    invalid_value,
    resource_limit_exceeded,
    service_unavailable,
    unauthorized_operation,
)

# The EC2 error per OpenNebula exception class; OneError itself is the fallback.
FAULTS: dict[type[OneError], Callable[[], Ec2Error]] = {
    # oned refusing econe's own login is the server's fault, not the signer's: 503, never AuthFailure.
    ServerLoginRefused: service_unavailable,
    OneAuthenticationError: auth_failure,
    OneAuthorizationError: unauthorized_operation,
    OneNotFoundError: lambda: invalid_value("A resource named in the request does not exist."),
    OneActionError: lambda: incorrect_state("The resource is not in a state that allows this operation."),
    OneLockedError: lambda: incorrect_state("The resource is locked."),
    OneAllocateError: resource_limit_exceeded,
    OneApiError: internal_error,
    OneInternalError: internal_error,
    OneFault: internal_error,
    OneUnavailable: service_unavailable,
    OneError: internal_error,
}


def ec2_error_for(exc: OneError) -> Ec2Error:
    """The EC2 error for an OpenNebula failure (most specific class in FAULTS wins)."""
    for cls in type(exc).__mro__:
        if cls in FAULTS:
            return FAULTS[cls]()
    return FAULTS[OneError]()
