"""Running the econe-* commands in-process (click's runner) against moto's EC2 server on loopback."""

from __future__ import annotations

from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner, Result

Run = Callable[..., Result]


@pytest.fixture
def tool_env(moto_endpoint: str) -> dict[str, str]:
    # Credentials and endpoint the way users give them: EC2_* variables (moto accepts any key).
    return {
        "EC2_ACCESS_KEY": "alice",
        "EC2_SECRET_KEY": "alice-secret",
        "EC2_URL": moto_endpoint,
        "EC2_REGION": "us-east-1",  # moto keeps resources per real AWS region
    }


@pytest.fixture
def run(tool_env: dict[str, str]) -> Run:
    def invoke(command: click.Command, *args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(command, list(args), env=tool_env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    return invoke
