"""Customer personas (客户性格分类): segmentation, cards, business policy, evaluation.

``PersonaSegmenter`` finds the personas in a profile and assigns new firms;
``fit_personas`` applies the business policy (``policy.yaml``: rename, freeze, merge,
rule-based personas) and keeps persona ids across re-fits (``match_personas``);
``describe_personas`` writes the persona cards with generated bilingual names and readable
surrogate rules; ``evaluate_personas`` is the evaluation system; ``persona_stage`` runs it
all on a store.
"""

from __future__ import annotations

from creditpersona.personas.describe import (
    PersonaCards,
    SurrogateRules,
    describe_personas,
    distinguishing_features,
    observed_default,
    surrogate_rules,
)
from creditpersona.personas.evaluation import (
    PersonaEvaluation,
    RateTest,
    assignment_agreement,
    evaluate_personas,
    rate_test,
)
from creditpersona.personas.identity import IdentityMatch, hungarian_match, match_personas
from creditpersona.personas.policy import (
    PersonaModel,
    PersonaPolicy,
    fit_personas,
    load_policy,
)
from creditpersona.personas.segment import (
    DEFAULT_FEATURES,
    SCORE_COLUMNS,
    PersonaSegmenter,
    add_derived_features,
)
from creditpersona.personas.store import (
    PersonaResult,
    load_assignments,
    load_model,
    persona_stage,
    register_model,
    save_assignments,
)

__all__ = [
    "DEFAULT_FEATURES",
    "SCORE_COLUMNS",
    "IdentityMatch",
    "PersonaCards",
    "PersonaEvaluation",
    "PersonaModel",
    "PersonaPolicy",
    "PersonaResult",
    "PersonaSegmenter",
    "RateTest",
    "SurrogateRules",
    "add_derived_features",
    "assignment_agreement",
    "describe_personas",
    "distinguishing_features",
    "evaluate_personas",
    "fit_personas",
    "hungarian_match",
    "load_assignments",
    "load_model",
    "load_policy",
    "match_personas",
    "observed_default",
    "persona_stage",
    "rate_test",
    "register_model",
    "save_assignments",
    "surrogate_rules",
]
