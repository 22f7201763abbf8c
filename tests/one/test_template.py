"""The template parser and the one escaping function, against oned's lexer rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_drivers.one.template import (
    TemplateError,
    build_template,
    format_attribute,
    parse_template,
    quote_value,
)


def test_parses_single_vector_bare_quoted_and_empty() -> None:
    text = 'NAME = "vm 1"\nCPU=0.5\n# a comment\nEMPTY =\nNIC = [ NETWORK = "net, a", IP=10.0.0.1 ]\n'
    tmpl = parse_template(text)
    assert tmpl.get("NAME") == "vm 1"
    assert tmpl.get("cpu") == "0.5"
    assert tmpl.get("EMPTY") == ""
    assert tmpl.vectors("NIC") == [{"NETWORK": "net, a", "IP": "10.0.0.1"}]


def test_multiline_vector_and_lowercase_names() -> None:
    tmpl = parse_template('public_cloud = [\n  type = "ec2",\n  ami = "ami-1"\n]\n')
    assert tmpl.vectors("PUBLIC_CLOUD") == [{"TYPE": "ec2", "AMI": "ami-1"}]


def test_repeated_attributes_keep_order() -> None:
    tmpl = parse_template('VM=[ID="1"]\nVM=[ID="2"]\n')
    assert [v["ID"] for v in tmpl.vectors("VM")] == ["1", "2"]


def test_escaped_quote_round_trip() -> None:
    value = 'say "hi" \\"x\\" y'
    assert parse_template("A = " + quote_value(value)).get("A") == value


@pytest.mark.parametrize("bad", ['A = "unterminated', "= 1", "A 1", "A = [ B ]", "A-B = 1"])
def test_syntax_errors_are_reported(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(bad)


@pytest.mark.parametrize("value", ["trailing\\", "cdata ]]> end", "nul\x00"])
def test_values_oned_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(TemplateError):
        quote_value(value)


def test_bad_names_are_refused() -> None:
    with pytest.raises(TemplateError):
        format_attribute('X" RAW', "1")


def test_injection_attempts_stay_inside_their_value() -> None:
    hostile = 'x"]\nRAW = [ TYPE = "kvm", DATA = "evil" ]\nSCHED_REQUIREMENTS = "ID=0'
    text = build_template([("EC2_TAGS", {"KEY": hostile}), ("NAME", hostile)])
    tmpl = parse_template(text)
    assert [name for name, _ in tmpl] == ["EC2_TAGS", "NAME"]
    assert tmpl.vectors("EC2_TAGS") == [{"KEY": hostile}]
    assert tmpl.get("NAME") == hostile


_safe_text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=60).filter(
    lambda s: "]]>" not in s and not s.endswith("\\")
)


@given(st.lists(st.tuples(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), _safe_text), max_size=6))
def test_any_safe_value_round_trips_without_adding_attributes(pairs: list[tuple[str, str]]) -> None:
    text = build_template(pairs)
    parsed = list(parse_template(text))
    assert parsed == [(name, value) for name, value in pairs]


@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True), _safe_text, max_size=5))
def test_vectors_round_trip(members: dict[str, str]) -> None:
    parsed = list(parse_template(build_template([("V", members)])))
    assert parsed == [("V", members)]
