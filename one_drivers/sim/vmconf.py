"""one.vm.resize and one.vm.updateconf as oned 6.10 answers them.

resize sets CPU/VCPU/MEMORY (0 or absent keeps the old value) where DispatchManager::resize allows it:
not yet deployed, undeployed, powered off (the host must fit it; the history record is closed with action
35 and copied) or running on a driver that resizes live. updateconf rewrites the OS/FEATURES/INPUT/GRAPHICS/
VIDEO/RAW/CPU_MODEL members it knows and CONTEXT, replacing or merging, in VirtualMachine::updateconf's states.
"""

from __future__ import annotations

import re

from one_drivers.one.states import LcmState, VmAction, VmState
from one_drivers.sim.cloud import ACTION, AUTHORIZATION, INTERNAL, XML_RPC_API, parse_text
from one_drivers.sim.methods import Api, method, vm_for
from one_drivers.sim.model import Attrs, History, User, Vm, get_attr, get_vectors, set_attr
from one_drivers.sim.transitions import RESIZE_FROM, UPDATECONF_FROM
from one_drivers.sim.wire import OneFailure

A, S = LcmState, VmState
LIVE_RESIZE_MADS = frozenset({"kvm"})  # VM_MADs with LIVE_RESIZE = "yes" in oned.conf's defaults

_NOT_DEPLOYED = frozenset({S.INIT, S.PENDING, S.HOLD, S.UNDEPLOYED, S.CLONING, S.CLONING_FAILURE})
_NUMBER = re.compile(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")
_INTEGER = re.compile(r"\s*([-+]?[0-9]+)")
_SIZE = (("CPU", _NUMBER), ("MEMORY", _INTEGER), ("VCPU", _INTEGER))  # what oned reads each as


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


def _section(attrs: Attrs, name: str) -> dict[str, str] | None:
    found = get_vectors(attrs, name)
    return found[0] if found else None


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


def _new_context(old: dict[str, str], new: dict[str, str], append: bool) -> tuple[dict[str, str], bool]:
    """The VM's CONTEXT after the update and whether it changed; ETHn_* values belong to the NICs."""
    changed = False
    for key, value in new.items():
        if key not in old or old[key] != value:
            if _ETH.match(key):
                verb = "add" if key not in old else "update"
                raise OneFailure(INTERNAL, f"Unable to {verb} {key}, update NIC to update network context")
            changed = True
    if append:
        return {**old, **new}, changed
    changed = changed or any(k not in new for k in old if k not in ("TARGET", "DISK_ID"))
    result = dict(new)
    if result.get("NETWORK", "").upper() == "YES":
        # oned regenerates the network context from the NICs, which updateconf does not change.
        result.update({k: v for k, v in old.items() if _ETH.match(k)})
    for key in ("TARGET", "DISK_ID"):
        result[key] = old.get(key, "")
    return result, changed


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
    append = update_type == 1
    old_context = _section(vm.template, "CONTEXT")
    context: dict[str, str] | None = None
    changed = False
    if "CONTEXT" in conf:
        if old_context is None:
            raise OneFailure(INTERNAL, "Virtual machine does not have context, cannot add a new one.")
        context, changed = _new_context(old_context, conf["CONTEXT"], append)
    # Checks done: from here on the VM document changes.
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
    if context is not None and old_context is not None:
        old_context.clear()  # in place: the CONTEXT keeps its position in the document
        old_context.update(sorted(context.items()))
    if changed and vm.state == S.ACTIVE and vm.lcm_state == A.RUNNING:
        api.lc.request(vm, "updateconf")
    vm.touch()
    return vid
