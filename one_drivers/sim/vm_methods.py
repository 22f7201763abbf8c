"""The VM methods of the simulator: the VM pool (paged, in two bodies), allocate, actions and deploy,
locks, disk and NIC hotplug, disk save-as and resize, snapshots and migration.

They check what oned's RequestManagerVirtualMachine checks and hand the work to the lifecycle; info,
update, chmod, chown and rename are the generic handlers of `methods.py`.
"""

from __future__ import annotations

from typing import Any

from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import parse_text
from one_drivers.sim.methods import Api, _managed_vm, _vm_for, method
from one_drivers.sim.model import User, Vm, VmLock, get_attr
from one_drivers.sim.storage import SAVEAS_FROM, TYPE_NAMES, resize_disk
from one_drivers.sim.wire import ACTION, AUTHORIZATION, INTERNAL, OneFailure, Params


def _vm_pool(api: Api, user: User, p: Params) -> list[Any]:
    flag, start, end, state = p.integer(0), p.integer(1), p.integer(2), p.integer(3)
    p.opt_str(4)
    cloud = api.cloud
    if end < -1:
        # A page (-end VMs from offset `start`, newest first) is what econe asks for over and over:
        # walk the ids down and stop when the page is full, instead of filtering and sorting the
        # whole pool per call. Same VMs, same order as `paginate(filtered(...))`.
        shown = access.filter_test(user, flag, "vm")
        skip, size = max(start, 0), -end
        page: list[Vm] = []
        for vid in sorted(cloud.vms, reverse=True):
            vm = cloud.vms[vid]
            if (state == -1 and vm.state == VmState.DONE) or (state >= 0 and int(vm.state) != state):
                continue
            if not shown(vm):
                continue
            if skip:
                skip -= 1
                continue
            page.append(vm)
            if len(page) == size:
                break
        return page
    vms: list[Vm] = list(cloud.vms.values())
    if state == -1:
        vms = [v for v in vms if v.state != VmState.DONE]
    elif state >= 0:
        vms = [v for v in vms if int(v.state) == state]
    return cloud.paginate(access.filtered(user, vms, flag, "vm"), start, end)


@method("one.vmpool.info")
def vmpool_info(api: Api, user: User, p: Params) -> Any:
    return docs.pool_wire("VM_POOL", (docs.vm_wire(v, full=False) for v in _vm_pool(api, user, p)))


@method("one.vmpool.infoextended")
def vmpool_infoextended(api: Api, user: User, p: Params) -> Any:
    return docs.pool_wire("VM_POOL", (docs.vm_wire(v, full=True) for v in _vm_pool(api, user, p)))


@method("one.vm.allocate", mutating=True)
def vm_allocate(api: Api, user: User, p: Params) -> Any:
    text, hold = p.string(0), p.opt_bool(1)
    return instantiate.build_vm(api.cloud, user, parse_text(text), hold).id


VM_ACTION_OPS = {"hold": MANAGE, "release": MANAGE, "resched": ADMIN, "unresched": ADMIN}


@method("one.vm.action", mutating=True)
def vm_action(api: Api, user: User, p: Params) -> Any:
    name, vid = p.string(0), p.integer(1)
    vm = api.cloud.get("vm", vid)
    op = VM_ACTION_OPS.get(name, MANAGE)
    access.authorize(user, "vm", vm, op)
    api.lc.check_lock(user.id, vm, op)
    api.lc.action(vm, name, user.id, user.gid)
    return vid


@method("one.vm.deploy", mutating=True)
def vm_deploy(api: Api, user: User, p: Params) -> Any:
    vid, hid = p.integer(0), p.integer(1)
    p.opt_bool(2)
    ds = p.opt_int(3, -1)
    vm = _vm_for(api, user, vid, ADMIN)
    host = api.cloud.get("host", hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    if vm.state not in (VmState.PENDING, VmState.HOLD):
        raise OneFailure(ACTION, f"Deploy action is not available for state {vm.state_label}")
    api.lc.deploy(vm, host, ds)
    return vid


@method("one.vm.lock", mutating=True)
def vm_lock(api: Api, user: User, p: Params) -> Any:
    vid, level = p.integer(0), p.opt_int(1, 1)
    test = p.opt_bool(2)
    vm = _vm_for(api, user, vid, MANAGE)
    if vm.lock is not None and test:
        raise OneFailure(AUTHORIZATION, f"Error trying to lock the resource VM [{vid}]")
    vm.lock = VmLock(level, user.id, api.cloud.now(), api.cloud.next_request_id())
    vm.touch()
    return vid


@method("one.vm.unlock", mutating=True)
def vm_unlock(api: Api, user: User, p: Params) -> Any:
    vid = p.integer(0)
    vm = _vm_for(api, user, vid, MANAGE)
    vm.lock = None
    vm.touch()
    return vid


@method("one.vm.recover", mutating=True)
def vm_recover(api: Api, user: User, p: Params) -> Any:
    vid, op = p.integer(0), p.integer(1)
    vm = _vm_for(api, user, vid, ADMIN)
    api.lc.recover(vm, op)
    return vid


def _disks(vm: Vm) -> list[dict[str, str]]:
    return [v for k, v in vm.template if k == "DISK" and isinstance(v, dict)]


@method("one.vm.attach", mutating=True)
def vm_attach(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, "disk-attach"):
        raise OneFailure(ACTION, f"Could not attach a new disk to VM {vid}, wrong state {vm.state_label}.")
    given = next((v for k, v in parse_text(text) if k == "DISK" and isinstance(v, dict)), None)
    if given is None:
        raise OneFailure(INTERNAL, "Wrong format for disk attachment: no DISK vector")
    ids = [int(d.get("DISK_ID", "0")) for d in _disks(vm)]
    context = next((v for k, v in vm.template if k == "CONTEXT" and isinstance(v, dict)), None)
    if context is not None and context.get("DISK_ID", "").isdigit():
        ids.append(int(context["DISK_ID"]))
    disk_id = max(ids, default=-1) + 1
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


@method("one.vm.detach", mutating=True)
def vm_detach(api: Api, user: User, p: Params) -> Any:
    vid, disk_id = p.integer(0), p.integer(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, "disk-detach"):
        raise OneFailure(ACTION, f"Could not detach disk from VM {vid}, wrong state {vm.state_label}.")
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(ACTION, f"Could not detach disk with DISK_ID {disk_id}, it does not exist.")
    api.lc.request(vm, "disk-detach", disk)
    return vid


@method("one.vm.diskresize", mutating=True)
def vm_diskresize(api: Api, user: User, p: Params) -> Any:
    vid, disk_id, size = p.integer(0), p.integer(1), p.string(2)
    vm = _managed_vm(api, user, vid)
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(ACTION, "VM disk does not exist")
    resize_disk(api.cloud, vm, disk, size)
    return vid


@method("one.vm.disksaveas", mutating=True)
def vm_disksaveas(api: Api, user: User, p: Params) -> Any:
    vid, disk_id, name = p.integer(0), p.integer(1), p.string(2)
    image_type = p.opt_str(3)
    p.opt_int(4, -1)
    vm = _vm_for(api, user, vid, MANAGE)
    if not (vm.state == VmState.ACTIVE and vm.lcm_state == LcmState.RUNNING) and vm.state not in SAVEAS_FROM:
        raise OneFailure(INTERNAL, "VM has to be RUNNING, POWEROFF or SUSPENDED to save disks.")
    disk = next((d for d in _disks(vm) if d.get("DISK_ID") == str(disk_id)), None)
    if disk is None:
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not exist.")
    if not disk.get("IMAGE_ID", "").isdigit():
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not have a valid IMAGE_ID.")
    source = api.cloud.get("image", int(disk["IMAGE_ID"]))
    if source.type not in (0, 1, 2):
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


def _snapshots(vm: Vm) -> list[dict[str, str]]:
    return [v for k, v in vm.template if k == "SNAPSHOT" and isinstance(v, dict)]


@method("one.vm.snapshotcreate", mutating=True)
def vm_snapshotcreate(api: Api, user: User, p: Params) -> Any:
    vid, name = p.integer(0), p.string(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, "snapshot-create"):
        raise OneFailure(
            ACTION, f"Could not create a new snapshot for VM {vid}, wrong state {vm.state_label}."
        )
    snap_id = max((int(s.get("SNAPSHOT_ID", "0")) for s in _snapshots(vm)), default=-1) + 1
    snap = {"NAME": name or f"snapshot-{snap_id}", "SNAPSHOT_ID": str(snap_id), "TIME": str(api.cloud.now())}
    api.lc.request(vm, "snapshot-create", snap)
    return snap_id


def _snapshot_op(api: Api, user: User, p: Params, action: str, verb: str) -> Any:
    vid, snap_id = p.integer(0), p.integer(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, action):
        raise OneFailure(
            ACTION, f"Could not {verb} snapshot {snap_id} of VM {vid}, wrong state {vm.state_label}."
        )
    snap = next((s for s in _snapshots(vm) if s.get("SNAPSHOT_ID") == str(snap_id)), None)
    if snap is None:
        raise OneFailure(ACTION, f"Could not {verb} snapshot {snap_id}, it does not exist.")
    api.lc.request(vm, action, snap)
    return vid


@method("one.vm.snapshotrevert", mutating=True)
def vm_snapshotrevert(api: Api, user: User, p: Params) -> Any:
    return _snapshot_op(api, user, p, "snapshot-revert", "revert to")


@method("one.vm.snapshotdelete", mutating=True)
def vm_snapshotdelete(api: Api, user: User, p: Params) -> Any:
    return _snapshot_op(api, user, p, "snapshot-delete", "delete")


@method("one.vm.attachnic", mutating=True)
def vm_attachnic(api: Api, user: User, p: Params) -> Any:
    vid, text = p.integer(0), p.string(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, "nic-attach"):
        raise OneFailure(ACTION, f"Could not attach a new NIC to VM {vid}, wrong state {vm.state_label}.")
    given = next((v for k, v in parse_text(text) if k == "NIC" and isinstance(v, dict)), None)
    if given is None:
        raise OneFailure(INTERNAL, "Wrong format for NIC attachment: no NIC vector")
    nics = [v for k, v in vm.template if k == "NIC" and isinstance(v, dict)]
    nic_id = max((int(n.get("NIC_ID", "0")) for n in nics), default=-1) + 1
    leases: list[Any] = []
    nic = instantiate.lease_nic(api.cloud, user, dict(given), vid, nic_id, leases)
    for rng, offset in leases:
        rng.leases[offset] = vid
    api.lc.request(vm, "nic-attach", nic)
    return vid


@method("one.vm.detachnic", mutating=True)
def vm_detachnic(api: Api, user: User, p: Params) -> Any:
    vid, nic_id = p.integer(0), p.integer(1)
    vm = _managed_vm(api, user, vid)
    if not api.lc.allows(vm, "nic-detach"):
        raise OneFailure(ACTION, f"Could not detach NIC from VM {vid}, wrong state {vm.state_label}.")
    nic = next(
        (v for k, v in vm.template if k == "NIC" and isinstance(v, dict) and v.get("NIC_ID") == str(nic_id)),
        None,
    )
    if nic is None:
        raise OneFailure(ACTION, f"Could not detach NIC with NIC_ID {nic_id}, it does not exist.")
    api.lc.request(vm, "nic-detach", nic)
    return vid


@method("one.vm.migrate", mutating=True)
def vm_migrate(api: Api, user: User, p: Params) -> Any:
    vid, hid, live = p.integer(0), p.integer(1), p.opt_bool(2)
    p.opt_bool(3)
    p.opt_int(4, -1)
    p.opt_int(5, 0)
    vm = _vm_for(api, user, vid, ADMIN)
    target = api.cloud.get("host", hid)
    api.lc.check_lock(user.id, vm, ADMIN)
    if not api.lc.allows(vm, "live-migrate" if live else "migrate"):
        raise OneFailure(ACTION, f"Migrate action is not available for state {vm.state_label}")
    if vm.current is not None and vm.current.hid == hid:
        raise OneFailure(ACTION, f"VM is already running on host [{hid}] and datastore [{vm.current.ds_id}]")
    api.lc.request(vm, "live-migrate" if live else "migrate", {"HID": str(target.id)})
    return vid
