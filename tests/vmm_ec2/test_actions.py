"""VMM actions against a real moto EC2 server on loopback, including injected faults."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
from one_drivers.ec2.config import parse_config
from one_drivers.mad.codec import parse_action_data
from one_drivers.mad.loop import ActionCancelled, ActionError
from one_drivers.one.gateway import OneUnavailable
from one_drivers.vmm_ec2.actions import Ec2Vmm, PlainControl, VmRequest, poll_info
from tests.conftest import free_port
from tests.ec2.fault_proxy import FaultProxy
from tests.vmm_ec2.vmdocs import action_data

if TYPE_CHECKING:
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import InstanceTypeDef


def no_oned() -> Any:
    raise OneUnavailable("no oned in tests")


def make_vmm(endpoint: str, wait_timeout: float = 10, **config: Any) -> Ec2Vmm:
    cfg = parse_config(
        {"regions": {"default": {"region_name": "us-east-1", "endpoint_url": endpoint}}, **config}
    )
    clients = Ec2Clients(cfg, HostSettingsResolver(cfg, no_oned))
    return Ec2Vmm(clients, wait_timeout=wait_timeout, poll_interval=0.05, backoff=0.05)


def request(real_dir: Path, **kw: Any) -> VmRequest:
    return VmRequest.from_action_data(parse_action_data(action_data(real_dir, **kw)))


def ec2(endpoint: str) -> EC2Client:
    client: EC2Client = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    return client


def instances(endpoint: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for r in ec2(endpoint).describe_instances()["Reservations"]:
        for i in r["Instances"]:
            found[i["InstanceId"]] = i["State"]["Name"]
    return found


def tags_of(endpoint: str, instance_id: str) -> dict[str, str]:
    r = ec2(endpoint).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in r.get("Tags", [])}


@pytest.fixture
def vmm(moto_endpoint: str) -> Ec2Vmm:
    return make_vmm(moto_endpoint)


def test_full_lifecycle(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    ctl = PlainControl()
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=3), ctl)
    assert instances(moto_endpoint) == {iid: "running"}
    tags = tags_of(moto_endpoint, iid)
    assert tags["ONE_ID"] == "3" and tags["team"] == "burst" and tags["ONE_DEPLOY_TOKEN"].startswith("one-3-")
    assert vmm.run("POLL", request(real_dir, vm_id=3, lcm=3, deploy_id=iid), ctl).startswith("STATE=a ")
    assert vmm.run("REBOOT", request(real_dir, vm_id=3, lcm=3, deploy_id=iid), ctl) == ""
    assert vmm.run("RESET", request(real_dir, vm_id=3, lcm=3, deploy_id=iid), ctl) == ""
    vmm.run("SHUTDOWN", request(real_dir, vm_id=3, lcm=18, deploy_id=iid), ctl)  # poweroff
    assert instances(moto_endpoint)[iid] == "stopped"
    # resume: the recorded 6.10.5 sends an empty top-level DEPLOY_ID, the id is in VM/DEPLOY_ID
    resumed = vmm.run("DEPLOY", request(real_dir, vm_id=3, lcm=20, vm_deploy_id=iid, seq=1), ctl)
    assert resumed == iid and instances(moto_endpoint)[iid] == "running"
    vmm.run("SAVE", request(real_dir, vm_id=3, lcm=5, deploy_id=iid, seq=1), ctl)
    assert instances(moto_endpoint)[iid] == "stopped"
    assert vmm.run("RESTORE", request(real_dir, vm_id=3, lcm=22, deploy_id=iid, seq=2), ctl) == iid
    assert instances(moto_endpoint)[iid] == "running"
    vmm.run("CANCEL", request(real_dir, vm_id=3, lcm=29, deploy_id=iid, seq=2), ctl)  # undeploy --hard
    assert instances(moto_endpoint)[iid] == "stopped"
    vmm.run("DEPLOY", request(real_dir, vm_id=3, lcm=32, vm_deploy_id=iid, seq=3), ctl)
    vmm.run("SHUTDOWN", request(real_dir, vm_id=3, lcm=12, deploy_id=iid, seq=3), ctl)  # terminate
    assert instances(moto_endpoint)[iid] == "terminated"
    assert vmm.run("POLL", request(real_dir, vm_id=3, lcm=3, deploy_id=iid), ctl).startswith("STATE=d")


def test_cancel_terminates_outside_poweroff(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=1), PlainControl())
    vmm.run("CANCEL", request(real_dir, vm_id=1, lcm=12, deploy_id=iid), PlainControl())
    assert instances(moto_endpoint)[iid] == "terminated"


def test_cleanup_never_fails_on_missing_instances(vmm: Ec2Vmm, real_dir: Path) -> None:
    ctl = PlainControl()
    for deploy_id in ("i-0123456789abcdef0", "dummyhost:vm1:dummy", ""):
        req = request(real_dir, vm_id=2, state=6, lcm=0, deploy_id=deploy_id)
        assert vmm.run("CLEANUP", req, ctl) == ""
        assert vmm.run("CANCEL", req, ctl) == ""  # exec driver: CLEANUP arrives as `cancel`


@pytest.mark.parametrize(("state", "lcm"), [(6, 0), (3, 23), (3, 15)])
def test_cancel_script_in_cleanup_states_terminates_even_when_stopped(
    vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path, state: int, lcm: int
) -> None:
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=20), PlainControl())
    vmm.run("SHUTDOWN", request(real_dir, vm_id=20, lcm=18, deploy_id=iid), PlainControl())
    assert instances(moto_endpoint)[iid] == "stopped"
    vmm.run("CANCEL", request(real_dir, vm_id=20, state=state, lcm=lcm, deploy_id=iid), PlainControl())
    assert instances(moto_endpoint)[iid] == "terminated"


def test_cleanup_without_deploy_id_finds_the_launched_instance(
    vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path
) -> None:
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=2), PlainControl())
    other = make_vmm(moto_endpoint).run("DEPLOY", request(real_dir, vm_id=9), PlainControl())
    vmm.run("CLEANUP", request(real_dir, vm_id=2, state=6, lcm=0), PlainControl())
    assert instances(moto_endpoint) == {iid: "terminated", other: "running"}


def test_resent_deploy_returns_the_same_instance(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    first = vmm.run("DEPLOY", request(real_dir, vm_id=5, seq=4), PlainControl())
    again = make_vmm(moto_endpoint).run("DEPLOY", request(real_dir, vm_id=5, seq=4), PlainControl())
    assert first == again and len(instances(moto_endpoint)) == 1
    later = vmm.run("DEPLOY", request(real_dir, vm_id=5, seq=5), PlainControl())  # a new deployment
    assert later != first


def test_unsupported_and_bad_input(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    with pytest.raises(ActionError, match="MIGRATE is not supported by the ec2 driver"):
        vmm.run("MIGRATE", request(real_dir, deploy_id="i-1"), PlainControl())
    no_ami = "<PUBLIC_CLOUD><TYPE>ec2</TYPE><INSTANCETYPE>t3.micro</INSTANCETYPE></PUBLIC_CLOUD>"
    with pytest.raises(ActionError, match="AMI: missing"):
        vmm.run("DEPLOY", request(real_dir, section=no_ami), PlainControl())
    wrong_host = "<PUBLIC_CLOUD><TYPE>ec2</TYPE><HOST>elsewhere</HOST><AMI>ami-1</AMI></PUBLIC_CLOUD>"
    with pytest.raises(ActionError, match="PUBLIC_CLOUD/HOST"):
        vmm.run("DEPLOY", request(real_dir, section=wrong_host), PlainControl())
    with pytest.raises(ActionError, match="no DEPLOY_ID"):
        vmm.run("REBOOT", request(real_dir, lcm=3), PlainControl())
    with pytest.raises(ActionError, match="no DEPLOY_ID"):
        vmm.run("DEPLOY", request(real_dir, lcm=20), PlainControl())
    assert instances(moto_endpoint) == {}


def test_instance_store_refuses_stop(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    class InstanceStore(Ec2Vmm):
        def _describe(self, client: EC2Client, instance_id: str) -> InstanceTypeDef | None:
            found = super()._describe(client, instance_id)
            return None if found is None else {**found, "RootDeviceType": "instance-store"}

    store = InstanceStore(vmm.clients, wait_timeout=5, poll_interval=0.05)
    iid = store.run("DEPLOY", request(real_dir, vm_id=6), PlainControl())
    with pytest.raises(ActionError, match="instance-store"):
        store.run("SAVE", request(real_dir, vm_id=6, lcm=5, deploy_id=iid), PlainControl())
    assert instances(moto_endpoint)[iid] == "running"


def test_poll_string_shape() -> None:
    instance: InstanceTypeDef = {
        "State": {"Name": "running"},
        "InstanceType": "t3.micro",
        "PublicDnsName": "",
        "PrivateIpAddress": "10.0.0.5",
        "SecurityGroups": [
            {"GroupName": "web", "GroupId": "sg-1"},
            {"GroupName": "ssh db", "GroupId": "sg-2"},
        ],
    }
    text = poll_info(instance, 1048576)
    assert text == (
        'STATE=a MEMORY=1048576 CPU=0 NETTX=0 NETRX=0 AWS_PRIVATE_IP_ADDRESS="10.0.0.5" '
        'AWS_SECURITY_GROUPS="web,ssh db" AWS_INSTANCE_TYPE="t3.micro"'
    )
    for state, letter in {"pending": "a", "stopped": "d", "terminated": "d", "weird": "-"}.items():
        # cast: "weird" is no state the stubs know, which is the point
        assert poll_info(cast("InstanceTypeDef", {"State": {"Name": state}})).startswith(f"STATE={letter} ")
    assert poll_info(None) == "STATE=d"
    # a value oned's template lexer cannot carry is dropped, never breaks the poll line
    odd = poll_info({"State": {"Name": "running"}, "KeyName": "key\\", "ImageId": 'ami "x"'})
    assert odd == 'STATE=a MEMORY=0 CPU=0 NETTX=0 NETRX=0 AWS_IMAGE_ID="ami \\"x\\""'


# --- faults ---------------------------------------------------------------------------------------
@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def test_throttled_deploy_still_launches_once(proxy: FaultProxy, moto_endpoint: str, real_dir: Path) -> None:
    vmm = make_vmm(proxy.url, max_attempts=4)
    proxy.fail("RunInstances", 2, 503, "RequestLimitExceeded")
    proxy.fail("DescribeInstances", 2, 400, "RequestLimitExceeded")
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=8), PlainControl())
    assert instances(moto_endpoint) == {iid: "running"}


def test_ambiguous_runinstances_failure_never_launches_twice(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    # The first RunInstances reaches moto but the answer is lost (read timeout): the driver must find
    # the launched instance by its token instead of launching a second one.
    vmm = make_vmm(proxy.url, max_attempts=3, read_timeout=1)
    proxy.delay["RunInstances"] = 1.5
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=11), PlainControl())
    assert instances(moto_endpoint) == {iid: "running"}
    assert proxy.seen["RunInstances"] == 1


def test_launch_whose_every_answer_and_lookup_failed_is_found_at_the_end(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    # Attempt 1 launches but its answer is lost; attempt 2's lookup fails through its retries, so
    # attempt 2 never runs: the attempts are spent, yet the instance exists. A last lookup finds it,
    # and DEPLOY answers with it rather than failing and leaving it running.
    vmm = make_vmm(proxy.url, max_attempts=2)
    proxy.lose_reply("RunInstances", 1)
    proxy.fail("DescribeTags", 2, 500, "InternalError", after=1)  # after DEPLOY's first lookup
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=15), PlainControl())
    assert instances(moto_endpoint) == {iid: "running"}
    assert proxy.seen["RunInstances"] == 1


def test_endpoint_down_fails_cleanly(real_dir: Path) -> None:
    vmm = make_vmm(f"http://127.0.0.1:{free_port()}", max_attempts=2, connect_timeout=1)
    for action, kw in (("DEPLOY", {}), ("CLEANUP", {"deploy_id": "i-1", "state": 6, "lcm": 0})):
        with pytest.raises(ActionError) as info:
            vmm.run(action, request(real_dir, vm_id=12, **kw), PlainControl())
        assert "Could not connect" in str(info.value) or "EndpointConnectionError" in str(info.value)


def test_failure_after_launch_terminates(proxy: FaultProxy, moto_endpoint: str, real_dir: Path) -> None:
    vmm = make_vmm(proxy.url, max_attempts=1)
    proxy.fail("AssociateAddress", 1, 400, "InvalidAllocationID.NotFound")
    section = "<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-12c6146b</AMI><ELASTICIP>eipalloc-404</ELASTICIP></PUBLIC_CLOUD>"
    with pytest.raises(ActionError, match=r"InvalidAllocationID\.NotFound"):
        vmm.run("DEPLOY", request(real_dir, vm_id=13, section=section), PlainControl())
    states = set(instances(moto_endpoint).values())
    assert states <= {"shutting-down", "terminated"} and states


def test_wait_timeout_names_the_instance_and_rolls_back(moto_endpoint: str, real_dir: Path) -> None:
    class NeverRunning(Ec2Vmm):
        def _describe(self, client: EC2Client, instance_id: str) -> InstanceTypeDef | None:
            found = super()._describe(client, instance_id)
            if found is not None and found["State"]["Name"] == "running":
                found = {**found, "State": {"Name": "pending"}}
            return found

    base = make_vmm(moto_endpoint)
    vmm = NeverRunning(base.clients, wait_timeout=0.3, poll_interval=0.05)
    with pytest.raises(ActionError, match=r"timeout after 0.3s waiting for instance i-\w+ to be running"):
        vmm.run("DEPLOY", request(real_dir, vm_id=14), PlainControl())
    assert set(instances(moto_endpoint).values()) <= {"shutting-down", "terminated"}


def test_cancel_during_wait_rolls_back(moto_endpoint: str, real_dir: Path) -> None:
    class SlowBoot(Ec2Vmm):
        def _describe(self, client: EC2Client, instance_id: str) -> InstanceTypeDef | None:
            found = super()._describe(client, instance_id)
            return None if found is None else {**found, "State": {"Name": "pending"}}

    vmm = SlowBoot(make_vmm(moto_endpoint).clients, wait_timeout=30, poll_interval=0.05)
    ctl = PlainControl()
    threading.Timer(0.5, ctl.cancelled.set).start()
    with pytest.raises(ActionCancelled):
        vmm.run("DEPLOY", request(real_dir, vm_id=15), ctl)
    assert set(instances(moto_endpoint).values()) <= {"shutting-down", "terminated"}


def test_cold_migration_is_refused(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=16), PlainControl())
    with pytest.raises(ActionError, match="cold migration is not supported by the ec2 driver"):
        vmm.run("SAVE", request(real_dir, vm_id=16, lcm=7, deploy_id=iid), PlainControl())
    assert instances(moto_endpoint)[iid] == "running"


def test_replayed_dead_token_launches_anew(proxy: FaultProxy, moto_endpoint: str, real_dir: Path) -> None:
    # `onevm recover --retry` re-sends DEPLOY with the same sequence after the instance died: AWS
    # answers the reused ClientToken with the dead instance; the driver must launch a new one.
    proxy.replay_client_tokens = True
    vmm = make_vmm(proxy.url, max_attempts=3)
    first = vmm.run("DEPLOY", request(real_dir, vm_id=17), PlainControl())
    ec2(moto_endpoint).terminate_instances(InstanceIds=[first])
    second = vmm.run("DEPLOY", request(real_dir, vm_id=17), PlainControl())
    assert second != first
    assert instances(moto_endpoint) == {first: "terminated", second: "running"}
    assert proxy.seen["RunInstances"] == 3  # first launch, the replay, the fresh token


def test_elastic_ip_is_associated_after_running(vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path) -> None:
    client = ec2(moto_endpoint)
    for vm_id, key in ((18, "AllocationId"), (19, "PublicIp")):
        address = client.allocate_address(Domain="vpc")
        value = address["AllocationId"] if key == "AllocationId" else address["PublicIp"]
        section = (
            "<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-12c6146b</AMI>"
            f"<ELASTICIP>{value}</ELASTICIP></PUBLIC_CLOUD>"
        )
        iid = vmm.run("DEPLOY", request(real_dir, vm_id=vm_id, section=section), PlainControl())
        described = client.describe_addresses(AllocationIds=[address["AllocationId"]])["Addresses"][0]
        assert described.get("InstanceId") == iid


def test_old_message_shapes(vmm: Ec2Vmm, moto_endpoint: str) -> None:
    """<= 3.8: the VM under <TEMPLATE> with NET_DRV; <= 4.0: a legacy EC2 section with CLOUD."""
    xml = (
        "<VMM_DRIVER_ACTION_DATA><HOST>old-ec2</HOST><NET_DRV>dummy</NET_DRV><MIGR_HOST/><MIGR_NET_DRV/>"
        "<DEPLOY_ID/><LOCAL_DEPLOYMENT_FILE>/var/lib/one/7/deployment.0</LOCAL_DEPLOYMENT_FILE>"
        "<TEMPLATE><ID>7</ID><STATE>3</STATE><LCM_STATE>2</LCM_STATE><STIME>1300000000</STIME>"
        "<EC2><CLOUD>OLD-EC2</CLOUD><AMI>ami-12c6146b</AMI><INSTANCETYPE>m1.small</INSTANCETYPE></EC2>"
        "</TEMPLATE></VMM_DRIVER_ACTION_DATA>"
    )
    req = VmRequest.from_action_data(parse_action_data(xml))
    assert (req.vm_id, req.host, req.stime) == (7, "old-ec2", "1300000000")
    iid = vmm.run("DEPLOY", req, PlainControl())
    assert instances(moto_endpoint) == {iid: "running"}
    assert tags_of(moto_endpoint, iid)["ONE_ID"] == "7"


def test_poll_letters_follow_the_state_table() -> None:
    # The IM driver reads the same table (tests/im_ec2): both drivers give oned the same letter.
    from one_drivers.ec2.states import STATE_TABLE

    for state, mapping in STATE_TABLE.items():
        assert poll_info({"State": {"Name": state.value}}).startswith(f"STATE={mapping.poll} "), state


def _user_data(endpoint: str, iid: str) -> str:
    attribute = ec2(endpoint).describe_instance_attribute(InstanceId=iid, Attribute="userData")
    return base64.b64decode(attribute["UserData"]["Value"]).decode()


def test_user_data_reaches_the_instance_encoded_once(
    vmm: Ec2Vmm, moto_endpoint: str, real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "#!/bin/sh\necho burst > /tmp/hello\n"
    section = (
        f"<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-12c6146b</AMI><USERDATA>{script}</USERDATA></PUBLIC_CLOUD>"
    )
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=22, section=section), PlainControl())
    assert _user_data(moto_endpoint, iid) == script  # verbatim: boto3 encoded it exactly once
    # without USERDATA: the CONTEXT as KEY="value" lines, with the OneGate token of vms/<id>/token.txt
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path))
    (tmp_path / "var" / "vms" / "23").mkdir(parents=True)
    (tmp_path / "var" / "vms" / "23" / "token.txt").write_text("gate-token\n")
    xml = action_data(real_dir, vm_id=23).replace(
        "<LOCAL_DEPLOYMENT_FILE>/var/lib/one/vms/0/deployment.0</LOCAL_DEPLOYMENT_FILE>",
        "<LOCAL_DEPLOYMENT_FILE/>",
    )
    xml = xml.replace(
        "<TARGET><![CDATA[hda]]></TARGET></CONTEXT>", "<TOKEN><![CDATA[YES]]></TOKEN></CONTEXT>"
    )
    iid = vmm.run("DEPLOY", VmRequest.from_action_data(parse_action_data(xml)), PlainControl())
    lines = _user_data(moto_endpoint, iid).splitlines()
    assert 'ETH0_IP="10.0.0.10"' in lines
    assert 'SSH_PUBLIC_KEY="ssh-ed25519 AAAAtest user@test"' in lines
    assert lines[-1] == 'ONEGATE_TOKEN="gate-token"'


@pytest.mark.parametrize("fault", ["lose_reply", "late_reply"])
def test_lost_reply_with_a_template_client_token_launches_once(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path, fault: str
) -> None:
    # moto ignores ClientToken, like some EC2 endpoints: only the deploy token tag can find the launch.
    # The template's CLIENTTOKEN goes to RunInstances; the tag holds the deploy token whatever was sent.
    vmm = make_vmm(proxy.url, max_attempts=3, read_timeout=1)
    if fault == "lose_reply":
        proxy.lose_reply("RunInstances", 1)
    else:
        proxy.delay["RunInstances"] = 1.5
    section = (
        "<PUBLIC_CLOUD><TYPE>ec2</TYPE><AMI>ami-12c6146b</AMI>"
        "<CLIENTTOKEN>users-own-token</CLIENTTOKEN></PUBLIC_CLOUD>"
    )
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=23, section=section), PlainControl())
    assert proxy.forwarded["RunInstances"] == 1
    assert instances(moto_endpoint) == {iid: "running"}
    vmm.run("SHUTDOWN", request(real_dir, vm_id=23, section=section, deploy_id=iid), PlainControl())
    assert set(instances(moto_endpoint).values()) <= {"shutting-down", "terminated"}


def test_connection_reset_before_the_endpoint_relaunches_once(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    # A reset before the request reached EC2: the lookup finds nothing, so launching again is right.
    vmm = make_vmm(proxy.url, max_attempts=3)
    proxy.reset("RunInstances", 1)
    iid = vmm.run("DEPLOY", request(real_dir, vm_id=24), PlainControl())
    assert (proxy.seen["RunInstances"], proxy.forwarded["RunInstances"]) == (2, 1)
    assert instances(moto_endpoint) == {iid: "running"}


@pytest.mark.slow
def test_forty_deploys_in_flight_under_half_throttling_all_succeed_once(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    # The issue's scenario: one shared client per host used to run dry of botocore's retry quota
    # (68-77 of 200 deploys failed); throttles in every body now slow the deploys down instead.
    from concurrent.futures import ThreadPoolExecutor

    # A generous wait for "running": half the polls are throttled and paced, and a loaded machine
    # stretches that; what this test asserts is the count of deploys, not their speed.
    vmm = make_vmm(proxy.url, wait_timeout=120, max_attempts=3)
    proxy.throttle(0.5, statuses=(400, 503, 429), bodies=("xml", "html", "text"))
    with ThreadPoolExecutor(40) as pool:
        ids = list(
            pool.map(lambda n: vmm.run("DEPLOY", request(real_dir, vm_id=500 + n), PlainControl()), range(40))
        )
    proxy.throttle(0.0)
    assert len(set(ids)) == 40
    assert instances(moto_endpoint) == dict.fromkeys(ids, "running")
    assert sum(n for key, n in proxy.injected.items() if key.startswith("throttle-")) > 40
