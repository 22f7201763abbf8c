"""The XML-RPC envelope: byte layout against the recorded responses, and the typed parameter getters."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.sim.wire import (
    OneFailure,
    Params,
    RpcFault,
    parse_call,
    render_failure,
    render_fault,
    render_success,
)


def test_success_envelope_is_byte_identical_to_recorded(real_dir: Path) -> None:
    assert render_success("6.10.5") == (real_dir / "system_version.response.xml").read_bytes()
    assert render_success(0) == (real_dir / "lock_set.response.xml").read_bytes()


def test_failure_envelope_is_byte_identical_to_recorded(real_dir: Path) -> None:
    body = render_failure("one.vm.info", OneFailure(1024, "Error getting virtual machine [9999].", 9999))
    assert body == (real_dir / "error_not_found_vm_info.response.xml").read_bytes()
    body = render_failure("one.vm.info", OneFailure(256, "User couldn't be authenticated, aborting call."))
    assert body == (real_dir / "error_authentication.response.xml").read_bytes()


def test_fault_envelope_is_byte_identical_to_recorded(real_dir: Path) -> None:
    body = render_fault(RpcFault(-506, "Method 'one.vm.nosuchmethod' not defined"))
    assert body == (real_dir / "error_unknown_method.response.xml").read_bytes()
    body = render_fault(RpcFault(-501, "Parameter that is supposed to be integer is not"))
    assert body == (real_dir / "error_bad_param_type.response.xml").read_bytes()


def test_xml_document_is_escaped_like_xmlrpc_c(real_dir: Path) -> None:
    doc = (real_dir / "vm_info.xml").read_text(encoding="utf-8")
    assert render_success(doc) == (real_dir / "vm_info.response.xml").read_bytes()


def test_recorded_requests_decode(real_dir: Path) -> None:
    # The recording redacted the password as "<password>", which is not XML: put a value back.
    body = (real_dir / "error_deploy_not_pending.request.xml").read_bytes().replace(b"<password>", b"pw")
    call = parse_call(body)
    assert call.method == "one.vm.deploy"
    assert call.params[1:] == (0, 0, False, 100)


def test_params_check_types_and_count_in_order() -> None:
    p = Params((1, "x", True))
    assert (p.integer(0), p.string(1), p.boolean(2)) == (1, "x", True)
    with pytest.raises(RpcFault, match="integer"):
        p.integer(2)  # a boolean is not an integer for xmlrpc-c
    with pytest.raises(RpcFault, match="Not enough parameters"):
        p.integer(3)
    assert p.opt_int(5, 7) == 7
    with pytest.raises(RpcFault, match="string"):
        p.string(0)


def test_garbage_body_is_a_fault() -> None:
    with pytest.raises(RpcFault):
        parse_call(b"not xml")
