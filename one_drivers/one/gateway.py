"""The only XML-RPC caller in the project: typed methods over oned's `one.*` API.

Info calls return records (one/records.py): `vm_info` a VmRecord, `vmpool_info` a list of them, and
so on; `document()` gives an answer's text to the few that need the text itself (see there).

oned answers `[true, value, 0]` or `[false, message, errcode, object id, replication index]`; wrong
parameters and unknown methods come back as XML-RPC faults. Both are translated here, through one
table, into the typed exceptions below, so no caller ever looks at a raw tuple or error number.
Requests go over a kept-alive HTTP connection per thread and answers are decoded with lxml through
`one_drivers.xmlsafe` (a 10,000-VM pool is a 36 MB envelope: the stdlib decoder takes seconds on it).
Server-admin login tokens (`server_cipher`) let one gateway act for any user, as econe needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from one_drivers import xmlsafe
from one_drivers.one.cipher import SCHEMES, CipherScheme, ServerCipher, scheme_for_version

if TYPE_CHECKING:  # the record classes are imported where a call builds them: their tables cost ~13 ms
    # to import, which the drivers' in-process scripts would pay on every start
    from one_drivers.one.records import (
        D,
        DatastoreRecord,
        HostRecord,
        ImageRecord,
        SecurityGroupRecord,
        TemplateRecord,
        UserRecord,
        VmRecord,
        VnetRecord,
    )

DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"
DEFAULT_AUTH_FILES = ("~/.one/one_auth", "/var/lib/one/.one/one_auth")
log = logging.getLogger(__name__)

# Where oned writes "serveradmin:<password>": ec2_auth up to 6.0 (when econe was shipped), sunstone_auth
# (also onegate_auth, oneflow_auth) on every line; the first that exists is used.
CIPHER_AUTH_FILES = ("ec2_auth", "sunstone_auth")
DEFAULT_CIPHER_AUTH_DIR = "/var/lib/one/.one"
DEFAULT_CIPHER_AUTH_FILE = f"{DEFAULT_CIPHER_AUTH_DIR}/ec2_auth"

# Login tokens: oned accepts them until their expiry; we renew well before that.
TOKEN_LIFETIME_SECONDS = 1800
TOKEN_RENEW_MARGIN_SECONDS = 300


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
    """An XML-RPC fault (-501 bad parameter type/count, -506 unknown method); `code` is the faultCode."""


class OneUnavailable(OneError):
    """oned could not be reached or answered something that is not XML-RPC."""


class ServerLoginRefused(OneAuthenticationError):
    """oned refuses the server admin's own login with every token scheme: the credentials file holds
    the wrong password or user, so no request can be served. A fault of this server, not the caller's."""


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


# --- the XML-RPC envelope ------------------------------------------------------------------------


class _ResponseFault(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _decode_value(value: xmlsafe.XmlNode) -> Any:
    """One `<value>`; a value without a type element is a string (XML-RPC's default)."""
    children = list(value)
    if not children:
        return value.text or ""
    typed = children[0]
    tag = typed.tag
    text = typed.text or ""
    if tag == "string":
        return text
    if tag in ("i4", "int", "i8", "i1", "i2"):
        return int(text.strip())
    if tag == "boolean":
        return text.strip() == "1"
    if tag == "array":
        data = typed.find("data")
        return [] if data is None else [_decode_value(v) for v in data.iterchildren("value")]
    if tag == "struct":
        out: dict[str, Any] = {}
        for member in typed.iterchildren("member"):
            name = member.findtext("name") or ""
            member_value = member.find("value")
            out[name] = None if member_value is None else _decode_value(member_value)
        return out
    if tag == "double":
        return float(text.strip())
    if tag == "base64":
        return base64.b64decode(text)
    if tag == "nil":
        return None
    if tag == "dateTime.iso8601":
        return text.strip()
    raise ValueError(f"unknown XML-RPC type <{tag}>")


# --- the fast path for big document strings ---------------------------------------------------------
#
# A pool answer is one huge <string> whose every `<` is written `&lt;`. Parsing the envelope makes
# libxml2 expand ~500,000 entities into a Python str that is then encoded and parsed again as the
# document. Instead the string's bytes are cut out of the response and unescaped with byte replaces,
# and only the envelope around them (a few hundred bytes) goes through the full decoder, so its shape
# and every other value are checked exactly as before. Anything the replaces cannot decode exactly as
# an XML parser would (markup or CDATA inside the string, unknown entities, characters XML forbids)
# falls back to the full decode, which is the reference: the two agree on every input (tests).

FAST_STRING_MIN = 4 * 1024  # below this the full decode is as quick (a vm.info answer is ~8 KB)
_STRING_OPEN = b"<string>"
_STRING_CLOSE = b"</string>"
# Stands in for the cut-out string in the envelope; never a legal part of oned's answers.
_MARKER = "one-drivers-cut-string-9b1c"
_MARKER_BYTES = _MARKER.encode("ascii")
_ENTITY = re.compile(rb"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));")
_NAMED = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"', b"apos": "'"}
# Bytes XML 1.0 forbids in a document (C0 controls but TAB, LF, CR), and U+FFFE/U+FFFF in UTF-8; a
# byte translate finds them ~15x faster than a regex over a 5 MB answer.
_CONTROL_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")
_ENCODING_DECL = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _xml_char(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def unescape_text(raw: bytes) -> str | None:
    """Character data of an element as an XML parser reads it, or None when that needs a real parser."""
    if b"<" in raw or (b">" in raw and b"]]>" in raw):  # xmlrpc-c writes no literal `>` at all
        return None
    if len(raw.translate(None, _CONTROL_BYTES)) != len(raw):
        return None
    if not raw.isascii() and any(bad in raw for bad in _NONCHARACTERS):
        return None
    if b"\r" in raw:
        # XML line-end normalisation applies to literal CRs only (`&#13;` stays a CR).
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b"&" in raw:
        raw = raw.replace(b"&lt;", b"<").replace(b"&gt;", b">")
        left = raw.count(b"&")
        if left and left == raw.count(b"&amp;"):
            raw = raw.replace(b"&amp;", b"&")
        elif left:
            return _unescape_rare(raw, left)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unescape_rare(raw: bytes, ampersands: int) -> str | None:
    # Character references and quote entities, one by one; every `&` left must be one of them.
    parts: list[bytes] = []
    pos = 0
    count = 0
    for match in _ENTITY.finditer(raw):
        named, dec, hexa = match.groups()
        if named is not None:
            char = _NAMED[named]
        else:
            code = int(dec) if dec is not None else int(hexa, 16)
            if not _xml_char(code):
                return None
            char = chr(code)
        parts.append(raw[pos : match.start()])
        parts.append(char.encode("utf-8"))
        pos = match.end()
        count += 1
    if count != ampersands:
        return None
    parts.append(raw[pos:])
    try:
        return b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        return None


# xmlrpc-c's exact bytes around the string of a success answer (as recorded from oned 6.10.5). An answer
# framed by exactly these is `[true, <string>, 0]`, which is what the envelope decoder would return for
# them, so the envelope is not parsed at all (~10 us of a `vm.info` call). Any other framing is decoded.
_XMLRPC_C_STRING_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n<params>\n'
    b"<param><value><array><data>\n<value><boolean>1</boolean></value>\n<value><string>"
)
_XMLRPC_C_STRING_TAIL = (
    b"</string></value>\n<value><i4>0</i4></value>\n</data></array></value></param>\n"
    b"</params>\n</methodResponse>\n"
)


def _fast_decode(body: bytes) -> Any:
    """decode_response for an answer carrying one big `<string>`; `_NO_FAST` when it does not apply."""
    start = body.find(_STRING_OPEN)
    if start < 0:
        return _NO_FAST
    start += len(_STRING_OPEN)
    end = body.find(_STRING_CLOSE, start)
    if end < 0:
        return _NO_FAST
    declared = _ENCODING_DECL.match(body, 0, 200)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return _NO_FAST
    # The marker only has to be absent from the envelope around the cut (the string itself is gone).
    if _MARKER_BYTES in body[:start] or _MARKER_BYTES in body[end:]:
        return _NO_FAST
    text = unescape_text(body[start:end])
    if text is None:
        return _NO_FAST
    head_ok = start == len(_XMLRPC_C_STRING_HEAD) and body.startswith(_XMLRPC_C_STRING_HEAD)
    if head_ok and len(body) - end == len(_XMLRPC_C_STRING_TAIL) and body.endswith(_XMLRPC_C_STRING_TAIL):
        return [True, text, 0]
    try:
        value = decode_response(body[:start] + _MARKER_BYTES + body[end:], fast_min=None)
    except (_ResponseFault, ValueError):
        return _NO_FAST  # the full decode says what is wrong, with the real text
    # Only the first string of a success tuple is taken this way; any other place means "not ours".
    if isinstance(value, list) and len(value) > 1 and value[1] == _MARKER:
        value[1] = text
        return value
    return _NO_FAST


_NO_FAST: Any = object()


def decode_response(body: bytes, *, fast_min: int | None = FAST_STRING_MIN) -> Any:
    """The value of a `methodResponse`; raises `_ResponseFault` for a `<fault>`, ValueError if malformed.

    Answers of at least `fast_min` bytes take the fast path for their document string (None: never).
    """
    if fast_min is not None and len(body) >= fast_min:
        value = _fast_decode(body)
        if value is not _NO_FAST:
            return value
    try:
        root = xmlsafe.parse(body, xmlsafe.ONED)
    except xmlsafe.XmlError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if root.tag != "methodResponse":
        raise ValueError(f"not an XML-RPC response (root <{root.tag}>)")
    fault = root.find("fault/value")
    if fault is not None:
        detail = _decode_value(fault)
        if not isinstance(detail, dict):
            raise ValueError("malformed fault")
        raise _ResponseFault(int(detail.get("faultCode", 0)), str(detail.get("faultString", "")))
    value = root.find("params/param/value")
    if value is None:
        raise ValueError("XML-RPC response without a value")
    return _decode_value(value)


# --- the HTTP answer ---------------------------------------------------------------------------------
#
# http.client parses every header block with the email package (~20 us a call, most of a small call's
# client side); oned's answers need only the status, the framing headers and the body. The connection's
# buffered reader is kept with its socket. Errors are http.client's own types, so callers see no change.

_MAX_LINE = 65536
_MAX_HEADERS = 100


def _line(reader: BinaryIO, what: str) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong(what)
    return line


def _read_chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _line(reader, "chunk size").split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(parts)) from None
        if size == 0:
            while _line(reader, "trailer") not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) < size:
            raise http.client.IncompleteRead(b"".join(parts) + chunk, size - len(chunk))
        parts.append(chunk)
        reader.readline(_MAX_LINE)  # the CRLF after the chunk


def read_response(reader: BinaryIO) -> tuple[int, str, bool, bytes]:
    """(status, reason, connection will close, body) of one HTTP/1.x response; 1xx answers skipped."""
    while True:
        line = _line(reader, "status line")
        if not line:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.strip().partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise http.client.BadStatusLine(line.decode("latin-1"))
        status = int(code)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            header = _line(reader, "header line")
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if not 100 <= status < 200:
            break
    tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
    if status in (204, 304):
        return status, reason, will_close, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return status, reason, will_close, _read_chunked(reader)
    length_text = headers.get("content-length")
    if length_text is None:
        return status, reason, True, reader.read()  # the body ends where the connection does
    try:
        length = int(length_text)
    except ValueError:
        raise http.client.HTTPException(f"bad Content-Length {length_text!r}") from None
    body = reader.read(length)
    if len(body) < length:
        raise http.client.IncompleteRead(body, length - len(body))
    return status, reason, will_close, body


class _Transport:
    """HTTP(S) POSTs to one endpoint; a kept-alive connection per thread."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"unsupported XML-RPC endpoint {endpoint!r}")
        self.endpoint = endpoint
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.path = url.path or "/"
        self.timeout = timeout
        self._local = threading.local()

        host_header = self.host if self.port == (443 if self.https else 80) else f"{self.host}:{self.port}"
        self._head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: text/xml\r\n"
            "User-Agent: one_drivers\r\nAccept-Encoding: identity\r\nContent-Length: "
        ).encode("latin-1")

    def _socket(self) -> tuple[socket.socket, BinaryIO, bool]:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            return sock, self._local.reader, True
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self._local.sock = sock
        self._local.reader = sock.makefile("rb")
        return sock, self._local.reader, False

    @staticmethod
    def _quickack(sock: socket.socket) -> None:
        # A server that writes headers and body in two sends (Nagle) would wait ~40 ms for our delayed
        # ACK of the first; quick-ACK mode acknowledges at once. Linux only; re-armed per request.
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            except OSError:
                pass

    def drop(self) -> None:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            self._local.reader.close()
            sock.close()

    def post(self, body: bytes) -> bytes:
        # The whole request in one send: http.client writes headers and body separately.
        request = self._head + str(len(body)).encode("ascii") + b"\r\n\r\n" + body
        for attempt in (0, 1):
            sock, reader, reused = self._socket()
            try:
                sock.sendall(request)
                self._quickack(sock)
                status, reason, will_close, data = read_response(reader)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.drop()
                # A kept-alive connection the server closed while idle: retry once on a fresh one.
                if reused and attempt == 0:
                    continue
                raise
            except (OSError, http.client.HTTPException):
                self.drop()
                raise
            if will_close:
                self.drop()
            if status != 200:
                raise http.client.HTTPException(f"HTTP {status} {reason}")
            return data
        raise AssertionError("unreachable")


# --- credentials -----------------------------------------------------------------------------------


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


def cipher_auth_path(
    path: str | os.PathLike[str] | None = None, names: tuple[str, ...] = CIPHER_AUTH_FILES
) -> Path:
    """The server admin's credentials file: $ONE_CIPHER_AUTH (upstream's servers let it win over their
    config), else `path`, else the first of `names` in /var/lib/one/.one that exists (6.2+ writes only
    sunstone_auth, onegate_auth and oneflow_auth)."""
    if os.environ.get("ONE_CIPHER_AUTH"):
        return Path(os.environ["ONE_CIPHER_AUTH"])
    if path:
        return Path(path)
    candidates = [Path(DEFAULT_CIPHER_AUTH_DIR) / name for name in names]
    return next((c for c in candidates if c.is_file()), candidates[0])


def read_cipher_auth(path: Path) -> tuple[str, str]:
    """("serveradmin", password) from a "user:password" credentials file."""
    admin, password = read_auth_file(path).split(":", 1)
    return admin, password


# --- the gateway -----------------------------------------------------------------------------------


class _ServerLogin:
    """The server admin's login: its credentials, and the token scheme the oned behind it accepts.

    The scheme follows oned's version. Until a login proves it, the schemes are tried newest first with
    one `one.system.version` call each. After oned refuses a token the check runs again, so an oned
    upgraded underneath is followed and a broken credentials file is told apart from a refused user;
    a failed check is not repeated for `RECHECK_SECONDS`.
    """

    RECHECK_SECONDS = 5.0

    def __init__(self, path: Path, pinned: CipherScheme | None) -> None:
        self.path = path
        self.admin, self._password = read_cipher_auth(path)
        self.pinned = pinned
        self.cipher = ServerCipher.from_password(self.admin, self._password, pinned or SCHEMES[0])
        self.version: str | None = None
        self.refusal = ""
        self.user_login_tokens = False
        self.lock = threading.Lock()
        self.checked_at = float("-inf")

    def login_token_for(self, username: str, window: int) -> str:
        """The login token econe asks oned for, for `username` in a time window: derived from the server
        admin's password, so every econe process and server behind one oned asks for the same one."""
        message = f"one_drivers login token:{username}:{window}".encode()
        return hmac.new(self._password.encode("utf-8"), message, hashlib.sha256).hexdigest()[:40]

    def candidates(self) -> tuple[CipherScheme, ...]:
        if self.pinned is not None:
            return (self.pinned,)
        first = self.cipher.scheme
        return (first, *(scheme for scheme in SCHEMES if scheme != first))


CallObserver = Callable[[str, float, bool], None]


class OneGateway:
    """Typed access to oned. Thread-safe: one HTTP connection per thread, shared with `for_user` views."""

    def __init__(
        self,
        endpoint: str,
        session: str,
        *,
        timeout: float = 30.0,
        _transport: _Transport | None = None,
        _login: _ServerLogin | None = None,
        _parent: OneGateway | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.timeout = timeout
        self._transport = _transport or _Transport(endpoint, timeout)
        self._tokens: dict[str, tuple[float, OneGateway]] = {}
        self._tokens_lock = threading.Lock()
        # A server admin's gateway calls with a token for itself too, renewed like any other; a
        # `for_user` view keeps its parent to renew or re-check the login when oned refuses it.
        self._login = _login
        self._parent = _parent
        self._acts_for = ""  # the user a `for_user` view acts for
        self._own_token = False  # the view calls with the user's own login token (one.user.login)
        # Told (method, seconds, succeeded) after every call (econe's metrics); views inherit it.
        self.observer: CallObserver | None = None

    @classmethod
    def from_env(cls, endpoint: str | None = None, auth_file: str | None = None) -> OneGateway:
        creds = credentials_from_env(endpoint, auth_file)
        return cls(creds.endpoint, creds.session)

    @classmethod
    def server_admin(
        cls,
        endpoint: str,
        cipher_auth_file: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 30.0,
        scheme: CipherScheme | None = None,
        user_login_tokens: bool = False,
    ) -> OneGateway:
        """The server admin's gateway: calls as itself (a token for itself) and can act for users.

        `scheme` pins the token scheme (from a configured OpenNebula version); by default it is
        found by `login()`, or by the first call. `user_login_tokens`: act for users with login
        tokens of their own (see `for_user`)."""
        login = _ServerLogin(cipher_auth_path(cipher_auth_file), scheme)
        login.user_login_tokens = user_login_tokens
        return cls(endpoint, f"{login.admin}:", timeout=timeout, _login=login)

    @property
    def username(self) -> str:
        return self.session.split(":", 1)[0]

    @property
    def cipher(self) -> ServerCipher | None:
        return self._login.cipher if self._login is not None else None

    @property
    def one_version(self) -> str | None:
        """oned's version as the last successful `login()` read it."""
        return self._login.version if self._login is not None else None

    @property
    def credentials_file(self) -> Path | None:
        return self._login.path if self._login is not None else None

    def login(self) -> str:
        """Log in as the server admin and return oned's version, choosing the token scheme that oned
        accepts; raise ServerLoginRefused, naming the credentials file, when it accepts none."""
        login = self._login
        if login is None:
            raise OneAuthenticationError("this gateway has no server_cipher credentials")
        with login.lock:
            return self._login_locked(login)

    def _login_locked(self, login: _ServerLogin) -> str:
        refusals: list[tuple[str, str]] = []
        for scheme in login.candidates():
            if scheme != login.cipher.scheme:
                login.cipher = ServerCipher.from_password(login.admin, login._password, scheme)
                with self._tokens_lock:
                    self._tokens.clear()
            # A token oned has not cached yet: its session cache would pass the old one without asking
            # the auth driver, hiding a password that changed since.
            with self._tokens_lock:
                previous = self._tokens.get(login.admin)
                expiry = int(time.time()) + TOKEN_LIFETIME_SECONDS
                if previous is not None:
                    expiry = max(expiry, int(previous[0]) + 1)
                self._tokens[login.admin] = (
                    expiry,
                    self._view(login.cipher.session_for(login.admin, expiry), login.admin),
                )
            try:
                version = str(self._call_once("one.system.version"))
            except OneAuthenticationError as exc:
                refusals.append((scheme.lines, exc.message))
                continue
            finally:
                login.checked_at = time.monotonic()
            expected = scheme_for_version(version)
            if login.pinned is None and expected != scheme:
                # Accepted, but not the scheme oned's version speaks (a patched build?): keep what works.
                log.warning("oned %s accepted %s tokens (expected %s)", version, scheme.lines, expected.lines)
            login.version = version
            return version
        login.version = None
        login.refusal = (
            f"oned at {self.endpoint} refused the login of server admin {login.admin!r} "
            f"(credentials from {login.path}) with the login tokens of OpenNebula "
            f"{', '.join(lines for lines, _ in refusals)}: {'; '.join(sorted({m for _, m in refusals}))}. "
            f"Check that the file holds "
            f"'{login.admin}:<password>' with the password of that server_cipher user; oned.log says why "
            f"it refused (e.g. 'User name missmatch' is a wrong password or token scheme)"
        )
        raise ServerLoginRefused(login.refusal, method="one.system.version")

    def _relogin_after_refusal(self, refused: OneAuthenticationError) -> bool:
        """After oned refused one of our tokens: True when the login now works with another scheme (so
        the call may be retried); False when the admin login is fine (the refusal was the user's);
        raise ServerLoginRefused when the admin login itself is refused."""
        login = self._login
        if login is None:
            return False
        with login.lock:
            before = login.cipher.scheme
            recently = time.monotonic() - login.checked_at < _ServerLogin.RECHECK_SECONDS
            if recently and login.version is None:
                # The admin login failed moments ago: say so again without asking oned (and its auth
                # driver) three more times per request.
                raise ServerLoginRefused(login.refusal, method=refused.method) from refused
            self._login_locked(login)
            return login.cipher.scheme != before

    def for_user(self, username: str, *, now: float | None = None) -> OneGateway:
        """A gateway acting as `username`; cached per user, renewed before expiry.

        It calls with a server_cipher token, or, when this gateway was made with `user_login_tokens`,
        with a login token of the user's own (`one.user.login`, obtained with that server_cipher token):
        oned accepts those without its auth driver, and the user's other logins (CLI, Sunstone) do not
        evict them from its one-session-per-user cache."""
        login = self._login
        if login is None:
            raise OneAuthenticationError("this gateway has no server_cipher credentials")
        current = time.time() if now is None else now
        with self._tokens_lock:
            cached = self._tokens.get(username)
            if cached is not None and cached[0] - TOKEN_RENEW_MARGIN_SECONDS > current:
                return cached[1]
            expiry = int(current) + TOKEN_LIFETIME_SECONDS
            gateway = self._view(login.cipher.session_for(username, expiry), username)
            if not (login.user_login_tokens and username != login.admin):
                self._tokens[username] = (expiry, gateway)
                return gateway
        # The exchange is an XML-RPC call: made outside the lock, so other users are not held up.
        gateway = self._login_token_view(login, username, gateway, current)
        with self._tokens_lock:
            self._tokens[username] = (expiry, gateway)
        return gateway

    def _login_token_view(
        self, login: _ServerLogin, username: str, cipher_view: OneGateway, now: float
    ) -> OneGateway:
        # Every econe process and server derives the same token for a user and a 30-minute window, so
        # a user holds at most two of econe's (oned keeps up to 10 login tokens per user). It is valid
        # to the end of the next window, past the cached view's own renewal.
        window = int(now) // TOKEN_LIFETIME_SECONDS
        token = login.login_token_for(username, window)
        valid = (window + 2) * TOKEN_LIFETIME_SECONDS - int(now)
        try:
            granted = str(cipher_view.call("one.user.login", username, token, valid, -1))
        except OneAuthenticationError:
            raise
        except OneError as exc:
            # Disabled for the user's driver (MAX_TOKEN_TIME 0), the token limit reached, an oned
            # without one.user.login: server_cipher tokens still work, at the auth driver's cost.
            log.warning("no login token for %s (%s): using server_cipher tokens", username, exc.message)
            return cipher_view
        return self._view(f"{username}:{granted}", username, own_token=True)

    def _view(self, session: str, acts_for: str, own_token: bool = False) -> OneGateway:
        view = OneGateway(
            self.endpoint, session, timeout=self.timeout, _transport=self._transport, _parent=self
        )
        view._acts_for = acts_for
        view._own_token = own_token
        view.observer = self.observer
        return view

    def _forget(self, username: str, view: OneGateway) -> None:
        with self._tokens_lock:
            cached = self._tokens.get(username)
            if cached is not None and cached[1] is view:
                del self._tokens[username]

    def call(self, method: str, *params: Any) -> Any:
        """Call `method(session, *params)`; return the value of a success tuple or raise OneError.

        A token oned refuses is dealt with once: a user's own login token that oned dropped (the user
        was disabled, or oned lost it) is replaced; otherwise the server admin's login is checked: a
        changed token scheme (oned upgraded) is followed and the call retried, a refused admin login
        raises ServerLoginRefused, and anything else is the user's refusal, raised as it is."""
        try:
            return self._call_once(method, *params)
        except ServerLoginRefused:
            raise
        except OneAuthenticationError as exc:
            parent = self._parent
            if parent is not None and self._own_token:
                parent._forget(self._acts_for, self)
                return parent.for_user(self._acts_for)._call_once(method, *params)
            server = parent if parent is not None else self
            if server._login is None or not server._relogin_after_refusal(exc):
                raise
        if self._parent is not None:
            return self._parent.for_user(self._acts_for)._call_once(method, *params)
        return self._call_once(method, *params)

    def _call_once(self, method: str, *params: Any) -> Any:
        observer = self.observer
        if observer is None:
            return self._exchange(method, params)
        started = time.perf_counter()
        ok = False
        try:
            result = self._exchange(method, params)
            ok = True
            return result
        finally:
            observer(method, time.perf_counter() - started, ok)

    def _exchange(self, method: str, params: tuple[Any, ...]) -> Any:
        """One XML-RPC request and its decoded answer."""
        session = self.session
        if self._login is not None:
            session = self.for_user(self._login.admin).session
        request = xmlrpc.client.dumps((session, *params), methodname=method, allow_none=False)
        try:
            body = self._transport.post(request.encode("utf-8"))
        except (OSError, http.client.HTTPException) as exc:
            raise OneUnavailable(
                f"[{method}] cannot reach oned at {self.endpoint}: {exc}", method=method
            ) from exc
        try:
            result = decode_response(body)
        except _ResponseFault as fault:
            err = OneFault(f"[{method}] {fault.text}", method=method)
            err.code = fault.code
            raise err from None
        except ValueError as exc:
            raise OneUnavailable(f"[{method}] unexpected answer from oned: {exc}", method=method) from exc
        if not isinstance(result, list) or not result:
            raise OneUnavailable(f"[{method}] unexpected answer from oned: {result!r:.200}", method=method)
        if result[0] is True:
            return result[1] if len(result) > 1 else None
        raise error_from_tuple(method, result)

    def _int(self, method: str, *params: Any) -> int:
        return int(self.call(method, *params))

    def _str(self, method: str, *params: Any) -> str:
        return str(self.call(method, *params))

    def document(self, method: str, *params: Any) -> str:
        """The text of an info call's answer as oned sent it (`document("one.vm.info", 7, False)`).

        Only for what needs the text itself: the tests of the documents' shapes (the simulator's
        conformance) and the benchmarks' baselines. Everything else uses the typed methods below, which
        return records (one/records.py), so no module outside one/ parses an OpenNebula document."""
        return self._str(method, *params)

    def _one(self, kind: type[D], method: str, *params: Any) -> D:
        from one_drivers.one.records import parse

        return parse(kind, self._str(method, *params))

    def _pool(self, kind: type[D], method: str, *params: Any) -> list[D]:
        from one_drivers.one.records import parse_pool

        return parse_pool(kind, self._str(method, *params))

    # --- system ----------------------------------------------------------------------------------
    def system_version(self) -> str:
        return self._str("one.system.version")

    def system_config(self) -> str:
        return self._str("one.system.config")

    # --- users -----------------------------------------------------------------------------------
    def user_info(self, user_id: int = -1, decrypt: bool = False) -> UserRecord:
        """-1 = the calling user (the one a login token acts for)."""
        from one_drivers.one.records import UserRecord

        return self._one(UserRecord, "one.user.info", user_id, decrypt)

    def userpool_info(self) -> list[UserRecord]:
        from one_drivers.one.records import UserRecord

        return self._pool(UserRecord, "one.userpool.info")

    def user_allocate(
        self, name: str, password: str, driver: str = "core", group_ids: tuple[int, ...] = ()
    ) -> int:
        """Returns the new user's id (admin only)."""
        return self._int("one.user.allocate", name, password, driver, list(group_ids))

    def user_passwd(self, user_id: int, password: str) -> int:
        return self._int("one.user.passwd", user_id, password)

    def user_update(self, user_id: int, template: str, append: bool = True) -> int:
        return self._int("one.user.update", user_id, template, 1 if append else 0)

    # --- hosts -----------------------------------------------------------------------------------
    def host_info(self, host_id: int, decrypt: bool = False) -> HostRecord:
        from one_drivers.one.records import HostRecord

        return self._one(HostRecord, "one.host.info", host_id, decrypt)

    def hostpool_info(self) -> list[HostRecord]:
        from one_drivers.one.records import HostRecord

        return self._pool(HostRecord, "one.hostpool.info")

    # --- templates -------------------------------------------------------------------------------
    def template_info(
        self, template_id: int, extended: bool = False, decrypt: bool = False
    ) -> TemplateRecord:
        from one_drivers.one.records import TemplateRecord

        return self._one(TemplateRecord, "one.template.info", template_id, extended, decrypt)

    def templatepool_info(
        self, filter_flag: int = -2, start: int = -1, end: int = -1
    ) -> list[TemplateRecord]:
        from one_drivers.one.records import TemplateRecord

        return self._pool(TemplateRecord, "one.templatepool.info", filter_flag, start, end)

    def template_instantiate(
        self,
        template_id: int,
        name: str = "",
        hold: bool = False,
        extra_template: str = "",
        persistent: bool = False,
    ) -> int:
        """Returns the new VM's id."""
        return self._int("one.template.instantiate", template_id, name, hold, extra_template, persistent)

    # --- virtual machines ------------------------------------------------------------------------
    def vm_info(self, vm_id: int, decrypt: bool = False) -> VmRecord:
        from one_drivers.one.records import VmRecord

        return self._one(VmRecord, "one.vm.info", vm_id, decrypt)

    def vmpool_info(
        self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1
    ) -> list[VmRecord]:
        """Reduced VM bodies (no USER_TEMPLATE attributes of ours); `end < -1` = page of size -end."""
        from one_drivers.one.records import VmRecord

        return self._pool(VmRecord, "one.vmpool.info", filter_flag, start, end, state)

    def vmpool_infoextended(
        self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1
    ) -> list[VmRecord]:
        """Full VM bodies; `end < -1` = page of size -end starting at offset `start`."""
        from one_drivers.one.records import VmRecord

        return self._pool(VmRecord, "one.vmpool.infoextended", filter_flag, start, end, state)

    def vm_action(self, action: str, vm_id: int) -> int:
        return self._int("one.vm.action", action, vm_id)

    def vm_update(self, vm_id: int, template: str, append: bool = True) -> int:
        """Replace (append=False) or merge into the USER_TEMPLATE."""
        return self._int("one.vm.update", vm_id, template, 1 if append else 0)

    def vm_disksaveas(
        self, vm_id: int, disk_id: int, name: str, image_type: str = "", snapshot_id: int = -1
    ) -> int:
        """Returns the new image's id."""
        return self._int("one.vm.disksaveas", vm_id, disk_id, name, image_type, snapshot_id)

    def vm_attach(self, vm_id: int, disk_template: str) -> int:
        return self._int("one.vm.attach", vm_id, disk_template)

    def vm_detach(self, vm_id: int, disk_id: int) -> int:
        return self._int("one.vm.detach", vm_id, disk_id)

    def vm_diskresize(self, vm_id: int, disk_id: int, size_mb: int) -> int:
        """Grow a VM disk to `size_mb` (oned takes the size as a string)."""
        return self._int("one.vm.diskresize", vm_id, disk_id, str(size_mb))

    # --- images ----------------------------------------------------------------------------------
    def image_allocate(self, template: str, datastore_id: int, skip_capacity_check: bool = False) -> int:
        """Returns the new image's id. The capacity flag is only sent when set (older oned lack it)."""
        if skip_capacity_check:
            return self._int("one.image.allocate", template, datastore_id, True)
        return self._int("one.image.allocate", template, datastore_id)

    def image_info(self, image_id: int, decrypt: bool = False) -> ImageRecord:
        from one_drivers.one.records import ImageRecord

        return self._one(ImageRecord, "one.image.info", image_id, decrypt)

    def imagepool_info(self, filter_flag: int = -2, start: int = -1, end: int = -1) -> list[ImageRecord]:
        from one_drivers.one.records import ImageRecord

        return self._pool(ImageRecord, "one.imagepool.info", filter_flag, start, end)

    def image_update(self, image_id: int, template: str, append: bool = True) -> int:
        return self._int("one.image.update", image_id, template, 1 if append else 0)

    def image_delete(self, image_id: int, force: bool = False) -> int:
        if force:
            return self._int("one.image.delete", image_id, True)
        return self._int("one.image.delete", image_id)

    def image_persistent(self, image_id: int, persistent: bool) -> int:
        return self._int("one.image.persistent", image_id, persistent)

    def image_chtype(self, image_id: int, image_type: str) -> int:
        return self._int("one.image.chtype", image_id, image_type)

    def image_clone(self, image_id: int, name: str, datastore_id: int = -1) -> int:
        """Returns the clone's id; datastore -1 = the source's datastore."""
        return self._int("one.image.clone", image_id, name, datastore_id)

    # --- datastores ------------------------------------------------------------------------------
    def datastore_info(self, datastore_id: int, decrypt: bool = False) -> DatastoreRecord:
        from one_drivers.one.records import DatastoreRecord

        return self._one(DatastoreRecord, "one.datastore.info", datastore_id, decrypt)

    def datastorepool_info(self) -> list[DatastoreRecord]:
        from one_drivers.one.records import DatastoreRecord

        return self._pool(DatastoreRecord, "one.datastorepool.info")

    # --- virtual networks ------------------------------------------------------------------------
    def vn_info(self, vn_id: int, decrypt: bool = False) -> VnetRecord:
        from one_drivers.one.records import VnetRecord

        return self._one(VnetRecord, "one.vn.info", vn_id, decrypt)

    def vn_info_with_text(self, vn_id: int, decrypt: bool = False) -> tuple[VnetRecord, str]:
        """The record and the document it was read from: econe's elastic-IP hook scripts take the VNET
        document as an argument (upstream's interface), so its text leaves here once, unparsed."""
        text = self._str("one.vn.info", vn_id, decrypt)
        from one_drivers.one.records import VnetRecord, parse

        return parse(VnetRecord, text), text

    def vnpool_info(self, filter_flag: int = -2, start: int = -1, end: int = -1) -> list[VnetRecord]:
        from one_drivers.one.records import VnetRecord

        return self._pool(VnetRecord, "one.vnpool.info", filter_flag, start, end)

    def vn_hold(self, vn_id: int, lease_template: str) -> int:
        return self._int("one.vn.hold", vn_id, lease_template)

    def vn_release(self, vn_id: int, lease_template: str) -> int:
        return self._int("one.vn.release", vn_id, lease_template)

    def vn_update(self, vn_id: int, template: str, append: bool = True) -> int:
        return self._int("one.vn.update", vn_id, template, 1 if append else 0)

    # --- what the OCCI service adds --------------------------------------------------------------
    def vm_allocate(self, template: str, hold: bool = False) -> int:
        """Returns the new VM's id (a VM from a whole template, as OCCI's instance types build it)."""
        return self._int("one.vm.allocate", template, hold)

    def vm_attachnic(self, vm_id: int, nic_template: str) -> int:
        return self._int("one.vm.attachnic", vm_id, nic_template)

    def vm_detachnic(self, vm_id: int, nic_id: int) -> int:
        return self._int("one.vm.detachnic", vm_id, nic_id)

    def vn_allocate(self, template: str, cluster_id: int = -1) -> int:
        """Returns the new network's id; cluster -1 = the default cluster."""
        return self._int("one.vn.allocate", template, cluster_id)

    def vn_delete(self, vn_id: int) -> int:
        return self._int("one.vn.delete", vn_id)

    def vn_chmod(self, vn_id: int, perms: tuple[int, ...]) -> int:
        """Nine permission bits (owner/group/other × use/manage/admin), -1 = leave unchanged."""
        return self._int("one.vn.chmod", vn_id, *perms)

    def image_chmod(self, image_id: int, perms: tuple[int, ...]) -> int:
        """Nine permission bits (owner/group/other × use/manage/admin), -1 = leave unchanged."""
        return self._int("one.image.chmod", image_id, *perms)

    # --- security groups and VM locks (econe's access and network family) ------------------------
    def secgroup_allocate(self, template: str) -> int:
        """Returns the new security group's id."""
        return self._int("one.secgroup.allocate", template)

    def secgroup_info(self, sg_id: int, decrypt: bool = False) -> SecurityGroupRecord:
        from one_drivers.one.records import SecurityGroupRecord

        return self._one(SecurityGroupRecord, "one.secgroup.info", sg_id, decrypt)

    def secgrouppool_info(
        self, filter_flag: int = -2, start: int = -1, end: int = -1
    ) -> list[SecurityGroupRecord]:
        from one_drivers.one.records import SecurityGroupRecord

        return self._pool(SecurityGroupRecord, "one.secgrouppool.info", filter_flag, start, end)

    def secgroup_update(self, sg_id: int, template: str, append: bool = False) -> int:
        """Replace (append=False) or merge into the group's template; oned re-checks every RULE."""
        return self._int("one.secgroup.update", sg_id, template, 1 if append else 0)

    def secgroup_delete(self, sg_id: int) -> int:
        return self._int("one.secgroup.delete", sg_id)

    def vm_attachsg(self, vm_id: int, nic_id: int, sg_id: int) -> int:
        return self._int("one.vm.attachsg", vm_id, nic_id, sg_id)

    def vm_detachsg(self, vm_id: int, nic_id: int, sg_id: int) -> int:
        return self._int("one.vm.detachsg", vm_id, nic_id, sg_id)

    def vm_lock(self, vm_id: int, level: int = 1, test: bool = False) -> int:
        """Lock level 1 USE, 2 MANAGE, 3 ADMIN, 4 ALL (oned 5.10+)."""
        return self._int("one.vm.lock", vm_id, level, test)

    def vm_unlock(self, vm_id: int) -> int:
        return self._int("one.vm.unlock", vm_id)

    def vm_resize(self, vm_id: int, template: str, enforce: bool = False) -> int:
        """New CPU/VCPU/MEMORY from `template` (absent ones are kept); `enforce` checks host capacity."""
        return self._int("one.vm.resize", vm_id, template, enforce)

    def vm_updateconf(self, vm_id: int, template: str, append: bool = False) -> int:
        """Rewrite the VM's OS/FEATURES/GRAPHICS/.../CONTEXT. Replace mode drops the sections not given;
        append (oned >= 6.4) merges into them, so it is only sent when asked for."""
        if append:
            return self._int("one.vm.updateconf", vm_id, template, 1)
        return self._int("one.vm.updateconf", vm_id, template)


def logged_in_server_admin(
    endpoint: str,
    credentials: Path,
    *,
    scheme: CipherScheme | None = None,
    user_login_tokens: bool = True,
    timeout: float = 30.0,
) -> OneGateway:
    """A server's (econe's, OCCI's) admin gateway, logged in once: raises ServerLoginRefused (naming the
    credentials file and oned's answer) when oned refuses it, so a server never starts unable to serve;
    an oned that does not answer yet only gets a warning (the first request logs in)."""
    admin = OneGateway.server_admin(
        endpoint, credentials, timeout=timeout, scheme=scheme, user_login_tokens=user_login_tokens
    )
    try:
        version = admin.login()
    except OneUnavailable as exc:
        log.warning("OpenNebula not reachable yet (%s); requests get 503 until it answers", exc.message)
        return admin
    log.info(
        "logged into OpenNebula %s at %s as %s (credentials from %s, %s login tokens)",
        version,
        endpoint,
        admin.username,
        credentials,
        admin.cipher.scheme.lines if admin.cipher else "-",
    )
    return admin
