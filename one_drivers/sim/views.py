"""What each kind's info document shows: the object as `docs.py` renders it, with what oned joins in
from other pools (a group's users, a cluster's hosts, a host's running VMs and their capacity, a
datastore's images, a template's image disks when extended).

`DOCS[kind](cloud, user, obj, in_pool, flag)` is the body of `one.<kind>.info` and of each object in
`one.<kind>pool.info`; `POOL_DOCS` holds the pools whose document is not those bodies joined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from one_drivers.one.states import VmState
from one_drivers.sim import allocate, docs, instantiate
from one_drivers.sim.auth import encrypt_attribute
from one_drivers.sim.cloud import Cloud
from one_drivers.sim.docs import render
from one_drivers.sim.model import Attrs, Group, Host, User, VmTemplate, get_attr
from one_drivers.sim.wire import OneFailure

# oned.conf HOST_ENCRYPTED_ATTR: host attributes a host document carries encrypted unless decrypted.
HOST_ENCRYPTED_ATTRS = frozenset(docs.ONED_CONF["HOST_ENCRYPTED_ATTR"])


def _group_body(cloud: Cloud, group: Group) -> str:
    return render("group", group, members=sorted(u.id for u in cloud.users.values() if group.id in u.groups))


def _host_doc(cloud: Cloud, user: User, host: Host, pool: bool, decrypt: bool) -> str:
    vms = [
        v for v in cloud.vms.values() if v.state == VmState.ACTIVE and v.current and v.current.hid == host.id
    ]
    mem = sum(int(float(get_attr(v.template, "MEMORY") or 0)) * 1024 for v in vms)
    cpu = sum(int(float(get_attr(v.template, "CPU") or 0) * 100) for v in vms)
    template = host.template
    if not decrypt:
        key = cloud.users[0].password
        template = [
            (k, encrypt_attribute(key, v) if k in HOST_ENCRYPTED_ATTRS and isinstance(v, str) else v)
            for k, v in template
        ]
    return docs.host_xml(host, sorted(v.id for v in vms), mem, cpu, template, pool)


def _template_doc(cloud: Cloud, user: User, tmpl: VmTemplate, pool: bool, extended: bool) -> str:
    """With `extended`, image disks as the VM would get them (VirtualMachineDisks::extended_info)."""
    if not extended:
        return render("VMTEMPLATE", tmpl)
    attrs: Attrs = []
    disk_id = 0
    for key, value in tmpl.template:
        if key == "DISK" and isinstance(value, dict) and ("IMAGE_ID" in value or "IMAGE" in value):
            try:
                value = instantiate.image_disk(
                    cloud, allocate.image_by_ref(cloud, user, value), value, disk_id
                )
                value.pop("TARGET", None)
            except OneFailure:
                pass
            disk_id += 1
        attrs.append((key, value))
    return render("VMTEMPLATE", tmpl, template=attrs)


Doc = Callable[[Cloud, User, Any, bool, bool], Any]
DOCS: dict[str, Doc] = {
    "user": lambda cloud, user, u, pool, flag: docs.with_quotas("USER", docs.user_body(u)),
    "group": lambda cloud, user, g, pool, flag: docs.with_quotas("GROUP", _group_body(cloud, g)),
    "cluster": lambda cloud, user, c, pool, flag: render(
        "CLUSTER",
        c,
        hosts=sorted(h.id for h in cloud.hosts.values() if h.cluster_id == c.id),
        datastores=sorted(d.id for d in cloud.datastores.values() if c.id in d.cluster_ids),
        vnets=sorted(v.id for v in cloud.vnets.values() if c.id in v.cluster_ids),
    ),
    "datastore": lambda cloud, user, ds, pool, flag: render(
        "DATASTORE", ds, images=sorted(i.id for i in cloud.images.values() if i.datastore_id == ds.id)
    ),
    "host": _host_doc,
    "vnet": lambda cloud, user, vnet, pool, flag: docs.vnet_xml(vnet, pool),
    "template": _template_doc,
    "image": lambda cloud, user, img, pool, flag: render("IMAGE", img, running_vms=len(img.vms)),
    "vm": lambda cloud, user, vm, pool, flag: docs.vm_info_wire(vm),
    "secgroup": lambda cloud, user, sg, pool, flag: render("SECURITY_GROUP", sg),
}
POOL_DOCS: dict[str, Callable[[Cloud, list[Any]], Any]] = {
    "user": lambda cloud, users: docs.pool_with_quotas("USER", ((u.id, docs.user_body(u)) for u in users)),
    "group": lambda cloud, groups: docs.pool_with_quotas(
        "GROUP", ((g.id, _group_body(cloud, g)) for g in groups)
    ),
}
