"""`one-ec2 install` / `uninstall`: place remotes/, add the driver sections, write the default configs.

Install computes every change first (and shows the config diffs), then applies them; a record in the
state directory (install.json) lists each file placed with its hash, each file it replaced (kept under
backup/) and each directory it made, so uninstall undoes exactly that and leaves alone what an admin has
edited since. The remotes name the interpreter running this command, as pip does for console scripts:
with the package in a virtualenv (PEP 668 systems) a bare `python3` could not import it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from one_drivers.admin import confblock
from one_drivers.admin.tree import AdminError, LinePlan, OneTree, detect_version, plan_for
from one_drivers.one.template import build_template, parse_template

SHIPPED = Path(__file__).resolve().parent / "shipped"
RECORD = "install.json"
CONTROL_SCRIPT = "im/ec2.d/monitord-client_control.sh"
PYTHON_LINE = "PYTHON=${ONE_DRIVERS_PYTHON:-python3}"
PROGRAMS = ("one_vmm_ec2", "one_im_ec2")
ENCRYPTED = ("EC2_ACCESS", "EC2_SECRET")
EXEC_DRIVERS = ("one_vmm_sh", "one_im_sh")
OPTIONS_WITH_VALUE = frozenset({"-t", "-r", "-w"})

Say = Callable[[str], None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def interpreter() -> str:
    """This command's interpreter, unresolved (a venv's bin/python must stay the venv's)."""
    python = os.path.abspath(sys.executable)
    if any(ch.isspace() for ch in python):
        raise AdminError(f"the interpreter path {python!r} has whitespace; a #! line cannot carry it")
    return python


def program_path(name: str, python: str) -> str:
    """Absolute path of one of our console scripts: next to the interpreter (venv, pipx), else PATH."""
    beside = Path(python).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise AdminError(f"{name} is not installed next to {python} nor on PATH: reinstall one_drivers")
    return os.path.abspath(found)


def shipped_remotes() -> dict[str, bytes]:
    """remotes/ as shipped: relative path -> content."""
    base = SHIPPED / "remotes"
    return {
        path.relative_to(base).as_posix(): path.read_bytes()
        for path in sorted(base.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and "__pycache__" not in path.parts
    }


def render_remote(rel: str, data: bytes, python: str) -> bytes:
    """A shipped remotes file as placed: our interpreter in its #! line or PYTHON= default."""
    text = data.decode("utf-8")
    first, sep, rest = text.partition("\n")
    if first.startswith("#!") and "python" in first:
        text = f"#!{python}{sep}{rest}"
    if rel == CONTROL_SCRIPT:
        if PYTHON_LINE not in text:
            raise AdminError(f"shipped {rel} lacks the line {PYTHON_LINE!r}")
        text = text.replace(PYTHON_LINE, f"PYTHON=${{ONE_DRIVERS_PYTHON:-{shlex.quote(python)}}}")
    return text.encode("utf-8")


def is_executable(data: bytes) -> bool:
    # one_im_sh runs every executable of ec2.d: only the files with a #! line may be executable.
    return data.startswith(b"#!")


def without_options(arguments: str, options: tuple[str, ...]) -> str:
    """ARGUMENTS of one_vmm_sh/one_im_sh without `options` (and the value of those that take one)."""
    words = arguments.split()
    kept = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in options:
            skip = word in OPTIONS_WITH_VALUE
            continue
        kept.append(word)
    return " ".join(kept)


def driver_sections(plan: LinePlan, snippets: tuple[str, ...], tree: OneTree, python: str) -> list[str]:
    """The VM_MAD / IM_MAD sections of the shipped snippets, pointed at this tree and interpreter."""
    conf = str(tree.real_conf_dir())
    sections = []
    for name in snippets:
        template = parse_template((SHIPPED / "etc" / name).read_text(encoding="utf-8"))
        for kind in ("VM_MAD", "IM_MAD"):
            for members in template.vectors(kind):
                members = dict(members)
                if members.get("EXECUTABLE") in PROGRAMS:
                    members["EXECUTABLE"] = program_path(members["EXECUTABLE"], python)
                if "ARGUMENTS" in members:
                    args = members["ARGUMENTS"].replace("/etc/one/", f"{conf}/")
                    if members.get("EXECUTABLE") in EXEC_DRIVERS:
                        args = without_options(args, plan.unknown_exec_options)
                    if plan.legacy_format:
                        args = args.replace("--legacy-format base64", f"--legacy-format {plan.legacy_format}")
                    members["ARGUMENTS"] = args
                sections.append((kind, members))
    return [confblock.format_section(kind, members) for kind, members in sections]


@dataclass
class Change:
    """One file to write (`new`) or remove (`new` None); `old` None when it does not exist yet."""

    path: Path
    old: bytes | None
    new: bytes | None
    mode: int = 0o644

    def diff(self, label: Path) -> str:
        old = (self.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (self.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, f"{label} (now)", f"{label} (after)"))


@dataclass
class Record:
    """What an install did (state_dir/install.json)."""

    version: str = ""
    python: str = ""
    placed: dict[str, str] = field(default_factory=dict)  # path -> sha256 of what we wrote
    backups: dict[str, str] = field(default_factory=dict)  # path -> where the replaced file is kept
    created_dirs: list[str] = field(default_factory=list)
    configs: dict[str, str] = field(default_factory=dict)  # ec2_driver.conf/.default we created
    blocks: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Record:
        if not path.is_file():
            return cls()
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError) as exc:
            raise AdminError(f"{path} is damaged ({exc}): repair or remove it") from exc

    def dump(self) -> bytes:
        return (json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n").encode()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _missing_dirs(path: Path) -> Iterator[Path]:
    """The ancestors of `path` that do not exist yet, outermost first."""
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return reversed(missing)


def _reachable_by_others(path: Path) -> bool:
    """Whether every directory above `path` lets other users (oneadmin) through."""
    for directory in path.absolute().parents:
        try:
            if not directory.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _remove_empty_dirs(directories: list[Path]) -> None:
    """Remove those that are empty, deepest first; one that is not empty holds someone else's files."""
    for directory in sorted(set(directories), key=lambda d: len(d.parts), reverse=True):
        try:
            directory.rmdir()
        except OSError:
            pass


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` at once; run as root, keep its owner (a new file takes its directory's: oneadmin)."""
    owner = path.stat() if path.exists() else path.parent.stat()
    tmp = path.with_name(f".{path.name}.one-ec2.tmp")
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, mode)
        _as_root_chown(tmp, owner)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _as_root_chown(path: Path, owner: os.stat_result) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.chown(path, owner.st_uid, owner.st_gid)


class Installer:
    """Plans and applies `install` / `uninstall` on one OpenNebula tree; `say` prints to the person."""

    def __init__(self, tree: OneTree, say: Say, python: str | None = None) -> None:
        self.tree = tree
        self.say = say
        self.python = python or interpreter()
        self.record_path = tree.state_dir / RECORD

    # --- install ---------------------------------------------------------------------------------

    def install(self, version: str | None = None, dry_run: bool = False) -> bool:
        """Install; True when something changed (or would change, with dry_run)."""
        version, source = detect_version(self.tree, version)
        plan = plan_for(version)
        self.say(f"OpenNebula {version} (from {source}): the {plan.line} line")
        if not _reachable_by_others(Path(self.python)):
            self.say(
                f"Warning: {self.python} is inside a directory other users cannot enter; oned runs the "
                "drivers as oneadmin. Install one_drivers in a virtualenv such as /opt/one-ec2 instead."
            )
        record = Record.load(self.record_path)
        changes = self._config_changes(plan, version)
        remotes = self._remote_changes() if plan.remotes else []
        defaults = self._default_changes()
        self._show(changes, remotes, defaults)
        everything = changes + remotes + defaults
        if dry_run or not everything:
            if not everything:
                self.say("Nothing to change: already installed.")
            else:
                self.say("--dry-run: nothing was changed.")
            return bool(everything)
        self._apply_install(record, version, changes, remotes, defaults)
        self.say("Done. Restart OpenNebula to load the drivers: " + self.tree.restart_hint())
        for note in plan.notes:
            self.say(f"Note: {note}")
        return True

    def _conf_file(self, name: str) -> tuple[Path, str]:
        path = self.tree.conf_dir / name
        data = _read(path)
        if data is None:
            raise AdminError(
                f"no {path}: is this the OpenNebula tree? (--one-location DIR for a self-contained one)"
            )
        return path, data.decode("utf-8")

    def _config_changes(self, plan: LinePlan, version: str) -> list[Change]:
        changes = []
        header = f"# ec2 drivers for OpenNebula {version} ({plan.line}), run by {self.python}\n"
        oned_path, oned_text = self._conf_file("oned.conf")
        oned_sections = driver_sections(plan, plan.oned_snippets, self.tree, self.python)
        body = header + "\n".join(oned_sections)
        if plan.encrypted_attrs:
            have = confblock.values_outside_block(oned_text, "HOST_ENCRYPTED_ATTR")
            wanted = [attr for attr in ENCRYPTED if attr not in have]
            if wanted:
                body += "\n" + build_template(("HOST_ENCRYPTED_ATTR", attr) for attr in wanted)
        confblock.refuse_clashes(oned_text, str(oned_path), self._names(oned_sections))
        changes.append(self._block_change(oned_path, oned_text, body))
        if plan.monitord_snippets:
            path, text = self._conf_file("monitord.conf")
            sections = driver_sections(plan, plan.monitord_snippets, self.tree, self.python)
            confblock.refuse_clashes(text, str(path), self._names(sections))
            changes.append(self._block_change(path, text, header + "\n".join(sections)))
        return [change for change in changes if change.old != change.new]

    @staticmethod
    def _names(sections: list[str]) -> list[tuple[str, str]]:
        names = []
        for section in sections:
            for kind, value in parse_template(section):
                if isinstance(value, dict):
                    names.append((kind, value.get("NAME", "")))
        return names

    @staticmethod
    def _block_change(path: Path, text: str, body: str) -> Change:
        new = confblock.with_block(text, body)
        mode = path.stat().st_mode & 0o7777
        return Change(path, text.encode("utf-8"), new.encode("utf-8"), mode)

    def _remote_changes(self) -> list[Change]:
        changes = []
        for rel, data in shipped_remotes().items():
            path = self.tree.remotes_dir / rel
            new = render_remote(rel, data, self.python)
            old = _read(path)
            mode = 0o755 if is_executable(data) else 0o644
            if old == new and (path.stat().st_mode & 0o777) == mode:
                continue
            changes.append(Change(path, old, new, mode))
        return changes

    def _default_changes(self) -> list[Change]:
        changes = []
        for name in ("ec2_driver.conf", "ec2_driver.default"):
            path = self.tree.conf_dir / name
            if path.exists():
                continue
            text = (SHIPPED / "etc" / name).read_text(encoding="utf-8")
            text = text.replace("/etc/one/", f"{self.tree.real_conf_dir()}/")
            changes.append(Change(path, None, text.encode("utf-8"), 0o640))
        return changes

    def _show(self, changes: list[Change], remotes: list[Change], defaults: list[Change]) -> None:
        for change in changes:
            self.say(change.diff(change.path))
        if remotes:
            replaced = sum(1 for c in remotes if c.old is not None)
            self.say(
                f"place {len(remotes)} files under {self.tree.remotes_dir} (vmm/ec2, im/ec2.d), "
                f"run by {self.python}"
                + (f"; {replaced} existing files are kept for uninstall" if replaced else "")
            )
        for change in defaults:
            self.say(f"create {change.path} from the shipped default")

    def _apply_install(
        self,
        record: Record,
        version: str,
        changes: list[Change],
        remotes: list[Change],
        defaults: list[Change],
    ) -> None:
        self.tree.state_dir.mkdir(parents=True, exist_ok=True)
        record.version, record.python = version, self.python
        for change in remotes + defaults:
            for directory in _missing_dirs(change.path):
                directory.mkdir()
                _as_root_chown(directory, directory.parent.stat())
                record.created_dirs.append(str(directory))
            key = str(change.path)
            if (
                change.old is not None
                and record.placed.get(key) != _sha(change.old)
                and key not in record.backups
            ):
                backup = self.tree.state_dir / "backup" / change.path.relative_to(self.tree.remotes_dir)
                backup.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(change.path, backup)
                record.backups[key] = str(backup)
            # The record is kept current file by file: a failure half-way leaves one uninstall can undo.
            _write(self.record_path, record.dump(), 0o644)
            assert change.new is not None
            _write(change.path, change.new, change.mode)
            (record.configs if change in defaults else record.placed)[key] = _sha(change.new)
        _write(self.record_path, record.dump(), 0o644)
        for change in changes:
            assert change.new is not None
            _write(change.path, change.new, change.mode)
            if str(change.path) not in record.blocks:
                record.blocks.append(str(change.path))
            _write(self.record_path, record.dump(), 0o644)

    # --- uninstall -------------------------------------------------------------------------------

    def uninstall(self, dry_run: bool = False) -> bool:
        """Undo what install did; True when something changed (or would change, with dry_run)."""
        record = Record.load(self.record_path)
        if not self.record_path.is_file():
            self.say(f"no {self.record_path}: removing only the marked blocks")
        blocks = []
        for name in ("oned.conf", "monitord.conf"):
            path = self.tree.conf_dir / name
            data = _read(path)
            if data is None:
                continue
            text = data.decode("utf-8")
            new = confblock.without_block(text)
            if new != text:
                blocks.append(Change(path, data, new.encode("utf-8"), path.stat().st_mode & 0o7777))
        removals: list[Path] = []
        restores: list[tuple[Path, Path]] = []
        for key, digest in {**record.placed, **record.configs}.items():
            path = Path(key)
            current = _read(path)
            if current is None:
                continue
            if _sha(current) != digest:
                self.say(f"leave {path}: changed since `one-ec2 install`")
                continue
            saved = record.backups.get(key)
            if saved and Path(saved).is_file():
                restores.append((Path(saved), path))
            else:
                removals.append(path)
        for change in blocks:
            self.say(change.diff(change.path))
        for path in removals:
            self.say(f"remove {path}")
        for _, path in restores:
            self.say(f"restore {path} (as it was before `one-ec2 install`)")
        if not (blocks or removals or restores or self.record_path.exists()):
            self.say("Nothing to undo: not installed.")
            return False
        if dry_run:
            self.say("--dry-run: nothing was changed.")
            return True
        for change in blocks:
            assert change.new is not None
            _write(change.path, change.new, change.mode)
        for path in removals:
            path.unlink()
        for original, path in restores:
            os.replace(original, path)
        for key, saved in record.backups.items():
            if key not in record.placed:  # install stopped before replacing it: the original is in place
                Path(saved).unlink(missing_ok=True)
        self.record_path.unlink(missing_ok=True)
        backup_dir = self.tree.state_dir / "backup"
        kept = [p for p in backup_dir.rglob("*") if p.is_dir()] + [backup_dir, self.tree.state_dir]
        _remove_empty_dirs([Path(d) for d in record.created_dirs] + kept)
        self.say("Done. Restart OpenNebula: " + self.tree.restart_hint())
        return True
