"""`one-ec2 check HOST` against the simulator (over XML-RPC, read through ONE_XMLRPC/ONE_AUTH as the CLI
does) and real EC2 endpoints on loopback: moto, and econe, which checks the keys it is given."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result

from one_drivers.admin.cli import main
from one_drivers.one.gateway import OneGateway
from tests.conftest import free_port
from tests.econe.conftest import EconeEnv, start_econe_env, stop_econe_env

pytestmark = pytest.mark.slow

# boto3 must find nothing of its own, so that only what the host and the config give is used.
NO_AMBIENT_KEYS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class Cloud:
    econe: EconeEnv
    env: dict[str, str | None]
    config: Path

    @property
    def oneadmin(self) -> OneGateway:
        return self.econe.oneadmin

    def host(self, name: str, template: str) -> int:
        host_id = int(self.oneadmin.call("one.host.allocate", name, "ec2", "ec2", -1))
        self.oneadmin.call("one.host.update", host_id, template, 1)
        return host_id

    def check(self, host: str) -> Result:
        return CliRunner(env=self.env).invoke(main, ["check", host, "--config", str(self.config)])


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    sim, econe = start_econe_env(tmp_path / "one")
    auth = tmp_path / "one_auth"
    auth.write_text(sim.oneadmin_auth + "\n")
    config = tmp_path / "ec2_driver.conf"
    config.write_text("max_attempts: 1\nconnect_timeout: 2\nread_timeout: 10\nregions: {}\n")
    env: dict[str, str | None] = {"ONE_XMLRPC": sim.endpoint, "ONE_AUTH": str(auth), **NO_AMBIENT_KEYS}
    try:
        yield Cloud(econe, env, config)
    finally:
        stop_econe_env(sim, econe)


def template(
    endpoint: str, region: str = "us-east-1", access: str = "testing", secret: str = "testing"
) -> str:
    return (
        f'EC2_ACCESS="{access}"\nEC2_SECRET="{secret}"\nREGION_NAME="{region}"\nEC2_ENDPOINT="{endpoint}"\n'
    )


def test_a_working_host(cloud: Cloud, moto_endpoint: str) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro")
    cloud.host(
        "ec2-moto", template(moto_endpoint, access="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMIK7MDENG")
    )
    done = cloud.check("ec2-moto")
    assert done.exit_code == 0, done.output
    assert "host 'ec2-moto' id" in done.output and "VM_MAD ec2" in done.output
    assert "host template sets EC2_ACCESS, EC2_SECRET, REGION_NAME, EC2_ENDPOINT" in done.output
    assert "credentials from host template, key id AKIA…MPLE" in done.output
    assert f"endpoint {moto_endpoint} (from host template)" in done.output
    assert "DescribeRegions:" in done.output and "DescribeInstances:" in done.output
    assert "instances visible" in done.output and "looks right" in done.output
    assert "wJalrXUtnFEMIK7MDENG" not in done.output  # never the secret


def test_unknown_region(cloud: Cloud, moto_endpoint: str) -> None:
    # moto lists its regions only when asked in one of them: ask from us-east-1's view, then judge.
    cloud.host("ec2-mars", template(moto_endpoint, region="mars-north-1"))
    done = cloud.check("ec2-mars")
    assert done.exit_code == 1
    assert "FAIL unknown region 'mars-north-1'" in done.output, done.output


def test_unreachable_endpoint(cloud: Cloud) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    cloud.host("ec2-dead", template(dead))
    done = cloud.check("ec2-dead")
    assert done.exit_code == 1
    assert f"FAIL DescribeRegions: cannot reach {dead}" in done.output
    assert f"FAIL DescribeInstances: cannot reach {dead}" in done.output


def test_wrong_keys(cloud: Cloud) -> None:
    # econe checks signatures against OpenNebula users: alice with a wrong secret.
    region = cloud.econe.config.region_name
    cloud.host("ec2-econe", template(cloud.econe.endpoint, region=region, access="alice", secret="not-hers"))
    done = cloud.check("ec2-econe")
    assert done.exit_code == 1
    assert "refused the keys (SignatureDoesNotMatch" in done.output, done.output
    assert "unknown region" not in done.output
    assert "check EC2_ACCESS/EC2_SECRET (from host template)" in done.output


def test_right_keys_on_econe(cloud: Cloud) -> None:
    alice = cloud.econe.alice
    cloud.host(
        "ec2-econe",
        template(
            cloud.econe.endpoint,
            region=cloud.econe.config.region_name,
            access=alice.name,
            secret=alice.secret,
        ),
    )
    done = cloud.check("ec2-econe")
    assert done.exit_code == 0, done.output


def test_missing_credentials(cloud: Cloud, moto_endpoint: str) -> None:
    cloud.host("ec2-bare", f'REGION_NAME="us-east-1"\nEC2_ENDPOINT="{moto_endpoint}"\n')
    done = cloud.check("ec2-bare")
    assert done.exit_code == 1
    assert "FAIL no EC2 credentials: set EC2_ACCESS and EC2_SECRET on the host" in done.output
    assert "DescribeRegions" not in done.output


def test_half_the_keys(cloud: Cloud, moto_endpoint: str) -> None:
    cloud.host("ec2-half", f'EC2_ACCESS="testing"\nEC2_ENDPOINT="{moto_endpoint}"\n')
    done = cloud.check("ec2-half")
    assert "only one of EC2_ACCESS / EC2_SECRET" in done.output and done.exit_code == 1


def test_no_such_host_and_no_opennebula(cloud: Cloud, tmp_path: Path) -> None:
    done = cloud.check("nowhere")
    assert done.exit_code == 1 and "OpenNebula has no host named 'nowhere'" in done.output
    cloud.env["ONE_AUTH"] = str(tmp_path / "missing_auth")
    done = cloud.check("nowhere")
    assert done.exit_code == 1 and "no OpenNebula credentials" in done.output
