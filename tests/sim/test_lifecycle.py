"""VM lifecycle through XML-RPC: oned's STATE/LCM_STATE numbers, history records, the scheduler,
pool filters and pagination, and the recorded error cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from one_drivers.one.gateway import (
    OneActionError,
    OneAuthorizationError,
    OneGateway,
    OneInternalError,
    OneNotFoundError,
)
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from one_drivers.sim.transitions import ACTION_IDS, ALLOWED

VM_TMPL = 'NAME="{name}"\nCPU="0.1"\nMEMORY="64"\n{extra}'


def state(gw: OneGateway, vm_id: int) -> tuple[int, int]:
    doc = ET.fromstring(gw.document("one.vm.info", vm_id, False))
    return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)


def new_vm(gw: OneGateway, name: str = "vm", extra: str = "", hold: bool = False) -> int:
    return int(gw.call("one.vm.allocate", VM_TMPL.format(name=name, extra=extra), hold))


@pytest.fixture
def host(admin: OneGateway) -> int:
    return int(admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1))


def running_vm(sim: Simulator, gw: OneGateway, name: str = "vm") -> int:
    vm = new_vm(gw, name)
    assert sim.schedule() == 1
    assert state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    return vm


def test_allocate_pending_then_scheduler_deploys(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = new_vm(admin, "vm1")
    assert state(admin, vm) == (VmState.PENDING, LcmState.LCM_INIT)
    sim.schedule()
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert (doc.findtext("STATE"), doc.findtext("LCM_STATE")) == ("3", "3")
    assert doc.findtext("DEPLOY_ID") == "dummyhost:vm1:dummy"
    assert int(doc.findtext("STIME") or 0) > 0 and doc.findtext("ETIME") == "0"
    hist = doc.find("HISTORY_RECORDS/HISTORY")
    assert hist is not None and hist.findtext("HOSTNAME") == "dummyhost" and hist.findtext("SEQ") == "0"
    assert ET.fromstring(admin.document("one.host.info", host, False)).findtext("VMS/ID") == str(vm)


def test_hold_release_and_deploy(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = new_vm(admin, hold=True)
    assert state(admin, vm)[0] == VmState.HOLD
    assert sim.schedule() == 0
    admin.call("one.vm.action", "release", vm)
    assert state(admin, vm)[0] == VmState.PENDING
    admin.call("one.vm.action", "hold", vm)
    admin.call("one.vm.deploy", vm, host, False, -1)
    assert state(admin, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    with pytest.raises(OneActionError, match="Deploy action is not available for state RUNNING"):
        admin.call("one.vm.deploy", vm, host, False, -1)


@pytest.mark.parametrize(
    ("action", "after"),
    [
        ("poweroff", (VmState.POWEROFF, LcmState.LCM_INIT)),
        ("poweroff-hard", (VmState.POWEROFF, LcmState.LCM_INIT)),
        ("suspend", (VmState.SUSPENDED, LcmState.LCM_INIT)),
        ("stop", (VmState.STOPPED, LcmState.LCM_INIT)),
        ("undeploy", (VmState.UNDEPLOYED, LcmState.LCM_INIT)),
        ("undeploy-hard", (VmState.UNDEPLOYED, LcmState.LCM_INIT)),
        ("reboot", (VmState.ACTIVE, LcmState.RUNNING)),
        ("reboot-hard", (VmState.ACTIVE, LcmState.RUNNING)),
        ("terminate", (VmState.DONE, LcmState.LCM_INIT)),
        ("terminate-hard", (VmState.DONE, LcmState.LCM_INIT)),
    ],
)
def test_actions_from_running(
    sim: Simulator, admin: OneGateway, host: int, action: str, after: tuple[int, int]
) -> None:
    vm = running_vm(sim, admin)
    admin.call("one.vm.action", action, vm)
    assert state(admin, vm) == after
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert doc.findtext("HISTORY_RECORDS/HISTORY/ACTION") == str(ACTION_IDS[action])
    if after[0] == VmState.DONE:
        assert int(doc.findtext("ETIME") or 0) >= int(doc.findtext("STIME") or 0) > 0
        assert int(doc.findtext("HISTORY_RECORDS/HISTORY/EETIME") or 0) > 0


@pytest.mark.parametrize("first", ["poweroff", "suspend", "stop", "undeploy"])
def test_resume_brings_back_running_with_new_history(
    sim: Simulator, admin: OneGateway, host: int, first: str
) -> None:
    vm = running_vm(sim, admin)
    admin.call("one.vm.action", first, vm)
    admin.call("one.vm.action", "resume", vm)
    if first in ("stop", "undeploy"):
        assert state(admin, vm) == (VmState.PENDING, LcmState.LCM_INIT)  # back through the scheduler
        sim.schedule()
    assert state(admin, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    records = doc.findall("HISTORY_RECORDS/HISTORY")
    assert [r.findtext("SEQ") for r in records] == ["0", "1"]
    assert records[0].findtext("ACTION") == str(ACTION_IDS[first])
    assert int(records[0].findtext("ETIME") or 0) > 0 and records[1].findtext("ETIME") == "0"
    assert doc.findtext("DEPLOY_ID") == "dummyhost:vm:dummy"


def test_terminate_from_poweroff_and_pending(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running_vm(sim, admin)
    admin.call("one.vm.action", "poweroff", vm)
    admin.call("one.vm.action", "terminate", vm)
    assert state(admin, vm) == (VmState.DONE, 0)
    pending = new_vm(admin, "p")
    admin.call("one.vm.action", "terminate-hard", pending)
    assert state(admin, pending) == (VmState.DONE, 0)


def test_recover_delete(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running_vm(sim, admin)
    admin.call("one.vm.recover", vm, 3)
    assert state(admin, vm) == (VmState.DONE, 0)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert doc.findtext("HISTORY_RECORDS/HISTORY/ACTION") == "13"


@pytest.mark.parametrize(
    ("action", "label"), [("resume", "RUNNING"), ("release", "RUNNING"), ("hold", "RUNNING")]
)
def test_action_not_available_in_state(
    sim: Simulator, admin: OneGateway, host: int, action: str, label: str
) -> None:
    vm = running_vm(sim, admin)
    with pytest.raises(OneActionError) as exc:
        admin.call("one.vm.action", action, vm)
    assert exc.value.message == (
        f'[one.vm.action] Error performing action "{action}": This action is not available for state {label}'
    )


def test_state_label_of_non_active_vm(admin: OneGateway) -> None:
    vm = new_vm(admin)
    with pytest.raises(OneActionError, match="not available for state PENDING"):
        admin.call("one.vm.action", "poweroff", vm)
    with pytest.raises(OneActionError, match='Action "explode" is not supported'):
        admin.call("one.vm.action", "explode", vm)
    with pytest.raises(OneNotFoundError, match=r"Error getting virtual machine \[4242\]"):
        admin.call("one.vm.action", "terminate", 4242)


def test_authorization_and_lock(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running_vm(sim, admin)
    uid = admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    bob = OneGateway(sim.endpoint, "bob:bobpass")
    with pytest.raises(
        OneAuthorizationError, match=rf"User \[{uid}\] : Not authorized to perform USE VM \[{vm}\]"
    ):
        bob.document("one.vm.info", vm, False)
    with pytest.raises(OneAuthorizationError, match="perform MANAGE VM"):
        bob.call("one.vm.action", "terminate", vm)
    # bob's own VM is his to manage, and he does not see oneadmin's in the pool
    mine = new_vm(bob, "bobs")
    assert ET.fromstring(bob.document("one.vmpool.info", -2, -1, -1, -1)).findall("VM/ID")[0].text == str(
        mine
    )
    bob.call("one.vm.action", "hold", mine)
    # lock level 4 (stored as 1, USE) blocks even oneadmin; unlock lifts it
    admin.call("one.vm.lock", vm, 4, False)
    assert "<LOCK><LOCKED>1</LOCKED>" in admin.document("one.vm.info", vm, False)
    with pytest.raises(OneAuthorizationError, match=rf"User \[0\] : VM is locked. \[{vm}\]"):
        admin.call("one.vm.action", "reboot", vm)
    admin.call("one.vm.unlock", vm)
    admin.call("one.vm.action", "reboot", vm)


def test_group_permission_bits(sim: Simulator, admin: OneGateway, host: int) -> None:
    admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    admin.call("one.user.allocate", "ann", "annpass", "core", [])
    bob, ann = OneGateway(sim.endpoint, "bob:bobpass"), OneGateway(sim.endpoint, "ann:annpass")
    tid = bob.call("one.template.allocate", 'NAME="shared"\nCPU=1\nMEMORY=64')
    with pytest.raises(OneAuthorizationError):
        ann.call("one.template.info", tid)
    bob.call("one.template.chmod", tid, -1, -1, -1, 1, -1, -1, -1, -1, -1)
    assert "<NAME>shared</NAME>" in ann.call("one.template.info", tid)
    assert "<GROUP_U>1</GROUP_U>" in ann.call("one.templatepool.info", -2, -1, -1)
    with pytest.raises(OneAuthorizationError, match="MANAGE TEMPLATE"):
        ann.call("one.template.update", tid, "A=1", 1)


def test_scheduler_honours_requirements(sim: Simulator, admin: OneGateway) -> None:
    h0 = admin.call("one.host.allocate", "alpha", "dummy", "dummy", -1)
    h1 = admin.call("one.host.allocate", "beta", "dummy", "dummy", -1)
    by_name = new_vm(admin, "n", 'SCHED_REQUIREMENTS="NAME = \\"beta\\""')
    by_id = new_vm(admin, "i", f'SCHED_REQUIREMENTS="ID = {h0}"')
    by_cluster = new_vm(admin, "c", 'SCHED_REQUIREMENTS="CLUSTER_ID = 0 & !(NAME = alpha)"')
    nowhere = new_vm(admin, "x", 'SCHED_REQUIREMENTS="CLUSTER_ID = 7"')
    sim.schedule()

    def hid(vm: int) -> str | None:
        return ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("HISTORY_RECORDS/HISTORY/HID")

    assert (hid(by_name), hid(by_id), hid(by_cluster)) == (str(h1), str(h0), str(h1))
    assert state(admin, nowhere)[0] == VmState.PENDING
    assert "SCHED_MESSAGE" in admin.document("one.vm.info", nowhere, False)
    # a disabled host gets nothing
    admin.call("one.host.status", h1, 1)
    late = new_vm(admin, "late", 'SCHED_REQUIREMENTS="NAME = beta"')
    sim.schedule()
    assert state(admin, late)[0] == VmState.PENDING


def test_public_cloud_vms_only_go_to_public_cloud_hosts(sim: Simulator, admin: OneGateway) -> None:
    admin.call("one.host.allocate", "local", "dummy", "dummy", -1)
    vm = new_vm(admin, "burst", 'PUBLIC_CLOUD=[TYPE="ec2"]')
    sim.schedule()
    assert state(admin, vm)[0] == VmState.PENDING


def test_pagination_and_state_filter(sim: Simulator, admin: OneGateway) -> None:
    ids = sim.bulk_vms(7)
    assert ids == list(range(7))
    admin.call("one.vm.action", "terminate", 1)

    def listed(*args: int) -> list[int]:
        return [
            int(e.text or -1)
            for e in ET.fromstring(admin.document("one.vmpool.info", *args)).findall("VM/ID")
        ]

    assert listed(-2, -1, -1, -1) == [6, 5, 4, 3, 2, 0]
    assert listed(-2, -1, -1, -2) == [6, 5, 4, 3, 2, 1, 0]
    assert listed(-2, 0, -2, -2) == [6, 5]  # checked on the real 6.10.5
    assert listed(-2, 2, -3, -2) == [4, 3, 2]
    assert listed(-2, 2, 4, -2) == [4, 3, 2]  # end >= -1: an id range
    assert listed(-2, -1, -1, int(VmState.DONE)) == [1]
    assert listed(-3, -1, -1, -1) == [6, 5, 4, 3, 2, 0]  # mine
    assert listed(5, -1, -1, -1) == []  # uid 5 has none


def test_reduced_user_template_in_vmpool_info(sim: Simulator, admin: OneGateway, host: int) -> None:
    extra = (
        'EC2_INSTANCE_TYPE="m1.small"\nIMAGE_ID="ami-00000001"\nSCHED_DS_REQUIREMENTS="ID=0"\nLABELS="x"\n'
        'USER_PRIORITY="3"\nPUBLIC_CLOUD=[TYPE="ec2"]\nEC2_CLIENT_TOKEN="tok"'
    )
    vm = new_vm(admin, "r", extra)
    short = ET.fromstring(admin.document("one.vmpool.info", -2, -1, -1, -1)).find("VM/USER_TEMPLATE")
    assert short is not None
    assert [e.tag for e in short] == ["LABELS", "PUBLIC_CLOUD", "SCHED_DS_REQUIREMENTS", "USER_PRIORITY"]
    full = ET.fromstring(admin.document("one.vm.info", vm, False)).find("USER_TEMPLATE")
    assert full is not None and full.findtext("EC2_INSTANCE_TYPE") == "m1.small"
    ext = ET.fromstring(admin.document("one.vmpool.infoextended", -2, -1, -1, -1)).find(
        "VM/USER_TEMPLATE/EC2_CLIENT_TOKEN"
    )
    assert ext is not None and ext.text == "tok"


def test_vm_allocate_errors(admin: OneGateway) -> None:
    with pytest.raises(OneInternalError, match=r"MEMORY attribute must be a positive integer value\."):
        admin.call("one.vm.allocate", 'NAME="nomem"\nCPU="1"', False)
    with pytest.raises(OneInternalError, match="Parse error"):
        admin.call("one.vm.allocate", 'NAME="x"\nCPU=[', False)


def test_update_merges_user_template(sim: Simulator, admin: OneGateway) -> None:
    vm = new_vm(admin, "u", 'LABELS="a"\nFOO="1"')
    admin.call("one.vm.update", vm, 'FOO="2"\nBAR="3"', 1)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert (
        doc.findtext("USER_TEMPLATE/FOO"),
        doc.findtext("USER_TEMPLATE/BAR"),
        doc.findtext("USER_TEMPLATE/LABELS"),
    ) == ("2", "3", "a")
    admin.call("one.vm.update", vm, 'ONLY="1"', 0)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert [e.tag for e in doc.find("USER_TEMPLATE") or []] == ["ONLY"]


def test_allowed_table_covers_every_action_and_known_states() -> None:
    # every action in the table is a real oned vm.action name with a history ACTION number
    assert set(ALLOWED) <= set(ACTION_IDS)
    for pairs in ALLOWED.values():
        for st, lcm in pairs:
            assert (st == VmState.ACTIVE) == (lcm != LcmState.LCM_INIT)


def test_background_scheduler_when_asked(tmp_path: object) -> None:
    import time
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with Simulator(auth_dir=tmp_path / "bg", sched_interval=0.05) as bg:
        gw = OneGateway(bg.endpoint, bg.oneadmin_auth)
        gw.call("one.host.allocate", "h", "dummy", "dummy", -1)
        vm = new_vm(gw)
        end = time.monotonic() + 10
        while state(gw, vm) != (VmState.ACTIVE, LcmState.RUNNING) and time.monotonic() < end:
            time.sleep(0.02)
        assert state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)


def test_in_process_default_waits_for_schedule(sim: Simulator, admin: OneGateway, host: int) -> None:
    import time

    vm = new_vm(admin)
    time.sleep(0.3)
    assert state(admin, vm)[0] == VmState.PENDING


def test_disk_attach_detach_and_saveas(sim: Simulator, admin: OneGateway, host: int) -> None:
    img = admin.call("one.image.allocate", 'NAME="vol"\nTYPE="DATABLOCK"\nSIZE="8"', 1)
    vm = running_vm(sim, admin)
    admin.call("one.vm.attach", vm, f'DISK=[IMAGE_ID="{img}"]')
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert [d.findtext("DISK_ID") for d in doc.findall("TEMPLATE/DISK")] == ["0"]
    assert doc.findtext("TEMPLATE/DISK/IMAGE") == "vol" and state(admin, vm) == (
        VmState.ACTIVE,
        LcmState.RUNNING,
    )
    assert ET.fromstring(admin.call("one.image.info", img)).findtext("RUNNING_VMS") == "1"
    saved = admin.call("one.vm.disksaveas", vm, 0, "snap-of-vol", "", -1)
    assert ET.fromstring(admin.call("one.image.info", saved)).findtext("NAME") == "snap-of-vol"
    admin.call("one.vm.detach", vm, 0)
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).find("TEMPLATE/DISK") is None
    assert ET.fromstring(admin.call("one.image.info", img)).findtext("RUNNING_VMS") == "0"
    with pytest.raises(OneActionError, match="it does not exist"):
        admin.call("one.vm.detach", vm, 7)
    admin.call("one.vm.action", "suspend", vm)
    with pytest.raises(OneActionError, match="wrong state SUSPENDED"):
        admin.call("one.vm.attach", vm, 'DISK=[SIZE="10",TYPE="fs"]')


def test_bootstrap_acl_rules(sim: Simulator, admin: OneGateway) -> None:
    """`@1 NET+DATASTORE/* USE`, `@1 HOST/* MANAGE`, `@1 VM+IMAGE+TEMPLATE+SECGROUP/* CREATE` as a fresh 6.x has."""
    from one_drivers.sim.cloud import BOOTSTRAP_ACL

    assert {kind for _, kinds, _ in BOOTSTRAP_ACL for kind in kinds} == {
        "vm",
        "image",
        "template",
        "secgroup",
        "host",
        "vnet",
        "datastore",
    }
    net = admin.call(
        "one.vn.allocate",
        'NAME="pub"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.1.0.1",SIZE="4"]',
        -1,
    )
    uid = admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    bob = OneGateway(sim.endpoint, "bob:bobpass")
    img = bob.call("one.image.allocate", 'NAME="mine"\nTYPE="DATABLOCK"\nSIZE="4"', 1)  # USE on datastore 1
    assert [e.text for e in ET.fromstring(bob.call("one.datastorepool.info")).findall("DATASTORE/ID")] == [
        "2",
        "1",
        "0",
    ]
    assert "<NAME>pub</NAME>" in bob.call("one.vn.info", net)
    vm = bob.call(
        "one.vm.allocate",
        f'NAME="b"\nCPU=1\nMEMORY=64\nDISK=[IMAGE_ID="{img}"]\nNIC=[NETWORK_ID="{net}"]',
        False,
    )
    assert ET.fromstring(bob.document("one.vm.info", vm, False)).findtext("TEMPLATE/NIC/IP") == "10.1.0.1"
    with pytest.raises(
        OneAuthorizationError, match=rf"User \[{uid}\] : Not authorized to perform CREATE NET\."
    ):
        bob.call("one.vn.allocate", 'NAME="x"\nVN_MAD="dummy"', -1)
    with pytest.raises(OneAuthorizationError):
        bob.call("one.host.allocate", "h", "dummy", "dummy", -1)
    # USE on a vnet is not MANAGE
    with pytest.raises(OneAuthorizationError, match="MANAGE NET"):
        bob.call("one.vn.update", net, 'X="1"', 1)


REACH = {
    "PENDING": [],
    "HOLD": ["hold"],
    "RUNNING": ["SCHED"],
    "POWEROFF": ["SCHED", "poweroff"],
    "SUSPENDED": ["SCHED", "suspend"],
    "STOPPED": ["SCHED", "stop"],
    "UNDEPLOYED": ["SCHED", "undeploy"],
    "DONE": ["terminate"],
}


@pytest.mark.parametrize("start", sorted(REACH))
def test_allowed_table_walk(sim: Simulator, admin: OneGateway, host: int, start: str) -> None:
    """Every vm.action in every reachable state: allowed ones are accepted, the others get oned's 2048."""
    for action in sorted(ALLOWED):
        vm = new_vm(admin, f"{start}-{action}")
        for step in REACH[start]:
            if step == "SCHED":
                sim.schedule()
            else:
                admin.call("one.vm.action", step, vm)
        st, lcm = state(admin, vm)
        assert (VmState(st), LcmState(lcm)) in {(s, c) for pairs in ALLOWED.values() for s, c in pairs} | {
            (VmState.DONE, LcmState.LCM_INIT)
        }
        label = LcmState(lcm).name if st == VmState.ACTIVE else VmState(st).name
        assert label == start
        if (VmState(st), LcmState(lcm)) in ALLOWED[action]:
            admin.call("one.vm.action", action, vm)
        else:
            with pytest.raises(OneActionError) as exc:
                admin.call("one.vm.action", action, vm)
            assert exc.value.message == (
                f'[one.vm.action] Error performing action "{action}": This action is not available for state {start}'
            )


def test_dummy_host_reports_vm_monitoring(sim: Simulator, admin: OneGateway, host: int) -> None:
    vm = running_vm(sim, admin)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert [e.tag for e in doc.find("MONITORING") or []] == [
        "CPU", "DISKRDBYTES", "DISKRDIOPS", "DISKWRBYTES", "DISKWRIOPS", "ID", "MEMORY", "NETRX", "NETTX", "TIMESTAMP",
    ]  # fmt: skip
    assert int(doc.findtext("LAST_POLL") or 0) > 0
    # ... which the pool bodies leave out, as 6.10 does
    assert "<MONITORING/>" in admin.document(
        "one.vmpool.info", -2, -1, -1, -1
    ) and "<MONITORING></MONITORING>" in admin.document("one.vmpool.infoextended", -2, -1, -1, -1)


@pytest.mark.parametrize(
    ("before", "moving", "after"),
    [
        ("poweroff", LcmState.PROLOG_MIGRATE_POWEROFF, (VmState.POWEROFF, LcmState.LCM_INIT)),
        ("suspend", LcmState.PROLOG_MIGRATE_SUSPEND, (VmState.SUSPENDED, LcmState.LCM_INIT)),
        ("unknown", LcmState.PROLOG_MIGRATE_UNKNOWN, (VmState.ACTIVE, LcmState.RUNNING)),
    ],
)
def test_migrate_a_vm_that_is_not_running(
    sim: Simulator,
    admin: OneGateway,
    host: int,
    before: str,
    moving: LcmState,
    after: tuple[VmState, LcmState],
) -> None:
    """oned 6.10 (LifeCycleManager::trigger_migrate) moves a POWEROFF, SUSPENDED or UNKNOWN VM by its
    prolog alone, the live flag notwithstanding: PROLOG_MIGRATE_POWEROFF/SUSPEND end in the state the VM
    had, PROLOG_MIGRATE_UNKNOWN boots it on the new host. The old record closes, the new one carries the
    migration; an UNKNOWN VM's old record does too (set_previous_action)."""
    vm = running_vm(sim, admin)
    other = admin.call("one.host.allocate", "dummyhost2", "dummy", "dummy", -1)
    if before == "unknown":
        with sim.cloud.lock:
            sim.lifecycle.state_seen(sim.cloud.vms[vm], "UNKNOWN")
        assert state(admin, vm) == (VmState.ACTIVE, LcmState.UNKNOWN)
    else:
        admin.call("one.vm.action", before, vm)
    admin.call("one.vm.migrate", vm, other, True, False, -1, 0)
    assert state(admin, vm) == after
    log = sim.vm_log(vm)
    assert f"New LCM state is {moving.name}" in log
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    old, new = doc.findall("HISTORY_RECORDS/HISTORY")
    assert (old.findtext("HOSTNAME"), new.findtext("HOSTNAME")) == ("dummyhost", "dummyhost2")
    assert int(old.findtext("ETIME") or 0) > 0 and new.findtext("ETIME") == "0"
    assert int(new.findtext("PSTIME") or 0) > 0 and int(new.findtext("PETIME") or 0) > 0
    migrate = str(ACTION_IDS["migrate"])
    if before == "unknown":
        assert old.findtext("ACTION") == migrate
        assert doc.findtext("DEPLOY_ID") == f"dummyhost2:{doc.findtext('NAME')}:dummy"
    else:
        assert new.findtext("ACTION") == migrate and old.findtext("ACTION") == str(ACTION_IDS[before])
        assert new.findtext("RSTIME") == "0" and int(new.findtext("RETIME") or 0) > 0
    # a VM in another state cannot move (the recorded message), nor onto its own host
    with pytest.raises(OneActionError, match="VM is already running on host"):
        admin.call("one.vm.migrate", vm, other, False, False, -1, 0)
    admin.call("one.vm.action", "terminate-hard", vm)
    with pytest.raises(OneActionError, match="Migrate action is not available for state DONE"):
        admin.call("one.vm.migrate", vm, host, False, False, -1, 0)


def test_recover_delete_recreate(sim: Simulator, admin: OneGateway, host: int) -> None:
    """recover --delete-recreate (DispatchManager::delete_recreate): a running or powered-off VM is cleaned up
    (CLEANUP_RESUBMIT, its record taking action 14, its ETIME set) and PENDING again without a deploy id, for
    the scheduler to deploy anew; a VM on hold is PENDING at once; a DONE one is refused with oned's words."""
    vm = running_vm(sim, admin)
    admin.call("one.vm.recover", vm, 4)
    assert state(admin, vm) == (VmState.PENDING, LcmState.LCM_INIT)
    assert sim.vm_log(vm)[-3:] == ["New LCM state is CLEANUP_RESUBMIT", "New state is PENDING", "New LCM state is LCM_INIT"]  # fmt: skip
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert doc.findtext("DEPLOY_ID") == "" and int(doc.findtext("ETIME") or 0) > 0
    assert doc.findtext("HISTORY_RECORDS/HISTORY/ACTION") == str(ACTION_IDS["delete-recreate"])
    assert sim.schedule() == 1 and state(admin, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert (
        len(doc.findall("HISTORY_RECORDS/HISTORY")) == 2 and doc.findtext("DEPLOY_ID") == "dummyhost:vm:dummy"
    )
    admin.call("one.vm.action", "poweroff", vm)
    admin.call("one.vm.recover", vm, 4)
    assert state(admin, vm) == (VmState.PENDING, LcmState.LCM_INIT)
    held = new_vm(admin, "held", hold=True)
    admin.call("one.vm.recover", held, 4)
    assert state(admin, held) == (VmState.PENDING, LcmState.LCM_INIT)
    admin.call("one.vm.recover", held, 4)  # PENDING: nothing to do
    admin.call("one.vm.action", "terminate", held)
    with pytest.raises(
        OneActionError, match=r"\[one.vm.recover\] Cannot delete-recreate a VM already in DONE state"
    ):
        admin.call("one.vm.recover", held, 4)
    admin.call("one.vm.recover", held, 3)  # delete and delete-db of a DONE VM: no error, no change
    admin.call("one.vm.recover", held, 5)
    assert state(admin, held) == (VmState.DONE, LcmState.LCM_INIT)
    with pytest.raises(OneActionError, match="Wrong recovery operation code"):
        admin.call("one.vm.recover", 999, 6)  # checked before the VM is looked up
