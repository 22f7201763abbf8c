"""occi-server.conf in both upstream formats, read unchanged; unknown keys warned about; instance types
from their template files; what the server cannot do refused at start with the reason."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from one_drivers.occi.config import (
    ConfigError,
    check_config,
    is_shell_config,
    load_config,
    parse_shell_config,
)

UPSTREAM_20 = """# OpenNebula server contact information
ONE_XMLRPC=http://localhost:2633/RPC2

# Host and port where the occi server will run
SERVER=cloud.opennebula.org
PORT=4567

# SSL proxy that serves the API (set if is being used)
#SSL_SERVER=https://localhost:443

# Configuration for OpenNebula's Virtual Networks
BRIDGE=eth0

# VM types allowed and its template file (inside templates directory)
VM_TYPE=[NAME=small,  TEMPLATE=small.erb]
VM_TYPE=[NAME=medium, TEMPLATE=medium.erb]
VM_TYPE=[NAME=large,  TEMPLATE=large.erb]
"""

UPSTREAM_46 = """#############################################################
# Server configuration
#############################################################
:tmpdir: /var/tmp
:one_xmlrpc: http://localhost:2633/RPC2
:host: 127.0.0.1
:port: 4567
#:ssl_server: fqdm.of.the.server
:auth: occi
:core_auth: cipher
:debug_level: 3
#:cluster_id:
#:datastore_id:
:instance_types:
  :small:
    :template: small.erb
    :cpu: 1
    :memory: 1024
  :medium:
    :template: medium.erb
    :cpu: 4
    :memory: 4096
"""

SMALL_ERB = """#
#  Virtual Machine Template generated for small instance types. Adjust this
#  by setting the desired capacity (CPU,MEMORY) or adding specific
#  attributes for your cloud (e.g. OS).
#

CPU    = 1
MEMORY = 1024
"""


def templates(tmp_path: Path) -> Path:
    location = tmp_path / "occi_templates"
    location.mkdir()
    (location / "small.erb").write_text(SMALL_ERB)
    (location / "medium.erb").write_text('CPU = 4\nMEMORY = 4096\nOS = [ ARCH = "x86_64" ]\n')
    (location / "large.erb").write_text("CPU = 8\nMEMORY = 8192\n")
    return location


def test_the_20_file_unchanged(tmp_path: Path) -> None:
    templates(tmp_path)
    path = tmp_path / "occi-server.conf"
    path.write_text(UPSTREAM_20)
    assert is_shell_config(UPSTREAM_20) and not is_shell_config(UPSTREAM_46)
    config = load_config(path)
    check_config(config)
    assert (config.one_xmlrpc, config.host, config.port, config.bridge) == (
        "http://localhost:2633/RPC2",
        "cloud.opennebula.org",
        4567,
        "eth0",
    )
    assert sorted(config.instance_types) == ["large", "medium", "small"]
    small = config.instance_types["small"]
    assert small.template.get("CPU") == "1" and small.template.get("MEMORY") == "1024"
    assert config.instance_types["medium"].template.vectors("OS") == [{"ARCH": "x86_64"}]
    assert config.base_url == "http://cloud.opennebula.org:4567"


def test_the_46_yaml_unchanged(tmp_path: Path) -> None:
    templates(tmp_path)
    path = tmp_path / "occi-server.conf"
    path.write_text(UPSTREAM_46)
    config = load_config(path)
    check_config(config)
    assert (config.host, config.port, config.auth, config.datastore_id, config.cluster_id) == (
        "127.0.0.1",
        4567,
        "occi",
        1,
        None,
    )
    medium = config.instance_types["medium"]
    assert medium.attributes == (("CPU", "4"), ("MEMORY", "4096"))
    assert medium.template.get("CPU") == "4"


def test_unknown_keys_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "occi-server.conf"
    path.write_text(":host: 0.0.0.0\n:lookup_cache: yes\n")
    with caplog.at_level(logging.WARNING):
        config = load_config(path)
    assert config.host == "0.0.0.0" and "lookup_cache" in caplog.text
    shell = tmp_path / "shell.conf"
    shell.write_text("SERVER=a.example\nDATABASE=/var/one.db\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_config(shell).host == "a.example"
    assert "database" in caplog.text.lower()


def test_types_without_files_use_their_capacity(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "occi-server.conf"
    path.write_text(":instance_types:\n  :tiny:\n    :template: tiny.erb\n    :cpu: 0.5\n    :memory: 256\n")
    with caplog.at_level(logging.WARNING):
        tiny = load_config(path).instance_types["tiny"]
    assert "tiny.erb" in caplog.text
    assert (tiny.template.get("CPU"), tiny.template.get("MEMORY")) == ("0.5", "256")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":port: http\n", "port must be a number"),
        (":auth: ldap\n", "auth must be"),
        (":core_auth: x509\n", "core_auth"),
        (":ssl_cert: /c.pem\n", "go together"),
        (":instance_types: [1]\n", "mapping"),
        ("PORT=1\nVM_TYPE=small\n", "VM_TYPE must be"),
        ("PORT=1\nVM_TYPE=[TEMPLATE=x.erb]\n", "has no NAME"),
        ("PORT=1\njust words\n", "expected KEY=value"),
        ("- a list\n", "YAML mapping"),
    ],
)
def test_refused_settings(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "occi-server.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        check_config(load_config(path))


def test_erb_code_is_refused_with_the_reason(tmp_path: Path) -> None:
    location = tmp_path / "occi_templates"
    location.mkdir()
    (location / "custom.erb").write_text("CPU = \"<%= @vm_info['CPU'] %>\"\n")
    path = tmp_path / "occi-server.conf"
    path.write_text(":instance_types:\n  :custom:\n    :template: custom.erb\n")
    with pytest.raises(ConfigError, match="ERB code"):
        load_config(path)


def test_shell_values_keep_their_text() -> None:
    data = parse_shell_config('SSL_SERVER="https://proxy:8443"\nVM_TYPE=[NAME="big", TEMPLATE="big.erb"]\n')
    assert data == {"ssl_server": "https://proxy:8443", "instance_types": {"big": {"template": "big.erb"}}}


def test_the_shipped_files(caplog: pytest.LogCaptureFixture) -> None:
    """etc/occi-server.conf loads with no warning, with its templates; the unit runs `occi-server run`."""
    etc = Path(__file__).resolve().parents[2] / "etc"
    with caplog.at_level(logging.WARNING):
        config = load_config(etc / "occi-server.conf")
    check_config(config)
    assert caplog.text == ""
    assert {n: t.template.get("MEMORY") for n, t in config.instance_types.items()} == {
        "small": "1024",
        "medium": "4096",
        "large": "8192",
    }
    unit = (etc / "systemd" / "opennebula-occi.service").read_text()
    assert "ExecStart=/usr/bin/occi-server --config /etc/one/occi-server.conf run" in unit
