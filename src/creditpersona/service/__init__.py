"""The REST service (issue 17): users, roles, RM scoping and a tamper-evident audit log.

``create_app`` builds the FastAPI application over a store; ``run_cycle_live`` is the cycle
as the service needs it run (outcome inbox taken in, serving snapshot published). Loaded on
first use (PEP 562), so that importing the package pulls in neither FastAPI nor pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["create_app", "publish", "run_cycle_live", "scope_of", "take_outcomes"]
_WHERE = {"create_app": "app", "publish": "snapshot", "run_cycle_live": "live",
          "scope_of": "access", "take_outcomes": "intake"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"creditpersona.service.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'creditpersona.service' has no attribute {name!r}")
