"""DRIVER_CANCEL during throttling: a call waiting for the endpoint to stop throttling (up to 600 s) ends
as soon as its action is cancelled, and a launch that may have happened unanswered is terminated."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from one_drivers.mad.loop import ActionCancelled
from one_drivers.vmm_ec2.actions import PlainControl
from tests.ec2.fault_proxy import FaultProxy
from tests.vmm_ec2.test_actions import instances, make_vmm, request

HANG = 120.0  # far below the 600 s a throttled call waits when nothing cancels it


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "the awaited state never came"
        time.sleep(0.05)


def deploy_in_thread(
    proxy: FaultProxy, real_dir: Path, vm_id: int
) -> tuple[PlainControl, threading.Thread, list[BaseException]]:
    vmm = make_vmm(proxy.url, max_attempts=3, state_wait_timeout_seconds=1500)
    control = PlainControl()
    raised: list[BaseException] = []

    def deploy() -> None:
        try:
            vmm.run("DEPLOY", request(real_dir, vm_id=vm_id), control)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=deploy, daemon=True)
    thread.start()
    return control, thread, raised


def test_cancel_ends_a_launch_waiting_out_throttling(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    proxy.throttle(1.0, actions=["RunInstances"])  # throttled for good: the call would wait 600 s
    control, thread, raised = deploy_in_thread(proxy, real_dir, 41)
    until(lambda: proxy.seen["RunInstances"] >= 3)
    control.cancelled.set()
    thread.join(HANG)
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ActionCancelled)
    assert proxy.forwarded["RunInstances"] == 0 and instances(moto_endpoint) == {}


def test_cancel_after_an_unanswered_launch_terminates_it(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    # The launch happens but its answer is lost; the lookup that would find it is throttled; the
    # cancel ends that wait, and the instance is found (uncancellably) and terminated, not leaked.
    proxy.lose_reply("RunInstances", 1)
    proxy.fail("DescribeTags", 8, 503, "RequestLimitExceeded", after=1)  # not the pre-launch lookup
    control, thread, raised = deploy_in_thread(proxy, real_dir, 42)
    until(lambda: proxy.seen["DescribeTags"] >= 3)
    control.cancelled.set()
    thread.join(HANG)
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ActionCancelled)
    assert proxy.forwarded["RunInstances"] == 1
    launched = instances(moto_endpoint)
    assert len(launched) == 1 and set(launched.values()) <= {"shutting-down", "terminated"}
