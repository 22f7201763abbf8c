"""The tools against econe itself (on the simulator, over loopback): upload, register, run, describe, stop."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from one_drivers.econe_tools.images import describe_images, register, upload
from one_drivers.econe_tools.instances import describe_instances, run_instances, terminate_instances
from one_drivers.one.gateway import OneGateway
from tests.econe.conftest import EconeEnv, EconeUser, start_econe_env, stop_econe_env


@pytest.fixture
def econe(tmp_path: Path) -> Iterator[EconeEnv]:
    sim, env = start_econe_env(tmp_path)
    try:
        yield env
    finally:
        stop_econe_env(sim, env)


def cli(env: EconeEnv, command: object, *args: str, signature: str = "v4", user: str = "alice") -> Result:
    tool_env = {
        "EC2_ACCESS_KEY": user,
        "EC2_SECRET_KEY": env.user(user).secret,
        "EC2_URL": env.endpoint,
        "EC2_REGION": env.config.region_name,
    }
    argv = ["--signature-version", signature, *args]
    return CliRunner().invoke(command, argv, env=tool_env, catch_exceptions=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param([], id="sigv4-payload-hash"),
        pytest.param(["--unsigned-payload"], id="sigv4-unsigned-payload"),
        pytest.param(["--signature-version", "v2"], id="sigv2"),
    ],
)
def test_upload_to_econe(econe: EconeEnv, tmp_path: Path, options: list[str]) -> None:
    # The simulator lets only group oneadmin (0) use datastore 1, where UploadImage allocates.
    uid = econe.oneadmin.user_allocate("carol", "carol-pass", "core", (0,))
    carol_one = OneGateway(econe.sim.endpoint, "carol:carol-pass")
    econe.users["carol"] = EconeUser(
        "carol", uid, "carol-pass", hashlib.sha256(b"carol-pass").hexdigest(), carol_one
    )
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 300_000 + b"end")
    # --signature-version given twice: the last one wins, so the parametrised option applies.
    args = ["--no-progress", "-n", "my disk", "-d", "from a test", *options, str(disk)]
    result = cli(econe, upload, *args, user="carol")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Success: ImageId ami-")
    image_id = result.stdout.split()[-1]
    described = cli(econe, describe_images, image_id, user="carol")
    assert described.exit_code == 0, described.output
    assert described.stdout.splitlines()[1].split()[:3] == [image_id, "my", "disk"]


def test_wrong_secret_is_reported_as_ec2_error(econe: EconeEnv) -> None:
    env = {"EC2_ACCESS_KEY": "alice", "EC2_SECRET_KEY": "wrong", "EC2_URL": econe.endpoint}
    result = CliRunner().invoke(describe_instances, [], env=env)
    assert result.exit_code == 1
    assert result.stderr.split(":")[0] in ("AuthFailure", "SignatureDoesNotMatch")


def test_register_run_describe_terminate(econe: EconeEnv) -> None:
    images = cli(econe, describe_images)
    assert images.exit_code == 0, images.output
    bad = cli(econe, register, "ami-99999999")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("InvalidAMIID.NotFound: ")
    missing = cli(econe, describe_instances, "i-00000777")
    assert (missing.exit_code, missing.stderr.split(":")[0]) == (1, "InvalidInstanceID.NotFound")
    malformed = cli(econe, terminate_instances, "i-xyz")
    assert (malformed.exit_code, malformed.stderr.split(":")[0]) == (1, "InvalidInstanceID.Malformed")
    unknown_type = cli(econe, run_instances, "ami-00000000", "-t", "no-such-type")
    assert unknown_type.exit_code == 1
    assert ":" in unknown_type.stderr and "Traceback" not in unknown_type.output


def test_storage_tools_end_to_end(econe: EconeEnv) -> None:
    """Volumes, snapshots, tags and create-image through the commands, against econe."""
    from one_drivers.econe_tools.snapshots import (
        create_image,
        create_snapshot,
        delete_snapshot,
        describe_snapshots,
    )
    from one_drivers.econe_tools.tags import create_tags, delete_tags, describe_tags
    from one_drivers.econe_tools.volumes import (
        attach_volume,
        create_volume,
        delete_volume,
        describe_volumes,
        detach_volume,
    )
    from tests.econe.actions.seed import seed

    s = seed(econe)

    def ok(command: object, *args: str) -> list[list[str]]:
        result = cli(econe, command, *args)
        assert result.exit_code == 0, result.output
        return [line.split() for line in result.stdout.splitlines()[1:]]

    vol = ok(create_volume, "-s", "1")[0][0]
    assert vol.startswith("vol-")
    run = cli(econe, run_instances, f"ami-{s.ami:08d}", "-t", "m1.small")
    assert run.exit_code == 0, run.output
    vm = next(w for w in run.stdout.split() if w.startswith("i-"))
    econe.sim.schedule()
    assert ok(attach_volume, vol, "-i", vm, "-d", "/dev/sdh")[0][:4] == [vol, vm, "/dev/sdh", "attaching"]
    assert ok(describe_volumes, vol)[0][2] == "in-use"
    snap = ok(create_snapshot, vol, "-d", "nightly")[0][0]
    assert snap.startswith("snap-")
    assert [row[0] for row in ok(describe_snapshots, "-o", "self")] == [snap]
    assert ok(detach_volume, vol)[0][3] == "detaching"
    ok(create_tags, vol, snap, "-t", "env=prod", "-t", "Name=data disk")
    rows = ok(describe_tags, "-f", "key=env")
    assert sorted(r[0] for r in rows) == sorted([vol, snap])
    ok(delete_tags, snap, "-t", "env=prod")
    assert [r[0] for r in ok(describe_tags, "-f", "key=env")] == [vol]
    made = cli(econe, create_image, vm, "-n", "from-tool", "--no-reboot")
    assert made.exit_code == 0 and made.stdout.startswith("Success: ImageId ami-"), made.output
    assert cli(econe, delete_snapshot, snap).exit_code == 0
    assert cli(econe, delete_volume, vol).exit_code == 0
    gone = cli(econe, describe_volumes, vol)
    assert (gone.exit_code, gone.stderr.split(":")[0]) == (1, "InvalidVolume.NotFound")
