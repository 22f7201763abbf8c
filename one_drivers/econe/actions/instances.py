"""EC2 instances = OpenNebula VMs: Run, Describe, Terminate, Start, Stop, Reboot.

RunInstances instantiates the VM template whose `EC2_INSTANCE_TYPE` names the type, with an extra
template (built only by `one.template.build_template`) carrying the AMI disk, the template's own disks
and CONTEXT, and what econe reads back later (IMAGE_ID, EC2_INSTANCE_TYPE, EC2_CLIENT_TOKEN, EC2_TAGS).
DescribeInstances pages with oned's own pagination over full VM bodies (`vmpool.infoextended`), since
the reduced `vmpool.info` body hides every attribute econe stores.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from one_drivers.econe.actions.block_devices import DEVICE_PATHS, instance_device_fields
from one_drivers.econe.actions.filtering import Filters, parse_filters, value_matches
from one_drivers.econe.actions.images import load_ami
from one_drivers.econe.actions.instance_state import Ec2State, ec2_state, state_dict, state_reason, state_row
from one_drivers.econe.actions.key_pairs import public_key_for
from one_drivers.econe.actions.tagging import (
    TaggableKind,
    TaggedResource,
    launch_tags,
    put_tags,
    register_kind,
    tags_from_template,
    tags_template,
    tags_to_vectors,
)
from one_drivers.econe.actions.vpcs import NIC_PATHS, NicView, instance_filters, instance_network, launch_nics
from one_drivers.econe.context import Handler, RequestContext
from one_drivers.econe.shapes import (
    DescribeInstancesResult,
    Instance,
    InstanceStateChange,
    NoOutput,
    Reservation,
    StartInstancesResult,
    StopInstancesResult,
    Tag,
    TerminateInstancesResult,
)
from one_drivers.one.gateway import OneActionError, OneAuthorizationError, OneError, OneNotFoundError
from one_drivers.one.records import (
    ImageRecord,
    TemplateRecord,
    VmRecord,
)
from one_drivers.one.states import LcmState, VmState
from one_drivers.one.template import TemplateError, build_template
from one_drivers.query.errors import (
    Ec2Error,
    incorrect_instance_state,
    instance_limit_exceeded,
    invalid_combination,
    invalid_next_token,
    invalid_parameter_value,
    missing_parameter,
    operation_not_permitted,
    unstorable_value,
)
from one_drivers.query.ids import IMAGE, INSTANCE

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import (
        DescribeInstancesRequestTypeDef,
        RebootInstancesRequestTypeDef,
        RunInstancesRequestTypeDef,
        StartInstancesRequestTypeDef,
        StopInstancesRequestTypeDef,
        TerminateInstancesRequestTypeDef,
    )

    from one_drivers.econe.actions.volumes import LaunchDevices

log = logging.getLogger(__name__)

DEFAULT_INSTANCE_TYPE = "m1.small"  # what EC2 launches when InstanceType is omitted
MAX_PAGE = 1000  # oned page size for a full listing, and EC2's MaxResults ceiling
MIN_PAGE = 5  # EC2's MaxResults floor
DONE_SCAN_PAGE = 500  # reduced bodies of DONE VMs read per call when looking for recent terminations
# oned keeps DONE VMs forever and cannot select them by ETIME, so the scan (newest id first) stops after
# this many: a VM terminated within the window is missed only if this many newer VMs are DONE already.
DONE_SCAN_LIMIT = 10_000
CLIENT_TOKEN_WINDOW = 24 * 3600  # a ClientToken is honoured for VMs launched within this window
CLIENT_TOKEN_SCAN_PAGE = 100
CLIENT_TOKEN_SETTLE_SECONDS = 30.0  # longest wait for a run being made under the same token
CLIENT_TOKEN_SETTLE_POLL = 0.05
MAX_INSTANCES_PER_RUN = 100
MAX_USER_DATA_BYTES = 16 * 1024

# Names econe stores in the VM's USER_TEMPLATE (upstream's spelling) and in its CONTEXT.
IMAGE_ID_ATTR = "IMAGE_ID"
INSTANCE_TYPE_ATTR = "EC2_INSTANCE_TYPE"
CLIENT_TOKEN_ATTR = "EC2_CLIENT_TOKEN"
WITHDRAWN_ATTR = "EC2_WITHDRAWN"  # on the VM a ClientToken race's loser made and terminated
RESERVATION_ATTR = "EC2_RESERVATION_ID"
LAUNCH_INDEX_ATTR = "EC2_LAUNCH_INDEX"

_TOKEN_RE = re.compile(r"(a|d):([0-9]{1,9})\Z")
_CLIENT_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,64}\Z")


# --- VM -> EC2 instance ----------------------------------------------------------------------------


def reservation_id(vm: VmRecord) -> str:
    # The first VM of a run carries no attribute: its own id names the reservation.
    return vm.user_values.get(RESERVATION_ATTR) or f"r-{vm.id:08d}"


def image_id_of(vm: VmRecord, disk_images: list[str] | None = None) -> str:
    """The AMI econe stored, else the first disk's image (`disk_images`: DISK/IMAGE_ID if read)."""
    stored = vm.user_values.get(IMAGE_ID_ATTR)
    if stored:
        return stored if stored.startswith("ami-") else _format_number(IMAGE.format, stored)
    if disk_images is None:
        first_disk_image = vm.template_value("DISK/IMAGE_ID")
    else:
        first_disk_image = disk_images[0] if disk_images else ""
    return _format_number(IMAGE.format, first_disk_image) if first_disk_image else ""


def _int_or_zero(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def _format_number(fmt: Callable[[int], str], text: str) -> str:
    return fmt(int(text)) if text.isdigit() else text


# The TEMPLATE values an instance shows, read in one walk per VM.
# (Duplicates dropped: a path named twice would collect its values twice.)
_INSTANCE_PATHS = tuple(
    dict.fromkeys(("CONTEXT/EC2_KEYNAME", "NIC/IP", "DISK/IMAGE_ID", *DEVICE_PATHS, *NIC_PATHS))
)


def instance_from_vm(vm: VmRecord, zone: str, view: NicView | None = None) -> Instance:
    """The EC2 `Instance` for a VM (full body); with `view`, its VPC, subnet, groups and interfaces too."""
    # Runs once per VM of a 1,000-instance page: one state row, one dict of the user's values.
    row = state_row(vm.state, vm.lcm_state)
    state = row.ec2
    user = vm.user_values
    paths = vm.template_values_of(_INSTANCE_PATHS)
    instance: Instance = {
        "InstanceId": INSTANCE.format(vm.id),
        "ImageId": image_id_of(vm, paths["DISK/IMAGE_ID"]),
        "State": state_dict(state),
        "PrivateDnsName": "",
        "PublicDnsName": "",
        "StateTransitionReason": "",
        "AmiLaunchIndex": _int_or_zero(user.get(LAUNCH_INDEX_ATTR)),
        "InstanceType": user.get(INSTANCE_TYPE_ATTR) or "",
        "LaunchTime": datetime.fromtimestamp(vm.stime, UTC),
        "Placement": {"AvailabilityZone": zone},
        "Monitoring": {"State": "disabled"},
    }
    key_names = paths["CONTEXT/EC2_KEYNAME"]
    if key_names and key_names[0]:
        instance["KeyName"] = key_names[0]
    ips = paths["NIC/IP"] if state is not Ec2State.TERMINATED else []
    if ips:
        # Upstream showed the first NIC's address as both names and addresses.
        instance["PrivateIpAddress"] = instance["PublicIpAddress"] = ips[0]
        instance["PrivateDnsName"] = instance["PublicDnsName"] = ips[0]
    token = user.get(CLIENT_TOKEN_ATTR)
    if token:
        instance["ClientToken"] = token
    put_tags(instance, vm.user_template)
    instance.update(instance_device_fields(vm, paths))
    if view is not None and state is not Ec2State.TERMINATED:
        instance.update(instance_network(view.ctx, view, vm, paths))
    reason = state_reason(vm.state, vm.lcm_state, user.get("ERROR") or "") if row.failure else None
    if reason is not None:
        instance["StateReason"] = reason
        instance["StateTransitionReason"] = reason["Message"]
    return instance


def reservations(vms: Iterable[VmRecord], zone: str, view: NicView | None = None) -> list[Reservation]:
    """Instances grouped by reservation, in the order their first instance appears."""
    by_id: dict[str, Reservation] = {}
    for vm in vms:
        rid = reservation_id(vm)
        group = by_id.get(rid)
        instance = instance_from_vm(vm, zone, view)
        if group is None:
            # A reservation lists the groups its instances were launched with (its first one's).
            groups = list(instance.get("SecurityGroups") or [])
            group = by_id[rid] = {
                "ReservationId": rid,
                "OwnerId": str(vm.uid),
                "Groups": groups,
                "Instances": [],
            }
        group.setdefault("Instances", []).append(instance)
    return list(by_id.values())


# --- lookups ---------------------------------------------------------------------------------------


def load_vm(ctx: RequestContext, text: str) -> VmRecord:
    """The VM named by an instance id, as the signing user sees it (others' VMs do not exist)."""
    vm_id = INSTANCE.parse(text)
    try:
        return ctx.one.vm_info(vm_id)
    except (OneNotFoundError, OneAuthorizationError):
        raise INSTANCE.not_found(text) from None


def load_vms(ctx: RequestContext, ids: Iterable[str]) -> list[VmRecord]:
    """Every id checked (all malformed first, then all present) before anything acts on them."""
    unique = list(dict.fromkeys(ids))
    for text in unique:
        INSTANCE.parse(text)
    return [load_vm(ctx, text) for text in unique]


def _expired(vm: VmRecord, ctx: RequestContext, now: float) -> bool:
    if vm.state is not VmState.DONE:
        return False
    if not ctx.config.describe_with_terminated_instances or vm.user_template.get(WITHDRAWN_ATTR):
        return True  # a ClientToken race's loser was never the user's instance
    return vm.etime < now - ctx.config.terminated_instances_expiration_time


# --- DescribeInstances -----------------------------------------------------------------------------


def _state_name(vm: VmRecord) -> list[str]:
    return [ec2_state(vm.state, vm.lcm_state).ec2_name]


def _state_code(vm: VmRecord) -> list[str]:
    return [str(ec2_state(vm.state, vm.lcm_state).code)]


INSTANCE_FILTERS: dict[str, Callable[[VmRecord], Iterable[str]]] = {
    "instance-id": lambda vm: [INSTANCE.format(vm.id)],
    "instance-state-name": _state_name,
    "instance-state-code": _state_code,
    "instance-type": lambda vm: [vm.user_template.get(INSTANCE_TYPE_ATTR) or ""],
    "image-id": lambda vm: [image_id_of(vm)],
    "key-name": lambda vm: [vm.template_value("CONTEXT/EC2_KEYNAME")],
    "private-ip-address": lambda vm: vm.template_values("NIC/IP"),
    "ip-address": lambda vm: vm.template_values("NIC/IP"),
    "client-token": lambda vm: [vm.user_template.get(CLIENT_TOKEN_ATTR) or ""],
    "reservation-id": lambda vm: [reservation_id(vm)],
    "owner-id": lambda vm: [str(vm.uid)],
    "availability-zone": lambda vm: [],  # replaced per request by the configured zone
}


def _vm_tags(vm: VmRecord) -> list[Tag]:
    return tags_from_template(vm.user_template)


def _phases(filters: Filters[VmRecord]) -> tuple[bool, bool]:
    """Whether live VMs and terminated VMs can match the state filter at all (skip oned calls if not)."""
    names = filters.values_of("instance-state-name")
    if names is None:
        return True, True
    terminated = value_matches(names, ["terminated"])
    live = value_matches(names, [s.ec2_name for s in Ec2State if s is not Ec2State.TERMINATED])
    return live, terminated


def _exact_ids(values: tuple[str, ...] | None) -> list[int] | None:
    """VM ids when every instance-id filter value is a plain, well-formed id (no wildcards)."""
    if not values:
        return None
    ids: list[int] = []
    for value in values:
        vm_id = INSTANCE.try_parse(value) if "*" not in value and "?" not in value else None
        if vm_id is None:
            return None
        ids.append(vm_id)
    return sorted(set(ids), reverse=True)  # newest first, as the pool lists them


def _page_size(params: Mapping[str, Any]) -> int | None:
    max_results = params.get("MaxResults")
    if max_results is None:
        return None
    if not MIN_PAGE <= int(max_results) <= MAX_PAGE:
        raise invalid_parameter_value("MaxResults", f"must be between {MIN_PAGE} and {MAX_PAGE}")
    return int(max_results)


def _parse_token(token: str | None) -> tuple[str, int]:
    if not token:
        return "a", 0
    m = _TOKEN_RE.match(token)
    if not m:
        raise invalid_next_token()
    return m.group(1), int(m.group(2))


def recent_terminated_ids(ctx: RequestContext, now: float) -> list[int]:
    """DONE VMs whose ETIME is within the configured window, newest first.

    Read from the reduced `vmpool.info` bodies (STATE and ETIME are there) in pages; only the few that
    match are fetched in full afterwards.
    """
    cutoff = now - ctx.config.terminated_instances_expiration_time
    found: list[int] = []
    start = 0
    while True:
        page = ctx.one.vmpool_info(-2, start, -DONE_SCAN_PAGE, int(VmState.DONE))
        found.extend(vm.id for vm in page if vm.etime >= cutoff)
        start += DONE_SCAN_PAGE
        if len(page) < DONE_SCAN_PAGE or start >= DONE_SCAN_LIMIT:
            return found


def describe_instances(
    ctx: RequestContext, params: DescribeInstancesRequestTypeDef
) -> DescribeInstancesResult:
    zone = ctx.config.zone_name
    table = dict(INSTANCE_FILTERS)
    table["availability-zone"] = lambda vm: [zone]
    table.update(instance_filters(ctx))
    filters = parse_filters(params.get("Filters"), table, _vm_tags)
    ids: Sequence[str] = params.get("InstanceIds") or []
    page_size = _page_size(params)
    now = time.time()
    if ids:
        if page_size is not None or params.get("NextToken"):
            raise invalid_combination(
                "The parameter instancesSet cannot be used with the parameter maxResults"
            )
        vms = load_vms(ctx, ids)
        for vm, text in zip(vms, dict.fromkeys(ids), strict=True):
            if _expired(vm, ctx, now):
                raise INSTANCE.not_found(text)
        return {"Reservations": reservations([vm for vm in vms if filters.matches(vm)], zone, NicView(ctx))}

    named = _exact_ids(filters.values_of("instance-id"))
    if named is not None and page_size is None and not params.get("NextToken"):
        # Tools poll one instance with an instance-id filter: read those VMs, not the pool. Unlike
        # InstanceId.N, a filter value that names nothing is no error.
        found = []
        for vm_id in named:
            try:
                vm = ctx.one.vm_info(vm_id)
            except (OneNotFoundError, OneAuthorizationError):
                continue
            if not _expired(vm, ctx, now) and filters.matches(vm):
                found.append(vm)
        return {"Reservations": reservations(found, zone, NicView(ctx))}

    phase, offset = _parse_token(params.get("NextToken"))
    want_live, want_terminated = _phases(filters)
    want_terminated = want_terminated and ctx.config.describe_with_terminated_instances
    fetched: list[VmRecord] = []
    next_token: str | None = None
    if phase == "a" and want_live:
        size = page_size or MAX_PAGE
        while True:
            # One VM more than the page: whether more follow is known now, so a walk ends on its
            # last full page instead of an extra call answering an empty one.
            page = ctx.one.vmpool_infoextended(-2, offset, -(size + 1), -1)
            more = len(page) > size
            page = page[:size]
            fetched.extend(page)
            offset += len(page)
            if not more:
                break
            if page_size is not None:
                next_token = f"a:{offset}"
                break
        if next_token is None:
            phase, offset = "d", 0
    elif phase == "a":
        phase, offset = "d", 0
    if next_token is None and phase == "d" and want_terminated:
        done_ids = recent_terminated_ids(ctx, now)
        room = len(done_ids) if page_size is None else page_size - len(fetched)
        chunk = done_ids[offset : offset + room]
        for vm_id in chunk:
            try:
                done = ctx.one.vm_info(vm_id)
            except OneNotFoundError:
                continue  # purged between the two calls
            if not done.user_template.get(WITHDRAWN_ATTR):
                fetched.append(done)
        if offset + len(chunk) < len(done_ids):
            next_token = f"d:{offset + len(chunk)}"
    result: DescribeInstancesResult = {
        "Reservations": reservations((vm for vm in fetched if filters.matches(vm)), zone, NicView(ctx))
    }
    if next_token is not None:
        result["NextToken"] = next_token
    return result


# --- RunInstances ----------------------------------------------------------------------------------


def instance_type_template(ctx: RequestContext, instance_type: str) -> TemplateRecord:
    """The first (lowest id) VM template visible to the user with EC2_INSTANCE_TYPE = the type."""
    templates = ctx.one.templatepool_info(-2, -1, -1)
    for tmpl in sorted(templates, key=lambda t: t.id):
        if tmpl.template.get(INSTANCE_TYPE_ATTR) == instance_type:
            return tmpl
    raise invalid_parameter_value("InstanceType", f"the instance type '{instance_type}' is not available")


def find_by_client_token(
    ctx: RequestContext, token: str, now: float, page_size: int = CLIENT_TOKEN_SCAN_PAGE
) -> list[VmRecord]:
    """The user's VMs launched with this ClientToken, oldest first, each once.

    Newest first from oned, so the scan stops at the first VM launched before the token window. Pages
    are read by offset: a VM created between two reads shifts the window by one and the next page
    repeats a VM already seen, so VMs are kept by id.
    """
    found: dict[int, VmRecord] = {}
    start = 0
    while True:
        page = ctx.one.vmpool_infoextended(-3, start, -page_size, -2)
        for vm in page:
            if vm.stime and vm.stime < now - CLIENT_TOKEN_WINDOW:
                return sorted(found.values(), key=lambda v: v.id)
            if vm.user_template.get(CLIENT_TOKEN_ATTR) == token:
                found.setdefault(vm.id, vm)
        if len(page) < page_size:
            return sorted(found.values(), key=lambda v: v.id)
        start += page_size


def token_reservation(vms: list[VmRecord]) -> list[VmRecord]:
    """The VMs that answer for a token: the run of its oldest VM (lowest id), which won any race."""
    winner = min(vms, key=lambda vm: vm.id)
    run = reservation_id(winner)
    return [vm for vm in vms if reservation_id(vm) == run]


def settled_token_reservation(
    ctx: RequestContext, token: str, vms: list[VmRecord], now: float
) -> list[VmRecord]:
    """The token's reservation once its winner is off hold (it is created on hold until it has won).

    A request that meets a run still being made waits for it, so every answer lists the whole run. If
    that run is rolled back meanwhile its VMs lose the token; unless another run holds the token by
    then, the rolled-back VMs are the answer, read by id.
    """
    members = token_reservation(vms)
    deadline = time.monotonic() + CLIENT_TOKEN_SETTLE_SECONDS
    winner = members[0]
    while winner.state is VmState.HOLD and time.monotonic() < deadline:
        time.sleep(CLIENT_TOKEN_SETTLE_POLL)
        try:
            winner = ctx.one.vm_info(winner.id)
        except OneNotFoundError:
            break
    again = find_by_client_token(ctx, token, now)
    if again:
        return token_reservation(again)
    return [ctx.one.vm_info(vm.id) for vm in members]


def token_answer(ctx: RequestContext, vms: list[VmRecord]) -> Reservation:
    """The same token answers the same reservation, whatever the rest of the request says."""
    zone = ctx.config.zone_name
    view = NicView(ctx)
    group = reservations(vms, zone, view)[0]
    group["Instances"] = [instance_from_vm(vm, zone, view) for vm in vms]
    return group


def claim_client_token(ctx: RequestContext, token: str, vm_id: int, now: float) -> list[VmRecord]:
    """Decide a ClientToken race after creating our first VM on hold: [] if ours won, else the winner's run.

    Every racer creates its VM (carrying the token) before looking, and oned numbers VMs in creation
    order, so each racer sees the lowest-numbered one and all agree on it, in any number of threads or
    econe processes. A loser withdraws its VM (token cleared, terminated) before answering.
    """
    try:
        vms = find_by_client_token(ctx, token, now)
    except BaseException:
        _terminate_quietly(ctx, vm_id, token)
        raise
    if not vms or min(vm.id for vm in vms) == vm_id:
        return []
    log.info("request %s: ClientToken raced; VM %d withdrawn for VM %d", ctx.request_id, vm_id, vms[0].id)
    _terminate_quietly(ctx, vm_id, token, withdrawn=True)
    return settled_token_reservation(ctx, token, [vm for vm in vms if vm.id != vm_id], now)


def run_extra_template(
    *,
    image: ImageRecord,
    tmpl: TemplateRecord,
    instance_type: str,
    client_token: str | None,
    reservation: str | None,
    tags: list[tuple[str, str]],
    launch_index: int = 0,
    key_name: str | None,
    public_key: str | None,
    user_data: str | None,
    disks: list[dict[str, str]] | None = None,
    root_size_mb: int | None = None,
    nics: list[dict[str, str]] | None = None,
) -> str:
    """The extra template for `template.instantiate`; oned replaces DISK and CONTEXT wholesale on merge,
    so the template's own disks and context are repeated after ours. `disks` (BlockDeviceMappings)
    follow them; `root_size_mb` grows the AMI's disk."""
    root = {"IMAGE_ID": str(image.id)}
    if root_size_mb is not None:
        root["SIZE"] = str(root_size_mb)
    attrs: list[tuple[str, str | dict[str, str]]] = [("DISK", root)]
    attrs.extend(("DISK", disk) for disk in tmpl.template.vectors("DISK"))
    attrs.extend(("DISK", disk) for disk in disks or [])
    attrs.append((IMAGE_ID_ATTR, IMAGE.format(image.id)))
    attrs.append((INSTANCE_TYPE_ATTR, instance_type))
    if client_token:
        attrs.append((CLIENT_TOKEN_ATTR, client_token))
    if reservation:
        # Only the later VMs of a run carry these: the first names the reservation by its own id.
        attrs.append((RESERVATION_ATTR, reservation))
        attrs.append((LAUNCH_INDEX_ATTR, str(launch_index)))
    attrs.extend(tags_to_vectors(tags))
    if nics is not None:
        # Like DISK and CONTEXT, NICs given here replace the template's own on oned's merge.
        attrs.extend(("NIC", nic) for nic in nics)
    context: dict[str, str] = {}
    for vector in tmpl.template.vectors("CONTEXT"):
        context.update(vector)
    if key_name is not None and public_key is not None:
        # SSH_PUBLIC_KEY is what OpenNebula's context packages install; EC2_* is upstream econe's.
        context["SSH_PUBLIC_KEY"] = context["EC2_PUBLIC_KEY"] = public_key
        context["EC2_KEYNAME"] = key_name
    if user_data:
        context["EC2_USER_DATA"] = user_data
    if context:
        attrs.append(("CONTEXT", context))
    return build_template(attrs)


def check_user_data(user_data: Any) -> str | None:
    """UserData travels base64-encoded (boto3 and libcloud encode it) and is at most 16 KiB decoded."""
    if not user_data:
        return None
    text = str(user_data)
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter_value("UserData", "Invalid BASE64 encoding of user data") from None
    if len(decoded) > MAX_USER_DATA_BYTES:
        raise invalid_parameter_value("UserData", f"User data is limited to {MAX_USER_DATA_BYTES} bytes")
    return text


def _terminate_quietly(
    ctx: RequestContext, vm_id: int, client_token: str | None, *, withdrawn: bool = False
) -> None:
    try:
        if client_token:
            # A failed run leaves no reservation behind: a retry with the same token launches anew.
            marks: list[tuple[str, str | dict[str, str]]] = [(CLIENT_TOKEN_ATTR, "")]
            if withdrawn:
                marks.append((WITHDRAWN_ATTR, "YES"))
            ctx.one.vm_update(vm_id, build_template(marks), append=True)
        ctx.one.vm_action("terminate-hard", vm_id)
        log.info("request %s: rolled back VM %d", ctx.request_id, vm_id)
    except OneError as exc:
        log.error("request %s: could not roll back VM %d: %s", ctx.request_id, vm_id, exc.message)


def run_instances(ctx: RequestContext, params: RunInstancesRequestTypeDef) -> Reservation:
    image_text = str(params["ImageId"]) if params.get("ImageId") else ""
    if not image_text:
        raise missing_parameter("ImageId")
    min_count, max_count = int(params["MinCount"]), int(params["MaxCount"])
    if min_count < 1 or max_count < min_count:
        raise invalid_parameter_value("MinCount", "MinCount must be at least 1 and at most MaxCount")
    if max_count > MAX_INSTANCES_PER_RUN:
        raise instance_limit_exceeded(MAX_INSTANCES_PER_RUN)
    client_token = params.get("ClientToken") or None
    if client_token is not None and not _CLIENT_TOKEN_RE.match(client_token):
        raise invalid_parameter_value("ClientToken", "must be 1 to 64 printable ASCII characters")
    now = time.time()
    zone = ctx.config.zone_name
    if client_token is not None:
        earlier = find_by_client_token(ctx, client_token, now)
        if earlier:
            return token_answer(ctx, settled_token_reservation(ctx, client_token, earlier, now))

    image = load_ami(ctx, image_text)
    instance_type = str(params.get("InstanceType") or DEFAULT_INSTANCE_TYPE)
    tmpl = instance_type_template(ctx, instance_type)
    key_name = params.get("KeyName")
    public_key = public_key_for(ctx, key_name) if key_name else None
    tags, volume_tags = launch_tags(params.get("TagSpecifications") or [])
    user_data = check_user_data(params.get("UserData"))
    devices = _launch_devices(ctx, params, image)
    nics = launch_nics(ctx, params, tmpl)

    def extra(reservation: str | None, launch_index: int, volumes: list[dict[str, str]] | None = None) -> str:
        try:
            return run_extra_template(
                image=image,
                tmpl=tmpl,
                instance_type=instance_type,
                client_token=client_token,
                reservation=reservation,
                launch_index=launch_index,
                tags=tags,
                key_name=key_name,
                public_key=public_key,
                user_data=user_data,
                disks=[*devices.disks, *(volumes or [])],
                root_size_mb=devices.root_size_mb,
                nics=nics,
            )
        except TemplateError as exc:
            raise unstorable_value(exc) from exc

    # Checked before anything is created: a value oned cannot carry fails the request here.
    first_extra = extra(None, 0)
    created: list[int] = []
    with ExitStack() as rollback:
        for index in range(max_count):
            volumes = devices.for_instance(ctx, rollback, volume_tags)  # kept volumes: one set per VM
            if index == 0:
                text = extra(None, 0, volumes) if volumes else first_extra
            else:
                text = extra(f"r-{created[0]:08d}", index, volumes)
            # With a ClientToken the first VM is made on hold and released once it has won the token.
            on_hold = index == 0 and client_token is not None
            try:
                vm_id = ctx.one.template_instantiate(tmpl.id, "", on_hold, text)
            except OneError as exc:
                if len(created) >= min_count:
                    log.info(
                        "request %s: launched %d of %d instances (%s)",
                        ctx.request_id,
                        len(created),
                        max_count,
                        exc.message,
                    )
                    break
                log.warning(
                    "request %s: only %d of MinCount %d instances launched; rolling back",
                    ctx.request_id,
                    len(created),
                    min_count,
                )
                raise
            if on_hold and client_token is not None:
                winners = claim_client_token(ctx, client_token, vm_id, now)
                if winners:
                    return token_answer(ctx, winners)
            created.append(vm_id)
            rollback.callback(_terminate_quietly, ctx, vm_id, client_token)
        if client_token is not None:
            ctx.one.vm_action("release", created[0])
        vms = [ctx.one.vm_info(vm_id) for vm_id in created]
        rollback.pop_all()
    log.info("request %s: launched VMs %s from template %d", ctx.request_id, created, tmpl.id)
    view = NicView(ctx)
    launched = [instance_from_vm(vm, zone, view) for vm in vms]
    return {
        "ReservationId": f"r-{created[0]:08d}",
        "OwnerId": str(ctx.user_id),
        "Groups": list(launched[0].get("SecurityGroups") or []),
        "Instances": launched,
    }


def _launch_devices(ctx: RequestContext, params: Mapping[str, Any], image: ImageRecord) -> LaunchDevices:
    # volumes.py reads VMs through this module: imported here, at call time.
    from one_drivers.econe.actions.volumes import launch_devices

    return launch_devices(ctx, params, image)


# --- state changes ---------------------------------------------------------------------------------

Decision = Callable[[VmRecord, Ec2State, Mapping[str, Any]], str | None]


def _incorrect_state(vm: VmRecord, state: Ec2State, verb: str) -> Ec2Error:
    return incorrect_instance_state(
        f"The instance '{INSTANCE.format(vm.id)}' is not in a state from which it can be {verb}."
    )


def _terminate_action(vm: VmRecord, state: Ec2State, params: Mapping[str, Any]) -> str | None:
    if state is Ec2State.TERMINATED:
        return None
    running = vm.state is VmState.ACTIVE and vm.lcm_state is LcmState.RUNNING
    return "terminate" if running and not params.get("Force") else "terminate-hard"


def _start_action(vm: VmRecord, state: Ec2State, params: Mapping[str, Any]) -> str | None:
    if state in (Ec2State.RUNNING, Ec2State.PENDING):
        return None
    if state is Ec2State.STOPPED:
        return "resume"
    raise _incorrect_state(vm, state, "started")


def _stop_action(vm: VmRecord, state: Ec2State, params: Mapping[str, Any]) -> str | None:
    if state in (Ec2State.STOPPED, Ec2State.STOPPING):
        return None
    if state is Ec2State.RUNNING:
        return "poweroff-hard" if params.get("Force") else "poweroff"
    raise _incorrect_state(vm, state, "stopped")


def _reboot_action(vm: VmRecord, state: Ec2State, params: Mapping[str, Any]) -> str | None:
    if state is Ec2State.RUNNING:
        return "reboot"
    raise _incorrect_state(vm, state, "rebooted")


def change_states(
    ctx: RequestContext, params: Mapping[str, Any], decide: Decision
) -> list[InstanceStateChange]:
    """Decide for every instance first (a refused one changes nothing), then act and report."""
    vms = load_vms(ctx, params.get("InstanceIds") or [])
    plan = [(vm, ec2_state(vm.state, vm.lcm_state)) for vm in vms]
    actions = [decide(vm, state, params) for vm, state in plan]
    changes: list[InstanceStateChange] = []
    for (vm, before), action in zip(plan, actions, strict=True):
        after = before
        if action is not None:
            try:
                ctx.one.vm_action(action, vm.id)
            except OneActionError as exc:
                log.info("request %s: %s on VM %d refused: %s", ctx.request_id, action, vm.id, exc.message)
                raise _incorrect_state(vm, before, "changed") from exc
            except OneAuthorizationError as exc:
                if vm.lock_level:
                    # A locked VM (DisableApiTermination): oned refuses every managing action.
                    raise operation_not_permitted(
                        f"The instance '{INSTANCE.format(vm.id)}' may not be changed: it is locked "
                        "(disableApiTermination); unlock it with ModifyInstanceAttribute first"
                    ) from exc
                raise
            log.info("request %s: %s on VM %d", ctx.request_id, action, vm.id)
            try:
                now_vm = ctx.one.vm_info(vm.id)
                after = ec2_state(now_vm.state, now_vm.lcm_state)
            except OneNotFoundError:
                after = Ec2State.TERMINATED
        # AWS's order (the model's): clients such as libcloud read the first <name> as the new state.
        changes.append(
            {
                "InstanceId": INSTANCE.format(vm.id),
                "CurrentState": state_dict(after),
                "PreviousState": state_dict(before),
            }
        )
    return changes


def terminate_instances(
    ctx: RequestContext, params: TerminateInstancesRequestTypeDef
) -> TerminateInstancesResult:
    return {"TerminatingInstances": change_states(ctx, params, _terminate_action)}


def start_instances(ctx: RequestContext, params: StartInstancesRequestTypeDef) -> StartInstancesResult:
    return {"StartingInstances": change_states(ctx, params, _start_action)}


def stop_instances(ctx: RequestContext, params: StopInstancesRequestTypeDef) -> StopInstancesResult:
    return {"StoppingInstances": change_states(ctx, params, _stop_action)}


def reboot_instances(ctx: RequestContext, params: RebootInstancesRequestTypeDef) -> NoOutput:
    change_states(ctx, params, _reboot_action)
    return {}


# --- tags ------------------------------------------------------------------------------------------


def _tagged_vm(vm: VmRecord) -> TaggedResource:
    return TaggedResource(INSTANCE.format(vm.id), "instance", tags_from_template(vm.user_template))


def _load_tagged_vm(ctx: RequestContext, text: str) -> TaggedResource:
    return _tagged_vm(load_vm(ctx, text))


def _store_vm_tags(ctx: RequestContext, text: str, tags: list[tuple[str, str]]) -> None:
    ctx.one.vm_update(INSTANCE.parse(text), tags_template(tags), append=True)


def _tagged_vms(ctx: RequestContext) -> list[TaggedResource]:
    """Live VMs with tags; full bodies, since the reduced vmpool.info hides the USER_TEMPLATE."""
    found: list[TaggedResource] = []
    offset = 0
    while True:
        page = ctx.one.vmpool_infoextended(-2, offset, -MAX_PAGE, -1)
        found.extend(r for r in map(_tagged_vm, page) if r.tags)
        if len(page) < MAX_PAGE:
            return found
        offset += MAX_PAGE


register_kind(TaggableKind("instance", INSTANCE.prefix, _load_tagged_vm, _store_vm_tags, _tagged_vms))


HANDLERS: dict[str, Handler] = {
    "RunInstances": run_instances,
    "DescribeInstances": describe_instances,
    "TerminateInstances": terminate_instances,
    "StartInstances": start_instances,
    "StopInstances": stop_instances,
    "RebootInstances": reboot_instances,
}
