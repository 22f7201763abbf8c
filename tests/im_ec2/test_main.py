"""one_im_ec2 over real pipes: INIT, START_MONITOR (recorded 6.10.5 shape), pushes, STOP_MONITOR, MONITOR."""

from __future__ import annotations

import base64
import os
import queue
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.mad.monitord import decode_frame, encode_payload, parse_monitor_messages
from one_drivers.one.template import parse_template
from tests.im_ec2.conftest import Region
from tests.im_ec2.receiver import MonitordReceiver

ROOT = Path(__file__).resolve().parents[2]


class Driver:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "one_drivers.im_ec2.main", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def reply(self, prefix: str, timeout: float = 30) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith(prefix):
                return line

    def close(self) -> int:
        try:
            self.send("FINALIZE")
        except BrokenPipeError:
            pass
        return self.proc.wait(timeout=20)


def write_config(
    tmp_path: Path, endpoint: str, capacity: str = "t3.micro: 10\n            m1.small: 5"
) -> Path:
    path = tmp_path / "ec2_driver.conf"
    path.write_text(
        f"""
regions:
    default:
        region_name: us-east-1
        access_key_id: testing
        secret_access_key: testing
        endpoint_url: {endpoint}
        capacity:
            {capacity}
monitoring:
    reaper: false
    min_poll_interval: 0.2
"""
    )
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    # No OpenNebula here: the host template lookup fails fast and the YAML section applies.
    e["ONE_XMLRPC"] = "http://127.0.0.1:9/RPC2"
    e["ONE_AUTH"] = str(tmp_path / "no_auth")
    return e


@pytest.fixture
def receiver() -> Iterator[MonitordReceiver]:
    r = MonitordReceiver()
    yield r
    r.close()


def start_monitor_line(real_dir: Path, port: int, host_id: int = 0) -> str:
    """The recorded START_MONITOR of 6.10.5 for host 0, with our receiver's port and faster periods."""
    text = (real_dir / "driver_messages.txt").read_text(encoding="utf-8")
    xml = next(
        line[6:]
        for line in text.splitlines()
        if line.startswith("    | <MONITOR_DRIVER_ACTION><HOST><ID>0</ID>")
    )
    root = ET.fromstring(xml)
    assert root.findtext("MONITOR_CONFIGURATION/NETWORK/PORT") == "4124"
    root.find("MONITOR_CONFIGURATION/NETWORK/PORT").text = str(port)  # type: ignore[union-attr]
    for probe in ("BEACON_HOST", "MONITOR_HOST", "MONITOR_VM", "STATE_VM"):
        root.find(f"MONITOR_CONFIGURATION/PROBES_PERIOD/{probe}").text = "1"  # type: ignore[union-attr]
    xml = ET.tostring(root, encoding="unicode")
    return f"START_MONITOR - {host_id} 0 {encode_payload(xml)}"


def test_start_monitor_over_pipes(
    region: Region, real_dir: Path, tmp_path: Path, env: dict[str, str], receiver: MonitordReceiver
) -> None:
    driver = Driver(
        ["--config", str(write_config(tmp_path, region.endpoint)), "--log", str(tmp_path / "im.log")], env
    )
    try:
        driver.send("INIT")
        assert driver.reply("INIT") == "INIT SUCCESS - -"
        driver.send(start_monitor_line(real_dir, receiver.port))
        line = driver.reply("START_MONITOR")
        frame = decode_frame(line)
        assert (frame.type, frame.status, frame.host_id) == ("START_MONITOR", "SUCCESS", 0)
        _, messages = parse_monitor_messages(frame.text)
        docs = dict(messages)
        assert parse_template(docs["SYSTEM_HOST"]).get("TOTALCPU") == str(10 * 200 + 5 * 100)
        assert {v["ID"] for v in parse_template(docs["MONITOR_VM"]).vectors("VM")} == {"1", "2"}
        # then the pushes arrive at the configured address
        assert receiver.wait_for(
            lambda fs: {f.type for _, f in fs} >= {"BEACON_HOST", "MONITOR_HOST", "MONITOR_VM"}, timeout=20
        )
        assert all(f.host_id == 0 for _, f in receiver.frames)
        driver.send("STOP_MONITOR - 0 0 " + encode_payload("<MONITOR_DRIVER_ACTION/>"))
        stop = decode_frame(driver.reply("STOP_MONITOR"))
        assert stop.success and stop.text == ""
        driver.send("BOGUS 1 2")
        assert driver.reply("BOGUS").startswith("BOGUS FAILURE 1 ")
    finally:
        assert driver.close() == 0


def test_start_monitor_failure_is_pushed_with_the_reason(
    region: Region, real_dir: Path, tmp_path: Path, env: dict[str, str], receiver: MonitordReceiver
) -> None:
    config = write_config(tmp_path, region.endpoint, capacity="zz9.plural: 3")
    driver = Driver(["--config", str(config), "--log", str(tmp_path / "im.log")], env)
    try:
        driver.send("INIT")
        driver.reply("INIT")
        driver.send(start_monitor_line(real_dir, receiver.port))
        # monitord 6.10 drops a START_MONITOR FAILURE's text (ERROR with no reason): the reply is an
        # empty SUCCESS and the reason travels as MONITOR_HOST FAILURE, which oned shows.
        frame = decode_frame(driver.reply("START_MONITOR"))
        assert frame.status == "SUCCESS" and frame.text == ""
        assert receiver.wait_for(lambda fs: any(f.type == "MONITOR_HOST" for _, f in fs))
        (pushed,) = [f for _, f in receiver.frames if f.type == "MONITOR_HOST"]
        assert not pushed.success and "zz9.plural" in pushed.text
        # malformed payload: a FAILURE in monitord's shape too, never silence
        driver.send("START_MONITOR - 5 0 bm90IHpsaWI=")
        bad = decode_frame(driver.reply("START_MONITOR"))
        assert bad.status == "FAILURE" and bad.host_id == 5
    finally:
        assert driver.close() == 0


@pytest.mark.parametrize("form", ["base64", "comma"])
def test_legacy_monitor(region: Region, tmp_path: Path, env: dict[str, str], form: str) -> None:
    config = write_config(tmp_path, region.endpoint)
    driver = Driver(
        ["--config", str(config), "--legacy-format", form, "--log", str(tmp_path / "im.log")], env
    )
    try:
        driver.send("INIT")
        driver.reply("INIT")
        driver.send("MONITOR 7 ec2-host 1")
        line = driver.reply("MONITOR")
        action, result, hid, info = line.split(" ", 3)
        assert (action, result, hid) == ("MONITOR", "SUCCESS", "7")
        if form == "base64":
            tmpl = parse_template(base64.b64decode(info).decode())
            assert tmpl.get("VM_POLL") == "YES"
            assert {v["DEPLOY_ID"] for v in tmpl.vectors("VM")} == {region.running, region.small, region.wild}
        else:
            assert " " not in info.replace(" = ", "=").replace('"ec2-host"', "")
            tmpl = parse_template(info.replace(",", "\n"))
            assert tmpl.get("HOSTNAME") == "ec2-host"
        assert tmpl.get("TOTALCPU") == "2500"
    finally:
        assert driver.close() == 0


def test_monitor_with_ds_location_and_failure(region: Region, tmp_path: Path, env: dict[str, str]) -> None:
    good = write_config(tmp_path, region.endpoint)
    driver = Driver(["--config", str(good), "--log", str(tmp_path / "im.log")], env)
    try:
        driver.send("INIT")
        driver.reply("INIT")
        # 4.4-5.10 oned pointed at the long-running program: MONITOR <hid> <host> <ds_location> <update>
        driver.send("MONITOR 3 ec2-host /var/lib/one//datastores 0")
        _, result, hid, info = driver.reply("MONITOR").split(" ", 3)
        assert (result, hid) == ("SUCCESS", "3")
        assert parse_template(base64.b64decode(info).decode()).get("HOSTNAME") == "ec2-host"
        driver.send("MONITOR 3")
        assert driver.reply("MONITOR").startswith("MONITOR FAILURE 3 ")
    finally:
        assert driver.close() == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    driver = Driver(
        [
            "--config",
            str(write_config(bad, region.endpoint, capacity="zz8.nope: 1")),
            "--log",
            str(bad / "im.log"),
        ],
        env,
    )
    try:
        driver.send("INIT")
        driver.reply("INIT")
        driver.send("MONITOR 3 ec2-host /ds 0")
        _, result, hid, info = driver.reply("MONITOR").split(" ", 3)
        assert (result, hid) == ("FAILURE", "3")
        assert "zz8.nope" in base64.b64decode(info).decode()  # 4.x oned base64-decodes FAILURE info too
    finally:
        assert driver.close() == 0
