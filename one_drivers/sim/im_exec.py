"""A stand-in for oned's generic IM driver (`one_im_sh` = one_im_exec.rb) as 6.10 runs a local action.

    python -m one_drivers.sim.im_exec <remotes dir>

START_MONITOR: the host's MONITOR_CONFIGURATION gets a HOST_ID element and goes, base64-encoded, to the
stdin of every executable of `<remotes>/im/<IM_MAD>.d/` with arguments `<IM_MAD> <host_id> <host>`
(what `run_monitord_client` does); a non-zero exit answers FAILURE with that program's output, else
SUCCESS with the output (empty output: an empty SUCCESS). STOP_MONITOR runs each `*_control.sh` with
`stop` first. Each action runs in its own thread, as the threaded Ruby driver does.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from pathlib import Path

from one_drivers import xmlsafe
from one_drivers.mad.monitord import MonitordError, decode_frame, format_reply

ACTION_TIMEOUT = 120.0
_write_lock = threading.Lock()  # actions answer from their own threads, one whole line each


def write(line: str) -> None:
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def handle(remotes: Path, line: str) -> None:
    action = line.split(" ", 1)[0]
    try:
        frame = decode_frame(line)
        root = xmlsafe.parse(frame.text)
    except (MonitordError, xmlsafe.XmlError) as exc:
        write(format_reply(action, False, -1, f"cannot parse {action}: {exc}"))
        return
    host_id = int(root.findtext("HOST/ID") or frame.host_id)
    im_mad = root.findtext("HOST/IM_MAD") or ""
    config = root.find("MONITOR_CONFIGURATION")
    if config is None:
        config = xmlsafe.element("MONITOR_CONFIGURATION")
    xmlsafe.subelement(config, "HOST_ID", str(host_id))
    stdin = base64.b64encode(xmlsafe.to_bytes(config, with_tail=False)).decode("ascii")
    args = [im_mad, str(host_id), root.findtext("HOST/NAME") or ""]
    ok, info = run_dir(remotes / "im" / f"{im_mad}.d", args, stdin, stop=action == "STOP_MONITOR")
    write(format_reply(action, ok, host_id, info))


def run_dir(directory: Path, args: list[str], stdin: str, *, stop: bool) -> tuple[bool, str]:
    if not directory.is_dir():
        return True, ""
    outputs: list[str] = []
    for program in sorted(directory.iterdir()):
        wanted = not stop or program.name.endswith("_control.sh")
        if not wanted or not program.is_file() or not program.stat().st_mode & 0o111:
            continue
        argv = [str(program), "stop", *args] if stop else [str(program), *args]
        try:
            done = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, cwd=directory, timeout=ACTION_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            return False, f"Error executing {program.name}: timeout"
        if done.returncode != 0:
            return False, f"Error executing {program.name}: {(done.stdout + done.stderr).strip()}"
        outputs.append(done.stdout.strip())
    return True, "\n".join(o for o in outputs if o)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # oned hands ARGUMENTS over as one argv element
    remotes = Path(" ".join(args).split()[0] if args else ".")
    for raw in sys.stdin:
        line = raw.strip()
        if line == "INIT":
            write("INIT SUCCESS")
        elif line == "FINALIZE":
            write("FINALIZE SUCCESS")
            return 0
        elif line.startswith(("START_MONITOR ", "STOP_MONITOR ")):
            threading.Thread(target=handle, args=(remotes, line), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
