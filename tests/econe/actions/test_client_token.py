"""ClientToken idempotency under concurrency, and the token scan's paging, against the simulator."""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from one_drivers.econe.actions import instances
from one_drivers.one.gateway import OneGateway
from one_drivers.one.records import VmRecord
from one_drivers.one.states import VmState
from one_drivers.query.errors import Ec2Error
from tests.econe.actions.seed import Seed, ctx_for, seed
from tests.econe.conftest import EconeEnv

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import RunInstancesRequestTypeDef


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def params_for(s: Seed, token: str, count: int = 1) -> RunInstancesRequestTypeDef:
    return {"ImageId": f"ami-{s.ami:08d}", "MinCount": count, "MaxCount": count, "ClientToken": token}


def token_vms(env: EconeEnv, token: str) -> list[Any]:
    """Every VM that still carries the token, live or not (oneadmin's view)."""
    pool = env.oneadmin.vmpool_infoextended(-2, -1, -1, -2)
    return [vm for vm in pool if vm.user_template.get(instances.CLIENT_TOKEN_ATTR) == token]


def live_vms(env: EconeEnv) -> list[Any]:
    pool = env.oneadmin.vmpool_info(-2, -1, -1, -1)
    return [vm for vm in pool if vm.state is not VmState.DONE]


def race(calls: list[Any]) -> list[Any]:
    """Run the calls in threads that start together; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def one(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_four_threads_one_token_make_one_vm(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    for round_no in range(3):
        token = f"race-{round_no}"
        params = params_for(s, token, count=2)
        call = functools.partial(instances.run_instances, ctx_for(env), params)
        results = race([call] * 4)
        assert all(isinstance(r, dict) for r in results), results
        answers = {(r["ReservationId"], tuple(i["InstanceId"] for i in r["Instances"])) for r in results}
        assert len(answers) == 1, answers  # every caller got the same reservation of the same two VMs
        ((_, ids),) = answers
        assert len(ids) == 2
        carriers = token_vms(env, token)
        assert sorted(vm.id for vm in carriers) == sorted(int(i[2:]) for i in ids)
        assert all(vm.state is not VmState.HOLD for vm in carriers)  # the winner was released
    # Losers withdrew theirs: only the three winning runs are alive, and only they are described
    # (a loser's terminated VM was never the user's instance).
    assert len(live_vms(env)) == 6
    described = instances.describe_instances(ctx_for(env), {})
    assert sorted(i["InstanceId"] for r in described["Reservations"] for i in r["Instances"]) == sorted(
        f"i-{vm.id:08d}" for vm in live_vms(env)
    )
    # Racers that found the winner's VM before making theirs made none; those that made one withdrew it.
    pool = env.oneadmin.vmpool_info(-2, -1, -1, -2)
    for loser in [vm for vm in pool if vm.state is VmState.DONE]:
        with pytest.raises(Ec2Error) as err:
            instances.describe_instances(ctx_for(env), {"InstanceIds": [f"i-{loser.id:08d}"]})
        assert err.value.code == "InvalidInstanceID.NotFound"


class CreatingBetweenPages(OneGateway):
    """Alice's gateway; after the first page of the VM pool is read, another VM is created."""

    def __init__(self, real: OneGateway, create: Any) -> None:
        super().__init__(real.endpoint, real.session)
        self.create = create
        self.pages = 0

    def vmpool_infoextended(self, *args: Any, **kwargs: Any) -> list[VmRecord]:
        page = super().vmpool_infoextended(*args, **kwargs)
        self.pages += 1
        if self.pages == 1:
            self.create()
        return page


def test_token_scan_lists_each_vm_once_when_the_pool_shifts(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    first = instances.run_instances(ctx_for(env), params_for(s, "shift", count=3))
    made = [i["InstanceId"] for i in first["Instances"]]

    def create_other() -> None:
        instances.run_instances(ctx_for(env), {"ImageId": f"ami-{s.ami:08d}", "MinCount": 1, "MaxCount": 1})

    ctx = ctx_for(env, one=CreatingBetweenPages(env.alice.one, create_other))
    found = instances.find_by_client_token(ctx, "shift", time.time(), page_size=2)
    assert [f"i-{vm.id:08d}" for vm in found] == made


def test_a_token_answer_names_only_the_winning_run(seeded: tuple[EconeEnv, Seed]) -> None:
    """A loser's VM still carrying the token (mid-withdrawal) is not part of the answer."""
    env, s = seeded
    won = instances.run_instances(ctx_for(env), params_for(s, "tok"))
    # A racer's VM made later with the same token, not yet withdrawn.
    tmpl_id = s.small
    loser = env.alice.one.template_instantiate(tmpl_id, "", True, 'EC2_CLIENT_TOKEN = "tok"')
    again = instances.run_instances(ctx_for(env), params_for(s, "tok"))
    assert again["ReservationId"] == won["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in won["Instances"]]
    assert f"i-{loser:08d}" not in {i["InstanceId"] for i in again["Instances"]}
