"""DEPLOY's token lookup against this project's econe in front of the simulator: econe ignores no
DescribeTags filter the driver sends, lists the tags RunInstances set, and a re-sent DEPLOY (to the same
driver and to a restarted one) returns the one VM it launched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.one.states import VmState
from one_drivers.vmm_ec2.actions import PlainControl
from tests.econe.actions.seed import Seed, seed
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env
from tests.vmm_ec2.test_actions import make_vmm, request


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[EconeEnv, Seed]]:
    sim, env = start_econe_env(tmp_path, {"sched_interval": 0.1})
    try:
        yield env, seed(env)
    finally:
        stop_econe_env(sim, env)


@pytest.mark.slow
def test_resent_deploy_through_econe_launches_once(cloud: tuple[EconeEnv, Seed], real_dir: Path) -> None:
    env, s = cloud
    region = {
        "region_name": "opennebula",
        "endpoint_url": env.endpoint,
        "access_key_id": "alice",
        "secret_access_key": env.alice.secret,
    }
    section = f"<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-{s.ami:08d}</AMI><INSTANCETYPE>m1.small</INSTANCETYPE></PUBLIC_CLOUD>"
    vmm = make_vmm(env.endpoint, regions={"default": region}, state_wait_timeout_seconds=60)
    first = vmm.run("DEPLOY", request(real_dir, vm_id=51, section=section), PlainControl())
    assert vmm.run("DEPLOY", request(real_dir, vm_id=51, section=section), PlainControl()) == first
    restarted = make_vmm(env.endpoint, regions={"default": region}, state_wait_timeout_seconds=60)
    assert restarted.run("DEPLOY", request(real_dir, vm_id=51, section=section), PlainControl()) == first
    alive = [vm for vm in env.oneadmin.vmpool_info(-2, -1, -1, -1) if vm.state != VmState.DONE]
    assert [f"i-{vm.id:08d}" for vm in alive] == [first]
