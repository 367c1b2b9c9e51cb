"""Association rules that answer the bank's questions (贷款用途与还款行为关联规则).

Behaviour items per firm (:mod:`~creditpersona.rules.items`, declared with their families,
the questions and the definitional pairs in ``items.yaml``) are searched with FP-growth and
every candidate rule is tested with Fisher's exact test, for chance and for productivity,
under a false-discovery-rate (or family-wise) correction over all rules tested
(:mod:`~creditpersona.rules.significance`, :mod:`~creditpersona.rules.mining`); a shuffle
control counts the rules that survive by chance. :mod:`~creditpersona.rules.store` keeps the
short answer per as-of date and runs the pipeline stage.
"""

from __future__ import annotations

from creditpersona.rules.items import (
    ItemVocabulary,
    Question,
    behaviour_items,
    load_items,
    persona_item,
)
from creditpersona.rules.mining import PORTFOLIO, RuleSet, mine_rules, shuffle_control
from creditpersona.rules.significance import benjamini_hochberg, fisher_greater, holm
from creditpersona.rules.store import RULES_TABLE, load_rules, rules_stage, save_rules

__all__ = [
    "PORTFOLIO",
    "RULES_TABLE",
    "ItemVocabulary",
    "Question",
    "RuleSet",
    "behaviour_items",
    "benjamini_hochberg",
    "fisher_greater",
    "holm",
    "load_items",
    "load_rules",
    "mine_rules",
    "persona_item",
    "rules_stage",
    "save_rules",
    "shuffle_control",
]
