"""The `one.*` XML-RPC methods of the simulator: one registry from method name to handler.

A handler's parameters after `user` are the call's, read in order by their annotations as xmlrpc-c reads
them (a missing or mistyped one is the same -501 fault; a default makes one optional). info, pool info,
update, delete, chmod, chown and rename are one handler each over the kinds table (`kinds.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from one_drivers.one.states import VmState
from one_drivers.sim import access, allocate, docs
from one_drivers.sim.access import ADMIN, MANAGE, USE
from one_drivers.sim.cloud import Cloud, parse_text
from one_drivers.sim.kinds import KINDS
from one_drivers.sim.lifecycle import Lifecycle
from one_drivers.sim.model import Attrs, Owned, User, Vm, merge_attrs
from one_drivers.sim.views import DOCS, POOL_DOCS
from one_drivers.sim.wire import ACTION, INTERNAL, OneFailure, Params

Handler = Callable[["Api", User, Params], Any]
F = TypeVar("F", bound=Callable[..., Any])
METHODS: dict[str, Handler] = {}
# Methods that may change state (the persistence layer saves after them).
MUTATING: set[str] = set()
# The getter of each parameter annotation; `object` is the raw value (user.allocate's group array).
_READERS: dict[str, Callable[[Params, int], Any]] = {
    "int": Params.integer,
    "str": Params.string,
    "bool": Params.boolean,
    "object": lambda p, i: p.values[i],
}


def method(name: str, mutating: bool = False, unused: str = "") -> Callable[[F], F]:
    """Registers `fn(api, user, *params)`: its parameters are read by their annotations, then the optional
    ones `unused` names (e.g. "bool int") are read and dropped. `fn(api, user, p: Params)` reads its own."""

    def register(fn: F) -> F:
        params = list(inspect.signature(fn).parameters.values())[2:]
        if [p.annotation for p in params] == ["Params"]:
            METHODS[name] = fn
        else:
            readers = [(_READERS[p.annotation], p.default) for p in params]
            METHODS[name] = _reading(fn, readers + [(_READERS[t], None) for t in unused.split()], len(params))
        if mutating:
            MUTATING.add(name)
        return fn

    return register


def _reading(
    fn: Callable[..., Any], readers: list[tuple[Callable[[Params, int], Any], Any]], used: int
) -> Handler:
    empty = inspect.Parameter.empty

    def handler(api: Api, user: User, p: Params) -> Any:
        # in order, the first fault ends the call; an absent optional parameter takes its default
        args = [
            read(p, i) if i < len(p) or default is empty else default
            for i, (read, default) in enumerate(readers)
        ]
        return fn(api, user, *args[:used])

    return handler


class Api:
    """What handlers see: the cloud and its lifecycle."""

    def __init__(self, cloud: Cloud, lifecycle: Lifecycle) -> None:
        self.cloud = cloud
        self.lc = lifecycle


def fetch(api: Api, user: User, kind: str, oid: int, op: int) -> Any:
    """The object, if it exists (1024) and `user` may do `op` on it (512)."""
    obj = api.cloud.get(kind, oid)
    access.check(user, kind, obj, op)
    return obj


def vm_for(api: Api, user: User, vid: int, op: int = MANAGE, locked: bool = True) -> Vm:
    """The VM for a request needing `op`, refused on a VM locked against it (unless `locked` is False)."""
    vm: Vm = fetch(api, user, "vm", vid, op)
    if locked:
        api.lc.check_lock(user.id, vm, op)
    return vm


def _touch(obj: Any) -> None:
    if isinstance(obj, Vm):
        obj.touch()


@dataclass(frozen=True)
class Hooks:
    """What one kind does beyond the generic handlers."""

    # the right an info call needs, given its flag (None: none); hosts need ADMIN only to decrypt
    info_op: Callable[[bool], int | None] = lambda flag: USE
    # an update's new template -> the one stored (may refuse it)
    updated: Callable[[Api, Any, Attrs], Attrs] = lambda api, obj, attrs: attrs
    # refuses a delete (or prepares it) before the object leaves its pool
    deleting: Callable[[Api, Any], None] = lambda api, obj: None
    # refuses a rename
    renaming: Callable[[Api, Any, str], None] = lambda api, obj, name: None


HOOKS: dict[str, Hooks] = {"cluster": Hooks(info_op=lambda flag: None)}
_NO_HOOKS = Hooks()


def _hooks(kind: str) -> Hooks:
    return HOOKS.get(kind, _NO_HOOKS)


# --- the generic handlers -------------------------------------------------------------------------
def _info(kind: str) -> Handler:
    def info(api: Api, user: User, p: Params) -> Any:
        oid, flag = p.integer(0), p.opt_bool(1)
        if kind == "template":
            p.opt_bool(2)  # decrypt, after `extended`
        if oid == -1:  # RequestManagerInfo: -1 is the caller's own user or group
            oid = {"user": user.id, "group": user.gid}.get(kind, oid)
        obj = api.cloud.get(kind, oid)
        op = _hooks(kind).info_op(flag)
        if op is not None:
            access.check(user, kind, obj, op)
        return DOCS[kind](api.cloud, user, obj, False, flag)

    return info


def _pool_info(kind: str) -> Handler:
    def pool_info(api: Api, user: User, p: Params) -> Any:
        objs = api.cloud.pool(kind).values()
        if KINDS[kind].paged:
            flag, start, end = p.integer(0), p.integer(1), p.integer(2)
            shown = api.cloud.paginate(access.filtered(user, objs, flag, kind), start, end)
        else:
            everyone = _hooks(kind).info_op(False) is None
            shown = [o for o in sorted(objs, key=lambda o: -o.id) if everyone or _visible(user, kind, o)]
        if kind in POOL_DOCS:
            return POOL_DOCS[kind](api.cloud, shown)
        return docs.pool_xml(KINDS[kind].root, (DOCS[kind](api.cloud, user, o, True, False) for o in shown))

    return pool_info


def _visible(user: User, kind: str, obj: Any) -> bool:
    """In an unpaged pool: what filter flag -2 shows, and for kinds without permission bits a user
    sees itself and a member its groups (admins see all)."""
    if isinstance(obj, Owned):
        return access.filter_test(user, -2, kind)(obj)
    try:
        access.check(user, kind, obj, USE)
    except OneFailure:
        return False
    return True


def _update(kind: str) -> Callable[..., int]:
    def update(api: Api, user: User, oid: int, text: str, merge: int = 0) -> int:
        obj = fetch(api, user, kind, oid, KINDS[kind].manage_op)
        field = "user_template" if kind == "vm" else "template"
        if kind == "vm":
            api.lc.check_lock(user.id, obj, MANAGE)
        new = list(getattr(obj, field)) if merge else []  # merge=0: the new template replaces the old
        merge_attrs(new, parse_text(text))
        setattr(obj, field, _hooks(kind).updated(api, obj, new))
        _touch(obj)
        return oid

    return update


def _delete(kind: str) -> Handler:
    def delete(api: Api, user: User, p: Params) -> Any:
        oid = p.integer(0)
        if kind in ("vnet", "template", "image"):
            p.opt_bool(1)  # recursive / force
        obj = fetch(api, user, kind, oid, KINDS[kind].manage_op)
        _hooks(kind).deleting(api, obj)
        del api.cloud.pool(kind)[oid]
        return oid

    return delete


def _chmod(kind: str) -> Handler:
    def chmod(api: Api, user: User, p: Params) -> Any:
        oid = p.integer(0)
        bits = [p.integer(i) for i in range(1, 10)]
        obj = api.cloud.get(kind, oid)
        # RequestManagerChmod asks one right: ADMIN when an ADMIN bit changes (to 0 or 1), else MANAGE
        admin_bit = any(b not in (-1, was) for was, b in zip(obj.perms[2::3], bits[2::3], strict=True))
        access.authorize(user, kind, obj, ADMIN if admin_bit else MANAGE)
        if any(b not in (-1, 0, 1) for b in bits):
            raise OneFailure(INTERNAL, "New permission values must be -1, 0 or 1")
        obj.perms = tuple(old if new == -1 else new for old, new in zip(obj.perms, bits, strict=True))
        _touch(obj)
        return oid

    return chmod


def _chown(kind: str) -> Callable[..., int]:
    def chown(api: Api, user: User, oid: int, new_uid: int, new_gid: int) -> int:
        """RequestManagerChown: the new owner and group are looked up before the object; -1, or the one
        the object has, keeps it. One request asks MANAGE on the object, MANAGE on a new owner and USE on
        a new group (the owner need not be in the group); a new owner must not have the name taken."""
        owner = api.cloud.get("user", new_uid) if new_uid >= 0 else None
        group = api.cloud.get("group", new_gid) if new_gid >= 0 else None
        obj = api.cloud.get(kind, oid)
        owner = None if owner is None or owner.id == obj.uid else owner
        group = None if group is None or group.id == obj.gid else group
        asked = [(kind, obj, MANAGE), ("user", owner, MANAGE), ("group", group, USE)]
        access.check_all(user, [(k, o, op) for k, o, op in asked if o is not None])
        if owner is not None and kind != "vm":  # VM names need not be unique
            taken = api.cloud.name_holder(kind, obj.name, owner.id)
            if taken is not None:
                what = f"{KINDS[kind].noun} [{taken}] with NAME {obj.name}"
                raise OneFailure(INTERNAL, f"user [{owner.id}] already owns {what}")
        if isinstance(obj, Vm) and obj.state == VmState.DONE:
            raise OneFailure(ACTION, "Could not change VM ownership, wrong state")
        if owner is not None:
            obj.uid, obj.uname = owner.id, owner.name
        if group is not None:
            obj.gid, obj.gname = group.id, group.name
        _touch(obj)
        return oid

    return chown


def _rename(kind: str) -> Callable[..., int]:
    def rename(api: Api, user: User, oid: int, name: str) -> int:
        obj = api.cloud.get(kind, oid)
        if obj.name == name:  # RequestManagerRename answers before asking any right
            return oid
        access.check(user, kind, obj, MANAGE)
        _hooks(kind).renaming(api, obj, name)
        allocate.check_name(name, ACTION)  # PoolObjectSQL::set_name
        obj.name = name
        _touch(obj)
        return oid

    return rename


GENERIC: dict[str, Callable[[str], Callable[..., Any]]] = {
    "update": _update,
    "delete": _delete,
    "chmod": _chmod,
    "chown": _chown,
    "rename": _rename,
}
for _kind in KINDS.values():
    method(f"one.{_kind.method}.info")(_info(_kind.name))
    if _kind.name != "vm":  # the VM pool has its own paging and two bodies (vm_methods.py)
        method(f"one.{_kind.method}pool.info")(_pool_info(_kind.name))
    for _op in _kind.ops.split():
        method(f"one.{_kind.method}.{_op}", mutating=True)(GENERIC[_op](_kind.name))


# Method families kept in their own modules register themselves on import (they use `method` above).
from one_drivers.sim import kind_methods, vm_methods  # noqa: E402,F401
