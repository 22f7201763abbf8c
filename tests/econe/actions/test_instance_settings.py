"""Instance attributes, termination protection, console output, password data and status through boto3."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from one_drivers.one.template import build_template
from tests.econe.actions.seed import Seed, allocate_template, seed
from tests.econe.actions.test_security_groups import code_of
from tests.econe.conftest import EconeEnv


@pytest.fixture
def seeded(econe_env_factory: object, tmp_path: Path) -> tuple[EconeEnv, Seed]:
    logs = tmp_path / "vmlogs"
    logs.mkdir()
    env: EconeEnv = econe_env_factory(vm_log_dir=str(logs))  # type: ignore[operator]
    return env, seed(env)


def launch(env: EconeEnv, s: Seed) -> str:
    run = env.client().run_instances(ImageId=f"ami-{s.ami:08d}", MinCount=1, MaxCount=1, UserData="hello")
    return str(run["Instances"][0]["InstanceId"])


def test_every_attribute_is_described(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    iid = launch(env, s)
    expected = {
        "instanceType": ("InstanceType", {"Value": "m1.small"}),
        "userData": ("UserData", {"Value": base64.b64encode(b"hello").decode()}),
        "disableApiTermination": ("DisableApiTermination", {"Value": False}),
        "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior", {"Value": "stop"}),
        "sourceDestCheck": ("SourceDestCheck", {"Value": True}),
        "ebsOptimized": ("EbsOptimized", {"Value": False}),
        "enaSupport": ("EnaSupport", {"Value": False}),
        "disableApiStop": ("DisableApiStop", {"Value": False}),
        "enclaveOptions": ("EnclaveOptions", {"Enabled": False}),
        "groupSet": ("Groups", []),
    }
    for attribute in ("kernel", "ramdisk", "rootDeviceName", "blockDeviceMapping", "productCodes",
                      "sriovNetSupport", *expected):  # fmt: skip
        answer = ec2.describe_instance_attribute(InstanceId=iid, Attribute=attribute)
        assert answer["InstanceId"] == iid
        if attribute in expected:
            member, value = expected[attribute]
            assert answer[member] == value, attribute
    assert code_of(ec2.describe_instance_attribute, InstanceId="i-0", Attribute="kernel") == (
        "InvalidInstanceID.NotFound"
    )
    assert code_of(env.client("bob").describe_instance_attribute, InstanceId=iid, Attribute="kernel") == (
        "InvalidInstanceID.NotFound"
    )


def test_termination_protection_is_a_vm_lock(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    iid = launch(env, s)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    assert env.oneadmin.vm_info(int(iid[2:])).lock_level == 2
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"] == {"Value": True}
    assert code_of(ec2.terminate_instances, InstanceIds=[iid]) == "OperationNotPermitted"
    assert env.oneadmin.vm_info(int(iid[2:])).state.name != "DONE"
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="disableApiTermination", Value="false")
    assert env.oneadmin.vm_info(int(iid[2:])).lock_level == 0
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]["InstanceId"] == iid


@pytest.mark.parametrize(
    "change",
    [
        {"Kernel": {"Value": "aki-1"}},
        {"SourceDestCheck": {"Value": False}},
        {"InstanceInitiatedShutdownBehavior": {"Value": "terminate"}},
        {"EnaSupport": {"Value": True}},
    ],
)
def test_what_opennebula_cannot_change_is_refused(
    seeded: tuple[EconeEnv, Seed], change: dict[str, object]
) -> None:
    env, s = seeded
    ec2 = env.client()
    iid = launch(env, s)
    before = env.oneadmin.vm_info(int(iid[2:]))
    assert code_of(ec2.modify_instance_attribute, InstanceId=iid, **change) == "UnsupportedOperation"
    assert env.oneadmin.vm_info(int(iid[2:])).template == before.template


def test_console_output_password_and_status(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    ec2 = env.client()
    iid = launch(env, s)
    vm_id = int(iid[2:])
    empty = ec2.get_console_output(InstanceId=iid)
    assert empty["InstanceId"] == iid and empty.get("Output", "") == ""  # no log yet
    (Path(env.config.vm_log_dir) / f"{vm_id}.log").write_bytes(b"x" * 70_000 + b"\nNew state is ACTIVE\n")
    # The wire carries base64 of the log's last 64 KB; botocore decodes it for the caller.
    decoded = ec2.get_console_output(InstanceId=iid)["Output"]
    assert decoded.endswith("New state is ACTIVE\n") and len(decoded) == 64 * 1024
    assert ec2.get_password_data(InstanceId=iid)["PasswordData"] == ""
    env.oneadmin.vm_update(vm_id, build_template([("EC2_PASSWORD_DATA", "c2VjcmV0")]), append=True)
    assert ec2.get_password_data(InstanceId=iid)["PasswordData"] == "c2VjcmV0"
    assert code_of(ec2.get_console_output, InstanceId="i-0") == "InvalidInstanceID.NotFound"
    assert code_of(env.client("bob").get_password_data, InstanceId=iid) == "InvalidInstanceID.NotFound"

    assert ec2.describe_instance_status()["InstanceStatuses"] == []  # pending: only running ones by default
    (pending,) = ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]
    assert pending["InstanceState"]["Name"] == "pending"
    assert pending["InstanceStatus"]["Status"] == "not-applicable"
    env.sim.schedule()
    (running,) = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"]
    assert running["InstanceState"]["Name"] == "running" and running["SystemStatus"]["Status"] == "ok"
    assert running["InstanceStatus"]["Status"] in ("ok", "initializing")
    ok = ec2.describe_instance_status(Filters=[{"Name": "system-status.status", "Values": ["ok"]}])
    assert [x["InstanceId"] for x in ok["InstanceStatuses"]] == [iid]
    assert code_of(ec2.describe_instance_status, InstanceIds=["i-0"]) == "InvalidInstanceID.NotFound"


# --- instance type and user data: changed on stopped instances ------------------------------------------


def large_type(env: EconeEnv) -> None:
    allocate_template(
        env.alice.one,
        [
            ("NAME", "large"),
            ("CPU", "2"),
            ("VCPU", "4"),
            ("MEMORY", "2048"),
            ("EC2_INSTANCE_TYPE", "m1.large"),
        ],
    )


def stopped(env: EconeEnv, s: Seed) -> str:
    iid = launch(env, s)
    env.sim.schedule()
    env.client().stop_instances(InstanceIds=[iid])
    assert instance(env, iid)["State"]["Name"] == "stopped"
    return iid


def instance(env: EconeEnv, iid: str) -> dict[str, Any]:
    return env.client().describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]  # type: ignore[no-any-return]


def vm_template(env: EconeEnv, iid: str) -> dict[str, object]:
    """The VM's template as a comparable value: every attribute and vector."""
    return {"t": env.oneadmin.vm_info(int(iid[2:])).template.attributes}


def test_type_and_user_data_of_a_stopped_instance(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    large_type(env)
    ec2 = env.client()
    iid = stopped(env, s)
    vm_id = int(iid[2:])
    before = env.oneadmin.vm_info(vm_id)

    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "m1.large"})
    vm = env.oneadmin.vm_info(vm_id)
    assert (vm.template_value("CPU"), vm.template_value("VCPU"), vm.template_value("MEMORY")) == (
        "2",
        "4",
        "2048",
    )
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")
    assert attr["InstanceType"] == {"Value": "m1.large"}
    assert instance(env, iid)["InstanceType"] == "m1.large"
    # The legacy form (Attribute + Value) goes back to the small one.
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="instanceType", Value="m1.small")
    vm = env.oneadmin.vm_info(vm_id)
    assert (vm.template_value("CPU"), vm.template_value("VCPU"), vm.template_value("MEMORY")) == (
        "0.5",
        "2",
        "512",
    )

    script = b"#!/bin/sh\necho changed\n"
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": script})
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    assert attr["UserData"] == {"Value": base64.b64encode(script).decode()}
    vm = env.oneadmin.vm_info(vm_id)
    # Only EC2_USER_DATA changed: the other CONTEXT values (the template's, the network's) and the
    # OS/GRAPHICS sections an updateconf could drop are as they were.
    for path in ("CONTEXT/FROM_TEMPLATE", "CONTEXT/NETWORK", "CONTEXT/ETH0_IP", "CONTEXT/TARGET", "OS/UUID"):
        assert vm.template_value(path) == before.template_value(path), path
    assert [k for k, _ in vm.template.attributes] == [k for k, _ in before.template.attributes]
    # Started again, the instance runs with the new type and data.
    ec2.start_instances(InstanceIds=[iid])
    env.sim.schedule()
    assert (
        ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"] == attr["UserData"]
    )


def test_running_instance_and_unknown_type_are_refused(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    large_type(env)
    ec2 = env.client()
    running = launch(env, s)
    env.sim.schedule()
    assert instance(env, running)["State"]["Name"] == "running"
    before = vm_template(env, running)
    for change in ({"InstanceType": {"Value": "m1.large"}}, {"UserData": {"Value": b"new"}}):
        assert (
            code_of(ec2.modify_instance_attribute, InstanceId=running, **change) == "IncorrectInstanceState"
        )
        assert vm_template(env, running) == before
    assert ec2.describe_instance_attribute(InstanceId=running, Attribute="instanceType")["InstanceType"] == {
        "Value": "m1.small"
    }

    iid = stopped(env, s)
    before = vm_template(env, iid)
    refused: list[dict[str, Any]] = [
        {"InstanceType": {"Value": "m9.huge"}},
        {"Attribute": "instanceType", "Value": "m9.huge"},
        # Not base64: the legacy Value is taken as the wire's base64 text, so this is refused.
        {"Attribute": "userData", "Value": '"]\nRAW=[TYPE="kvm",DATA="<evil/>"]'},
    ]
    for change in refused:
        assert code_of(ec2.modify_instance_attribute, InstanceId=iid, **change) == "InvalidParameterValue"
        assert vm_template(env, iid) == before
    # A type the instance's host cannot fit: oned's capacity check, EC2's InsufficientInstanceCapacity.
    allocate_template(
        env.alice.one,
        [("NAME", "huge"), ("CPU", "100000"), ("MEMORY", "512"), ("EC2_INSTANCE_TYPE", "m9.huge")],
    )
    assert code_of(ec2.modify_instance_attribute, InstanceId=iid, InstanceType={"Value": "m9.huge"}) == (
        "InsufficientInstanceCapacity"
    )
    assert vm_template(env, iid) == before
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"] == {
        "Value": "m1.small"
    }


@pytest.mark.parametrize("legacy", [False, True])
def test_user_data_cannot_reach_the_template(seeded: tuple[EconeEnv, Seed], legacy: bool) -> None:
    env, s = seeded
    ec2 = env.client()
    iid = stopped(env, s)
    before = env.oneadmin.vm_info(int(iid[2:]))
    payload = b'"]\nRAW=[TYPE="kvm",DATA="<evil/>"]\nCONTEXT=[FILES="/etc/shadow"]\nMEMORY="99999"'
    encoded = base64.b64encode(payload).decode()
    if legacy:
        ec2.modify_instance_attribute(InstanceId=iid, Attribute="userData", Value=encoded)
    else:
        ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": payload})
    vm = env.oneadmin.vm_info(int(iid[2:]))
    assert vm.template_value("CONTEXT/EC2_USER_DATA") == encoded
    assert vm.template_value("RAW/DATA") == "" and vm.template_value("CONTEXT/FILES") == ""
    assert vm.template_value("MEMORY") == before.template_value("MEMORY")
    assert [k for k, _ in vm.template.attributes] == [k for k, _ in before.template.attributes]
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"] == {
        "Value": encoded
    }


def test_another_users_instance(seeded: tuple[EconeEnv, Seed]) -> None:
    env, s = seeded
    large_type(env)
    iid = stopped(env, s)
    before = vm_template(env, iid)
    bob = env.client("bob")
    for change in ({"InstanceType": {"Value": "m1.large"}}, {"UserData": {"Value": b"mine"}}):
        assert (
            code_of(bob.modify_instance_attribute, InstanceId=iid, **change) == "InvalidInstanceID.NotFound"
        )
    assert code_of(
        env.client().modify_instance_attribute, InstanceId="i-0", InstanceType={"Value": "m1.large"}
    ) == ("InvalidInstanceID.NotFound")
    assert vm_template(env, iid) == before
