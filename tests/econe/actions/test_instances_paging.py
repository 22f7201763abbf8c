"""DescribeInstances over big pools: the fast ways of reading oned's answers change nothing.

A full listing of more than a megabyte of VM documents goes through the gateway's cut-out string and
the two-halves pool parse; each instance must be what the slow, obvious path gives for the same VM:
the stdlib XML-RPC client, one `vm.info` per VM, one document parse.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from one_drivers.econe.actions import instances
from one_drivers.econe.actions.vpcs import NicView
from one_drivers.one.records import PARALLEL_PARSE_MIN, VmRecord, parse
from tests.econe.actions.roundtrip import round_trip
from tests.econe.actions.seed import Seed, ctx_for, give_keypair, seed
from tests.econe.conftest import EconeEnv

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import DescribeInstancesRequestTypeDef


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def _listed(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [i for r in result["Reservations"] for i in r["Instances"]]


def test_big_listing_equals_the_per_vm_slow_path(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    give_keypair(env, "alice", "k1")
    ctx = ctx_for(env)
    launched = instances.run_instances(
        ctx,
        {
            "ImageId": f"ami-{s.ami:08d}",
            "MinCount": 3,
            "MaxCount": 3,
            "InstanceType": "m1.small",
            "KeyName": "k1",
            "ClientToken": "tok-&<>",
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "a <b> & 'c'\r\nd"}]}
            ],
        },
    )
    # Names with markup, entities and a CR travel escaped through both XML layers.
    env.sim.bulk_vms(400, uid=env.alice.user_id, name_prefix="x<y>&z\r")
    pool_text = env.alice.one.document("one.vmpool.infoextended", -2, -1, -1, -1)
    assert len(pool_text.encode()) >= PARALLEL_PARSE_MIN  # the fast paths are the ones taken

    result = instances.describe_instances(ctx, {})
    assert round_trip("DescribeInstances", result) == result
    listed = _listed(result)
    assert len(listed) == 403

    # The slow path: the stdlib client, one VM at a time.
    proxy: Any = xmlrpc.client.ServerProxy(env.sim.endpoint)
    session = env.alice.one.session
    zone = ctx.config.zone_name
    for instance in listed:
        vm_id = int(instance["InstanceId"][2:])
        ok, text, *_ = proxy.one.vm.info(session, vm_id)
        assert ok is True
        assert instance == instances.instance_from_vm(parse(VmRecord, text), zone, NicView(ctx)), vm_id

    # The launched ones keep what RunInstances stored (reservation, key, token, tags) on the page.
    mine = {i["InstanceId"]: i for i in launched["Instances"]}
    groups = {r["ReservationId"]: r for r in result["Reservations"]}
    group = groups[launched["ReservationId"]]
    assert sorted(i["InstanceId"] for i in group["Instances"]) == sorted(mine)
    for inst in group["Instances"]:
        assert inst["KeyName"] == "k1" and inst["ClientToken"] == "tok-&<>"
        # The CR reaches oned, but the VM document holds it raw in a CDATA section, where any XML
        # parser reads CR LF as LF (the per-VM slow path above reads the same).
        assert inst["Tags"] == [{"Key": "Name", "Value": "a <b> & 'c'\nd"}]


def _walk(env: EconeEnv, page: int = 200) -> list[list[str]]:
    """Every page of DescribeInstances(MaxResults=page), following NextToken to the end."""
    ctx = ctx_for(env)
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params: DescribeInstancesRequestTypeDef = {"MaxResults": page}
        if token:
            params["NextToken"] = token
        result = instances.describe_instances(ctx, params)
        pages.append([i["InstanceId"] for i in _listed(result)])
        token = result.get("NextToken")
        if not token:
            return pages


def test_pages_of_a_big_pool_cover_it_once_in_order(seeded: tuple[EconeEnv, Seed]) -> None:
    env, _ = seeded
    made = env.sim.bulk_vms(450, uid=env.alice.user_id)
    seen = [iid for page in _walk(env) for iid in page]
    assert seen == [f"i-{i:08d}" for i in sorted(made, reverse=True)]


@pytest.mark.parametrize("count", [400, 401, 399])
def test_a_walk_ends_on_its_last_full_page(seeded: tuple[EconeEnv, Seed], count: int) -> None:
    # A pool that fills its pages exactly gets no trailing empty page (no NextToken on the last one).
    env, _ = seeded
    before = len(_listed(instances.describe_instances(ctx_for(env), {})))
    env.sim.bulk_vms(count - before, uid=env.alice.user_id)
    sizes = [len(page) for page in _walk(env)]
    assert sizes == {400: [200, 200], 401: [200, 200, 1], 399: [200, 199]}[count]
