"""Host settings read from a (simulated) oned over real XML-RPC, the way the driver does in production:
ONE_XMLRPC + ONE_AUTH, host found by name in the pool, template read decrypted with host.info(id, true)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
from one_drivers.ec2.config import parse_config
from one_drivers.one.gateway import OneGateway
from one_drivers.sim.server import Simulator


def test_host_template_from_oned(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with Simulator(auth_dir=tmp_path / "one", sched_interval=3600) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "burst-eu", "ec2", "ec2", -1)
        gw.call(
            "one.host.update",
            host,
            'EC2_ACCESS="AKIASIM"\nEC2_SECRET="simsecret"\nREGION_NAME="eu-west-1"\n'
            f'EC2_ENDPOINT="{moto_endpoint}"\nCAPACITY=[T3_MICRO="4"]',
            1,
        )
        monkeypatch.setenv("ONE_XMLRPC", sim.endpoint)
        monkeypatch.setenv("ONE_AUTH", str(sim.one_auth_file))
        config = parse_config({"regions": {"default": {"region_name": "us-east-1"}}})
        clients = Ec2Clients(config)  # the production path: OneGateway.from_env()
        with caplog.at_level(logging.INFO):
            client, settings = clients.for_host("burst-eu")
            missing = clients.resolver.resolve("not-a-host")
        assert (settings.access_key_id, settings.secret_access_key) == ("AKIASIM", "simsecret")
        assert settings.region_name == "eu-west-1" and settings.endpoint_url == moto_endpoint
        assert settings.capacity == {"t3.micro": 4}
        assert client.describe_instances()["Reservations"] == []  # the client really talks to moto
        assert missing.region_name == "us-east-1" and missing.sources["credentials"] == "boto3 default chain"
        assert "not found in oned's host pool" in caplog.text
        assert "simsecret" not in caplog.text


def test_oned_down_falls_back_to_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = tmp_path / "one_auth"
    auth.write_text("oneadmin:pw\n")
    monkeypatch.setenv("ONE_XMLRPC", "http://127.0.0.1:1/RPC2")
    monkeypatch.setenv("ONE_AUTH", str(auth))
    config = parse_config(
        {"regions": {"h": {"region_name": "sa-east-1", "endpoint_url": "http://127.0.0.1:9"}}}
    )
    settings = HostSettingsResolver(config).resolve("h")
    assert settings.region_name == "sa-east-1" and settings.sources["region_name"] == "config regions/h"
