"""The official binding (pyone) against the simulator, as tools/pyone_e2e.py ran it on the real 6.10.5."""

from __future__ import annotations

import pyone
import pytest

from one_drivers.sim.server import Simulator


def test_pyone_end_to_end(sim: Simulator) -> None:
    one = pyone.OneServer(sim.endpoint, session=sim.oneadmin_auth)
    assert one.system.version() == "6.10.5"
    bob = one.user.allocate("bob", "bobpass", "core", [])
    users = [(u.ID, u.NAME, u.AUTH_DRIVER) for u in one.userpool.info().USER]
    assert users == [(bob, "bob", "core"), (1, "serveradmin", "server_cipher"), (0, "oneadmin", "core")]
    host = one.host.allocate("dummyhost", "dummy", "dummy", -1)
    hosts = [(h.ID, h.NAME, h.IM_MAD, h.VM_MAD, h.STATE) for h in one.hostpool.info().HOST]
    assert hosts == [(host, "dummyhost", "dummy", "dummy", 2)]
    assert [d.ID for d in one.datastorepool.info().DATASTORE] == [2, 1, 0]
    image = one.image.allocate('NAME="pyone-blk"\nTYPE="DATABLOCK"\nSIZE="4"', 1)
    assert one.image.info(image).STATE == 1
    net = one.vn.allocate(
        'NAME="net"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.0.20",SIZE="2"]', -1
    )
    tmpl = one.template.allocate(
        f'NAME="t"\nCPU="0.1"\nMEMORY="32"\nDISK=[IMAGE_ID="{image}"]\nNIC=[NETWORK_ID="{net}"]'
    )
    vm_id = one.template.instantiate(tmpl, "pyone-vm", False, "", False)
    sim.schedule()
    vm = one.vm.info(vm_id)
    assert (vm.STATE, vm.LCM_STATE, vm.DEPLOY_ID) == (3, 3, "dummyhost:pyone-vm:dummy")
    assert vm.TEMPLATE["NIC"]["IP"] == "10.0.0.20"
    assert one.vn.info(net).USED_LEASES == 1
    pool = one.vmpool.info(-2, -1, -1, -1)
    assert [v.ID for v in pool.VM] == [vm_id]
    ext = one.vmpool.infoextended(-2, -1, -1, -1)
    assert ext.VM[0].TEMPLATE["DISK"]["IMAGE"] == "pyone-blk"
    one.vm.action("terminate-hard", vm_id)
    assert one.vm.info(vm_id).STATE == 6
    assert one.vn.info(net).USED_LEASES == 0


def test_pyone_maps_errors(sim: Simulator) -> None:
    one = pyone.OneServer(sim.endpoint, session=sim.oneadmin_auth)
    with pytest.raises(pyone.OneNoExistsException, match=r"Error getting virtual machine \[99999\]"):
        one.vm.info(99999)
    bad = pyone.OneServer(sim.endpoint, session="oneadmin:wrong")
    with pytest.raises(pyone.OneAuthenticationException):
        bad.vm.info(0)
