"""VM lifecycle, scheduler and driver dispatch of the simulator, with oned's state numbers.

Each user action moves the VM into oned's transient LCM state and hands the work to the host's VMM
driver: `dummy` answers at once (like one_vmm_dummy), a configured program gets the real line
(`DEPLOY  <id> <base64 VMM_DRIVER_ACTION_DATA>`) and its reply is applied when it arrives, exactly
as oned does (DEPLOY SUCCESS stores DEPLOY_ID → RUNNING, FAILURE → BOOT_FAILURE, ...).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from one_drivers.mad.codec import format_request, parse_reply
from one_drivers.one.states import HostState, LcmState, VmState
from one_drivers.sim import docs
from one_drivers.sim.cloud import ACTION, AUTHORIZATION, Cloud
from one_drivers.sim.drivers import DriverError, DriverSet
from one_drivers.sim.history import close_history, end_running, open_history
from one_drivers.sim.hostmon import HostMonitor
from one_drivers.sim.model import Host, Vm, get_attr, set_attr
from one_drivers.sim.requirements import RequirementError, evaluate
from one_drivers.sim.wire import OneFailure

log = logging.getLogger(__name__)

A = LcmState
S = VmState

# History ACTION numbers (VMActions::Action, 6.10).
ACTION_IDS = {
    "none": 0,
    "migrate": 1,
    "live-migrate": 2,
    "undeploy": 5,
    "undeploy-hard": 6,
    "hold": 7,
    "release": 8,
    "stop": 9,
    "suspend": 10,
    "resume": 11,
    "delete": 13,
    "delete-recreate": 14,
    "reboot": 15,
    "reboot-hard": 16,
    "resched": 17,
    "unresched": 18,
    "poweroff": 19,
    "poweroff-hard": 20,
    "terminate": 27,
    "terminate-hard": 28,
    "deploy": 30,
}

RUNNING_ONLY = {(S.ACTIVE, A.RUNNING)}
RUNNING_OR_UNKNOWN = {(S.ACTIVE, A.RUNNING), (S.ACTIVE, A.UNKNOWN)}
# terminate and terminate-hard: any VM that is not mid-transition
TERMINABLE = {
    (S.ACTIVE, A.RUNNING),
    (S.ACTIVE, A.UNKNOWN),
    (S.POWEROFF, A.LCM_INIT),
    (S.SUSPENDED, A.LCM_INIT),
    (S.STOPPED, A.LCM_INIT),
    (S.UNDEPLOYED, A.LCM_INIT),
    (S.PENDING, A.LCM_INIT),
    (S.HOLD, A.LCM_INIT),
}
# Where each vm.action is allowed: (STATE, LCM_STATE) pairs; LCM None = any non-ACTIVE state's LCM_INIT.
ALLOWED: dict[str, set[tuple[VmState, LcmState]]] = {
    "terminate": TERMINABLE,
    "terminate-hard": TERMINABLE,
    "poweroff": RUNNING_ONLY,
    "poweroff-hard": RUNNING_OR_UNKNOWN,
    "reboot": RUNNING_ONLY,
    "reboot-hard": RUNNING_OR_UNKNOWN,
    "undeploy": {(S.ACTIVE, A.RUNNING), (S.POWEROFF, A.LCM_INIT)},
    "undeploy-hard": {(S.ACTIVE, A.RUNNING), (S.ACTIVE, A.UNKNOWN), (S.POWEROFF, A.LCM_INIT)},
    "stop": {(S.ACTIVE, A.RUNNING), (S.SUSPENDED, A.LCM_INIT)},
    "suspend": RUNNING_ONLY,
    "resume": {
        (S.POWEROFF, A.LCM_INIT),
        (S.SUSPENDED, A.LCM_INIT),
        (S.STOPPED, A.LCM_INIT),
        (S.UNDEPLOYED, A.LCM_INIT),
        (S.ACTIVE, A.UNKNOWN),
    },
    "hold": {(S.PENDING, A.LCM_INIT)},
    "release": {(S.HOLD, A.LCM_INIT)},
    "resched": RUNNING_ONLY,
    "unresched": RUNNING_ONLY,
}


@dataclass
class Pending:
    """The driver action a VM waits for."""

    action: str
    started: float = field(default_factory=time.time)


class Lifecycle(HostMonitor):
    """State machine + dispatch. All methods expect `cloud.lock` held (it is re-entrant)."""

    def __init__(
        self,
        cloud: Cloud,
        var_dir: Path,
        vmm: dict[str, str],
        im: dict[str, str],
        driver_env: Callable[[], dict[str, str]],
    ) -> None:
        super().__init__(cloud, im, driver_env)
        self.var_dir = var_dir
        self.vmm = DriverSet(vmm, driver_env, self._vmm_line)
        self.pending: dict[int, Pending] = {}
        # VM id -> the DISK/NIC/SNAPSHOT vector an in-flight hotplug action is about; migration targets.
        self._hotplug: dict[int, dict[str, str]] = {}
        self._resized: dict[int, tuple[str, str, str]] = {}  # VM id -> CPU, MEMORY, VCPU before a live resize
        self._migrate_to: dict[int, tuple[int, bool]] = {}

    def stop_drivers(self) -> None:
        self.vmm.stop()
        self.im.stop()

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
            self.vmm_reply(reply.action, vm_id, reply.success, reply.info or "-")
            self.on_change()

    # --- VM actions ----------------------------------------------------------------------------------------
    def check_lock(self, user_id: int, vm: Vm, op: int) -> None:
        if vm.lock is None:
            return
        level = vm.lock.level
        if level == 4 or op + 1 >= level:
            raise OneFailure(AUTHORIZATION, f"User [{user_id}] : VM is locked. [{vm.id}].")

    def action(self, vm: Vm, name: str, uid: int = 0, gid: int = 0) -> None:
        if name not in ALLOWED:
            raise OneFailure(ACTION, f'Action "{name}" is not supported')
        if (vm.state, vm.lcm_state) not in ALLOWED[name]:
            raise OneFailure(
                ACTION,
                f'Error performing action "{name}": This action is not available for state {vm.state_label}',
            )
        handler = getattr(self, "_do_" + name.replace("-", "_"))
        if (
            vm.current is not None
            and vm.state not in (S.PENDING, S.HOLD)
            and not vm.current.etime
            and name != "resume"
        ):
            # The open record takes the action; resume opens a new record and leaves the old one's.
            h = vm.current
            h.action, h.uid, h.gid, h.request_id = ACTION_IDS[name], uid, gid, self.cloud.next_request_id()
        handler(vm)
        vm.touch()

    def _do_hold(self, vm: Vm) -> None:
        vm.set_state(S.HOLD)

    def _do_release(self, vm: Vm) -> None:
        vm.set_state(S.PENDING)

    def _do_resched(self, vm: Vm) -> None:
        vm.resched = 1

    def _do_unresched(self, vm: Vm) -> None:
        vm.resched = 0

    def _do_reboot(self, vm: Vm) -> None:
        self._send(vm, "REBOOT")

    def _do_reboot_hard(self, vm: Vm) -> None:
        self._send(vm, "RESET")

    def _do_poweroff(self, vm: Vm) -> None:
        vm.set_lcm(A.SHUTDOWN_POWEROFF)
        self._send(vm, "SHUTDOWN")

    def _do_poweroff_hard(self, vm: Vm) -> None:
        vm.set_lcm(A.SHUTDOWN_POWEROFF)
        self._send(vm, "CANCEL")

    def _do_suspend(self, vm: Vm) -> None:
        vm.set_lcm(A.SAVE_SUSPEND)
        self._send(vm, "SAVE")

    def _do_stop(self, vm: Vm) -> None:
        if vm.state == S.SUSPENDED:
            vm.set_lcm(A.EPILOG_STOP)
            self._finish(vm, S.STOPPED)
            return
        vm.set_lcm(A.SAVE_STOP)
        self._send(vm, "SAVE")

    def _do_undeploy(self, vm: Vm, hard: bool = False) -> None:
        if vm.state == S.POWEROFF:
            vm.set_lcm(A.EPILOG_UNDEPLOY)
            self._finish(vm, S.UNDEPLOYED)
            return
        vm.set_lcm(A.SHUTDOWN_UNDEPLOY)
        self._send(vm, "CANCEL" if hard else "SHUTDOWN")

    def _do_undeploy_hard(self, vm: Vm) -> None:
        self._do_undeploy(vm, hard=True)

    def _do_terminate(self, vm: Vm, hard: bool = False) -> None:
        if vm.state in (S.PENDING, S.HOLD):
            self._done(vm)
            return
        if vm.state != S.ACTIVE:
            # From POWEROFF/UNDEPLOYED/STOPPED/SUSPENDED oned runs only the epilog, no VMM action.
            vm.set_lcm(A.EPILOG)
            self._done(vm)
            return
        vm.set_lcm(A.SHUTDOWN)
        self._send(vm, "CANCEL" if hard else "SHUTDOWN")

    def _do_terminate_hard(self, vm: Vm) -> None:
        self._do_terminate(vm, hard=True)

    def _do_resume(self, vm: Vm) -> None:
        prev = vm.state
        if prev == S.ACTIVE:  # UNKNOWN
            vm.set_lcm(A.RUNNING)
            return
        if prev in (S.STOPPED, S.UNDEPLOYED):
            # Back to the scheduler; it redeploys (PROLOG_RESUME / PROLOG_UNDEPLOY).
            vm.set_state(S.PENDING)
            vm.resume_from = prev
            return
        host = self.cloud.hosts.get(vm.current.hid) if vm.current else None
        if host is None:
            raise OneFailure(ACTION, "Could not get host of the VM")
        open_history(self.cloud, vm, host)
        if prev == S.POWEROFF:
            vm.set_lcm(A.BOOT_POWEROFF)
            self._send(vm, "DEPLOY")
        else:
            vm.set_lcm(A.BOOT_SUSPENDED)
            self._send(vm, "RESTORE")

    def recover(self, vm: Vm, op: int) -> None:
        """recover: 0 failure, 1 success, 2 retry, 3 delete, 4 delete-recreate, 5 delete-db."""
        if op == 3:
            if vm.state == S.DONE:
                raise OneFailure(ACTION, "Error recovering VM: VM is in DONE state")
            if vm.current:
                vm.current.action = ACTION_IDS["delete"]
            if vm.state == S.ACTIVE and vm.current is not None:
                vm.set_lcm(A.CLEANUP_DELETE)
                host = self.cloud.hosts.get(vm.current.hid)
                proc = self.vmm.get(host.vm_mad) if host else None
                if proc is not None:
                    proc.send(format_request("DRIVER_CANCEL", vm.id))
                self._send(vm, "CLEANUP")
            else:
                self._done(vm)
        elif op == 5:
            self._done(vm)
        elif op in (0, 1) and vm.state == S.ACTIVE:
            target = {A.BOOT_FAILURE: A.RUNNING, A.BOOT: A.RUNNING, A.SHUTDOWN: A.EPILOG}.get(vm.lcm_state)
            if op == 1 and target == A.RUNNING:
                vm.set_lcm(A.RUNNING)
            elif op == 1 and target == A.EPILOG:
                self._done(vm)
            elif op == 0 and vm.lcm_state == A.BOOT:
                vm.set_lcm(A.BOOT_FAILURE)
        elif op == 2 and vm.state == S.ACTIVE and vm.lcm_state == A.BOOT_FAILURE:
            vm.set_lcm(A.BOOT)
            self._send(vm, "DEPLOY")
        else:
            raise OneFailure(
                ACTION, f"Error recovering VM: recover action not available for state {vm.state_label}"
            )
        vm.touch()

    # --- disk hotplug -----------------------------------------------------------------------------------
    def attach_disk(self, vm: Vm, disk: dict[str, str]) -> None:
        """RUNNING → HOTPLUG (ATTACHDISK to the VMM) → RUNNING; POWEROFF attaches without the VMM."""
        vm.template.append(("DISK", disk))
        if vm.state == S.POWEROFF:
            vm.touch()
            return
        self._hotplug_history(vm, 21)
        vm.set_lcm(A.HOTPLUG)
        self._hotplug[vm.id] = disk
        self._send(vm, "ATTACHDISK")

    def detach_disk(self, vm: Vm, disk: dict[str, str]) -> None:
        if vm.state == S.POWEROFF:
            self._drop_disk(vm, disk)
            return
        self._hotplug_history(vm, 22)
        vm.set_lcm(A.HOTPLUG)
        self._hotplug[vm.id] = disk
        self._send(vm, "DETACHDISK")

    def _hotplug_history(self, vm: Vm, action_id: int) -> None:
        """A disk/NIC hotplug on a running VM closes its history record with that action and opens the
        next one on the same host (seen on 6.10.5: records 5-8 of the recorded vm0)."""
        h = vm.current
        if h is None:
            return
        h.action = action_id
        open_history(self.cloud, vm, self.cloud.hosts.get(h.hid), h.ds_id)

    def _drop_disk(self, vm: Vm, disk: dict[str, str]) -> None:
        vm.template[:] = [(k, v) for k, v in vm.template if v is not disk]
        image = self.cloud.images.get(int(disk["IMAGE_ID"])) if disk.get("IMAGE_ID", "").isdigit() else None
        if image is not None:
            self.cloud.image_store.release(image, vm.id)
        vm.touch()

    # --- live resize and updateconf ------------------------------------------------------------------
    def live_resize(self, vm: Vm, old: tuple[str, str, str]) -> None:
        """RUNNING -> HOTPLUG_RESIZE (RESIZE to the VMM) -> RUNNING; a failure puts CPU/MEMORY/VCPU back."""
        vm.set_lcm(A.HOTPLUG_RESIZE)
        self._resized[vm.id] = old
        self._send(vm, "RESIZE")

    def live_updateconf(self, vm: Vm) -> None:
        """RUNNING -> HOTPLUG (UPDATECONF to the VMM) -> RUNNING, whatever the VMM answers."""
        vm.set_lcm(A.HOTPLUG)
        self._send(vm, "UPDATECONF")

    # --- snapshots, NIC hotplug, migration ------------------------------------------------------------
    def snapshot(self, vm: Vm, action: str, snap: dict[str, str]) -> None:
        """SNAPSHOTCREATE/REVERT/DELETE: RUNNING → HOTPLUG_SNAPSHOT → RUNNING when the VMM answers."""
        if action == "SNAPSHOTCREATE":
            vm.template.append(("SNAPSHOT", snap))
        snap["ACTIVE"] = "YES"
        vm.set_lcm(A.HOTPLUG_SNAPSHOT)
        self._hotplug[vm.id] = snap
        self._send(vm, action)

    def attach_nic(self, vm: Vm, nic: dict[str, str]) -> None:
        vm.template.append(("NIC", nic))
        self._nic_hotplug(vm, nic, "ATTACHNIC", 23)

    def detach_nic(self, vm: Vm, nic: dict[str, str]) -> None:
        self._nic_hotplug(vm, nic, "DETACHNIC", 24)

    def _nic_hotplug(self, vm: Vm, nic: dict[str, str], action: str, action_id: int) -> None:
        if vm.state == S.POWEROFF:
            if action == "DETACHNIC":
                self._drop_nic(vm, nic)
            vm.touch()
            return
        self._hotplug_history(vm, action_id)
        vm.state_log.append("New state is ACTIVE")  # oned re-sets the state for NIC hotplug and logs it
        vm.set_lcm(A.HOTPLUG_NIC)
        self._hotplug[vm.id] = nic
        self._send(vm, action)

    def _drop_nic(self, vm: Vm, nic: dict[str, str]) -> None:
        vm.template[:] = [(k, v) for k, v in vm.template if v is not nic]
        vnet = self.cloud.vnets.get(int(nic["NETWORK_ID"])) if nic.get("NETWORK_ID", "").isdigit() else None
        if vnet is not None:
            for rng in vnet.ars:
                for offset in [
                    o
                    for o, v in rng.leases.items()
                    if v == vm.id and docs.offset_ip(rng.ip, o) == nic.get("IP")
                ]:
                    del rng.leases[offset]
        vm.touch()

    def migrate(self, vm: Vm, target: Host, live: bool) -> None:
        """Live: MIGRATE (MIGR_HOST = target). Cold: SAVE on the source, then RESTORE on the target."""
        if vm.current is not None:
            vm.current.action = ACTION_IDS["live-migrate" if live else "migrate"]
        self._migrate_to[vm.id] = (target.id, live)
        if live:
            vm.set_lcm(A.MIGRATE)
            self._send(vm, "MIGRATE", migr_host=target.name)
        else:
            vm.set_lcm(A.SAVE_MIGRATE)
            self._send(vm, "SAVE")

    def _migrated(self, vm: Vm) -> None:
        target_id, _ = self._migrate_to.pop(vm.id, (-1, True))
        target = self.cloud.hosts.get(target_id)
        h = vm.current
        open_history(self.cloud, vm, target, h.ds_id if h else None)

    # --- deployment ------------------------------------------------------------------------------------
    def system_ds_for(self, vm: Vm, host: Host, ds_id: int = -1) -> int:
        if ds_id >= 0:
            return ds_id
        req = get_attr(vm.user_template, "SCHED_DS_REQUIREMENTS") or ""
        for ds in sorted(self.cloud.datastores.values(), key=lambda d: d.id):
            if ds.type != 1 or host.cluster_id not in ds.cluster_ids:
                continue
            try:
                if evaluate(req, {"ID": str(ds.id), "NAME": ds.name, "TM_MAD": ds.tm_mad}):
                    return ds.id
            except RequirementError:
                return ds.id
        return 0

    def deploy(self, vm: Vm, host: Host, ds_id: int = -1) -> None:
        """PENDING/HOLD → PROLOG → BOOT and DEPLOY to the host's VMM."""
        resume_from = vm.resume_from
        ds = self.system_ds_for(vm, host, ds_id)
        open_history(self.cloud, vm, host, ds)
        h = vm.current
        assert h is not None
        ds_obj = self.cloud.datastores.get(ds)
        set_attr(vm.template, "TM_MAD_SYSTEM", ds_obj.tm_mad if ds_obj else "ssh")
        h.pstime = h.petime = self.cloud.now()
        vm.set_lcm(
            A.PROLOG_RESUME
            if resume_from == S.STOPPED
            else A.PROLOG_UNDEPLOY
            if resume_from == S.UNDEPLOYED
            else A.PROLOG
        )
        if resume_from == S.STOPPED:
            vm.set_lcm(A.BOOT_STOPPED)
            action = "RESTORE"
        elif resume_from == S.UNDEPLOYED:
            vm.set_lcm(A.BOOT_UNDEPLOY)
            action = "DEPLOY"
        else:
            vm.set_lcm(A.BOOT)
            action = "DEPLOY"
        vm.resume_from = None
        self._send(vm, action)

    def _finish(self, vm: Vm, state: VmState) -> None:
        if state in (S.STOPPED, S.UNDEPLOYED):
            close_history(self.cloud, vm, epilog=True)
        else:
            end_running(self.cloud, vm)
        vm.set_state(state)

    def _done(self, vm: Vm) -> None:
        close_history(self.cloud, vm, epilog=True)
        vm.etime = self.cloud.now()
        vm.set_state(S.DONE)
        # oned frees the VNC port of a finished VM.
        for key, value in vm.template:
            if key == "GRAPHICS" and isinstance(value, dict):
                value.pop("PORT", None)
        self.cloud.release_resources(vm)
        self.pending.pop(vm.id, None)

    # --- talking to the VMM ---------------------------------------------------------------------------
    def _send(self, vm: Vm, action: str, migr_host: str = "") -> None:
        h = vm.current
        host = self.cloud.hosts.get(h.hid) if h else None
        if host is None:
            self.vmm_reply(action, vm.id, False, "No host for the VM")
            return
        if host.vm_mad == "dummy":
            info = {"DEPLOY": f"{host.name}:{vm.name}:dummy", "SNAPSHOTCREATE": "dummy-snap"}.get(action, "-")
            self.vmm_reply(action, vm.id, True, info)
            return
        try:
            proc = self.vmm.get(host.vm_mad)
        except DriverError as exc:
            self.vmm_reply(action, vm.id, False, str(exc))
            return
        if proc is None:
            self.vmm_reply(action, vm.id, False, f"Cannot find VMM driver {host.vm_mad}")
            return
        payload = self.action_data(vm, host, action, migr_host)
        self.pending[vm.id] = Pending(action)
        try:
            proc.send(
                format_request(action, vm.id, base64.b64encode(payload.encode("utf-8")).decode("ascii"))
            )
        except DriverError as exc:
            self.vmm_reply(action, vm.id, False, str(exc))

    def action_data(self, vm: Vm, host: Host, action: str, migr_host: str = "") -> str:
        """<VMM_DRIVER_ACTION_DATA> as oned 6.10 builds it, writing the deployment file for DEPLOY.

        On DEPLOY the top-level DEPLOY_ID is empty (resume included; the VM document keeps the old
        one), the deployment file is the VM XML (TYPE=xml) and TM_COMMAND carries the CONTEXT line.
        """
        h = vm.current
        ds_id = h.ds_id if h else 0
        remote_dir = f"/var/lib/one//datastores/{ds_id}/{vm.id}"
        local = remote = checkpoint = tm_command = disk_path = ""
        deploy_id = vm.deploy_id
        if action == "DEPLOY":
            deploy_id = ""
            seq = h.seq if h else 0  # oned names the file after the history record: deployment.<SEQ>
            vm_dir = self.var_dir / "vms" / str(vm.id)
            vm_dir.mkdir(parents=True, exist_ok=True)
            path = vm_dir / f"deployment.{seq}"
            path.write_text(docs.vm_full_xml(vm), encoding="utf-8")
            local, remote = str(path), f"{remote_dir}/deployment.{seq}"
            context = next((v for k, v in vm.template if k == "CONTEXT" and isinstance(v, dict)), None)
            if context is not None:
                disk_path = f"{remote_dir}/disk.{context.get('DISK_ID', '0')}"
                tm_mad = h.tm_mad if h else "ssh"
                tm_command = f"CONTEXT {tm_mad} {vm_dir}/context.sh {host.name}:{disk_path} {vm.id} {ds_id}\n"
        if action in ("SAVE", "RESTORE"):
            checkpoint = f"{remote_dir}/checkpoint"

        def opt(tag: str, value: str) -> str:
            return f"<{tag}>{docs.text(value)}</{tag}>" if value else f"<{tag}/>"

        tm_xml = f"<TM_COMMAND>{docs.cdata(tm_command)}</TM_COMMAND>" if tm_command else "<TM_COMMAND/>"
        ds = self.cloud.datastores.get(ds_id)
        ds_xml = docs.datastore_xml(ds, []) if ds else ""
        return (
            f"<VMM_DRIVER_ACTION_DATA><HOST>{docs.text(host.name)}</HOST>{opt('MIGR_HOST', migr_host)}"
            f"{opt('DEPLOY_ID', deploy_id)}"
            f"{opt('LOCAL_DEPLOYMENT_FILE', local)}{opt('REMOTE_DEPLOYMENT_FILE', remote)}"
            f"{opt('CHECKPOINT_FILE', checkpoint)}{tm_xml}<TM_COMMAND_ROLLBACK/>{opt('DISK_TARGET_PATH', disk_path)}"
            f"{docs.vm_full_xml(vm)}{ds_xml}</VMM_DRIVER_ACTION_DATA>"
        )

    def _dummy_monitor(self, vm: Vm) -> None:
        """What the dummy host agent reports for a VM it runs (MONITOR_VM), at once rather than in 30 s."""
        h = vm.current
        host = self.cloud.hosts.get(h.hid) if h else None
        if host is None or host.im_mad != "dummy":
            return
        now = self.cloud.now()
        try:
            memory_kb = int(float(get_attr(vm.template, "MEMORY") or 0) * 1024 * 0.6)
        except ValueError:
            memory_kb = 0
        values = {"CPU": "0", "DISKRDBYTES": "0", "DISKRDIOPS": "0", "DISKWRBYTES": "0", "DISKWRIOPS": "0",
                  "ID": str(vm.id), "MEMORY": str(memory_kb), "NETRX": "0", "NETTX": "0", "TIMESTAMP": str(now)}  # fmt: skip
        vm.monitoring = list(values.items())
        vm.last_poll = now

    def vmm_reply(self, action: str, vm_id: int, ok: bool, info: str) -> None:
        """Apply a VMM reply to the VM as oned's LCM does."""
        vm = self.cloud.vms.get(vm_id)
        if vm is None:
            return
        self.pending.pop(vm_id, None)
        lcm = vm.lcm_state
        if not ok:
            log.info("VM %d: %s FAILURE: %s", vm_id, action, info)
            stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self.cloud.now()))
            set_attr(vm.user_template, "ERROR", f"{stamp}: {action}: {info}")
        if action in ("DEPLOY", "RESTORE"):
            if ok:
                if action == "DEPLOY" and info and info != "-":
                    vm.deploy_id = info
                vm.set_lcm(A.RUNNING)
                self._dummy_monitor(vm)
            else:
                vm.set_lcm(
                    {
                        A.BOOT: A.BOOT_FAILURE,
                        A.BOOT_UNDEPLOY: A.BOOT_UNDEPLOY_FAILURE,
                        A.BOOT_STOPPED: A.BOOT_STOPPED_FAILURE,
                        A.BOOT_MIGRATE: A.BOOT_MIGRATE_FAILURE,
                    }.get(lcm, lcm)
                )
                if lcm == A.BOOT_POWEROFF:
                    self._finish(vm, S.POWEROFF)
                elif lcm == A.BOOT_SUSPENDED:
                    self._finish(vm, S.SUSPENDED)
        elif action in ("SHUTDOWN", "CANCEL"):
            if not ok:
                vm.set_lcm(A.RUNNING)
            elif lcm == A.SHUTDOWN:
                vm.set_lcm(A.EPILOG)
                self._done(vm)
            elif lcm == A.SHUTDOWN_POWEROFF:
                self._finish(vm, S.POWEROFF)
            elif lcm == A.SHUTDOWN_UNDEPLOY:
                vm.set_lcm(A.EPILOG_UNDEPLOY)
                self._finish(vm, S.UNDEPLOYED)
        elif action == "SAVE":
            if not ok:
                vm.set_lcm(A.RUNNING)
            elif lcm == A.SAVE_SUSPEND:
                self._finish(vm, S.SUSPENDED)
            elif lcm == A.SAVE_STOP:
                vm.set_lcm(A.EPILOG_STOP)
                self._finish(vm, S.STOPPED)
            elif lcm == A.SAVE_MIGRATE:
                vm.set_lcm(A.PROLOG_MIGRATE)
                self._migrated(vm)
                if vm.current is not None:
                    vm.current.pstime = vm.current.petime = self.cloud.now()
                vm.set_lcm(A.BOOT_MIGRATE)
                self._send(vm, "RESTORE")
        elif action == "CLEANUP" and lcm == A.CLEANUP_DELETE:
            self._done(vm)
        elif action.startswith("SNAPSHOT") and lcm == A.HOTPLUG_SNAPSHOT:
            snap = self._hotplug.pop(vm.id, None)
            if snap is not None:
                snap.pop("ACTIVE", None)
                if action == "SNAPSHOTCREATE" and ok:
                    snap["HYPERVISOR_ID"] = info
                elif (action == "SNAPSHOTCREATE" and not ok) or (action == "SNAPSHOTDELETE" and ok):
                    vm.template[:] = [(k, v) for k, v in vm.template if v is not snap]
            vm.set_lcm(A.RUNNING)
        elif action in ("ATTACHNIC", "DETACHNIC") and lcm == A.HOTPLUG_NIC:
            nic = self._hotplug.pop(vm.id, None)
            if nic is not None and ((action == "ATTACHNIC") != ok):
                self._drop_nic(vm, nic)
            vm.set_lcm(A.RUNNING)
        elif action == "MIGRATE" and lcm == A.MIGRATE:
            if ok:
                self._migrated(vm)
            else:
                self._migrate_to.pop(vm.id, None)
            vm.set_lcm(A.RUNNING)
        elif action == "RESIZE" and lcm == A.HOTPLUG_RESIZE:
            old = self._resized.pop(vm.id, None)
            if old is not None and not ok:
                for name, value in zip(("CPU", "MEMORY", "VCPU"), old, strict=True):
                    set_attr(vm.template, name, value)
            vm.set_lcm(A.RUNNING)
        elif action == "UPDATECONF" and lcm == A.HOTPLUG:
            vm.set_lcm(A.RUNNING)
        elif action in ("ATTACHDISK", "DETACHDISK") and lcm == A.HOTPLUG:
            disk = self._hotplug.pop(vm.id, None)
            # A failed attach takes the disk back out; a detach removes it once the VMM is done.
            if disk is not None and ((action == "ATTACHDISK") != ok):
                self._drop_disk(vm, disk)
            vm.set_lcm(A.RUNNING)
        vm.touch()

    # --- scheduler -----------------------------------------------------------------------------------------
    def host_attrs(self, host: Host) -> dict[str, str]:
        attrs = {k: v for k, v in host.template if isinstance(v, str)}
        attrs.update(
            {
                "ID": str(host.id),
                "NAME": host.name,
                "CLUSTER_ID": str(host.cluster_id),
                "CLUSTER": host.cluster,
            }
        )
        return attrs

    def schedule(self) -> int:
        """One pass of the scheduler: deploy PENDING VMs to enabled, monitored hosts that match."""
        deployed = 0
        hosts = [
            h for h in sorted(self.cloud.hosts.values(), key=lambda h: h.id) if h.state == HostState.MONITORED
        ]
        if not hosts:
            return 0
        for vm in sorted((v for v in self.cloud.vms.values() if v.state == S.PENDING), key=lambda v: v.id):
            reqs = [
                r
                for r in (
                    get_attr(vm.user_template, "SCHED_REQUIREMENTS"),
                    get_attr(vm.template, "AUTOMATIC_REQUIREMENTS"),
                )
                if r
            ]
            chosen = None
            for host in hosts:
                attrs = self.host_attrs(host)
                try:
                    if all(evaluate(r, attrs) for r in reqs):
                        chosen = host
                        break
                except RequirementError as exc:
                    set_attr(vm.user_template, "SCHED_MESSAGE", f"Cannot parse requirements: {exc}")
                    vm.touch()
                    break
            if chosen is None:
                msg = "No host with enough capacity to deploy the VM"
                if get_attr(vm.user_template, "SCHED_MESSAGE") is None:
                    set_attr(vm.user_template, "SCHED_MESSAGE", msg)
                    vm.touch()
                continue
            vm.user_template[:] = [(k, v) for k, v in vm.user_template if k != "SCHED_MESSAGE"]
            self.deploy(vm, chosen)
            deployed += 1
        return deployed
