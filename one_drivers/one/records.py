"""OpenNebula object documents (VM, image, template, host, vnet, datastore, user...) as frozen dataclasses.

Everything read back from oned's `*.info` / `*pool.info*` calls is decoded here, once, with lxml. Each
record kind is a table: its dataclass fields say where each value is in the element (`leaf`, `number`,
`section`), and one builder (`_builder`) reads any kind from it. A `TEMPLATE` / `USER_TEMPLATE` becomes a
`one.template.Template`. The big VM TEMPLATE is decoded on first use: a 1,000-VM page must parse in a
few tens of milliseconds and most callers read a handful of values (`template_value` reads one).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar

from one_drivers import xmlsafe
from one_drivers.one.states import ImageState, ImageType, LcmState, VmState
from one_drivers.one.template import Template, Value


class RecordError(ValueError):
    """A document that is not the OpenNebula XML we expected."""


if TYPE_CHECKING:
    # lxml itself is loaded by xmlsafe on first parse: the remotes scripts import this module (through
    # ec2/) on a path that must start without it
    from lxml.etree import _Element


def parse_xml(text: str | bytes, root_tag: str) -> _Element:
    """Parse a document (with the factory's parser for oned's answers) and check its root's name."""
    try:
        root = xmlsafe.parse(text, xmlsafe.ONED)
    except xmlsafe.XmlError as exc:
        raise RecordError(f"malformed {root_tag} document: {exc}") from exc
    if root.tag != root_tag:
        raise RecordError(f"expected a <{root_tag}> document, got <{root.tag}>")
    return root


# --- the field table ------------------------------------------------------------------------------

REQUIRED: Any = object()  # a `leaf` default: the record is malformed without this value


@dataclass(frozen=True)
class Spec:
    """Where one field of a record is read from.

    A leaf: the text of the child named `path`, read by `convert` (None: the text as it is); `default`
    when the child is absent or empty, or `convert` returns None. A section (`section=True`): `convert`
    gets the child element at `path` (None when absent; "" = the record's own element).
    """

    path: str
    convert: Callable[[Any], Any] | None = None
    default: Any = ""
    section: bool = False


def leaf(path: str, convert: Callable[[str], Any] | None = None, default: Any = "", **kw: Any) -> Any:
    return field(metadata={"spec": Spec(path, convert, default)}, **kw)


def number(path: str, default: int = -1) -> Any:
    """An integer leaf; text that is not a number reads as `default`, as an absent one does."""
    return leaf(path, _to_int, default)


def section(path: str, read: Callable[[Any], Any], **kw: Any) -> Any:
    return field(metadata={"spec": Spec(path, read, section=True)}, **kw)


def _to_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _int(text: str | None, default: int) -> int:
    value = _to_int(text) if text else None
    return default if value is None else value


_Builder = Callable[..., Any]  # (element, its leaves or None, fields given by the caller) -> record
_BUILDERS: dict[type, _Builder] = {}


def _builder(cls: type) -> _Builder:
    """The function that builds a `cls` record from an element by the kind's field table.

    The table is written out as a plain function once per kind, field by field as one would by hand:
    a generic loop over the table costs ~8% more on a 1,000-VM page, whose records are built here.
    Any KeyError/ValueError while reading means a malformed element (RecordError).
    """
    found = _BUILDERS.get(cls)
    if found is not None:
        return found
    env: dict[str, Any] = {"cls": cls, "leaf_texts": leaf_texts, "RecordError": RecordError}
    body, names = [], []
    for i, f in enumerate(dataclasses.fields(cls)):
        spec: Spec | None = f.metadata.get("spec")
        if spec is None:
            continue  # given by the kind's own from_element
        env[f"c{i}"], env[f"d{i}"], key, name = spec.convert, spec.default, repr(spec.path), f"f{i}"
        names.append(f"{f.name}={name}")
        if spec.section:
            body.append(f"{name} = c{i}({f'el.find({key})' if spec.path else 'el'})")
        elif spec.convert is None and spec.default is not REQUIRED:
            body.append(f"{name} = get({key}) or d{i}")
        else:
            missing = f"raise KeyError({key})" if spec.default is REQUIRED else f"{name} = d{i}"
            read = f"c{i}(t)" if spec.convert is not None else "t"
            body += ["t = get(" + key + ")", "if t:", f"    {name} = {read}", f"    if {name} is None:"]
            body += [f"        {name} = d{i}", "else:", f"    {missing}"]
    body.append(f"return cls({', '.join(names)}, **given)")
    source = "\n".join(
        [
            "def build(el, values=None, given={}):",
            "    get = (leaf_texts(el) if values is None else values).get",
            "    try:",
            *(f"        {line}" for line in body),
            "    except (KeyError, ValueError) as exc:",
            "        raise RecordError(f'malformed <{el.tag}> element: {exc!r}') from exc",
        ]
    )
    exec(source, env)
    built: _Builder = env["build"]
    _BUILDERS[cls] = built
    return built


def leaf_texts(el: _Element | None) -> dict[str, str]:
    """The texts of an element's leaf children by tag (the last of each)."""
    if el is None:
        return {}
    return {c.tag: c.text or "" for c in el if isinstance(c.tag, str) and not len(c)}


class _Table:
    """Records read by their table alone; `TAG`/`POOL` name their documents (see `parse`)."""

    TAG: ClassVar[str]
    POOL: ClassVar[str]

    @classmethod
    def from_element(cls, el: _Element) -> Self:
        built: Self = _builder(cls)(el)
        return built


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


@dataclass(frozen=True)
class _Named(_Table):
    """The fields every owned object starts with (a VM reads its PERMISSIONS only when asked)."""

    id: int = leaf("ID", int, REQUIRED)
    uid: int = number("UID")
    gid: int = number("GID")
    uname: str = leaf("UNAME")
    gname: str = leaf("GNAME")
    name: str = leaf("NAME")


@dataclass(frozen=True)
class _Owned(_Named):
    """Image, template, datastore, vnet and security group: the owner fields and permissions."""

    permissions: Permissions = section("PERMISSIONS", Permissions.from_element)


# --- virtual machines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRecord(_Table):
    """One `<HISTORY>` entry: a placement of the VM on a host."""

    seq: int = number("SEQ")
    hostname: str = leaf("HOSTNAME")
    hid: int = number("HID")
    cid: int = number("CID")
    stime: int = number("STIME", 0)
    etime: int = number("ETIME", 0)
    vm_mad: str = leaf("VM_MAD")
    tm_mad: str = leaf("TM_MAD")
    ds_id: int = number("DS_ID")
    action: int = number("ACTION", 0)


# oned writes states as plain decimals: a dict hit instead of int() plus an Enum call (4 per VM).
_VM_STATE_BY_TEXT = {str(int(s)): s for s in VmState}
_LCM_STATE_BY_TEXT = {str(int(s)): s for s in LcmState}


def _vm_state(text: str) -> VmState:
    found = _VM_STATE_BY_TEXT.get(text)
    return found if found is not None else VmState(int(text))


def _lcm_state(text: str) -> LcmState:
    found = _LCM_STATE_BY_TEXT.get(text)
    return found if found is not None else LcmState(int(text))


@dataclass(frozen=True)
class VmRecord(_Named):
    """A `<VM>` from `vm.info` (full), `vmpool.infoextended` (full) or `vmpool.info` (reduced body).

    In the reduced body oned keeps only a few USER_TEMPLATE attributes and a cut TEMPLATE (see spec §6),
    so values stored by econe are absent there: `full` tells which body this record came from.
    """

    TAG: ClassVar[str] = "VM"
    POOL: ClassVar[str] = "VM_POOL"

    state: VmState = leaf("STATE", _vm_state, REQUIRED)
    lcm_state: LcmState = leaf("LCM_STATE", _lcm_state, LcmState.LCM_INIT)
    prev_state: VmState | None = leaf("PREV_STATE", _vm_state, None)
    prev_lcm_state: LcmState | None = leaf("PREV_LCM_STATE", _lcm_state, None)
    stime: int = number("STIME", 0)
    etime: int = number("ETIME", 0)
    deploy_id: str = leaf("DEPLOY_ID")
    last_poll: int = number("LAST_POLL", 0)
    user_template: Template = field(default_factory=Template)
    full: bool = False
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
    def permissions(self) -> Permissions:
        return Permissions.from_element(None if self._el is None else self._el.find("PERMISSIONS"))

    @cached_property
    def history(self) -> tuple[HistoryRecord, ...]:
        if self._el is None:
            return ()
        return tuple(HistoryRecord.from_element(h) for h in self._el.iterfind("HISTORY_RECORDS/HISTORY"))

    @cached_property
    def monitoring(self) -> dict[str, str]:
        """MONITORING's values (TIMESTAMP, CPU, STATE...), read on first use; {} before the first poll."""
        return leaf_texts(None if self._el is None else self._el.find("MONITORING"))

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
            elif tag not in _VM_SECTIONS:
                values[tag] = child.text or ""
        given = {"user_template": user_template, "full": full, "_template_el": template_el, "_el": el}
        built: VmRecord = _builder(cls)(el, values, given)
        return built


_VM_SECTIONS = frozenset(
    {"MONITORING", "HISTORY_RECORDS", "SCHED_ACTIONS", "BACKUPS", "SNAPSHOTS", "SNAPSHOT", "LOCK"}
)


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


# --- images, templates, datastores ---------------------------------------------------------------

IMAGE_TYPES = tuple(t.name for t in ImageType)
IMAGE_STATES = tuple(s.name for s in ImageState)


@dataclass(frozen=True)
class ImageRecord(_Owned):
    """An `<IMAGE>` from `image.info` / `imagepool.info`. `type`/`state` are oned's numbers."""

    TAG: ClassVar[str] = "IMAGE"
    POOL: ClassVar[str] = "IMAGE_POOL"

    type: int = number("TYPE", 0)
    disk_type: int = number("DISK_TYPE", 0)
    persistent: bool = leaf("PERSISTENT", "1".__eq__, False)
    regtime: int = number("REGTIME", 0)
    source: str = leaf("SOURCE")
    path: str = leaf("PATH")
    format: str = leaf("FORMAT")
    fs: str = leaf("FS")
    size: int = number("SIZE", 0)  # MB
    state: int = number("STATE", 0)
    running_vms: int = number("RUNNING_VMS", 0)
    datastore_id: int = number("DATASTORE_ID")
    datastore: str = leaf("DATASTORE")
    vm_ids: tuple[int, ...] = section("VMS", _ids)
    template: Template = section("TEMPLATE", template_from_element)

    @property
    def type_name(self) -> str:
        return IMAGE_TYPES[self.type] if 0 <= self.type < len(IMAGE_TYPES) else str(self.type)

    @property
    def state_name(self) -> str:
        return IMAGE_STATES[self.state] if 0 <= self.state < len(IMAGE_STATES) else str(self.state)


@dataclass(frozen=True)
class TemplateRecord(_Owned):
    """A `<VMTEMPLATE>` from `template.info` / `templatepool.info`."""

    TAG: ClassVar[str] = "VMTEMPLATE"
    POOL: ClassVar[str] = "VMTEMPLATE_POOL"

    regtime: int = number("REGTIME", 0)
    template: Template = section("TEMPLATE", template_from_element)


@dataclass(frozen=True)
class DatastoreRecord(_Owned):
    """A `<DATASTORE>`. `type` is oned's number: 0 IMAGE_DS, 1 SYSTEM_DS, 2 FILE_DS, 3 BACKUP_DS."""

    TAG: ClassVar[str] = "DATASTORE"
    POOL: ClassVar[str] = "DATASTORE_POOL"

    ds_mad: str = leaf("DS_MAD")
    tm_mad: str = leaf("TM_MAD")
    base_path: str = leaf("BASE_PATH")
    type: int = number("TYPE", 0)
    disk_type: int = number("DISK_TYPE", 0)
    state: int = number("STATE", 0)
    cluster_ids: tuple[int, ...] = section("CLUSTERS", _ids)
    total_mb: int = number("TOTAL_MB", 0)
    free_mb: int = number("FREE_MB", 0)
    used_mb: int = number("USED_MB", 0)
    image_ids: tuple[int, ...] = section("IMAGES", _ids)
    template: Template = section("TEMPLATE", template_from_element)


# --- hosts, virtual networks, security groups, users ---------------------------------------------


@dataclass(frozen=True)
class HostRecord(_Table):
    """A `<HOST>`; `share` holds HOST_SHARE's scalar members (TOTAL_CPU, MAX_MEM, RUNNING_VMS...)."""

    TAG: ClassVar[str] = "HOST"
    POOL: ClassVar[str] = "HOST_POOL"

    id: int = leaf("ID", int, REQUIRED)
    name: str = leaf("NAME")
    state: int = number("STATE", 0)
    prev_state: int = number("PREV_STATE", 0)
    im_mad: str = leaf("IM_MAD")
    vm_mad: str = leaf("VM_MAD")
    cluster_id: int = number("CLUSTER_ID")
    cluster: str = leaf("CLUSTER")
    share: dict[str, str] = section("HOST_SHARE", leaf_texts, hash=False)
    vm_ids: tuple[int, ...] = section("VMS", _ids)
    template: Template = section("TEMPLATE", template_from_element)


@dataclass(frozen=True)
class LeaseRecord:
    ip: str
    mac: str
    vm: int  # -1 when held (`one.vn.hold`) rather than used by a VM


def _leases(ar: _Element) -> tuple[LeaseRecord, ...]:
    return tuple(
        LeaseRecord(lease.findtext("IP") or "", lease.findtext("MAC") or "", _int(lease.findtext("VM"), -1))
        for lease in ar.iterfind("LEASES/LEASE")
    )


@dataclass(frozen=True)
class AddressRangeRecord(_Table):
    """One `<AR>` of a VNET's AR_POOL; extra AR attributes (user-defined) are kept in `attributes`."""

    ar_id: int = number("AR_ID")
    type: str = leaf("TYPE")
    ip: str = leaf("IP")
    ip_end: str = leaf("IP_END")
    mac: str = leaf("MAC")
    size: int = number("SIZE", 0)
    used_leases: int = number("USED_LEASES", 0)
    leases: tuple[LeaseRecord, ...] = section("", _leases)
    attributes: dict[str, str] = section("", leaf_texts, hash=False)


@dataclass(frozen=True)
class VnetRecord(_Owned):
    """A `<VNET>` from `vn.info` / `vnpool.info` (the pool body has the AR_POOL too, without leases)."""

    TAG: ClassVar[str] = "VNET"
    POOL: ClassVar[str] = "VNET_POOL"

    bridge: str = leaf("BRIDGE")
    vn_mad: str = leaf("VN_MAD")
    used_leases: int = number("USED_LEASES", 0)
    cluster_ids: tuple[int, ...] = section("CLUSTERS", _ids)
    template: Template = section("TEMPLATE", template_from_element)
    address_ranges: tuple[AddressRangeRecord, ...] = section(
        "", lambda el: tuple(AddressRangeRecord.from_element(ar) for ar in el.iterfind("AR_POOL/AR"))
    )


_SG_VM_SECTIONS = ("UPDATED_VMS", "OUTDATED_VMS", "UPDATING_VMS", "ERROR_VMS")


@dataclass(frozen=True)
class SecurityGroupRecord(_Owned):
    """A `<SECURITY_GROUP>` from `secgroup.info` / `secgrouppool.info`; RULEs are TEMPLATE vectors."""

    TAG: ClassVar[str] = "SECURITY_GROUP"
    POOL: ClassVar[str] = "SECURITY_GROUP_POOL"

    # every VM using it, whatever its update state
    vm_ids: tuple[int, ...] = section(
        "", lambda el: tuple(sorted({i for s in _SG_VM_SECTIONS for i in _ids(el.find(s))}))
    )
    template: Template = section("TEMPLATE", template_from_element)

    @property
    def rules(self) -> list[dict[str, str]]:
        return self.template.vectors("RULE")


# Drivers whose PASSWORD is a usable HMAC secret (the others hold no secret econe could share).
SIGNING_DRIVERS = frozenset({"core", "public"})
X509_DRIVER = "x509"
QUOTA_SECTIONS = ("DATASTORE_QUOTA", "NETWORK_QUOTA", "VM_QUOTA", "IMAGE_QUOTA")


def _quotas(el: _Element) -> tuple[tuple[str, str], ...]:
    # (section, its XML as oned wrote it): user.info carries them, the pool's USER elements do not
    found = ((name, el.find(name)) for name in QUOTA_SECTIONS)
    return tuple((name, xmlsafe.to_text(q, with_tail=False)) for name, q in found if q is not None)


@dataclass(frozen=True)
class UserRecord(_Table):
    """A `<USER>` from `user.info` / `userpool.info`. PASSWORD is the signing secret (SHA256 hex on 5.10+,
    plain for `public`) or, for x509 users, `|`-separated certificate DNs; ENABLED absent = enabled."""

    TAG: ClassVar[str] = "USER"
    POOL: ClassVar[str] = "USER_POOL"

    id: int = number("ID")
    name: str = leaf("NAME")
    auth_driver: str = leaf("AUTH_DRIVER")
    password: str = leaf("PASSWORD", repr=False)
    enabled: bool = leaf("ENABLED", lambda text: text.strip() != "0", True)
    gid: int = number("GID")
    gname: str = leaf("GNAME")
    group_ids: tuple[int, ...] = section("GROUPS", _ids)
    template: Template = section("TEMPLATE", template_from_element)
    quotas: tuple[tuple[str, str], ...] = section("", _quotas)

    @property
    def signing_secret(self) -> str | None:
        if self.enabled and self.auth_driver in SIGNING_DRIVERS and self.password:
            return self.password
        return None

    @property
    def distinguished_names(self) -> tuple[str, ...]:
        if not self.enabled or self.auth_driver != X509_DRIVER:
            return ()
        return tuple(dn.strip() for dn in self.password.split("|") if dn.strip())


# --- documents -------------------------------------------------------------------------------------


class Document(Protocol):
    """A record kind with documents of its own: `<TAG>` from `*.info`, `<POOL>` from `*pool.info`."""

    TAG: ClassVar[str]
    POOL: ClassVar[str]

    @classmethod
    def from_element(cls, el: _Element) -> Self: ...


D = TypeVar("D", bound=Document)
R = TypeVar("R")


def parse(kind: type[D], text: str | bytes) -> D:
    """One object's document (`parse(VmRecord, vm_info_text)`)."""
    return kind.from_element(parse_xml(text, kind.TAG))


def parse_pool(kind: type[D], text: str | bytes) -> list[D]:
    """A pool document's records, in oned's order (a VM pool: reduced or full bodies)."""
    return _pool(text, kind.POOL, kind.TAG, kind.from_element)


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
