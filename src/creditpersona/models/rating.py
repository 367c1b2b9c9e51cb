"""Rating philosophy 评级理念: a stable master-scale grade next to the point-in-time PD.

The PD models estimate a point-in-time (PIT) twelve-month PD. It moves with every quarter's
statements, flows and bureau reports, which is what pricing, capital and early warning
need, but a grade that flips every quarter cannot drive limits, approval authority or
provisioning. The master-scale grade is therefore a **hybrid** rating (``rating.yaml``,
docs/rating.md), computed in log-odds ``z = ln(PD / (1 − PD))``:

1. *Anchor*: the mean PIT log-odds of this quarter's performing firms is pulled towards the
   long-run default rate by ``anchor_weight`` (the cyclical part of the move is taken out,
   the firm's position in the portfolio is kept).
2. *Smooth*: ``s_t = w·s_{t−1} + (1 − w)·z_t`` with ``w = smoothing_weight`` and ``s_{t−1}``
   the firm's rating score stored for the previous as-of date (read from the store, so a
   date run again gives the same rating).
3. *Hysteresis*: the grade moves only when the rating PD ``expit(s_t)`` lies beyond the
   current grade's bounds by ``hysteresis_factor``; it then moves to the grade that
   ``s_t ∓ ln(factor)`` falls in.
4. *Overrides*, recorded in ``rating_action``: a defaulted firm gets the default grade; a
   PIT grade ``override_notches`` or more worse than the rating pulls the rating down to
   within ``override_notches − 1`` notches of it.

``pd`` stays the PIT PD; ``grade_pit`` is the PIT grade (the grade before this philosophy),
``pd_rating`` and ``rating_score`` the rating PD and its log-odds, ``grade`` the rating.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.models.master_scale import MasterScale
from creditpersona.store import results
from creditpersona.store.store import Store

#: Columns :func:`rate` adds to the scores.
RATING_COLUMNS = ("grade_pit", "pd_rating", "rating_score", "rating_action")
#: Values of ``rating_action``.
ACTIONS = ("new", "kept", "upgraded", "downgraded", "override_pit", "override_default")
_EPS = 1e-9


class RatingPhilosophy(BaseModel):
    """The rating philosophy and its parameters (``rating.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    philosophy: Literal["pit", "hybrid", "ttc"]
    smoothing_weight: float = Field(ge=0, lt=1)
    anchor_weight: float = Field(ge=0, le=1)
    long_run_default_rate: float | None = Field(default=None, gt=0, lt=1)
    hysteresis_factor: float = Field(ge=1, le=10)
    override_notches: int | None = Field(default=None, ge=1)
    max_gap_days: int = Field(gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> RatingPhilosophy:
        neutral = (self.smoothing_weight == 0 and self.anchor_weight == 0
                   and self.hysteresis_factor == 1 and self.override_notches is None)
        if self.philosophy == "pit" and not neutral:
            raise ValueError("philosophy pit grades on the PIT PD: set smoothing_weight 0, "
                             "anchor_weight 0, hysteresis_factor 1, override_notches null")
        if self.philosophy == "ttc" and self.anchor_weight != 1:
            raise ValueError("philosophy ttc takes the whole cyclical move out: set "
                             "anchor_weight 1 (or call it hybrid)")
        if self.philosophy == "hybrid" and neutral:
            raise ValueError("philosophy hybrid with neutral parameters is pit: set "
                             "smoothing_weight, anchor_weight or hysteresis_factor")
        return self


def load_rating(path: str | Path | None = None) -> RatingPhilosophy:
    """Read and validate the rating philosophy (default: the packaged ``rating.yaml``).

    Raises
    ------
    ConfigurationError
        Naming the file when the configuration is invalid.

    Examples
    --------
    >>> load_rating().philosophy
    'hybrid'
    """
    return load_yaml_config(RatingPhilosophy, "creditpersona.models", "rating.yaml", path,
                            "rating philosophy")


def _logit(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    q = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _expit(z: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float))), dtype=np.float64)


def _index(scale: MasterScale, z: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Performing-grade index (0 best) of log-odds ``z``, as :meth:`MasterScale.assign`."""
    upper = _logit([g.upper_pd for g in scale.grades[:-1]])
    floored = np.maximum(z, _logit(scale.pd_floor))
    return np.searchsorted(upper, floored, side="left").astype(np.int64)


def _anchor_shift(p: npt.NDArray[np.float64], performing: npt.NDArray[np.bool_],
                  config: RatingPhilosophy, long_run_default_rate: float,
                  central: float | None) -> float:
    """The logit shift that moves the central PIT PD (``central``, default the performing
    firms' mean) towards the long-run anchor by ``config.anchor_weight``."""
    anchor = config.long_run_default_rate or long_run_default_rate
    if central is None and performing.any():
        central = float(np.mean(p[performing]))
    if config.anchor_weight > 0 and central is not None:
        return config.anchor_weight * float(_logit(anchor) - _logit(central))
    return 0.0


def rate(current: pd.DataFrame, previous: pd.DataFrame | None, scale: MasterScale,
         config: RatingPhilosophy, long_run_default_rate: float, *,
         central: float | None = None) -> pd.DataFrame:
    """Rate one quarter: the rating grade of every firm from its PIT PD and last rating.

    Parameters
    ----------
    current : pandas.DataFrame
        ``firm_id``, ``pd`` (PIT) and ``defaulted`` (bool) of this quarter.
    previous : pandas.DataFrame or None
        ``firm_id``, ``rating_score`` and ``grade`` of the previous quarter (None or empty:
        every firm is rated afresh from its PIT PD).
    scale : MasterScale
    config : RatingPhilosophy
    long_run_default_rate : float
        The anchor (used when ``config.long_run_default_rate`` is null).
    central : float, optional
        The mean PIT PD of the performing firms of the whole portfolio; default that of
        ``current``. A caller rating the portfolio in parts (the Spark engine, bucket by
        bucket) passes the portfolio's, so every part is anchored alike.

    Returns
    -------
    pandas.DataFrame
        ``firm_id``, ``grade_pit``, ``pd_rating``, ``rating_score``, ``rating_action`` and
        ``grade``, in the order of ``current``.

    Examples
    --------
    A firm in grade 5 whose PIT PD creeps just past the grade's upper bound keeps grade 5;
    one whose PIT PD jumps five grades is pulled to within two notches of it (override):

    >>> from creditpersona.models.master_scale import load_master_scale
    >>> now = pd.DataFrame({"firm_id": ["a", "b"], "pd": [0.02, 0.5],
    ...                     "defaulted": [False, False]})
    >>> before = pd.DataFrame({"firm_id": ["a", "b"], "rating_score": [-4.3, -4.3],
    ...                        "grade": ["5", "5"]})
    >>> r = rate(now, before, load_master_scale(), load_rating(), 0.0125)
    >>> r[["grade_pit", "grade", "rating_action"]].to_numpy().tolist()
    [['6', '5', 'kept'], ['10', '8', 'override_pit']]
    """
    names = np.array([g.name for g in scale.grades], dtype=object)
    p = np.asarray(current["pd"], dtype=float)
    defaulted = np.asarray(current["defaulted"], dtype=bool)
    z = _logit(np.maximum(p, scale.pd_floor))
    pit_idx = _index(scale, z)
    score = z + _anchor_shift(p, ~defaulted, config, long_run_default_rate, central)
    prev_score, prev_idx = _previous(current, previous, names)
    has_prev = prev_idx >= 0
    w = config.smoothing_weight
    score = np.where(has_prev, w * np.nan_to_num(prev_score) + (1 - w) * score, score)
    fresh = _index(scale, score)
    h = float(np.log(config.hysteresis_factor))
    up, down = _index(scale, score + h), _index(scale, score - h)
    idx = np.where(~has_prev, fresh,
                   np.where(up < prev_idx, up, np.where(down > prev_idx, down, prev_idx)))
    action = np.where(~has_prev, "new", np.where(idx < prev_idx, "upgraded",
                                                 np.where(idx > prev_idx, "downgraded", "kept")))
    if config.override_notches is not None:
        gap = config.override_notches
        forced = pit_idx - idx >= gap
        idx = np.where(forced, pit_idx - (gap - 1), idx)
        action = np.where(forced, "override_pit", action)
    grade = names[idx]
    grade = np.where(defaulted, scale.default_grade, grade)
    action = np.where(defaulted, "override_default", action)
    return pd.DataFrame({
        "firm_id": current["firm_id"].to_numpy(),
        "grade_pit": np.where(defaulted, scale.default_grade, names[pit_idx]).astype(object),
        "pd_rating": np.where(defaulted, 1.0, _expit(score)),
        "rating_score": score,
        "rating_action": action.astype(object),
        "grade": grade.astype(object),
    })


def _previous(current: pd.DataFrame, previous: pd.DataFrame | None,
              names: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]:
    """The previous rating score and performing-grade index of every firm of ``current``
    (NaN and -1 where it has none, or had the default grade: it is rated afresh)."""
    prev_score = np.full(len(current), np.nan)
    prev_idx = np.full(len(current), -1, dtype=np.int64)
    if previous is None or not len(previous):
        return prev_score, prev_idx
    prev = previous.drop_duplicates("firm_id").set_index(
        previous.drop_duplicates("firm_id")["firm_id"].astype(str))
    ids = current["firm_id"].astype(str)
    rank = {name: i for i, name in enumerate(names)}
    grades = prev["grade"].astype(str).map(rank).reindex(ids)
    known = grades.notna().to_numpy()  # the default grade is not in `rank`: start afresh
    prev_idx[known] = grades.to_numpy()[known].astype(np.int64)
    prev_score[known] = prev["rating_score"].astype(float).reindex(ids).to_numpy()[known]
    prev_idx[np.isnan(prev_score)] = -1
    return prev_score, prev_idx


def previous_ratings(store: Store, as_of: dt.date, max_gap_days: int,
                     table: str = "pd_scores") -> pd.DataFrame | None:
    """The ratings stored for the latest as-of date before ``as_of`` (within the gap).

    Scores stored before the rating philosophy existed have no ``rating_score``: their PIT
    log-odds stand in for it. None when no earlier date lies within ``max_gap_days``.
    """
    earlier = results.latest(store, table, before=as_of)
    if earlier is None or (as_of - earlier).days > max_gap_days:
        return None
    rows = results.read(store, table, earlier,
                        columns=["firm_id", "pd", "grade", "rating_score"])
    if "rating_score" not in rows.columns or rows["rating_score"].isna().all():
        rows["rating_score"] = _logit(rows["pd"])
    rows["rating_score"] = rows["rating_score"].astype(float)
    return rows[["firm_id", "rating_score", "grade"]]


def long_run_rate(summary: dict[str, object]) -> float:
    """The development sample's default rate (the anchor when the configuration has none).

    Examples
    --------
    >>> long_run_rate({"metrics": {"champion": {"n": 4000, "defaults": 100}}})
    0.025
    """
    metrics = summary.get("metrics", {})
    champion = metrics.get("champion", {}) if isinstance(metrics, dict) else {}
    n, d = float(champion.get("n", 0)), float(champion.get("defaults", 0))
    return d / n if n > 0 and d > 0 else 0.02


def grade_scores(store: Store, as_of: dt.date, scores: pd.DataFrame, scale: MasterScale,
                 summary: dict[str, object], config: RatingPhilosophy | None = None,
                 ) -> pd.DataFrame:
    """The PD stage's scores with the rating grade: ``grade`` becomes the rating.

    ``scores`` come from :func:`creditpersona.models.development.apply` (``grade`` is the
    PIT grade there, with the default grade for firms at PD 1); the previous quarter's
    ratings are read from the store (:func:`previous_ratings`), so a date run again gives
    the same grades as long as the earlier date's stored scores are unchanged.

    Returns
    -------
    pandas.DataFrame
        ``scores`` with ``grade`` the rating grade and the :data:`RATING_COLUMNS`.
    """
    cfg = config or load_rating()
    previous = previous_ratings(store, as_of, cfg.max_gap_days)
    current = pd.DataFrame({
        "firm_id": scores["firm_id"].to_numpy(), "pd": scores["pd"].to_numpy(dtype=float),
        "defaulted": (scores["grade"].astype(str) == scale.default_grade).to_numpy()})
    rated = rate(current, previous, scale, cfg, long_run_rate(summary))
    out = scores.drop(columns=[c for c in RATING_COLUMNS if c in scores.columns])
    out["grade"] = rated["grade"].to_numpy()
    for c in RATING_COLUMNS:
        out[c] = rated[c].to_numpy()
    return out
