"""What oned's one-session-per-user cache costs econe's users, and what their own login tokens save.

oned caches one authenticated session per user. A server_cipher token that is not that session goes
through the server_cipher auth driver, a Ruby process: ~140 ms per login on a real oned 6.10.5 (seen
when the issue was filed; the simulator models it with `auth_driver_seconds`, since no oned runs
here). The user `bob` calls DescribeInstances through econe (boto3), and between two calls he logs in
at the CLI with his password, which makes his password oned's cached session. Rows: no other login
(the baseline), the same with econe acting through server_cipher tokens, and with login tokens of
bob's own (`one.user.login`, econe's default). Driver logins are counted by the simulator.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.table import p50, print_table
from one_drivers.one.gateway import OneGateway
from tests.econe.conftest import start_econe_env, stop_econe_env

DRIVER_SECONDS = 0.140  # modelled: the server_cipher driver's login time seen on a real 6.10.5
REPEAT = 30


def _measure(tmp: Path, *, login_tokens: bool, cli_logins: bool) -> tuple[float, float]:
    """(p50 seconds of one DescribeInstances, driver logins per request) in a fresh econe + simulator."""
    sim, env = start_econe_env(tmp, one_login_tokens=login_tokens)
    try:
        sim.auth_driver_seconds = DRIVER_SECONDS
        client: Any = env.client("bob")
        cli = OneGateway(sim.endpoint, f"bob:{env.bob.password}")
        for _ in range(3):  # warm: user pool, econe's token, connections
            client.describe_instances()
        before = sim.cloud.driver_auths
        samples = []
        for _ in range(REPEAT):
            if cli_logins:
                cli.user_info(-1)
            started = time.perf_counter()
            client.describe_instances()
            samples.append(time.perf_counter() - started)
        logins = (sim.cloud.driver_auths - before) / REPEAT
    finally:
        stop_econe_env(sim, env)
    return p50(samples), logins


def run() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as top:
        cases = (
            ("no other login of bob (baseline)", True, False),
            ("bob logs in at the CLI between calls, server_cipher tokens", False, True),
            ("bob logs in at the CLI between calls, bob's own login token", True, True),
        )
        results = []
        for n, (label, login_tokens, cli_logins) in enumerate(cases):
            sub = Path(top) / f"case{n}"
            sub.mkdir()
            results.append((label, *_measure(sub, login_tokens=login_tokens, cli_logins=cli_logins)))
        base = results[0][1]
        for label, median, logins in results:
            rows.append((label, median * 1000, median / base, logins))
    print_table(
        f"econe and oned's session cache: DescribeInstances as bob, p50 of {REPEAT} "
        f"(auth driver modelled at {DRIVER_SECONDS * 1000:.0f} ms per login)",
        ("case", "p50 ms", "x baseline", "driver logins / request"),
        rows,
    )
