"""The simulator's scheduler (mm_sched reduced): PENDING VMs go to the first monitored host that matches.

A VM's SCHED_REQUIREMENTS and AUTOMATIC_REQUIREMENTS are evaluated (requirements.py) over the host's
ID, NAME, CLUSTER_ID, CLUSTER and TEMPLATE; the system datastore is the first of the host's cluster
that SCHED_DS_REQUIREMENTS accepts. A VM no host takes gets mm_sched's SCHED_MESSAGE.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from one_drivers.one.states import HostState, VmState
from one_drivers.sim.cloud import Cloud
from one_drivers.sim.model import Host, Vm, get_attr, set_attr
from one_drivers.sim.requirements import RequirementError, evaluate

if TYPE_CHECKING:
    from one_drivers.sim.lifecycle import Lifecycle


def host_attrs(host: Host) -> dict[str, str]:
    attrs = {k: v for k, v in host.template if isinstance(v, str)}
    attrs.update(
        {"ID": str(host.id), "NAME": host.name, "CLUSTER_ID": str(host.cluster_id), "CLUSTER": host.cluster}
    )
    return attrs


def system_ds_for(cloud: Cloud, vm: Vm, host: Host, ds_id: int = -1) -> int:
    if ds_id >= 0:
        return ds_id
    req = get_attr(vm.user_template, "SCHED_DS_REQUIREMENTS") or ""
    for ds in sorted(cloud.datastores.values(), key=lambda d: d.id):
        if ds.type != 1 or host.cluster_id not in ds.cluster_ids:
            continue
        try:
            if evaluate(req, {"ID": str(ds.id), "NAME": ds.name, "TM_MAD": ds.tm_mad}):
                return ds.id
        except RequirementError:
            return ds.id
    return 0


def host_requirements(vm: Vm) -> str:
    """What mm_sched evaluates on each host: AUTOMATIC_REQUIREMENTS & ( SCHED_REQUIREMENTS ) (VirtualMachineXML)."""
    auto = get_attr(vm.template, "AUTOMATIC_REQUIREMENTS") or ""
    user = get_attr(vm.user_template, "SCHED_REQUIREMENTS")
    if user is None:
        return auto
    return f"{auto} & ( {user} )" if auto else user


def _first_host(vm: Vm, hosts: list[Host], now: int) -> Host | None:
    """The first host the VM's requirements accept; else the VM's SCHED_MESSAGE says why, stamped as
    VirtualMachineXML::log stamps it (a requirement that cannot be read is the error of the evaluation)."""
    reqs = host_requirements(vm)
    try:
        host = next((h for h in hosts if not reqs or evaluate(reqs, host_attrs(h))), None)
    except RequirementError as exc:
        why = f"Error in SCHED_REQUIREMENTS: '{reqs}', error: {exc}"
    else:
        if host is not None:
            return host
        why = f"Cannot dispatch VM: No host meets capacity and SCHED_REQUIREMENTS: {reqs}"
    set_attr(vm.user_template, "SCHED_MESSAGE", f"{time.ctime(now)}: {why}")
    vm.touch()
    return None


def schedule(lc: Lifecycle) -> int:
    """One pass: deploy PENDING VMs to enabled, monitored hosts that match; returns how many."""
    hosts = sorted((h for h in lc.cloud.hosts.values() if h.state == HostState.MONITORED), key=lambda h: h.id)
    if not hosts:
        return 0
    deployed = 0
    for vm in sorted((v for v in lc.cloud.vms.values() if v.state == VmState.PENDING), key=lambda v: v.id):
        chosen = _first_host(vm, hosts, lc.cloud.now())
        if chosen is not None:
            vm.user_template[:] = [(k, v) for k, v in vm.user_template if k != "SCHED_MESSAGE"]
            lc.deploy(vm, chosen)
            deployed += 1
    return deployed
