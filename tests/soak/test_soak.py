"""Short versions of `make soak` (tests/soak/__main__.py): the same code paths, fewer operations."""

from __future__ import annotations

import pytest

from tests.soak.driver_soak import soak_driver
from tests.soak.econe_soak import clients_econe, fuzz_econe


@pytest.mark.slow
def test_driver_lifecycles_under_faults_kills_and_resends() -> None:
    result = soak_driver(120, vms=20, kill_every=50)
    assert result.kills == 2 and result.resent > 0 and sum(result.faults.values()) > 0
    assert result.unanswered == 0
    assert result.duplicated == 0 and result.mismatched_resends == 0
    assert result.leaked == 0


@pytest.mark.slow
def test_fuzzed_and_malformed_requests_get_no_5xx_and_no_hang() -> None:
    result = fuzz_econe(400, 14)
    assert result.requests >= 390 and result.raw == 14
    assert result.server_errors == [] and result.hangs == 0
    assert result.raw_server_errors == [] and result.raw_hangs == 0


@pytest.mark.slow
def test_concurrent_clients_with_colliding_client_tokens() -> None:
    result = clients_econe(8, 5.0, tokens=6)
    assert result.runs > 0 and result.tokens == 6
    assert (result.duplicated, result.lost, result.server_errors) == (0, 0, 0)
