"""Hand-built SigV2 requests (what euca2ools, libcloud and old SDKs send), signed here from the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    @property
    def xml(self) -> Any:
        return etree.fromstring(self.body)

    def find(self, local_name: str) -> str | None:
        found = self.xml.xpath(f"//*[local-name()='{local_name}']")
        return str(found[0].text) if found else None

    @property
    def error_code(self) -> str | None:
        return self.find("Code")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_v2(
    params: dict[str, str],
    *,
    key: str,
    secret: str,
    method: str = "GET",
    host: str,
    path: str = "/",
    algorithm: str = "HmacSHA256",
    timestamp: datetime | None = None,
    expires: datetime | None = None,
) -> dict[str, str]:
    signed = dict(params)
    signed.update(
        {
            "AWSAccessKeyId": key,
            "SignatureVersion": "2",
            "SignatureMethod": algorithm,
            "Version": "2016-11-15",
        }
    )
    if expires is not None:
        signed["Expires"] = iso(expires)
    else:
        signed["Timestamp"] = iso(timestamp or datetime.now(UTC))
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(signed.items())
    )
    to_sign = f"{method}\n{host}\n{path}\n{query}"
    mac = hmac.new(secret.encode(), to_sign.encode(), DIGESTS[algorithm]).digest()
    signed["Signature"] = base64.b64encode(mac).decode()
    return signed


def send(
    endpoint: str,
    params: dict[str, str],
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    context: Any = None,
) -> Reply:
    data = urllib.parse.urlencode(params).encode()
    if method == "GET":
        req = urllib.request.Request(f"{endpoint}/?{data.decode()}", method="GET", headers=headers or {})
    else:
        req = urllib.request.Request(
            f"{endpoint}/",
            data=data,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return Reply(resp.status, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.read())


def past(seconds: int) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
