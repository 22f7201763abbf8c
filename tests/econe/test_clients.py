"""Other real clients against econe: the AWS CLI (SigV4) and Apache libcloud's EC2 driver (SigV2 GET)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.econe.conftest import EconeEnv

AWS = Path(sys.executable).with_name("aws")


def aws(env: EconeEnv, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": env.alice.name,
        "AWS_SECRET_ACCESS_KEY": env.alice.secret,
        "AWS_DEFAULT_REGION": env.config.region_name,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [str(AWS), "ec2", *args, "--endpoint-url", env.endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_aws_cli_describe_availability_zones_and_an_error(econe_env: EconeEnv) -> None:
    done = aws(econe_env, "describe-availability-zones")
    assert done.returncode == 0, done.stderr
    zones = json.loads(done.stdout)["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["opennebula"]
    refused = aws(econe_env, "describe-vpn-gateways")
    assert refused.returncode != 0 and "UnsupportedOperation" in refused.stderr


def test_libcloud_ec2_driver_lists_locations(econe_env_factory: object) -> None:
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    # libcloud only knows AWS region names and filters zones by its region: name ours like one.
    env: EconeEnv = econe_env_factory(region_name="us-east-1", zone_name="us-east-1a")  # type: ignore[operator]
    driver = get_driver(Provider.EC2)(
        env.alice.name,
        env.alice.secret,
        host="127.0.0.1",
        port=env.server.port,
        secure=False,
        region="us-east-1",
    )
    locations = driver.list_locations()
    assert [loc.name for loc in locations] == ["us-east-1a"]
    assert getattr(locations[0], "availability_zone").zone_state == "available"  # noqa: B009 (libcloud's EC2 extra)
    bad = get_driver(Provider.EC2)(
        env.alice.name, "0" * 64, host="127.0.0.1", port=env.server.port, secure=False, region="us-east-1"
    )
    try:
        bad.list_locations()
    except Exception as exc:  # libcloud raises its own InvalidCredsError
        assert "SignatureDoesNotMatch" in str(exc) or "Invalid" in type(exc).__name__
    else:
        raise AssertionError("a wrong secret was accepted")
