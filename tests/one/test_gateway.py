"""The gateway against oned's recorded answers, replayed by a loopback HTTP server, and its login tokens.

Every recorded failure tuple must become the exception class of its error code, every fault a OneFault
with its faultCode, and every success the document string a client parses (`<name>.xml`).
"""

from __future__ import annotations

import json
import threading
import xmlrpc.client
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from one_drivers.one.cipher import ServerCipher
from one_drivers.one.gateway import (
    ERROR_BY_CODE,
    FAST_STRING_MIN,
    OneAuthenticationError,
    OneAuthorizationError,
    OneError,
    OneFault,
    OneGateway,
    OneInternalError,
    OneNotFoundError,
    OneUnavailable,
    decode_response,
    unescape_text,
)


class Replay:
    """A loopback XML-RPC 'oned' that answers each POST with the next queued body and records requests."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.requests: list[tuple[str, tuple[Any, ...]]] = []
        self.status = 200
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                params, method = xmlrpc.client.loads(self.rfile.read(length), use_builtin_types=True)
                replay.requests.append((str(method), params))
                body = replay.bodies.pop(0) if replay.bodies else b"not xml"
                self.send_response(replay.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/RPC2"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay() -> Iterator[Replay]:
    r = Replay()
    yield r
    r.close()


def _redacted(path: Path) -> bool:
    # The recording replaced password hashes with a bare "<sha256-hex-redacted>", which is not XML.
    return b"redacted>" in path.read_bytes()


def _index(real_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((real_dir / name).read_text())
    return data


# Expected class per recorded error file; the table itself is walked below.
EXPECTED_ERRORS: dict[str, type[OneError]] = {
    "authentication": OneAuthenticationError,
    "authentication_unknown_user": OneAuthenticationError,
    "authentication_malformed_session": OneAuthenticationError,
    "authorization": OneAuthorizationError,
    "authorization_vm_action": OneAuthorizationError,
    "not_found_vm_info": OneNotFoundError,
    "not_found_vm_action": OneNotFoundError,
    "not_found_template_instantiate": OneNotFoundError,
    "not_found_image_info": OneNotFoundError,
    "action_not_allowed_resume_running": ERROR_BY_CODE[2048],
    "action_unknown_name": ERROR_BY_CODE[2048],
    "allocate_syntax_error": OneInternalError,
    "allocate_duplicate_name": OneInternalError,
    "allocate_vm_missing_memory": OneInternalError,
    "deploy_not_pending": ERROR_BY_CODE[2048],
    "locked_vm_action": OneAuthorizationError,
    "server_cipher_bad_token": OneAuthenticationError,
    "bad_param_type": OneFault,
    "bad_param_count": OneFault,
    "unknown_method": OneFault,
}


def test_every_recorded_error_maps_to_its_class(real_dir: Path, replay: Replay) -> None:
    index = _index(real_dir, "index_errors.json")
    # Recorded but not indexed: a server_cipher token oned could not decrypt.
    index["server_cipher_bad_token"] = {
        "method": "one.user.info",
        "params": [-1, False],
        "result_tuple": [False, "[one.user.info] User couldn't be authenticated, aborting call.", 256, -1],
    }
    gw = OneGateway(replay.endpoint, "oneadmin:x")
    seen = 0
    for name, entry in index.items():
        if entry.get("result_tuple") and entry["result_tuple"][0] is True:
            continue  # lock_set / unlock are successes recorded with the errors
        replay.bodies.append((real_dir / f"error_{name}.response.xml").read_bytes())
        with pytest.raises(OneError) as info:
            gw.call(entry["method"], *entry["params"])
        err = info.value
        assert type(err) is EXPECTED_ERRORS[name], name
        assert err.method == entry["method"]
        if entry.get("xmlrpc_fault"):
            assert err.code == entry["xmlrpc_fault"]["faultCode"]
            assert entry["xmlrpc_fault"]["faultString"] in err.message
        else:
            code, object_id = entry["result_tuple"][2], entry["result_tuple"][3]
            assert err.code == code and err.object_id == object_id
            assert err.message == entry["result_tuple"][1]
        seen += 1
    assert seen == len(EXPECTED_ERRORS)


def test_error_table_covers_every_oned_code() -> None:
    assert sorted(ERROR_BY_CODE) == [256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    for code, cls in ERROR_BY_CODE.items():
        assert cls.code == code


def test_every_recorded_success_decodes_to_the_document(real_dir: Path, replay: Replay) -> None:
    index = _index(real_dir, "index_success.json")
    gw = OneGateway(replay.endpoint, "oneadmin:x")
    for name, entry in index.items():
        response = real_dir / f"{name}.response.xml"
        if _redacted(response):
            continue
        replay.bodies.append(response.read_bytes())
        value = gw.call(entry["method"], *entry["params"])
        document = real_dir / f"{name}.xml"
        expected = document.read_text(encoding="utf-8") if document.exists() else "6.10.5"
        assert value == expected, name
        sent_method, sent_params = replay.requests[-1]
        assert sent_method == entry["method"]
        assert list(sent_params) == ["oneadmin:x", *entry["params"]]


def test_decoder_agrees_with_stdlib_on_every_recorded_response(real_dir: Path) -> None:
    for path in sorted(real_dir.glob("*.response.xml")):
        if _redacted(path):
            continue
        body = path.read_bytes()
        try:
            (expected,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
        except xmlrpc.client.Fault:
            continue
        except xmlrpc.client.ResponseError:
            continue
        assert decode_response(body) == expected, path.name


def test_typed_methods_send_oned_signatures(replay: Replay) -> None:
    gw = OneGateway(replay.endpoint, "u:p")
    ok_int = b"<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><i4>7</i4></value><value><i4>0</i4></value></data></array></value></param></params></methodResponse>"
    calls: list[tuple[Callable[[], object], str, list[Any]]] = [
        (
            lambda: gw.template_instantiate(3, "n", False, 'A="1"', False),
            "one.template.instantiate",
            [3, "n", False, 'A="1"', False],
        ),
        (lambda: gw.vm_action("terminate-hard", 4), "one.vm.action", ["terminate-hard", 4]),
        (lambda: gw.vm_update(4, 'X="y"', append=True), "one.vm.update", [4, 'X="y"', 1]),
        (lambda: gw.vm_update(4, 'X="y"', append=False), "one.vm.update", [4, 'X="y"', 0]),
        (lambda: gw.vm_disksaveas(4, 0, "snap"), "one.vm.disksaveas", [4, 0, "snap", "", -1]),
        (lambda: gw.vm_attach(4, "DISK=[IMAGE_ID=1]"), "one.vm.attach", [4, "DISK=[IMAGE_ID=1]"]),
        (lambda: gw.vm_detach(4, 2), "one.vm.detach", [4, 2]),
        (lambda: gw.image_allocate('NAME="x"', 1), "one.image.allocate", ['NAME="x"', 1]),
        (lambda: gw.image_update(5, 'EC2_AMI="YES"'), "one.image.update", [5, 'EC2_AMI="YES"', 1]),
        (lambda: gw.image_delete(5), "one.image.delete", [5]),
        (lambda: gw.image_persistent(5, True), "one.image.persistent", [5, True]),
        (lambda: gw.image_chtype(5, "DATABLOCK"), "one.image.chtype", [5, "DATABLOCK"]),
        (lambda: gw.image_clone(5, "c"), "one.image.clone", [5, "c", -1]),
        (lambda: gw.vn_hold(0, "LEASES=[IP=1.2.3.4]"), "one.vn.hold", [0, "LEASES=[IP=1.2.3.4]"]),
        (lambda: gw.vn_release(0, "LEASES=[IP=1.2.3.4]"), "one.vn.release", [0, "LEASES=[IP=1.2.3.4]"]),
        (lambda: gw.vn_update(0, "A=1", False), "one.vn.update", [0, "A=1", 0]),
        (lambda: gw.user_update(2, "A=1"), "one.user.update", [2, "A=1", 1]),
    ]
    for fn, method, params in calls:
        replay.bodies.append(ok_int)
        assert fn() == 7
        assert replay.requests[-1] == (method, ("u:p", *params))


def test_unreachable_and_garbage_are_unavailable(replay: Replay) -> None:
    gw = OneGateway(replay.endpoint, "u:p")
    replay.bodies.append(b"<html>no</html>")
    with pytest.raises(OneUnavailable):
        gw.system_version()
    replay.status = 500
    replay.bodies.append(b"")
    with pytest.raises(OneUnavailable):
        gw.system_version()
    replay.close()
    with pytest.raises(OneUnavailable):
        OneGateway(replay.endpoint, "u:p").system_version()


def test_connection_is_kept_alive_and_survives_a_server_close(replay: Replay, real_dir: Path) -> None:
    gw = OneGateway(replay.endpoint, "u:p")
    body = (real_dir / "system_version.response.xml").read_bytes()
    for _ in range(3):
        replay.bodies.append(body)
        assert gw.system_version() == "6.10.5"
    assert len(replay.requests) == 3


def test_for_user_caches_and_renews_with_margin(tmp_path: Path) -> None:
    auth = tmp_path / "ec2_auth"
    auth.write_text("serveradmin:pw\n")
    admin = OneGateway.server_admin("http://127.0.0.1:9/RPC2", str(auth))
    g1 = admin.for_user("alice", now=1000.0)
    assert g1 is admin.for_user("alice", now=1000.0 + 1800 - 301)
    g2 = admin.for_user("alice", now=1000.0 + 1800 - 300)
    assert g2 is not g1 and g2.session != g1.session
    assert admin.for_user("bob", now=1000.0).session.startswith("serveradmin:bob:")
    plain = admin.cipher.decrypt(g2.session.split(":", 2)[2]) if admin.cipher else None
    expiry = int(plain.rsplit(b":", 1)[1]) if plain else 0
    assert expiry == 1000 + 1800 - 300 + 1800


def test_for_user_needs_cipher_credentials() -> None:
    with pytest.raises(OneAuthenticationError):
        OneGateway("http://127.0.0.1:9/RPC2", "u:p").for_user("bob")


def test_for_user_is_thread_safe(tmp_path: Path) -> None:
    auth = tmp_path / "ec2_auth"
    auth.write_text("serveradmin:pw\n")
    admin = OneGateway.server_admin("http://127.0.0.1:9/RPC2", str(auth))
    results: list[OneGateway] = []

    def grab() -> None:
        for _ in range(200):
            results.append(admin.for_user("carol", now=5000.0))

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(g) for g in results}) == 1


# --- against the simulator over real XML-RPC ---------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Any]:
    from one_drivers.sim.server import Simulator

    with Simulator(auth_dir=tmp_path, port=0) as simulator:
        yield simulator


def test_server_admin_acts_for_users_on_the_simulator(sim: Any, tmp_path: Path) -> None:
    oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
    assert oneadmin.system_version()
    uid = oneadmin.user_allocate("alice", "pw", "core", (1,))
    admin = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    assert "<NAME>serveradmin</NAME>" in admin.document("one.user.info", -1, False)
    as_alice = admin.for_user("alice")
    assert f"<ID>{uid}</ID>" in as_alice.document("one.user.info", -1, False)
    assert "<NAME>alice</NAME>" in admin.document("one.userpool.info")
    # A token made with another key is refused by oned as an authentication failure.
    forged = OneGateway(
        sim.endpoint, ServerCipher.from_password("serveradmin", "wrong").session_for("alice", 2**31)
    )
    with pytest.raises(OneAuthenticationError):
        forged.document("one.user.info", -1, False)
    # Expired tokens too (the renewal margin keeps ours far from that).
    old = OneGateway.server_admin(sim.endpoint, sim.cipher_auth_file)
    expired = OneGateway(sim.endpoint, old.for_user("alice", now=1000.0).session)
    with pytest.raises(OneAuthenticationError):
        expired.document("one.user.info", -1, False)


def test_typed_methods_on_the_simulator(sim: Any) -> None:
    one = OneGateway(sim.endpoint, sim.oneadmin_auth)
    image_id = one.image_allocate('NAME="blk"\nTYPE="DATABLOCK"\nSIZE="16"', 1)
    assert "<NAME>blk</NAME>" in one.document("one.image.info", image_id, False)
    one.image_update(image_id, 'EC2_AMI="YES"', append=True)
    assert "EC2_AMI" in one.document("one.image.info", image_id, False)
    assert f"<ID>{image_id}</ID>" in one.document("one.imagepool.info", -2, -1, -1)
    with pytest.raises(OneNotFoundError) as info:
        one.document("one.image.info", 9999, False)
    assert info.value.object_id == 9999
    ids = sim.bulk_vms(5)
    page = one.document("one.vmpool.infoextended", -2, 0, -2, -1)
    assert page.count("<VM>") == 2
    assert f"<ID>{ids[-1]}</ID>" in page  # newest first, as oned lists pools
    assert one.document("one.vmpool.info", -2, -1, -1, -1).count("<VM>") == 5
    one.vm_action("terminate-hard", ids[0])
    assert "<STATE>6</STATE>" in one.document("one.vm.info", ids[0], False)
    assert "<DATASTORE_POOL>" in one.document("one.datastorepool.info")
    assert "<ID>1</ID>" in one.document("one.datastore.info", 1, False)
    with pytest.raises(OneFault) as fault:
        one.call("one.vm.nosuchmethod", 0)
    assert fault.value.code == -506


def test_calls_from_many_threads_share_nothing_unsafe(sim: Any) -> None:
    one = OneGateway(sim.endpoint, sim.oneadmin_auth)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert one.system_version()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_servers_that_close_after_each_answer(real_dir: Path) -> None:
    class OneShot(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # closes the connection after every response

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = (real_dir / "system_version.response.xml").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneShot)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        gw = OneGateway(f"http://127.0.0.1:{server.server_address[1]}/RPC2", "u:p")
        assert [gw.system_version() for _ in range(3)] == ["6.10.5"] * 3
    finally:
        server.shutdown()
        server.server_close()


# Surrogates cannot travel in UTF-8 XML at all.
NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)

_XMLRPC_VALUES = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(
            alphabet=st.characters(blacklist_categories=NO_SURROGATES, blacklist_characters="\x00\r")
        ).filter(
            lambda t: all(c in "\t\n" or ord(c) >= 32 for c in t) and "\ufffe" not in t and "\uffff" not in t
        ),
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="abcdefgh", min_size=1, max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(value=_XMLRPC_VALUES)
def test_decoder_agrees_with_stdlib_on_generated_responses(value: Any) -> None:
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=False).encode()
    (expected,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
    assert decode_response(body) == expected


def test_i8_and_untyped_strings() -> None:
    body = (
        b"<methodResponse><params><param><value><array><data>"
        b"<value><i8>-9223372036854775808</i8></value><value>plain &lt;x&gt;</value>"
        b"<value><nil/></value></data></array></value></param></params></methodResponse>"
    )
    assert decode_response(body) == [-(2**63), "plain <x>", None]


# --- the fast path for big document strings: it must agree with the full decode, always ----------


def _both(body: bytes) -> tuple[Any, Any]:
    """(fast path forced on, full decode) for one body; exceptions compared by type and text."""

    def run(fast_min: int | None) -> Any:
        try:
            return ("value", decode_response(body, fast_min=fast_min))
        except Exception as exc:  # the comparison is the point
            return ("error", type(exc).__name__, str(exc))

    return run(0), run(None)


def _success(inner: bytes) -> bytes:
    """A success envelope laid out as xmlrpc-c writes it, with `inner` as the raw string content."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse>\n<params>\n<param><value><array><data>\n'
        b"<value><boolean>1</boolean></value>\n<value><string>" + inner + b"</string></value>\n"
        b"<value><i4>0</i4></value>\n</data></array></value></param>\n</params>\n</methodResponse>\n"
    )


def test_fast_path_equals_full_decode_on_every_recorded_response(real_dir: Path) -> None:
    taken = 0
    for path in sorted(real_dir.glob("*.response.xml")):
        body = path.read_bytes()
        fast, full = _both(body)
        assert fast == full, path.name
        document = real_dir / f"{path.name.removesuffix('.response.xml')}.xml"
        if document.exists() and fast[0] == "value":
            assert fast[1][1] == document.read_text(encoding="utf-8"), path.name
            # ...and the document really was cut out and unescaped, not left to the full decode
            start = body.index(b"<string>") + len(b"<string>")
            assert unescape_text(body[start : body.index(b"</string>", start)]) == fast[1][1]
            taken += 1
    assert taken >= 15


@pytest.mark.parametrize(
    "inner",
    [
        b"&lt;VM&gt;&lt;NAME&gt;a &amp;amp; b&lt;/NAME&gt;&lt;/VM&gt;",
        b"line1&#13;\nline2&#x0d;&#x0D;end",  # character references to CR survive as CR
        b"cr\r\nlf and lone\rcr",  # literal CRs are normalised to LF as a parser does
        b"&quot;quoted&quot; &apos;single&apos; &#38;lt; stays &amp;lt;",
        b"&#233;t&#xe9; \xc3\xa9t\xc3\xa9 \xe2\x82\xac &#x1F600;",
        b"&lt;![CDATA[ a &lt;b&gt; ]]&gt;",  # an escaped CDATA section is just text
        b"<![CDATA[ <VM>raw</VM> & ]]>",  # a literal CDATA section in the envelope: full decode
        b"before<![CDATA[</string>]]>after",
        b"<!-- comment -->text",
        b"a]]>b",  # not well-formed
        b"&unknown;",  # undefined entity
        b"&#1;",  # a character XML forbids, as a reference
        b"ctrl\x01char",  # and literally
        b"\xef\xbf\xbe",  # U+FFFE
        b"\xff\xfe not utf-8",
        b"&amp",  # unterminated reference
        b"&#xD800;",  # a surrogate
        b"",
        b"one-drivers-cut-string-9b1c",  # our own marker as real content
    ],
)
def test_fast_path_equals_full_decode_on_edge_strings(inner: bytes) -> None:
    fast, full = _both(_success(inner))
    assert fast == full


def test_fast_path_leaves_other_shapes_to_the_full_decode(real_dir: Path) -> None:
    bodies = [
        # a failure tuple (the message is the first string), a fault, untyped and empty strings
        _success(b"x").replace(b"<boolean>1</boolean>", b"<boolean>0</boolean>"),
        b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>-501</i4>"
        b"</value></member><member><name>faultString</name><value><string>bad &amp; worse</string>"
        b"</value></member></struct></value></fault></methodResponse>",
        b"<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value>"
        b"<value>untyped &lt;x/&gt;</value><value><string/></value><value><string>later</string>"
        b"</value></data></array></value></param></params></methodResponse>",
        _success(b"&lt;a/&gt;").replace(b"</methodResponse>", b"</methodResponse><junk/>"),
        _success(b"&lt;a/&gt;").replace(b"UTF-8", b"ISO-8859-1").replace(b"a/", b"\xe9/"),
        _success(b"&lt;a/&gt;")[:-30],
    ]
    for body in bodies:
        fast, full = _both(body)
        assert fast == full, body[:120]


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=NO_SURROGATES), max_size=200))
def test_fast_path_equals_full_decode_on_generated_strings(text: str) -> None:
    body = xmlrpc.client.dumps(((True, text, 0),), methodresponse=True).encode("utf-8")
    fast, full = _both(body)
    assert fast == full


def test_big_pool_documents_round_trip_through_the_simulator(sim: Any) -> None:
    # Large enough for the default threshold, with markup-looking text in a VM name.
    gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
    sim.bulk_vms(30, name_prefix="a<b>&c\r")
    text = gw.document("one.vmpool.infoextended", -2, -1, -1, -1)
    request = xmlrpc.client.dumps((sim.oneadmin_auth, -2, -1, -1, -1), methodname="one.vmpool.infoextended")
    raw = gw._transport.post(request.encode())
    assert len(raw) > FAST_STRING_MIN
    assert text == decode_response(raw, fast_min=None)[1]
    assert "<NAME>a&lt;b&gt;&amp;c" in text or "a<b>&c" in text


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(
            blacklist_categories=NO_SURROGATES,
            blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
            "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff",
        ),
        max_size=300,
    ),
    repeat=st.integers(min_value=1, max_value=40),
)
def test_simulator_envelopes_round_trip_through_both_decoders(text: str, repeat: int) -> None:
    # The simulator's byte-level escaping (sim/wire.py) against our byte-level unescaping, and both
    # against the full decode; `repeat` makes some answers big enough for the default fast path.
    from one_drivers.sim.wire import render_success

    value = text * repeat
    body = render_success(value)
    assert decode_response(body, fast_min=0) == [True, value, 0]
    assert decode_response(body) == decode_response(body, fast_min=None) == [True, value, 0]
