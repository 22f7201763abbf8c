"""econe-run/describe/stop/start/reboot/terminate-instances against moto's EC2 server."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import boto3

from one_drivers.econe_tools.instances import (
    describe_instances,
    reboot_instances,
    run_instances,
    start_instances,
    stop_instances,
    terminate_instances,
)
from tests.econe_tools.conftest import Run


def a_moto_image(endpoint: str) -> str:
    client = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    return str(client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_instance_life_cycle(run: Run, moto_endpoint: str) -> None:
    image = a_moto_image(moto_endpoint)
    out = run(run_instances, image, "-t", "t2.micro", "-n", "2", "-d", "#!/bin/sh\necho hi").stdout
    table = rows(out)
    assert table[0][:4] == ["INSTANCEID", "IMAGEID", "STATE", "TYPE"]
    assert len(table) == 3
    ids = [row[0] for row in table[1:]]
    assert all(i.startswith("i-") for i in ids)
    assert {row[1] for row in table[1:]} == {image}
    assert {row[3] for row in table[1:]} == {"t2.micro"}

    client = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    user_data = client.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")["UserData"][
        "Value"
    ]
    assert base64.b64decode(user_data) == b"#!/bin/sh\necho hi"  # encoded once, by boto3

    listed = rows(run(describe_instances).stdout)
    assert sorted(r[0] for r in listed[1:]) == sorted(ids)
    assert rows(run(describe_instances, ids[0]).stdout)[1][0] == ids[0]
    filtered = rows(run(describe_instances, "-f", f"instance-id={ids[1]}").stdout)
    assert [r[0] for r in filtered[1:]] == [ids[1]]

    stopped = rows(run(stop_instances, ids[0]).stdout)
    assert stopped[0] == ["INSTANCEID", "PREVIOUS", "CURRENT"]
    assert stopped[1] == [ids[0], "running", "stopping"]
    assert rows(run(start_instances, ids[0]).stdout)[1][0] == ids[0]
    assert "Success" in run(reboot_instances, ids[1]).stdout
    terminated = rows(run(terminate_instances, *ids).stdout)
    assert {r[0] for r in terminated[1:]} == set(ids)
    assert {r[2] for r in terminated[1:]} <= {"shutting-down", "terminated"}


def test_ec2_errors_are_code_and_message_with_exit_1(run: Run) -> None:
    result = run(describe_instances, "i-1234567890abcdef0", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("InvalidInstanceID.NotFound: ")
    assert "Traceback" not in result.output
    result = run(terminate_instances, "i-0000000000000000f", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("InvalidInstanceID.NotFound: ")


def test_unreachable_endpoint_is_one_line(run: Run, tool_env: dict[str, str]) -> None:
    from click.testing import CliRunner

    from tests.conftest import free_port

    env = dict(tool_env, EC2_URL=f"http://127.0.0.1:{free_port()}/")
    result = CliRunner().invoke(describe_instances, [], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not connect")


def test_options_override_environment(run: Run, moto_endpoint: str) -> None:
    from click.testing import CliRunner

    env = {
        "EC2_ACCESS_KEY": "",
        "EC2_SECRET_KEY": "",
        "EC2_URL": "http://127.0.0.1:9/",
        "EC2_REGION": "us-east-1",
    }
    result = CliRunner().invoke(describe_instances, ["-K", "bob", "-S", "s", "-U", moto_endpoint], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("INSTANCEID")


def test_missing_credentials_is_a_usage_error() -> None:
    from click.testing import CliRunner

    env = {"EC2_ACCESS_KEY": "", "EC2_SECRET_KEY": "", "EC2_URL": ""}
    result = CliRunner().invoke(describe_instances, [], env=env)
    assert result.exit_code == 2
    assert "--access-key" in result.stderr


def test_bad_filter_is_a_usage_error(run: Run) -> None:
    result = run(describe_instances, "-f", "novalue", ok=False)
    assert result.exit_code == 2
    assert "name=value" in result.stderr


def test_installed_console_script(moto_endpoint: str, tool_env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("econe-describe-instances")
    assert script.exists(), "run: .venv/bin/pip install -e . --no-deps"
    done = subprocess.run(
        [str(script)], env={**os.environ, **tool_env}, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("INSTANCEID")
    done = subprocess.run(
        [str(script), "i-00000042"],
        env={**os.environ, **tool_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("InvalidInstanceID.NotFound: ")


def test_describe_follows_next_token(run: Run, moto_endpoint: str) -> None:
    from one_drivers.econe_tools.instances import _all_instances

    client = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    image = a_moto_image(moto_endpoint)
    # moto pages by reservation: make several.
    made = {
        client.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        for _ in range(7)
    }
    pages: list[int] = []
    original = client.describe_instances

    def counting(**kwargs: object) -> dict[str, object]:
        page: dict[str, object] = original(**kwargs)
        pages.append(1)
        return page

    client.describe_instances = counting
    seen = [i["InstanceId"] for i in _all_instances(client, {"MaxResults": 5})]
    assert sorted(seen) == sorted(made)
    assert len(pages) >= 2
