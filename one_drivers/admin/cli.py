"""`one-ec2`: install | uninstall the ec2 drivers into an OpenNebula tree; check HOST."""

from __future__ import annotations

from pathlib import Path

import click

from one_drivers.admin.tree import AdminError, OneTree

_ONE_LOCATION = click.option(
    "--one-location",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="ONE_LOCATION",
    help="A self-contained OpenNebula ($ONE_LOCATION: etc/, var/remotes/, bin/oned). Default: the "
    "system-wide layout (/etc/one, /var/lib/one/remotes).",
)
_ROOT = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Prefix for the system-wide paths (an image or chroot being prepared).",
)
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Only show what would change.")


def _tree(one_location: Path | None, root: Path) -> OneTree:
    if one_location is not None:
        if root != Path("/"):
            raise click.UsageError("--root is for the system-wide layout; not with --one-location")
        return OneTree(one_location=one_location.absolute())
    return OneTree(root=root.absolute())


@click.group()
def main() -> None:
    """Install the one_drivers ec2 drivers into OpenNebula, remove them, or check an ec2 host."""


@main.command()
@_ONE_LOCATION
@_ROOT
@_DRY_RUN
@click.option("--version", "one_version", metavar="X.Y", help="The OpenNebula version (default: `oned -v`).")
def install(one_location: Path | None, root: Path, dry_run: bool, one_version: str | None) -> None:
    """Place remotes/, add the VM_MAD/IM_MAD sections for this OpenNebula line, write ec2_driver.conf."""
    from one_drivers.admin.install import Installer

    try:
        Installer(_tree(one_location, root), click.echo).install(one_version, dry_run=dry_run)
    except (AdminError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@_ONE_LOCATION
@_ROOT
@_DRY_RUN
def uninstall(one_location: Path | None, root: Path, dry_run: bool) -> None:
    """Undo `one-ec2 install` (configuration edited since is left in place)."""
    from one_drivers.admin.install import Installer

    try:
        Installer(_tree(one_location, root), click.echo).uninstall(dry_run=dry_run)
    except (AdminError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("host")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ONE_EC2_DRIVER_CONF",
    help="ec2_driver.conf (default /etc/one/ec2_driver.conf).",
)
def check(host: str, config: Path | None) -> None:
    """Read HOST's template, resolve its EC2 settings as the drivers do and try the endpoint."""
    from one_drivers.admin.check import check_host

    try:
        ok = check_host(host, config, click.echo)
    except AdminError as exc:
        raise click.ClickException(str(exc)) from exc
    if not ok:
        raise SystemExit(1)
