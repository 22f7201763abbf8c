"""The occi-* commands against the server and the simulator: upstream's subcommands, options and
environment (ONE_AUTH, OCCI_URL), indented XML out, errors with exit status 255, a progress bar."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from one_drivers.occi_tools.commands import occi_compute, occi_instance_type, occi_network, occi_storage
from tests.occi.conftest import PASSWORDS, OcciEnv

pytestmark = pytest.mark.slow


def run(env: OcciEnv, command: Any, *args: str, user: str = "alice", ok: bool = True) -> Any:
    result = CliRunner().invoke(
        command, [*args, "-R", env.url, "-U", user, "-P", PASSWORDS[user]], catch_exceptions=False
    )
    if ok:
        assert result.exit_code == 0, result.output
    return result


def compute_file(env: OcciEnv, tmp_path: Path, name: str = "web") -> str:
    path = tmp_path / f"{name}.xml"
    path.write_text(
        f"<COMPUTE><NAME>{name}</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE>"
        f'<DISK><STORAGE href="{env.url}/storage/{env.image}"/></DISK>'
        f'<NIC><NETWORK href="{env.url}/network/{env.network}"/></NIC></COMPUTE>'
    )
    return str(path)


def test_compute_commands(occi_env: OcciEnv, tmp_path: Path) -> None:
    env = occi_env
    out = run(env, occi_compute, "create", compute_file(env, tmp_path)).output
    vm_id = int(ET.fromstring(out).findtext("ID") or -1)
    assert "\n  <NAME>web</NAME>" in out  # indented, as upstream's print_xml
    env.deploy()
    listed = ET.fromstring(run(env, occi_compute, "list").output)
    assert [c.get("name") for c in listed] == ["web"]
    verbose = ET.fromstring(run(env, occi_compute, "list", "--verbose").output)
    assert verbose.findtext("COMPUTE/STATE") == "ACTIVE"
    assert ET.fromstring(run(env, occi_compute, "show", str(vm_id)).output).findtext("STATE") == "ACTIVE"
    # update: the file's ID names the compute, as upstream's client read it.
    update = tmp_path / "stop.xml"
    update.write_text(f"<COMPUTE><ID>{vm_id}</ID><STATE>STOPPED</STATE></COMPUTE>")
    run(env, occi_compute, "update", str(update))
    env.deploy()
    assert env.oneadmin.vm_info(vm_id).state.name == "STOPPED"
    run(env, occi_compute, "resume", str(vm_id))
    env.deploy()
    assert env.oneadmin.vm_info(vm_id).state.name == "ACTIVE"
    data = tmp_path / "data.xml"
    data.write_text("<STORAGE><NAME>data</NAME><TYPE>DATABLOCK</TYPE><SIZE>5</SIZE></STORAGE>")
    image_id = ET.fromstring(run(env, occi_storage, "create", str(data)).output).findtext("ID") or ""
    run(env, occi_compute, "attachdisk", str(vm_id), image_id)
    env.deploy()
    disks = ET.fromstring(run(env, occi_compute, "show", str(vm_id)).output).findall("DISK")
    assert disks[-1].find("STORAGE").get("href", "").endswith(f"/storage/{image_id}")  # type: ignore[union-attr]
    run(env, occi_compute, "detachdisk", str(vm_id), disks[-1].get("id") or "")
    run(env, occi_compute, "attachnic", str(vm_id), str(env.network), "10.0.0.30")
    env.deploy()
    nics = ET.fromstring(run(env, occi_compute, "show", str(vm_id)).output).findall("NIC")
    assert [n.findtext("IP") for n in nics] == ["10.0.0.1", "10.0.0.30"]
    run(env, occi_compute, "detachnic", str(vm_id), nics[1].get("id") or "")
    run(env, occi_compute, "saveas", str(vm_id), "0", "snapshot-image")
    run(env, occi_compute, "delete", str(vm_id))
    assert env.oneadmin.vm_info(vm_id).state.name == "DONE"


def test_errors_exit_255_with_the_message(occi_env: OcciEnv, tmp_path: Path) -> None:
    env = occi_env
    missing = run(env, occi_compute, "show", "99", ok=False)
    assert missing.exit_code == 255 and "[404]" in missing.output
    assert run(env, occi_compute, "create", str(tmp_path / "nope.xml"), ok=False).exit_code == 255
    assert "not valid" in run(env, occi_compute, "fly", ok=False).output
    wrong = CliRunner().invoke(occi_compute, ["list", "-R", env.url, "-U", "alice", "-P", "bad"])
    assert wrong.exit_code == 255 and "[401]" in wrong.output


def test_network_and_instance_type_commands(occi_env: OcciEnv, tmp_path: Path) -> None:
    env = occi_env
    net = tmp_path / "net.xml"
    net.write_text("<NETWORK><NAME>lan</NAME><ADDRESS>192.168.7.0</ADDRESS><SIZE>20</SIZE></NETWORK>")
    created = ET.fromstring(run(env, occi_network, "create", str(net), user="carol").output)
    net_id = created.findtext("ID") or ""
    assert created.findtext("PUBLIC") == "NO"
    assert (
        ET.fromstring(run(env, occi_network, "publish", net_id, user="carol").output).findtext("PUBLIC")
        == "YES"
    )
    assert ET.fromstring(run(env, occi_network, "show", net_id, user="carol").output).findtext("SIZE") == "20"
    run(env, occi_network, "delete", net_id, user="carol")
    types = ET.fromstring(run(env, occi_instance_type, "list", "--verbose").output)
    assert [t.get("name") for t in types] == ["medium", "small"]


def test_storage_upload_with_progress_bar(occi_env: OcciEnv, tmp_path: Path) -> None:
    env = occi_env
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(3 * 1024 * 1024))
    doc = tmp_path / "image.xml"
    # Upstream's documents name the file in URL (file:// or a path).
    doc.write_text(f"<STORAGE><NAME>tty</NAME><TYPE>OS</TYPE><URL>file://{image}</URL></STORAGE>")
    result = run(env, occi_storage, "create", str(doc))
    created = ET.fromstring(result.stdout)
    assert "100%" in result.stderr and "3.0/3.0 MB" in result.stderr
    record = env.oneadmin.image_info(int(created.findtext("ID") or -1))
    assert Path(record.path).read_bytes() == image.read_bytes()
    sid = created.findtext("ID") or ""
    assert ET.fromstring(run(env, occi_storage, "persistent", sid).output).findtext("PERSISTENT") == "YES"
    assert ET.fromstring(run(env, occi_storage, "publish", sid).output).findtext("PUBLIC") == "YES"
    clone = ET.fromstring(run(env, occi_storage, "clone", sid, "copy").output)
    assert clone.findtext("NAME") == "copy"
    plain = tmp_path / "plain.xml"
    plain.write_text("<STORAGE><NAME>second</NAME><TYPE>CDROM</TYPE></STORAGE>")
    quiet = run(env, occi_storage, "upload", str(plain), str(image), "-q")
    assert quiet.stderr == "" and ET.fromstring(quiet.stdout).findtext("TYPE") == "CDROM"
    run(env, occi_storage, "delete", clone.findtext("ID") or "")


def test_renderings_option(occi_env: OcciEnv, tmp_path: Path) -> None:
    env = occi_env
    run(env, occi_compute, "create", compute_file(env, tmp_path))
    text = run(env, occi_compute, "list", "--accept", "text").output
    assert text.strip() == f"X-OCCI-Location: {env.url}/compute/0"
    shown = run(env, occi_compute, "show", "0", "--accept", "json").output
    assert '"kind": "http://schemas.ogf.org/occi/infrastructure#compute"' in shown


def test_console_scripts_read_one_auth_and_occi_url(occi_env: OcciEnv, tmp_path: Path) -> None:
    """The installed command as a script runs it: credentials from $ONE_AUTH, endpoint from $OCCI_URL."""
    env = occi_env
    auth = tmp_path / "one_auth"
    auth.write_text(f"alice:{PASSWORDS['alice']}\n")
    environ = {**os.environ, "ONE_AUTH": str(auth), "OCCI_URL": env.url}
    script = Path(sys.executable).parent / "occi-instance-type"
    done = subprocess.run([str(script), "list"], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [t.get("name") for t in ET.fromstring(done.stdout)] == ["medium", "small"]
    auth.write_text("alice:wrong\n")
    done = subprocess.run([str(script), "list"], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 255 and "401" in done.stderr
