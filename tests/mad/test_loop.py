"""The generic driver loop over real pipes, with fake handlers: every request gets exactly one answer."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from typing import TextIO

import pytest

from one_drivers.mad import loop as mad_loop
from one_drivers.mad.codec import encode_base64, parse_reply
from one_drivers.mad.loop import ActionContext, ActionError, ActionSpec, DriverLoop, split_arguments


class Harness:
    """Runs a DriverLoop in a thread on an os.pipe pair, like oned's pipes."""

    def __init__(self, loop: DriverLoop) -> None:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        self.to_driver: TextIO = os.fdopen(in_w, "w", buffering=1)
        self.from_driver: TextIO = os.fdopen(out_r, "r")
        driver_in, driver_out = os.fdopen(in_r, "r"), os.fdopen(out_w, "w")
        self.status: list[int] = []

        def serve() -> None:
            self.status.append(loop.run(driver_in, driver_out))
            driver_out.close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def send(self, line: str) -> None:
        self.to_driver.write(line + "\n")
        self.to_driver.flush()

    def read(self) -> str:
        return self.from_driver.readline().rstrip("\n")

    def close(self) -> list[str]:
        self.to_driver.close()
        self.thread.join(10)
        return [line.rstrip("\n") for line in self.from_driver]


def _echo(ctx: ActionContext) -> str:
    return f"done {ctx.request.fields[-1][:4]}"


def _fail(ctx: ActionContext) -> str:
    raise ActionError("it broke\nbadly")


def _crash(ctx: ActionContext) -> str:
    raise KeyError("surprise")


@pytest.fixture
def harness() -> Iterator[Harness]:
    loop = DriverLoop(
        "test_driver",
        {
            "DEPLOY": ActionSpec(_echo, 2),
            "BROKEN": ActionSpec(_fail, 2),
            "CRASH": ActionSpec(_crash, 2),
            "MONITOR": ActionSpec(_echo, 3, 4),
            "START_MONITOR": ActionSpec(_echo, 4, id_index=1),
        },
        threads=3,
        finalize_grace=1.0,
    )
    h = Harness(loop)
    yield h
    h.close()


def test_init_reply_is_the_recorded_form(harness: Harness) -> None:
    harness.send("INIT")
    assert harness.read() == "INIT SUCCESS - -"


def test_every_request_gets_one_reply(harness: Harness) -> None:
    payload = encode_base64("<VM/>")
    harness.send("INIT")
    assert harness.read().startswith("INIT SUCCESS")
    cases = {
        f"DEPLOY  1 {payload}": f"DEPLOY SUCCESS 1 done {payload[:4]}",
        f"BROKEN  2 {payload}": "BROKEN FAILURE 2 it broke badly",
        f"CRASH  3 {payload}": "CRASH FAILURE 3 KeyError: 'surprise'",
        "ATTACHNIC  4 abc": "ATTACHNIC FAILURE 4 ATTACHNIC is not supported by the ec2 driver",
        "DEPLOY  5": "DEPLOY FAILURE 5 malformed DEPLOY message: wrong number of fields",
        "DEPLOY  6 a b": "DEPLOY FAILURE 6 malformed DEPLOY message: wrong number of fields",
        "WHATEVER": "WHATEVER FAILURE - WHATEVER is not supported by the ec2 driver",
        "MONITOR 7 host1 abc": "MONITOR SUCCESS 7 done abc",
        "MONITOR 8 host1 /ds abc": "MONITOR SUCCESS 8 done abc",
        "START_MONITOR - 9 1795306730 eJx": "START_MONITOR SUCCESS 9 done eJx",
    }
    for line, expected in cases.items():
        harness.send(line)
        assert harness.read() == expected
    harness.send("FINALIZE")
    assert harness.close() == []
    assert harness.status == [0]


def test_eof_exits_zero(harness: Harness) -> None:
    harness.send("INIT")
    harness.read()
    assert harness.close() == []
    assert harness.status == [0]


def test_driver_cancel_stops_running_action_and_keeps_order() -> None:
    started = threading.Event()
    events: list[str] = []

    def slow(ctx: ActionContext) -> str:
        started.set()
        for _ in range(200):
            ctx.check_cancelled()
            time.sleep(0.01)
        return "finished"

    def cleanup(ctx: ActionContext) -> str:
        events.append(f"cleanup {ctx.oid}")
        return ""

    loop = DriverLoop(
        "t", {"DEPLOY": ActionSpec(slow, 2), "CLEANUP": ActionSpec(cleanup, 2)}, threads=4, finalize_grace=2
    )
    h = Harness(loop)
    h.send("DEPLOY  2 eA==")
    assert started.wait(5)
    h.send("DRIVER_CANCEL  2 ")
    h.send("CLEANUP  2 eA==")
    assert h.read() == "LOG I 2 Driver command for 2 cancelled"
    # the cancelled DEPLOY writes no reply (as upstream); CLEANUP runs after it, in order
    assert h.read() == "CLEANUP SUCCESS 2 -"
    assert events == ["cleanup 2"]
    h.send("FINALIZE")
    assert h.close() == []


def test_actions_for_different_ids_run_in_parallel() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(ctx: ActionContext) -> str:
        barrier.wait()  # only passes if three actions run at the same time
        return ctx.oid

    loop = DriverLoop("t", {"POLL": ActionSpec(meet, 2)}, threads=3)
    h = Harness(loop)
    for oid in (1, 2, 3):
        h.send(f"POLL  {oid} eA==")
    replies = sorted(h.read() for _ in range(3))
    assert replies == ["POLL SUCCESS 1 1", "POLL SUCCESS 2 2", "POLL SUCCESS 3 3"]
    h.close()


def test_replies_and_logs_never_interleave() -> None:
    def chatty(ctx: ActionContext) -> str:
        for n in range(20):
            ctx.log(f"step {n} of {ctx.oid}\nsecond line {n}")
        return "x" * 5000

    loop = DriverLoop("t", {"POLL": ActionSpec(chatty, 2)}, threads=8)
    h = Harness(loop)
    for oid in range(16):
        h.send(f"POLL  {oid} eA==")
    lines = [h.read() for _ in range(16 * 41)]
    for line in lines:
        if line.startswith("LOG "):
            assert line.split(" ", 3)[3].startswith(("step", "second line"))
        else:
            reply = parse_reply(line)
            assert reply is not None and reply.info == "x" * 5000
    h.close()


def test_split_arguments_one_argv_element() -> None:
    assert split_arguments(["-t 15 -r 0 --config '/etc/one/my conf.yaml'"]) == [
        "-t",
        "15",
        "-r",
        "0",
        "--config",
        "/etc/one/my conf.yaml",
    ]
    assert split_arguments([""]) == []
    assert split_arguments(["-t", "4"]) == ["-t", "4"]


def test_broken_pipe_is_not_fatal_to_the_writer() -> None:
    stream = io.StringIO()
    writer = mad_loop.ReplyWriter(stream)
    stream.close()
    writer.reply("DEPLOY", True, "1", "i-1")
    assert writer.broken


def test_file_logging_falls_back_when_unwritable(tmp_path: os.PathLike[str]) -> None:
    import logging

    path = mad_loop.configure_file_logging("t_driver", "/proc/nonexistent/dir/x.log")
    logging.getLogger("x").info("hello")
    assert path.name == "t_driver.log" and path.exists()
    good = mad_loop.configure_file_logging("t_driver", f"{tmp_path}/sub/d.log")
    assert str(good) == f"{tmp_path}/sub/d.log"
    logging.getLogger().handlers.clear()


def test_structured_failure_info() -> None:
    def monitor(ctx: ActionContext) -> str:
        raise ActionError("probe failed", reply_info="1795306730 eJwDAAAAAAE=")

    loop = DriverLoop("t", {"START_MONITOR": ActionSpec(monitor, 4, id_index=1)}, threads=1)
    h = Harness(loop)
    h.send("START_MONITOR - 3 1795306730 eJx")
    assert h.read() == "START_MONITOR FAILURE 3 1795306730 eJwDAAAAAAE="
    h.close()


def test_finalize_waits_for_running_actions_within_grace() -> None:
    release = threading.Event()

    def slow(ctx: ActionContext) -> str:
        release.wait(5)
        return "late"

    loop = DriverLoop("t", {"DEPLOY": ActionSpec(slow, 2)}, threads=2, finalize_grace=5)
    h = Harness(loop)
    h.send("DEPLOY  1 eA==")
    h.send("FINALIZE")
    threading.Timer(0.3, release.set).start()
    assert h.read() == "DEPLOY SUCCESS 1 late"  # finished inside the grace period, then exit
    h.thread.join(5)
    assert h.status == [0]


def test_driver_cancel_reaches_an_action_waiting_for_a_worker() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def blocker(ctx: ActionContext) -> str:
        gate.wait(5)
        return "blocked"

    def deploy(ctx: ActionContext) -> str:
        ctx.check_cancelled()
        seen.append(ctx.oid)
        return "launched"

    loop = DriverLoop("t", {"POLL": ActionSpec(blocker, 2), "DEPLOY": ActionSpec(deploy, 2)}, threads=1)
    h = Harness(loop)
    h.send("POLL  1 eA==")  # occupies the only worker
    h.send("DEPLOY  2 eA==")  # queued
    h.send("DRIVER_CANCEL  2 ")
    assert h.read() == "LOG I 2 Driver command for 2 cancelled"
    gate.set()
    assert h.read() == "POLL SUCCESS 1 blocked"
    h.send("FINALIZE")
    assert h.close() == []
    assert seen == []  # the queued DEPLOY never ran


def test_undecodable_bytes_do_not_end_the_loop() -> None:
    loop = DriverLoop("t", {"DEPLOY": ActionSpec(_echo, 2)}, threads=1)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    result: list[int] = []
    driver_in = os.fdopen(in_r, "r", encoding="ascii")  # a C-locale stdin
    driver_out = os.fdopen(out_w, "w", encoding="ascii")

    def serve() -> None:
        result.append(loop.run(driver_in, driver_out))
        driver_out.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    os.write(in_w, b"DEPLOY  1 \xff\xfe\x80abc\nDEPLOY  2 caf\xc3\xa9\nFINALIZE\n")
    os.close(in_w)
    thread.join(10)
    with os.fdopen(out_r, "r", encoding="utf-8") as replies:
        lines = replies.read().splitlines()
    assert lines == ["DEPLOY SUCCESS 1 done \ufffd\ufffd\ufffda", "DEPLOY SUCCESS 2 done café"]
    assert result == [0]


def test_backlog_runs_when_a_slot_frees_and_the_reader_stays_free() -> None:
    """threads=2: two actions fill every slot, a third waits; INIT and DRIVER_CANCEL are still answered."""
    gates = {oid: threading.Event() for oid in ("1", "2")}
    started: list[str] = []
    lock = threading.Lock()

    def hold(ctx: ActionContext) -> str:
        with lock:
            started.append(ctx.oid)
        if ctx.oid in gates:
            gates[ctx.oid].wait(5)
        return f"held {ctx.oid}"

    h = Harness(DriverLoop("t", {"POLL": ActionSpec(hold, 2)}, threads=2))
    h.send("POLL  1 eA==")
    h.send("POLL  2 eA==")
    deadline = time.monotonic() + 5
    while len(started) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    h.send("POLL  3 eA==")  # no free slot: waits in the backlog
    h.send("INIT")
    assert h.read() == "INIT SUCCESS - -"  # read and answered while both slots are busy
    time.sleep(0.05)
    assert sorted(started) == ["1", "2"]
    gates["2"].set()
    replies = {h.read(), h.read()}
    assert replies == {"POLL SUCCESS 2 held 2", "POLL SUCCESS 3 held 3"}
    assert started[-1] == "3"
    gates["1"].set()
    assert h.read() == "POLL SUCCESS 1 held 1"
    h.send("FINALIZE")
    assert h.close() == []
    assert h.status == [0]


def test_one_at_a_time_actions_all_run_on_the_last_idle_worker() -> None:
    """Requests that come one at a time reuse one warm worker (an idle stack, not a rotating queue);
    the reading thread itself never runs an action."""
    threads: list[str] = []

    def where(ctx: ActionContext) -> str:
        threads.append(threading.current_thread().name)
        return "ok"

    loop = DriverLoop("t", {"POLL": ActionSpec(where, 2)}, threads=4)
    reader_names: list[str] = []
    real_dispatch = loop.dispatch

    def recording_dispatch(request: object) -> object:
        reader_names.append(threading.current_thread().name)
        return real_dispatch(request)  # type: ignore[arg-type]

    loop.dispatch = recording_dispatch  # type: ignore[assignment,method-assign]
    h = Harness(loop)
    for n in range(6):
        h.send(f"POLL  {n} eA==")
        assert h.read() == f"POLL SUCCESS {n} ok"
    h.send("FINALIZE")
    assert h.close() == []
    # One worker, or two when a request overtakes the previous worker between its reply and its
    # parking; a rotating pool would have used all four.
    assert len(set(threads)) <= 2 and all(name.startswith("t-") for name in threads)
    assert set(reader_names).isdisjoint(threads)


def test_concurrent_actions_get_their_own_workers_up_to_the_limit() -> None:
    """threads=3: three held actions run on three workers at once; after they end, new ones reuse them."""
    gate = threading.Event()
    names: dict[str, str] = {}
    lock = threading.Lock()

    def hold(ctx: ActionContext) -> str:
        with lock:
            names[ctx.oid] = threading.current_thread().name
        if ctx.oid in ("1", "2", "3"):
            gate.wait(5)
        return "ok"

    h = Harness(DriverLoop("t", {"POLL": ActionSpec(hold, 2)}, threads=3))
    for n in (1, 2, 3):
        h.send(f"POLL  {n} eA==")
    deadline = time.monotonic() + 5
    while len(names) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(set(names.values())) == 3
    gate.set()
    assert {h.read() for _ in range(3)} == {f"POLL SUCCESS {n} ok" for n in (1, 2, 3)}
    for n in (4, 5):
        h.send(f"POLL  {n} eA==")
        assert h.read() == f"POLL SUCCESS {n} ok"
    h.send("FINALIZE")
    assert h.close() == []
    assert {names["4"], names["5"]} <= set(names[n] for n in ("1", "2", "3"))


def test_a_failing_read_ends_the_loop_instead_of_hanging_it() -> None:
    class Exploding(io.StringIO):
        def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
            raise RuntimeError("boom")

    loop = DriverLoop("t", {"POLL": ActionSpec(_echo, 2)}, threads=2, finalize_grace=0.1)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(loop.run(Exploding(), io.StringIO())), daemon=True)
    thread.start()
    thread.join(5)
    assert result == [0]
