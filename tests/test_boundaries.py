"""The import boundaries of design/ARCHITECTURE.md, checked on the source: imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "one_drivers"

# package -> what it may import of ours (besides itself)
ALLOWED: dict[str, set[str]] = {
    "one": set(),
    "query": set(),
    "mad": {"one", "metrics"},
    "ec2": {"one"},
    "vmm_ec2": {"mad", "ec2", "one", "metrics"},
    "im_ec2": {"mad", "ec2", "one", "metrics"},
    "econe": {"query", "one", "web", "metrics"},
    "web": set(),
    "metrics": set(),
    "occi": {"one", "web"},
    "occi_tools": set(),
    "econe_tools": {"query"},
    "sim": {"one", "mad"},
    "admin": {"one", "ec2"},
}
# third-party modules kept to one layer
BOTO3_USERS = {"ec2", "econe_tools"}
XMLRPC_USERS = {"one/gateway.py", "sim"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _sources() -> list[tuple[str, Path]]:
    # admin/shipped/ holds the remotes/ files as data (run by oned, not imported by the package)
    return [
        (p.relative_to(PACKAGE).parts[0], p)
        for p in sorted(PACKAGE.glob("*/**/*.py"))
        if "shipped" not in p.relative_to(PACKAGE).parts
    ]


def test_every_package_is_listed() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize(("package", "path"), _sources(), ids=lambda v: str(v))
def test_imports_point_one_way(package: str, path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    for module in _imports(path):
        parts = module.split(".")
        if parts[0] == "one_drivers" and len(parts) > 1 and parts[1] != package:
            assert parts[1] in ALLOWED[package], f"{rel} imports {module}"
        if parts[0] in ("boto3", "moto"):
            assert package in BOTO3_USERS, f"{rel} imports {module}: boto3 clients are made in ec2/ only"
        if module.startswith("xmlrpc"):
            assert rel in XMLRPC_USERS or package in XMLRPC_USERS, f"{rel} imports {module}"
        if parts[0] == "one_drivers" and len(parts) > 1 and parts[1] == "sim":
            assert package == "sim", f"{rel}: product code never imports the simulator"
