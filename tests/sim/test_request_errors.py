"""Failures and edge cases of the simulator's requests, each as oned 6.10.5's source answers it: the
message, error code and object id of the failure tuple (src/rm/RequestManager*.cc and the pools)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xmlrpc.client
from typing import Any

import pytest

from one_drivers.one.cipher import ServerCipher
from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState
from one_drivers.sim.server import Simulator
from one_drivers.sim.wire import ACTION, ALLOCATE, AUTHORIZATION, INTERNAL, NO_EXISTS, XML_RPC_API
from tests.sim.conftest import build_recorded_world


def call(sim: Simulator, session: str, method: str, *args: Any) -> Any:
    """The raw answer of `method`: [True, value, 0] or oned's failure tuple."""
    proxy = xmlrpc.client.ServerProxy(sim.endpoint, use_builtin_types=True)
    return getattr(proxy, method)(session, *args)


def ok(sim: Simulator, session: str, method: str, *args: Any) -> Any:
    answer = call(sim, session, method, *args)
    assert answer[0] is True, answer
    return answer[1]


def failed(sim: Simulator, session: str, method: str, *args: Any) -> tuple[str, int, int]:
    """A failure as (message without the method prefix, code, object id)."""
    answer = call(sim, session, method, *args)
    assert answer[0] is False and answer[1].startswith(f"[{method}] "), answer
    return answer[1][len(method) + 3 :], answer[2], answer[3]


def new_user(sim: Simulator, name: str, groups: tuple[int, ...] = (1,)) -> tuple[int, str]:
    uid = ok(sim, sim.oneadmin_auth, "one.user.allocate", name, f"{name}-pw", "core", list(groups))
    return uid, f"{name}:{name}-pw"


def info(sim: Simulator, method: str, oid: int) -> ET.Element:
    return ET.fromstring(ok(sim, sim.oneadmin_auth, method, oid))


def denied(uid: int, *what: str) -> tuple[str, int, int]:
    refusals = "; ".join(f"Not authorized to perform {w}" for w in what)
    return f"User [{uid}] : {refusals}.", AUTHORIZATION, -1


# --- chmod, chown, rename (RequestManagerChmod.cc, RequestManagerChown.cc, RequestManagerRename.cc) ---
def test_chmod_asks_admin_only_when_an_admin_bit_changes(sim: Simulator) -> None:
    alice, alice_s = new_user(sim, "alice")
    bob, bob_s = new_user(sim, "bob")
    tid = ok(sim, alice_s, "one.template.allocate", 'NAME="t"')  # perms 110 000 000
    chmod = "one.template.chmod"
    # setting an ADMIN bit needs ADMIN, which the owner lacks; passing the value it has asks MANAGE only
    assert failed(sim, alice_s, chmod, tid, -1, -1, 1, -1, -1, -1, -1, -1, -1) == denied(
        alice, f"ADMIN TEMPLATE [{tid}]"
    )
    assert ok(sim, alice_s, chmod, tid, 1, 1, 0, -1, -1, -1, -1, -1, -1) == tid
    # in group 0 (alice is not a member) with GROUP_A set: alice may change other bits but not clear it
    ok(sim, sim.oneadmin_auth, "one.template.chown", tid, -1, 0)
    ok(sim, sim.oneadmin_auth, chmod, tid, -1, -1, -1, -1, -1, 1, -1, -1, -1)
    assert ok(sim, alice_s, chmod, tid, -1, -1, -1, 1, -1, 1, -1, -1, -1) == tid
    assert failed(sim, alice_s, chmod, tid, -1, -1, -1, -1, -1, 0, -1, -1, -1) == denied(
        alice, f"ADMIN TEMPLATE [{tid}]"
    )
    perms = info(sim, "one.template.info", tid).find("PERMISSIONS")
    assert perms is not None and [p.text for p in perms] == ["1", "1", "0", "1", "0", "1", "0", "0", "0"]
    # bob has no right on it: the one right asked is named
    assert failed(sim, bob_s, chmod, tid, -1, -1, -1, -1, -1, -1, 1, -1, -1) == denied(
        bob, f"MANAGE TEMPLATE [{tid}]"
    )
    assert failed(sim, bob_s, chmod, tid, -1, -1, -1, -1, -1, -1, -1, -1, 1) == denied(
        bob, f"ADMIN TEMPLATE [{tid}]"
    )
    assert failed(sim, sim.oneadmin_auth, chmod, tid, 2, -1, -1, -1, -1, -1, -1, -1, -1) == (
        "New permission values must be -1, 0 or 1",
        INTERNAL,
        -1,
    )
    assert failed(sim, sim.oneadmin_auth, chmod, 99, 1, -1, -1, -1, -1, -1, -1, -1, -1) == (
        "Error getting virtual machine template [99].",
        NO_EXISTS,
        99,
    )


def test_chown_looks_up_owner_and_group_first_and_asks_each_right(sim: Simulator) -> None:
    alice, alice_s = new_user(sim, "alice")
    bob, _ = new_user(sim, "bob")
    admin = sim.oneadmin_auth
    tid = ok(sim, alice_s, "one.template.allocate", 'NAME="t"')
    chown = "one.template.chown"
    assert failed(sim, admin, chown, 99, 999, -1) == ("Error getting user [999].", NO_EXISTS, 999)
    assert failed(sim, admin, chown, 99, -1, 999) == ("Error getting group [999].", NO_EXISTS, 999)
    assert failed(sim, admin, chown, 99, bob, 1) == (
        "Error getting virtual machine template [99].",
        NO_EXISTS,
        99,
    )
    # MANAGE on a new owner (a user manages only itself) and USE on a new group, refused together
    assert failed(sim, alice_s, chown, tid, bob, 0) == denied(alice, f"MANAGE USER [{bob}]", "USE GROUP [0]")
    assert failed(sim, alice_s, chown, tid, -1, 0) == denied(alice, "USE GROUP [0]")
    # the owner and group it has already are no change, so no right is asked for them
    assert ok(sim, alice_s, chown, tid, alice, 1) == tid
    # an admin gives it to bob in group 0: the new owner need not be in the new group
    assert ok(sim, admin, chown, tid, bob, 0) == tid
    doc = info(sim, "one.template.info", tid)
    assert [doc.findtext(t) for t in ("UID", "UNAME", "GID", "GNAME")] == [str(bob), "bob", "0", "oneadmin"]
    # now alice may not manage it (group 0, OTHER bits unset)
    assert failed(sim, alice_s, chown, tid, alice, -1) == denied(alice, f"MANAGE TEMPLATE [{tid}]")


def test_chown_refuses_a_name_the_new_owner_has(sim: Simulator) -> None:
    alice, alice_s = new_user(sim, "alice")
    for kind, noun in (("template", "virtual machine template"), ("secgroup", "security group")):
        mine = ok(sim, alice_s, f"one.{kind}.allocate", 'NAME="web"')
        theirs = ok(sim, sim.oneadmin_auth, f"one.{kind}.allocate", 'NAME="web"')
        assert failed(sim, sim.oneadmin_auth, f"one.{kind}.chown", theirs, alice, -1) == (
            f"user [{alice}] already owns {noun} [{mine}] with NAME web",
            INTERNAL,
            -1,
        )
    # the group alone may change (`theirs` is the security group now)
    assert ok(sim, sim.oneadmin_auth, "one.secgroup.chown", theirs, -1, 1) == theirs
    assert info(sim, "one.secgroup.info", theirs).findtext("GNAME") == "users"


def test_vm_chown_ignores_names_and_refuses_a_done_vm(sim: Simulator) -> None:
    alice, alice_s = new_user(sim, "alice")
    admin = sim.oneadmin_auth
    tid = ok(sim, admin, "one.template.allocate", 'NAME="t"\nCPU="1"\nMEMORY="64"')
    ok(sim, admin, "one.template.chmod", tid, -1, -1, -1, -1, -1, -1, 1, -1, -1)
    ok(sim, alice_s, "one.template.instantiate", tid, "vm", True, "", False)
    vm = ok(sim, admin, "one.template.instantiate", tid, "vm", True, "", False)
    assert ok(sim, admin, "one.vm.chown", vm, alice, 1) == vm  # alice has a VM named "vm" too
    ok(sim, admin, "one.vm.action", "terminate-hard", vm)
    assert info(sim, "one.vm.info", vm).findtext("STATE") == "6"
    assert failed(sim, admin, "one.vm.chown", vm, 0, -1) == (
        "Could not change VM ownership, wrong state",
        ACTION,
        -1,
    )


def test_template_chgrp_is_no_oned_method(sim: Simulator) -> None:
    with pytest.raises(xmlrpc.client.Fault) as fault:
        call(sim, sim.oneadmin_auth, "one.template.chgrp", 0, 1)
    assert fault.value.faultCode == -506


def test_secgroup_rename_as_oned(sim: Simulator) -> None:
    _, alice_s = new_user(sim, "alice")
    bob, bob_s = new_user(sim, "bob")
    first = ok(sim, alice_s, "one.secgroup.allocate", 'NAME="a"')
    second = ok(sim, alice_s, "one.secgroup.allocate", 'NAME="b"')
    rename = "one.secgroup.rename"
    assert failed(sim, alice_s, rename, second, "a") == (
        f"security group cannot be renamed to a because it collides with security group {first}",
        ACTION,
        -1,
    )
    assert failed(sim, alice_s, rename, second, "") == ("Invalid NAME, it cannot be empty", ACTION, -1)
    assert failed(sim, alice_s, rename, second, "x" * 129) == (
        "Invalid NAME, max length is 128 chars",
        ACTION,
        -1,
    )
    # the name it has already: answered before any right is asked
    assert ok(sim, bob_s, rename, second, "b") == second
    assert failed(sim, bob_s, rename, second, "c") == denied(bob, f"MANAGE SECGROUP [{second}]")
    assert ok(sim, alice_s, rename, second, "c") == second
    assert info(sim, "one.secgroup.info", second).findtext("NAME") == "c"


# --- users: allocate, enable, login tokens, auth driver (RequestManagerUser.cc, LoginToken.cc) ---------
def test_user_allocate_reads_the_groups_as_an_array(sim: Simulator) -> None:
    with pytest.raises(xmlrpc.client.Fault) as fault:
        call(sim, sim.oneadmin_auth, "one.user.allocate", "carol", "pw", "core", 1)
    assert (fault.value.faultCode, fault.value.faultString) == (
        -501,
        "Parameter that is supposed to be an array is not",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Invalid NAME, it cannot be empty."),
        ("two words", "Invalid NAME, char ' ' is not allowed."),
        ("a&b", "Invalid NAME, char '&' is not allowed."),
        ("a:b", "Invalid NAME, char ':' is not allowed."),
    ],
)
def test_user_allocate_name_checks(sim: Simulator, name: str, message: str) -> None:
    assert failed(sim, sim.oneadmin_auth, "one.user.allocate", name, "pw", "core", [1]) == (
        message,
        INTERNAL,
        -1,
    )


def test_user_enable_refuses_oneadmin(sim: Simulator) -> None:
    assert failed(sim, sim.oneadmin_auth, "one.user.enable", 0, False) == (
        "Cannot enable/disable oneadmin user",
        ACTION,
        -1,
    )


def test_login_tokens_as_oned_keeps_them(sim: Simulator) -> None:
    alice, alice_s = new_user(sim, "alice")
    login = "one.user.login"
    now = [1_000_000.0]
    sim.cloud.clock = lambda: now[0]
    assert failed(sim, alice_s, login, "nobody", "", 60) == ("Error getting user Pool.", NO_EXISTS, -1)
    assert failed(sim, alice_s, login, "alice", "t", -2) == ("Wrong valid period for token", XML_RPC_API, -1)
    assert failed(sim, alice_s, login, "alice", "nope", 0) == ("Could not find token: nope", XML_RPC_API, -1)
    assert ok(sim, alice_s, login, "alice", "short", 60) == "short"
    assert ok(sim, "alice:short", "one.user.info", -1)
    # an expired token is refused and dropped when it is tried
    now[0] += 61
    assert call(sim, "alice:short", "one.user.info", -1)[2] == 256
    assert "short" not in sim.cloud.users[alice].login_tokens
    # valid 0 drops the named token, or with no token all of them
    for token in ("a", "b", "c"):
        ok(sim, alice_s, login, "alice", token, -1)
    assert ok(sim, alice_s, login, "alice", "a", 0) == "a"
    assert sorted(sim.cloud.users[alice].login_tokens) == ["b", "c"]
    assert ok(sim, alice_s, login, "alice", "", 0) == ""
    assert sim.cloud.users[alice].login_tokens == {}
    assert call(sim, "alice:b", "one.user.info", -1)[2] == 256
    # making a token drops the expired ones first (LoginTokenPool::reset_expired)
    ok(sim, alice_s, login, "alice", "old", 10)
    now[0] += 11
    ok(sim, alice_s, login, "alice", "new", 10)
    assert sorted(sim.cloud.users[alice].login_tokens) == ["new"]


def test_chauth_with_a_password_stores_it_for_the_new_driver(sim: Simulator) -> None:
    uid, _ = new_user(sim, "alice")
    assert ok(sim, sim.oneadmin_auth, "one.user.chauth", uid, "public", "plain-secret") == uid
    assert info(sim, "one.user.info", uid).findtext("PASSWORD") == "plain-secret"
    assert ok(sim, "alice:plain-secret", "one.user.info", -1)
    assert ok(sim, sim.oneadmin_auth, "one.user.chauth", uid, "core", "core-secret") == uid
    assert info(sim, "one.user.info", uid).findtext("PASSWORD") != "core-secret"  # its digest
    assert ok(sim, "alice:core-secret", "one.user.info", -1)
    assert call(sim, "alice:plain-secret", "one.user.info", -1)[2] == 256


@pytest.mark.parametrize(("expiry", "accepted"), [(b"abc", False), (b"99999999999junk", True)])
def test_server_token_expiry_read_as_ruby_to_i(sim: Simulator, expiry: bytes, accepted: bool) -> None:
    # server_cipher_auth.rb compares the clock with `expires.to_i`: the leading integer, else 0
    new_user(sim, "bob")
    stored = sim.cloud.users[1].password
    token = ServerCipher("serveradmin", stored, sim.cloud.scheme).encrypt(
        f"serveradmin:bob:{expiry.decode()}"
    )
    answer = call(sim, f"serveradmin:bob:{token}", "one.user.info", -1)
    assert answer[0] is accepted
    assert list(sim.cloud.auth_log) == ([] if accepted else ["Auth Error: login token expired"])


# --- hosts and networks (RequestManagerHost.cc, RequestManagerDelete.cc, VirtualNetwork.cc) ----------
def test_host_status_code_and_delete_with_running_vms(sim: Simulator) -> None:
    ids = build_recorded_world(OneGateway(sim.endpoint, sim.oneadmin_auth))
    host = ids["host"]
    assert failed(sim, sim.oneadmin_auth, "one.host.status", host, 7) == ("Wrong status code", INTERNAL, -1)
    assert failed(sim, sim.oneadmin_auth, "one.host.delete", host) == (
        "Cannot delete host. Can not remove a host with running VMs",
        ACTION,
        -1,
    )
    assert info(sim, "one.host.info", host).findtext("NAME") == "dummyhost"
    # a host without running VMs goes, and its monitoring with it
    spare = ok(sim, sim.oneadmin_auth, "one.host.allocate", "spare", "dummy", "dummy", -1)
    assert ok(sim, sim.oneadmin_auth, "one.host.delete", spare) == spare
    assert failed(sim, sim.oneadmin_auth, "one.host.info", spare) == (
        f"Error getting host [{spare}].",
        NO_EXISTS,
        spare,
    )


def test_add_ar_takes_the_first_range(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    net = ok(sim, admin, "one.vn.allocate", 'NAME="n"\nVN_MAD="dummy"\nBRIDGE="br0"', -1)
    assert failed(sim, admin, "one.vn.add_ar", net, 'DESCRIPTION="no range"') == (
        "Wrong AR definition. AR vector attribute is missing.",
        INTERNAL,
        -1,
    )
    two = 'AR=[TYPE="IP4",IP="10.1.0.1",SIZE="2"]\nAR=[TYPE="IP4",IP="10.2.0.1",SIZE="2"]'
    assert ok(sim, admin, "one.vn.add_ar", net, two) == net
    ranges = info(sim, "one.vn.info", net).findall("AR_POOL/AR")
    assert [r.findtext("IP") for r in ranges] == ["10.1.0.1"]


def test_hold_and_release_lease_descriptions(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    two = 'AR=[TYPE="IP4",IP="10.1.0.1",SIZE="2"]\nAR=[TYPE="IP4",IP="10.2.0.1",SIZE="2"]'
    net = ok(sim, admin, "one.vn.allocate", f'NAME="n"\nVN_MAD="dummy"\nBRIDGE="br0"\n{two}', -1)
    for method in ("one.vn.hold", "one.vn.release"):
        assert failed(sim, admin, method, net, 'LEASES=[IP="10.1.0.1",MAC="02:00:0a:01:00:01"]') == (
            "Only one attribute MAC, IP or IP6 can be set.",
            INTERNAL,
            -1,
        )
        assert failed(sim, admin, method, net, 'LEASES=[AR_ID="0"]') == (
            "Missing MAC, IP or IP6.",
            INTERNAL,
            -1,
        )
    # AR_ID names the one range looked in
    assert failed(sim, admin, "one.vn.hold", net, 'LEASES=[IP="10.1.0.1",AR_ID="1"]') == (
        "Address is not part of the address range or in use.",
        INTERNAL,
        -1,
    )
    assert ok(sim, admin, "one.vn.hold", net, 'LEASES=[IP="10.2.0.2",AR_ID="1"]') == net
    leases = info(sim, "one.vn.info", net).findall("AR_POOL/AR/LEASES/LEASE")
    assert [(lease.findtext("IP"), lease.findtext("VM")) for lease in leases] == [("10.2.0.2", "-1")]
    # releasing an address that is not held (or not in the network) is no error
    assert ok(sim, admin, "one.vn.release", net, 'LEASES=[IP="10.9.9.9"]') == net
    assert ok(sim, admin, "one.vn.release", net, 'LEASES=[IP="10.2.0.2",AR_ID="0"]') == net
    assert len(info(sim, "one.vn.info", net).findall("AR_POOL/AR/LEASES/LEASE")) == 1
    assert ok(sim, admin, "one.vn.release", net, 'LEASES=[IP="10.2.0.2",AR_ID="1"]') == net
    assert info(sim, "one.vn.info", net).findall("AR_POOL/AR/LEASES/LEASE") == []


# --- images and network allocate (RequestManagerAllocate.cc, ImagePool.cc, Image.cc, VirtualNetwork.cc) ---
NEW_IMAGE = "Error allocating a new image. "


@pytest.mark.parametrize(
    ("template", "ds", "message", "code"),
    [
        ('NAME="i"\nSIZE="16"', 0, NEW_IMAGE + "New images can only be allocated in a files or image datastore.", ALLOCATE),
        ('NAME="i"\nTYPE="DATABLOCK"\nSIZE="abc"', 1, "Cannot parse image SIZE: Wrong number or missing SIZE attribute.", INTERNAL),
        ('NAME="i"\nTYPE="DATABLOCK"\nSIZE="1.5"', 1, "Cannot parse image SIZE: Wrong number or missing SIZE attribute.", INTERNAL),
        ('TYPE="DATABLOCK"\nSIZE="16"', 1, NEW_IMAGE + "Invalid NAME, it cannot be empty", ALLOCATE),
        ('NAME="i"\nTYPE="FOO"\nSIZE="16"', 1, NEW_IMAGE + "Unknown type ", ALLOCATE),
        ('NAME="i"\nTYPE="BACKUP"\nSIZE="16"', 1, NEW_IMAGE + "IMAGES of type BACKUP can only be registered in an BACKUP_DS datastore", ALLOCATE),
        ('NAME="i"\nTYPE="KERNEL"\nPATH="/k"', 1, NEW_IMAGE + "IMAGES of type KERNEL, RAMDISK and CONTEXT cannot be registered in an IMAGE_DS datastore", ALLOCATE),
        ('NAME="i"\nTYPE="OS"\nPATH="/o"', 2, NEW_IMAGE + "Only IMAGES of type KERNEL, RAMDISK and CONTEXT can be registered in a FILE_DS datastore", ALLOCATE),
    ],
)  # fmt: skip
def test_image_allocate_refusals(sim: Simulator, template: str, ds: int, message: str, code: int) -> None:
    assert failed(sim, sim.oneadmin_auth, "one.image.allocate", template, ds) == (message, code, -1)
    assert ok(sim, sim.oneadmin_auth, "one.imagepool.info", -2, -1, -1).count("<IMAGE>") == 0


def test_image_allocate_duplicate_name_and_a_path_image_size(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    first = ok(sim, admin, "one.image.allocate", 'NAME="i"\nTYPE="DATABLOCK"\nSIZE="16"', 1)
    assert failed(sim, admin, "one.image.allocate", 'NAME="i"\nTYPE="DATABLOCK"\nSIZE="16"', 1) == (
        f"{NEW_IMAGE}NAME is already taken by IMAGE {first}.",
        ALLOCATE,
        -1,
    )
    # with a PATH the datastore driver measures the file: SIZE is not read
    kernel = ok(sim, admin, "one.image.allocate", 'NAME="k"\nTYPE="KERNEL"\nPATH="/k"\nSIZE="x"', 2)
    assert info(sim, "one.image.info", kernel).findtext("TYPE") == "3"


def test_image_chtype_within_its_family(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    os_image = ok(sim, admin, "one.image.allocate", 'NAME="o"\nTYPE="OS"\nPATH="/o"', 1)
    block = ok(sim, admin, "one.image.allocate", 'NAME="b"\nTYPE="DATABLOCK"\nSIZE="4"', 1)
    kernel = ok(sim, admin, "one.image.allocate", 'NAME="k"\nTYPE="KERNEL"\nPATH="/k"', 2)
    incompatible = "Cannot change image type to an incompatible type for the current datastore."
    assert failed(sim, admin, "one.image.chtype", os_image, "kernel") == (incompatible, ACTION, -1)
    assert failed(sim, admin, "one.image.chtype", kernel, "OS") == (incompatible, ACTION, -1)
    assert failed(sim, admin, "one.image.chtype", kernel, "FOO") == (incompatible, ACTION, -1)  # read as OS
    # an unknown name passes as OS, then Image::set_type's message is cut by the image's type (0, 2)
    assert failed(sim, admin, "one.image.chtype", os_image, "FOO") == ("Unknown type ", INTERNAL, -1)
    assert failed(sim, admin, "one.image.chtype", block, "FOO") == ("known type ", INTERNAL, -1)
    assert ok(sim, admin, "one.image.chtype", os_image, "cdrom") == os_image
    assert ok(sim, admin, "one.image.chtype", kernel, "RAMDISK") == kernel
    assert [info(sim, "one.image.info", i).findtext("TYPE") for i in (os_image, kernel)] == ["1", "4"]


def test_image_delete_while_vms_use_it(sim: Simulator) -> None:
    ids = build_recorded_world(OneGateway(sim.endpoint, sim.oneadmin_auth))
    assert failed(sim, sim.oneadmin_auth, "one.image.delete", ids["image"]) == (
        "Cannot delete image. There are 1 VMs using it.",
        ACTION,
        -1,
    )


def test_vnet_allocate_name_and_security_groups(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    assert failed(sim, admin, "one.vn.allocate", 'VN_MAD="dummy"\nBRIDGE="br0"', -1) == (
        "No NAME in template for Virtual Network.",
        INTERNAL,
        -1,
    )
    net = ok(sim, admin, "one.vn.allocate", 'NAME="n"\nVN_MAD="dummy"\nSECURITY_GROUPS="101,100,101"', -1)
    # the default group 0 is added, the ids kept once and in order (split_unique into a set)
    assert info(sim, "one.vn.info", net).findtext("TEMPLATE/SECURITY_GROUPS") == "0,100,101"


# --- security groups (SecurityGroupPool.cc, SecurityGroup::is_valid, DispatchManager::attach_sg) ----
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('NAME=""', "Invalid NAME, it cannot be empty"),
        (f'NAME="{"x" * 129}"', "Invalid NAME, max length is 128 chars"),
        ('NAME="s"\nRULE=[PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="1,2,3,4,5,6,7,8,9,10,11,12,13,14:15,16"]',
         "Not more than 15 ports can be specified in a RULE"),
        ('NAME="s"\nRULE=[PROTOCOL="ICMP",RULE_TYPE="INBOUND",ICMP_TYPE="echo"]', "Wrong ICMP_TYPE, it must be integer"),
        ('NAME="s"\nRULE=[PROTOCOL="ICMPV6",RULE_TYPE="INBOUND",ICMPV6_TYPE="x"]', "Wrong ICMPV6_TYPE, it must be integer"),
        ('NAME="s"\nRULE=[PROTOCOL="TCP",RULE_TYPE="INBOUND",NETWORK_ID="net"]', "Wrong NETWORK_ID."),
    ],
)  # fmt: skip
def test_secgroup_allocate_refusals(sim: Simulator, template: str, message: str) -> None:
    assert failed(sim, sim.oneadmin_auth, "one.secgroup.allocate", template) == (message, INTERNAL, -1)


def test_secgroup_allocate_takes_128_chars_and_15_ports(sim: Simulator) -> None:
    rule = 'RULE=[PROTOCOL="TCP",RULE_TYPE="INBOUND",RANGE="1,2,3,4,5,6,7,8,9,10,11,12,13,14:15"]'
    sg = ok(sim, sim.oneadmin_auth, "one.secgroup.allocate", f'NAME="{"x" * 128}"\n{rule}')
    assert (
        info(sim, "one.secgroup.info", sg).findtext("TEMPLATE/RULE/RANGE")
        == "1,2,3,4,5,6,7,8,9,10,11,12,13,14:15"
    )


def test_attach_and_detach_sg_refusals(sim: Simulator) -> None:
    ids = build_recorded_world(OneGateway(sim.endpoint, sim.oneadmin_auth))
    vm, admin = ids["vm"], sim.oneadmin_auth
    _, bob_s = new_user(sim, "bob")
    # attach looks for the NIC before any right is asked (INTERNAL); detach finds it missing later (ACTION)
    missing = (f"VM {vm} doesn't have NIC id 5", INTERNAL, -1)
    assert failed(sim, admin, "one.vm.attachsg", vm, 5, 0) == missing
    assert failed(sim, bob_s, "one.vm.attachsg", vm, 5, 0) == missing
    assert failed(sim, admin, "one.vm.detachsg", vm, 5, 0) == (f"VM {vm} doesn't have NIC id 5", ACTION, -1)
    assert failed(sim, admin, "one.vm.attachsg", vm, 0, 999) == (
        "Could not attach SG 999 to VM, SG does not exist",
        ACTION,
        -1,
    )
    # while a NIC is being plugged the groups cannot change (the state set here, as the driver leaves it)
    with sim.cloud.lock:
        sim.cloud.vms[vm].lcm_state = LcmState.HOTPLUG_NIC
    sg = ok(sim, admin, "one.secgroup.allocate", 'NAME="s"')
    for method in ("one.vm.attachsg", "one.vm.detachsg"):
        assert failed(sim, admin, method, vm, 0, sg) == (f"VM {vm} is in wrong state HOTPLUG_NIC", ACTION, -1)


# --- VM and template names (VirtualMachine::insert, VMTemplatePool::allocate, PoolObjectSQL::set_name) ---
def test_vm_names_are_checked_like_every_object_name(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    assert failed(sim, admin, "one.vm.allocate", 'NAME="web/1"\nCPU="1"\nMEMORY="64"', False) == (
        "Invalid NAME, char '/' is not allowed",
        INTERNAL,
        -1,
    )
    # the name is checked before the capacity
    assert (
        failed(sim, admin, "one.vm.allocate", 'NAME="a$b"', False)[0]
        == "Invalid NAME, char '$' is not allowed"
    )
    assert ok(sim, admin, "one.vmpool.info", -2, -1, -1, -1).count("<VM>") == 0
    vid = ok(sim, admin, "one.vm.allocate", 'NAME="web 1 [x] = y, z"\nCPU="1"\nMEMORY="64"', False)
    assert failed(sim, admin, "one.vm.rename", vid, "a#b") == (
        "Invalid NAME, char '#' is not allowed",
        ACTION,
        -1,
    )
    assert failed(sim, admin, "one.vm.rename", vid, "") == ("Invalid NAME, it cannot be empty", ACTION, -1)
    assert info(sim, "one.vm.info", vid).findtext("NAME") == "web 1 [x] = y, z"


def test_template_names_and_what_instantiate_refuses(sim: Simulator) -> None:
    admin = sim.oneadmin_auth
    allocate = "one.template.allocate"
    assert failed(sim, admin, allocate, 'CPU="1"') == ("Invalid NAME, it cannot be empty", INTERNAL, -1)
    assert failed(sim, admin, allocate, 'NAME="a;b"') == (
        "Invalid NAME, char ';' is not allowed",
        INTERNAL,
        -1,
    )
    tid = ok(sim, admin, allocate, 'NAME="t"\nCPU="1"\nMEMORY="64"')
    nomem = ok(sim, admin, allocate, 'NAME="nomem"\nCPU="1"')
    # what the VM pool refuses is ALLOCATE for the template; the object id is -1
    instantiate = "one.template.instantiate"
    prefix = "Error allocating a new virtual machine template."
    assert failed(sim, admin, instantiate, tid, "it's", False, "") == (
        f"{prefix} Invalid NAME, char ''' is not allowed",
        ALLOCATE,
        -1,
    )
    assert failed(sim, admin, instantiate, nomem, "", False, "") == (
        f"{prefix} MEMORY attribute must be a positive integer value.",
        ALLOCATE,
        -1,
    )
    assert ok(sim, admin, "one.vmpool.info", -2, -1, -1, -1).count("<VM>") == 0
    # a refused right stays an AUTHORIZATION failure
    _, bob_s = new_user(sim, "bob")
    assert failed(sim, bob_s, instantiate, tid, "", False, "")[1] == AUTHORIZATION
    assert ok(sim, admin, instantiate, tid, "", False, "") == 0
    assert info(sim, "one.vm.info", 0).findtext("NAME") == "t-0"
