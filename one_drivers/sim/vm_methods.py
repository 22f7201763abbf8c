"""The VM methods of the simulator: the VM pool (paged, in two bodies), allocate, actions and deploy,
locks, disk and NIC hotplug, disk save-as and resize, snapshots and migration.

They check what oned's RequestManagerVirtualMachine checks and hand the work to the lifecycle; info,
update, chmod, chown and rename are the generic handlers of `methods.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import parse_text
from one_drivers.sim.methods import Api, method, vm_for
from one_drivers.sim.model import User, Vm, VmLock, get_attr, get_vectors, vector_by_id
from one_drivers.sim.storage import DISK_TYPES, SAVEAS_FROM, TYPE_NAMES, resize_disk
from one_drivers.sim.wire import ACTION, AUTHORIZATION, INTERNAL, Escaped, OneFailure


def _vm_pool(full: bool) -> Callable[..., Escaped]:
    """The VMs of a pool call, newest first: `end < -1` is a page of `-end` VMs from offset `start`
    (what econe asks for over and over: the walk stops when the page is full), else an id range."""

    def pool_info(api: Api, user: User, flag: int, start: int, end: int, state: int) -> Escaped:
        shown, pool = access.filter_test(user, flag, "vm"), api.cloud.vms
        vms = (
            vm
            for vm in map(pool.__getitem__, sorted(pool, reverse=True))
            if (vm.state != VmState.DONE if state == -1 else state < 0 or int(vm.state) == state)
            and shown(vm)
        )
        if end < -1:
            page = list(itertools.islice(vms, max(start, 0), max(start, 0) - end))
        elif start < 0 and end < 0:
            page = list(vms)
        else:
            page = [vm for vm in vms if vm.id >= max(start, 0) and (end < 0 or vm.id <= end)]
        return docs.pool_wire("VM_POOL", (docs.vm_wire(v, full=full) for v in page))

    return pool_info


method("one.vmpool.info", unused="str")(_vm_pool(False))  # the query filter
method("one.vmpool.infoextended", unused="str")(_vm_pool(True))


@method("one.vm.allocate", mutating=True)
def vm_allocate(api: Api, user: User, text: str, hold: bool = False) -> int:
    return instantiate.build_vm(api.cloud, user, parse_text(text), hold).id


VM_ACTION_OPS = {"hold": MANAGE, "release": MANAGE, "resched": ADMIN, "unresched": ADMIN}


@method("one.vm.action", mutating=True)
def vm_action(api: Api, user: User, name: str, vid: int) -> int:
    vm = vm_for(api, user, vid, VM_ACTION_OPS.get(name, MANAGE))
    api.lc.action(vm, name, user.id, user.gid)
    return vid


@method("one.vm.deploy", mutating=True)
def vm_deploy(api: Api, user: User, vid: int, hid: int, _enforce: bool = False, ds: int = -1) -> int:
    vm = vm_for(api, user, vid, ADMIN, locked=False)
    host = api.cloud.get("host", hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    if vm.state not in (VmState.PENDING, VmState.HOLD):
        raise OneFailure(ACTION, f"Deploy action is not available for state {vm.state_label}")
    api.lc.deploy(vm, host, ds)
    return vid


@method("one.vm.lock", mutating=True)
def vm_lock(api: Api, user: User, vid: int, level: int = 1, test: bool = False) -> int:
    vm = vm_for(api, user, vid, locked=False)
    if vm.lock is not None and test:
        raise OneFailure(AUTHORIZATION, f"Error trying to lock the resource VM [{vid}]")
    vm.lock = VmLock(level, user.id, api.cloud.now(), api.cloud.next_request_id())
    vm.touch()
    return vid


@method("one.vm.unlock", mutating=True)
def vm_unlock(api: Api, user: User, vid: int) -> int:
    vm = vm_for(api, user, vid, locked=False)
    vm.lock = None
    vm.touch()
    return vid


@method("one.vm.recover", mutating=True)
def vm_recover(api: Api, user: User, vid: int, op: int) -> int:
    api.lc.recover(vm_for(api, user, vid, ADMIN, locked=False), op)
    return vid


def _hotplug(api: Api, user: User, vid: int, request: str, refused: str) -> Vm:
    """The VM, for a disk, NIC or snapshot request: MANAGE, not locked, in a state the request has a row for."""
    vm = vm_for(api, user, vid)
    if not api.lc.allows(vm, request):
        raise OneFailure(ACTION, f"Could not {refused} VM {vid}, wrong state {vm.state_label}.")
    return vm


def _next_id(vm: Vm, name: str) -> int:
    return max((int(v.get(f"{name}_ID", "0")) for v in get_vectors(vm.template, name)), default=-1) + 1


def _given(text: str, name: str, what: str) -> dict[str, str]:
    given = next(iter(get_vectors(parse_text(text), name)), None)
    if given is None:
        raise OneFailure(INTERNAL, f"Wrong format for {what} attachment: no {name} vector")
    return given


@method("one.vm.attach", mutating=True)
def vm_attach(api: Api, user: User, vid: int, text: str) -> int:
    vm = _hotplug(api, user, vid, "disk-attach", "attach a new disk to")
    given = _given(text, "DISK", "disk")
    disk_id = _next_id(vm, "DISK")
    context = next(iter(get_vectors(vm.template, "CONTEXT")), {})
    if context.get("DISK_ID", "").isdigit():
        disk_id = max(disk_id, int(context["DISK_ID"]) + 1)
    if "IMAGE_ID" in given or "IMAGE" in given:
        image = allocate.image_by_ref(api.cloud, user, given)
        access.authorize(user, "image", image, USE)
        api.cloud.image_store.check_acquire(image, attach=True)
        disk = instantiate.image_disk(api.cloud, image, given, disk_id)
        api.cloud.image_store.acquire(image, vid, attach=True)
    else:
        disk = instantiate.volatile_disk(given, disk_id)
    api.lc.request(vm, "disk-attach", disk)
    return vid


@method("one.vm.attachnic", mutating=True)
def vm_attachnic(api: Api, user: User, vid: int, text: str) -> int:
    vm = _hotplug(api, user, vid, "nic-attach", "attach a new NIC to")
    given = _given(text, "NIC", "NIC")
    leases: list[instantiate.Lease] = []
    nic = instantiate.lease_nic(api.cloud, user, dict(given), vid, _next_id(vm, "NIC"), leases)
    for rng, offset in leases:
        rng.leases[offset] = vid
    api.lc.request(vm, "nic-attach", nic)
    return vid


@method("one.vm.snapshotcreate", mutating=True)
def vm_snapshotcreate(api: Api, user: User, vid: int, name: str) -> int:
    vm = _hotplug(api, user, vid, "snapshot-create", "create a new snapshot for")
    snap_id = _next_id(vm, "SNAPSHOT")
    snap = {"NAME": name or f"snapshot-{snap_id}", "SNAPSHOT_ID": str(snap_id), "TIME": str(api.cloud.now())}
    api.lc.request(vm, "snapshot-create", snap)
    return snap_id


# The requests on one DISK, NIC or SNAPSHOT of the VM, by id: method -> (request, vector, what the
# wrong-state message could not do, what the missing-vector message could not do).
VECTOR_REQUESTS = {
    "detach": ("disk-detach", "DISK", "detach disk from", "detach disk with DISK_ID {}"),
    "detachnic": ("nic-detach", "NIC", "detach NIC from", "detach NIC with NIC_ID {}"),
    "snapshotrevert": ("snapshot-revert", "SNAPSHOT", "revert to snapshot {} of", "revert to snapshot {}"),
    "snapshotdelete": ("snapshot-delete", "SNAPSHOT", "delete snapshot {} of", "delete snapshot {}"),
}


def _vector_request(request: str, name: str, refused: str, missing: str) -> Callable[..., int]:
    def vector_request(api: Api, user: User, vid: int, oid: int) -> int:
        vm = _hotplug(api, user, vid, request, refused.format(oid))
        vector = vector_by_id(vm.template, name, oid)
        if vector is None:
            raise OneFailure(ACTION, f"Could not {missing.format(oid)}, it does not exist.")
        api.lc.request(vm, request, vector)
        return vid

    return vector_request


for _name, _request in VECTOR_REQUESTS.items():
    method(f"one.vm.{_name}", mutating=True)(_vector_request(*_request))


@method("one.vm.diskresize", mutating=True)
def vm_diskresize(api: Api, user: User, vid: int, disk_id: int, size: str) -> int:
    vm = vm_for(api, user, vid)
    disk = vector_by_id(vm.template, "DISK", disk_id)
    if disk is None:
        raise OneFailure(ACTION, "VM disk does not exist")
    resize_disk(api.cloud, vm, disk, size)
    return vid


@method("one.vm.disksaveas", mutating=True, unused="int")  # snapshot id
def vm_disksaveas(api: Api, user: User, vid: int, disk_id: int, name: str, image_type: str = "") -> int:
    vm = vm_for(api, user, vid, locked=False)
    if not (vm.state == VmState.ACTIVE and vm.lcm_state == LcmState.RUNNING) and vm.state not in SAVEAS_FROM:
        raise OneFailure(INTERNAL, "VM has to be RUNNING, POWEROFF or SUSPENDED to save disks.")
    disk = vector_by_id(vm.template, "DISK", disk_id)
    if disk is None:
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not exist.")
    if not disk.get("IMAGE_ID", "").isdigit():
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not have a valid IMAGE_ID.")
    source = api.cloud.get("image", int(disk["IMAGE_ID"]))
    if source.type not in DISK_TYPES:
        raise OneFailure(INTERNAL, f"Cannot save_as image of type {TYPE_NAMES[source.type]}")
    attrs: list[tuple[str, str]] = [
        ("NAME", name),
        ("SIZE", disk.get("SIZE", str(source.size))),
        ("SAVED_IMAGE_ID", str(source.id)),
        ("SAVED_DISK_ID", str(disk_id)),
        ("SAVED_VM_ID", str(vid)),
        ("TYPE", image_type or TYPE_NAMES[source.type]),
    ]
    prefix = get_attr(source.template, "DEV_PREFIX")
    if prefix:
        attrs.append(("DEV_PREFIX", str(prefix)))
    img = allocate.allocate_image(api.cloud, user, build_template(attrs), source.datastore_id, copy=False)
    api.cloud.image_store.start_saveas(vm, disk, img.id)
    return img.id


@method("one.vm.migrate", mutating=True, unused="bool int int")  # enforce, datastore, migration type
def vm_migrate(api: Api, user: User, vid: int, hid: int, live: bool = False) -> int:
    vm = vm_for(api, user, vid, ADMIN, locked=False)
    target = api.cloud.get("host", hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    request = "live-migrate" if live else "migrate"
    if not api.lc.allows(vm, request):
        raise OneFailure(ACTION, f"Migrate action is not available for state {vm.state_label}")
    if vm.current is not None and vm.current.hid == hid:
        raise OneFailure(ACTION, f"VM is already running on host [{hid}] and datastore [{vm.current.ds_id}]")
    api.lc.request(vm, request, {"HID": str(target.id)})
    return vid
