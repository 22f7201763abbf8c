"""The only XML-RPC caller in the project: typed methods over oned's `one.*` API.

oned answers `[true, value, 0]` or `[false, message, errcode, object id, replication index]`; wrong
parameters and unknown methods come back as XML-RPC faults. Both are translated here, through one
table, into the typed exceptions below, so no caller ever looks at a raw tuple or error number.
"""

from __future__ import annotations

import os
import threading
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"
DEFAULT_AUTH_FILES = ("~/.one/one_auth", "/var/lib/one/.one/one_auth")


class OneError(Exception):
    """A failure reported by oned (or on the way to it)."""

    code = 0

    def __init__(self, message: str, *, method: str = "", object_id: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.object_id = object_id


class OneAuthenticationError(OneError):
    code = 0x0100


class OneAuthorizationError(OneError):
    code = 0x0200


class OneNotFoundError(OneError):
    code = 0x0400


class OneActionError(OneError):
    code = 0x0800


class OneApiError(OneError):
    code = 0x1000


class OneInternalError(OneError):
    code = 0x2000


class OneAllocateError(OneError):
    code = 0x4000


class OneLockedError(OneError):
    code = 0x8000


class OneFault(OneError):
    """An XML-RPC fault (-501 bad parameter type/count, -506 unknown method)."""


class OneUnavailable(OneError):
    """oned could not be reached or answered something that is not XML-RPC."""


ERROR_BY_CODE: dict[int, type[OneError]] = {
    cls.code: cls
    for cls in (
        OneAuthenticationError,
        OneAuthorizationError,
        OneNotFoundError,
        OneActionError,
        OneApiError,
        OneInternalError,
        OneAllocateError,
        OneLockedError,
    )
}


def error_from_tuple(method: str, result: list[Any]) -> OneError:
    """Build the typed exception for a failure tuple `[false, msg, code, id, ...]`."""
    message = str(result[1]) if len(result) > 1 else "unknown error"
    code = int(result[2]) if len(result) > 2 else 0
    object_id = int(result[3]) if len(result) > 3 else -1
    cls = ERROR_BY_CODE.get(code, OneError)
    err = cls(message, method=method, object_id=object_id)
    err.code = code
    return err


@dataclass(frozen=True)
class OneCredentials:
    endpoint: str
    session: str  # "user:password" or a login token

    @property
    def username(self) -> str:
        return self.session.split(":", 1)[0]


def read_auth_file(path: str | os.PathLike[str]) -> str:
    """The first line of a ONE_AUTH-style file (`user:password`)."""
    text = Path(path).expanduser().read_text(encoding="utf-8")
    line = text.strip().splitlines()[0] if text.strip() else ""
    if ":" not in line:
        raise OneAuthenticationError(f"auth file {path} does not hold 'user:password'")
    return line


def credentials_from_env(endpoint: str | None = None, auth_file: str | None = None) -> OneCredentials:
    """ONE_XMLRPC and ONE_AUTH as the OpenNebula CLI reads them, with upstream's defaults."""
    url = endpoint or os.environ.get("ONE_XMLRPC") or DEFAULT_ENDPOINT
    candidates = [auth_file] if auth_file else []
    if not auth_file and os.environ.get("ONE_AUTH"):
        candidates.append(os.environ["ONE_AUTH"])
    if not candidates:
        candidates.extend(DEFAULT_AUTH_FILES)
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_file():
            return OneCredentials(url, read_auth_file(candidate))
    raise OneAuthenticationError(
        f"no OpenNebula auth file found (tried {', '.join(filter(None, candidates))})"
    )


class OneGateway:
    """Typed access to oned. Thread-safe: one HTTP connection per thread."""

    def __init__(self, endpoint: str, session: str, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.session = session
        self.timeout = timeout
        self._local = threading.local()

    @classmethod
    def from_env(cls, endpoint: str | None = None, auth_file: str | None = None) -> OneGateway:
        creds = credentials_from_env(endpoint, auth_file)
        return cls(creds.endpoint, creds.session)

    def _proxy(self) -> xmlrpc.client.ServerProxy:
        proxy: xmlrpc.client.ServerProxy | None = getattr(self._local, "proxy", None)
        if proxy is None:
            proxy = xmlrpc.client.ServerProxy(self.endpoint, allow_none=False, use_builtin_types=True)
            self._local.proxy = proxy
        return proxy

    def call(self, method: str, *params: Any) -> Any:
        """Call `method(session, *params)`; return the value of a success tuple or raise OneError."""
        try:
            result = getattr(self._proxy(), method)(self.session, *params)
        except xmlrpc.client.Fault as fault:
            raise OneFault(f"[{method}] {fault.faultString}", method=method) from fault
        except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.ResponseError) as exc:
            self._local.proxy = None
            raise OneUnavailable(
                f"[{method}] cannot reach oned at {self.endpoint}: {exc}", method=method
            ) from exc
        if not isinstance(result, list) or not result:
            raise OneUnavailable(f"[{method}] unexpected answer from oned: {result!r}", method=method)
        if result[0] is True:
            return result[1] if len(result) > 1 else None
        raise error_from_tuple(method, result)

    # --- hosts -----------------------------------------------------------------------------------
    def host_info(self, host_id: int, decrypt: bool = False) -> str:
        return str(self.call("one.host.info", host_id, decrypt))

    def hostpool_info(self) -> str:
        return str(self.call("one.hostpool.info"))

    # --- virtual machines ------------------------------------------------------------------------
    def vm_info(self, vm_id: int, decrypt: bool = False) -> str:
        return str(self.call("one.vm.info", vm_id, decrypt))

    def vmpool_info(self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1) -> str:
        return str(self.call("one.vmpool.info", filter_flag, start, end, state))

    def vmpool_infoextended(
        self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1
    ) -> str:
        return str(self.call("one.vmpool.infoextended", filter_flag, start, end, state))
