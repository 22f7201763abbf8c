"""Tiny driver programs for the dispatch tests, written out as executables with this venv's python.

The VMM fake records every line it receives (and its argv/env) in a JSON-lines log and answers like
one_vmm_dummy; VMs named `fail*` fail to deploy, `hangboot*` get no answer to DEPLOY/RESTORE and
`hang*` none to anything else, `*nomove*` fail MIGRATE and SAVE. The IM fake answers START_MONITOR with a
MONITOR_MESSAGES document and then pushes MONITOR_HOST over UDP to the monitord address it was given.
"""

from __future__ import annotations

import sys
from pathlib import Path

VMM = r"""
import base64, json, os, sys
log = open(LOG, "a")
log.write(json.dumps({"argv": sys.argv, "env": {k: os.environ.get(k) for k in ("ONE_XMLRPC", "ONE_AUTH")}}) + "\n")
log.flush()
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
for raw in sys.stdin:
    line = raw.rstrip("\n")
    log.write(json.dumps({"line": line}) + "\n"); log.flush()
    parts = line.split()
    if not parts:
        continue
    action = parts[0]
    if action == "INIT":
        out("INIT SUCCESS - -")
    elif action == "FINALIZE":
        break
    elif action == "DRIVER_CANCEL":
        out(f"LOG I {parts[1]} Driver command for {parts[1]} cancelled")
    else:
        vm_id = parts[1]
        xml = base64.b64decode(parts[2]).decode() if len(parts) > 2 else ""
        name = xml.split("<NAME>", 2)[1].split("</NAME>")[0] if "<VM>" in xml else ""
        if name.startswith("hang") and (action in ("DEPLOY", "RESTORE")) == name.startswith("hangboot"):
            pass  # no answer: the VM waits in its transient state (hangboot*: the boot; hang*: the rest)
        elif action == "DEPLOY" and name.startswith("fail"):
            out(f"DEPLOY FAILURE {vm_id} boom: could not start {name}")
        elif action == "DEPLOY":
            out(f"DEPLOY SUCCESS {vm_id} fake-{vm_id}")
        elif action in ("MIGRATE", "SAVE") and "nomove" in name:
            out(f"{action} FAILURE {vm_id} cannot move {name}")
        elif action == "RESIZE" and "noresize" in name:
            out(f"RESIZE FAILURE {vm_id} cannot hotplug memory into {name}")
        else:
            out(f"{action} SUCCESS {vm_id} -")
"""

# What both IM fakes start with: the reply writer, monitord's payload packing, the INIT/FINALIZE loop head.
_IM_HEAD = r"""
import base64, json, socket, sys, time, zlib
import xml.etree.ElementTree as ET
def out(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
def pack(text):
    return base64.b64encode(zlib.compress(text.encode())).decode()
for raw in sys.stdin:
    parts = raw.split()
    if not parts:
        continue
    if parts[0] == "INIT":
        out("INIT SUCCESS - -")
        continue
    if parts[0] == "FINALIZE":
        break
"""

IM = (
    _IM_HEAD
    + r"""
    if parts[0] == "START_MONITOR":
        host_id = parts[2]
        doc = ET.fromstring(zlib.decompress(base64.b64decode(parts[4])))
        port = int(doc.findtext("MONITOR_CONFIGURATION/NETWORK/PORT"))
        system = base64.b64encode(b"HYPERVISOR=fake\nPUBLIC_CLOUD=YES\nPRIORITY=-1\nTOTALCPU=400\nTOTALMEMORY=8388608\n").decode()
        messages = f"<MONITOR_MESSAGES><SYSTEM_HOST>{system}</SYSTEM_HOST><TIMESTAMP>{int(time.time())}</TIMESTAMP></MONITOR_MESSAGES>"
        out(f"START_MONITOR SUCCESS {host_id} {int(time.time())} {pack(messages)}")
        mon = "HYPERVISOR=fake\nPUBLIC_CLOUD=YES\nUSEDCPU=100\nFREECPU=300\nUSEDMEMORY=1024\nFREEMEMORY=8387584\n"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(f"MONITOR_HOST SUCCESS {host_id} {int(time.time())} {pack(mon)}\n".encode(), ("127.0.0.1", port))
"""
)


def write_driver(path: Path, body: str, **consts: str) -> Path:
    header = "".join(f"{k} = {v!r}\n" for k, v in consts.items())
    path.write_text(f"#!{sys.executable}\n{header}{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


# An IM program that logs every request line and answers by host name: `down*` START_MONITOR FAILURE,
# `quiet*` an empty SUCCESS (a driver waiting for the host's credentials), others a SYSTEM_HOST document.
IM_SCRIPTED = (
    _IM_HEAD
    + r"""
    doc = ET.fromstring(zlib.decompress(base64.b64decode(parts[4])))
    name = doc.findtext("HOST/NAME") or ""
    with open(LOG, "a") as log:
        log.write(json.dumps({"action": parts[0], "host": int(parts[2]), "name": name}) + "\n")
    if parts[0] == "STOP_MONITOR":
        out(f"STOP_MONITOR SUCCESS {parts[2]} {int(time.time())} {pack('')}")
    elif name.startswith("down"):
        out(f"START_MONITOR FAILURE {parts[2]} {int(time.time())} {pack('cannot reach the endpoint')}")
    elif name.startswith("quiet"):
        out(f"START_MONITOR SUCCESS {parts[2]} {int(time.time())} {pack('')}")
    else:
        system = base64.b64encode(b"HYPERVISOR=fake\nTOTALCPU=400\nTOTALMEMORY=8388608\n").decode()
        messages = f"<MONITOR_MESSAGES><SYSTEM_HOST>{system}</SYSTEM_HOST></MONITOR_MESSAGES>"
        out(f"START_MONITOR SUCCESS {parts[2]} {int(time.time())} {pack(messages)}")
"""
)
