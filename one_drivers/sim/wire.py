"""The XML-RPC envelope exactly as oned's xmlrpc-c writes it, and the request decoder.

Success is `[true, value, 0]`, failure the 5-element tuple ending in the `<i8>` replication index,
and bad parameters or unknown methods are `<fault>`s. The byte layout (line breaks, `<i4>`, escaping)
copies the recorded 6.10.5 responses, because some clients are stricter than the XML-RPC spec.
"""

from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n'

# oned's failure codes (Request::ErrorCode), the third member of a failure tuple.
AUTHENTICATION, AUTHORIZATION, NO_EXISTS, ACTION = 0x0100, 0x0200, 0x0400, 0x0800
XML_RPC_API, INTERNAL, ALLOCATE, LOCKED = 0x1000, 0x2000, 0x4000, 0x8000


class RpcFault(Exception):
    """An XML-RPC fault as xmlrpc-c raises it (-501 bad parameters, -506 unknown method)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OneFailure(Exception):
    """A failure tuple oned would return: message (without the method prefix), error code, object id."""

    def __init__(self, code: int, message: str, object_id: int = -1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.object_id = object_id


@dataclass(frozen=True)
class RpcCall:
    method: str
    params: tuple[Any, ...]


# What xmlrpc-c escapes in a string value (`&` first), CR as a character reference.
_ESCAPES = ((b"&", b"&amp;"), (b"<", b"&lt;"), (b">", b"&gt;"), (b"\r", b"&#x0d;"))


def escaped(text: str) -> bytes:
    """The wire form of a string value: its UTF-8 escaped as xmlrpc-c does (the multi-byte forms of
    other characters never hold these bytes)."""
    data = text.encode("utf-8")
    for char, ref in _ESCAPES:
        if char in data:  # the test is cheaper than a replace that finds nothing on a large body
            data = data.replace(char, ref)
    return data


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return f"<value><boolean>{int(value)}</boolean></value>"
    if isinstance(value, int):
        return f"<value><i4>{value}</i4></value>"
    if isinstance(value, float):
        return f"<value><double>{value!r}</double></value>"
    return f"<value><string>{escaped(str(value)).decode()}</string></value>"


def _array(values: list[str]) -> bytes:
    body = "\n".join(values)
    text = (
        f"{_HEAD}<params>\n<param><value><array><data>\n{body}\n"
        "</data></array></value></param>\n</params>\n</methodResponse>\n"
    )
    return text.encode("utf-8")


# A success carrying a string (every *.info document) is written straight as bytes: a 1,000-VM page is
# ~4 MB of XML, and escaping bytes then joining three pieces is one copy instead of four.
_STRING_SUCCESS_HEAD = (
    f"{_HEAD}<params>\n<param><value><array><data>\n{_value(True)}\n<value><string>"
).encode()
_STRING_SUCCESS_TAIL = (
    f"</string></value>\n{_value(0)}\n</data></array></value></param>\n</params>\n</methodResponse>\n"
).encode()


class Escaped(list[bytes]):
    """A string value already in its wire form (`escaped`), in pieces written as
    they are. Pool pages are the per-object bodies the simulator keeps escaped, so a 1,000-VM page
    costs one join instead of an encode and four replaces over ~5 MB on every call."""


def render_success(value: Any) -> bytes:
    """`[true, value, 0]`."""
    if isinstance(value, Escaped):
        return b"".join((_STRING_SUCCESS_HEAD, *value, _STRING_SUCCESS_TAIL))
    if isinstance(value, str):
        return b"".join((_STRING_SUCCESS_HEAD, escaped(value), _STRING_SUCCESS_TAIL))
    return _array([_value(True), _value(value), _value(0)])


def render_failure(method: str, failure: OneFailure) -> bytes:
    """`[false, "[method] message", code, object id, <i8>-1</i8>]`."""
    values = (False, f"[{method}] {failure.message}", failure.code, failure.object_id)
    return _array([*map(_value, values), "<value><i8>-1</i8></value>"])


def render_fault(fault: RpcFault) -> bytes:
    text = (
        f"{_HEAD}<fault>\n<value><struct>\n<member><name>faultCode</name>\n"
        f"<value><i4>{fault.code}</i4></value></member>\n<member><name>faultString</name>\n"
        f"<value><string>{escaped(fault.message).decode()}</string></value></member>\n"
        "</struct></value>\n</fault>\n</methodResponse>\n"
    )
    return text.encode("utf-8")


def parse_call(body: bytes) -> RpcCall:
    """Decode a methodCall; a body that is not one is a fault like xmlrpc-c's parse error."""
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception as exc:  # expat and xmlrpc raise several unrelated types
        raise RpcFault(-503, f"Call XML not a proper XML-RPC call.  {exc}") from exc
    if not method:
        raise RpcFault(-503, "Call XML not a proper XML-RPC call.  No method name")
    return RpcCall(str(method), tuple(params))


class Params:
    """Typed access to a call's parameters in the order xmlrpc-c's getters check them."""

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def _get(self, index: int, kind: type[T], name: str) -> T:
        if index >= len(self.values):
            raise RpcFault(-501, "Not enough parameters")
        value = self.values[index]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):  # True is no integer
            raise RpcFault(-501, f"Parameter that is supposed to be {name} is not")
        return value

    def integer(self, index: int) -> int:
        return self._get(index, int, "integer")

    def string(self, index: int) -> str:
        return self._get(index, str, "a string")  # xmlrpc-c's wording: "integer", "boolean", "a string"

    def boolean(self, index: int) -> bool:
        return self._get(index, bool, "boolean")

    def opt_bool(self, index: int, default: bool = False) -> bool:
        return self.boolean(index) if index < len(self.values) else default

    def opt_int(self, index: int, default: int) -> int:
        return self.integer(index) if index < len(self.values) else default
