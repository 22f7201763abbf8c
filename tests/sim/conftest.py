"""Fixtures for the simulator's tests: a running simulator and clients on it."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(auth_dir=tmp_path / "auth", port=0) as s:
        yield s


@pytest.fixture
def admin(sim: Simulator) -> OneGateway:
    return OneGateway(sim.endpoint, sim.oneadmin_auth)


@pytest.fixture
def raw(sim: Simulator) -> xmlrpc.client.ServerProxy:
    """A plain xmlrpc client that shows the raw tuples (it accepts <i8>)."""
    return xmlrpc.client.ServerProxy(sim.endpoint, use_builtin_types=True)


def build_recorded_world(gw: OneGateway) -> dict[str, int]:
    """The objects the recording on real 6.10.5 had: dummy host, image ds 101-like, testnet, tmpl1, vm 0."""
    ids: dict[str, int] = {}
    ids["host"] = gw.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
    ids["sys_ds"] = gw.call(
        "one.datastore.allocate",
        'NAME="dummy_sys"\nTYPE="SYSTEM_DS"\nTM_MAD="dummy"\nDS_MIGRATE=YES\nSHARED=YES',
        -1,
    )
    ids["img_ds"] = gw.call("one.datastore.allocate", 'NAME="dummy_img"\nDS_MAD="dummy"\nTM_MAD="dummy"', -1)
    ids["image"] = gw.call(
        "one.image.allocate",
        'NAME="blk1"\nTYPE="DATABLOCK"\nSIZE="16"\nDESCRIPTION="test datablock"',
        ids["img_ds"],
    )
    ids["vnet"] = gw.call(
        "one.vn.allocate",
        'NAME="testnet"\nBRIDGE="br0"\nVN_MAD="dummy"\n'
        'AR=[TYPE="IP4",IP="10.0.0.10",SIZE="1"]\nAR=[TYPE="IP4",IP="10.0.0.20",SIZE="1"]\n'
        'AR=[TYPE="IP4",IP="10.0.0.30",SIZE="1"]',
        -1,
    )
    ids["template"] = gw.call(
        "one.template.allocate",
        'NAME="tmpl1"\nCPU="0.1"\nMEMORY="64"\nVCPU="1"\nDISK=[IMAGE_ID="0"]\nNIC=[NETWORK_ID="0"]\n'
        'GRAPHICS=[LISTEN="127.0.0.1",TYPE="VNC"]\n'
        'CONTEXT=[NETWORK="YES",SSH_PUBLIC_KEY="ssh-ed25519 AAAAtest user@test"]\n'
        f'LABELS="test"\nSCHED_DS_REQUIREMENTS="ID={ids["sys_ds"]}"',
    )
    ids["vm"] = gw.call("one.template.instantiate", ids["template"], "vm1", True, "", False)
    gw.call("one.vm.deploy", ids["vm"], ids["host"], False, ids["sys_ds"])
    return ids
