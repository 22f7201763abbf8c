"""Key pair, address, security group and subnet commands end to end against econe on the simulator."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.econe_tools.addresses import (
    allocate_address,
    associate_address,
    describe_addresses,
    disassociate_address,
    release_address,
)
from one_drivers.econe_tools.instances import run_instances
from one_drivers.econe_tools.keypairs import create_keypair, delete_keypair, describe_keypairs
from one_drivers.econe_tools.network import (
    authorize,
    create_security_group,
    delete_security_group,
    describe_security_groups,
    describe_subnets,
    import_keypair,
    revoke,
)
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env
from tests.econe_tools.test_against_econe import cli

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII0QBAK5H+HKRr0y9qB1xkA5BFgSzgU7xTjVPJpjvKiZ vector@test"


@pytest.fixture
def econe(tmp_path: Path) -> Iterator[EconeEnv]:
    # Network 0 holds the public addresses, network 1 is a subnet.
    sim, env = start_econe_env(tmp_path, elasticips_vnet_id=0)
    try:
        for name, ip in (("public", "198.51.100.10"), ("private", "10.50.0.1")):
            text = f'NAME="{name}"\nVN_MAD="dummy"\nBRIDGE="br0"\nAR=[TYPE="IP4",IP="{ip}",SIZE="4"]'
            env.oneadmin.call("one.vn.allocate", text, -1)
        yield env
    finally:
        stop_econe_env(sim, env)


def ok(env: EconeEnv, command: object, *args: str, signature: str = "v4") -> list[list[str]]:
    result = cli(env, command, *args, signature=signature)
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines()]


@pytest.mark.parametrize("signature", ["v4", "v2"])
def test_keypair_tools(econe: EconeEnv, tmp_path: Path, signature: str) -> None:
    key_file = tmp_path / "k.pem"
    made = ok(econe, create_keypair, "made", "-o", str(key_file), signature=signature)
    assert made[1][0] == "made" and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    public = tmp_path / "k.pub"
    public.write_text(ED25519 + "\n")
    assert ok(econe, import_keypair, "mine", str(public))[1] == [
        "mine",
        "+aEb/fdYFikgMGsrIlP2Xef8anNaTrqpeSF1+1Oflbo=",
    ]
    assert [r[0] for r in ok(econe, describe_keypairs)[1:]] == ["made", "mine"]
    ok(econe, delete_keypair, "made")
    assert [r[0] for r in ok(econe, describe_keypairs)[1:]] == ["mine"]
    missing = cli(econe, describe_keypairs, "nope")
    assert (missing.exit_code, missing.stderr.split(":")[0]) == (1, "InvalidKeyPair.NotFound")


def test_security_group_and_subnet_tools(econe: EconeEnv) -> None:
    gid = ok(econe, create_security_group, "web", "-d", "web servers")[1][0]
    assert gid.startswith("sg-")
    ok(econe, authorize, "web", "-P", "tcp", "-p", "22", "-s", "192.0.2.0/24")
    ok(econe, authorize, gid, "-P", "icmp", "-t", "8:-1")
    rows = ok(econe, describe_security_groups, "web")[1:]
    rules = {(r[4], r[5], r[6], r[7]) for r in rows if len(r) >= 8}  # description "web servers" is 2 words
    assert ("in", "tcp", "22-22", "192.0.2.0/24") in rules and ("in", "icmp", "8--1", "0.0.0.0/0") in rules
    assert ("out", "-1", "all", "0.0.0.0/0") in rules
    dup = cli(econe, authorize, "web", "-P", "tcp", "-p", "22", "-s", "192.0.2.0/24")
    assert (dup.exit_code, dup.stderr.split(":")[0]) == (1, "InvalidPermission.Duplicate")
    ok(econe, revoke, "web", "-P", "tcp", "-p", "22", "-s", "192.0.2.0/24")
    refused = cli(econe, authorize, "web", "-P", "icmp", "-t", "3:1")
    assert (refused.exit_code, refused.stderr.split(":")[0]) == (1, "InvalidParameterValue")
    ok(econe, delete_security_group, gid)
    gone = cli(econe, describe_security_groups, gid)
    assert (gone.exit_code, gone.stderr.split(":")[0]) == (1, "InvalidGroup.NotFound")
    subnets = ok(econe, describe_subnets)
    assert subnets[1][:3] == ["subnet-00000001", "10.50.0.0/29", "4"]  # the elastic IP network is not one


def test_address_tools(econe: EconeEnv) -> None:
    from tests.econe.actions.seed import seed

    s = seed(econe)
    run = cli(econe, run_instances, f"ami-{s.ami:08d}", "-t", "m1.small", "--subnet", "subnet-00000001")
    assert run.exit_code == 0, run.output
    vm = next(w for w in run.stdout.split() if w.startswith("i-"))
    allocated = ok(econe, allocate_address)[1]
    ip, alloc = allocated[0], allocated[1]
    assert ip == "198.51.100.10" and alloc.startswith("eipalloc-")
    assert ok(econe, associate_address, alloc, "-i", vm)[0][0] == "Success:"
    shown = ok(econe, describe_addresses, ip)[1]
    assert shown[:3] == [ip, alloc, vm]
    assert ok(econe, disassociate_address, ip)[0][0] == "Success:"
    assert ok(econe, release_address, alloc)[0][0] == "Success:"
    assert len(ok(econe, describe_addresses)) == 1  # only the header
    missing = cli(econe, release_address, ip)
    assert (missing.exit_code, missing.stderr.split(":")[0]) == (1, "InvalidAddress.NotFound")
