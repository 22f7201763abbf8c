"""10,000 VMs in the pool: listing, paging and cache invalidation stay correct (timings live in bench_sim)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim import docs
from one_drivers.sim.server import Simulator


def test_ten_thousand_vms(sim: Simulator, admin: OneGateway) -> None:
    host = admin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
    ids = sim.bulk_vms(10_000, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
    assert ids[0] == 0 and ids[-1] == 9_999
    pool = ET.fromstring(admin.document("one.vmpool.info", -2, -1, -1, -1))
    listed = [int(e.text or -1) for e in pool.findall("VM/ID")]
    assert listed == list(range(9_999, -1, -1))
    page = ET.fromstring(admin.document("one.vmpool.infoextended", -2, 100, -50, -1))
    assert [int(e.text or -1) for e in page.findall("VM/ID")] == list(range(9_899, 9_849, -1))
    # a bulk VM looks like a recorded one: full body ~3.5 KB, reduced ~1 KB
    vm = sim.cloud.vms[5]
    assert 2_500 < len(docs.vm_full_xml(vm)) < 5_000 and 700 < len(docs.vm_short_xml(vm)) < 1_500
    # a change invalidates the cached bodies of that VM only
    admin.call("one.vm.action", "poweroff", 5)
    assert "<STATE>8</STATE>" in docs.vm_short_xml(sim.cloud.vms[5])
    again = ET.fromstring(admin.document("one.vmpool.info", -2, 9_994, 9_994 - 0, -1))
    assert again.findtext("VM/STATE") == "3"
    five = ET.fromstring(admin.document("one.vmpool.info", -2, 5, 5, -1))
    assert five.findtext("VM/STATE") == "8"
    admin.call("one.vm.rename", 5, "renamed")
    assert ET.fromstring(admin.document("one.vm.info", 5, False)).findtext("NAME") == "renamed"
    assert "<NAME>renamed</NAME>" in admin.document("one.vmpool.infoextended", -2, 5, 5, -1)
