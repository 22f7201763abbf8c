"""Fixtures of the action tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[EconeEnv, Seed]]:
    """econe on a seeded simulator whose datastore copies wait for sim.finish_image_copies(), so the
    states in between (LOCKED images: creating volumes, pending snapshots and AMIs) can be seen."""
    sim, env = start_econe_env(tmp_path, {"hold_image_copies": True})
    try:
        s = seed(env)
        sim.finish_image_copies()
        yield env, s
    finally:
        stop_econe_env(sim, env)
