"""econe's metrics: requests by action and HTTP status, their latency, oned call latency, auth failures.

`EconeMetrics` is the app's request observer and the gateway's call observer (see econe/app.py and
one/gateway.py: neither imports this); its registry is served by exposition.MetricsListener.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Requests are answered in milliseconds to seconds; a RunInstances with many VMs takes longer.
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ONED_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


class EconeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "econe_requests",
            "EC2 API requests answered, by action (other: not served) and HTTP status",
            ["action", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "econe_request_duration_seconds",
            "Time from reading a request to its answer, by action",
            ["action"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.oned_seconds = Histogram(
            "econe_oned_call_duration_seconds",
            "OpenNebula XML-RPC calls, by method and outcome (ok, error)",
            ["method", "outcome"],
            buckets=ONED_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "econe_auth_failures",
            "Requests refused for who the caller is, by EC2 error code",
            ["code"],
            registry=self.registry,
        )

    # --- econe/app.py's RequestObserver ----------------------------------------------------------
    def request_done(self, action: str, status: int, seconds: float) -> None:
        self.requests.labels(action, str(status)).inc()
        self.request_seconds.labels(action).observe(seconds)

    def auth_failed(self, code: str) -> None:
        self.auth_failures.labels(code).inc()

    # --- one/gateway.py's CallObserver -----------------------------------------------------------
    def oned_call(self, method: str, seconds: float, ok: bool) -> None:
        self.oned_seconds.labels(method, "ok" if ok else "error").observe(seconds)
