"""The reaper: DONE or gone VMs lose their instances; alive VMs and doubtful cases are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.im_ec2.instances import describe_instances
from one_drivers.im_ec2.reaper import GatewayVmDirectory, VmRecord, reap, should_reap
from one_drivers.one.gateway import OneNotFoundError, OneUnavailable
from one_drivers.one.states import VmState
from tests.im_ec2.conftest import Region


class FakeDirectory:
    """A VmDirectory: `vms` maps id -> (state, deploy id); ids absent from it do not exist."""

    def __init__(self, vms: dict[int, tuple[VmState, str]], fail: bool = False) -> None:
        self.vms = vms
        self.fail = fail
        self.record_calls: list[int] = []

    def live_vm_ids(self) -> set[int]:
        if self.fail:
            raise OneUnavailable("oned is down")
        return {i for i, (state, _) in self.vms.items() if state is not VmState.DONE}

    def vm_record(self, vm_id: int) -> VmRecord | None:
        self.record_calls.append(vm_id)
        if vm_id not in self.vms:
            return None
        state, deploy = self.vms[vm_id]
        return VmRecord(state, deploy)


def states(region: Region) -> dict[str, str]:
    reply = region.client.describe_instances()
    return {i["InstanceId"]: i["State"]["Name"] for r in reply["Reservations"] for i in r["Instances"]}


def test_reaps_done_and_gone_never_alive(region: Region, caplog: pytest.LogCaptureFixture) -> None:
    directory = FakeDirectory(
        {
            1: (VmState.ACTIVE, region.running),  # alive: untouched
            2: (VmState.DONE, region.small),  # DONE with this instance: reaped
            # 3 (the stopped instance) is gone from OpenNebula: reaped
            4: (VmState.DONE, region.terminated),  # already terminated: nothing to do
        }
    )
    caplog.set_level("WARNING")
    done = reap(region.client, "ec2-host", describe_instances(region.client), directory)
    assert sorted(done) == sorted([region.small, region.stopped])
    after = states(region)
    assert after[region.running] == "running"
    assert after[region.wild] == "running"  # wild instances are never the reaper's business
    assert after[region.small] in ("shutting-down", "terminated")
    assert after[region.stopped] in ("shutting-down", "terminated")
    lines = [r.getMessage() for r in caplog.records if "reaper terminated" in r.getMessage()]
    assert len(lines) == 2
    assert any(region.small in line and "VM 2" in line for line in lines)
    # only the candidates were looked up one by one
    assert sorted(directory.record_calls) == [2, 3]


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
    ("record", "expected"),
    [
        (None, True),
        (VmRecord(VmState.DONE, "i-1"), True),
        (VmRecord(VmState.DONE, ""), True),
        (VmRecord(VmState.DONE, "i-2"), False),
        *[(VmRecord(state, "i-1"), False) for state in VmState if state is not VmState.DONE],
    ],
)
def test_should_reap_table(record: VmRecord | None, expected: bool) -> None:
    from one_drivers.im_ec2.instances import Instance

    assert should_reap(Instance("i-1", "stopped", "t3.micro", one_id=9), record) is expected


class RecordedGateway:
    """Serves the recorded 6.10.5 documents as OneGateway would."""

    def __init__(self, real_dir: Path) -> None:
        self.real_dir = real_dir

    def vmpool_info(self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1) -> str:
        assert (filter_flag, state) == (-2, -1)
        return (self.real_dir / "vmpool_info.xml").read_text()

    def vm_info(self, vm_id: int, decrypt: bool = False) -> str:
        if vm_id == 0:
            return (self.real_dir / "vm_info_done.xml").read_text()
        raise OneNotFoundError(f"[one.vm.info] Error getting virtual machine [{vm_id}].")


def test_gateway_directory_reads_recorded_documents(real_dir: Path) -> None:
    directory = GatewayVmDirectory(RecordedGateway(real_dir))
    assert 0 in directory.live_vm_ids()
    assert directory.vm_record(0) == VmRecord(VmState.DONE, "dummyhost:vm1:dummy")
    assert directory.vm_record(9999) is None
