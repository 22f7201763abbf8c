"""botocore's EC2 model, pinned at ec2/2016-11-15: the one place that loads it.

Every wire name econe parses or renders comes from this model (input `queryName`/`locationName`, output
`locationName`, `xSet/item` lists); parse.py and render.py walk the shapes it hands out.
"""

from __future__ import annotations

from functools import cache

import botocore.model
import botocore.session

from one_drivers.query.errors import invalid_action

SERVICE = "ec2"
API_VERSION = "2016-11-15"


@cache
def service_model() -> botocore.model.ServiceModel:
    """The EC2 service model (loaded once per process; loading takes ~0.3 s)."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    data = loader.load_service_model(SERVICE, "service-2", api_version=API_VERSION)
    return botocore.model.ServiceModel(data, service_name=SERVICE)


@cache
def action_names() -> frozenset[str]:
    """Every action the model knows (the `Action=` values AWS accepts)."""
    return frozenset(service_model().operation_names)


def operation_model(action: str) -> botocore.model.OperationModel:
    """The operation for `Action=<action>`; an action the model does not know is `InvalidAction` (400)."""
    if action not in action_names():
        raise invalid_action(action)
    return _operation_model(action)


@cache
def _operation_model(action: str) -> botocore.model.OperationModel:
    return service_model().operation_model(action)
