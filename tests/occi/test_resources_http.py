"""Every OCCI resource and COMPUTE state change over raw HTTP in upstream's XML, against the simulator;
bad bodies, unknown ids, other users' resources and wrong passwords get their status and change nothing."""

from __future__ import annotations

import socket
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from one_drivers.one.gateway import OneGateway
from tests.occi.conftest import PASSWORDS, OcciEnv

pytestmark = pytest.mark.slow


def xml(text: str) -> ET.Element:
    return ET.fromstring(text)


def compute_doc(env: OcciEnv, name: str = "vm1", itype: str = "small", extra: str = "") -> str:
    return (
        f"<COMPUTE><NAME>{name}</NAME><INSTANCE_TYPE>{itype}</INSTANCE_TYPE>"
        f'<DISK><STORAGE href="{env.url}/storage/{env.image}"/></DISK>'
        f'<NIC><NETWORK href="{env.url}/network/{env.network}"/></NIC>{extra}</COMPUTE>'
    )


def create_running(env: OcciEnv, name: str = "vm1") -> int:
    r = env.request("POST", "/compute", compute_doc(env, name))
    assert r.status == 201, r.text
    vm_id = int(xml(r.text).findtext("ID") or -1)
    env.deploy()
    return vm_id


def vm_count(env: OcciEnv) -> int:
    return len(env.oneadmin.vmpool_info(-2, -1, -1, -1))


def state_of(env: OcciEnv, vm_id: int) -> str:
    return env.oneadmin.vm_info(vm_id).state.name


def test_root_lists_the_collections(occi_env: OcciEnv) -> None:
    r = occi_env.request("GET", "/")
    assert r.status == 200 and r.headers["content-type"].startswith("application/xml")
    hrefs = [el.get("href") for el in xml(r.text)]
    assert hrefs == [
        f"{occi_env.url}/{k}" for k in ("compute", "instance_type", "network", "storage", "user")
    ]


def test_compute_create_show_list_delete(occi_env: OcciEnv) -> None:
    env = occi_env
    body = compute_doc(env, extra="<CONTEXT><HOSTNAME>web</HOSTNAME><FILES_DS>x</FILES_DS></CONTEXT>")
    r = env.request("POST", "/compute", body)
    assert r.status == 201, r.text
    doc = xml(r.text)
    vm_id = int(doc.findtext("ID") or -1)
    assert doc.get("href") == f"{env.url}/compute/{vm_id}"
    assert doc.findtext("NAME") == "vm1" and doc.findtext("STATE") == "PENDING"
    assert (doc.findtext("CPU"), doc.findtext("MEMORY")) == ("1", "1024")
    assert doc.find("INSTANCE_TYPE") is not None and doc.findtext("INSTANCE_TYPE") == "small"
    assert doc.find("DISK/STORAGE").get("href") == f"{env.url}/storage/{env.image}"  # type: ignore[union-attr]
    assert doc.findtext("NIC/IP") == "10.0.0.1" and doc.findtext("NIC/MAC")
    # A NIC may ask for its IP and MAC, as the COMPUTE document allows.
    nic = f'<NIC><NETWORK href="{env.url}/network/{env.network}"/><IP>10.0.0.7</IP><MAC>02:00:0a:00:00:07</MAC></NIC>'
    second = xml(
        env.request("POST", "/compute", compute_doc(env, "vm2").replace("<NIC>", nic + "<NIC>", 1)).text
    )
    first_nic = second.findall("NIC")[0]
    assert (first_nic.findtext("IP"), first_nic.findtext("MAC")) == (
        "10.0.0.7",
        "02:00:0a:00:00:07",
    )
    env.request("DELETE", f"/compute/{second.findtext('ID')}")
    assert doc.findtext("CONTEXT/HOSTNAME") == "web"
    assert doc.find("USER").get("name") == "alice"  # type: ignore[union-attr]
    env.deploy()
    shown = xml(env.request("GET", f"/compute/{vm_id}").text)
    assert shown.findtext("STATE") == "ACTIVE"
    listed = xml(env.request("GET", "/compute").text)
    assert [(c.get("href"), c.get("name")) for c in listed] == [(f"{env.url}/compute/{vm_id}", "vm1")]
    verbose = xml(env.request("GET", "/compute?verbose=true").text)
    assert verbose.tag == "COMPUTE_COLLECTION" and verbose.findtext("COMPUTE/STATE") == "ACTIVE"
    r = env.request("DELETE", f"/compute/{vm_id}")
    assert r.status == 204 and r.body == b""
    assert state_of(env, vm_id) == "DONE"


@pytest.mark.parametrize(
    ("wanted", "after"),
    [
        ("STOPPED", "STOPPED"),
        ("SUSPENDED", "SUSPENDED"),
        ("POWEROFF", "POWEROFF"),
        ("SHUTDOWN", "DONE"),
        ("CANCEL", "DONE"),
        ("DONE", "DONE"),
        ("REBOOT", "ACTIVE"),
        ("RESET", "ACTIVE"),
    ],
)
def test_state_changes_from_active(occi_env: OcciEnv, wanted: str, after: str) -> None:
    env = occi_env
    vm_id = create_running(env)
    r = env.request("PUT", f"/compute/{vm_id}", f"<COMPUTE><STATE>{wanted}</STATE></COMPUTE>")
    assert r.status == 202, r.text
    env.deploy()
    assert state_of(env, vm_id) == after
    if wanted in ("REBOOT", "RESET"):
        # oned's action numbers on the open history record: reboot 15, reboot-hard 16.
        history = env.oneadmin.vm_info(vm_id).history
        assert history[-1].action == {"REBOOT": 15, "RESET": 16}[wanted]


def test_resume_after_suspend_and_refused_changes(occi_env: OcciEnv) -> None:
    env = occi_env
    vm_id = create_running(env)
    assert (
        env.request("PUT", f"/compute/{vm_id}", "<COMPUTE><STATE>SUSPENDED</STATE></COMPUTE>").status == 202
    )
    env.deploy()
    # From SUSPENDED, only RESUME (and DONE) apply: the rest are 403 and change nothing.
    r = env.request("PUT", f"/compute/{vm_id}", "<COMPUTE><STATE>REBOOT</STATE></COMPUTE>")
    assert r.status == 403 and "cannot be changed from SUSPENDED to REBOOT" in r.text
    assert state_of(env, vm_id) == "SUSPENDED"
    # Asking for the state it is in is a no-op: 200.
    assert (
        env.request("PUT", f"/compute/{vm_id}", "<COMPUTE><STATE>SUSPENDED</STATE></COMPUTE>").status == 200
    )
    r = env.request("PUT", f"/compute/{vm_id}", "<COMPUTE><STATE>RESUME</STATE></COMPUTE>")
    assert r.status == 202
    env.deploy()
    assert state_of(env, vm_id) == "ACTIVE"
    r = env.request("PUT", f"/compute/{vm_id}", "<COMPUTE><STATE>FLYING</STATE></COMPUTE>")
    assert r.status == 400 and 'Invalid state: "FLYING"' in r.text
    assert state_of(env, vm_id) == "ACTIVE"


def test_disk_save_as(occi_env: OcciEnv) -> None:
    env = occi_env
    vm_id = create_running(env)
    images = len(env.oneadmin.imagepool_info(-2))
    body = '<COMPUTE><DISK id="0"><SAVE_AS name="golden"/></DISK></COMPUTE>'
    r = env.request("PUT", f"/compute/{vm_id}", body)
    assert r.status == 202, r.text
    pool = env.oneadmin.imagepool_info(-2)
    golden = max(pool, key=lambda image: image.id)
    assert len(pool) == images + 1 and golden.name == "golden" and golden.uname == "alice"
    two = '<COMPUTE><DISK id="0"><SAVE_AS name="a"/></DISK><DISK id="1"><SAVE_AS name="b"/></DISK></COMPUTE>'
    r = env.request("PUT", f"/compute/{vm_id}", two)
    assert r.status == 403 and "Only one disk" in r.text
    both = '<COMPUTE><STATE>STOPPED</STATE><DISK id="0"><SAVE_AS name="c"/></DISK></COMPUTE>'
    r = env.request("PUT", f"/compute/{vm_id}", both)
    assert r.status == 403 and "not allowed in the same request" in r.text
    assert len(env.oneadmin.imagepool_info(-2)) == images + 1
    assert state_of(env, vm_id) == "ACTIVE"


def test_attach_and_detach_disks_and_nics(occi_env: OcciEnv) -> None:
    env = occi_env
    vm_id = create_running(env)
    data = env.request(
        "POST",
        "/storage",
        "<STORAGE><NAME>data</NAME><TYPE>DATABLOCK</TYPE><SIZE>5</SIZE></STORAGE>",
        headers={"Content-Type": "application/xml"},
    )
    assert data.status == 201, data.text
    image_id = xml(data.text).findtext("ID")
    action = f'<ACTION><PERFORM>ATTACHDISK</PERFORM><PARAMS><STORAGE href="{env.url}/storage/{image_id}"/></PARAMS></ACTION>'
    r = env.request("POST", f"/compute/{vm_id}/action", action)
    assert r.status == 202, r.text
    env.deploy()
    disks = xml(env.request("GET", f"/compute/{vm_id}").text).findall("DISK")
    assert [d.find("STORAGE").get("href") for d in disks][-1] == f"{env.url}/storage/{image_id}"  # type: ignore[union-attr]
    disk_id = disks[-1].get("id")
    r = env.request(
        "POST",
        f"/compute/{vm_id}/action",
        f'<ACTION><PERFORM>DETACHDISK</PERFORM><PARAMS><DISK id="{disk_id}"/></PARAMS></ACTION>',
    )
    assert r.status == 202, r.text
    env.deploy()
    assert len(xml(env.request("GET", f"/compute/{vm_id}").text).findall("DISK")) == len(disks) - 1
    nic = f'<ACTION><PERFORM>ATTACHNIC</PERFORM><PARAMS><NETWORK href="{env.url}/network/{env.network}"/><IP>10.0.0.20</IP></PARAMS></ACTION>'
    r = env.request("POST", f"/compute/{vm_id}/action", nic)
    assert r.status == 202, r.text
    env.deploy()
    nics = xml(env.request("GET", f"/compute/{vm_id}").text).findall("NIC")
    assert [n.findtext("IP") for n in nics] == ["10.0.0.1", "10.0.0.20"]
    r = env.request(
        "POST",
        f"/compute/{vm_id}/action",
        f'<ACTION><PERFORM>DETACHNIC</PERFORM><PARAMS><NIC id="{nics[1].get("id")}"/></PARAMS></ACTION>',
    )
    assert r.status == 202, r.text
    env.deploy()
    assert [n.findtext("IP") for n in xml(env.request("GET", f"/compute/{vm_id}").text).findall("NIC")] == [
        "10.0.0.1"
    ]
    r = env.request("POST", f"/compute/{vm_id}/action", "<ACTION><PERFORM>EXPLODE</PERFORM></ACTION>")
    assert r.status == 403 and "not supported" in r.text
    r = env.request(
        "POST", f"/compute/{vm_id}/action", "<ACTION><PERFORM>ATTACHDISK</PERFORM><PARAMS/></ACTION>"
    )
    assert r.status == 400 and "STORAGE" in r.text


def test_network_lifecycle(occi_env: OcciEnv) -> None:
    env = occi_env
    # Regular users may not create networks in OpenNebula (no CREATE NET ACL): 403, nothing made.
    body = (
        "<NETWORK><NAME>lan</NAME><ADDRESS>192.168.1.0</ADDRESS><SIZE>10</SIZE><PUBLIC>YES</PUBLIC></NETWORK>"
    )
    before = len(env.oneadmin.vnpool_info(-2))
    r = env.request("POST", "/network", body)
    assert r.status == 403 and "CREATE NET" in r.text
    assert len(env.oneadmin.vnpool_info(-2)) == before
    r = env.request("POST", "/network", body, user="carol")
    assert r.status == 201, r.text
    doc = xml(r.text)
    net_id = doc.findtext("ID")
    assert (doc.findtext("NAME"), doc.findtext("ADDRESS"), doc.findtext("SIZE"), doc.findtext("PUBLIC")) == (
        "lan",
        "192.168.1.1",
        "10",
        "YES",
    )
    r = env.request("PUT", f"/network/{net_id}", "<NETWORK><PUBLIC>NO</PUBLIC></NETWORK>", user="carol")
    assert r.status == 202 and xml(r.text).findtext("PUBLIC") == "NO"
    listed = xml(env.request("GET", "/network", user="carol").text)
    assert f"{env.url}/network/{net_id}" in [n.get("href") for n in listed]
    assert env.request("DELETE", f"/network/{net_id}", user="carol").status == 204
    assert env.request("GET", f"/network/{net_id}", user="carol").status == 404


def test_storage_lifecycle(occi_env: OcciEnv) -> None:
    env = occi_env
    body = "<STORAGE><NAME>disk</NAME><TYPE>DATABLOCK</TYPE><SIZE>100</SIZE><FSTYPE>ext4</FSTYPE><PUBLIC>YES</PUBLIC></STORAGE>"
    r = env.request("POST", "/storage", body, headers={"Content-Type": "application/xml"})
    assert r.status == 201, r.text
    doc = xml(r.text)
    sid = doc.findtext("ID")
    assert (
        doc.findtext("TYPE"),
        doc.findtext("SIZE"),
        doc.findtext("PUBLIC"),
        doc.findtext("PERSISTENT"),
    ) == ("DATABLOCK", "100", "YES", "NO")
    r = env.request("PUT", f"/storage/{sid}", "<STORAGE><PERSISTENT>YES</PERSISTENT></STORAGE>")
    assert r.status == 202 and xml(r.text).findtext("PERSISTENT") == "YES"
    r = env.request(
        "PUT", f"/storage/{sid}", "<STORAGE><PERSISTENT>NO</PERSISTENT><PUBLIC>NO</PUBLIC></STORAGE>"
    )
    assert r.status == 400 and "more than one change" in r.text
    assert env.oneadmin.image_info(int(sid or -1)).persistent
    r = env.request(
        "POST",
        f"/storage/{sid}/action",
        "<ACTION><PERFORM>CLONE</PERFORM><PARAMS><NAME>copy</NAME></PARAMS></ACTION>",
    )
    assert r.status == 201 and xml(r.text).findtext("NAME") == "copy"
    assert env.request("DELETE", f"/storage/{sid}").status == 204
    assert env.request("GET", f"/storage/{sid}").status == 404


def test_storage_upload_is_streamed_to_tmpdir(occi_env: OcciEnv) -> None:
    env = occi_env
    payload = bytes(range(256)) * 4096  # 1 MiB
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="occixml"\r\n\r\n'
            "<STORAGE><NAME>uploaded</NAME><TYPE>OS</TYPE></STORAGE>\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="disk.img"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = env.request(
        "POST", "/storage", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status == 201, r.text
    image = env.oneadmin.image_info(int(xml(r.text).findtext("ID") or -1))
    assert image.name == "uploaded" and image.path.startswith(env.config.tmpdir)
    with open(image.path, "rb") as kept:
        assert kept.read() == payload
    # No occixml part: 400, and no image.
    count = len(env.oneadmin.imagepool_info(-2))
    bad = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n--{boundary}--\r\n'
    r = env.request(
        "POST", "/storage", bad, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status == 400 and "OCCI XML" in r.text
    assert len(env.oneadmin.imagepool_info(-2)) == count
    # A refused document with a file: 400, no image, and nothing of the upload left in tmpdir.
    refused = body.replace(b"<TYPE>OS</TYPE>", b"<TYPE>KERNEL</TYPE>")
    r = env.request(
        "POST", "/storage", refused, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status == 400 and "TYPE" in r.text
    assert len(env.oneadmin.imagepool_info(-2)) == count
    leftovers = [p.name for p in Path(env.config.tmpdir).iterdir() if p.name.startswith("occi-")]
    assert leftovers == [Path(image.path).name]


def test_users_and_instance_types(occi_env: OcciEnv) -> None:
    env = occi_env
    users = xml(env.request("GET", "/user").text)
    assert [u.get("name") for u in users] == ["alice"]  # a user sees their own account
    me = xml(env.request("GET", f"/user/{env.user_ids['alice']}").text)
    assert (
        me.findtext("NAME") == "alice" and me.findtext("GROUP") == "users" and me.find("VM_QUOTA") is not None
    )
    assert env.request("GET", f"/user/{env.user_ids['bob']}").status == 403
    types = xml(env.request("GET", "/instance_type?verbose=true").text)
    assert [(t.get("name"), t.findtext("CPU"), t.findtext("MEMORY")) for t in types] == [
        ("medium", "4", "4096"),
        ("small", "1", "1024"),
    ]
    assert xml(env.request("GET", "/instance_type/small").text).findtext("NAME") == "small"
    r = env.request("GET", "/instance_type/huge")
    assert r.status == 404 and "huge not found" in r.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "Missing COMPUTE"),
        ("<COMPUTE", "not well-formed"),
        ("<NETWORK/>", "Missing COMPUTE"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><COMPUTE/>', "DOCTYPE"),
        ("<COMPUTE><NAME>x</NAME></COMPUTE>", "Bad instance type"),
        ("<COMPUTE><INSTANCE_TYPE>huge</INSTANCE_TYPE></COMPUTE>", "Bad instance type"),
        (
            '<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE><DISK><STORAGE href="/storage/x"/></DISK></COMPUTE>',
            "numeric id",
        ),
        ("<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE><DISK/></COMPUTE>", "STORAGE href"),
        ("<COMPUTE><INSTANCE_TYPE>small</INSTANCE_TYPE><CONTEXT><A-B>1</A-B></CONTEXT></COMPUTE>", "CONTEXT"),
    ],
)
def test_bad_compute_bodies_change_nothing(occi_env: OcciEnv, body: str, message: str) -> None:
    r = occi_env.request("POST", "/compute", body)
    assert r.status == 400 and message in r.text, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert vm_count(occi_env) == 0


def test_unknown_ids_and_routes(occi_env: OcciEnv) -> None:
    env = occi_env
    for path in ("/compute/99", "/network/99", "/storage/99"):
        r = env.request("GET", path)
        assert r.status == 404 and "99" in r.text, (path, r.text)
        assert env.request("DELETE", path).status == 404
    assert env.request("PUT", "/compute/99", "<COMPUTE><STATE>STOPPED</STATE></COMPUTE>").status == 404
    assert env.request("GET", "/nowhere").status == 404
    assert env.request("DELETE", "/compute").status == 405
    assert env.request("POST", "/user", "<USER/>").status == 405


def test_other_users_resources_are_forbidden(occi_env: OcciEnv) -> None:
    env = occi_env
    vm_id = create_running(env)
    for method, body in (("GET", ""), ("PUT", "<COMPUTE><STATE>STOPPED</STATE></COMPUTE>"), ("DELETE", "")):
        r = env.request(method, f"/compute/{vm_id}", body, user="bob")
        assert r.status == 403 and "Not authorized" in r.text, (method, r.text)
    r = env.request(
        "POST",
        f"/compute/{vm_id}/action",
        '<ACTION><PERFORM>DETACHDISK</PERFORM><PARAMS><DISK id="0"/></PARAMS></ACTION>',
        user="bob",
    )
    assert r.status == 403
    assert state_of(env, vm_id) == "ACTIVE"
    assert xml(env.request("GET", "/compute", user="bob").text).findall("COMPUTE") == []


def test_authentication(occi_env: OcciEnv) -> None:
    env = occi_env
    assert env.request("GET", "/compute", user=None).status == 401
    wrong = env.request("GET", "/compute", headers={"Authorization": env.auth("alice", "nope")})
    assert wrong.status == 401 and "wrong user name or password" in wrong.text
    unknown = env.request("GET", "/compute", headers={"Authorization": env.auth("mallory", "x", plain=True)})
    assert unknown.status == 401
    # The plain password (upstream's --plain) is hashed by the server.
    plain = env.request("GET", "/compute", headers={"Authorization": env.auth("alice", plain=True)})
    assert plain.status == 200
    assert env.request("GET", "/compute", headers={"Authorization": "Basic !!!"}).status == 401
    # A failed create with a wrong password makes nothing.
    r = env.request(
        "POST", "/compute", compute_doc(env), headers={"Authorization": env.auth("alice", "nope")}
    )
    assert r.status == 401 and vm_count(env) == 0


def test_vm_templates_tagged_as_econe_types_are_instance_types(occi_env: OcciEnv) -> None:
    """INSTANCE_TYPE may name a VM template tagged EC2_INSTANCE_TYPE=<type> (econe's instance types):
    the compute is that template instantiated with the request's name, disks, NICs and context."""
    from one_drivers.one.template import build_template

    env = occi_env
    alice = OneGateway(env.sim.endpoint, f"alice:{PASSWORDS['alice']}")
    tid = int(
        alice.call(
            "one.template.allocate",
            build_template(
                [("NAME", "m1"), ("CPU", "0.5"), ("MEMORY", "512"), ("EC2_INSTANCE_TYPE", "m1.small")]
            ),
        )
    )
    types = xml(env.request("GET", "/instance_type?verbose=true").text)
    assert [(t.get("name"), t.findtext("MEMORY")) for t in types] == [
        ("m1.small", "512"),
        ("medium", "4096"),
        ("small", "1024"),
    ]
    assert [t.get("name") for t in xml(env.request("GET", "/instance_type", user="bob").text)] == [
        "medium",
        "small",
    ]
    r = env.request("POST", "/compute", compute_doc(env, "from-template", "m1.small"))
    assert r.status == 201, r.text
    vm = env.oneadmin.vm_info(int(xml(r.text).findtext("ID") or -1))
    assert (vm.name, vm.template_value("MEMORY"), vm.template_value("TEMPLATE_ID")) == (
        "from-template",
        "512",
        str(tid),
    )
    assert vm.user_values.get("INSTANCE_TYPE") == "m1.small"
    assert [d.get("IMAGE_ID") for d in vm.template_vectors("DISK")] == [str(env.image)]
    # bob may not use alice's template: for him the type does not exist.
    r = env.request("POST", "/compute", compute_doc(env, "x", "m1.small"), user="bob")
    assert r.status == 400 and "Bad instance type 'm1.small'" in r.text


def test_a_refused_document_is_read_before_the_413(occi_env: OcciEnv) -> None:
    """A client still sending a too-large document gets the 413, not a reset: the server reads the
    body before it answers and closes (a pause mid-body gives a server that does not the time to close)."""
    env = occi_env
    url = urllib.parse.urlsplit(env.url)
    size = 2 * 1024 * 1024
    head = (
        f"POST /compute HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: {env.auth()}\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {size}\r\n\r\n"
    )
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30) as conn:
        conn.sendall(head.encode() + b"x" * (size // 2))
        time.sleep(0.3)
        conn.sendall(b"x" * (size - size // 2))
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
            if b"at most" in answer:
                break
    assert answer.startswith(b"HTTP/1.1 413 ") and b"at most" in answer


def test_too_large_bodies(tmp_path: Path) -> None:
    from tests.occi.conftest import start_occi_env, stop_occi_env

    sim, env = start_occi_env(tmp_path, max_upload_bytes=64 * 1024)
    try:
        big = "<COMPUTE><NAME>" + "x" * (1024 * 1024 + 1) + "</NAME></COMPUTE>"
        r = env.request("POST", "/compute", big)
        assert r.status == 413 and "at most" in r.text
        boundary = "B"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="occixml"\r\n\r\n'
                "<STORAGE><NAME>big</NAME></STORAGE>\r\n"
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.img"\r\n\r\n'
            ).encode()
            + b"\0" * (128 * 1024)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = env.request(
            "POST", "/storage", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert r.status == 413 and "exceeds" in r.text
        assert len(env.oneadmin.imagepool_info(-2)) == 1
        assert vm_count(env) == 0
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("occi-")] == []
    finally:
        stop_occi_env(sim, env)


def test_head_is_get_without_a_body(occi_env: OcciEnv) -> None:
    env = occi_env
    got = env.request("GET", "/instance_type")
    head = env.request("HEAD", "/instance_type")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(got.body))
    assert env.request("HEAD", "/compute").status == 200
    assert vm_count(env) == 0  # a HEAD on a collection never creates
