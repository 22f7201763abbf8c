"""econe-create-keypair, -delete-keypair, -describe-keypairs.

The private key of a created pair exists only in this answer (econe never stores it): it is printed
once, or written to `-o FILE` with mode 0600.
"""

from __future__ import annotations

import os

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs
from one_drivers.econe_tools.table import print_table


@ec2_command("econe-create-keypair", "Create the key pair NAME; prints (or saves) its private key.")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the private key here (0600).",
)
def create_keypair(conn: Connection, name: str, output: str | None) -> None:
    pair = conn.client().create_key_pair(KeyName=name)
    material = pair.get("KeyMaterial", "")
    if output:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(material if material.endswith("\n") else material + "\n")
        print_table(
            ("KeyName", "Fingerprint", "PrivateKey"),
            [(pair.get("KeyName"), pair.get("KeyFingerprint"), output)],
        )
    else:
        print_table(("KeyName", "Fingerprint"), [(pair.get("KeyName"), pair.get("KeyFingerprint"))])
        click.echo(material)


@ec2_command("econe-delete-keypair", "Delete the key pair NAME.")
@click.argument("name")
def delete_keypair(conn: Connection, name: str) -> None:
    conn.client().delete_key_pair(KeyName=name)
    click.echo(f"Success: {name} deleted")


@ec2_command("econe-describe-keypairs", "Describe key pairs (all, or the NAMEs given).")
@click.argument("names", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_keypairs(conn: Connection, names: tuple[str, ...], filters: tuple[str, ...]) -> None:
    pairs = (
        conn.client().describe_key_pairs(**describe_kwargs("KeyNames", names, filters)).get("KeyPairs", [])
    )
    print_table(("KeyName", "Fingerprint"), [(p.get("KeyName"), p.get("KeyFingerprint")) for p in pairs])
