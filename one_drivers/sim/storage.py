"""Image datastore work of the simulator, with oned 6.10's image states.

A new image (allocate, clone, disk save-as) is LOCKED while the datastore copies it, then READY. VMs
acquire and release images (READY -> USED / USED_PERS, LOCKED -> LOCKED_USED...), a persistent image
serves one VM, a clone keeps its source USED (CLONE when persistent) until the copy ends, and a disk
save-as holds the VM in HOTPLUG_SAVEAS* until the image is written. Learnt from ImageManager's
acquire/release/clone-state rules and VirtualMachine::set_saveas_state; with `hold` the copies wait for
`finish()` (or a scheduler pass), otherwise they end at once, like a dummy datastore driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from one_drivers.one.states import ImageState, ImageType, LcmState, VmState
from one_drivers.sim.model import Image, Vm, get_attr
from one_drivers.sim.wire import ACTION, OneFailure

INIT, READY, USED, DISABLED, LOCKED, ERROR, CLONE, DELETE, USED_PERS, LOCKED_USED, LOCKED_USED_PERS = (
    ImageState
)
STATE_NAMES = tuple(s.name for s in ImageState)
TYPE_NAMES = tuple(t.name for t in ImageType)
# The types a VM disk may use, and that clone and disk save-as copy.
DISK_TYPES = frozenset({ImageType.OS, ImageType.CDROM, ImageType.DATABLOCK})


# The copy ends: the locked state -> the state it unlocks to.
_UNLOCKED: dict[int, int] = {LOCKED: READY, LOCKED_USED: USED, LOCKED_USED_PERS: USED_PERS}

# A VM acquires the image: state -> (the state it takes, the state a persistent image takes).
_ACQUIRED: dict[int, tuple[int, int]] = {READY: (USED, USED_PERS), LOCKED: (LOCKED_USED, LOCKED_USED_PERS)}

# set_saveas_state: the VM state a save-as starts from -> the HOTPLUG_SAVEAS* LCM state it waits in.
SAVEAS_FROM: dict[VmState, LcmState] = {
    VmState.POWEROFF: LcmState.HOTPLUG_SAVEAS_POWEROFF,
    VmState.SUSPENDED: LcmState.HOTPLUG_SAVEAS_SUSPENDED,
    VmState.UNDEPLOYED: LcmState.HOTPLUG_SAVEAS_UNDEPLOYED,
    VmState.STOPPED: LcmState.HOTPLUG_SAVEAS_STOPPED,
}


@dataclass
class Copy:
    """A datastore copy in progress: the image being written and where it comes from."""

    image_id: int
    source_id: int = -1  # clone: the image being copied
    vm_id: int = -1  # disk save-as: the VM, and the state it returns to
    return_state: tuple[VmState, LcmState] | None = None


class Pools(Protocol):
    images: dict[int, Image]
    vms: dict[int, Vm]


class ImageStore:
    """The copies in flight and the image acquire/release rules (called under the cloud's lock)."""

    def __init__(self, pools: Pools, hold: bool = False) -> None:
        # The pools are looked up on each use: a state file load replaces the cloud's dicts.
        self.pools = pools
        self.hold = hold
        self.copies: list[Copy] = []
        self.on_change: Callable[[], None] = lambda: None

    # --- copies ---------------------------------------------------------------------------------------
    def start(self, copy: Copy) -> None:
        """The image is LOCKED until its copy ends (now, unless copies are held)."""
        self.pools.images[copy.image_id].state = LOCKED
        if not self.hold:
            self._finished(copy)  # within the caller's call, which records the change itself
            return
        self.copies.append(copy)

    def finish(self) -> int:
        """End every copy in flight; returns how many ended."""
        done, self.copies = self.copies, []
        for copy in done:
            self._finished(copy)
        if done:
            self.on_change()
        return len(done)

    def _finished(self, copy: Copy) -> None:
        image = self.pools.images.get(copy.image_id)
        if image is not None:
            image.state = _UNLOCKED.get(image.state, image.state)
        if copy.source_id >= 0:
            self._release_cloning(copy.source_id, copy.image_id)
        vm = self.pools.vms.get(copy.vm_id)
        if vm is not None and copy.return_state is not None:
            for _, disk in vm.template:
                if isinstance(disk, dict):
                    for key in ("HOTPLUG_SAVE_AS", "HOTPLUG_SAVE_AS_ACTIVE", "HOTPLUG_SAVE_AS_SOURCE"):
                        disk.pop(key, None)
            vm.set_state(*copy.return_state)

    # --- acquire / release by VMs ----------------------------------------------------------------------
    def check_acquire(self, image: Image, attach: bool) -> None:
        """Refuse what ImageManager::acquire_image refuses (message as oned words it)."""
        if image.type not in DISK_TYPES:
            raise OneFailure(
                ACTION,
                f"Image {image.id} ({image.name}) of type {TYPE_NAMES[image.type]} cannot be used as DISK.",
            )
        shareable = (get_attr(image.template, "PERSISTENT_TYPE") or "").upper() == "SHAREABLE"  # icasecmp
        state, refused = image.state, f"Cannot acquire image {image.id}, it is"
        if state in (USED_PERS, LOCKED_USED_PERS) and not shareable:
            raise OneFailure(ACTION, f"{refused} persistent and already in use")
        if state in (LOCKED, LOCKED_USED, LOCKED_USED_PERS) and attach:
            raise OneFailure(ACTION, f"{refused} locked")
        if state in (INIT, DISABLED, ERROR, DELETE, CLONE):
            raise OneFailure(ACTION, f"{refused} in state: {ImageState(state).name}")

    def acquire(self, image: Image, vm_id: int, attach: bool) -> None:
        self.check_acquire(image, attach)
        if vm_id not in image.vms:
            image.vms.append(vm_id)
        image.state = _ACQUIRED.get(image.state, (image.state, image.state))[bool(image.persistent)]

    def release(self, image: Image, vm_id: int) -> None:
        """A VM lets go of the image (detach, or the VM is done)."""
        if vm_id not in image.vms:
            return
        image.vms.remove(vm_id)
        if image.vms:
            return
        if image.state in (USED, USED_PERS):
            image.state = READY if not image.clones else USED
        elif image.state in (LOCKED_USED, LOCKED_USED_PERS):
            image.state = LOCKED

    # --- clone ---------------------------------------------------------------------------------------
    def check_clone(self, source: Image) -> None:
        """ImageManager::can_clone_image."""
        if source.type not in DISK_TYPES:
            raise OneFailure(ACTION, "KERNEL, RAMDISK, BACKUP and CONTEXT cannot be cloned.")
        if source.state not in (READY, USED, CLONE):
            raise OneFailure(ACTION, f"Cannot clone image in state: {ImageState(source.state).name}")

    def start_clone(self, source: Image, new_id: int) -> None:
        """set_clone_state: a READY source turns USED (CLONE when persistent) until the copy ends."""
        source.clones.append(new_id)
        if source.state == READY:
            source.state = CLONE if source.persistent else USED
        self.start(Copy(new_id, source_id=source.id))

    def _release_cloning(self, source_id: int, new_id: int) -> None:
        source = self.pools.images.get(source_id)
        if source is None or new_id not in source.clones:
            return
        source.clones.remove(new_id)
        if not source.clones and not source.vms and source.state in (USED, CLONE):
            source.state = READY

    # --- disk save-as ------------------------------------------------------------------------------
    def start_saveas(self, vm: Vm, disk: dict[str, str], new_id: int) -> None:
        """The VM waits in HOTPLUG_SAVEAS* (its disk marked) until the new image is written."""
        before = (vm.state, vm.lcm_state)
        disk.update(HOTPLUG_SAVE_AS=str(new_id), HOTPLUG_SAVE_AS_ACTIVE="YES")
        vm.set_lcm(LcmState.HOTPLUG_SAVEAS if vm.state == VmState.ACTIVE else SAVEAS_FROM[vm.state])
        self.start(Copy(new_id, vm_id=vm.id, return_state=before))


# --- disk resize ---------------------------------------------------------------------------------------
RESIZE_FROM: dict[tuple[VmState, LcmState], LcmState] = {
    (VmState.ACTIVE, LcmState.RUNNING): LcmState.DISK_RESIZE,
    (VmState.POWEROFF, LcmState.LCM_INIT): LcmState.DISK_RESIZE_POWEROFF,
    (VmState.UNDEPLOYED, LcmState.LCM_INIT): LcmState.DISK_RESIZE_UNDEPLOYED,
}


def resize_disk(pools: Pools, vm: Vm, disk: dict[str, str], size_text: str) -> None:
    """DispatchManager::disk_resize and its success: the disk grows, a persistent image linked in place
    (LN_TARGET NONE) takes the new size, and the VM goes back to where it was (the dummy drivers answer
    at once)."""
    try:
        size = int(size_text)
    except ValueError:
        raise OneFailure(ACTION, "Disk SIZE is not a valid integer") from None
    current = int(disk.get("SIZE", "0") or 0)
    if size <= current:
        raise OneFailure(ACTION, "New disk size has to be greater than current one")
    before = (vm.state, vm.lcm_state)
    if before not in RESIZE_FROM:
        raise OneFailure(ACTION, f"Could not resize disk for VM {vm.id}, wrong state {vm.state_label}.")
    vm.set_lcm(RESIZE_FROM[before])
    disk["SIZE"] = str(size)
    image = pools.images.get(int(disk["IMAGE_ID"])) if disk.get("IMAGE_ID", "").isdigit() else None
    if image is not None and disk.get("PERSISTENT") == "YES" and disk.get("LN_TARGET", "NONE") == "NONE":
        image.size = size
    vm.set_state(*before)
