"""The review's statistics over all firms as mergeable partials (issue 19).

Every statistic of the review that reads all firms is a sum of counts once a few global
parameters are fixed, so it splits into a fit, a partial per bucket of whole firms and a
combination:

* **Stability (PSI / CSI)**: :func:`fit_stability` takes the bin edges (deciles of the
  reference quarter, per segment) — the only global part; :func:`partial_stability` counts
  a bucket's reference and current firms per segment, variable and bin;
  :func:`combine_stability` sums the counts and gives exactly
  :func:`~creditpersona.review.drift.compare` (no segment) or
  :func:`~creditpersona.review.drift.compare_by_segment`.
* **Migration**: :func:`partial_migration` counts a bucket's firms per (state then, state
  now), absent on one side included; :func:`combine_migration` gives the matrix
  (:func:`~creditpersona.review.migration.migration_matrix`), and
  :func:`agreement_of` the persona agreement (same persona, adjusted Rand index) of the
  same cells.
* **Rating changes**: :func:`partial_changes` counts the firms graded in both quarters per
  segment and (grade then, grade now); :func:`summary_of`, :func:`by_segment_of` and
  :func:`cells_of` give :func:`~creditpersona.review.migration.change_summary`,
  :func:`~creditpersona.review.migration.changes_by_segment` and
  :func:`~creditpersona.review.migration.matrices_by_segment`.

The embedded review computes each of these as the combination of one partial over every
firm (the functions of ``drift.py`` and ``migration.py`` call these kernels), so a Spark
engine that sums the buckets' partials gets the same numbers. Partials are small: one row
per (segment, variable, bin) or per pair of states, never per firm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.review.config import StabilityConfig
from creditpersona.review.drift import (
    _COLUMNS,
    MISSING,
    TOO_FEW,
    Variable,
    _finish,
    _psi,
    _values,
    noise_bound,
)
from creditpersona.review.migration import (
    LEFT,
    LONG_COLUMNS,
    NEW,
    Migration,
    change_summary,
    natural_order,
    rating_changes,
    segment_shares,
)

__all__ = ["ReviewStatistics", "StabilityModel", "agreement_of", "by_segment_of", "cells_of",
           "combine_migration", "combine_stability", "fit_stability", "partial_changes",
           "partial_migration", "partial_stability", "summary_of"]

#: The segment of a comparison without segments.
WHOLE = ""
_FIRMS = "_firms"
_STAB_COLUMNS = ["segment", "variable", "side", "bin", "firms"]


@dataclass(frozen=True)
class StabilityModel:
    """The global part of a stability comparison: the variables and the bin edges.

    Attributes
    ----------
    variables : tuple of Variable
        The watched variables both quarters hold, in order.
    segment : str or None
        The column that splits the firms (an industry level), or None for one comparison.
    edges : dict
        ``(segment, variable)`` → the reference's decile edges (numeric variables; a
        segment the reference lacks has none: one bin).
    """

    variables: tuple[Variable, ...]
    segment: str | None
    edges: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def _decile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    reference = values[np.isfinite(values)]
    return (np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(reference) else np.empty(0))


def _segments(frame: pd.DataFrame, segment: str | None) -> dict[object, np.ndarray]:
    if segment is None:
        return {WHOLE: np.arange(len(frame))}
    groups = frame.groupby(segment, sort=True, observed=True).indices
    return {k: np.asarray(v) for k, v in groups.items()}


def fit_stability(reference: pd.DataFrame, current_columns: Sequence[str],
                  variables: Sequence[Variable], cfg: StabilityConfig,
                  segment: str | None = None) -> StabilityModel:
    """The bin edges of every numeric variable: deciles of the reference (per segment).

    Parameters
    ----------
    reference : pandas.DataFrame
        The reference quarter's firms (all of them, or on Spark the edges may come from
        approximate quantiles; pass them to :class:`StabilityModel` directly).
    current_columns : sequence of str
        The columns the current quarter holds (a variable both hold is compared).
    variables : sequence of Variable
    cfg : StabilityConfig
    segment : str, optional
        Compare within each value of this column.
    """
    present = tuple(v for v in variables
                    if v.name in reference.columns and v.name in current_columns)
    numeric = {v.name: _values(reference, v) for v in present if not v.categorical}
    edges = {}
    for seg, rows in _segments(reference, segment).items():
        for v in present:
            if not v.categorical:
                edges[(str(seg), v.name)] = _decile_edges(numeric[v.name][rows], cfg.bins)
    return StabilityModel(present, segment, edges)


def _counts(model: StabilityModel, frame: pd.DataFrame, side: str) -> list[pd.DataFrame]:
    groups = _segments(frame, model.segment)
    names = np.array([str(g) for g in groups], dtype=object)
    segment = np.full(len(frame), -1, dtype=np.int64)
    for number, rows in enumerate(groups.values()):
        segment[rows] = number
    held = segment >= 0  # firms without a segment are left out
    # The columns of every variable's counts, made into one frame at the end.
    parts: dict[str, list[np.ndarray]] = {
        "segment": [names], "variable": [np.full(len(names), _FIRMS, dtype=object)],
        "bin": [np.full(len(names), "", dtype=object)],
        "firms": [np.array([len(r) for r in groups.values()], dtype=np.int64)]}
    for v in model.variables:
        x = _values(frame, v)
        code: npt.NDArray[np.int64]
        if v.categorical:
            missing = pd.isna(x)
            labels = np.where(missing, MISSING, x).astype(str)
            factors, levels = pd.factorize(labels, sort=True)
            code = np.asarray(factors, dtype=np.int64)
            level_names = np.asarray(levels, dtype=object)
        else:
            code = np.zeros(len(frame), dtype=np.int64)
            for seg, rows in groups.items():
                edges = model.edges.get((str(seg), v.name), np.empty(0))
                values = x[rows]
                code[rows] = np.where(np.isfinite(values),
                                      np.searchsorted(edges, values, side="left"),
                                      len(edges) + 1)
            level_names = np.arange(code.max(initial=0) + 1).astype(str).astype(object)
        width = len(level_names)
        keys, n = np.unique(segment[held] * width + code[held], return_counts=True)
        parts["segment"].append(names[keys // width])
        parts["variable"].append(np.full(len(keys), v.name, dtype=object))
        parts["bin"].append(level_names[keys % width])
        parts["firms"].append(n.astype(np.int64))
    columns = {c: np.concatenate(a) for c, a in parts.items()}
    return [pd.DataFrame({"segment": columns["segment"], "variable": columns["variable"],
                          "side": side, "bin": columns["bin"], "firms": columns["firms"]})]


def partial_stability(model: StabilityModel, reference: pd.DataFrame,
                      current: pd.DataFrame) -> pd.DataFrame:
    """A bucket's counts: ``segment``, ``variable``, ``side`` (reference / current),
    ``bin`` (a numeric bin's index, the last for missing values; or the category) and
    ``firms`` (``variable`` ``_firms``: the segment's firms)."""
    parts = [*_counts(model, reference, "reference"), *_counts(model, current, "current")]
    if not parts:
        return pd.DataFrame(columns=_STAB_COLUMNS)
    return pd.concat(parts, ignore_index=True).astype({"firms": "int64"})


def _shares(var: Variable, side: np.ndarray, bins: np.ndarray, firms: np.ndarray, k: int
            ) -> tuple[np.ndarray, np.ndarray, float, float, int, int]:
    """Reference and current shares per bin, missing shares and firms, as ``_row``."""
    ref = side == "reference"
    if var.categorical:
        levels = np.unique(bins.astype(str))
        code = np.searchsorted(levels, bins.astype(str))
        ce = np.bincount(code[ref], weights=firms[ref], minlength=len(levels))
        ca = np.bincount(code[~ref], weights=firms[~ref], minlength=len(levels))
        ne, na = int(ce.sum()), int(ca.sum())
        miss = levels == MISSING
        me = float(ce[miss].sum() / ne) if ne else np.nan
        ma = float(ca[miss].sum() / na) if na else np.nan
        return ce / max(ce.sum(), 1.0), ca / max(ca.sum(), 1.0), me, ma, ne, na
    index = bins.astype(np.int64)
    ce = np.bincount(index[ref], weights=firms[ref], minlength=k)
    ca = np.bincount(index[~ref], weights=firms[~ref], minlength=k)
    ne, na = int(ce.sum()), int(ca.sum())
    pe, pa = ce / max(ne, 1), ca / max(na, 1)
    return pe, pa, float(pe[-1]), float(pa[-1]), ne, na


def _combined_row(var: Variable, cells: tuple[np.ndarray, np.ndarray, np.ndarray], k: int,
                  cfg: StabilityConfig) -> dict[str, object]:
    pe, pa, me, ma, ne, na = _shares(var, *cells, k)
    psi = _psi(pe, pa) if ne and na else float("nan")
    bins = int(((pe > 0) | (pa > 0)).sum())
    noise = noise_bound(bins, ne, na, cfg.noise_quantile)
    return {"variable": var.name, "kind": var.kind, "models": var.models, "psi": psi,
            "noise_bound": noise, "beyond_noise": bool(np.isfinite(psi) and psi >= noise),
            "bins": bins, "firms_reference": ne, "firms_current": na,
            "missing_reference": me, "missing_current": ma}


def combine_stability(model: StabilityModel, partials: Sequence[pd.DataFrame],
                      cfg: StabilityConfig, min_firms: int = 0) -> pd.DataFrame:
    """The stability table from the buckets' :func:`partial_stability`.

    Without a segment: :func:`~creditpersona.review.drift.compare`'s columns; with one, a
    ``segment`` column first and segments with fewer than ``min_firms`` firms on a side
    not judged (:func:`~creditpersona.review.drift.compare_by_segment`).
    """
    counts = pd.concat(partials, ignore_index=True) if partials else pd.DataFrame(
        columns=_STAB_COLUMNS)
    counts = pd.DataFrame(counts.groupby(["segment", "variable", "side", "bin"], sort=False,
                                         as_index=False)["firms"].sum())
    firms = counts[counts["variable"] == _FIRMS].pivot_table(
        index="segment", columns="side", values="firms", aggfunc="sum", fill_value=0)
    cells = counts[counts["variable"] != _FIRMS]
    arrays = (cells["side"].to_numpy(dtype=object), cells["bin"].to_numpy(dtype=object),
              cells["firms"].to_numpy(dtype=float))
    where = cells.groupby(["segment", "variable"], sort=False).indices
    none = np.empty(0, dtype=np.int64)

    def of(seg: str, var: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = where.get((seg, var), none)
        return arrays[0][rows], arrays[1][rows], arrays[2][rows]

    rows: list[dict[str, object]] = []
    if model.segment is None:
        rows = [_combined_row(v, of(WHOLE, v.name),
                              len(model.edges.get((WHOLE, v.name), ())) + 2, cfg)
                for v in model.variables]
        return _finish(rows, cfg)[_COLUMNS]
    too_few: list[bool] = []  # per row: its segment has too few firms to be judged
    side = {c: firms[c].astype("int64").to_dict() for c in ("reference", "current")
            if c in firms.columns}
    for seg in sorted(firms.index, key=str):
        nr, nc = side.get("reference", {}).get(seg, 0), side.get("current", {}).get(seg, 0)
        few = min(nr, nc) < min_firms
        for v in model.variables:
            row = ({"variable": v.name, "kind": v.kind, "models": v.models, "psi": np.nan,
                    "noise_bound": np.nan, "beyond_noise": False, "bins": 0,
                    "firms_reference": nr, "firms_current": nc,
                    "missing_reference": np.nan, "missing_current": np.nan} if few else
                   _combined_row(v, of(seg, v.name),
                                 len(model.edges.get((seg, v.name), ())) + 2, cfg))
            rows.append({"segment": str(seg), **row})
            too_few.append(few)
    if not rows:
        return pd.DataFrame(columns=["segment", *_COLUMNS])
    # One frame for every segment (the bands and drift flags are row by row).
    out = _finish(rows, cfg)
    out.loc[np.asarray(too_few), "band"] = TOO_FEW
    return out[["segment", *_COLUMNS]]


# -- migration -----------------------------------------------------------------------------

_CELL_COLUMNS = ["from_state", "to_state", "firms"]


def partial_migration(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """A bucket's firms per (state then, state now): ``from_state`` or ``to_state`` is
    missing for a firm absent (or without a state) in that quarter.

    Parameters
    ----------
    previous, current : pandas.Series
        State per firm (index: firm id, unique) of the bucket's firms in each quarter.
    """
    states = pd.concat([previous.dropna().astype(str).rename("from_state"),
                        current.dropna().astype(str).rename("to_state")], axis=1,
                       join="outer")
    cells = states.groupby(["from_state", "to_state"], dropna=False, sort=False).size()
    return cells.rename("firms").reset_index()[_CELL_COLUMNS]


def _cells(partials: Sequence[pd.DataFrame]) -> pd.DataFrame:
    cells = pd.concat(partials, ignore_index=True) if partials else pd.DataFrame(
        columns=_CELL_COLUMNS)
    return pd.DataFrame(cells.groupby(["from_state", "to_state"], dropna=False, sort=False,
                                      as_index=False)["firms"].sum())


def combine_migration(partials: Sequence[pd.DataFrame],
                      order: Sequence[str] | None = None) -> Migration:
    """The migration matrix from the buckets' :func:`partial_migration`
    (:func:`~creditpersona.review.migration.migration_matrix`)."""
    cells = _cells(partials)
    seen = set(cells["from_state"].dropna()) | set(cells["to_state"].dropna())
    known = list(order or [])
    rows = [*known, *natural_order([s for s in seen if s not in set(known)])]
    k = len(rows)
    # Absent firms get code k: the (new) row or the (left) column.
    frm = pd.Categorical(cells["from_state"], categories=rows).codes.astype(np.int64)
    to = pd.Categorical(cells["to_state"], categories=rows).codes.astype(np.int64)
    frm[frm < 0], to[to < 0] = k, k
    flat = np.bincount(frm * (k + 1) + to, weights=cells["firms"].to_numpy(dtype=float),
                       minlength=(k + 1) ** 2)
    counts = pd.DataFrame(flat.reshape(k + 1, k + 1).astype(np.int64),
                          index=pd.Index([*rows, NEW], name="from_state"),
                          columns=pd.Index([*rows, LEFT], name="to_state"))
    totals = counts.sum(axis=1)
    return Migration(counts, counts.div(totals.where(totals > 0), axis=0))


def agreement_of(partials: Sequence[pd.DataFrame]) -> dict[str, float]:
    """Firms in both quarters, the share keeping their persona and the adjusted Rand
    index, from :func:`partial_migration` of the persona assignments
    (:func:`~creditpersona.personas.evaluation.assignment_agreement`)."""
    cells = _cells(partials)
    both = cells.dropna(subset=["from_state", "to_state"])
    n = int(both["firms"].sum())
    if n == 0:
        return {"firms": 0.0, "same_persona": float("nan"), "ari": float("nan")}
    same = int(both.loc[both["from_state"] == both["to_state"], "firms"].sum())
    table = both.pivot_table(index="from_state", columns="to_state", values="firms",
                             aggfunc="sum", fill_value=0).to_numpy(dtype=np.int64)
    # The pair confusion matrix of scikit-learn's adjusted_rand_score, in integers.
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    squares = int((table.astype(np.int64) ** 2).sum())
    tp = squares - n
    fp = int((table @ cols).sum()) - squares
    fn = int((table.T @ rows).sum()) - squares
    tn = n * n - fp - fn - squares
    ari = 1.0 if fn == 0 and fp == 0 else 2.0 * (tp * tn - fn * fp) / (
        (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    return {"firms": float(n), "same_persona": same / n, "ari": float(ari)}


def partial_changes(previous: pd.Series, current: pd.Series, order: Sequence[str],
                    segments: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """A bucket's firms graded in both quarters per (segment, grade then, grade now).

    Parameters
    ----------
    previous, current : pandas.Series
        Grade per firm (index: firm id) in each quarter.
    order : sequence of str
        The grades, best first (others are left out, as in ``rating_changes``).
    segments : dict of str to pandas.Series, optional
        Level name → segment per firm; the portfolio is the level ``""``.

    Returns
    -------
    pandas.DataFrame
        ``level``, ``segment``, ``from_state``, ``to_state``, ``firms``.
    """
    changes = rating_changes(previous, current, order)
    parts = [changes.groupby(["from_state", "to_state"], sort=False).size().rename(
        "firms").reset_index().assign(level=WHOLE, segment=WHOLE)]
    for level, seg in (segments or {}).items():
        s = seg.reindex(changes.index).fillna("?").astype(str)
        parts.append(pd.DataFrame({"segment": s.to_numpy(),
                                   "from_state": changes["from_state"].to_numpy(),
                                   "to_state": changes["to_state"].to_numpy()})
                     .groupby(["segment", "from_state", "to_state"], sort=False).size()
                     .rename("firms").reset_index().assign(level=level))
    return pd.concat(parts, ignore_index=True)[["level", "segment", "from_state", "to_state",
                                                "firms"]]


def _change_cells(partials: Sequence[pd.DataFrame], level: str, order: Sequence[str]
                  ) -> pd.DataFrame:
    cells = pd.concat(partials, ignore_index=True)
    cells = pd.DataFrame(cells[cells["level"] == level].groupby(
        ["segment", "from_state", "to_state"], sort=True, as_index=False)["firms"].sum())
    rank = {g: i for i, g in enumerate(order)}
    cells["notches"] = (cells["to_state"].map(rank) - cells["from_state"].map(rank)).astype(
        "int64")
    return cells


def summary_of(partials: Sequence[pd.DataFrame], order: Sequence[str],
               default_grade: str = "D") -> dict[str, float]:
    """:func:`~creditpersona.review.migration.change_summary` of the portfolio from the
    buckets' :func:`partial_changes`."""
    c = _change_cells(partials, WHOLE, order)
    w, d = c["firms"].to_numpy(dtype=np.int64), c["notches"].to_numpy(dtype=np.int64)
    n = int(w.sum())
    if n == 0:
        return change_summary(pd.DataFrame({"notches": []}))
    performing = (c["from_state"].astype(str) != default_grade).to_numpy()
    pw, pdn = w[performing], d[performing]
    m = int(pw.sum())
    return {"firms": n, "upgrade_share": float(w[d < 0].sum() / n),
            "stable_share": float(w[d == 0].sum() / n),
            "downgrade_share": float(w[d > 0].sum() / n),
            "mean_notches": float((w * d).sum() / n), "performing": m,
            "stay_share": float(pw[pdn == 0].sum() / m) if m else np.nan,
            "within_one_share": float(pw[np.abs(pdn) <= 1].sum() / m) if m else np.nan}


def by_segment_of(partials: Sequence[pd.DataFrame], level: str,
                  order: Sequence[str]) -> pd.DataFrame:
    """:func:`~creditpersona.review.migration.changes_by_segment` of one level."""
    c = _change_cells(partials, level, order)
    frame = c.assign(up=c["firms"] * (c["notches"] < 0), same=c["firms"] * (c["notches"] == 0),
                     down=c["firms"] * (c["notches"] > 0), sum=c["firms"] * c["notches"])
    out = frame.groupby("segment", sort=True).agg(
        firms=("firms", "sum"), upgrades=("up", "sum"), stable=("same", "sum"),
        downgrades=("down", "sum"), total=("sum", "sum")).reset_index()
    out["mean_notches"] = out["total"] / out["firms"]
    return segment_shares(out)


def cells_of(partials: Sequence[pd.DataFrame], level: str, kind: str,
             order: Sequence[str]) -> pd.DataFrame:
    """:func:`~creditpersona.review.migration.matrices_by_segment` of one level."""
    c = _change_cells(partials, level, order)
    c = c[c["firms"] > 0].drop(columns="notches")
    c.insert(0, "kind", kind)
    return c[LONG_COLUMNS].astype({"firms": "int64"}).reset_index(drop=True)


class ReviewStatistics(Protocol):
    """What the review's analysis asks of the quarters (``review_analysis(statistics=)``).

    The embedded engine answers from the quarters' frames
    (:class:`~creditpersona.review.analysis.FrameStatistics`); a distributed engine answers
    with the combinations of its buckets' partials (a bucket holds the rows of both
    quarters of its firms). ``source`` is ``profile``, ``scores`` (with the firm's
    ``industry_section`` and ``industry_division``) or ``personas``.
    """

    def columns(self, source: str, day: dt.date | None) -> tuple[str, ...] | None:
        """The columns ``source`` holds on ``day`` (None: nothing stored that day)."""

    def stability(self, source: str, reference: dt.date, current: dt.date,
                  variables: Sequence[Variable], segment: str | None = None,
                  min_firms: int = 0) -> pd.DataFrame:
        """:func:`combine_stability` of ``source`` between the two dates."""

    def migration(self, source: str, column: str, previous: dt.date,
                  current: dt.date) -> list[pd.DataFrame]:
        """The buckets' :func:`partial_migration` of ``column``."""

    def changes(self, column: str, previous: dt.date, current: dt.date, order: Sequence[str],
                levels: Sequence[str] = ()) -> list[pd.DataFrame]:
        """The buckets' :func:`partial_changes` of the grade ``column`` of the scores, with
        each level's segment (the firm's of ``current``, else of ``previous``)."""

    def versions(self, previous: dt.date, current: dt.date) -> list[int]:
        """The persona model versions of the two dates' assignments, sorted."""
