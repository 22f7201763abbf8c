"""SCHED_REQUIREMENTS evaluation for the simulator's scheduler: oned's expression grammar, reduced.

Supports `ATTR = value`, `!=`, `>`, `<`, `@>` (list contains), `&`, `|`, `!` and parentheses, with
`*` wildcards in string values as oned's scheduler allows. Attributes come from a host's ID, NAME,
CLUSTER_ID, CLUSTER and TEMPLATE; an undefined attribute makes a comparison false.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping

# An operator, a quoted string or a bare word; a token is (is an operator, its text).
_TOKEN = re.compile(r'\s*(?:(@>|!=|[=<>&|!()])|"([^"]*)"|([A-Za-z0-9_./\-:*]+))')
_ORDER = {">": operator.gt, "<": operator.lt}


class RequirementError(ValueError):
    pass


def _tokens(expr: str) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.lastindex is None:
            raise RequirementError(f"cannot parse requirements at {expr[pos:].lstrip()!r}")
        out.append((m.lastindex == 1, m[m.lastindex]))
        pos = m.end()
    return out


def evaluate(expr: str, attrs: Mapping[str, str]) -> bool:
    """True when `attrs` satisfy the requirement expression (an empty expression is true)."""
    toks = _tokens(expr)
    pos = 0

    def take() -> tuple[bool, str]:
        nonlocal pos
        if pos >= len(toks):
            raise RequirementError("unexpected end of requirements")
        pos += 1
        return toks[pos - 1]

    def chain(op: str, operand: Callable[[], bool]) -> bool:
        """`operand op operand ...`, every operand parsed (no short cut); `|` binds looser than `&`."""
        values = [operand()]
        while toks[pos : pos + 1] == [(True, op)]:
            take()
            values.append(operand())
        return any(values) if op == "|" else all(values)

    def disjunction() -> bool:
        return chain("|", lambda: chain("&", unary))

    def unary() -> bool:
        is_op, name = take()
        if is_op and name == "!":
            return not unary()
        if is_op and name == "(":
            value = disjunction()
            if take() != (True, ")"):
                raise RequirementError("missing ')'")
            return value
        if is_op:
            raise RequirementError(f"unexpected {name!r}")
        op_is_op, op = take()
        if not op_is_op or op not in ("=", "!=", ">", "<", "@>"):
            raise RequirementError(f"expected a comparison after {name}")
        return _compare(attrs.get(name.upper()), op, take()[1])

    if not toks:
        return True
    result = disjunction()
    if pos != len(toks):
        raise RequirementError(f"trailing text in requirements: {toks[pos][1]!r}")
    return result


def _compare(lhs: str | None, op: str, rhs: str) -> bool:
    """One comparison; an undefined attribute (`lhs` None) only satisfies `!=`."""
    if lhs is None:
        return op == "!="
    if op == "@>":
        return rhs in [p.strip() for p in lhs.split(",")]
    try:
        numbers: tuple[float, float] | None = (float(lhs), float(rhs))
    except ValueError:
        numbers = None
    if op in _ORDER:
        return numbers is not None and _ORDER[op](*numbers)
    equal = fnmatch.fnmatchcase(lhs, rhs) if "*" in rhs else lhs == rhs
    equal = equal or (numbers is not None and numbers[0] == numbers[1])
    return equal if op == "=" else not equal
