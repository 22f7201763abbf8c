"""DEPLOY's token lookup (vmm_ec2/lookup.py): DescribeTags by key and value, then the instance by id; an
endpoint that refuses DescribeTags is asked DescribeInstances by tag, and a re-sent DEPLOY still finds
its instance either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from one_drivers.vmm_ec2.actions import PlainControl
from tests.ec2.fault_proxy import FaultProxy
from tests.vmm_ec2.test_actions import ec2, instances, make_vmm, request


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def filters(form: dict[str, list[str]]) -> dict[str, list[str]]:
    """A recorded request's Filter.N.Name -> its Filter.N.Value.M values."""
    found: dict[str, list[str]] = {}
    for key, values in form.items():
        if key.startswith("Filter.") and key.endswith(".Name"):
            prefix = key[: -len("Name")]
            found[values[0]] = [v[0] for k, v in sorted(form.items()) if k.startswith(prefix + "Value.")]
    return found


def test_deploy_looks_its_token_up_with_describe_tags(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path
) -> None:
    proxy.record_forms = True
    iid = make_vmm(proxy.url).run("DEPLOY", request(real_dir, vm_id=31, seq=2), PlainControl())
    assert instances(moto_endpoint) == {iid: "running"}
    lookups = [filters(f) for f in proxy.forms if f["Action"] == ["DescribeTags"]]
    token = f"one-31-{request(real_dir, vm_id=31).stime}-2"
    assert lookups == [{"resource-type": ["instance"], "key": ["ONE_DEPLOY_TOKEN"], "value": [token]}]
    # No DescribeInstances of the deploy walks the account by tag: each names its instance.
    described = [filters(f) for f in proxy.forms if f["Action"] == ["DescribeInstances"]]
    assert described and not any(name.startswith("tag:") for flt in described for name in flt)


def test_a_token_on_a_dead_instance_is_not_a_launch(moto_endpoint: str, real_dir: Path) -> None:
    # DescribeTags still lists a terminated instance's tags: only a live one may stand for the launch.
    first = make_vmm(moto_endpoint).run("DEPLOY", request(real_dir, vm_id=32), PlainControl())
    ec2(moto_endpoint).terminate_instances(InstanceIds=[first])
    again = make_vmm(moto_endpoint).run("DEPLOY", request(real_dir, vm_id=32), PlainControl())
    assert again != first
    assert instances(moto_endpoint) == {first: "terminated", again: "running"}


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "UnauthorizedOperation"), (400, "InvalidAction"), (501, "NotImplemented")],
)
def test_an_endpoint_refusing_describe_tags_still_never_launches_twice(
    proxy: FaultProxy, moto_endpoint: str, real_dir: Path, status: int, code: str
) -> None:
    proxy.fail("DescribeTags", 1000, status, code)
    vmm = make_vmm(proxy.url, max_attempts=2)
    first = vmm.run("DEPLOY", request(real_dir, vm_id=33), PlainControl())
    asked = proxy.seen["DescribeTags"]
    assert asked >= 1
    # Re-sent, to the same driver and to a restarted one (new clients): the tag-filtered
    # DescribeInstances finds the launch; the same client does not ask DescribeTags again.
    assert vmm.run("DEPLOY", request(real_dir, vm_id=33), PlainControl()) == first
    assert proxy.seen["DescribeTags"] == asked
    assert (
        make_vmm(proxy.url, max_attempts=2).run("DEPLOY", request(real_dir, vm_id=33), PlainControl())
        == first
    )
    assert instances(moto_endpoint) == {first: "running"}
    assert proxy.forwarded["RunInstances"] == 1
