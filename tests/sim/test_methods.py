"""Every method in the registry: authentication first (256 with the method prefix), then parameters
read in order (missing ones are xmlrpc-c's -501 fault), and the names are oned's."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest

from one_drivers.sim.kinds import KINDS
from one_drivers.sim.methods import METHODS, MUTATING
from one_drivers.sim.server import Simulator

NO_ARGUMENTS = {
    "one.system.version",
    "one.system.config",
    "one.userpool.info",
    "one.grouppool.info",
    "one.clusterpool.info",
    "one.datastorepool.info",
    "one.hostpool.info",
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with Simulator(auth_dir=tmp_path_factory.mktemp("methods")) as sim:
        yield sim


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_authenticates_then_reads_parameters(shared: Simulator, method: str) -> None:
    sim = shared
    call: Any = xmlrpc.client.ServerProxy(sim.endpoint, use_builtin_types=True).__getattr__(method)
    assert call("oneadmin:not-the-password") == [
        False,
        f"[{method}] User couldn't be authenticated, aborting call.",
        256,
        -1,
        -1,
    ]
    if method in NO_ARGUMENTS:
        assert call(sim.oneadmin_auth)[0] is True
    else:
        with pytest.raises(xmlrpc.client.Fault) as exc:
            call(sim.oneadmin_auth)
        assert (exc.value.faultCode, exc.value.faultString) == (-501, "Not enough parameters")


def test_registry_names_are_oned_methods() -> None:
    kinds = {"system", "user", "userpool", "group", "grouppool", "cluster", "clusterpool", "datastore",
             "datastorepool", "host", "hostpool", "vn", "vnpool", "template", "templatepool", "image",
             "imagepool", "vm", "vmpool", "secgroup", "secgrouppool"}  # fmt: skip
    for name in METHODS:
        prefix, kind, _ = name.split(".")
        assert prefix == "one" and kind in kinds, name
    # pool listings and info calls never count as changes (they are not persisted)
    assert not [m for m in MUTATING if m.endswith((".info", ".infoextended", ".version", ".config"))]


INFO_METHOD = {
    "vm": "one.vm.info",
    "template": "one.template.info",
    "image": "one.image.info",
    "vnet": "one.vn.info",
    "host": "one.host.info",
    "user": "one.user.info",
    "group": "one.group.info",
    "datastore": "one.datastore.info",
    "cluster": "one.cluster.info",
    "secgroup": "one.secgroup.info",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_not_found_message_for_every_kind(shared: Simulator, kind: str) -> None:
    proxy: Any = xmlrpc.client.ServerProxy(shared.endpoint, use_builtin_types=True)
    method = INFO_METHOD[kind]
    noun = KINDS[kind].noun
    assert proxy.__getattr__(method)(shared.oneadmin_auth, 9999) == [
        False,
        f"[{method}] Error getting {noun} [9999].",
        1024,
        9999,
        -1,
    ]
