"""Validation statistics for PD models (DOMAIN.md §8).

Discrimination (AUC with a DeLong confidence interval, Gini, KS), accuracy (Brier),
calibration (Jeffreys test per grade, Hosmer–Lemeshow), stability (PSI with the 0.10 / 0.25
conventions). Pure functions of arrays: the report renders what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

PSI_INVESTIGATE = 0.10
PSI_SIGNIFICANT = 0.25

Array = npt.ArrayLike


def _xy(y: Array, p: Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    yy = np.asarray(y).astype(np.int64)
    pp = np.asarray(p, dtype=float)
    if yy.shape != pp.shape or yy.ndim != 1:
        raise ValueError("labels and scores must be one-dimensional and of equal length")
    if not np.isin(yy, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return yy, pp


def _midrank(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return stats.rankdata(x, method="average")


@dataclass(frozen=True)
class AUC:
    """Area under the ROC curve with its DeLong standard error and interval."""

    auc: float
    se: float
    low: float
    high: float

    @property
    def gini(self) -> float:
        """Gini = 2·AUC − 1."""
        return 2.0 * self.auc - 1.0


def auc_delong(y: Array, p: Array, level: float = 0.95) -> AUC:
    """AUC with the DeLong (1988) variance, via mid-ranks.

    Examples
    --------
    >>> a = auc_delong([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(a.auc, 2)
    0.75
    """
    yy, pp = _xy(y, p)
    pos, neg = pp[yy == 1], pp[yy == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError("AUC needs both defaults and non-defaults")
    all_ranks = _midrank(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = _midrank(pos), _midrank(neg)
    auc = (all_ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (all_ranks[:m] - pos_ranks) / n
    v01 = 1.0 - (all_ranks[m:] - neg_ranks) / m
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    se = float(np.sqrt(var))
    z = stats.norm.ppf(0.5 + level / 2)
    return AUC(float(auc), se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)))


def ks_statistic(y: Array, p: Array) -> float:
    """Kolmogorov–Smirnov distance between the score distributions of defaults and others."""
    yy, pp = _xy(y, p)
    return float(stats.ks_2samp(pp[yy == 1], pp[yy == 0]).statistic)


def brier(y: Array, p: Array) -> float:
    """Mean squared error of the PD."""
    yy, pp = _xy(y, p)
    return float(np.mean((pp - yy) ** 2))


def hosmer_lemeshow(y: Array, p: Array, groups: int = 10) -> tuple[float, float]:
    """Hosmer–Lemeshow statistic over PD deciles and its p-value (groups − 2 d.o.f.)."""
    yy, pp = _xy(y, p)
    order = np.argsort(pp, kind="stable")
    stat = 0.0
    for chunk in np.array_split(order, groups):
        n = len(chunk)
        if n == 0:
            continue
        expected = pp[chunk].sum()
        observed = yy[chunk].sum()
        mean = expected / n
        if 0 < mean < 1:
            stat += (observed - expected) ** 2 / (n * mean * (1 - mean))
    return float(stat), float(stats.chi2.sf(stat, groups - 2))


def jeffreys_by_grade(
    grades: Array, y: Array, p: Array, grade_order: list[str], level: float = 0.95
) -> pd.DataFrame:
    """Jeffreys test per grade, one-sided: is the default rate higher than the grade's PD?

    The posterior of the default rate is Beta(D + ½, N − D + ½) (DOMAIN.md §8). The
    regulatory question is one-sided (an understated PD needs capital, an overstated one
    does not): ``p_value`` is the posterior CDF at the mean PD, the probability that the
    default rate does not exceed it, and the grade fails (``within`` false) when it is below
    ``1 − level``, i.e. when the mean PD lies under ``low``, the one-sided lower bound.
    ``high`` is the matching upper bound, shown for reference only.

    Examples
    --------
    Two defaults among 100 firms at PD 0.5 % fail; at PD 5 % they pass even though the PD is
    well above the observed 2 % (an overestimate is not a failure of the one-sided test):

    >>> t = jeffreys_by_grade(["a"] * 100 + ["b"] * 100, [1, 1] + [0] * 98 + [1, 1] + [0] * 98,
    ...                       [0.005] * 100 + [0.05] * 100, ["a", "b"])
    >>> t["within"].tolist()
    [False, True]
    """
    yy, pp = _xy(y, p)
    df = pd.DataFrame({"grade": np.asarray(grades, dtype=object), "y": yy, "p": pp})
    rows = []
    for g in grade_order:
        sub = df[df["grade"] == g]
        n, d = len(sub), int(sub["y"].sum())
        if n == 0:
            continue
        a, b = d + 0.5, n - d + 0.5
        mean_pd = float(sub["p"].mean())
        low, high = stats.beta.ppf([1 - level, level], a, b)
        p_value = float(stats.beta.cdf(mean_pd, a, b))
        rows.append({"grade": g, "firms": n, "defaults": d, "observed_dr": d / n,
                     "mean_pd": mean_pd, "p_value": p_value,
                     "low": float(low), "high": float(high),
                     "within": bool(p_value >= 1 - level)})
    return pd.DataFrame(rows)


def psi(expected: Array, actual: Array, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` over expected deciles.

    Below 0.10 stable, 0.10–0.25 investigate, above 0.25 a significant shift.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(psi(rng.normal(size=5000), rng.normal(size=5000)), 3) < 0.01
    True
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    pe = np.histogram(e, edges)[0] / len(e)
    pa = np.histogram(a, edges)[0] / len(a)
    pe, pa = np.clip(pe, 1e-6, None), np.clip(pa, 1e-6, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def calibration_table(y: Array, p: Array, bins: int = 10) -> pd.DataFrame:
    """Mean PD and observed default rate per PD decile (for the calibration plot)."""
    yy, pp = _xy(y, p)
    order = np.argsort(pp, kind="stable")
    rows = [{"mean_pd": float(pp[c].mean()), "observed_dr": float(yy[c].mean()), "firms": len(c)}
            for c in np.array_split(order, bins) if len(c)]
    return pd.DataFrame(rows)
