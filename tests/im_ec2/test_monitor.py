"""HostMonitor against moto and a loopback monitord receiver: what monitord gets, when, and how."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.im_ec2.instances import trim_describe_instances
from one_drivers.im_ec2.monitor import HostMonitor, ImSettings, im_settings
from one_drivers.mad.monitord import DEFAULT_PERIODS, MonitorConfig, parse_monitor_messages
from one_drivers.one.template import parse_template
from tests.im_ec2.conftest import Region, ec2_client
from tests.im_ec2.receiver import MonitordReceiver

CAPACITY = {"T3_MICRO": "10", "M1_SMALL": "5", "C5_LARGE": "2"}
PERIODS = {
    **DEFAULT_PERIODS,
    "SYSTEM_HOST": 60,
    "MONITOR_HOST": 20,
    "STATE_VM": 5,
    "MONITOR_VM": 10,
    "BEACON_HOST": 10,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Access:
    def __init__(self, client: Any, capacity: Mapping[str, object]) -> None:
        self.client = client
        self.capacity = capacity
        self.describes = 0
        client.meta.events.register("before-call.ec2.DescribeInstances", self._count)

    def _count(self, **_: Any) -> None:
        self.describes += 1

    def client_and_capacity(self, host_name: str) -> tuple[Any, Mapping[str, object]]:
        return self.client, self.capacity


@pytest.fixture
def receiver() -> Iterator[MonitordReceiver]:
    r = MonitordReceiver()
    yield r
    r.close()


def make_monitor(
    region: Region,
    receiver: MonitordReceiver,
    catalog: InstanceTypeCatalog,
    clock: Clock,
    capacity: Mapping[str, object] = CAPACITY,
    pubkey: str = "",
    settings: ImSettings | None = None,
) -> tuple[HostMonitor, Access]:
    access = Access(trim_describe_instances(ec2_client(region.endpoint)), capacity)
    config = MonitorConfig("127.0.0.1", receiver.port, pubkey, PERIODS)
    monitor = HostMonitor(
        3,
        "ec2-host",
        config,
        access,
        catalog,
        settings=settings or ImSettings(min_poll_interval=5),
        clock=clock,
    )
    return monitor, access


def frames_of(receiver: MonitordReceiver, msg_type: str) -> list[Any]:
    return [f for _, f in receiver.of_type(msg_type)]


def test_start_document(region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog) -> None:
    monitor, access = make_monitor(region, receiver, catalog, Clock())
    stamp, messages = parse_monitor_messages(monitor.start_document())
    assert stamp > 0
    docs = dict(messages)
    assert set(docs) == {"SYSTEM_HOST", "MONITOR_HOST", "STATE_VM", "MONITOR_VM"}
    system = parse_template(docs["SYSTEM_HOST"])
    assert system.get("TOTALCPU") == "2900"
    assert [v["DEPLOY_ID"] for v in system.vectors("VM")] == [region.wild]
    state = parse_template(docs["STATE_VM"])
    assert state.get("SYNC_STATE") == "yes"
    assert {v["ID"] for v in state.vectors("VM")} == {"1", "2", "3", "4"}
    assert {v["ID"] for v in parse_template(docs["MONITOR_VM"]).vectors("VM")} == {"1", "2"}
    assert access.describes == 1


def test_pushes_by_period_one_describe_per_cycle(
    region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    clock = Clock()
    monitor, access = make_monitor(region, receiver, catalog, clock)
    monitor.start_document()
    assert monitor.step() == ["BEACON_HOST"]  # at once, without a new DescribeInstances
    assert access.describes == 1
    assert receiver.wait_for(lambda fs: len(fs) == 1)
    (beacon,) = frames_of(receiver, "BEACON_HOST")
    assert beacon.success and beacon.host_id == 3 and beacon.text.isdigit()

    clock.now += 5  # STATE_VM due; nothing changed -> nothing sent, but the data was refreshed once
    assert monitor.step() == []
    assert access.describes == 2

    region.client.stop_instances(InstanceIds=[region.running])
    clock.now += 5  # STATE_VM, MONITOR_VM and BEACON_HOST due together: one snapshot serves them
    sent = monitor.step()
    assert sorted(sent) == ["BEACON_HOST", "MONITOR_VM", "STATE_VM"]
    assert access.describes == 3
    assert receiver.wait_for(lambda fs: len(fs) == 4)
    transports = {f.type: t for t, f in receiver.frames}
    assert transports == {"BEACON_HOST": "udp", "STATE_VM": "tcp", "MONITOR_VM": "udp"}
    (state,) = frames_of(receiver, "STATE_VM")
    tmpl = parse_template(state.text)
    assert tmpl.get("SYNC_STATE") is None
    assert tmpl.vectors("VM") == [{"ID": "1", "DEPLOY_ID": region.running, "STATE": "POWEROFF"}]
    (mon,) = frames_of(receiver, "MONITOR_VM")
    vms = parse_template(mon.text).vectors("VM")
    assert {v["ID"] for v in vms} == {"2"}  # the stopped one is no longer monitored; wild never
    assert parse_template(base64.b64decode(vms[0]["MONITOR"]).decode()).get("MEMORY") == str(1740 * 1024)

    clock.now += 2  # nothing due
    assert monitor.step() == []
    assert access.describes == 3


def test_sync_state_and_all_types(
    region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    clock = Clock()
    monitor, access = make_monitor(region, receiver, catalog, clock)
    monitor.start_document()
    clock.now += 180  # every period has passed, SYNC_STATE_VM included
    sent = monitor.step()
    assert sorted(sent) == sorted(["SYSTEM_HOST", "MONITOR_HOST", "STATE_VM", "MONITOR_VM", "BEACON_HOST"])
    assert access.describes == 2
    assert receiver.wait_for(lambda fs: len(fs) == 5)
    (state,) = frames_of(receiver, "STATE_VM")
    tmpl = parse_template(state.text)
    assert (tmpl.get("SYNC_STATE"), tmpl.get("MISSING_STATE")) == ("yes", "UNKNOWN")
    assert sorted(int(v["ID"]) for v in tmpl.vectors("VM")) == [1, 2, 3, 4]  # real ids only
    (host,) = frames_of(receiver, "MONITOR_HOST")
    assert parse_template(host.text).get("USEDCPU") == "500"
    (system,) = frames_of(receiver, "SYSTEM_HOST")
    assert parse_template(system.text).vectors("VM")[0]["ID"] == "-1"
    assert all(f.host_id == 3 and f.success for _, f in receiver.frames)


def test_failure_is_reported_with_the_reason(
    region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    clock = Clock()
    monitor, _ = make_monitor(region, receiver, catalog, clock, capacity={"T3_MICRO": "1"})
    monitor.start_document()
    monitor.access.capacity = {"NOPE_HUGE": "2"}  # type: ignore[attr-defined]
    clock.now += 10
    sent = monitor.step()
    # MONITOR_HOST FAILURE is what monitord turns into host ERROR with the text
    assert sent == ["MONITOR_HOST"]
    assert receiver.wait_for(lambda fs: len(fs) == 1)
    for _, frame in receiver.frames:
        assert not frame.success
        assert "NOPE_HUGE" in frame.text
    clock.now += 1
    assert monitor.step() == []  # the same reason is not repeated before the MONITOR_HOST period


def test_start_with_unknown_capacity_pushes_the_failure(
    region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    monitor, _ = make_monitor(region, receiver, catalog, Clock(), capacity={"M1_SMALL": "1", "Q9_NOPE": "1"})
    assert monitor.start_document() == ""
    assert monitor.error is not None and "Q9_NOPE" in monitor.error
    assert receiver.wait_for(lambda fs: len(fs) == 1)
    (frame,) = frames_of(receiver, "MONITOR_HOST")
    assert not frame.success and "Q9_NOPE" in frame.text


def test_encrypted_push(region: Region, catalog: InstanceTypeCatalog) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    receiver = MonitordReceiver(key)
    try:
        clock = Clock()
        monitor, _ = make_monitor(region, receiver, catalog, clock, pubkey=pem.replace("\n", " "))
        monitor.start_document()
        clock.now += 180
        monitor.step()
        assert receiver.wait_for(lambda fs: len(fs) == 5)
        (system,) = frames_of(receiver, "SYSTEM_HOST")
        assert parse_template(system.text).get("HYPERVISOR") == "ec2"
    finally:
        receiver.close()


def test_thread_runs_and_stops(
    region: Region, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    access = Access(trim_describe_instances(ec2_client(region.endpoint)), CAPACITY)
    fast = {**PERIODS, "BEACON_HOST": 1, "STATE_VM": 1, "MONITOR_VM": 1, "MONITOR_HOST": 1}
    monitor = HostMonitor(
        4,
        "h",
        MonitorConfig("127.0.0.1", receiver.port, "", fast),
        access,
        catalog,
        settings=ImSettings(min_poll_interval=0.2),
    )
    monitor.start_document()
    monitor.start()
    try:
        assert receiver.wait_for(
            lambda fs: {f.type for _, f in fs} >= {"BEACON_HOST", "MONITOR_VM", "MONITOR_HOST"}
        )
    finally:
        monitor.stop()
    assert not monitor.running


def test_im_settings() -> None:
    assert im_settings(None) == ImSettings()
    s = im_settings({"reaper": "no", "min_poll_interval": 30, "missing_state": "poweroff"})
    assert (s.reaper, s.min_poll_interval, s.missing_state) == (False, 30.0, "POWEROFF")
    with pytest.raises(ValueError, match="bogus"):
        im_settings({"bogus": 1})
