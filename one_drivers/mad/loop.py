"""The long-running driver program: oned's side of the pipe, generic over the action table.

oned starts a driver with ARGUMENTS as one argv element, writes INIT, then one request per line; the
loop dispatches each request by action name to a handler on a pool thread and writes its reply.
Used by `one_vmm_ec2` (VMM actions) and `one_im_ec2` (MONITOR / START_MONITOR / STOP_MONITOR).
Every request gets a reply: unknown actions and malformed lines become FAILURE for that id.

    loop = DriverLoop("one_vmm_ec2", {"DEPLOY": ActionSpec(deploy, 2)}, threads=15)
    sys.exit(loop.run(sys.stdin, sys.stdout))
"""

from __future__ import annotations

import collections
import io
import logging
import os
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from one_drivers.mad.codec import INIT_REPLY, Request, format_log, format_reply, parse_request

log = logging.getLogger(__name__)

UNSUPPORTED = "not supported by the ec2 driver"


class ActionError(Exception):
    """An expected failure of an action: its text becomes the FAILURE info (no traceback logged).

    `reply_info` replaces the text on the wire when a protocol wants a structured FAILURE, e.g.
    monitord's `START_MONITOR FAILURE <host_id> <timestamp> <payload>`.
    """

    def __init__(self, message: str, *, reply_info: str | None = None) -> None:
        super().__init__(message)
        self.reply_info = reply_info


class ActionCancelled(Exception):
    """The action stopped because oned sent DRIVER_CANCEL for its id; no reply is written."""


class ReplyWriter:
    """Writes whole lines to oned under one lock, flushing each batch, so lines never interleave."""

    def __init__(self, stream: TextIO, on_reply: Callable[[str, bool], None] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = False
        self.on_reply = on_reply  # told (action, success) for every reply (the drivers' metrics)

    def write_lines(self, lines: Iterable[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError) as exc:
                # oned went away (EPIPE / closed pipe): nothing left to tell it.
                self.broken = True
                log.error("cannot write to oned: %s", exc)

    def reply(self, action: str, success: bool, oid: str, info: str = "") -> None:
        # Counted first: whoever reads the reply and then scrapes the metrics finds it counted.
        if self.on_reply is not None:
            self.on_reply(action, success)
        self.write_lines([format_reply(action, success, oid, info)])

    def log(self, oid: str, text: str, level: str = "I") -> None:
        self.write_lines(format_log(oid, text, level))


@dataclass
class ActionContext:
    """What a handler gets: the request, its id, a cancel flag, and the shared writer for LOG lines."""

    request: Request
    oid: str
    writer: ReplyWriter
    cancelled: threading.Event = field(default_factory=threading.Event)

    def log(self, text: str, level: str = "I") -> None:
        self.writer.log(self.oid, text, level)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise ActionCancelled(f"{self.request.action} for {self.oid} cancelled")


Handler = Callable[[ActionContext], str]


@dataclass(frozen=True)
class ActionSpec:
    """A handler and the shape of its request: how many fields follow the action, which one is the id.

    The handler returns the SUCCESS info ('' -> '-') or raises (ActionError or anything else) for FAILURE.
    """

    handler: Handler
    min_fields: int
    max_fields: int | None = None  # None: exactly min_fields
    id_index: int = 0

    def accepts(self, count: int) -> bool:
        upper = self.min_fields if self.max_fields is None else self.max_fields
        return self.min_fields <= count <= upper


@dataclass
class _Job:
    ctx: ActionContext
    spec: ActionSpec


class _Worker:
    """A pool thread: sleeps on its own lock until the reader hands it a job."""

    def __init__(self, loop: DriverLoop, name: str) -> None:
        self.loop = loop
        self.job: _Job | None = None
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)
        self.thread.start()

    def give(self, job: _Job) -> None:
        self.job = job
        self.wake.release()

    def _work(self) -> None:
        while True:
            self.wake.acquire()
            job = self.job
            while job is not None:
                self.loop._run_job(job)
                job = self.loop._finish(job.ctx.oid, self)


class DriverLoop:
    """Reads requests on the calling thread and runs up to `threads` actions at once (serialized per id).

    The reading thread never runs an action, so INIT and DRIVER_CANCEL are answered while every action
    slot is busy. Each action goes to the worker that went idle last (a stack, not a queue): requests
    that come one at a time all run on one thread whose caches are still warm. Rotating through the pool
    cost one_vmm_ec2 about 90 us per action on a 2-vCPU machine, more than the hand-off itself.
    Actions that find no free slot wait in a backlog the next free worker takes.
    """

    def __init__(
        self,
        name: str,
        actions: Mapping[str, ActionSpec],
        *,
        threads: int = 15,
        unsupported: str = UNSUPPORTED,
        finalize_grace: float = 3.0,
        on_reply: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.name = name
        self.on_reply = on_reply
        self.actions = {k.upper(): v for k, v in actions.items()}
        self.threads = max(1, threads)
        self.unsupported = unsupported
        self.finalize_grace = finalize_grace
        self._lock = threading.Lock()
        self._pending: dict[str, collections.deque[_Job]] = {}
        self._running: dict[str, ActionContext] = {}
        self._backlog: collections.deque[_Job] = collections.deque()
        self._busy = 0  # workers running actions, at most self.threads
        self._idle_workers: list[_Worker] = []  # most recently idle last
        self._workers = 0
        self._idle = threading.Condition(self._lock)
        self.writer: ReplyWriter | None = None

    # --- reading -------------------------------------------------------------------------------
    def run(self, stdin: TextIO, stdout: TextIO) -> int:
        """Serve until FINALIZE or EOF; return the exit status (0)."""
        for stream in (stdin, stdout):
            # Undecodable bytes must become a malformed message, not a UnicodeDecodeError that ends us.
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(encoding="utf-8", errors="replace")
        self.writer = ReplyWriter(stdout, self.on_reply)
        log.info("%s started with %d worker threads", self.name, self.threads)
        self._read(stdin)
        self._drain(self.finalize_grace)
        return 0

    def _read(self, stdin: TextIO) -> None:
        """Read and dispatch requests until FINALIZE, EOF, unreadable stdin or unwritable stdout."""
        assert self.writer is not None
        try:
            while not self.writer.broken:
                line = stdin.readline()
                if not line:
                    log.info("EOF on stdin")
                    return
                request = parse_request(line)
                if request is None:
                    continue
                if request.action == "FINALIZE":
                    log.info("FINALIZE received")
                    return
                job = self.dispatch(request)
                if job is not None:
                    self._start(job)
        except (OSError, ValueError) as exc:  # stdin closed under us: same as EOF
            log.error("cannot read from oned: %s", exc)
        except Exception:  # a bug of ours must end the driver, not hang it
            log.exception("reading requests failed")

    def dispatch(self, request: Request) -> _Job | None:
        """Answer INIT and DRIVER_CANCEL at once, fail unknown or malformed requests; an action is
        returned for the calling thread to run, or kept (same id busy, no free slot) for later."""
        writer = self.writer
        assert writer is not None, "dispatch() before run()"
        if request.action == "INIT":
            writer.write_lines([INIT_REPLY])
            return None
        if request.action == "DRIVER_CANCEL":
            self._cancel(request.field(0, "-"))
            return None
        spec = self.actions.get(request.action)
        if spec is None:
            oid = request.field(0, "-")
            log.warning("unsupported action %s for %s", request.action, oid)
            writer.reply(request.action, False, oid, f"{request.action} is {self.unsupported}")
            return None
        oid = request.field(spec.id_index, "-")
        if not spec.accepts(len(request.fields)):
            log.warning("malformed %s for %s: %d fields", request.action, oid, len(request.fields))
            writer.reply(
                request.action, False, oid, f"malformed {request.action} message: wrong number of fields"
            )
            return None
        job = _Job(ActionContext(request, oid, writer), spec)
        with self._lock:
            chain = self._pending.get(oid)
            if chain is not None:
                # An action for this id is running: keep oned's order for the same VM/host.
                chain.append(job)
                return None
            self._pending[oid] = collections.deque()
            # registered before it runs, so a DRIVER_CANCEL can reach a waiting action too
            self._running[oid] = job.ctx
            if self._busy >= self.threads:
                self._backlog.append(job)
                return None
            self._busy += 1
        return job

    def _cancel(self, oid: str) -> None:
        assert self.writer is not None
        with self._lock:
            ctx = self._running.get(oid)
            if ctx is not None:
                ctx.cancelled.set()
        log.info("DRIVER_CANCEL for %s (%s)", oid, "running action" if ctx else "nothing running")
        # Same LOG line the Ruby drivers write; oned expects no other reply to DRIVER_CANCEL.
        self.writer.log(oid, f"Driver command for {oid} cancelled")

    # --- running actions -------------------------------------------------------------------------
    def _start(self, job: _Job) -> None:
        """Give a job that has its slot (see dispatch) to the worker that went idle last."""
        with self._lock:
            worker = self._idle_workers.pop() if self._idle_workers else None
            if worker is None:
                self._workers += 1
                number = self._workers
        if worker is None:
            worker = _Worker(self, f"{self.name}-{number}")
        worker.give(job)

    def _finish(self, oid: str, worker: _Worker) -> _Job | None:
        """After a job: the next action of the same id, else one from the backlog, else None (the
        slot is released and the worker parks on top of the idle stack)."""
        with self._lock:
            self._running.pop(oid, None)
            chain = self._pending.get(oid)
            if chain:
                job = chain.popleft()
                self._running[oid] = job.ctx
                return job
            self._pending.pop(oid, None)
            self._idle.notify_all()
            if self._backlog:
                return self._backlog.popleft()
            self._busy -= 1
            worker.job = None
            self._idle_workers.append(worker)
            return None

    def _run_job(self, job: _Job) -> None:
        ctx, action = job.ctx, job.ctx.request.action
        try:
            info = job.spec.handler(ctx)
        except ActionCancelled as exc:
            log.info("%s", exc)
            return
        except ActionError as exc:
            log.warning("%s %s failed: %s", action, ctx.oid, exc)
            info = exc.reply_info if exc.reply_info is not None else str(exc) or type(exc).__name__
            ctx.writer.reply(action, False, ctx.oid, info)
            return
        except Exception as exc:  # every request gets a reply, whatever went wrong
            log.exception("%s %s failed unexpectedly", action, ctx.oid)
            ctx.writer.reply(action, False, ctx.oid, f"{type(exc).__name__}: {exc}")
            return
        ctx.writer.reply(action, True, ctx.oid, info)

    def _drain(self, grace: float) -> None:
        """Give in-flight actions `grace` seconds to finish (oned SIGKILLs us soon after FINALIZE)."""
        with self._lock:
            self._idle.wait_for(lambda: not self._pending, timeout=grace)
            left = sorted(self._pending)
        if left:
            log.warning("exiting with actions still running for %s", ", ".join(left))


def split_arguments(argv: Sequence[str]) -> list[str]:
    """The driver's options: oned passes ARGUMENTS as ONE argv element, a shell passes several."""
    if len(argv) == 1:
        return shlex.split(argv[0])
    return list(argv)


def default_log_path(name: str) -> Path:
    """Where upstream drivers log: $ONE_LOCATION/var/<name>.log or /var/log/one/<name>.log."""
    one_location = os.environ.get("ONE_LOCATION")
    base = Path(one_location) / "var" if one_location else Path("/var/log/one")
    return base / f"{name}.log"


def configure_file_logging(
    name: str, path: str | os.PathLike[str] | None = None, debug: bool = False
) -> Path:
    """Log to a file, never stderr (oned closes fd 2); fall back to the temp dir if not writable."""
    import tempfile

    candidates = [Path(path)] if path else [default_log_path(name)]
    candidates.append(Path(tempfile.gettempdir()) / f"{name}.log")
    handler: logging.Handler | None = None
    chosen = candidates[-1]
    for candidate in candidates:
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(candidate, encoding="utf-8")
            chosen = candidate
            break
        except OSError:
            continue
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler or logging.NullHandler())
    if handler is not None:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname).1s [%(threadName)s] %(name)s: %(message)s")
        )
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # botocore's debug output would include request bodies (user data); keep it quiet.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return chosen
