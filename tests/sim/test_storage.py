"""Image states over time in the simulator: datastore copies (allocate, clone, disk save-as), VMs
acquiring and releasing images, persistent images, as oned 6.10 words and numbers them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneActionError, OneGateway, OneInternalError
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from one_drivers.sim.storage import STATE_NAMES

READY, USED, LOCKED, CLONE, USED_PERS, LOCKED_USED = 1, 2, 4, 6, 8, 9


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(auth_dir=tmp_path / "auth", port=0, hold_image_copies=True) as s:
        yield s


@pytest.fixture
def gw(held: Simulator) -> OneGateway:
    gw = OneGateway(held.endpoint, held.oneadmin_auth)
    gw.call("one.host.allocate", "h", "dummy", "dummy", -1)
    return gw


def image_state(gw: OneGateway, image_id: int) -> int:
    return int(ET.fromstring(gw.document("one.image.info", image_id, False)).findtext("STATE") or -1)


def vm_state(gw: OneGateway, vm_id: int) -> tuple[int, int]:
    doc = ET.fromstring(gw.document("one.vm.info", vm_id, False))
    return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)


def datablock(gw: OneGateway, name: str, persistent: bool = False) -> int:
    extra = '\nPERSISTENT="YES"' if persistent else ""
    return gw.image_allocate(f'NAME="{name}"\nTYPE="DATABLOCK"\nSIZE="16"{extra}', 1)


def running_vm(sim: Simulator, gw: OneGateway, disk_image: int | None = None) -> int:
    disk = f'DISK=[IMAGE_ID="{disk_image}"]' if disk_image is not None else ""
    vm = int(gw.call("one.vm.allocate", f'NAME="vm"\nCPU="0.1"\nMEMORY="64"\n{disk}', False))
    sim.schedule()
    assert vm_state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    return vm


def test_state_names_are_onedss() -> None:
    assert (
        STATE_NAMES[LOCKED] == "LOCKED" and STATE_NAMES[USED_PERS] == "USED_PERS" and len(STATE_NAMES) == 11
    )


def test_allocate_is_locked_until_the_copy_ends(held: Simulator, gw: OneGateway) -> None:
    img = datablock(gw, "d")
    assert image_state(gw, img) == LOCKED
    assert held.finish_image_copies() == 1
    assert image_state(gw, img) == READY
    # A scheduler pass ends the copies started before it too.
    other = datablock(gw, "e")
    held.schedule()
    assert image_state(gw, other) == READY


def test_copies_end_at_once_by_default(sim: Simulator, admin: OneGateway) -> None:
    assert image_state(admin, datablock(admin, "d")) == READY


def test_attach_acquires_and_detach_releases(held: Simulator, gw: OneGateway) -> None:
    vm = running_vm(held, gw)
    img, pers = datablock(gw, "d"), datablock(gw, "p", persistent=True)
    with pytest.raises(OneActionError, match=f"Cannot acquire image {img}, it is locked"):
        gw.vm_attach(vm, f'DISK=[IMAGE_ID="{img}"]')
    held.finish_image_copies()
    gw.vm_attach(vm, f'DISK=[IMAGE_ID="{img}"]')
    gw.vm_attach(vm, f'DISK=[IMAGE_ID="{pers}"]')
    assert (image_state(gw, img), image_state(gw, pers)) == (USED, USED_PERS)
    # A persistent image serves one VM.
    other = running_vm(held, gw)
    with pytest.raises(
        OneActionError, match=f"Cannot acquire image {pers}, it is persistent and already in use"
    ):
        gw.vm_attach(other, f'DISK=[IMAGE_ID="{pers}"]')
    with pytest.raises(OneActionError, match="Cannot change persistent attribute"):
        gw.image_persistent(pers, False)
    disks = ET.fromstring(gw.document("one.vm.info", vm, False)).findall("TEMPLATE/DISK")
    assert [(d.findtext("IMAGE_ID"), d.findtext("PERSISTENT")) for d in disks] == [
        (str(img), None),
        (str(pers), "YES"),
    ]
    gw.vm_detach(vm, 1)
    assert image_state(gw, pers) == READY
    gw.vm_action("terminate-hard", vm)
    assert image_state(gw, img) == READY


def test_clone_keeps_the_source_busy_until_done(held: Simulator, gw: OneGateway) -> None:
    src, pers = datablock(gw, "src"), datablock(gw, "pers", persistent=True)
    gw.image_update(src, 'EBS_VOLUME="YES"', append=True)
    held.finish_image_copies()
    copy = gw.image_clone(src, "copy")
    pcopy = gw.image_clone(pers, "pcopy")
    assert (image_state(gw, copy), image_state(gw, src), image_state(gw, pers)) == (LOCKED, USED, CLONE)
    doc = ET.fromstring(gw.document("one.image.info", copy, False))
    # The clone carries the source's template, and is not persistent itself.
    assert doc.findtext("TEMPLATE/EBS_VOLUME") == "YES" and doc.findtext("PERSISTENT") == "0"
    assert doc.findtext("TYPE") == "2" and doc.findtext("SIZE") == "16"
    held.finish_image_copies()
    assert [image_state(gw, i) for i in (copy, pcopy, src, pers)] == [READY, READY, READY, READY]
    # A persistent image in use cannot be cloned; a locked one neither.
    vm = running_vm(held, gw, pers)
    with pytest.raises(OneActionError, match="Cannot clone image in state: USED_PERS"):
        gw.image_clone(pers, "nope")
    locked = datablock(gw, "locked")  # after the scheduler pass: still being copied
    with pytest.raises(OneActionError, match="Cannot clone image in state: LOCKED"):
        gw.image_clone(locked, "nope")
    assert vm >= 0


def test_disksaveas_holds_the_vm_until_the_image_is_written(held: Simulator, gw: OneGateway) -> None:
    pers = datablock(gw, "vol", persistent=True)
    held.finish_image_copies()
    vm = running_vm(held, gw, pers)
    saved = gw.vm_disksaveas(vm, 0, "snap")
    assert vm_state(gw, vm) == (VmState.ACTIVE, LcmState.HOTPLUG_SAVEAS)
    assert image_state(gw, saved) == LOCKED
    doc = ET.fromstring(gw.document("one.image.info", saved, False))
    assert (doc.findtext("TEMPLATE/SAVED_IMAGE_ID"), doc.findtext("TEMPLATE/SAVED_VM_ID")) == (
        str(pers),
        str(vm),
    )
    assert doc.findtext("TYPE") == "2" and doc.findtext("SIZE") == "16"
    assert ET.fromstring(gw.document("one.vm.info", vm, False)).findtext(
        "TEMPLATE/DISK/HOTPLUG_SAVE_AS"
    ) == str(saved)
    held.finish_image_copies()
    assert vm_state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING) and image_state(gw, saved) == READY
    assert (
        ET.fromstring(gw.document("one.vm.info", vm, False)).findtext("TEMPLATE/DISK/HOTPLUG_SAVE_AS") is None
    )
    # Powered off: HOTPLUG_SAVEAS_POWEROFF, then back to POWEROFF.
    gw.vm_action("poweroff-hard", vm)
    gw.vm_disksaveas(vm, 0, "snap2")
    assert vm_state(gw, vm) == (VmState.ACTIVE, LcmState.HOTPLUG_SAVEAS_POWEROFF)
    with pytest.raises(OneInternalError, match="VM has to be RUNNING, POWEROFF or SUSPENDED"):
        gw.vm_disksaveas(vm, 0, "snap3")
    held.finish_image_copies()
    assert vm_state(gw, vm) == (VmState.POWEROFF, LcmState.LCM_INIT)
    gw.vm_action("resume", vm)
    gw.vm_attach(vm, 'DISK=[TYPE="fs",SIZE="8"]')
    with pytest.raises(OneInternalError, match="DISK does not have a valid IMAGE_ID"):
        gw.vm_disksaveas(vm, 1, "volatile")
    with pytest.raises(OneInternalError, match="DISK does not exist"):
        gw.vm_disksaveas(vm, 9, "missing")


def test_diskresize_grows_a_disk_and_its_persistent_image(held: Simulator, gw: OneGateway) -> None:
    pers = datablock(gw, "vol", persistent=True)
    held.finish_image_copies()
    vm = running_vm(held, gw, pers)
    gw.vm_diskresize(vm, 0, 32)
    assert ET.fromstring(gw.document("one.vm.info", vm, False)).findtext("TEMPLATE/DISK/SIZE") == "32"
    assert (
        ET.fromstring(gw.document("one.image.info", pers, False)).findtext("SIZE") == "32"
    )  # linked in place (LN_TARGET NONE)
    assert vm_state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    assert "New LCM state is DISK_RESIZE" in held.vm_log(vm)
    with pytest.raises(OneActionError, match="New disk size has to be greater than current one"):
        gw.vm_diskresize(vm, 0, 32)
    with pytest.raises(OneActionError, match="Disk SIZE is not a valid integer"):
        gw.call("one.vm.diskresize", vm, 0, "40.5")
    with pytest.raises(OneActionError, match="VM disk does not exist"):
        gw.vm_diskresize(vm, 7, 64)
    gw.vm_action("suspend", vm)
    with pytest.raises(OneActionError, match=f"Could not resize disk for VM {vm}, wrong state SUSPENDED"):
        gw.vm_diskresize(vm, 0, 64)
