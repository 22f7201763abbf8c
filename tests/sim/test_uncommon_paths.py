"""Paths of the simulator that few users take, checked against oned 6.10.5's source: recover in the states
that recover directly, delete-db, driver replies for VMs oned does not have, drivers that fail INIT or exit,
START_MONITOR answers and monitord lines that cannot be read, VM reports without a VM id or failed."""

from __future__ import annotations

import base64
import itertools
import logging
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.mad.monitord import encode_frame
from one_drivers.one.gateway import OneActionError, OneGateway, OneInternalError
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from tests.conftest import wait_for
from tests.sim.fake_drivers import VMM, write_driver
from tests.sim.hosts import HostView
from tests.sim.test_dispatch import Env, deploy, fake_env, sent

RUNNING = (VmState.ACTIVE, LcmState.RUNNING)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with fake_env(tmp_path, "", "", manager_timer=3600) as started:
        yield started


def running(env: Env, name: str = "web") -> tuple[int, int]:
    """A host of the fake drivers and a VM RUNNING on it."""
    host = int(env.gw.call("one.host.allocate", "cloudy", "fake", "fake", -1))
    vm = deploy(env, name, host)
    wait_for(lambda: env.state(vm) == RUNNING)
    return host, vm


def push(env: Env, host: int, *messages: tuple[str, bool, str]) -> None:
    """A host agent's (type, success, text) messages over one TCP connection, which applies them in order."""
    lines = [encode_frame(msg_type, ok, host, text) + "\n" for msg_type, ok, text in messages]
    with socket.create_connection(("127.0.0.1", env.sim.lifecycle.monitor_port)) as s:
        s.sendall("".join(lines).encode())


def vm_doc(env: Env, vm: int) -> ET.Element:
    return ET.fromstring(env.gw.document("one.vm.info", vm, False))


# --- recover ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", [0, 1])
def test_recover_of_an_unknown_vm_is_running_whatever_the_result(env: Env, op: int) -> None:
    """LifeCycleManager::recover: UNKNOWN is RUNNING again for success and failure alike, nothing sent."""
    host, vm = running(env)
    push(env, host, ("STATE_VM", True, f'VM=[ID="{vm}",DEPLOY_ID="fake-{vm}",STATE="UNKNOWN"]'))
    wait_for(lambda: env.state(vm) == (VmState.ACTIVE, LcmState.UNKNOWN))
    lines = len(env.lines())
    env.gw.call("one.vm.recover", vm, op)
    assert env.state(vm) == RUNNING
    assert len(env.lines()) == lines


@pytest.mark.parametrize("op", [0, 1])
def test_recover_of_a_vm_waiting_for_its_cleanup_resubmits_it(env: Env, op: int) -> None:
    """recover success/failure in CLEANUP_RESUBMIT: DispatchManager::trigger_resubmit, PENDING without a
    deploy id (the simulator did nothing before)."""
    _, vm = running(env, "hang-recreate")  # hang*: its CLEANUP is never answered
    env.gw.call("one.vm.recover", vm, 4)
    assert env.state(vm) == (VmState.ACTIVE, LcmState.CLEANUP_RESUBMIT)
    env.gw.call("one.vm.recover", vm, op)
    assert env.state(vm) == (VmState.PENDING, LcmState.LCM_INIT)
    assert vm_doc(env, vm).findtext("DEPLOY_ID") == ""


def test_recover_delete_db_ends_a_running_vm_without_its_driver(env: Env) -> None:
    """recover --delete-db (DispatchManager::delete_vm_db -> free_vm_resources): DONE at once, its record's
    RETIME/ETIME and the VM's ETIME set, off the host; the driver is asked nothing."""
    host, vm = running(env)
    env.gw.call("one.vm.recover", vm, 5)
    assert env.state(vm) == (VmState.DONE, LcmState.LCM_INIT)
    doc = vm_doc(env, vm)
    record = doc.find("HISTORY_RECORDS/HISTORY")
    assert record is not None and record.findtext("RETIME") != "0" and record.findtext("ETIME") != "0"
    assert record.findtext("ACTION") == "0" and doc.findtext("ETIME") != "0"
    host_doc = ET.fromstring(env.gw.document("one.host.info", host, False))
    assert host_doc.findtext("VMS/ID") is None
    # the driver reads its lines in order: once the next VM's DEPLOY is in, nothing else came for `vm`
    other = deploy(env, "next", host)
    wait_for(lambda: sent(env, "DEPLOY", other) == 1)
    assert [line.split()[0] for line in env.lines() if line.split()[1:2] == [str(vm)]] == ["DEPLOY"]


# --- VMM driver programs -------------------------------------------------------------------------------
# A VMM program that answers INIT with INIT_REPLY, precedes its DEPLOY answer with one for a VM oned does not
# have, and exits after it when EXIT is set; it logs its starts and the lines it gets.
ODD_VMM = r"""
import json, sys
log = open(LOG, "a")
log.write(json.dumps({"argv": sys.argv}) + "\n"); log.flush()
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
for raw in sys.stdin:
    parts = raw.split()
    log.write(json.dumps({"line": raw.rstrip("\n")}) + "\n"); log.flush()
    if parts[:1] == ["INIT"]:
        out(INIT_REPLY)
    elif parts[:1] == ["DEPLOY"]:
        out("DEPLOY SUCCESS 4242 ghost-vm")
        out(f"DEPLOY SUCCESS {parts[1]} odd-{parts[1]}")
        if EXIT:
            break
    elif parts[:1] == ["FINALIZE"]:
        break
"""


def odd_env(
    tmp_path: Path, init_reply: str = "INIT SUCCESS - -", exit_after_deploy: bool = False
) -> Simulator:
    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(
        tmp_path / "odd_vmm",
        ODD_VMM,
        LOG=str(log),
        INIT_REPLY=init_reply,
        EXIT="yes" if exit_after_deploy else "",
    )
    return Simulator(auth_dir=tmp_path / "auth", vmm={"odd": f"{vmm} odd"}, manager_timer=3600)


def test_a_reply_for_a_vm_oned_does_not_have_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """VirtualMachineManager's reply handlers return when the pool has no such VM: nothing else changes."""
    with odd_env(tmp_path) as sim:
        gw = Env(sim, tmp_path / "vmm.jsonl")
        host = gw.gw.call("one.host.allocate", "odd", "dummy", "odd", -1)
        vm = deploy(gw, "web", host)
        wait_for(lambda: gw.state(vm) == RUNNING)
        assert vm_doc(gw, vm).findtext("DEPLOY_ID") == f"odd-{vm}"
    assert 4242 not in sim.cloud.vms
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_driver_that_exits_is_started_again_for_the_next_action(tmp_path: Path) -> None:
    """oned restarts a driver whose pipe reached EOF (Driver::start_listener); here at its next use."""
    with odd_env(tmp_path, exit_after_deploy=True) as sim:
        gw = Env(sim, tmp_path / "vmm.jsonl")
        host = gw.gw.call("one.host.allocate", "odd", "dummy", "odd", -1)
        first = deploy(gw, "one", host)
        wait_for(lambda: gw.state(first) == RUNNING)
        wait_for(lambda: sim.lifecycle.vmm.procs["odd"].proc.poll() is not None)
        second = deploy(gw, "two", host)
        wait_for(lambda: gw.state(second) == RUNNING)
        assert len([r for r in gw.records() if "argv" in r]) == 2
        assert [line.split()[0] for line in gw.lines()] == ["INIT", "DEPLOY", "INIT", "DEPLOY"]


def test_a_driver_that_fails_init_fails_the_action(tmp_path: Path) -> None:
    """A program that does not answer INIT SUCCESS is not used (oned would not start): the DEPLOY fails
    with the reason in the VM's ERROR, as for a driver that is not configured."""
    with odd_env(tmp_path, init_reply="INIT FAILURE - cannot load credentials") as sim:
        gw = Env(sim, tmp_path / "vmm.jsonl")
        host = gw.gw.call("one.host.allocate", "odd", "dummy", "odd", -1)
        vm = deploy(gw, "web", host)
        assert gw.state(vm) == (VmState.ACTIVE, LcmState.BOOT_FAILURE)
        error = vm_doc(gw, vm).findtext("USER_TEMPLATE/ERROR") or ""
        assert error.endswith(
            ": DEPLOY: driver odd (" + str(tmp_path / "odd_vmm") + " odd) did not answer INIT SUCCESS"
        )


# --- monitord ----------------------------------------------------------------------------------------------
def monitor(cpu: int) -> str:
    return base64.b64encode(f"CPU={cpu}\nMEMORY=1024\n".encode()).decode()


MARKS = itertools.count(101)


def at_rest_reports(env: Env, host: int, *messages: tuple[str, bool, str]) -> None:
    """Push `messages`, then a MONITOR_HOST with a USEDCPU of its own on the same connection, and wait until
    that one is applied."""
    mark = str(next(MARKS))
    push(env, host, *messages, ("MONITOR_HOST", True, f"USEDCPU={mark}\nFREECPU=1"))
    wait_for(lambda: HostView(env.sim).doc(host).findtext("MONITORING/CAPACITY/USED_CPU") == mark)


@pytest.fixture
def dummy_monitored(env: Env) -> tuple[int, int]:
    """A host monitored as `dummy` (nothing pushes to it but the test) and a VM RUNNING on it (fake VMM)."""
    host = int(env.gw.call("one.host.allocate", "local", "dummy", "fake", -1))
    vm = deploy(env, "web", host)
    wait_for(lambda: env.state(vm) == RUNNING)
    return host, vm


def test_vm_reports_without_a_vm_id_are_wild_vms(env: Env, dummy_monitored: tuple[int, int]) -> None:
    """A VM vector without a valid ID is a wild VM: oned looks it up by DEPLOY_ID among imported VMs only
    (MonitorDriverProtocol::_monitor_vm, InformationManager::_vm_state), never among its own (the simulator
    used to find those by DEPLOY_ID)."""
    host, vm = dummy_monitored
    ids = (f'ID="x{vm}",', 'ID="-1",', "")  # not a number, a wild VM's -1, none
    wild = [f'VM=[{vm_id}DEPLOY_ID="fake-{vm}",{{}}]' for vm_id in ids]
    at_rest_reports(
        env,
        host,
        ("MONITOR_VM", True, "\n".join(v.format(f'MONITOR="{monitor(50)}"') for v in wild)),
        ("STATE_VM", True, "\n".join(v.format('STATE="POWEROFF"') for v in wild)),
    )
    assert env.state(vm) == RUNNING
    assert vm_doc(env, vm).findtext("MONITORING/CPU") == "0"  # what the dummy agent reported at deploy


def test_failed_vm_reports_are_only_logged(env: Env, dummy_monitored: tuple[int, int]) -> None:
    """MONITOR_VM and STATE_VM FAILURE: monitord logs them and goes on (neither the VM nor the host changes,
    unlike a failed SYSTEM_HOST, MONITOR_HOST or BEACON_HOST)."""
    host, vm = dummy_monitored
    at_rest_reports(
        env,
        host,
        ("MONITOR_VM", False, f'VM=[ID="{vm}",MONITOR="{monitor(77)}"]'),
        ("STATE_VM", False, f'VM=[ID="{vm}",DEPLOY_ID="fake-{vm}",STATE="POWEROFF"]'),
    )
    assert env.state(vm) == RUNNING
    assert vm_doc(env, vm).findtext("MONITORING/CPU") == "0"
    assert HostView(env.sim).state(host) == 2  # MONITORED


def test_a_system_host_oned_cannot_parse_changes_nothing(env: Env, dummy_monitored: tuple[int, int]) -> None:
    """InformationManager::_host_system logs a SYSTEM_HOST it cannot parse and returns: an ERROR host stays
    ERROR with its reason (the simulator made it MONITORED); a readable one then clears it."""
    host, _ = dummy_monitored
    view = HostView(env.sim)
    at_rest_reports(env, host, ("MONITOR_HOST", False, "probe timed out"))
    assert view.state(host) == 3  # ERROR
    at_rest_reports(env, host, ("SYSTEM_HOST", True, 'TOTALCPU="1234"\nPCI = [ ADDRESS = "0000'))
    assert view.state(host) == 3
    assert (view.doc(host).findtext("TEMPLATE/ERROR") or "").endswith("probe timed out")
    assert view.doc(host).findtext("HOST_SHARE/TOTAL_CPU") != "1234"
    at_rest_reports(env, host, ("SYSTEM_HOST", True, 'TOTALCPU="800"'))
    assert view.state(host) == 2 and view.doc(host).findtext("TEMPLATE/ERROR") is None


# An IM program whose START_MONITOR answers monitord cannot read: for a host named `garbled*` a line whose
# payload is not zlib data, for others a SUCCESS whose text is not a MONITOR_MESSAGES document.
UNREADABLE_IM = r"""
import base64, sys, time, zlib
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
def pack(text):
    return base64.b64encode(zlib.compress(text)).decode()
for raw in sys.stdin:
    parts = raw.split()
    if parts[:1] == ["INIT"]:
        out("INIT SUCCESS - -")
    elif parts[:1] == ["START_MONITOR"]:
        name = zlib.decompress(base64.b64decode(parts[4])).split(b"<NAME>", 1)[1]
        if name.startswith(b"garbled"):
            out(f"START_MONITOR SUCCESS {parts[2]} {int(time.time())} {base64.b64encode(b'not zlib').decode()}")
        else:
            out(f"START_MONITOR SUCCESS {parts[2]} {int(time.time())} {pack(b'HYPERVISOR=fake, not a document')}")
    elif parts[:1] == ["FINALIZE"]:
        break
"""
BROKEN_IM = r"""
import sys
for raw in sys.stdin:
    sys.stdout.write("INIT FAILURE - no credentials\n"); sys.stdout.flush()
"""


@pytest.fixture
def odd_im(tmp_path: Path) -> Iterator[HostView]:
    """A simulator with the IM programs `odd` (UNREADABLE_IM) and `broken` (BROKEN_IM)."""
    odd, broken = (
        write_driver(tmp_path / name, body) for name, body in (("odd", UNREADABLE_IM), ("broken", BROKEN_IM))
    )
    with Simulator(
        auth_dir=tmp_path / "auth", im={"odd": f"{odd} odd", "broken": f"{broken} b"}, manager_timer=3600
    ) as sim:
        yield HostView(sim)


def test_a_start_monitor_answer_monitord_cannot_read_is_a_failure(odd_im: HostView) -> None:
    """MonitorDriverProtocol::_start_monitor: a SUCCESS whose text is not XML is start_monitor_failure, the
    host ERROR without a reason (the simulator left the host INIT)."""
    host = int(odd_im.gw.call("one.host.allocate", "odd", "odd", "dummy", -1))
    wait_for(lambda: odd_im.state(host) == 3)  # ERROR
    assert (odd_im.doc(host).findtext("TEMPLATE/ERROR") or "").endswith(
        f"Error monitoring Host odd ({host}): "
    )
    assert odd_im.doc(host).findtext("TEMPLATE/HYPERVISOR") is None


def test_an_answer_line_monitord_cannot_decode_is_dropped(
    odd_im: HostView, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply whose payload is not base64 zlib data fails Message::parse_from: monitord drops it, the host
    stays INIT waiting for its answer."""
    caplog.set_level(logging.WARNING)
    host = int(odd_im.gw.call("one.host.allocate", "garbled", "odd", "dummy", -1))
    wait_for(lambda: any("im: unreadable reply" in r.getMessage() for r in caplog.records))
    assert odd_im.state(host) == 0 and not odd_im.answered(host)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_im_program_that_fails_init_leaves_the_host_in_error(odd_im: HostView) -> None:
    """An IM program that does not answer INIT SUCCESS (monitord would not start): the host is created and
    its START_MONITOR is a failure naming the driver, rather than an internal error of host.allocate."""
    host = int(odd_im.gw.call("one.host.allocate", "h", "broken", "dummy", -1))
    assert odd_im.state(host) == 3
    error = odd_im.doc(host).findtext("TEMPLATE/ERROR") or ""
    assert error.endswith(f"Error monitoring Host h ({host}): Cannot start monitoring driver broken")


def test_a_monitord_line_that_cannot_be_read_is_dropped(
    env: Env, dummy_monitored: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Lines monitord cannot parse (too few fields, a payload that is not base64 zlib) are dropped; the
    connection goes on with the next line."""
    host, _ = dummy_monitored
    garbage = ["MONITOR_HOST SUCCESS", f"MONITOR_HOST SUCCESS {host} 1795306873 bm90IHpsaWI="]
    with socket.create_connection(("127.0.0.1", env.sim.lifecycle.monitor_port)) as s:
        s.sendall("".join(line + "\n" for line in garbage).encode())
    at_rest_reports(env, host)
    unreadable = [r for r in caplog.records if r.getMessage().startswith("monitord: unreadable message")]
    assert len(unreadable) == 2 and HostView(env.sim).state(host) == 2


# --- vm methods ----------------------------------------------------------------------------------------
def test_lock_levels_test_mode_and_other_users_locks(sim: Simulator, admin: OneGateway) -> None:
    """RequestManagerLock / PoolObjectSQL::lock_db, unlock_db: level 4 is stored as 1 (USE), other levels
    are refused; test mode on a locked VM answers the lock's time; only an admin takes or lifts a lock
    another user holds (an unlocked VM's lock belongs to nobody)."""
    admin.call("one.user.allocate", "bob", "bobpass", "core", [1])
    admin.call("one.user.allocate", "ann", "annpass", "core", [1])
    bob, ann = OneGateway(sim.endpoint, "bob:bobpass"), OneGateway(sim.endpoint, "ann:annpass")
    vm = int(bob.call("one.vm.allocate", 'NAME="locked"\nCPU="0.1"\nMEMORY="64"', True))
    bob.call("one.vm.chmod", vm, -1, -1, -1, 1, 1, -1, -1, -1, -1)  # the group may manage it
    with pytest.raises(
        OneActionError, match=r"^\[one.vm.unlock\] Cannot unlock: Lock is owned by another user$"
    ):
        ann.call("one.vm.unlock", vm)
    with pytest.raises(OneActionError, match=r"^\[one.vm.lock\] Wrong lock level specified$"):
        bob.call("one.vm.lock", vm, 5, False)
    bob.call("one.vm.lock", vm, 4, False)
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert doc.findtext("LOCK/LOCKED") == "1" and doc.findtext("LOCK/OWNER") == str(doc.findtext("UID"))
    with pytest.raises(OneActionError, match=rf"^\[one.vm.lock\] {doc.findtext('LOCK/TIME')}$"):
        bob.call("one.vm.lock", vm, 2, True)
    with pytest.raises(OneActionError, match=r"^\[one.vm.lock\] Error trying to lock the resource\.$"):
        ann.call("one.vm.lock", vm, 2, False)
    with pytest.raises(OneActionError, match="Lock is owned by another user"):
        ann.call("one.vm.unlock", vm)
    admin.call("one.vm.lock", vm, 3, False)  # an admin overrides it
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("LOCK/LOCKED") == "3"
    admin.call("one.vm.unlock", vm)
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).find("LOCK") is None


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("one.vm.attach", "Internal error parsing DISK attribute"),
        ("one.vm.attachnic", "Wrong format or missing NIC/NIC_ALIAS/PCI attribute"),
    ],
)
def test_an_attach_without_its_vector_is_refused(
    sim: Simulator, admin: OneGateway, method: str, message: str
) -> None:
    """DispatchManager::attach/attach_nic: set_up_attach_* finds no DISK (NIC) and the request fails with
    ACTION (was INTERNAL, with words of our own); the VM stays RUNNING without its resched flag."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    vm = int(admin.call("one.vm.allocate", 'NAME="v"\nCPU="0.1"\nMEMORY="64"', False))
    sim.schedule()
    admin.call("one.vm.action", "resched", vm)
    with pytest.raises(OneActionError, match=rf"^\[{method}\] {re.escape(message)}$"):
        admin.call(method, vm, 'TARGET="vdb"')
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert (doc.findtext("STATE"), doc.findtext("LCM_STATE"), doc.findtext("RESCHED")) == ("3", "3", "0")


def test_a_live_resize_to_the_same_size_only_closes_the_record(tmp_path: Path) -> None:
    """DispatchManager::resize of a RUNNING VM with its own CPU/MEMORY/VCPU: "Nothing to resize" is a
    success; the record is closed with the resize and copied (close_cp_history), nothing goes to the driver."""
    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    with Simulator(auth_dir=tmp_path / "auth", vmm={"kvm": f"{vmm} kvm"}) as sim:
        env = Env(sim, log)
        host = env.gw.call("one.host.allocate", "k", "dummy", "kvm", -1)
        vm = deploy(env, "same", host)  # CPU 1, MEMORY 64, no VCPU
        wait_for(lambda: env.state(vm) == RUNNING)
        assert env.gw.call("one.vm.resize", vm, 'CPU="1"\nMEMORY="64"', False) == vm
        assert env.state(vm) == RUNNING
        records = vm_doc(env, vm).findall("HISTORY_RECORDS/HISTORY")
        assert [(h.findtext("ACTION"), h.findtext("ETIME") != "0") for h in records] == [
            ("35", True),
            ("0", False),
        ]
        assert sent(env, "RESIZE", vm) == 0


def test_a_resize_the_host_cannot_hold_names_the_memory_short(sim: Simulator, admin: OneGateway) -> None:
    """HostShare::test_compute: CPU fits, memory does not: "Not enough memory: <wanted KB>/<free KB>"; the
    VM keeps its size."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    vm = int(admin.call("one.vm.allocate", 'NAME="v"\nCPU="0.1"\nMEMORY="64"', False))
    sim.schedule()
    admin.call("one.vm.action", "poweroff", vm)
    with pytest.raises(OneActionError, match=r"^\[one.vm.resize\] Not enough memory: 1048576000000/\d+$"):
        admin.call("one.vm.resize", vm, 'MEMORY="1024000000"', False)
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("TEMPLATE/MEMORY") == "64"


# --- images ----------------------------------------------------------------------------------------------
def image_state(gw: OneGateway, image: int) -> int:
    return int(ET.fromstring(gw.document("one.image.info", image, False)).findtext("STATE") or -1)


def test_images_a_vm_cannot_take_and_a_kernel_that_cannot_be_cloned(tmp_path: Path) -> None:
    """ImageManager::acquire_image refuses a KERNEL (RAMDISK, CONTEXT) image as a DISK and an image in
    INIT, DISABLED, ERROR, DELETE or CLONE (a persistent image being cloned); ImageClone refuses to clone a
    KERNEL image."""
    with Simulator(auth_dir=tmp_path / "auth", hold_image_copies=True) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        gw.call("one.host.allocate", "h", "dummy", "dummy", -1)
        vm = int(gw.call("one.vm.allocate", 'NAME="v"\nCPU="0.1"\nMEMORY="64"', False))
        sim.schedule()
        files = gw.call(
            "one.datastore.allocate", 'NAME="f"\nTYPE="FILE_DS"\nDS_MAD="dummy"\nTM_MAD="dummy"', -1
        )
        kernel = gw.call("one.image.allocate", 'NAME="vmlinuz"\nTYPE="KERNEL"\nPATH="/boot/vmlinuz"', files)
        pers = gw.call("one.image.allocate", 'NAME="p"\nTYPE="DATABLOCK"\nSIZE="16"\nPERSISTENT="YES"', 1)
        sim.finish_image_copies()
        gw.call("one.image.clone", pers, "copy", -1)
        assert image_state(gw, pers) == 6  # CLONE until the copy ends
        as_disk = rf"^\[one.vm.attach\] Image {kernel} \(vmlinuz\) of type KERNEL cannot be used as DISK\.$"
        with pytest.raises(OneActionError, match=as_disk):
            gw.call("one.vm.attach", vm, f'DISK=[IMAGE_ID="{kernel}"]')
        with pytest.raises(
            OneActionError, match=rf"^\[one.vm.attach\] Cannot acquire image {pers}, it is in state: CLONE$"
        ):
            gw.call("one.vm.attach", vm, f'DISK=[IMAGE_ID="{pers}"]')
        with pytest.raises(
            OneActionError,
            match=r"^\[one.image.clone\] KERNEL, RAMDISK, BACKUP and CONTEXT cannot be cloned\.$",
        ):
            gw.call("one.image.clone", kernel, "copy2", -1)
        assert ET.fromstring(gw.document("one.vm.info", vm, False)).findall("TEMPLATE/DISK") == []


def test_a_vm_that_ends_while_its_image_is_copied_leaves_it_locked(tmp_path: Path) -> None:
    """A VM made while its image is still being copied takes it LOCKED_USED; when the VM ends first,
    ImageManager::release_image leaves it LOCKED, and READY once the copy ends."""
    with Simulator(auth_dir=tmp_path / "auth", hold_image_copies=True) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        image = gw.call("one.image.allocate", 'NAME="d"\nTYPE="DATABLOCK"\nSIZE="16"', 1)
        vm = gw.call("one.vm.allocate", f'NAME="v"\nCPU="0.1"\nMEMORY="64"\nDISK=[IMAGE_ID="{image}"]', True)
        assert image_state(gw, image) == 9  # LOCKED_USED
        gw.call("one.vm.action", "terminate", vm)
        assert image_state(gw, image) == 4  # LOCKED
        assert sim.finish_image_copies() == 1
        assert image_state(gw, image) == 1  # READY


def test_a_shareable_persistent_image_is_recognised_in_any_case(sim: Simulator, admin: OneGateway) -> None:
    """acquire_image compares PERSISTENT_TYPE with icasecmp: "shareable" lets a second VM take a persistent
    image in use (the simulator only knew "SHAREABLE")."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    image = admin.call(
        "one.image.allocate",
        'NAME="s"\nTYPE="DATABLOCK"\nSIZE="16"\nPERSISTENT="YES"\nPERSISTENT_TYPE="shareable"',
        1,
    )
    text = f'NAME="v"\nCPU="0.1"\nMEMORY="64"\nDISK=[IMAGE_ID="{image}"]'
    vms = [admin.call("one.vm.allocate", text, False) for _ in range(2)]
    assert sim.schedule() == 2
    assert image_state(admin, image) == 8  # USED_PERS
    doc = ET.fromstring(admin.document("one.image.info", image, False))
    assert sorted(int(i.text or -1) for i in doc.findall("VMS/ID")) == sorted(vms)


# --- scheduler -------------------------------------------------------------------------------------------
STAMP = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"  # one_util::log_time, ctime without its newline


def sched_message(gw: OneGateway, vm: int) -> str:
    return ET.fromstring(gw.document("one.vm.info", vm, False)).findtext("USER_TEMPLATE/SCHED_MESSAGE") or ""


def evaluated(gw: OneGateway, vm: int, user: str) -> str:
    """What mm_sched evaluates, escaped for a pattern: AUTOMATIC_REQUIREMENTS & ( SCHED_REQUIREMENTS )."""
    auto = ET.fromstring(gw.document("one.vm.info", vm, False)).findtext("TEMPLATE/AUTOMATIC_REQUIREMENTS")
    return re.escape(f"{auto} & ( {user} )" if auto else user)


@pytest.mark.parametrize(
    ("reqs", "error"),
    [
        ("ID = 0 ; NAME = h", "cannot parse requirements at '; NAME = h )'"),
        ("(ID = 0 NAME = h)", "missing ')'"),
        ("ID 0", "expected a comparison after ID"),
    ],
)
def test_requirements_the_scheduler_cannot_read_leave_the_vm_pending(
    sim: Simulator, admin: OneGateway, reqs: str, error: str
) -> None:
    """mm_sched (Scheduler::match_host): an expression that cannot be evaluated is logged to SCHED_MESSAGE
    as "<time>: Error in SCHED_REQUIREMENTS: '<reqs>', error: <parser's words>" and the VM stays PENDING
    (the simulator wrote "Cannot parse requirements: ..." without the time)."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    vm = int(
        admin.call("one.vm.allocate", f'NAME="v"\nCPU="0.1"\nMEMORY="64"\nSCHED_REQUIREMENTS="{reqs}"', False)
    )
    assert sim.schedule() == 0
    message = (
        f"{STAMP}: Error in SCHED_REQUIREMENTS: '{evaluated(admin, vm, reqs)}', error: {re.escape(error)}"
    )
    assert re.fullmatch(message, sched_message(admin, vm))


def test_a_vm_no_host_accepts_says_which_requirements(sim: Simulator, admin: OneGateway) -> None:
    """Scheduler::dispatch, no host matched: "<time>: Cannot dispatch VM: No host meets capacity and
    SCHED_REQUIREMENTS: <requirements>" on every pass, gone once the VM is dispatched."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    vm = int(
        admin.call(
            "one.vm.allocate", 'NAME="v"\nCPU="0.1"\nMEMORY="64"\nSCHED_REQUIREMENTS="NAME = g"', False
        )
    )
    assert sim.schedule() == 0
    reqs = ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("TEMPLATE/AUTOMATIC_REQUIREMENTS")
    wanted = f"{reqs} & ( NAME = g )" if reqs else "NAME = g"
    message = (
        f"{STAMP}: Cannot dispatch VM: No host meets capacity and SCHED_REQUIREMENTS: {re.escape(wanted)}"
    )
    assert re.fullmatch(message, sched_message(admin, vm))
    admin.call("one.host.allocate", "g", "dummy", "dummy", -1)
    assert sim.schedule() == 1
    assert sched_message(admin, vm) == ""


# --- networks a NIC names ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nic", "message"),
    [
        ('NETWORK_ID="42"', "Virtual network with ID: 42 does not exist"),
        (
            'NETWORK="net"',
            "User 2 does not own a network with name: net . Set NETWORK_UNAME or NETWORK_UID of owner in NIC.",
        ),
        ('NETWORK="net",NETWORK_UNAME="nobody"', "User set in NETWORK_UNAME does not exist"),
        ('NETWORK="net",NETWORK_UID="x"', "Cannot get user in NETWORK_UID"),
    ],
)
def test_a_nic_naming_a_network_that_is_not_there(admin: OneGateway, nic: str, message: str) -> None:
    """VirtualNetworkPool::get_nic_by_id/get_nic_by_name and VirtualMachineNic::get_uid: oned's words, INTERNAL
    from allocate (the simulator said "Error getting virtual network [...]")."""
    admin.call("one.user.allocate", "bob", "bobpass", "core", [1])  # user 2
    admin.call(
        "one.vn.allocate",
        'NAME="net"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.0.2",SIZE="2"]',
        -1,
    )
    bob = OneGateway(admin.endpoint, "bob:bobpass")
    with pytest.raises(OneInternalError, match=rf"^\[one.vm.allocate\] {re.escape(message)}$"):
        bob.call("one.vm.allocate", f'NAME="v"\nCPU="0.1"\nMEMORY="64"\nNIC=[{nic}]', True)


def test_a_nic_naming_another_users_network_and_attachnic_errors(sim: Simulator, admin: OneGateway) -> None:
    """NETWORK_UNAME picks the owner of a network found by name; attachnic fails a missing network with
    ACTION (DispatchManager::attach_nic), the VM still RUNNING."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    net = admin.call(
        "one.vn.allocate",
        'NAME="net"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.0.2",SIZE="2"]',
        -1,
    )
    vm = int(
        admin.call(
            "one.vm.allocate",
            'NAME="v"\nCPU="0.1"\nMEMORY="64"\nNIC=[NETWORK="net",NETWORK_UNAME="oneadmin"]',
            False,
        )
    )
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("TEMPLATE/NIC/NETWORK_ID") == str(
        net
    )
    sim.schedule()
    with pytest.raises(
        OneActionError, match=r"^\[one.vm.attachnic\] Virtual network with ID: 7 does not exist$"
    ):
        admin.call("one.vm.attachnic", vm, 'NIC=[NETWORK_ID="7"]')
    doc = ET.fromstring(admin.document("one.vm.info", vm, False))
    assert (doc.findtext("STATE"), doc.findtext("LCM_STATE"), len(doc.findall("TEMPLATE/NIC"))) == (
        "3",
        "3",
        1,
    )


@pytest.mark.parametrize(
    ("update_type", "os"),
    [
        (0, {"ARCH": "aarch64", "OWN": "kept"}),  # replace: the known members not given go
        (1, {"ARCH": "aarch64", "BOOT": "disk0", "OWN": "kept"}),  # append: they stay
    ],
)
def test_updateconf_merges_into_an_existing_section(
    admin: OneGateway, update_type: int, os: dict[str, str]
) -> None:
    """VirtualMachine::updateconf (replace_vector_values) on a section the VM has: the UPDATECONF_ATTRS
    members given replace the old ones, the others are removed (replace) or kept (append); members oned
    does not list (OWN) are never touched."""
    text = 'NAME="v"\nCPU="0.1"\nMEMORY="64"\nOS=[ARCH="x86_64",BOOT="disk0",OWN="kept"]'
    vm = int(admin.call("one.vm.allocate", text, True))
    admin.call("one.vm.updateconf", vm, 'OS=[ARCH="aarch64",OWN="mine"]', update_type)
    section = ET.fromstring(admin.document("one.vm.info", vm, False)).find("TEMPLATE/OS")
    assert section is not None and {child.tag: child.text for child in section} == os
