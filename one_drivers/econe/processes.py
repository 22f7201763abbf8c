"""`econe-server run --processes N`: a parent that keeps N econe worker processes on one port.

Each worker is `econe-server run --worker-of <parent pid>`: its own cheroot listener bound with
SO_REUSEPORT, so the kernel spreads new connections over them (econe keeps no state between requests).
The parent restarts a worker that dies, serves the workers' summed metrics when `:metrics_port:` is set,
and on SIGTERM/SIGINT stops them all (SIGTERM, in-flight requests finish; SIGKILL after a timeout). A
worker whose parent is gone (even SIGKILLed) stops by itself, so none is left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import FrameType

from one_drivers.econe.config import EconeConfig
from one_drivers.metrics.exposition import (
    MULTIPROC_ENV,
    MetricsListener,
    forget_process,
    multiprocess_registry,
    serve,
)

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0
RESTART_PAUSE = 1.0  # a worker that keeps dying is restarted at most this often
FAILED_STARTS = 5  # workers dying within START_GRACE this many times in a row stop the parent
START_GRACE = 5.0


def worker_command(config_path: str, parent_pid: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "one_drivers.econe.cli",
        "--config",
        config_path,
        "run",
        "--worker-of",
        str(parent_pid),
    ]


class WorkerProcesses:
    """The parent: start, watch and stop N workers (and the metrics listener over them)."""

    def __init__(self, config: EconeConfig, config_path: str, processes: int) -> None:
        self.config = config
        self.config_path = config_path
        self.processes = processes
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * processes
        self.started_at = [0.0] * processes
        self.quick_deaths = 0
        self.metrics_dir: str | None = None
        self.metrics_listener: MetricsListener | None = None
        self.stopping = threading.Event()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.metrics_dir is not None:
            env[MULTIPROC_ENV] = self.metrics_dir
        return env

    def _spawn(self, index: int) -> None:
        child = subprocess.Popen(
            worker_command(self.config_path, os.getpid()), env=self._env(), stdin=subprocess.DEVNULL
        )
        self.workers[index] = child
        self.started_at[index] = time.monotonic()
        log.info("worker %d started (pid %d)", index, child.pid)

    def start(self) -> None:
        if self.config.metrics_port is not None:
            self.metrics_dir = tempfile.mkdtemp(prefix="econe-metrics-")
            self.metrics_listener = serve(
                multiprocess_registry(self.metrics_dir), self.config.metrics_host, self.config.metrics_port
            )
        for index in range(self.processes):
            self._spawn(index)

    def check(self) -> bool:
        """Restart workers that exited; False when they keep failing at start (the parent gives up)."""
        now = time.monotonic()
        for index, child in enumerate(self.workers):
            if child is None or child.poll() is None:
                continue
            log.warning("worker %d (pid %d) exited with %s", index, child.pid, child.returncode)
            if self.metrics_dir is not None:
                forget_process(child.pid, self.metrics_dir)
            if now - self.started_at[index] < START_GRACE:
                self.quick_deaths += 1
                if self.quick_deaths >= FAILED_STARTS:
                    log.error("workers keep exiting at start; stopping")
                    return False
                time.sleep(RESTART_PAUSE)
            else:
                self.quick_deaths = 0
            self._spawn(index)
        return True

    def stop(self) -> None:
        live = [c for c in self.workers if c is not None and c.poll() is None]
        for child in live:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in live:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in time: SIGKILL", child.pid)
                child.kill()
                child.wait()
        if self.metrics_listener is not None:
            self.metrics_listener.stop()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def serve_forever(self) -> int:
        """Run until SIGTERM/SIGINT (0) or until workers cannot start (1)."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping the workers", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        status = 0
        try:
            while not self.stopping.wait(0.2):
                if not self.check():
                    status = 1
                    break
        finally:
            self.stop()
            log.info("econe stopped (%d worker processes)", self.processes)
        return status


def watch_parent(parent_pid: int, stop: Callable[[], None], interval: float = 0.5) -> threading.Thread:
    """In a worker: call `stop` once the parent is gone (then this process is re-parented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        log.warning("parent %d is gone: stopping", parent_pid)
        stop()

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
