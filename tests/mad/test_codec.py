"""The line codec against the recorded 6.10.5 VMM trace and the reply forms oned reads."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_drivers.mad import codec
from one_drivers.one.states import LcmState, VmState
from tests.mad.recorded import vmm_events


def test_recorded_requests_split_on_runs_of_whitespace(real_dir: Path) -> None:
    requests = [e for e in vmm_events(real_dir) if e.direction == "in"]
    assert any(e.line.startswith("DEPLOY  0 ") for e in requests)  # two spaces, as recorded
    for event in requests:
        req = codec.parse_request(event.line)
        assert req is not None
        if req.action in ("INIT", "FINALIZE"):
            assert req.fields == ()
        elif req.action == "DRIVER_CANCEL":
            assert len(req.fields) == 1 and req.fields[0].isdigit()
        else:
            assert len(req.fields) == 2, event.line[:40]
            data = codec.decode_action_data(req.fields[1])
            assert data.vm_text("ID") == req.fields[0]
            assert data.host in ("dummyhost", "dummyhost2")


def test_recorded_replies_are_reproduced(real_dir: Path) -> None:
    for event in vmm_events(real_dir):
        if event.direction != "out":
            continue
        if event.line.startswith("LOG "):
            _, level, oid, text = event.line.split(" ", 3)
            assert codec.format_log(oid, text, level) == [event.line]
            continue
        if event.line.startswith("INIT"):
            assert event.line == codec.INIT_REPLY
            continue
        reply = codec.parse_reply(event.line)
        assert reply is not None
        info = "" if reply.info == "-" else reply.info
        assert codec.format_reply(reply.action, reply.success, reply.oid, info) == event.line


def test_driver_cancel_then_cleanup_recorded(real_dir: Path) -> None:
    lines = [e.line for e in vmm_events(real_dir) if e.direction == "in"]
    idx = lines.index("DRIVER_CANCEL  2 ")
    nxt = codec.parse_request(lines[idx + 1])
    assert nxt is not None and nxt.action == "CLEANUP" and nxt.fields[0] == "2"
    data = codec.decode_action_data(nxt.fields[1])
    assert data.deploy_id == ""  # the failed deploy never produced an id
    # recorded: recover --delete sends CLEANUP with the VM already DONE and LCM_INIT
    assert VmState(int(data.vm_text("STATE"))) is VmState.DONE
    assert LcmState(int(data.vm_text("LCM_STATE"))) is LcmState.LCM_INIT


def test_resume_deploy_has_empty_top_level_deploy_id(real_dir: Path) -> None:
    deploys = [
        codec.decode_action_data(e.line.split()[2])
        for e in vmm_events(real_dir)
        if e.direction == "in" and e.line.startswith("DEPLOY  0 ")
    ]
    lcms = [LcmState(int(d.vm_text("LCM_STATE"))) for d in deploys]
    assert LcmState.BOOT_POWEROFF in lcms and LcmState.BOOT in lcms
    for data, lcm in zip(deploys, lcms, strict=True):
        assert data.deploy_id == ""
        if lcm is LcmState.BOOT_POWEROFF:
            assert data.vm_text("DEPLOY_ID") == "dummyhost:vm1:dummy"


def test_format_request_matches_oned() -> None:
    assert codec.format_request("DEPLOY", 0, "PD94") == "DEPLOY  0 PD94"
    assert codec.format_request("DRIVER_CANCEL", 2) == "DRIVER_CANCEL  2 "
    assert codec.parse_request("DRIVER_CANCEL  2 ") == codec.Request("DRIVER_CANCEL", ("2",))
    assert codec.parse_request("   \n") is None


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("", "DEPLOY SUCCESS 7 -"),
        ("i-0123", "DEPLOY SUCCESS 7 i-0123"),
        ("line one\n  line two \n\n", "DEPLOY SUCCESS 7 line one line two"),
        ("\n \n", "DEPLOY SUCCESS 7 -"),
    ],
)
def test_format_reply_folds_and_dashes(info: str, expected: str) -> None:
    assert codec.format_reply("DEPLOY", True, 7, info) == expected


def test_format_failure_and_parse_round_trip() -> None:
    line = codec.format_reply("CANCEL", False, "3", "boom\nAWS said no")
    assert line == "CANCEL FAILURE 3 boom AWS said no"
    assert codec.parse_reply(line) == codec.Reply("CANCEL", False, "3", "boom AWS said no")
    assert codec.parse_reply("LOG I 3 hello") is None
    assert codec.parse_reply("garbage") is None


def test_format_log_one_line_per_text_line() -> None:
    assert codec.format_log(4, "a\nb\n", "E") == ["LOG E 4 a", "LOG E 4 b"]
    assert codec.format_log(4, "", "D") == ["LOG D 4 -"]
    with pytest.raises(ValueError):
        codec.format_log(4, "x", "X")


def test_decode_base64_forms() -> None:
    text = "<VM><ID>9</ID></VM>"
    strict = codec.encode_base64(text)
    wrapped = "\n".join(strict[i : i + 8] for i in range(0, len(strict), 8)) + "\n"
    assert codec.decode_base64(strict) == text
    assert codec.decode_base64(wrapped) == text
    with pytest.raises(codec.CodecError):
        codec.decode_base64("not*base64!")
    with pytest.raises(codec.CodecError):
        codec.decode_base64(codec.encode_base64("x")[:-2] + "\xff\xff")


def test_parse_action_data_shapes() -> None:
    bare = codec.parse_action_data("<VM><ID>3</ID><DEPLOY_ID>i-1</DEPLOY_ID></VM>")
    assert bare.vm_text("ID") == "3" and bare.host == ""
    old = codec.parse_action_data(
        "<VMM_DRIVER_ACTION_DATA><HOST>h</HOST><DEPLOY_ID>i-2</DEPLOY_ID>"
        "<TEMPLATE><ID>5</ID></TEMPLATE></VMM_DRIVER_ACTION_DATA>"
    )
    assert old.vm.tag == "TEMPLATE" and old.deploy_id == "i-2" and old.host == "h"
    for bad in ("<nope", "<OTHER/>", "<VMM_DRIVER_ACTION_DATA/>", '<!DOCTYPE x [<!ENTITY a "b">]><VM/>'):
        with pytest.raises(codec.CodecError):
            codec.parse_action_data(bad)


def test_documents_read_as_their_text_whatever_they_declare() -> None:
    # The payload is decoded as UTF-8 before parsing: a stray declaration must not re-decode it, and
    # comments or processing instructions never show up as elements of a section.
    data = codec.parse_action_data(
        '<?xml version="1.0" encoding="ISO-8859-1"?><VM><ID>4</ID><NAME>Zoë &amp; “web”</NAME>'
        "<!-- a comment --><?pi x?><USER_TEMPLATE><PUBLIC_CLOUD><!-- c --><TYPE>ec2</TYPE>"
        "<AMI><![CDATA[ami-<1>]]></AMI></PUBLIC_CLOUD></USER_TEMPLATE></VM>"
    )
    assert data.vm_text("NAME") == "Zoë & “web”"
    assert data.vm.user_vectors("PUBLIC_CLOUD") == [{"TYPE": "ec2", "AMI": "ami-<1>"}]


def test_payload_bytes_are_utf8_whatever_they_declare() -> None:
    # decode_action_data hands the decoded bytes straight to the parser, told they are UTF-8.
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?><VM><ID>4</ID><NAME>Zoë “web”</NAME></VM>'
    assert codec.decode_action_data(codec.encode_base64(doc)).vm_text("NAME") == "Zoë “web”"
    latin1 = base64.b64encode("<VM><ID>4</ID><NAME>Zoë</NAME></VM>".encode("latin-1")).decode()
    with pytest.raises(codec.CodecError, match="well-formed"):
        codec.decode_action_data(latin1)


@pytest.mark.parametrize(
    "doc",
    [
        '<!DOCTYPE VM [<!ENTITY a "b">]><VM><ID>&a;</ID></VM>',
        '<!-- <VM> --><!DOCTYPE VM [<!ENTITY a "b">]><VM/>',
        '\ufeff<?xml version="1.0"?> <?pi <VM>?>\r\n<!-- x --> <!DOCTYPE VM><VM/>',
        '<?xml version="1.0"?>\n<!DOCTYPE VM SYSTEM "file:///etc/passwd"><VM/>',
        '<!DOCTYPE VM SYSTEM "http://127.0.0.1:9/x.dtd"><VM/>',
        # a billion laughs: refused, and without expanding anything on the way
        '<!DOCTYPE VM [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + "]><VM><ID>&i;</ID></VM>",
    ],
)
def test_documents_with_a_dtd_are_refused(doc: str) -> None:
    # Refused before parsing: the message is ours, not libxml2's (which would have opened the file).
    with pytest.raises(codec.CodecError, match="DTD"):
        codec.decode_action_data(codec.encode_base64(doc))
    with pytest.raises(codec.CodecError, match="DTD"):
        codec.parse_action_data(doc)


def test_dtd_like_text_inside_values_is_data() -> None:
    # oned writes template values as CDATA: a VM whose context carries an HTML page is a valid VM.
    doc = (
        "<VM><ID>7</ID><USER_TEMPLATE><PAGE><![CDATA[<!DOCTYPE html><!ENTITY x>]]></PAGE>"
        "<NOTE>&lt;!DOCTYPE y&gt;</NOTE></USER_TEMPLATE></VM>"
    )
    data = codec.decode_action_data(codec.encode_base64(doc))
    assert data.vm_text("USER_TEMPLATE/PAGE") == "<!DOCTYPE html><!ENTITY x>"
    assert data.vm_text("USER_TEMPLATE/NOTE") == "<!DOCTYPE y>"
    for unterminated in ("<!-- <VM/>", "<?xml <VM/>"):
        with pytest.raises(codec.CodecError, match="well-formed"):
            codec.parse_action_data(unterminated)


@given(st.text(), st.booleans(), st.integers(min_value=-1, max_value=10**6))
def test_reply_is_always_one_parseable_line(info: str, success: bool, oid: int) -> None:
    line = codec.format_reply("DEPLOY", success, oid, info)
    assert "\n" not in line and "\r" not in line
    reply = codec.parse_reply(line)
    assert reply is not None and reply.success is success and reply.oid == str(oid)
    assert reply.info == (codec.fold_text(info) or "-")


@given(st.text())
def test_log_lines_never_break(text: str) -> None:
    for line in codec.format_log(3, text, "W"):
        assert line.startswith("LOG W 3 ") and "\n" not in line and "\r" not in line


_token = st.text(
    alphabet=st.characters(blacklist_categories=("Zs", "Cc", "Zl", "Zp")), min_size=1, max_size=40
)


@given(st.sampled_from(["DEPLOY", "CLEANUP", "POLL"]), st.integers(min_value=0, max_value=10**6), _token)
def test_request_round_trip(action: str, oid: int, payload: str) -> None:
    line = codec.format_request(action, oid, payload)
    assert line.startswith(f"{action}  {oid} ")  # the empty status field of oned 6.10/7.x
    assert codec.parse_request(line) == codec.Request(action, (str(oid), payload))
