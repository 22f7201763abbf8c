"""`occi-server`: start|stop|restart|status (daemon with pid and log file) and run (foreground).

The config is $ONE_LOCATION/etc/occi-server.conf or /etc/one/occi-server.conf (either upstream format);
`run` is what systemd (Type=simple) and tests use, `start` runs it in the background (web/daemon.py).
"""

from __future__ import annotations

import sys

import click

from one_drivers.occi.config import check_config, load_config
from one_drivers.web.control import add_daemon_commands, config_loader, default_config_path

NAME = "occi-server"


_load = config_loader(load_config, check_config)


@click.group()
@click.option(
    "--config", "config_path", default=None, help="occi-server.conf (default /etc/one/occi-server.conf)"
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """The OpenNebula OCCI service."""
    ctx.obj = config_path or default_config_path("occi-server.conf")


@main.command()
@click.pass_obj
def run(config_path: str) -> None:
    """Serve in the foreground until SIGTERM (for systemd and tests)."""
    from one_drivers.occi.server import OcciServer
    from one_drivers.web.server import configure_logging

    config = _load(config_path)
    configure_logging(config.debug_level, stream=sys.stderr)
    try:
        server = OcciServer(config)
    except Exception as exc:
        raise click.ClickException(f"cannot start {NAME}: {exc}") from exc
    server.serve_forever()


add_daemon_commands(main, NAME, "one_drivers.occi.cli", _load, lambda config: config.base_url)


if __name__ == "__main__":
    main()
