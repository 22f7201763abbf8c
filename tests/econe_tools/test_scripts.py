"""Every econe-* console script in pyproject.toml points at a click command of the same name, and the
set is upstream's 22 client tools plus ours (snapshots, tags, create-image)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
UPSTREAM_TOOLS = {
    "econe-upload",
    "econe-register",
    "econe-describe-images",
    "econe-run-instances",
    "econe-describe-instances",
    "econe-terminate-instances",
    "econe-start-instances",
    "econe-stop-instances",
    "econe-reboot-instances",
    "econe-create-volume",
    "econe-delete-volume",
    "econe-describe-volumes",
    "econe-attach-volume",
    "econe-detach-volume",
    "econe-allocate-address",
    "econe-associate-address",
    "econe-disassociate-address",
    "econe-release-address",
    "econe-describe-addresses",
    "econe-create-keypair",
    "econe-delete-keypair",
    "econe-describe-keypairs",
}
OUR_TOOLS = {
    "econe-create-snapshot",
    "econe-describe-snapshots",
    "econe-delete-snapshot",
    "econe-create-image",
    "econe-create-tags",
    "econe-delete-tags",
    "econe-describe-tags",
    "econe-import-keypair",
    "econe-describe-security-groups",
    "econe-create-security-group",
    "econe-delete-security-group",
    "econe-authorize",
    "econe-revoke",
    "econe-describe-subnets",
}


def tool_scripts() -> dict[str, str]:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    return {name: target for name, target in scripts.items() if target.startswith("one_drivers.econe_tools.")}


def test_the_tool_set_is_upstreams() -> None:
    assert set(tool_scripts()) == UPSTREAM_TOOLS | OUR_TOOLS


@pytest.mark.parametrize("name", sorted(UPSTREAM_TOOLS | OUR_TOOLS))
def test_each_script_is_its_command_with_the_shared_options(name: str) -> None:
    module_name, _, attribute = tool_scripts()[name].partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(command, click.Command)
    assert command.name == name
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in ("-K, --access-key", "-S, --secret-key", "-U, --url", "--region", "--signature-version"):
        assert option in result.output, (name, option)
