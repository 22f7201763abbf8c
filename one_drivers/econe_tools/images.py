"""econe-upload, econe-register, econe-describe-images."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs
from one_drivers.econe_tools.table import print_table
from one_drivers.econe_tools.upload import upload_image

IMAGE_COLUMNS = ("ImageId", "Name", "State", "Owner", "Public", "Architecture", "Location")


@ec2_command("econe-upload", "Upload the disk image FILE (econe's UploadImage); prints the new image id.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--unsigned-payload", is_flag=True, help="SigV4 without hashing the file first (faster, weaker)."
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("-n", "--name", help="Image name (default: the file name).")
@click.option("-d", "--description", help="Image description.")
def upload(
    conn: Connection,
    file: str,
    unsigned_payload: bool,
    no_progress: bool,
    name: str | None,
    description: str | None,
) -> None:
    size = os.path.getsize(file)
    options: dict[str, Any] = {"unsigned_payload": unsigned_payload, "name": name, "description": description}
    if no_progress:
        image_id = upload_image(conn, file, **options)
    else:
        progress: Any = click.progressbar(length=size, label="Uploading", file=sys.stderr, show_pos=True)
        with progress as bar:
            image_id = upload_image(conn, file, on_file_bytes=bar.update, **options)
    click.echo(f"Success: ImageId {image_id}")


@ec2_command("econe-register", "Register IMAGE (ami-N, or the OpenNebula image id N) as an AMI.")
@click.argument("image")
@click.option("-n", "--name", help="AMI name (default: IMAGE).")
@click.option("-d", "--description", help="AMI description.")
def register(conn: Connection, image: str, name: str | None, description: str | None) -> None:
    kwargs: dict[str, Any] = {"ImageLocation": image, "Name": name or image}
    if description:
        kwargs["Description"] = description
    image_id = conn.client().register_image(**kwargs)["ImageId"]
    click.echo(f"Success: ImageId {image_id}")


@ec2_command("econe-describe-images", "Describe images (all, or the IMAGE_IDs given).")
@click.argument("image_ids", nargs=-1)
@click.option(
    "-o", "--owner", "owners", multiple=True, help="Only images of this owner (self, an account...)."
)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_images(
    conn: Connection, image_ids: tuple[str, ...], owners: tuple[str, ...], filters: tuple[str, ...]
) -> None:
    kwargs = describe_kwargs("ImageIds", image_ids, filters)
    if owners:
        kwargs["Owners"] = list(owners)
    images = conn.client().describe_images(**kwargs).get("Images", [])
    rows = [
        (
            i.get("ImageId"),
            i.get("Name"),
            i.get("State"),
            i.get("OwnerId"),
            i.get("Public"),
            i.get("Architecture"),
            i.get("ImageLocation"),
        )
        for i in images
    ]
    print_table(IMAGE_COLUMNS, rows)
