"""The drivers' metrics: actions answered, EC2 calls, throttled answers and resends, per driver.

`DriverMetrics` is the reply observer of mad/loop.py's DriverLoop and the call observer of
ec2/clients.py's Ec2Clients. `--metrics-port` serves it over HTTP; `--metrics-file` writes it for
node_exporter's textfile collector (rewritten every 15 s and at exit).
"""

from __future__ import annotations

import argparse
import logging

from prometheus_client import CollectorRegistry, Counter

from one_drivers.metrics.exposition import MetricsListener, TextfileWriter

log = logging.getLogger(__name__)


class DriverMetrics:
    def __init__(self, driver: str, registry: CollectorRegistry | None = None) -> None:
        self.driver = driver
        self.registry = registry if registry is not None else CollectorRegistry()
        self.actions = Counter(
            "one_driver_actions",
            "Driver actions answered to OpenNebula, by action and result (success, failure)",
            ["driver", "action", "result"],
            registry=self.registry,
        )
        self.ec2_calls = Counter(
            "one_driver_ec2_calls",
            "EC2 API calls (after botocore's retries), by operation and outcome (ok, error)",
            ["driver", "operation", "outcome"],
            registry=self.registry,
        )
        self.ec2_throttles = Counter(
            "one_driver_ec2_throttles",
            "EC2 answers that were throttling errors (each attempt), by operation",
            ["driver", "operation"],
            registry=self.registry,
        )
        self.ec2_retries = Counter(
            "one_driver_ec2_retries",
            "EC2 requests sent again by botocore's retry mode, by operation",
            ["driver", "operation"],
            registry=self.registry,
        )
        self._outputs: list[MetricsListener | TextfileWriter] = []

    # --- mad/loop.py: every reply ----------------------------------------------------------------
    def action_done(self, action: str, success: bool) -> None:
        self.actions.labels(self.driver, action, "success" if success else "failure").inc()

    # --- ec2/observe.py's Ec2CallObserver --------------------------------------------------------
    def ec2_call(self, operation: str, ok: bool) -> None:
        self.ec2_calls.labels(self.driver, operation, "ok" if ok else "error").inc()

    def ec2_attempt(self, operation: str, throttled: bool, retry: bool) -> None:
        if throttled:
            self.ec2_throttles.labels(self.driver, operation).inc()
        if retry:
            self.ec2_retries.labels(self.driver, operation).inc()

    # --- where they go ---------------------------------------------------------------------------
    def expose(self, host: str, port: int | None, path: str | None) -> None:
        if port is not None:
            self._outputs.append(MetricsListener(self.registry, host, port))
        if path:
            self._outputs.append(TextfileWriter(self.registry, path).start())

    def close(self) -> None:
        """Stop the listener; write the file one last time."""
        for output in self._outputs:
            output.stop()
        self._outputs.clear()


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port"
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address of --metrics-port (127.0.0.1)")
    parser.add_argument(
        "--metrics-file",
        default=None,
        help="write Prometheus metrics here (node_exporter textfile collector)",
    )


def metrics_from_args(driver: str, args: argparse.Namespace) -> DriverMetrics | None:
    """Metrics when asked for on the command line, else None (nothing is counted)."""
    if args.metrics_port is None and not args.metrics_file:
        return None
    metrics = DriverMetrics(driver)
    try:
        metrics.expose(args.metrics_host, args.metrics_port, args.metrics_file)
    except OSError as exc:
        # A busy port must not keep the driver from serving oned.
        log.error("metrics not exposed: %s", exc)
    return metrics
