"""How the simulated oned makes objects: the checks and defaults of each kind's allocate (users, hosts,
datastores, templates, images, networks and their address ranges). VMs are made in `instantiate.py`.

Functions take the `Cloud` (called under its lock) and raise `OneFailure` with oned's messages.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from one_drivers.one.states import DatastoreType, ImageType
from one_drivers.sim import access, auth, model
from one_drivers.sim.access import USE
from one_drivers.sim.cloud import Cloud, parse_text, sg_ids
from one_drivers.sim.model import GROUP_USE_PERMS, Attrs, User, fill, get_attr, load_data
from one_drivers.sim.storage import Copy
from one_drivers.sim.wire import ALLOCATE, INTERNAL, OneFailure

# What a new datastore's and network's templates get where the user's leave them out.
DEFAULTS = load_data("bootstrap.yaml")


def _with_defaults(attrs: Attrs, defaults: dict[str, str]) -> None:
    attrs.extend((key, value) for key, value in defaults.items() if get_attr(attrs, key) is None)


def _named(attrs: Attrs, message: str) -> tuple[str, Attrs]:
    name = get_attr(attrs, "NAME") or ""
    if not name:
        raise OneFailure(INTERNAL, message)
    return name, [(k, v) for k, v in attrs if k != "NAME"]


# PoolObjectSQL::name_is_valid
INVALID_NAME_CHARS = "&|:\\\";/'#{}$<>\t\n\v\f\r"


def check_name(name: str, code: int = INTERNAL, extra: str = "") -> None:
    if not name:
        raise OneFailure(code, "Invalid NAME, it cannot be empty")
    bad = next((c for c in name if c in INVALID_NAME_CHARS + extra), None)
    if bad is not None:
        raise OneFailure(code, f"Invalid NAME, char '{bad}' is not allowed")
    if len(name) > 128:
        raise OneFailure(code, "Invalid NAME, max length is 128 chars")


# --- users and hosts ----------------------------------------------------------------------------------
def allocate_user(cloud: Cloud, name: str, password: str, driver: str, groups: list[int]) -> User:
    try:
        check_name(name, extra=" ")  # User::INVALID_NAME_CHARS adds the space
    except OneFailure as exc:
        raise OneFailure(INTERNAL, f"{exc.message}.") from None  # UserPool::allocate ends it with a period
    cloud.check_name_free("user", name, -1)
    gid = groups[0] if groups else 1
    group = cloud.get("group", gid)
    driver = driver or "core"
    stored = auth.hash_password(password, cloud.scheme) if driver in ("core", "server_cipher") else password
    user = User(cloud.take_id("user"), name, gid, group.name, stored, driver, sorted(set(groups or [gid])))
    user.template.append(("TOKEN_PASSWORD", auth.hash_password(stored, cloud.scheme)))
    cloud.users[user.id] = user
    return user


def set_password(cloud: Cloud, user: User, password: str) -> None:
    public = user.auth_driver == "public"
    user.password = password if public else auth.hash_password(password, cloud.scheme)


def allocate_host(cloud: Cloud, name: str, im_mad: str, vm_mad: str, cluster_id: int) -> model.Host:
    cluster = cloud.get("cluster", 0 if cluster_id == -1 else cluster_id)
    cloud.check_name_free("host", name, -1)
    host = model.Host(cloud.take_id("host"), name, im_mad, vm_mad, cluster.id, cluster.name)
    host.template = [("IM_MAD", im_mad), ("VM_MAD", vm_mad), ("RESERVED_CPU", ""), ("RESERVED_MEM", "")]
    cloud.hosts[host.id] = host
    return host


# --- datastores ---------------------------------------------------------------------------------------
def allocate_datastore(cloud: Cloud, user: User, attrs: Attrs, cluster_id: int = 0) -> model.Datastore:
    name, tmpl = _named(attrs, "No NAME in template for Datastore.")
    # IMAGE_DS unless SYSTEM_DS or FILE_DS is asked for (the simulator has no backup datastores)
    asked = (get_attr(attrs, "TYPE") or "").upper()
    dtype = DatastoreType[asked] if asked in ("SYSTEM_DS", "FILE_DS") else DatastoreType.IMAGE_DS
    ds_mad = get_attr(attrs, "DS_MAD") or "-"
    tm_mad = get_attr(attrs, "TM_MAD") or "ssh"
    shapes = DEFAULTS["new_datastore"]
    defaults = {**shapes["all"], **shapes[dtype.name]}
    if tm_mad == "dummy":
        defaults.update((k, v) for k, v in shapes["dummy"].items() if k in defaults)
    _with_defaults(tmpl, fill(defaults, {"tm_mad": tm_mad, "ds_mad": ds_mad, "type": dtype.name}))
    path = f"/var/lib/one//datastores/{cloud.next_id['datastore']}"
    fields: dict[str, Any] = {"perms": GROUP_USE_PERMS, "ds_mad": ds_mad, "tm_mad": tm_mad, "base_path": path}
    space = {"type": int(dtype), "cluster_ids": [max(cluster_id, 0)], "total_mb": 20480, "free_mb": 20480}
    return cloud.add("datastore", model.Datastore, user, name, template=tmpl, **fields, **space)


# --- templates and images -----------------------------------------------------------------------------
def allocate_template(cloud: Cloud, user: User, text: str) -> model.VmTemplate:
    access.authorize_create(user, "template")
    attrs = parse_text(text)
    name = get_attr(attrs, "NAME") or ""
    check_name(name)  # VMTemplatePool::allocate: a template has a valid NAME, unique for its owner
    cloud.check_name_free("template", name, user.id)
    tmpl = [(k, v) for k, v in attrs if k != "NAME"]
    return cloud.add("template", model.VmTemplate, user, name, regtime=cloud.now(), template=tmpl)


# Image attributes oned keeps as the image's own fields rather than in its TEMPLATE.
IMAGE_FIELDS = frozenset({"NAME", "TYPE", "PERSISTENT", "PATH", "SIZE", "SOURCE", "FORMAT", "FS"})


# ImagePool::allocate: the datastore type each image type is registered in, and the refusal elsewhere
_IMAGE_HOME = {
    name: (home, refusal)
    for names, home, refusal in (
        ("OS DATABLOCK CDROM", DatastoreType.IMAGE_DS, "Only IMAGES of type KERNEL, RAMDISK and CONTEXT can be registered in a FILE_DS datastore"),
        ("KERNEL RAMDISK CONTEXT", DatastoreType.FILE_DS, "IMAGES of type KERNEL, RAMDISK and CONTEXT cannot be registered in an IMAGE_DS datastore"),
        ("BACKUP", DatastoreType.BACKUP_DS, "IMAGES of type BACKUP can only be registered in an BACKUP_DS datastore"),
    )
    for name in names.split()
}  # fmt: skip


def _not_allocated(message: str) -> OneFailure:
    return OneFailure(ALLOCATE, f"Error allocating a new image. {message}")


def allocate_image(cloud: Cloud, user: User, text: str, ds_id: int, copy: bool = True) -> model.Image:
    """A new image, LOCKED until the datastore has copied it in (`copy=False`: the caller starts
    the copy, as clone and disk save-as do). Checked in ImageAllocate's order: the datastore, the
    SIZE, the rights, then the pool's checks of name, type and datastore type."""
    attrs = parse_text(text)
    ds = cloud.get("datastore", ds_id)
    if ds.type not in (DatastoreType.IMAGE_DS, DatastoreType.FILE_DS):
        raise _not_allocated("New images can only be allocated in a files or image datastore.")
    asked = get_attr(attrs, "TYPE") or ""
    datablock = get_attr(attrs, "SIZE") and not get_attr(attrs, "PATH")
    type_name = (asked or ("DATABLOCK" if datablock else "OS")).upper()
    # oned's str_to_type reads an unknown name as OS until Image::insert refuses it
    family = type_name if type_name in ImageType.__members__ else "OS"
    size_text = get_attr(attrs, "SIZE") or ""
    whole = re.fullmatch(r"\s*[-+]?[0-9]+", size_text)
    if size_text and not whole and (get_attr(attrs, "SOURCE") or not get_attr(attrs, "PATH")):
        raise OneFailure(INTERNAL, "Cannot parse image SIZE: Wrong number or missing SIZE attribute.")
    access.authorize_create(user, "image")
    access.authorize(user, "datastore", ds, USE)
    name = get_attr(attrs, "NAME") or ""
    try:
        check_name(name)
    except OneFailure as exc:
        raise _not_allocated(exc.message) from None
    home, refusal = _IMAGE_HOME[family]
    if ds.type != home:
        raise _not_allocated(refusal)
    taken = cloud.name_holder("image", name, user.id)
    if taken is not None:
        raise _not_allocated(f"NAME is already taken by IMAGE {taken}.")
    if type_name != family:
        # Image::set_type appends the current type (OS, 0) to the literal as a pointer offset
        raise _not_allocated("Unknown type ")
    tmpl = [(k, v) for k, v in attrs if k not in IMAGE_FIELDS]
    _with_defaults(tmpl, {"DEV_PREFIX": "sd" if type_name == "DATABLOCK" else "hd"})
    size = int(size_text) if whole else 0
    img = cloud.add(
        "image", model.Image, user, name, type=ImageType[type_name], regtime=cloud.now(), size=size
    )
    img.persistent = int((get_attr(attrs, "PERSISTENT") or "NO").upper() in ("YES", "1", "TRUE"))
    img.source = get_attr(attrs, "SOURCE") or f"{ds.base_path}/{uuid.uuid4().hex}"
    img.path, img.fs = get_attr(attrs, "PATH") or "", get_attr(attrs, "FS") or ""
    img.format = get_attr(attrs, "FORMAT") or "raw"
    img.datastore_id, img.datastore, img.template = ds.id, ds.name, tmpl
    if copy:
        cloud.image_store.start(Copy(img.id))
    return img


def image_by_ref(cloud: Cloud, user: User, vec: dict[str, str]) -> model.Image:
    """The image a DISK names by IMAGE_ID, or by IMAGE (and IMAGE_UNAME, else the user's own)."""
    if "IMAGE_ID" in vec:
        try:
            iid = int(vec["IMAGE_ID"])
        except ValueError as exc:
            raise OneFailure(INTERNAL, f"Wrong IMAGE_ID {vec['IMAGE_ID']}.") from exc
        img = cloud.images.get(iid)
        if img is None:
            raise OneFailure(INTERNAL, f"Error getting image [{iid}].", -1)
        return img
    name, uname = vec["IMAGE"], vec.get("IMAGE_UNAME", user.name)
    for img in cloud.images.values():
        if img.name == name and img.uname == uname:
            return img
    raise OneFailure(INTERNAL, f"Error getting image named {name}.")


# --- virtual networks ---------------------------------------------------------------------------------
def allocate_vnet(cloud: Cloud, user: User, text: str, cluster_id: int) -> model.VNet:
    access.authorize_create(user, "vnet")
    name, attrs = _named(parse_text(text), "No NAME in template for Virtual Network.")
    cloud.check_name_free("vnet", name, user.id)
    tmpl = [(k, v) for k, v in attrs if k != "AR"]
    # oned adds the default group 0 to whatever groups the network names.
    given_sgs = get_attr(tmpl, "SECURITY_GROUPS")
    if given_sgs is not None:
        tmpl = [(k, v) for k, v in tmpl if k != "SECURITY_GROUPS"]
        tmpl.append(("SECURITY_GROUPS", ",".join(str(g) for g in sorted({*sg_ids(given_sgs), 0}))))
    bridge = get_attr(tmpl, "BRIDGE") or f"onebr{cloud.next_id['vnet']}"
    _with_defaults(tmpl, fill(DEFAULTS["new_vnet"], {"bridge": bridge}))
    fields: dict[str, Any] = {"bridge": bridge, "vn_mad": get_attr(tmpl, "VN_MAD") or "dummy"}
    vnet = cloud.add(
        "vnet", model.VNet, user, name, cluster_ids=[max(cluster_id, 0)], template=tmpl, **fields
    )
    for ar in (v for k, v in attrs if k == "AR" and isinstance(v, dict)):
        add_ar(vnet, ar)
    return vnet


def ip_mac(ip: str) -> str:
    """The MAC oned derives from an IPv4 address: its MAC_PREFIX 02:00, then the address's four bytes."""
    return "02:00:" + ":".join(f"{int(p):02x}" for p in ip.split("."))


def add_ar(vnet: model.VNet, ar: dict[str, str]) -> model.AddressRange:
    ip = ar.get("IP", "10.0.0.1")
    mac = ar.get("MAC") or ip_mac(ip)
    ar_id = max((a.ar_id for a in vnet.ars), default=-1) + 1
    rng = model.AddressRange(ar_id, ip, mac, int(ar.get("SIZE", "1")), ar.get("TYPE", "IP4"))
    vnet.ars.append(rng)
    return rng
