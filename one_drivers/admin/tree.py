"""Where an OpenNebula keeps its files, which release it is, and what the ec2 drivers need on that line.

Two layouts, as OpenNebula's install.sh makes them: system-wide (/etc/one, /var/lib/one/remotes,
/usr/bin/oned) and self-contained under $ONE_LOCATION (etc/, var/remotes/, bin/oned). `root` prefixes the
system-wide paths for an image or chroot being prepared; the paths written into files stay the real ones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from one_drivers.one import versions

_VERSION_RE = re.compile(r"OpenNebula\s+(\d+(?:\.\d+)+)")


class AdminError(Exception):
    """Something `one-ec2` cannot do; the message says what to change. Nothing was modified."""


def version_key(version: str) -> tuple[int, ...]:
    """'6.10.5' -> (6, 10, 5); refuses text without a version number."""
    key = versions.version_key(version)
    if not key:
        raise AdminError(f"not an OpenNebula version: {version!r} (expected e.g. 6.10 or 7.0.1)")
    return key


@dataclass(frozen=True)
class OneTree:
    """The paths of one OpenNebula installation: `real` as oned sees them, `disk` where we write them."""

    one_location: Path | None = None
    root: Path = Path("/")

    def _real(self, system: str, self_contained: str) -> Path:
        if self.one_location is not None:
            return self.one_location / self_contained
        return Path(system)

    def real_conf_dir(self) -> Path:
        return self._real("/etc/one", "etc")

    def real_remotes_dir(self) -> Path:
        return self._real("/var/lib/one/remotes", "var/remotes")

    def real_state_dir(self) -> Path:
        """Where `one-ec2` keeps its record of an installation and the files it replaced."""
        return self._real("/var/lib/one/one-ec2", "var/one-ec2")

    def disk(self, real: Path) -> Path:
        if self.one_location is not None:
            return real
        return self.root / real.relative_to("/")

    @property
    def conf_dir(self) -> Path:
        return self.disk(self.real_conf_dir())

    @property
    def remotes_dir(self) -> Path:
        return self.disk(self.real_remotes_dir())

    @property
    def state_dir(self) -> Path:
        return self.disk(self.real_state_dir())

    def oned_binary(self) -> str | None:
        if self.one_location is not None:
            candidate = self.one_location / "bin" / "oned"
            return str(candidate) if candidate.exists() else None
        if self.root != Path("/"):
            candidate = self.disk(Path("/usr/bin/oned"))
            return str(candidate) if candidate.exists() else None
        return shutil.which("oned")

    def restart_hint(self) -> str:
        if self.one_location is not None:
            return f"{self.one_location / 'bin' / 'one'} restart   (as oneadmin)"
        return "systemctl restart opennebula   (oned restarts monitord with it on 5.12+)"


def detect_version(tree: OneTree, explicit: str | None = None) -> tuple[str, str]:
    """(version, where it came from): --version, else `oned -v`, else remotes/VERSION."""
    if explicit:
        version_key(explicit)
        return explicit, "--version"
    oned = tree.oned_binary()
    if oned is not None:
        try:
            done = subprocess.run([oned, "-v"], capture_output=True, text=True, timeout=30, check=False)
        except OSError as exc:
            raise AdminError(f"cannot run {oned} -v: {exc}") from exc
        found = _VERSION_RE.search(done.stdout + done.stderr)
        if found:
            return found.group(1), f"{oned} -v"
    version_file = tree.remotes_dir / "VERSION"
    if version_file.is_file():
        text = version_file.read_text(encoding="utf-8").strip()
        if text:
            version_key(text)
            return text, str(version_file)
    raise AdminError(
        "cannot tell which OpenNebula this is: no oned to ask and no "
        f"{version_file}; say it with --version X.Y"
    )


@dataclass(frozen=True)
class LinePlan:
    """What one OpenNebula release line needs from us (snippet names under shipped/etc/)."""

    line: str
    oned_snippets: tuple[str, ...]  # VM_MAD / IM_MAD vectors taken from these, into oned.conf
    monitord_snippets: tuple[str, ...]  # IM_MAD vectors into monitord.conf (5.12+)
    remotes: bool  # remotes/vmm/ec2 and remotes/im/ec2.d are run by one_vmm_sh / one_im_sh
    encrypted_attrs: bool  # HOST_ENCRYPTED_ATTR exists (5.10+)
    legacy_format: str | None = None  # one_im_ec2 --legacy-format for the <= 4.2 MONITOR reply
    notes: tuple[str, ...] = ()
    # one_vmm_sh / one_im_sh options this release does not know yet (its GetoptLong would stop the driver)
    unknown_exec_options: tuple[str, ...] = ()


def exec_options_missing(key: tuple[int, ...]) -> tuple[str, ...]:
    """-w (--timeout) came with 5.2, -p (--parallel) with 4.10 (one_vmm_exec.rb / one_im_exec.rb)."""
    missing = []
    if key < (5, 2):
        missing.append("-w")
    if key < (4, 10):
        missing.append("-p")
    return tuple(missing)


def plan_for(version: str) -> LinePlan:
    key = version_key(version)
    if key < (4, 4):
        return LinePlan(
            "3.x - 4.2",
            ("oned/vmm-4.2.conf", "oned/im-ec2-3.x-4.2.conf"),
            (),
            remotes=False,
            encrypted_attrs=False,
            legacy_format="comma" if key < (4,) else "base64",
            notes=("create hosts with: onehost create <name> im_ec2 vmm_ec2 dummy",),
        )
    if key < (5, 12):
        return LinePlan(
            "4.4 - 5.10",
            ("oned/vmm-4.4-6.10.conf", "oned/im-ec2-4.4-5.10.conf"),
            (),
            remotes=True,
            encrypted_attrs=key >= (5, 10),
            unknown_exec_options=exec_options_missing(key),
        )
    if key < (6, 99):
        return LinePlan(
            "5.12 - 6.10",
            ("oned/vmm-4.4-6.10.conf",),
            ("monitord/im-ec2.conf",),
            remotes=True,
            encrypted_attrs=True,
        )
    return LinePlan(
        "7.x",
        ("oned/vmm-7.x.conf",),
        ("monitord/im-ec2.conf",),
        remotes=True,
        encrypted_attrs=True,
        notes=(
            "7.x runs transfer-manager work for every host: give the ec2 host its own cluster with a "
            "TM_MAD=dummy system datastore (etc/oned/vmm-7.x.conf, docs/install.md)",
        ),
    )
