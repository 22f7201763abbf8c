"""SCHED_REQUIREMENTS evaluation for the simulator's scheduler: oned's expression grammar, reduced.

Supports `ATTR = value`, `!=`, `>`, `<`, `@>` (list contains), `&`, `|`, `!` and parentheses, with
`*` wildcards in string values as oned's scheduler allows. Attributes come from a host's ID, NAME,
CLUSTER_ID, CLUSTER and TEMPLATE; an undefined attribute makes a comparison false.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

_TOKEN = re.compile(r'\s*(?:(@>|!=|[=<>&|!()])|"([^"]*)"|([A-Za-z0-9_./\-:*]+))')


class RequirementError(ValueError):
    pass


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise RequirementError(f"cannot parse requirements at {expr[pos:].lstrip()!r}")
        pos = m.end()
        if m.group(1):
            out.append(("op", m.group(1)))
        elif m.group(2) is not None:
            out.append(("str", m.group(2)))
        else:
            out.append(("word", m.group(3)))
    return out


def evaluate(expr: str, attrs: Mapping[str, str]) -> bool:
    """True when `attrs` satisfy the requirement expression (an empty expression is true)."""
    if not expr.strip():
        return True
    toks = _tokens(expr)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(toks):
            raise RequirementError("unexpected end of requirements")
        pos += 1
        return toks[pos - 1]

    def chain(op: str, operand: Callable[[], bool]) -> bool:
        """`operand op operand ...`, every operand parsed (no short cut); `|` binds looser than `&`."""
        values = [operand()]
        while peek() == ("op", op):
            take()
            values.append(operand())
        return any(values) if op == "|" else all(values)

    def disjunction() -> bool:
        return chain("|", lambda: chain("&", unary))

    def unary() -> bool:
        tok = take()
        if tok == ("op", "!"):
            return not unary()
        if tok == ("op", "("):
            value = disjunction()
            if take() != ("op", ")"):
                raise RequirementError("missing ')'")
            return value
        if tok[0] == "op":
            raise RequirementError(f"unexpected {tok[1]!r}")
        op = take()
        if op[0] != "op" or op[1] not in ("=", "!=", ">", "<", "@>"):
            raise RequirementError(f"expected a comparison after {tok[1]}")
        rhs = take()
        return compare(tok[1].upper(), op[1], rhs[1])

    def compare(name: str, op: str, rhs: str) -> bool:
        if name not in attrs:
            return op == "!="
        lhs = attrs[name]
        if op == "@>":
            return rhs in [p.strip() for p in lhs.split(",")]
        if op in (">", "<"):
            try:
                a, b = float(lhs), float(rhs)
            except ValueError:
                return False
            return a > b if op == ">" else a < b
        equal = fnmatch.fnmatchcase(lhs, rhs) if "*" in rhs else lhs == rhs
        try:
            equal = equal or float(lhs) == float(rhs)
        except ValueError:
            pass
        return equal if op == "=" else not equal

    result = disjunction()
    if pos != len(toks):
        raise RequirementError(f"trailing text in requirements: {toks[pos][1]!r}")
    return result
