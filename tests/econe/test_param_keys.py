"""The request parameters econe's actions read, against botocore's model.

mypy checks `params["Key"]` on a handler's request TypedDict but lets `params.get("Key")` through with
any key, and helpers that take `params: Mapping[str, Any]` are not checked at all. This test reads the
action modules' source: every key a handler reads from its `<Shape>TypeDef` request is a member of that
model shape, and every key a helper reads from a `Mapping` of parameters is a member of some request
shape of EC2, so a misspelt parameter name fails here instead of being silently absent at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import botocore.model
import pytest

from one_drivers.econe import actions
from one_drivers.query.model import service_model

ACTIONS_DIR = Path(actions.__file__).parent
MODULES = sorted(p for p in ACTIONS_DIR.glob("*.py") if p.name != "__init__.py")
# Keys econe reads that no EC2 request has: its own extensions (documented in docs/econe.md).
EXTENSIONS = frozenset({"Action", "Version"})


def _request_members() -> frozenset[str]:
    model = service_model()
    shapes = (model.operation_model(name).input_shape for name in model.operation_names)
    return frozenset(member for shape in shapes if shape is not None for member in shape.members)


def _shape(annotation: str) -> botocore.model.StructureShape:
    """The model shape a stubs request class is named after (`ClientCreateTagsRequestTypeDef` is the
    stubs' name for the client method's CreateTagsRequest)."""
    name = annotation.removesuffix("TypeDef")
    found = service_model().shape_for(
        name if name in service_model().shape_names else name.removeprefix("Client")
    )
    assert isinstance(found, botocore.model.StructureShape)
    return found


def _keys_read(fn: ast.FunctionDef, param: str) -> Iterator[tuple[int, str]]:
    """`param.get("K")`, `param["K"]` and `"K" in param` inside `fn`, as (line, K)."""
    for node in ast.walk(fn):
        key: ast.expr | None = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == param
            and node.args
        ):
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == param:
            key = node.slice
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and isinstance(node.comparators[0], ast.Name)
            and node.comparators[0].id == param
        ):
            key = node.left
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.lineno, key.value


def _params_reads(path: Path) -> Iterator[tuple[str, str, int, str]]:
    """(annotation, function, line, key) for every parameter read in the module's functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for arg in fn.args.args:
            if arg.annotation is None:
                continue
            annotation = ast.unparse(arg.annotation)
            if annotation.endswith("RequestTypeDef") or (arg.arg == "params" and "Mapping" in annotation):
                for line, key in _keys_read(fn, arg.arg):
                    yield annotation, fn.name, line, key


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_parameter_keys_are_model_members(path: Path) -> None:
    anywhere = _request_members() | EXTENSIONS
    wrong = []
    for annotation, fn, line, key in _params_reads(path):
        if annotation.endswith("RequestTypeDef"):
            shape = _shape(annotation)
            if key not in shape.members:
                wrong.append(f"{path.name}:{line} {fn}: {key!r} is not a member of {shape.name}")
        elif key not in anywhere:
            wrong.append(f"{path.name}:{line} {fn}: {key!r} is no EC2 request parameter")
    assert wrong == []


def test_the_walk_finds_the_reads() -> None:
    # The test above must not pass by finding nothing: the handlers' reads are seen, and a typo is caught.
    reads = [r for p in MODULES for r in _params_reads(p)]
    assert len(reads) > 100
    assert any(fn == "allocate_address" and key == "Domain" for _, fn, _, key in reads)
    source = 'def f(ctx, params: AllocateAddressRequestTypeDef):\n    return params.get("Domian")\n'
    (fn,) = ast.parse(source).body
    assert isinstance(fn, ast.FunctionDef)
    assert list(_keys_read(fn, "params")) == [(2, "Domian")]
    assert "Domian" not in service_model().shape_for("AllocateAddressRequest").members
