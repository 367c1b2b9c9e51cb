"""Population and characteristic stability (PSI / CSI) between two quarters.

:func:`stability_index` is :func:`creditpersona.models.validation.psi` (deciles of the
reference distribution, empty shares floored at 1e-6) with two extensions a feature needs:
missing values get a bin of their own, so a feature that starts going missing shows as
drift instead of vanishing from the comparison; and the bins are closed on the right, so a
point mass (a count that is mostly 0) stays in one bin. On continuous data without missing
values both give the same number.

A PSI is also compared with what sampling noise alone produces: for two samples of
``n1`` and ``n2`` firms spread over ``k`` bins, PSI is approximately
``chi-square(k − 1) · (1/n1 + 1/n2)`` when nothing changed. With 100 firms a side that is
0.18 on average, so a small industry segment reaches 0.25 by chance alone; a variable
counts as drifted only when its PSI reaches the drift band *and* this noise bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from creditpersona.review.config import IndustryReviewConfig, StabilityConfig

Floats = npt.NDArray[np.float64]
#: Share given to an empty bin (as in :func:`creditpersona.models.validation.psi`).
FLOOR = 1e-6
MISSING = "(missing)"
#: Band of a segment too small to be judged.
TOO_FEW = "too few firms"
BANDS = ("stable", "watch", "drift")


@dataclass(frozen=True)
class Variable:
    """A variable the review watches.

    Attributes
    ----------
    name : str
        Column of the profile or of ``pd_scores``.
    kind : {"score", "feature"}
        A model output or dimension score, or an input feature.
    models : {"pd", "personas", "pd+personas"}
        The models that read it.
    categorical : bool
        Compare category shares instead of deciles.
    """

    name: str
    kind: str
    models: str
    categorical: bool = False


def _psi(pe: Floats, pa: Floats) -> float:
    pe, pa = np.clip(pe, FLOOR, None), np.clip(pa, FLOOR, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def _numeric_shares(expected: npt.ArrayLike, actual: npt.ArrayLike,
                    bins: int) -> tuple[Floats, Floats]:
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e_ok, a_ok = np.isfinite(e), np.isfinite(a)
    reference = e[e_ok]
    edges = (np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
             if len(reference) else np.empty(0))
    k = len(edges) + 1
    ce = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=k)
    ca = np.bincount(np.searchsorted(edges, a[a_ok], side="left"), minlength=k)
    ce = np.append(ce, (~e_ok).sum()).astype(float)
    ca = np.append(ca, (~a_ok).sum()).astype(float)
    return ce / max(len(e), 1), ca / max(len(a), 1)


def _category_shares(expected: npt.ArrayLike, actual: npt.ArrayLike) -> tuple[Floats, Floats]:
    e = pd.Series(expected).value_counts(dropna=False)
    a = pd.Series(actual).value_counts(dropna=False)
    e.index = [MISSING if pd.isna(v) else str(v) for v in e.index]
    a.index = [MISSING if pd.isna(v) else str(v) for v in a.index]
    e, a = e.groupby(level=0).sum(), a.groupby(level=0).sum()
    levels = sorted(set(e.index) | set(a.index))
    ce = e.reindex(levels, fill_value=0).to_numpy(dtype=float)
    ca = a.reindex(levels, fill_value=0).to_numpy(dtype=float)
    return ce / max(ce.sum(), 1.0), ca / max(ca.sum(), 1.0)


def stability_index(expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10) -> float:
    """PSI of ``actual`` against ``expected``: its deciles plus a bin for missing values.

    NaN when either sample is empty.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=5000)
    >>> stability_index(x, rng.normal(size=5000)) < 0.01
    True
    >>> stability_index(x, rng.normal(1.0, 1.0, size=5000)) > 0.25
    True
    >>> round(stability_index([1.0, 2.0, np.nan, np.nan], [1.0, 2.0, np.nan, np.nan]), 6)
    0.0
    """
    if len(np.atleast_1d(expected)) == 0 or len(np.atleast_1d(actual)) == 0:
        return float("nan")
    return _psi(*_numeric_shares(expected, actual, bins))


def category_stability_index(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """PSI over the shares of each category (missing values are a category).

    Examples
    --------
    >>> round(category_stability_index(list("AABB"), list("ABAB")), 6)
    0.0
    >>> round(category_stability_index(list("AAAB"), list("ABBB")), 3)
    1.099
    """
    if len(np.atleast_1d(expected)) == 0 or len(np.atleast_1d(actual)) == 0:
        return float("nan")
    return _psi(*_category_shares(expected, actual))


def noise_bound(n_bins: int, n_expected: int, n_actual: int,
                quantile: float | None = 0.99) -> float:
    """The PSI sampling noise alone exceeds with probability ``1 − quantile``.

    ``chi-square(n_bins − 1)`` quantile times ``1/n_expected + 1/n_actual``; 0 when
    ``quantile`` is None (no guard).

    Examples
    --------
    >>> round(noise_bound(10, 100, 100), 3)
    0.433
    >>> round(noise_bound(10, 50_000, 50_000), 4)
    0.0009
    """
    if quantile is None or n_bins < 2 or n_expected == 0 or n_actual == 0:
        return 0.0
    return _chi2(quantile, n_bins - 1) * (1 / n_expected + 1 / n_actual)


@lru_cache(maxsize=256)
def _chi2(quantile: float, dof: int) -> float:
    return float(stats.chi2.ppf(quantile, dof))


def band(psi: npt.ArrayLike, watch: float, drift: float) -> npt.NDArray[np.object_]:
    """``stable`` below ``watch`` ≤ ``watch`` < ``drift`` ≤ ``drift``; empty for NaN.

    Examples
    --------
    >>> band([0.02, 0.10, 0.2, 0.25, np.nan], 0.10, 0.25).tolist()
    ['stable', 'watch', 'watch', 'drift', '']
    """
    p = np.asarray(psi, dtype=float)
    out = np.array(BANDS, dtype=object)[np.searchsorted([watch, drift], np.nan_to_num(p),
                                                        side="right")]
    out[~np.isfinite(p)] = ""
    return out


_COLUMNS = ["variable", "kind", "models", "psi", "band", "noise_bound", "beyond_noise",
            "drifted", "bins", "firms_reference", "firms_current", "missing_reference",
            "missing_current"]


def _row(var: Variable, e: npt.ArrayLike, a: npt.ArrayLike, cfg: StabilityConfig,
         ) -> dict[str, object]:
    if var.categorical:
        pe, pa = _category_shares(e, a)
        missing_e = float(pd.isna(pd.Series(e)).mean()) if len(np.atleast_1d(e)) else np.nan
        missing_a = float(pd.isna(pd.Series(a)).mean()) if len(np.atleast_1d(a)) else np.nan
    else:
        pe, pa = _numeric_shares(e, a, cfg.bins)
        missing_e, missing_a = float(pe[-1]), float(pa[-1])
    ne, na = len(np.atleast_1d(e)), len(np.atleast_1d(a))
    psi = _psi(pe, pa) if ne and na else float("nan")
    k = int(((pe > 0) | (pa > 0)).sum())
    noise = noise_bound(k, ne, na, cfg.noise_quantile)
    return {"variable": var.name, "kind": var.kind, "models": var.models, "psi": psi,
            "noise_bound": noise, "beyond_noise": bool(np.isfinite(psi) and psi >= noise),
            "bins": k, "firms_reference": ne, "firms_current": na,
            "missing_reference": missing_e, "missing_current": missing_a}


def _finish(rows: list[dict[str, object]], cfg: StabilityConfig) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=_COLUMNS)
    out["band"] = band(out["psi"], cfg.watch, cfg.drift)
    out["drifted"] = (out["band"] == "drift") & out["beyond_noise"].astype(bool)
    return out


def _values(frame: pd.DataFrame, var: Variable) -> npt.NDArray[np.generic]:
    """A column as numbers (nullable integers and booleans included; NaN where missing)."""
    column = frame[var.name]
    if var.categorical:
        return column.to_numpy(dtype=object)
    return pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()


def compare(reference: pd.DataFrame, current: pd.DataFrame, variables: Sequence[Variable],
            cfg: StabilityConfig) -> pd.DataFrame:
    """PSI of every variable both frames hold, current against reference.

    Returns
    -------
    pandas.DataFrame
        One row per variable: ``variable``, ``kind``, ``models``, ``psi``, ``band``,
        ``noise_bound``, ``beyond_noise``, ``drifted`` (drift band and beyond noise),
        ``bins``, ``firms_reference``, ``firms_current``, ``missing_reference`` and
        ``missing_current`` (shares).
    """
    rows = [_row(v, _values(reference, v), _values(current, v), cfg)
            for v in variables if v.name in reference.columns and v.name in current.columns]
    return _finish(rows, cfg)[_COLUMNS]


def compare_by_segment(reference: pd.DataFrame, current: pd.DataFrame, segment: str,
                       variables: Sequence[Variable], cfg: StabilityConfig,
                       min_firms: int) -> pd.DataFrame:
    """:func:`compare` within each value of ``segment`` (e.g. the industry section).

    A segment with fewer than ``min_firms`` firms in either frame is not judged: its rows
    have no PSI and the band ``too few firms``. Firms without a segment are left out.
    """
    ref_groups = reference.groupby(segment, sort=True, observed=True).indices
    cur_groups = current.groupby(segment, sort=True, observed=True).indices
    present = [v for v in variables if v.name in reference.columns and v.name in current.columns]
    ref_cols = {v.name: _values(reference, v) for v in present}
    cur_cols = {v.name: _values(current, v) for v in present}
    parts = []
    for seg in sorted(set(ref_groups) | set(cur_groups), key=str):
        ri = ref_groups.get(seg, np.empty(0, dtype=np.int64))
        ci = cur_groups.get(seg, np.empty(0, dtype=np.int64))
        if min(len(ri), len(ci)) < min_firms:
            rows = [{"variable": v.name, "kind": v.kind, "models": v.models,
                     "psi": np.nan, "noise_bound": np.nan, "beyond_noise": False, "bins": 0,
                     "firms_reference": len(ri), "firms_current": len(ci),
                     "missing_reference": np.nan, "missing_current": np.nan}
                    for v in present]
            part = _finish(rows, cfg)
            part["band"] = TOO_FEW
        else:
            part = _finish([_row(v, ref_cols[v.name][ri], cur_cols[v.name][ci], cfg)
                            for v in present], cfg)
        parts.append(part.assign(segment=str(seg)))
    if not parts:
        return pd.DataFrame(columns=["segment", *_COLUMNS])
    return pd.concat(parts, ignore_index=True)[["segment", *_COLUMNS]]


def flag_segments(by_segment: pd.DataFrame, score: str | Sequence[str],
                  features: Sequence[str], cfg: IndustryReviewConfig,
                  names: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """Which segments moved: the score's PSI or the share of drifted features.

    A segment is flagged when the PSI of ``score`` reaches ``cfg.pd_psi`` (beyond sampling
    noise) or at least ``cfg.feature_share`` of the ``features`` compared have drifted.
    With several scores (for example the PD and its master-scale grade) the largest PSI
    judged beyond noise counts: deciles of the PD see the middle of the distribution, the
    grade shares its tails, where a downturn first shows.

    Parameters
    ----------
    by_segment : pandas.DataFrame
        :func:`compare_by_segment` output.
    score : str
        The score variable (``pd``).
    features : sequence of str
        The feature variables whose drift counts.
    cfg : IndustryReviewConfig
    names : dict, optional
        Segment → (Chinese, English) name for the reason.

    Returns
    -------
    pandas.DataFrame
        One row per segment: ``segment``, ``name_zh``, ``name_en``, ``firms_reference``,
        ``firms_current``, ``judged``, ``pd_psi``, ``pd_band``, ``features_compared``,
        ``features_drifted``, ``drift_share``, ``top_features``, ``flagged`` and
        ``reason`` (bilingual, empty unless flagged).
    """
    names = names or {}
    scores = [score] if isinstance(score, str) else list(score)
    rows = []
    for seg, g in by_segment.groupby("segment", sort=True):
        s = g[g["variable"].isin(scores)]
        if len(s) > 1:  # the largest PSI, preferring those beyond sampling noise
            s = s.assign(_rank=s["beyond_noise"].astype(bool)).sort_values(
                ["_rank", "psi"], ascending=False, na_position="last").head(1)
        f = g[g["variable"].isin(list(features)) & g["psi"].notna()]
        judged = bool(len(g) and (g["band"] != TOO_FEW).all())
        pd_psi = float(s["psi"].iloc[0]) if len(s) else float("nan")
        pd_moved = bool(len(s) and np.isfinite(pd_psi) and pd_psi >= cfg.pd_psi
                        and bool(s["beyond_noise"].iloc[0]))
        drifted = int(f["drifted"].sum())
        share = drifted / len(f) if len(f) else float("nan")
        flagged = judged and (pd_moved or (len(f) > 0 and share >= cfg.feature_share))
        top = f.sort_values("psi", ascending=False).head(cfg.top_features)
        top_text = ", ".join(f"{v} {p:.2f}" for v, p in zip(top["variable"], top["psi"],
                                                             strict=True))
        zh, en = names.get(str(seg), ("", ""))
        reason = ""
        if flagged:
            which = {"pd": "PD", "grade": "grade 评级"}.get(
                str(s["variable"].iloc[0]) if len(s) else "pd", "PD")
            reason = (f"{seg} {zh} {en}: {which} PSI {pd_psi:.2f}; {drifted}/{len(f)} 项特征漂移 "
                      f"features drifted; 变动最大 top movers: {top_text}").replace("  ", " ")
        rows.append({"segment": str(seg), "name_zh": zh, "name_en": en,
                     "firms_reference": int(g["firms_reference"].max()),
                     "firms_current": int(g["firms_current"].max()), "judged": judged,
                     "pd_psi": pd_psi, "pd_band": s["band"].iloc[0] if len(s) else "",
                     "features_compared": len(f), "features_drifted": drifted,
                     "drift_share": share, "top_features": top_text, "flagged": flagged,
                     "reason": reason})
    columns = ["segment", "name_zh", "name_en", "firms_reference", "firms_current", "judged",
               "pd_psi", "pd_band", "features_compared", "features_drifted", "drift_share",
               "top_features", "flagged", "reason"]
    return pd.DataFrame(rows, columns=columns)
