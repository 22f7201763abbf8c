"""Access control of the simulated oned: who a session is, and what that user may do to an object.

Authentication follows UserPool::authenticate (core passwords, public tokens, the server_cipher login
of serveradmin, one.user.login tokens and the session cache); authorization follows the permission
bits, the bootstrap ACL rules and the admin group, with oned's 256/512 messages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from one_drivers.sim import auth
from one_drivers.sim.kinds import KINDS
from one_drivers.sim.model import Owned, User
from one_drivers.sim.wire import AUTHENTICATION, AUTHORIZATION, XML_RPC_API, OneFailure

if TYPE_CHECKING:
    from one_drivers.sim.cloud import Cloud

USE, MANAGE, ADMIN = 0, 1, 2
OP_NAMES = ("USE", "MANAGE", "ADMIN")
NOT_AUTHENTICATED = "User couldn't be authenticated, aborting call."
# LoginTokenPool::MAX_TOKENS
LOGIN_TOKENS_PER_USER = 10

# The ACL rules a fresh oned 6.x bootstraps (`oneacl list`): what the "users" group (1) may do beyond
# the objects' permission bits. (group id, object kinds, right); "CREATE" is the allocate right.
BOOTSTRAP_ACL: tuple[tuple[int, frozenset[str], int | str], ...] = (
    (1, frozenset({"vm", "image", "template", "secgroup"}), "CREATE"),
    (1, frozenset({"host"}), MANAGE),
    (1, frozenset({"vnet", "datastore"}), USE),
)

log = logging.getLogger(__name__)
T = TypeVar("T", bound=Owned)


# --- authentication ---------------------------------------------------------------------------------
def authenticate(cloud: Cloud, session: str) -> User:
    """The user a session string logs in as, or 256 as oned answers (UserPool::authenticate)."""
    failure = OneFailure(AUTHENTICATION, NOT_AUTHENTICATED)
    name, sep, secret = session.partition(":")
    user = cloud.user_by_name(name) if sep else None
    if user is None or not user.enabled:
        raise failure
    now = cloud.clock()
    if user.auth_driver == "server_cipher":
        # Only login tokens: the server_cipher driver decrypts the secret, a plain password fails.
        # The cached session checked (and set) is the target user's, as in authenticate_server.
        target_name, sep, token = secret.partition(":")
        target = cloud.user_by_name(target_name) if sep else None
        if target is None:
            raise _refused(cloud, f"User: {target_name} does not exist. Returned by server auth")
        if _session_valid(cloud, target, token, now):
            return target
        cloud.driver_auths += 1
        error = auth.server_token_error(cloud.scheme, name, user.password, token, now)
        if error is not None:
            raise _refused(cloud, f"Auth Error: {error}")
        cloud.sessions[target.id] = (token, now + auth.SESSION_EXPIRATION_SECONDS)
        return target
    if _login_token_valid(user, secret, now) or _session_valid(cloud, user, secret, now):
        return user
    if user.auth_driver == "public" and secret == user.password:
        return user
    if user.auth_driver == "core" and auth.hash_password(secret, cloud.scheme) == user.password:
        cloud.sessions[user.id] = (secret, now + auth.SESSION_EXPIRATION_SECONDS)
        return user
    # Other drivers (ssh, x509, ldap) need their auth programs, which the simulator does not run.
    raise failure


def _refused(cloud: Cloud, message: str) -> OneFailure:
    """A refused server login: oned logs why as `[AuM][E]`, the client only sees 256."""
    cloud.auth_log.append(message)
    log.warning("AuM: %s", message)
    return OneFailure(AUTHENTICATION, NOT_AUTHENTICATED)


def _session_valid(cloud: Cloud, user: User, token: str, now: float) -> bool:
    cached = cloud.sessions.get(user.id)
    return cached is not None and cached[0] == token and now < cached[1]


def _login_token_valid(user: User, token: str, now: float) -> bool:
    entry = user.login_tokens.get(token)
    if entry is not None and entry[0] != -1 and now >= entry[0]:
        del user.login_tokens[token]  # expired: oned drops it when it is tried
        entry = None
    return entry is not None


def user_login(cloud: Cloud, user: User, token: str, valid: int, egid: int) -> str:
    """one.user.login: create (valid > 0 or -1) or drop (valid 0) a login token, as UserLogin does."""
    tokens = user.login_tokens
    now = cloud.now()
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


# --- authorization ----------------------------------------------------------------------------------
def is_admin(user: User) -> bool:
    return user.id == 0 or 0 in user.groups


def acl_allows(user: User, kind: str, right: int | str) -> bool:
    return any(gid in user.groups and kind in kinds and r == right for gid, kinds, r in BOOTSTRAP_ACL)


def allowed(user: User, obj: Owned, op: int, kind: str = "") -> bool:
    if is_admin(user):
        return True
    p = obj.perms
    if (obj.uid == user.id and p[op]) or (obj.gid in user.groups and p[3 + op]):
        return True
    return bool(p[6 + op]) or (bool(kind) and acl_allows(user, kind, op))


def _denied(user: User, what: str) -> OneFailure:
    return OneFailure(AUTHORIZATION, f"User [{user.id}] : Not authorized to perform {what}.")


def authorize_create(user: User, kind: str) -> None:
    """The CREATE right of allocate calls: admins, or an ACL rule (users may create VMs, images, templates)."""
    if not is_admin(user) and not acl_allows(user, kind, "CREATE"):
        raise _denied(user, f"CREATE {KINDS[kind].acl}")


def authorize(user: User, kind: str, obj: Owned, op: int) -> None:
    if not allowed(user, obj, op, kind):
        raise _denied(user, f"{OP_NAMES[op]} {KINDS[kind].acl} [{obj.id}]")


def require_admin(user: User, kind: str, oid: int, op: int = ADMIN) -> None:
    if not is_admin(user):
        raise _denied(user, f"{OP_NAMES[op]} {KINDS[kind].acl} [{oid}]")


def refusal(user: User, kind: str, obj: Any, op: int) -> str | None:
    """Why `user` may not do `op` on one object (None: it may): its permission bits if it has them; a
    user on itself and a member on its group may, otherwise only admins (hosts, clusters, other users
    and groups carry no bits)."""
    if isinstance(obj, Owned):
        ok = allowed(user, obj, op, kind)
    else:
        mine = (kind == "user" and obj.id == user.id) or (kind == "group" and obj.id in user.groups)
        ok = mine or is_admin(user)
    return None if ok else f"Not authorized to perform {OP_NAMES[op]} {KINDS[kind].acl} [{obj.id}]"


def check_all(user: User, asked: Iterable[tuple[str, Any, int]]) -> None:
    """Rights on several objects asked in one request: every refusal in one 512, joined as oned's
    AuthRequest joins them."""
    refused = [why for kind, obj, op in asked if (why := refusal(user, kind, obj, op))]
    if refused:
        raise OneFailure(AUTHORIZATION, f"User [{user.id}] : {'; '.join(refused)}.")


def check(user: User, kind: str, obj: Any, op: int) -> None:
    """`op` on one object (see `refusal`)."""
    check_all(user, ((kind, obj, op),))


# --- pool listing -----------------------------------------------------------------------------------
def filter_test(user: User, flag: int, kind: str = "") -> Callable[[Any], bool]:
    """oned's pool filter flag: -4 primary group, -3 mine, -2 all visible, -1 mine+groups, >=0 uid."""
    admin = is_admin(user)

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
        return bool(ok and (admin or allowed(user, obj, USE, kind) or obj.uid == user.id))

    return shown


def filtered(user: User, objs: Iterable[T], flag: int, kind: str = "") -> list[T]:
    shown = filter_test(user, flag, kind)
    return [obj for obj in objs if shown(obj)]
