"""Instance-type catalog: shipped table, spellings, config overrides, DescribeInstanceTypes via moto."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from one_drivers.ec2.catalog import (
    InstanceSize,
    InstanceTypeCatalog,
    UnknownInstanceType,
    parse_overrides,
    shipped_table,
    type_key,
    type_name,
)

if TYPE_CHECKING:
    from types_boto3_ec2 import EC2Client


def ec2_client(endpoint: str) -> EC2Client:
    client: EC2Client = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    return client


def test_shipped_table_is_sane() -> None:
    table = shipped_table()
    assert len(table) > 500
    for name, size in table.items():
        assert size.name == name
        assert size.vcpus > 0 and size.memory_mib > 0, name
    assert table["m1.small"] == InstanceSize("m1.small", 1, 1740)
    assert table["t3.micro"] == InstanceSize("t3.micro", 2, 1024)
    assert table["t2.micro"].memory_kb == 1024 * 1024
    assert table["c5.2xlarge"].cpu == 800
    # The families upstream's hard-coded list had, and today's common ones.
    for family in ("m1", "m3", "m4", "m5", "m6i", "m7i", "c4", "c5", "c6i", "r5", "t2", "t3", "t3a", "t4g"):
        assert any(n.startswith(family + ".") for n in table), family


@pytest.mark.parametrize(
    ("capacity", "ec2", "key"),
    [
        ("M1_SMALL", "m1.small", "M1_SMALL"),
        ("T3_2XLARGE", "t3.2xlarge", "T3_2XLARGE"),
        ("m5.large", "m5.large", "M5_LARGE"),
        (" c5_xlarge ", "c5.xlarge", "C5_XLARGE"),
    ],
)
def test_spellings(capacity: str, ec2: str, key: str) -> None:
    assert type_name(capacity) == ec2
    assert type_key(capacity) == key
    assert type_key(ec2) == key


def test_dashed_family_reachable_from_capacity_spelling() -> None:
    cat = InstanceTypeCatalog()
    size = cat.size("U_6TB1_56XLARGE")
    assert size.name == "u-6tb1.56xlarge"
    assert cat.size("C7I_FLEX_LARGE").name == "c7i-flex.large"


def test_unknown_type_is_named() -> None:
    with pytest.raises(UnknownInstanceType) as err:
        InstanceTypeCatalog().sizes(["m1.small", "ZZ9_PLURAL"])
    assert err.value.name == "ZZ9_PLURAL"
    assert "ZZ9_PLURAL" in str(err.value)


def test_overrides_upstream_and_new_spelling() -> None:
    over = parse_overrides(
        {"m1.small": {"cpu": 2, "memory": 1.5}, "custom.big": {"vcpus": 64, "memory_mib": 4096}}
    )
    cat = InstanceTypeCatalog(over)
    assert cat.size("M1_SMALL") == InstanceSize("m1.small", 2, 1536)
    assert cat.size("CUSTOM_BIG").vcpus == 64
    assert cat.size("t3.micro").vcpus == 2  # the rest still from the table
    with pytest.raises(ValueError):
        parse_overrides({"x.y": {"cpu": 1}})
    with pytest.raises(ValueError):
        parse_overrides({"x.y": 3})


def test_endpoint_sizes_fetched_once_and_cached(moto_endpoint: str) -> None:
    client = ec2_client(moto_endpoint)
    cat = InstanceTypeCatalog(table={})  # nothing shipped: everything must come from the endpoint
    sizes = cat.sizes(["M1_SMALL", "t3.micro", "c5.large"], client)
    assert sizes["M1_SMALL"] == InstanceSize("m1.small", 1, 1740)
    assert sizes["t3.micro"].vcpus == 2
    assert sizes["c5.large"].memory_mib == 4096
    assert cat.endpoint_calls == 1
    cat.sizes(["m1.small", "T3_MICRO"], client)
    assert cat.endpoint_calls == 1  # cached


def test_endpoint_unknown_type_falls_back_then_errors(moto_endpoint: str) -> None:
    client = ec2_client(moto_endpoint)
    cat = InstanceTypeCatalog(table={"weird.one": InstanceSize("weird.one", 3, 300)})
    # moto rejects the whole batch for one unknown name; the known one is still resolved.
    sizes = cat.sizes(["t3.micro", "weird.one"], client)
    assert sizes["t3.micro"].vcpus == 2
    assert sizes["weird.one"].vcpus == 3
    calls = cat.endpoint_calls
    # the endpoint said it has no weird.one: not asked again every monitoring cycle
    assert cat.sizes(["t3.micro", "weird.one"], client) == sizes
    assert cat.endpoint_calls == calls
    with pytest.raises(UnknownInstanceType, match=r"nope\.nano"):
        cat.size("nope.nano", client)


class NoDescribeInstanceTypes:
    """Stands in for an endpoint (OpenStack ec2-api) that does not implement DescribeInstanceTypes."""

    class meta:  # mirrors boto3's client.meta
        endpoint_url = "http://old-endpoint"
        region_name = "r1"

    def __init__(self) -> None:
        self.calls = 0

    def describe_instance_types(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise ClientError(
            {"Error": {"Code": "InvalidAction", "Message": "not implemented"}, "ResponseMetadata": {}},
            "DescribeInstanceTypes",
        )


def test_unsupported_endpoint_uses_table_and_is_remembered() -> None:
    client = NoDescribeInstanceTypes()
    endpoint = cast("EC2Client", client)  # a stand-in with only what the catalog calls
    cat = InstanceTypeCatalog()
    assert cat.size("M1_SMALL", endpoint).memory_mib == 1740
    assert cat.size("T3_MICRO", endpoint).vcpus == 2
    assert client.calls == 1


class PagedEndpoint:
    """An endpoint that pages DescribeInstanceTypes even for a short list of names."""

    class meta:  # mirrors boto3's client.meta
        endpoint_url = "http://paged"
        region_name = "r1"

    def __init__(self) -> None:
        self.tokens: list[str | None] = []

    def describe_instance_types(self, **kwargs: Any) -> dict[str, Any]:
        token = kwargs.get("NextToken")
        self.tokens.append(token)
        if token is None:
            item = {
                "InstanceType": "x1.tiny",
                "VCpuInfo": {"DefaultVCpus": 3},
                "MemoryInfo": {"SizeInMiB": 300},
            }
            return {"InstanceTypes": [item], "NextToken": "page-2"}
        item = {
            "InstanceType": "x1.huge",
            "VCpuInfo": {"DefaultVCpus": 30},
            "MemoryInfo": {"SizeInMiB": 3000},
        }
        return {"InstanceTypes": [item]}


def test_endpoint_pages_are_followed() -> None:
    client = PagedEndpoint()
    cat = InstanceTypeCatalog(table={})
    sizes = cat.sizes(["X1_TINY", "x1.huge"], cast("EC2Client", client))  # a stand-in, see above
    assert sizes["X1_TINY"] == InstanceSize("x1.tiny", 3, 300)
    assert sizes["x1.huge"].memory_mib == 3000
    assert client.tokens == [None, "page-2"]
