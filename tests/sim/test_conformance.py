"""Conformance with the recorded real oned 6.10.5: every recorded call, made against the simulator after
building the same objects, answers with the same XML structure (tag paths in order, value kinds) and the
same tuple shape, error code and message. A structural diff, not a string compare."""

from __future__ import annotations

import json
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.mad.monitord import encode_payload
from one_drivers.one.gateway import OneGateway
from one_drivers.sim.drivers import send_udp
from one_drivers.sim.server import Simulator
from tests.conftest import REAL
from tests.sim.conftest import build_recorded_world
from tests.sim.structure import structure

SUCCESS = json.loads((REAL / "index_success.json").read_text())
ERRORS = json.loads((REAL / "index_errors.json").read_text())


class World:
    """The recorded objects; bob (user 2 on the real install) is added only for the calls that use him,
    since the success documents were recorded before he existed."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.admin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        self.ids = build_recorded_world(self.admin)
        self.bob = -1
        self.raw: Any = xmlrpc.client.ServerProxy(sim.endpoint, use_builtin_types=True)
        # What the dummy host agent pushed on the real install: VM monitoring over UDP to monitord.
        monitor = "TkVUVFg9NzAyMwpORVRSWD03MDczCk1FTU9SWT00NTIxOQpDUFU9MApESVNLUkRCWVRFUz05MjEKRElTS1dSQllURVM9NTc3CkRJU0tSRElPUFM9NTE0CkRJU0tXUklPUFM9NDk3Cg=="
        text = f'VM = [ ID="0", DEPLOY_ID="dummyhost:vm1:dummy", MONITOR="{monitor}"]'
        port = sim.lifecycle.monitor_port
        send_udp(port, f"MONITOR_VM SUCCESS {self.ids['host']} 1795306873 {encode_payload(text)}")
        for _ in range(100):
            if "<MONITORING><CPU>" in self.admin.document("one.vm.info", 0, False):
                break
            import time

            time.sleep(0.02)


def ensure_bob(world: World) -> int:
    if world.bob < 0:
        world.bob = world.admin.call("one.user.allocate", "bob", "bobpass", "core", [])
    return world.bob


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Simulator(auth_dir=tmp_path_factory.mktemp("conf")) as sim:
        yield World(sim)


def diff(want: list[str], got: list[str]) -> list[str]:
    import difflib

    return [
        line
        for line in difflib.unified_diff(want, got, lineterm="", n=0)
        if line[:3] not in ("---", "+++") and not line.startswith("@@")
    ]


@pytest.mark.parametrize("name", sorted(SUCCESS))
def test_recorded_success_call_has_same_structure(world: World, name: str) -> None:
    rec = SUCCESS[name]
    result = world.raw.__getattr__(rec["method"])(world.sim.oneadmin_auth, *rec["params"])
    assert [type(v).__name__ for v in result] == rec["tuple_shape"]
    assert result[0] is True
    recorded_doc = REAL / f"{name}.xml"
    if not recorded_doc.is_file() or not str(result[1]).startswith("<"):
        assert result[1] == "6.10.5"
        return
    assert diff(structure(recorded_doc.read_text()), structure(result[1])) == []


def test_server_cipher_userinfo_structure(world: World) -> None:
    ensure_bob(world)
    doc = OneGateway(world.sim.endpoint, world.sim.login_token("bob")).call("one.user.info", -1)
    assert diff(structure((REAL / "server_cipher_as_bob_userinfo.xml").read_text()), structure(doc)) == []


def _session(world: World, name: str) -> str:
    return {
        "authentication": "oneadmin:wrong-password",
        "authentication_unknown_user": "nosuchuser:whatever",
        "authentication_malformed_session": "no-colon-here",
        "authorization": "bob:bobpass",
        "authorization_vm_action": "bob:bobpass",
        "server_cipher_bad_token": "serveradmin:bob:bm90IGEgdG9rZW4gYXQgYWxsIQ==",
    }.get(name, world.sim.oneadmin_auth)


# The lock must be set before the locked action and lifted after it, as recorded.
ERROR_ORDER = sorted(ERRORS, key=lambda n: {"lock_set": 1, "locked_vm_action": 2, "unlock": 3}.get(n, 0))


@pytest.mark.parametrize("name", ERROR_ORDER)
def test_recorded_error_call_answers_the_same(world: World, name: str) -> None:
    rec = ERRORS[name]
    ensure_bob(world)
    call: Any = world.raw.__getattr__(rec["method"])
    if rec["xmlrpc_fault"]:
        with pytest.raises(xmlrpc.client.Fault) as exc:
            call(_session(world, name), *rec["params"])
        assert exc.value.faultCode == rec["xmlrpc_fault"]["faultCode"]
        assert exc.value.faultString == rec["xmlrpc_fault"]["faultString"]
        return
    result = call(_session(world, name), *rec["params"])
    want = rec["result_tuple"]
    assert [type(v).__name__ for v in result] == [type(v).__name__ for v in want]
    if name == "allocate_syntax_error":
        # Same code and message form; the bison wording after "Parse error: " is oned's own.
        assert result[2:] == want[2:]
        assert result[1].startswith("[one.template.allocate] Parse error: ")
    elif name == "authorization":
        assert result == [False, want[1].replace("User [2]", f"User [{world.bob}]"), *want[2:]]
    else:
        assert result == want


def test_done_vm_structure(tmp_path: Path) -> None:
    with Simulator(auth_dir=tmp_path) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        build_recorded_world(gw)
        gw.call("one.vm.action", "terminate", 0)
        doc = gw.document("one.vm.info", 0, False)
        want = structure((REAL / "vm_info_done.xml").read_text())
        got = structure(doc)
        # The recording's VM went through migrations and hotplugs: compare the paths we produce too.
        extra = [p for p in got if p not in want]
        # vm0 of the recording had its GRAPHICS/OS dropped by an updateconf; ours keeps them.
        assert all(
            p.startswith(("/VM/MONITORING", "/VM/TEMPLATE/GRAPHICS", "/VM/TEMPLATE/OS")) for p in extra
        ), extra
        pool = gw.document("one.vmpool.info", -2, -1, -1, -2)
        # One VM of ours against six recorded ones: every path we write exists there, in the same order.
        recorded = structure((REAL / "vmpool_info_final_all_states.xml").read_text())
        ours = structure(pool)
        assert [p for p in ours if p not in recorded] == []
        # ... and exactly the shape of the recorded "vm-monitored", made from the same template and terminated.
        import xml.etree.ElementTree as ET

        root = ET.fromstring((REAL / "vmpool_info_final_all_states.xml").read_text())
        twin = next(vm for vm in root if vm.findtext("NAME") == "vm-monitored")
        assert diff(structure("<VM_POOL>" + ET.tostring(twin, encoding="unicode") + "</VM_POOL>"), ours) == []
        assert "<STATE>6</STATE><LCM_STATE>0</LCM_STATE>" in pool
