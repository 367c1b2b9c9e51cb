"""Migration between two quarters: personas and rating grades (迁移矩阵).

A migration matrix counts the firms of both quarters by their state then (row) and now
(column). Firms only in the earlier quarter are in the column ``(left)``, firms only in the
later one in the row ``(new)``; row rates divide by the row's firms, ``(left)`` included.
Rating changes are measured on the master-scale order (the default grade last): a move to
a worse grade is a downgrade.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEW = "(new)"
LEFT = "(left)"
PORTFOLIO = "portfolio"
#: Columns of the long format that ``review_migration`` stores.
LONG_COLUMNS = ["kind", "segment", "from_state", "to_state", "firms"]


def natural_order(states: Sequence[object]) -> list[str]:
    """States sorted with their numbers read as numbers (``P2`` before ``P10``).

    Examples
    --------
    >>> natural_order(["P10", "in_default", "P2", "P1"])
    ['P1', 'P2', 'P10', 'in_default']
    """
    def key(s: str) -> tuple[object, ...]:
        return tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                     for t in re.split(r"(\d+)", s) if t)
    return sorted({str(s) for s in states}, key=key)


@dataclass(frozen=True)
class Migration:
    """A migration matrix.

    Attributes
    ----------
    counts : pandas.DataFrame
        Firms by state in the earlier quarter (rows, then ``(new)``) and in the later one
        (columns, then ``(left)``).
    rates : pandas.DataFrame
        ``counts`` divided by each row's total (NaN for an empty row).
    """

    counts: pd.DataFrame
    rates: pd.DataFrame

    def long(self, kind: str, segment: str = PORTFOLIO) -> pd.DataFrame:
        """The non-empty cells as rows: ``kind``, ``segment``, ``from_state``,
        ``to_state``, ``firms``."""
        values = self.counts.to_numpy()
        r, c = np.nonzero(values > 0)
        cells = pd.DataFrame({"kind": kind, "segment": segment,
                              "from_state": self.counts.index.to_numpy(dtype=object)[r],
                              "to_state": self.counts.columns.to_numpy(dtype=object)[c],
                              "firms": values[r, c]})
        return cells[LONG_COLUMNS].astype({"firms": "int64"})


def _states(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Firm → state then and now, over the union of firms (NaN where absent or unknown)."""
    return pd.concat([previous.dropna().astype(str).rename("from_state"),
                      current.dropna().astype(str).rename("to_state")], axis=1, join="outer")


def migration_matrix(previous: pd.Series, current: pd.Series,
                     order: Sequence[str] | None = None) -> Migration:
    """The migration matrix of two assignments indexed by firm.

    Parameters
    ----------
    previous, current : pandas.Series
        State per firm (index: firm id, unique) in the earlier and the later quarter.
    order : sequence of str, optional
        Order of the states (others follow in :func:`natural_order`).

    Examples
    --------
    >>> a = pd.Series(["P1", "P1", "P2"], index=["x", "y", "z"])
    >>> b = pd.Series(["P1", "P2", "P2"], index=["x", "y", "w"])
    >>> m = migration_matrix(a, b).counts
    >>> m.index.tolist(), m.columns.tolist()
    (['P1', 'P2', '(new)'], ['P1', 'P2', '(left)'])
    >>> m.to_numpy().tolist()
    [[1, 1, 0], [0, 0, 1], [0, 1, 0]]
    """
    states = _states(previous, current)
    seen = set(states["from_state"].dropna().unique()) | set(states["to_state"].dropna().unique())
    known = list(order or [])
    rows = [*known, *natural_order([s for s in seen if s not in set(known)])]
    k = len(rows)
    # Absent firms get code k: the (new) row or the (left) column.
    frm = pd.Categorical(states["from_state"], categories=rows).codes.astype(np.int64)
    to = pd.Categorical(states["to_state"], categories=rows).codes.astype(np.int64)
    frm[frm < 0], to[to < 0] = k, k
    cells = np.bincount(frm * (k + 1) + to, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    counts = pd.DataFrame(cells.astype(np.int64),
                          index=pd.Index([*rows, NEW], name="from_state"),
                          columns=pd.Index([*rows, LEFT], name="to_state"))
    totals = counts.sum(axis=1)
    rates = counts.div(totals.where(totals > 0), axis=0)
    return Migration(counts, rates)


def rating_changes(previous: pd.Series, current: pd.Series, order: Sequence[str],
                   ) -> pd.DataFrame:
    """Per firm graded in both quarters: ``from_state``, ``to_state`` and ``notches``.

    ``notches`` is the move along ``order`` (best grade first, default last): positive for
    a downgrade, negative for an upgrade. Grades outside ``order`` are left out.

    Examples
    --------
    >>> a = pd.Series(["1", "3", "5"], index=["x", "y", "z"])
    >>> b = pd.Series(["2", "3", "D"], index=["x", "y", "z"])
    >>> rating_changes(a, b, ["1", "2", "3", "4", "5", "D"])["notches"].tolist()
    [1, 0, 1]
    """
    rank = {g: i for i, g in enumerate(order)}
    both = _states(previous, current).dropna()
    r0 = both["from_state"].map(rank)
    r1 = both["to_state"].map(rank)
    ok = r0.notna() & r1.notna()
    out = both[ok].copy()
    out["notches"] = (r1[ok] - r0[ok]).astype("int64")
    return out


def change_summary(changes: pd.DataFrame, default_grade: str = "D") -> dict[str, float]:
    """Firms, upgrade / stable / downgrade shares and mean notches of :func:`rating_changes`,
    and the stability of the performing firms.

    ``stay_share`` and ``within_one_share`` count the firms *performing* in the earlier
    quarter (not in ``default_grade``) that keep their grade, or move at most one notch (a
    move into default counts as its notches).

    Examples
    --------
    >>> ch = pd.DataFrame({"from_state": ["1", "2", "3", "D"], "to_state": ["1", "4", "4", "D"],
    ...                    "notches": [0, 2, 1, 0]})
    >>> s = change_summary(ch)
    >>> s["stable_share"], round(s["stay_share"], 3), round(s["within_one_share"], 3)
    (0.5, 0.333, 0.667)
    """
    n = len(changes)
    if n == 0:
        return {"firms": 0, "upgrade_share": np.nan, "stable_share": np.nan,
                "downgrade_share": np.nan, "mean_notches": np.nan, "performing": 0,
                "stay_share": np.nan, "within_one_share": np.nan}
    d = changes["notches"].to_numpy()
    performing = (changes["from_state"].astype(str) != default_grade).to_numpy() \
        if "from_state" in changes.columns else np.ones(n, dtype=bool)
    p = d[performing]
    return {"firms": n, "upgrade_share": float((d < 0).mean()),
            "stable_share": float((d == 0).mean()), "downgrade_share": float((d > 0).mean()),
            "mean_notches": float(d.mean()), "performing": int(performing.sum()),
            "stay_share": float((p == 0).mean()) if len(p) else np.nan,
            "within_one_share": float((np.abs(p) <= 1).mean()) if len(p) else np.nan}


def changes_by_segment(changes: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """:func:`change_summary` per segment (``segment`` indexed by firm), worst first.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``firms``, ``upgrades``, ``stable``, ``downgrades``,
        ``upgrade_share``, ``stable_share``, ``downgrade_share``, ``mean_notches``.
    """
    seg = segment.reindex(changes.index)
    frame = pd.DataFrame({"segment": seg.fillna("?").astype(str).to_numpy(),
                          "up": (changes["notches"] < 0).to_numpy(),
                          "same": (changes["notches"] == 0).to_numpy(),
                          "down": (changes["notches"] > 0).to_numpy(),
                          "notches": changes["notches"].to_numpy(dtype=float)})
    g = frame.groupby("segment", sort=True)
    out = g.agg(firms=("up", "size"), upgrades=("up", "sum"), stable=("same", "sum"),
                downgrades=("down", "sum"), mean_notches=("notches", "mean")).reset_index()
    return segment_shares(out)


def matrices_by_segment(changes: pd.DataFrame, segment: pd.Series, kind: str,
                        ) -> pd.DataFrame:
    """The non-empty cells of each segment's migration matrix, in the long format."""
    seg = segment.reindex(changes.index).fillna("?").astype(str)
    cells = (pd.DataFrame({"segment": seg.to_numpy(),
                           "from_state": changes["from_state"].to_numpy(),
                           "to_state": changes["to_state"].to_numpy()})
             .groupby(["segment", "from_state", "to_state"], sort=True).size()
             .rename("firms").reset_index())
    cells.insert(0, "kind", kind)
    return cells[LONG_COLUMNS].astype({"firms": "int64"})


def segment_shares(out: pd.DataFrame) -> pd.DataFrame:
    """Counts of rating changes per segment (``segment, firms, upgrades, stable,
    downgrades, mean_notches``) with their shares, worst (most downgrades) first; shared
    by :func:`changes_by_segment` and the review's mergeable partials."""
    for name, col in (("upgrade_share", "upgrades"), ("stable_share", "stable"),
                      ("downgrade_share", "downgrades")):
        out[name] = out[col] / out["firms"]
    out = out.astype({"firms": "int64", "upgrades": "int64", "stable": "int64",
                      "downgrades": "int64"})
    return out.sort_values(["downgrade_share", "segment"], ascending=[False, True],
                           ignore_index=True)[
        ["segment", "firms", "upgrades", "stable", "downgrades", "upgrade_share",
         "stable_share", "downgrade_share", "mean_notches"]]
