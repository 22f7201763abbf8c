"""The reaper: this cloud's DONE VMs lose their instances; alive VMs, VMs unknown here and anything
without proof that the instance is this cloud's (another OpenNebula in the same account) are spared."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.im_ec2.instances import Instance, describe_instances
from one_drivers.im_ec2.reaper import GatewayVmDirectory, VmRecord, reap, should_reap
from one_drivers.one import records
from one_drivers.one.gateway import OneNotFoundError, OneUnavailable
from one_drivers.one.states import VmState
from tests.im_ec2.conftest import Region, launch


class FakeDirectory:
    """A VmDirectory: `vms` maps id -> (state, deploy id[, stime]); ids absent from it do not exist."""

    def __init__(
        self, vms: dict[int, tuple[VmState, str] | tuple[VmState, str, str]], fail: bool = False
    ) -> None:
        self.vms = vms
        self.fail = fail
        self.record_calls: list[int] = []

    def live_vm_ids(self) -> set[int]:
        if self.fail:
            raise OneUnavailable("oned is down")
        return {i for i, (state, *_) in self.vms.items() if state is not VmState.DONE}

    def vm_record(self, vm_id: int) -> VmRecord | None:
        self.record_calls.append(vm_id)
        if vm_id not in self.vms:
            return None
        return VmRecord(*self.vms[vm_id])


def states(region: Region) -> dict[str, str]:
    reply = region.client.describe_instances()
    return {i["InstanceId"]: i["State"]["Name"] for r in reply["Reservations"] for i in r["Instances"]}


def test_reaps_done_never_alive_nor_unknown(region: Region, caplog: pytest.LogCaptureFixture) -> None:
    directory = FakeDirectory(
        {
            1: (VmState.ACTIVE, region.running),  # alive: untouched
            2: (VmState.DONE, region.small),  # DONE with this instance as DEPLOY_ID: reaped
            # 3 (the stopped instance) is unknown to this oned: purged, or another cloud's: spared
            4: (VmState.DONE, region.terminated),  # already terminated: nothing to do
        }
    )
    caplog.set_level("INFO")
    done = reap(region.client, "ec2-host", describe_instances(region.client), directory)
    assert done == [region.small]
    after = states(region)
    assert after[region.running] == "running"
    assert after[region.wild] == "running"  # wild instances are never the reaper's business
    assert after[region.small] in ("shutting-down", "terminated")
    assert after[region.stopped] == "stopped"
    lines = [r.getMessage() for r in caplog.records if "reaper terminated" in r.getMessage()]
    assert len(lines) == 1 and region.small in lines[0] and "VM 2" in lines[0]
    spared = [r.getMessage() for r in caplog.records if "reaper spares" in r.getMessage()]
    assert len(spared) == 1 and region.stopped in spared[0] and "VM 3 is unknown" in spared[0]
    # only the candidates were looked up one by one
    assert sorted(directory.record_calls) == [2, 3]


def test_another_clouds_instances_with_the_same_vm_ids_are_spared(region: Region) -> None:
    # A second OpenNebula bursting into the same account tags its instances with ITS VM ids.
    ours = launch(region.client, "t3.micro", {"ONE_ID": "7", "ONE_DEPLOY_TOKEN": "one-7-1700000000-0"})
    theirs = launch(region.client, "t3.micro", {"ONE_ID": "8", "ONE_DEPLOY_TOKEN": "one-8-1600000000-2"})
    untokened = launch(region.client, "t3.micro", {"ONE_ID": "9"})
    theirs_unknown = launch(region.client, "t3.micro", {"ONE_ID": "10", "ONE_DEPLOY_TOKEN": "one-10-5-0"})
    theirs_deployed = launch(region.client, "t3.micro", {"ONE_ID": "11", "ONE_DEPLOY_TOKEN": "one-11-5-0"})
    region.client.stop_instances(InstanceIds=[ours, theirs, untokened, theirs_unknown, theirs_deployed])
    directory = FakeDirectory(
        {
            1: (VmState.ACTIVE, region.running),
            2: (VmState.ACTIVE, region.small),
            3: (VmState.POWEROFF, region.stopped),
            7: (VmState.DONE, "", "1700000000"),  # ours: DONE before a DEPLOY_ID was written
            8: (VmState.DONE, "", "1700000001"),  # our VM 8 is another VM than theirs
            9: (VmState.DONE, ""),  # no token on the instance: no proof
            # 10 does not exist here
            11: (VmState.DONE, "i-0123456789abcdef0", "5"),  # our VM 11 ran on another instance
        }
    )
    assert reap(region.client, "h", describe_instances(region.client), directory) == [ours]
    after = states(region)
    assert after[ours] in ("shutting-down", "terminated")
    for spared in (theirs, untokened, theirs_unknown, theirs_deployed):
        assert after[spared] == "stopped", spared


def test_spares_everything_when_all_alive(region: Region) -> None:
    directory = FakeDirectory(
        {
            1: (VmState.ACTIVE, region.running),
            2: (VmState.ACTIVE, region.small),
            3: (VmState.POWEROFF, region.stopped),
            4: (VmState.ACTIVE, region.terminated),
        }
    )
    assert reap(region.client, "h", describe_instances(region.client), directory) == []
    assert directory.record_calls == []
    assert states(region)[region.stopped] == "stopped"


def test_spares_when_oned_unreachable(region: Region) -> None:
    assert reap(region.client, "h", describe_instances(region.client), FakeDirectory({}, fail=True)) == []
    assert states(region)[region.running] == "running"


def test_spares_done_vm_deployed_on_another_instance(region: Region) -> None:
    directory = FakeDirectory(
        {1: (VmState.DONE, "i-someotherinstance"), 2: (VmState.ACTIVE, ""), 3: (VmState.ACTIVE, "")}
    )
    assert reap(region.client, "h", describe_instances(region.client), directory) == []
    assert states(region)[region.running] == "running"


@pytest.mark.parametrize(
    ("token", "record", "expected"),
    [
        ("", None, False),
        ("one-9-100-0", None, False),
        ("", VmRecord(VmState.DONE, "i-1"), True),
        ("one-8-100-0", VmRecord(VmState.DONE, "i-1"), True),  # the DEPLOY_ID alone is proof
        ("", VmRecord(VmState.DONE, ""), False),
        ("one-9-100-0", VmRecord(VmState.DONE, "", "100"), True),
        ("one-9-100-3", VmRecord(VmState.DONE, "", "100"), True),
        ("one-9-100-0", VmRecord(VmState.DONE, "", "101"), False),
        ("one-8-100-0", VmRecord(VmState.DONE, "", "100"), False),
        ("one-9-100-0", VmRecord(VmState.DONE, "", ""), False),
        ("one-9-0-0", VmRecord(VmState.DONE, "", ""), False),
        ("junk", VmRecord(VmState.DONE, "", "100"), False),
        ("one-9-100-0", VmRecord(VmState.DONE, "i-2", "100"), False),
        *[
            (tok, VmRecord(st, "i-1", "100"), False)
            for st in VmState
            if st is not VmState.DONE
            for tok in ("", "one-9-100-0")
        ],
    ],
)
def test_should_reap_table(token: str, record: VmRecord | None, expected: bool) -> None:
    instance = Instance("i-1", "stopped", "t3.micro", one_id=9, deploy_token=token)
    assert should_reap(instance, record) is expected


class RecordedGateway:
    """Serves the recorded 6.10.5 documents as OneGateway would."""

    def __init__(self, real_dir: Path) -> None:
        self.real_dir = real_dir

    def vmpool_info(
        self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1
    ) -> list[records.VmRecord]:
        assert (filter_flag, state) == (-2, -1)
        return records.parse_pool(records.VmRecord, (self.real_dir / "vmpool_info.xml").read_text())

    def vm_info(self, vm_id: int, decrypt: bool = False) -> records.VmRecord:
        if vm_id == 0:
            return records.parse(records.VmRecord, (self.real_dir / "vm_info_done.xml").read_text())
        raise OneNotFoundError(f"[one.vm.info] Error getting virtual machine [{vm_id}].")


def test_gateway_directory_reads_recorded_documents(real_dir: Path) -> None:
    directory = GatewayVmDirectory(RecordedGateway(real_dir))
    assert 0 in directory.live_vm_ids()
    assert directory.vm_record(0) == VmRecord(VmState.DONE, "dummyhost:vm1:dummy", "1795306730")
    assert directory.vm_record(9999) is None


def test_spared_instances_are_not_looked_up_nor_logged_again(
    region: Region, caplog: pytest.LogCaptureFixture
) -> None:
    # Another cloud's instances stay another cloud's: a long-running driver asks oned about them once.
    directory = FakeDirectory({1: (VmState.ACTIVE, region.running), 2: (VmState.ACTIVE, region.small)})
    caplog.set_level("INFO")
    spared: set[str] = set()
    assert reap(region.client, "h", describe_instances(region.client), directory, spared) == []
    assert spared == {region.stopped} and directory.record_calls == [3]
    assert sum("reaper spares" in r.getMessage() for r in caplog.records) == 1
    directory.record_calls.clear()
    caplog.clear()
    assert reap(region.client, "h", describe_instances(region.client), directory, spared) == []
    assert directory.record_calls == []
    assert not any("reaper spares" in r.getMessage() for r in caplog.records)
    assert states(region)[region.stopped] == "stopped"
