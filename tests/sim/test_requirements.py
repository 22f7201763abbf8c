"""The scheduler's requirement expressions and the pool pagination rule, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_drivers.sim.cloud import Cloud
from one_drivers.sim.model import DEFAULT_PERMS, Owned
from one_drivers.sim.requirements import RequirementError, evaluate

HOST = {"ID": "3", "NAME": "ec2-us-east", "CLUSTER_ID": "0", "CLUSTER": "default", "PUBLIC_CLOUD": "YES",
        "HYPERVISOR": "ec2", "TOTALCPU": "800", "CLUSTERS": "0,100"}  # fmt: skip


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("", True),
        ("ID = 3", True),
        ("ID = 4", False),
        ('NAME = "ec2-us-east"', True),
        ('NAME = "ec2-*"', True),
        ("NAME = ec2-us-east", True),
        ("CLUSTER_ID = 0 & PUBLIC_CLOUD = YES", True),
        ("(CLUSTER_ID = 0) & !(PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)", False),
        ("(CLUSTER_ID = 0) & (PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)", True),
        ("ID = 1 | ID = 3", True),
        ("!(ID = 3)", False),
        ("TOTALCPU > 400", True),
        ("TOTALCPU < 400", False),
        ("HYPERVISOR != kvm", True),
        ("UNDEFINED = x", False),
        ("UNDEFINED != x", True),
        ("CLUSTERS @> 100", True),
        ("ID = 3.0", True),
    ],
)
def test_expressions(expr: str, expected: bool) -> None:
    assert evaluate(expr, HOST) is expected


@pytest.mark.parametrize("expr", ["ID =", "(ID = 3", "ID = 3 &", "= 3", "ID = 3 )"])
def test_malformed_expressions(expr: str) -> None:
    with pytest.raises(RequirementError):
        evaluate(expr, HOST)


def _objs(n: int) -> list[Owned]:
    return [Owned(i, 0, 0, "oneadmin", "oneadmin", f"o{i}", DEFAULT_PERMS) for i in range(n)]


@given(n=st.integers(0, 40), start=st.integers(0, 45), size=st.integers(2, 50))
def test_page_is_a_slice_of_the_newest_first_listing(n: int, start: int, size: int) -> None:
    listing = list(range(n - 1, -1, -1))
    page = Cloud.paginate(_objs(n), start, -size)
    assert [o.id for o in page] == listing[start : start + size]


@given(n=st.integers(0, 30), low=st.integers(0, 35), high=st.integers(-1, 35))
def test_id_range_when_end_is_not_a_page_size(n: int, low: int, high: int) -> None:
    page = [o.id for o in Cloud.paginate(_objs(n), low, high)]
    assert page == [i for i in range(n - 1, -1, -1) if i >= low and (high < 0 or i <= high)]
