"""The option set every econe-* tool shares, the boto3 client it builds, and the one error boundary.

`-K/--access-key`, `-S/--secret-key`, `-U/--url` (or EC2_ACCESS_KEY, EC2_SECRET_KEY, EC2_URL) as upstream;
an EC2 error becomes `Code: message` on stderr with exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

DEFAULT_URL = "http://localhost:4567/"
DEFAULT_REGION = "opennebula"  # econe's default region name; any region signs for econe

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Connection:
    """Where and as whom the tools talk EC2."""

    access_key: str
    secret_key: str
    url: str
    region: str = DEFAULT_REGION
    signature_version: str = "v4"
    timeout: float = 60.0

    def client(self) -> EC2Client:
        """A boto3 EC2 client for this endpoint (one attempt: a CLI user sees failures at once)."""
        config = Config(
            signature_version="v2" if self.signature_version == "v2" else "v4",
            retries={"total_max_attempts": 1},
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
        )
        client: EC2Client = boto3.client(
            "ec2",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )
        return client


class ToolError(click.ClickException):
    """A failure shown as one line on stderr with exit status 1 (EC2 errors: `Code: message`)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def ec2_error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code") or "Error"
    message = error.get("Message") or str(exc)
    return f"{code}: {message}"


def ec2_command(name: str, help_text: str) -> Callable[[F], click.Command]:
    """Make `func(conn, **options)` a click command with the shared options and the error boundary."""

    def decorate(func: F) -> click.Command:
        @click.option(
            "-K",
            "--access-key",
            envvar="EC2_ACCESS_KEY",
            required=True,
            help="Access key (user name); EC2_ACCESS_KEY.",
        )
        @click.option(
            "-S", "--secret-key", envvar="EC2_SECRET_KEY", required=True, help="Secret key; EC2_SECRET_KEY."
        )
        @click.option(
            "-U",
            "--url",
            envvar="EC2_URL",
            default=DEFAULT_URL,
            show_default=True,
            help="Endpoint URL; EC2_URL.",
        )
        @click.option(
            "--region",
            envvar="EC2_REGION",
            default=DEFAULT_REGION,
            show_default=True,
            help="Region to sign for; EC2_REGION.",
        )
        @click.option(
            "--signature-version",
            type=click.Choice(["v4", "v2"]),
            default="v4",
            show_default=True,
            help="v2 for old servers that only verify SigV2.",
        )
        @functools.wraps(func)
        def command(
            access_key: str, secret_key: str, url: str, region: str, signature_version: str, **options: Any
        ) -> None:
            conn = Connection(access_key, secret_key, url, region, signature_version)
            try:
                func(conn, **options)
            except ClientError as exc:
                raise ToolError(ec2_error_text(exc)) from None
            except BotoCoreError as exc:
                raise ToolError(f"Error: {exc}") from None
            except OSError as exc:
                raise ToolError(f"Error: {exc}") from None

        return click.command(name=name, help=help_text)(command)

    return decorate
