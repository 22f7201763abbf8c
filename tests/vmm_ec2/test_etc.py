"""The shipped oned.conf snippets parse as oned templates and start the driver the way each line needs;
the native ARGUMENTS are accepted by one_vmm_ec2's own parser."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from one_drivers.one.template import parse_template
from one_drivers.vmm_ec2.main import parse_args

ETC = Path(__file__).resolve().parents[2] / "etc" / "oned"
EXPECTED = {
    "vmm-4.2.conf": ("one_vmm_ec2", False),
    "vmm-4.4-6.10.conf": ("one_vmm_sh", True),
    "vmm-7.x.conf": ("one_vmm_sh", True),
    "vmm-native.conf": ("one_vmm_ec2", False),
}


def test_every_snippet_is_checked() -> None:
    assert {p.name for p in ETC.glob("vmm-*.conf")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_snippet(name: str) -> None:
    template = parse_template((ETC / name).read_text())
    (mad,) = template.vectors("VM_MAD")
    mad = {k.upper(): v for k, v in mad.items()}
    executable, encrypted = EXPECTED[name]
    assert mad["EXECUTABLE"] == executable
    assert mad["TYPE"] == "xml"
    if executable == "one_vmm_sh":
        assert shlex.split(mad["ARGUMENTS"]) == ["-t", "15", "-r", "0", "-w", "600", "-p", "ec2"]
    else:
        args = parse_args(shlex.split(mad["ARGUMENTS"]))
        assert args.threads == 15 and args.config == "/etc/one/ec2_driver.conf" and not args.unknown
    assert (template.get_all("HOST_ENCRYPTED_ATTR") == ["EC2_ACCESS", "EC2_SECRET"]) is encrypted
    if name == "vmm-7.x.conf":
        assert 'TM_MAD  = "dummy"' in (ETC / name).read_text()
