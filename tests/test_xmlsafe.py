"""The XML parser factory: hardened whatever the profile, limits on except for oned's answers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from one_drivers import xmlsafe

PROFILES = [xmlsafe.ONED, xmlsafe.UNTRUSTED, xmlsafe.DRIVER_MESSAGE]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_no_entity_is_expanded_and_no_file_is_read(profile: xmlsafe.Profile, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    documents = [
        f'<!DOCTYPE R [<!ENTITY e SYSTEM "{secret.as_uri()}">]><R>&e;</R>',
        '<!DOCTYPE R [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><R>&b;</R>',
        f'<!DOCTYPE R SYSTEM "{secret.as_uri()}"><R>x</R>',
        '<!DOCTYPE R SYSTEM "http://127.0.0.1:9/x.dtd"><R>x</R>',
    ]
    for doc in documents:
        try:
            root = xmlsafe.parse(doc, profile)
        except xmlsafe.XmlError:
            continue  # refused is fine too
        text = "".join(str(t) for t in root.itertext())
        assert "TOP-SECRET" not in text and "aaaaaaaaaa" not in text


def test_only_oned_answers_lift_the_size_limits() -> None:
    big = "<R>" + "x" * 11_000_000 + "</R>"
    assert len(xmlsafe.parse(big, xmlsafe.ONED).text or "") == 11_000_000
    for profile in (xmlsafe.UNTRUSTED, xmlsafe.DRIVER_MESSAGE):
        with pytest.raises(xmlsafe.XmlError):
            xmlsafe.parse(big, profile)


def test_driver_messages_refuse_a_dtd_and_drop_comments() -> None:
    with pytest.raises(xmlsafe.DtdRefused):
        xmlsafe.parse("<!DOCTYPE VM><VM/>", xmlsafe.DRIVER_MESSAGE)
    root = xmlsafe.parse("<VM><!-- c --><?pi x?><ID>1</ID></VM>", xmlsafe.DRIVER_MESSAGE)
    assert [child.tag for child in root] == ["ID"]
    # the other profiles read the document but never its DTD
    assert xmlsafe.parse("<!DOCTYPE VM><VM/>", xmlsafe.UNTRUSTED).tag == "VM"


def test_malformed_documents_are_xml_errors() -> None:
    for bad in ("<R>", "", "not xml", "<a></b>"):
        with pytest.raises(xmlsafe.XmlError):
            xmlsafe.parse(bad)


def test_each_thread_has_its_own_parser() -> None:
    mine = xmlsafe.parser(xmlsafe.UNTRUSTED)
    assert xmlsafe.parser(xmlsafe.UNTRUSTED) is mine
    assert xmlsafe.parser(xmlsafe.ONED) is not mine
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(xmlsafe.parser(xmlsafe.UNTRUSTED)))
    thread.start()
    thread.join()
    assert other and other[0] is not mine


def test_pretty_reindents_and_keeps_the_content() -> None:
    shown = xmlsafe.pretty(b"<A>\n  <B>1</B>   <C><D>x &amp; y</D></C><E/></A>")
    assert shown.splitlines() == [
        "<A>",
        "  <B>1</B>",
        "  <C>",
        "    <D>x &amp; y</D>",
        "  </C>",
        "  <E/>",
        "</A>",
    ]


def test_text_is_read_as_the_characters_it_holds_bytes_as_declared() -> None:
    declared = '<?xml version="1.0" encoding="ISO-8859-1"?><R>Zoë</R>'
    for profile in PROFILES:
        assert xmlsafe.parse(declared, profile).text == "Zoë"  # as ElementTree reads a str
    assert xmlsafe.parse(declared.encode("latin-1")).text == "Zoë"
    assert xmlsafe.parse(declared.encode("utf-8")).text == "ZoÃ«"  # bytes: the declaration decides
