"""What an action handler receives: who signed, a gateway acting as them, the config.

Handlers are `handler(ctx, params) -> result`, with `params` and `result` the dicts a boto3 user sees
(input and output shapes of botocore's EC2 model); errors are raised as `query.errors.Ec2Error`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from one_drivers.econe.config import EconeConfig
from one_drivers.one.gateway import OneGateway


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    action: str
    user: str  # OpenNebula user name = access key
    user_id: int
    one: OneGateway  # acts as the signing user (server_cipher login token)
    admin: OneGateway  # the server admin itself, for lookups the user may not do
    config: EconeConfig


# Parameters and results are typed per action (types-boto3-ec2's request TypedDicts, econe/shapes.py);
# a registry of all actions can only say "the parsed parameters" and "a mapping".
Handler = Callable[[RequestContext, Any], Mapping[str, Any]]
