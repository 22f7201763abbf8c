"""An OCCI server on the simulator (both on 127.0.0.1 free ports) with users alice and bob, instance
types small and medium, a dummy host that deploys what is pending, and a public image and network."""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from one_drivers.occi.config import OcciConfig, load_type_template
from one_drivers.occi.server import OcciServer
from one_drivers.one.gateway import OneGateway
from one_drivers.one.template import build_template
from tests.conftest import free_port

PASSWORDS = {"alice": "alice-pass", "bob": "bob-pass", "carol": "carol-pass"}
OTHER_USE = (-1, -1, -1, -1, -1, -1, 1, -1, -1)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class OcciEnv:
    sim: Any  # one_drivers.sim.server.Simulator
    server: OcciServer
    config: OcciConfig
    oneadmin: OneGateway
    user_ids: dict[str, int] = field(default_factory=dict)
    image: int = -1  # oneadmin's OS image, usable by everyone
    network: int = -1  # oneadmin's network, usable by everyone

    @property
    def url(self) -> str:
        return self.server.url

    def auth(self, user: str = "alice", password: str | None = None, *, plain: bool = False) -> str:
        secret = password if password is not None else PASSWORDS[user]
        sent = secret if plain else hashlib.sha256(secret.encode()).hexdigest()
        return "Basic " + base64.b64encode(f"{user}:{sent}".encode()).decode()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str = b"",
        *,
        user: str | None = "alice",
        headers: dict[str, str] | None = None,
    ) -> Response:
        url = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        all_headers = dict(headers or {})
        if user is not None and "Authorization" not in all_headers:
            all_headers["Authorization"] = self.auth(user)
        data = body.encode() if isinstance(body, str) else body
        try:
            conn.request(method, path, body=data or None, headers=all_headers)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def deploy(self) -> None:
        """Run the simulator's scheduler once: pending VMs go to the dummy host and boot."""
        self.sim.schedule()


def _types(location: Path) -> dict[str, Any]:
    (location / "small.erb").write_text("# small\nCPU    = 1\nMEMORY = 1024\n")
    return {
        "small": load_type_template(
            str(location), "small", {"template": "small.erb", "cpu": 1, "memory": 1024}
        ),
        "medium": load_type_template(str(location), "medium", {"cpu": 4, "memory": 4096}),
    }


def start_occi_env(tmp_path: Path, **overrides: Any) -> tuple[Any, OcciEnv]:
    from one_drivers.sim.server import Simulator

    sim = Simulator(auth_dir=tmp_path, port=0)
    sim.__enter__()
    try:
        templates = tmp_path / "occi_templates"
        templates.mkdir(exist_ok=True)
        config = OcciConfig(
            tmpdir=str(tmp_path),
            one_xmlrpc=sim.endpoint,
            host="127.0.0.1",
            port=free_port(),
            debug_level=2,
            one_cipher_auth=str(sim.cipher_auth_file),
            pid_file=str(tmp_path / "occi.pid"),
            log_file=str(tmp_path / "occi.log"),
            template_location=str(templates),
            instance_types=_types(templates),
            workers=4,
        )
        config = replace(config, **overrides)
        oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        env = OcciEnv(sim=sim, server=OcciServer(config), config=config, oneadmin=oneadmin)
        for name, password in PASSWORDS.items():
            # carol is in the oneadmin group: OpenNebula lets only such users create networks.
            group = 0 if name == "carol" else 1
            env.user_ids[name] = oneadmin.user_allocate(name, password, "core", (group,))
        oneadmin.call("one.host.allocate", "host1", "dummy", "dummy", -1)
        env.image = oneadmin.image_allocate(
            build_template([("NAME", "ttylinux"), ("PATH", "/var/tmp/tty.img")]), 1
        )
        oneadmin.image_chmod(env.image, OTHER_USE)
        env.network = oneadmin.vn_allocate(
            build_template([("NAME", "public"), ("AR", {"TYPE": "IP4", "IP": "10.0.0.1", "SIZE": "50"})])
        )
        oneadmin.vn_chmod(env.network, OTHER_USE)
        env.server.start()
    except BaseException:
        sim.__exit__(None, None, None)
        raise
    return sim, env


def stop_occi_env(sim: Any, env: OcciEnv) -> None:
    stopper = threading.Thread(target=env.server.stop)
    stopper.start()
    sim.__exit__(None, None, None)
    stopper.join()


@pytest.fixture
def occi_env(tmp_path: Path) -> Iterator[OcciEnv]:
    sim, env = start_occi_env(tmp_path)
    try:
        yield env
    finally:
        stop_occi_env(sim, env)
