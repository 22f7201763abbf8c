"""What a HostSnapshot looks like to each monitoring era: pure text builders, no I/O.

- 3.x: MONITOR info as comma-separated host attributes (oned turns commas into newlines).
- 4.0-5.10: the host template with `VM_POLL=YES` and one `VM=[...]` per pending/running instance
  (the 4.0-4.2 MONITOR reply base64-encodes the same text; 4.4-5.10 `poll` prints it).
- 5.12-7.4: the monitord payloads SYSTEM_HOST, MONITOR_HOST, MONITOR_VM and STATE_VM.
All template text goes through `one_drivers.one.template` (the one escaping function).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from one_drivers.im_ec2.cycle import HostSnapshot
from one_drivers.im_ec2.instances import Instance, carryable, import_template, monitor_text, poll_string
from one_drivers.one.template import build_template, format_attribute

HYPERVISOR = "ec2"
# oned's scheduler ranks hosts by PRIORITY; -1 keeps bursting hosts after local ones (upstream value).
PRIORITY = "-1"
CPUSPEED = "1000"


def host_system_attributes(snap: HostSnapshot) -> list[tuple[str, str]]:
    return [
        ("HYPERVISOR", HYPERVISOR),
        ("PUBLIC_CLOUD", "YES"),
        ("PRIORITY", PRIORITY),
        ("TOTALCPU", str(snap.capacity.total_cpu)),
        ("TOTALMEMORY", str(snap.capacity.total_memory)),
    ]


def host_usage_attributes(snap: HostSnapshot) -> list[tuple[str, str]]:
    cap = snap.capacity
    return [
        ("USEDCPU", str(cap.used_cpu)),
        ("USEDMEMORY", str(cap.used_memory)),
        ("FREECPU", str(cap.free_cpu)),
        ("FREEMEMORY", str(cap.free_memory)),
    ]


def host_attributes(snap: HostSnapshot) -> list[tuple[str, str]]:
    """Every host attribute of the ≤5.10 outputs, in the order upstream printed them."""
    return [
        *host_system_attributes(snap),
        ("CPUSPEED", CPUSPEED),
        ("HOSTNAME", carryable(snap.host_name)),
        *host_usage_attributes(snap),
    ]


# --- ≤5.10 ------------------------------------------------------------------------------------------


def polled(snap: HostSnapshot) -> list[Instance]:
    """Instances listed in a ≤5.10 host poll: pending/running ones (others read as lost -> POWEROFF)."""
    return [i for i in snap.instances if i.mapping.uses_capacity]


def vm_poll_vector(snap: HostSnapshot, inst: Instance) -> dict[str, str]:
    vector = {"ID": str(inst.vm_id), "DEPLOY_ID": carryable(inst.instance_id), "VM_NAME": inst.display_name}
    if inst.wild:
        vector["IMPORT_TEMPLATE"] = import_template(inst, snap.host_name, snap.size_of(inst))
    vector["POLL"] = poll_string(inst, snap.size_of(inst), snap.metrics_of(inst), legacy_names=True)
    return vector


def probe_text(snap: HostSnapshot) -> str:
    """The 4.0-5.10 host information: host attributes, VM_POLL=YES, one VM vector per instance."""
    attrs: list[tuple[str, str | Mapping[str, str]]] = [*host_attributes(snap), ("VM_POLL", "YES")]
    attrs += [("VM", vm_poll_vector(snap, inst)) for inst in polled(snap)]
    return build_template(attrs)


def monitor_reply_info(snap: HostSnapshot, comma_format: bool) -> str:
    """The info of `MONITOR SUCCESS <hid> <info>` for ≤4.2: 3.x comma list, 4.x base64 of probe_text."""
    if comma_format:
        # 3.x replaces every comma by a newline before parsing: host attributes only, one per item.
        return ",".join(format_attribute(name, value) for name, value in host_attributes(snap))
    return base64.b64encode(probe_text(snap).encode("utf-8")).decode("ascii")


def waiting_attributes(host_name: str) -> list[tuple[str, str]]:
    """A ≤5.10 host that has no credentials yet: an ec2 host with no capacity (no VM_POLL: VMs untouched)."""
    zero = [(name, "0") for name in ("TOTALCPU", "TOTALMEMORY")]
    usage = [(name, "0") for name in ("USEDCPU", "USEDMEMORY", "FREECPU", "FREEMEMORY")]
    head = [("HYPERVISOR", HYPERVISOR), ("PUBLIC_CLOUD", "YES"), ("PRIORITY", PRIORITY), *zero]
    return [*head, ("CPUSPEED", CPUSPEED), ("HOSTNAME", carryable(host_name)), *usage]


def waiting_probe_text(host_name: str) -> str:
    return build_template(list(waiting_attributes(host_name)))


def waiting_reply_info(host_name: str, comma_format: bool) -> str:
    """`waiting_attributes` in the shape of monitor_reply_info."""
    if comma_format:
        return ",".join(format_attribute(name, value) for name, value in waiting_attributes(host_name))
    return base64.b64encode(waiting_probe_text(host_name).encode("utf-8")).decode("ascii")


# --- 5.12+ (monitord) ---------------------------------------------------------------------------------


def system_host(snap: HostSnapshot) -> str:
    """SYSTEM_HOST: capacity totals and the wild instances offered for import (only here)."""
    attrs: list[tuple[str, str | Mapping[str, str]]] = list(host_system_attributes(snap))
    for inst in snap.wild:
        if not inst.mapping.alive:
            continue
        attrs.append(
            (
                "VM",
                {
                    "UUID": inst.instance_id,
                    "ID": "-1",
                    "DEPLOY_ID": inst.instance_id,
                    "TYPE": carryable(inst.instance_type),
                    "STATE": inst.mapping.one_state,
                    "IMPORT_TEMPLATE": import_template(inst, snap.host_name, snap.size_of(inst)),
                    "VM_NAME": inst.display_name,
                },
            )
        )
    return build_template(attrs)


def monitor_host(snap: HostSnapshot) -> str:
    return build_template([("HYPERVISOR", HYPERVISOR), ("PUBLIC_CLOUD", "YES"), *host_usage_attributes(snap)])


def monitor_vm(snap: HostSnapshot) -> str:
    """MONITOR_VM: one vector per running VM instance, with its real OpenNebula id (7.x drops ids < 0)."""
    attrs: list[tuple[str, str | Mapping[str, str]]] = []
    for inst in snap.vms:
        if not inst.mapping.uses_capacity:
            continue
        text = monitor_text(inst, snap.size_of(inst), snap.metrics_of(inst))
        attrs.append(
            (
                "VM",
                {
                    "UUID": inst.instance_id,
                    "ID": str(inst.vm_id),
                    "NAME": inst.display_name,
                    "DEPLOY_ID": inst.instance_id,
                    "TYPE": carryable(inst.instance_type),
                    "STATE": inst.mapping.one_state,
                    "MONITOR": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                },
            )
        )
    return build_template(attrs)


def vm_states(snap: HostSnapshot) -> dict[int, tuple[str, str]]:
    """VM id -> (deploy id, STATE) for every VM instance of the snapshot."""
    return {inst.vm_id: (inst.instance_id, inst.mapping.one_state) for inst in snap.vms}


def state_vm(
    snap: HostSnapshot,
    previous: Mapping[int, tuple[str, str]] | None,
    *,
    sync: bool,
    missing_state: str = "UNKNOWN",
) -> str:
    """STATE_VM: the VMs whose state or instance changed since `previous`; with sync, all of them
    plus `SYNC_STATE=yes` so oned treats VMs of this host that are not listed as MISSING_STATE."""
    now = vm_states(snap)
    attrs: list[tuple[str, str | Mapping[str, str]]] = []
    if sync:
        attrs += [("SYNC_STATE", "yes"), ("MISSING_STATE", missing_state)]
    for vm_id, (deploy_id, state) in now.items():
        if sync or previous is None or previous.get(vm_id) != (deploy_id, state):
            attrs.append(("VM", {"ID": str(vm_id), "DEPLOY_ID": deploy_id, "STATE": state}))
    return build_template(attrs)


def beacon(timestamp: int) -> str:
    """BEACON_HOST: the epoch, as the recorded 6.10.5 agent sent it."""
    return str(timestamp)
