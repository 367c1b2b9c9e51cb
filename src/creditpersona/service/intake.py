"""The outcome inbox's intake, now a step of the cycle's inputs (:mod:`creditpersona.store.inbox`).

Kept so that ``creditpersona.service.take_outcomes`` still names it.
"""

from creditpersona.store.inbox import Intake, take_outcomes

__all__ = ["Intake", "take_outcomes"]
