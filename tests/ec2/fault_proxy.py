"""An HTTP proxy on loopback in front of moto that injects the faults a real EC2 endpoint produces.

Faults, each per EC2 Action (or every action with `action=None`):
- `fail(action, times, status, code, body, after)`: the next `times` requests (after letting `after`
  through) get an error instead of moto; `body` is "xml" (EC2's error document), "html" (a load
  balancer's page) or "text" (plain text).
- `throttle(rate, ...)`: that fraction of requests, at random (seeded), gets a throttling error.
- `token_bucket(action, size, refill)`: AWS's request-rate limit: each request takes a token from a
  bucket of `size` refilled at `refill` per second; an empty bucket answers 503 RequestLimitExceeded.
- `reset(action, times)`: the connection is reset before the request reaches moto (nothing happened).
- `lose_reply(action, times)`: moto executes the request, then the connection is reset (it happened,
  the client cannot know).
- `delay[action] = seconds`: the answer is held back after moto processed the request (late reply).
- `down(seconds)`: every connection is reset for a window (the endpoint is unreachable).
`replay_client_tokens = True` makes a RunInstances with a ClientToken seen before answer with the first
answer, the instance shown terminated (AWS, when a token's instance has died since; moto ignores
ClientToken). `seen` counts requests per action, `forwarded` those that reached moto; with
`record_forms = True`, `forms` keeps every request's decoded form (which filters a lookup used).
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
ERROR_HTML = (
    "<html><head><title>{status} Service Unavailable</title></head><body><h1>{status} Service "
    "Unavailable</h1><p>{code}</p></body></html>"
)
ERROR_TEXT = "{status} Service Unavailable: {code}\n"
BODIES = {
    "xml": (ERROR_XML, "text/xml"),
    "html": (ERROR_HTML, "text/html"),
    "text": (ERROR_TEXT, "text/plain"),
}
ANY = "*"  # the key of faults that apply to every action

Fault = tuple[int, str, str]  # status, code, body kind


class TokenBucket:
    """AWS's request-rate limit: `size` tokens, `refill` more per second, one per request."""

    def __init__(self, size: int, refill: float) -> None:
        self.size = size
        self.refill = refill
        self.tokens = float(size)
        self.stamp = time.monotonic()
        self.granted = 0
        self.refused = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.size), self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.granted += 1
            return True
        self.refused += 1
        return False

    def minimum_seconds(self, requests: int) -> float:
        """The least time `requests` requests can take through a full bucket."""
        return max(0.0, (requests - self.size) / self.refill)


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: dict[str, list[Fault]] = {}
        self.resets: Counter[str] = Counter()
        self.pass_first: Counter[str] = Counter()  # requests let through before `faults` apply
        self.lost: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.delay: dict[str, float] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.throttle_rate = 0.0
        self.throttle_actions: frozenset[str] | None = None
        self.throttle_statuses: tuple[int, ...] = (503,)
        self.throttle_bodies: tuple[str, ...] = ("xml",)
        self.down_until = 0.0
        self.replay_client_tokens = False
        self.record_forms = False
        self.forms: list[dict[str, list[str]]] = []
        self.token_answers: dict[str, bytes] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = urllib.parse.parse_qs(body.decode())
                action = form.get("Action", [""])[0]
                token = form.get("ClientToken", [""])[0]
                if proxy.record_forms:
                    with proxy._lock:
                        proxy.forms.append(form)
                decision = proxy._decide(action, token)
                if decision == "reset":
                    self._reset()
                    return
                if isinstance(decision, tuple):
                    status, code, kind = decision
                    template, ctype = BODIES[kind]
                    data = template.format(status=status, code=code, message=f"injected {code}").encode()
                    self._answer(status, ctype, data)
                    return
                if decision == "replay":
                    dead = re.sub(
                        rb"<instanceState>.*?</instanceState>",
                        b"<instanceState><code>48</code><name>terminated</name></instanceState>",
                        proxy.token_answers[token],
                        flags=re.S,
                    )
                    self._answer(200, "text/xml", dead)
                    return
                status, ctype, data = proxy._forward(self.path, body, dict(self.headers.items()))
                with proxy._lock:
                    proxy.forwarded[action] += 1
                    if action == "RunInstances" and token and status == 200:
                        proxy.token_answers.setdefault(token, data)
                    lose = proxy._pop_count(proxy.lost, action)
                if lose:
                    self._reset()  # moto did it; the client never hears
                    return
                if action in proxy.delay:
                    threading.Event().wait(proxy.delay[action])
                self._answer(status, ctype, data)

            def _answer(self, status: int, ctype: str, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (read timeout): that is the point of a delay

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST instead of FIN, as a dropped connection does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256  # a burst of clients must queue, not be refused
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # --- faults ----------------------------------------------------------------------------------
    def fail(
        self,
        action: str | None,
        times: int,
        status: int = 503,
        code: str = "RequestLimitExceeded",
        body: str = "xml",
        after: int = 0,
    ) -> None:
        with self._lock:
            self.faults.setdefault(action or ANY, []).extend([(status, code, body)] * times)
            self.pass_first[action or ANY] += after

    def throttle(
        self,
        rate: float,
        actions: list[str] | None = None,
        statuses: tuple[int, ...] = (503,),
        bodies: tuple[str, ...] = ("xml",),
    ) -> None:
        """Answer `rate` of the requests (of `actions`, else all) with a throttling error."""
        with self._lock:
            self.throttle_rate = rate
            self.throttle_actions = frozenset(actions) if actions else None
            self.throttle_statuses = statuses
            self.throttle_bodies = bodies

    def token_bucket(self, action: str, size: int, refill: float) -> TokenBucket:
        bucket = TokenBucket(size, refill)
        with self._lock:
            self.buckets[action] = bucket
        return bucket

    def reset(self, action: str | None, times: int) -> None:
        with self._lock:
            self.resets[action or ANY] += times

    def lose_reply(self, action: str | None, times: int) -> None:
        with self._lock:
            self.lost[action or ANY] += times

    def down(self, seconds: float) -> None:
        with self._lock:
            self.down_until = time.monotonic() + seconds

    # --- the request path ------------------------------------------------------------------------
    def _pop_count(self, counts: Counter[str], action: str) -> bool:
        for key in (action, ANY):
            if counts[key] > 0:
                counts[key] -= 1
                return True
        return False

    def _decide(self, action: str, token: str) -> str | Fault | None:
        with self._lock:
            self.seen[action] += 1
            if time.monotonic() < self.down_until or self._pop_count(self.resets, action):
                self.injected["reset"] += 1
                return "reset"
            if action == "RunInstances" and token in self.token_answers and self.replay_client_tokens:
                return "replay"
            for key in (action, ANY):
                queue = self.faults.get(key)
                if queue and self.pass_first[key] > 0:
                    self.pass_first[key] -= 1
                elif queue:
                    self.injected[queue[0][1]] += 1
                    return queue.pop(0)
            bucket = self.buckets.get(action)
            if bucket is not None and not bucket.take():
                self.injected["RequestLimitExceeded"] += 1
                return (503, "RequestLimitExceeded", "xml")
            throttled = self.throttle_actions is None or action in self.throttle_actions
            if throttled and self.throttle_rate and self._random.random() < self.throttle_rate:
                status = self._random.choice(self.throttle_statuses)
                # EC2's 400 throttle is known by its code only, so it always travels as EC2's XML.
                kind = "xml" if status == 400 else self._random.choice(self.throttle_bodies)
                code = "Throttling" if status == 429 else "RequestLimitExceeded"
                self.injected[f"throttle-{status}-{kind}"] += 1
                return (status, code, kind)
            return None

    def _forward(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        kept = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.upstream + path, data=body, headers=kept)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers.get("Content-Type") or "text/xml", resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type") or "text/xml", err.read()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
