"""`econe-server`: start|stop|restart|status (daemon with pid and log file), run (foreground), secret USER.

`start` launches `run` in a new session with its output in the log file, writes the pid file and waits
until the port answers; a second start is refused while the pid is alive, a stale pid file is cleaned.
`run` is what systemd (Type=simple) and tests use. `secret` prints a user's current signing secret.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from one_drivers.econe.config import EconeConfig, check_config, load_config
from one_drivers.web.control import add_daemon_commands, config_loader, default_config_path

_load = config_loader(load_config, check_config)


@click.group()
@click.option("--config", "config_path", default=None, help="econe.conf (default /etc/one/econe.conf)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """The econe EC2 Query server in front of OpenNebula."""
    ctx.obj = config_path or default_config_path("econe.conf")


def _check_login(config: EconeConfig) -> None:
    """Log in once as the server admin; a refusal stops the start here, with oned's answer and the file."""
    from one_drivers.econe.server import server_admin_gateway
    from one_drivers.one.gateway import OneError

    try:
        server_admin_gateway(config)
    except (OneError, OSError) as exc:
        raise click.ClickException(f"cannot start econe: {exc}") from exc


@main.command()
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=None,
    help="worker processes sharing the port (default :processes: of econe.conf, 1)",
)
@click.option("--worker-of", type=int, default=None, hidden=True)
@click.pass_obj
def run(config_path: str, processes: int | None, worker_of: int | None) -> None:
    """Serve in the foreground until SIGTERM (for systemd and tests)."""
    from one_drivers.econe.server import EconeServer, configure_logging

    config = _load(config_path)
    configure_logging(config, stream=sys.stderr)
    count = processes or config.processes
    if worker_of is None and count > 1:
        from one_drivers.econe.processes import WorkerProcesses

        if config.port == 0:
            raise click.ClickException("several processes need a fixed :port:, not 0")
        sys.exit(WorkerProcesses(config, config_path, count).serve_forever())
    try:
        server = EconeServer(config, shared_port=worker_of is not None)
    except Exception as exc:
        raise click.ClickException(f"cannot start econe: {exc}") from exc
    if worker_of is not None:
        from one_drivers.econe.processes import watch_parent

        watch_parent(worker_of, lambda: os.kill(os.getpid(), signal.SIGTERM))
    server.serve_forever()


add_daemon_commands(
    main, "econe-server", "one_drivers.econe.cli", _load, lambda config: config.public_url, _check_login
)


@main.command()
@click.argument("user")
@click.pass_obj
def secret(config_path: str, user: str) -> None:
    """Print USER's current secret access key (their PASSWORD as oned stores it).

    On OpenNebula 5.10+ a SHA1 password is re-hashed to SHA256 at the user's next login, which changes
    the secret: run this again after upgrading.
    """
    from one_drivers.econe.server import server_admin_gateway
    from one_drivers.one.gateway import OneError
    from one_drivers.one.users import UserDirectory

    config = _load(config_path)
    try:
        entry = UserDirectory(server_admin_gateway(config), 0).get(user)
    except OneError as exc:
        raise click.ClickException(f"OpenNebula: {exc.message}") from exc
    if entry is None:
        raise click.ClickException(f"no such user: {user}")
    if entry.signing_secret is None:
        raise click.ClickException(
            f"user {user} (driver {entry.auth_driver}) cannot sign EC2 requests: only core and public users can"
        )
    click.echo(entry.signing_secret)


if __name__ == "__main__":
    main()
