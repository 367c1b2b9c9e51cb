"""Default-probability (PD) models: a points scorecard and a gradient-boosting challenger.

Both estimators follow scikit-learn's contract and share one interface: ``fit(X, y)``,
``predict_proba(X)`` (n × 2), ``predict_pd(X)`` and ``explain(X, top)`` (bilingual reason
codes). ``evaluate`` cross-validates them on any numeric table that ``read_table`` reads.
"""

from __future__ import annotations

from creditpersona.models.base import NotFittedError, PDEstimator
from creditpersona.models.boosting import BoostedPD
from creditpersona.models.evaluate import (
    EvaluationResult,
    binary_label,
    brier_score,
    default_estimators,
    evaluate,
    ks_statistic,
    read_table,
)
from creditpersona.models.reasons import reason_codes
from creditpersona.models.scorecard import ScorecardPD

__all__ = [
    "BoostedPD",
    "EvaluationResult",
    "NotFittedError",
    "PDEstimator",
    "ScorecardPD",
    "binary_label",
    "brier_score",
    "default_estimators",
    "evaluate",
    "ks_statistic",
    "read_table",
    "reason_codes",
]
