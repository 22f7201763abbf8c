"""types-boto3-ec2 is for mypy only: econe imports, registers and answers where it is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "one_drivers"

MODULES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
    for area in ("econe", "econe/actions", "query")
    for p in (PACKAGE / area).glob("*.py")
)

# A None entry in sys.modules makes `import types_boto3_ec2` fail as if the package were absent.
PROGRAM = """
import importlib, sys
sys.modules["types_boto3_ec2"] = None
for name in sys.argv[1:]:
    importlib.import_module(name)
from one_drivers.econe.actions import all_handlers
from one_drivers.econe.config import parse_config
from one_drivers.econe.context import RequestContext
from one_drivers.query.render import render_response
handlers = all_handlers()
ctx = RequestContext("r", "DescribeRegions", "alice", 1, None, None, parse_config(None))
body = render_response("DescribeRegions", handlers["DescribeRegions"](ctx, {}), "r", "2016-11-15")
print(len(handlers) > 50, b"<regionName>" in body)
"""


def test_econe_imports_and_answers_without_the_stubs() -> None:
    assert "one_drivers.econe.shapes" in MODULES and "one_drivers.econe.actions.security_groups" in MODULES
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *MODULES], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True"
