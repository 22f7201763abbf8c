"""econe under hostile and concurrent load: fuzzed requests from botocore's model, raw malformed HTTP,
and many clients running instances with colliding ClientTokens.

`fuzz_econe`: requests for econe's actions (and any other in the model) with values generated from
their input shapes (tests/query/generate.py), some mutated into hostile text (characters XML cannot
carry, absurd list indexes, huge values), serialized by botocore's own EC2 serializer and SigV4-signed;
plus raw HTTP that no client should send. Counted: 5xx answers and hangs (no answer in time).
`clients_econe`: `clients` threads, each with its own boto3 client, RunInstances with ClientTokens drawn
from a small shared pool for `seconds`; counted: VMs duplicated under one token, instances answered
that do not exist, 5xx.
"""

from __future__ import annotations

import http.client
import random
import socket
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.serialize import create_serializer
from lxml import etree

from one_drivers.econe.actions import all_handlers
from one_drivers.query.model import service_model
from tests.econe.actions.seed import seed
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env
from tests.query.generate import value_for

REQUEST_TIMEOUT = 30.0  # an answer later than this is a hang
HOSTILE = ["a\x01b", "x\x0cy", "\ufffe", "\x00", "9" * 5000, "-1", "", " ", "%zz", "<x>&amp;", "é" * 300]
RAW_REQUESTS = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nAction=X\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nAction",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /?Action=DescribeRegions&" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n",
    b"GET /?%ff%fe=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: 9\r\n\r\n--zz\r\nbad",
    b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=\xff\r\nContent-Length: 0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
    b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, "
    b"SignedHeaders=host, Signature=00\r\nX-Amz-Date: 2026\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
]


@dataclass
class EconeSoakResult:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    hangs: int = 0
    raw: int = 0
    raw_server_errors: list[str] = field(default_factory=list)
    raw_hangs: int = 0


@contextmanager
def econe(workers: int = 16) -> Iterator[tuple[EconeEnv, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        sim, env = start_econe_env(Path(tmp), workers=workers, user_cache_seconds=3600)
        try:
            yield env, seed(env)
        finally:
            stop_econe_env(sim, env)


def _fuzzed_params(rnd: random.Random, actions: list[str], every: list[str]) -> tuple[str, dict[str, str]]:
    model = service_model()
    action = rnd.choice(actions) if rnd.random() < 0.8 else rnd.choice(every)
    operation = model.operation_model(action)
    params: dict[str, Any] = {}
    if operation.input_shape is not None:
        params = value_for(operation.input_shape, rnd, output=False)
    try:
        body = create_serializer("ec2").serialize_to_request(params, operation)["body"]
    except Exception:  # a value botocore itself will not serialize: send the bare action
        body = {"Action": action, "Version": "2016-11-15"}
    query = {str(k): str(v) for k, v in body.items()}
    if rnd.random() < 0.3:
        names = [k for k in query if k not in ("Action", "Version")] or ["Junk.1"]
        query[rnd.choice(names)] = rnd.choice(HOSTILE)
    if rnd.random() < 0.05:
        query[f"InstanceId.{'7' * rnd.randint(11, 6000)}"] = "i-1"
    return action, query


def _signed(env: EconeEnv, query: dict[str, str], region: str) -> AWSRequest:
    body = urllib.parse.urlencode(query)
    request = AWSRequest(
        method="POST",
        url=env.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(env.alice.name, env.alice.secret), "ec2", region).add_auth(request)
    return request


def fuzz_econe(requests: int, raw: int, *, threads: int = 8, seed_value: int = 7) -> EconeSoakResult:
    result = EconeSoakResult()
    lock = threading.Lock()
    every = sorted(service_model().operation_names)
    actions = sorted(set(all_handlers()) & set(every))
    with econe() as (env, _):
        netloc = urllib.parse.urlsplit(env.endpoint).netloc
        host, port = netloc.rsplit(":", 1)
        region = env.config.region_name

        def worker(index: int) -> None:
            rnd = random.Random(seed_value * 1000 + index)
            conn = http.client.HTTPConnection(netloc, timeout=REQUEST_TIMEOUT)
            for _ in range(requests // threads):
                action, query = _fuzzed_params(rnd, actions, every)
                prepared = _signed(env, query, region).prepare()
                try:
                    conn.request("POST", "/", body=prepared.body, headers=dict(prepared.headers.items()))
                    reply = conn.getresponse()
                    body = reply.read()
                    status = reply.status
                except TimeoutError:
                    with lock:
                        result.hangs += 1
                    conn.close()
                    conn = http.client.HTTPConnection(netloc, timeout=REQUEST_TIMEOUT)
                    continue
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(netloc, timeout=REQUEST_TIMEOUT)
                    continue
                if reply.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection(netloc, timeout=REQUEST_TIMEOUT)
                with lock:
                    result.requests += 1
                    result.statuses[status] += 1
                    if status >= 500:
                        result.server_errors.append(f"{action} {status} {body[:120]!r}")
            conn.close()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(worker, range(threads)))
        for n in range(raw):
            payload = RAW_REQUESTS[n % len(RAW_REQUESTS)]
            status_line = _raw_exchange(host, int(port), payload)
            result.raw += 1
            if status_line is None:
                result.raw_hangs += 1
            elif _server_error(status_line):
                result.raw_server_errors.append(f"{payload[:40]!r}: {status_line!r}")
    return result


def _server_error(status_line: bytes) -> bool:
    # 505 is the right answer to an HTTP version the server does not speak, not a failure.
    parts = status_line.split(b" ")
    return len(parts) > 1 and parts[1].startswith(b"5") and parts[1] != b"505"


def _raw_exchange(host: str, port: int, payload: bytes) -> bytes | None:
    """The status line econe answers a raw request with; b"" when it just closes; None on a hang."""
    with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\r\n", 1)[0]
        except TimeoutError:
            return None
        except OSError:
            return b""  # reset: refused without an answer, which is no 5xx and no hang


@dataclass
class ClientsSoakResult:
    clients: int = 0
    seconds: float = 0.0
    runs: int = 0
    tokens: int = 0
    duplicated: int = 0
    lost: int = 0
    server_errors: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def clients_econe(
    clients: int, seconds: float, *, tokens: int = 24, seed_value: int = 3
) -> ClientsSoakResult:
    import boto3

    result = ClientsSoakResult(clients=clients, seconds=seconds)
    answered: dict[str, set[str]] = {}
    lock = threading.Lock()
    with econe(workers=16) as (env, seeded):
        ami = f"ami-{seeded.ami:08d}"
        deadline = time.monotonic() + seconds

        def client_loop(index: int) -> None:
            rnd = random.Random(seed_value * 100 + index)
            ec2 = boto3.client(
                "ec2",
                endpoint_url=env.endpoint,
                region_name=env.config.region_name,
                aws_access_key_id=env.alice.name,
                aws_secret_access_key=env.alice.secret,
                config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=REQUEST_TIMEOUT),
            )
            while time.monotonic() < deadline:
                token = f"soak-{rnd.randrange(tokens)}"
                try:
                    reply = ec2.run_instances(
                        ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m1.small", ClientToken=token
                    )
                    ids = {i["InstanceId"] for i in reply["Instances"]}
                    with lock:
                        result.runs += 1
                        answered.setdefault(token, set()).update(ids)
                except ClientError as err:
                    code = str(err.response["Error"]["Code"])
                    with lock:
                        result.errors[code] += 1
                        if err.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                            result.server_errors += 1
                except Exception as exc:  # a hang (read timeout) or a dropped connection
                    with lock:
                        result.errors[type(exc).__name__] += 1

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client_loop, range(clients)))
        pool_xml = env.oneadmin.document("one.vmpool.infoextended", -2, -1, -1, -2)
        per_token: Counter[str] = Counter()
        existing: set[int] = set()
        for vm in etree.fromstring(pool_xml.encode()).findall("VM"):
            existing.add(int(vm.findtext("ID") or -1))
            token = vm.findtext(".//EC2_CLIENT_TOKEN")
            if token:
                per_token[token] += 1
        result.tokens = len(per_token)
        result.duplicated = sum(n - 1 for n in per_token.values() if n > 1)
        for ids in answered.values():
            for iid in ids:
                if int(iid.split("-")[1]) not in existing:
                    result.lost += 1
        result.duplicated += sum(len(ids) - 1 for ids in answered.values() if len(ids) > 1)
    return result
