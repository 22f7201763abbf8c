"""`one-ec2 install` / `uninstall` on temporary OpenNebula trees of the 4.2, 5.10, 6.10 and 7.x lines
(configs cut from each release's defaults, tests/data/opennebula-trees/), self-contained and system-wide."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from one_drivers.admin.cli import main
from one_drivers.ec2.config import load_config
from one_drivers.one.template import parse_template

TREES = Path(__file__).resolve().parents[1] / "data" / "opennebula-trees"
PYTHON = os.path.abspath(sys.executable)
BIN = Path(PYTHON).parent
VERSIONS = {"4.2": "4.2.0", "5.10": "5.10.0", "6.10": "6.10.5", "7.0": "7.4.0"}
UPSTREAM_REMOTE = "#!/usr/bin/env ruby\n# upstream's own driver, kept by one-ec2\n"


def make_tree(tmp_path: Path, line: str, *, oned: bool = True) -> Path:
    """A self-contained OpenNebula ($ONE_LOCATION) of that line, with `bin/oned -v` as oned prints it."""
    root = tmp_path / f"one-{line}"
    (root / "etc").mkdir(parents=True)
    for conf in (TREES / line).iterdir():
        shutil.copy(conf, root / "etc" / conf.name)
    remotes = root / "var" / "remotes"
    (remotes / "vmm" / "kvm").mkdir(parents=True)
    (remotes / "vmm" / "kvm" / "deploy").write_text(UPSTREAM_REMOTE)
    (remotes / "VERSION").write_text(VERSIONS[line] + "\n")
    if oned:
        (root / "bin").mkdir()
        oned_bin = root / "bin" / "oned"
        oned_bin.write_text(
            f"#!/bin/sh\necho 'OpenNebula {VERSIONS[line]}'\n"
            "echo 'Copyright 2002-2024, OpenNebula Project, OpenNebula Systems'\n"
        )
        oned_bin.chmod(0o755)
    return root


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": (b"", 0) for p in root.rglob("*") if p.is_dir()}


def one_ec2(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def install_refused(root: Path, *extra: str) -> str:
    """`one-ec2 install` on `root` fails and leaves every file as it was; its output."""
    before = snapshot(root)
    done = CliRunner().invoke(main, ["install", "--one-location", str(root), *extra])
    assert done.exit_code == 1, done.output
    assert snapshot(root) == before
    return done.output


def sections(path: Path, kind: str) -> dict[str, dict[str, str]]:
    return {v["NAME"]: v for v in parse_template(path.read_text()).vectors(kind)}


@pytest.mark.parametrize("line", sorted(VERSIONS))
def test_install_twice_then_uninstall(tmp_path: Path, line: str) -> None:
    root = make_tree(tmp_path, line)
    before = snapshot(root)
    done = one_ec2("install", "--one-location", str(root))
    assert done.exit_code == 0, done.output
    assert f"OpenNebula {VERSIONS[line]} (from {root}/bin/oned -v)" in done.output
    assert "+VM_MAD = [" in done.output  # the diff is shown
    assert f"{root}/bin/one restart" in done.output
    etc = root / "etc"
    vmm = sections(etc / "oned.conf", "VM_MAD")
    conf = f"{etc}/ec2_driver.conf"
    encrypted = parse_template((etc / "oned.conf").read_text()).get_all("HOST_ENCRYPTED_ATTR")
    if line == "4.2":
        assert vmm["vmm_ec2"]["EXECUTABLE"] == str(BIN / "one_vmm_ec2")
        assert f"--config {conf}" in vmm["vmm_ec2"]["ARGUMENTS"]
        im = sections(etc / "oned.conf", "IM_MAD")["im_ec2"]
        assert im["EXECUTABLE"] == str(BIN / "one_im_ec2") and "--legacy-format base64" in im["ARGUMENTS"]
        assert not (root / "var" / "remotes" / "vmm" / "ec2").exists()  # 4.2 runs the programs
        assert encrypted == []
    else:
        assert vmm["ec2"]["EXECUTABLE"] == "one_vmm_sh"
        assert vmm["ec2"]["ARGUMENTS"] == "-t 15 -r 0 -w 600 -p ec2"
        deploy = root / "var" / "remotes" / "vmm" / "ec2" / "deploy"
        assert deploy.read_text().splitlines()[0] == f"#!{PYTHON}" and os.access(deploy, os.X_OK)
        ec2_d = root / "var" / "remotes" / "im" / "ec2.d"
        assert not os.access(ec2_d / "monitord-client.py", os.X_OK)  # one_im_sh runs every executable
        assert (
            f"PYTHON=${{ONE_DRIVERS_PYTHON:-{PYTHON}}}" in (ec2_d / "monitord-client_control.sh").read_text()
        )
        # Each encrypted attribute exactly once: added on 7.x, already in 5.10/6.10's defaults.
        assert sorted(a for a in encrypted if a in ("EC2_ACCESS", "EC2_SECRET")) == [
            "EC2_ACCESS",
            "EC2_SECRET",
        ]
    if line in ("6.10", "7.0"):
        im = sections(etc / "monitord.conf", "IM_MAD")["ec2"]
        assert im["EXECUTABLE"] == str(BIN / "one_im_ec2") and im["ARGUMENTS"] == f"--config {conf}"
        assert "ec2" not in sections(etc / "oned.conf", "IM_MAD")
    elif line == "5.10":
        assert sections(etc / "oned.conf", "IM_MAD")["ec2"]["EXECUTABLE"] == "one_im_sh"
    config = load_config(conf)
    assert config.defaults_file == f"{etc}/ec2_driver.default" and (etc / "ec2_driver.default").exists()
    assert (root / "var" / "remotes" / "vmm" / "kvm" / "deploy").read_text() == UPSTREAM_REMOTE

    installed = snapshot(root)
    again = one_ec2("install", "--one-location", str(root))
    assert again.exit_code == 0 and "Nothing to change" in again.output, again.output
    assert snapshot(root) == installed

    undone = one_ec2("uninstall", "--one-location", str(root))
    assert undone.exit_code == 0, undone.output
    assert snapshot(root) == before


def test_dry_run_only_shows(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "7.0")
    before = snapshot(root)
    done = one_ec2("install", "--one-location", str(root), "--dry-run")
    assert done.exit_code == 0
    assert '+HOST_ENCRYPTED_ATTR = "EC2_ACCESS"' in done.output and "--dry-run" in done.output
    assert "place 33 files under" in done.output
    assert snapshot(root) == before


def test_system_wide_layout_under_a_root(tmp_path: Path) -> None:
    # /etc/one, /var/lib/one/remotes, no oned to ask: the version comes from remotes/VERSION.
    root = tmp_path / "image"
    (root / "etc" / "one").mkdir(parents=True)
    for conf in (TREES / "6.10").iterdir():
        shutil.copy(conf, root / "etc" / "one" / conf.name)
    (root / "var" / "lib" / "one" / "remotes").mkdir(parents=True)
    (root / "var" / "lib" / "one" / "remotes" / "VERSION").write_text("6.10.5\n")
    before = snapshot(root)
    done = one_ec2("install", "--root", str(root))
    assert done.exit_code == 0, done.output
    assert "OpenNebula 6.10.5 (from" in done.output and "systemctl restart opennebula" in done.output
    # Paths inside the files are the real ones, not the image's.
    im = sections(root / "etc" / "one" / "monitord.conf", "IM_MAD")["ec2"]
    assert im["ARGUMENTS"] == "--config /etc/one/ec2_driver.conf"
    assert (
        load_config(root / "etc" / "one" / "ec2_driver.conf").defaults_file == "/etc/one/ec2_driver.default"
    )
    assert (root / "var" / "lib" / "one" / "one-ec2" / "install.json").is_file()
    assert (root / "var" / "lib" / "one" / "remotes" / "vmm" / "ec2" / "cancel").is_file()
    assert one_ec2("uninstall", "--root", str(root)).exit_code == 0
    assert snapshot(root) == before


def test_explicit_version_wins(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.10")
    done = one_ec2("install", "--one-location", str(root), "--version", "6.0.2", "--dry-run")
    assert "OpenNebula 6.0.2 (from --version): the 5.12 - 6.10 line" in done.output


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.10", oned=False)
    (root / "var" / "remotes" / "VERSION").unlink()
    assert "--version X.Y" in install_refused(root)
    assert "not an OpenNebula version" in install_refused(root, "--version", "seven")


def test_not_an_opennebula_tree(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["install", "--one-location", str(tmp_path), "--version", "6.10"])
    assert done.exit_code == 1 and "oned.conf" in done.output and "--one-location" in done.output
    assert list(tmp_path.iterdir()) == []


def test_a_clashing_section_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.10")
    oned_conf = root / "etc" / "oned.conf"
    oned_conf.write_text(oned_conf.read_text() + '\nVM_MAD = [ NAME = "ec2", EXECUTABLE = "one_vmm_sh" ]\n')
    assert "already has a VM_MAD named 'ec2'" in install_refused(root)


def test_upstream_ec2_remotes_come_back_on_uninstall(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "5.10")
    upstream = root / "var" / "remotes" / "vmm" / "ec2"
    upstream.mkdir()
    (upstream / "deploy").write_text(UPSTREAM_REMOTE)
    (upstream / "ec2_driver.rb").write_text("# upstream library\n")
    before = snapshot(root)
    assert one_ec2("install", "--one-location", str(root)).exit_code == 0
    assert (upstream / "deploy").read_text().startswith(f"#!{PYTHON}")
    assert one_ec2("uninstall", "--one-location", str(root)).exit_code == 0
    assert snapshot(root) == before


def test_edited_configuration_survives_uninstall(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "7.0")
    assert one_ec2("install", "--one-location", str(root)).exit_code == 0
    conf = root / "etc" / "ec2_driver.conf"
    conf.write_text(conf.read_text() + "# my region\n")
    done = one_ec2("uninstall", "--one-location", str(root))
    assert f"leave {conf}: changed since" in done.output
    assert conf.read_text().endswith("# my region\n")
    assert not (root / "etc" / "ec2_driver.default").exists()  # unchanged: ours to remove
    assert "one_drivers" not in (root / "etc" / "oned.conf").read_text()


def test_an_existing_configuration_is_not_overwritten(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.10")
    (root / "etc" / "ec2_driver.conf").write_text("regions: {}\n")
    done = one_ec2("install", "--one-location", str(root))
    assert f"create {root}/etc/ec2_driver.conf" not in done.output
    assert (root / "etc" / "ec2_driver.conf").read_text() == "regions: {}\n"
    one_ec2("uninstall", "--one-location", str(root))
    assert (root / "etc" / "ec2_driver.conf").read_text() == "regions: {}\n"


def test_reinstall_from_another_interpreter_rewrites_in_place(tmp_path: Path) -> None:
    from one_drivers.admin.install import Installer
    from one_drivers.admin.tree import OneTree

    root = make_tree(tmp_path, "7.0")
    before = snapshot(root)
    tree = OneTree(one_location=root)
    out: list[str] = []
    Installer(tree, out.append).install()
    other_bin = tmp_path / "venv2" / "bin"
    other_bin.mkdir(parents=True)
    for program in ("python", "one_im_ec2", "one_vmm_ec2"):
        (other_bin / program).write_text("")
    other = str(other_bin / "python")
    Installer(tree, out.append, python=other).install()
    text = (root / "etc" / "oned.conf").read_text()
    assert text.count("# BEGIN one_drivers ec2") == 1 and other in text
    assert (root / "var" / "remotes" / "vmm" / "ec2" / "deploy").read_text().startswith(f"#!{other}\n")
    Installer(tree, out.append).uninstall()
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("version", "vmm_args", "im_args"),
    [
        ("4.4", "-t 15 -r 0 ec2", "-c -t 1 -r 0 ec2"),  # no -p (4.10) nor -w (5.2) yet
        ("4.12.1", "-t 15 -r 0 -p ec2", "-c -t 1 -r 0 ec2"),
        ("5.2.0", "-t 15 -r 0 -w 600 -p ec2", "-c -t 1 -r 0 -w 600 ec2"),
    ],
)
def test_exec_driver_options_the_release_knows(
    tmp_path: Path, version: str, vmm_args: str, im_args: str
) -> None:
    root = make_tree(tmp_path, "5.10")
    done = one_ec2("install", "--one-location", str(root), "--version", version)
    assert done.exit_code == 0, done.output
    assert sections(root / "etc" / "oned.conf", "VM_MAD")["ec2"]["ARGUMENTS"] == vmm_args
    assert sections(root / "etc" / "oned.conf", "IM_MAD")["ec2"]["ARGUMENTS"] == im_args


def test_an_interpreter_oneadmin_cannot_reach_is_flagged(tmp_path: Path) -> None:
    from one_drivers.admin.install import Installer
    from one_drivers.admin.tree import OneTree

    def warnings(python: Path) -> list[str]:
        out: list[str] = []
        tree = OneTree(one_location=make_tree(Path(tempfile.mkdtemp(dir=tmp_path)), "6.10"))
        Installer(tree, out.append, python=str(python)).install(dry_run=True)
        return [line for line in out if line.startswith("Warning:")]

    shared = Path(tempfile.mkdtemp(prefix="one-ec2-test-"))  # /tmp/...: every level open to others
    try:
        for base in (shared, tmp_path):  # pytest's own tmp_path is private (0700), like /root
            venv_bin = base / "home" / "venv" / "bin"
            venv_bin.mkdir(parents=True)
            for program in ("python", "one_im_ec2", "one_vmm_ec2"):
                (venv_bin / program).write_text("")
            for directory in (shared, *venv_bin.relative_to(base).parents):
                (base / directory).chmod(0o755)
        assert warnings(shared / "home" / "venv" / "bin" / "python") == []
        (shared / "home").chmod(0o700)
        (flagged,) = warnings(shared / "home" / "venv" / "bin" / "python")
        assert "oneadmin" in flagged and "/opt/one-ec2" in flagged
    finally:
        (shared / "home").chmod(0o755)
        shutil.rmtree(shared)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="ownership is only changed as root"
)
def test_run_as_root_files_belong_to_oneadmin(tmp_path: Path) -> None:
    oneadmin = 9869  # upstream packages' oneadmin uid/gid
    root = make_tree(tmp_path, "6.10")
    for path in [root, *root.rglob("*")]:
        os.chown(path, oneadmin, oneadmin)
    os.chown(root / "etc" / "oned.conf", 0, oneadmin)  # packages ship oned.conf root:oneadmin
    assert one_ec2("install", "--one-location", str(root)).exit_code == 0
    oned_conf = (root / "etc" / "oned.conf").stat()
    assert (oned_conf.st_uid, oned_conf.st_gid) == (0, oneadmin)  # an edited file keeps its owner
    for new in (root / "etc" / "ec2_driver.conf", root / "var" / "remotes" / "vmm" / "ec2" / "deploy"):
        assert (new.stat().st_uid, new.stat().st_gid) == (oneadmin, oneadmin), new


def test_a_failure_half_way_is_undone_by_uninstall(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "5.10")
    upstream = root / "var" / "remotes" / "vmm" / "ec2"
    upstream.mkdir()
    (upstream / "cancel").write_text(UPSTREAM_REMOTE)
    (upstream / "poll").write_text(UPSTREAM_REMOTE)
    (upstream / ".poll.one-ec2.tmp").mkdir()  # where poll's new text would be written first
    (upstream / ".poll.one-ec2.tmp" / "keep").write_text("x")
    before = snapshot(root)
    done = CliRunner().invoke(main, ["install", "--one-location", str(root)])
    assert done.exit_code == 1 and "poll" in done.output, done.output
    assert (upstream / "cancel").read_text() != UPSTREAM_REMOTE  # it got that far
    assert "one_drivers ec2" not in (root / "etc" / "oned.conf").read_text()  # configs come last
    undone = one_ec2("uninstall", "--one-location", str(root))
    assert undone.exit_code == 0, undone.output
    assert snapshot(root) == before


def test_what_cannot_be_read_stops_before_any_change(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "6.10")
    (root / "var" / "remotes" / "vmm" / "ec2" / "poll").mkdir(parents=True)
    assert "poll" in install_refused(root)


def test_uninstall_dry_run_and_a_damaged_record(tmp_path: Path) -> None:
    root = make_tree(tmp_path, "7.0")
    assert one_ec2("install", "--one-location", str(root)).exit_code == 0
    installed = snapshot(root)
    done = one_ec2("uninstall", "--one-location", str(root), "--dry-run")
    assert "-# BEGIN one_drivers ec2" in done.output and "remove " in done.output
    assert snapshot(root) == installed
    (root / "var" / "one-ec2" / "install.json").write_text("{not json")
    bad = CliRunner().invoke(main, ["uninstall", "--one-location", str(root)])
    assert bad.exit_code == 1 and "install.json is damaged" in bad.output


def test_root_and_one_location_exclude_each_other(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["install", "--one-location", str(tmp_path), "--root", str(tmp_path)])
    assert done.exit_code == 2 and "not with --one-location" in done.output
