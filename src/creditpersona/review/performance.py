"""PD model performance on newly matured outcomes (the back-test of a scored cohort).

The cohort is the firms scored ``horizon`` months before the review date: their outcome
window has closed, so their 12-month default flags are complete. Their AUC (DeLong interval)
is compared with the out-of-fold AUC the model showed at development, and their mean PD
with the observed default rate (overall binomial test, Jeffreys test per grade). All the
statistics come from :mod:`creditpersona.models.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from creditpersona.models import validation

#: Registry name → column of ``pd_scores`` holding that model's PD.
MODELS = {"pd_champion": "pd", "pd_challenger": "pd_challenger"}
COLUMNS = ["model", "model_version", "firms", "defaults", "judged", "auc", "auc_low",
           "auc_high", "gini", "dev_auc", "dev_auc_low", "dev_auc_high", "auc_change",
           "mean_pd", "observed_dr", "calibration_ratio", "binomial_p", "brier", "dev_brier"]


def _auc(y: np.ndarray, p: np.ndarray) -> validation.AUC | None:
    if y.sum() == 0 or y.sum() == len(y):
        return None
    return validation.auc_delong(y, p)


def matured_performance(
    cohort: pd.DataFrame,
    outcomes: pd.DataFrame,
    development: Mapping[str, Mapping[str, Any]],
    versions: Mapping[str, int],
    *,
    grade_order: list[str],
    min_defaults: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Discrimination and calibration of each PD model on a matured cohort.

    Parameters
    ----------
    cohort : pandas.DataFrame
        The scored firms of the cohort date: ``firm_id``, ``grade`` and the PD columns of
        :data:`MODELS`.
    outcomes : pandas.DataFrame
        ``firm_id`` and ``default`` (0/1) in the horizon after the cohort date
        (:func:`creditpersona.models.target.labels`); firms without an outcome (already in
        default on the cohort date) are left out.
    development : mapping
        Registry name → the metrics the model was registered with (``auc``, ``auc_low``,
        ``auc_high``, ``brier``); missing ones are NaN.
    versions : mapping
        Registry name → version of the model that scored the cohort.
    grade_order : list of str
        Performing grades, best first (the master scale without the default grade).
    min_defaults : int
        Fewer matured defaults than this and the AUC is reported but not judged.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        One row per model (``model``, ``model_version``, ``firms``, ``defaults``, ``judged``,
        ``auc``, ``auc_low``, ``auc_high``, ``gini``, ``dev_auc``, ``dev_auc_low``,
        ``dev_auc_high``, ``auc_change``, ``mean_pd``, ``observed_dr``,
        ``calibration_ratio`` (observed over predicted), ``binomial_p`` (two-sided),
        ``brier``, ``dev_brier``); and the Jeffreys test per grade of the champion
        (:func:`~creditpersona.models.validation.jeffreys_by_grade`).

    Examples
    --------
    >>> cohort = pd.DataFrame({"firm_id": list("abcd"), "grade": ["1", "1", "2", "2"],
    ...                        "pd": [0.1, 0.2, 0.3, 0.4], "pd_challenger": [0.4, 0.3, 0.2, 0.1]})
    >>> outcomes = pd.DataFrame({"firm_id": list("abcd"), "default": [0, 0, 1, 1]})
    >>> perf, _ = matured_performance(cohort, outcomes, {}, {}, grade_order=["1", "2"],
    ...                               min_defaults=1)
    >>> perf.set_index("model")["auc"].tolist()
    [1.0, 0.0]
    """
    joined = cohort.merge(outcomes[["firm_id", "default"]], on="firm_id", how="inner")
    y = joined["default"].to_numpy(dtype=np.int64)
    rows = [_model_row(name, versions.get(name), y, joined[column].to_numpy(dtype=float),
                       development.get(name, {}), min_defaults)
            for name, column in MODELS.items() if column in joined.columns]
    perf = pd.DataFrame(rows, columns=COLUMNS)
    perf["model_version"] = perf["model_version"].astype("Int64")
    grades = pd.DataFrame(columns=["grade", "firms", "defaults", "observed_dr", "mean_pd",
                                   "p_value", "low", "high", "within"])
    if len(joined) and "grade" in joined.columns and "pd" in joined.columns:
        graded = joined[joined["grade"].astype(str).isin(grade_order)
                        & np.isfinite(joined["pd"].to_numpy(dtype=float))]
        if len(graded):
            grades = validation.jeffreys_by_grade(graded["grade"].astype(str), graded["default"],
                                                  graded["pd"], grade_order)
    return perf, grades


def _model_row(name: str, version: int | None, y: np.ndarray, p: np.ndarray,
               dev: Mapping[str, Any], min_defaults: int) -> dict[str, Any]:
    """One model's row of :func:`matured_performance` (firms with a finite PD)."""
    ok = np.isfinite(p)
    yy, pp = y[ok], p[ok]
    n, d = len(yy), int(yy.sum())
    a = _auc(yy, pp) if n else None
    mean_pd = float(pp.mean()) if n else np.nan
    observed = d / n if n else np.nan
    binom = (float(stats.binomtest(d, n, min(max(mean_pd, 1e-12), 1.0)).pvalue)
             if n else np.nan)
    dev_auc = float(dev.get("auc", np.nan))
    return {
        "model": name, "model_version": version, "firms": n, "defaults": d,
        "judged": d >= min_defaults and a is not None,
        "auc": a.auc if a else np.nan, "auc_low": a.low if a else np.nan,
        "auc_high": a.high if a else np.nan, "gini": a.gini if a else np.nan,
        "dev_auc": dev_auc, "dev_auc_low": float(dev.get("auc_low", np.nan)),
        "dev_auc_high": float(dev.get("auc_high", np.nan)),
        "auc_change": (a.auc - dev_auc) if a else np.nan,
        "mean_pd": mean_pd, "observed_dr": observed,
        "calibration_ratio": observed / mean_pd if n and mean_pd > 0 else np.nan,
        "binomial_p": binom, "brier": validation.brier(yy, pp) if n else np.nan,
        "dev_brier": float(dev.get("brier", np.nan)),
    }
