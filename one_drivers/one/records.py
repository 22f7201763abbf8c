"""OpenNebula object documents (VM, image, template, host, vnet, datastore) as frozen dataclasses.

Everything read back from oned's `*.info` / `*pool.info*` calls is decoded here, once, with lxml. A
`TEMPLATE` / `USER_TEMPLATE` becomes a `one.template.Template` (names and vectors as in template text). The
big VM TEMPLATE is decoded on first use: a 1,000-VM page must parse in a few tens of milliseconds and most
callers only read a handful of values from it (`template_value` reads one without decoding the rest).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from lxml import etree

from one_drivers import xmlsafe
from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import Template, Value


class RecordError(ValueError):
    """A document that is not the OpenNebula XML we expected."""


_Element = etree._Element


def parse_xml(text: str | bytes, root_tag: str) -> _Element:
    """Parse a document (with the factory's parser for oned's answers) and check its root's name."""
    try:
        root = xmlsafe.parse(text, xmlsafe.ONED)
    except xmlsafe.XmlError as exc:
        raise RecordError(f"malformed {root_tag} document: {exc}") from exc
    if root.tag != root_tag:
        raise RecordError(f"expected a <{root_tag}> document, got <{root.tag}>")
    return root


def _text(el: _Element | None) -> str:
    if el is None:
        return ""
    return el.text or ""


def _int(text: str | None, default: int = -1) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        return default


def template_from_element(el: _Element | None) -> Template:
    """`<TEMPLATE>` children as a Template: leaves are values, elements with children are vectors.

    Deeper nesting (seen only in host monitoring sections) is not template text and is skipped.
    """
    if el is None:
        return Template()
    attrs: list[tuple[str, Value]] = []
    for child in el:
        tag = child.tag
        if len(child):
            attrs.append((tag, {g.tag: g.text or "" for g in child if isinstance(g.tag, str) and not len(g)}))
        else:
            attrs.append((tag, child.text or ""))
    return Template(tuple(attrs))


def _ids(el: _Element | None) -> tuple[int, ...]:
    if el is None:
        return ()
    return tuple(int(c.text) for c in el if c.tag == "ID" and c.text)


@dataclass(frozen=True)
class Permissions:
    """`<PERMISSIONS>` as the nine bits `onevm chmod` takes (owner/group/other x use/manage/admin)."""

    owner_u: bool = False
    owner_m: bool = False
    owner_a: bool = False
    group_u: bool = False
    group_m: bool = False
    group_a: bool = False
    other_u: bool = False
    other_m: bool = False
    other_a: bool = False

    @classmethod
    def from_element(cls, el: _Element | None) -> Permissions:
        if el is None:
            return cls()
        bits = {c.tag.lower(): c.text == "1" for c in el if isinstance(c.tag, str)}
        return cls(**{k: v for k, v in bits.items() if k in _PERMISSION_NAMES})

    @property
    def octal(self) -> str:
        def digit(u: bool, m: bool, a: bool) -> str:
            return str(u * 4 + m * 2 + a * 1)

        return (
            digit(self.owner_u, self.owner_m, self.owner_a)
            + digit(self.group_u, self.group_m, self.group_a)
            + digit(self.other_u, self.other_m, self.other_a)
        )


_PERMISSION_NAMES = frozenset(Permissions.__dataclass_fields__)


# --- virtual machines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRecord:
    """One `<HISTORY>` entry: a placement of the VM on a host."""

    seq: int
    hostname: str
    hid: int
    cid: int
    stime: int
    etime: int
    vm_mad: str
    tm_mad: str
    ds_id: int
    action: int

    @classmethod
    def from_element(cls, el: _Element) -> HistoryRecord:
        v = {c.tag: c.text or "" for c in el}
        return cls(
            seq=_int(v.get("SEQ")),
            hostname=v.get("HOSTNAME", ""),
            hid=_int(v.get("HID")),
            cid=_int(v.get("CID")),
            stime=_int(v.get("STIME"), 0),
            etime=_int(v.get("ETIME"), 0),
            vm_mad=v.get("VM_MAD", ""),
            tm_mad=v.get("TM_MAD", ""),
            ds_id=_int(v.get("DS_ID")),
            action=_int(v.get("ACTION"), 0),
        )


@dataclass(frozen=True)
class VmRecord:
    """A `<VM>` from `vm.info` (full), `vmpool.infoextended` (full) or `vmpool.info` (reduced body).

    In the reduced body oned keeps only a few USER_TEMPLATE attributes and a cut TEMPLATE (see spec §6),
    so values stored by econe are absent there: `full` tells which body this record came from.
    """

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    state: VmState
    lcm_state: LcmState
    prev_state: VmState | None
    prev_lcm_state: LcmState | None
    stime: int
    etime: int
    deploy_id: str
    last_poll: int
    user_template: Template
    full: bool
    _template_el: _Element | None = field(default=None, repr=False, compare=False, hash=False)
    _el: _Element | None = field(default=None, repr=False, compare=False, hash=False)

    @cached_property
    def template(self) -> Template:
        """The VM's TEMPLATE (CONTEXT, DISK, NIC... as vectors), decoded on first use."""
        return template_from_element(self._template_el)

    @cached_property
    def user_values(self) -> dict[str, str]:
        """USER_TEMPLATE's single values by name, the first of each (what `user_template.get` gives)."""
        values: dict[str, str] = {}
        for name, value in self.user_template.attributes:
            if isinstance(value, str) and name not in values:
                values[name] = value
        return values

    @cached_property
    def permissions(self) -> Permissions:
        return Permissions.from_element(None if self._el is None else self._el.find("PERMISSIONS"))

    @cached_property
    def history(self) -> tuple[HistoryRecord, ...]:
        if self._el is None:
            return ()
        return tuple(HistoryRecord.from_element(h) for h in self._el.iterfind("HISTORY_RECORDS/HISTORY"))

    def template_value(self, path: str, default: str = "") -> str:
        """One value of TEMPLATE by path (`MEMORY`, `CONTEXT/EC2_KEYNAME`) without decoding the rest."""
        for leaf in self._leaves(path):
            return leaf.text or ""
        return default

    def template_values(self, path: str) -> list[str]:
        """Every value of TEMPLATE at `path`, in document order (`NIC/IP` gives one per NIC)."""
        return [leaf.text or "" for leaf in self._leaves(path)]

    def template_vectors(self, name: str) -> list[dict[str, str]]:
        """TEMPLATE's vectors called `name` (DISK, NIC...), decoding only those, in document order."""
        template = self._template_el
        if template is None:
            return []
        return [
            {g.tag: g.text or "" for g in child if isinstance(g.tag, str) and not len(g)}
            for child in template.iterchildren(name)
            if len(child)
        ]

    def template_vector_fields(self, name: str, members: tuple[str, ...]) -> list[tuple[str, ...]]:
        """For each TEMPLATE vector called `name`, its `members`' texts ("" when absent), in document
        order, decoding nothing else (a VM's disks on every instance of a 1,000-instance page)."""
        template = self._template_el
        if template is None:
            return []
        return [
            tuple(child.findtext(member) or "" for member in members)
            for child in template.iterchildren(name)
            if len(child)
        ]

    def template_values_of(self, paths: tuple[str, ...]) -> dict[str, list[str]]:
        """`template_values` of several `VECTOR/MEMBER` paths, from one walk of TEMPLATE."""
        found: dict[str, list[str]] = {path: [] for path in paths}
        template = self._template_el
        if template is None:
            return found
        members, by_member = _member_plan(paths)
        for leaf in template.iter(*members):
            parent = leaf.getparent()
            if parent is None or parent.getparent() is not template:
                continue
            vector = parent.tag
            for wanted_vector, path in by_member[leaf.tag]:
                if vector == wanted_vector:
                    found[path].append(leaf.text or "")
        return found

    def _leaves(self, path: str) -> Iterator[_Element]:
        # A path is a value (`MEMORY`) or a vector's member (`NIC/IP`). For a member, one C-level walk
        # of TEMPLATE's subtree for the member's tag, keeping leaves whose parent is a vector of that
        # name directly under TEMPLATE, costs half of nested tag-filtered iterchildren() calls; it is
        # the hot spot of a 1,000-instance DescribeInstances page (three paths per VM).
        template = self._template_el
        if template is None:
            return
        first, _, member = path.partition("/")
        if not member:
            yield from template.iterchildren(first)
            return
        for leaf in template.iter(member):
            parent = leaf.getparent()
            if parent is not None and parent.tag == first and parent.getparent() is template:
                yield leaf

    @cached_property
    def lock_level(self) -> int:
        """The VM's LOCK/LOCKED level (1 USE, 2 MANAGE, 3 ADMIN, 4 ALL), 0 when unlocked."""
        if self._el is None:
            return 0
        return _int(self._el.findtext("LOCK/LOCKED"), 0)

    @property
    def hostname(self) -> str:
        history = self.history
        return history[-1].hostname if history else ""

    @classmethod
    def from_element(cls, el: _Element) -> VmRecord:
        # One pass over the children; permissions and history stay in the tree until asked for.
        values: dict[str, str] = {}
        template_el: _Element | None = None
        user_template = Template()
        full = False
        for child in el:
            tag = child.tag
            if tag == "TEMPLATE":
                template_el = child
            elif tag == "USER_TEMPLATE":
                user_template = template_from_element(child)
            elif tag == "PERMISSIONS":
                full = True  # only the full body (oned's to_xml, not to_xml_short) carries PERMISSIONS
            elif tag in _VM_SECTIONS:
                continue
            else:
                values[tag] = child.text or ""
        try:
            prev_state = values.get("PREV_STATE")
            prev_lcm = values.get("PREV_LCM_STATE")
            return cls(
                id=int(values["ID"]),
                uid=_int(values.get("UID")),
                gid=_int(values.get("GID")),
                uname=values.get("UNAME", ""),
                gname=values.get("GNAME", ""),
                name=values.get("NAME", ""),
                state=_vm_state(values["STATE"]),
                lcm_state=_lcm_state(values.get("LCM_STATE") or "0"),
                prev_state=_vm_state(prev_state) if prev_state else None,
                prev_lcm_state=_lcm_state(prev_lcm) if prev_lcm else None,
                stime=_int(values.get("STIME"), 0),
                etime=_int(values.get("ETIME"), 0),
                deploy_id=values.get("DEPLOY_ID", ""),
                last_poll=_int(values.get("LAST_POLL"), 0),
                user_template=user_template,
                full=full,
                _template_el=template_el,
                _el=el,
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <VM> element: {exc!r}") from exc


@functools.lru_cache(maxsize=64)
def _member_plan(paths: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, list[tuple[str, str]]]]:
    """For `template_values_of`: the member tags to walk for, and (vector, path) pairs per member."""
    by_member: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        vector, _, member = path.partition("/")
        if not vector or not member or "/" in member:
            raise ValueError(f"not a VECTOR/MEMBER path: {path!r}")
        by_member.setdefault(member, []).append((vector, path))
    return tuple(by_member), by_member


# oned writes states as plain decimals: a dict hit instead of int() plus an Enum call (4 per VM).
_VM_STATE_BY_TEXT = {str(int(s)): s for s in VmState}
_LCM_STATE_BY_TEXT = {str(int(s)): s for s in LcmState}


def _vm_state(text: str) -> VmState:
    found = _VM_STATE_BY_TEXT.get(text)
    return found if found is not None else VmState(int(text))


def _lcm_state(text: str) -> LcmState:
    found = _LCM_STATE_BY_TEXT.get(text)
    return found if found is not None else LcmState(int(text))


_VM_SECTIONS = frozenset(
    {"MONITORING", "HISTORY_RECORDS", "SCHED_ACTIONS", "BACKUPS", "SNAPSHOTS", "SNAPSHOT", "LOCK"}
)


# --- images, templates, datastores ---------------------------------------------------------------

IMAGE_TYPES = ("OS", "CDROM", "DATABLOCK", "KERNEL", "RAMDISK", "CONTEXT", "BACKUP")
IMAGE_STATES = (
    "INIT",
    "READY",
    "USED",
    "DISABLED",
    "LOCKED",
    "ERROR",
    "CLONE",
    "DELETE",
    "USED_PERS",
    "LOCKED_USED",
    "LOCKED_USED_PERS",
)


@dataclass(frozen=True)
class ImageRecord:
    """An `<IMAGE>` from `image.info` / `imagepool.info`. `type`/`state` are oned's numbers."""

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    permissions: Permissions
    type: int
    disk_type: int
    persistent: bool
    regtime: int
    source: str
    path: str
    format: str
    fs: str
    size: int  # MB
    state: int
    running_vms: int
    datastore_id: int
    datastore: str
    vm_ids: tuple[int, ...]
    template: Template

    @property
    def type_name(self) -> str:
        return IMAGE_TYPES[self.type] if 0 <= self.type < len(IMAGE_TYPES) else str(self.type)

    @property
    def state_name(self) -> str:
        return IMAGE_STATES[self.state] if 0 <= self.state < len(IMAGE_STATES) else str(self.state)

    @classmethod
    def from_element(cls, el: _Element) -> ImageRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        try:
            return cls(
                id=int(v["ID"]),
                uid=_int(v.get("UID")),
                gid=_int(v.get("GID")),
                uname=v.get("UNAME", ""),
                gname=v.get("GNAME", ""),
                name=v.get("NAME", ""),
                permissions=Permissions.from_element(el.find("PERMISSIONS")),
                type=_int(v.get("TYPE"), 0),
                disk_type=_int(v.get("DISK_TYPE"), 0),
                persistent=v.get("PERSISTENT") == "1",
                regtime=_int(v.get("REGTIME"), 0),
                source=v.get("SOURCE", ""),
                path=v.get("PATH", ""),
                format=v.get("FORMAT", ""),
                fs=v.get("FS", ""),
                size=_int(v.get("SIZE"), 0),
                state=_int(v.get("STATE"), 0),
                running_vms=_int(v.get("RUNNING_VMS"), 0),
                datastore_id=_int(v.get("DATASTORE_ID")),
                datastore=v.get("DATASTORE", ""),
                vm_ids=_ids(el.find("VMS")),
                template=template_from_element(el.find("TEMPLATE")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <IMAGE> element: {exc!r}") from exc


@dataclass(frozen=True)
class TemplateRecord:
    """A `<VMTEMPLATE>` from `template.info` / `templatepool.info`."""

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    permissions: Permissions
    regtime: int
    template: Template

    @classmethod
    def from_element(cls, el: _Element) -> TemplateRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        try:
            return cls(
                id=int(v["ID"]),
                uid=_int(v.get("UID")),
                gid=_int(v.get("GID")),
                uname=v.get("UNAME", ""),
                gname=v.get("GNAME", ""),
                name=v.get("NAME", ""),
                permissions=Permissions.from_element(el.find("PERMISSIONS")),
                regtime=_int(v.get("REGTIME"), 0),
                template=template_from_element(el.find("TEMPLATE")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <VMTEMPLATE> element: {exc!r}") from exc


@dataclass(frozen=True)
class DatastoreRecord:
    """A `<DATASTORE>`. `type` is oned's number: 0 IMAGE_DS, 1 SYSTEM_DS, 2 FILE_DS, 3 BACKUP_DS."""

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    permissions: Permissions
    ds_mad: str
    tm_mad: str
    base_path: str
    type: int
    disk_type: int
    state: int
    cluster_ids: tuple[int, ...]
    total_mb: int
    free_mb: int
    used_mb: int
    image_ids: tuple[int, ...]
    template: Template

    @classmethod
    def from_element(cls, el: _Element) -> DatastoreRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        try:
            return cls(
                id=int(v["ID"]),
                uid=_int(v.get("UID")),
                gid=_int(v.get("GID")),
                uname=v.get("UNAME", ""),
                gname=v.get("GNAME", ""),
                name=v.get("NAME", ""),
                permissions=Permissions.from_element(el.find("PERMISSIONS")),
                ds_mad=v.get("DS_MAD", ""),
                tm_mad=v.get("TM_MAD", ""),
                base_path=v.get("BASE_PATH", ""),
                type=_int(v.get("TYPE"), 0),
                disk_type=_int(v.get("DISK_TYPE"), 0),
                state=_int(v.get("STATE"), 0),
                cluster_ids=_ids(el.find("CLUSTERS")),
                total_mb=_int(v.get("TOTAL_MB"), 0),
                free_mb=_int(v.get("FREE_MB"), 0),
                used_mb=_int(v.get("USED_MB"), 0),
                image_ids=_ids(el.find("IMAGES")),
                template=template_from_element(el.find("TEMPLATE")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <DATASTORE> element: {exc!r}") from exc


# --- hosts and virtual networks ------------------------------------------------------------------


@dataclass(frozen=True)
class HostRecord:
    """A `<HOST>`; `share` holds HOST_SHARE's scalar members (TOTAL_CPU, MAX_MEM, RUNNING_VMS...)."""

    id: int
    name: str
    state: int
    prev_state: int
    im_mad: str
    vm_mad: str
    cluster_id: int
    cluster: str
    share: dict[str, str] = field(hash=False)
    vm_ids: tuple[int, ...]
    template: Template

    @classmethod
    def from_element(cls, el: _Element) -> HostRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        share_el = el.find("HOST_SHARE")
        share = (
            {}
            if share_el is None
            else {c.tag: c.text or "" for c in share_el if isinstance(c.tag, str) and not len(c)}
        )
        try:
            return cls(
                id=int(v["ID"]),
                name=v.get("NAME", ""),
                state=_int(v.get("STATE"), 0),
                prev_state=_int(v.get("PREV_STATE"), 0),
                im_mad=v.get("IM_MAD", ""),
                vm_mad=v.get("VM_MAD", ""),
                cluster_id=_int(v.get("CLUSTER_ID")),
                cluster=v.get("CLUSTER", ""),
                share=share,
                vm_ids=_ids(el.find("VMS")),
                template=template_from_element(el.find("TEMPLATE")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <HOST> element: {exc!r}") from exc


@dataclass(frozen=True)
class LeaseRecord:
    ip: str
    mac: str
    vm: int  # -1 when held (`one.vn.hold`) rather than used by a VM


@dataclass(frozen=True)
class AddressRangeRecord:
    """One `<AR>` of a VNET's AR_POOL; extra AR attributes (user-defined) are kept in `attributes`."""

    ar_id: int
    type: str
    ip: str
    ip_end: str
    mac: str
    size: int
    used_leases: int
    leases: tuple[LeaseRecord, ...]
    attributes: dict[str, str] = field(hash=False)

    @classmethod
    def from_element(cls, el: _Element) -> AddressRangeRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        leases = tuple(
            LeaseRecord(
                ip=lease.findtext("IP") or "",
                mac=lease.findtext("MAC") or "",
                vm=_int(lease.findtext("VM")),
            )
            for lease in el.iterfind("LEASES/LEASE")
        )
        return cls(
            ar_id=_int(v.get("AR_ID")),
            type=v.get("TYPE", ""),
            ip=v.get("IP", ""),
            ip_end=v.get("IP_END", ""),
            mac=v.get("MAC", ""),
            size=_int(v.get("SIZE"), 0),
            used_leases=_int(v.get("USED_LEASES"), 0),
            leases=leases,
            attributes=v,
        )


@dataclass(frozen=True)
class VnetRecord:
    """A `<VNET>` from `vn.info` / `vnpool.info` (the pool body has the AR_POOL too, without leases)."""

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    permissions: Permissions
    bridge: str
    vn_mad: str
    used_leases: int
    cluster_ids: tuple[int, ...]
    template: Template
    address_ranges: tuple[AddressRangeRecord, ...]

    @classmethod
    def from_element(cls, el: _Element) -> VnetRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        try:
            return cls(
                id=int(v["ID"]),
                uid=_int(v.get("UID")),
                gid=_int(v.get("GID")),
                uname=v.get("UNAME", ""),
                gname=v.get("GNAME", ""),
                name=v.get("NAME", ""),
                permissions=Permissions.from_element(el.find("PERMISSIONS")),
                bridge=v.get("BRIDGE", ""),
                vn_mad=v.get("VN_MAD", ""),
                used_leases=_int(v.get("USED_LEASES"), 0),
                cluster_ids=_ids(el.find("CLUSTERS")),
                template=template_from_element(el.find("TEMPLATE")),
                address_ranges=tuple(AddressRangeRecord.from_element(ar) for ar in el.iterfind("AR_POOL/AR")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <VNET> element: {exc!r}") from exc


@dataclass(frozen=True)
class SecurityGroupRecord:
    """A `<SECURITY_GROUP>` from `secgroup.info` / `secgrouppool.info`; RULEs are TEMPLATE vectors."""

    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    permissions: Permissions
    vm_ids: tuple[int, ...]  # every VM using it, whatever its update state
    template: Template

    @property
    def rules(self) -> list[dict[str, str]]:
        return self.template.vectors("RULE")

    @classmethod
    def from_element(cls, el: _Element) -> SecurityGroupRecord:
        v = {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}
        vms: list[int] = []
        for section in ("UPDATED_VMS", "OUTDATED_VMS", "UPDATING_VMS", "ERROR_VMS"):
            vms.extend(_ids(el.find(section)))
        try:
            return cls(
                id=int(v["ID"]),
                uid=_int(v.get("UID")),
                gid=_int(v.get("GID")),
                uname=v.get("UNAME", ""),
                gname=v.get("GNAME", ""),
                name=v.get("NAME", ""),
                permissions=Permissions.from_element(el.find("PERMISSIONS")),
                vm_ids=tuple(sorted(set(vms))),
                template=template_from_element(el.find("TEMPLATE")),
            )
        except (KeyError, ValueError) as exc:
            raise RecordError(f"malformed <SECURITY_GROUP> element: {exc!r}") from exc


# --- document entry points -----------------------------------------------------------------------

R = TypeVar("R")


def _one(text: str | bytes, tag: str, build: Callable[[_Element], R]) -> R:
    return build(parse_xml(text, tag))


# A pool document of at least this size is parsed as two halves at once (see _parse_halves).
PARALLEL_PARSE_MIN = 1 << 20
# Where the split is looked for: the first part is the smaller, as this thread also builds its
# records while the other parses the second part (parsing is ~2x building here).
FIRST_PART = (2, 5)
_halves: ThreadPoolExecutor | None = None
_halves_lock = threading.Lock()


def _half_parser() -> ThreadPoolExecutor:
    global _halves
    with _halves_lock:
        if _halves is None:
            _halves = ThreadPoolExecutor(1, thread_name_prefix="records-parse")
        return _halves


def _parse_halves(data: bytes, pool_tag: str, tag: str, build: Callable[[_Element], R]) -> list[R] | None:
    """The pool's records, from two documents split between two `tag` elements, or None.

    libxml2 parses without the GIL, so the second half is parsed on another core while this thread
    parses the first half and builds its records. The split point is the first `</VM><VM>` after 40%
    of the document; had that text been inside a CDATA section or comment rather than markup, the first half
    would end inside it and fail to parse, and the caller parses the whole document instead, so the
    result never differs from a single parse.
    """
    head, tail = f"<{pool_tag}>".encode(), f"</{pool_tag}>".encode()
    if not (data.startswith(head) and data.endswith(tail)):
        return None
    close = f"</{tag}>".encode()
    mid = data.find(close + f"<{tag}>".encode(), len(data) * FIRST_PART[0] // FIRST_PART[1])
    if mid < 0:
        return None
    cut = mid + len(close)
    second = _half_parser().submit(parse_xml, head + data[cut:], pool_tag)
    try:
        first = parse_xml(data[:cut] + tail, pool_tag)
    except RecordError:
        second.cancel()
        return None
    try:
        built = [build(el) for el in first if el.tag == tag]
    except RecordError:
        # A single parse would have failed on a malformed second half before reading any record.
        if second.exception() is not None:
            return None
        raise
    try:
        rest = second.result()
    except RecordError:
        return None
    built.extend(build(el) for el in rest if el.tag == tag)
    return built


def _pool(text: str | bytes, pool_tag: str, tag: str, build: Callable[[_Element], R]) -> list[R]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) >= PARALLEL_PARSE_MIN:
        built = _parse_halves(data, pool_tag, tag, build)
        if built is not None:
            return built
    root = parse_xml(data, pool_tag)
    return [build(el) for el in root if el.tag == tag]


def parse_vm(text: str | bytes) -> VmRecord:
    return _one(text, "VM", VmRecord.from_element)


def parse_vm_pool(text: str | bytes) -> list[VmRecord]:
    """`vmpool.info` (reduced bodies) or `vmpool.infoextended` (full bodies), in oned's order."""
    return _pool(text, "VM_POOL", "VM", VmRecord.from_element)


def parse_image(text: str | bytes) -> ImageRecord:
    return _one(text, "IMAGE", ImageRecord.from_element)


def parse_image_pool(text: str | bytes) -> list[ImageRecord]:
    return _pool(text, "IMAGE_POOL", "IMAGE", ImageRecord.from_element)


def parse_vm_template(text: str | bytes) -> TemplateRecord:
    return _one(text, "VMTEMPLATE", TemplateRecord.from_element)


def parse_vm_template_pool(text: str | bytes) -> list[TemplateRecord]:
    return _pool(text, "VMTEMPLATE_POOL", "VMTEMPLATE", TemplateRecord.from_element)


def parse_datastore(text: str | bytes) -> DatastoreRecord:
    return _one(text, "DATASTORE", DatastoreRecord.from_element)


def parse_datastore_pool(text: str | bytes) -> list[DatastoreRecord]:
    return _pool(text, "DATASTORE_POOL", "DATASTORE", DatastoreRecord.from_element)


def parse_host(text: str | bytes) -> HostRecord:
    return _one(text, "HOST", HostRecord.from_element)


def parse_host_pool(text: str | bytes) -> list[HostRecord]:
    return _pool(text, "HOST_POOL", "HOST", HostRecord.from_element)


def parse_vnet(text: str | bytes) -> VnetRecord:
    return _one(text, "VNET", VnetRecord.from_element)


def parse_vnet_pool(text: str | bytes) -> list[VnetRecord]:
    return _pool(text, "VNET_POOL", "VNET", VnetRecord.from_element)


def parse_security_group(text: str | bytes) -> SecurityGroupRecord:
    return _one(text, "SECURITY_GROUP", SecurityGroupRecord.from_element)


def parse_security_group_pool(text: str | bytes) -> list[SecurityGroupRecord]:
    return _pool(text, "SECURITY_GROUP_POOL", "SECURITY_GROUP", SecurityGroupRecord.from_element)
