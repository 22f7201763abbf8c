"""OGF OCCI 1.2 renderings on the same resources: text/plain and JSON chosen by Accept, bodies by
Content-Type (text/plain, text/occi headers, JSON); kinds, instance-type mixins, links, actions, the
query interface; every OpenNebula state has an OGF compute state."""

from __future__ import annotations

import json

import pytest

from one_drivers.occi import errors, ogf
from one_drivers.one.states import LcmState, VmState
from tests.occi.conftest import OcciEnv

TEXT = {"Accept": "text/plain", "Content-Type": "text/plain"}
JSON = {"Accept": "application/occi+json", "Content-Type": "application/occi+json"}
INFRA = "http://schemas.ogf.org/occi/infrastructure#"


def test_every_vm_state_has_an_ogf_state() -> None:
    assert set(ogf.COMPUTE_STATES) == set(VmState)
    assert set(ogf.COMPUTE_STATES.values()) <= {"active", "inactive", "suspended", "error"}


def test_accept_negotiation() -> None:
    assert ogf.choose({}, "") == "xml"
    assert ogf.choose({"HTTP_ACCEPT": "text/plain"}, "") == "text"
    assert ogf.choose({"HTTP_ACCEPT": "application/json;q=0.5, text/uri-list"}, "") == "uri"
    assert ogf.choose({"HTTP_ACCEPT": "text/html, */*;q=0.1"}, "") == "xml"
    assert ogf.choose({}, "application/occi+json") == "json"
    with pytest.raises(errors.NotAcceptable):
        ogf.choose({"HTTP_ACCEPT": "image/png"}, "")


def text_body(env: OcciEnv, title: str = "ogf-vm") -> str:
    return (
        f'Category: compute; scheme="{INFRA}"; class="kind"\n'
        'Category: small; scheme="http://opennebula.org/occi/infrastructure/instance_type#"; class="mixin"\n'
        f'X-OCCI-Attribute: occi.core.title="{title}"\n'
        'X-OCCI-Attribute: occi.compute.userdata="echo hi"\n'
        f'Link: <{env.url}/storage/{env.image}>; rel="{INFRA}storage"; category="{INFRA}storagelink"\n'
        f'Link: <{env.url}/network/{env.network}>; rel="{INFRA}network"; category="{INFRA}networkinterface"\n'
    )


@pytest.mark.slow
def test_text_plain_round_trip_and_actions(occi_env: OcciEnv) -> None:
    env = occi_env
    r = env.request("POST", "/compute", text_body(env), headers=TEXT)
    assert r.status == 201 and r.headers["content-type"].startswith("text/plain"), r.text
    assert f'Category: compute; scheme="{INFRA}"; class="kind"' in r.text
    assert 'X-OCCI-Attribute: occi.core.title="ogf-vm"' in r.text
    assert 'X-OCCI-Attribute: occi.compute.state="inactive"' in r.text
    vm = env.oneadmin.vm_info(0)
    assert vm.template.vectors("CONTEXT")[0]["USER_DATA"] == "echo hi"
    env.deploy()
    shown = env.request("GET", "/compute/0", headers=TEXT).text
    assert 'occi.compute.state="active"' in shown and "occi.compute.cores=1" in shown
    assert f"Link: <{env.url}/compute/0?action=stop>" in shown
    assert f"Link: <{env.url}/storage/{env.image}>" in shown
    listed = env.request("GET", "/compute", headers=TEXT).text
    assert listed == f"X-OCCI-Location: {env.url}/compute/0\n"
    stop = f'Category: stop; scheme="{ogf.COMPUTE_ACTION}"; class="action"\n'
    r = env.request("POST", "/compute/0?action=stop", stop, headers=TEXT)
    assert r.status == 200, r.text
    env.deploy()
    assert env.oneadmin.vm_info(0).state == VmState.POWEROFF
    # start from POWEROFF; stop again is refused with 409 and changes nothing.
    r = env.request("POST", "/compute/0?action=stop", "", headers=TEXT)
    assert r.status == 409 and "not available in state POWEROFF" in r.text
    r = env.request("POST", "/compute/0?action=start", "", headers=TEXT)
    assert r.status == 200
    env.deploy()
    assert env.oneadmin.vm_info(0).state == VmState.ACTIVE
    restart = json.dumps({"action": ogf.COMPUTE_ACTION + "restart", "attributes": {"method": "cold"}})
    r = env.request("POST", "/compute/0?action=restart", restart, headers=JSON)
    assert r.status == 200, r.text
    assert env.oneadmin.vm_info(0).history[-1].action == 16  # reboot-hard
    r = env.request("POST", "/compute/0?action=fly", "", headers=TEXT)
    assert r.status == 400 and "Unknown action" in r.text
    r = env.request(
        "POST", "/compute/0?action=restart", json.dumps({"attributes": {"method": "sideways"}}), headers=JSON
    )
    assert r.status == 400
    suspend = env.request("POST", "/compute/0?action=suspend", "", headers=TEXT)
    assert suspend.status == 200
    env.deploy()
    assert 'occi.compute.state="suspended"' in env.request("GET", "/compute/0", headers=TEXT).text


@pytest.mark.slow
def test_text_occi_headers_create(occi_env: OcciEnv) -> None:
    env = occi_env
    headers = {
        "Content-Type": "text/occi",
        "Accept": "text/plain",
        "Category": f'compute; scheme="{INFRA}"; class="kind", small; scheme="http://opennebula.org/occi/infrastructure/instance_type#"; class="mixin"',
        "X-OCCI-Attribute": 'occi.core.title="from-headers"',
    }
    r = env.request("POST", "/compute", "", headers=headers)
    assert r.status == 201, r.text
    assert env.oneadmin.vm_info(0).name == "from-headers"


@pytest.mark.slow
def test_json_renderings(occi_env: OcciEnv) -> None:
    env = occi_env
    body = {
        "kind": INFRA + "compute",
        "mixins": ["http://opennebula.org/occi/infrastructure/instance_type#medium"],
        "attributes": {"occi.core.title": "json-vm", "occi.credentials.ssh.publickey": "ssh-ed25519 AAAA k"},
        "links": [
            {
                "kind": INFRA + "networkinterface",
                "target": {"location": f"/network/{env.network}"},
                "attributes": {"occi.networkinterface.address": "10.0.0.9"},
            }
        ],
    }
    r = env.request("POST", "/compute", json.dumps(body), headers=JSON)
    assert r.status == 201, r.text
    doc = json.loads(r.text)
    assert doc["kind"] == INFRA + "compute" and doc["attributes"]["occi.core.title"] == "json-vm"
    assert doc["mixins"] == ["http://opennebula.org/occi/infrastructure/instance_type#medium"]
    assert doc["attributes"]["occi.compute.cores"] == 4 and doc["attributes"]["occi.compute.memory"] == 4.0
    nic = doc["links"][0]
    assert nic["target"]["location"] == f"{env.url}/network/{env.network}"
    assert nic["attributes"]["occi.networkinterface.address"] == "10.0.0.9"
    listed = json.loads(env.request("GET", "/compute?verbose=true", headers=JSON).text)
    assert [e["title"] for e in listed["resources"]] == ["json-vm"]
    net = json.loads(env.request("GET", f"/network/{env.network}", headers=JSON).text)
    assert net["attributes"]["occi.network.address"] == "10.0.0.0/26" and INFRA + "ipnetwork" in net["mixins"]
    store = json.loads(env.request("GET", f"/storage/{env.image}", headers=JSON).text)
    assert store["kind"] == INFRA + "storage" and store["attributes"]["occi.storage.state"] == "online"
    made = env.request(
        "POST",
        "/storage",
        json.dumps(
            {"kind": INFRA + "storage", "attributes": {"occi.core.title": "vol", "occi.storage.size": 2}}
        ),
        headers=JSON,
    )
    assert made.status == 201 and json.loads(made.text)["attributes"]["occi.storage.size"] == 2.0
    query = json.loads(env.request("GET", "/-/", headers=JSON).text)
    assert {k["term"] for k in query["kinds"]} >= {"compute", "network", "storage"}
    assert {m["term"] for m in query["mixins"]} >= {"small", "medium", "resource_tpl"}
    assert [a["term"] for a in query["actions"]] == ["start", "stop", "restart", "suspend"]
    text_query = env.request("GET", "/-/", headers=TEXT).text
    assert (
        'Category: small; scheme="http://opennebula.org/occi/infrastructure/instance_type#"; class="mixin"'
        in text_query
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ("{", JSON, "not JSON"),
        ("[]", JSON, "is an object"),
        (json.dumps({"kind": INFRA + "storage"}), JSON, "must be of kind"),
        (json.dumps({"kind": INFRA + "compute", "mixins": "small"}), JSON, "mixins"),
        ("Category compute", TEXT, "Not an OCCI text line"),
        ("Bogus: x", TEXT, "Unknown OCCI text"),
        (f'Category: compute; scheme="{INFRA}"\nLink: <http://x/elsewhere/1>', TEXT, "links to /storage"),
    ],
)
def test_bad_ogf_bodies_change_nothing(
    occi_env: OcciEnv, body: str, headers: dict[str, str], message: str
) -> None:
    r = occi_env.request("POST", "/compute", body, headers=headers)
    assert r.status == 400 and message in r.text, r.text
    assert occi_env.oneadmin.vmpool_info(-2) == []


@pytest.mark.slow
def test_xml_only_resources_refuse_ogf(occi_env: OcciEnv) -> None:
    r = occi_env.request("GET", "/user", headers={"Accept": "application/occi+json"})
    assert r.status == 406
    assert occi_env.request("GET", "/compute", headers={"Accept": "image/png"}).status == 406


def test_failed_lcm_states_are_errors() -> None:
    failed = [s for s in LcmState if "FAILURE" in s.name]
    assert failed and all(s in ogf._FAILED_LCM for s in failed)


@pytest.mark.slow
def test_network_and_storage_in_ogf(occi_env: OcciEnv) -> None:
    env = occi_env
    body = (
        f'Category: network; scheme="{INFRA}"; class="kind"\n'
        f'Category: ipnetwork; scheme="{INFRA}"; class="mixin"\n'
        'X-OCCI-Attribute: occi.core.title="ogf-lan"\n'
        'X-OCCI-Attribute: occi.network.address="192.168.50.0/28"\n'
        'X-OCCI-Attribute: occi.core.summary="made in OGF"\n'
    )
    r = env.request("POST", "/network", body, headers=TEXT, user="carol")
    assert r.status == 201, r.text
    assert 'occi.network.address="192.168.50.0/28"' in r.text and 'occi.core.summary="made in OGF"' in r.text
    net_id = next(line.split('"')[1] for line in r.text.splitlines() if "occi.core.id" in line)
    public = 'X-OCCI-Attribute: org.opennebula.network.public="YES"\n'
    r = env.request("PUT", f"/network/{net_id}", public, headers=TEXT, user="carol")
    assert r.status == 202 and 'org.opennebula.network.public="YES"' in r.text
    assert env.request("DELETE", f"/network/{net_id}", headers=TEXT, user="carol").status == 204
    made = env.request(
        "POST",
        "/storage",
        f'Category: storage; scheme="{INFRA}"; class="kind"\nX-OCCI-Attribute: occi.core.title="vol"\n'
        "X-OCCI-Attribute: occi.storage.size=0.5\n",
        headers=TEXT,
    )
    assert made.status == 201 and "occi.storage.size=0.5" in made.text, made.text
    sid = next(line.split('"')[1] for line in made.text.splitlines() if "occi.core.id" in line)
    r = env.request(
        "PUT",
        f"/storage/{sid}",
        json.dumps({"attributes": {"org.opennebula.storage.persistent": "yes"}}),
        headers=JSON,
    )
    assert r.status == 202 and json.loads(r.text)["attributes"]["org.opennebula.storage.persistent"] == "YES"
    uris = env.request("GET", "/storage", headers={"Accept": "text/uri-list"})
    assert uris.headers["content-type"].startswith("text/uri-list")
    assert f"{env.url}/storage/{sid}\n" in uris.text
    assert env.request("DELETE", f"/storage/{sid}", headers=JSON).status == 204


@pytest.mark.slow
def test_text_occi_answers_in_headers(occi_env: OcciEnv) -> None:
    env = occi_env
    r = env.request(
        "POST",
        "/compute",
        text_body(env, "hdr"),
        headers={"Content-Type": "text/plain", "Accept": "text/occi"},
    )
    assert r.status == 201 and r.body == b"" and r.headers["content-type"].startswith("text/occi")
    assert r.headers["category"].startswith(f'compute; scheme="{INFRA}"; class="kind", small;')
    assert 'occi.core.title="hdr"' in r.headers["x-occi-attribute"]
    listed = env.request("GET", "/compute", headers={"Accept": "text/occi"})
    assert listed.headers["x-occi-location"] == f"{env.url}/compute/0" and listed.body == b""
