"""OpenNebula failures that reach the app boundary -> the EC2 error a client sees, through one table.

Handlers translate the failures they expect (a missing VM is `InvalidInstanceID.NotFound`); whatever
escapes them is mapped here by exception class. Messages from oned are not passed on: they can name
internal objects and users.
"""

from __future__ import annotations

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
from one_drivers.query.errors import Ec2Error

# (code, message, HTTP status) per OpenNebula exception class; OneError itself is the fallback.
FAULTS: dict[type[OneError], tuple[str, str, int]] = {
    # oned refusing econe's own login is the server's fault, not the signer's: 503, never AuthFailure.
    ServerLoginRefused: ("Unavailable", "The service is unavailable. Please try again shortly.", 503),
    OneAuthenticationError: (
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
        401,
    ),
    OneAuthorizationError: (
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
        403,
    ),
    OneNotFoundError: ("InvalidParameterValue", "A resource named in the request does not exist.", 400),
    OneActionError: ("IncorrectState", "The resource is not in a state that allows this operation.", 400),
    OneLockedError: ("IncorrectState", "The resource is locked.", 400),
    OneAllocateError: ("ResourceLimitExceeded", "The request exceeds a quota or resource limit.", 400),
    OneApiError: ("InternalError", "An internal error has occurred.", 500),
    OneInternalError: ("InternalError", "An internal error has occurred.", 500),
    OneFault: ("InternalError", "An internal error has occurred.", 500),
    OneUnavailable: ("Unavailable", "The service is unavailable. Please try again shortly.", 503),
    OneError: ("InternalError", "An internal error has occurred.", 500),
}


def ec2_error_for(exc: OneError) -> Ec2Error:
    """The EC2 error for an OpenNebula failure (most specific class in FAULTS wins)."""
    for cls in type(exc).__mro__:
        if cls in FAULTS:
            code, message, status = FAULTS[cls]
            return Ec2Error(code, message, status)
    code, message, status = FAULTS[OneError]
    return Ec2Error(code, message, status)
