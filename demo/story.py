"""The whole story on embedded defaults: OpenNebula (our simulator) with econe in front and moto outside.

An EC2 client (boto3) drives the OpenNebula cloud through econe; the cloud bursts a VM to the outside EC2
(moto) through our `one_vmm_ec2` and `one_im_ec2` programs, started and spoken to exactly as oned does.
The same cloud answers OCCI (occi-compute -> occi-server) beside econe.
Everything listens on 127.0.0.1; nothing needs configuration, root or the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
EC2_HOST = "ec2-moto"


def _free_port(preferred: int = 0) -> int:
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


def _program(name: str) -> str:
    script = Path(sys.executable).with_name(name)
    if not script.exists():
        raise SystemExit(f"{name} is not installed next to {sys.executable}: run `make demo`")
    return str(script)


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def _print_rows(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print(f"\n== {title}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run_cloud_demo(wait: bool) -> list[tuple[str, str, str, str]]:
    """Run the story, print it; with `wait`, keep econe up until Ctrl-C. Returns the printed rows."""
    import boto3
    from moto.server import ThreadedMotoServer

    from one_drivers.econe.config import EconeConfig
    from one_drivers.econe.server import EconeServer
    from one_drivers.one.gateway import OneGateway
    from one_drivers.one.records import VmRecord
    from one_drivers.one.states import LcmState, VmState
    from one_drivers.one.template import build_template
    from one_drivers.sim.server import Simulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rows: list[tuple[str, str, str, str]] = []

    def row(step: str, via: str, result: str, seconds: float) -> None:
        rows.append((step, via, result, f"{seconds:.2f}"))

    work = Path(tempfile.mkdtemp(prefix="one_drivers_story_"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        # --- the outside cloud -------------------------------------------------------------------
        moto_port = _free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        moto_url = f"http://127.0.0.1:{moto_port}"
        outside = boto3.client(
            "ec2", region_name="us-east-1", endpoint_url=moto_url, aws_access_key_id="moto",
            aws_secret_access_key="moto",
        )  # fmt: skip

        # --- OpenNebula, with the ec2 drivers wired as oned wires them -----------------------------
        conf = work / "ec2_driver.conf"
        conf.write_text("state_wait_timeout_seconds: 60\n")
        defaults = work / "ec2_driver.default"
        defaults.write_text(
            "<TEMPLATE><PUBLIC_CLOUD><INSTANCETYPE>t3.micro</INSTANCETYPE></PUBLIC_CLOUD></TEMPLATE>"
        )
        vmm_args = (
            f"-t 15 -r 0 --config {conf} --defaults {defaults} --log-file {work}/one_vmm_ec2.log "
            "--no-socket --poll-interval 0.1"
        )
        im_args = f"--config {conf} --log {work}/one_im_ec2.log"
        periods = {"BEACON_HOST": 5, "MONITOR_HOST": 2, "MONITOR_VM": 2, "STATE_VM": 1, "SYSTEM_HOST": 2}
        t0 = time.monotonic()
        sim = Simulator(
            auth_dir=work / "one",
            vmm={"ec2": f"{_program('one_vmm_ec2')} {vmm_args}"},
            im={"ec2": f"{_program('one_im_ec2')} {im_args}"},
            sched_interval=1.0,
            probes_period=periods,
        )
        sim.__enter__()
        stack.callback(sim.__exit__, None, None, None)
        admin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        local = int(admin.call("one.host.allocate", "local-kvm", "dummy", "dummy", -1))
        ec2_host = int(admin.call("one.host.allocate", EC2_HOST, "ec2", "ec2", -1))
        admin.call(
            "one.host.update",
            ec2_host,
            build_template(
                [
                    ("EC2_ACCESS", "moto"),
                    ("EC2_SECRET", "moto"),
                    ("REGION_NAME", "us-east-1"),
                    ("EC2_ENDPOINT", moto_url),
                    ("CAPACITY", {"T3_MICRO": "4", "M5_LARGE": "2"}),
                ]
            ),
            1,
        )

        def host_share(host_id: int) -> dict[str, str]:
            return admin.host_info(host_id).share

        took = _wait_for(
            lambda: host_share(ec2_host).get("TOTAL_CPU") not in (None, "", "0"),
            "the ec2 host's first monitoring",
        )
        share = host_share(ec2_host)
        row(
            "ec2 host monitored",
            "one_im_ec2 -> monitord",
            f"TOTAL_CPU={share.get('TOTAL_CPU')} "
            f"TOTAL_MEM={share.get('TOTAL_MEM')} KB (CAPACITY t3.micro x4, m5.large x2)",
            took,
        )
        _ = local

        # --- econe in front of it, and a user who signs with boto3 ---------------------------------
        uid = admin.user_allocate(DEMO_USER, DEMO_PASSWORD, "core", (1,))
        secret = hashlib.sha256(DEMO_PASSWORD.encode()).hexdigest()
        ami = admin.image_allocate(
            build_template([("NAME", "ubuntu-24.04"), ("PATH", "/var/tmp/ubuntu.img"), ("EC2_AMI", "YES")]), 1
        )
        admin.call("one.image.chmod", ami, -1, -1, -1, -1, -1, -1, 1, -1, -1)  # others may use it
        small = int(
            admin.call(
                "one.template.allocate",
                build_template(
                    [
                        ("NAME", "m1.small"),
                        ("CPU", "1"),
                        ("VCPU", "1"),
                        ("MEMORY", "1024"),
                        ("EC2_INSTANCE_TYPE", "m1.small"),
                        ("CONTEXT", {"NETWORK": "YES"}),
                    ]
                ),
            )
        )
        admin.call("one.template.chmod", small, -1, -1, -1, -1, -1, -1, 1, -1, -1)
        econe_port = _free_port(4567)
        config = EconeConfig(
            tmpdir=str(work),
            one_xmlrpc=sim.endpoint,
            host="127.0.0.1",
            port=econe_port,
            one_cipher_auth=str(work / "one" / "sunstone_auth"),
            pid_file=str(work / "econe.pid"),
            log_file=str(work / "econe.log"),
            debug_level=1,
            workers=8,
        )
        econe = EconeServer(config).start()
        stack.callback(econe.stop)
        client = boto3.client(
            "ec2", endpoint_url=econe.url, region_name=config.region_name, aws_access_key_id=DEMO_USER,
            aws_secret_access_key=secret,
        )  # fmt: skip

        started = time.monotonic()
        regions = [r["RegionName"] for r in client.describe_regions()["Regions"]]
        types = [t["InstanceType"] for t in client.describe_instance_types()["InstanceTypes"]]
        images = [i["ImageId"] for i in client.describe_images()["Images"]]
        row(
            "describe region/types/images",
            "boto3 -> econe (SigV4)",
            f"regions={regions} types={types} images={images}",
            time.monotonic() - started,
        )
        started = time.monotonic()
        run = client.run_instances(ImageId=images[0], InstanceType="m1.small", MinCount=2, MaxCount=2)
        ids = [i["InstanceId"] for i in run["Instances"]]
        row(
            "run 2 instances",
            "boto3 -> econe",
            f"{ids} {run['Instances'][0]['State']['Name']}",
            time.monotonic() - started,
        )

        def states() -> list[str]:
            found = client.describe_instances(InstanceIds=ids)["Reservations"]
            return [i["State"]["Name"] for r in found for i in r["Instances"]]

        took = _wait_for(lambda: states() == ["running", "running"], "econe instances to run")
        row("scheduled to local-kvm", "simulated oned", f"describe-instances: {states()}", took)

        # --- the same cloud through OCCI: occi-compute -> occi-server, as upstream's tools ---------
        occi = _start_occi(work, sim.endpoint, stack)
        occi_rows = occi_round_trip(occi, work)
        rows.extend(occi_rows)

        # --- cloud bursting: a VM with a PUBLIC_CLOUD section goes to the ec2 host ----------------
        started = time.monotonic()
        burst = int(
            admin.call(
                "one.vm.allocate",
                build_template(
                    [
                        ("NAME", "burst-web"),
                        ("CPU", "1"),
                        ("MEMORY", "1024"),
                        ("PUBLIC_CLOUD", {"TYPE": "ec2", "AMI": "ami-12c6146b", "TAGS": "team=web"}),
                        ("CONTEXT", {"SSH_PUBLIC_KEY": "ssh-ed25519 AAAAdemo demo@one"}),
                    ]
                ),
                False,
            )
        )

        def vm(vm_id: int) -> VmRecord:
            return admin.vm_info(vm_id)

        _wait_for(lambda: vm(burst).lcm_state == LcmState.RUNNING, "the burst VM to run", timeout=90)
        instance_id = vm(burst).deploy_id
        found = outside.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        row(
            f"burst VM {burst} RUNNING",
            "sched -> one_vmm_ec2 -> EC2",
            f"DEPLOY_ID={instance_id} EC2 {found['State']['Name']} {found['InstanceType']} tags={tags}",
            time.monotonic() - started,
        )
        took = _wait_for(lambda: "TIMESTAMP" in vm(burst).monitoring, "the burst VM's monitoring", 60)
        mon_text = " ".join(
            f"{name}={value}"
            for name, value in vm(burst).monitoring.items()
            if name.startswith(("STATE", "AWS_INSTANCE", "AWS_PRIVATE_IP"))
        )
        row("burst VM monitored", "one_im_ec2 -> monitord", mon_text or "(monitoring received)", took)

        print(
            f"\none_drivers: OpenNebula (simulated) + econe + an outside EC2 (moto), set up in {time.monotonic() - t0:.1f} s"
        )
        _print_rows("what happened", ("step", "through", "result", "s"), rows)
        aws = Path(sys.executable).with_name("aws")
        print(f"\nOCCI is served at {occi} (occi-compute list -R {occi} -U {DEMO_USER} -P {DEMO_PASSWORD})")
        print(
            "\necone is serving the OpenNebula cloud's EC2 API at "
            f"{econe.url}  (user {DEMO_USER!r}, OpenNebula uid {uid}). Try it by hand:\n\n"
            f"  AWS_ACCESS_KEY_ID={DEMO_USER} AWS_SECRET_ACCESS_KEY={secret} \\\n"
            f"    {aws} --endpoint-url {econe.url} --region {config.region_name} ec2 describe-instances\n"
        )
        if wait:
            print("Press Ctrl-C to stop (the burst VM is terminated in EC2 on the way out).")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                print()

        # --- tear down: terminating the burst VM terminates its instance --------------------------
        started = time.monotonic()
        admin.vm_action("terminate", burst)
        _wait_for(lambda: vm(burst).state == VmState.DONE, "the burst VM to be DONE")
        state = outside.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        for vm_id in ids:
            client.terminate_instances(InstanceIds=[vm_id])
        final = [
            (
                "terminate burst VM",
                "oned -> one_vmm_ec2",
                f"VM DONE, EC2 {state['State']['Name']}",
                time.monotonic() - started,
            )
        ]
        rows.append((final[0][0], final[0][1], final[0][2], f"{final[0][3]:.2f}"))
        _print_rows("shutting down", ("step", "through", "result", "s"), [rows[-1]])

        # --- last act: another OpenNebula bursts into this one through its econe -------------------
        loop_rows = full_loop(work, econe.url, secret, admin, stack)
        rows.extend(loop_rows)
        _print_rows(
            "the full loop: OpenNebula A bursts through EC2 into this OpenNebula's econe",
            ("step", "through", "result", "s"),
            loop_rows,
        )
    return rows


def full_loop(
    work: Path, econe_url: str, secret: str, admin_b: Any, stack: ExitStack
) -> list[tuple[str, str, str, str]]:
    """OpenNebula A (a second simulator with its own one_vmm_ec2/one_im_ec2) whose ec2 host points at
    econe on the story's cloud (B): deploy, monitor, power off, resume, terminate; nothing left behind."""
    from one_drivers.one.gateway import OneGateway
    from one_drivers.one.records import VmRecord
    from one_drivers.one.states import VmState
    from one_drivers.one.template import build_template
    from one_drivers.sim.server import Simulator

    rows: list[tuple[str, str, str, str]] = []
    # B: an EBS-backed AMI (a persistent image): EC2 only stops EBS-backed instances.
    ami = admin_b.image_allocate(
        build_template(
            [("NAME", "loop-root"), ("PATH", "/var/tmp/loop.img"), ("EC2_AMI", "YES"), ("PERSISTENT", "YES")]
        ),
        1,
    )
    admin_b.call("one.image.chmod", ami, -1, -1, -1, -1, -1, -1, 1, -1, -1)
    conf = work / "loop_driver.conf"
    conf.write_text("state_wait_timeout_seconds: 60\n")
    defaults = work / "loop_driver.default"
    defaults.write_text("<TEMPLATE><PUBLIC_CLOUD></PUBLIC_CLOUD></TEMPLATE>")
    vmm_args = f"-t 4 --config {conf} --defaults {defaults} --log-file {work}/a_vmm_ec2.log --no-socket --poll-interval 0.1"
    im_args = f"--config {conf} --log {work}/a_im_ec2.log"
    periods = {"BEACON_HOST": 5, "MONITOR_HOST": 1, "MONITOR_VM": 1, "STATE_VM": 1, "SYSTEM_HOST": 1}
    started = time.monotonic()
    sim_a = Simulator(
        auth_dir=work / "one_a",
        vmm={"ec2": f"{_program('one_vmm_ec2')} {vmm_args}"},
        im={"ec2": f"{_program('one_im_ec2')} {im_args}"},
        sched_interval=0.5,
        probes_period=periods,
    )
    sim_a.__enter__()
    stack.callback(sim_a.__exit__, None, None, None)
    a = OneGateway(sim_a.endpoint, sim_a.oneadmin_auth)
    host = int(a.call("one.host.allocate", "opennebula-b", "ec2", "ec2", -1))
    a.call(
        "one.host.update",
        host,
        build_template(
            [
                ("EC2_ACCESS", DEMO_USER),
                ("EC2_SECRET", secret),
                ("REGION_NAME", "opennebula"),
                ("EC2_ENDPOINT", econe_url),
                ("CAPACITY", {"M1_SMALL": "2"}),
            ]
        ),
        1,
    )
    took = _wait_for(
        lambda: a.host_info(host).share.get("TOTAL_CPU") not in (None, "", "0"),
        "A's ec2 host to be monitored through econe",
    )
    cpu = a.host_info(host).share.get("TOTAL_CPU")
    rows.append(
        (
            "A: host opennebula-b monitored",
            "one_im_ec2 -> econe (B)",
            f"TOTAL_CPU={cpu}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    _ = took

    def a_vm() -> VmRecord:
        return a.vm_info(vm)

    def a_state() -> str:
        doc = a_vm()
        return f"{int(doc.state)}/{int(doc.lcm_state)}"

    def b_vm() -> VmRecord:
        return admin_b.vm_info(int(instance_id[2:]))

    def b_state() -> str:
        state = b_vm().state
        return state.name if state in (VmState.ACTIVE, VmState.POWEROFF, VmState.DONE) else str(int(state))

    started = time.monotonic()
    vm = int(
        a.call(
            "one.vm.allocate",
            build_template(
                [
                    ("NAME", "loop-web"),
                    ("CPU", "1"),
                    ("MEMORY", "1024"),
                    ("PUBLIC_CLOUD", {"TYPE": "ec2", "AMI": f"ami-{ami:08d}", "INSTANCETYPE": "m1.small"}),
                ]
            ),
            False,
        )
    )
    _wait_for(lambda: a_state() == "3/3", "A's VM to run on opennebula-b", timeout=90)
    instance_id = a_vm().deploy_id
    owner = b_vm().uname
    rows.append(
        (
            f"A: VM {vm} RUNNING",
            "sched -> one_vmm_ec2 -> econe",
            f"B VM {instance_id} of {owner!r}, {b_state()}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    _wait_for(lambda: "TIMESTAMP" in a_vm().monitoring, "A's VM monitoring", 60)
    rows.append(
        (
            "A: VM monitored",
            "one_im_ec2 -> econe",
            "DescribeInstances per cycle",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    a.vm_action("poweroff", vm)
    _wait_for(lambda: a_vm().state == VmState.POWEROFF, "A's VM to power off", 90)
    rows.append(
        (
            "A: poweroff",
            "one_vmm_ec2 -> StopInstances",
            f"A POWEROFF, B {b_state()}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    a.vm_action("resume", vm)
    _wait_for(lambda: a_state() == "3/3", "A's VM to resume", 90)
    _wait_for(lambda: b_state() == "ACTIVE", "B's VM to run again", 60)
    rows.append(
        (
            "A: resume",
            "one_vmm_ec2 -> StartInstances",
            f"A RUNNING, B {b_state()} ({a_vm().deploy_id})",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    a.vm_action("terminate", vm)
    _wait_for(lambda: a_vm().state == VmState.DONE, "A's VM to be DONE", 90)
    _wait_for(lambda: b_state() == "DONE", "B's VM to be DONE", 60)
    left_a = len(a.vmpool_info(-2, -1, -1, -1))
    left_b = [v.name for v in admin_b.vmpool_info(-2, -1, -1, -1)]
    rows.append(
        (
            "A: terminate",
            "one_vmm_ec2 -> TerminateInstances",
            f"A DONE, B DONE; live VMs left: A {left_a}, B {len(left_b)}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    return rows


def _start_occi(work: Path, endpoint: str, stack: ExitStack) -> str:
    """occi-server beside econe on the same OpenNebula, with upstream's small/medium types."""
    from one_drivers.occi.config import OcciConfig, load_type_template
    from one_drivers.occi.server import OcciServer

    templates = work / "occi_templates"
    templates.mkdir(exist_ok=True)
    (templates / "small.erb").write_text("CPU = 1\nMEMORY = 1024\n")
    config = OcciConfig(
        tmpdir=str(work),
        one_xmlrpc=endpoint,
        host="127.0.0.1",
        port=_free_port(4568),
        one_cipher_auth=str(work / "one" / "sunstone_auth"),
        template_location=str(templates),
        instance_types={"small": load_type_template(str(templates), "small", {"template": "small.erb"})},
        debug_level=1,
        workers=4,
    )
    server = OcciServer(config).start()
    stack.callback(server.stop)
    return server.url


def _occi(url: str, work: Path, *args: str) -> ET.Element:
    """One occi-compute command as a user runs it (ONE_AUTH file, OCCI_URL); its XML answer."""
    import subprocess

    auth = work / "demo_one_auth"
    auth.write_text(f"{DEMO_USER}:{DEMO_PASSWORD}\n")
    env = {**os.environ, "ONE_AUTH": str(auth), "OCCI_URL": url}
    done = subprocess.run(
        [_program("occi-compute"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"occi-compute {' '.join(args)}: {done.stderr.strip()}")
    return ET.fromstring(done.stdout) if done.stdout.strip() else ET.Element("EMPTY")


def occi_round_trip(url: str, work: Path) -> list[tuple[str, str, str, str]]:
    """Create a compute with occi-compute, see it running, delete it: the rows to print."""
    rows: list[tuple[str, str, str, str]] = []
    doc = work / "compute.xml"
    doc.write_text("<COMPUTE><NAME>occi-web</NAME><INSTANCE_TYPE>small</INSTANCE_TYPE></COMPUTE>")
    started = time.monotonic()
    created = _occi(url, work, "create", str(doc))
    vm_id = created.findtext("ID") or "?"
    rows.append(
        (
            "occi create compute",
            "occi-compute -> occi-server",
            f"compute {vm_id} {created.findtext('STATE')}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    _wait_for(
        lambda: _occi(url, work, "show", vm_id).findtext("STATE") == "ACTIVE", "the OCCI compute to run"
    )
    rows.append(
        (
            "occi compute running",
            "simulated oned",
            f"compute {vm_id} ACTIVE",
            f"{time.monotonic() - started:.2f}",
        )
    )
    started = time.monotonic()
    _occi(url, work, "delete", vm_id)
    state = _occi(url, work, "show", vm_id).findtext("STATE")
    rows.append(
        (
            "occi delete compute",
            "occi-compute -> occi-server",
            f"compute {vm_id} {state}",
            f"{time.monotonic() - started:.2f}",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    wait = "--no-wait" not in args and sys.stdin.isatty() and not os.environ.get("CI")
    run_cloud_demo(wait=wait)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
