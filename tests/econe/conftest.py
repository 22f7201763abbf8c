"""econe on the simulator, over loopback: the fixture every econe test (and the actions' tests) runs on.

`econe_env` starts a fresh Simulator (real XML-RPC) and econe in front of it on free 127.0.0.1 ports,
with two core users: `alice` (the usual signer) and `bob`. `env.client()` is a ready boto3 EC2 client
(SigV4; `signature_version="v2"` for SigV2); `env.user("alice").one` is alice's own OpenNebula gateway
for checking what a request did, and `env.oneadmin` the admin's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from one_drivers.econe.config import EconeConfig
from one_drivers.econe.server import EconeServer
from one_drivers.one.gateway import OneGateway
from tests.conftest import free_port

ALICE_PASSWORD = "alice-pass"
BOB_PASSWORD = "bob-pass"


@dataclass(frozen=True)
class EconeUser:
    name: str
    user_id: int
    password: str  # the plain password (for logging into OpenNebula directly)
    secret: str  # the EC2 secret access key: PASSWORD as oned stores it (SHA256 hex)
    one: OneGateway  # this user's own session on the simulator


@dataclass
class EconeEnv:
    sim: Any  # one_drivers.sim.server.Simulator
    server: EconeServer
    config: EconeConfig
    oneadmin: OneGateway
    users: dict[str, EconeUser] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.url

    @property
    def alice(self) -> EconeUser:
        return self.users["alice"]

    @property
    def bob(self) -> EconeUser:
        return self.users["bob"]

    def user(self, name: str) -> EconeUser:
        return self.users[name]

    def add_user(self, name: str, password: str, driver: str = "core") -> EconeUser:
        """Create an OpenNebula user (group `users`) and return its credentials."""
        uid = self.oneadmin.user_allocate(name, password, driver, (1,))
        digest = "sha1" if self.sim.cloud.scheme.digest == "sha1" else "sha256"
        secret = hashlib.new(digest, password.encode()).hexdigest() if driver == "core" else password
        one = OneGateway(self.sim.endpoint, f"{name}:{password}")
        user = EconeUser(name, uid, password, secret, one)
        self.users[name] = user
        return user

    def client(self, user: str = "alice", signature_version: str = "v4", **config: Any) -> Any:
        """A boto3 EC2 client for `user` against econe; no retries, so errors surface at once."""
        import boto3
        from botocore.config import Config

        creds = self.users[user]
        cfg: dict[str, Any] = {"retries": {"max_attempts": 1, "mode": "standard"}, **config}
        if signature_version == "v2":
            cfg["signature_version"] = "v2"
        return boto3.client(
            "ec2",
            endpoint_url=self.endpoint,
            region_name=self.config.region_name,
            aws_access_key_id=creds.name,
            aws_secret_access_key=creds.secret,
            config=Config(**cfg),
        )


def stop_econe_env(sim: Any, env: EconeEnv) -> None:
    """Stop econe and the simulator side by side (each takes a poll period to wind down)."""
    stopper = threading.Thread(target=env.server.stop)
    stopper.start()
    sim.__exit__(None, None, None)
    stopper.join()


def start_econe_env(
    tmp_path: Path, sim_options: dict[str, Any] | None = None, **config_overrides: Any
) -> tuple[Any, EconeEnv]:
    """Simulator + econe, not yet stopped: the caller owns both (see the fixtures below).
    `sim_options` go to the Simulator (e.g. hold_image_copies=True)."""
    from one_drivers.sim.server import Simulator

    sim = Simulator(auth_dir=tmp_path, port=0, **(sim_options or {}))
    sim.__enter__()
    try:
        port = free_port()
        config = EconeConfig(
            tmpdir=str(tmp_path),
            one_xmlrpc=sim.endpoint,
            host="127.0.0.1",
            port=port,
            debug_level=2,
            one_cipher_auth=str(sim.cipher_auth_file),
            pid_file=str(tmp_path / "econe.pid"),
            log_file=str(tmp_path / "econe.log"),
            workers=4,
        )
        config = replace(config, **config_overrides)
        oneadmin = OneGateway(sim.endpoint, sim.oneadmin_auth)
        server = EconeServer(config)
        env = EconeEnv(sim=sim, server=server, config=config, oneadmin=oneadmin)
        env.add_user("alice", ALICE_PASSWORD)
        env.add_user("bob", BOB_PASSWORD)
        server.start()
    except BaseException:
        sim.__exit__(None, None, None)
        raise
    return sim, env


@pytest.fixture
def econe_env(tmp_path: Path) -> Iterator[EconeEnv]:
    """A fresh simulator + econe for one test (both on 127.0.0.1 free ports), users alice and bob."""
    sim, env = start_econe_env(tmp_path)
    try:
        yield env
    finally:
        stop_econe_env(sim, env)


@pytest.fixture
def econe_env_factory(tmp_path: Path) -> Iterator[Callable[..., EconeEnv]]:
    """Like econe_env, with econe.conf overrides: `env = econe_env_factory(auth="x509", ...)`."""
    started: list[tuple[Any, EconeEnv]] = []

    def make(**overrides: Any) -> EconeEnv:
        sub = tmp_path / f"env{len(started)}"
        sub.mkdir()
        pair = start_econe_env(sub, **overrides)
        started.append(pair)
        return pair[1]

    yield make
    for sim, env in reversed(started):
        stop_econe_env(sim, env)
