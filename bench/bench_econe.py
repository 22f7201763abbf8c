"""econe's speed where clients feel it: a small boto3 call, a 1,000-instance page, paging 10,000 VMs.

One run starts the simulator with econe in front of it, a moto server, and a constant-reply stub (the
boto3 + HTTP floor). Small calls are timed through boto3; big pages with a raw kept-alive HTTP client
and SigV2-signed URLs, because botocore's own parsing costs ~0.7 ms per instance and would hide econe.
Targets: small call <= 2x the stub; 1,000-instance page <= 100 ms; 10,000 VMs <= 1 s; overhead <= 1.5x.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import re
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xmlrpc.client
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.table import p50, print_table, time_calls
from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator

REPO = Path(__file__).resolve().parents[1]
TOTAL_VMS = 10_000
VOLUMES = 1_000
TAGS_PER_VOLUME = 10
PAGE = 1_000
SMALL_REPEAT = 200
PAGE_REPEAT = 10
REGION = "opennebula"
OCCI_USER, OCCI_PASSWORD = "olga", "olga-pass"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def presigned_query(params: dict[str, str], key: str, secret: str, host: str) -> str:
    """A SigV2 GET query valid for an hour (Expires), reusable for repeated timing."""
    signed = dict(params)
    signed.update(
        {
            "AWSAccessKeyId": key,
            "SignatureVersion": "2",
            "SignatureMethod": "HmacSHA256",
            "Version": "2016-11-15",
            "Expires": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(signed.items())
    )
    mac = hmac.new(secret.encode(), f"GET\n{host}\n/\n{query}".encode(), hashlib.sha256).digest()
    return query + "&Signature=" + urllib.parse.quote(base64.b64encode(mac).decode(), safe="")


class RawClient:
    """A kept-alive HTTP/1.1 GET client: the time is the server's plus one loopback round trip."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host = parts.netloc
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

    def get(self, query: str) -> bytes:
        self.conn.request("GET", "/?" + query)
        return self._read()

    def post(self, form: str, headers: dict[str, str]) -> bytes:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        self.conn.request("POST", "/", form.encode(), headers)
        return self._read()

    def _read(self) -> bytes:
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:300]!r}")
        return body


_NEXT_TOKEN = re.compile(rb"<nextToken>([^<]*)</nextToken>")


class StubServer(socketserver.ThreadingTCPServer):
    """Answers every HTTP request with one constant EC2 response, in one send: the client+HTTP floor."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, body: bytes, port: int = 0) -> None:
        self.reply = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        super().__init__(("127.0.0.1", port), _StubHandler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StubHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server: StubServer = self.server  # type: ignore[assignment]
        while True:
            length = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                self.rfile.read(length)
            self.wfile.write(server.reply)


def _boto3_client(url: str, key: str, secret: str, region: str = REGION) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def _page_through(client: RawClient, key: str, secret: str) -> int:
    """Every page of DescribeInstances(MaxResults=1000); returns the number of pages."""
    token: str | None = None
    pages = 0
    while True:
        params = {"Action": "DescribeInstances", "MaxResults": str(PAGE)}
        if token:
            params["NextToken"] = token
        body = client.get(presigned_query(params, key, secret, client.host))
        pages += 1
        match = _NEXT_TOKEN.search(body)
        if not match:
            return pages
        token = match.group(1).decode()


class Process:
    """A server in its own process (as in production: client, econe and oned never share a GIL)."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited; see {log}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{argv[:4]} did not listen on {port}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def simulator_process(tmp: Path, port: int) -> Process:
    """The simulator as its own process on the cloud `_prepare_cloud` stored in tmp (no scheduler work)."""
    argv = [sys.executable, "-m", "one_drivers.sim", "--port", str(port), "--auth-dir", str(tmp)]
    argv += ["--state", str(tmp / "state.db"), "--sched-interval", "3600"]
    return Process(argv, port, tmp / "sim.log")


def _prepare_cloud(tmp: Path) -> tuple[int, str]:
    """10,000 RUNNING VMs of alice (and 1,000 of olga, OCCI's user) in a simulator state file; returns
    (alice's uid, her secret). Neither sees the other's VMs (VMs are owner-only by default)."""
    with Simulator(auth_dir=tmp, port=0, sched_interval=3600, state_file=tmp / "state.db") as sim:
        oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        uid = oneadmin.user_allocate("alice", "alice-pass", "core", (1,))
        olga = oneadmin.user_allocate(OCCI_USER, OCCI_PASSWORD, "core", (1,))
        host_id = oneadmin.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
        sim.bulk_vms(TOTAL_VMS, uid=uid, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host_id)
        sim.bulk_vms(PAGE, uid=olga, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host_id)
        _volumes(sim, uid)
    return uid, hashlib.sha256(b"alice-pass").hexdigest()


def _volumes(sim: Simulator, uid: int) -> None:
    """1,000 EBS volumes of alice with 10 tags each (10,000 tags), put straight into the pools (the
    simulator's own allocate path, without one XML-RPC call and state-file save per image)."""
    from one_drivers.econe.actions.tagging import tags_to_vectors
    from one_drivers.one.template import build_template
    from one_drivers.sim.allocate import allocate_image

    user = sim.cloud.users[uid]
    with sim.cloud.lock:
        for n in range(VOLUMES):
            tags = [(f"Tag{k}", f"value {n} {k}") for k in range(TAGS_PER_VOLUME)]
            text = build_template(
                [
                    ("NAME", f"ebs-{n:05d}"),
                    ("TYPE", "DATABLOCK"),
                    ("SIZE", "1024"),
                    ("PERSISTENT", "YES"),
                    ("EBS_VOLUME", "YES"),
                    *tags_to_vectors(tags),
                ]
            )
            allocate_image(sim.cloud, user, text, 1)


def run() -> None:
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _, secret = _prepare_cloud(tmp)
        sim_port, econe_port, moto_port, stub_port = (_free_port() for _ in range(4))
        sim = simulator_process(tmp, sim_port)
        servers = [sim]
        try:
            config = tmp / "econe.conf"
            config.write_text(
                f":tmpdir: {tmp}\n:one_xmlrpc: http://127.0.0.1:{sim_port}/RPC2\n:host: 127.0.0.1\n"
                f":port: {econe_port}\n:debug_level: 0\n:one_cipher_auth: {tmp / 'sunstone_auth'}\n"
                ":describe_with_terminated_instances: false\n:workers: 4\n"
            )
            econe = Process(
                [python, "-m", "one_drivers.econe.cli", "--config", str(config), "run"],
                econe_port,
                tmp / "econe.log",
            )
            servers.append(econe)
            occi_port = _free_port()
            occi_config = tmp / "occi-server.conf"
            occi_config.write_text(
                f":tmpdir: {tmp}\n:one_xmlrpc: http://127.0.0.1:{sim_port}/RPC2\n:host: 127.0.0.1\n"
                f":port: {occi_port}\n:debug_level: 0\n:one_cipher_auth: {tmp / 'sunstone_auth'}\n:workers: 4\n"
            )
            servers.append(
                Process(
                    [python, "-m", "one_drivers.occi.cli", "--config", str(occi_config), "run"],
                    occi_port,
                    tmp / "occi.log",
                )
            )
            moto_bin = str(Path(python).with_name("moto_server"))
            servers.append(
                Process([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)], moto_port, tmp / "moto.log")
            )
            econe_url, moto_url = f"http://127.0.0.1:{econe_port}", f"http://127.0.0.1:{moto_port}"
            occi_url = f"http://127.0.0.1:{occi_port}"
            _measure(tmp, secret, sim_port, econe_url, moto_url, stub_port, servers, occi_url)
        finally:
            for server in reversed(servers):
                server.stop()


def _measure(
    tmp: Path,
    secret: str,
    sim_port: int,
    econe_url: str,
    moto_url: str,
    stub_port: int,
    servers: list[Process],
    occi_url: str,
) -> None:
    econe_ec2 = _boto3_client(econe_url, "alice", secret)
    moto_ec2 = _boto3_client(moto_url, "testing", "testing", "us-east-1")
    some_vm = f"i-{TOTAL_VMS // 2:08d}"
    econe_one = lambda: econe_ec2.describe_instances(InstanceIds=[some_vm])  # noqa: E731
    econe_one()
    moto_reservation = moto_ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    moto_id = moto_reservation["Instances"][0]["InstanceId"]
    moto_one = lambda: moto_ec2.describe_instances(InstanceIds=[moto_id])  # noqa: E731
    # The stub replays econe's own answer to the same call, so the clients parse the same bytes.
    raw = RawClient(econe_url)
    stub_body = tmp / "stub_body.xml"
    stub_body.write_bytes(
        raw.get(
            presigned_query(
                {"Action": "DescribeInstances", "InstanceId.1": some_vm}, "alice", secret, raw.host
            )
        )
    )
    servers.append(
        Process(
            [sys.executable, "-m", "bench.bench_econe", "stub", str(stub_port), str(stub_body)],
            stub_port,
            tmp / "stub.log",
        )
    )
    stub_ec2 = _boto3_client(f"http://127.0.0.1:{stub_port}", "x", "y")
    stub_one = lambda: stub_ec2.describe_instances(InstanceIds=[some_vm])  # noqa: E731

    small = _alternating({"stub": stub_one, "econe": econe_one, "moto": moto_one}, SMALL_REPEAT)
    print_table(
        f"econe: boto3 DescribeInstances by id (p50 of {SMALL_REPEAT}, turns rotating between the servers),"
        " each server in its own process",
        ["server", "ms", "x stub", "target"],
        [
            ("stub (client+HTTP floor)", small["stub"] * 1e3, 1.0, ""),
            ("econe on simulator", small["econe"] * 1e3, small["econe"] / small["stub"], "<= 2x"),
            ("moto", small["moto"] * 1e3, small["moto"] / small["stub"], ""),
        ],
    )

    _small_breakdown(raw, secret, stub_port, sim_port, tmp, some_vm)

    # --- big pages, raw HTTP -----------------------------------------------------------------------
    page_query = presigned_query(
        {"Action": "DescribeInstances", "MaxResults": str(PAGE)}, "alice", secret, raw.host
    )
    body = raw.get(page_query)
    assert body.count(b"<instanceId>") == PAGE, "econe page is not 1,000 instances"
    econe_page = p50(time_calls(lambda: raw.get(page_query), PAGE_REPEAT, warmup=1))
    admin = OneGateway.server_admin(f"http://127.0.0.1:{sim_port}/RPC2", str(tmp / "sunstone_auth")).for_user(
        "alice"
    )
    gateway_page = p50(
        time_calls(lambda: admin.document("one.vmpool.infoextended", -2, 0, -PAGE, -1), PAGE_REPEAT, warmup=1)
    )
    from one_drivers.one.records import parse_xml

    # The least any reader of the data must do: the same call, then one lxml parse of the document.
    read_floor = p50(
        time_calls(
            lambda: parse_xml(admin.document("one.vmpool.infoextended", -2, 0, -PAGE, -1), "VM_POOL"),
            PAGE_REPEAT,
            warmup=1,
        )
    )
    # The first walk also makes the simulator render (and cache) every VM body once, which a real
    # oned does not do per call either; the target is judged on the second walk.
    t0 = time.perf_counter()
    pages = _page_through(raw, "alice", secret)
    first_walk = time.perf_counter() - t0
    t0 = time.perf_counter()
    _page_through(raw, "alice", secret)
    all_pages = time.perf_counter() - t0

    moto_ec2.run_instances(ImageId="ami-12c6146b", MinCount=PAGE - 1, MaxCount=PAGE - 1)
    moto_raw = RawClient(moto_url)
    # moto routes by the credential scope's service and checks no signature: a token header will do.
    moto_form = "Action=DescribeInstances&Version=2016-11-15"
    moto_auth = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }
    assert moto_raw.post(moto_form, moto_auth).count(b"<instanceId>") == PAGE
    moto_page = p50(time_calls(lambda: moto_raw.post(moto_form, moto_auth), 3, warmup=1))

    rows: list[tuple[str, float, float | str, str]] = [
        ("oned (simulator) vmpool.infoextended page, via gateway", gateway_page * 1e3, 1.0, ""),
        (
            "  the same, then one lxml parse of the document (floor to read it)",
            read_floor * 1e3,
            read_floor / gateway_page,
            "",
        ),
        (
            "econe DescribeInstances 1,000-instance page",
            econe_page * 1e3,
            econe_page / gateway_page,
            "<= 100 ms; overhead <= 1.5x",
        ),
        ("  econe page vs that read floor", econe_page * 1e3, econe_page / read_floor, ""),
        ("moto DescribeInstances 1,000 instances", moto_page * 1e3, moto_page / gateway_page, ""),
        (
            f"econe: all {TOTAL_VMS:,} VMs in {pages} pages, first walk (cold simulator)",
            first_walk * 1e3,
            first_walk / (gateway_page * TOTAL_VMS / PAGE),
            "",
        ),
        (
            f"econe: all {TOTAL_VMS:,} VMs in {pages} pages",
            all_pages * 1e3,
            all_pages / (gateway_page * TOTAL_VMS / PAGE),
            "<= 1,000 ms",
        ),
    ]
    # A fresh connection: econe closes the page walk's one once it has idled through moto's launch.
    rows.extend(_storage_rows(RawClient(econe_url), secret, admin))
    rows.extend(_occi_rows(tmp, sim_port, occi_url))
    print_table(
        "econe and occi: raw HTTP, kept-alive (p50), ratio to the bare gateway call",
        ["what", "ms", "x gateway", "target"],
        rows,
    )
    _stages(admin)


def _storage_rows(
    raw: RawClient, secret: str, admin: OneGateway
) -> list[tuple[str, float, float | str, str]]:
    """DescribeVolumes over 1,000 volumes and DescribeTags over their 10,000 tags, next to the bare
    `imagepool.info` both are made from."""

    def query(params: dict[str, str]) -> str:
        return presigned_query({"Version": "2016-11-15", **params}, "alice", secret, raw.host)

    volumes = query({"Action": "DescribeVolumes"})
    assert raw.get(volumes).count(b"<volumeId>") == VOLUMES, "DescribeVolumes did not list 1,000 volumes"
    tags_page = query(
        {
            "Action": "DescribeTags",
            "MaxResults": "1000",
            "Filter.1.Name": "resource-type",
            "Filter.1.Value.1": "volume",
        }
    )
    assert raw.get(tags_page).count(b"<resourceId>") == 1000
    all_tags = query({"Action": "DescribeTags"})
    assert raw.get(all_tags).count(b"<resourceId>") == VOLUMES * TAGS_PER_VOLUME
    gateway = p50(time_calls(lambda: admin.document("one.imagepool.info", -2, -1, -1), PAGE_REPEAT, warmup=1))
    econe_volumes = p50(time_calls(lambda: raw.get(volumes), PAGE_REPEAT, warmup=1))
    econe_tags = p50(time_calls(lambda: raw.get(tags_page), PAGE_REPEAT, warmup=1))
    econe_all = p50(time_calls(lambda: raw.get(all_tags), 3, warmup=1))
    return [
        (f"oned (simulator) imagepool.info, {VOLUMES:,} volumes, via gateway", gateway * 1e3, 1.0, ""),
        (f"econe DescribeVolumes, {VOLUMES:,} volumes", econe_volumes * 1e3, econe_volumes / gateway, ""),
        (
            f"econe DescribeTags page of 1,000 over {VOLUMES * TAGS_PER_VOLUME:,} tags (resource-type=volume)",
            econe_tags * 1e3,
            econe_tags / gateway,
            "",
        ),
        (
            f"econe DescribeTags, all {VOLUMES * TAGS_PER_VOLUME:,} tags (also reads {TOTAL_VMS:,} VMs)",
            econe_all * 1e3,
            econe_all / gateway,
            "",
        ),
    ]


def _occi_rows(tmp: Path, sim_port: int, occi_url: str) -> list[tuple[str, float, float | str, str]]:
    """OCCI's collection of 1,000 computes: GET /compute?verbose=true (and the bare list) against the
    gateway call the server makes for it (vmpool.infoextended / vmpool.info as the user)."""
    parts = urllib.parse.urlsplit(occi_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    token = base64.b64encode(f"{OCCI_USER}:{hashlib.sha256(OCCI_PASSWORD.encode()).hexdigest()}".encode())
    headers = {"Authorization": "Basic " + token.decode()}

    def get(path: str) -> bytes:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body[:200]
        return body

    assert get("/compute?verbose=true").count(b"<STATE>ACTIVE</STATE>") == PAGE, (
        "OCCI collection is not 1,000"
    )
    verbose = p50(time_calls(lambda: get("/compute?verbose=true"), PAGE_REPEAT, warmup=1))
    bare = p50(time_calls(lambda: get("/compute"), PAGE_REPEAT, warmup=1))
    one = OneGateway.server_admin(f"http://127.0.0.1:{sim_port}/RPC2", str(tmp / "sunstone_auth")).for_user(
        OCCI_USER
    )
    gateway_full = p50(
        time_calls(lambda: one.document("one.vmpool.infoextended", -2, -1, -1, -1), PAGE_REPEAT, warmup=1)
    )
    gateway_short = p50(
        time_calls(lambda: one.document("one.vmpool.info", -2, -1, -1, -1), PAGE_REPEAT, warmup=1)
    )
    return [
        ("oned (simulator) vmpool.infoextended, 1,000 VMs of the OCCI user", gateway_full * 1e3, 1.0, ""),
        ("occi GET /compute?verbose=true, 1,000 computes", verbose * 1e3, verbose / gateway_full, ""),
        ("oned (simulator) vmpool.info, the same 1,000 VMs", gateway_short * 1e3, 1.0, ""),
        ("occi GET /compute (hrefs), 1,000 computes", bare * 1e3, bare / gateway_short, ""),
    ]


def _alternating(ways: dict[str, Any], repeat: int) -> dict[str, float]:
    """p50 of each way, timed one call at a time in rotating order, so drifting load hits all alike."""
    names = list(ways)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        time_calls(ways[name], 5, warmup=0)
    for turn in range(repeat):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name] += time_calls(ways[name], 1, warmup=0)
    return {name: p50(times) for name, times in samples.items()}


def _small_breakdown(raw: RawClient, secret: str, stub_port: int, sim_port: int, tmp: Path, vm: str) -> None:
    """Where the small call's time goes, server side: raw kept-alive HTTP without boto3 around it."""
    stub = RawClient(f"http://127.0.0.1:{stub_port}")
    regions = presigned_query({"Action": "DescribeRegions"}, "alice", secret, raw.host)
    by_id = presigned_query({"Action": "DescribeInstances", "InstanceId.1": vm}, "alice", secret, raw.host)
    alice = OneGateway.server_admin(f"http://127.0.0.1:{sim_port}/RPC2", str(tmp / "sunstone_auth")).for_user(
        "alice"
    )
    vm_id = int(vm[2:])
    rows = [
        ("stub (HTTP floor)", lambda: stub.get(by_id)),
        ("econe DescribeRegions (no oned call)", lambda: raw.get(regions)),
        ("econe DescribeInstances by id (one vm.info)", lambda: raw.get(by_id)),
        ("gateway one.vm.info to the simulator", lambda: alice.document("one.vm.info", vm_id, False)),
        ("gateway one.system.version to the simulator", lambda: alice.system_version()),
    ]
    times = list(_alternating(dict(rows), SMALL_REPEAT).items())
    floor = times[0][1]
    print_table(
        f"econe small call, server side: raw HTTP / gateway round trips (p50 of {SMALL_REPEAT}, rotating)",
        ["what", "ms", "x stub"],
        [(name, t * 1e3, t / floor) for name, t in times],
    )


def _stages(admin: OneGateway) -> None:
    """Where a 1,000-VM page's time goes inside econe, stage by stage, on the same answer bytes."""
    from one_drivers.econe.actions.instances import reservations
    from one_drivers.one.gateway import decode_response
    from one_drivers.one.records import VmRecord, parse_pool, parse_xml
    from one_drivers.query.render import render_response

    request = xmlrpc.client.dumps((admin.session, -2, 0, -PAGE, -1), methodname="one.vmpool.infoextended")
    url = urllib.parse.urlsplit(admin.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)
    conn.request("POST", url.path, request.encode(), {"Content-Type": "text/xml"})
    answer = conn.getresponse().read()
    conn.close()
    document = decode_response(answer)[1]
    vms = parse_pool(VmRecord, document)
    result = {"Reservations": reservations(vms, "zone")}

    def timed(fn: Any) -> float:
        return p50(time_calls(fn, PAGE_REPEAT, warmup=1))

    full = timed(lambda: decode_response(answer, fast_min=None))
    stages = [
        ("envelope: full lxml decode (the baseline)", full),
        ("envelope: cut-out string, byte unescape", timed(lambda: decode_response(answer))),
        ("document: one lxml parse (no records)", timed(lambda: parse_xml(document, "VM_POOL"))),
        ("document: parse_pool (halves + records)", timed(lambda: parse_pool(VmRecord, document))),
        ("mapping: reservations/instances", timed(lambda: reservations(vms, "zone"))),
        (
            "rendering: query.render",
            timed(lambda: render_response("DescribeInstances", result, "r", "2016-11-15")),
        ),
    ]
    print_table(
        f"econe stages for one {PAGE:,}-VM page ({len(answer) / 1e6:.1f} MB answer), p50 in this process",
        ["stage", "ms", "x full decode"],
        [(name, t * 1e3, t / full) for name, t in stages],
    )


def serve_stub(port: int, body_file: str) -> None:
    """`python -m bench.bench_econe stub PORT FILE`: the constant-reply server, until SIGTERM."""
    server = StubServer(Path(body_file).read_bytes(), port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "stub":
        serve_stub(int(sys.argv[2]), sys.argv[3])
    else:
        run()
