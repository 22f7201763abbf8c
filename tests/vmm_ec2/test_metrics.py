"""one_vmm_ec2 --metrics-port/--metrics-file: scraped after real actions over its pipes against moto."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from one_drivers.mad.codec import parse_reply
from tests.conftest import free_port
from tests.metrics.test_drivers import samples
from tests.vmm_ec2.test_mad_e2e import Oned
from tests.vmm_ec2.vmdocs import action_data, request_line


@pytest.mark.slow
def test_actions_and_ec2_calls_are_exposed(tmp_path: Path, moto_endpoint: str, real_dir: Path) -> None:
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {moto_endpoint}\n")
    port, target = free_port(), tmp_path / "vmm.prom"
    oned = Oned.start(
        f"-t 2 --config {conf} --log-file {tmp_path}/vmm.log --no-socket --poll-interval 0.05 "
        f"--metrics-port {port} --metrics-file {target}",
        tmp_path,
        preexec_fn=lambda: os.close(2),
    )
    try:
        oned.send("INIT")
        assert oned.reply() == "INIT SUCCESS - -"
        oned.send(request_line("DEPLOY", 21, action_data(real_dir, vm_id=21)))
        deployed = parse_reply(oned.reply())
        assert deployed is not None and deployed.success
        oned.send("DEPLOY  22 !!!notbase64!!!")
        assert oned.reply().startswith("DEPLOY FAILURE 22")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            live = samples(answer.read().decode())
        driver = ("driver", "one_vmm_ec2")
        assert live[("one_driver_actions_total", (("action", "DEPLOY"), driver, ("result", "success")))] == 1
        assert live[("one_driver_actions_total", (("action", "DEPLOY"), driver, ("result", "failure")))] == 1
        run = (driver, ("operation", "RunInstances"), ("outcome", "ok"))
        assert live[("one_driver_ec2_calls_total", run)] == 1
        oned.send("FINALIZE")
        assert oned.proc.wait(30) == 0
    finally:
        if oned.proc.poll() is None:
            oned.proc.kill()
            oned.proc.wait(10)
    written = samples(target.read_text())  # the last write, at exit
    assert written[("one_driver_ec2_calls_total", run)] == 1
