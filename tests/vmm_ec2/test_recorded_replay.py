"""Every request of the recorded 6.10.5 VMM session, byte for byte, through one_vmm_ec2 (against moto):
exactly one answer per request, the right verdict for each, and the driver survives all of them.
The recorded VMs were dummy ones (no PUBLIC_CLOUD section, ids like `dummyhost:vm1:dummy`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from one_drivers.mad.codec import decode_action_data, parse_reply, parse_request
from one_drivers.one.states import POWEROFF_LCM_STATES, LcmState
from tests.mad.recorded import vmm_events

DRIVER = Path(sys.executable).with_name("one_vmm_ec2")


def expected_success(action: str, lcm: LcmState) -> bool:
    if action == "CLEANUP":
        return True  # a missing instance is success
    if action in ("SHUTDOWN", "CANCEL"):
        return lcm not in POWEROFF_LCM_STATES  # terminate of a missing instance: done; stop: cannot
    return False  # no PUBLIC_CLOUD section, malformed ids, unsupported actions


def test_recorded_session(real_dir: Path, moto_endpoint: str, tmp_path: Path) -> None:
    lines = [e.line for e in vmm_events(real_dir) if e.direction == "in"]
    session = lines[lines.index("INIT", 1) :]  # the second driver run (the first one is INIT/FINALIZE only)
    conf = tmp_path / "ec2_driver.conf"
    conf.write_text(
        "state_wait_timeout_seconds: 5\nmax_attempts: 1\n"
        f"regions:\n  default:\n    region_name: us-east-1\n    endpoint_url: {moto_endpoint}\n"
    )
    done = subprocess.run(
        [str(DRIVER), f"-t 4 --config {conf} --log-file {tmp_path}/v.log --no-socket --poll-interval 0.05"],
        input="".join(line + "\n" for line in session),
        capture_output=True,
        text=True,
        env={**os.environ, "ONE_AUTH": str(tmp_path / "no_auth")},
        timeout=120,
    )
    assert done.returncode == 0
    out = done.stdout.splitlines()
    assert out[0] == "INIT SUCCESS - -"
    replies = [r for r in map(parse_reply, out[1:]) if r is not None]
    expected: Counter[tuple[str, str, bool]] = Counter()
    for line in session:
        request = parse_request(line)
        assert request is not None
        if request.action in ("INIT", "FINALIZE", "DRIVER_CANCEL"):
            continue
        lcm = LcmState(int(decode_action_data(request.fields[1]).vm_text("LCM_STATE")))
        expected[(request.action, request.fields[0], expected_success(request.action, lcm))] += 1
    assert Counter((r.action, r.oid, r.success) for r in replies) == expected
    assert len(replies) == sum(expected.values()) == 36
    for reply in replies:
        if reply.action == "DEPLOY" and not reply.success and "no PUBLIC_CLOUD" in reply.info:
            assert reply.info.startswith(f"DEPLOY of VM {reply.oid}: PUBLIC_CLOUD:")
        if reply.action in ("SNAPSHOTCREATE", "ATTACHDISK", "ATTACHNIC", "MIGRATE"):
            assert reply.info == f"{reply.action} is not supported by the ec2 driver"
    logs = [line for line in out if line.startswith("LOG ")]
    assert (
        "LOG I 2 Driver command for 2 cancelled" in logs and "LOG I 3 Driver command for 3 cancelled" in logs
    )
