"""Signature verification with botocore's own signers as the oracle (SigV4 header, presigned, SigV2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from botocore.auth import SigV2Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from one_drivers.query.errors import Ec2Error
from one_drivers.query.signing import SignedRequest, access_key_of, verify_signature

USER, SECRET = "alice", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"
URL = "http://127.0.0.1:4567/"
FORM = {"Action": "DescribeInstances", "Version": "2016-11-15", "InstanceId.1": "i-00000001"}
CREDS = Credentials(USER, SECRET)


def received(aws_request: AWSRequest) -> SignedRequest:
    """What econe's HTTP layer would hand over for this botocore request."""
    prepared = aws_request.prepare()
    parts = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)  # the HTTP client adds Host from the URL
    form = parse_qsl(body.decode(), keep_blank_values=True) if body else []
    return SignedRequest(
        method=prepared.method,
        host=headers["host"],
        path=parts.path or "/",
        query=parse_qsl(parts.query, keep_blank_values=True),
        form=form,
        headers=headers,
        body=body,
    )


def v4(
    url: str = URL, data: dict[str, str] | None = None, secret: str = SECRET, **headers: str
) -> SignedRequest:
    req = AWSRequest(method="POST", url=url, data=urlencode(data or FORM), headers=headers)
    req.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    SigV4Auth(Credentials(USER, secret), "ec2", "opennebula").add_auth(req)
    return received(req)


def v4_query(url: str = URL, expires: int = 300, method: str = "GET") -> SignedRequest:
    if method == "GET":
        req = AWSRequest(method="GET", url=url, params=dict(FORM))
    else:
        req = AWSRequest(method="POST", url=url, data=dict(FORM))
    SigV4QueryAuth(CREDS, "ec2", "us-east-1", expires=expires).add_auth(req)
    return received(req)


def v2(url: str = URL, method: str = "POST", secret: str = SECRET) -> SignedRequest:
    if method == "GET":
        req = AWSRequest(method="GET", url=url, params=dict(FORM))
    else:
        req = AWSRequest(method="POST", url=url, data=dict(FORM))
    SigV2Auth(Credentials(USER, secret)).add_auth(req)
    if method == "POST":
        req.data = urlencode(req.data)  # botocore's endpoint form-encodes the body after signing
    return received(req)


def hand_v2(
    digest: str, *, when: datetime, host: str = "127.0.0.1:4567", expires: datetime | None = None
) -> SignedRequest:
    """A SigV2 GET built by hand from the AWS documentation (HmacSHA1 or HmacSHA256), as old tools do."""
    params = dict(FORM, AWSAccessKeyId=USER, SignatureVersion="2", SignatureMethod=digest)
    if expires is not None:
        params["Expires"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        params["Timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    canonical = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    algorithm = hashlib.sha1 if digest == "HmacSHA1" else hashlib.sha256
    mac = hmac.new(SECRET.encode(), f"GET\n{host}\n/\n{canonical}".encode(), algorithm).digest()
    params["Signature"] = base64.b64encode(mac).decode()
    return SignedRequest("GET", host, "/", list(params.items()), [], {"host": host}, b"")


def now() -> datetime:
    return datetime.now(UTC)


def refused(req: SignedRequest, code: str, status: int, **kwargs: object) -> Ec2Error:
    with pytest.raises(Ec2Error) as info:
        verify_signature(req, str(kwargs.pop("secret", SECRET)), now=kwargs.pop("at", now()), **kwargs)  # type: ignore[arg-type]
    assert (info.value.code, info.value.status) == (code, status), info.value
    return info.value


@pytest.mark.parametrize(
    ("make", "scheme"),
    [
        (lambda: v4(), "v4"),
        (lambda: v4_query(), "v4-query"),
        (lambda: v4_query(method="POST"), "v4-query"),
        (lambda: v2(), "v2"),
        (lambda: v2(method="GET"), "v2"),
        (lambda: hand_v2("HmacSHA1", when=now()), "v2"),
        (lambda: hand_v2("HmacSHA256", when=now()), "v2"),
    ],
)
def test_botocore_and_hand_signatures_are_accepted(make: Callable[[], SignedRequest], scheme: str) -> None:
    req = make()
    assert access_key_of(req) == (USER, scheme)
    verify_signature(req, SECRET, now=now())


@pytest.mark.parametrize(
    "make", [lambda s: v4(secret=s), lambda s: v2(secret=s), lambda s: v2(method="GET", secret=s)]
)
def test_wrong_secret_is_signature_does_not_match(make: Callable[[str], SignedRequest]) -> None:
    refused(make("not-the-secret"), "SignatureDoesNotMatch", 403)


def test_wrong_secret_presigned() -> None:
    refused(v4_query(), "SignatureDoesNotMatch", 403, secret="other")


def _replace(req: SignedRequest, **changes: object) -> SignedRequest:
    fields: dict[str, Any] = {
        "method": req.method,
        "host": req.host,
        "path": req.path,
        "query": req.query,
        "form": req.form,
        "headers": req.headers,
        "body": req.body,
        "payload_sha256": req.payload_sha256,
    }
    fields.update(changes)
    return SignedRequest(**fields)


def _tamper_form(req: SignedRequest) -> SignedRequest:
    form = [(k, "i-00000002" if k == "InstanceId.1" else v) for k, v in req.form]
    return _replace(req, form=form, body=urlencode(form).encode())


def test_tampered_parameter_is_refused() -> None:
    refused(_tamper_form(v4()), "SignatureDoesNotMatch", 403)
    refused(_tamper_form(v2()), "SignatureDoesNotMatch", 403)
    presigned = v4_query()
    query = [(k, "i-00000009" if k == "InstanceId.1" else v) for k, v in presigned.query]
    refused(_replace(presigned, query=query), "SignatureDoesNotMatch", 403)
    signed = v4()
    refused(_replace(signed, query=[("Action", "TerminateInstances")]), "SignatureDoesNotMatch", 403)


def test_tampered_signed_header_is_refused() -> None:
    req = v4(**{"X-Amz-Target": "a"})  # type: ignore[arg-type]  # mypy also matches ** against `data`
    assert "x-amz-target" in req.headers["authorization"]
    verify_signature(req, SECRET, now=now())
    refused(_replace(req, headers={**req.headers, "x-amz-target": "b"}), "SignatureDoesNotMatch", 403)
    gone = {k: v for k, v in req.headers.items() if k != "x-amz-target"}
    refused(_replace(req, headers=gone), "SignatureDoesNotMatch", 403)


def test_unsigned_header_may_change() -> None:
    req = v4()
    verify_signature(_replace(req, headers={**req.headers, "user-agent": "x"}), SECRET, now=now())


def test_tampered_body_is_refused() -> None:
    req = v4()
    refused(_replace(req, body=req.body + b"&X=1"), "SignatureDoesNotMatch", 403)


def test_declared_payload_hash_must_match_the_body() -> None:
    req = v4(**{"X-Amz-Content-SHA256": hashlib.sha256(b"other").hexdigest()})  # type: ignore[arg-type]  # mypy also matches ** against `data`
    refused(req, "SignatureDoesNotMatch", 403)


def test_unsigned_payload_is_honoured() -> None:
    req = v4(**{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})  # type: ignore[arg-type]  # mypy also matches ** against `data`
    verify_signature(_replace(req, body=b"anything"), SECRET, now=now())


def test_wrong_method_or_path_is_refused() -> None:
    refused(_replace(v4(), method="PUT"), "SignatureDoesNotMatch", 403)
    refused(_replace(v2(), path="/other"), "SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("make", [lambda: v4(), lambda: v2(), lambda: v4_query()])
def test_wrong_host_is_refused_unless_an_alternative(make: Callable[[], SignedRequest]) -> None:
    req = make()
    moved = _replace(req, host="10.0.0.5:8080", headers={**req.headers, "host": "10.0.0.5:8080"})
    refused(moved, "SignatureDoesNotMatch", 403)
    verify_signature(moved, SECRET, now=now(), alt_hosts=["cloud.example.org", "127.0.0.1:4567"])


def test_public_url_host_behind_a_proxy() -> None:
    # The client signed https://cloud.example.org/ ; the proxy forwards with its own Host header.
    for req in (v4("https://cloud.example.org/"), v2("https://cloud.example.org/")):
        assert req.host == "cloud.example.org"
        behind = _replace(req, host="127.0.0.1:4567", headers={**req.headers, "host": "127.0.0.1:4567"})
        refused(behind, "SignatureDoesNotMatch", 403)
        verify_signature(behind, SECRET, now=now(), alt_hosts=["cloud.example.org:443", "cloud.example.org"])


def test_v4_outside_skew_is_request_expired() -> None:
    req = v4()
    verify_signature(req, SECRET, now=now() + timedelta(seconds=250))
    error = refused(req, "RequestExpired", 400, at=now() + timedelta(minutes=6))
    assert "server time" in error.message
    refused(req, "RequestExpired", 400, at=now() - timedelta(minutes=6))
    verify_signature(req, SECRET, now=now() + timedelta(minutes=20), skew_seconds=1800)


def test_presigned_expiry() -> None:
    req = v4_query(expires=60)
    verify_signature(req, SECRET, now=now() + timedelta(seconds=50))
    assert "expired" in refused(req, "RequestExpired", 400, at=now() + timedelta(seconds=90)).message
    refused(req, "RequestExpired", 400, at=now() - timedelta(minutes=10))  # signed "in the future"


def test_v2_timestamp_and_expires() -> None:
    t = now()
    refused(hand_v2("HmacSHA1", when=t - timedelta(minutes=10)), "RequestExpired", 400, at=t)
    refused(hand_v2("HmacSHA256", when=t + timedelta(minutes=10)), "RequestExpired", 400, at=t)
    verify_signature(hand_v2("HmacSHA1", when=t, expires=t + timedelta(minutes=30)), SECRET, now=t)
    expired = hand_v2("HmacSHA1", when=t, expires=t - timedelta(seconds=1))
    assert "expired" in refused(expired, "RequestExpired", 400, at=t).message


def test_v4_with_date_header_instead_of_x_amz_date() -> None:
    req = v4(Date="Thu, 01 Jan 2026 00:00:00 GMT")
    assert "x-amz-date" not in req.headers
    verify_signature(req, SECRET, now=datetime.now(UTC))


def test_no_credentials_and_obsolete_schemes() -> None:
    bare = SignedRequest("GET", "h", "/", [("Action", "DescribeInstances")], [], {"host": "h"}, b"")
    for req in (
        bare,
        _replace(bare, query=[("AWSAccessKeyId", USER), ("SignatureVersion", "1"), ("Signature", "x")]),
        _replace(bare, form=[("AWSAccessKeyId", USER), ("SignatureVersion", "0"), ("Signature", "x")]),
        _replace(bare, query=[("AWSAccessKeyId", USER), ("Signature", "x")]),
        _replace(bare, headers={"host": "h", "authorization": "AWS alice:c2lnbmF0dXJl"}),
        _replace(bare, query=[("X-Amz-Algorithm", "AWS4-HMAC-SHA1"), ("X-Amz-Credential", "a/b")]),
    ):
        with pytest.raises(Ec2Error) as info:
            access_key_of(req)
        assert (info.value.code, info.value.status) == ("AuthFailure", 401)
        refused(req, "AuthFailure", 401)
    with pytest.raises(Ec2Error, match="obsolete"):
        access_key_of(_replace(bare, query=[("AWSAccessKeyId", USER), ("SignatureVersion", "1")]))


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=alice/20260101/r/ec2/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=alice/2026/r/ec2/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=alice/20260101/r/ec2/other, SignedHeaders=host, Signature=ab",
    ],
)
def test_malformed_v4_header_is_auth_failure(authorization: str) -> None:
    req = SignedRequest("POST", "h", "/", [], [], {"host": "h", "authorization": authorization}, b"")
    refused(req, "AuthFailure", 401)


def test_v4_must_sign_host_and_scope_date_must_match() -> None:
    t = now()
    stamp = t.strftime("%Y%m%dT%H%M%SZ")
    no_host = f"AWS4-HMAC-SHA256 Credential=alice/{stamp[:8]}/r/ec2/aws4_request, SignedHeaders=x-amz-date, Signature=ab"
    req = SignedRequest(
        "POST", "h", "/", [], [], {"host": "h", "x-amz-date": stamp, "authorization": no_host}, b""
    )
    assert "host" in refused(req, "AuthFailure", 401, at=t).message
    other_day = no_host.replace(stamp[:8], "20200101").replace("x-amz-date", "host;x-amz-date")
    req = _replace(req, headers={**req.headers, "authorization": other_day})
    refused(req, "AuthFailure", 401, at=t)


def test_user_names_with_odd_characters_sign_fine() -> None:
    user = "jo.doe@example.org"
    req = AWSRequest(method="POST", url=URL, data=urlencode(FORM))
    SigV4Auth(Credentials(user, SECRET), "ec2", "opennebula").add_auth(req)
    signed = received(req)
    assert access_key_of(signed) == (user, "v4")
    verify_signature(signed, SECRET, now=now())


PARAM_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9.\-_]{0,10}", fullmatch=True), PARAM_TEXT, max_size=5
    ),
    scheme=st.sampled_from(["v4", "v4-query", "v2", "v2-get"]),
    tamper=st.integers(min_value=0, max_value=10),
)
def test_any_parameters_sign_and_any_change_is_refused(
    params: dict[str, str], scheme: str, tamper: int
) -> None:
    reserved = {"Signature", "SignatureVersion", "SignatureMethod", "AWSAccessKeyId", "Timestamp", "Expires"}
    data = {k: v for k, v in params.items() if k not in reserved and not k.startswith("X-Amz")}
    data["Action"] = "DescribeInstances"
    if scheme == "v4":
        req = v4(data=data)
    elif scheme == "v4-query":
        aws = AWSRequest(method="GET", url=URL, params=data)
        SigV4QueryAuth(CREDS, "ec2", "opennebula").add_auth(aws)
        req = received(aws)
    else:
        method = "GET" if scheme == "v2-get" else "POST"
        aws = AWSRequest(
            method=method,
            url=URL,
            params=data if method == "GET" else {},
            data=data if method == "POST" else {},
        )
        SigV2Auth(CREDS).add_auth(aws)
        if method == "POST":
            aws.data = urlencode(aws.data)
        req = received(aws)
    verify_signature(req, SECRET, now=now())
    # Change one signed value (the Action, always present) in whichever part carries it.
    changed = f"DescribeInstances{tamper}"
    if any(k == "Action" for k, _ in req.query):
        bad = _replace(req, query=[(k, changed if k == "Action" else v) for k, v in req.query])
    else:
        form = [(k, changed if k == "Action" else v) for k, v in req.form]
        bad = _replace(req, form=form, body=urlencode(form).encode())
    refused(bad, "SignatureDoesNotMatch", 403)


def test_streamed_body_is_checked_by_its_precomputed_hash() -> None:
    # A multipart upload is streamed to disk: econe hands over the body's hash instead of the body.
    body = b"--b\r\ncontent of a disk image\r\n--b--\r\n"
    digest = hashlib.sha256(body).hexdigest()
    req = AWSRequest(
        method="POST", url=URL + "?Action=UploadImage", data=b"", headers={"X-Amz-Content-SHA256": digest}
    )
    SigV4Auth(CREDS, "ec2", "opennebula").add_auth(req)
    signed = _replace(received(req), body=b"", payload_sha256=digest)
    verify_signature(signed, SECRET, now=now())
    other = hashlib.sha256(b"another image").hexdigest()
    refused(_replace(signed, payload_sha256=other), "SignatureDoesNotMatch", 403)


JUNK = st.text(max_size=40)
V4_HEADER = st.builds(
    lambda cred, headers, sig, extra: (
        f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={headers}, Signature={sig}{extra}"
    ),
    st.one_of(
        JUNK, st.just("alice/20260101/r/ec2/aws4_request"), st.just("alice/{d}/us-east-1/ec2/aws4_request")
    ),
    st.one_of(JUNK, st.just("host;x-amz-date"), st.just("host")),
    st.one_of(JUNK, st.text("0123456789abcdef", min_size=64, max_size=64)),
    st.one_of(st.just(""), JUNK),
)


@settings(max_examples=200, deadline=None)
@given(
    authorization=st.one_of(st.none(), V4_HEADER, JUNK),
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "X-Amz-Algorithm",
                    "X-Amz-Credential",
                    "X-Amz-Date",
                    "X-Amz-Expires",
                    "X-Amz-SignedHeaders",
                    "X-Amz-Signature",
                    "AWSAccessKeyId",
                    "SignatureVersion",
                    "SignatureMethod",
                    "Signature",
                    "Timestamp",
                    "Expires",
                    "Action",
                ]
            ),
            st.one_of(JUNK, st.just("AWS4-HMAC-SHA256"), st.just("2"), st.just("HmacSHA1"), st.just("60")),
        ),
        max_size=8,
    ),
    headers=st.dictionaries(
        st.sampled_from(["x-amz-date", "date", "x-amz-content-sha256", "host"]), JUNK, max_size=3
    ),
)
def test_junk_is_refused_with_401_or_403_only(
    authorization: str | None, query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    t = now()
    headers = {"host": "h", **headers}
    if authorization is not None:
        headers["authorization"] = authorization.replace("{d}", t.strftime("%Y%m%d"))
    req = SignedRequest("POST", headers["host"], "/", query, [], headers, b"")
    with pytest.raises(Ec2Error) as info:
        verify_signature(req, SECRET, now=t)
    assert (info.value.code, info.value.status) in {("AuthFailure", 401), ("SignatureDoesNotMatch", 403)}


def test_host_header_spellings_a_client_may_have_signed() -> None:
    # botocore signs the lower-cased host without a default port; the Host header may differ in both.
    for url, sent in (
        ("http://cloud.example.org/", "Cloud.Example.ORG:80"),
        ("https://h.example/", "h.example:443"),
    ):
        for req in (v4(url), v2(url)):
            odd = _replace(req, host=sent, headers={**req.headers, "host": sent})
            verify_signature(odd, SECRET, now=now())
    other = _replace(v2("http://cloud.example.org/"), host="cloud.example.org:8080")
    refused(other, "SignatureDoesNotMatch", 403)


@pytest.mark.parametrize(
    "amz_date",
    ["2026112T040441Z", "20261322T040441Z", "20261122T040441", "20261122t040441Z", "٢0261122T040441Z"],
)
def test_malformed_x_amz_date_is_auth_failure(amz_date: str) -> None:
    req = v4()
    headers = dict(req.headers, **{"x-amz-date": amz_date})
    error = refused(_replace(req, headers=headers), "AuthFailure", 401)
    assert "YYYYMMDD" in error.message


def test_derived_signing_keys_stay_per_secret_and_scope() -> None:
    # The cached derivation must not let a key derived for one secret or scope verify another's.
    verify_signature(v4(), SECRET, now=now())
    refused(v4(secret="other-secret"), "SignatureDoesNotMatch", 403)
    verify_signature(v4(secret="other-secret"), "other-secret", now=now())
    refused(v4(), "SignatureDoesNotMatch", 403, secret="other-secret")
