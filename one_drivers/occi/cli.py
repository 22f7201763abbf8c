"""`occi-server`: start|stop|restart|status (daemon with pid and log file) and run (foreground).

The config is $ONE_LOCATION/etc/occi-server.conf or /etc/one/occi-server.conf (either upstream format);
`run` is what systemd (Type=simple) and tests use, `start` runs it in the background (web/daemon.py).
"""

from __future__ import annotations

import os
import sys

import click

from one_drivers.occi.config import ConfigError, OcciConfig, check_config, load_config
from one_drivers.web.daemon import Daemon, DaemonError, running_pid

NAME = "occi-server"


def _default_config() -> str:
    if os.environ.get("ONE_LOCATION"):
        return os.path.join(os.environ["ONE_LOCATION"], "etc", "occi-server.conf")
    return "/etc/one/occi-server.conf"


def _load(path: str) -> OcciConfig:
    try:
        config = load_config(path)
        check_config(config)
    except (OSError, ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    return config


def _daemon(config_path: str, config: OcciConfig) -> Daemon:
    return Daemon(
        NAME, "one_drivers.occi.cli", config_path, config.pid_file, config.log_file, config.host, config.port
    )


def _running(config: OcciConfig) -> int | None:
    notice: list[str] = []
    pid = running_pid(config.pid_file, notice)
    for line in notice:
        click.echo(line)
    return pid


@click.group()
@click.option(
    "--config", "config_path", default=None, help="occi-server.conf (default /etc/one/occi-server.conf)"
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """The OpenNebula OCCI service."""
    ctx.obj = config_path or _default_config()


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


@main.command()
@click.pass_obj
def start(config_path: str) -> None:
    """Start the server in the background (pid file, log file)."""
    config = _load(config_path)
    _running(config)
    try:
        pid = _daemon(config_path, config).start()
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{NAME} started (pid {pid}) on {config.base_url}")


@main.command()
@click.pass_obj
def stop(config_path: str) -> None:
    """Stop the background server (SIGTERM, in-flight requests finish)."""
    config = _load(config_path)
    if _daemon(config_path, config).stop():
        click.echo(f"{NAME} stopped")
    else:
        click.echo(f"{NAME} is not running")


@main.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop (if running), then start."""
    config = _load(ctx.obj)
    _daemon(ctx.obj, config).stop()
    ctx.invoke(start)


@main.command()
@click.pass_obj
def status(config_path: str) -> None:
    """Exit 0 and print the pid when running; exit 3 (LSB "not running") otherwise."""
    config = _load(config_path)
    pid = _running(config)
    if pid is None:
        click.echo(f"{NAME} is not running")
        sys.exit(3)
    click.echo(f"{NAME} is running (pid {pid})")


if __name__ == "__main__":
    main()
