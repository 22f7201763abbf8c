"""Fixtures shared by every package's tests: a real moto EC2 server on loopback, and paths."""

from __future__ import annotations

import functools
import inspect
import os
import re
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The recorded OpenNebula 6.10.5 documents and traces, copied into the project (see its README.txt).
REAL = Path(__file__).resolve().parent / "data" / "opennebula-6.10.5"

# boto3 must never find real credentials or a real region on a developer's machine.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


# The slow tier (`make test` runs everything; `make test-fast` deselects `slow`): tests that run a moto
# server, our simulator, econe or OCCI, or start processes. A test is put there by what it (or any
# fixture it uses) calls, read from the source, so new tests of those kinds join the tier by themselves.
_SLOW_CALLS = re.compile(
    r"\b(Simulator|ThreadedMotoServer|moto_server|start_econe_env|start_occi_env|subprocess|Popen|"
    r"installed_program|mock_aws)\b"
)


# Modules whose tests reach those through helpers of their own, or that wait on purpose (slow clients).
SLOW_MODULES = frozenset(
    {
        "tests/vmm_ec2/test_demo.py",
        "tests/econe/test_cli.py",
        "tests/web/test_guard.py",
        "tests/econe_tools/test_upload.py",
        "tests/occi/test_occi_server_cli.py",
    }
)


@functools.cache
def _calls_slow_things(func: Callable[..., object]) -> bool:
    try:
        return bool(_SLOW_CALLS.search(inspect.getsource(func)))
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("slow"):
            continue
        if Path(str(item.path)).relative_to(ROOT).as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
            continue
        funcs = [item.function]
        for defs in item._fixtureinfo.name2fixturedefs.values():
            funcs.extend(d.func for d in defs)
        if any(_calls_slow_things(f) for f in funcs):
            item.add_marker(pytest.mark.slow)


def installed_program(name: str) -> Path:
    """A console script of this package, next to the running Python; `make test` always installs them."""
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is not installed next to {sys.executable}: run `make test`"
    return path


def wait_for(check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The recorded OpenNebula 6.10.5 documents and traces (tests/data/opennebula-6.10.5)."""
    if not REAL.is_dir():
        pytest.fail(f"recorded OpenNebula data not found at {REAL}")
    return REAL


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A ThreadedMotoServer on 127.0.0.1:<free port>; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    """The session's moto server, reset to empty before the test."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass
    return moto_server
