"""The simulator's core: pools, authentication, authorization, filtering and object creation.

One `Cloud` holds every pool behind one re-entrant lock; XML-RPC handlers (`methods.py`) and the
lifecycle (`lifecycle.py`) call into it. Failures are `OneFailure(code, message, id)` carrying oned's
own error codes and message forms (see real-6.10.5/index_errors.json), turned into tuples in `wire.py`.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from one_drivers.one.cipher import scheme_for_version
from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import TemplateError, parse_template
from one_drivers.sim import auth
from one_drivers.sim.docs import offset_ip, offset_mac
from one_drivers.sim.model import (
    DEFAULT_PERMS,
    GROUP_USE_PERMS,
    ONE_VERSION,
    AddressRange,
    Attrs,
    Cluster,
    Datastore,
    Group,
    History,
    Host,
    Image,
    Owned,
    SecGroup,
    User,
    Vm,
    VmTemplate,
    VNet,
    get_attr,
)
from one_drivers.sim.storage import Copy, ImageStore
from one_drivers.sim.wire import OneFailure

AUTHENTICATION, AUTHORIZATION, NO_EXISTS, ACTION, XML_RPC_API, INTERNAL, ALLOCATE, LOCKED = (
    0x0100,
    0x0200,
    0x0400,
    0x0800,
    0x1000,
    0x2000,
    0x4000,
    0x8000,
)
USE, MANAGE, ADMIN = 0, 1, 2
OP_NAMES = ("USE", "MANAGE", "ADMIN")
log = logging.getLogger(__name__)

# LoginTokenPool::MAX_TOKENS
LOGIN_TOKENS_PER_USER = 10

# Object kinds: (name in "Error getting <name> [id]", name in "perform USE <KIND> [id]", allocate-name kind)
OBJECT_NAMES = {
    "vm": ("virtual machine", "VM"),
    "template": ("virtual machine template", "TEMPLATE"),
    "image": ("image", "IMAGE"),
    "vnet": ("virtual network", "NET"),
    "host": ("host", "HOST"),
    "user": ("user", "USER"),
    "group": ("group", "GROUP"),
    "datastore": ("datastore", "DATASTORE"),
    "cluster": ("cluster", "CLUSTER"),
    "secgroup": ("security group", "SECGROUP"),
}

# Attributes oned keeps in a VM's TEMPLATE; everything else the user gave lands in USER_TEMPLATE.
VM_TEMPLATE_KEYS = frozenset(
    {
        "CPU",
        "VCPU",
        "MEMORY",
        "DISK",
        "NIC",
        "NIC_ALIAS",
        "NIC_DEFAULT",
        "CONTEXT",
        "GRAPHICS",
        "OS",
        "FEATURES",
        "RAW",
        "INPUT",
        "PCI",
        "NUMA_NODE",
        "TOPOLOGY",
        "VMGROUP",
        "SECURITY_GROUP_RULE",
        "TEMPLATE_ID",
        "VMID",
        "SUBMIT_ON_HOLD",
        "EMULATOR",
        "CPU_MODEL",
        "MEMORY_MAX",
        "VCPU_MAX",
        "MEMORY_SLOTS",
        "MEMORY_COST",
        "CPU_COST",
        "DISK_COST",
        "SPICE_OPTIONS",
        "VROUTER_ID",
        "TM_MAD_SYSTEM",
        "AUTOMATIC_REQUIREMENTS",
        "AUTOMATIC_DS_REQUIREMENTS",
        "AUTOMATIC_NIC_REQUIREMENTS",
    }
)

# The ACL rules a fresh oned 6.x bootstraps (`oneacl list`): what the "users" group (1) may do beyond
# the objects' permission bits. (group id, object kinds, right); "CREATE" is the allocate right.
BOOTSTRAP_ACL: tuple[tuple[int, frozenset[str], int | str], ...] = (
    (1, frozenset({"vm", "image", "template", "secgroup"}), "CREATE"),
    (1, frozenset({"host"}), MANAGE),
    (1, frozenset({"vnet", "datastore"}), USE),
)
ACL_KIND_NAMES = {"vm": "VM", "image": "IMAGE", "template": "TEMPLATE", "vnet": "NET", "host": "HOST",
                  "datastore": "DATASTORE", "user": "USER", "group": "GROUP", "cluster": "CLUSTER",
                  "secgroup": "SECGROUP"}  # fmt: skip

T = TypeVar("T", bound=Owned)
G = TypeVar("G")


def not_found(kind: str, oid: int) -> OneFailure:
    return OneFailure(NO_EXISTS, f"Error getting {OBJECT_NAMES[kind][0]} [{oid}].", oid)


def _sg_ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


def nic_security_groups(nic: dict[str, str]) -> list[int]:
    """The group ids of a NIC's comma-separated SECURITY_GROUPS (oned's split_unique, as ints)."""
    return sorted(set(_sg_ids(nic.get("SECURITY_GROUPS", ""))))


def parse_text(text: str) -> Attrs:
    """Template text → attribute list; a syntax error is oned's 8192 `Parse error`."""
    try:
        return list(parse_template(text).attributes)
    except TemplateError as exc:
        raise OneFailure(INTERNAL, f"Parse error: {exc}") from exc


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
        self.groups: dict[int, Group] = {}
        self.clusters: dict[int, Cluster] = {}
        self.datastores: dict[int, Datastore] = {}
        self.hosts: dict[int, Host] = {}
        self.templates: dict[int, VmTemplate] = {}
        self.images: dict[int, Image] = {}
        self.vnets: dict[int, VNet] = {}
        self.vms: dict[int, Vm] = {}
        self.secgroups: dict[int, SecGroup] = {}
        self.next_id: dict[str, int] = {
            "secgroup": 100,  # oned keeps ids below 100 for system groups (0 = default)
            "user": 2,
            "group": 100,
            "cluster": 100,
            "datastore": 100,
            "host": 0,
            "template": 0,
            "image": 0,
            "vnet": 0,
            "vm": 0,
        }
        self.request_seq = 0
        # Datastore copies and the image acquire/release rules (sim/storage.py).
        self.image_store = ImageStore(self)
        self._bootstrap(oneadmin_password, serveradmin_password)

    # --- bootstrap --------------------------------------------------------------------------------
    def _bootstrap(self, oneadmin_password: str, serveradmin_password: str) -> None:
        """The objects of a fresh oned: users 0/1, groups 0/1, cluster 0, datastores 0/1/2."""
        self.groups[0] = Group(0, "oneadmin")
        self.groups[1] = Group(
            1,
            "users",
            [
                (
                    "SUNSTONE",
                    {
                        "DEFAULT_VIEW": "cloud",
                        "GROUP_ADMIN_DEFAULT_VIEW": "groupadmin",
                        "GROUP_ADMIN_VIEWS": "groupadmin,cloud",
                        "VIEWS": "cloud",
                    },
                )
            ],
        )
        for uid, name, pw, driver in (
            (0, "oneadmin", oneadmin_password, "core"),
            (1, "serveradmin", serveradmin_password, "server_cipher"),
        ):
            hashed = auth.hash_password(pw, self.scheme)
            self.users[uid] = User(
                uid,
                name,
                0,
                "oneadmin",
                hashed,
                driver,
                [0],
                True,
                [("TOKEN_PASSWORD", auth.hash_password(hashed, self.scheme))],
            )
        self.clusters[0] = Cluster(0, "default", [("RESERVED_CPU", ""), ("RESERVED_MEM", "")])
        base = "/var/lib/one//datastores"
        common = [("ALLOW_ORPHANS", "YES"), ("RESTRICTED_DIRS", "/"), ("SAFE_DIRS", "/var/tmp")]
        self.datastores[0] = Datastore(
            0,
            0,
            0,
            "oneadmin",
            "oneadmin",
            "system",
            GROUP_USE_PERMS,
            "-",
            "ssh",
            f"{base}/0",
            1,
            template=[
                *common,
                ("DISK_TYPE", "FILE"),
                ("DS_MIGRATE", "YES"),
                ("SHARED", "NO"),
                ("TM_MAD", "ssh"),
                ("TYPE", "SYSTEM_DS"),
            ],
        )
        image_tmpl = [
            *common,
            ("CLONE_TARGET", "SYSTEM"),
            ("DS_MAD", "fs"),
            ("LN_TARGET", "SYSTEM"),
            ("TM_MAD", "ssh"),
        ]
        self.datastores[1] = Datastore(
            1,
            0,
            0,
            "oneadmin",
            "oneadmin",
            "default",
            GROUP_USE_PERMS,
            "fs",
            "ssh",
            f"{base}/1",
            0,
            total_mb=258020,
            free_mb=78357,
            used_mb=25541,
            template=[*image_tmpl, ("DISK_TYPE", "FILE"), ("TYPE", "IMAGE_DS")],
        )
        self.datastores[2] = Datastore(
            2,
            0,
            0,
            "oneadmin",
            "oneadmin",
            "files",
            GROUP_USE_PERMS,
            "fs",
            "ssh",
            f"{base}/2",
            2,
            total_mb=258020,
            free_mb=78357,
            used_mb=25541,
            template=[*image_tmpl, ("TYPE", "FILE_DS")],
        )
        # The default security group every network carries (oned's SecurityGroupPool bootstrap):
        # owner uma, group u, other u, so every user may put it on a NIC.
        self.secgroups[0] = SecGroup(
            0,
            0,
            0,
            "oneadmin",
            "oneadmin",
            "default",
            (1, 1, 1, 1, 0, 0, 1, 0, 0),
            template=[
                (
                    "DESCRIPTION",
                    "The default security group is added to every network. Use it to add default filter "
                    "rules for your networks. You may remove this security group from any network by "
                    "updating its properties.",
                ),
                ("RULE", {"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND"}),
                ("RULE", {"PROTOCOL": "ALL", "RULE_TYPE": "INBOUND"}),
            ],
        )

    def now(self) -> int:
        return int(self.clock())

    def take_id(self, kind: str) -> int:
        oid = self.next_id[kind]
        self.next_id[kind] = oid + 1
        return oid

    # --- authentication ---------------------------------------------------------------------------
    def user_by_name(self, name: str) -> User | None:
        for user in self.users.values():
            if user.name == name:
                return user
        return None

    def authenticate(self, session: str) -> User:
        """The user a session string logs in as, or 256 as oned answers (UserPool::authenticate)."""
        failure = OneFailure(AUTHENTICATION, "User couldn't be authenticated, aborting call.")
        if ":" not in session:
            raise failure
        name, secret = session.split(":", 1)
        user = self.user_by_name(name)
        if user is None or not user.enabled:
            raise failure
        now = self.clock()
        if user.auth_driver == "server_cipher":
            # Only login tokens: the server_cipher driver decrypts the secret, a plain password fails.
            # The cached session checked (and set) is the target user's, as in authenticate_server.
            target_name, sep, token = secret.partition(":")
            target = self.user_by_name(target_name) if sep else None
            if target is None:
                self._auth_error(f"User: {target_name} does not exist. Returned by server auth")
                raise failure
            if self._session_valid(target, token, now):
                return target
            self.driver_auths += 1
            error = auth.server_token_error(self.scheme, name, user.password, token, now)
            if error is not None:
                self._auth_error(f"Auth Error: {error}")
                raise failure
            self.sessions[target.id] = (token, now + auth.SESSION_EXPIRATION_SECONDS)
            return target
        if self._login_token_valid(user, secret, now) or self._session_valid(user, secret, now):
            return user
        if user.auth_driver == "public":
            if secret == user.password:
                return user
            raise failure
        if user.auth_driver == "core" and auth.hash_password(secret, self.scheme) == user.password:
            self.sessions[user.id] = (secret, now + auth.SESSION_EXPIRATION_SECONDS)
            return user
        # Other drivers (ssh, x509, ldap) need their auth programs, which the simulator does not run.
        raise failure

    def _auth_error(self, message: str) -> None:
        """What oned logs as `[AuM][E]` for a refused server login (the client only sees 256)."""
        self.auth_log.append(message)
        log.warning("AuM: %s", message)

    def _session_valid(self, user: User, token: str, now: float) -> bool:
        cached = self.sessions.get(user.id)
        return cached is not None and cached[0] == token and now < cached[1]

    @staticmethod
    def _login_token_valid(user: User, token: str, now: float) -> bool:
        tokens = user.login_tokens
        entry = tokens.get(token)
        if entry is None:
            return False
        if entry[0] == -1 or now < entry[0]:
            return True
        del tokens[token]
        return False

    def user_login(self, user: User, token: str, valid: int, egid: int) -> str:
        """one.user.login: create (valid > 0 or -1) or drop (valid 0) a login token, as UserLogin does."""
        tokens = user.login_tokens
        now = int(self.clock())
        if valid == 0:
            if not token:
                tokens.clear()
            elif tokens.pop(token, None) is None:
                raise OneFailure(XML_RPC_API, f"Could not find token: {token}")
            return token
        if valid < -1:
            raise OneFailure(XML_RPC_API, "Wrong valid period for token")
        for old in [t for t, (expiry, _) in tokens.items() if expiry != -1 and now > expiry]:
            del tokens[old]
        if len(tokens) >= LOGIN_TOKENS_PER_USER:
            raise OneFailure(XML_RPC_API, "Max number of tokens limit reached.")
        token = token or secrets.token_hex(20)
        # An existing token keeps its expiry (oned inserts into a map and ignores the duplicate).
        tokens.setdefault(token, (-1 if valid == -1 else now + valid, egid))
        return token

    # --- authorization ----------------------------------------------------------------------------
    @staticmethod
    def is_admin(user: User) -> bool:
        return user.id == 0 or 0 in user.groups

    @staticmethod
    def acl_allows(user: User, kind: str, right: int | str) -> bool:
        return any(
            gid in user.groups and kind in kinds and rule_right == right
            for gid, kinds, rule_right in BOOTSTRAP_ACL
        )

    def allowed(self, user: User, obj: Owned, op: int, kind: str = "") -> bool:
        if self.is_admin(user):
            return True
        p = obj.perms
        if obj.uid == user.id and p[op]:
            return True
        if obj.gid in user.groups and p[3 + op]:
            return True
        return bool(p[6 + op]) or (bool(kind) and self.acl_allows(user, kind, op))

    def authorize_create(self, user: User, kind: str) -> None:
        """The CREATE right of allocate calls: admins, or an ACL rule (users may create VMs, images, templates)."""
        if not self.is_admin(user) and not self.acl_allows(user, kind, "CREATE"):
            raise OneFailure(
                AUTHORIZATION, f"User [{user.id}] : Not authorized to perform CREATE {ACL_KIND_NAMES[kind]}."
            )

    def authorize(self, user: User, kind: str, obj: Owned, op: int) -> None:
        if not self.allowed(user, obj, op, kind):
            raise OneFailure(
                AUTHORIZATION,
                f"User [{user.id}] : Not authorized to perform {OP_NAMES[op]} {OBJECT_NAMES[kind][1]} [{obj.id}].",
            )

    def require_admin(self, user: User, kind: str, oid: int, op: int = ADMIN) -> None:
        if not self.is_admin(user):
            raise OneFailure(
                AUTHORIZATION,
                f"User [{user.id}] : Not authorized to perform {OP_NAMES[op]} {OBJECT_NAMES[kind][1]} [{oid}].",
            )

    def get(self, kind: str, pool: dict[int, G], oid: int) -> G:
        obj = pool.get(oid)
        if obj is None:
            raise not_found(kind, oid)
        return obj

    # --- pool listing -----------------------------------------------------------------------------
    def filtered(self, user: User, objs: Iterable[T], flag: int, kind: str = "") -> list[T]:
        """oned's pool filter flag: -4 primary group, -3 mine, -2 all visible, -1 mine+groups, >=0 uid."""
        shown = self.filter_test(user, flag, kind)
        return [obj for obj in objs if shown(obj)]

    def filter_test(self, user: User, flag: int, kind: str = "") -> Callable[[Any], bool]:
        """`filtered`'s test for one object, for callers that stop early (a page of a big pool)."""
        admin = self.is_admin(user)

        def shown(obj: Any) -> bool:
            if flag == -4:
                ok = obj.gid == user.gid
            elif flag == -3:
                ok = obj.uid == user.id
            elif flag == -1:
                ok = obj.uid == user.id or obj.gid in user.groups
            elif flag >= 0:
                ok = obj.uid == flag
            else:
                ok = True
            return bool(ok and (admin or self.allowed(user, obj, USE, kind) or obj.uid == user.id))

        return shown

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

    # --- helpers for names ------------------------------------------------------------------------
    def check_name_free(self, kind: str, pool: dict[int, T], name: str, uid: int) -> None:
        for obj in pool.values():
            if obj.name == name and obj.uid == uid:
                label = {"template": "TEMPLATE", "image": "IMAGE", "vnet": "NET"}[kind]
                raise OneFailure(INTERNAL, f"NAME is already taken by {label} {obj.id}.")

    def owner_fields(self, user: User) -> tuple[int, int, str, str]:
        return user.id, user.gid, user.name, user.gname

    # --- users -------------------------------------------------------------------------------------
    def allocate_user(self, name: str, password: str, driver: str, groups: list[int]) -> User:
        if not name or any(c in name for c in " :\t\n"):
            raise OneFailure(INTERNAL, "Invalid NAME, it cannot contain spaces or colons.")
        if self.user_by_name(name):
            raise OneFailure(INTERNAL, f"NAME is already taken by USER {self.user_by_name(name).id}.")  # type: ignore[union-attr]
        gid = groups[0] if groups else 1
        group = self.get("group", self.groups, gid)
        driver = driver or "core"
        stored = (
            password
            if driver == "public"
            else auth.hash_password(password, self.scheme)
            if driver in ("core", "server_cipher")
            else password
        )
        uid = self.take_id("user")
        user = User(uid, name, gid, group.name, stored, driver, sorted(set(groups or [gid])))
        user.template.append(("TOKEN_PASSWORD", auth.hash_password(stored, self.scheme)))
        self.users[uid] = user
        return user

    def set_password(self, user: User, password: str) -> None:
        user.password = (
            password if user.auth_driver == "public" else auth.hash_password(password, self.scheme)
        )

    # --- hosts ------------------------------------------------------------------------------------
    def allocate_host(self, name: str, im_mad: str, vm_mad: str, cluster_id: int) -> Host:
        if cluster_id == -1:
            cluster_id = 0
        cluster = self.get("cluster", self.clusters, cluster_id)
        for host in self.hosts.values():
            if host.name == name:
                raise OneFailure(INTERNAL, f"NAME is already taken by HOST {host.id}.")
        hid = self.take_id("host")
        host = Host(hid, name, im_mad, vm_mad, cluster_id, cluster.name)
        host.template = [("IM_MAD", im_mad), ("VM_MAD", vm_mad), ("RESERVED_CPU", ""), ("RESERVED_MEM", "")]
        self.hosts[hid] = host
        return host

    # --- datastores (beyond the bootstrap ones) --------------------------------------------------
    def allocate_datastore(self, user: User, attrs: Attrs, cluster_id: int = 0) -> Datastore:
        name = get_attr(attrs, "NAME") or ""
        if not name:
            raise OneFailure(INTERNAL, "No NAME in template for Datastore.")
        dtype = {"IMAGE_DS": 0, "SYSTEM_DS": 1, "FILE_DS": 2}.get(
            (get_attr(attrs, "TYPE") or "IMAGE_DS").upper(), 0
        )
        ds_mad = get_attr(attrs, "DS_MAD") or "-"
        tm_mad = get_attr(attrs, "TM_MAD") or "ssh"
        did = self.take_id("datastore")
        tmpl = [(k, v) for k, v in attrs if k != "NAME"]
        # The defaults oned fills in from its DS_MAD_CONF / TM_MAD_CONF.
        defaults = [
            ("ALLOW_ORPHANS", "NO" if tm_mad == "dummy" else "YES"),
            ("RESTRICTED_DIRS", "/"),
            ("SAFE_DIRS", "/var/tmp"),
            ("TM_MAD", tm_mad),
            ("TYPE", ["IMAGE_DS", "SYSTEM_DS", "FILE_DS"][dtype]),
        ]
        if dtype == 1:
            defaults += [("DISK_TYPE", "FILE"), ("DS_MIGRATE", "YES"), ("SHARED", "YES")]
        else:
            defaults += [
                ("DS_MAD", ds_mad),
                ("CLONE_TARGET", "SYSTEM"),
                ("LN_TARGET", "NONE" if tm_mad == "dummy" else "SYSTEM"),
            ]
            if dtype == 0:
                defaults.append(("DISK_TYPE", "FILE"))
        for key, value in defaults:
            if get_attr(tmpl, key) is None:
                tmpl.append((key, value))
        ds = Datastore(
            did,
            *self.owner_fields(user),
            name,
            GROUP_USE_PERMS,
            ds_mad,
            tm_mad,
            f"/var/lib/one//datastores/{did}",
            dtype,
            cluster_ids=[max(cluster_id, 0)],
            total_mb=20480,
            free_mb=20480,
            used_mb=0,
            template=tmpl,
        )
        self.datastores[did] = ds
        return ds

    # --- templates --------------------------------------------------------------------------------
    def allocate_template(self, user: User, text: str) -> VmTemplate:
        self.authorize_create(user, "template")
        attrs = parse_text(text)
        name = get_attr(attrs, "NAME") or ""
        attrs = [(k, v) for k, v in attrs if k != "NAME"]
        tid = self.next_id["template"]
        if not name:
            name = f"template-{tid}"
        self.check_name_free("template", self.templates, name, user.id)
        self.take_id("template")
        tmpl = VmTemplate(
            tid, *self.owner_fields(user), name, DEFAULT_PERMS, regtime=self.now(), template=attrs
        )
        self.templates[tid] = tmpl
        return tmpl

    # --- images -----------------------------------------------------------------------------------
    def allocate_image(self, user: User, text: str, ds_id: int, copy: bool = True) -> Image:
        """A new image, LOCKED until the datastore has copied it in (`copy=False`: the caller starts
        the copy, as clone and disk save-as do)."""
        self.authorize_create(user, "image")
        attrs = parse_text(text)
        ds = self.get("datastore", self.datastores, ds_id)
        self.authorize(user, "datastore", ds, USE)
        if ds.type != 0 and ds.type != 2:
            raise OneFailure(INTERNAL, "Cannot allocate images in a system datastore.")
        name = get_attr(attrs, "NAME") or ""
        if not name:
            raise OneFailure(INTERNAL, "No NAME in template.")
        self.check_name_free("image", self.images, name, user.id)
        types = {"OS": 0, "CDROM": 1, "DATABLOCK": 2, "KERNEL": 3, "RAMDISK": 4, "CONTEXT": 5}
        itype_name = (
            get_attr(attrs, "TYPE")
            or ("DATABLOCK" if get_attr(attrs, "SIZE") and not get_attr(attrs, "PATH") else "OS")
        ).upper()
        if itype_name not in types:
            raise OneFailure(INTERNAL, f"Unknown value for TYPE: {itype_name}")
        size_text = get_attr(attrs, "SIZE") or "0"
        try:
            size = int(float(size_text))
        except ValueError as exc:
            raise OneFailure(INTERNAL, "SIZE must be a positive integer.") from exc
        persistent = (get_attr(attrs, "PERSISTENT") or "NO").upper() in ("YES", "1", "TRUE")
        path = get_attr(attrs, "PATH") or ""
        iid = self.take_id("image")
        keep = {"NAME", "TYPE", "PERSISTENT", "PATH", "SIZE", "SOURCE", "FORMAT", "FS"}
        tmpl = [(k, v) for k, v in attrs if k not in keep]
        if get_attr(tmpl, "DEV_PREFIX") is None:
            tmpl.append(("DEV_PREFIX", "sd" if itype_name == "DATABLOCK" else "hd"))
        img = Image(
            iid,
            *self.owner_fields(user),
            name,
            DEFAULT_PERMS,
            type=types[itype_name],
            persistent=int(persistent),
            regtime=self.now(),
            source=get_attr(attrs, "SOURCE") or f"{ds.base_path}/{uuid.uuid4().hex}",
            path=path,
            format=get_attr(attrs, "FORMAT") or "raw",
            fs=get_attr(attrs, "FS") or "",
            size=size,
            state=1,
            prev_state=1,
            datastore_id=ds.id,
            datastore=ds.name,
            template=tmpl,
        )
        self.images[iid] = img
        if copy:
            self.image_store.start(Copy(iid))
        return img

    def image_by_ref(self, user: User, vec: dict[str, str]) -> Image:
        if "IMAGE_ID" in vec:
            try:
                iid = int(vec["IMAGE_ID"])
            except ValueError as exc:
                raise OneFailure(INTERNAL, f"Wrong IMAGE_ID {vec['IMAGE_ID']}.") from exc
            img = self.images.get(iid)
            if img is None:
                raise OneFailure(INTERNAL, f"Error getting image [{iid}].", -1)
            return img
        name = vec["IMAGE"]
        uname = vec.get("IMAGE_UNAME", user.name)
        for img in self.images.values():
            if img.name == name and img.uname == uname:
                return img
        raise OneFailure(INTERNAL, f"Error getting image named {name}.")

    # --- virtual networks -------------------------------------------------------------------------
    def allocate_vnet(self, user: User, text: str, cluster_id: int) -> VNet:
        self.authorize_create(user, "vnet")
        attrs = parse_text(text)
        name = get_attr(attrs, "NAME") or ""
        if not name:
            raise OneFailure(INTERNAL, "No NAME in template.")
        self.check_name_free("vnet", self.vnets, name, user.id)
        vid = self.take_id("vnet")
        ars_attrs = [v for k, v in attrs if k == "AR" and isinstance(v, dict)]
        tmpl = [(k, v) for k, v in attrs if k not in ("NAME", "AR")]
        # oned adds the default group 0 to whatever groups the network names.
        given_sgs = get_attr(tmpl, "SECURITY_GROUPS")
        if given_sgs is not None:
            tmpl = [(k, v) for k, v in tmpl if k != "SECURITY_GROUPS"]
            tmpl.append(("SECURITY_GROUPS", ",".join(str(g) for g in sorted({*_sg_ids(given_sgs), 0}))))
        for key, default in (
            ("OUTER_VLAN_ID", ""),
            ("PHYDEV", ""),
            ("SECURITY_GROUPS", "0"),
            ("VLAN_ID", ""),
        ):
            if get_attr(tmpl, key) is None:
                tmpl.append((key, default))
        bridge = get_attr(tmpl, "BRIDGE") or f"onebr{vid}"
        if get_attr(tmpl, "BRIDGE") is None:
            tmpl.append(("BRIDGE", bridge))
        if get_attr(tmpl, "BRIDGE_TYPE") is None:
            tmpl.append(("BRIDGE_TYPE", "linux"))
        vnet = VNet(
            vid,
            *self.owner_fields(user),
            name,
            DEFAULT_PERMS,
            cluster_ids=[max(cluster_id, 0)],
            bridge=bridge,
            vn_mad=get_attr(tmpl, "VN_MAD") or "dummy",
            template=tmpl,
        )
        self.vnets[vid] = vnet
        for ar in ars_attrs:
            self.add_ar(vnet, ar)
        return vnet

    def add_ar(self, vnet: VNet, ar: dict[str, str]) -> AddressRange:
        ip = ar.get("IP", "10.0.0.1")
        size = int(ar.get("SIZE", "1"))
        parts = [int(p) for p in ip.split(".")]
        mac = ar.get("MAC") or "02:00:" + ":".join(f"{p:02x}" for p in parts)
        ar_id = max((a.ar_id for a in vnet.ars), default=-1) + 1
        rng = AddressRange(ar_id, ip, mac, size, ar.get("TYPE", "IP4"))
        vnet.ars.append(rng)
        return rng

    # --- virtual machines: creation ---------------------------------------------------------------
    def build_vm(
        self, user: User, attrs: Attrs, hold: bool, template_id: int | None = None, name: str = ""
    ) -> Vm:
        """oned's VM allocate: check, split TEMPLATE/USER_TEMPLATE, expand disks/NICs/context."""
        self.authorize_create(user, "vm")
        memory = get_attr(attrs, "MEMORY")
        try:
            mem_ok = memory is not None and int(memory) > 0
        except ValueError:
            mem_ok = False
        if not mem_ok:
            raise OneFailure(INTERNAL, "MEMORY attribute must be a positive integer value.")
        cpu = get_attr(attrs, "CPU")
        if cpu is not None:
            try:
                cpu_ok = float(cpu) > 0
            except ValueError:
                cpu_ok = False
            if not cpu_ok:
                raise OneFailure(INTERNAL, "CPU attribute must be a positive float or integer value.")
        vid = self.next_id["vm"]
        vm_name = name or get_attr(attrs, "NAME") or ""
        if not vm_name:
            vm_name = f"one-{vid}"
        tmpl: Attrs = []
        user_tmpl: Attrs = []
        for key, value in attrs:
            if key == "NAME":
                continue
            (tmpl if key in VM_TEMPLATE_KEYS else user_tmpl).append((key, value))
        if hold:
            tmpl = [(k, v) for k, v in tmpl if k != "SUBMIT_ON_HOLD"] + [("SUBMIT_ON_HOLD", "YES")]
        if template_id is not None:
            tmpl.append(("TEMPLATE_ID", str(template_id)))
        tmpl.append(("VMID", str(vid)))
        # Disks: images expanded, volatile disks numbered.
        disk_id = 0
        expanded: Attrs = []
        images_used: list[Image] = []
        leases: list[tuple[AddressRange, int]] = []
        nics: list[dict[str, str]] = []
        try:
            for key, value in tmpl:
                if key == "DISK" and isinstance(value, dict):
                    disk = dict(value)
                    if "IMAGE_ID" in disk or "IMAGE" in disk:
                        img = self.image_by_ref(user, disk)
                        self.authorize(user, "image", img, USE)
                        self.image_store.check_acquire(img, attach=False)
                        disk = self.image_disk(img, disk, disk_id)
                        images_used.append(img)
                    else:
                        disk.setdefault("TYPE", "fs")
                        disk["DISK_ID"] = str(disk_id)
                        disk.setdefault("TARGET", "sd" + chr(ord("a") + disk_id))
                    disk_id += 1
                    expanded.append(("DISK", disk))
                elif key == "NIC" and isinstance(value, dict):
                    nic = self.lease_nic(user, dict(value), vid, len(nics), leases)
                    nics.append(nic)
                    expanded.append(("NIC", nic))
                elif key == "GRAPHICS" and isinstance(value, dict):
                    graphics = dict(value)
                    graphics.setdefault("PORT", str(5900 + vid))
                    expanded.append(("GRAPHICS", graphics))
                elif key == "CONTEXT":
                    continue
                else:
                    expanded.append((key, value))
        except OneFailure:
            for rng, offset in leases:
                rng.leases.pop(offset, None)
            raise
        context = next((v for k, v in tmpl if k == "CONTEXT" and isinstance(v, dict)), None)
        if context is not None:
            ctx = dict(context)
            ctx["DISK_ID"] = str(disk_id)
            ctx.setdefault("TARGET", "hda")
            for n, nic in enumerate(nics):
                for field in (
                    "DNS",
                    "EXTERNAL",
                    "GATEWAY",
                    "IP6",
                    "IP6_GATEWAY",
                    "IP6_METHOD",
                    "IP6_METRIC",
                    "IP6_PREFIX_LENGTH",
                    "IP6_ULA",
                    "MASK",
                    "METHOD",
                    "METRIC",
                    "MTU",
                    "NETWORK",
                    "SEARCH_DOMAIN",
                    "VLAN_ID",
                    "VROUTER_IP",
                    "VROUTER_IP6",
                    "VROUTER_MANAGEMENT",
                ):
                    ctx.setdefault(f"ETH{n}_{field}", "")
                ctx[f"ETH{n}_IP"] = nic.get("IP", "")
                ctx[f"ETH{n}_MAC"] = nic.get("MAC", "")
            expanded.append(("CONTEXT", ctx))
        sg_ids = sorted({sg for nic in nics for sg in nic_security_groups(nic)})
        expanded.extend(("SECURITY_GROUP_RULE", rule) for rule in self.security_group_rules(sg_ids))
        public_cloud = any(k == "PUBLIC_CLOUD" for k, _ in user_tmpl)
        expanded.append(("AUTOMATIC_DS_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
        if nics:
            expanded.append(("AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'))
        cloud_part = "(PUBLIC_CLOUD = YES)" if public_cloud else "!(PUBLIC_CLOUD = YES)"
        expanded.append(
            ("AUTOMATIC_REQUIREMENTS", f"(CLUSTER_ID = 0) & {cloud_part} & !(PIN_POLICY = PINNED)")
        )
        if not any(k == "OS" for k, _ in expanded):
            expanded.append(("OS", {"UUID": str(uuid.uuid4())}))
        self.take_id("vm")
        now = self.now()
        vm = Vm(
            vid,
            *self.owner_fields(user),
            vm_name,
            DEFAULT_PERMS,
            state=VmState.HOLD if hold else VmState.PENDING,
            prev_state=VmState.HOLD if hold else VmState.PENDING,
            stime=now,
            template=expanded,
            user_template=user_tmpl,
        )
        for img in images_used:
            self.image_store.acquire(img, vid, attach=False)
        for rng, offset in leases:
            rng.leases[offset] = vid
        for sg_id in sg_ids:
            self.secgroup_add_vm(sg_id, vid)
        self.vms[vid] = vm
        return vm

    def image_disk(self, img: Image, given: dict[str, str], disk_id: int) -> dict[str, str]:
        ds = self.datastores.get(img.datastore_id)
        prefix = get_attr(img.template, "DEV_PREFIX") or "hd"
        disk = {
            "ALLOW_ORPHANS": "NO",
            "CLONE": "NO" if img.persistent else "YES",
            "CLONE_TARGET": "SYSTEM",
            "CLUSTER_ID": "0",
            "DATASTORE": img.datastore,
            "DATASTORE_ID": str(img.datastore_id),
            "DEV_PREFIX": prefix,
            "DISK_ID": str(disk_id),
            "DISK_SNAPSHOT_TOTAL_SIZE": "0",
            "DISK_TYPE": "FILE",
            "DRIVER": img.format,
            "FORMAT": img.format,
            "IMAGE": img.name,
            "IMAGE_ID": str(img.id),
            "IMAGE_STATE": str(img.state if img.state != 1 else 2),
            "LN_TARGET": "NONE",
            "ORIGINAL_SIZE": str(img.size),
            "READONLY": "NO",
            "SAVE": "YES" if img.persistent else "NO",
            "SIZE": str(img.size),
            "SOURCE": img.source,
            "TARGET": prefix + chr(ord("a") + disk_id),
            "TM_MAD": ds.tm_mad if ds else "ssh",
            "TYPE": "FILE",
        }
        if img.persistent:
            disk["PERSISTENT"] = "YES"
        for key, value in given.items():
            if key not in ("IMAGE_ID", "IMAGE", "IMAGE_UNAME"):
                disk[key] = value
        return disk

    def lease_nic(
        self, user: User, nic: dict[str, str], vid: int, nic_id: int, leases: list[tuple[AddressRange, int]]
    ) -> dict[str, str]:
        vnet: VNet | None = None
        if "NETWORK_ID" in nic:
            vnet = self.vnets.get(int(nic["NETWORK_ID"])) if nic["NETWORK_ID"].isdigit() else None
        elif "NETWORK" in nic:
            uname = nic.get("NETWORK_UNAME", user.name)
            vnet = next(
                (v for v in self.vnets.values() if v.name == nic["NETWORK"] and v.uname == uname), None
            )
        if vnet is None:
            raise OneFailure(
                INTERNAL, f"Error getting virtual network [{nic.get('NETWORK_ID', nic.get('NETWORK', ''))}]."
            )
        self.authorize(user, "vnet", vnet, USE)
        asked = set(nic_security_groups(nic))
        for sg_id in sorted(asked):
            # oned authorizes USE on each group named on the NIC; a missing group is skipped.
            sg = self.secgroups.get(sg_id)
            if sg is not None:
                self.authorize(user, "secgroup", sg, USE)
        taken = {(id(r), o) for r, o in leases}
        wanted_ip = nic.get("IP", "")
        for rng in vnet.ars:
            for offset in range(rng.size):
                if wanted_ip and offset_ip(rng.ip, offset) != wanted_ip:
                    continue  # oned's allocate_by_ip: that address or nothing
                if offset not in rng.leases and (id(rng), offset) not in taken:
                    leases.append((rng, offset))
                    out = {
                        "AR_ID": str(rng.ar_id),
                        "BRIDGE": vnet.bridge,
                        "BRIDGE_TYPE": vnet.bridge_type,
                        "CLUSTER_ID": str(vnet.cluster_ids[0] if vnet.cluster_ids else 0),
                        "IP": offset_ip(rng.ip, offset),
                        "MAC": offset_mac(rng.mac, offset),
                        "NAME": f"NIC{nic_id}",
                        "NETWORK": vnet.name,
                        "NETWORK_ID": str(vnet.id),
                        "NIC_ID": str(nic_id),
                        "SECURITY_GROUPS": ",".join(
                            str(g)
                            for g in sorted(
                                asked | set(_sg_ids(get_attr(vnet.template, "SECURITY_GROUPS") or "0"))
                            )
                        ),
                        "TARGET": f"one-{vid}-{nic_id}",
                        "VN_MAD": vnet.vn_mad,
                    }
                    for key, value in nic.items():
                        if key not in ("NETWORK_ID", "NETWORK", "NETWORK_UNAME", "SECURITY_GROUPS", "IP"):
                            out[key] = value
                    return out
        raise OneFailure(INTERNAL, f"Cannot get IP/MAC lease from virtual network {vnet.id}.")

    # --- security groups ----------------------------------------------------------------------------
    def security_group_rules(self, sg_ids: Iterable[int]) -> list[dict[str, str]]:
        """SECURITY_GROUP_RULE vectors for these groups (oned's get_rules; missing groups give none)."""
        rules: list[dict[str, str]] = []
        for sg_id in sg_ids:
            sg = self.secgroups.get(sg_id)
            if sg is None:
                continue
            for key, value in sg.template:
                if key == "RULE" and isinstance(value, dict):
                    rules.append({**value, "SECURITY_GROUP_ID": str(sg.id), "SECURITY_GROUP_NAME": sg.name})
        return rules

    def secgroup_add_vm(self, sg_id: int, vm_id: int) -> None:
        sg = self.secgroups.get(sg_id)
        if sg is not None and vm_id not in sg.updated:
            sg.updated.append(vm_id)

    def release_resources(self, vm: Vm) -> None:
        """On DONE: free leases, leave security groups and detach images, as oned does."""
        for _, value in vm.template:
            if isinstance(value, dict) and _ == "NIC":
                for sg_id in nic_security_groups(value):
                    sg = self.secgroups.get(sg_id)
                    if sg is not None:
                        sg.drop_vm(vm.id)
        for vnet in self.vnets.values():
            for rng in vnet.ars:
                for offset in [o for o, v in rng.leases.items() if v == vm.id]:
                    del rng.leases[offset]
        for img in self.images.values():
            self.image_store.release(img, vm.id)

    def next_request_id(self) -> int:
        self.request_seq += 1
        return self.request_seq

    # --- fast bulk creation for tests and benchmarks ------------------------------------------------
    def bulk_vms(
        self,
        count: int,
        *,
        uid: int = 0,
        state: VmState = VmState.PENDING,
        lcm: LcmState = LcmState.LCM_INIT,
        name_prefix: str = "bulk",
        host_id: int | None = None,
        user_template: Attrs | None = None,
    ) -> list[int]:
        """Create `count` VMs straight in the pool (no drivers, no scheduler); returns their ids.

        Each VM looks like one instantiated from the recorded template (a disk, a NIC, context, VNC),
        so its documents have the recorded sizes (~3.5 KB full, ~1 KB reduced). With `host_id` the
        VMs get a history record on that host (use it with ACTIVE/RUNNING)."""
        owner = self.users[uid]
        host = self.hosts.get(host_id) if host_id is not None else None
        now = self.now()
        out = []
        for _ in range(count):
            vid = self.take_id("vm")
            ip = f"10.{(vid >> 16) & 255}.{(vid >> 8) & 255}.{vid & 255}"
            mac = "02:00:" + ":".join(f"{int(p):02x}" for p in ip.split("."))
            context = {
                "DISK_ID": "1",
                "ETH0_IP": ip,
                "ETH0_MAC": mac,
                "NETWORK": "YES",
                "TARGET": "hda",
                "SSH_PUBLIC_KEY": "ssh-ed25519 AAAAtest user@test",
                **{
                    f"ETH0_{k}": ""
                    for k in ("DNS", "GATEWAY", "MASK", "MTU", "NETWORK", "SEARCH_DOMAIN", "VLAN_ID")
                },
            }
            template: Attrs = [
                ("AUTOMATIC_DS_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'),
                ("AUTOMATIC_NIC_REQUIREMENTS", '("CLUSTERS/ID" @> 0)'),
                (
                    "AUTOMATIC_REQUIREMENTS",
                    "(CLUSTER_ID = 0) & !(PUBLIC_CLOUD = YES) & !(PIN_POLICY = PINNED)",
                ),
                ("CONTEXT", context),
                ("CPU", "0.1"),
                (
                    "DISK",
                    {
                        "ALLOW_ORPHANS": "NO",
                        "CLONE": "YES",
                        "CLONE_TARGET": "SYSTEM",
                        "CLUSTER_ID": "0",
                        "DATASTORE": "default",
                        "DATASTORE_ID": "1",
                        "DEV_PREFIX": "sd",
                        "DISK_ID": "0",
                        "DISK_SNAPSHOT_TOTAL_SIZE": "0",
                        "DISK_TYPE": "FILE",
                        "DRIVER": "raw",
                        "FORMAT": "raw",
                        "IMAGE": "blk1",
                        "IMAGE_ID": "0",
                        "IMAGE_STATE": "2",
                        "LN_TARGET": "NONE",
                        "ORIGINAL_SIZE": "16",
                        "READONLY": "NO",
                        "SAVE": "NO",
                        "SIZE": "16",
                        "SOURCE": "dummy_path",
                        "TARGET": "sda",
                        "TM_MAD": "ssh",
                        "TYPE": "FILE",
                    },
                ),
                ("GRAPHICS", {"LISTEN": "127.0.0.1", "PORT": str(5900 + vid), "TYPE": "VNC"}),
                ("MEMORY", "64"),
                (
                    "NIC",
                    {
                        "AR_ID": "0",
                        "BRIDGE": "br0",
                        "BRIDGE_TYPE": "linux",
                        "CLUSTER_ID": "0",
                        "IP": ip,
                        "MAC": mac,
                        "NAME": "NIC0",
                        "NETWORK": "testnet",
                        "NETWORK_ID": "0",
                        "NIC_ID": "0",
                        "SECURITY_GROUPS": "0",
                        "TARGET": f"one-{vid}-0",
                        "VN_MAD": "dummy",
                    },
                ),
                ("OS", {"UUID": str(uuid.uuid4())}),
                ("TEMPLATE_ID", "0"),
                ("VCPU", "1"),
                ("VMID", str(vid)),
            ]
            vm = Vm(
                vid,
                owner.id,
                owner.gid,
                owner.name,
                owner.gname,
                f"{name_prefix}-{vid}",
                DEFAULT_PERMS,
                state=state,
                lcm_state=lcm,
                prev_state=state,
                prev_lcm_state=lcm,
                stime=now,
                template=template,
                user_template=list(user_template or [("LABELS", "bulk"), ("EC2_INSTANCE_TYPE", "m1.small")]),
            )
            if host is not None:
                vm.history.append(
                    History(
                        0,
                        host.name,
                        host.id,
                        host.cluster_id,
                        now,
                        host.vm_mad,
                        "ssh",
                        0,
                        pstime=now,
                        petime=now,
                        rstime=now,
                    )
                )
                vm.deploy_id = f"{host.name}:{vm.name}:dummy"
            self.vms[vid] = vm
            out.append(vid)
        return out
