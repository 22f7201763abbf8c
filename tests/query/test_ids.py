"""The id codec: i-%08d etc., Malformed versus NotFound, with AWS's exact code spellings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_drivers.query import ids
from one_drivers.query.errors import Ec2Error

CODES = {
    ids.INSTANCE: ("InvalidInstanceID.Malformed", "InvalidInstanceID.NotFound"),
    ids.IMAGE: ("InvalidAMIID.Malformed", "InvalidAMIID.NotFound"),
    ids.VOLUME: ("InvalidVolumeID.Malformed", "InvalidVolume.NotFound"),
    ids.SNAPSHOT: ("InvalidSnapshotID.Malformed", "InvalidSnapshot.NotFound"),
    ids.ALLOCATION: ("InvalidAllocationID.Malformed", "InvalidAllocationID.NotFound"),
    ids.ASSOCIATION: ("InvalidAssociationID.Malformed", "InvalidAssociationID.NotFound"),
    ids.RESERVATION: ("InvalidReservationID.Malformed", "InvalidReservationID.NotFound"),
    ids.SECURITY_GROUP: ("InvalidGroupId.Malformed", "InvalidGroup.NotFound"),
    ids.SUBNET: ("InvalidSubnetID.Malformed", "InvalidSubnetID.NotFound"),
}


def test_every_kind_has_its_codes() -> None:
    assert set(CODES) == set(ids.ALL_KINDS)
    assert len({kind.prefix for kind in ids.ALL_KINDS}) == len(ids.ALL_KINDS)


@pytest.mark.parametrize("kind", ids.ALL_KINDS, ids=lambda k: k.prefix)
def test_codes(kind: ids.IdKind) -> None:
    malformed, not_found = CODES[kind]
    with pytest.raises(Ec2Error) as info:
        kind.parse(f"{kind.prefix}-xyz")
    assert (info.value.code, info.value.status) == (malformed, 400)
    assert kind.not_found(kind.format(3)).code == not_found
    assert kind.not_found(kind.format(3)).status == 400
    assert kind.format(3) in kind.not_found(kind.format(3)).message


def test_formats() -> None:
    assert ids.INSTANCE.format(5) == "i-00000005"
    assert ids.IMAGE.format(0) == "ami-00000000"
    assert ids.VOLUME.format(123456789) == "vol-123456789"
    assert ids.ALLOCATION.format(7) == "eipalloc-00000007"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "i-",
        "i-abc",
        "I-00000001",
        "i-0000000x",
        "ami-00000001",
        "i-00000001 ",
        " i-1",
        "i--1",
        "i-1.0",
        "i-١",
    ],
)
def test_malformed_instance_ids(text: str) -> None:
    with pytest.raises(Ec2Error) as info:
        ids.INSTANCE.parse(text)
    assert info.value.code == "InvalidInstanceID.Malformed"
    assert ids.INSTANCE.try_parse(text) is None


def test_well_formed_but_impossible_is_not_found() -> None:
    assert ids.INSTANCE.parse("i-00000001") == 1
    assert ids.INSTANCE.parse("i-2147483647") == 2**31 - 1
    # Ids are exact strings: another spelling of VM 0 or 1 names no instance (AWS compares ids as text).
    for text in ("i-0", "i-1", "i-000000001", "i-0000000001"):
        with pytest.raises(Ec2Error) as not_canonical:
            ids.INSTANCE.parse(text)
        assert not_canonical.value.code == "InvalidInstanceID.NotFound"
        assert ids.INSTANCE.try_parse(text) is None
    with pytest.raises(Ec2Error) as info:
        ids.INSTANCE.parse("i-2147483648")
    assert info.value.code == "InvalidInstanceID.NotFound"


def test_prefixes_do_not_overlap() -> None:
    # "i-" must not accept an AMI id, "r-" must not accept anything else, and so on.
    for kind in ids.ALL_KINDS:
        for other in ids.ALL_KINDS:
            if other is not kind:
                assert kind.try_parse(other.format(1)) is None


@given(number=st.integers(min_value=0, max_value=2**31 - 1), kind=st.sampled_from(ids.ALL_KINDS))
def test_round_trip(number: int, kind: ids.IdKind) -> None:
    assert kind.parse(kind.format(number)) == number
