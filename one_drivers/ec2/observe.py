"""Counting what a boto3 client does, for the drivers' metrics: calls, throttled answers and resends.

botocore announces each attempt (`response-received`, with the retry attempt number in the request
context) and each call's end (`after-call`, `after-call-error` when no answer came); we listen on the
client's own event system, so nothing is wrapped and retries stay botocore's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from one_drivers.ec2.errors import THROTTLING_CODES

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_ec2 import EC2Client


class Ec2CallObserver(Protocol):
    def ec2_call(self, operation: str, ok: bool) -> None: ...

    def ec2_attempt(self, operation: str, throttled: bool, retry: bool) -> None: ...


def _operation(event_name: str) -> str:
    return event_name.rsplit(".", 1)[-1]


def watch_client(client: EC2Client | CloudWatchClient, observer: Ec2CallObserver) -> None:
    """Report every call and attempt of `client` (EC2 or CloudWatch) to `observer`."""

    def attempted(event_name: str, parsed_response: Any = None, context: Any = None, **_: Any) -> None:
        code = ""
        if isinstance(parsed_response, dict):
            code = str(parsed_response.get("Error", {}).get("Code", ""))
        attempt = int(((context or {}).get("retries") or {}).get("attempt", 1))
        observer.ec2_attempt(_operation(event_name), code in THROTTLING_CODES, attempt > 1)

    def called(event_name: str, http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", 500)
        observer.ec2_call(_operation(event_name), status < 300)

    def failed(event_name: str, **_: Any) -> None:
        observer.ec2_call(_operation(event_name), False)

    events = client.meta.events
    events.register("response-received", attempted)
    events.register("after-call", called)
    events.register("after-call-error", failed)
