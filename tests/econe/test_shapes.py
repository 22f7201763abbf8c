"""econe/shapes.py against botocore's model: the typed results mypy checks handlers with are EC2's shapes.

mypy --strict (make check) catches a handler returning a key its result class lacks; these tests keep the
classes themselves honest: named after a model shape, no member the model lacks, nested classes where the
model nests those shapes, and every handler annotated with its action's output shape.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import is_typeddict

import botocore.model
import pytest

from one_drivers.econe import shapes
from one_drivers.econe.actions import FAMILIES, all_handlers, instance_settings
from one_drivers.econe.app import EXTENSION_ACTIONS
from one_drivers.query.model import operation_model, service_model

# Public names only: `_Interface` is a base holding members two shapes share.
CLASSES = {
    name: cls
    for name, cls in vars(shapes).items()
    if is_typeddict(cls) and cls.__module__ == shapes.__name__ and not name.startswith("_")
}
_NESTED = re.compile(r"(?:list\[)?([A-Za-z]+)\]?")


def test_the_module_has_classes() -> None:
    assert {"Volume", "DescribeVolumesResult", "Tag", "NoOutput"} <= set(CLASSES)


@pytest.mark.parametrize("name", sorted(set(CLASSES) - {"NoOutput", "UploadImageResult"}))
def test_class_is_a_model_shape_with_its_members(name: str) -> None:
    shape = service_model().shape_for(name)
    assert isinstance(shape, botocore.model.StructureShape)
    cls = CLASSES[name]
    assert set(cls.__annotations__) <= set(shape.members), f"{name}: not in the model"
    for member, annotation in cls.__annotations__.items():
        nested = _NESTED.fullmatch(str(annotation))
        if nested is None or nested.group(1) not in CLASSES:
            continue
        member_shape = shape.members[member]
        if isinstance(member_shape, botocore.model.ListShape):
            member_shape = member_shape.member
        assert member_shape.name == nested.group(1), f"{name}.{member} is {member_shape.name} in the model"


def _typed_handlers() -> list[tuple[str, str]]:
    registry = all_handlers()
    found = []
    for family in FAMILIES:
        module = importlib.import_module(f"one_drivers.econe.actions.{family}")
        found += [(action, family) for action in module.HANDLERS if action in registry]
    return found


@pytest.mark.parametrize(("action", "family"), _typed_handlers())
def test_typed_handler_returns_its_output_shape(action: str, family: str) -> None:
    handler = all_handlers()[action]
    returned = str(handler.__annotations__["return"])
    if returned == "NoReturn":
        return  # an action this cloud refuses outright (CreateVpc...): it never returns a result
    if action in EXTENSION_ACTIONS:  # outside the model
        assert returned == f"{action}Result"
        return
    output = operation_model(action).output_shape
    assert returned == (output.name if output is not None else "NoOutput")
    assert returned in CLASSES


@pytest.mark.parametrize(("action", "family"), _typed_handlers())
def test_typed_handler_takes_its_request_shape(action: str, family: str) -> None:
    # types-boto3-ec2's request TypedDict of the action (CreateTags/DeleteTags are spelt Client...).
    from types_boto3_ec2 import type_defs

    handler = all_handlers()[action]
    if str(handler.__annotations__["return"]) == "NoReturn" or action in EXTENSION_ACTIONS:
        return  # refusers and UploadImage (raw form fields) read no modelled parameters
    taken = str(handler.__annotations__["params"])
    assert taken in (f"{action}RequestTypeDef", f"Client{action}RequestTypeDef")
    assert hasattr(type_defs, taken)


@pytest.mark.slow
def test_mypy_refuses_a_wrong_key_in_a_result_or_a_request(tmp_path: Path) -> None:
    """What the types are for: a misspelt member is a type error, before any request runs."""
    from mypy import api

    module = tmp_path / "bad_handler.py"
    module.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from one_drivers.econe.shapes import DescribeVolumesResult\n"
        "if TYPE_CHECKING:\n"
        "    from types_boto3_ec2.type_defs import DescribeVolumesRequestTypeDef\n"
        "def handler(params: DescribeVolumesRequestTypeDef) -> DescribeVolumesResult:\n"
        # mypy lets .get() name any key (it gives `object`), indexing only the shape's.
        '    token = params["NextTokn"]\n'
        '    return {"Volumes": [{"VolumeId": "vol-1", "Sise": 3}], "NextTokn": "x"}\n',
        encoding="utf-8",
    )
    out, _, status = api.run(["--strict", "--no-incremental", str(module)])
    assert status == 1
    assert out.count('"NextTokn"') == 2 and '"Sise"' in out, out


def test_instance_attribute_readers_fill_members_of_the_class() -> None:
    # Those readers name their member at run time (a table), out of mypy's sight: checked here.
    members = {member for member, _ in instance_settings._READ.values()}
    assert members and members <= set(shapes.InstanceAttribute.__annotations__)
