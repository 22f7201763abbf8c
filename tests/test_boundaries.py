"""The import boundaries of design/ARCHITECTURE.md, checked on the source: imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

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


def _violations(package: str, path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    found = []
    for module in sorted(_imports(path)):
        parts = module.split(".")
        crosses = parts[0] == "one_drivers" and len(parts) > 1 and parts[1] != package
        if crosses and parts[1] not in ALLOWED[package]:
            found.append(f"{rel} imports {module}")
        if parts[0] in ("boto3", "moto") and package not in BOTO3_USERS:
            found.append(f"{rel} imports {module}: boto3 clients are made in ec2/ only")
        if module.startswith("xmlrpc") and not (rel in XMLRPC_USERS or package in XMLRPC_USERS):
            found.append(f"{rel} imports {module}")
        if parts[0] == "one_drivers" and len(parts) > 1 and parts[1] == "sim" and package != "sim":
            found.append(f"{rel}: product code never imports the simulator")
    return found


def test_imports_point_one_way() -> None:
    # Every module of the package in one walk; the failure lists each import that crosses a boundary.
    assert [v for package, path in _sources() for v in _violations(package, path)] == []
