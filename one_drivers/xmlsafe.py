"""The one place XML is parsed in one_drivers: hardened lxml parsers made from a few named profiles.

Every parser resolves no entities, loads no DTD and never goes to the network; libxml2's size limits
stay on (no `huge_tree`) except for oned's own answers, where one XML-RPC string holds a whole pool.
OpenNebula documents are parsed only in `one/` (records.py, gateway.py, driver_docs.py); the other
packages parse their own protocols' XML (OCCI bodies, EC2 answers) through `parse` too.
lxml is imported on first use, so importing this module costs nothing (the remotes scripts start fast).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml.etree import XMLParser, _Element

    XmlNode = _Element
else:
    XmlNode = Any


class XmlError(ValueError):
    """Not well-formed XML, over a size limit, or a DTD where none is accepted."""


class DtdRefused(XmlError):
    """A document declaring a DTD, parsed with a profile that refuses them."""


@dataclass(frozen=True)
class Profile:
    """How a parser is set up; the hardening (no entities, DTD or network) is not optional."""

    name: str
    huge: bool = False  # lift libxml2's limits (10 MB text nodes, depth 256): trusted oned answers only
    utf8: bool = False  # the bytes are UTF-8 whatever their declaration says (text decoded before)
    strip_comments: bool = False  # comments and processing instructions never become nodes
    refuse_dtd: bool = False  # a document declaring a DTD is an error, not merely unread


# oned's XML-RPC answers and the documents in them: a 10,000-VM pool is one 36 MB string.
ONED = Profile("oned", huge=True)
# Bodies from peers we do not control: EC2 answers, OCCI requests and answers, monitord frames.
UNTRUSTED = Profile("untrusted")
# What oned hands a driver (base64 payloads, already decoded to text): see one/driver_docs.py.
DRIVER_MESSAGE = Profile("driver message", utf8=True, strip_comments=True, refuse_dtd=True)

_local = threading.local()


def parser(profile: Profile = UNTRUSTED) -> XMLParser:
    """This thread's parser for `profile` (lxml parsers must not be shared between threads)."""
    parsers: dict[Profile, XMLParser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    found = parsers.get(profile)
    if found is None:
        from lxml import etree

        found = parsers[profile] = etree.XMLParser(
            encoding="utf-8" if profile.utf8 else None,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=profile.huge,
            remove_comments=profile.strip_comments,
            remove_pis=profile.strip_comments,
            # never collect_ids=False: with lxml 6.1 / libxml2 2.14 it makes the parser read an
            # external DTD subset (`SYSTEM "file:..."`), which the options above keep unread
        )
    return found


def declares_dtd(raw: bytes) -> bool:
    """Whether the prolog (before the root element) holds a `<!DOCTYPE`, the only place XML allows one.

    Skips what a prolog may hold before it: a BOM, white space, the XML declaration, comments and PIs;
    text inside values is never looked at, so an HTML page in a CDATA value is data, not a DTD.
    """
    pos = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while raw[pos : pos + 1] in (b" ", b"\t", b"\r", b"\n"):
            pos += 1
        if raw.startswith(b"<?", pos):
            end = raw.find(b"?>", pos + 2)
            pos = end + 2
        elif raw.startswith(b"<!--", pos):
            end = raw.find(b"-->", pos + 4)
            pos = end + 3
        else:
            return raw.startswith(b"<!DOCTYPE", pos)
        if end < 0:
            return False  # unterminated: not well-formed, the parser says so


@functools.cache
def _as_text(profile: Profile) -> Profile:
    return dataclasses.replace(profile, utf8=True)


def parse(data: str | bytes, profile: Profile = UNTRUSTED) -> XmlNode:
    """The root element of a document; XmlError when it cannot be read.

    Text (`str`) is already decoded: it is read as the characters it holds, whatever encoding its
    declaration names (as ElementTree reads text). With `refuse_dtd` a DTD is refused before parsing
    (libxml2 may read an external subset even with DTD loading off) and checked for again after.
    """
    from lxml import etree

    if isinstance(data, str):
        raw, profile = data.encode("utf-8"), _as_text(profile)
    else:
        raw = data
    if profile.refuse_dtd and declares_dtd(raw):
        raise DtdRefused("XML with a DTD is not accepted")
    try:
        root = etree.fromstring(raw, parser(profile))
    except etree.XMLSyntaxError as exc:
        raise XmlError(str(exc)) from exc
    if profile.refuse_dtd:
        info = root.getroottree().docinfo
        if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
            raise DtdRefused("XML with a DTD is not accepted")
    return root


def localname(element: XmlNode) -> str:
    """An element's tag without its `{namespace}`."""
    tag: str = element.tag
    return tag.rpartition("}")[2]


def element(tag: str, nsmap: Any = None) -> XmlNode:
    """A new element (for the few places that rewrite a parsed document)."""
    from lxml import etree

    return etree.Element(tag, nsmap=nsmap)


def subelement(parent: XmlNode, tag: str, text: str | None = None) -> XmlNode:
    from lxml import etree

    child = etree.SubElement(parent, tag)
    child.text = text
    return child


def to_bytes(node: XmlNode, *, with_tail: bool = True) -> bytes:
    from lxml import etree

    return bytes(etree.tostring(node, with_tail=with_tail))


def to_text(node: XmlNode, *, with_tail: bool = True) -> str:
    from lxml import etree

    return str(etree.tostring(node, encoding="unicode", with_tail=with_tail))


def pretty(data: str | bytes, indent: str = "  ") -> str:
    """A document re-indented for people (blank text between elements dropped), no XML declaration."""
    from lxml import etree

    root = parse(data)
    for node in root.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    etree.indent(root, space=indent)
    return str(etree.tostring(root, encoding="unicode"))
