"""Upstream's OCCI XML: COMPUTE, NETWORK, STORAGE, USER, INSTANCE_TYPE and their *_COLLECTIONs.

Element names, attribute names and their order are upstream's (OpenNebula 4.x `*OCCI.rb` views), so
scripts that read them with XPath keep working. Every text and attribute value is escaped here; values
come from OpenNebula objects that users named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from one_drivers.occi.config import InstanceType
from one_drivers.occi.errors import NotAcceptable
from one_drivers.occi.views import Collection, Entity, Item, Nothing, Reply, Root, View
from one_drivers.one.records import ImageRecord, Permissions, UserRecord, VmRecord, VnetRecord

CONTENT_TYPE = "application/xml; charset=utf-8"


def _esc(text: str) -> str:
    # Most values need no escaping: test before paying for saxutils' three replaces.
    if "&" in text or "<" in text or ">" in text:
        return escape(text)
    return text


def _el(tag: str, value: object) -> str:
    return f"<{tag}>{_esc(str(value))}</{tag}>"


def is_public(perms: Permissions) -> bool:
    """Upstream's PUBLIC: usable by the group or by everyone."""
    return perms.group_u or perms.other_u


def _user_ref(base: str, uid: int, uname: str) -> str:
    return f"<USER href={quoteattr(f'{base}/user/{uid}')} name={quoteattr(uname)}/>"


def compute_xml(vm: VmRecord, base: str) -> str:
    parts = [
        f"<COMPUTE href={quoteattr(f'{base}/compute/{vm.id}')}>",
        _el("ID", vm.id),
        _user_ref(base, vm.uid, vm.uname),
        _el("GROUP", vm.gname),
        _el("CPU", vm.template_value("CPU")),
        _el("MEMORY", vm.template_value("MEMORY")),
        _el("NAME", vm.name),
    ]
    itype = vm.user_values.get("INSTANCE_TYPE")
    if itype:
        parts.append(
            f"<INSTANCE_TYPE href={quoteattr(f'{base}/instance_type/{itype}')}>{escape(itype)}</INSTANCE_TYPE>"
        )
    parts.append(_el("STATE", vm.state.name))
    for disk in vm.template_vectors("DISK"):
        parts.append(f"<DISK id={quoteattr(disk.get('DISK_ID', ''))}>")
        if disk.get("SAVE_AS"):
            saved = disk["SAVE_AS"]
            parts.append(f"<SAVE_AS href={quoteattr(f'{base}/storage/{saved}')}/>")
        if "IMAGE_ID" in disk:
            image_id = disk["IMAGE_ID"]
            parts.append(
                f"<STORAGE href={quoteattr(f'{base}/storage/{image_id}')} "
                f"name={quoteattr(disk.get('IMAGE', ''))}/>"
            )
        parts.append(_el("TYPE", disk.get("TYPE", "")))
        parts.append(_el("TARGET", disk.get("TARGET", "")))
        parts.append("</DISK>")
    for nic in vm.template_vectors("NIC"):
        parts.append(f"<NIC id={quoteattr(nic.get('NIC_ID', ''))}>")
        network_id = nic.get("NETWORK_ID", "")
        parts.append(
            f"<NETWORK href={quoteattr(f'{base}/network/{network_id}')} "
            f"name={quoteattr(nic.get('NETWORK', ''))}/>"
        )
        if nic.get("IP"):
            parts.append(_el("IP", nic["IP"]))
        if nic.get("MAC"):
            parts.append(_el("MAC", nic["MAC"]))
        parts.append("</NIC>")
    contexts = vm.template_vectors("CONTEXT")
    if contexts and contexts[0]:
        parts.append("<CONTEXT>")
        # Empty values are left out, as upstream's view skipped elements without text.
        parts.extend(_el(name, value) for name, value in contexts[0].items() if value)
        parts.append("</CONTEXT>")
    parts.append("</COMPUTE>")
    return "".join(parts)


def network_span(vnet: VnetRecord) -> tuple[str | None, int | None]:
    """(ADDRESS, SIZE) of the first IPv4 address range, as upstream showed a ranged network."""
    for ar in vnet.address_ranges:
        if ar.ip:
            if ar.size:
                return ar.ip, ar.size
            if ar.ip_end:
                try:
                    end = int(ipaddress.IPv4Address(ar.ip_end))
                    return ar.ip, end - int(ipaddress.IPv4Address(ar.ip)) + 1
                except ValueError:
                    return ar.ip, None
            return ar.ip, None
    return None, None


def network_xml(vnet: VnetRecord, base: str) -> str:
    parts = [
        f"<NETWORK href={quoteattr(f'{base}/network/{vnet.id}')}>",
        _el("ID", vnet.id),
        _el("NAME", vnet.name),
        _user_ref(base, vnet.uid, vnet.uname),
        _el("GROUP", vnet.gname),
    ]
    description = vnet.template.get("DESCRIPTION")
    if description is not None:
        parts.append(_el("DESCRIPTION", description))
    address, size = network_span(vnet)
    if address is not None:
        parts.append(_el("ADDRESS", address))
    if size is not None:
        parts.append(_el("SIZE", size))
    parts.append(_el("USED_LEASES", vnet.used_leases))
    parts.append(_el("PUBLIC", "YES" if is_public(vnet.permissions) else "NO"))
    parts.append("</NETWORK>")
    return "".join(parts)


def storage_xml(image: ImageRecord, base: str) -> str:
    parts = [
        f"<STORAGE href={quoteattr(f'{base}/storage/{image.id}')}>",
        _el("ID", image.id),
        _el("NAME", image.name),
        _user_ref(base, image.uid, image.uname),
        _el("GROUP", image.gname),
        _el("STATE", image.state_name),
        _el("TYPE", image.type_name),
    ]
    description = image.template.get("DESCRIPTION")
    if description is not None:
        parts.append(_el("DESCRIPTION", description))
    parts.append(_el("SIZE", image.size))
    if image.fs:
        parts.append(_el("FSTYPE", image.fs))
    parts.append(_el("PUBLIC", "YES" if is_public(image.permissions) else "NO"))
    parts.append(_el("PERSISTENT", "YES" if image.persistent else "NO"))
    parts.append("</STORAGE>")
    return "".join(parts)


def user_xml(user: UserRecord, base: str) -> str:
    parts = [
        f"<USER href={quoteattr(f'{base}/user/{user.id}')}>",
        _el("ID", user.id),
        _el("NAME", user.name),
        _el("GROUP", user.gname),
    ]
    parts.extend(xml for _, xml in user.quotas)  # oned's own quota XML, as upstream passed it on
    parts.append("</USER>")
    return "".join(parts)


def instance_type_xml(itype: InstanceType, base: str) -> str:
    parts = [
        f"<INSTANCE_TYPE href={quoteattr(f'{base}/instance_type/{itype.name}')} name={quoteattr(itype.name)}>",
        _el("ID", itype.name),
        _el("NAME", itype.name),
    ]
    parts.extend(_el(name, value) for name, value in itype.attributes)
    parts.append("</INSTANCE_TYPE>")
    return "".join(parts)


_ENTITY: dict[str, Callable[[object, str], str]] = {
    "compute": compute_xml,  # type: ignore[dict-item]
    "network": network_xml,  # type: ignore[dict-item]
    "storage": storage_xml,  # type: ignore[dict-item]
    "user": user_xml,  # type: ignore[dict-item]
    "instance_type": instance_type_xml,  # type: ignore[dict-item]
}
_TAG = {
    "compute": "COMPUTE",
    "network": "NETWORK",
    "storage": "STORAGE",
    "user": "USER",
    "instance_type": "INSTANCE_TYPE",
}


def item_id(item: Item) -> str:
    return item.name if isinstance(item, InstanceType) else str(item.id)


def _short(kind: str, item: Item, base: str) -> str:
    tag = _TAG[kind]
    return f"<{tag} href={quoteattr(f'{base}/{kind}/{item_id(item)}')} name={quoteattr(item.name)}/>"


def collection_xml(view: Collection, base: str) -> str:
    tag = _TAG[view.kind]
    render = _ENTITY[view.kind]
    if view.verbose:
        body = "".join(render(item, base) for item in view.items)
    else:
        body = "".join(_short(view.kind, item, base) for item in view.items)
    return f"<{tag}_COLLECTION>{body}</{tag}_COLLECTION>"


def root_xml(base: str) -> str:
    body = "".join(f"<{_TAG[k]}_COLLECTION href={quoteattr(f'{base}/{k}')}/>" for k in sorted(_TAG))
    return f"<COLLECTIONS>{body}</COLLECTIONS>"


def render(view: View, base: str) -> bytes:
    if isinstance(view, Entity):
        text = _ENTITY[view.kind](view.item, base)
    elif isinstance(view, Collection):
        text = collection_xml(view, base)
    elif isinstance(view, Root):
        text = root_xml(base)
    elif isinstance(view, Nothing):
        return b""
    else:
        raise NotAcceptable(
            "The query interface has OGF renderings only: ask for text/plain or application/occi+json"
        )
    return text.encode("utf-8")


def render_reply(reply: Reply, base: str) -> tuple[str, bytes]:
    return CONTENT_TYPE, render(reply.view, base)
