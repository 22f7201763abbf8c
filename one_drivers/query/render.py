"""Handler result dict -> EC2 XML response: the inverse of botocore's EC2QueryParser.

Each output shape is compiled once into a writer (member tables of ready-made tags), so rendering a
1,000-instance DescribeInstances is string appends, not a walk over the model. Errors have their own
fixed document, rendered by `render_error` with the status the `Ec2Error` carries; econe's actions outside
the model get a flat one from `render_extension`. Every EC2 XML document econe sends is written here.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import botocore.model

from one_drivers.query.errors import Ec2Error
from one_drivers.query.model import API_VERSION, action_names, operation_model

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
NAMESPACE = "http://ec2.amazonaws.com/doc/{version}/"
_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Writer = Callable[[Any, list[str]], None]
Scalar = Callable[[Any], str]


class RenderError(ValueError):
    """A handler returned something its output shape cannot carry (a bug; econe answers InternalError)."""


# Characters XML 1.0 cannot carry at all are replaced; CR is kept as a character reference because a
# parser would otherwise normalise it to LF. Applied once to the whole document, which is cheaper than
# per value and safe because our own markup never contains these characters.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff]")


_ALLOWED_BYTES = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n")


def _replace_not_xml(match: re.Match[str]) -> str:
    return "&#13;" if match.group() == "\r" else "\ufffd"


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _string(value: Any) -> str:
    return _escape(value if isinstance(value, str) else str(value))


def _boolean(value: Any) -> str:
    return "true" if value else "false"


def _integer(value: Any) -> str:
    return str(int(value))


def _float(value: Any) -> str:
    return repr(float(value))


def format_timestamp(value: datetime | int | float | str) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as AWS writes it (`2024-05-01T12:00:00.000Z`).

    A naive datetime is taken as UTC; ints and floats are epoch seconds (OpenNebula's STIME/ETIME).
    """
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _blob(value: Any) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")


_SCALARS: dict[str, Scalar] = {
    "string": _string,
    "character": _string,
    "boolean": _boolean,
    "integer": _integer,
    "long": _integer,
    "float": _float,
    "double": _float,
    "timestamp": format_timestamp,
    "blob": _blob,
}

# (open tag, close tag, scalar formatter or None, writer for composite members or None)
_Entry = tuple[str, str, Scalar | None, Writer | None]

# Writers being compiled (with placeholders for recursive shapes) live in _WRITERS, touched only under
# _COMPILING; a writer is published to _READY once complete, so a concurrent request never sees a
# half-filled member table.
_WRITERS: dict[str, Writer] = {}
_READY: dict[str, Writer] = {}
_COMPILING = threading.RLock()


def output_writer(shape: botocore.model.Shape) -> Writer:
    """The complete writer of an output shape, compiled on first use (thread-safe)."""
    writer = _READY.get(shape.name)
    if writer is None:
        with _COMPILING:
            writer = _writer(shape)
            _READY.update(_WRITERS)
    return writer


def warm_up(actions: Iterable[str] | None = None) -> None:
    """Compile response writers now (at server start) rather than on first use; all actions by default
    (~0.15 s)."""
    for action in sorted(action_names()) if actions is None else actions:
        shape = operation_model(action).output_shape
        if shape is not None:
            output_writer(shape)


def _compile(shape: botocore.model.Shape) -> tuple[Scalar | None, Writer | None]:
    scalar = _SCALARS.get(shape.type_name)
    if scalar is not None:
        return scalar, None
    return None, _writer(shape)


def _writer(shape: botocore.model.Shape) -> Writer:
    """The writer for a composite shape, compiled once; recursive shapes find their own placeholder."""
    writer = _WRITERS.get(shape.name)
    if writer is not None:
        return writer
    if isinstance(shape, botocore.model.StructureShape):
        return _structure_writer(shape)
    if isinstance(shape, botocore.model.ListShape):
        return _list_writer(shape)
    raise RenderError(f"cannot render {shape.type_name} shape {shape.name}")


def _structure_writer(shape: botocore.model.StructureShape) -> Writer:
    table: dict[str, _Entry] = {}
    shape_name = shape.name

    def write_structure(value: Any, out: list[str]) -> None:
        append = out.append
        lookup = table.get
        for key, member in value.items():
            if member is None:
                continue
            entry = lookup(key)
            if entry is None:
                if key == "ResponseMetadata":  # boto3-style results may carry it; it is not payload
                    continue
                raise RenderError(f"{shape_name} has no member {key!r}")
            open_tag, close_tag, scalar, nested = entry
            if scalar is _string and type(member) is str:
                # Most members are plain strings: escape inline, skipping two calls per member.
                if "&" in member or "<" in member or ">" in member:
                    member = _escape(member)
                append(open_tag + member + close_tag)
            elif scalar is not None:
                append(open_tag + scalar(member) + close_tag)
            else:
                append(open_tag)
                nested(member, out)  # type: ignore[misc]
                append(close_tag)

    _WRITERS[shape_name] = write_structure  # before the members: shapes may contain themselves
    for name, member_shape in shape.members.items():
        tag = member_shape.serialization.get("name", name)
        table[name] = (f"<{tag}>", f"</{tag}>", *_compile(member_shape))
    return write_structure


def _list_writer(shape: botocore.model.ListShape) -> Writer:
    member_shape = shape.member
    tag = member_shape.serialization.get("name", "item")
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    list_name = shape.name
    holder: list[tuple[Scalar | None, Writer | None]] = []

    def write_list(value: Any, out: list[str]) -> None:
        if isinstance(value, str | bytes | Mapping):
            # Iterating these would "work" and render characters or keys as items.
            raise RenderError(f"{list_name} needs a list, got {type(value).__name__}")
        scalar, nested = holder[0]
        append = out.append
        if scalar is not None:
            for item in value:
                if item is not None:
                    append(open_tag + scalar(item) + close_tag)
        else:
            for item in value:
                if item is not None:
                    append(open_tag)
                    nested(item, out)  # type: ignore[misc]
                    append(close_tag)

    _WRITERS[shape.name] = write_list
    holder.append(_compile(member_shape))
    return write_list


def render_response(action: str, result: Mapping[str, Any], request_id: str, version: str) -> bytes:
    """`<{Action}Response xmlns=".../doc/{version}/">`, `<requestId>` first, then the result by output shape.

    Operations modelled without output answer `<return>true</return>` (or `result["Return"]`), as AWS does.
    A result that does not fit the shape raises RenderError (a handler bug: answer InternalError).
    """
    shape = operation_model(action).output_shape
    if not _VERSION.fullmatch(version):
        # The Version comes from the client: anything but a date would make a namespace clients reject.
        version = API_VERSION
    out = [
        f'{XML_DECLARATION}<{action}Response xmlns="{NAMESPACE.format(version=version)}">'
        f"<requestId>{_escape(request_id)}</requestId>"
    ]
    if shape is not None:
        try:
            output_writer(shape)(result, out)
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, RenderError):
                raise
            raise RenderError(f"{action}: result does not fit its output shape: {exc}") from exc
    else:
        # Modelled without output, but AWS answers these (RebootInstances, CreateTags, ...) with
        # <return>true</return>, and libcloud reads that element to report success.
        extra = set(result) - {"Return", "ResponseMetadata"}
        if extra:
            raise RenderError(f"{action} has no output members, got {sorted(extra)}")
        out.append(f"<return>{_boolean(result.get('Return', True))}</return>")
    out.append(f"</{action}Response>")
    return _finish("".join(out))


def render_extension(action: str, result: Mapping[str, Any], request_id: str, version: str) -> bytes:
    """A response of an action outside the model (econe's UploadImage): flat `<name>value</name>` members.

    The same envelope as `render_response`, members in the result's order with their first letter
    lowered, as the upstream econe answered.
    """
    if not _VERSION.fullmatch(version):
        version = API_VERSION
    out = [
        f'{XML_DECLARATION}<{action}Response xmlns="{NAMESPACE.format(version=version)}">'
        f"<requestId>{_escape(request_id)}</requestId>"
    ]
    for name, value in result.items():
        tag = name[:1].lower() + name[1:]
        out.append(f"<{tag}>{_string(value)}</{tag}>")
    out.append(f"</{action}Response>")
    return _finish("".join(out))


def render_error(error: Ec2Error, request_id: str) -> bytes:
    """`<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`."""
    return _finish(
        f"{XML_DECLARATION}<Response><Errors><Error><Code>{_escape(error.code)}</Code>"
        f"<Message>{_escape(error.message)}</Message></Error></Errors>"
        f"<RequestID>{_escape(request_id)}</RequestID></Response>"
    )


def _finish(document: str) -> bytes:
    try:
        data = document.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only the slow path can replace them
        return _NOT_XML.sub(_replace_not_xml, document).encode("utf-8")
    # Deleting every allowed byte leaves only control characters: a C-speed check, ~1 ms per MB.
    if data.translate(None, _ALLOWED_BYTES) or b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:
        return _NOT_XML.sub(_replace_not_xml, document).encode("utf-8")
    return data
