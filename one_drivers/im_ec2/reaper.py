"""The reaper: terminate instances tagged `ONE_ID=<id>` whose VM is DONE in this OpenNebula.

`onevm terminate` from POWEROFF/UNDEPLOYED runs no VMM action on 5.x-7.x, so the stopped instance
would be billed forever (upstream issue 1243). After a monitoring cycle the IM driver asks oned once
for the VMs that are not DONE; a tagged, still-alive instance whose VM is missing from that list is
checked individually before it is terminated, and only on proof that it is this cloud's: the VM is
DONE and its DEPLOY_ID is this instance, or it is DONE without a DEPLOY_ID and the instance's
ONE_DEPLOY_TOKEN names this VM with its STIME. Another OpenNebula bursting into the same account and
region tags its instances with its own VM ids: those fail the proof and are spared, as is an instance
whose VM this oned does not know at all (purged, or another cloud's), and any other doubt (oned
unreachable, another deploy id). An instance whose VM is alive is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from one_drivers.ec2.tags import parse_deploy_token
from one_drivers.im_ec2.instances import Instance
from one_drivers.one import records
from one_drivers.one.gateway import OneNotFoundError
from one_drivers.one.states import VmState

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

# TerminateInstances takes up to 1000 ids per request.
_BATCH = 1000


@dataclass(frozen=True)
class VmRecord:
    state: VmState
    deploy_id: str
    stime: str = ""


class VmDirectory(Protocol):
    """What the reaper asks OpenNebula (GatewayVmDirectory over OneGateway; fakes in tests)."""

    def live_vm_ids(self) -> set[int]:
        """Ids of every VM that is not DONE."""
        ...

    def vm_record(self, vm_id: int) -> VmRecord | None:
        """The VM's state and deploy id; None when oned has no such VM (purged)."""
        ...


class VmInfoSource(Protocol):
    def vmpool_info(
        self, filter_flag: int = -2, start: int = -1, end: int = -1, state: int = -1
    ) -> list[records.VmRecord]: ...

    def vm_info(self, vm_id: int, decrypt: bool = False) -> records.VmRecord: ...


class GatewayVmDirectory:
    """VmDirectory over oned's XML-RPC (`OneGateway`): one vmpool call per reap, vm.info per candidate."""

    def __init__(self, gateway: VmInfoSource) -> None:
        self.gateway = gateway

    def live_vm_ids(self) -> set[int]:
        # filter -2 = every user's VMs; state -1 = every state except DONE.
        return {vm.id for vm in self.gateway.vmpool_info(-2, -1, -1, -1)}

    def vm_record(self, vm_id: int) -> VmRecord | None:
        try:
            vm = self.gateway.vm_info(vm_id)
        except OneNotFoundError:
            return None
        return VmRecord(vm.state, vm.deploy_id.strip(), str(vm.stime))


def candidates(instances: Iterable[Instance], live_ids: set[int]) -> list[Instance]:
    """Tagged instances that can still cost money and whose VM is not among the live ones."""
    return [
        inst
        for inst in instances
        if inst.one_id is not None and inst.mapping.alive and inst.one_id not in live_ids
    ]


def should_reap(inst: Instance, record: VmRecord | None) -> bool:
    """True only on proof that the instance belongs to this cloud's DONE VM (see the module text)."""
    if record is None or record.state is not VmState.DONE:
        return False  # unknown here (purged, or another cloud's VM id), or alive
    if record.deploy_id:
        # DONE VMs keep their DEPLOY_ID: the same instance id is proof, another one is none.
        return record.deploy_id == inst.instance_id
    token = parse_deploy_token(inst.deploy_token)
    return (
        token is not None
        and token.vm_id == inst.one_id
        and bool(record.stime)
        and token.stime == record.stime
    )


def reap(
    client: EC2Client,
    host_name: str,
    instances: Iterable[Instance],
    directory: VmDirectory,
    spared: set[str] | None = None,
) -> list[str]:
    """Terminate the orphans among `instances`; return their ids. Never raises for oned trouble.

    `spared` (kept by a long-running caller) remembers the instances already found to be no orphan of
    this cloud, which stays true: they are not looked up again each pass, nor logged again.
    """
    instances = list(instances)
    if not any(i.one_id is not None and i.mapping.alive for i in instances):
        return []
    try:
        live = directory.live_vm_ids()
    except Exception as exc:
        log.warning("host %s: reaper skipped, cannot list OpenNebula VMs: %s", host_name, exc)
        return []
    doomed: list[Instance] = []
    for inst in candidates(instances, live):
        assert inst.one_id is not None
        if spared is not None and inst.instance_id in spared:
            continue
        try:
            record = directory.vm_record(inst.one_id)
        except Exception as exc:
            log.warning(
                "host %s: reaper spares %s (VM %d): %s", host_name, inst.instance_id, inst.one_id, exc
            )
            continue
        if should_reap(inst, record):
            doomed.append(inst)
        elif record is None or record.state is VmState.DONE:
            # Unknown here (oned reuses no VM id) or DONE without proof: that will not change.
            if spared is not None:
                spared.add(inst.instance_id)
            log.info(
                "host %s: reaper spares %s: VM %d is %s here and nothing proves the instance is this"
                " cloud's (terminate it by hand if it is)",
                host_name,
                inst.instance_id,
                inst.one_id,
                "unknown" if record is None else f"DONE with DEPLOY_ID {record.deploy_id or '(none)'}",
            )
    terminated: list[str] = []
    for start in range(0, len(doomed), _BATCH):
        batch = doomed[start : start + _BATCH]
        try:
            client.terminate_instances(InstanceIds=[i.instance_id for i in batch])
        except Exception as exc:
            log.error("host %s: reaper could not terminate %d instance(s): %s", host_name, len(batch), exc)
            continue
        for inst in batch:
            log.warning(
                "host %s: reaper terminated %s (%s): VM %s is DONE in OpenNebula",
                host_name,
                inst.instance_id,
                inst.state,
                inst.one_id,
            )
            terminated.append(inst.instance_id)
    return terminated
