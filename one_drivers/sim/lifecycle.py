"""VM lifecycle of the simulator: oned's state machine, run from the tables of `transitions.py`.

Each request moves the VM into oned's transient LCM state and hands the work to the host's VMM driver:
`dummy` answers at once (like one_vmm_dummy), a configured program gets the real line (`DEPLOY  <id>
<base64 VMM_DRIVER_ACTION_DATA>`) and its reply is applied when it arrives, as oned does (DEPLOY
SUCCESS stores DEPLOY_ID → RUNNING, FAILURE → BOOT_FAILURE, ...). Host monitoring is `hostmon.py`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from one_drivers.mad.codec import encode_base64, format_request, parse_reply
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim import docs, scheduler
from one_drivers.sim import transitions as tables
from one_drivers.sim.cloud import ACTION, AUTHORIZATION, Cloud
from one_drivers.sim.drivers import DriverEnv, DriverError, DriverSet
from one_drivers.sim.hostmon import HostMonitor
from one_drivers.sim.model import History, Host, Vm, get_attr, get_vectors, set_attr
from one_drivers.sim.vmm_data import action_data
from one_drivers.sim.wire import OneFailure

log = logging.getLogger(__name__)

S = VmState


class Lifecycle(HostMonitor):
    """State machine + dispatch. All methods expect `cloud.lock` held (it is re-entrant)."""

    def __init__(
        self, cloud: Cloud, var_dir: Path, vmm: dict[str, str], im: dict[str, str], env: DriverEnv
    ) -> None:
        super().__init__(cloud, im, env)
        self.var_dir = var_dir
        self.vmm = DriverSet(vmm, env, self._vmm_line)
        self.pending: dict[int, str] = {}  # VM id -> the VMM action it waits for
        self._subject: dict[int, dict[str, str]] = {}  # VM id -> what its request in flight is about

    def stop_drivers(self) -> None:
        self.vmm.stop()
        self.im.stop()

    def schedule(self) -> int:
        return scheduler.schedule(self)

    # --- requests -------------------------------------------------------------------------------------------
    def check_lock(self, user_id: int, vm: Vm, op: int) -> None:
        if vm.lock is not None and op + 1 >= vm.lock.level:
            raise OneFailure(AUTHORIZATION, f"User [{user_id}] : VM is locked. [{vm.id}].")

    def action(self, vm: Vm, name: str, uid: int = 0, gid: int = 0) -> None:
        """one.vm.action: the row of VM_ACTIONS for the VM's state, else oned's error."""
        if name not in tables.VM_ACTIONS:
            raise OneFailure(ACTION, f'Action "{name}" is not supported')
        path = self._path(vm, name)
        h = vm.current
        # The open record takes the action; resume opens a new record and leaves the old one's.
        if h is not None and vm.state not in (S.PENDING, S.HOLD) and not h.etime and name != "resume":
            h.action, h.uid, h.gid = tables.ACTION_IDS[name], uid, gid
            h.request_id = self.cloud.next_request_id()
        self._run(vm, path, name)

    def allows(self, vm: Vm, name: str) -> bool:
        """Whether the request has a row for the VM's state (methods check before they change anything)."""
        return (vm.state, vm.lcm_state) in tables.REQUESTS[name]

    def request(self, vm: Vm, name: str, subject: dict[str, str] | None = None) -> None:
        """A request another method makes once it checked the VM's state (hotplug, resize, migrate...);
        `subject` is what it is about: the DISK/NIC/SNAPSHOT vector, the size before a live resize, the
        migration's target host (HID)."""
        if subject is not None:
            self._subject[vm.id] = subject
        self._run(vm, self._path(vm, name), name)

    def _path(self, vm: Vm, name: str) -> tables.Steps:
        path = tables.REQUESTS[name].get((vm.state, vm.lcm_state))
        if path is None:
            raise OneFailure(
                ACTION,
                f'Error performing action "{name}": This action is not available for state {vm.state_label}',
            )
        return path

    def _run(self, vm: Vm, path: tables.Steps, name: str) -> None:
        for op in path:
            if isinstance(op, LcmState):
                vm.set_lcm(op)
            elif isinstance(op, VmState):
                vm.set_state(op)
            elif op in tables.VMM_ACTIONS:
                self._send(vm, op)
            else:
                EFFECTS[op](self, vm, name)
        vm.touch()

    def deploy(self, vm: Vm, host: Host, ds_id: int = -1) -> None:
        """PENDING/HOLD → PROLOG → BOOT and DEPLOY to the host's VMM (RESTORE after a stop)."""
        self.open_history(vm, host, scheduler.system_ds_for(self.cloud, vm, host, ds_id))
        set_attr(vm.template, "TM_MAD_SYSTEM", vm.history[-1].tm_mad)
        path = tables.DEPLOYS[vm.resume_from]
        vm.resume_from = None
        self._run(vm, path, "deploy")

    def recover(self, vm: Vm, op: int) -> None:
        """one.vm.recover (`op` checked by the method): 0 failure, 1 success, 2 retry, 3 delete,
        4 delete-recreate, 5 delete-db, as DispatchManager and LifeCycleManager take them."""
        if vm.state == S.DONE and op in (3, 4, 5):
            if op == 4:
                raise OneFailure(ACTION, "Cannot delete-recreate a VM already in DONE state")
            return  # delete and delete-db of a DONE VM succeed and do nothing
        if op == 3:
            self._run(vm, tables.DELETE if vm.state == S.ACTIVE else tables.DELETE_AT_REST, "delete")
        elif op == 5:  # delete-db: the VM ends, nothing is asked of the drivers
            self._run(vm, tables.DELETE_DB, "delete")
        elif op == 4:  # a VM already being cleaned up for it is resubmitted at once
            resubmit = vm.state == S.ACTIVE and vm.lcm_state == LcmState.CLEANUP_RESUBMIT
            self._run(
                vm, tables.RESUBMIT if resubmit else tables.RECREATE.get(vm.state, ()), "delete-recreate"
            )
        elif vm.state != S.ACTIVE:
            verb = "a retry" if op == 2 else "a recover operation"
            raise OneFailure(ACTION, f"Could not perform {verb} on VM {vm.id}, wrong state {vm.state_label}.")
        elif op == 2:
            if (vm.state, vm.lcm_state) in tables.REQUESTS["retry"]:
                self.request(vm, "retry")
        elif vm.lcm_state in tables.RECOVER_DIRECT:
            self._run(vm, tables.RECOVER_DIRECT[vm.lcm_state], "recover")
        elif vm.lcm_state in tables.RECOVER_AS:
            action = tables.RECOVER_AS[vm.lcm_state]
            if action == "SNAPSHOT":
                active = [v for v in get_vectors(vm.template, "SNAPSHOT") if v.get("ACTIVE") == "YES"]
                action += active[0].get("ACTION", "") if active else ""
            if op == 1 and action == "DEPLOY" and not vm.deploy_id:
                vm.deploy_id = f"one-{vm.id}"  # oned makes one up for a boot declared successful
            if op == 1 and action == "SNAPSHOTCREATE" and vm.id in self._subject:
                subject = self._subject[vm.id]  # update_snapshot_id: the hypervisor id is the snapshot's own
                subject["HYPERVISOR_ID"] = subject.get("SNAPSHOT_ID", "")
            self.pending.pop(vm.id, None)
            if (action, vm.lcm_state) in tables.REPLIES:
                self._run(vm, tables.REPLIES[(action, vm.lcm_state)][op == 0], "recover")
        vm.touch()

    def state_seen(self, vm: Vm, state: str) -> None:
        path = tables.SEEN.get(((vm.state, vm.lcm_state), state))
        if path is not None:
            self._run(vm, path, "monitor")

    def host_of(self, vm: Vm) -> Host | None:
        """The host of the VM's open history record."""
        return self.cloud.hosts.get(vm.current.hid) if vm.current else None

    # --- HISTORY records: one per placement (deploy, resume, hotplug, migration) -----------------------
    # A record opens with STIME/RSTIME when the VM starts on a host, RETIME marks the end of running there,
    # ESTIME/EETIME an epilog, ETIME the end of the record; the next record closes the previous one.
    def open_history(
        self, vm: Vm, host: Host | None, ds_id: int | None = None, close_previous: bool = True
    ) -> None:
        if host is None:
            return
        now, prev = self.cloud.now(), vm.current
        if close_previous:
            self.on_record(vm, "", ends=("retime", "etime"))
        ds = ds_id if ds_id is not None else (prev.ds_id if prev else 0)
        ds_obj = self.cloud.datastores.get(ds)
        tm_mad = ds_obj.tm_mad if ds_obj else "ssh"
        record = History(len(vm.history), host.name, host.id, host.cluster_id, now, host.vm_mad, tm_mad, ds)
        record.rstime = now
        vm.history.append(record)

    def fx_open_history(self, vm: Vm, name: str) -> None:
        """Back on the host of the open record (a resume from POWEROFF or SUSPENDED)."""
        host = self.host_of(vm)
        if host is None:
            raise OneFailure(ACTION, "Could not get host of the VM")
        self.open_history(vm, host)

    def fx_reopen_history(self, vm: Vm, name: str) -> None:
        """A disk/NIC hotplug on a running VM closes its history record with that action and opens the
        next one on the same host (seen on 6.10.5: records 5-8 of the recorded vm0)."""
        if vm.current is not None:
            self.fx_stamp(vm, name)
            self.open_history(vm, self.host_of(vm))

    def fx_migration_record(self, vm: Vm, name: str) -> None:
        """The record on the host the request names (its subject's HID), the source's staying open until
        the VM has left it (the request's add_history)."""
        target = self.cloud.hosts.get(int(self._subject.pop(vm.id, {}).get("HID", -1)))
        self.open_history(vm, target, close_previous=False)

    def fx_source_ended(self, vm: Vm, name: str) -> None:
        """The VM left the source: its record ends (set_previous_etime, set_previous_running_etime)."""
        if len(vm.history) > 1:
            source, now = vm.history[-2], self.cloud.now()
            source.etime, source.retime = source.etime or now, source.retime or now

    def fx_migration_failed(self, vm: Vm, name: str) -> None:
        """The target's record ends, the source's too, and a copy of the source's goes on (cp_previous_history)."""
        if len(vm.history) > 1:
            target, source = vm.history[-1], vm.history[-2]
            target.etime = target.etime or self.cloud.now()
            self.fx_source_ended(vm, name)
            self.open_history(vm, self.cloud.hosts.get(source.hid), source.ds_id, close_previous=False)

    def on_record(self, vm: Vm, name: str, ends: tuple[str, ...] = (), **values: int) -> None:
        """A step on the open record: those of its `ends` times not set yet become now, `values` are set."""
        h = vm.current
        for field in ends if h is not None else ():
            setattr(h, field, getattr(h, field) or self.cloud.now())
        for field, value in values.items() if h is not None else ():
            setattr(h, field, value)

    def fx_stamp(self, vm: Vm, name: str) -> None:
        """The open history record takes the request's action."""
        if vm.current is not None:
            vm.current.action = tables.ACTION_IDS[name]

    def fx_prolog_times(self, vm: Vm, name: str) -> None:
        if vm.current is not None:
            vm.current.pstime = vm.current.petime = self.cloud.now()

    # --- other side effects named in the tables -------------------------------------------------------------
    def fx_release(self, vm: Vm, name: str) -> None:
        """A DONE VM: ETIME, its VNC port and resources freed, nothing waited for."""
        vm.etime = self.cloud.now()
        for key, value in vm.template:
            if key == "GRAPHICS" and isinstance(value, dict):
                value.pop("PORT", None)
        self.cloud.release_resources(vm)
        self.pending.pop(vm.id, None)

    def fx_resume_later(self, vm: Vm, name: str) -> None:
        vm.resume_from = vm.state

    def fx_resched(self, vm: Vm, name: str) -> None:
        vm.resched = 1

    def fx_unresched(self, vm: Vm, name: str) -> None:
        vm.resched = 0

    def fx_log_active(self, vm: Vm, name: str) -> None:
        vm.state_log.append("New state is ACTIVE")

    def fx_driver_cancel(self, vm: Vm, name: str) -> None:
        """DRIVER_CANCEL: the host's driver drops what it does for the VM (no reply comes)."""
        host = self.host_of(vm)
        proc = self.vmm.get(host.vm_mad) if host else None
        if proc is not None:
            proc.send(format_request("DRIVER_CANCEL", vm.id))

    def fx_shutdown_again(self, vm: Vm, name: str) -> None:
        """retry in SHUTDOWN*: SHUTDOWN again after a terminate, else CANCEL (after poweroff and undeploy
        too: LifeCycleManager::retry re-sends SHUTDOWN for TERMINATE_ACTION only)."""
        terminate = vm.current is not None and vm.current.action == tables.ACTION_IDS["terminate"]
        self._send(vm, "SHUTDOWN" if terminate else "CANCEL")

    def fx_cloud_cleanup(self, vm: Vm, name: str) -> None:
        """delete_vm of a VM at rest: a public cloud host still holds the instance, its driver gets CLEANUP."""
        host = self.host_of(vm)
        if host is not None and (get_attr(host.template, "PUBLIC_CLOUD") or "").upper() == "YES":
            self._send(vm, "CLEANUP")

    def fx_vm_etime(self, vm: Vm, name: str) -> None:
        """clean_up_vm ends the VM's time (ETIME) if it had not ended; a resubmitted VM keeps it."""
        vm.etime = vm.etime or self.cloud.now()

    def fx_resubmitted(self, vm: Vm, name: str) -> None:
        """DispatchManager::resubmit: back to PENDING without a deploy id."""
        vm.deploy_id = ""

    def fx_attach(self, vm: Vm, name: str) -> None:
        """The new vector joins the VM's template before any driver sees it."""
        vm.template.append((name.split("-")[0].upper(), self._subject[vm.id]))

    def fx_snap_active(self, vm: Vm, name: str) -> None:
        """The snapshot is marked with what is done to it (snapshot-create -> ACTION=CREATE...)."""
        self._subject[vm.id].update(ACTIVE="YES", ACTION=name.removeprefix("snapshot-").upper())

    def fx_done(self, vm: Vm, name: str) -> None:
        """The request is over: its subject is forgotten (a snapshot loses its ACTIVE and ACTION marks)."""
        subject = self._subject.pop(vm.id, {})
        for mark in ("ACTIVE", "ACTION"):
            subject.pop(mark, None)

    def fx_detach(self, vm: Vm, name: str) -> None:
        """The subject leaves the template, with its image (a disk) or its lease (a NIC)."""
        vec = self._subject.pop(vm.id, {})
        vm.template[:] = [(k, v) for k, v in vm.template if v is not vec]
        image = self.cloud.images.get(int(vec["IMAGE_ID"])) if vec.get("IMAGE_ID", "").isdigit() else None
        if image is not None:
            self.cloud.image_store.release(image, vm.id)
        vnet = self.cloud.vnets.get(int(vec["NETWORK_ID"])) if vec.get("NETWORK_ID", "").isdigit() else None
        for rng in vnet.ars if vnet is not None else []:
            for offset in [
                o for o, v in rng.leases.items() if v == vm.id and docs.offset_ip(rng.ip, o) == vec.get("IP")
            ]:
                del rng.leases[offset]

    def fx_resize_back(self, vm: Vm, name: str) -> None:
        for key, value in self._subject.pop(vm.id, {}).items():
            set_attr(vm.template, key, value)

    def fx_dummy_monitor(self, vm: Vm, name: str) -> None:
        """What the dummy host agent reports for a VM it runs (MONITOR_VM), at once rather than in 30 s."""
        host = self.host_of(vm)
        if host is None or host.im_mad != "dummy":
            return
        # MEMORY is a positive integer: allocate and resize refuse anything else.
        now, memory_kb = self.cloud.now(), int(float(get_attr(vm.template, "MEMORY") or 0) * 1024 * 0.6)
        values = {"CPU": "0", "DISKRDBYTES": "0", "DISKRDIOPS": "0", "DISKWRBYTES": "0", "DISKWRIOPS": "0",
                  "ID": str(vm.id), "MEMORY": str(memory_kb), "NETRX": "0", "NETTX": "0", "TIMESTAMP": str(now)}  # fmt: skip
        vm.monitoring = list(values.items())
        vm.last_poll = now

    # --- the VMM driver -------------------------------------------------------------------------------
    def _send(self, vm: Vm, action: str) -> None:
        """The action to the host's VMM driver; a dummy host answers at once, a driver that cannot be
        reached is a FAILURE reply."""
        host = self.host_of(vm)
        if host is not None and host.vm_mad == "dummy":
            info = {"DEPLOY": f"{host.name}:{vm.name}:dummy", "SNAPSHOTCREATE": "dummy-snap"}.get(action, "-")
            self.vmm_reply(action, vm.id, True, info)
            return
        try:
            if host is None:
                raise DriverError("No host for the VM")
            proc = self.vmm.get(host.vm_mad)
            if proc is None:
                raise DriverError(f"Cannot find VMM driver {host.vm_mad}")
            # A migration's SAVE and MIGRATE go to the source (the previous record's host), through the
            # driver of the open record (VirtualMachineManager::trigger_save/trigger_migrate).
            moving = action == "MIGRATE" or (action == "SAVE" and vm.lcm_state == LcmState.SAVE_MIGRATE)
            source = self.cloud.hosts.get(vm.history[-2].hid) if moving and len(vm.history) > 1 else None
            migr_host = host.name if action == "MIGRATE" else ""
            payload = action_data(self.cloud, self.var_dir, vm, source or host, action, migr_host)
            self.pending[vm.id] = action
            proc.send(format_request(action, vm.id, encode_base64(payload)))
        except DriverError as exc:
            self.vmm_reply(action, vm.id, False, str(exc))

    def _vmm_line(self, line: str) -> None:
        reply = parse_reply(line)
        if reply is None:
            log.info("vmm: %s", line[:300])  # LOG lines and anything oned would not read as a reply
            return
        try:
            vm_id = int(reply.oid)
        except ValueError:
            log.warning("vmm: reply without a VM id: %r", line[:200])
            return
        with self.cloud.lock:
            self.vmm_reply(reply.action, vm_id, reply.success, reply.info)
            self.on_change()

    def vmm_reply(self, action: str, vm_id: int, ok: bool, info: str) -> None:
        """A VMM reply as oned takes it: ignored for a VM not ACTIVE or in a state that waits for
        something else, else the (action, LCM state) row of tables.REPLIES for the result."""
        vm = self.cloud.vms.get(vm_id)
        if vm is None:
            return
        if self.pending.get(vm_id) == action:  # a late answer to an overridden action leaves the wait
            del self.pending[vm_id]
        if vm.state != S.ACTIVE:
            log.info("VM %d: %s reply ignored in state %s", vm_id, action, vm.state_label)
            return
        if ok and action == "DEPLOY" and not info.split():
            ok = False  # "Empty deploy ID for virtual machine"
        elif ok and action == "DEPLOY":
            vm.deploy_id = info.split()[0]
        if ok and action == "SNAPSHOTCREATE" and vm.id in self._subject:
            self._subject[vm.id]["HYPERVISOR_ID"] = info
        if not ok:
            log.info("VM %d: %s FAILURE: %s", vm_id, action, info)
            if info and not info.startswith("-"):  # VirtualMachineManager::log_error
                stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self.cloud.now()))
                set_attr(vm.user_template, "ERROR", f"{stamp}: {action}: {info}")
        row = tables.REPLIES.get((action, vm.lcm_state))
        if row is None:
            log.warning("VM %d: %s reply in a wrong state %s", vm_id, action, vm.state_label)
            return
        self._run(vm, row[0] if ok else row[1], action)


# The side effects the tables name, by name: Lifecycle.fx_<name>, and the steps on the open HISTORY record.
EFFECTS: dict[str, Callable[[Lifecycle, Vm, str], None]] = {
    **{name.removeprefix("fx_"): fx for name, fx in vars(Lifecycle).items() if name.startswith("fx_")},
    # The VM stopped running on its host (RETIME); the record stays open until it moves on.
    "end_running": partial(Lifecycle.on_record, ends=("retime",)),
    # The record ends (ETIME), after an epilog (ESTIME/EETIME) when the VM left the host's storage.
    "close_record": partial(Lifecycle.on_record, ends=("retime", "etime")),
    "close_epilog": partial(Lifecycle.on_record, ends=("retime", "estime", "eetime", "etime")),
    # deploy_success: the record is open and running again (a failed boot had ended it).
    "running_again": partial(Lifecycle.on_record, etime=0, retime=0),
    # poweroff/suspend_success after a migration's prolog: the new record ends its running time unrun.
    "never_ran": partial(Lifecycle.on_record, ends=("retime",), rstime=0),
    # VirtualMachine::clear_action: the open record no longer names an action (nor its requester).
    "clear_action": partial(Lifecycle.on_record, action=0, uid=-1, gid=-1, request_id=-1),
    "delete_action": partial(Lifecycle.on_record, action=tables.ACTION_IDS["delete"]),
    "recreate_action": partial(Lifecycle.on_record, action=tables.ACTION_IDS["delete-recreate"]),
}
