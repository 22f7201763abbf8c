"""Where metrics go: an HTTP listener of their own, or a file for node_exporter's textfile collector.

With several econe processes each writes its samples to a shared directory (prometheus_client's
multiprocess mode, chosen by PROMETHEUS_MULTIPROC_DIR before the library is first imported) and the
parent serves their sum on one listener.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsListener:
    """`/metrics` (any path, in fact) of one registry on host:port, served by a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class TextfileWriter:
    """Rewrites `path` every `interval` seconds and once more at stop (atomically: temp file + rename)."""

    def __init__(self, registry: CollectorRegistry, path: str, interval: float = 15.0) -> None:
        self.registry = registry
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-textfile", daemon=True)

    def start(self) -> TextfileWriter:
        self.write()
        self._thread.start()
        return self

    def write(self) -> None:
        try:
            write_to_textfile(self.path, self.registry)
        except OSError as exc:
            log.warning("cannot write metrics to %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.write()


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """The sum of every process's samples in `directory` (for the parent of several workers)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def forget_process(pid: int, directory: str) -> None:
    """A worker that exited: its counters stay summed (they only grow); live gauges would go."""
    mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def serve(registry: Any, host: str, port: int | None) -> MetricsListener | None:
    """A listener when a port is configured, else None (metrics off)."""
    if port is None:
        return None
    return MetricsListener(registry, host, port)
