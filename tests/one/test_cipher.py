"""server_cipher tokens against golden vectors made outside this code base, per OpenNebula line.

The vectors were computed with `openssl enc` (no Python at all): password "golden-pass", session
"serveradmin:bob:1795306999", key = the first 32 hex characters of the password's digest as ASCII,
    printf %s serveradmin:bob:1795306999 | openssl enc -aes-256-cbc -K <hex of key> -iv <hex of IV> -base64 -A
with IV = the first 16 characters of the key (6.2+) or 16 zero bytes (up to 6.0; SHA1 digest up to 5.8).
"""

from __future__ import annotations

import hashlib

import pytest

from one_drivers.one.cipher import (
    KEY_DERIVED_IV,
    SCHEMES,
    ZERO_IV,
    ZERO_IV_SHA1,
    CipherScheme,
    ServerCipher,
    parse_version,
    scheme_for_version,
)

PASSWORD = "golden-pass"
PLAIN = "serveradmin:bob:1795306999"
GOLDEN = {
    # scheme: (first 32 hex chars of the digest = the AES key, openssl's token)
    KEY_DERIVED_IV: ("0675b555f5008fd8e1fb62fe420b37ce", "dXmxY75BquRyFZKbZdU2p8ja3eJ41M3xsf4sMmKKFt4="),
    ZERO_IV: ("0675b555f5008fd8e1fb62fe420b37ce", "wsElzIKeQOg2ur8RZFq+/9yMpXSF4jvJVZjYhvc7V7A="),
    ZERO_IV_SHA1: ("3e745df66b6f65fc321f62a6731d7a7a", "5ez9DeE8LDTVoJvPAZpI5Y5XabtrFBsSPYQu+dIvwRg="),
}


def test_every_scheme_has_a_golden_vector() -> None:
    assert set(GOLDEN) == set(SCHEMES)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_client_tokens_match_openssl(scheme: CipherScheme) -> None:
    key, token = GOLDEN[scheme]
    assert scheme.stored_password(PASSWORD)[:32] == key
    cipher = ServerCipher.from_password("serveradmin", PASSWORD, scheme)
    assert cipher.session_for("bob", 1795306999) == f"serveradmin:bob:{token}"


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_driver_side_decrypts_openssl_tokens_from_the_stored_hash(scheme: CipherScheme) -> None:
    stored = hashlib.new(scheme.digest, PASSWORD.encode()).hexdigest()
    assert ServerCipher("serveradmin", stored, scheme).decrypt(GOLDEN[scheme][1]) == PLAIN.encode()


def test_a_zero_iv_token_under_the_6_2_scheme_garbles_only_the_user_name() -> None:
    # CBC with the wrong IV spoils the first block alone: oned's driver reads a wrong server user name
    # ("User name missmatch") while the expiry at the end still decrypts.
    stored = hashlib.sha256(PASSWORD.encode()).hexdigest()
    plain = ServerCipher("serveradmin", stored, KEY_DERIVED_IV).decrypt(GOLDEN[ZERO_IV][1])
    assert plain is not None
    assert plain[:16] != PLAIN.encode()[:16] and plain[16:] == PLAIN.encode()[16:]


def test_undecryptable_tokens_are_none() -> None:
    cipher = ServerCipher("serveradmin", "0" * 64)
    for token in ("not base64!", "", "YWJj", GOLDEN[KEY_DERIVED_IV][1]):
        assert cipher.decrypt(token) is None


@pytest.mark.parametrize(
    ("version", "scheme"),
    [
        ("4.14.2", ZERO_IV_SHA1),
        ("5.8.5", ZERO_IV_SHA1),
        ("5.10.0", ZERO_IV),
        ("5.12.0.4", ZERO_IV),
        ("6.0.2", ZERO_IV),
        ("6.2.0", KEY_DERIVED_IV),
        ("6.10.5", KEY_DERIVED_IV),
        ("7.4.0", KEY_DERIVED_IV),
        ("6.10", KEY_DERIVED_IV),
    ],
)
def test_scheme_by_version(version: str, scheme: CipherScheme) -> None:
    assert scheme_for_version(version) is scheme


@pytest.mark.parametrize("bad", ["", "six", "6", ".10"])
def test_versions_that_are_not_versions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_version(bad)
