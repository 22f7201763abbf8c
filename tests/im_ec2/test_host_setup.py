"""Host setup without an ERROR phase: a host created before its credentials waits (INIT) and is MONITORED
soon after `onehost update`; wrong keys, an unreachable endpoint or an unknown region are an ERROR that
says which and what to fix, and monitoring recovers after one short retry once fixed.

End to end against the simulator (whose monitord sends START_MONITOR at host creation and nothing on
host.update, as 6.10's does) with one_im_ec2 and with one_im_sh's remotes, against a moto server that
checks signatures. The bound is by design: the driver re-reads the host template every
`setup_poll_interval` (small here) and retries at once when it changed; oned's own retry
(MONITORING_INTERVAL_HOST) and the driver's blind retry are both set far beyond the tests' reach.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from one_drivers.ec2.catalog import InstanceTypeCatalog
from one_drivers.ec2.clients import Ec2Settings
from one_drivers.im_ec2.monitor import HostMonitor, ImSettings
from one_drivers.im_ec2.setup import Condition, HostCondition, TemplateWatch, explain
from one_drivers.mad.monitord import DEFAULT_PERIODS, MonitorConfig
from one_drivers.one.gateway import OneGateway
from one_drivers.one.template import parse_template
from one_drivers.sim.server import Simulator
from tests.conftest import free_port, installed_program, wait_for
from tests.im_ec2.conftest import AuthedEndpoint
from tests.im_ec2.receiver import MonitordReceiver
from tests.im_ec2.test_main import Driver
from tests.im_ec2.test_monitor import Clock
from tests.sim.hosts import HostView

ROOT = Path(__file__).resolve().parents[2]
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=2)
INIT, MONITORED, ERROR = 0, 2, 3
NO_AWS_CHAIN = (
    "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE\n"
    "export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true\n"
)


# --- explanations (pure) ---------------------------------------------------------------------------


def client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeInstances")


def settings(**values: Any) -> Ec2Settings:
    sources = values.pop("sources", {"credentials": "host template", "region_name": "host template"})
    return Ec2Settings(host="ec2-x", **{"region_name": "us-east-1", **values}, sources=sources)


def test_no_credentials_is_waiting_not_an_error() -> None:
    found = explain(NoCredentialsError(), "ec2-x", settings())
    assert found.waiting and "onehost update ec2-x" in found.text and "EC2_ACCESS" in found.text


def test_each_problem_says_which_and_what_to_fix() -> None:
    rejected = explain(client_error("AuthFailure", "AWS was not able to validate"), "ec2-x", settings())
    assert rejected.condition is Condition.REJECTED
    assert rejected.text == (
        "EC2 rejected the credentials (from host template): AuthFailure: AWS was not able to validate; "
        "set EC2_ACCESS and EC2_SECRET with `onehost update ec2-x`"
    )
    from_conf = settings(sources={"credentials": "config regions/default"})
    assert (
        "under config regions/default in ec2_driver.conf"
        in explain(client_error("InvalidClientTokenId"), "ec2-x", from_conf).text
    )
    denied = explain(client_error("UnauthorizedOperation"), "ec2-x", settings())
    assert denied.condition is Condition.PERMISSION and "ec2:DescribeInstances" in denied.text
    endpoint = "http://127.0.0.1:9"
    down = EndpointConnectionError(endpoint_url=endpoint)
    unreachable = explain(
        down, "ec2-x", settings(endpoint_url=endpoint, sources={"endpoint_url": "host template"})
    )
    assert unreachable.condition is Condition.UNREACHABLE
    assert unreachable.text.startswith(f"cannot reach {endpoint} (EC2_ENDPOINT from host template): ")
    region = explain(down, "ec2-x", settings(region_name="us-east-9"))
    assert region.condition is Condition.REGION
    assert region.text.startswith("unknown EC2 region 'us-east-9' (REGION_NAME from host template)")
    # with nothing known of the host's settings, no region is blamed
    assert explain(down, "ec2-x", None).text.startswith(
        "cannot reach the EC2 endpoint: EndpointConnectionError"
    )
    # a known region that cannot be reached is the network's fault, not the region's
    assert explain(down, "ec2-x", settings(region_name="eu-west-1")).condition is Condition.UNREACHABLE
    assert explain(ValueError("CAPACITY names unknown EC2 instance type 'x'"), "h", None).text.startswith(
        "CAPACITY"
    )


# --- the monitor's states (clock driven) ------------------------------------------------------------


class SwitchableAccess:
    """No credentials until `client` is set; counts template reads like the real watch would."""

    def __init__(self) -> None:
        self.client: Any = None
        self.changed = False
        self.reads = 0

    def client_and_capacity(self, host_name: str) -> tuple[Any, Mapping[str, object]]:
        if self.client is None:
            raise NoCredentialsError()
        return self.client, {"T3_MICRO": "2"}

    def explain(self, exc: BaseException, host_name: str) -> HostCondition:
        return explain(exc, host_name, None)

    def template_changed(self, host_id: int, host_name: str) -> bool:
        self.reads += 1
        changed, self.changed = self.changed, False
        return changed


@pytest.fixture
def receiver() -> Iterator[MonitordReceiver]:
    r = MonitordReceiver()
    yield r
    r.close()


def test_waiting_reports_nothing_then_starts_on_the_template_change(
    moto_endpoint: str, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    clock, access = Clock(), SwitchableAccess()
    config = MonitorConfig("127.0.0.1", receiver.port, "", DEFAULT_PERIODS)
    settings_ = ImSettings(reaper=False, setup_poll_interval=5, retry_interval=600)
    monitor = HostMonitor(3, "ec2-x", config, access, catalog, settings=settings_, clock=clock, setup=access)
    assert monitor.start_document() == ""
    assert monitor.condition is not None and monitor.condition.waiting and monitor.error is None
    clock.now += 4
    assert monitor.step() == [] and access.reads == 0  # not yet time to read the template
    clock.now += 1
    assert monitor.step() == [] and access.reads == 1  # read: unchanged, nothing said to monitord
    assert monitor.wake_at() == clock.now + 5
    access.client = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    access.changed = True
    clock.now += 5
    sent = monitor.step()
    # SYSTEM_HOST first: what sets the host MONITORED in oned
    assert sent[0] == "SYSTEM_HOST" and set(sent) == {"SYSTEM_HOST", "MONITOR_HOST", "STATE_VM", "MONITOR_VM"}
    assert cast(object, monitor.condition) is None  # step() cleared it (mypy still has it narrowed)
    assert receiver.wait_for(lambda fs: len(fs) == 4)
    assert all(f.success for _, f in receiver.frames)
    # STATE_VM goes by TCP, the rest by UDP: arrival order holds within a transport only (monitord
    # reads both on threads of its own, so neither it nor this receiver sees one order across them).
    udp = [f.type for transport, f in receiver.frames if transport == "udp"]
    assert udp[0] == "SYSTEM_HOST" and [t for t, f in receiver.frames if f.type == "STATE_VM"] == ["tcp"]
    # credentials that worked and then vanish are an error, not a wait
    access.client = None
    clock.now += 600
    monitor.step()
    error = cast(str | None, monitor.error)  # step() set it (mypy still has it narrowed to None)
    assert error is not None and error.startswith("no EC2 credentials any more")


def test_a_problem_that_goes_away_is_retried_without_a_template_change(
    moto_endpoint: str, receiver: MonitordReceiver, catalog: InstanceTypeCatalog
) -> None:
    clock, access = Clock(), SwitchableAccess()
    config = MonitorConfig("127.0.0.1", receiver.port, "", DEFAULT_PERIODS)
    settings_ = ImSettings(reaper=False, setup_poll_interval=5, retry_interval=30)
    down = boto3.client(
        "ec2", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1", config=NO_RETRY
    )
    access.client = down
    monitor = HostMonitor(3, "ec2-x", config, access, catalog, settings=settings_, clock=clock, setup=access)
    assert monitor.start_document() == ""
    assert monitor.condition is not None and monitor.condition.condition is Condition.UNREACHABLE
    assert receiver.wait_for(lambda fs: len(fs) == 1)
    assert not receiver.frames[0][1].success and receiver.frames[0][1].type == "MONITOR_HOST"
    access.client = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    clock.now += 29
    assert "SYSTEM_HOST" not in monitor.step()  # template unchanged, retry not due yet
    clock.now += 1
    assert monitor.step()[0] == "SYSTEM_HOST" and monitor.condition is None


def test_template_watch_reads_one_host(tmp_path: Path) -> None:
    with Simulator(auth_dir=tmp_path / "one") as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "ec2-x", "dummy", "dummy", -1)
        watch = TemplateWatch(lambda: gw)
        assert watch.changed(host)  # nothing read before: worth a retry
        assert not watch.changed(host)
        gw.call("one.host.update", host, 'NOTES="not an EC2 attribute"', 1)
        assert not watch.changed(host)
        gw.call("one.host.update", host, 'EC2_SECRET="s"', 1)
        assert watch.changed(host)


# --- end to end with the simulator -----------------------------------------------------------------


def write_conf(tmp_path: Path, endpoint: str) -> Path:
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        f"""
max_attempts: 1
regions:
    default:
        region_name: us-east-1
        endpoint_url: {endpoint}
        capacity:
            t3.micro: 4
monitoring:
    reaper: false
    min_poll_interval: 0.2
    setup_poll_interval: 0.3
    retry_interval: 3600
"""
    )
    return conf


def keys(access: str, secret: str) -> str:
    return f'EC2_ACCESS="{access}"\nEC2_SECRET="{secret}"\nREGION_NAME="us-east-1"'


def check_setup_flow(cloud: HostView, authed: AuthedEndpoint, log: Path) -> None:
    """The README's steps typed by a person, then a typo in the keys and its fix."""
    gw = cloud.gw
    # 1. onehost create, and the update a few seconds later
    host = gw.call("one.host.allocate", "ec2-x", "ec2", "ec2", -1)
    wait_for(lambda: cloud.answered(host))
    wait_for(lambda: "waiting for EC2 credentials" in log.read_text() if log.exists() else False)
    assert cloud.state(host) == INIT
    gw.call("one.host.update", host, keys(authed.access_key, authed.secret_key), 1)
    wait_for(lambda: cloud.state(host) == MONITORED)
    assert cloud.states(host) == [INIT, MONITORED]  # never ERROR
    assert cloud.doc(host).findtext("HOST_SHARE/TOTAL_CPU") == str(4 * 200)

    # 2. wrong keys: ERROR that says which and what to fix; fixed: MONITORED after one retry
    other = gw.call("one.host.allocate", "ec2-y", "ec2", "ec2", -1)
    gw.call("one.host.update", other, keys(authed.access_key, "not-the-secret"), 1)
    wait_for(lambda: cloud.state(other) == ERROR)
    error = cloud.doc(other).findtext("TEMPLATE/ERROR") or ""
    assert (
        f"Error monitoring Host ec2-y ({other}): EC2 rejected the credentials (from host template): " in error
    )
    assert "AuthFailure" in error and "set EC2_ACCESS and EC2_SECRET with `onehost update ec2-y`" in error
    gw.call("one.host.update", other, keys(authed.access_key, authed.secret_key), 1)
    wait_for(lambda: cloud.state(other) == MONITORED)
    assert cloud.doc(other).find("TEMPLATE/ERROR") is None
    assert cloud.states(other) == [INIT, ERROR, MONITORED]


@pytest.mark.slow
def test_one_im_ec2_host_setup(tmp_path: Path, authed_moto: AuthedEndpoint) -> None:
    im = tmp_path / "one_im_ec2"
    im.write_text(f"#!/bin/sh\n{NO_AWS_CHAIN}exec {installed_program('one_im_ec2')} $1\n")
    im.chmod(0o755)
    conf = write_conf(tmp_path, authed_moto.endpoint)
    log = tmp_path / "im.log"
    command = f"{im} --config {conf} --log {log}"
    # manager_timer: monitord's own retry never comes within the test
    with Simulator(auth_dir=tmp_path / "one", im={"ec2": command}, manager_timer=3600) as sim:
        view = HostView(sim)
        check_setup_flow(view, authed_moto, log)
        # 3. an endpoint nobody listens on, then the right one
        closed = f"http://127.0.0.1:{free_port()}"
        third = view.gw.call("one.host.allocate", "ec2-z", "ec2", "ec2", -1)
        good = keys(authed_moto.access_key, authed_moto.secret_key)
        view.gw.call("one.host.update", third, f'{good}\nEC2_ENDPOINT="{closed}"', 1)
        wait_for(lambda: view.state(third) == ERROR)
        error = view.doc(third).findtext("TEMPLATE/ERROR") or ""
        assert f"cannot reach {closed} (EC2_ENDPOINT from host template): EndpointConnectionError" in error
        view.gw.call("one.host.update", third, f'EC2_ENDPOINT="{authed_moto.endpoint}"', 1)
        wait_for(lambda: view.state(third) == MONITORED)
        assert view.states(third) == [INIT, ERROR, MONITORED]


@pytest.mark.slow
def test_one_im_sh_remotes_host_setup(tmp_path: Path, authed_moto: AuthedEndpoint) -> None:
    conf = write_conf(tmp_path, authed_moto.endpoint)
    log = tmp_path / "remote.log"
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    exports = {
        "ONE_DRIVERS_PYTHON": sys.executable,
        "ONE_EC2_DRIVER_CONF": str(conf),
        "ONE_EC2_LOG": str(log),
        "ONE_EC2_PID_DIR": str(pid_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    im = tmp_path / "one_im_sh"
    im.write_text(
        "#!/bin/sh\n"
        + NO_AWS_CHAIN
        + "".join(f"export {k}='{v}'\n" for k, v in exports.items())
        + f"exec {sys.executable} -m one_drivers.sim.im_exec {ROOT / 'remotes'}\n"
    )
    im.chmod(0o755)
    try:
        with Simulator(
            auth_dir=tmp_path / "one", im={"ec2": f"{im} -c -t 1 -r 0 ec2"}, manager_timer=3600
        ) as sim:
            check_setup_flow(HostView(sim), authed_moto, log)
    finally:
        for pid_file in pid_dir.glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass


# --- 4.4-5.10 poll and ≤4.2 MONITOR: as far as their protocols allow ---------------------------------


def legacy_env(tmp_path: Path, conf: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        ONE_EC2_DRIVER_CONF=str(conf),
        ONE_EC2_LOG=str(tmp_path / "poll.log"),
        ONE_XMLRPC=f"http://127.0.0.1:{free_port()}/RPC2",  # no oned: the YAML file decides
        ONE_AUTH=str(tmp_path / "no_auth"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def poll(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "remotes" / "im" / "ec2.d" / "poll"), "ec2", "7", "ec2-x"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.slow
def test_poll_without_credentials_is_an_empty_host(tmp_path: Path, moto_endpoint: str) -> None:
    done = poll(legacy_env(tmp_path, write_conf(tmp_path, moto_endpoint)))
    assert done.returncode == 0, done.stderr
    tmpl = parse_template(done.stdout)
    # oned 4.4-5.10 sets the host MONITORED with no capacity (nothing scheduled) instead of ERROR;
    # no VM_POLL, so the VMs oned has there are not taken for lost
    assert (tmpl.get("HYPERVISOR"), tmpl.get("TOTALCPU"), tmpl.get("TOTALMEMORY")) == ("ec2", "0", "0")
    assert tmpl.get("VM_POLL") is None and tmpl.vectors("VM") == []


@pytest.mark.slow
def test_poll_with_rejected_or_unreachable_endpoint_says_so(
    tmp_path: Path, authed_moto: AuthedEndpoint
) -> None:
    conf = tmp_path / "wrong.conf"
    conf.write_text(
        "max_attempts: 1\nregions:\n  default:\n    region_name: us-east-1\n"
        f"    endpoint_url: {authed_moto.endpoint}\n    access_key_id: {authed_moto.access_key}\n"
        "    secret_access_key: wrong\n    capacity:\n      t3.micro: 1\n"
    )
    done = poll(legacy_env(tmp_path, conf))
    assert done.returncode == 1
    assert "EC2 rejected the credentials (from config regions/default): AuthFailure" in done.stderr
    assert "access_key_id/secret_access_key under config regions/default in ec2_driver.conf" in done.stderr
    closed = f"http://127.0.0.1:{free_port()}"
    conf.write_text(conf.read_text().replace(authed_moto.endpoint, closed))
    down = poll(legacy_env(tmp_path, conf))
    assert down.returncode == 1
    assert f"cannot reach {closed} (EC2_ENDPOINT from config regions/default)" in down.stderr


@pytest.mark.slow
def test_legacy_monitor_waits_and_explains(tmp_path: Path, authed_moto: AuthedEndpoint) -> None:
    conf = write_conf(tmp_path, authed_moto.endpoint)
    wrong = tmp_path / "wrong.conf"
    wrong.write_text(
        conf.read_text().replace(
            "endpoint_url:",
            f"access_key_id: {authed_moto.access_key}\n        secret_access_key: x\n        endpoint_url:",
        )
    )
    for config, expect in ((conf, "SUCCESS"), (wrong, "FAILURE")):
        # over pipes as oned ≤4.2 talks to it: one MONITOR, its reply, then FINALIZE
        driver = Driver(
            ["--config", str(config), "--log", str(tmp_path / "im.log")], legacy_env(tmp_path, config)
        )
        try:
            driver.send("INIT")
            driver.reply("INIT")
            driver.send("MONITOR 7 ec2-x")
            line = driver.reply("MONITOR ")
        finally:
            assert driver.close() == 0
        _, result, hid, info = line.split(" ", 3)
        assert (result, hid) == (expect, "7")
        text = base64.b64decode(info).decode()
        if expect == "SUCCESS":
            assert parse_template(text).get("TOTALCPU") == "0" and "VM_POLL" not in text
        else:
            assert text.startswith("EC2 rejected the credentials (from config regions/default): AuthFailure")
