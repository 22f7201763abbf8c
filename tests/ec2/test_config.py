"""ec2_driver.conf in upstream's 4.4 and 5.12 spellings, and our additions."""

from __future__ import annotations

from pathlib import Path

import pytest

from one_drivers.ec2.config import ConfigError, DriverConfig, load_config, parse_config

UPSTREAM_44 = """\
proxy_uri:
state_wait_timeout_seconds: 300
regions:
    default:
        region_name: us-east-1
        access_key_id: AKIADEFAULT
        secret_access_key: secretdefault
        capacity:
            m1.small: 5
            m1.large: 0
            m1.xlarge: 0
    us-west-2:
        region_name: us-west-2
        access_key_id:
        secret_access_key:
        capacity:
            m1.small:
instance_types:
    m1.small:
        cpu: 1
        memory: 1.7
"""

UPSTREAM_512 = """\
:proxy_uri:
:state_wait_timeout_seconds: 1500
:instance_types:
    a1.medium:
        cpu: 1
        memory: 2.0
"""


def test_upstream_44_layout() -> None:
    import yaml

    config = parse_config(yaml.safe_load(UPSTREAM_44))
    assert config.state_wait_timeout == 300
    assert config.proxy_uri is None
    default = config.regions["default"]
    assert default.region_name == "us-east-1"
    assert default.access_key_id == "AKIADEFAULT"
    assert default.capacity == {"m1.small": 5, "m1.large": 0, "m1.xlarge": 0}
    assert config.regions["us-west-2"].capacity == {}
    assert config.regions["us-west-2"].access_key_id is None
    assert config.instance_types["m1.small"]["cpu"] == 1
    assert "secretdefault" not in repr(default)


def test_upstream_512_symbol_keys(tmp_path: Path) -> None:
    path = tmp_path / "ec2_driver.conf"
    path.write_text(UPSTREAM_512)
    config = load_config(path)
    assert config.state_wait_timeout == 1500
    assert config.instance_types["a1.medium"]["memory"] == 2.0
    assert config.regions == {}
    assert config.path == str(path)


def test_region_for_host_name_then_default() -> None:
    config = parse_config(
        {
            "regions": {
                "default": {"region_name": "eu-west-1"},
                "Burst-Host": {"region_name": "us-west-2", "endpoint_url": "http://127.0.0.1:1"},
            }
        }
    )
    assert config.region_for("Burst-Host").region_name == "us-west-2"  # type: ignore[union-attr]
    assert config.region_for("burst-host").endpoint_url == "http://127.0.0.1:1"  # type: ignore[union-attr]
    assert config.region_for("other").region_name == "eu-west-1"  # type: ignore[union-attr]
    assert DriverConfig().region_for("x") is None


def test_our_additions() -> None:
    config = parse_config(
        {"retry_mode": "Adaptive", "max_attempts": 3, "connect_timeout": 2, "read_timeout": 5}
    )
    assert (config.retry_mode, config.max_attempts, config.connect_timeout, config.read_timeout) == (
        "adaptive",
        3,
        2.0,
        5.0,
    )


@pytest.mark.parametrize(
    "data",
    [
        ["not", "a", "mapping"],
        {"regions": ["x"]},
        {"regions": {"h": "x"}},
        {"regions": {"h": {"capacity": {"m1.small": "many"}}}},
        {"retry_mode": "legacy-ish"},
        {"state_wait_timeout_seconds": "soon"},
        {"state_wait_timeout_seconds": -1},
    ],
)
def test_malformed_config_is_refused(data: object) -> None:
    with pytest.raises(ConfigError):
        parse_config(data)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.conf")
    bad = tmp_path / "bad.conf"
    bad.write_text("regions: [unclosed")
    with pytest.raises(ConfigError):
        load_config(bad)
    assert parse_config(None) == DriverConfig()


def test_shipped_config_parses() -> None:
    shipped = Path(__file__).resolve().parents[2] / "etc" / "ec2_driver.conf"
    config = load_config(shipped)
    assert config.regions["default"].region_name == "us-east-1"
    assert config.regions["default"].access_key_id is None
    assert config.defaults_file == "/etc/one/ec2_driver.default"
