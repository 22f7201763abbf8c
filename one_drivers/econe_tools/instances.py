"""econe-run-instances, -describe-instances, -terminate/-start/-stop/-reboot-instances."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from one_drivers.econe_tools.connection import Connection, ec2_command
from one_drivers.econe_tools.filters import FILTER_HELP, describe_kwargs, split_groups
from one_drivers.econe_tools.table import print_table

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import InstanceTypeDef

INSTANCE_COLUMNS = (
    "InstanceId",
    "ImageId",
    "State",
    "Type",
    "PrivateIp",
    "PublicIp",
    "KeyName",
    "LaunchTime",
)


def instance_row(instance: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        instance.get("InstanceId"),
        instance.get("ImageId"),
        instance.get("State", {}).get("Name"),
        instance.get("InstanceType"),
        instance.get("PrivateIpAddress"),
        instance.get("PublicIpAddress"),
        instance.get("KeyName"),
        instance.get("LaunchTime"),
    )


def _all_instances(client: EC2Client, kwargs: dict[str, Any]) -> Iterator[InstanceTypeDef]:
    # Follow NextToken so a paginating server (econe maps it onto oned's pool pages) shows everything.
    while True:
        page = client.describe_instances(**kwargs)
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])
        token = page.get("NextToken")
        if not token:
            return
        kwargs = dict(kwargs, NextToken=token)


@ec2_command("econe-run-instances", "Run COUNT instances of IMAGE_ID (an ami-... id).")
@click.argument("image_id")
@click.option(
    "-t", "--type", "instance_type", help="Instance type (an OpenNebula template's EC2_INSTANCE_TYPE)."
)
@click.option("-k", "--keypair", help="Key pair name whose public key goes into the VM context.")
@click.option("-d", "--user-data", help="User data text (base64-encoded for you).")
@click.option("--user-data-file", type=click.File("rb"), help="Read user data from this file.")
@click.option(
    "-n", "--count", type=click.IntRange(min=1), default=1, show_default=True, help="How many instances."
)
@click.option("-s", "--subnet", help="Subnet (subnet-... id, an OpenNebula network) for the first NIC.")
@click.option("-g", "--group", "groups", multiple=True, help="Security group name or sg- id (repeatable).")
def run_instances(
    conn: Connection,
    image_id: str,
    instance_type: str | None,
    keypair: str | None,
    user_data: str | None,
    user_data_file: Any,
    count: int,
    subnet: str | None,
    groups: tuple[str, ...],
) -> None:
    kwargs: dict[str, Any] = {"ImageId": image_id, "MinCount": count, "MaxCount": count}
    if instance_type:
        kwargs["InstanceType"] = instance_type
    if keypair:
        kwargs["KeyName"] = keypair
    if user_data_file is not None:
        kwargs["UserData"] = user_data_file.read()  # boto3 base64-encodes UserData itself
    elif user_data is not None:
        kwargs["UserData"] = user_data
    if subnet:
        kwargs["SubnetId"] = subnet
    if groups:
        ids, names = split_groups(groups)
        if ids:
            kwargs["SecurityGroupIds"] = ids
        if names:
            kwargs["SecurityGroups"] = names
    reservation = conn.client().run_instances(**kwargs)
    print_table(INSTANCE_COLUMNS, [instance_row(i) for i in reservation.get("Instances", [])])


@ec2_command("econe-describe-instances", "Describe instances (all, or the INSTANCE_IDs given).")
@click.argument("instance_ids", nargs=-1)
@click.option("-f", "--filter", "filters", multiple=True, help=FILTER_HELP)
def describe_instances(conn: Connection, instance_ids: tuple[str, ...], filters: tuple[str, ...]) -> None:
    client = conn.client()
    rows = [
        instance_row(i) for i in _all_instances(client, describe_kwargs("InstanceIds", instance_ids, filters))
    ]
    print_table(INSTANCE_COLUMNS, rows)


def _print_state_changes(changes: Sequence[Mapping[str, Any]]) -> None:
    rows = [
        (c.get("InstanceId"), c.get("PreviousState", {}).get("Name"), c.get("CurrentState", {}).get("Name"))
        for c in changes
    ]
    print_table(("InstanceId", "Previous", "Current"), rows)


@ec2_command("econe-terminate-instances", "Terminate the instances given.")
@click.argument("instance_ids", nargs=-1, required=True)
def terminate_instances(conn: Connection, instance_ids: tuple[str, ...]) -> None:
    _print_state_changes(
        conn.client().terminate_instances(InstanceIds=list(instance_ids))["TerminatingInstances"]
    )


@ec2_command("econe-start-instances", "Start (resume) the stopped instances given.")
@click.argument("instance_ids", nargs=-1, required=True)
def start_instances(conn: Connection, instance_ids: tuple[str, ...]) -> None:
    _print_state_changes(conn.client().start_instances(InstanceIds=list(instance_ids))["StartingInstances"])


@ec2_command("econe-stop-instances", "Stop (power off) the instances given.")
@click.argument("instance_ids", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Power off hard instead of asking the guest.")
def stop_instances(conn: Connection, instance_ids: tuple[str, ...], force: bool) -> None:
    kwargs: dict[str, Any] = {"InstanceIds": list(instance_ids)}
    if force:
        kwargs["Force"] = True
    _print_state_changes(conn.client().stop_instances(**kwargs)["StoppingInstances"])


@ec2_command("econe-reboot-instances", "Reboot the instances given.")
@click.argument("instance_ids", nargs=-1, required=True)
def reboot_instances(conn: Connection, instance_ids: tuple[str, ...]) -> None:
    conn.client().reboot_instances(InstanceIds=list(instance_ids))
    for instance_id in instance_ids:
        click.echo(f"Success: {instance_id} rebooting")
