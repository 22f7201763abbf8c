"""The driver demo runs end to end and shows the expected replies and EC2 states."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def test_run_driver_demo(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "demo" / "demo.py"
    spec = importlib.util.spec_from_file_location("one_drivers_demo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run_driver_demo()
    by_step = {row[0]: row for row in rows}
    assert by_step["driver start"][2] == "INIT SUCCESS - -"
    assert by_step["deploy (BOOT)"][2].startswith("DEPLOY SUCCESS 42 i-")
    assert by_step["deploy (BOOT)"][3] == "running"
    assert by_step["poweroff"][3] == "stopped"
    assert by_step["resume (LCM 20)"][3] == "running"
    assert "FAILURE" in by_step["disk hotplug"][2]
    assert by_step["terminate --hard"][3] == "terminated"
    assert by_step["driver stop"][2] == "(exit 0)"
    assert "ec2 VMM driver" in capsys.readouterr().out
