"""Random values for any botocore shape, for round-trip tests in both directions.

Driven by a `random.Random`, so the same generator serves a seeded sweep over every operation and, fed by
hypothesis' `st.randoms()`, property tests. Values are what a boto3 user passes (input) or sees (output).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.model

from one_drivers.query.parse import OPEN_ENUMS

# Characters that break naive XML, URL or template handling, plus some non-ASCII.
TRICKY = "<>&\"' \t\n=+%./;:[]$é中🙂"
PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_"
MAX_DEPTH = 5


def text(rnd: random.Random, *, allow_cr: bool = True) -> str:
    alphabet = PLAIN + TRICKY + ("\r" if allow_cr else "")
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))


def timestamp(rnd: random.Random) -> datetime:
    # Millisecond precision: AWS (and our renderer) write timestamps with milliseconds.
    base = datetime(2000, 1, 1, tzinfo=UTC)
    return base + timedelta(milliseconds=rnd.randint(0, 40 * 365 * 86400 * 1000))


def value_for(shape: botocore.model.Shape, rnd: random.Random, *, output: bool, depth: int = 0) -> Any:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, botocore.model.StructureShape)
        required = set(shape.required_members)
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            composite = member.type_name in ("structure", "list")
            if name in required or (rnd.random() < 0.5 and (depth < MAX_DEPTH or not composite)):
                result[name] = value_for(member, rnd, output=output, depth=depth + 1)
        return result
    if kind == "list":
        assert isinstance(shape, botocore.model.ListShape)
        if depth >= MAX_DEPTH and shape.member.type_name in ("structure", "list"):
            return []
        size = rnd.randint(0, 3)
        return [value_for(shape.member, rnd, output=output, depth=depth + 1) for _ in range(size)]
    enum = getattr(shape, "enum", None)
    if kind == "string":
        if enum and (output or shape.name not in OPEN_ENUMS or rnd.random() < 0.5):
            return rnd.choice(enum)
        return text(rnd)
    if kind == "integer":
        return rnd.randint(-(2**31), 2**31 - 1)
    if kind == "long":
        return rnd.randint(-(2**63), 2**63 - 1)
    if kind == "boolean":
        return rnd.random() < 0.5
    if kind in ("float", "double"):
        return rnd.choice([0.0, 1.5, -2.25, 1e-7, 123456.789, rnd.uniform(-1e9, 1e9)])
    if kind == "timestamp":
        return timestamp(rnd)
    if kind == "blob":
        return bytes(rnd.randint(0, 255) for _ in range(rnd.randint(0, 20)))
    raise AssertionError(f"no generator for {kind}")


def prune_empty(value: Any) -> Any:
    """What survives EC2 query serialization: empty lists and empty structures are not sent at all."""
    if isinstance(value, dict):
        pruned = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune_empty(v) for v in value if prune_empty(v) not in ({}, [])]
    return value
