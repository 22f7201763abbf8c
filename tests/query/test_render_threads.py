"""Writers are compiled on first use; many threads rendering at once must never see a half-built one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    sys.setswitchinterval(1e-6)  # switch threads constantly, to widen any race while compiling
    from datetime import datetime, timezone
    from one_drivers.query.render import render_response
    from one_drivers.query.model import operation_model

    ACTIONS = ["DescribeInstances", "RunInstances", "DescribeImages", "DescribeVolumes", "DescribeInstanceTypes",
               "DescribeAddresses", "DescribeKeyPairs", "DescribeSnapshots", "DescribeTags", "DescribeRegions"]
    for a in ACTIONS:
        operation_model(a)  # load the model first: the race is in compiling writers, not in loading
    instance = {"InstanceId": "i-00000001", "State": {"Code": 16, "Name": "running"},
                "LaunchTime": datetime(2026, 1, 1, tzinfo=timezone.utc), "Tags": [{"Key": "k", "Value": "v"}],
                "BlockDeviceMappings": [{"DeviceName": "/dev/sda", "Ebs": {"VolumeId": "vol-00000001"}}],
                "NetworkInterfaces": [{"PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.1"}]}]}
    results = {"DescribeInstances": {"Reservations": [{"Instances": [instance]}]},
               "RunInstances": {"Instances": [instance]}}
    barrier = threading.Barrier(16)
    errors = []

    def work(n):
        barrier.wait()
        action = ACTIONS[n % len(ACTIONS)] if n % 2 else "DescribeInstances"
        try:
            render_response(action, results.get(action, {}), "r", "2016-11-15")
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("\\n".join(errors))
    sys.exit(1 if errors else 0)
    """
)


def test_concurrent_first_renders_in_a_fresh_process() -> None:
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_warm_up_compiles_every_response() -> None:
    from one_drivers.query.render import render_response, warm_up

    warm_up()
    warm_up(["DescribeInstances"])
    assert b"<reservationSet></reservationSet>" in render_response(
        "DescribeInstances", {"Reservations": []}, "r", "2016-11-15"
    )
