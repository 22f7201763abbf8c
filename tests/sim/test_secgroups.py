"""The simulator's security groups and NIC leases against what oned 6.10's source does."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from one_drivers.one.gateway import (
    OneActionError,
    OneAuthorizationError,
    OneGateway,
    OneInternalError,
    OneNotFoundError,
)
from one_drivers.sim.server import Simulator


def user(sim: Simulator, admin: OneGateway, name: str) -> OneGateway:
    admin.user_allocate(name, f"{name}-pw", "core", (1,))
    return OneGateway(sim.endpoint, f"{name}:{name}-pw")


def rules(doc: str, path: str = "TEMPLATE/RULE") -> list[dict[str, str]]:
    return [{c.tag: c.text or "" for c in r} for r in ET.fromstring(doc).findall(path)]


def test_default_group_and_allocate(sim: Simulator, admin: OneGateway) -> None:
    default = ET.fromstring(admin.call("one.secgroup.info", 0))
    assert default.tag == "SECURITY_GROUP" and default.findtext("NAME") == "default"
    assert [c.tag for c in default][:7] == ["ID", "UID", "GID", "UNAME", "GNAME", "NAME", "PERMISSIONS"]
    assert [c.tag for c in default][7:] == [
        "UPDATED_VMS",
        "OUTDATED_VMS",
        "UPDATING_VMS",
        "ERROR_VMS",
        "TEMPLATE",
    ]
    assert default.findtext("PERMISSIONS/OTHER_U") == "1"
    alice = user(sim, admin, "alice")
    sg = alice.call(
        "one.secgroup.allocate",
        'NAME="web"\nDESCRIPTION="d"\nRULE=[PROTOCOL="TCP",RULE_TYPE="inbound",RANGE="22,80:81"]\n'
        'RULE=[PROTOCOL="TCP",RULE_TYPE="inbound",RANGE="22,80:81"]\nRULE=[PROTOCOL="ALL",RULE_TYPE="OUTBOUND"]',
    )
    assert sg == 100  # ids below 100 are oned's
    doc = alice.call("one.secgroup.info", sg)
    assert rules(doc) == [  # the duplicate rule is dropped
        {"PROTOCOL": "TCP", "RANGE": "22,80:81", "RULE_TYPE": "inbound"},
        {"PROTOCOL": "ALL", "RULE_TYPE": "OUTBOUND"},
    ]
    with pytest.raises(OneInternalError, match=r"NAME is already taken by SecurityGroup 100\."):
        alice.call("one.secgroup.allocate", 'NAME="web"')
    with pytest.raises(OneInternalError, match="Invalid NAME, char ':' is not allowed"):
        alice.call("one.secgroup.allocate", 'NAME="a:b"')
    pool = ET.fromstring(alice.call("one.secgrouppool.info", -3, -1, -1))
    assert [g.findtext("NAME") for g in pool] == ["web"]
    everything = ET.fromstring(alice.call("one.secgrouppool.info", -2, -1, -1))
    assert [g.findtext("ID") for g in everything] == ["100", "0"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('PROTOCOL="SCTP",RULE_TYPE="INBOUND"', "Wrong PROTOCOL in rule"),
        ('PROTOCOL="ICMP",RULE_TYPE="INBOUND",RANGE="22"', "RANGE is supported only for TCP and UDP"),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="70000"', "RANGE out of bounds 0-65536."),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="90:80"', "RANGE BEGIN value is greater"),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="a"', "Invalid RANGE specification."),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",ICMP_TYPE="8"', "ICMP_TYPE is supported only for ICMP"),
        ('PROTOCOL="TCP",RULE_TYPE="SIDEWAYS"', "Wrong RULE_TYPE in rule"),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",IP="10.0.0.1"', "Wrong or empty SIZE."),
        ('PROTOCOL="TCP",RULE_TYPE="INBOUND",IP="10.0.0",SIZE="2"', "Wrong format for IP value."),
    ],
)
def test_rules_are_checked_as_oned_checks_them(admin: OneGateway, rule: str, message: str) -> None:
    with pytest.raises(OneInternalError, match=message):
        admin.call("one.secgroup.allocate", f'NAME="x"\nRULE=[{rule}]')
    sg = admin.call("one.secgroup.allocate", 'NAME="y"\nRULE=[PROTOCOL="ALL",RULE_TYPE="INBOUND"]')
    with pytest.raises(OneInternalError, match=message):
        admin.call("one.secgroup.update", sg, f"RULE=[{rule}]", 0)
    assert rules(admin.call("one.secgroup.info", sg)) == [{"PROTOCOL": "ALL", "RULE_TYPE": "INBOUND"}]


def test_nics_carry_groups_and_vms_get_their_rules(sim: Simulator, admin: OneGateway) -> None:
    alice = user(sim, admin, "alice")
    bob = user(sim, admin, "bob")
    net = admin.call(
        "one.vn.allocate",
        'NAME="n"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="10.1.0.1",SIZE="4"]',
        -1,
    )
    # (the simulator's bootstrap ACL lets users USE every network)
    sg = alice.call(
        "one.secgroup.allocate", 'NAME="ssh"\nRULE=[PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="22"]'
    )
    bobs = bob.call("one.secgroup.allocate", 'NAME="b"')
    with pytest.raises(OneAuthorizationError, match=rf"perform USE SECGROUP \[{bobs}\]"):
        alice.call("one.vm.allocate", f'MEMORY="64"\nNIC=[NETWORK_ID="{net}",SECURITY_GROUPS="{bobs}"]')
    vm = alice.call(
        "one.vm.allocate", f'MEMORY="64"\nNIC=[NETWORK_ID="{net}",SECURITY_GROUPS="{sg}",IP="10.1.0.3"]'
    )
    doc = ET.fromstring(alice.document("one.vm.info", vm, False))
    nic = doc.find("TEMPLATE/NIC")
    assert (
        nic is not None and nic.findtext("IP") == "10.1.0.3" and nic.findtext("SECURITY_GROUPS") == f"0,{sg}"
    )
    sg_rules = rules(alice.document("one.vm.info", vm, False), "TEMPLATE/SECURITY_GROUP_RULE")
    assert [(r["SECURITY_GROUP_ID"], r["RULE_TYPE"]) for r in sg_rules] == [
        ("0", "OUTBOUND"),
        ("0", "INBOUND"),
        (str(sg), "INBOUND"),
    ]
    assert ET.fromstring(alice.call("one.secgroup.info", sg)).findtext("UPDATED_VMS/ID") == str(vm)
    with pytest.raises(OneActionError, match="The security group has VMs using it"):
        alice.call("one.secgroup.delete", sg)
    with pytest.raises(OneActionError, match=r"The default security group \(ID 0\) cannot be deleted."):
        admin.call("one.secgroup.delete", 0)
    # An address in use cannot be asked for again.
    with pytest.raises(OneInternalError, match="Cannot get IP/MAC lease"):
        alice.call("one.vm.allocate", f'MEMORY="64"\nNIC=[NETWORK_ID="{net}",IP="10.1.0.3"]')

    # attachsg/detachsg change the NIC and the rules, and the group's VM list.
    other = alice.call(
        "one.secgroup.allocate", 'NAME="web"\nRULE=[PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="80"]'
    )
    alice.call("one.vm.attachsg", vm, 0, other)
    with pytest.raises(OneActionError, match=f"SG {other} already in NIC 0"):
        alice.call("one.vm.attachsg", vm, 0, other)
    alice.call("one.vm.detachsg", vm, 0, sg)
    nic = ET.fromstring(alice.document("one.vm.info", vm, False)).find("TEMPLATE/NIC")
    assert nic is not None and nic.findtext("SECURITY_GROUPS") == f"0,{other}"
    ids = {
        r["SECURITY_GROUP_ID"]
        for r in rules(alice.document("one.vm.info", vm, False), "TEMPLATE/SECURITY_GROUP_RULE")
    }
    assert ids == {"0", str(other)}
    assert ET.fromstring(alice.call("one.secgroup.info", sg)).find("UPDATED_VMS/ID") is None
    alice.call("one.secgroup.delete", sg)
    with pytest.raises(OneNotFoundError, match=rf"Error getting security group \[{sg}\]"):
        alice.call("one.secgroup.info", sg)
    with pytest.raises(OneActionError, match="doesn't contain SG"):
        alice.call("one.vm.detachsg", vm, 0, 12345)

    # Updating a group's rules reaches the VMs using it; terminating a VM leaves the group.
    alice.call("one.secgroup.update", other, 'RULE=[PROTOCOL="UDP",RULE_TYPE="INBOUND",RANGE="53"]', 0)
    protos = {
        r["PROTOCOL"]
        for r in rules(alice.document("one.vm.info", vm, False), "TEMPLATE/SECURITY_GROUP_RULE")
        if r["SECURITY_GROUP_ID"] == str(other)
    }
    assert protos == {"UDP"}
    alice.vm_action("terminate-hard", vm)
    sim.schedule()
    assert ET.fromstring(alice.call("one.secgroup.info", other)).find("UPDATED_VMS/ID") is None
    alice.call("one.secgroup.delete", other)


def test_hold_and_release_as_oned(sim: Simulator, admin: OneGateway) -> None:
    net = admin.call(
        "one.vn.allocate", 'NAME="pub"\nVN_MAD="dummy"\nAR=[TYPE="IP4",IP="192.0.2.1",SIZE="2"]', -1
    )
    admin.vn_hold(net, 'LEASES=[IP="192.0.2.1"]')
    with pytest.raises(OneInternalError, match=r"Address is not part of the address range or in use\."):
        admin.vn_hold(net, 'LEASES=[IP="192.0.2.1"]')
    with pytest.raises(OneInternalError, match=r"Address is not part of the address range or in use\."):
        admin.vn_hold(net, 'LEASES=[IP="198.51.100.1"]')
    with pytest.raises(OneInternalError, match=r"Empty lease description\."):
        admin.vn_hold(net, 'IP="192.0.2.2"')
    lease = ET.fromstring(admin.document("one.vn.info", net, False)).find("AR_POOL/AR/LEASES/LEASE")
    assert lease is not None and lease.findtext("VM") == "-1"
    vm = admin.call("one.vm.allocate", f'MEMORY="64"\nNIC=[NETWORK_ID="{net}"]')
    assert ET.fromstring(admin.document("one.vm.info", vm, False)).findtext("TEMPLATE/NIC/IP") == "192.0.2.2"
    # release frees held addresses only; a VM's lease stays (oned's free_addr_by_ip(VM, -1, ip)).
    admin.vn_release(net, 'LEASES=[IP="192.0.2.2"]')
    admin.vn_release(net, 'LEASES=[IP="192.0.2.1"]')
    leases = ET.fromstring(admin.document("one.vn.info", net, False)).findall("AR_POOL/AR/LEASES/LEASE")
    assert [(x.findtext("IP"), x.findtext("VM")) for x in leases] == [("192.0.2.2", str(vm))]
