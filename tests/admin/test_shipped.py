"""The files `one-ec2 install` places ship inside the package (the wheel has no checkout beside it): the
repository's remotes/ and etc/ snippets are links to the package's one copy, and pyproject's package-data
covers it."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from pathlib import Path

from one_drivers.admin.install import SHIPPED, shipped_remotes

ROOT = Path(__file__).resolve().parents[2]
ETC = ["ec2_driver.conf", "ec2_driver.default", "oned/*.conf", "monitord/*.conf"]
HINT = "remotes/ and etc/{oned,monitord,ec2_driver.*} must be links into one_drivers/admin/shipped/"


def files(base: Path, patterns: list[str] | None = None) -> dict[str, tuple[bytes, bool]]:
    found = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if not path.is_file() or path.name.startswith(".") or "__pycache__" in path.parts:
            continue
        if patterns is None or any(fnmatch.fnmatch(rel, p) for p in patterns):
            found[rel] = (path.read_bytes(), os.access(path, os.X_OK))
    return found


def test_the_repository_links_to_the_one_shipped_copy() -> None:
    links = [ROOT / "remotes", *(ROOT / "etc" / name for name in ("oned", "monitord", *ETC[:2]))]
    for link in links:
        assert link.is_symlink(), HINT
        assert link.resolve().is_relative_to(SHIPPED.resolve()), HINT


def test_install_places_every_shipped_remote() -> None:
    assert set(shipped_remotes()) == set(files(SHIPPED / "remotes"))


def test_package_data_globs_cover_every_shipped_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["one_drivers.admin"]
    package = SHIPPED.parent
    for rel in files(SHIPPED):
        path = (SHIPPED / rel).relative_to(package).as_posix()
        # setuptools matches each glob against paths relative to the package; "*" stops at "/".
        assert any(fnmatch.fnmatch(path, g) and path.count("/") == g.count("/") for g in globs), (
            f"{path} is not in the wheel"
        )
