"""The tags the drivers put on the instances they launch.

The VMM driver sets them in RunInstances itself; the IM driver reads them back to match instances to
VMs and, before its reaper terminates anything, to tell this cloud's instances from another's.

    ONE_ID=<vm id>                         which VM the instance runs
    ONE_DEPLOY_TOKEN=one-<vm>-<stime>-<n>  which deployment of which VM (also the ClientToken)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ONE_ID_TAG = "ONE_ID"
DEPLOY_TOKEN_TAG = "ONE_DEPLOY_TOKEN"

_TOKEN = re.compile(r"one-([0-9]+)-([0-9]+)-([0-9]+)", re.ASCII)


@dataclass(frozen=True)
class DeployToken:
    vm_id: int
    stime: str  # the VM's STIME as oned wrote it ('0' when the document had none)
    seq: int


def deploy_token(vm_id: int, stime: str, seq: int) -> str:
    """ClientToken for the seq-th deployment of a VM: stable across re-sent DEPLOYs, new per deploy.

    STIME (the VM's creation time) keeps tokens distinct if VM ids restart after a database reset, and
    lets the reaper check that a DONE VM of this cloud is the one that launched the instance.
    """
    return f"{deploy_token_prefix(vm_id, stime)}{seq}"


def deploy_token_prefix(vm_id: int, stime: str) -> str:
    """What every deploy token of this VM starts with, whatever its seq (CLEANUP finds by it what a
    failed DEPLOY launched)."""
    return f"one-{vm_id}-{stime or '0'}-"


def parse_deploy_token(text: str) -> DeployToken | None:
    """The parts of a token written by `deploy_token`; None for anything else."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        return None
    return DeployToken(int(match.group(1)), match.group(2), int(match.group(3)))
