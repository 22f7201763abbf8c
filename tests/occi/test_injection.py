"""Template injection: every user-controlled value (names, descriptions, CONTEXT values, SAVE_AS and
clone names, OGF titles) reaches oned as one escaped value; what no template can carry is a 400 that
creates nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest

from tests.occi.conftest import OcciEnv

pytestmark = pytest.mark.slow

HOSTILE = 'evil" CPU = "99" MEMORY = "1\nNIC = [ NETWORK_ID = "0" ]'


def compute(env: OcciEnv, name: str, context: str = "") -> str:
    return (
        f"<COMPUTE><NAME>{escape(name)}</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f'<DISK><STORAGE href="{env.url}/storage/{env.image}"/></DISK><CONTEXT>{context}</CONTEXT></COMPUTE>'
    )


def test_compute_name_and_context_values(occi_env: OcciEnv) -> None:
    env = occi_env
    # oned refuses a quote or a line break in a VM's name (VirtualMachine::insert): a 400, no VM
    r = env.request("POST", "/compute", compute(env, HOSTILE))
    assert r.status == 400 and "Invalid NAME" in r.text, r.text
    assert env.oneadmin.vmpool_info(-2) == []
    name = "evil ] CPU = [ 99, MEMORY = 1"
    r = env.request("POST", "/compute", compute(env, name, f"<NOTE>{escape(HOSTILE)}</NOTE>"))
    assert r.status == 201, r.text
    vm = env.oneadmin.vm_info(int(ET.fromstring(r.text).findtext("ID") or -1))
    assert vm.name == name
    assert vm.template_value("CPU") == "1" and vm.template_value("MEMORY") == "1024"
    assert vm.template.vectors("NIC") == []
    assert vm.template.vectors("CONTEXT")[0]["NOTE"] == HOSTILE


@pytest.mark.parametrize("value", ["ends with a backslash\\", "cdata ]]> end"])
def test_values_no_template_can_carry(occi_env: OcciEnv, value: str) -> None:
    env = occi_env
    for body in (compute(env, value), compute(env, "ok", f"<NOTE>{escape(value)}</NOTE>")):
        r = env.request("POST", "/compute", body)
        assert r.status == 400 and "cannot be stored" in r.text, r.text
    r = env.request(
        "POST",
        "/storage",
        f"<STORAGE><NAME>{escape(value)}</NAME><TYPE>DATABLOCK</TYPE><SIZE>1</SIZE></STORAGE>",
        headers={"Content-Type": "application/xml"},
    )
    assert r.status == 400
    assert env.oneadmin.vmpool_info(-2) == []
    assert len(env.oneadmin.imagepool_info(-2)) == 1


def test_save_as_and_clone_names(occi_env: OcciEnv) -> None:
    env = occi_env
    r = env.request("POST", "/compute", compute(env, "vm"))
    vm_id = ET.fromstring(r.text).findtext("ID")
    env.deploy()
    images = len(env.oneadmin.imagepool_info(-2))

    def save_as(name: str) -> int:
        body = f'<COMPUTE><DISK id="0"><SAVE_AS name="{escape(name, {chr(34): "&quot;"})}"/></DISK></COMPUTE>'
        return env.request("PUT", f"/compute/{vm_id}", body).status

    # oned refuses a quote in any object name (PoolObjectSQL::name_is_valid): a 400, no image
    assert save_as('img" PATH = "/etc/shadow') == 400
    assert len(env.oneadmin.imagepool_info(-2)) == images
    # what a name may hold of template syntax arrives as one value
    name = "img ] PATH = [ x, y"
    assert save_as(name) == 202
    saved = max(env.oneadmin.imagepool_info(-2), key=lambda i: i.id)
    assert saved.name == name and saved.path == ""
    bad = '<COMPUTE><DISK id="0"><SAVE_AS name="x\\"/></DISK></COMPUTE>'
    r = env.request("PUT", f"/compute/{vm_id}", bad)
    assert r.status == 400 and "SAVE_AS" in r.text
    clone = f"<ACTION><PERFORM>CLONE</PERFORM><PARAMS><NAME>{escape(name)}</NAME></PARAMS></ACTION>"
    r = env.request("POST", f"/storage/{saved.id}/action", clone.replace(name, escape(name) + "2"))
    assert r.status == 201 and ET.fromstring(r.text).findtext("NAME") == name + "2"


def test_network_and_storage_fields(occi_env: OcciEnv) -> None:
    env = occi_env
    hostile = 'lan" VN_MAD = "ovswitch'
    r = env.request(
        "POST",
        "/network",
        f"<NETWORK><NAME>{escape(hostile)}</NAME><ADDRESS>10.9.0.0</ADDRESS><DESCRIPTION>{escape(HOSTILE)}</DESCRIPTION></NETWORK>",
        user="carol",
    )
    assert r.status == 201, r.text
    vnet = max(env.oneadmin.vnpool_info(-2), key=lambda v: v.id)
    assert vnet.name == hostile and vnet.vn_mad != "ovswitch" and vnet.template.get("DESCRIPTION") == HOSTILE
    r = env.request(
        "POST", "/network", "<NETWORK><NAME>x</NAME><ADDRESS>10.0.0.0 ]</ADDRESS></NETWORK>", user="carol"
    )
    assert r.status == 400 and "IPv4" in r.text
    r = env.request(
        "POST",
        "/network",
        "<NETWORK><NAME>x</NAME><ADDRESS>10.0.0.0</ADDRESS><SIZE>1, TYPE=ETHER</SIZE></NETWORK>",
        user="carol",
    )
    assert r.status == 400 and "SIZE" in r.text
    images = len(env.oneadmin.imagepool_info(-2))

    def storage(name: str) -> int:
        body = f"<STORAGE><NAME>{escape(name)}</NAME><TYPE>DATABLOCK</TYPE><SIZE>1</SIZE><FSTYPE>{escape(HOSTILE)}</FSTYPE></STORAGE>"
        return env.request("POST", "/storage", body, headers={"Content-Type": "application/xml"}).status

    # oned refuses a quote in an image name (ImagePool::allocate, name_is_valid): a 400, no image
    assert storage(hostile) == 400
    assert len(env.oneadmin.imagepool_info(-2)) == images
    assert storage("disk ] TYPE = [ KERNEL, x") == 201
    image = max(env.oneadmin.imagepool_info(-2), key=lambda i: i.id)
    assert image.name == "disk ] TYPE = [ KERNEL, x" and image.type_name == "DATABLOCK" and image.size == 1
    assert image.template.get("FSTYPE") == HOSTILE
    for field, value in (("TYPE", "KERNEL"), ("SIZE", "1 PATH=/x"), ("PERSISTENT", "MAYBE")):
        fields = {"NAME": "n", "TYPE": "DATABLOCK", "SIZE": "1", field: value}
        body = "<STORAGE>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</STORAGE>"
        r = env.request("POST", "/storage", body, headers={"Content-Type": "application/xml"})
        assert r.status == 400 and field in r.text, (field, r.text)


def test_ogf_title(occi_env: OcciEnv) -> None:
    env = occi_env

    def create(title: str) -> tuple[int, str]:
        body = (
            'Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"\n'
            'Category: small; scheme="http://opennebula.org/occi/infrastructure/instance_type#"; class="mixin"\n'
            f'X-OCCI-Attribute: occi.core.title="{title}"\n'
        )
        r = env.request(
            "POST", "/compute", body, headers={"Content-Type": "text/plain", "Accept": "text/plain"}
        )
        return r.status, r.text

    # the escaped quote reaches oned as a quote in the name, which oned refuses (400, no VM)
    status, text = create(HOSTILE.replace("\n", " ").replace('"', '\\"'))
    assert status == 400 and "Invalid NAME, char '\"'" in text, text
    assert env.oneadmin.vmpool_info(-2) == []
    status, text = create("evil ] CPU = [ 99, MEMORY = 1")
    assert status == 201, text
    (vm,) = env.oneadmin.vmpool_info(-2)
    assert vm.name == "evil ] CPU = [ 99, MEMORY = 1" and vm.template_value("CPU") == "1"
