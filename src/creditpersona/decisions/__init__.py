"""Persona-aware credit decisions: customer value, pricing, limits, classification, monitoring.

Every parameter lives in ``decisions.yaml`` and ``warning_rules.yaml`` (validated on load).
The functions take plain DataFrames (a firm frame with ``firm_id, pd, grade`` and optionally
``persona_strategy``, the firm's credit strategy code) so the command line, the pipeline
(:func:`decision_stage`) and a REST service can call them alike.
"""

from __future__ import annotations

from creditpersona.decisions.backtest import (
    price_at_origination,
    pricing_backtest,
    warning_backtest,
)
from creditpersona.decisions.capital import asset_correlation, irb_capital, maturity_slope
from creditpersona.decisions.classification import classify_firms, classify_loans, tier_of_dpd
from creditpersona.decisions.config import TIERS, TIERS_ZH, DecisionsConfig, load_decisions
from creditpersona.decisions.limits import (
    dscr_capacity,
    recommend_limits,
    statement_inputs,
    working_capital_limit,
    working_capital_need,
)
from creditpersona.decisions.offers import offer_values
from creditpersona.decisions.pricing import COMPONENTS, price_loans, raroc_at
from creditpersona.decisions.stage import (
    DecisionResult,
    decision_stage,
    load_decisions_table,
    save_decisions,
)
from creditpersona.decisions.value import ProspectValueModel, customer_value, exposures
from creditpersona.decisions.warning import (
    Rule,
    WarningResult,
    WarningRules,
    evaluate_warnings,
    load_warning_rules,
)

__all__ = [
    "COMPONENTS",
    "TIERS",
    "TIERS_ZH",
    "DecisionResult",
    "DecisionsConfig",
    "ProspectValueModel",
    "Rule",
    "WarningResult",
    "WarningRules",
    "asset_correlation",
    "classify_firms",
    "classify_loans",
    "customer_value",
    "decision_stage",
    "dscr_capacity",
    "evaluate_warnings",
    "exposures",
    "irb_capital",
    "load_decisions",
    "load_decisions_table",
    "load_warning_rules",
    "maturity_slope",
    "price_at_origination",
    "price_loans",
    "offer_values",
    "pricing_backtest",
    "raroc_at",
    "recommend_limits",
    "save_decisions",
    "statement_inputs",
    "tier_of_dpd",
    "warning_backtest",
    "working_capital_limit",
    "working_capital_need",
]
