"""EC2 key pairs = the `EC2_KEYPAIRS` attribute of the OpenNebula user: Create, Import, Describe, Delete.

Upstream kept base64(JSON {name: {fingerprint, public_key}}) in the user template; we read and write the
same attribute, adding `id`, `type` and `created` to each entry (entries written by upstream get an id
derived from their name and key). A created pair's private key is returned once and never stored or
logged. Fingerprints are AWS's: MD5 of the DER public key for imported RSA, SHA-1 of the PKCS#8 private
key for created RSA, base64 SHA-256 of the OpenSSH key blob for ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from one_drivers.econe.actions.filtering import parse_filters
from one_drivers.econe.actions.tagging import (
    TaggableKind,
    TaggedResource,
    check_tag,
    register_kind,
    tags_from_specifications,
)
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DeleteKeyPairResult,
    DescribeKeyPairsResult,
    ImportKeyPairResult,
    KeyPair,
    KeyPairInfo,
    Tag,
)
from one_drivers.one.template import build_template
from one_drivers.query.errors import (
    Ec2Error,
    duplicate_key_pair,
    invalid_key_format,
    invalid_parameter_value,
    missing_parameter,
    not_found,
)

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        CreateKeyPairRequestTypeDef,
        DeleteKeyPairRequestTypeDef,
        DescribeKeyPairsRequestTypeDef,
        ImportKeyPairRequestTypeDef,
    )

log = logging.getLogger(__name__)

KEYPAIRS_ATTR = "EC2_KEYPAIRS"
RSA_BITS = 2048  # what EC2 creates
MIN_RSA_BITS = 1024  # the smallest RSA key EC2 imports
MAX_RSA_BITS = 16384
MAX_PUBLIC_KEY_BYTES = 16 * 1024
# EC2 key names are ASCII up to 255 characters; control characters would break an authorized_keys line
# or a CONTEXT value, and a trailing backslash or `]]>` cannot be carried by oned's template syntax.
_KEY_NAME = re.compile(r"[\x20-\x7e]{1,255}\Z")
_RFC4716_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}:")

Pairs = dict[str, dict[str, Any]]


# --- what the user template holds ------------------------------------------------------------------


def read_keypairs(ctx: RequestContext) -> Pairs:
    """The user's pairs; an unreadable attribute reads as none (and is logged), never as an error."""
    encoded = ctx.one.user_info(-1).template.get(KEYPAIRS_ATTR) or ""
    if not encoded:
        return {}
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError):
        log.warning(
            "request %s: user %s has an unreadable %s attribute", ctx.request_id, ctx.user, KEYPAIRS_ATTR
        )
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(k): v for k, v in decoded.items() if isinstance(v, dict) and "public_key" in v}


def write_keypairs(ctx: RequestContext, pairs: Pairs) -> None:
    encoded = base64.b64encode(json.dumps(pairs, sort_keys=True).encode("utf-8")).decode("ascii")
    # Merge mode: the rest of the user template is left as it is.
    ctx.one.user_update(ctx.user_id, build_template([(KEYPAIRS_ATTR, encoded)]), append=True)


def key_pair_id(name: str, pair: dict[str, Any]) -> str:
    stored = pair.get("id")
    if isinstance(stored, str) and stored.startswith("key-"):
        return stored
    # Upstream wrote no id: derive a stable one from what it did write.
    digest = hashlib.sha256(f"{name}\0{pair.get('public_key', '')}".encode()).hexdigest()
    return "key-" + digest[:17]


def pair_tags(pair: dict[str, Any]) -> list[Tag]:
    """The pair's EC2 tags, kept in its JSON entry as [[key, value], ...]."""
    raw = pair.get("tags")
    if not isinstance(raw, list):
        return []
    return [{"Key": str(t[0]), "Value": str(t[1])} for t in raw if isinstance(t, list) and len(t) == 2]


def key_type(pair: dict[str, Any]) -> str:
    stored = pair.get("type")
    if stored in ("rsa", "ed25519"):
        return str(stored)
    return "ed25519" if str(pair.get("public_key", "")).startswith("ssh-ed25519") else "rsa"


def public_key_for(ctx: RequestContext, key_name: str) -> str:
    """The OpenSSH public key of the user's pair `key_name` (RunInstances' KeyName)."""
    pair = read_keypairs(ctx).get(key_name)
    if pair is None:
        raise key_pair_not_found(key_name)
    return str(pair["public_key"])


def key_pair_not_found(name: str) -> Ec2Error:
    return not_found("KeyPair", "key pair", name)


def check_key_name(name: Any) -> str:
    text = str(name or "")
    if not text:
        raise missing_parameter("KeyName")
    if not _KEY_NAME.match(text) or text.endswith("\\") or "]]>" in text:
        raise invalid_parameter_value(
            "KeyName", "must be 1 to 255 printable ASCII characters and not end with a backslash"
        )
    return text


# --- keys and fingerprints -------------------------------------------------------------------------


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def openssh_line(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode(
        "ascii"
    )


def ed25519_fingerprint(key: ed25519.Ed25519PublicKey) -> str:
    # OpenSSH's SHA256 fingerprint: the digest of the key's wire blob (the base64 part of the line).
    blob = base64.b64decode(openssh_line(key).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")


def imported_rsa_fingerprint(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _colon_hex(hashlib.md5(der, usedforsecurity=False).digest())


def created_rsa_fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _colon_hex(hashlib.sha1(der, usedforsecurity=False).digest())


def _format_error() -> Ec2Error:
    return invalid_key_format(
        "Key is not in valid OpenSSH public key format (RSA or ED25519, OpenSSH, PEM or RFC4716)"
    )


def _rfc4716_to_openssh(text: str) -> bytes:
    """An RFC4716 (`---- BEGIN SSH2 PUBLIC KEY ----`) block as an OpenSSH line cryptography can load."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[-1] != "---- END SSH2 PUBLIC KEY ----":
        raise _format_error()
    body: list[str] = []
    continued = False
    for line in lines[1:-1]:
        if continued or (not body and _RFC4716_HEADER.match(line)):
            continued = line.endswith("\\")  # a header value may continue on the next line
            continue
        body.append(line)
    try:
        blob = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise _format_error() from None
    # The blob starts with its key type name (a uint32 length, then the name).
    size = int.from_bytes(blob[:4], "big")
    if not 0 < size <= 64 or len(blob) < 4 + size:
        raise _format_error()
    return blob[4 : 4 + size] + b" " + base64.b64encode(blob)


def load_public_key(material: bytes) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    """A public key in any format EC2 imports; anything else is InvalidKeyPair.Format."""
    if len(material) > MAX_PUBLIC_KEY_BYTES:
        raise _format_error()
    try:
        text = material.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _format_error() from None
    key: Any
    try:
        if text.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
            key = serialization.load_ssh_public_key(_rfc4716_to_openssh(text))
        elif text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            line = text.splitlines()[0] if text else ""
            key = serialization.load_ssh_public_key(line.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, IndexError):
        raise _format_error() from None
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise invalid_key_format(f"RSA keys of {key.key_size} bits are not supported")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise _format_error()


def _private_material(private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, key_format: str) -> str:
    if key_format != "pem":
        # cryptography writes no PuTTY files, and a hand-made one is not worth the risk.
        raise invalid_parameter_value("KeyFormat", f"'{key_format}' is not supported by this cloud; use pem")
    if isinstance(private, rsa.RSAPrivateKey):
        # EC2 hands out RSA keys as PKCS#1 ("BEGIN RSA PRIVATE KEY") and ed25519 keys in OpenSSH's format.
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        fmt = serialization.PrivateFormat.OpenSSH
    return private.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode(
        "ascii"
    )


# --- handlers --------------------------------------------------------------------------------------


def _new_id() -> str:
    return "key-" + secrets.token_hex(9)[:17]


def _store_new(
    ctx: RequestContext, name: str, entry: dict[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    tags = tags_from_specifications(params.get("TagSpecifications") or [], "key-pair")
    pairs = read_keypairs(ctx)
    if name in pairs:
        raise duplicate_key_pair(name)
    entry = {**entry, "id": _new_id(), "created": int(time.time())}
    if tags:
        entry["tags"] = [[k, v] for k, v in dict(tags).items()]
    pairs[name] = entry
    write_keypairs(ctx, pairs)
    log.info("request %s: key pair %s (%s) stored for user %s", ctx.request_id, name, entry["id"], ctx.user)
    return entry


def create_key_pair(ctx: RequestContext, params: CreateKeyPairRequestTypeDef) -> KeyPair:
    name = check_key_name(params.get("KeyName"))
    kind = str(params.get("KeyType") or "rsa")
    key_format = str(params.get("KeyFormat") or "pem")
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        fingerprint = created_rsa_fingerprint(private)
    elif kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        fingerprint = ed25519_fingerprint(private.public_key())
    else:
        raise invalid_parameter_value("KeyType", f"'{kind}' is not one of rsa, ed25519")
    material = _private_material(private, key_format)
    entry = _store_new(
        ctx,
        name,
        {"fingerprint": fingerprint, "public_key": openssh_line(private.public_key()), "type": kind},
        params,
    )
    return {
        "KeyName": name,
        "KeyFingerprint": fingerprint,
        "KeyMaterial": material,
        "KeyPairId": entry["id"],
        "Tags": pair_tags(entry),
    }


def import_key_pair(ctx: RequestContext, params: ImportKeyPairRequestTypeDef) -> ImportKeyPairResult:
    name = check_key_name(params.get("KeyName"))
    material = params.get("PublicKeyMaterial")
    if not material:
        raise missing_parameter("PublicKeyMaterial")
    key = load_public_key(material if isinstance(material, bytes) else str(material).encode("utf-8"))
    if isinstance(key, rsa.RSAPublicKey):
        kind, fingerprint = "rsa", imported_rsa_fingerprint(key)
    else:
        kind, fingerprint = "ed25519", ed25519_fingerprint(key)
    entry = _store_new(
        ctx, name, {"fingerprint": fingerprint, "public_key": openssh_line(key), "type": kind}, params
    )
    return {
        "KeyName": name,
        "KeyFingerprint": fingerprint,
        "KeyPairId": entry["id"],
        "Tags": pair_tags(entry),
    }


def key_pair_info(name: str, pair: dict[str, Any], include_public_key: bool) -> KeyPairInfo:
    info: KeyPairInfo = {
        "KeyPairId": key_pair_id(name, pair),
        "KeyName": name,
        "KeyFingerprint": str(pair.get("fingerprint", "")),
        "KeyType": key_type(pair),
        "Tags": pair_tags(pair),
    }
    created = pair.get("created")
    if isinstance(created, int):
        info["CreateTime"] = datetime.fromtimestamp(created, UTC)
    if include_public_key:
        info["PublicKey"] = str(pair["public_key"])
    return info


KEY_PAIR_FILTERS: dict[str, Callable[[KeyPairInfo], Iterable[str]]] = {
    "key-pair-id": lambda info: [info["KeyPairId"]],
    "key-name": lambda info: [info["KeyName"]],
    "fingerprint": lambda info: [info["KeyFingerprint"]],
    "key-type": lambda info: [info["KeyType"]],
}


def describe_key_pairs(ctx: RequestContext, params: DescribeKeyPairsRequestTypeDef) -> DescribeKeyPairsResult:
    filters = parse_filters(params.get("Filters"), KEY_PAIR_FILTERS, lambda info: info["Tags"])
    pairs = read_keypairs(ctx)
    infos = [key_pair_info(name, pair, bool(params.get("IncludePublicKey"))) for name, pair in pairs.items()]
    names: list[str] = [str(n) for n in params.get("KeyNames") or []]
    ids: list[str] = [str(i) for i in params.get("KeyPairIds") or []]
    for name in names:
        if name not in pairs:
            raise key_pair_not_found(name)
    known_ids = {info["KeyPairId"] for info in infos}
    for pair_id in ids:
        if pair_id not in known_ids:
            raise not_found("KeyPair", "key pair ID", pair_id)
    if names or ids:
        infos = [i for i in infos if i["KeyName"] in names or i["KeyPairId"] in ids]
    infos.sort(key=lambda info: info["KeyName"])
    return {"KeyPairs": [info for info in infos if filters.matches(info)]}


def delete_key_pair(ctx: RequestContext, params: DeleteKeyPairRequestTypeDef) -> DeleteKeyPairResult:
    name = params.get("KeyName")
    pair_id = params.get("KeyPairId")
    if not name and not pair_id:
        raise missing_parameter("KeyName or KeyPairId")
    pairs = read_keypairs(ctx)
    found = next(
        (
            n
            for n, pair in pairs.items()
            if (name and n == name) or (pair_id and key_pair_id(n, pair) == pair_id)
        ),
        None,
    )
    if found is None:
        # AWS answers true for a key pair that does not exist: deleting is idempotent.
        return {"Return": True}
    gone_id = key_pair_id(found, pairs.pop(found))
    write_keypairs(ctx, pairs)
    log.info("request %s: key pair %s deleted for user %s", ctx.request_id, found, ctx.user)
    return {"Return": True, "KeyPairId": gone_id}


# --- tags (the `tags` family's registry) -------------------------------------------------------------


def _find_by_id(pairs: Pairs, pair_id: str) -> str:
    for name, pair in pairs.items():
        if key_pair_id(name, pair) == pair_id:
            return name
    raise not_found("KeyPair", "key pair ID", pair_id)


def _load_tagged(ctx: RequestContext, pair_id: str) -> TaggedResource:
    pairs = read_keypairs(ctx)
    return TaggedResource(pair_id, "key-pair", pair_tags(pairs[_find_by_id(pairs, pair_id)]))


def _store_tags(ctx: RequestContext, pair_id: str, tags: list[tuple[str, str]]) -> None:
    for key, value in tags:
        check_tag(key, value)
    pairs = read_keypairs(ctx)
    name = _find_by_id(pairs, pair_id)
    pairs[name]["tags"] = [[k, v] for k, v in tags]
    write_keypairs(ctx, pairs)


def _tagged_pairs(ctx: RequestContext) -> list[TaggedResource]:
    return [
        TaggedResource(key_pair_id(name, pair), "key-pair", pair_tags(pair))
        for name, pair in read_keypairs(ctx).items()
    ]


register_kind(TaggableKind("key-pair", "key", _load_tagged, _store_tags, _tagged_pairs))


HANDLERS: dict[str, Handler] = {
    "CreateKeyPair": create_key_pair,
    "ImportKeyPair": import_key_pair,
    "DescribeKeyPairs": describe_key_pairs,
    "DeleteKeyPair": delete_key_pair,
}
