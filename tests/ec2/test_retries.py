"""Retries and pacing of the drivers' EC2 clients, against moto behind the fault proxy.

Throttling, in any body a real endpoint or balancer sends (EC2's XML, HTML, plain text), is waited out
however often it comes, never counted against max_attempts or a retry quota; a non-XML error body gets
a code for its status; RunInstances (never resent blindly) is resent only when the endpoint said it did
nothing. The pacer's arithmetic is checked on a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from one_drivers.ec2.clients import Ec2Clients, HostSettingsResolver
from one_drivers.ec2.config import parse_config
from one_drivers.ec2.errors import ErrorKind, classify
from one_drivers.ec2.retries import (
    CUT_INTERVAL,
    FIRST_GUESS,
    HEADROOM,
    INCREASE,
    MAX_RATE,
    MIN_RATE,
    WINDOW,
    Pacer,
)
from one_drivers.one.gateway import OneUnavailable
from tests.ec2.fault_proxy import FaultProxy


def no_oned() -> Any:
    raise OneUnavailable("no oned in tests")


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def clients(endpoint: str, **config: Any) -> Ec2Clients:
    cfg = parse_config(
        {"regions": {"default": {"region_name": "us-east-1", "endpoint_url": endpoint}}, **config}
    )
    return Ec2Clients(cfg, HostSettingsResolver(cfg, no_oned))


def client(endpoint: str, retry: bool = True, **config: Any) -> Any:
    c = clients(endpoint, **config)
    return c.client_for(c.resolver.resolve("h"), retry=retry)


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, "xml"), (400, "xml"), (429, "xml"), (503, "html"), (503, "text"), (429, "html"), (429, "text")],
)
def test_throttling_in_any_body_is_waited_out_beyond_max_attempts(
    proxy: FaultProxy, status: int, body: str
) -> None:
    ec2 = client(proxy.url, max_attempts=2)
    proxy.fail("DescribeInstances", 6, status, "RequestLimitExceeded", body)
    assert ec2.describe_instances()["Reservations"] == []
    assert proxy.seen["DescribeInstances"] == 7


@pytest.mark.parametrize(("status", "body", "code"), [(500, "text", "InternalError"), (502, "html", "")])
def test_a_non_xml_server_error_is_transient_not_a_parse_error(
    proxy: FaultProxy, status: int, body: str, code: str
) -> None:
    ec2 = client(proxy.url, retry=False)
    proxy.fail("DescribeInstances", 1, status, "x", body)
    with pytest.raises(ClientError) as info:
        ec2.describe_instances()
    assert classify(info.value) is ErrorKind.TRANSIENT
    assert info.value.response["Error"]["Code"] == (code or "ServiceUnavailable")
    assert f"HTTP {status} with a" in info.value.response["Error"]["Message"]


def test_a_non_xml_client_error_is_fatal_with_its_status(proxy: FaultProxy) -> None:
    ec2 = client(proxy.url)
    proxy.fail("DescribeInstances", 1, 403, "x", "html")
    with pytest.raises(ClientError) as info:
        ec2.describe_instances()
    assert (info.value.response["Error"]["Code"], classify(info.value)) == ("Http403", ErrorKind.FATAL)


def test_transient_failures_are_bounded_by_max_attempts(proxy: FaultProxy) -> None:
    ec2 = client(proxy.url, max_attempts=3)
    proxy.fail("DescribeInstances", 5, 500, "InternalError")
    with pytest.raises(ClientError, match="InternalError"):
        ec2.describe_instances()
    assert proxy.seen["DescribeInstances"] == 3


def test_run_instances_is_resent_only_when_the_endpoint_did_nothing(proxy: FaultProxy) -> None:
    once = client(proxy.url, retry=False)
    proxy.fail("RunInstances", 3, 503, "RequestLimitExceeded")
    once.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    assert (proxy.seen["RunInstances"], proxy.forwarded["RunInstances"]) == (4, 1)
    # A 500 or a reset may come after the launch happened: surfaced, not resent.
    proxy.fail("RunInstances", 1, 500, "InternalError")
    with pytest.raises(ClientError):
        once.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    proxy.lose_reply("RunInstances", 1)
    with pytest.raises(Exception) as info:
        once.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    assert classify(info.value) is ErrorKind.UNAVAILABLE
    assert proxy.forwarded["RunInstances"] == 2


def test_sustained_throttling_of_a_shared_client_fails_nothing(proxy: FaultProxy) -> None:
    # botocore's quota (500 tokens, 5 per retry, 1 back per success) ran dry here and calls failed.
    proxy.throttle(0.5, statuses=(400, 503), bodies=("xml", "html", "text"))
    ec2 = client(proxy.url)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: ec2.describe_instances()["Reservations"], range(150)))
    assert answers == [[]] * 150
    assert sum(n for key, n in proxy.injected.items() if key.startswith("throttle-")) > 100


def test_giving_up_after_the_throttle_wait(proxy: FaultProxy) -> None:
    ec2 = client(proxy.url, state_wait_timeout_seconds=0.5)
    proxy.throttle(1.0)
    with pytest.raises(ClientError) as info:
        ec2.describe_instances()
    assert classify(info.value) is ErrorKind.THROTTLED


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_is_unlimited_until_throttled_then_paces_at_a_multiple_of_what_was_served() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    for _ in range(20):  # 20 successes in this second
        assert pacer.delay() == 0.0
        pacer.on_success()
    assert pacer.rate is None
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(HEADROOM * 20 / 0.25)  # all within the first quarter second
    clock.now += CUT_INTERVAL / 2
    for _ in range(10):
        pacer.on_throttle()  # the same burst: one signal
    assert pacer.rate == pytest.approx(HEADROOM * 20 / 0.25)
    for _ in range(20):
        clock.now += WINDOW + 1  # nothing served since: halving down to the floor
        pacer.on_throttle()
    assert pacer.rate == MIN_RATE


def test_pacer_spaces_requests_and_recovers_with_successes() -> None:
    clock = FakeClock()
    pacer = Pacer(clock)
    pacer.on_throttle()  # throttled before anything was served: a guess
    assert pacer.rate == FIRST_GUESS
    clock.now += CUT_INTERVAL
    pacer.on_throttle()
    assert pacer.rate == FIRST_GUESS / 2
    for _ in range(5):
        pacer.on_success()
        clock.now += 0.1
    clock.now += CUT_INTERVAL
    pacer.on_throttle()
    assert pacer.rate == pytest.approx(HEADROOM * 5 / 1.0)  # 5 served in the second since the first
    pacer.rate = 5.0
    waits = [pacer.delay() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    for _ in range(20):
        pacer.on_success()
    assert pacer.rate == pytest.approx(5.0 + 20 * INCREASE)
    pacer.rate = MAX_RATE - INCREASE / 2
    pacer.on_success()
    assert pacer.rate is None


def test_pacer_holds_steady_under_rate_independent_throttling() -> None:
    # Half of all requests refused at random: a multiplicative cut per throttle went to the floor.
    clock = FakeClock()
    pacer = Pacer(clock)
    for _ in range(200):
        pacer.on_success()
        clock.now += 0.01
    for _ in range(2000):  # 20 s at whatever rate the pacer allows, every other request throttled
        clock.now += pacer.delay() or 0.01
        pacer.delay()
        pacer.on_success()
        pacer.on_throttle()
    assert pacer.rate is None or pacer.rate > 20  # grew (or stopped limiting), did not collapse
