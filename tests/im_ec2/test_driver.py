"""ImDriver in-process: one monitoring loop per host, STOP_MONITOR ends it, replies in monitord's shape."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pytest

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.im_ec2.driver import ImDriver
from one_drivers.im_ec2.instances import trim_describe_instances
from one_drivers.im_ec2.monitor import ImSettings
from one_drivers.mad.codec import Request
from one_drivers.mad.loop import ActionContext, ActionError, ReplyWriter
from one_drivers.mad.monitord import decode_frame, encode_payload
from tests.im_ec2.conftest import Region, ec2_client
from tests.im_ec2.receiver import MonitordReceiver


class Access:
    def __init__(self, client: Any) -> None:
        self.client = client

    def client_and_capacity(self, host_name: str) -> tuple[Any, Mapping[str, object]]:
        return self.client, {"T3_MICRO": "2"}


def ctx(action: str, line: str) -> ActionContext:
    request = Request(action, tuple(line.split()))
    return ActionContext(request, request.field(1), ReplyWriter(io.StringIO()))


def start_line(host_id: int, port: int) -> str:
    xml = (
        f"<MONITOR_DRIVER_ACTION><HOST><ID>{host_id}</ID><NAME>h{host_id}</NAME></HOST><MONITOR_CONFIGURATION>"
        f"<NETWORK><MONITOR_ADDRESS>auto</MONITOR_ADDRESS><PORT>{port}</PORT></NETWORK>"
        "</MONITOR_CONFIGURATION></MONITOR_DRIVER_ACTION>"
    )
    return f"- {host_id} 0 {encode_payload(xml)}"


def test_one_loop_per_host(region: Region, catalog: InstanceTypeCatalog) -> None:
    receiver = MonitordReceiver()
    driver = ImDriver(
        Access(trim_describe_instances(ec2_client(region.endpoint))), catalog, ImSettings(reaper=False)
    )
    try:
        info = driver.start_monitor(ctx("START_MONITOR", start_line(4, receiver.port)))
        first = driver.monitors[4]
        frame = decode_frame(f"START_MONITOR SUCCESS 4 {info}")
        assert frame.text.startswith("<MONITOR_MESSAGES>")
        driver.start_monitor(ctx("START_MONITOR", start_line(4, receiver.port)))
        assert list(driver.monitors) == [4]
        assert driver.monitors[4] is not first and not first.running
        driver.start_monitor(ctx("START_MONITOR", start_line(5, receiver.port)))
        assert sorted(driver.monitors) == [4, 5]
        stopped = driver.stop_monitor(ctx("STOP_MONITOR", "- 4 0"))
        assert decode_frame(f"STOP_MONITOR SUCCESS 4 {stopped}").text == ""
        assert list(driver.monitors) == [5]
        again = driver.stop_monitor(ctx("STOP_MONITOR", "- 4 0"))
        assert "not monitored" in decode_frame(f"STOP_MONITOR SUCCESS 4 {again}").text
        with pytest.raises(ActionError) as err:
            driver.stop_monitor(ctx("STOP_MONITOR", "- x 0"))
        assert err.value.reply_info is not None
        assert decode_frame(f"STOP_MONITOR FAILURE 0 {err.value.reply_info}").text == "bad host id 'x'"
    finally:
        driver.stop_all()
        receiver.close()
    assert driver.monitors == {}
