"""Quarterly review (季度检视) and the re-fit triggers of the models in force (动态调整机制).

``review_stage`` compares an as-of date with the previous quarter in the store and with the
quarter each model in force was fitted for: persona and rating migration, score and feature
stability (PSI / CSI) per portfolio and industry section, PD performance on the cohort whose
outcomes have just matured, the annual review of the persona model, and a history of every
stored quarter. Its triggers say when to run ``creditpersona run --refit pd`` or
``--refit personas``; the thresholds live in ``review.yaml``.
"""

from __future__ import annotations

from creditpersona.review.annual import AnnualReview, annual_review
from creditpersona.review.config import ReviewConfig, load_review_config
from creditpersona.review.drift import (
    Variable,
    band,
    category_stability_index,
    compare,
    compare_by_segment,
    flag_segments,
    noise_bound,
    stability_index,
)
from creditpersona.review.history import History, portfolio_history
from creditpersona.review.migration import (
    Migration,
    change_summary,
    changes_by_segment,
    migration_matrix,
    rating_changes,
)
from creditpersona.review.performance import matured_performance
from creditpersona.review.stage import (
    REVIEW_DRIFT,
    REVIEW_MIGRATION,
    REVIEW_PERFORMANCE,
    REVIEW_TRIGGERS,
    ReviewFrames,
    ReviewResult,
    load_review_table,
    load_triggers,
    review_stage,
    save_review,
)
from creditpersona.review.triggers import Trigger, trigger_table

__all__ = [
    "REVIEW_DRIFT",
    "REVIEW_MIGRATION",
    "REVIEW_PERFORMANCE",
    "REVIEW_TRIGGERS",
    "AnnualReview",
    "History",
    "Migration",
    "ReviewConfig",
    "ReviewFrames",
    "ReviewResult",
    "Trigger",
    "Variable",
    "annual_review",
    "band",
    "category_stability_index",
    "change_summary",
    "changes_by_segment",
    "compare",
    "compare_by_segment",
    "flag_segments",
    "load_review_config",
    "load_review_table",
    "load_triggers",
    "matured_performance",
    "migration_matrix",
    "noise_bound",
    "portfolio_history",
    "rating_changes",
    "review_stage",
    "save_review",
    "stability_index",
    "trigger_table",
]
