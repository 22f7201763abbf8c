"""The whole-story demo (simulated OpenNebula + econe + moto + both ec2 drivers) runs and tells the truth."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "demo"


@pytest.mark.slow
def test_story_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("one_drivers_story", DEMO / "story.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["one_drivers_story"] = module
    spec.loader.exec_module(module)
    rows = module.run_cloud_demo(wait=False)
    by_step = {row[0].split(" VM ")[0]: row for row in rows}
    assert "TOTAL_CPU=1200" in by_step["ec2 host monitored"][2]
    assert "types=['m1.small']" in by_step["describe region/types/images"][2]
    assert by_step["scheduled to local-kvm"][2] == "describe-instances: ['running', 'running']"
    burst = next(r for r in rows if r[0].startswith("burst VM") and "RUNNING" in r[0])
    assert "EC2 running" in burst[2] and "'ONE_ID'" in burst[2]
    assert by_step["terminate burst VM"][2] == "VM DONE, EC2 terminated"
    # The OCCI round trip beside econe's: created, seen running, deleted (DONE) through occi-compute.
    assert by_step["occi create compute"][2].endswith("PENDING")
    assert by_step["occi compute running"][2].endswith("ACTIVE")
    assert by_step["occi delete compute"][2].endswith("DONE")
    out = capsys.readouterr().out
    assert "ec2 describe-instances" in out and "--endpoint-url http://127.0.0.1:" in out
    # The last act: OpenNebula A bursts into this cloud through its econe, and leaves nothing behind.
    assert by_step["A: host opennebula-b monitored"][2].startswith("TOTAL_CPU=")
    running = next(r for r in rows if r[0].startswith("A: VM") and "RUNNING" in r[0])
    assert "of 'demo', ACTIVE" in running[2]
    assert by_step["A: poweroff"][2] == "A POWEROFF, B POWEROFF"
    assert by_step["A: resume"][2].startswith("A RUNNING, B ACTIVE")
    assert by_step["A: terminate"][2] == "A DONE, B DONE; live VMs left: A 0, B 0"
    assert "the full loop" in out
