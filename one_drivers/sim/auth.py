"""How the simulator authenticates a session string, as oned of the emulated line does.

`core` users send their plain password (oned compares its hex digest with the stored PASSWORD), `public`
users the stored value as is; the `server_cipher` user (serveradmin) acts for another one with
`serveradmin:<user>:<token>`, which is checked as oned's server_cipher driver of the line does.
"""

from __future__ import annotations

import functools
import time

from one_drivers.one.cipher import KEY_DERIVED_IV, ZERO_IV, CipherScheme, ServerCipher
from one_drivers.sim.model import leading_int

# oned.conf's SESSION_EXPIRATION_TIME default: how long an authenticated session is cached per user.
SESSION_EXPIRATION_SECONDS = 900


def hash_password(plain: str, scheme: CipherScheme = KEY_DERIVED_IV) -> str:
    """The PASSWORD value oned stores for a core user (SHA256 hex since 5.10, SHA1 before)."""
    return scheme.stored_password(plain)


def encrypt_attribute(stored_password: str, value: str) -> str:
    """oned's own AES-256-CBC of encrypted attributes (HOST_ENCRYPTED_ATTR): no IV given, so zeros."""
    return ServerCipher("", stored_password, ZERO_IV).encrypt(value)


@functools.lru_cache(maxsize=1024)
def _decrypt(scheme: CipherScheme, stored_password: str, token: str) -> bytes | None:
    # A pure function of its arguments: econe reuses one token for 25 minutes, so repeated calls are
    # answered from this cache; the expiry is still checked on every call.
    return ServerCipher("", stored_password, scheme).decrypt(token)


def server_token_error(
    scheme: CipherScheme, server_user: str, stored_password: str, token: str, now: float | None = None
) -> str | None:
    """None when oned's server_cipher driver accepts `token` for `server_user`, else the driver's message:
    the token decrypts with the key and IV of the line (one_drivers.one.cipher), its first field is the
    server user's name and its last an expiry still ahead."""
    plain = _decrypt(scheme, stored_password, token)
    if plain is None:
        return "bad decrypt"
    fields = plain.split(b":")
    if fields[0] != server_user.encode("utf-8"):
        return "User name missmatch"  # sic, oned's spelling
    expiry = leading_int(fields[-1].decode("latin-1")) or 0  # Ruby's to_i
    if (time.time() if now is None else now) >= expiry:
        return "login token expired"
    return None


def make_login_token(
    server_user: str,
    stored_password: str,
    target_user: str,
    valid: int = 1800,
    scheme: CipherScheme = KEY_DERIVED_IV,
) -> str:
    """A full session string `serveradmin:<user>:<token>` (what econe sends), valid for `valid` seconds."""
    return ServerCipher(server_user, stored_password, scheme).session_for(
        target_user, int(time.time()) + valid
    )
