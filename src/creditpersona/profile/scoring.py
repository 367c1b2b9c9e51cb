"""Five-dimension profile scores (0–100) with bilingual drivers.

The construction lives in ``scoring.yaml`` (validated here): every feature maps to a sub-score
by monotone piecewise-linear anchors, a dimension is the weighted mean of the sub-scores a firm
has, and the driver of a dimension is the feature that moves the firm's score furthest from
100 (or, for urgency, towards it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from creditpersona.config import StrictModel, load_yaml_config

NEUTRAL = 50.0
DIMENSIONS = ("scale", "financial", "credit", "urgency", "willingness")


class FeatureScore(StrictModel):
    """How one feature turns into a 0–100 sub-score."""

    name: str
    zh: str
    en: str
    weight: float = Field(gt=0, le=1)
    log10: bool = False
    anchors: list[tuple[float, float]]

    @field_validator("anchors")
    @classmethod
    def _monotone(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        xs = [a[0] for a in v]
        ys = [a[1] for a in v]
        if len(v) < 2 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError("anchors need at least two points with increasing x")
        steps = np.diff(ys)
        if not ((steps >= 0).all() or (steps <= 0).all()):
            raise ValueError("anchor scores must run in one direction (monotone)")
        if min(ys) < 0 or max(ys) > 100:
            raise ValueError("anchor scores must lie in [0, 100]")
        return v

    def sub_score(self, x: pd.Series) -> pd.Series:
        """The sub-score of each value; missing stays missing."""
        values = x.astype("float64")
        if self.log10:
            values = pd.Series(np.log10(1.0 + values.clip(lower=0.0)), index=x.index)
        xs, ys = zip(*self.anchors, strict=True)
        out = np.interp(values.to_numpy(), xs, ys)
        return pd.Series(np.where(values.isna(), np.nan, out), index=x.index)


class Dimension(StrictModel):
    """One of the five profile dimensions."""

    zh: str
    en: str
    features: list[FeatureScore]

    @model_validator(mode="after")
    def _weights(self) -> Dimension:
        total = sum(f.weight for f in self.features)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"feature weights must sum to 1, not {total:g}")
        return self


class ScoringConfig(StrictModel):
    """The whole scoring construction, versioned."""

    version: int
    dimensions: dict[str, Dimension]

    @model_validator(mode="after")
    def _all_dimensions(self) -> ScoringConfig:
        if tuple(self.dimensions) != DIMENSIONS:
            raise ValueError(f"dimensions must be exactly {', '.join(DIMENSIONS)} in that order")
        return self


def load_scoring(path: str | Path | None = None) -> ScoringConfig:
    """Read and validate a scoring configuration (default: the packaged ``scoring.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the offending entry when the configuration is invalid.

    Examples
    --------
    >>> load_scoring().dimensions["credit"].en
    'Credit record'
    """
    return load_yaml_config(ScoringConfig, "creditpersona.profile", "scoring.yaml", path,
                            "scoring configuration")


def _fmt(value: float, name: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if name.endswith(("_share", "_margin", "roa", "growth", "_to_assets", "_intensity",
                      "_trend", "_to_revenue")) or name == "debt_to_assets":
        return f"{value:.0%}"
    if abs(value) >= 1e6:
        return f"{value / 1e4:,.0f}万"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def score_profiles(features: pd.DataFrame, config: ScoringConfig | None = None) -> pd.DataFrame:
    """Dimension scores, coverage and drivers for every firm.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per firm with the features the configuration names.
    config : ScoringConfig, optional
        Default: :func:`load_scoring`.

    Returns
    -------
    pandas.DataFrame
        Same index; per dimension ``<d>_score`` (0–100, never missing), ``<d>_coverage``
        (share of weight available), ``<d>_driver_zh`` / ``<d>_driver_en``; and
        ``summary_zh`` / ``summary_en``, one sentence per firm.

    Examples
    --------
    >>> f = pd.DataFrame({"current_dpd": [0, 120], "late_share": [0.0, 0.5]})
    >>> s = score_profiles(f.reindex(columns=f.columns.tolist() + ["bureau_max_dpd_24m"]))
    >>> (s["credit_score"] > 90).tolist(), s["credit_coverage"].round(2).tolist()
    ([True, False], [0.35, 0.35])
    """
    cfg = config or load_scoring()
    out = pd.DataFrame(index=features.index)
    for dim_name, dim in cfg.dimensions.items():
        subs = pd.DataFrame({
            f.name: f.sub_score(features[f.name]) if f.name in features.columns
            else pd.Series(np.nan, index=features.index) for f in dim.features
        }, index=features.index)
        weights = np.array([f.weight for f in dim.features])
        have = subs.notna().to_numpy()
        w = np.where(have, weights, 0.0)
        coverage = w.sum(axis=1)
        weighted = np.nansum(subs.to_numpy() * w, axis=1)
        score = np.where(coverage > 0, weighted / np.where(coverage > 0, coverage, 1), NEUTRAL)
        out[f"{dim_name}_score"] = np.round(score, 1)
        out[f"{dim_name}_coverage"] = np.round(coverage, 3)
        # The driver pulls the score towards its extreme: for urgency, what makes the need
        # urgent; for the others, what costs the firm most points.
        pull = (subs.to_numpy() if dim_name == "urgency" else 100.0 - subs.to_numpy()) * w
        pull = np.where(have, pull, -np.inf)
        best = pull.argmax(axis=1)
        any_feature = have.any(axis=1)
        names = np.array([f.name for f in dim.features])[best]
        labels_zh = np.array([f.zh for f in dim.features])[best]
        labels_en = np.array([f.en for f in dim.features])[best]
        # The driver's value per firm: one column per feature, picked by ``best``.
        matrix = np.column_stack([
            features[f.name].to_numpy(dtype="float64", na_value=np.nan)
            if f.name in features.columns else np.full(len(features), np.nan)
            for f in dim.features])
        values = np.take_along_axis(matrix, best[:, None], axis=1)[:, 0]
        shown = [_fmt(v, n) for v, n in zip(values.tolist(), names.tolist(), strict=True)]
        out[f"{dim_name}_driver_zh"] = np.where(
            any_feature, [f"{z} {s}" for z, s in zip(labels_zh, shown, strict=True)], "数据不足")
        out[f"{dim_name}_driver_en"] = np.where(
            any_feature, [f"{e} {s}" for e, s in zip(labels_en, shown, strict=True)],
            "not enough data")
    out["summary_zh"], out["summary_en"] = _summaries(out, cfg)
    return out


def _summaries(scores: pd.DataFrame, cfg: ScoringConfig) -> tuple[list[str], list[str]]:
    # The weakest of the four "higher is better" dimensions, and the urgency of funding.
    good = ["scale", "financial", "credit", "willingness"]
    matrix = scores[[f"{d}_score" for d in good]].to_numpy()
    weakest = matrix.argmin(axis=1)
    rows = np.arange(len(scores))
    # Columns as plain lists, picked per firm (no per-row pandas indexing).
    score = matrix[rows, weakest].tolist()
    driver_zh = np.column_stack([scores[f"{d}_driver_zh"].to_numpy(dtype=object)
                                 for d in good])[rows, weakest].tolist()
    driver_en = np.column_stack([scores[f"{d}_driver_en"].to_numpy(dtype=object)
                                 for d in good])[rows, weakest].tolist()
    urgency = scores["urgency_score"].tolist()
    zh = [f"最弱维度：{cfg.dimensions[good[k]].zh} {s:.0f} 分（{dz}）；资金需求紧迫度 {u:.0f} 分"
          f"（{uz}）。" for k, s, dz, u, uz in zip(
              weakest.tolist(), score, driver_zh, urgency,
              scores["urgency_driver_zh"].tolist(), strict=True)]
    en = [f"Weakest: {cfg.dimensions[good[k]].en} {s:.0f}/100 ({de}); funding urgency "
          f"{u:.0f}/100 ({ue})." for k, s, de, u, ue in zip(
              weakest.tolist(), score, driver_en, urgency,
              scores["urgency_driver_en"].tolist(), strict=True)]
    return zh, en


def render_markdown(config: ScoringConfig | None = None) -> str:
    """The scoring construction as Markdown tables (kept in ``docs/profile.md``).

    Examples
    --------
    >>> "| `current_dpd` |" in render_markdown()
    True
    """
    cfg = config or load_scoring()
    lines = [f"Scoring configuration version {cfg.version}.", ""]
    for name, dim in cfg.dimensions.items():
        lines += [f"### `{name}` — {dim.zh} / {dim.en}", "",
                  "| feature | 中文 | weight | transform | anchors (value → sub-score) |",
                  "|---|---|---|---|---|"]
        for f in dim.features:
            anchors = ", ".join(f"{x:g} → {y:g}" for x, y in f.anchors)
            transform = "log10(1 + x)" if f.log10 else "x"
            lines.append(f"| `{f.name}` | {f.zh} | {f.weight:g} | {transform} | {anchors} |")
        lines.append("")
    return "\n".join(lines)
