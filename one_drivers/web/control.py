"""The `start|stop|restart|status` commands that econe-server and occi-server share (click, web/daemon.py).

Each server's own CLI keeps its group, its config loading and `run`; this adds the four daemon commands
to that group, with the server's name in every message, so the two CLIs cannot drift apart.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

import click

from one_drivers.web.daemon import Daemon, DaemonError, running_pid


class ServedConfig(Protocol):
    """What the daemon commands read from a server's config."""

    @property
    def pid_file(self) -> str: ...

    @property
    def log_file(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


C = TypeVar("C", bound=ServedConfig)


def default_config_path(filename: str) -> str:
    """$ONE_LOCATION/etc/<filename> for a self-contained OpenNebula, else /etc/one/<filename>."""
    if os.environ.get("ONE_LOCATION"):
        return os.path.join(os.environ["ONE_LOCATION"], "etc", filename)
    return f"/etc/one/{filename}"


def config_loader(load: Callable[[str], C], check: Callable[[C], None]) -> Callable[[str], C]:
    """Read and check a server's config; an unreadable or refused one is a plain CLI error."""

    def load_checked(path: str) -> C:
        try:
            config = load(path)
            check(config)
        except (OSError, ValueError) as exc:  # the configs' ConfigError is a ValueError
            raise click.ClickException(str(exc)) from exc
        return config

    return load_checked


def running(config: ServedConfig) -> int | None:
    """The live server's pid; a stale pid file is removed, and said so."""
    notice: list[str] = []
    pid = running_pid(config.pid_file, notice)
    for line in notice:
        click.echo(line)
    return pid


def add_daemon_commands(
    group: click.Group,
    name: str,
    module: str,
    load: Callable[[str], C],
    url: Callable[[C], str],
    before_start: Callable[[C], None] | None = None,
) -> None:
    """Add start/stop/restart/status to `group`; `module` is run as `python -m module --config F run`.

    `before_start` may refuse the start with a click.ClickException (econe logs into oned first)."""

    def daemon(config_path: str, config: C) -> Daemon:
        return Daemon(name, module, config_path, config.pid_file, config.log_file, config.host, config.port)

    @group.command()
    @click.pass_obj
    def start(config_path: str) -> None:
        """Start the server in the background (pid file, log file)."""
        config = load(config_path)
        running(config)
        if before_start is not None:
            before_start(config)
        try:
            pid = daemon(config_path, config).start()
        except DaemonError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{name} started (pid {pid}) on {url(config)}")

    @group.command()
    @click.pass_obj
    def stop(config_path: str) -> None:
        """Stop the background server (SIGTERM, in-flight requests finish)."""
        config = load(config_path)
        if daemon(config_path, config).stop():
            click.echo(f"{name} stopped")
        else:
            click.echo(f"{name} is not running")

    @group.command()
    @click.pass_context
    def restart(ctx: click.Context) -> None:
        """Stop (if running), then start."""
        config = load(ctx.obj)
        daemon(ctx.obj, config).stop()
        ctx.invoke(start)

    @group.command()
    @click.pass_obj
    def status(config_path: str) -> None:
        """Exit 0 and print the pid when running; exit 3 (LSB "not running") otherwise."""
        pid = running(load(config_path))
        if pid is None:
            click.echo(f"{name} is not running")
            sys.exit(3)
        click.echo(f"{name} is running (pid {pid})")
