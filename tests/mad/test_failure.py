"""The stderr a remotes script writes renders as one clean message under each line's exec-driver rule
(tests/mad/exec_parsers.py), and the form is picked from the OpenNebula version next to the scripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from one_drivers.mad.failure import (
    ERROR_END,
    ERROR_START,
    VERSION_ENV,
    StderrForm,
    form_for,
    installed_version,
    render,
)
from tests.mad.exec_parsers import LINES, lines_rule, markers_rule, whole_rule

MESSAGES = [
    'DEPLOY of VM 7: EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:1/"',
    "deploy: expected '<params...> <vm_id> <host>'\n  (got 1 argument)",  # folded onto one line
    "ERROR: looks like a 7.x log line",
    "10.0.0.1 is taken",
]
LOGS = [
    ("I", "RunInstances i-0abc in us-east-1"),
    ("E", "2 retries left"),
    ("D", "botocore: warning\nsecond"),
]


def expected(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


@pytest.mark.parametrize(("version", "rule"), LINES, ids=[v for v, _ in LINES])
@pytest.mark.parametrize("message", MESSAGES)
def test_each_line_reads_one_clean_message(version: str, rule: Callable[[str], str], message: str) -> None:
    stderr = render(form_for(version), "deploy", LOGS, message)
    shown = rule(stderr)
    if message.startswith("ERROR:") and form_for(version) is StderrForm.LINES:
        assert shown == f"deploy: {message}"  # kept out of 7.x's log lines
    else:
        assert shown == expected(message)


def test_no_single_form_is_clean_on_every_line() -> None:
    # Why the form is chosen per line: each one garbles (or loses) the message under some line's rule.
    message = MESSAGES[0]
    for form in StderrForm:
        shown = {version: rule(render(form, "deploy", LOGS, message)) for version, rule in LINES}
        assert any(text != message for text in shown.values()), form


def test_the_form_that_reached_a_74_vm_garbled() -> None:
    message = "DEPLOY of VM 7: EndpointConnectionError: boom"
    old = f"{ERROR_START}\n{message}\n{ERROR_END}\n{message}\n"
    assert lines_rule(old).message == f"{ERROR_START}{message}{ERROR_END}{message}"
    assert lines_rule(render(form_for("7.4.0"), "deploy", [], message)).message == message


def test_7x_log_lines_go_to_oned_log_with_their_text_intact() -> None:
    result = lines_rule(render(StderrForm.LINES, "deploy", [("I", "10 retries left")], "boom"))
    # The tag keeps 7.x from reading "10" as the id of another VM to log to.
    assert result.logs == [("INFO", -1, "deploy: 10 retries left")]
    assert result.message == "boom"


def test_success_writes_only_log_lines() -> None:
    stderr = render(StderrForm.LINES, "poll", LOGS, None)
    assert lines_rule(stderr).message == "-"
    assert markers_rule(render(StderrForm.MARKERS, "poll", LOGS, None)) == "-"


def test_an_empty_message_still_says_what_failed() -> None:
    for version, rule in LINES:
        assert rule(render(form_for(version), "cancel", [], "  \n")) == "cancel failed", version


@pytest.mark.parametrize(
    ("version", "form"),
    [
        ("4.4.0", StderrForm.MARKERS),
        ("5.12.0.4", StderrForm.MARKERS),
        ("6.0.2", StderrForm.MARKERS),
        ("6.0.3", StderrForm.WHOLE),
        ("6.10.5", StderrForm.WHOLE),
        ("6.99.80", StderrForm.LINES),
        ("7.4.0", StderrForm.LINES),
        ("7.2.0-fixup", StderrForm.LINES),
        (None, StderrForm.WHOLE),
        ("garbage", StderrForm.WHOLE),
    ],
)
def test_form_for(version: str | None, form: StderrForm) -> None:
    assert form_for(version) is form


def test_installed_version_is_read_next_to_the_remotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VERSION_ENV, raising=False)
    script = tmp_path / "remotes" / "vmm" / "ec2" / "deploy"
    script.parent.mkdir(parents=True)
    script.write_text("")
    assert installed_version(script) is None
    (tmp_path / "remotes" / "VERSION").write_text("6.10.5\n")
    assert installed_version(script) == "6.10.5"
    monkeypatch.setenv(VERSION_ENV, "7.4.0")
    assert installed_version(script) == "7.4.0"


def test_the_rules_themselves() -> None:
    # The restated rules on upstream's own examples (their error_message helpers' output).
    assert markers_rule(f"noise\n{ERROR_START}\nerror message\n{ERROR_END}\n") == "error message"
    assert markers_rule("error message\n") == "-"
    assert whole_rule("a\nb\n") == "a b" and whole_rule("") == "-"
    assert lines_rule("INFO: 3 x\nfirst\nsecond\n").message == "firstsecond"
    assert lines_rule("INFO: 3 x\n").logs == [("INFO", 3, "x")]
