"""Association rules on loan behaviour (贷款行为关联规则).

Behaviour items per firm (:mod:`~creditpersona.rules.items`) are mined with FP-growth into
rules with support, confidence, lift and conviction, pruned of redundant rules and written
as Chinese and English sentences (:mod:`~creditpersona.rules.mining`), portfolio-wide and
per persona; :mod:`~creditpersona.rules.store` keeps them per as-of date and runs the
pipeline stage.
"""

from __future__ import annotations

from creditpersona.rules.items import ItemVocabulary, behaviour_items, load_items, persona_item
from creditpersona.rules.mining import PORTFOLIO, RuleSet, mine_rules
from creditpersona.rules.store import RULES_TABLE, load_rules, rules_stage, save_rules

__all__ = [
    "PORTFOLIO",
    "RULES_TABLE",
    "ItemVocabulary",
    "RuleSet",
    "behaviour_items",
    "load_items",
    "load_rules",
    "mine_rules",
    "persona_item",
    "rules_stage",
    "save_rules",
]
