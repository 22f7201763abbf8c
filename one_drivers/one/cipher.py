"""`server_cipher` login tokens: the one place that encrypts and decrypts them, for every OpenNebula line.

A server admin (econe's `serveradmin`) acts for a user with the session `<admin>:<user>:<token>`,
token = base64(AES-256-CBC("<admin>:<user>:<expiry>"), PKCS#7). oned's driver keys AES with the first
32 characters of the admin's stored PASSWORD (the hex digest of the plain password) and, since 6.2,
uses that key's first 16 characters as the IV; up to 6.0 the IV was 16 zero bytes, and before 5.10 the
stored digest was SHA1. Which scheme a given oned speaks is data (`SCHEMES`), chosen by its version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ZERO_IV = b"\x00" * 16


@dataclass(frozen=True)
class CipherScheme:
    """How one range of OpenNebula lines builds server_cipher tokens."""

    name: str
    lines: str  # the OpenNebula releases that speak it, for messages and docs
    digest: str  # how oned stores the admin's password: "sha256" (5.10+) or "sha1"
    key_derived_iv: bool  # IV = first 16 characters of the key (6.2+), else zeros

    def stored_password(self, plain: str) -> str:
        """The PASSWORD value oned keeps for a password (the hex digest of this scheme's hash)."""
        return hashlib.new(self.digest, plain.encode("utf-8")).hexdigest()


# Newest first: the order econe tries them in when it does not know oned's version yet.
KEY_DERIVED_IV = CipherScheme("key-iv", "6.2 and later", "sha256", True)
ZERO_IV = CipherScheme("zero-iv", "5.10 to 6.0", "sha256", False)
ZERO_IV_SHA1 = CipherScheme("zero-iv-sha1", "up to 5.8", "sha1", False)
SCHEMES = (KEY_DERIVED_IV, ZERO_IV, ZERO_IV_SHA1)
SCHEMES_BY_NAME = {scheme.name: scheme for scheme in SCHEMES}

_VERSION = re.compile(r"\s*(\d+)\.(\d+)")


def parse_version(version: str) -> tuple[int, int]:
    """(major, minor) of an OpenNebula version string such as "6.10.5" or "5.12.0.4"."""
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"not an OpenNebula version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def scheme_for_version(version: str) -> CipherScheme:
    """The token scheme oned `version` accepts (release-6.2.0 introduced the key-derived IV)."""
    line = parse_version(version)
    if line >= (6, 2):
        return KEY_DERIVED_IV
    if line >= (5, 10):
        return ZERO_IV
    return ZERO_IV_SHA1


class ServerCipher:
    """Encrypts and decrypts the tokens of one server_cipher user, from its stored password hash."""

    def __init__(self, admin: str, stored_password: str, scheme: CipherScheme = KEY_DERIVED_IV) -> None:
        self.admin = admin
        self.scheme = scheme
        self._key = stored_password[:32].encode("ascii")
        self._iv = self._key[:16] if scheme.key_derived_iv else _ZERO_IV

    @classmethod
    def from_password(cls, admin: str, password: str, scheme: CipherScheme = KEY_DERIVED_IV) -> ServerCipher:
        """The client side: the admin's plain password, hashed as oned stores it on that line."""
        return cls(admin, scheme.stored_password(password), scheme)

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._iv))

    def encrypt(self, text: str) -> str:
        padder = padding.PKCS7(128).padder()
        data = padder.update(text.encode("utf-8")) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")

    def decrypt(self, token: str) -> bytes | None:
        """The token's plaintext bytes, or None when it does not decrypt (bad base64, length or padding).

        Bytes, not text: a token made with another IV decrypts to a garbled first block, which oned's
        driver then compares (and refuses as a user name mismatch) rather than failing to decode."""
        try:
            raw = base64.b64decode("".join(token.split()), validate=True)
            if not raw or len(raw) % 16:
                return None
            decryptor = self._cipher().decryptor()
            padded = decryptor.update(raw) + decryptor.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        except (ValueError, binascii.Error):
            return None

    def session_for(self, user: str, expiry: int) -> str:
        """The full session string `<admin>:<user>:<token>` acting for `user` until `expiry`."""
        return f"{self.admin}:{user}:{self.encrypt(f'{self.admin}:{user}:{expiry}')}"
