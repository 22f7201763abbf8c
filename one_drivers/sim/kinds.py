"""The object kinds of the simulated oned, as one table.

Each row says what oned calls the kind in its messages ("Error getting <noun> [id].", "perform USE
<acl> [id]", "NAME is already taken by <taken> <id>."), which `Cloud` pool holds it, its XML-RPC name
(`one.<method>.*`, `one.<method>pool.info`), the root of its pool document and its first free id.
The generic handlers of `methods.py` and the access checks of `access.py` read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    noun: str
    acl: str
    pool: str
    method: str
    root: str
    first_id: int
    taken: str = ""
    # The generic methods the kind has beyond info and pool info (see methods.GENERIC).
    ops: str = ""
    # The right that stands for "manage" (update, delete) on this kind: oned asks ADMIN for hosts.
    manage_op: int = 1
    # Whether the pool call pages (filter flag, start, end) or lists every visible object.
    paged: bool = False


KINDS = {
    k.name: k
    for k in (
        Kind("vm", "virtual machine", "VM", "vms", "vm", "VM_POOL", 0, "", "update chmod chown rename", paged=True),
        Kind("template", "virtual machine template", "TEMPLATE", "templates", "template", "VMTEMPLATE_POOL", 0, "TEMPLATE", "update delete chmod chown", paged=True),
        Kind("image", "image", "IMAGE", "images", "image", "IMAGE_POOL", 0, "IMAGE", "update delete chmod", paged=True),
        Kind("vnet", "virtual network", "NET", "vnets", "vn", "VNET_POOL", 0, "NET", "update delete chmod", paged=True),
        Kind("host", "host", "HOST", "hosts", "host", "HOST_POOL", 0, "HOST", "update delete", manage_op=2),
        Kind("user", "user", "USER", "users", "user", "USER_POOL", 2, "USER", "update"),
        Kind("group", "group", "GROUP", "groups", "group", "GROUP_POOL", 100),
        Kind("datastore", "datastore", "DATASTORE", "datastores", "datastore", "DATASTORE_POOL", 100),
        Kind("cluster", "cluster", "CLUSTER", "clusters", "cluster", "CLUSTER_POOL", 100),
        # oned keeps security group ids below 100 for its own (0 = default)
        Kind("secgroup", "security group", "SECGROUP", "secgroups", "secgroup", "SECURITY_GROUP_POOL", 100, "SecurityGroup", "update delete chmod chown rename", paged=True),
    )
}  # fmt: skip
