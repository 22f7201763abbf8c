"""The remotes scripts' view of an action: argv (per spec §3) + decoded stdin -> VmRequest.

oned's exec driver runs `<action> <params...> <vm_id> <host>`; stdin is empty (4.4-4.14), base64 with
line breaks (5.0-5.10) or strict base64 (5.12+) of the action data (for `deploy`, of the deployment
file). These functions are pure so both the script and the resident service use them.
"""

from __future__ import annotations

from html import escape

from one_drivers.mad.codec import CodecError, decode_base64, parse_action_data
from one_drivers.mad.loop import ActionError
from one_drivers.vmm_ec2.actions import VmRequest

# Which argv position holds the deploy id (the trailing `<vm_id> <host>` are always the last two).
DEPLOY_ID_ARG = {
    "shutdown": 0,
    "cancel": 0,
    "reboot": 0,
    "reset": 0,
    "save": 0,
    "poll": 0,
    "restore": 2,
    "migrate": 0,
}
SUPPORTED_SCRIPTS = ("deploy", "shutdown", "cancel", "reboot", "reset", "save", "restore", "poll")
# Actions oned's exec driver may run for a VMM; the ones not in SUPPORTED_SCRIPTS exit 1.
UNSUPPORTED_SCRIPTS = (
    "migrate",
    "migrate_local",
    "attach_disk",
    "detach_disk",
    "attach_nic",
    "detach_nic",
    "snapshot_create",
    "snapshot_revert",
    "snapshot_delete",
    "resize",
    "resize_disk",
    "update_sg",
    "update_nic",
    "update_conf",
    "prereconfigure",
    "reconfigure",
    "disk_snapshot_create",
    "backup",
    "backup_cancel",
    "exec",
    "exec_cancel",
    "checkpoint",
)


def decode_stdin(raw: str) -> str:
    """Stdin text -> XML text ('' when empty); accepts raw XML and both base64 forms."""
    text = raw.strip()
    if not text:
        return ""
    if text.startswith("<"):
        return text
    try:
        return decode_base64(text)
    except CodecError as exc:
        raise ActionError(f"stdin is neither base64 nor XML: {exc}") from exc


def split_argv(action: str, argv: list[str]) -> tuple[str, str, str]:
    """(deploy_id, vm_id, host) from a script's argv; empty strings where the form has none."""
    if len(argv) < 2:
        raise ActionError(f"{action}: expected '<params...> <vm_id> <host>', got {len(argv)} arguments")
    vm_id, host = argv[-2], argv[-1]
    position = DEPLOY_ID_ARG.get(action)
    deploy_id = argv[position] if position is not None and position < len(argv) - 2 else ""
    return deploy_id, vm_id, host


def request_from_script(action: str, document: str, *, vm_id: str, host: str, deploy_id: str) -> VmRequest:
    """A VmRequest from the decoded stdin document, or a minimal VM when stdin was empty (4.x)."""
    if not document:
        if not vm_id.lstrip("-").isdigit():
            raise ActionError(f"{action}: VM id {vm_id!r} is not a number")
        # 4.4-4.14 send nothing on stdin: only argv is known; LCM is unknown (treated as RUNNING).
        document = (
            f"<VM><ID>{escape(vm_id, quote=False)}</ID><STATE>3</STATE><LCM_STATE>3</LCM_STATE>"
            f"<DEPLOY_ID>{escape(deploy_id, quote=False)}</DEPLOY_ID></VM>"
        )
    try:
        data = parse_action_data(document)
    except CodecError as exc:
        raise ActionError(f"{action}: {exc}") from exc
    request = VmRequest.from_action_data(data, vm_id, host)
    if deploy_id and not request.deploy_id:
        request = VmRequest(
            request.vm_id,
            request.host,
            request.state,
            request.lcm,
            deploy_id,
            request.seq,
            request.stime,
            request.data,
        )
    return request
