"""Every `one-ec2 ...` command line the README and docs/install.md show parses as the command parses it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from one_drivers.admin.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "install.md"]


def command_lines() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"```(?:sh)?\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("#", 1)[0].strip()
                if "[" in line:
                    continue  # the synopsis, with placeholders
                if re.match(r"^(\S*/)?one-ec2 (install|uninstall|check)\b", line):
                    found.append((doc.name, line))
    return found


def test_the_docs_show_the_commands() -> None:
    shown = {shlex.split(line)[1] for _, line in command_lines()}
    assert shown == {"install", "check"}


@pytest.mark.parametrize(("doc", "line"), command_lines())
def test_each_shown_command_parses(doc: str, line: str) -> None:
    words = shlex.split(line)[1:]
    command = main.commands[words[0]]
    context = command.make_context(words[0], words[1:])
    assert isinstance(context, click.Context)
