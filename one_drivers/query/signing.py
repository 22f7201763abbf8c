"""Who signed an EC2 request and whether the signature holds: SigV4 (header and presigned) and SigV2.

Pure functions over a `SignedRequest` that econe's HTTP layer builds from what it received; econe looks
the secret up by `access_key_of` and then calls `verify_signature`. No I/O, constant-time compares, and
nothing here logs a secret or a signature.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import posixpath
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from one_drivers.query.errors import auth_failure, request_expired, signature_does_not_match
from one_drivers.query.parse import parse_timestamp

log = logging.getLogger(__name__)

V4_ALGORITHM = "AWS4-HMAC-SHA256"
V4_TERMINATOR = "aws4_request"
V4_SERVICE = "ec2"  # the only service a credential scope may name here
V4_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # AWS refuses X-Amz-Expires beyond a week
V2_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers, as received (pairs decoded, header names lower-case)."""

    method: str
    host: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    # The body's SHA-256 hex when the body is not kept in memory (a multipart upload streamed to disk);
    # SigV4 checks the payload against this instead of hashing `body`.
    payload_sha256: str | None = None

    def body_sha256(self) -> str:
        return self.payload_sha256 or hashlib.sha256(self.body).hexdigest()

    def query_param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def param(self, name: str) -> str | None:
        """A parameter from the query string or, failing that, the form body (SigV2 uses either)."""
        found = self.query_param(name)
        if found is not None:
            return found
        for key, value in self.form:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class _V4Credential:
    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{V4_TERMINATOR}"


def access_key_of(req: SignedRequest) -> tuple[str, str]:
    """(access key, scheme) where scheme is "v4", "v4-query" or "v2".

    No credentials at all, or an obsolete scheme (SigV1, SigV0, S3-style `AWS key:sig`) -> AuthFailure.
    """
    authorization = req.headers.get("authorization")
    if authorization is not None:
        if authorization.startswith(V4_ALGORITHM + " "):
            return _v4_credential(_v4_header_fields(authorization)["Credential"]).access_key, "v4"
        raise auth_failure("Unsupported Authorization header: sign with AWS Signature Version 4 or 2")
    algorithm = req.query_param("X-Amz-Algorithm")
    if algorithm is not None or req.query_param("X-Amz-Credential") is not None:
        if algorithm != V4_ALGORITHM:
            raise auth_failure(f"Unsupported X-Amz-Algorithm; only {V4_ALGORITHM} is accepted")
        return _v4_credential(_required_query(req, "X-Amz-Credential")).access_key, "v4-query"
    access_key = req.param("AWSAccessKeyId")
    if access_key is not None:
        version = req.param("SignatureVersion")
        if version == "2":
            return access_key, "v2"
        if version in ("0", "1"):
            raise auth_failure(f"SignatureVersion {version} is obsolete and refused; use version 2 or 4")
        raise auth_failure("SignatureVersion must be 2 (or sign with AWS Signature Version 4)")
    raise auth_failure(
        "The request carries no AWS credentials (no Authorization header or signature parameters)"
    )


def verify_signature(
    req: SignedRequest,
    secret: str,
    *,
    now: datetime,
    skew_seconds: int = 300,
    alt_hosts: Sequence[str] = (),
    regions: Collection[str] | None = None,
    service: str = V4_SERVICE,
) -> None:
    """Raise RequestExpired (400: expired, outside the clock skew), AuthFailure (401: malformed, missing,
    scoped to another region or service) or SignatureDoesNotMatch (403).

    `alt_hosts` are other spellings of this server's host a client may have signed (the configured public
    URL host with and without its port), tried after the received Host header. A SigV4 credential scope
    must name `service` and one of `regions` (None: any region), as AWS refuses a key signed elsewhere.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    hosts = list(dict.fromkeys([*received_host_spellings(req.host), *alt_hosts]))
    _, scheme = access_key_of(req)
    if scheme == "v2":
        _verify_v2(req, secret, now, skew_seconds, hosts)
    else:
        _verify_v4(
            req, secret, now, skew_seconds, hosts, presigned=scheme == "v4-query", scope=(regions, service)
        )


def received_host_spellings(host: str) -> list[str]:
    """The Host header as received, then as a client may have signed it: lower-cased (botocore signs the
    lower-cased host) and without a default port (":80"/":443" are signed as the bare host)."""
    spellings = [host, host.lower()]
    for default_port in (":80", ":443"):
        if host.endswith(default_port):
            spellings.append(host[: -len(default_port)].lower())
    return spellings


# --- SigV4 --------------------------------------------------------------------------------------------


def _v4_header_fields(authorization: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in authorization[len(V4_ALGORITHM) :].split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise auth_failure(f"Authorization header requires {', '.join(missing)}")
    return fields


def _v4_credential(text: str) -> _V4Credential:
    # The access key is an OpenNebula user name: split from the right so only the scope is taken apart.
    parts = text.rsplit("/", 4)
    if len(parts) != 5 or parts[4] != V4_TERMINATOR or not parts[0] or len(parts[1]) != 8:
        raise auth_failure("Credential must be <access key>/<YYYYMMDD>/<region>/<service>/aws4_request")
    return _V4Credential(parts[0], parts[1], parts[2], parts[3])


def _required_query(req: SignedRequest, name: str) -> str:
    value = req.query_param(name)
    if not value:
        raise auth_failure(f"A presigned request requires the {name} parameter")
    return value


_V4_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z", re.ASCII)


def _v4_moment(text: str) -> datetime:
    # Exactly YYYYMMDD'T'HHMMSS'Z' (strptime would also take short fields) in ~1/8 of strptime's time.
    match = _V4_DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise auth_failure(f"Invalid date {text!r}: expected YYYYMMDD'T'HHMMSS'Z'") from None


def _check_v4_scope(credential: _V4Credential, regions: Collection[str] | None, service: str) -> None:
    # AWS's wording; a signature made for S3 or another region must not open this one.
    if credential.service != service:
        raise auth_failure(f"Credential should be scoped to correct service: '{service}'.")
    if regions is not None and credential.region not in regions:
        raise auth_failure(f"Credential should be scoped to a valid region, not '{credential.region}'.")


def _verify_v4(
    req: SignedRequest,
    secret: str,
    now: datetime,
    skew: int,
    hosts: list[str],
    *,
    presigned: bool,
    scope: tuple[Collection[str] | None, str],
) -> None:
    query = req.query
    payloads: list[str]
    if presigned:
        credential = _v4_credential(_required_query(req, "X-Amz-Credential"))
        signed_headers = _required_query(req, "X-Amz-SignedHeaders")
        signature = _required_query(req, "X-Amz-Signature")
        amz_date = _required_query(req, "X-Amz-Date")
        moment = _v4_moment(amz_date)
        try:
            expires = int(_required_query(req, "X-Amz-Expires"))
        except ValueError:
            raise auth_failure("X-Amz-Expires must be a number of seconds") from None
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            raise auth_failure(f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
        if now > moment + timedelta(seconds=expires):
            raise request_expired("Request has expired")
        if moment - now > timedelta(seconds=skew):
            raise request_expired("Request is not yet valid: X-Amz-Date is in the future")
        query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        # Presigners differ: botocore hashes the (empty) body, S3-style presigners send UNSIGNED-PAYLOAD.
        payloads = [req.body_sha256(), UNSIGNED_PAYLOAD]
    else:
        fields = _v4_header_fields(req.headers["authorization"])
        credential = _v4_credential(fields["Credential"])
        signed_headers = fields["SignedHeaders"]
        signature = fields["Signature"]
        amz_date, moment = _v4_request_date(req)
        if abs(now - moment) > timedelta(seconds=skew):
            raise request_expired(
                f"Signature expired or not yet valid: {amz_date} is more than {skew} s from the server time"
            )
        payloads = [_v4_payload_hash(req)]
    if credential.date != amz_date[:8]:
        raise auth_failure("The credential scope date does not match the request date")
    _check_v4_scope(credential, *scope)

    names = signed_headers.split(";")
    if "host" not in names:
        raise auth_failure("SignedHeaders must include host")
    header_lines: list[str | None] = []
    for name in names:
        if name == "host":
            header_lines.append(None)  # filled per candidate host below
            continue
        value = req.headers.get(name)
        if value is None:
            raise signature_does_not_match(f"Signed header {name} is missing from the request")
        header_lines.append(f"{name}:{' '.join(value.split())}")
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((_v4_quote(k), _v4_quote(v)) for k, v in query))
    signing_key = _v4_signing_key(secret, credential)
    provided = signature.lower().encode("ascii", "replace")
    for host in hosts:
        headers_text = "\n".join(line if line is not None else f"host:{host}" for line in header_lines)
        for payload in payloads:
            canonical_request = "\n".join(
                [
                    req.method.upper(),
                    _v4_path(req.path),
                    canonical_query,
                    headers_text + "\n",
                    signed_headers,
                    payload,
                ]
            )
            string_to_sign = "\n".join(
                [
                    V4_ALGORITHM,
                    amz_date,
                    credential.scope,
                    hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
                ]
            )
            expected = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected.encode("ascii"), provided):
                return
    log.info("SigV4 signature mismatch for %s (hosts tried: %s)", credential.access_key, ", ".join(hosts))
    raise signature_does_not_match()


def _v4_request_date(req: SignedRequest) -> tuple[str, datetime]:
    amz_date = req.headers.get("x-amz-date")
    if amz_date:
        return amz_date, _v4_moment(amz_date)
    date = req.headers.get("date")
    if not date:
        raise auth_failure("A SigV4 request needs an X-Amz-Date or Date header")
    try:
        moment = parsedate_to_datetime(date).astimezone(UTC)
    except (TypeError, ValueError):
        raise auth_failure(f"Invalid Date header {date!r}") from None
    return moment.strftime(V4_DATE_FORMAT), moment


def _v4_payload_hash(req: SignedRequest) -> str:
    actual = req.body_sha256()
    declared = req.headers.get("x-amz-content-sha256")
    if declared is None:
        return actual
    if declared != UNSIGNED_PAYLOAD and not hmac.compare_digest(declared.lower(), actual):
        raise signature_does_not_match("The body does not match its X-Amz-Content-SHA256")
    return declared


def _v4_quote(text: str) -> str:
    return quote(text, safe="-_.~")


def _v4_path(path: str) -> str:
    if not path:
        return "/"
    normalized = posixpath.normpath(path)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    if normalized.startswith("//"):  # normpath keeps a leading double slash (POSIX); the URL path does not
        normalized = "/" + normalized.lstrip("/")
    return quote(normalized, safe="/~")


def _v4_signing_key(secret: str, credential: _V4Credential) -> bytes:
    return _derive_v4_key(secret, credential.date, credential.region, credential.service)


@functools.lru_cache(maxsize=512)
def _derive_v4_key(secret: str, date: str, region: str, service: str) -> bytes:
    # Four HMACs that change once a day per user, region and service; SDKs cache them the same way.
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, V4_TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


# --- SigV2 --------------------------------------------------------------------------------------------


def _verify_v2(req: SignedRequest, secret: str, now: datetime, skew: int, hosts: list[str]) -> None:
    params = [*req.query, *req.form]
    method_name = req.param("SignatureMethod") or ""
    digest = V2_DIGESTS.get(method_name)
    if digest is None:
        raise auth_failure("SignatureMethod must be HmacSHA256 or HmacSHA1")
    signature = req.param("Signature")
    if not signature:
        raise auth_failure("A SigV2 request requires the Signature parameter")
    _check_v2_time(req, now, skew)

    pairs = sorted((k, v) for k, v in params if k != "Signature")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    # A `+` in an unencoded GET signature arrives as a space after form decoding; put it back.
    provided = signature.replace(" ", "+").encode("ascii", "replace")
    path = req.path or "/"
    for host in hosts:
        string_to_sign = f"{req.method.upper()}\n{host}\n{path}\n{canonical_query}"
        mac = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), digest).digest()
        if hmac.compare_digest(base64.b64encode(mac), provided):
            return
    log.info("SigV2 signature mismatch (hosts tried: %s)", ", ".join(hosts))
    raise signature_does_not_match()


def _check_v2_time(req: SignedRequest, now: datetime, skew: int) -> None:
    expires = req.param("Expires")
    timestamp = req.param("Timestamp")
    if expires is not None:
        moment = _v2_moment(expires, "Expires")
        if now > moment:
            raise request_expired(f"Request has expired (Expires {expires})")
        return
    if timestamp is None:
        raise auth_failure("A SigV2 request requires a Timestamp or Expires parameter")
    moment = _v2_moment(timestamp, "Timestamp")
    if abs(now - moment) > timedelta(seconds=skew):
        raise request_expired(f"Request timestamp {timestamp} is more than {skew} s from the server time")


def _v2_moment(text: str, name: str) -> datetime:
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError, OSError):
        raise auth_failure(f"Invalid {name} {text!r}: expected ISO 8601") from None
