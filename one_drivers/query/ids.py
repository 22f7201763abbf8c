"""EC2 resource ids <-> OpenNebula object ids: `i-%08d` is VM N, `ami-%08d` image N, and so on.

A text that is not of the kind's form is `Invalid<Kind>ID.Malformed`; whether a well-formed id names an
existing object is for the caller to decide (`.NotFound`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from one_drivers.query.errors import Ec2Error


@dataclass(frozen=True)
class IdKind:
    prefix: str  # "i", "ami", ...
    error_kind: str  # "InstanceID", "AMIID", ...

    def format(self, number: int) -> str:
        return f"{self.prefix}-{number:08d}"

    def parse(self, text: str) -> int:
        m = re.fullmatch(rf"{re.escape(self.prefix)}-([0-9]{{1,17}})", text)
        if not m:
            raise Ec2Error(f"Invalid{self.error_kind}.Malformed", f'Invalid id: "{text}"')
        return int(m.group(1))

    def not_found(self, text: str) -> Ec2Error:
        return Ec2Error(f"Invalid{self.error_kind}.NotFound", f"The ID '{text}' does not exist")


INSTANCE = IdKind("i", "InstanceID")
IMAGE = IdKind("ami", "AMIID")
VOLUME = IdKind("vol", "Volume")
SNAPSHOT = IdKind("snap", "Snapshot")
ALLOCATION = IdKind("eipalloc", "AllocationID")
ASSOCIATION = IdKind("eipassoc", "AssociationID")
