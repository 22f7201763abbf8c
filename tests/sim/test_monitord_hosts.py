"""The simulator's monitord and host states as OpenNebula 6.10 has them (src/monitor/, src/host/,
src/im/ at release-6.10.5): START_MONITOR when a host is created, not on host.update; what a START_MONITOR
FAILURE, a pushed FAILURE, SYSTEM_HOST and MONITOR_HOST do to the host; the timer's retry; OFFLINE."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_drivers.mad.monitord import encode_frame
from one_drivers.sim.drivers import send_udp
from one_drivers.sim.server import Simulator
from tests.conftest import wait_for
from tests.sim.fake_drivers import IM_SCRIPTED, write_driver
from tests.sim.hosts import HostView

INIT, MONITORED, ERROR, DISABLED, OFFLINE = 0, 2, 3, 4, 8


class Env(HostView):
    def __init__(self, sim: Simulator, log: Path) -> None:
        super().__init__(sim)
        self.log = log

    def requests(self, host: int | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [r for r in found if host is None or r["host"] == host]

    def push(self, msg_type: str, success: bool, host: int, text: str) -> None:
        assert self.sim.monitord is not None
        send_udp(self.sim.monitord.port, encode_frame(msg_type, success, host, text))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    log = tmp_path / "im.jsonl"
    im = write_driver(tmp_path / "fake_im", IM_SCRIPTED, LOG=str(log))
    # the timer never fires by itself here: tests call monitord_timer() with a chosen clock
    with Simulator(auth_dir=tmp_path / "auth", im={"fake": f"{im} fake"}, manager_timer=3600) as sim:
        yield Env(sim, log)


def test_start_monitor_goes_out_when_the_host_is_created(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "ok1", "fake", "fake", -1)
    wait_for(lambda: env.state(host) == MONITORED)
    assert [r["action"] for r in env.requests(host)] == ["START_MONITOR"]
    assert env.states(host) == [INIT, MONITORED]


def test_host_update_starts_nothing(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "quiet1", "fake", "fake", -1)
    wait_for(lambda: env.answered(host))
    env.gw.call("one.host.update", host, 'EC2_ACCESS="AKIA"\nEC2_SECRET="x"', 1)
    # the timer's restart is the next request the program gets: nothing came from the update before it
    assert env.sim.lifecycle.monitord_timer(now=time.time() + 181) == 1
    wait_for(lambda: len(env.requests(host)) == 2)
    assert [r["action"] for r in env.requests(host)] == ["START_MONITOR", "START_MONITOR"]


def test_empty_success_leaves_the_host_init(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "quiet2", "fake", "fake", -1)
    wait_for(lambda: env.answered(host))
    assert env.state(host) == INIT
    assert env.doc(host).find("TEMPLATE/ERROR") is None
    # monitord heard from it: the timer leaves it alone until MONITORING_INTERVAL_HOST has passed
    assert env.sim.lifecycle.monitord_timer(now=time.time() + 10) == 0
    # a MONITOR_HOST alone changes no state; SYSTEM_HOST (oned's Host::update_info) sets MONITORED
    env.push("MONITOR_HOST", True, host, "USEDCPU=0\nFREECPU=100\n")
    wait_for(lambda: env.doc(host).findtext("MONITORING/CAPACITY/FREE_CPU") is not None, timeout=10)
    assert env.state(host) == INIT
    env.push("SYSTEM_HOST", True, host, "HYPERVISOR=fake\nTOTALCPU=100\nTOTALMEMORY=1024\n")
    wait_for(lambda: env.state(host) == MONITORED)


def test_start_monitor_failure_is_an_error_without_the_reason(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "down1", "fake", "fake", -1)
    wait_for(lambda: env.state(host) == ERROR)
    error = env.doc(host).findtext("TEMPLATE/ERROR") or ""
    # ctime stamp, then Host::error's text with monitord's empty message: the driver's text is lost
    assert re.fullmatch(
        r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} : Error monitoring Host down1 \(\d+\): ", error
    )
    assert "cannot reach" not in error
    # retried only by the timer, once MONITORING_INTERVAL_HOST has passed since the START_MONITOR
    assert env.sim.lifecycle.monitord_timer(now=time.time() + 60) == 0
    assert env.sim.lifecycle.monitord_timer(now=time.time() + 181) == 1
    wait_for(lambda: len(env.requests(host)) == 2)


def test_pushed_failure_is_an_error_with_the_reason_until_system_host(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "quiet3", "fake", "fake", -1)
    wait_for(lambda: env.answered(host))
    env.push("MONITOR_HOST", False, host, "EC2 rejected the credentials")
    wait_for(lambda: env.state(host) == ERROR)
    assert (env.doc(host).findtext("TEMPLATE/ERROR") or "").endswith(
        f"Error monitoring Host quiet3 ({host}): EC2 rejected the credentials"
    )
    # an ERROR host keeps its first reason (oned only records the message on a change of state)
    env.push("BEACON_HOST", False, host, "another reason")
    env.push("MONITOR_HOST", True, host, "USEDCPU=0\n")
    wait_for(lambda: env.doc(host).findtext("MONITORING/CAPACITY/USED_CPU") is not None, timeout=10)
    assert env.state(host) == ERROR
    assert "another reason" not in (env.doc(host).findtext("TEMPLATE/ERROR") or "")
    env.push("SYSTEM_HOST", True, host, "HYPERVISOR=fake\nTOTALCPU=100\nTOTALMEMORY=1024\n")
    wait_for(lambda: env.state(host) == MONITORED)
    assert env.doc(host).find("TEMPLATE/ERROR") is None
    assert env.states(host) == [INIT, ERROR, MONITORED]


def test_offline_stops_and_enable_restarts_monitoring(env: Env) -> None:
    host = env.gw.call("one.host.allocate", "ok2", "fake", "fake", -1)
    wait_for(lambda: env.state(host) == MONITORED)
    env.gw.call("one.host.status", host, 2)
    wait_for(lambda: [r["action"] for r in env.requests(host)] == ["START_MONITOR", "STOP_MONITOR"])
    env.push("SYSTEM_HOST", True, host, "TOTALCPU=1\n")  # an OFFLINE host takes no monitoring
    assert env.sim.lifecycle.monitord_timer(now=time.time() + 1000) == 0
    assert env.state(host) == OFFLINE
    env.gw.call("one.host.status", host, 0)  # enable: INIT (Host::enable), monitoring starts again
    wait_for(lambda: len(env.requests(host)) == 3)
    wait_for(lambda: env.state(host) == MONITORED)
    env.gw.call("one.host.status", host, 1)
    env.gw.call("one.host.status", host, 0)  # DISABLED with capacity: straight back to MONITORED
    assert env.state(host) == MONITORED
