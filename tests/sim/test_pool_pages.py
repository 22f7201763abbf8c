"""VM pool pages from the simulator's fast paths: early-stopping pages and cached wire bodies.

The page walk must pick exactly the VMs (and order) of the plain filter-then-paginate it replaces, for
every filter flag, state and offset; cached escaped bodies must equal a fresh render and follow changes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim import access, docs, wire
from one_drivers.sim.server import Simulator
from one_drivers.sim.wire import Escaped, render_success


def _reference(sim: Simulator, user_id: int, flag: int, start: int, end: int, state: int) -> list[int]:
    """The ids the page must hold: the whole pool filtered, then paginated (the slow, obvious way)."""
    cloud = sim.cloud
    vms = list(cloud.vms.values())
    if state == -1:
        vms = [v for v in vms if v.state != VmState.DONE]
    elif state >= 0:
        vms = [v for v in vms if int(v.state) == state]
    picked = cloud.paginate(access.filtered(cloud.users[user_id], vms, flag, "vm"), start, end)
    return [v.id for v in picked]


@pytest.fixture
def mixed(sim: Simulator, admin: OneGateway) -> OneGateway:
    """A pool of two users' VMs in mixed states; returns alice's gateway."""
    uid = admin.user_allocate("alice", "secret")
    host = admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
    sim.bulk_vms(30, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
    sim.bulk_vms(25, uid=uid, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
    sim.bulk_vms(10, uid=uid, state=VmState.PENDING)
    sim.bulk_vms(10, state=VmState.DONE)
    sim.bulk_vms(5, uid=uid, state=VmState.DONE)
    return OneGateway(sim.endpoint, "alice:secret")


FLAGS = (-4, -3, -2, -1, 0, 1)
STATES = (-2, -1, int(VmState.ACTIVE), int(VmState.DONE), int(VmState.PENDING))
RANGES = ((0, -2), (0, -7), (3, -7), (-5, -10), (40, -20), (200, -5))


def test_pages_match_filter_then_paginate(sim: Simulator, admin: OneGateway, mixed: OneGateway) -> None:
    # One simulator for every combination (a fixture per case would take a minute).
    for flag in FLAGS:
        for state in STATES:
            for start, end in RANGES:
                for gw, user_id in ((admin, 0), (mixed, 2)):
                    case = (user_id, flag, start, end, state)
                    page = ET.fromstring(gw.document("one.vmpool.infoextended", flag, start, end, state))
                    got = [int(e.text or -1) for e in page.findall("VM/ID")]
                    assert got == _reference(sim, user_id, flag, start, end, state), case
                    short = ET.fromstring(gw.document("one.vmpool.info", flag, start, end, state))
                    assert [int(e.text or -1) for e in short.findall("VM/ID")] == got, case


def test_a_page_stops_at_its_size_and_walks_past_the_filtered(sim: Simulator, mixed: OneGateway) -> None:
    ids = [
        int(e.text or -1)
        for e in ET.fromstring(mixed.document("one.vmpool.infoextended", -3, 0, -1000, -1)).iter("ID")
    ]
    # alice sees only her 35 live VMs (not DONE), newest first
    assert ids == sorted(ids, reverse=True) and len(ids) == 35
    assert all(sim.cloud.vms[i].uid == 2 for i in ids)


def test_wire_bodies_equal_a_fresh_render_and_follow_changes(sim: Simulator, admin: OneGateway) -> None:
    host = admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
    sim.bulk_vms(3, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
    vms = [sim.cloud.vms[i] for i in (2, 1, 0)]
    for full, render in ((True, docs.vm_full_xml), (False, docs.vm_short_xml)):
        wire = render_success(docs.pool_wire("VM_POOL", (docs.vm_wire(v, full) for v in vms)))
        assert wire == render_success(docs.pool_xml("VM_POOL", (render(v) for v in vms)))
    before = admin.document("one.vmpool.infoextended", -2, 0, -3, -1)
    # (oned allows no markup characters in a name: the escaping is shown with a template value)
    admin.call("one.vm.rename", 1, "renamed")
    admin.call("one.vm.update", 1, 'NOTE="a<b & c>"', 1)
    after = admin.document("one.vmpool.infoextended", -2, 0, -3, -1)
    assert (
        before != after and "<NAME>renamed</NAME>" in after and "<NOTE><![CDATA[a<b & c>]]></NOTE>" in after
    )
    assert after == docs.pool_xml("VM_POOL", (docs.vm_full_xml(v) for v in vms))
    assert "<NAME>renamed</NAME>" in admin.document("one.vmpool.info", -2, 0, -3, -1)


def test_escaped_pieces_render_like_the_string() -> None:
    text = "<VM_POOL><VM><NAME>a&b\r</NAME></VM></VM_POOL>"
    assert render_success(Escaped([text[:9].encode(), text[9:].encode()])) != render_success(text)
    assert render_success(Escaped([wire.escaped(text[:9]), wire.escaped(text[9:])])) == render_success(text)


def test_vm_info_wire_follows_monitoring_and_changes(sim: Simulator, admin: OneGateway) -> None:
    host = admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
    sim.bulk_vms(2, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
    vm = sim.cloud.vms[1]

    def expected() -> bytes:
        return render_success(docs.vm_full_xml(vm, monitoring=True))

    assert render_success(docs.vm_info_wire(vm)) == expected()
    # monitord updates these without touching the VM: they are rendered per call
    vm.last_poll = 1_700_000_000
    vm.monitoring = [("CPU", "1.5"), ("MEMORY", "<&>")]
    assert render_success(docs.vm_info_wire(vm)) == expected()
    assert "<MEMORY><![CDATA[<&>]]></MEMORY>" in admin.document("one.vm.info", 1, False)
    admin.call("one.vm.update", 1, 'NOTE="x&y"', 1)
    info = admin.document("one.vm.info", 1, False)
    assert "<NOTE><![CDATA[x&y]]></NOTE>" in info and "<LAST_POLL>1700000000</LAST_POLL>" in info
    assert render_success(docs.vm_info_wire(vm)) == expected()
