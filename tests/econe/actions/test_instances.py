"""Instance handlers against the simulator over real XML-RPC, with a RequestContext built here."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, cast

import pytest

from one_drivers.econe.actions import instances
from one_drivers.econe.shapes import Reservation
from one_drivers.one.gateway import OneAllocateError, OneGateway
from one_drivers.one.states import VmState
from one_drivers.query.errors import Ec2Error
from tests.econe.actions.roundtrip import round_trip
from tests.econe.actions.seed import PUBLIC_KEY, Seed, ctx_for, give_keypair, seed, vm_count
from tests.econe.conftest import EconeEnv

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeInstancesRequestTypeDef,
        FilterTypeDef,
        RebootInstancesRequestTypeDef,
        RunInstancesRequestTypeDef,
    )


@pytest.fixture
def seeded(econe_env: EconeEnv) -> tuple[EconeEnv, Seed]:
    return econe_env, seed(econe_env)


def run(env: EconeEnv, s: Seed, **params: Any) -> Reservation:
    base: dict[str, Any] = {
        "ImageId": f"ami-{s.ami:08d}",
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": "m1.small",
    }
    base.update(params)
    result = instances.run_instances(ctx_for(env), cast("RunInstancesRequestTypeDef", base))
    assert round_trip("RunInstances", result) == result
    return result


def error_of(fn: Any, *args: Any, **kwargs: Any) -> Ec2Error:
    with pytest.raises(Ec2Error) as err:
        fn(*args, **kwargs)
    return err.value


def test_run_instances_stores_what_econe_reads_back(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    give_keypair(env, "alice", "k1")
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    result = run(
        env,
        s,
        KeyName="k1",
        UserData=user_data,
        ClientToken="tok-1",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
        Placement={"AvailabilityZone": "anything"},
    )
    (inst,) = result["Instances"]
    assert result["ReservationId"] == f"r-{int(inst['InstanceId'][2:]):08d}"
    assert result["OwnerId"] == str(env.alice.user_id)
    assert inst["State"] == {"Code": 0, "Name": "pending"}
    assert inst["ImageId"] == f"ami-{s.ami:08d}" and inst["InstanceType"] == "m1.small"
    assert inst["KeyName"] == "k1" and inst["ClientToken"] == "tok-1"
    assert inst["Tags"] == [{"Key": "Name", "Value": "web"}]
    vm = env.oneadmin.vm_info(int(inst["InstanceId"][2:]))
    assert vm.user_template.get("IMAGE_ID") == f"ami-{s.ami:08d}"
    assert vm.user_template.get("EC2_INSTANCE_TYPE") == "m1.small"
    disks = vm.template.vectors("DISK")
    assert (
        disks[0]["IMAGE_ID"] == str(s.ami) and disks[1].get("SIZE") == "64"
    )  # the AMI first, then the template's
    context = vm.template.vectors("CONTEXT")[0]
    assert context["FROM_TEMPLATE"] == "kept" and context["NETWORK"] == "YES"
    assert context["EC2_PUBLIC_KEY"] == PUBLIC_KEY and context["EC2_KEYNAME"] == "k1"
    assert context["EC2_USER_DATA"] == user_data


def test_default_instance_type_and_count(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    result = instances.run_instances(
        ctx_for(env), {"ImageId": f"ami-{s.ami:08d}", "MinCount": 2, "MaxCount": 3}
    )
    ids = [i["InstanceId"] for i in result["Instances"]]
    assert len(ids) == 3 and all(i["InstanceType"] == "m1.small" for i in result["Instances"])
    assert [i["AmiLaunchIndex"] for i in result["Instances"]] == [0, 1, 2]
    # One reservation for the whole run, in DescribeInstances too.
    described = instances.describe_instances(ctx_for(env), {"InstanceIds": ids})
    assert [r["ReservationId"] for r in described["Reservations"]] == [result["ReservationId"]]
    assert sorted(i["InstanceId"] for i in described["Reservations"][0]["Instances"]) == sorted(ids)


def test_client_token_returns_the_same_reservation(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    first = run(env, s, ClientToken="same", MaxCount=2)
    before = vm_count(env)
    again = run(env, s, ClientToken="same", MaxCount=2)
    assert vm_count(env) == before
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    other = run(env, s, ClientToken="different")
    assert other["ReservationId"] != first["ReservationId"]


class FailingAfter(OneGateway):
    """Our gateway, failing `template_instantiate` after `ok` successes (as oned does at a quota)."""

    def __init__(self, real: OneGateway, ok: int) -> None:
        super().__init__(real.endpoint, real.session)
        self.ok = ok

    def template_instantiate(self, *args: Any, **kwargs: Any) -> int:
        if self.ok <= 0:
            raise OneAllocateError("[one.template.instantiate] quota exceeded")
        self.ok -= 1
        return super().template_instantiate(*args, **kwargs)


def test_fewer_than_min_count_rolls_back(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ctx = ctx_for(env, one=FailingAfter(env.alice.one, ok=2))
    params: RunInstancesRequestTypeDef = {
        "ImageId": f"ami-{s.ami:08d}",
        "MinCount": 3,
        "MaxCount": 4,
        "ClientToken": "retry-me",
    }
    with pytest.raises(OneAllocateError):
        instances.run_instances(ctx, params)
    live = instances.describe_instances(
        ctx_for(env), {"Filters": [{"Name": "instance-state-name", "Values": ["pending", "running"]}]}
    )
    assert live["Reservations"] == []  # the two made were terminated
    assert vm_count(env) == 2
    # The failed run does not hold the token: the same request retried launches.
    retried = instances.run_instances(ctx_for(env), params)
    assert len(retried["Instances"]) == 4 and vm_count(env) == 6


def test_at_least_min_count_is_kept(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ctx = ctx_for(env, one=FailingAfter(env.alice.one, ok=2))
    result = instances.run_instances(ctx, {"ImageId": f"ami-{s.ami:08d}", "MinCount": 1, "MaxCount": 5})
    assert len(result["Instances"]) == 2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"ImageId": "ami-zz"}, "InvalidAMIID.Malformed"),
        ({"ImageId": "ami-00009999"}, "InvalidAMIID.NotFound"),
        ({"InstanceType": "x9.huge"}, "InvalidParameterValue"),
        ({"KeyName": "nope"}, "InvalidKeyPair.NotFound"),
        ({"MinCount": 3, "MaxCount": 2}, "InvalidParameterValue"),
        ({"MinCount": 0}, "InvalidParameterValue"),
        ({"ClientToken": "x" * 65}, "InvalidParameterValue"),
        ({"UserData": "not base64!"}, "InvalidParameterValue"),
        ({"UserData": base64.b64encode(b"x" * (16 * 1024 + 1)).decode()}, "InvalidParameterValue"),
        (
            {"TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "a]]>b"}]}]},
            "InvalidParameterValue",
        ),
    ],
)
def test_run_refusals_change_nothing(
    seeded: tuple[EconeEnv, Seed], params: dict[str, Any], code: str
) -> None:
    env, s = seeded
    err = error_of(run, env, s, **params)
    assert err.code == code and err.status == 400
    if code == "InvalidParameterValue" and "InstanceType" in params:
        assert "x9.huge" in err.message
    assert vm_count(env) == 0


def test_non_ami_and_foreign_images_are_not_found(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    assert error_of(run, env, s, ImageId=f"ami-{s.plain_image:08d}").code == "InvalidAMIID.NotFound"
    assert error_of(run, env, s, ImageId=f"ami-{s.private_ami:08d}").code == "InvalidAMIID.NotFound"
    # bob may use the AMI but not alice's template: the type does not exist for him.
    bob = ctx_for(env, "bob")
    err = error_of(
        instances.run_instances, bob, {"ImageId": f"ami-{s.ami:08d}", "MinCount": 1, "MaxCount": 1}
    )
    assert err.code == "InvalidParameterValue" and "m1.small" in err.message


def test_describe_by_id_filters_and_visibility(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    a = run(
        env, s, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "db"}]}]
    )
    b = run(env, s)
    a_id, b_id = a["Instances"][0]["InstanceId"], b["Instances"][0]["InstanceId"]
    ctx = ctx_for(env)

    def ids(**params: Any) -> list[str]:
        result = instances.describe_instances(ctx, cast("DescribeInstancesRequestTypeDef", params))
        assert round_trip("DescribeInstances", result) == result
        return [i["InstanceId"] for r in result["Reservations"] for i in r["Instances"]]

    assert ids() == [b_id, a_id]  # newest first
    assert ids(InstanceIds=[a_id]) == [a_id]
    assert ids(Filters=[{"Name": "tag:Role", "Values": ["db"]}]) == [a_id]
    assert ids(Filters=[{"Name": "tag-key", "Values": ["Role"]}]) == [a_id]
    assert ids(Filters=[{"Name": "instance-id", "Values": [b_id]}]) == [b_id]
    assert ids(Filters=[{"Name": "instance-type", "Values": ["m1.*"]}]) == [b_id, a_id]
    assert ids(Filters=[{"Name": "image-id", "Values": [f"ami-{s.ami:08d}"]}]) == [b_id, a_id]
    assert ids(Filters=[{"Name": "instance-state-name", "Values": ["running"]}]) == []
    assert (
        error_of(instances.describe_instances, ctx, {"InstanceIds": ["i-x1"]}).code
        == "InvalidInstanceID.Malformed"
    )
    assert error_of(instances.describe_instances, ctx, {"InstanceIds": [a_id, "i-00000999"]}).code == (
        "InvalidInstanceID.NotFound"
    )
    bob = ctx_for(env, "bob")
    assert (
        error_of(instances.describe_instances, bob, {"InstanceIds": [a_id]}).code
        == "InvalidInstanceID.NotFound"
    )
    assert instances.describe_instances(bob, {})["Reservations"] == []
    err = error_of(
        instances.describe_instances, ctx, {"Filters": [{"Name": "placement-group-name", "Values": ["x"]}]}
    )
    assert err.code == "InvalidParameterValue"
    err = error_of(instances.describe_instances, ctx, {"InstanceIds": [a_id], "MaxResults": 5})
    assert err.code == "InvalidParameterCombination"


def test_pagination_uses_oned_pages(seeded: tuple[EconeEnv, Seed]) -> None:
    env, _ = seeded
    made = env.sim.bulk_vms(12, uid=env.alice.user_id)
    ctx = ctx_for(env)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: DescribeInstancesRequestTypeDef = {"MaxResults": 5}
        if token:
            params["NextToken"] = token
        result = instances.describe_instances(ctx, params)
        assert round_trip("DescribeInstances", result) == result
        seen += [i["InstanceId"] for r in result["Reservations"] for i in r["Instances"]]
        pages += 1
        token = result.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert seen == [f"i-{i:08d}" for i in sorted(made, reverse=True)]
    for bad in ({"MaxResults": 4}, {"MaxResults": 1001}, {"NextToken": "garbage"}):
        assert error_of(instances.describe_instances, ctx, bad).code == "InvalidParameterValue"


def deploy(env: EconeEnv, instance_id: str) -> None:
    env.sim.schedule()
    vm = env.oneadmin.vm_info(int(instance_id[2:]))
    assert vm.state.name == "ACTIVE" and vm.lcm_state.name == "RUNNING", vm


def test_state_changes(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    iid = run(env, s)["Instances"][0]["InstanceId"]
    deploy(env, iid)
    ctx = ctx_for(env)
    req: RebootInstancesRequestTypeDef = {"InstanceIds": [iid]}

    def change(fn: Any, key: str, **extra: Any) -> tuple[str, str]:
        result = fn(ctx, {**req, **extra})
        assert round_trip(fn.__name__.title().replace("_", ""), result) == result
        (item,) = result[key]
        return item["PreviousState"]["Name"], item["CurrentState"]["Name"]

    assert change(instances.start_instances, "StartingInstances") == ("running", "running")  # nothing to do
    assert instances.reboot_instances(ctx, req) == {}
    prev, cur = change(instances.stop_instances, "StoppingInstances")
    assert prev == "running" and cur in ("stopping", "stopped")
    assert error_of(instances.reboot_instances, ctx, req).code == "IncorrectInstanceState"
    prev, cur = change(instances.start_instances, "StartingInstances")
    assert prev == "stopped" and cur in ("pending", "running")
    env.sim.schedule()
    prev, cur = change(instances.terminate_instances, "TerminatingInstances")
    assert prev == "running" and cur in ("shutting-down", "terminated")
    assert change(instances.terminate_instances, "TerminatingInstances")[1] == "terminated"


def test_force_stop_and_terminate_pending(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    iid = run(env, s)["Instances"][0]["InstanceId"]
    ctx = ctx_for(env)
    # A pending VM cannot stop; it terminates with terminate-hard (plain terminate needs RUNNING).
    assert error_of(instances.stop_instances, ctx, {"InstanceIds": [iid]}).code == "IncorrectInstanceState"
    (item,) = instances.terminate_instances(ctx, {"InstanceIds": [iid]})["TerminatingInstances"]
    assert (item["PreviousState"]["Name"], item["CurrentState"]["Name"]) == ("pending", "terminated")
    other = run(env, s)["Instances"][0]["InstanceId"]
    deploy(env, other)
    (item,) = instances.stop_instances(ctx, {"InstanceIds": [other], "Force": True})["StoppingInstances"]
    assert item["CurrentState"]["Name"] in ("stopping", "stopped")


def test_unknown_id_in_a_batch_changes_nothing(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    iid = run(env, s)["Instances"][0]["InstanceId"]
    ctx = ctx_for(env)
    err = error_of(instances.terminate_instances, ctx, {"InstanceIds": [iid, "i-00000777"]})
    assert err.code == "InvalidInstanceID.NotFound"
    assert (
        instances.describe_instances(ctx, {"InstanceIds": [iid]})["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]
        == "pending"
    )
    bob = ctx_for(env, "bob")
    assert (
        error_of(instances.terminate_instances, bob, {"InstanceIds": [iid]}).code
        == "InvalidInstanceID.NotFound"
    )


def test_terminated_window(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    iid = run(env, s)["Instances"][0]["InstanceId"]
    live = run(env, s)["Instances"][0]["InstanceId"]
    instances.terminate_instances(ctx_for(env), {"InstanceIds": [iid]})

    def listed(**config: Any) -> list[tuple[str, str]]:
        result = instances.describe_instances(ctx_for(env, **config), {})
        return [(i["InstanceId"], i["State"]["Name"]) for r in result["Reservations"] for i in r["Instances"]]

    assert listed() == [(live, "pending"), (iid, "terminated")]
    assert listed(describe_with_terminated_instances=False) == [(live, "pending")]
    assert listed(terminated_instances_expiration_time=-60) == [(live, "pending")]  # window already over
    by_state = instances.describe_instances(
        ctx_for(env), {"Filters": [{"Name": "instance-state-name", "Values": ["terminated"]}]}
    )
    assert [i["InstanceId"] for r in by_state["Reservations"] for i in r["Instances"]] == [iid]
    expired = ctx_for(env, terminated_instances_expiration_time=-60)
    assert (
        error_of(instances.describe_instances, expired, {"InstanceIds": [iid]}).code
        == "InvalidInstanceID.NotFound"
    )


class Recording(OneGateway):
    """Our gateway, remembering every oned method called with its parameters."""

    def __init__(self, real: OneGateway) -> None:
        super().__init__(real.endpoint, real.session)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def call(self, method: str, *params: Any) -> Any:
        self.calls.append((method, params))
        return super().call(method, *params)


def test_pages_are_asked_of_oned_and_done_bodies_stay_reduced(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    old = run(env, s)["Instances"][0]["InstanceId"]
    env.sim.bulk_vms(600, uid=env.alice.user_id, state=VmState.DONE)  # terminated long ago (no ETIME)
    env.sim.bulk_vms(7, uid=env.alice.user_id)
    instances.terminate_instances(ctx_for(env), {"InstanceIds": [old]})  # oldest id, terminated now
    one = Recording(env.alice.one)
    ctx = ctx_for(env, one=one)

    first = instances.describe_instances(ctx, {"MaxResults": 5})
    # one page from oned, with one VM more to know whether another page follows
    assert one.calls == [("one.vmpool.infoextended", (-2, 0, -6, -1))]
    one.calls.clear()
    second = instances.describe_instances(ctx, {"MaxResults": 5, "NextToken": first["NextToken"]})
    listed = [i["InstanceId"] for r in second["Reservations"] for i in r["Instances"]]
    assert len(listed) == 3 and listed[-1] == old  # 2 live ones, then the recently terminated one
    methods = [(m, p) for m, p in one.calls]
    assert methods[0] == ("one.vmpool.infoextended", (-2, 5, -6, -1))
    # DONE VMs are scanned in reduced bodies, page by page; only the recent one is read in full.
    assert methods[1:3] == [
        ("one.vmpool.info", (-2, 0, -instances.DONE_SCAN_PAGE, int(VmState.DONE))),
        ("one.vmpool.info", (-2, instances.DONE_SCAN_PAGE, -instances.DONE_SCAN_PAGE, int(VmState.DONE))),
    ]
    assert methods[3:] == [("one.vm.info", (int(old[2:]), False))]
    assert "NextToken" not in second
    one.calls.clear()
    live_only = instances.describe_instances(
        ctx, {"Filters": [{"Name": "instance-state-name", "Values": ["pending"]}]}
    )
    assert len([i for r in live_only["Reservations"] for i in r["Instances"]]) == 7
    assert all(m == "one.vmpool.infoextended" for m, _ in one.calls)  # the DONE pool is not read at all


def test_instance_id_filter_reads_only_those_vms(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    a = run(env, s)["Instances"][0]["InstanceId"]
    b = run(env, s)["Instances"][0]["InstanceId"]
    one = Recording(env.alice.one)
    ctx = ctx_for(env, one=one)

    def ids(values: list[str], *extra: FilterTypeDef) -> list[str]:
        result = instances.describe_instances(
            ctx, {"Filters": [{"Name": "instance-id", "Values": values}, *extra]}
        )
        return [i["InstanceId"] for r in result["Reservations"] for i in r["Instances"]]

    assert ids([a, b, "i-00000999", "garbage"]) == [b, a]  # "garbage" cannot be read by id: the pool
    assert "one.vmpool.infoextended" in {m for m, _ in one.calls}
    one.calls.clear()
    assert ids([a, b, "i-00000999"]) == [b, a]
    assert {m for m, _ in one.calls} == {"one.vm.info"}
    assert ids([a], {"Name": "instance-state-name", "Values": ["running"]}) == []
    assert ids([a], {"Name": "instance-id", "Values": [b]}) == []  # two filters AND
    bob = ctx_for(env, "bob")
    assert instances.describe_instances(bob, {"Filters": [{"Name": "instance-id", "Values": [a]}]}) == {
        "Reservations": []
    }
    assert ids(["i-0000000*"]) == [b, a]  # a wildcard lists the pool
