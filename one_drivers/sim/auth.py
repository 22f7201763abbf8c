"""How the simulator authenticates a session string, as oned 5.10+ does.

`core` users send their plain password and oned compares its SHA256 hex with the stored PASSWORD;
`public` users compare the stored value as is; the `server_cipher` user (serveradmin) acts for another
user with `serveradmin:<user>:<token>`, token = base64(AES-256-CBC("serveradmin:<user>:<expiry>")),
keyed with the first 32 hex characters of the SHA256 of serveradmin's password, IV zero, PKCS#7.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import time

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ZERO_IV = b"\x00" * 16


def hash_password(plain: str) -> str:
    """The PASSWORD value oned stores for a core user (SHA256 hex since 5.10)."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def cipher_key(stored_password: str) -> bytes:
    """The AES key: the first 32 characters of the stored SHA256 hex, as ASCII bytes."""
    return stored_password[:32].encode("ascii")


def encrypt_token(stored_password: str, plaintext: str) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    enc = Cipher(algorithms.AES(cipher_key(stored_password)), modes.CBC(_ZERO_IV)).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode("ascii")


@functools.lru_cache(maxsize=1024)
def decrypt_token(stored_password: str, token: str) -> str | None:
    """The token's plaintext, or None when it does not decrypt (oned's driver says "bad decrypt").

    A pure function of its two arguments, so repeated calls with one token (econe reuses a token for
    25 minutes) are answered from a small cache; the expiry is still checked on every call."""
    try:
        raw = base64.b64decode("".join(token.split()), validate=True)
        if not raw or len(raw) % 16:
            return None
        dec = Cipher(algorithms.AES(cipher_key(stored_password)), modes.CBC(_ZERO_IV)).decryptor()
        padded = dec.update(raw) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def make_login_token(server_user: str, server_password_hash: str, target_user: str, valid: int = 1800) -> str:
    """A full session string `serveradmin:<user>:<token>` (what econe sends), valid for `valid` seconds."""
    expiry = int(time.time()) + valid
    token = encrypt_token(server_password_hash, f"{server_user}:{target_user}:{expiry}")
    return f"{server_user}:{target_user}:{token}"


def check_login_token(
    server_user: str, server_password_hash: str, target_user: str, token: str, now: float | None = None
) -> bool:
    """True when the token decrypts to `<server_user>:<target_user>:<expiry>` with expiry in the future."""
    plain = decrypt_token(server_password_hash, token)
    if plain is None:
        return False
    parts = plain.split(":")
    if len(parts) != 3 or parts[0] != server_user or parts[1] != target_user:
        return False
    try:
        expiry = int(parts[2])
    except ValueError:
        return False
    return expiry >= (time.time() if now is None else now)
