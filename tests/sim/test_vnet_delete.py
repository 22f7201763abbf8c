"""one.vn.delete and one.vn.chmod as oned 6.10 answers them (VirtualNetworkDelete, the chmod request):
MANAGE needed, a network with leases in use is refused, chmod changes only the bits given."""

from __future__ import annotations

import pytest

from one_drivers.one.gateway import OneActionError, OneAuthorizationError, OneGateway, OneNotFoundError
from one_drivers.one.template import build_template
from one_drivers.sim.server import Simulator


def _vnet(admin: OneGateway, name: str = "lan") -> int:
    return admin.vn_allocate(
        build_template([("NAME", name), ("AR", {"TYPE": "IP4", "IP": "10.1.0.1", "SIZE": "4"})])
    )


def test_delete_refused_while_a_lease_is_used(sim: Simulator, admin: OneGateway) -> None:
    vn = _vnet(admin)
    vm = admin.vm_allocate(
        build_template([("NAME", "v"), ("CPU", "1"), ("MEMORY", "64"), ("NIC", {"NETWORK_ID": str(vn)})])
    )
    with pytest.raises(OneActionError, match="leases in use"):
        admin.vn_delete(vn)
    assert len(admin.vnpool_info(-2)) == 1
    admin.vm_action("terminate-hard", vm)
    # A held lease counts as used too.
    admin.vn_hold(vn, build_template([("LEASES", {"IP": "10.1.0.3"})]))
    with pytest.raises(OneActionError):
        admin.vn_delete(vn)
    admin.vn_release(vn, build_template([("LEASES", {"IP": "10.1.0.3"})]))
    assert admin.vn_delete(vn) == vn
    with pytest.raises(OneNotFoundError):
        admin.document("one.vn.info", vn, False)


def test_chmod_and_delete_need_manage(sim: Simulator, admin: OneGateway) -> None:
    vn = _vnet(admin)
    admin.user_allocate("u", "pw", "core", (1,))
    user = OneGateway(sim.endpoint, "u:pw")
    with pytest.raises(OneAuthorizationError):
        user.vn_delete(vn)
    with pytest.raises(OneAuthorizationError):
        user.vn_chmod(vn, (-1, -1, -1, -1, -1, -1, 1, -1, -1))
    before = admin.vn_info(vn).permissions
    admin.vn_chmod(vn, (-1, -1, -1, 1, -1, -1, -1, -1, -1))
    after = admin.vn_info(vn).permissions
    assert after.group_u and (after.owner_u, after.owner_m, after.other_u) == (
        before.owner_u,
        before.owner_m,
        before.other_u,
    )
