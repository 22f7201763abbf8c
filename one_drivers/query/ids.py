"""EC2 resource ids <-> OpenNebula object ids: `i-%08d` is VM N, `ami-%08d` image N, and so on.

A text that is not of the kind's form is `Invalid<Kind>ID.Malformed`; whether a well-formed id names an
existing object is for the caller to decide (`.NotFound`). AWS spells some NotFound codes without `ID`
(`InvalidVolume.NotFound`), so each kind carries both spellings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from one_drivers.query.errors import Ec2Error, malformed_id, not_found

# OpenNebula object ids are oned's int32: a larger number is well formed but cannot exist.
MAX_ONE_ID = 2**31 - 1


@dataclass(frozen=True)
class IdKind:
    prefix: str  # "i", "ami", ...
    error_kind: str  # "InstanceID", "AMIID", ...: Invalid<error_kind>.Malformed
    not_found_kind: str = ""  # when AWS's NotFound code differs: InvalidVolume.NotFound
    noun: str = "ID"  # for messages: "The volume 'vol-1' does not exist"

    def format(self, number: int) -> str:
        return f"{self.prefix}-{number:08d}"

    def parse(self, text: str) -> int:
        m = re.fullmatch(rf"{re.escape(self.prefix)}-([0-9]{{1,17}})", text)
        if not m:
            raise malformed_id(self.error_kind, text)
        number = int(m.group(1))
        if number > MAX_ONE_ID or text != self.format(number):
            # Ids are exact strings, as in AWS: `i-0` is not `i-00000000`, so it names nothing (a typo
            # must not reach VM 0).
            raise self.not_found(text)
        return number

    def try_parse(self, text: str) -> int | None:
        """The number, or None when `text` is not of this kind (for filters, where AWS just matches nothing)."""
        try:
            return self.parse(text)
        except Ec2Error:
            return None

    def not_found(self, text: str) -> Ec2Error:
        kind = self.not_found_kind or self.error_kind
        return not_found(kind, self.noun, text)


INSTANCE = IdKind("i", "InstanceID", noun="instance ID")
IMAGE = IdKind("ami", "AMIID", noun="image id")
VOLUME = IdKind("vol", "VolumeID", "Volume", noun="volume")
SNAPSHOT = IdKind("snap", "SnapshotID", "Snapshot", noun="snapshot")
ALLOCATION = IdKind("eipalloc", "AllocationID", noun="allocation ID")
ASSOCIATION = IdKind("eipassoc", "AssociationID", noun="association ID")
RESERVATION = IdKind("r", "ReservationID", noun="reservation ID")
SECURITY_GROUP = IdKind("sg", "GroupId", "Group", noun="security group")  # InvalidGroup.NotFound
SUBNET = IdKind("subnet", "SubnetID", noun="subnet ID")

ALL_KINDS = (INSTANCE, IMAGE, VOLUME, SNAPSHOT, ALLOCATION, ASSOCIATION, RESERVATION, SECURITY_GROUP, SUBNET)
