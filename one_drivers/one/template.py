"""OpenNebula template text: the one parser and the one escaping function.

Every template text this project sends to oned (econe's instantiate/update calls, the IM driver's
IMPORT_TEMPLATE and host/VM monitoring text) is built here, and every template text we read back
(probe output, monitor payloads) is parsed here. The grammar follows oned's template lexer: names are
`[A-Za-z0-9_]+`, values are bare words or double-quoted strings in which only `\\"` is an escape, and
vectors are `NAME = [ A = "x", B = "y" ]`. A user-supplied value can never add or change an attribute:
`quote_value` escapes quotes and refuses what oned's lexer cannot carry safely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

Value = str | dict[str, str]

_NAME_RE = re.compile(r"[A-Za-z0-9_]+\Z")
_BARE_VALUE_RE = re.compile(r"[^=#\s,\[\]]+")


class TemplateError(ValueError):
    """A template text (or a value for one) that oned's parser would reject or misread."""


def check_name(name: str) -> str:
    """Return the attribute name upper-cased, as oned stores it; refuse anything else."""
    if not _NAME_RE.match(name):
        raise TemplateError(f"invalid attribute name {name!r}: only letters, digits and '_' are allowed")
    return name.upper()


def quote_value(value: str) -> str:
    """Escape a value into a double-quoted template string that oned reads back unchanged.

    oned unescapes only `\\"`; a trailing backslash would escape the closing quote and swallow the
    attributes after it, and `]]>` aborts oned's parser, so both are refused rather than guessed at.
    """
    if "\x00" in value:
        raise TemplateError("template values cannot contain NUL characters")
    if "]]>" in value:
        raise TemplateError("template values cannot contain ']]>'")
    if value.endswith("\\"):
        raise TemplateError("template values cannot end with a backslash")
    return '"' + value.replace('"', '\\"') + '"'


def format_attribute(name: str, value: str | Mapping[str, str]) -> str:
    """One attribute as template text: `NAME = "v"` or a vector on one line."""
    key = check_name(name)
    if isinstance(value, str):
        return f"{key} = {quote_value(value)}"
    members = ", ".join(f"{check_name(k)} = {quote_value(v)}" for k, v in value.items())
    return f"{key} = [ {members} ]"


def build_template(attributes: Iterable[tuple[str, str | Mapping[str, str]]]) -> str:
    """Template text with one attribute per line (so a value's text never shares a line with another)."""
    return "".join(format_attribute(name, value) + "\n" for name, value in attributes)


@dataclass(frozen=True)
class Template:
    """A parsed template: attributes in text order; names upper-cased as oned does."""

    attributes: tuple[tuple[str, Value], ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[tuple[str, Value]]:
        return iter(self.attributes)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first single (non-vector) value named `name`."""
        key = name.upper()
        for attr, value in self.attributes:
            if attr == key and isinstance(value, str):
                return value
        return default

    def get_all(self, name: str) -> list[Value]:
        key = name.upper()
        return [value for attr, value in self.attributes if attr == key]

    def vectors(self, name: str) -> list[dict[str, str]]:
        return [v for v in self.get_all(name) if isinstance(v, dict)]

    def to_text(self) -> str:
        return build_template(self.attributes)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> TemplateError:
        line = self.text.count("\n", 0, self.pos) + 1
        return TemplateError(f"syntax error in template at line {line}: {what}")

    def skip_blank(self, newlines: bool) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t" or (newlines and ch in "\r\n"):
                self.pos += 1
            elif newlines and ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            else:
                break

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str:
        m = re.compile(r"[A-Za-z0-9_]+").match(self.text, self.pos)
        if not m:
            raise self.error(f"expected an attribute name, found {self.peek()!r}")
        self.pos = m.end()
        return m.group().upper()

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}, found {self.peek() or 'end of text'!r}")
        self.pos += 1

    def string(self) -> str:
        if self.peek() == '"':
            start = self.pos + 1
            i = start
            text = self.text
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise self.error("unterminated quoted value")
                if text[j - 1] == "\\" and j - 1 >= start:
                    i = j + 1
                    continue
                self.pos = j + 1
                return text[start:j].replace('\\"', '"')
        m = _BARE_VALUE_RE.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected a value, found {self.peek() or 'end of text'!r}")
        self.pos = m.end()
        return m.group()


def parse_template(text: str) -> Template:
    """Parse template text as oned does; raise TemplateError naming the line on bad syntax."""
    sc = _Scanner(text)
    attrs: list[tuple[str, Value]] = []
    while True:
        sc.skip_blank(newlines=True)
        if sc.pos >= len(text):
            return Template(tuple(attrs))
        name = sc.name()
        sc.skip_blank(newlines=False)
        sc.expect("=")
        sc.skip_blank(newlines=False)
        nxt = sc.peek()
        if nxt in ("\n", "\r", ""):
            attrs.append((name, ""))
            continue
        if nxt == "[":
            sc.pos += 1
            vector: dict[str, str] = {}
            sc.skip_blank(newlines=True)
            if sc.peek() == "]":
                sc.pos += 1
                attrs.append((name, vector))
                continue
            while True:
                sc.skip_blank(newlines=True)
                key = sc.name()
                sc.skip_blank(newlines=False)
                sc.expect("=")
                sc.skip_blank(newlines=False)
                vector.setdefault(key, sc.string())
                sc.skip_blank(newlines=True)
                if sc.peek() == ",":
                    sc.pos += 1
                    continue
                sc.expect("]")
                break
            attrs.append((name, vector))
        else:
            attrs.append((name, sc.string()))
