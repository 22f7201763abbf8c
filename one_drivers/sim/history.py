"""A VM's HISTORY records as oned keeps them: one per placement (deploy, resume, hotplug, migration).

A record opens with STIME/RSTIME when the VM starts on a host, RETIME marks the end of running there,
ESTIME/EETIME an epilog, ETIME the end of the record; the next record closes the previous one.
"""

from __future__ import annotations

from one_drivers.sim.cloud import Cloud
from one_drivers.sim.model import History, Host, Vm


def open_history(cloud: Cloud, vm: Vm, host: Host | None, ds_id: int | None = None) -> None:
    """A new record on `host` (deploy, or resume after poweroff/suspend); the previous one closes."""
    if host is None:
        return
    now = cloud.now()
    prev = vm.current
    if prev is not None:
        prev.retime = prev.retime or now
        prev.etime = prev.etime or now
    ds = ds_id if ds_id is not None else (prev.ds_id if prev else 0)
    ds_obj = cloud.datastores.get(ds)
    tm_mad = ds_obj.tm_mad if ds_obj else "ssh"
    vm.history.append(
        History(
            len(vm.history), host.name, host.id, host.cluster_id, now, host.vm_mad, tm_mad, ds, rstime=now
        )
    )


def end_running(cloud: Cloud, vm: Vm) -> None:
    """The VM stopped running on its host (RETIME); the record stays open until it moves on."""
    h = vm.current
    if h is not None and not h.retime:
        h.retime = cloud.now()


def close_history(cloud: Cloud, vm: Vm, epilog: bool) -> None:
    """The record ends (ETIME), after an epilog (ESTIME/EETIME) when the VM left the host's storage."""
    h = vm.current
    if h is None:
        return
    now = cloud.now()
    h.retime = h.retime or now
    if epilog and not h.eetime:
        h.estime = h.eetime = now
    h.etime = h.etime or now
