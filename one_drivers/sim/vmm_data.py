"""<VMM_DRIVER_ACTION_DATA>, the document oned 6.10 hands a VMM driver (base64) with each action.

On DEPLOY the top-level DEPLOY_ID is empty (resume included; the VM document keeps the old one), the
deployment file `deployment.<SEQ>` is written (the VM XML, TYPE=xml) and TM_COMMAND carries the CONTEXT
line; SAVE and RESTORE name the checkpoint file; MIGRATE names the target host (MIGR_HOST).
"""

from __future__ import annotations

from pathlib import Path

from one_drivers.sim import docs
from one_drivers.sim.cloud import Cloud
from one_drivers.sim.model import Host, Vm


def _opt(tag: str, value: str) -> str:
    return f"<{tag}>{docs.text(value)}</{tag}>" if value else f"<{tag}/>"


def action_data(cloud: Cloud, var_dir: Path, vm: Vm, host: Host, action: str, migr_host: str = "") -> str:
    h = vm.current
    ds_id = h.ds_id if h else 0
    remote_dir = f"/var/lib/one//datastores/{ds_id}/{vm.id}"
    local = remote = checkpoint = tm_command = disk_path = ""
    deploy_id = vm.deploy_id
    if action == "DEPLOY":
        deploy_id = ""
        seq = h.seq if h else 0  # oned names the file after the history record: deployment.<SEQ>
        vm_dir = var_dir / "vms" / str(vm.id)
        vm_dir.mkdir(parents=True, exist_ok=True)
        path = vm_dir / f"deployment.{seq}"
        path.write_text(docs.vm_driver_xml(vm), encoding="utf-8")
        local, remote = str(path), f"{remote_dir}/deployment.{seq}"
        context = next((v for k, v in vm.template if k == "CONTEXT" and isinstance(v, dict)), None)
        if context is not None:
            disk_path = f"{remote_dir}/disk.{context.get('DISK_ID', '0')}"
            tm_mad = h.tm_mad if h else "ssh"
            tm_command = f"CONTEXT {tm_mad} {vm_dir}/context.sh {host.name}:{disk_path} {vm.id} {ds_id}\n"
    if action in ("SAVE", "RESTORE"):
        checkpoint = f"{remote_dir}/checkpoint"
    tm_xml = f"<TM_COMMAND>{docs.cdata(tm_command)}</TM_COMMAND>" if tm_command else "<TM_COMMAND/>"
    ds = cloud.datastores.get(ds_id)
    ds_xml = docs.render("DATASTORE", ds, images=[]) if ds else ""
    return (
        f"<VMM_DRIVER_ACTION_DATA><HOST>{docs.text(host.name)}</HOST>{_opt('MIGR_HOST', migr_host)}"
        f"{_opt('DEPLOY_ID', deploy_id)}"
        f"{_opt('LOCAL_DEPLOYMENT_FILE', local)}{_opt('REMOTE_DEPLOYMENT_FILE', remote)}"
        f"{_opt('CHECKPOINT_FILE', checkpoint)}{tm_xml}<TM_COMMAND_ROLLBACK/>{_opt('DISK_TARGET_PATH', disk_path)}"
        f"{docs.vm_driver_xml(vm)}{ds_xml}</VMM_DRIVER_ACTION_DATA>"
    )
