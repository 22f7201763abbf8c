"""What each VMM action does on EC2 (spec §4); shared by the long-running program and the remotes scripts.

`Ec2Vmm.run(action, request, control)` returns the SUCCESS info or raises ActionError. Requests come
from `VmRequest.from_action_data` (the decoded oned message). Waits are bounded and cancellable
(DRIVER_CANCEL); DEPLOY never launches twice for one deploy sequence (ClientToken + a token tag looked up
before any retry) and terminates what it launched if anything after the launch fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from one_drivers.ec2 import retries
from one_drivers.ec2.attributes import VMM_ATTRIBUTES, aws_attributes
from one_drivers.ec2.clients import Ec2Clients
from one_drivers.ec2.errors import ErrorKind, classify, describe
from one_drivers.ec2.states import GONE_STATES, LIVE_STATES, STOPPED_STATES, map_state
from one_drivers.ec2.tags import deploy_token_prefix
from one_drivers.mad.codec import ActionData
from one_drivers.mad.loop import ActionCancelled, ActionError
from one_drivers.one.states import (
    POWEROFF_LCM_STATES,
    RESUME_DEPLOY_LCM_STATES,
    LcmState,
    VmState,
    lcm_state_from_number,
    vm_state_from_number,
)
from one_drivers.one.template import TemplateError, quote_value
from one_drivers.vmm_ec2 import lookup
from one_drivers.vmm_ec2 import section as ec2_section

if TYPE_CHECKING:  # the stubs are a development dependency only
    from types_boto3_ec2 import EC2Client
    from types_boto3_ec2.type_defs import DescribeInstancesResultTypeDef, InstanceTypeDef

    from one_drivers.ec2.catalog import InstanceTypeCatalog

log = logging.getLogger(__name__)

UNSUPPORTED = "not supported by the ec2 driver"


class Control(Protocol):
    """What an action needs from its caller: a cancel flag and a way to send LOG lines to oned."""

    cancelled: threading.Event

    def log(self, text: str, level: str = "I") -> None: ...

    def check_cancelled(self) -> None: ...


class PlainControl:
    """Control for callers without oned's pipe (remotes scripts, demo): LOG lines go to a callback."""

    def __init__(self, sink: Callable[[str, str], None] | None = None) -> None:
        self.cancelled = threading.Event()
        self._sink = sink

    def log(self, text: str, level: str = "I") -> None:
        log.info("%s", text)
        if self._sink is not None:
            self._sink(level, text)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise ActionCancelled("cancelled")


@dataclass(frozen=True)
class VmRequest:
    """The parts of oned's message the actions use."""

    vm_id: int
    host: str
    state: VmState
    lcm: LcmState
    deploy_id: str
    seq: int
    stime: str
    data: ActionData

    @classmethod
    def from_action_data(cls, data: ActionData, vm_id: str = "", host: str = "") -> VmRequest:
        """Build from a decoded message; `vm_id`/`host` (message id, script argv) fill what is missing."""
        vm = data.vm.header()
        try:
            number = int(vm.id or vm_id or "-1")
            state = vm_state_from_number(vm.state or "0")
            lcm = lcm_state_from_number(vm.lcm_state or "0")
        except ValueError as exc:
            raise ActionError(f"bad VM document: {exc}") from exc
        # 6.10 sends an empty top-level DEPLOY_ID on DEPLOY, resume included: the VM document keeps it.
        deploy_id = data.deploy_id or vm.deploy_id
        target = data.host or host or vm.hostname
        return cls(number, target, state, lcm, deploy_id, vm.seq, vm.stime, data)


class Ec2Vmm:
    """The VMM actions against the EC2 endpoint of each OpenNebula host."""

    def __init__(
        self,
        clients: Ec2Clients,
        *,
        defaults: dict[str, str] | None = None,
        wait_timeout: float | None = None,
        poll_interval: float = 2.0,
        launch_attempts: int | None = None,
        backoff: float = 1.0,
        catalog: InstanceTypeCatalog | None = None,
    ) -> None:
        self.clients = clients
        self.defaults = defaults or {}
        self.wait_timeout = wait_timeout if wait_timeout is not None else clients.config.state_wait_timeout
        self.poll_interval = poll_interval
        self.launch_attempts = launch_attempts or clients.config.max_attempts
        self.backoff = backoff
        self._catalog = catalog
        self.actions: dict[str, Callable[[VmRequest, Control], str]] = {
            "DEPLOY": self.deploy,
            "SHUTDOWN": self.shutdown,
            "CANCEL": self.cancel,
            "CLEANUP": self.cleanup,
            "REBOOT": self.reboot,
            "RESET": self.reboot,
            "SAVE": self.save,
            "RESTORE": self.restore,
            "POLL": self.poll,
        }

    def run(self, action: str, request: VmRequest, control: Control) -> str:
        handler = self.actions.get(action.upper())
        if handler is None:
            raise ActionError(f"{action.upper()} is {UNSUPPORTED}")
        try:
            # A cancel also ends a call's wait for throttling to pass (up to 600 s otherwise).
            with retries.cancel_scope(control.cancelled):
                return handler(request, control)
        except (ActionError, ActionCancelled):
            raise
        except retries.WaitCancelled as exc:
            raise ActionCancelled(f"{action.upper()} of VM {request.vm_id} cancelled") from exc
        except ec2_section.SectionError as exc:
            raise ActionError(f"{action.upper()} of VM {request.vm_id}: {exc}") from exc
        except Exception as exc:
            if not _is_botocore(exc) and classify(exc) is ErrorKind.FATAL:
                raise  # a bug of ours: the loop logs the traceback and still replies FAILURE
            raise ActionError(f"{action.upper()} of VM {request.vm_id}: {describe(exc)}") from exc

    # --- helpers ---------------------------------------------------------------------------------
    def _client(self, request: VmRequest, retry: bool = True) -> EC2Client:
        if not request.host:
            raise ActionError("the message names no host")
        client, settings = self.clients.for_host(request.host)
        return client if retry else self.clients.client_for(settings, retry=False)

    def _describe(self, client: EC2Client, instance_id: str) -> InstanceTypeDef | None:
        """The instance, or None when EC2 does not know it (or the id cannot be an EC2 id)."""
        try:
            reservations = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except Exception as exc:
            if classify(exc) is ErrorKind.NOT_FOUND:
                return None
            raise
        for reservation in reservations:
            for instance in reservation.get("Instances", []):
                if instance.get("InstanceId") == instance_id:
                    return instance.copy()
        return None

    def _find_by_token(self, client: EC2Client, token: str) -> InstanceTypeDef | None:
        """A live instance launched with this deploy token (tag), if any."""
        return lookup.find_by_token(client, token)

    def _sleep(self, control: Control, seconds: float) -> None:
        if control.cancelled.wait(seconds):
            control.check_cancelled()

    def _wait(
        self,
        client: EC2Client,
        instance_id: str,
        targets: Iterable[str],
        control: Control,
        *,
        gone_ok: bool = False,
    ) -> str:
        """Poll until the instance is in one of `targets`; bounded by wait_timeout, cancellable."""
        wanted = frozenset(targets)
        deadline = time.monotonic() + self.wait_timeout
        state = "unknown"
        while True:
            control.check_cancelled()
            try:
                instance = self._describe(client, instance_id)
                if instance is None:
                    if gone_ok:
                        return "terminated"
                    state = "not visible yet"
                else:
                    state = str(instance["State"]["Name"])
                    if state in wanted:
                        return state
                    if state in GONE_STATES and not wanted & GONE_STATES:
                        raise ActionError(
                            f"instance {instance_id} is {state} while waiting for {'/'.join(sorted(wanted))}"
                        )
            except (ActionError, ActionCancelled):
                raise
            except Exception as exc:
                if classify(exc) is ErrorKind.FATAL:
                    raise
                state = f"unknown ({describe(exc)})"
            if time.monotonic() >= deadline:
                raise ActionError(
                    f"timeout after {self.wait_timeout:g}s waiting for instance {instance_id} to be "
                    f"{'/'.join(sorted(wanted))} (last state: {state})"
                )
            self._sleep(control, self.poll_interval)

    def _terminate(self, client: EC2Client, instance_id: str, control: Control, wait: bool = True) -> None:
        try:
            client.terminate_instances(InstanceIds=[instance_id])
        except Exception as exc:
            if classify(exc) is ErrorKind.NOT_FOUND:
                control.log(f"instance {instance_id} does not exist any more")
                return
            raise
        if wait:
            self._wait(client, instance_id, GONE_STATES, control, gone_ok=True)

    def _rollback_terminate(self, client: EC2Client, instance_id: str, vm_id: int) -> None:
        """Never leak: terminate what this DEPLOY launched, whatever happened (no waiting, no cancel)."""
        try:
            with retries.cancel_scope(None):
                client.terminate_instances(InstanceIds=[instance_id])
            log.warning("VM %d: terminated instance %s after a failed deploy", vm_id, instance_id)
        except Exception as exc:
            log.error(
                "VM %d: could not terminate %s after a failed deploy: %s", vm_id, instance_id, describe(exc)
            )

    def _last_lookup(self, client: EC2Client, deploy_token: str, vm_id: int) -> str | None:
        """The instance a launch that may have happened unanswered made, if any (never cancelled);
        a lookup that fails is logged: CLEANUP and the IM reaper find the instance by its tags."""
        try:
            with retries.cancel_scope(None):
                found = self._find_by_token(client, deploy_token)
        except Exception as exc:
            log.error("VM %d: could not look up a possibly launched instance: %s", vm_id, describe(exc))
            return None
        return None if found is None else str(found["InstanceId"])

    def _rollback_lost_launch(self, client: EC2Client, deploy_token: str, vm_id: int) -> None:
        """A cancelled DEPLOY whose launch may have happened unanswered: terminate it if it did."""
        found = self._last_lookup(client, deploy_token, vm_id)
        if found is not None:
            self._rollback_terminate(client, found, vm_id)

    def _require_id(self, request: VmRequest, action: str) -> str:
        if not request.deploy_id:
            raise ActionError(
                f"{action} of VM {request.vm_id}: no DEPLOY_ID (EC2 instance id) in the message"
            )
        return request.deploy_id

    def _stop(self, client: EC2Client, instance_id: str, control: Control, action: str) -> None:
        instance = self._describe(client, instance_id)
        if instance is None:
            raise ActionError(f"{action}: instance {instance_id} does not exist")
        if instance.get("RootDeviceType", "ebs") != "ebs":
            raise ActionError(
                f"{action}: instance {instance_id} is instance-store backed and cannot be stopped "
                "(only EBS-backed instances support poweroff/undeploy/suspend/stop)"
            )
        client.stop_instances(InstanceIds=[instance_id])
        self._wait(client, instance_id, ["stopped"], control)

    def _start(self, client: EC2Client, instance_id: str, control: Control, action: str) -> str:
        instance = self._describe(client, instance_id)
        if instance is None or instance["State"]["Name"] in GONE_STATES:
            raise ActionError(f"{action}: instance {instance_id} does not exist any more")
        if instance["State"]["Name"] in STOPPED_STATES:
            if instance["State"]["Name"] == "stopping":
                self._wait(client, instance_id, ["stopped"], control)
            client.start_instances(InstanceIds=[instance_id])
        self._wait(client, instance_id, ["running"], control)
        return instance_id

    # --- actions ---------------------------------------------------------------------------------
    def deploy(self, request: VmRequest, control: Control) -> str:
        client = self._client(request)
        if request.lcm in RESUME_DEPLOY_LCM_STATES:
            instance_id = self._require_id(request, "resume")
            control.log(f"resuming instance {instance_id} (LCM {request.lcm.name})")
            return self._start(client, instance_id, control, "DEPLOY (resume)")
        section = ec2_section.select_section(request.data.vm, request.host)
        merged = ec2_section.merge_defaults(section, self.defaults)
        token = ec2_section.deploy_token(request.vm_id, request.stime, request.seq)
        plan = ec2_section.plan_launch(
            merged,
            vm_id=request.vm_id,
            token=token,
            context=request.data.vm.context(),
            onegate_token=_onegate_token(request.data, request.vm_id),
        )
        for note in plan.notes:
            control.log(note, "W")
        existing = self._find_by_token(client, token)
        if existing is not None:
            instance_id = str(existing["InstanceId"])
            control.log(f"DEPLOY re-sent: instance {instance_id} was already launched for token {token}")
        else:
            instance_id = self._launch(request, plan, control, token)
        with contextlib.ExitStack() as rollback:
            rollback.callback(self._rollback_terminate, client, instance_id, request.vm_id)
            if existing is not None and existing["State"]["Name"] in ("stopped", "stopping"):
                self._start(client, instance_id, control, "DEPLOY")
            self._wait(client, instance_id, ["running"], control)
            if plan.elastic_ip:
                client.associate_address(
                    InstanceId=instance_id, **ec2_section.elastic_ip_params(plan.elastic_ip)
                )
                control.log(f"elastic IP {plan.elastic_ip} associated with {instance_id}")
            rollback.pop_all()
        log.info("VM %d: deployed as %s", request.vm_id, instance_id)
        return instance_id

    def _launch(
        self, request: VmRequest, plan: ec2_section.LaunchPlan, control: Control, deploy_token: str
    ) -> str:
        """RunInstances, never blindly resent: after an ambiguous failure look the launch up first, by
        the deploy token tag (the ClientToken may be the template's CLIENTTOKEN, which no tag holds)."""
        once = self._client(request, retry=False)
        lookup = self._client(request)
        params = dict(plan.params)
        last: Exception | None = None
        ambiguous = False  # an attempt failed in a way that may have launched (its answer was lost)
        try:
            for attempt in range(self.launch_attempts):
                control.check_cancelled()
                if attempt:
                    self._sleep(control, min(self.backoff * 2 ** (attempt - 1), 20.0))
                    try:
                        found = self._find_by_token(lookup, deploy_token)
                    except retries.WaitCancelled:
                        raise
                    except Exception as exc:
                        last = exc
                        continue
                    if found is not None:
                        return str(found["InstanceId"])
                try:
                    response = once.run_instances(**params)
                    launched = response["Instances"][0]
                    if launched.get("State", {}).get("Name") in GONE_STATES:
                        # AWS replays a used ClientToken with the original, now dead, instance (e.g.
                        # `onevm recover --retry` of a failed boot): launch anew under a fresh token.
                        control.log(
                            f"token {params['ClientToken']} belongs to dead instance {launched['InstanceId']}"
                        )
                        params = {**params, "ClientToken": f"{plan.client_token}-r{int(time.time())}"}
                        last = ActionError("RunInstances replayed a terminated instance")
                        continue
                    return str(launched["InstanceId"])
                except Exception as exc:
                    kind = classify(exc)
                    if kind in (ErrorKind.NOT_FOUND, ErrorKind.FATAL):
                        raise
                    last = exc
                    ambiguous = True
                    log.warning(
                        "VM %d: RunInstances attempt %d: %s", request.vm_id, attempt + 1, describe(exc)
                    )
        except (ActionCancelled, retries.WaitCancelled):
            if ambiguous:
                self._rollback_lost_launch(lookup, deploy_token, request.vm_id)
            raise
        assert last is not None
        if ambiguous:
            # The attempts ran out, but one may have launched unanswered (and its lookups failed too):
            # a last look, uncancellable; what it finds is this DEPLOY's instance, not a leak.
            launched_id = self._last_lookup(lookup, deploy_token, request.vm_id)
            if launched_id is not None:
                control.log(f"RunInstances answered no attempt, but instance {launched_id} was launched")
                return launched_id
        raise ActionError(
            f"DEPLOY of VM {request.vm_id}: RunInstances failed after {self.launch_attempts} attempts: {describe(last)}"
        )

    def shutdown(self, request: VmRequest, control: Control) -> str:
        return self._stop_or_terminate(request, control, "SHUTDOWN")

    def cancel(self, request: VmRequest, control: Control) -> str:
        # oned's exec driver also sends CLEANUP to the `cancel` script (VM DONE / CLEANUP_* states).
        if request.state is VmState.DONE or request.lcm in (
            LcmState.CLEANUP_DELETE,
            LcmState.CLEANUP_RESUBMIT,
        ):
            return self.cleanup(request, control)
        return self._stop_or_terminate(request, control, "CANCEL")

    def _stop_or_terminate(self, request: VmRequest, control: Control, action: str) -> str:
        """SHUTDOWN/CANCEL: stop the instance when oned powers the VM off, else terminate it."""
        client = self._client(request)
        instance_id = self._require_id(request, action)
        if request.lcm in POWEROFF_LCM_STATES:
            self._stop(client, instance_id, control, action)
        else:
            self._terminate(client, instance_id, control)
        return ""

    def cleanup(self, request: VmRequest, control: Control) -> str:
        """Terminate whatever this VM has on the host; a missing instance is success."""
        client = self._client(request)
        targets = {request.deploy_id} if request.deploy_id else set()
        # A DEPLOY that failed or was cancelled left no DEPLOY_ID: find its instances by our tags.
        prefix = deploy_token_prefix(request.vm_id, request.stime)
        # Typed here: the stubs' PageIterator is botocore's, which this project has no stubs for.
        pages: Iterable[DescribeInstancesResultTypeDef] = client.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{ec2_section.ONE_ID_TAG}", "Values": [str(request.vm_id)]},
                {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
            ]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                    if tags.get(ec2_section.DEPLOY_TOKEN_TAG, "").startswith(prefix):
                        targets.add(str(instance["InstanceId"]))
        for instance_id in sorted(targets):
            self._terminate(client, instance_id, control, wait=False)
            control.log(f"instance {instance_id} terminated")
        return ""

    def reboot(self, request: VmRequest, control: Control) -> str:
        client = self._client(request)
        client.reboot_instances(InstanceIds=[self._require_id(request, "REBOOT")])
        return ""

    def save(self, request: VmRequest, control: Control) -> str:
        if request.lcm is LcmState.SAVE_MIGRATE:
            # An instance cannot move to another host's account/region; "succeeding" here would make
            # oned address it through the wrong endpoint from now on and lose track of it.
            raise ActionError(f"SAVE of VM {request.vm_id}: cold migration is {UNSUPPORTED}")
        client = self._client(request)
        self._stop(client, self._require_id(request, "SAVE"), control, "SAVE")
        return ""

    def restore(self, request: VmRequest, control: Control) -> str:
        client = self._client(request)
        return self._start(client, self._require_id(request, "RESTORE"), control, "RESTORE")

    def poll(self, request: VmRequest, control: Control) -> str:
        client = self._client(request)
        instance = self._describe(client, self._require_id(request, "POLL"))
        return poll_info(instance, self._memory_kb(instance))

    def _memory_kb(self, instance: InstanceTypeDef | None) -> int:
        if instance is None:
            return 0
        try:
            if self._catalog is None:
                from one_drivers.ec2.catalog import InstanceTypeCatalog

                self._catalog = InstanceTypeCatalog()
            return int(self._catalog.size(str(instance.get("InstanceType", ""))).memory_kb)
        except Exception:  # an unknown type only costs the MEMORY figure
            return 0


def poll_info(instance: InstanceTypeDef | None, memory_kb: int = 0) -> str:
    """The poll string oned parses (spec §5.4): `STATE=... MEMORY=... CPU=... AWS_...="..."`."""
    if instance is None:
        return "STATE=d"
    state = map_state(str(instance.get("State", {}).get("Name", ""))).poll
    tokens = [f"STATE={state}", f"MEMORY={memory_kb}", "CPU=0", "NETTX=0", "NETRX=0"]
    for name, value in aws_attributes(instance, VMM_ATTRIBUTES):
        try:
            tokens.append(f"AWS_{name}={quote_value(value)}")
        except TemplateError:
            log.warning("poll: dropping AWS_%s, its value cannot be carried in a template", name)
    return " ".join(tokens)


def _onegate_token(data: ActionData, vm_id: int) -> str | None:
    """The OneGate token oned keeps in the VM's directory (`vms/<id>/token.txt`), if readable."""
    candidates = []
    if data.local_deployment_file:
        candidates.append(Path(data.local_deployment_file).parent / "token.txt")
    one_location = os.environ.get("ONE_LOCATION")
    base = Path(one_location) / "var" if one_location else Path("/var/lib/one")
    candidates.append(base / "vms" / str(vm_id) / "token.txt")
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError:
            continue
    return None


def _is_botocore(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("botocore")
