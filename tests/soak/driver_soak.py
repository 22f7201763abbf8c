"""Random VM lifecycles through one_vmm_ec2 and the fault proxy, with SIGKILLs and re-sent messages.

oned's side is played here: up to `threads` VMs have an action in flight (one per VM, as oned
serialises a VM's actions); DEPLOY, POLL, REBOOT, SHUTDOWN, CANCEL and CLEANUP are drawn at random
for what each VM's state allows; some lines are sent twice (oned re-sends after its timeout); the driver
is SIGKILLed now and then and restarted, and what it had not answered is sent again. The endpoint
throttles, resets, loses RunInstances/TerminateInstances replies after the fact and goes down for short
windows. Counted at the end, after a CLEANUP of every VM: leaked and duplicated instances, unanswered
messages (hangs) and FAILURE replies (faults may legitimately fail an action; those are reported).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REAL
from tests.soak.harness import DriverPipe, Endpoint, live_by_vm, write_config
from tests.vmm_ec2.vmdocs import action_data, request_line

REPLY_TIMEOUT = 300.0  # a message unanswered this long is a hang


@dataclass
class Vm:
    vm_id: int
    instance: str = ""  # the DEPLOY_ID oned would hold
    seq: int = 0
    busy: str = ""  # the line in flight
    action: str = ""
    expected: int = 0  # replies still owed for the line in flight (2 when re-sent)
    answers: list[str] = field(default_factory=list)
    sent_at: float = 0.0


@dataclass
class DriverSoakResult:
    operations: int = 0
    resent: int = 0
    kills: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    mismatched_resends: int = 0
    duplicated: int = 0
    leaked: int = 0
    faults: Counter[str] = field(default_factory=Counter)


def _line(vm: Vm, action: str) -> str:
    if action == "DEPLOY":
        data = action_data(REAL, vm_id=vm.vm_id, seq=vm.seq)
    elif action == "CLEANUP":
        data = action_data(REAL, vm_id=vm.vm_id, state=6, lcm=0, deploy_id=vm.instance, seq=vm.seq)
    elif action in ("SHUTDOWN", "CANCEL"):
        data = action_data(REAL, vm_id=vm.vm_id, lcm=12, deploy_id=vm.instance, seq=vm.seq)
    else:
        data = action_data(REAL, vm_id=vm.vm_id, lcm=3, deploy_id=vm.instance, seq=vm.seq)
    return request_line(action, vm.vm_id, data)


def _choose(vm: Vm, rnd: random.Random) -> str:
    if not vm.instance:
        return "DEPLOY" if rnd.random() < 0.9 else "CLEANUP"
    return rnd.choices(["POLL", "REBOOT", "SHUTDOWN", "CANCEL", "CLEANUP"], [4, 2, 2, 1, 1])[0]


def _inject(endpoint: Endpoint, rnd: random.Random) -> None:
    fault = rnd.choice(["reset", "lose-run", "lose-terminate", "down", "html-503", "text-503"])
    proxy = endpoint.proxy
    if fault == "reset":
        proxy.reset(None, 1)
    elif fault == "lose-run":
        proxy.lose_reply("RunInstances", 1)
    elif fault == "lose-terminate":
        proxy.lose_reply("TerminateInstances", 1)
    elif fault == "down":
        proxy.down(0.5)
    else:
        proxy.fail(None, 2, 503, "ServiceUnavailable", fault.split("-")[0])


def soak_driver(
    operations: int, *, vms: int = 40, threads: int = 15, kill_every: int = 250, seed: int = 1
) -> DriverSoakResult:
    rnd = random.Random(seed)
    result = DriverSoakResult()
    with Endpoint(seed=seed) as endpoint, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_config(workdir, endpoint.proxy.url, state_wait=60, max_attempts=4)
        endpoint.proxy.throttle(0.15, statuses=(400, 503, 429), bodies=("xml", "html", "text"))
        driver = DriverPipe.start(endpoint.proxy.url, workdir, threads=threads)
        seen = 1  # INIT's reply
        pool = [Vm(100 + n) for n in range(vms)]
        by_id = {vm.vm_id: vm for vm in pool}
        next_kill = kill_every

        def collect() -> None:
            nonlocal seen
            for line in driver.replies[seen:]:
                seen += 1
                parts = line.split(" ", 3)
                vm = by_id.get(int(parts[2])) if len(parts) >= 3 and parts[2].isdigit() else None
                if vm is None or not vm.busy or parts[0] != vm.action:
                    continue
                vm.answers.append(line)
                vm.expected -= 1
                if vm.expected <= 0:
                    _settle(vm, result, driver, rnd)

        def in_flight() -> list[Vm]:
            return [vm for vm in pool if vm.busy]

        while result.operations < operations or in_flight():
            collect()
            now = time.monotonic()
            for vm in in_flight():
                if now - vm.sent_at > REPLY_TIMEOUT:
                    result.unanswered += vm.expected
                    vm.busy, vm.expected, vm.answers = "", 0, []
            idle = [vm for vm in pool if not vm.busy]
            if result.operations < operations and idle and len(in_flight()) < threads:
                vm = rnd.choice(idle)
                vm.action = _choose(vm, rnd)
                vm.busy = _line(vm, vm.action)
                vm.expected, vm.answers, vm.sent_at = 1, [], time.monotonic()
                driver.send(vm.busy)
                result.operations += 1
                if rnd.random() < 0.05:  # oned's timeout fired: the same message again
                    driver.send(vm.busy)
                    vm.expected += 1
                    result.resent += 1
                if rnd.random() < 0.05:
                    _inject(endpoint, rnd)
                if result.operations >= next_kill:
                    next_kill += kill_every
                    time.sleep(rnd.uniform(0.05, 1.0))  # let some actions get half way
                    driver.kill()
                    result.kills += 1
                    collect()
                    driver = DriverPipe.start(endpoint.proxy.url, workdir, threads=threads)
                    seen = 1
                    for vm in in_flight():  # what the dead driver owed is asked again
                        vm.expected, vm.answers, vm.sent_at = 1, [], time.monotonic()
                        driver.send(vm.busy)
                continue
            driver.wait_replies(len(driver.replies) + 1, timeout=0.2)
        # Every VM ends: a CLEANUP each (state DONE), as `onevm recover --delete` or terminate would.
        endpoint.proxy.throttle(0.0)
        live = live_by_vm(endpoint.instances())
        result.duplicated = sum(n - 1 for n in live.values() if n > 1)
        base = len(driver.replies)
        for vm in pool:
            driver.send(_line(vm, "CLEANUP"))
        if not driver.wait_replies(base + len(pool), timeout=REPLY_TIMEOUT):
            result.unanswered += base + len(pool) - len(driver.replies)
        result.failures.update(
            f"CLEANUP: {r.split(' ', 3)[-1][:60]}" for r in driver.replies[base:] if " FAILURE " in r
        )
        driver.finalize()
        result.leaked = sum(live_by_vm(endpoint.instances()).values())
        result.faults = Counter(endpoint.proxy.injected)
    return result


def _settle(vm: Vm, result: DriverSoakResult, driver: DriverPipe, rnd: random.Random) -> None:
    """The VM's action is answered: update what oned would now believe."""
    ok = [a for a in vm.answers if " SUCCESS " in a]
    if len(vm.answers) > 1 and vm.action == "DEPLOY" and len({a.split(" ")[-1] for a in ok}) > 1:
        result.mismatched_resends += 1  # two answers naming two instances: a duplicate launch
    if len(ok) < len(vm.answers):
        failed = next(a for a in vm.answers if " FAILURE " in a)
        result.failures[f"{vm.action}: {failed.split(' ', 3)[-1][:60]}"] += 1
    if vm.action == "DEPLOY":
        if ok:
            vm.instance = ok[0].split(" ")[-1]
        else:
            vm.seq += 1  # BOOT_FAILURE; oned's next deploy is a new history record
    elif vm.action in ("SHUTDOWN", "CANCEL", "CLEANUP") and ok:
        vm.instance = ""
        vm.seq += 1
    vm.busy, vm.expected, vm.answers = "", 0, []
