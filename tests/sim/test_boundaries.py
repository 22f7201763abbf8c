"""The simulator is a test peer: no product module imports it, and it imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "one_drivers"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_no_product_module_imports_the_simulator() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "sim" not in path.relative_to(PACKAGE).parts[:1]
        and any(name == "one_drivers.sim" or name.startswith("one_drivers.sim.") for name in imports(path))
    ]
    assert offenders == []


def test_simulator_imports_only_one_and_mad() -> None:
    allowed = ("one_drivers.sim", "one_drivers.one", "one_drivers.mad")
    for path in (PACKAGE / "sim").glob("*.py"):
        ours = {name for name in imports(path) if name.startswith("one_drivers")}
        assert all(name.startswith(allowed) for name in ours), (path.name, ours)
