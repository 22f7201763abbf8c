"""A tiny HTTP proxy on loopback in front of moto that injects EC2 faults, for retry and failure tests.

`FaultProxy(upstream).fail(action, times, status, code)` makes the next `times` requests of that EC2
Action answer with an EC2 error document instead of reaching moto; everything else is forwarded.
`delay[action] = seconds` holds the *answer* back after moto has processed the request (a lost or late
reply: the client times out although the action happened). `replay_client_tokens = True` makes a
RunInstances with a ClientToken seen before answer with the first answer, the instance shown terminated
(what AWS does when a token's instance has died since; moto ignores ClientToken).
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: dict[str, list[tuple[int, str]]] = {}
        self.seen: Counter[str] = Counter()
        self.delay: dict[str, float] = {}
        self.replay_client_tokens = False
        self.token_answers: dict[str, bytes] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
                form = urllib.parse.parse_qs(body.decode())
                token = form.get("ClientToken", [""])[0]
                replay = proxy.token_answers.get(token) if action == "RunInstances" and token else None
                if replay is not None and proxy.replay_client_tokens:
                    proxy._take(action)
                    dead = re.sub(
                        rb"<instanceState>.*?</instanceState>",
                        b"<instanceState><code>48</code><name>terminated</name></instanceState>",
                        replay,
                        flags=re.S,
                    )
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(dead)))
                    self.end_headers()
                    self.wfile.write(dead)
                    return
                fault = proxy._take(action)
                if fault is not None:
                    status, code = fault
                    data = ERROR_XML.format(code=code, message=f"injected {code}").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                req = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
                except urllib.error.HTTPError as err:
                    status, data, ctype = err.code, err.read(), err.headers.get("Content-Type")
                if action == "RunInstances" and token and status == 200:
                    proxy.token_answers.setdefault(token, data)
                if action in proxy.delay:
                    threading.Event().wait(proxy.delay[action])
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype or "text/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (read timeout): that is the point of the delay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, action: str, times: int, status: int = 503, code: str = "RequestLimitExceeded") -> None:
        with self._lock:
            self.faults.setdefault(action, []).extend([(status, code)] * times)

    def _take(self, action: str) -> tuple[int, str] | None:
        with self._lock:
            self.seen[action] += 1
            queue = self.faults.get(action)
            return queue.pop(0) if queue else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
