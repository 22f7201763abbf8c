"""Host setup as an administrator lives it: a host created before its credentials, and precise errors.

`explain(exc, host, settings)` turns a failed monitoring cycle into a `HostCondition`: WAITING (no EC2
credentials anywhere yet: not an error, report nothing), or a problem that says which (credentials
rejected, no permission, endpoint unreachable, unknown region) and what to fix. `TemplateWatch` re-reads
the EC2 attributes of one host with a single `host.info`, so a fix made with `onehost update` is seen
within seconds instead of after the credentials cache or oned's monitoring interval.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from one_drivers.ec2.clients import Ec2Settings, host_template_attributes, known_region
from one_drivers.ec2.errors import ErrorKind, classify, describe, error_code
from one_drivers.one.records import HostRecord

log = logging.getLogger(__name__)

# The host attributes the drivers resolve a host's EC2 access from (see ec2/clients.py).
EC2_ATTRIBUTES = ("EC2_ACCESS", "EC2_SECRET", "REGION_NAME", "EC2_ENDPOINT", "EC2_PROFILE", "CAPACITY")

# Codes an EC2 endpoint answers when it does not accept the key pair itself (AWS, moto, OpenStack).
REJECTED_CODES = frozenset(
    {
        "AuthFailure",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AuthFailure.ServiceLinkedRoleCreationNotPermitted",
        "OptInRequired",
        "Blocked",
    }
)
PERMISSION_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})


class Condition(enum.Enum):
    WAITING = "waiting"  # no credentials yet: the host stays INIT, nothing is reported
    REJECTED = "credentials rejected"
    PERMISSION = "permission denied"
    UNREACHABLE = "endpoint unreachable"
    REGION = "unknown region"
    OTHER = "error"


@dataclass(frozen=True)
class HostCondition:
    condition: Condition
    text: str  # one line for oned's host ERROR (or the log, while waiting)

    @property
    def waiting(self) -> bool:
        return self.condition is Condition.WAITING


def _is_no_credentials(exc: BaseException) -> bool:
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    return isinstance(exc, NoCredentialsError | PartialCredentialsError)


def _fix_keys(host: str, source: str) -> str:
    if source.startswith("config"):
        return f"fix access_key_id/secret_access_key under {source} in ec2_driver.conf and restart the driver"
    return f"set EC2_ACCESS and EC2_SECRET with `onehost update {host}`"


def explain(exc: BaseException, host: str, settings: Ec2Settings | None) -> HostCondition:
    """What a failed cycle means for the host's setup, in words an administrator can act on."""
    sources = dict(settings.sources) if settings is not None else {}
    keys_from = sources.get("credentials", "boto3 default chain")
    if _is_no_credentials(exc):
        return HostCondition(
            Condition.WAITING,
            f"waiting for EC2 credentials: {_fix_keys(host, 'host template')} "
            "(or access_key_id/secret_access_key under regions: in ec2_driver.conf)",
        )
    kind = classify(exc)
    code = error_code(exc)
    if code in REJECTED_CODES:
        return HostCondition(
            Condition.REJECTED,
            f"EC2 rejected the credentials (from {keys_from}): {describe(exc)}; {_fix_keys(host, keys_from)}",
        )
    if code in PERMISSION_CODES:
        return HostCondition(
            Condition.PERMISSION,
            f"the credentials (from {keys_from}) may not list instances: {describe(exc)}; "
            "allow ec2:DescribeInstances and ec2:DescribeInstanceTypes to that IAM identity",
        )
    if kind is ErrorKind.UNAVAILABLE:
        endpoint = settings.endpoint_url if settings is not None else None
        if settings is not None and endpoint is None and not known_region(settings.region_name):
            return HostCondition(
                Condition.REGION,
                f"unknown EC2 region {settings.region_name!r} "
                f"(REGION_NAME from {sources.get('region_name', 'default')}): "
                f"set REGION_NAME to an EC2 region such as us-east-1 with `onehost update {host}`, "
                "or EC2_ENDPOINT for a private EC2 cloud",
            )
        if endpoint is not None:
            where = endpoint
        elif settings is not None:
            where = f"the AWS endpoint of region {settings.region_name}"
        else:
            where = "the EC2 endpoint"
        from_text = f" (EC2_ENDPOINT from {sources['endpoint_url']})" if "endpoint_url" in sources else ""
        return HostCondition(
            Condition.UNREACHABLE,
            f"cannot reach {where}{from_text}: {describe(exc)}; check EC2_ENDPOINT/REGION_NAME "
            f"(`onehost update {host}`), the network and proxy_uri in ec2_driver.conf",
        )
    if isinstance(exc, ValueError):
        return HostCondition(Condition.OTHER, str(exc))
    return HostCondition(Condition.OTHER, describe(exc))


class HostTemplateReader(Protocol):
    def host_info(self, host_id: int, decrypt: bool = False) -> HostRecord: ...


def _gateway_from_env() -> HostTemplateReader:
    from one_drivers.one.gateway import OneGateway

    return OneGateway.from_env()


class TemplateWatch:
    """Fingerprints of the EC2 attributes of hosts, read with one `host.info` (decrypted) each.

    `changed(host_id)` is True when the attributes differ from the previous read, or there was none
    (so a change made between a failed cycle and the first read is not missed). Values are hashed at
    once: secrets are never kept or logged.
    """

    def __init__(self, oned: Callable[[], HostTemplateReader] | None = None) -> None:
        self._oned_factory = oned or _gateway_from_env
        self._oned: HostTemplateReader | None = None
        self._seen: dict[int, str] = {}
        self._lock = threading.Lock()

    def fingerprint(self, host_id: int) -> str | None:
        try:
            if self._oned is None:
                self._oned = self._oned_factory()
            attrs = host_template_attributes(self._oned.host_info(host_id, True))
        except Exception as exc:  # oned restarting, no ONE_AUTH: try again at the next read
            log.info("host %d: cannot read the host template (%s: %s)", host_id, type(exc).__name__, exc)
            self._oned = None
            return None
        digest = hashlib.sha256()
        for name in EC2_ATTRIBUTES:
            digest.update(f"{name}={attrs.get(name)!r}\n".encode())
        return digest.hexdigest()

    def changed(self, host_id: int) -> bool:
        found = self.fingerprint(host_id)
        if found is None:
            return False
        with self._lock:
            before = self._seen.get(host_id)
            self._seen[host_id] = found
        return before != found

    def forget(self, host_id: int) -> None:
        with self._lock:
            self._seen.pop(host_id, None)
