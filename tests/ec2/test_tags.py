"""The launch tags shared by the VMM driver (which writes them) and the IM reaper (which reads them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_drivers.ec2.tags import DeployToken, deploy_token, deploy_token_prefix, parse_deploy_token


@given(st.integers(0, 10**9), st.integers(0, 2**40), st.integers(0, 10**6))
def test_tokens_read_back_as_written(vm_id: int, stime: int, seq: int) -> None:
    assert parse_deploy_token(deploy_token(vm_id, str(stime), seq)) == DeployToken(vm_id, str(stime), seq)


@given(st.integers(0, 10**4), st.sampled_from(["", "0", "17", "170"]), st.integers(0, 10**3))
def test_a_prefix_matches_exactly_the_tokens_of_its_vm_and_stime(vm_id: int, stime: str, seq: int) -> None:
    token = deploy_token(vm_id, stime, seq)
    assert token.startswith(deploy_token_prefix(vm_id, stime))
    # no other VM's or other STIME's token starts with it (one-1-... must not match one-12-...)
    assert not deploy_token(vm_id * 10 + 1, stime, seq).startswith(deploy_token_prefix(vm_id, stime))
    assert not token.startswith(deploy_token_prefix(vm_id, (stime or "0") + "0"))


def test_a_vm_without_stime_gets_zero() -> None:
    assert deploy_token(5, "", 1) == "one-5-0-1"


@pytest.mark.parametrize(
    "text", ["", "one-5-1-", "one-x-1-0", "two-5-1-0", "one-5-1-0-9", "one--1-0", "one-5-1-0 x"]
)
def test_anything_else_is_no_token(text: str) -> None:
    assert parse_deploy_token(text) is None
