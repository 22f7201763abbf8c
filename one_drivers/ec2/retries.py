"""How the drivers' EC2 clients retry and pace themselves: throttling slows the driver, it never fails work.

botocore's own retries stop when its per-client retry quota runs dry (each retry costs 5 tokens, a success
earns 1), so under sustained throttling a busy host's shared client failed calls outright. Here botocore
makes one attempt and `RetryPolicy` (hooked on the client's events) decides: a rejected request (a
throttling code, 429, 503: the endpoint did nothing) is retried until a deadline, paced by a `Pacer` per
endpoint and operation that limits its rate to what the endpoint serves when it throttles; other transient failures are retried `max_attempts` times on clients whose calls are
idempotent. Those waits end early when the action that made the call is cancelled (DRIVER_CANCEL): the
action runs its calls inside `cancel_scope(event)`, and a wait raises `WaitCancelled` once the event is
set. `normalize_error_body` gives an error answer that is not EC2's XML (a balancer's HTML page,
plain text) an EC2 error code, so it is classified by its status instead of failing to parse.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from one_drivers.ec2.errors import THROTTLING_CODES, TRANSIENT_CODES

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

MIN_RATE = 0.5  # requests per second: a throttled endpoint is still asked now and then
MAX_RATE = 500.0  # above this the pacer stops limiting at all
FIRST_GUESS = 10.0  # requests per second when the very first answers are throttles
HEADROOM = 3.0  # pace at this multiple of what the endpoint was seen to serve while throttling
INCREASE = 0.05  # the rate grows by this fraction of itself per second of successes
WINDOW = 2.0  # seconds of successes that measure what the endpoint serves
CUT_INTERVAL = 0.5  # one cut per this many seconds: a burst of throttles is one signal, not twenty
REJECTED_STATUSES = frozenset({429, 503})
STATUS_CODES = {429: "TooManyRequestsException", 500: "InternalError", 503: "ServiceUnavailable"}


class WaitCancelled(Exception):
    """The call was waiting out throttling (or to retry) when its action was cancelled: it is not sent again."""


_scope = threading.local()  # `event`: the cancel flag of the action running on this thread, if any


@contextlib.contextmanager
def cancel_scope(event: threading.Event | None) -> Iterator[None]:
    """Inside the block, this thread's waits for a retry or a pacer slot end when `event` is set
    (None: they cannot be cancelled, e.g. a rollback that must finish)."""
    previous = getattr(_scope, "event", None)
    _scope.event = event
    try:
        yield
    finally:
        _scope.event = previous


def pause(seconds: float) -> None:
    """Sleep `seconds`, or raise WaitCancelled as soon as this thread's cancel scope is set."""
    event: threading.Event | None = getattr(_scope, "event", None)
    if event is None:
        if seconds > 0:
            time.sleep(seconds)
    elif event.is_set() or event.wait(seconds):
        raise WaitCancelled("cancelled while waiting to retry")


class Pacer:
    """A client-side rate limit for one endpoint and operation; unlimited until the endpoint throttles.

    On a throttle the rate becomes HEADROOM times the successes per second of the last WINDOW: against
    a token bucket that is about twice its refill (the bucket stays drained, so throughput is the
    bucket's own, while the waste is bounded); against throttling that does not depend on the rate
    (a fraction of requests refused at random) it holds steady instead of collapsing, as a plain
    multiplicative cut does. Successes raise the rate until it stops limiting.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate: float | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0  # the earliest moment the next request may leave
        self._successes: deque[float] = deque()
        self._last_cut = float("-inf")

    def delay(self) -> float:
        """Reserve the next slot; the seconds the caller must wait before sending."""
        with self._lock:
            if self.rate is None:
                return 0.0
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
            return slot - now

    def on_throttle(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_cut < CUT_INTERVAL:
                return
            self._forget(now)
            if self._successes:
                # Over the window, or over the time since the first success when this is younger.
                span = max(0.25, now - self._successes[0])
                target = HEADROOM * len(self._successes) / span
            else:
                # Nothing served lately: no measure of the endpoint, so halve (from a guess at first).
                target = (self.rate or 2 * FIRST_GUESS) / 2
            self.rate = min(MAX_RATE, max(MIN_RATE, target))
            self._last_cut = now

    def on_success(self) -> None:
        with self._lock:
            now = self._clock()
            self._successes.append(now)
            self._forget(now)
            if self.rate is None:
                return
            # One success per 1/rate seconds: the rate grows by INCREASE of itself per second.
            self.rate += INCREASE
            if self.rate >= MAX_RATE:
                self.rate = None

    def _forget(self, now: float) -> None:
        while self._successes and self._successes[0] < now - WINDOW:
            self._successes.popleft()


class Pacers:
    """The pacers of one endpoint (credentials, region, URL), one per operation, made on first use."""

    def __init__(self) -> None:
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def __getitem__(self, operation: str) -> Pacer:
        with self._lock:
            pacer = self._pacers.get(operation)
            if pacer is None:
                pacer = self._pacers[operation] = Pacer()
            return pacer


class RetryPolicy:
    """The retry decision for one client, registered on its botocore events by `attach`."""

    def __init__(
        self,
        pacers: Pacers,
        *,
        idempotent: bool,
        max_attempts: int,
        throttle_wait: float,
        rng: random.Random | None = None,
    ) -> None:
        self.pacers = pacers
        self.idempotent = idempotent
        self.max_attempts = max_attempts
        self.throttle_wait = throttle_wait
        self._random = rng or random.Random()

    def attach(self, client: EC2Client | CloudWatchClient, service: str) -> None:
        events = client.meta.events
        events.register(f"before-send.{service}", self.before_send)
        events.register_first(f"needs-retry.{service}", self.needs_retry)
        events.register_first(f"before-parse.{service}", normalize_error_body)

    def before_send(self, event_name: str = "", **kwargs: Any) -> None:
        pause(self.pacers[event_name.rsplit(".", 1)[-1]].delay())
        # None: botocore sends the request (a value here would stand in for the answer).

    def needs_retry(
        self,
        response: Any = None,
        operation: Any = None,
        attempts: int = 1,
        caught_exception: BaseException | None = None,
        request_dict: Any = None,
        **kwargs: Any,
    ) -> float | None:
        context = request_dict.setdefault("context", {}) if isinstance(request_dict, dict) else {}
        started = context.setdefault("one_drivers_started", time.monotonic())
        pacer = self.pacers[getattr(operation, "name", "")]
        outcome = attempt_outcome(response, caught_exception)
        if outcome == "ok":
            pacer.on_success()
            return None
        if outcome == "rejected":
            pacer.on_throttle()
            if time.monotonic() - started >= self.throttle_wait:
                log.warning("%s still throttled after %.0f s: giving up", operation.name, self.throttle_wait)
                return None
            # Short and jittered: the pacer spaces the requests out; this only de-synchronises them.
            return self._wait(self._random.uniform(0.001, min(1.0, 0.05 * 2 ** min(attempts, 5))))
        if outcome == "transient" and self.idempotent and attempts < self.max_attempts:
            return self._wait(self._random.uniform(0.001, min(20.0, 0.5 * 2**attempts)))
        return None

    @staticmethod
    def _wait(seconds: float) -> float:
        """Wait here, where a cancel can end it; botocore then retries at once (its own sleep is 0)."""
        pause(seconds)
        return 0.0


def attempt_outcome(response: Any, caught_exception: BaseException | None) -> str:
    """ok | rejected (the endpoint did nothing: retry is always safe) | transient | final."""
    if caught_exception is not None:
        from botocore.exceptions import ConnectionError, HTTPClientError

        if isinstance(caught_exception, ConnectionError | HTTPClientError | OSError):
            return "transient"
        return "final"
    if response is None:
        return "final"
    http, parsed = response
    status = int(getattr(http, "status_code", 0) or 0)
    code = str((parsed or {}).get("Error", {}).get("Code") or "")
    if code in THROTTLING_CODES or status in REJECTED_STATUSES:
        return "rejected"
    if status < 300:
        return "ok"
    if status >= 500 or code in TRANSIENT_CODES:
        return "transient"
    return "final"


def normalize_error_body(response_dict: Any = None, **kwargs: Any) -> None:
    """An error answer that is not EC2's XML becomes EC2's error document with a code for its status."""
    if not isinstance(response_dict, dict):
        return
    status = int(response_dict.get("status_code") or 0)
    body = response_dict.get("body") or b""
    if status < 400 or not isinstance(body, bytes) or _is_ec2_error_xml(body):
        return
    code = STATUS_CODES.get(status, "ServiceUnavailable" if status >= 500 else f"Http{status}")
    kind = "HTML" if b"<html" in body[:512].lower() else "non-XML"
    message = f"HTTP {status} with a {kind} body"
    response_dict["body"] = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID></RequestID></Response>"
    ).encode()


def _is_ec2_error_xml(body: bytes) -> bool:
    head = body.lstrip()[:200]
    return (head.startswith(b"<?xml") and b"<html" not in head.lower()) or head.startswith(b"<Response")
