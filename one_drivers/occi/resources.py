"""What each OCCI request does in OpenNebula, acting as the authenticated user.

One function per (resource, verb), taking typed request documents (documents.py, or the OGF parser)
and returning a `Reply` of records; the app renders it. Behaviour follows upstream's OCCI server
(OpenNebula 4.x): COMPUTE state changes through PUT, one SAVE_AS per request, attach/detach through
`POST /compute/<id>/action`, PUBLIC = usable by the group, PERSISTENT through `image.persistent`. Every
user-supplied value reaches oned only through `one.template`'s escaping.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from one_drivers.occi.config import InstanceType, OcciConfig
from one_drivers.occi.documents import ActionDoc, ComputeDoc, NetworkDoc, StorageDoc
from one_drivers.occi.errors import BadRequest, Forbidden, NotFound
from one_drivers.occi.views import Collection, Entity, Nothing, Reply
from one_drivers.one.gateway import OneFault, OneGateway
from one_drivers.one.records import (
    ImageRecord,
    VmRecord,
    VnetRecord,
)
from one_drivers.one.states import VmState
from one_drivers.one.template import Template, TemplateError, build_template, check_name, format_attribute

log = logging.getLogger(__name__)

ALL_RESOURCES = -2  # pool filter: everything the user may see, as upstream's INFO_ALL
TEMPLATE_TYPE_ATTR = "EC2_INSTANCE_TYPE"  # econe's tag: one set of instance types for both services
_ACTIVE = VmState.ACTIVE.name


@dataclass(frozen=True)
class StateChange:
    """An OCCI STATE a client may ask for: the states it may come from and oned's action for it."""

    sources: frozenset[str]
    action: str  # one.vm.action name (5.0+ spelling); "" = delete the VM


# Upstream's OCCI_ACTION table, with OpenNebula 5+ action names (cancel/shutdown/reset/finalize were
# renamed terminate-hard/terminate/reboot-hard/delete in 5.0).
STATE_CHANGES: dict[str, StateChange] = {
    "STOPPED": StateChange(frozenset({_ACTIVE}), "stop"),
    "SUSPENDED": StateChange(frozenset({_ACTIVE}), "suspend"),
    "RESUME": StateChange(frozenset({"STOPPED", "SUSPENDED", "POWEROFF", "UNDEPLOYED"}), "resume"),
    "CANCEL": StateChange(frozenset({_ACTIVE}), "terminate-hard"),
    "SHUTDOWN": StateChange(frozenset({_ACTIVE}), "terminate"),
    "REBOOT": StateChange(frozenset({_ACTIVE}), "reboot"),
    "RESET": StateChange(frozenset({_ACTIVE}), "reboot-hard"),
    "POWEROFF": StateChange(frozenset({_ACTIVE}), "poweroff"),
    "DONE": StateChange(frozenset(s.name for s in VmState), ""),
}
IMAGE_TYPES = ("OS", "CDROM", "DATABLOCK")
YES_NO = ("YES", "NO")


@dataclass(frozen=True)
class Upload:
    """The image file of a POST /storage, already streamed into tmpdir."""

    path: str
    filename: str
    size: int


@dataclass
class OcciContext:
    """One request's view: the user (name, id), their gateway, the server admin's, the config."""

    user: str
    user_id: int
    one: OneGateway
    config: OcciConfig
    request_id: str = "-"


def _template(attributes: list[tuple[str, str | dict[str, str]]]) -> str:
    try:
        return build_template(attributes)
    except TemplateError as exc:
        raise BadRequest(f"A value in the request cannot be stored: {exc}") from None


def _number(value: str | None, what: str, *, minimum: int = 0) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{what} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise BadRequest(f"{what} must be at least {minimum}")
    return number


def _yes_no(value: str | None, what: str) -> bool | None:
    if value is None:
        return None
    if value not in YES_NO:
        raise BadRequest(f"{what} must be YES or NO, not {value!r}")
    return value == "YES"


def _group_use(public: bool) -> tuple[int, ...]:
    """chmod bits that publish (group may use) or unpublish, leaving the rest as they are."""
    bit = 1 if public else 0
    return (-1, -1, -1, bit, -1, -1, -1, -1, -1)


# --- compute -------------------------------------------------------------------------------------
def list_computes(ctx: OcciContext, verbose: bool) -> Reply:
    if verbose:
        try:
            vms = ctx.one.vmpool_infoextended(ALL_RESOURCES)
        except OneFault:
            vms = ctx.one.vmpool_info(ALL_RESOURCES)  # before 5.12 vmpool.info had the full bodies
    else:
        vms = ctx.one.vmpool_info(ALL_RESOURCES)
    return Reply(200, Collection("compute", tuple(vms), verbose))


def _vm(ctx: OcciContext, vm_id: int) -> VmRecord:
    return ctx.one.vm_info(vm_id)


def show_compute(ctx: OcciContext, vm_id: int) -> Reply:
    return Reply(200, Entity("compute", _vm(ctx, vm_id)))


def template_types(ctx: OcciContext) -> dict[str, InstanceType]:
    """Instance types defined as econe's are: the first VM template (lowest id) the user may see that is
    tagged EC2_INSTANCE_TYPE=<type>. A type of the config file with the same name wins."""
    found: dict[str, InstanceType] = {}
    for tmpl in sorted(ctx.one.templatepool_info(ALL_RESOURCES), key=lambda t: t.id):
        name = tmpl.template.get(TEMPLATE_TYPE_ATTR)
        if not name or name in found or name in ctx.config.instance_types:
            continue
        attributes = tuple((k, v) for k in ("CPU", "MEMORY") if (v := tmpl.template.get(k)))
        found[name] = InstanceType(name=name, template=Template(), attributes=attributes, template_id=tmpl.id)
    return found


def resolve_instance_type(ctx: OcciContext, name: str | None) -> InstanceType:
    if not name:
        raise BadRequest("Bad instance type: the COMPUTE has no INSTANCE_TYPE")
    itype = ctx.config.instance_types.get(name) or template_types(ctx).get(name)
    if itype is None:
        known = sorted({*ctx.config.instance_types, *template_types(ctx)})
        raise BadRequest(f"Bad instance type {name!r}: not one of {', '.join(known)}")
    return itype


def compute_template(doc: ComputeDoc, itype: InstanceType, *, with_name: bool = True) -> str:
    """The VM template: the instance type's text, then what the COMPUTE asks for (upstream's common.erb)."""
    attrs: list[tuple[str, str | dict[str, str]]] = []
    if doc.name and with_name:
        attrs.append(("NAME", doc.name))
    asked = {k for k, _ in attrs}
    for disk in doc.disks:
        if disk.storage_id is None:
            raise BadRequest("Each DISK needs a STORAGE href")
        vector = {"IMAGE_ID": str(disk.storage_id)}
        if disk.target:
            vector["TARGET"] = disk.target
        attrs.append(("DISK", vector))
    for nic in doc.nics:
        if nic.network_id is None:
            raise BadRequest("Each NIC needs a NETWORK href")
        vector = {"NETWORK_ID": str(nic.network_id)}
        if nic.ip:
            vector["IP"] = nic.ip
        if nic.mac:
            vector["MAC"] = nic.mac
        attrs.append(("NIC", vector))
    if doc.context:
        context: dict[str, str] = {}
        for name, value in doc.context:
            try:
                context[check_name(name)] = value
            except TemplateError as exc:
                raise BadRequest(f"CONTEXT: {exc}") from None
        attrs.append(("CONTEXT", context))
    attrs.append(("INSTANCE_TYPE", itype.name))
    asked.update(k for k, _ in attrs)
    # The instance type's own attributes, except those the request sets (NAME, INSTANCE_TYPE...).
    base = [(k, v) for k, v in itype.template if k not in asked or k in ("DISK", "NIC")]
    return _template(base + attrs)


def create_compute(ctx: OcciContext, doc: ComputeDoc) -> Reply:
    itype = resolve_instance_type(ctx, doc.instance_type)
    if itype.template_id is not None:
        try:
            format_attribute("NAME", doc.name or "")
        except TemplateError as exc:
            raise BadRequest(f"A value in the request cannot be stored: {exc}") from None
        extra = compute_template(doc, itype, with_name=False)
        vm_id = ctx.one.template_instantiate(itype.template_id, doc.name or "", False, extra)
    else:
        vm_id = ctx.one.vm_allocate(compute_template(doc, itype))
    log.info("compute %d created for %s (type %s)", vm_id, ctx.user, itype.name)
    return Reply(201, Entity("compute", _vm(ctx, vm_id)))


def delete_compute(ctx: OcciContext, vm_id: int) -> Reply:
    _vm(ctx, vm_id)  # 404 for an unknown id before anything else
    ctx.one.vm_action("terminate-hard", vm_id)
    return Reply(204, Nothing())


def change_state(ctx: OcciContext, vm: VmRecord, wanted: str) -> bool:
    """Do what STATE=`wanted` asks; False when nothing was to be done (already there)."""
    current = vm.state.name
    change = STATE_CHANGES.get(wanted)
    if change is None:
        if wanted in VmState.__members__:
            return False  # a plain state name is a no-op, as upstream treated it
        raise BadRequest(f'Invalid state: "{wanted}"')
    if wanted == current:
        return False  # already there (DONE included: nothing left to delete)
    if current not in change.sources:
        raise Forbidden(f"The state of the resource cannot be changed from {current} to {wanted}.")
    ctx.one.vm_action(change.action or "terminate-hard", vm.id)
    return True


def update_compute(ctx: OcciContext, vm_id: int, doc: ComputeDoc) -> Reply:
    vm = _vm(ctx, vm_id)
    saves = [d for d in doc.disks if d.save_as]
    if len(saves) > 1:
        raise Forbidden("Only one disk can be saved per request")
    if saves and doc.state and STATE_CHANGES.get(doc.state) and doc.state != vm.state.name:
        raise Forbidden(
            "Changing the state of the resource and saving a disk is not allowed in the same request"
        )
    acted = False
    if saves:
        disk = saves[0]
        if disk.disk_id is None:
            raise BadRequest("The DISK with a SAVE_AS needs its id attribute")
        assert disk.save_as is not None
        try:
            format_attribute("NAME", disk.save_as)  # refuse what no template could carry
        except TemplateError as exc:
            raise BadRequest(f"SAVE_AS name: {exc}") from None
        image_id = ctx.one.vm_disksaveas(vm_id, disk.disk_id, disk.save_as)
        log.info("compute %d disk %d saved as image %d", vm_id, disk.disk_id, image_id)
        acted = True
    elif doc.state:
        acted = change_state(ctx, vm, doc.state)
    return Reply(202 if acted else 200, Entity("compute", _vm(ctx, vm_id)))


def compute_action(ctx: OcciContext, vm_id: int, action: ActionDoc) -> Reply:
    """attachdisk / detachdisk (upstream 4.x) and attachnic / detachnic (the same shape for NICs)."""
    _vm(ctx, vm_id)
    if action.perform == "attachdisk":
        if action.storage_id is None:
            raise BadRequest("You have to specify a STORAGE to be attached")
        disk = {"IMAGE_ID": str(action.storage_id)}
        if action.target:
            disk["TARGET"] = action.target
        else:
            disk["DEV_PREFIX"] = "sd"
        ctx.one.vm_attach(vm_id, _template([("DISK", disk)]))
    elif action.perform == "detachdisk":
        if action.disk_id is None:
            raise BadRequest("You have to specify a DISK to be detached")
        ctx.one.vm_detach(vm_id, action.disk_id)
    elif action.perform == "attachnic":
        if action.network_id is None:
            raise BadRequest("You have to specify a NETWORK to be attached")
        nic = {"NETWORK_ID": str(action.network_id)}
        if action.ip:
            nic["IP"] = action.ip
        ctx.one.vm_attachnic(vm_id, _template([("NIC", nic)]))
    elif action.perform == "detachnic":
        if action.nic_id is None:
            raise BadRequest("You have to specify a NIC to be detached")
        ctx.one.vm_detachnic(vm_id, action.nic_id)
    else:
        raise Forbidden(f"Action {action.perform} not supported")
    return Reply(202, Entity("compute", _vm(ctx, vm_id)))


# --- network -------------------------------------------------------------------------------------
def list_networks(ctx: OcciContext, verbose: bool) -> Reply:
    nets = ctx.one.vnpool_info(ALL_RESOURCES)
    return Reply(200, Collection("network", tuple(nets), verbose))


def _vnet(ctx: OcciContext, vn_id: int) -> VnetRecord:
    return ctx.one.vn_info(vn_id)


def show_network(ctx: OcciContext, vn_id: int) -> Reply:
    return Reply(200, Entity("network", _vnet(ctx, vn_id)))


def address_range(address: str | None, size: str | None) -> dict[str, str]:
    """ADDRESS/SIZE -> an IPv4 AR. A network address (x.y.z.0) leases from .1, as 4.x ranged nets did;
    without SIZE a class C (254 leases), upstream's default."""
    if not address:
        raise BadRequest("Missing ADDRESS in the NETWORK")
    try:
        start = ipaddress.IPv4Address(address)
    except ValueError:
        raise BadRequest(f"ADDRESS {address!r} is not an IPv4 address") from None
    count = _number(size, "SIZE", minimum=1) or 254
    if int(start) & 0xFF == 0:
        start += 1
    if int(start) + count - 1 > int(ipaddress.IPv4Address("255.255.255.254")):
        raise BadRequest("ADDRESS + SIZE runs past the IPv4 address space")
    return {"TYPE": "IP4", "IP": str(start), "SIZE": str(count)}


def create_network(ctx: OcciContext, doc: NetworkDoc) -> Reply:
    if not doc.name:
        raise BadRequest("Missing NAME in the NETWORK")
    public = _yes_no(doc.public, "PUBLIC")
    attrs: list[tuple[str, str | dict[str, str]]] = [("NAME", doc.name)]
    if doc.description is not None:
        attrs.append(("DESCRIPTION", doc.description))
    if ctx.config.bridge:
        attrs.append(("BRIDGE", ctx.config.bridge))
    attrs.append(("AR", address_range(doc.address, doc.size)))
    cluster = ctx.config.cluster_id if ctx.config.cluster_id is not None else -1
    vn_id = ctx.one.vn_allocate(_template(attrs), cluster)
    if public:
        with ExitStack() as rollback:
            rollback.callback(ctx.one.vn_delete, vn_id)
            ctx.one.vn_chmod(vn_id, _group_use(True))
            rollback.pop_all()
    return Reply(201, Entity("network", _vnet(ctx, vn_id)))


def update_network(ctx: OcciContext, vn_id: int, doc: NetworkDoc) -> Reply:
    _vnet(ctx, vn_id)
    public = _yes_no(doc.public, "PUBLIC")
    if public is not None:
        ctx.one.vn_chmod(vn_id, _group_use(public))
    return Reply(202, Entity("network", _vnet(ctx, vn_id)))


def delete_network(ctx: OcciContext, vn_id: int) -> Reply:
    ctx.one.vn_delete(vn_id)
    return Reply(204, Nothing())


# --- storage -------------------------------------------------------------------------------------
def list_storages(ctx: OcciContext, verbose: bool) -> Reply:
    images = ctx.one.imagepool_info(ALL_RESOURCES)
    return Reply(200, Collection("storage", tuple(images), verbose))


def _image(ctx: OcciContext, image_id: int) -> ImageRecord:
    return ctx.one.image_info(image_id)


def show_storage(ctx: OcciContext, image_id: int) -> Reply:
    return Reply(200, Entity("storage", _image(ctx, image_id)))


def storage_template(doc: StorageDoc, path: str | None) -> str:
    if not doc.name:
        raise BadRequest("Missing Image NAME in the XML STORAGE section")
    if doc.type is not None and doc.type not in IMAGE_TYPES:
        raise BadRequest(f"TYPE must be one of {', '.join(IMAGE_TYPES)}, not {doc.type!r}")
    size = _number(doc.size, "SIZE", minimum=1)
    persistent = _yes_no(doc.persistent, "PERSISTENT")
    _yes_no(doc.public, "PUBLIC")
    if path is None and (doc.type != "DATABLOCK" or size is None):
        raise BadRequest("A STORAGE needs an uploaded file, or TYPE DATABLOCK with a SIZE")
    attrs: list[tuple[str, str | dict[str, str]]] = [("NAME", doc.name)]
    if doc.description is not None:
        attrs.append(("DESCRIPTION", doc.description))
    if path is not None:
        attrs.append(("PATH", path))
    if doc.type:
        attrs.append(("TYPE", doc.type))
    if persistent is not None:
        attrs.append(("PERSISTENT", "YES" if persistent else "NO"))
    if doc.fstype:
        # FSTYPE was the 4.x name; 5.0+ reads FS. Both are written so either line formats the disk.
        attrs.append(("FSTYPE", doc.fstype))
        attrs.append(("FS", doc.fstype))
    if size is not None:
        attrs.append(("SIZE", str(size)))
    return _template(attrs)


def create_storage(ctx: OcciContext, doc: StorageDoc, upload: Upload | None) -> Reply:
    with ExitStack() as rollback:
        path = None
        if upload is not None:
            # oned's datastore driver copies PATH after allocate returns, while the request's own
            # files are removed with the answer: give the file a name of its own first.
            path = os.path.join(ctx.config.tmpdir, f"occi-upload-{uuid.uuid4().hex}")
            os.replace(upload.path, path)
            rollback.callback(_unlink, path)
        template = storage_template(doc, path)
        image_id = ctx.one.image_allocate(template, ctx.config.datastore_id)
        rollback.callback(ctx.one.image_delete, image_id)
        if doc.public == "YES":
            ctx.one.image_chmod(image_id, _group_use(True))
        image = _image(ctx, image_id)
        rollback.pop_all()
    log.info(
        "storage %d created for %s (%s bytes uploaded)", image_id, ctx.user, upload.size if upload else 0
    )
    return Reply(201, Entity("storage", image))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def update_storage(ctx: OcciContext, image_id: int, doc: StorageDoc) -> Reply:
    _image(ctx, image_id)
    persistent = _yes_no(doc.persistent, "PERSISTENT")
    public = _yes_no(doc.public, "PUBLIC")
    if persistent is not None and public is not None:
        raise BadRequest("It is not allowed more than one change per request")
    if persistent is not None:
        ctx.one.image_persistent(image_id, persistent)
    elif public is not None:
        ctx.one.image_chmod(image_id, _group_use(public))
    return Reply(202, Entity("storage", _image(ctx, image_id)))


def delete_storage(ctx: OcciContext, image_id: int) -> Reply:
    ctx.one.image_delete(image_id)
    return Reply(204, Nothing())


def storage_action(ctx: OcciContext, image_id: int, action: ActionDoc) -> Reply:
    if action.perform != "clone":
        raise Forbidden(f"Action {action.perform} not supported")
    if not action.name:
        raise BadRequest("A clone needs PARAMS/NAME")
    try:
        format_attribute("NAME", action.name)
    except TemplateError as exc:
        raise BadRequest(f"NAME: {exc}") from None
    clone_id = ctx.one.image_clone(image_id, action.name)
    return Reply(201, Entity("storage", _image(ctx, clone_id)))


# --- users and instance types --------------------------------------------------------------------
def list_users(ctx: OcciContext, verbose: bool) -> Reply:
    entries = ctx.one.userpool_info()
    # the pool's USER elements carry no quotas: a verbose list reads each user's own document
    users = tuple(ctx.one.user_info(u.id) for u in entries) if verbose else tuple(entries)
    return Reply(200, Collection("user", users, verbose))


def show_user(ctx: OcciContext, user_id: int) -> Reply:
    return Reply(200, Entity("user", ctx.one.user_info(user_id)))


def all_instance_types(ctx: OcciContext) -> dict[str, InstanceType]:
    types = {**template_types(ctx), **ctx.config.instance_types}
    return {name: types[name] for name in sorted(types)}


def list_instance_types(ctx: OcciContext, verbose: bool) -> Reply:
    return Reply(200, Collection("instance_type", tuple(all_instance_types(ctx).values()), verbose))


def show_instance_type(ctx: OcciContext, name: str) -> Reply:
    itype = all_instance_types(ctx).get(name)
    if itype is None:
        raise NotFound(f"INSTANCE_TYPE {name} not found")
    return Reply(200, Entity("instance_type", itype))


Lister = Callable[[OcciContext, bool], Reply]
LISTERS: dict[str, Lister] = {
    "compute": list_computes,
    "network": list_networks,
    "storage": list_storages,
    "user": list_users,
    "instance_type": list_instance_types,
}
