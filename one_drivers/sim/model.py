"""The simulator's objects: what oned keeps in its pools, as plain mutable records.

Templates are kept as ordered attribute lists (the shape `one.template.parse_template` yields);
rendering sorts them by name as oned's multimap does. A VM caches its two XML bodies (full and the
reduced one of `vmpool.info`); every change goes through `Vm.touch()` so the caches stay true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from one_drivers.one.states import ImageState, ImageType, LcmState, VmState

Attrs = list[tuple[str, "str | dict[str, str]"]]

# Owner use/manage, nothing else: oned's default umask 177.
# The OpenNebula release the simulator answers as by default (the recorded one).
ONE_VERSION = "6.10.5"
DEFAULT_PERMS = (1, 1, 0, 0, 0, 0, 0, 0, 0)
GROUP_USE_PERMS = (1, 1, 0, 1, 0, 0, 0, 0, 0)


def load_data(name: str) -> Any:
    """One of the package's YAML data files (bootstrap.yaml, vm.yaml, documents.yaml)."""
    return yaml.safe_load(resources.files("one_drivers.sim").joinpath(name).read_text(encoding="utf-8"))


def data_attrs(pairs: list[list[Any]] | None) -> Attrs:
    """A data file's [NAME, value] pairs as a template attribute list."""
    return [(str(k), dict(v) if isinstance(v, dict) else str(v)) for k, v in pairs or []]


def fill(shape: dict[str, str], fields: dict[str, Any]) -> dict[str, str]:
    """A data file's vector with its {field}s filled in."""
    return {k: v.format_map(fields) if "{" in v else v for k, v in shape.items()}


LEADING_INT = re.compile(r"\s*([-+]?[0-9]+)")


def leading_int(text: str) -> int | None:
    """The integer `text` starts with, as C++'s `>>` and Ruby's `to_i` read it; None without one."""
    found = LEADING_INT.match(text)
    return int(found.group(1)) if found else None


def get_attr(attrs: Attrs, name: str) -> str | None:
    for key, value in attrs:
        if key == name and isinstance(value, str):
            return value
    return None


def get_vectors(attrs: Attrs, name: str) -> list[dict[str, str]]:
    return [value for key, value in attrs if key == name and isinstance(value, dict)]


def vector_by_id(attrs: Attrs, name: str, oid: int) -> dict[str, str] | None:
    """The DISK, NIC or SNAPSHOT vector whose <name>_ID is `oid`."""
    return next((v for v in get_vectors(attrs, name) if v.get(f"{name}_ID") == str(oid)), None)


def set_attr(attrs: Attrs, name: str, value: str | dict[str, str]) -> None:
    """Replace every attribute named `name` with one value (oned's `replace`)."""
    attrs[:] = [(k, v) for k, v in attrs if k != name]
    attrs.append((name, value))


def merge_attrs(attrs: Attrs, new: Attrs) -> None:
    """oned's update with merge=1: each new name replaces the old ones of that name."""
    names = {k for k, _ in new}
    attrs[:] = [(k, v) for k, v in attrs if k not in names] + list(new)


@dataclass
class User:
    id: int
    name: str
    gid: int
    gname: str
    password: str
    auth_driver: str
    groups: list[int] = field(default_factory=list)
    enabled: bool = True
    template: Attrs = field(default_factory=list)
    # one.user.login tokens: token -> (expiration epoch or -1, EGID), rendered as LOGIN_TOKEN elements
    login_tokens: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Group:
    id: int
    name: str
    template: Attrs = field(default_factory=list)


@dataclass
class Owned:
    id: int
    uid: int
    gid: int
    uname: str
    gname: str
    name: str
    perms: tuple[int, ...]


@dataclass
class Cluster:
    id: int
    name: str
    template: Attrs = field(default_factory=list)


@dataclass
class Datastore(Owned):
    ds_mad: str = "fs"
    tm_mad: str = "ssh"
    base_path: str = ""
    type: int = 0
    disk_type: int = 0
    state: int = 0
    cluster_ids: list[int] = field(default_factory=lambda: [0])
    total_mb: int = 0
    free_mb: int = 0
    used_mb: int = 0
    template: Attrs = field(default_factory=list)


@dataclass
class Host:
    id: int
    name: str
    im_mad: str
    vm_mad: str
    cluster_id: int
    cluster: str
    state: int = 0  # INIT; 2 MONITORED, 3 ERROR, 4 DISABLED, 8 OFFLINE
    prev_state: int = 0
    template: Attrs = field(default_factory=list)
    # HOST_SHARE pieces learned from SYSTEM_HOST
    total_mem: int = 0
    total_cpu: int = 0
    ds_usage: tuple[int, int, int] = (0, 0, 0)  # free, max, used disk MB
    pci: list[dict[str, str]] = field(default_factory=list)
    numa: list[dict[str, str]] = field(default_factory=list)  # CORE/HUGEPAGE/MEMORY_NODE vectors, tagged
    # MONITORING from MONITOR_HOST
    monitoring: Attrs = field(default_factory=list)
    monitor_time: int = 0
    # monitord's own view (not in oned's documents): when it last heard of the host, and whether a
    # START_MONITOR is out (HostBase last_monitored / monitor_in_progress in 6.10's src/monitor).
    last_monitored: float = 0.0
    monitor_in_progress: bool = False


@dataclass
class VmTemplate(Owned):
    regtime: int = 0
    template: Attrs = field(default_factory=list)


@dataclass
class Image(Owned):
    type: int = ImageType.OS
    disk_type: int = 0
    persistent: int = 0
    regtime: int = 0
    source: str = ""
    path: str = ""
    format: str = "raw"
    fs: str = ""
    size: int = 0
    state: int = ImageState.READY
    prev_state: int = ImageState.READY
    datastore_id: int = 1
    datastore: str = "default"
    vms: list[int] = field(default_factory=list)
    clones: list[int] = field(default_factory=list)
    template: Attrs = field(default_factory=list)


@dataclass
class AddressRange:
    ar_id: int
    ip: str
    mac: str
    size: int
    type: str = "IP4"
    leases: dict[int, int] = field(default_factory=dict)  # offset -> vm id (-1 = on hold)


@dataclass
class VNet(Owned):
    cluster_ids: list[int] = field(default_factory=lambda: [0])
    bridge: str = ""
    bridge_type: str = "linux"
    vn_mad: str = "dummy"
    state: int = 1
    template: Attrs = field(default_factory=list)
    ars: list[AddressRange] = field(default_factory=list)


@dataclass
class SecGroup(Owned):
    """A security group: RULE vectors in its template, and the VMs using it by update state."""

    template: Attrs = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    outdated: list[int] = field(default_factory=list)
    updating: list[int] = field(default_factory=list)
    error: list[int] = field(default_factory=list)

    @property
    def vm_count(self) -> int:
        return len(self.updated) + len(self.outdated) + len(self.updating) + len(self.error)

    def drop_vm(self, vm_id: int) -> None:
        for ids in (self.updated, self.outdated, self.updating, self.error):
            if vm_id in ids:
                ids.remove(vm_id)


@dataclass
class History:
    seq: int
    hostname: str
    hid: int
    cid: int
    stime: int
    vm_mad: str
    tm_mad: str
    ds_id: int
    etime: int = 0
    pstime: int = 0
    petime: int = 0
    rstime: int = 0
    retime: int = 0
    estime: int = 0
    eetime: int = 0
    action: int = 0
    uid: int = -1
    gid: int = -1
    request_id: int = -1


@dataclass
class VmLock:
    level: int
    owner: int
    time: int
    req_id: int


@dataclass
class Vm(Owned):
    state: VmState = VmState.PENDING
    lcm_state: LcmState = LcmState.LCM_INIT
    prev_state: VmState = VmState.PENDING
    prev_lcm_state: LcmState = LcmState.LCM_INIT
    stime: int = 0
    etime: int = 0
    last_poll: int = 0
    resched: int = 0
    deploy_id: str = ""
    monitoring: Attrs = field(default_factory=list)
    template: Attrs = field(default_factory=list)
    user_template: Attrs = field(default_factory=list)
    history: list[History] = field(default_factory=list)
    lock: VmLock | None = None
    resume_from: VmState | None = None  # STOPPED/UNDEPLOYED while waiting for the scheduler
    # oned's vm.log state lines ("New state is ACTIVE", "New LCM state is RUNNING"), oldest first.
    state_log: list[str] = field(default_factory=list, repr=False, compare=False)
    # Cached XML bodies; None = stale.
    full_xml: str | None = field(default=None, repr=False, compare=False)
    short_xml: str | None = field(default=None, repr=False, compare=False)
    full_parts: tuple[str, str, str] = field(default=("", "", ""), repr=False, compare=False)
    # The bodies above as they go on the wire (UTF-8, XML-RPC-escaped), by document kind: a pool page
    # is then a join of ready bytes instead of an encode and four replaces over megabytes per call.
    wire: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def touch(self) -> None:
        self.full_xml = None
        self.short_xml = None
        self.wire.clear()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (the state file) without the cached bodies: they are rebuilt when asked for."""
        return {**self.__dict__, "full_xml": None, "short_xml": None, "full_parts": ("", "", ""), "wire": {}}

    def set_state(self, state: VmState, lcm: LcmState = LcmState.LCM_INIT) -> None:
        if state != self.state:
            self.state_log.append(f"New state is {state.name}")
        if lcm != self.lcm_state:
            self.state_log.append(f"New LCM state is {lcm.name}")
        self.prev_state, self.prev_lcm_state = self.state, self.lcm_state
        self.state, self.lcm_state = state, lcm
        self.touch()

    def set_lcm(self, lcm: LcmState) -> None:
        self.set_state(VmState.ACTIVE, lcm)

    @property
    def state_label(self) -> str:
        return self.lcm_state.name if self.state is VmState.ACTIVE else self.state.name

    @property
    def current(self) -> History | None:
        return self.history[-1] if self.history else None
