"""How the simulated oned makes a VM (one.vm.allocate, one.template.instantiate): the template split
into TEMPLATE and USER_TEMPLATE, image disks acquired, NIC leases taken, the context and the security
group rules written, as VirtualMachine::insert does it. The vector shapes are in `vm.yaml`.

`bulk_vms` fills the pool fast with VMs shaped like the recorded one, for tests and benchmarks.
"""

from __future__ import annotations

import uuid
from typing import Any

from one_drivers.one.states import ImageState, LcmState, VmState
from one_drivers.sim import access, model
from one_drivers.sim.access import USE
from one_drivers.sim.allocate import check_name, image_by_ref, ip_mac
from one_drivers.sim.cloud import Cloud, nic_security_groups, sg_ids
from one_drivers.sim.docs import offset_ip, offset_mac
from one_drivers.sim.model import Attrs, Image, User, Vm, data_attrs, fill, get_attr, leading_int, load_data
from one_drivers.sim.wire import INTERNAL, OneFailure

SHAPES: dict[str, Any] = load_data("vm.yaml")
VM_TEMPLATE_KEYS = frozenset(SHAPES["template_keys"])
Lease = tuple[model.AddressRange, int]


def image_disk(cloud: Cloud, img: Image, given: dict[str, str], disk_id: int) -> dict[str, str]:
    """The DISK vector of an image disk; what the user's DISK says (but the image reference) wins."""
    ds = cloud.datastores.get(img.datastore_id)
    prefix = get_attr(img.template, "DEV_PREFIX") or "hd"
    fields = {
        "img": img, "clone": "NO" if img.persistent else "YES", "save": "YES" if img.persistent else "NO",
        "state": ImageState.USED if img.state == ImageState.READY else img.state, "prefix": prefix,
        "disk_id": disk_id, "target": prefix + chr(ord("a") + disk_id), "tm_mad": ds.tm_mad if ds else "ssh",
    }  # fmt: skip
    disk = fill(SHAPES["image_disk"], fields)
    if img.persistent:
        disk["PERSISTENT"] = "YES"
    disk.update((k, v) for k, v in given.items() if k not in ("IMAGE_ID", "IMAGE", "IMAGE_UNAME"))
    return disk


def volatile_disk(given: dict[str, str], disk_id: int) -> dict[str, str]:
    return {"TYPE": "fs", "TARGET": "sd" + chr(ord("a") + disk_id), **given, "DISK_ID": str(disk_id)}


def _network(cloud: Cloud, user: User, nic: dict[str, str]) -> model.VNet:
    """The network a NIC names (VirtualNetworkPool::nic_attribute, with oned's errors): by NETWORK_ID, else
    by NETWORK among those of NETWORK_UID, NETWORK_UNAME or the user (VirtualMachineNic::get_uid)."""
    if ref := nic.get("NETWORK_ID", ""):
        vnet = cloud.vnets.get(int(ref)) if ref.isdigit() else None
        if vnet is None:
            raise OneFailure(INTERNAL, f"Virtual network with ID: {ref} does not exist")
        return vnet
    if uid_text := nic.get("NETWORK_UID", ""):
        if (number := leading_int(uid_text)) is None:
            raise OneFailure(INTERNAL, "Cannot get user in NETWORK_UID")
        uid = number
    elif uname := nic.get("NETWORK_UNAME", ""):
        if (owner := cloud.user_by_name(uname)) is None:
            raise OneFailure(INTERNAL, "User set in NETWORK_UNAME does not exist")
        uid = owner.id
    else:
        uid = user.id
    name = nic.get("NETWORK", "")
    vnet = next((v for v in cloud.vnets.values() if v.name == name and v.uid == uid), None)
    if vnet is None:
        raise OneFailure(
            INTERNAL,
            f"User {uid} does not own a network with name: {name} . Set NETWORK_UNAME or NETWORK_UID of owner in NIC.",
        )
    return vnet


def lease_nic(
    cloud: Cloud, user: User, nic: dict[str, str], vid: int, nic_id: int, leases: list[Lease]
) -> dict[str, str]:
    """A free address for the NIC (appended to `leases`, taken by the caller) and its NIC vector."""
    vnet = _network(cloud, user, nic)
    access.authorize(user, "vnet", vnet, USE)
    asked = set(nic_security_groups(nic))
    for sg in filter(None, map(cloud.secgroups.get, sorted(asked))):
        # oned authorizes USE on each group named on the NIC; a missing group is skipped.
        access.authorize(user, "secgroup", sg, USE)
    taken = {(id(r), o) for r, o in leases}
    wanted_ip = nic.get("IP", "")
    for rng in vnet.ars:
        for offset in range(rng.size):
            if (wanted_ip and offset_ip(rng.ip, offset) != wanted_ip) or offset in rng.leases:
                continue  # oned's allocate_by_ip: that address or nothing
            if (id(rng), offset) in taken:
                continue
            leases.append((rng, offset))
            groups = asked | set(sg_ids(get_attr(vnet.template, "SECURITY_GROUPS") or "0"))
            fields = {
                "vnet": vnet, "ar": rng, "cluster_id": vnet.cluster_ids[0] if vnet.cluster_ids else 0,
                "ip": offset_ip(rng.ip, offset), "mac": offset_mac(rng.mac, offset), "nic_id": nic_id,
                "vid": vid, "groups": ",".join(map(str, sorted(groups))),
            }  # fmt: skip
            out = fill(SHAPES["nic"], fields)
            skip = ("NETWORK_ID", "NETWORK", "NETWORK_UNAME", "SECURITY_GROUPS", "IP")
            out.update((k, v) for k, v in nic.items() if k not in skip)
            return out
    raise OneFailure(INTERNAL, f"Cannot get IP/MAC lease from virtual network {vnet.id}.")


def _check_capacity(attrs: Attrs) -> None:
    for name, read, kind in (("MEMORY", int, "integer"), ("CPU", float, "float or integer")):
        value = get_attr(attrs, name)
        if value is None and name == "CPU":
            continue  # CPU may be left out, MEMORY not
        try:
            ok = value is not None and read(value) > 0
        except ValueError:
            ok = False
        if not ok:
            raise OneFailure(INTERNAL, f"{name} attribute must be a positive {kind} value.")


def _context(context: dict[str, str], disk_id: int, nics: list[dict[str, str]]) -> dict[str, str]:
    ctx = {**context, "DISK_ID": str(disk_id)}
    ctx.setdefault("TARGET", "hda")
    for n, nic in enumerate(nics):
        for field in SHAPES["context_nic_fields"]:
            ctx.setdefault(f"ETH{n}_{field}", "")
        ctx[f"ETH{n}_IP"], ctx[f"ETH{n}_MAC"] = nic.get("IP", ""), nic.get("MAC", "")
    return ctx


def build_vm(
    cloud: Cloud, user: User, attrs: Attrs, hold: bool, template_id: int | None = None, name: str = ""
) -> Vm:
    """oned's VM allocate: check, split TEMPLATE/USER_TEMPLATE, expand disks/NICs/context."""
    access.authorize_create(user, "vm")
    vid = cloud.next_id["vm"]
    vm_name = name or get_attr(attrs, "NAME") or f"one-{vid}"
    check_name(vm_name)  # VirtualMachine::insert checks the name first
    _check_capacity(attrs)
    tmpl: Attrs = [(k, v) for k, v in attrs if k in VM_TEMPLATE_KEYS]
    user_tmpl: Attrs = [(k, v) for k, v in attrs if k not in VM_TEMPLATE_KEYS and k != "NAME"]
    if hold:
        model.set_attr(tmpl, "SUBMIT_ON_HOLD", "YES")
    if template_id is not None:
        tmpl.append(("TEMPLATE_ID", str(template_id)))
    tmpl.append(("VMID", str(vid)))
    expanded: Attrs = []
    images: list[Image] = []
    leases: list[Lease] = []
    nics: list[dict[str, str]] = []
    disk_id = 0
    for key, value in tmpl:
        if key == "DISK" and isinstance(value, dict):
            if "IMAGE_ID" in value or "IMAGE" in value:
                img = image_by_ref(cloud, user, value)
                access.authorize(user, "image", img, USE)
                cloud.image_store.check_acquire(img, attach=False)
                images.append(img)
                value = image_disk(cloud, img, value, disk_id)
            else:
                value = volatile_disk(value, disk_id)
            disk_id += 1
        elif key == "NIC" and isinstance(value, dict):
            value = lease_nic(cloud, user, dict(value), vid, len(nics), leases)
            nics.append(value)
        elif key == "GRAPHICS" and isinstance(value, dict):
            value = {**value, "PORT": value.get("PORT", str(5900 + vid))}
        elif key == "CONTEXT":
            continue
        expanded.append((key, value))
    context = next((v for k, v in tmpl if k == "CONTEXT" and isinstance(v, dict)), None)
    if context is not None:
        expanded.append(("CONTEXT", _context(context, disk_id, nics)))
    groups = sorted({sg for nic in nics for sg in nic_security_groups(nic)})
    expanded.extend(("SECURITY_GROUP_RULE", rule) for rule in cloud.security_group_rules(groups))
    expanded.append(("AUTOMATIC_DS_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
    if nics:
        expanded.append(("AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
    public = any(k == "PUBLIC_CLOUD" for k, _ in user_tmpl)
    cloud_part = "(PUBLIC_CLOUD = YES)" if public else "!(PUBLIC_CLOUD = YES)"
    expanded.append(("AUTOMATIC_REQUIREMENTS", f"(CLUSTER_ID = 0) & {cloud_part} & !(PIN_POLICY = PINNED)"))
    if not any(k == "OS" for k, _ in expanded):
        expanded.append(("OS", {"UUID": str(uuid.uuid4())}))
    state = VmState.HOLD if hold else VmState.PENDING
    vm = _new_vm(cloud, user, vm_name, state, LcmState.LCM_INIT, template=expanded, user_template=user_tmpl)
    for img in images:
        cloud.image_store.acquire(img, vid, attach=False)
    for rng, offset in leases:
        rng.leases[offset] = vid
    for sg in filter(None, map(cloud.secgroups.get, groups)):
        if vid not in sg.updated:
            sg.updated.append(vid)
    return vm


def _new_vm(cloud: Cloud, user: User, name: str, state: VmState, lcm: LcmState, **fields: Any) -> Vm:
    """The VM in the pool under the next id, in `state`/`lcm` since now (`fields`: its templates)."""
    states: dict[str, Any] = {"state": state, "prev_state": state, "lcm_state": lcm, "prev_lcm_state": lcm}
    return cloud.add("vm", Vm, user, name, stime=cloud.now(), **states, **fields)


def bulk_vms(
    cloud: Cloud,
    count: int,
    *,
    uid: int = 0,
    state: VmState = VmState.PENDING,
    lcm: LcmState = LcmState.LCM_INIT,
    name_prefix: str = "bulk",
    host_id: int | None = None,
) -> list[int]:
    """Create `count` VMs straight in the pool (no drivers, no scheduler); returns their ids.

    Each VM is vm.yaml's `bulk` one (the recorded template instantiated: a disk, a NIC, context,
    VNC), so its documents have the recorded sizes (~3.5 KB full, ~1 KB reduced). With `host_id` the
    VMs get a history record on that host (use it with ACTIVE/RUNNING)."""
    shape, given = data_attrs(SHAPES["bulk"]["template"]), data_attrs(SHAPES["bulk"]["user_template"])
    user = cloud.users[uid]
    host = cloud.hosts.get(host_id) if host_id is not None else None
    ids = range(cloud.next_id["vm"], cloud.next_id["vm"] + count)  # each VM takes the next id
    for vid in ids:
        ip = f"10.{(vid >> 16) & 255}.{(vid >> 8) & 255}.{vid & 255}"
        fields = {"vid": vid, "ip": ip, "mac": ip_mac(ip), "port": 5900 + vid, "uuid": uuid.uuid4()}
        tmpl: Attrs = [
            (k, fill(v, fields) if isinstance(v, dict) else v.format_map(fields) if "{" in v else v)
            for k, v in shape
        ]
        vm = _new_vm(cloud, user, f"{name_prefix}-{vid}", state, lcm, template=tmpl, user_template=[*given])
        if host is not None:
            record = model.History(0, host.name, host.id, host.cluster_id, vm.stime, host.vm_mad, "ssh", 0)
            record.pstime = record.petime = record.rstime = vm.stime
            vm.history.append(record)
            vm.deploy_id = f"{host.name}:{vm.name}:dummy"
    return list(ids)
