"""econe.conf: upstream files read unchanged, our keys, and the settings econe refuses to start with."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from one_drivers.econe.config import ConfigError, EconeConfig, check_config, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]

UPSTREAM = """
---
:tmpdir: /var/tmp
:one_xmlrpc: http://localhost:2633/RPC2
:host: 127.0.0.1
:port: 4567
:ssl_server:
:debug_level: 3
:auth: ec2
:core_auth: cipher
:use_file_templates: false
:instance_types:
  :m1.small:
    :template: m1.small.erb
:describe_with_terminated_instances: true
:terminated_instances_expiration_time: 900
:datastore_id:
:cluster_id:
:elasticips_vnet_id:
:associate_script: /usr/bin/false
:disassociate_script: /usr/bin/false
:ebs_fstype: ext3
"""


def test_upstream_file_reads_unchanged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "econe.conf"
    path.write_text(UPSTREAM)
    with caplog.at_level(logging.WARNING):
        cfg = load_config(path)
    assert [r for r in caplog.records if "unknown key" in r.getMessage()] == []
    assert (cfg.host, cfg.port, cfg.auth, cfg.core_auth) == ("127.0.0.1", 4567, "ec2", "cipher")
    assert cfg.ssl_server is None and cfg.datastore_id == 1  # empty upstream keys keep the defaults
    assert cfg.associate_script == "/usr/bin/false"
    assert cfg.public_url == "http://127.0.0.1:4567"
    check_config(cfg)


def test_shipped_econe_conf_is_valid_and_fully_known(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = load_config(REPO / "etc" / "econe.conf")
    assert [r.getMessage() for r in caplog.records] == []
    check_config(cfg)


def test_both_spellings_and_unknown_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = parse_config({"port": "5000", ":ssl_server": "https://cloud.example.org/", "frobnicate": 1})
    assert cfg.port == 5000 and cfg.public_url == "https://cloud.example.org"
    assert any("frobnicate" in r.getMessage() for r in caplog.records)


def test_trusted_proxies_single_or_list() -> None:
    assert parse_config({"trusted_proxies": "10.0.0.1"}).trusted_proxies == ("10.0.0.1",)
    assert parse_config({":trusted_proxies": ["a", "b"]}).trusted_proxies == ("a", "b")


@pytest.mark.parametrize(
    "values",
    [
        {"auth": "sunstone"},
        {"core_auth": "x509"},
        {"use_file_templates": True},
        {"ssl_cert": "/c.pem"},
        {"ssl_ca": "/ca.pem"},
        {"debug_level": 7},
        {"server_cipher_digest": "md5"},
        {"processes": 0},
        {"workers": 0},
        {"head_timeout": 0},
        {"body_timeout": -1},
        {"port": 4567, "metrics_port": 4567},
    ],
)
def test_refused_settings(values: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        check_config(parse_config(values))


def test_bad_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_config({":port": "http"})
    with pytest.raises(ConfigError):
        parse_config({":head_timeout": "soon"})


def test_scale_out_keys() -> None:
    config = parse_config({":processes:": "4", ":head_timeout:": "2.5", ":metrics_port:": "9108"})
    assert (config.processes, config.head_timeout, config.metrics_port) == (4, 2.5, 9108)
    assert parse_config({":metrics_port:": None}).metrics_port is None  # upstream-style empty key: off


def test_defaults_match_upstream() -> None:
    cfg = EconeConfig()
    assert (cfg.one_xmlrpc, cfg.port, cfg.terminated_instances_expiration_time) == (
        "http://localhost:2633/RPC2",
        4567,
        900,
    )
    assert (cfg.user_cache_seconds, cfg.clock_skew, cfg.ebs_fstype) == (60, 300, "ext3")
