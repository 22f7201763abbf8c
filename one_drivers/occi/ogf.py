"""OGF OCCI 1.2 renderings (text/plain, JSON) of compute, network and storage, beside upstream's XML.

The same resources answer in OGF's vocabulary when the client asks for it (`Accept: text/plain`,
`application/occi+json` or `application/json`; bodies by `Content-Type`, `text/occi` in headers):
kinds from the infrastructure scheme, one mixin per instance type (related to `resource_tpl`), links to
storage and networks, and the compute actions start/stop/restart/suspend (`POST /compute/<id>?action=`).
The query interface is `GET /-/`. Parsing turns OGF bodies into the same typed documents as the XML.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from one_drivers.occi import resources as res
from one_drivers.occi.config import InstanceType, OcciConfig
from one_drivers.occi.documents import ComputeDoc, DiskSpec, NetworkDoc, NicSpec, StorageDoc, href_id
from one_drivers.occi.errors import BadRequest, Forbidden, NotAcceptable, OcciError
from one_drivers.occi.render_xml import is_public, network_span
from one_drivers.occi.views import Collection, Entity, Item, Nothing, QueryInterface, Reply, Root, View
from one_drivers.one.records import ImageRecord, VmRecord, VnetRecord
from one_drivers.one.states import LcmState, VmState

CORE = "http://schemas.ogf.org/occi/core#"
INFRA = "http://schemas.ogf.org/occi/infrastructure#"
COMPUTE_ACTION = "http://schemas.ogf.org/occi/infrastructure/compute/action#"
INSTANCE_TYPE = "http://opennebula.org/occi/infrastructure/instance_type#"
TEXT = "text/plain; charset=utf-8"
JSON = "application/occi+json; charset=utf-8"
URI_LIST = "text/uri-list; charset=utf-8"
OCCI_HEADERS = "text/occi; charset=utf-8"

_OGF_BODIES = frozenset({"text/plain", "text/occi", "application/occi+json", "application/json"})
_ACCEPTED = {
    "application/xml": "xml",
    "text/xml": "xml",
    "*/*": "xml",
    "application/*": "xml",
    "text/plain": "text",
    "text/occi": "occi",
    "text/*": "text",
    "application/occi+json": "json",
    "application/json": "json",
    "text/uri-list": "uri",
}


def is_ogf_media(media: str) -> bool:
    return media in _OGF_BODIES


def choose(environ: Mapping[str, Any], body_media: str) -> str:
    """The rendering to answer in: the first type of `Accept` we render (by q), else 406; XML when absent."""
    accept = str(environ.get("HTTP_ACCEPT", "")).strip()
    if not accept:
        if body_media in ("application/occi+json", "application/json"):
            return "json"
        return "text" if body_media in ("text/plain", "text/occi") else "xml"
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media.lower() in _ACCEPTED and q > 0:
            ranked.append((-q, n, _ACCEPTED[media.lower()]))
    if not ranked:
        raise NotAcceptable(
            "This server renders application/xml, text/plain, text/uri-list and application/occi+json"
        )
    return min(ranked)[2]


# --- categories -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Category:
    term: str
    scheme: str
    klass: str  # kind | mixin | action
    title: str = ""
    rel: str = ""
    location: str = ""
    attributes: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    @property
    def type_id(self) -> str:
        return self.scheme + self.term


_COMPUTE_ACTIONS = tuple(COMPUTE_ACTION + a for a in ("start", "stop", "restart", "suspend"))
KINDS = {
    "compute": Category(
        "compute",
        INFRA,
        "kind",
        "Compute Resource",
        CORE + "resource",
        "/compute/",
        ("occi.compute.cores", "occi.compute.memory", "occi.compute.hostname", "occi.compute.state"),
        _COMPUTE_ACTIONS,
    ),
    "network": Category(
        "network",
        INFRA,
        "kind",
        "Network Resource",
        CORE + "resource",
        "/network/",
        ("occi.network.vlan", "occi.network.label", "occi.network.state"),
    ),
    "storage": Category(
        "storage",
        INFRA,
        "kind",
        "Storage Resource",
        CORE + "resource",
        "/storage/",
        ("occi.storage.size", "occi.storage.state"),
    ),
}
LINK_KINDS = {
    "storagelink": Category(
        "storagelink",
        INFRA,
        "kind",
        "Storage Link",
        CORE + "link",
        "/link/storagelink/",
        ("occi.storagelink.deviceid",),
    ),
    "networkinterface": Category(
        "networkinterface",
        INFRA,
        "kind",
        "Network Interface",
        CORE + "link",
        "/link/networkinterface/",
        ("occi.networkinterface.interface", "occi.networkinterface.mac", "occi.networkinterface.state"),
    ),
}
FIXED_MIXINS = (
    Category("resource_tpl", INFRA, "mixin", "Resource template"),
    Category("ipnetwork", INFRA, "mixin", "IP Network", "", "/mixin/ipnetwork/", ("occi.network.address",)),
    Category(
        "ipnetworkinterface",
        INFRA,
        "mixin",
        "IP Network Interface",
        "",
        "",
        ("occi.networkinterface.address",),
    ),
)
ACTIONS = tuple(
    Category(a.rsplit("#", 1)[1], COMPUTE_ACTION, "action", a.rsplit("#", 1)[1]) for a in _COMPUTE_ACTIONS
)


def type_mixin(itype: InstanceType) -> Category:
    attrs = dict(itype.attributes)
    title = f"Instance type {itype.name}"
    if "CPU" in attrs or "MEMORY" in attrs:
        title += f" ({attrs.get('CPU', '?')} CPU, {attrs.get('MEMORY', '?')} MB)"
    return Category(
        itype.name,
        INSTANCE_TYPE,
        "mixin",
        title,
        INFRA + "resource_tpl",
        f"/mixin/instance_type/{itype.name}/",
    )


def all_categories(types: Iterable[InstanceType]) -> list[Category]:
    mixins = [type_mixin(itype) for itype in types]
    return [*KINDS.values(), *LINK_KINDS.values(), *FIXED_MIXINS, *mixins, *ACTIONS]


def query_interface(types: Iterable[InstanceType]) -> Reply:
    """`GET /-/`: kinds, link kinds, mixins (one per instance type the user may use) and actions."""
    return Reply(200, QueryInterface(tuple(all_categories(types))))


# --- entities as OGF attribute sets ---------------------------------------------------------------
@dataclass
class OgfEntity:
    kind: str
    location: str
    attributes: dict[str, Any]
    mixins: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


_FAILED_LCM = frozenset(s for s in LcmState if "FAILURE" in s.name or s.name.endswith("_FAILED"))


def compute_state(vm: VmRecord) -> str:
    """OGF's occi.compute.state (active, inactive, suspended, error) for every OpenNebula state."""
    if vm.state == VmState.ACTIVE:
        if vm.lcm_state == LcmState.RUNNING:
            return "active"
        if vm.lcm_state in _FAILED_LCM or vm.lcm_state == LcmState.UNKNOWN:
            return "error"
        return "inactive"
    return COMPUTE_STATES[vm.state]


COMPUTE_STATES: dict[VmState, str] = {
    VmState.INIT: "inactive",
    VmState.PENDING: "inactive",
    VmState.HOLD: "inactive",
    VmState.ACTIVE: "active",
    VmState.STOPPED: "inactive",
    VmState.SUSPENDED: "suspended",
    VmState.DONE: "inactive",
    VmState.FAILED: "error",
    VmState.POWEROFF: "inactive",
    VmState.UNDEPLOYED: "inactive",
    VmState.CLONING: "inactive",
    VmState.CLONING_FAILURE: "error",
}

# OGF action -> (OpenNebula states it applies to, oned action), by the action's `method` attribute.
ACTION_TABLE: dict[str, dict[str, tuple[frozenset[VmState], str]]] = {
    "start": {
        "": (frozenset({VmState.STOPPED, VmState.SUSPENDED, VmState.POWEROFF, VmState.UNDEPLOYED}), "resume"),
    },
    "stop": {
        "": (frozenset({VmState.ACTIVE}), "poweroff"),
        "graceful": (frozenset({VmState.ACTIVE}), "poweroff"),
        "acpioff": (frozenset({VmState.ACTIVE}), "poweroff"),
        "poweroff": (frozenset({VmState.ACTIVE}), "poweroff-hard"),
    },
    "restart": {
        "": (frozenset({VmState.ACTIVE}), "reboot"),
        "graceful": (frozenset({VmState.ACTIVE}), "reboot"),
        "warm": (frozenset({VmState.ACTIVE}), "reboot"),
        "cold": (frozenset({VmState.ACTIVE}), "reboot-hard"),
    },
    "suspend": {
        "": (frozenset({VmState.ACTIVE}), "suspend"),
        "hibernate": (frozenset({VmState.ACTIVE}), "suspend"),
        "suspend": (frozenset({VmState.ACTIVE}), "suspend"),
    },
}


def _available_actions(vm: VmRecord, base: str) -> list[str]:
    return [
        f"{base}/compute/{vm.id}?action={name}"
        for name, methods in ACTION_TABLE.items()
        if vm.state in methods[""][0]
    ]


def compute_entity(vm: VmRecord, base: str) -> OgfEntity:
    attrs: dict[str, Any] = {
        "occi.core.id": str(vm.id),
        "occi.core.title": vm.name,
        "occi.compute.state": compute_state(vm),
        "occi.compute.state.message": vm.state.name
        + (f"/{vm.lcm_state.name}" if vm.state == VmState.ACTIVE else ""),
    }
    cpu = vm.template_value("VCPU") or vm.template_value("CPU")
    if cpu:
        try:
            attrs["occi.compute.cores"] = max(1, int(float(cpu)))
        except ValueError:
            pass
    memory = vm.template_value("MEMORY")
    if memory.isdigit():
        attrs["occi.compute.memory"] = round(int(memory) / 1024, 3)  # GiB, as OGF counts it
    hostname = vm.hostname
    if hostname:
        attrs["occi.compute.hostname"] = hostname
    mixins = []
    itype = vm.user_values.get("INSTANCE_TYPE")
    if itype:
        mixins.append(INSTANCE_TYPE + itype)
    links: list[dict[str, Any]] = []
    for disk in vm.template_vectors("DISK"):
        if "IMAGE_ID" not in disk:
            continue
        links.append(
            {
                "kind": INFRA + "storagelink",
                "id": f"compute_{vm.id}_disk_{disk.get('DISK_ID', '')}",
                "location": f"{base}/link/storagelink/compute_{vm.id}_disk_{disk.get('DISK_ID', '')}",
                "target": f"{base}/storage/{disk['IMAGE_ID']}",
                "target_kind": INFRA + "storage",
                "attributes": {"occi.storagelink.deviceid": disk.get("TARGET", "")},
            }
        )
    for nic in vm.template_vectors("NIC"):
        nic_attrs: dict[str, Any] = {
            "occi.networkinterface.interface": f"eth{nic.get('NIC_ID', '0')}",
            "occi.networkinterface.state": "active",
        }
        if nic.get("MAC"):
            nic_attrs["occi.networkinterface.mac"] = nic["MAC"]
        if nic.get("IP"):
            nic_attrs["occi.networkinterface.address"] = nic["IP"]
        links.append(
            {
                "kind": INFRA + "networkinterface",
                "mixins": [INFRA + "ipnetworkinterface"] if nic.get("IP") else [],
                "id": f"compute_{vm.id}_nic_{nic.get('NIC_ID', '')}",
                "location": f"{base}/link/networkinterface/compute_{vm.id}_nic_{nic.get('NIC_ID', '')}",
                "target": f"{base}/network/{nic.get('NETWORK_ID', '')}",
                "target_kind": INFRA + "network",
                "attributes": nic_attrs,
            }
        )
    return OgfEntity("compute", f"{base}/compute/{vm.id}", attrs, mixins, _available_actions(vm, base), links)


def network_entity(vnet: VnetRecord, base: str) -> OgfEntity:
    attrs: dict[str, Any] = {
        "occi.core.id": str(vnet.id),
        "occi.core.title": vnet.name,
        "occi.network.state": "active",
        "occi.network.label": vnet.bridge,
        "org.opennebula.network.public": "YES" if is_public(vnet.permissions) else "NO",
    }
    description = vnet.template.get("DESCRIPTION")
    if description:
        attrs["occi.core.summary"] = description
    vlan = vnet.template.get("VLAN_ID")
    if vlan and vlan.isdigit():
        attrs["occi.network.vlan"] = int(vlan)
    mixins = []
    address, size = network_span(vnet)
    if address is not None:
        mixins.append(INFRA + "ipnetwork")
        attrs["occi.network.address"] = _cidr(address, size)
        attrs["occi.network.allocation"] = "dynamic"
    return OgfEntity("network", f"{base}/network/{vnet.id}", attrs, mixins)


def _cidr(address: str, size: int | None) -> str:
    """The smallest IPv4 block holding the range (an AR is a range, OGF wants a CIDR)."""
    try:
        start = ipaddress.IPv4Address(address)
    except ValueError:
        return address
    count = size or 1
    prefix = 32
    while prefix > 0:
        net = ipaddress.IPv4Network(f"{start}/{prefix}", strict=False)
        if int(net.network_address) <= int(start) and int(start) + count - 1 <= int(net.broadcast_address):
            return str(net)
        prefix -= 1
    return "0.0.0.0/0"


_STORAGE_STATES = {"READY": "online", "USED": "online", "USED_PERS": "online", "ERROR": "error"}


def storage_entity(image: ImageRecord, base: str) -> OgfEntity:
    attrs: dict[str, Any] = {
        "occi.core.id": str(image.id),
        "occi.core.title": image.name,
        "occi.storage.size": round(image.size / 1024, 3),  # GiB
        "occi.storage.state": _STORAGE_STATES.get(image.state_name, "offline"),
        "org.opennebula.storage.type": image.type_name,
        "org.opennebula.storage.persistent": "YES" if image.persistent else "NO",
        "org.opennebula.storage.public": "YES" if is_public(image.permissions) else "NO",
    }
    description = image.template.get("DESCRIPTION")
    if description:
        attrs["occi.core.summary"] = description
    return OgfEntity("storage", f"{base}/storage/{image.id}", attrs)


def to_entity(kind: str, item: Item, base: str) -> OgfEntity:
    if kind == "compute" and isinstance(item, VmRecord):
        return compute_entity(item, base)
    if kind == "network" and isinstance(item, VnetRecord):
        return network_entity(item, base)
    if kind == "storage" and isinstance(item, ImageRecord):
        return storage_entity(item, base)
    raise NotAcceptable(f"{kind} has no OGF rendering; ask for application/xml")


# --- text/plain -----------------------------------------------------------------------------------
def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{text}"'


def category_line(cat: Category, full: bool) -> str:
    parts = [f'Category: {cat.term}; scheme="{cat.scheme}"; class="{cat.klass}"']
    if full:
        if cat.title:
            parts.append(f"title={_quote(cat.title)}")
        if cat.rel:
            parts.append(f'rel="{cat.rel}"')
        if cat.location:
            parts.append(f'location="{cat.location}"')
        if cat.attributes:
            parts.append(f'attributes="{" ".join(cat.attributes)}"')
        if cat.actions:
            parts.append(f'actions="{" ".join(cat.actions)}"')
    return "; ".join(parts)


def _scheme_term(type_id: str) -> tuple[str, str]:
    scheme, _, term = type_id.rpartition("#")
    return scheme + "#", term


def entity_text(entity: OgfEntity) -> str:
    kind = KINDS[entity.kind]
    lines = [category_line(kind, False)]
    for mixin in entity.mixins:
        scheme, term = _scheme_term(mixin)
        lines.append(f'Category: {term}; scheme="{scheme}"; class="mixin"')
    for link in entity.links:
        attrs = "".join(f"; {k}={_quote(v)}" for k, v in link["attributes"].items())
        lines.append(
            f'Link: <{link["target"]}>; rel="{link["target_kind"]}"; self="{link["location"]}"; '
            f'category="{link["kind"]}"{attrs}'
        )
    for action in entity.actions:
        name = action.rsplit("=", 1)[1]
        lines.append(f'Link: <{action}>; rel="{COMPUTE_ACTION}{name}"')
    for name, value in entity.attributes.items():
        lines.append(f"X-OCCI-Attribute: {name}={_quote(value)}")
    return "\n".join(lines) + "\n"


def entity_json(entity: OgfEntity) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": INFRA + entity.kind,
        "id": entity.attributes["occi.core.id"],
        "title": entity.attributes.get("occi.core.title", ""),
        "location": entity.location,
        "attributes": entity.attributes,
    }
    if entity.mixins:
        doc["mixins"] = entity.mixins
    if entity.actions:
        doc["actions"] = [f"{COMPUTE_ACTION}{a.rsplit('=', 1)[1]}" for a in entity.actions]
    if entity.links:
        doc["links"] = [
            {
                "kind": link["kind"],
                **({"mixins": link["mixins"]} if link.get("mixins") else {}),
                "id": link["id"],
                "location": link["location"],
                "source": {"location": entity.location, "kind": INFRA + entity.kind},
                "target": {"location": link["target"], "kind": link["target_kind"]},
                "attributes": link["attributes"],
            }
            for link in entity.links
        ]
    return doc


def category_json(cat: Category) -> dict[str, Any]:
    doc: dict[str, Any] = {"term": cat.term, "scheme": cat.scheme}
    if cat.title:
        doc["title"] = cat.title
    if cat.rel:
        doc["parent" if cat.klass == "kind" else "depends"] = cat.rel if cat.klass == "kind" else [cat.rel]
    if cat.location:
        doc["location"] = cat.location
    if cat.attributes:
        doc["attributes"] = {name: {"mutable": name != "occi.compute.state"} for name in cat.attributes}
    if cat.actions:
        doc["actions"] = list(cat.actions)
    return doc


def render_reply(reply: Reply, rendering: str, base: str, config: OcciConfig) -> tuple[str, bytes]:
    if rendering == "occi":
        # text/occi carries the text rendering's lines as headers (see `text_headers`), body empty.
        _, body = render_reply(reply, "text", base, config)
        return OCCI_HEADERS, body
    view: View = reply.view
    if isinstance(view, QueryInterface):
        return _render_query(view, rendering)
    if isinstance(view, Nothing):
        return TEXT, b""
    if isinstance(view, Root):
        kinds = [KINDS[k] for k in ("compute", "network", "storage")]
        if rendering == "json":
            return JSON, _json({"kinds": [category_json(k) for k in kinds]})
        lines = [f"X-OCCI-Location: {base}{k.location}" for k in kinds]
        return (URI_LIST if rendering == "uri" else TEXT), ("\n".join(lines) + "\n").encode()
    if isinstance(view, Entity):
        entity = to_entity(view.kind, view.item, base)
        if rendering == "json":
            return JSON, _json(entity_json(entity))
        if rendering == "uri":
            return URI_LIST, (entity.location + "\n").encode()
        return TEXT, entity_text(entity).encode("utf-8")
    assert isinstance(view, Collection)
    if view.kind not in KINDS:
        raise NotAcceptable(f"{view.kind} has no OGF rendering; ask for application/xml")
    locations = [f"{base}/{view.kind}/{item.id}" for item in view.items if not isinstance(item, InstanceType)]
    if rendering == "json":
        return JSON, _json({"resources": [entity_json(to_entity(view.kind, i, base)) for i in view.items]})
    if rendering == "uri":
        return URI_LIST, "".join(f"{loc}\n" for loc in locations).encode()
    return TEXT, "".join(f"X-OCCI-Location: {loc}\n" for loc in locations).encode()


def _render_query(view: QueryInterface, rendering: str) -> tuple[str, bytes]:
    if rendering == "json":
        doc: dict[str, list[dict[str, Any]]] = {"kinds": [], "mixins": [], "actions": []}
        for cat in view.categories:
            doc[cat.klass + "s"].append(category_json(cat))
        return JSON, _json(doc)
    return TEXT, ("\n".join(category_line(c, True) for c in view.categories) + "\n").encode("utf-8")


def text_headers(body: bytes) -> list[tuple[str, str]]:
    """The text rendering's lines as text/occi headers: one header per name, values comma-joined."""
    grouped: dict[str, list[str]] = {}
    for line in body.decode("utf-8").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            grouped.setdefault(name.strip(), []).append(value.strip())
    return [(name, ", ".join(values)) for name, values in grouped.items()]


def _json(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- parsing OGF bodies ---------------------------------------------------------------------------
@dataclass
class OgfRequest:
    """An OGF request body: category type ids, attributes, links (target location, attributes)."""

    categories: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    links: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


_ATTR_RE = re.compile(r'\s*([A-Za-z0-9_.\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _unquote(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), raw[1:-1])
    if re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    if re.fullmatch(r"-?[0-9]*\.[0-9]+", raw):
        return float(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return raw


def _params(text: str) -> dict[str, Any]:
    return {m.group(1): _unquote(m.group(2)) for m in _ATTR_RE.finditer(text)}


def _split_values(value: str) -> Iterable[str]:
    """Header values may be comma-joined (text/occi); commas inside quotes are kept."""
    part: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            yield "".join(part)
            part = []
        else:
            part.append(ch)
    if part:
        yield "".join(part)


def parse_text(lines: Iterable[tuple[str, str]]) -> OgfRequest:
    request = OgfRequest()
    for name, value in lines:
        key = name.strip().lower()
        if key == "category":
            term, _, rest = value.partition(";")
            scheme = _params(rest).get("scheme", "")
            request.categories.append(f"{scheme}{term.strip()}")
        elif key == "x-occi-attribute":
            attr, sep, raw = value.partition("=")
            if not sep:
                raise BadRequest(f"X-OCCI-Attribute without a value: {value.strip()!r}")
            request.attributes[attr.strip()] = _unquote(raw)
        elif key == "link":
            match = re.match(r"\s*<([^>]*)>(.*)", value)
            if not match:
                raise BadRequest(f"Link without a <target>: {value.strip()!r}")
            request.links.append((match.group(1), _params(match.group(2))))
        elif key == "x-occi-location":
            continue
        else:
            raise BadRequest(f"Unknown OCCI text rendering line: {name}")
    return request


def read_ogf(body: bytes, media: str, environ: Mapping[str, Any] | None = None) -> OgfRequest:
    if media in ("application/occi+json", "application/json"):
        return _parse_json(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8") from None
    lines: list[tuple[str, str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            raise BadRequest(f"Not an OCCI text line: {raw.strip()!r}")
        lines.extend((name, v) for v in _split_values(value))
    if environ is not None:  # text/occi: the same lines as headers
        for header, key in (
            ("HTTP_CATEGORY", "Category"),
            ("HTTP_X_OCCI_ATTRIBUTE", "X-OCCI-Attribute"),
            ("HTTP_LINK", "Link"),
        ):
            if environ.get(header):
                lines.extend((key, v) for v in _split_values(str(environ[header])))
    return parse_text(lines)


def _parse_json(body: bytes) -> OgfRequest:
    try:
        doc = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"The body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("An OCCI JSON body is an object")
    request = OgfRequest()
    for key in ("kind", "action"):
        if key in doc:
            if not isinstance(doc[key], str):
                raise BadRequest(f"{key} must be a type identifier (scheme#term)")
            request.categories.append(doc[key])
    mixins = doc.get("mixins") or []
    if not isinstance(mixins, list) or not all(isinstance(m, str) for m in mixins):
        raise BadRequest("mixins must be a list of type identifiers")
    request.categories.extend(mixins)
    attrs = doc.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise BadRequest("attributes must be an object")
    request.attributes.update(attrs)
    for link in doc.get("links") or []:
        if not isinstance(link, dict):
            raise BadRequest("each link must be an object")
        target = link.get("target")
        location = target.get("location") if isinstance(target, dict) else target
        if not isinstance(location, str):
            raise BadRequest("each link needs a target location")
        link_attrs = link.get("attributes") or {}
        if not isinstance(link_attrs, dict):
            raise BadRequest("link attributes must be an object")
        request.links.append((location, {**link_attrs, "category": link.get("kind", "")}))
    return request


def _str_attr(request: OgfRequest, name: str) -> str | None:
    value = request.attributes.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadRequest(f"{name} must be a string or a number")
    return str(value)


def _kind_of(request: OgfRequest, kind: str) -> None:
    if request.categories and INFRA + kind not in request.categories:
        raise BadRequest(f"The body must be of kind {INFRA}{kind}")


def parse_compute(body: bytes, media: str, environ: Mapping[str, Any] | None = None) -> ComputeDoc:
    request = read_ogf(body, media, environ)
    _kind_of(request, "compute")
    itype = None
    for type_id in request.categories:
        if type_id.startswith(INSTANCE_TYPE):
            itype = type_id[len(INSTANCE_TYPE) :]
    disks, nics = [], []
    for target, params in request.links:
        path = target.split("?", 1)[0].rstrip("/")
        if "/storage/" in path:
            disks.append(
                DiskSpec(href_id(path, "storage"), target=_opt(params.get("occi.storagelink.deviceid")))
            )
        elif "/network/" in path:
            nics.append(
                NicSpec(href_id(path, "network"), ip=_opt(params.get("occi.networkinterface.address")))
            )
        else:
            raise BadRequest(f"A compute links to /storage/<id> or /network/<id>, not {target!r}")
    context = []
    userdata = _str_attr(request, "occi.compute.userdata")
    if userdata is not None:
        context.append(("USER_DATA", userdata))
    key = _str_attr(request, "occi.credentials.ssh.publickey")
    if key is not None:
        context.append(("SSH_PUBLIC_KEY", key))
    state = _str_attr(request, "occi.compute.state")
    return ComputeDoc(
        name=_str_attr(request, "occi.core.title"),
        instance_type=itype,
        state=None
        if state is None
        else {"active": "RESUME", "suspended": "SUSPENDED"}.get(state, state.upper()),
        disks=tuple(disks),
        nics=tuple(nics),
        context=tuple(context),
    )


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_network(body: bytes, media: str, environ: Mapping[str, Any] | None = None) -> NetworkDoc:
    request = read_ogf(body, media, environ)
    _kind_of(request, "network")
    cidr = _str_attr(request, "occi.network.address")
    address = size = None
    if cidr is not None:
        try:
            net = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError:
            raise BadRequest(f"occi.network.address {cidr!r} is not an IPv4 address or CIDR block") from None
        address = str(net.network_address)
        size = str(max(net.num_addresses - 2, 1)) if net.prefixlen < 31 else str(net.num_addresses)
        if net.prefixlen >= 31:
            address = str(net.network_address)
    public = _str_attr(request, "org.opennebula.network.public")
    return NetworkDoc(
        name=_str_attr(request, "occi.core.title"),
        address=address,
        size=size,
        description=_str_attr(request, "occi.core.summary"),
        public=public.upper() if public else None,
    )


def parse_storage(body: bytes, media: str, environ: Mapping[str, Any] | None = None) -> StorageDoc:
    request = read_ogf(body, media, environ)
    _kind_of(request, "storage")
    size_gib = request.attributes.get("occi.storage.size")
    size = None
    if size_gib is not None:
        if isinstance(size_gib, bool) or not isinstance(size_gib, int | float | str):
            raise BadRequest("occi.storage.size is a number of GiB")
        try:
            size = str(max(1, round(float(size_gib) * 1024)))
        except ValueError:
            raise BadRequest("occi.storage.size is a number of GiB") from None
    public = _str_attr(request, "org.opennebula.storage.public")
    persistent = _str_attr(request, "org.opennebula.storage.persistent")
    return StorageDoc(
        name=_str_attr(request, "occi.core.title"),
        type=(_str_attr(request, "org.opennebula.storage.type") or ("DATABLOCK" if size else None)),
        size=size,
        fstype=_str_attr(request, "org.opennebula.storage.fstype"),
        description=_str_attr(request, "occi.core.summary"),
        public=public.upper() if public else None,
        persistent=persistent.upper() if persistent else None,
    )


def perform_action(ctx: res.OcciContext, kind: str, oid: int, name: str, body: bytes, media: str) -> Reply:
    """`POST /compute/<id>?action=stop` with the action's category (and `method`) in the body."""
    if kind != "compute":
        raise Forbidden(f"{kind} has no OGF actions here")
    method = ""
    if body.strip():
        request = read_ogf(body, media if is_ogf_media(media) else "text/plain")
        for type_id in request.categories:
            if type_id.startswith(COMPUTE_ACTION):
                named = type_id[len(COMPUTE_ACTION) :]
                if name and named != name:
                    raise BadRequest(f"The body names action {named}, the URL {name}")
                name = named
        method = str(request.attributes.get("method", "") or "")
    methods = ACTION_TABLE.get(name)
    if methods is None:
        raise BadRequest(f"Unknown action {name!r}: one of {', '.join(ACTION_TABLE)}")
    if method not in methods:
        raise BadRequest(
            f"Action {name} has no method {method!r}: one of {', '.join(m for m in methods if m)}"
        )
    sources, one_action = methods[method]
    vm = ctx.one.vm_info(oid)
    if vm.state not in sources:
        raise OcciError(f"Action {name} is not available in state {vm.state.name}", 409)
    ctx.one.vm_action(one_action, oid)
    return Reply(200, Entity("compute", ctx.one.vm_info(oid)))
