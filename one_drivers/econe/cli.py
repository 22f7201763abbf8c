"""`econe-server`: start|stop|restart|status (daemon with pid and log file), run (foreground), secret USER.

`start` launches `run` in a new session with its output in the log file, writes the pid file and waits
until the port answers; a second start is refused while the pid is alive, a stale pid file is cleaned.
`run` is what systemd (Type=simple) and tests use. `secret` prints a user's current signing secret.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from one_drivers.econe.config import ConfigError, EconeConfig, check_config, load_config

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def _default_config() -> str:
    if os.environ.get("ONE_LOCATION"):
        return os.path.join(os.environ["ONE_LOCATION"], "etc", "econe.conf")
    return "/etc/one/econe.conf"


def _load(path: str) -> EconeConfig:
    try:
        config = load_config(path)
        check_config(config)
    except (OSError, ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    return config


def read_pid(pid_file: str) -> int | None:
    try:
        text = Path(pid_file).read_text().strip()
        return int(text) if text else None
    except (FileNotFoundError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie child of ours is not alive for our purposes.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def running_pid(pid_file: str) -> int | None:
    """The live server's pid; a stale pid file is removed."""
    pid = read_pid(pid_file)
    if pid is None:
        if Path(pid_file).exists():
            Path(pid_file).unlink()
        return None
    if pid_alive(pid):
        return pid
    Path(pid_file).unlink(missing_ok=True)
    click.echo(f"removed stale pid file {pid_file} (pid {pid})")
    return None


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


@click.group()
@click.option("--config", "config_path", default=None, help="econe.conf (default /etc/one/econe.conf)")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """The econe EC2 Query server in front of OpenNebula."""
    ctx.obj = config_path or _default_config()


@main.command()
@click.pass_obj
def run(config_path: str) -> None:
    """Serve in the foreground until SIGTERM (for systemd and tests)."""
    from one_drivers.econe.server import EconeServer, configure_logging

    config = _load(config_path)
    configure_logging(config, stream=sys.stderr)
    try:
        server = EconeServer(config)
    except Exception as exc:
        raise click.ClickException(f"cannot start econe: {exc}") from exc
    server.serve_forever()


@main.command()
@click.pass_obj
def start(config_path: str) -> None:
    """Start the server in the background (pid file, log file)."""
    config = _load(config_path)
    pid = running_pid(config.pid_file)
    if pid is not None:
        raise click.ClickException(f"econe-server is already running (pid {pid})")
    Path(config.pid_file).parent.mkdir(parents=True, exist_ok=True)
    Path(config.log_file).parent.mkdir(parents=True, exist_ok=True)
    with open(config.log_file, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "one_drivers.econe.cli", "--config", config_path, "run"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )
    Path(config.pid_file).write_text(f"{child.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            Path(config.pid_file).unlink(missing_ok=True)
            raise click.ClickException(
                f"econe-server exited at start (code {child.returncode}); see {config.log_file}"
            )
        if _port_open(config.host, config.port):
            click.echo(f"econe-server started (pid {child.pid}) on {config.public_url}")
            return
        time.sleep(0.1)
    raise click.ClickException(f"econe-server did not open port {config.port} in time; see {config.log_file}")


def _stop(config: EconeConfig) -> bool:
    pid = running_pid(config.pid_file)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    Path(config.pid_file).unlink(missing_ok=True)
    return True


@main.command()
@click.pass_obj
def stop(config_path: str) -> None:
    """Stop the background server (SIGTERM, in-flight requests finish)."""
    config = _load(config_path)
    if _stop(config):
        click.echo("econe-server stopped")
    else:
        click.echo("econe-server is not running")


@main.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop (if running), then start."""
    config = _load(ctx.obj)
    _stop(config)
    ctx.invoke(start)


@main.command()
@click.pass_obj
def status(config_path: str) -> None:
    """Exit 0 and print the pid when running; exit 3 (LSB "not running") otherwise."""
    config = _load(config_path)
    pid = running_pid(config.pid_file)
    if pid is None:
        click.echo("econe-server is not running")
        sys.exit(3)
    click.echo(f"econe-server is running (pid {pid})")


@main.command()
@click.argument("user")
@click.pass_obj
def secret(config_path: str, user: str) -> None:
    """Print USER's current secret access key (their PASSWORD as oned stores it).

    On OpenNebula 5.10+ a SHA1 password is re-hashed to SHA256 at the user's next login, which changes
    the secret: run this again after upgrading.
    """
    from one_drivers.econe.server import cipher_auth_file
    from one_drivers.econe.users import UserDirectory
    from one_drivers.one.gateway import OneError, OneGateway

    config = _load(config_path)
    try:
        admin = OneGateway.server_admin(
            config.one_xmlrpc, cipher_auth_file(config), digest=config.server_cipher_digest
        )
        entry = UserDirectory(admin, 0).get(user)
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
