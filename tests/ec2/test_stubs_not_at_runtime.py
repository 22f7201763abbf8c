"""The boto3 type stubs are for mypy only: the drivers import and run where they are not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "one_drivers"

# Every module of the outbound EC2 side, the drivers and their entry points.
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
    for area in ("ec2", "vmm_ec2", "im_ec2")
    for p in (PACKAGE / area).glob("*.py")
)

# A None entry in sys.modules makes `import types_boto3_ec2` fail as if the package were absent.
PROGRAM = """
import importlib, sys
for stub in ("types_boto3_ec2", "types_boto3_cloudwatch"):
    sys.modules[stub] = None
for name in sys.argv[1:]:
    importlib.import_module(name)
from one_drivers.ec2.catalog import InstanceTypeCatalog
print(InstanceTypeCatalog().size("m1.small").memory_mib)
"""


def test_every_driver_module_imports_without_the_stubs() -> None:
    assert "one_drivers.vmm_ec2.actions" in MODULES and "one_drivers.im_ec2.instances" in MODULES
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *MODULES], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1740"
