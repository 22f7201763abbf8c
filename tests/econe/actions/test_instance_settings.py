"""Instance attributes, termination protection, console output, password data and status through boto3."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from one_drivers.one.records import parse_vm
from one_drivers.one.template import build_template
from tests.econe.actions.seed import Seed, seed
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
    assert parse_vm(env.oneadmin.vm_info(int(iid[2:]))).lock_level == 2
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"] == {"Value": True}
    assert code_of(ec2.terminate_instances, InstanceIds=[iid]) == "OperationNotPermitted"
    assert parse_vm(env.oneadmin.vm_info(int(iid[2:]))).state.name != "DONE"
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="disableApiTermination", Value="false")
    assert parse_vm(env.oneadmin.vm_info(int(iid[2:]))).lock_level == 0
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]["InstanceId"] == iid


@pytest.mark.parametrize(
    "change",
    [
        {"InstanceType": {"Value": "m1.large"}},
        {"UserData": {"Value": b"x"}},
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
    assert parse_vm(env.oneadmin.vm_info(int(iid[2:]))).template == parse_vm(before).template


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
