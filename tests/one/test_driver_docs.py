"""What oned hands its drivers, read in one/: the VM document's typed view, ec2_driver.default, and
monitord's MONITOR_DRIVER_ACTION / MONITOR_CONFIGURATION documents (wire-level tests stay in tests/mad)."""

from __future__ import annotations

import base64
import re
from typing import Any
from xml.etree import ElementTree

import pytest

from one_drivers import xmlsafe
from one_drivers.one import driver_docs as docs


@pytest.mark.parametrize("parse", [docs.parse_xml, ElementTree.fromstring], ids=["lxml", "ElementTree"])
def test_first_children_takes_the_first_of_each_name_like_find(parse: Any) -> None:
    root = parse("<R><A> one </A><!-- c --><A>two</A><B/><C><X>1</X></C><C><X>2</X></C><D>skip</D></R>")
    values, found = docs.first_children(root, frozenset({"A", "B"}), ("C",))
    assert values == {"A": "one", "B": ""}
    assert found["C"].findtext("X") == "1" and set(found) == {"C"}
    assert [child.tag for child in docs.children_named(root, ("C", "A"))] == ["A", "A", "C", "C"]
    for name in ("A", "B"):
        node = root.find(name)
        assert node is not None and (node.text or "").strip() == values[name]


VM = (
    "<VM><ID> 7 </ID><STATE>3</STATE><LCM_STATE>3</LCM_STATE><STIME>100</STIME><ID>8</ID>"
    "<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HOSTNAME>h1</HOSTNAME></HISTORY>"
    "<HISTORY><SEQ>2</SEQ><HOSTNAME>h2</HOSTNAME></HISTORY><HISTORY><SEQ>x</SEQ></HISTORY></HISTORY_RECORDS>"
    "<TEMPLATE><CONTEXT><ssh_public_key>k </ssh_public_key><EMPTY/></CONTEXT><EC2><AMI>ami-old</AMI></EC2>"
    "</TEMPLATE><USER_TEMPLATE><PUBLIC_CLOUD><TYPE>ec2</TYPE><ami> ami-1 </ami><BLANK> </BLANK></PUBLIC_CLOUD>"
    "<PUBLIC_CLOUD><TYPE>azure</TYPE></PUBLIC_CLOUD></USER_TEMPLATE></VM>"
)


@pytest.mark.parametrize("parse", [docs.parse_xml, ElementTree.fromstring], ids=["lxml", "ElementTree"])
def test_vm_document_view(parse: Any) -> None:
    vm = docs.VmDocument(parse(VM))
    assert vm.tag == "VM"
    # the first of each top-level field, stripped; the highest numeric SEQ; the first HOSTNAME
    assert vm.header() == docs.VmHeader("7", "3", "3", "", "100", 2, "h1")
    assert (vm.text("ID"), vm.text("DEPLOY_ID", "none"), vm.text("USER_TEMPLATE/PUBLIC_CLOUD/TYPE")) == (
        "7",
        "none",
        "ec2",
    )
    # vectors: names upper-cased, blank values dropped, text as given (stripping is the reader's choice)
    assert vm.user_vectors("PUBLIC_CLOUD") == [{"TYPE": "ec2", "AMI": " ami-1 "}, {"TYPE": "azure"}]
    assert vm.user_vectors("EC2") == [] and vm.template_vectors("EC2") == [{"AMI": "ami-old"}]
    # CONTEXT keeps every value as given, empty ones included
    assert vm.context() == {"SSH_PUBLIC_KEY": "k ", "EMPTY": ""}


def test_a_bare_document_and_an_empty_vm() -> None:
    old = docs.parse_action_data("<TEMPLATE><CONTEXT><A>1</A></CONTEXT><EC2><AMI>a</AMI></EC2></TEMPLATE>").vm
    assert old.tag == "TEMPLATE" and old.context() == {"A": "1"}
    assert old.user_vectors("EC2") == [{"AMI": "a"}]  # everything is top-level before 4.0.1
    empty = docs.parse_action_data("<VM/>").vm
    assert empty.header() == docs.VmHeader("", "", "", "", "", 0, "")
    assert empty.context() == {} and empty.user_vectors("PUBLIC_CLOUD") == []


def test_default_section() -> None:
    assert docs.default_section(
        "<TEMPLATE><EC2><A>1</A></EC2><PUBLIC_CLOUD><B>2</B></PUBLIC_CLOUD></TEMPLATE>"
    ) == {"B": "2"}
    assert docs.default_section("<ec2><keypair> k </keypair></ec2>") == {"KEYPAIR": " k "}
    assert docs.default_section("<TEMPLATE/>") == {}
    with pytest.raises(docs.CodecError, match="well-formed"):
        docs.default_section("<TEMPLATE>")


CONFIG = (
    "<MONITOR_CONFIGURATION><NETWORK><MONITOR_ADDRESS>10.0.0.1</MONITOR_ADDRESS><PORT>4999</PORT>"
    "<PUBKEY> k </PUBKEY></NETWORK><PROBES_PERIOD><STATE_VM>0</STATE_VM></PROBES_PERIOD></MONITOR_CONFIGURATION>"
)


@pytest.mark.parametrize(
    "text",
    [
        CONFIG,
        base64.b64encode(CONFIG.encode()).decode(),
        f"<MONITOR_DRIVER_ACTION>{CONFIG}</MONITOR_DRIVER_ACTION>",
    ],
    ids=["xml", "base64", "inside"],
)
def test_monitor_configuration_forms(text: str) -> None:
    config = docs.read_monitor_configuration(text)
    assert (config.address, config.port, config.pubkey) == ("10.0.0.1", 4999, "k")
    assert config.period("STATE_VM") == 1 and config.period("SYSTEM_HOST") == 600


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("!!not base64", ValueError, "stdin is neither XML nor base64"),
        ("<HOST/>", ValueError, "expected MONITOR_CONFIGURATION, got <HOST>"),
        ("<MONITOR_CONFIGURATION>", xmlsafe.XmlError, "Premature end of data"),
        (
            "<MONITOR_CONFIGURATION><NETWORK><PORT>x</PORT></NETWORK></MONITOR_CONFIGURATION>",
            docs.MonitordError,
            "NETWORK/PORT is not a number: 'x'",
        ),
        (
            "<MONITOR_CONFIGURATION><PROBES_PERIOD><STATE_VM>y</STATE_VM></PROBES_PERIOD></MONITOR_CONFIGURATION>",
            docs.MonitordError,
            "PROBES_PERIOD/STATE_VM is not a number: 'y'",
        ),
    ],
)
def test_monitor_configuration_errors(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        docs.read_monitor_configuration(text)


def test_monitor_action() -> None:
    action = docs.read_monitor_action(
        "START_MONITOR",
        b"<MONITOR_DRIVER_ACTION><HOST><ID>3</ID><NAME> h </NAME></HOST></MONITOR_DRIVER_ACTION>",
    )
    assert (action.host_name, action.host_xml) == ("h", "<HOST><ID>3</ID><NAME> h </NAME></HOST>")
    assert action.config == docs.MonitorConfig()
    assert docs.read_monitor_action("STOP_MONITOR", b" \n") == docs.MonitorAction()
    with pytest.raises(docs.MonitordError, match="STOP_MONITOR payload is not XML"):
        docs.read_monitor_action("STOP_MONITOR", b"<nope")
