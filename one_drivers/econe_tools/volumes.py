"""econe-create-volume, -delete-volume, -describe-volumes, -attach-volume, -detach-volume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs
from one_drivers.econe_tools.table import print_table

VOLUME_COLUMNS = ("VolumeId", "Size", "State", "Zone", "SnapshotId", "Attachments")
ATTACHMENT_COLUMNS = ("VolumeId", "InstanceId", "Device", "State")


def volume_row(volume: Mapping[str, Any]) -> tuple[Any, ...]:
    attachments = ",".join(f"{a.get('InstanceId')}:{a.get('Device')}" for a in volume.get("Attachments", []))
    return (
        volume.get("VolumeId"),
        volume.get("Size"),
        volume.get("State"),
        volume.get("AvailabilityZone"),
        volume.get("SnapshotId"),
        attachments,
    )


def attachment_row(attachment: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        attachment.get("VolumeId"),
        attachment.get("InstanceId"),
        attachment.get("Device"),
        attachment.get("State"),
    )


@ec2_command("econe-create-volume", "Create a volume of SIZE GiB, or from a snapshot.")
@click.option("-s", "--size", type=click.IntRange(min=1), help="Size in GiB.")
@click.option("--snapshot", help="Snapshot id to create the volume from.")
@click.option("-z", "--zone", help="Availability zone (default: the server's first zone).")
def create_volume(conn: Connection, size: int | None, snapshot: str | None, zone: str | None) -> None:
    if size is None and snapshot is None:
        raise click.UsageError("give --size or --snapshot")
    client = conn.client()
    if zone is None:
        zones = client.describe_availability_zones().get("AvailabilityZones", [])
        zone = zones[0]["ZoneName"] if zones else None
    kwargs: dict[str, Any] = {}
    if zone:
        kwargs["AvailabilityZone"] = zone
    if size is not None:
        kwargs["Size"] = size
    if snapshot:
        kwargs["SnapshotId"] = snapshot
    print_table(VOLUME_COLUMNS, [volume_row(client.create_volume(**kwargs))])


@ec2_command("econe-delete-volume", "Delete the volume VOLUME_ID.")
@click.argument("volume_id")
def delete_volume(conn: Connection, volume_id: str) -> None:
    conn.client().delete_volume(VolumeId=volume_id)
    click.echo(f"Success: {volume_id} deleted")


@ec2_command("econe-describe-volumes", "Describe volumes (all, or the VOLUME_IDs given).")
@click.argument("volume_ids", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_volumes(conn: Connection, volume_ids: tuple[str, ...], filters: tuple[str, ...]) -> None:
    volumes = (
        conn.client().describe_volumes(**describe_kwargs("VolumeIds", volume_ids, filters)).get("Volumes", [])
    )
    print_table(VOLUME_COLUMNS, [volume_row(v) for v in volumes])


@ec2_command("econe-attach-volume", "Attach VOLUME_ID to an instance as a device.")
@click.argument("volume_id")
@click.option("-i", "--instance", "instance_id", required=True, help="Instance id.")
@click.option("-d", "--device", required=True, help="Device name, e.g. /dev/sdh.")
def attach_volume(conn: Connection, volume_id: str, instance_id: str, device: str) -> None:
    attachment = conn.client().attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    print_table(ATTACHMENT_COLUMNS, [attachment_row(attachment)])


@ec2_command("econe-detach-volume", "Detach VOLUME_ID from its instance.")
@click.argument("volume_id")
@click.option("-i", "--instance", "instance_id", help="Instance id (checked by the server).")
@click.option("-d", "--device", help="Device name (checked by the server).")
@click.option("-f", "--force", is_flag=True, help="Force the detachment.")
def detach_volume(
    conn: Connection, volume_id: str, instance_id: str | None, device: str | None, force: bool
) -> None:
    kwargs: dict[str, Any] = {"VolumeId": volume_id}
    if instance_id:
        kwargs["InstanceId"] = instance_id
    if device:
        kwargs["Device"] = device
    if force:
        kwargs["Force"] = True
    print_table(ATTACHMENT_COLUMNS, [attachment_row(conn.client().detach_volume(**kwargs))])
