"""The action registry against botocore's model, and the region family's answers as data."""

from __future__ import annotations

import pytest

from one_drivers.econe.actions import FAMILIES, all_handlers
from one_drivers.econe.actions.regions import account_attributes
from one_drivers.econe.app import EXTENSION_ACTIONS
from one_drivers.econe.config import EconeConfig
from one_drivers.query.model import action_names, operation_model


def test_every_registered_action_exists_in_the_model() -> None:
    registry = all_handlers()
    assert {"DescribeRegions", "DescribeAvailabilityZones", "DescribeAccountAttributes"} <= set(registry)
    unknown = set(registry) - action_names() - EXTENSION_ACTIONS
    assert unknown == set()


def test_extension_actions_are_not_aws_actions() -> None:
    assert not EXTENSION_ACTIONS & action_names()


def test_families_are_distinct_modules() -> None:
    assert len(set(FAMILIES)) == len(FAMILIES)


def test_account_attributes_cover_the_model_enum() -> None:
    shape = operation_model("DescribeAccountAttributes").input_shape
    assert shape is not None
    enum = shape.members["AttributeNames"].member.enum
    attributes = account_attributes(EconeConfig())
    assert sorted(attributes) == sorted(enum)
    for values in attributes.values():
        assert values and all(isinstance(v, str) for v in values)


@pytest.mark.parametrize("action", sorted(all_handlers()))
def test_each_handler_is_callable(action: str) -> None:
    assert callable(all_handlers()[action])
