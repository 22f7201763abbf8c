"""The action registry: `{EC2 action name: handler}` merged from each family module's `HANDLERS`.

The family list is explicit; a test checks every registered name against botocore's model. A modelled
action missing here is answered `UnsupportedOperation` by the app.
"""

from __future__ import annotations

import importlib
import logging

from one_drivers.econe.context import Handler

log = logging.getLogger(__name__)

FAMILIES = (
    "regions",
    "instances",
    "images",
    "instance_types",
    "tags",
    "key_pairs",
    "volumes",
    "snapshots",
    "create_image",
    "image_attributes",
    "security_groups",
    "vpcs",
    "instance_attributes",
    "instance_settings",
    "addresses",
)


def all_handlers() -> dict[str, Handler]:
    """Merge every family's HANDLERS; two families claiming one action is a programming error."""
    registry: dict[str, Handler] = {}
    for family in FAMILIES:
        name = f"{__name__}.{family}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Families land one by one; a missing one leaves its actions UnsupportedOperation.
            if exc.name != name:
                raise
            log.warning("action family %s is not installed; its actions are unsupported", family)
            continue
        handlers: dict[str, Handler] = module.HANDLERS
        for action, handler in handlers.items():
            if action in registry:
                raise RuntimeError(f"action {action} registered by two families")
            registry[action] = handler
    return registry
