"""The marked block `one-ec2 install` keeps in oned.conf / monitord.conf (pure text functions).

Everything we add sits between a BEGIN and an END comment line, so a second install rewrites the block in
place (and changes nothing when it is the same) and uninstall removes exactly it. Driver sections are
written with template.py's quoting; a section of the same name outside the block is refused, since oned
would load both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from one_drivers.admin.tree import AdminError
from one_drivers.one.template import TemplateError, check_name, parse_template, quote_value

BEGIN = "# BEGIN one_drivers ec2: written by `one-ec2 install`, removed by `one-ec2 uninstall`"
END = "# END one_drivers ec2"


def _span(text: str) -> tuple[int, int] | None:
    """Character span of the block including its two marker lines and their line ends."""
    lines = text.splitlines(keepends=True)
    start = end = None
    offset = 0
    for line in lines:
        stripped = line.rstrip("\r\n")
        if start is None and stripped.startswith("# BEGIN one_drivers ec2"):
            start = offset
        elif start is not None and stripped == END:
            end = offset + len(line)
            break
        offset += len(line)
    if start is None:
        return None
    if end is None:
        raise AdminError(f"found {BEGIN.split(':')[0]!r} without {END!r}: repair the file by hand")
    return start, end


def current_block(text: str) -> str | None:
    """The block's body (between the markers), or None when there is no block."""
    span = _span(text)
    if span is None:
        return None
    inner = text[span[0] : span[1]].splitlines(keepends=True)[1:-1]
    return "".join(inner)


def without_block(text: str) -> str:
    """The text with our block (and the one blank line we put before it) removed."""
    span = _span(text)
    if span is None:
        return text
    head, tail = text[: span[0]], text[span[1] :]
    if head.endswith("\n\n"):
        head = head[:-1]
    return head + tail


def with_block(text: str, body: str) -> str:
    """The text with our block holding `body`: replaced where it is, else appended at the end."""
    block = f"{BEGIN}\n{body.rstrip(chr(10))}\n{END}\n"
    span = _span(text)
    if span is not None:
        return text[: span[0]] + block + text[span[1] :]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text else "") + block


def format_section(name: str, members: Mapping[str, str]) -> str:
    """`NAME = [` one member per line `]`, values quoted as oned reads them."""
    lines = [f"    {check_name(key)} = {quote_value(value)}" for key, value in members.items()]
    return f"{check_name(name)} = [\n" + ",\n".join(lines) + "\n]\n"


def sections_outside_block(text: str, kind: str) -> list[dict[str, str]]:
    """The `kind` vectors (VM_MAD, IM_MAD) of a configuration file, ignoring our own block."""
    try:
        return parse_template(without_block(text)).vectors(kind)
    except TemplateError as exc:
        raise AdminError(f"cannot read the file as oned does: {exc}") from exc


def values_outside_block(text: str, name: str) -> list[str]:
    try:
        found = parse_template(without_block(text)).get_all(name)
    except TemplateError as exc:
        raise AdminError(f"cannot read the file as oned does: {exc}") from exc
    return [value for value in found if isinstance(value, str)]


def refuse_clashes(text: str, path: str, wanted: Iterable[tuple[str, str]]) -> None:
    """Refuse when a section we add (kind, NAME) is already defined outside our block."""
    for kind, name in wanted:
        for section in sections_outside_block(text, kind):
            if section.get("NAME", "").lower() == name.lower():
                raise AdminError(
                    f"{path} already has a {kind} named {name!r} outside the one-ec2 block "
                    "(an upstream ec2 driver?): comment it out, then run `one-ec2 install` again"
                )
