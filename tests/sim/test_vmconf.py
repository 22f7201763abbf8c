"""one.vm.resize and one.vm.updateconf in the simulator: the states oned 6.10 allows them in, what they
change in the VM document, and their errors (DispatchManager::resize, VirtualMachine::updateconf)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from one_drivers.one.gateway import (
    OneActionError,
    OneApiError,
    OneAuthorizationError,
    OneGateway,
    OneInternalError,
)
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator
from tests.sim.fake_drivers import VMM, write_driver
from tests.sim.test_dispatch import wait_for

VM_TEXT = (
    'NAME="vm"\nCPU="0.1"\nVCPU="1"\nMEMORY="64"\nGRAPHICS=[TYPE="VNC",LISTEN="0.0.0.0"]\n'
    'OS=[ARCH="x86_64"]\nCONTEXT=[NETWORK="YES",EC2_USER_DATA="b2xk",KEEP="me"]\nNIC=[NETWORK_ID="0"]'
)


@pytest.fixture
def gw(admin: OneGateway) -> OneGateway:
    """oneadmin, with a dummy host and a network for the VMs' NIC (so CONTEXT gets ETH0_* values)."""
    admin.call("one.host.allocate", "h", "dummy", "dummy", -1)
    admin.call(
        "one.vn.allocate",
        'NAME="net"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.0.0.2",SIZE="9"]',
        -1,
    )
    return admin


def vm_doc(gw: OneGateway, vm: int) -> ET.Element:
    return ET.fromstring(gw.document("one.vm.info", vm, False))


def state(gw: OneGateway, vm: int) -> tuple[int, int]:
    doc = vm_doc(gw, vm)
    return int(doc.findtext("STATE") or -1), int(doc.findtext("LCM_STATE") or -1)


def size(gw: OneGateway, vm: int) -> tuple[str | None, str | None, str | None]:
    doc = vm_doc(gw, vm)
    return doc.findtext("TEMPLATE/CPU"), doc.findtext("TEMPLATE/VCPU"), doc.findtext("TEMPLATE/MEMORY")


def new_vm(sim: Simulator, gw: OneGateway, run: bool = True) -> int:
    vm = int(gw.call("one.vm.allocate", VM_TEXT, False))
    if run:
        sim.schedule()
        assert state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    return vm


def test_resize_where_oned_allows_it(sim: Simulator, gw: OneGateway) -> None:
    pending = new_vm(sim, gw, run=False)
    gw.vm_resize(pending, 'CPU="0.5"\nMEMORY="256"')  # VCPU not given: kept
    assert size(gw, pending) == ("0.5", "1", "256")

    vm = new_vm(sim, gw)
    # Running on a driver without live resize (dummy): refused, nothing changes.
    with pytest.raises(
        OneActionError, match=r"\[one.vm.resize\] Hotplug resize not supported by driver dummy"
    ):
        gw.vm_resize(vm, 'CPU="1"\nVCPU="2"\nMEMORY="128"')
    assert size(gw, vm) == ("0.1", "1", "64")
    records = len(vm_doc(gw, vm).findall("HISTORY_RECORDS/HISTORY"))

    gw.vm_action("poweroff", vm)
    assert state(gw, vm) == (VmState.POWEROFF, LcmState.LCM_INIT)
    gw.vm_resize(vm, 'CPU="1"\nVCPU="2"\nMEMORY="128"', True)
    assert size(gw, vm) == ("1", "2", "128")
    # Powered off: the history record closes with ACTION 35 (resize) and a copy goes on, still not running.
    history = vm_doc(gw, vm).findall("HISTORY_RECORDS/HISTORY")
    assert len(history) == records + 1
    closed, copy = history[-2], history[-1]
    assert closed.findtext("ACTION") == "35" and closed.findtext("ETIME") != "0"
    assert copy.findtext("ACTION") == "19"  # the poweroff that was the record's action carries on
    assert copy.findtext("RETIME") != "0" and copy.findtext("ETIME") == "0"
    assert copy.findtext("HOSTNAME") == closed.findtext("HOSTNAME")

    # The host must fit the new size (dummy hosts are monitored with a finite capacity).
    with pytest.raises(OneActionError, match=r"Not enough (CPU|memory): "):
        gw.vm_resize(vm, 'CPU="100000"\nMEMORY="128"')
    assert size(gw, vm) == ("1", "2", "128")

    for bad, message in (
        ('CPU="-1"', "CPU must be a positive float or integer value."),
        ('MEMORY="-5"', "MEMORY must be a positive integer value."),
        ('VCPU="-2"', "VCPU must be a positive integer value."),
    ):
        with pytest.raises(OneInternalError, match=message):
            gw.vm_resize(vm, bad)
    with pytest.raises(OneInternalError, match="Parse error"):
        gw.vm_resize(vm, 'CPU="1')

    suspended = new_vm(sim, gw)
    gw.vm_action("suspend", suspended)
    assert state(gw, suspended) == (VmState.SUSPENDED, LcmState.LCM_INIT)
    with pytest.raises(OneActionError, match="Cannot resize a VM in state SUSPENDED"):
        gw.vm_resize(suspended, 'MEMORY="512"')


def test_resize_and_updateconf_need_manage_rights_and_no_lock(sim: Simulator, gw: OneGateway) -> None:
    vm = new_vm(sim, gw, run=False)
    gw.call("one.user.allocate", "bob", "pw", "", [])
    bob = OneGateway(sim.endpoint, "bob:pw")
    with pytest.raises(OneAuthorizationError, match=r"Not authorized to perform MANAGE VM \[\d+\]"):
        bob.vm_resize(vm, 'MEMORY="128"')
    with pytest.raises(OneAuthorizationError, match=r"Not authorized to perform MANAGE VM \[\d+\]"):
        bob.vm_updateconf(vm, 'CONTEXT=[EC2_USER_DATA="eA=="]', append=True)
    gw.vm_lock(vm, 2)
    with pytest.raises(OneAuthorizationError, match="VM is locked"):
        gw.vm_resize(vm, 'MEMORY="128"')
    with pytest.raises(OneAuthorizationError, match="VM is locked"):
        gw.vm_updateconf(vm, 'CONTEXT=[EC2_USER_DATA="eA=="]', append=True)
    assert size(gw, vm) == ("0.1", "1", "64")


def test_updateconf_append_and_replace(sim: Simulator, gw: OneGateway) -> None:
    vm = new_vm(sim, gw)
    gw.vm_action("poweroff", vm)
    before = gw.vm_info(vm)
    # Append: CONTEXT's value replaced, every other CONTEXT value and section kept.
    gw.vm_updateconf(vm, 'CONTEXT=[EC2_USER_DATA="bmV3"]', append=True)
    after = gw.vm_info(vm)
    assert after.template_value("CONTEXT/EC2_USER_DATA") == "bmV3"
    assert after.template_value("CONTEXT/KEEP") == "me"
    assert after.template_value("CONTEXT/ETH0_IP") == before.template_value("CONTEXT/ETH0_IP")
    assert (
        after.template_value("GRAPHICS/LISTEN") == "0.0.0.0" and after.template_value("OS/ARCH") == "x86_64"
    )
    # Only CONTEXT and the listed sections' members are read: MEMORY is not one (resize is).
    gw.vm_updateconf(vm, 'MEMORY="4096"\nRAW=[TYPE="kvm",DATA="<x/>"]', append=True)
    after = gw.vm_info(vm)
    assert after.template_value("MEMORY") == "64" and after.template_value("RAW/DATA") == "<x/>"

    # Replace: the sections not given go (as the recorded vm0's GRAPHICS and OS did), CONTEXT is the
    # new one plus TARGET/DISK_ID, and NETWORK=YES keeps the network context.
    gw.vm_updateconf(vm, 'CONTEXT=[NETWORK="YES",ONLY="this"]')
    after = gw.vm_info(vm)
    doc = vm_doc(gw, vm)
    assert doc.find("TEMPLATE/GRAPHICS") is None and doc.find("TEMPLATE/OS") is None
    assert doc.find("TEMPLATE/RAW") is None and doc.find("TEMPLATE/CONTEXT/KEEP") is None
    assert after.template_value("CONTEXT/ONLY") == "this"
    assert after.template_value("CONTEXT/ETH0_IP") == before.template_value("CONTEXT/ETH0_IP")
    assert after.template_value("CONTEXT/TARGET") == before.template_value("CONTEXT/TARGET")

    with pytest.raises(
        OneInternalError, match="Unable to update ETH0_IP, update NIC to update network context"
    ):
        gw.vm_updateconf(vm, 'CONTEXT=[ETH0_IP="10.9.9.9"]', append=True)
    with pytest.raises(OneInternalError, match="Unable to add ETH5_IP, update NIC to update network context"):
        gw.vm_updateconf(vm, 'CONTEXT=[ETH5_IP="10.9.9.9"]', append=True)
    with pytest.raises(OneApiError, match="Wrong update type"):
        gw.call("one.vm.updateconf", vm, 'CONTEXT=[A="1"]', 2)
    assert gw.vm_info(vm).template_value("CONTEXT/ETH0_IP") == before.template_value("CONTEXT/ETH0_IP")


def test_updateconf_states(sim: Simulator, gw: OneGateway) -> None:
    vm = new_vm(sim, gw)
    # Running: allowed; a changed CONTEXT goes to the VMM (HOTPLUG) and the dummy driver brings it back.
    gw.vm_updateconf(vm, 'CONTEXT=[EC2_USER_DATA="cnVu"]', append=True)
    assert state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING)
    assert gw.vm_info(vm).template_value("CONTEXT/EC2_USER_DATA") == "cnVu"
    gw.vm_action("suspend", vm)
    with pytest.raises(OneInternalError, match="configuration cannot be updated in state SUSPENDED"):
        gw.vm_updateconf(vm, 'CONTEXT=[EC2_USER_DATA="c3Vz"]', append=True)
    assert gw.vm_info(vm).template_value("CONTEXT/EC2_USER_DATA") == "cnVu"
    bare = int(gw.call("one.vm.allocate", 'NAME="bare"\nCPU="0.1"\nMEMORY="64"', True))
    with pytest.raises(
        OneInternalError, match=r"Virtual machine does not have context, cannot add a new one\."
    ):
        gw.vm_updateconf(bare, 'CONTEXT=[A="1"]')


def test_restricted_attributes_for_users(sim: Simulator, gw: OneGateway) -> None:
    uid = int(gw.call("one.user.allocate", "carol", "pw", "", []))
    carol = OneGateway(sim.endpoint, "carol:pw")
    vm = int(carol.call("one.vm.allocate", 'NAME="c"\nCPU="0.1"\nMEMORY="64"\nCONTEXT=[A="1"]', True))
    assert gw.vm_info(vm).uid == uid
    with pytest.raises(OneAuthorizationError, match="Template includes a restricted attribute RAW/DATA"):
        carol.vm_updateconf(vm, 'RAW=[TYPE="kvm",DATA="<evil/>"]', append=True)
    with pytest.raises(OneAuthorizationError, match="Template includes a restricted attribute CONTEXT/FILES"):
        carol.vm_updateconf(vm, 'CONTEXT=[FILES="/etc/shadow"]', append=True)
    carol.vm_updateconf(vm, 'CONTEXT=[A="2"]', append=True)
    assert gw.vm_info(vm).template_value("CONTEXT/A") == "2"
    carol.vm_resize(vm, 'MEMORY="32"')
    assert size(gw, vm)[2] == "32"


@pytest.mark.slow
def test_live_resize_and_updateconf_through_the_driver(tmp_path: Path) -> None:
    """On a VM_MAD with live resize (kvm), a running VM goes HOTPLUG_RESIZE and the driver's RESIZE
    answer decides: success keeps the new size, failure puts the old one back. A changed CONTEXT goes to
    the driver as UPDATECONF (HOTPLUG)."""
    log = tmp_path / "vmm.jsonl"
    vmm = write_driver(tmp_path / "fake_vmm", VMM, LOG=str(log))
    with Simulator(auth_dir=tmp_path / "auth", port=0, vmm={"kvm": f"{vmm} -t 15 -r 0 kvm"}) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "k", "dummy", "kvm", -1)

        def running(name: str) -> int:
            text = f'NAME="{name}"\nCPU="0.1"\nVCPU="1"\nMEMORY="64"\nCONTEXT=[A="1"]'
            vm = int(gw.call("one.vm.allocate", text, True))
            gw.call("one.vm.deploy", vm, host, False, -1)
            wait_for(lambda: state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING))
            return vm

        vm = running("ok")
        gw.vm_resize(vm, 'CPU="0.5"\nVCPU="2"\nMEMORY="128"')
        wait_for(lambda: state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING))
        assert size(gw, vm) == ("0.5", "2", "128")
        gw.vm_updateconf(vm, 'CONTEXT=[A="2"]', append=True)
        wait_for(lambda: state(gw, vm) == (VmState.ACTIVE, LcmState.RUNNING))
        assert gw.vm_info(vm).template_value("CONTEXT/A") == "2"

        refused = running("noresize")
        gw.vm_resize(refused, 'CPU="0.5"\nVCPU="2"\nMEMORY="128"')
        wait_for(lambda: state(gw, refused) == (VmState.ACTIVE, LcmState.RUNNING))
        assert size(gw, refused) == ("0.1", "1", "64")
        sent = [json.loads(line).get("line", "").split(" ")[0] for line in log.read_text().splitlines()]
        assert sent.count("RESIZE") == 2 and sent.count("UPDATECONF") == 1
