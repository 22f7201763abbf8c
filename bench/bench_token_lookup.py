"""What DEPLOY's pre-launch token lookup costs the endpoint as the account grows (why vmm_ec2/lookup.py
asks DescribeTags): moto's own service time (tests/soak/harness.py measures it in moto's process) for

- before: DescribeInstances filtered by the deploy-token tag and the live states, the lookup DEPLOY made
  until the burst at 1,000 VMs stalled on it (moto reads every tag of every resource for each instance);
- now: DescribeTags filtered by key and value (one pass over the tags) - finding nothing, as before
  every first launch - and, for a found token, DescribeInstances by instance-id and state.

    make bench ARGS=token_lookup        # LOOKUP_SIZES=100,400,800 overrides the account sizes
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bench.table import print_table
from tests.soak.harness import Endpoint

LIVE = ["pending", "running", "stopping", "stopped"]
REPEAT = 5


def _tags(n: int) -> list[dict[str, Any]]:
    token = f"one-{n}-1700000000-0"
    tags = [{"Key": "ONE_ID", "Value": str(n)}, {"Key": "ONE_DEPLOY_TOKEN", "Value": token}]
    return [{"ResourceType": "instance", "Tags": tags}]


def _lookups(ec2: Any, known: str) -> list[Callable[[], object]]:
    """The three calls measured: before (tag filter), now (DescribeTags), now for a found token (by id)."""
    token = "one-999999-1700000000-0"  # a first launch: no instance has it
    live = {"Name": "instance-state-name", "Values": LIVE}
    tag_filter = [{"Name": "tag:ONE_DEPLOY_TOKEN", "Values": [token]}, live]
    key_value = [
        {"Name": "resource-type", "Values": ["instance"]},
        {"Name": "key", "Values": ["ONE_DEPLOY_TOKEN"]},
        {"Name": "value", "Values": [token]},
    ]
    by_id = [{"Name": "instance-id", "Values": [known]}, live]
    return [
        lambda: ec2.describe_instances(Filters=tag_filter),
        lambda: ec2.describe_tags(Filters=key_value),
        lambda: ec2.describe_instances(Filters=by_id),
    ]


def _service_ms(endpoint: Endpoint, call: Callable[[], object]) -> float:
    """moto's median service time of `call`, in ms."""
    samples = []
    for _ in range(REPEAT):
        before, _calls = endpoint.service_time()
        call()
        after, _calls = endpoint.service_time()
        samples.append((after - before) * 1000)
    return sorted(samples)[len(samples) // 2]


def run() -> None:
    sizes = [int(n) for n in os.environ.get("LOOKUP_SIZES", "100,400,800,1000").split(",")]
    rows = []
    with Endpoint() as endpoint:
        ec2 = endpoint.ec2()
        ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        launched = 0
        known = ""
        for size in sizes:
            while launched < size:
                answer = ec2.run_instances(
                    ImageId=ami,
                    MinCount=1,
                    MaxCount=1,
                    InstanceType="t3.micro",
                    TagSpecifications=_tags(launched),
                )
                known = answer["Instances"][0]["InstanceId"]
                launched += 1
            by_tag, tags, by_id = (_service_ms(endpoint, call) for call in _lookups(ec2, known))
            rows.append([size, by_tag, tags, by_id, f"{by_tag / tags:.1f}"])
    print_table(
        "token lookup: moto's service time per call (median ms) at N instances",
        ["instances", "before: tag filter", "now: DescribeTags", "now, found: by id", "before/now"],
        rows,
    )
