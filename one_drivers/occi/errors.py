"""OCCI errors: an HTTP status and a plain-text message, as upstream's server answered failures.

OpenNebula errors are mapped once here (`error_for`): authentication 401, authorization 403, missing
objects 404, refused actions 403 (the object is in the wrong state), bad templates and requests oned cannot carry
out 400, the rest 500
without details (those go to the log).
"""

from __future__ import annotations

from one_drivers.one.gateway import (
    OneActionError,
    OneAllocateError,
    OneApiError,
    OneAuthenticationError,
    OneAuthorizationError,
    OneError,
    OneInternalError,
    OneLockedError,
    OneNotFoundError,
    OneUnavailable,
)


class OcciError(Exception):
    """A failure the client sees: `status` and a message safe to show."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(OcciError):
    status = 400


class Unauthorized(OcciError):
    status = 401


class Forbidden(OcciError):
    status = 403


class NotFound(OcciError):
    status = 404


class NotAcceptable(OcciError):
    status = 406


class PayloadTooLarge(OcciError):
    status = 413


class UnsupportedMediaType(OcciError):
    status = 415


_BY_ONE_ERROR: tuple[tuple[type[OneError], int], ...] = (
    (OneAuthenticationError, 401),
    (OneAuthorizationError, 403),
    (OneNotFoundError, 404),
    (OneActionError, 403),
    (OneLockedError, 423),
    (OneAllocateError, 400),
    (OneApiError, 400),
    # oned answers INTERNAL for requests it cannot carry out (no free lease, missing image...).
    (OneInternalError, 400),
    (OneUnavailable, 503),
)


def error_for(exc: OneError) -> OcciError:
    """The client's view of an OpenNebula failure; internal ones say nothing of the cloud's insides."""
    for kind, status in _BY_ONE_ERROR:
        if isinstance(exc, kind):
            if status == 503:
                return OcciError("OpenNebula is not available, try again later", 503)
            return OcciError(exc.message, status)
    return OcciError("Internal error", 500)
