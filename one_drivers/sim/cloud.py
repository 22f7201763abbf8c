"""The simulator's pools: every object of the simulated oned, behind one re-entrant lock.

XML-RPC handlers (`methods.py`) and the lifecycle (`lifecycle.py`) work on one `Cloud`; who may do
what is `access.py`, how objects are made `allocate.py` and `instantiate.py` (VMs). The objects of a
fresh oned come from `bootstrap.yaml`. Failures are `OneFailure(code, message, id)` (`wire.py`).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from one_drivers.one.cipher import scheme_for_version
from one_drivers.one.template import TemplateError, parse_template
from one_drivers.sim import access, auth, model
from one_drivers.sim.access import BOOTSTRAP_ACL as BOOTSTRAP_ACL
from one_drivers.sim.kinds import KINDS
from one_drivers.sim.model import DEFAULT_PERMS, ONE_VERSION, Attrs, Owned, User, get_vectors, load_data
from one_drivers.sim.storage import ImageStore
from one_drivers.sim.wire import ACTION as ACTION
from one_drivers.sim.wire import AUTHORIZATION as AUTHORIZATION
from one_drivers.sim.wire import INTERNAL, NO_EXISTS, OneFailure

T = TypeVar("T", bound=Owned)


def not_found(kind: str, oid: int) -> OneFailure:
    return OneFailure(NO_EXISTS, f"Error getting {KINDS[kind].noun} [{oid}].", oid)


def parse_text(text: str) -> Attrs:
    """Template text → attribute list; a syntax error is oned's 8192 `Parse error`."""
    try:
        return list(parse_template(text).attributes)
    except TemplateError as exc:
        raise OneFailure(INTERNAL, f"Parse error: {exc}") from exc


def sg_ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def nic_security_groups(nic: dict[str, str]) -> list[int]:
    """The group ids of a NIC's comma-separated SECURITY_GROUPS (oned's split_unique, as ints)."""
    return sorted(set(sg_ids(nic.get("SECURITY_GROUPS", ""))))


class Cloud:
    """Every pool of the simulated oned, guarded by one lock."""

    def __init__(
        self,
        oneadmin_password: str,
        serveradmin_password: str,
        clock: Callable[[], float] = time.time,
        version: str = ONE_VERSION,
    ):
        self.lock = threading.RLock()
        self.clock = clock
        # The emulated OpenNebula line decides the password digest and the server_cipher token scheme.
        self.version = version
        self.scheme = scheme_for_version(version)
        # oned's authentication cache, one session per user (token, expiry); driver_auths counts the
        # logins that went to an auth driver, auth_log keeps what oned.log would say of refused ones.
        self.sessions: dict[int, tuple[str, float]] = {}
        self.driver_auths = 0
        self.auth_log: collections.deque[str] = collections.deque(maxlen=1000)
        self.users: dict[int, User] = {}
        self.groups: dict[int, model.Group] = {}
        self.clusters: dict[int, model.Cluster] = {}
        self.datastores: dict[int, model.Datastore] = {}
        self.hosts: dict[int, model.Host] = {}
        self.templates: dict[int, model.VmTemplate] = {}
        self.images: dict[int, model.Image] = {}
        self.vnets: dict[int, model.VNet] = {}
        self.vms: dict[int, model.Vm] = {}
        self.secgroups: dict[int, model.SecGroup] = {}
        self.next_id: dict[str, int] = {kind.name: kind.first_id for kind in KINDS.values()}
        self.request_seq = 0
        # Datastore copies and the image acquire/release rules (sim/storage.py).
        self.image_store = ImageStore(self)
        self._bootstrap(oneadmin_password, serveradmin_password)

    def _bootstrap(self, oneadmin_password: str, serveradmin_password: str) -> None:
        """The objects of a fresh oned: users 0/1 here, the rest from bootstrap.yaml."""
        for uid, name, pw, driver in (
            (0, "oneadmin", oneadmin_password, "core"),
            (1, "serveradmin", serveradmin_password, "server_cipher"),
        ):
            hashed = auth.hash_password(pw, self.scheme)
            token: Attrs = [("TOKEN_PASSWORD", auth.hash_password(hashed, self.scheme))]
            self.users[uid] = User(uid, name, 0, "oneadmin", hashed, driver, [0], True, token)
        data = load_data("bootstrap.yaml")
        owner = {"uid": 0, "gid": 0, "uname": "oneadmin", "gname": "oneadmin"}
        for kind, cls in (("groups", model.Group), ("clusters", model.Cluster), ("datastores", model.Datastore), ("secgroups", model.SecGroup)):  # fmt: skip
            pool = getattr(self, kind)
            for fields in data[kind]:
                fields = {**fields, "template": model.data_attrs(fields.get("template"))}
                if "perms" in fields:
                    fields.update(owner, perms=tuple(fields["perms"]))
                pool[fields["id"]] = cls(**fields)

    def now(self) -> int:
        return int(self.clock())

    def take_id(self, kind: str) -> int:
        oid = self.next_id[kind]
        self.next_id[kind] = oid + 1
        return oid

    def next_request_id(self) -> int:
        self.request_seq += 1
        return self.request_seq

    is_admin = staticmethod(access.is_admin)

    def user_by_name(self, name: str) -> User | None:
        return next((user for user in self.users.values() if user.name == name), None)

    def pool(self, kind: str) -> dict[int, Any]:
        pool: dict[int, Any] = getattr(self, KINDS[kind].pool)
        return pool

    def get(self, kind: str, oid: int) -> Any:
        """The object, or oned's 1024 "Error getting <noun> [id]."."""
        obj = self.pool(kind).get(oid)
        if obj is None:
            raise not_found(kind, oid)
        return obj

    def name_holder(self, kind: str, name: str, uid: int, oid: int = -1) -> int | None:
        """The id of the `kind` object other than `oid` that `uid` owns under `name` (names are unique per
        owner; hosts and users have none: `uid` -1, unique in the pool)."""
        found = (o.id for o in self.pool(kind).values() if o.name == name and getattr(o, "uid", -1) == uid)
        return next((i for i in found if i != oid), None)

    def check_name_free(self, kind: str, name: str, uid: int, code: int = INTERNAL, oid: int = -1) -> None:
        taken = self.name_holder(kind, name, uid, oid)
        if taken is not None:
            raise OneFailure(code, f"NAME is already taken by {KINDS[kind].taken} {taken}.")

    def add(self, kind: str, cls: type[T], user: User, name: str, **fields: Any) -> T:
        """A new object of `kind` owned by `user` (DEFAULT_PERMS unless given), stored in its pool."""
        fields.setdefault("perms", DEFAULT_PERMS)
        obj = cls(self.take_id(kind), user.id, user.gid, user.name, user.gname, name, **fields)
        self.pool(kind)[obj.id] = obj
        return obj

    @staticmethod
    def paginate(objs: list[T], start: int, end: int) -> list[T]:
        """Newest first; `end < -1` is a page of `-end` from offset `start`, else an id range."""
        ordered = sorted(objs, key=lambda o: o.id, reverse=True)
        if end < -1:
            offset = max(start, 0)
            return ordered[offset : offset - end]
        if start < 0 and end < 0:
            return ordered
        low = max(start, 0)
        return [o for o in ordered if o.id >= low and (end < 0 or o.id <= end)]

    def security_group_rules(self, ids: Iterable[int]) -> list[dict[str, str]]:
        """SECURITY_GROUP_RULE vectors for these groups (oned's get_rules; missing groups give none)."""
        return [
            {**rule, "SECURITY_GROUP_ID": str(sg.id), "SECURITY_GROUP_NAME": sg.name}
            for sg in filter(None, map(self.secgroups.get, ids))
            for rule in get_vectors(sg.template, "RULE")
        ]

    def release_resources(self, vm: model.Vm) -> None:
        """On DONE: free leases, leave security groups and detach images, as oned does."""
        for nic in get_vectors(vm.template, "NIC"):
            for sg in filter(None, map(self.secgroups.get, nic_security_groups(nic))):
                sg.drop_vm(vm.id)
        for vnet in self.vnets.values():
            for rng in vnet.ars:
                for offset in [o for o, v in rng.leases.items() if v == vm.id]:
                    del rng.leases[offset]
        for img in self.images.values():
            self.image_store.release(img, vm.id)
