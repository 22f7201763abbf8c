"""The import boundaries of design/ARCHITECTURE.md, checked on the source: imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "one_drivers"

# package -> what it may import of ours (besides itself)
ALLOWED: dict[str, set[str]] = {
    "one": set(),
    "query": set(),
    "mad": {"one", "metrics"},
    "ec2": {"one", "query"},  # query.states only: EC2's instance states, one enum both ways
    "vmm_ec2": {"mad", "ec2", "one", "metrics"},
    "im_ec2": {"mad", "ec2", "one", "metrics"},
    "econe": {"query", "one", "web", "metrics"},
    "web": set(),
    "metrics": set(),
    "occi": {"one", "web"},
    "occi_tools": set(),
    "econe_tools": {"query"},
    "sim": {"one", "mad"},
    "admin": {"one", "ec2"},
}
# third-party modules kept to one layer
BOTO3_USERS = {"ec2", "econe_tools"}
XMLRPC_USERS = {"one/gateway.py", "sim"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _sources() -> list[tuple[str, Path]]:
    # admin/shipped/ holds the remotes/ files as data (run by oned, not imported by the package)
    return [
        (p.relative_to(PACKAGE).parts[0], p)
        for p in sorted(PACKAGE.glob("*/**/*.py"))
        if "shipped" not in p.relative_to(PACKAGE).parts
    ]


def test_every_package_is_listed() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


def _violations(package: str, path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    found = []
    for module in sorted(_imports(path)):
        parts = module.split(".")
        crosses = parts[0] == "one_drivers" and len(parts) > 1 and parts[1] != package
        if crosses and parts[1] not in ALLOWED[package] and parts[1] != "xmlsafe":
            found.append(f"{rel} imports {module}")
        if parts[0] in ("boto3", "moto") and package not in BOTO3_USERS:
            found.append(f"{rel} imports {module}: boto3 clients are made in ec2/ only")
        if module.startswith("xmlrpc") and not (rel in XMLRPC_USERS or package in XMLRPC_USERS):
            found.append(f"{rel} imports {module}")
        if parts[0] == "one_drivers" and len(parts) > 1 and parts[1] == "sim" and package != "sim":
            found.append(f"{rel}: product code never imports the simulator")
    return found


def test_imports_point_one_way() -> None:
    # Every module of the package in one walk; the failure lists each import that crosses a boundary.
    assert [v for package, path in _sources() for v in _violations(package, path)] == []


# --- XML: one parser factory (one_drivers/xmlsafe.py); OpenNebula documents are read in one/ only ------
XML_PARSERS = ("lxml", "xml.etree", "xml.dom", "xml.sax", "xml.parsers", "pyexpat", "defusedxml")
NOT_A_PARSER = {"xml.sax.saxutils"}  # escape()/quoteattr() for the XML we write; parses nothing
# Modules outside one/ that parse XML at all (through the factory), each with what it reads. None of
# them reads an OpenNebula document: oned's XML-RPC answers come back from one/gateway.py as records, and
# what oned hands its drivers (action data, VM documents, monitord's documents) from one/driver_docs.py.
XML_READERS: dict[str, str] = {
    "im_ec2/instances.py": "EC2 DescribeInstances answers, read fast for monitoring",
    "occi/documents.py": "OCCI request bodies",
    "occi_tools/commands.py": "OCCI documents (files given to the client, server answers to show)",
    "econe_tools/upload.py": "the EC2 answer to an image upload",
    "sim/im_exec.py": "the simulator's monitord frames to the IM driver",
}


def _xml_violations(source: str, rel: str) -> list[str]:
    """What `source` (the module at `rel`, under one_drivers/) does with XML that it may not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for module in modules:
            parser = module not in NOT_A_PARSER and any(
                module == p or module.startswith(p + ".") for p in XML_PARSERS
            )
            if parser and not module.startswith("xml.sax.saxutils"):
                found.append(f"{rel} imports {module}: parse through one_drivers.xmlsafe")
            if module == "one_drivers.xmlsafe" and rel not in XML_READERS:
                found.append(f"{rel} parses XML: OpenNebula documents are read in one/ (else list it)")
    if "xmlsafe.ONED" in source:
        found.append(f"{rel} uses the profile for oned's answers: only one/ reads those")
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "document"
        ):
            found.append(f"{rel}:{node.lineno} asks the gateway for a document's text: use the typed methods")
    return found


def _outside_one() -> list[tuple[str, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        for package, path in _sources()
        if package != "one"
    ]


def test_no_module_outside_one_parses_xml_but_through_the_factory() -> None:
    assert [v for rel, source in _outside_one() for v in _xml_violations(source, rel)] == []
    # the allow-list names only modules that exist and do read XML
    readers = {rel for rel, source in _outside_one() if "one_drivers import xmlsafe" in source}
    assert readers == set(XML_READERS)


@pytest.mark.parametrize(
    "line",
    [
        "from lxml import etree",
        "import xml.etree.ElementTree as ET",
        "from xml.dom import minidom",
        "import xml.sax",
        "from xml.parsers import expat",
        "import defusedxml.ElementTree",
    ],
)
def test_a_parser_import_outside_one_is_caught(line: str) -> None:
    # the check itself, on a module that is not in the allow-list
    assert _xml_violations(line + "\n", "econe/actions/images.py") != []
    assert _xml_violations("from xml.sax.saxutils import escape\n", "econe/app.py") == []


PARSER_CALLS = ("fromstring(", "XMLParser(", "parseString(", "iterparse(", "XMLPullParser(", "ParserCreate(")


def test_every_parser_is_made_by_the_factory() -> None:
    # one/ may use lxml's element API (records walk the trees), but parses only through xmlsafe too
    makers = [
        f"{path.relative_to(PACKAGE).as_posix()}: {call}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "xmlsafe.py" and "shipped" not in path.parts
        for call in PARSER_CALLS
        if call in path.read_text(encoding="utf-8")
    ]
    assert makers == []


def test_a_raw_document_outside_one_is_caught() -> None:
    assert _xml_violations("text = ctx.one.document('one.vm.info', 1, False)\n", "occi/resources.py") != []
