"""econe-create-snapshot, econe-describe-snapshots, econe-delete-snapshot, econe-create-image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs
from one_drivers.econe_tools.table import print_table

SNAPSHOT_COLUMNS = ("SnapshotId", "VolumeId", "State", "Progress", "Size", "Description")


def snapshot_row(snapshot: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        snapshot.get("SnapshotId"),
        snapshot.get("VolumeId"),
        snapshot.get("State"),
        snapshot.get("Progress"),
        snapshot.get("VolumeSize"),
        snapshot.get("Description", ""),
    )


@ec2_command("econe-create-snapshot", "Snapshot the volume VOLUME_ID.")
@click.argument("volume_id")
@click.option("-d", "--description", help="Description of the snapshot.")
def create_snapshot(conn: Connection, volume_id: str, description: str | None) -> None:
    kwargs: dict[str, Any] = {"VolumeId": volume_id}
    if description:
        kwargs["Description"] = description
    print_table(SNAPSHOT_COLUMNS, [snapshot_row(conn.client().create_snapshot(**kwargs))])


@ec2_command("econe-describe-snapshots", "Describe snapshots (all, or the SNAPSHOT_IDs given).")
@click.argument("snapshot_ids", nargs=-1)
@click.option("-o", "--owner", "owners", multiple=True, help="Owner id, or 'self' (repeatable).")
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_snapshots(
    conn: Connection, snapshot_ids: tuple[str, ...], owners: tuple[str, ...], filters: tuple[str, ...]
) -> None:
    kwargs = describe_kwargs("SnapshotIds", snapshot_ids, filters)
    if owners:
        kwargs["OwnerIds"] = list(owners)
    snapshots = conn.client().describe_snapshots(**kwargs).get("Snapshots", [])
    print_table(SNAPSHOT_COLUMNS, [snapshot_row(s) for s in snapshots])


@ec2_command("econe-delete-snapshot", "Delete the snapshot SNAPSHOT_ID.")
@click.argument("snapshot_id")
def delete_snapshot(conn: Connection, snapshot_id: str) -> None:
    conn.client().delete_snapshot(SnapshotId=snapshot_id)
    click.echo(f"Success: {snapshot_id} deleted")


@ec2_command("econe-create-image", "Make an AMI from the root disk of INSTANCE_ID.")
@click.argument("instance_id")
@click.option("-n", "--name", required=True, help="Name of the new image.")
@click.option("-d", "--description", help="Description of the new image.")
@click.option("--no-reboot", is_flag=True, help="Do not reboot the instance (OpenNebula never does).")
def create_image(
    conn: Connection, instance_id: str, name: str, description: str | None, no_reboot: bool
) -> None:
    kwargs: dict[str, Any] = {"InstanceId": instance_id, "Name": name}
    if description:
        kwargs["Description"] = description
    if no_reboot:
        kwargs["NoReboot"] = True
    click.echo(f"Success: ImageId {conn.client().create_image(**kwargs)['ImageId']}")
