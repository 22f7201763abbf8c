"""The boto3 type stubs are for mypy only: every module that names them imports and runs without them.

A None entry in sys.modules makes `import types_boto3_ec2` fail as if the package were absent. Each
case imports every module of its areas in a fresh interpreter, then does one thing for real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "one_drivers"
STUBS = ("types_boto3_ec2", "types_boto3_cloudwatch")

# The outbound side: read a size from the shipped catalog.
DRIVERS = """
from one_drivers.ec2.catalog import InstanceTypeCatalog
print(InstanceTypeCatalog().size("m1.small").memory_mib)
"""
# econe: register every handler and answer DescribeRegions.
ECONE = """
from one_drivers.econe.actions import all_handlers
from one_drivers.econe.config import parse_config
from one_drivers.econe.context import RequestContext
from one_drivers.query.render import render_response
handlers = all_handlers()
ctx = RequestContext("r", "DescribeRegions", "alice", 1, None, None, parse_config(None))
body = render_response("DescribeRegions", handlers["DescribeRegions"](ctx, {}), "r", "2016-11-15")
print(len(handlers) > 50, b"<regionName>" in body)
"""
# The client tools: parse a tag option.
TOOLS = """
from one_drivers.econe_tools.tags import parse_tags
print(parse_tags(["a=b"], values=True))
"""


def _modules(areas: tuple[str, ...]) -> list[str]:
    return sorted(
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        for area in areas
        for p in (PACKAGE / area).glob("*.py")
    )


@pytest.mark.parametrize(
    ("areas", "must_hold", "then", "expected"),
    [
        (("ec2", "vmm_ec2", "im_ec2"), ("vmm_ec2.actions", "im_ec2.instances"), DRIVERS, "1740"),
        (
            ("econe", "econe/actions", "query"),
            ("econe.shapes", "econe.actions.security_groups"),
            ECONE,
            "True True",
        ),
        (
            ("econe_tools",),
            ("econe_tools.instances", "econe_tools.tags"),
            TOOLS,
            "[{'Key': 'a', 'Value': 'b'}]",
        ),
    ],
    ids=["drivers", "econe", "tools"],
)
def test_imports_and_runs_without_the_stubs(
    areas: tuple[str, ...], must_hold: tuple[str, ...], then: str, expected: str
) -> None:
    modules = _modules(areas)
    assert {f"one_drivers.{m}" for m in must_hold} <= set(modules)
    program = (
        f"import importlib, sys\nfor stub in {STUBS!r}:\n    sys.modules[stub] = None\n"
        "for name in sys.argv[1:]:\n    importlib.import_module(name)\n" + then
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *modules], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
