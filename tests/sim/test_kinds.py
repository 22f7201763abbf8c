"""The kinds table (sim/kinds.py) walked row by row: every kind has its pool, its first id, a document,
its info and pool methods, and each generic operation it names is registered and persisted."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.sim.cloud import Cloud
from one_drivers.sim.kinds import KINDS
from one_drivers.sim.methods import GENERIC, METHODS, MUTATING
from one_drivers.sim.persist import POOLS
from one_drivers.sim.views import DOCS


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_is_complete(name: str) -> None:
    kind = KINDS[name]
    cloud = Cloud("a", "b")
    assert isinstance(cloud.pool(name), dict) and kind.pool in POOLS
    # the first id handed out is the kind's; the bootstrap objects sit below it
    assert cloud.next_id[name] == kind.first_id
    assert all(oid < kind.first_id for oid in cloud.pool(name))
    assert name in DOCS
    assert f"one.{kind.method}.info" in METHODS and f"one.{kind.method}pool.info" in METHODS
    for op in kind.ops.split():
        assert op in GENERIC, op
        assert f"one.{kind.method}.{op}" in METHODS and f"one.{kind.method}.{op}" in MUTATING


def test_the_generic_methods_are_exactly_the_tables() -> None:
    """No kind has a generic operation the table does not name (the registry holds what oned has)."""
    for kind in KINDS.values():
        for op in GENERIC:
            registered = f"one.{kind.method}.{op}" in METHODS
            assert registered == (op in kind.ops.split()), (kind.name, op)


def test_bootstrap_data_is_package_data() -> None:
    """The fixture documents the simulator loads ship inside the package (pyproject's package-data)."""
    import tomllib

    import one_drivers.sim

    here = Path(one_drivers.sim.__file__).parent
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    for name in ("bootstrap.yaml", "vm.yaml", "documents.yaml"):
        assert (here / name).is_file()
        assert any(Path(name).match(pattern) for pattern in patterns), name
