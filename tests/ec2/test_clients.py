"""Host settings resolution (host template -> YAML -> boto3 chain) and the client cache, against moto."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from one_drivers.ec2.clients import (
    Ec2Clients,
    HostSettingsResolver,
    capacity_from_template,
    find_host_id,
    host_template_attributes,
)
from one_drivers.ec2.config import parse_config
from one_drivers.one.gateway import OneUnavailable
from one_drivers.one.records import HostRecord, parse, parse_pool
from tests.conftest import free_port
from tests.ec2.fault_proxy import FaultProxy

EC2_ATTRS = (
    "<EC2_ACCESS><![CDATA[AKIAHOST]]></EC2_ACCESS><EC2_SECRET><![CDATA[hostsecret]]></EC2_SECRET>"
    "<REGION_NAME><![CDATA[eu-west-1]]></REGION_NAME>"
    "<CAPACITY><M1_SMALL><![CDATA[5]]></M1_SMALL><T3_MICRO><![CDATA[10]]></T3_MICRO></CAPACITY>"
)


class FakeOned:
    """The recorded host documents, with EC2 attributes added to the decrypted host template."""

    def __init__(self, real_dir: Path, extra: str = EC2_ATTRS) -> None:
        self.pool = (real_dir / "hostpool_info.xml").read_text()
        self.host = (real_dir / "host_info.xml").read_text().replace("<TEMPLATE>", "<TEMPLATE>" + extra, 1)
        self.calls: list[tuple[int, bool]] = []

    def hostpool_info(self) -> list[HostRecord]:
        return parse_pool(HostRecord, self.pool)

    def host_info(self, host_id: int, decrypt: bool = False) -> HostRecord:
        self.calls.append((host_id, decrypt))
        return parse(HostRecord, self.host)


def no_oned() -> FakeOned:
    raise OneUnavailable("no oned here")


def test_recorded_host_documents(real_dir: Path) -> None:
    pool = parse_pool(HostRecord, (real_dir / "hostpool_info.xml").read_text())
    assert find_host_id(pool, "dummyhost") == 0
    assert find_host_id(pool, "nope") is None
    attrs = host_template_attributes(parse(HostRecord, (real_dir / "host_info.xml").read_text()))
    assert attrs["HYPERVISOR"] == "dummy"
    assert capacity_from_template({"M1_SMALL": "5", "T3_MICRO": " 10", "BAD": "x"}) == {
        "m1.small": 5,
        "t3.micro": 10,
    }


def test_host_template_wins_and_secret_is_never_logged(
    real_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    oned = FakeOned(real_dir)
    config = parse_config(
        {"regions": {"default": {"region_name": "us-west-2", "endpoint_url": "http://127.0.0.1:9"}}}
    )
    with caplog.at_level(logging.DEBUG):
        settings = HostSettingsResolver(config, lambda: oned).resolve("dummyhost")
    assert oned.calls == [(0, True)]  # decrypted read of host 0, found by name
    assert settings.access_key_id == "AKIAHOST" and settings.secret_access_key == "hostsecret"
    assert settings.region_name == "eu-west-1"
    assert settings.endpoint_url == "http://127.0.0.1:9"  # not in the template: from YAML default
    assert settings.capacity == {"m1.small": 5, "t3.micro": 10}
    assert settings.sources["credentials"] == "host template"
    assert settings.sources["endpoint_url"] == "config regions/default"
    assert "hostsecret" not in caplog.text and "hostsecret" not in repr(settings)
    assert "host template" in caplog.text


def test_yaml_section_by_host_then_boto3_chain(real_dir: Path) -> None:
    config = parse_config(
        {
            "regions": {
                "burst": {"region_name": "ap-south-1", "access_key_id": "AKIAY", "secret_access_key": "s"},
            }
        }
    )
    resolver = HostSettingsResolver(config, no_oned, default_region=lambda: None)
    burst = resolver.resolve("burst")
    assert (burst.region_name, burst.access_key_id) == ("ap-south-1", "AKIAY")
    other = resolver.resolve("other")
    assert other.access_key_id is None and other.sources["credentials"] == "boto3 default chain"
    assert other.region_name == "us-east-1"


def test_half_credentials_are_not_mixed(real_dir: Path) -> None:
    oned = FakeOned(real_dir, "<EC2_ACCESS>AKIAONLY</EC2_ACCESS>")
    config = parse_config({"regions": {"default": {"access_key_id": "AKIAY", "secret_access_key": "s"}}})
    settings = HostSettingsResolver(config, lambda: oned).resolve("dummyhost")
    assert (settings.access_key_id, settings.secret_access_key) == ("AKIAY", "s")


def test_settings_are_cached(real_dir: Path) -> None:
    oned = FakeOned(real_dir)
    resolver = HostSettingsResolver(parse_config({}), lambda: oned)
    resolver.resolve("dummyhost")
    resolver.resolve("dummyhost")
    assert len(oned.calls) == 1
    resolver.invalidate("dummyhost")
    resolver.resolve("dummyhost")
    assert len(oned.calls) == 2


def _clients(endpoint: str, **extra: object) -> Ec2Clients:
    config = parse_config(
        {"regions": {"default": {"region_name": "us-east-1", "endpoint_url": endpoint}}, **extra}
    )
    return Ec2Clients(config, HostSettingsResolver(config, no_oned))


def test_client_is_reused_per_settings(moto_endpoint: str) -> None:
    clients = _clients(moto_endpoint)
    ec2, settings = clients.for_host("h1")
    again, _ = clients.for_host("h1")
    other, _ = clients.for_host("h2")
    assert ec2 is again and ec2 is not other  # the host is part of the key
    assert settings.endpoint_url == moto_endpoint
    assert ec2.describe_instances()["Reservations"] == []
    assert ec2.meta.config.retries["mode"] == "standard"


def test_cloudwatch_client_shares_the_hosts_settings(moto_endpoint: str) -> None:
    clients = _clients(moto_endpoint)
    ec2, settings = clients.for_host("h1")
    cw = clients.cloudwatch_for(settings)
    assert cw is clients.cloudwatch_for(settings) and cw is not ec2
    assert cw.meta.service_model.service_name == "cloudwatch"
    assert cw.meta.endpoint_url == moto_endpoint and cw.meta.region_name == ec2.meta.region_name
    assert cw.list_metrics()["Metrics"] == []


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def test_throttling_is_retried(proxy: FaultProxy) -> None:
    clients = _clients(proxy.url, max_attempts=4)
    ec2, _ = clients.for_host("h")
    proxy.fail("DescribeInstances", 2, 503, "RequestLimitExceeded")
    assert ec2.describe_instances()["Reservations"] == []
    assert proxy.seen["DescribeInstances"] == 3


def test_throttling_beyond_the_throttle_wait_surfaces_as_throttled(proxy: FaultProxy) -> None:
    from one_drivers.ec2.errors import ErrorKind, classify

    # Throttling is waited out beyond max_attempts (tests/ec2/test_retries.py), up to the state wait.
    clients = _clients(proxy.url, max_attempts=2, retry_mode="adaptive", state_wait_timeout_seconds=0.3)
    ec2, _ = clients.for_host("h")
    proxy.fail("DescribeInstances", 10_000, 400, "RequestLimitExceeded")
    with pytest.raises(ClientError) as info:
        ec2.describe_instances()
    assert classify(info.value) is ErrorKind.THROTTLED
    assert proxy.seen["DescribeInstances"] >= 2


def test_endpoint_down_is_unavailable() -> None:
    from one_drivers.ec2.errors import ErrorKind, classify

    ec2, _ = _clients(
        f"http://127.0.0.1:{free_port()}", max_attempts=1, connect_timeout=1, read_timeout=1
    ).for_host("h")
    with pytest.raises(EndpointConnectionError) as info:
        ec2.describe_instances()
    assert classify(info.value) is ErrorKind.UNAVAILABLE


def test_profile_selection(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ProfileNotFound

    creds = tmp_path / "credentials"
    creds.write_text("[burst]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    config = parse_config(
        {
            "regions": {
                "good": {"region_name": "us-east-1", "endpoint_url": moto_endpoint, "profile": "burst"},
                "bad": {"region_name": "us-east-1", "endpoint_url": moto_endpoint, "profile": "missing"},
            }
        }
    )
    clients = Ec2Clients(config, HostSettingsResolver(config, no_oned))
    ec2, settings = clients.for_host("good")
    assert settings.profile == "burst" and settings.access_key_id is None
    assert ec2.describe_instances()["Reservations"] == []
    with pytest.raises(ProfileNotFound):
        clients.for_host("bad")
