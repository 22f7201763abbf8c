"""The VM methods of the simulator: the VM pool (paged, in two bodies), allocate, actions and deploy,
locks, disk and NIC hotplug, disk save-as and resize, snapshots, migration, resize and updateconf.

They check what oned's RequestManagerVirtualMachine and DispatchManager check and hand the work to the
lifecycle; info, update, chmod, chown and rename are the generic handlers of `methods.py`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from one_drivers.one.states import LcmState, VmAction, VmState
from one_drivers.one.template import build_template
from one_drivers.sim import access, allocate, docs, instantiate, model
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import parse_text
from one_drivers.sim.methods import Api, method, vm_for
from one_drivers.sim.model import (
    LEADING_INT,
    Attrs,
    History,
    User,
    Vm,
    get_attr,
    get_vectors,
    set_attr,
    vector_by_id,
)
from one_drivers.sim.storage import SAVEAS_FROM, TYPE_NAMES, resize_disk
from one_drivers.sim.transitions import RESIZE_FROM, UPDATECONF_FROM
from one_drivers.sim.wire import ACTION, AUTHORIZATION, INTERNAL, XML_RPC_API, Escaped, OneFailure

A, S = LcmState, VmState


def _vm_pool(full: bool) -> Callable[..., Escaped]:
    """The VMs of a pool call, newest first: `end < -1` is a page of `-end` VMs from offset `start`
    (what econe asks for over and over: the walk stops when the page is full), else an id range."""

    def pool_info(api: Api, user: User, flag: int, start: int, end: int, state: int) -> Escaped:
        shown, pool = access.filter_test(user, flag, "vm"), api.cloud.vms
        vms = (
            vm
            for vm in map(pool.__getitem__, sorted(pool, reverse=True))
            if (vm.state != S.DONE if state == -1 else state < 0 or int(vm.state) == state) and shown(vm)
        )
        if end < -1:
            page = list(itertools.islice(vms, max(start, 0), max(start, 0) - end))
        else:  # an id range (a negative start is no lower bound, a negative end no upper one)
            page = [vm for vm in vms if vm.id >= start and (end < 0 or vm.id <= end)]
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
    if vm.state not in (S.PENDING, S.HOLD):
        raise OneFailure(ACTION, f"Deploy action is not available for state {vm.state_label}")
    api.lc.deploy(vm, host, ds)
    return vid


@method("one.vm.lock", mutating=True)
def vm_lock(api: Api, user: User, vid: int, level: int = 1, test: bool = False) -> int:
    vm = vm_for(api, user, vid, locked=False)
    if level not in (1, 2, 3, 4):
        raise OneFailure(ACTION, "Wrong lock level specified")
    if vm.lock is not None and test:  # test_lock_db answers the time the lock was taken
        raise OneFailure(ACTION, str(vm.lock.time))
    if vm.lock is not None and vm.lock.owner != user.id and not access.is_admin(user):
        raise OneFailure(ACTION, "Error trying to lock the resource.")  # only an admin takes another's lock
    # RequestManagerLock: level 4 (ALL) is stored as 1 (USE), which already blocks every operation.
    vm.lock = model.VmLock(1 if level == 4 else level, user.id, api.cloud.now(), api.cloud.next_request_id())
    vm.touch()
    return vid


@method("one.vm.unlock", mutating=True)
def vm_unlock(api: Api, user: User, vid: int) -> int:
    vm = vm_for(api, user, vid, locked=False)
    # unlock_db: an admin lifts any lock, another user only their own (an unlocked VM's owner is -1).
    if not access.is_admin(user) and (vm.lock.owner if vm.lock else -1) != user.id:
        raise OneFailure(ACTION, "Cannot unlock: Lock is owned by another user")
    vm.lock = None
    vm.touch()
    return vid


@method("one.vm.recover", mutating=True)
def vm_recover(api: Api, user: User, vid: int, op: int) -> int:
    if op not in range(6):  # checked before the VM is looked up (VirtualMachineRecover)
        raise OneFailure(ACTION, "Wrong recovery operation code")
    api.lc.recover(vm_for(api, user, vid, ADMIN, locked=False), op)
    return vid


def _hotplug(api: Api, user: User, vid: int, request: str, refused: str) -> Vm:
    """The VM, for a disk, NIC or snapshot request: MANAGE, not locked, in a state the request has a row for."""
    vm = vm_for(api, user, vid)
    if not api.lc.allows(vm, request):
        raise OneFailure(ACTION, f"Could not {refused} VM {vid}, wrong state {vm.state_label}.")
    return vm


def _section(attrs: Attrs, name: str) -> dict[str, str] | None:
    """The first vector of that name (a VM or template has one CONTEXT, OS, ...)."""
    return next(iter(get_vectors(attrs, name)), None)


def _next_id(vm: Vm, name: str) -> int:
    return max((int(v.get(f"{name}_ID", "0")) for v in get_vectors(vm.template, name)), default=-1) + 1


def _given(vm: Vm, text: str, name: str, missing: str) -> dict[str, str]:
    """The DISK or NIC vector to attach; without one DispatchManager fails the attach with `missing`, the
    VM having lost its resched flag on the way (set_resched(false) comes first)."""
    given = _section(parse_text(text), name)
    if given is None:
        vm.resched = 0
        raise OneFailure(ACTION, missing)
    return given


@method("one.vm.attach", mutating=True)
def vm_attach(api: Api, user: User, vid: int, text: str) -> int:
    vm = _hotplug(api, user, vid, "disk-attach", "attach a new disk to")
    given = _given(vm, text, "DISK", "Internal error parsing DISK attribute")
    disk_id = _next_id(vm, "DISK")
    context = _section(vm.template, "CONTEXT") or {}
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
    given = _given(vm, text, "NIC", "Wrong format or missing NIC/NIC_ALIAS/PCI attribute")
    leases: list[instantiate.Lease] = []
    try:
        nic = instantiate.lease_nic(api.cloud, user, dict(given), vid, _next_id(vm, "NIC"), leases)
    except OneFailure as failure:
        if failure.code != INTERNAL:
            raise
        raise OneFailure(ACTION, failure.message) from None  # a network or lease error fails attach_nic
    for rng, offset in leases:
        rng.leases[offset] = vid
    api.lc.request(vm, "nic-attach", nic)
    return vid


@method("one.vm.snapshotcreate", mutating=True)
def vm_snapshotcreate(api: Api, user: User, vid: int, name: str) -> int:
    vm = _hotplug(api, user, vid, "snapshot-create", "create a new snapshot for")
    snap_id = _next_id(vm, "SNAPSHOT")
    # SYSTEM_DISK_SIZE: MEMORY plus the system disks times VM_SNAPSHOT_FACTOR, 0 in oned.conf's defaults
    snap = {"HYPERVISOR_ID": "", "NAME": name or f"snapshot-{snap_id}", "SNAPSHOT_ID": str(snap_id),
            "SYSTEM_DISK_SIZE": str(_size(vm.template)[1]), "TIME": str(api.cloud.now())}  # fmt: skip
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
    if not (vm.state == S.ACTIVE and vm.lcm_state == A.RUNNING) and vm.state not in SAVEAS_FROM:
        raise OneFailure(INTERNAL, "VM has to be RUNNING, POWEROFF or SUSPENDED to save disks.")
    disk = vector_by_id(vm.template, "DISK", disk_id)
    if disk is None:
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not exist.")
    if not disk.get("IMAGE_ID", "").isdigit():
        raise OneFailure(INTERNAL, "Cannot use DISK. DISK does not have a valid IMAGE_ID.")
    # The disk's image is an OS, DATABLOCK or CDROM one: acquire_image takes no other type, chtype keeps it.
    source = api.cloud.get("image", int(disk["IMAGE_ID"]))
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
    # the live flag counts for a RUNNING VM only; others migrate cold (VirtualMachineMigrate)
    request = "live-migrate" if live and api.lc.allows(vm, "live-migrate") else "migrate"
    if not api.lc.allows(vm, request):
        raise OneFailure(ACTION, f"Migrate action is not available for state {vm.state_label}")
    if vm.current is not None and vm.current.hid == hid:
        raise OneFailure(ACTION, f"VM is already running on host [{hid}] and datastore [{vm.current.ds_id}]")
    api.lc.request(vm, request, {"HID": str(target.id)})
    return vid


# --- resize and updateconf ------------------------------------------------------------------------
# resize sets CPU/VCPU/MEMORY (0 or absent keeps the old value) where DispatchManager::resize allows it:
# not yet deployed, undeployed, powered off (the host must fit it; the history record is closed with
# action 35 and copied) or running on a driver that resizes live. updateconf rewrites the members of
# OS/FEATURES/INPUT/GRAPHICS/VIDEO/RAW/CPU_MODEL it knows and CONTEXT, replacing or merging.
LIVE_RESIZE_MADS = frozenset({"kvm"})  # VM_MADs with LIVE_RESIZE = "yes" in oned.conf's defaults

_NOT_DEPLOYED = frozenset({S.INIT, S.PENDING, S.HOLD, S.UNDEPLOYED, S.CLONING, S.CLONING_FAILURE})
_NUMBER = re.compile(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")
_SIZE = (("CPU", _NUMBER), ("MEMORY", LEADING_INT), ("VCPU", LEADING_INT))  # what oned reads each as


def _size(attrs: Attrs) -> tuple[float, int, int]:
    """CPU, MEMORY and VCPU as oned reads them with `>>`: the leading digits count, anything unreadable 0."""
    found = [pattern.match(get_attr(attrs, name) or "") for name, pattern in _SIZE]
    cpu, memory, vcpu = (float(m.group(1)) if m else 0.0 for m in found)
    return cpu, int(memory), int(vcpu)


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)  # floats as an ostream writes them


def _host_fits(api: Api, vm: Vm, cpu: float, memory: int) -> None:
    """Host::test_capacity with the VM's old size taken out: the first shortage is the message."""
    host = api.lc.host_of(vm)
    if host is None:
        raise OneFailure(ACTION, "Could not update host")
    others = [
        _size(v.template)
        for v in api.cloud.vms.values()
        if v is not vm and v.state == S.ACTIVE and v.current and v.current.hid == host.id
    ]
    used_cpu, used_mem = sum(int(c * 100) for c, _, _ in others), sum(m * 1024 for _, m, _ in others)
    want_cpu, want_mem = int(cpu * 100), memory * 1024
    if host.total_cpu - used_cpu < want_cpu:
        raise OneFailure(ACTION, f"Not enough CPU: {want_cpu}/{host.total_cpu - used_cpu}")
    if host.total_mem - used_mem < want_mem:
        raise OneFailure(ACTION, f"Not enough memory: {want_mem}/{host.total_mem - used_mem}")


def _close_copy_history(api: Api, vm: Vm, user: User) -> None:
    """close_cp_history: the open record ends with the resize, a copy (same host, the old action, still
    not running if it was not) goes on."""
    h = vm.current
    if h is None:
        return
    now = api.cloud.now()
    was_stopped = bool(h.retime)
    h.retime = h.retime or now
    h.etime = now
    copy = History(len(vm.history), h.hostname, h.hid, h.cid, now, h.vm_mad, h.tm_mad, h.ds_id, rstime=now)
    copy.action, copy.retime = h.action, now if was_stopped else 0
    h.action, h.uid, h.gid = VmAction.RESIZE.value, user.id, user.gid
    h.request_id = api.cloud.next_request_id()
    vm.history.append(copy)


@method("one.vm.resize", mutating=True, unused="bool")  # enforce: deprecated in 6.10, read and ignored
def vm_resize(api: Api, user: User, vid: int, text: str) -> int:
    given = parse_text(text)
    vm = vm_for(api, user, vid)
    new, old = _size(given), _size(vm.template)
    negative = next((name for (name, _), number in zip(_SIZE, new, strict=True) if number < 0), None)
    if negative:
        kind = "float or integer" if negative == "CPU" else "integer"
        raise OneFailure(INTERNAL, f"{negative} must be a positive {kind} value.")
    cpu, memory, vcpu = new[0] or old[0], new[1] or old[1], new[2] or old[2]
    running = vm.state == S.ACTIVE and vm.lcm_state == A.RUNNING
    if (vm.state, vm.lcm_state) not in RESIZE_FROM:
        raise OneFailure(ACTION, f"Cannot resize a VM in state {vm.state_label}")
    host = api.lc.host_of(vm)
    if running and (host is None or host.vm_mad not in LIVE_RESIZE_MADS):
        raise OneFailure(ACTION, f"Hotplug resize not supported by driver {host.vm_mad if host else ''}")
    if running and (cpu, memory, vcpu) == old:
        _close_copy_history(api, vm, user)  # "Nothing to resize" is still a success that closes the record
        vm.touch()
        return vid
    if vm.state == S.POWEROFF or running:
        _host_fits(api, vm, cpu, memory)
    # VirtualMachine::resize: only positive values are written (a VM without VCPU may stay without it).
    for (name, _), number in zip(_SIZE, (cpu, memory, vcpu), strict=True):
        if number > 0:
            set_attr(vm.template, name, _fmt(number))
    if vm.state not in _NOT_DEPLOYED:
        _close_copy_history(api, vm, user)
    if running:
        api.lc.request(
            vm, "resize", {name: _fmt(number) for (name, _), number in zip(_SIZE, old, strict=True)}
        )
    vm.touch()
    return vid


# VirtualMachineTemplate::UPDATECONF_ATTRS: the members updateconf reads of each section.
UPDATECONF_ATTRS: dict[str, tuple[str, ...]] = {
    "OS": ("ARCH", "MACHINE", "KERNEL", "INITRD", "BOOTLOADER", "BOOT", "KERNEL_CMD", "ROOT", "SD_DISK_BUS",
           "UUID", "FIRMWARE"),
    "FEATURES": ("PAE", "ACPI", "APIC", "LOCALTIME", "HYPERV", "GUEST_AGENT", "VIRTIO_SCSI_QUEUES",
                 "VIRTIO_BLK_QUEUES", "IOTHREADS"),
    "INPUT": ("TYPE", "BUS"),
    "GRAPHICS": ("TYPE", "LISTEN", "PASSWD", "KEYMAP", "COMMAND"),
    "VIDEO": ("IOMMU", "ATS", "TYPE", "VRAM", "RESOLUTION"),
    "RAW": ("TYPE", "DATA", "VALIDATE", "DATA_VMX"),
    "CPU_MODEL": ("MODEL", "FEATURES"),
}  # fmt: skip
_ETH = re.compile(r"ETH\d+_\w+\Z")
_RESTRICTED = (("RAW", "DATA"), ("CONTEXT", "FILES"))  # oned.conf's VM_RESTRICTED_ATTR that updateconf reads


def _conf_template(given: Attrs) -> dict[str, dict[str, str]]:
    """get_updateconf_template: the known members of each section (empty ones dropped) and CONTEXT whole."""
    out: dict[str, dict[str, str]] = {}
    for name, members in UPDATECONF_ATTRS.items():
        vec = _section(given, name)
        kept = {k: vec[k] for k in members if vec and vec.get(k)}
        if kept:
            out[name] = kept
    context = _section(given, "CONTEXT")
    if context is not None:
        out["CONTEXT"] = dict(context)
    return out


def _check_restricted(vm: Vm, conf: dict[str, dict[str, str]]) -> None:
    """For updates oned lets a restricted value through only when it is the one the VM already has."""
    for section, member in _RESTRICTED:
        new = conf.get(section, {}).get(member)
        old = (_section(vm.template, section) or {}).get(member)
        if new is not None and new != old:
            raise OneFailure(AUTHORIZATION, f"Template includes a restricted attribute {section}/{member}")


def _update_context(context: dict[str, str], new: dict[str, str], append: bool) -> bool:
    """Rewrites the VM's CONTEXT in place (it keeps its position in the document) after checking the new
    values (ETHn_* ones belong to the NICs); whether it changed."""
    changed = False
    for key, value in new.items():
        if context.get(key) != value:
            if _ETH.match(key):
                verb = "add" if key not in context else "update"
                raise OneFailure(INTERNAL, f"Unable to {verb} {key}, update NIC to update network context")
            changed = True
    result = {**context, **new} if append else dict(new)
    if not append:
        changed = changed or any(k not in new for k in context if k not in ("TARGET", "DISK_ID"))
        if result.get("NETWORK", "").upper() == "YES":
            # oned regenerates the network context from the NICs, which updateconf does not change.
            result.update({k: v for k, v in context.items() if _ETH.match(k)})
        result.update({key: context.get(key, "") for key in ("TARGET", "DISK_ID")})
    context.clear()
    context.update(sorted(result.items()))
    return changed


@method("one.vm.updateconf", mutating=True)
def vm_updateconf(api: Api, user: User, vid: int, text: str, update_type: int = 0) -> int:
    if update_type not in (0, 1):
        raise OneFailure(XML_RPC_API, "Wrong update type")
    conf = _conf_template(parse_text(text))
    vm = vm_for(api, user, vid)
    if not api.cloud.is_admin(user):
        _check_restricted(vm, conf)
    if (vm.state, vm.lcm_state) not in UPDATECONF_FROM:
        raise OneFailure(INTERNAL, f"configuration cannot be updated in state {vm.state_label}")
    append, changed = update_type == 1, False
    if "CONTEXT" in conf:
        context = _section(vm.template, "CONTEXT")
        if context is None:
            raise OneFailure(INTERNAL, "Virtual machine does not have context, cannot add a new one.")
        # its checks are the last ones: from here on the VM document changes
        changed = _update_context(context, conf["CONTEXT"], append)
    for name, members in UPDATECONF_ATTRS.items():
        new, old = conf.get(name), _section(vm.template, name)
        if new is None:
            if not append:
                vm.template[:] = [(k, v) for k, v in vm.template if k != name]
        elif old is None:
            vm.template.append((name, dict(new)))
        else:
            for member in members:
                if member in new:
                    old[member] = new[member]
                elif not append:
                    old.pop(member, None)
    if changed and vm.state == S.ACTIVE and vm.lcm_state == A.RUNNING:
        api.lc.request(vm, "updateconf")
    vm.touch()
    return vid
