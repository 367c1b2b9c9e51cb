"""The review's statistics over all firms on Spark (检视统计, Spark).

:class:`SparkStatistics` answers :class:`~creditpersona.review.kernels.ReviewStatistics`
from the Parquet result store (:class:`~creditpersona.spark.results.SparkResults`), never
from the DuckDB store: each quarter's profile, PD scores and personas are read from
``<results>/<table>/as_of=D/`` and prepared per partition as the embedded review prepares
them (:mod:`creditpersona.review.inputs`). Then, for every comparison:

* **Stability**: the bin edges (the reference quarter's deciles per segment) are Spark's
  exact ``percentile`` (linear interpolation, as ``numpy.quantile``) — one row per segment
  comes back, the whole portfolio's, the sections' and the divisions' from one cube
  aggregation; each bucket of firms counts its reference and current firms per bin, for
  the three levels at once
  (:func:`~creditpersona.review.kernels.partial_stability` in a ``cogroup``); Spark sums
  the counts and judges each segment on an executor
  (:func:`~creditpersona.review.kernels.combine_stability` of that segment's counts). The
  driver receives one row per (segment, variable).
* **Migration and rating changes**: each bucket's
  :func:`~creditpersona.review.kernels.partial_migration` /
  :func:`~creditpersona.review.kernels.partial_changes`, summed by Spark; the driver
  receives one row per (state then, state now) (per segment for the changes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from creditpersona.personas.segment import add_derived_features
from creditpersona.review.config import StabilityConfig
from creditpersona.review.drift import _COLUMNS, Variable
from creditpersona.review.inputs import _SCORE_COLUMNS, DIVISION, SECTION, _by_firm
from creditpersona.review.kernels import (
    WHOLE,
    StabilityModel,
    combine_stability,
    partial_changes,
    partial_migration,
    partial_stability,
)
from creditpersona.store import results as store_results

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from creditpersona.spark.stages import SparkCycle

__all__ = ["SparkStatistics"]

_TABLE = {"profile": store_results.PROFILES, "scores": store_results.PD_SCORES,
          "personas": store_results.PERSONAS}


@dataclass
class _Prepared:
    """One quarter of one source on Spark: the frame (with ``bucket``) and its columns."""

    frame: DataFrame
    columns: tuple[str, ...]


def _schema(fields: Iterable[tuple[str, str]]) -> StructType:
    from pyspark.sql import types as T

    kinds = {"s": T.StringType(), "d": T.DoubleType(), "l": T.LongType(), "b": T.BooleanType()}
    return T.StructType([T.StructField(n, kinds[k]) for n, k in fields])


_COUNTS = _schema([("level", "s"), ("segment", "s"), ("variable", "s"), ("side", "s"),
                   ("bin", "s"), ("firms", "l")])
_CELLS = _schema([("from_state", "s"), ("to_state", "s"), ("firms", "l")])
_CHANGES = _schema([("level", "s"), ("segment", "s"), ("from_state", "s"), ("to_state", "s"),
                    ("firms", "l")])
_DRIFT_KINDS = {"variable": "s", "kind": "s", "models": "s", "psi": "d", "band": "s",
                "noise_bound": "d", "beyond_noise": "b", "drifted": "b", "bins": "l",
                "firms_reference": "l", "firms_current": "l", "missing_reference": "d",
                "missing_current": "d"}
_DRIFT = _schema([("level", "s"), ("segment", "s"), *((c, _DRIFT_KINDS[c]) for c in _COLUMNS)])


def _frame(chunk: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A cogroup side as the kernels take it (an empty side gets the columns)."""
    if chunk.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return chunk.drop(columns="bucket", errors="ignore").reset_index(drop=True)


def _plain(frame: pd.DataFrame, schema: StructType) -> pd.DataFrame:
    """``frame`` with plain numpy / object columns of ``schema``'s types (Arrow cannot take
    every pandas extension type back to Spark)."""
    kinds: dict[str, Any] = {"string": object, "double": "float64", "long": "int64",
                             "boolean": bool}
    out = pd.DataFrame(index=frame.index)
    for f in schema.fields:
        column = frame[f.name]
        kind = kinds[f.dataType.typeName()]
        out[f.name] = (column.astype(object).where(column.notna(), None) if kind is object
                       else column.astype(kind))
    return out.reset_index(drop=True)


def _finite_percentiles(column: str, qs: np.ndarray):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    c = F.col(column).cast("double")
    finite = F.when(F.isnan(c) | (F.abs(c) == F.lit(float("inf"))), None).otherwise(c)
    return F.percentile(finite, [float(q) for q in qs]).alias(column)


class SparkStatistics:
    """:class:`~creditpersona.review.kernels.ReviewStatistics` over the Spark results.

    Parameters
    ----------
    run : SparkCycle
    columns : list of str
        The profile columns the review reads (``Watched.columns``).
    variables : sequence of Variable
        Every variable the review watches in the profile (their types on Spark).
    cfg : StabilityConfig
    """

    def __init__(self, run: SparkCycle, columns: list[str], variables: Sequence[Variable],
                 cfg: StabilityConfig, segment_min_firms: int | None = None) -> None:
        self._run, self._wanted, self._cfg = run, columns, cfg
        self._variables = list(variables)
        #: Rows of every aggregate brought to the driver.
        self.seen: list[int] = []
        #: (source, dates, segment, min_firms) → the variables judged and their rows.
        self._judged: dict[tuple[str, dt.date, dt.date, str | None, int],
                           tuple[frozenset[str], pd.DataFrame]] = {}
        #: The comparisons judged together in one Spark job when one of them is asked: the
        #: whole portfolio and, with ``segment_min_firms`` (the review's industry
        #: ``min_firms``), the industry sections and divisions.
        self._levels: tuple[tuple[str | None, int], ...] = ((None, 0),) + (
            () if segment_min_firms is None
            else ((SECTION, segment_min_firms), (DIVISION, segment_min_firms)))
        self._categorical = {v.name for v in variables if v.categorical}
        self._numeric = {v.name for v in variables if not v.categorical}
        self._held: dict[tuple[str, dt.date], _Prepared | None] = {}

    def _bring(self, frame: DataFrame) -> pd.DataFrame:
        """``frame`` on the driver (an aggregate), its rows counted in :attr:`seen`."""
        out = frame.toPandas()
        self.seen.append(len(out))
        return out

    def close(self) -> None:
        """Release the quarters' cached frames."""
        for held in self._held.values():
            if held is not None:
                held.frame.unpersist()
        self._held.clear()

    # -- the quarters ------------------------------------------------------------------------
    def _read(self, source: str, day: dt.date) -> DataFrame | None:
        """The stored rows of ``source`` on ``day`` without its empty optional columns
        (:func:`creditpersona.store.results.without_empty_optional`); None if none."""
        from pyspark.sql import functions as F

        name = _TABLE[source]
        if not self._run.results.exists(name, day):
            return None
        frame = self._run.results.read(name, day).drop("as_of")
        spec = store_results.table(name)
        optional = [c for c in frame.columns if c in spec.optional]
        numeric = {f.name for f in frame.schema.fields
                   if f.dataType.typeName() in ("double", "float")}
        counts = frame.agg(F.count(F.lit(1)).alias("_rows"), *[
            F.count(F.when(~F.isnan(c), 1) if c in numeric else F.col(c)).alias(c)
            for c in optional]).first()
        if counts is None or int(counts["_rows"]) == 0:
            return None
        empty = [c for c in optional if int(counts[c]) == 0]
        return frame.drop(*empty).dropDuplicates(["firm_id"])

    def _prepared(self, source: str, day: dt.date | None) -> _Prepared | None:
        if day is None:
            return None
        key = (source, day)
        if key not in self._held:
            raw = self._read(source, day)
            held = None if raw is None else getattr(self, f"_prepare_{source}")(raw, day)
            if held is not None:
                held.frame = held.frame.withColumn("bucket", self._run.bucket()).persist()
            self._held[key] = held
        return self._held[key]

    def _prepare_profile(self, raw: DataFrame, day: dt.date) -> _Prepared:
        """The profile columns the review reads, with the division and the derived
        features of :func:`~creditpersona.personas.segment.add_derived_features`."""
        present = [c for c in dict.fromkeys(self._wanted) if c in raw.columns]
        dummy = pd.DataFrame({c: pd.Series([None], dtype=object) for c in present})
        if "industry_code" in dummy.columns:
            dummy[DIVISION] = dummy["industry_code"]
        derived = list(add_derived_features(dummy).columns)
        keep = [c for c in dict.fromkeys(["firm_id", SECTION, DIVISION, *self._categorical,
                                          *self._numeric]) if c in derived]
        text = {"firm_id", SECTION, DIVISION, *self._categorical}
        schema = _schema([(c, "s" if c in text else "d") for c in keep])

        def prepare(chunks: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
            for chunk in chunks:
                frame = chunk[present].reset_index(drop=True)
                if "industry_code" in frame.columns:
                    frame[DIVISION] = frame["industry_code"].astype("string").str[:3]
                frame = add_derived_features(frame)
                out = pd.DataFrame(index=frame.index)
                for c in keep:
                    column = frame[c]
                    out[c] = (column.astype(object).where(column.notna(), None).map(
                        lambda v: v if v is None else str(v)) if c in text
                        else pd.to_numeric(column, errors="coerce").astype("float64"))
                yield out

        return _Prepared(raw.select(*present).mapInPandas(prepare, schema), tuple(keep))

    def _prepare_scores(self, raw: DataFrame, day: dt.date) -> _Prepared:
        """PD scores with the firm's section and division of the same date's profile."""
        from pyspark.sql import functions as F

        scores = raw.select(*[c for c in _SCORE_COLUMNS if c in raw.columns])
        profile = self._prepared("profile", day)
        if profile is not None:
            sections = profile.frame.select("firm_id", *[c for c in (SECTION, DIVISION)
                                                         if c in profile.columns])
            scores = scores.join(sections, "firm_id", "left")
        for c in (SECTION, DIVISION):
            if c not in scores.columns:
                scores = scores.withColumn(c, F.lit(None).cast("string"))
        return _Prepared(scores, tuple(scores.columns))

    def _prepare_personas(self, raw: DataFrame, day: dt.date) -> _Prepared:
        frame = raw.select("firm_id", "persona_id", "model_version")
        return _Prepared(frame, tuple(raw.columns))

    def columns(self, source: str, day: dt.date | None) -> tuple[str, ...] | None:
        """The columns ``source`` holds on ``day`` (None: nothing stored that day)."""
        held = self._prepared(source, day)
        return None if held is None else held.columns

    def _pair(self, source: str, first: dt.date, second: dt.date
              ) -> tuple[_Prepared, _Prepared]:
        a, b = self._prepared(source, first), self._prepared(source, second)
        assert a is not None and b is not None, "columns() says what is held"
        return a, b

    # -- the statistics ----------------------------------------------------------------------
    def _edges(self, frame: DataFrame, variables: Sequence[Variable],
               levels: Sequence[str | None]) -> dict[str | None, dict[tuple[str, str],
                                                                    np.ndarray]]:
        """The reference's decile edges per (segment, numeric variable) of each level (None:
        the whole portfolio), by Spark in one aggregation (a cube of the level columns)."""
        from pyspark.sql import functions as F

        out: dict[str | None, dict[tuple[str, str], np.ndarray]] = {lv: {} for lv in levels}
        numeric = [v.name for v in variables if not v.categorical]
        if not numeric:
            return out
        qs = np.linspace(0, 1, self._cfg.bins + 1)[1:-1]
        aggs = [_finite_percentiles(c, qs) for c in numeric]
        columns = [lv for lv in levels if lv is not None]
        rows: list[tuple[str | None, str, Any]] = []
        if not columns:
            rows.append((None, WHOLE, frame.agg(*aggs).first()))
        else:
            flags = [F.grouping(c).alias(f"_grouped_{i}") for i, c in enumerate(columns)]
            for r in frame.cube(*columns).agg(*aggs, *flags).collect():
                kept = [c for i, c in enumerate(columns) if r[f"_grouped_{i}"] == 0]
                if not kept and None in out:
                    rows.append((None, WHOLE, r))
                elif len(kept) == 1 and r[kept[0]] is not None:
                    rows.append((kept[0], str(r[kept[0]]), r))
        for level, seg, row in rows:
            if row is not None:
                out[level].update({(seg, c): np.unique(np.asarray(row[c] or [], dtype=float))
                                   for c in numeric})
        return out

    def stability(self, source: str, reference: dt.date, current: dt.date,
                  variables: Sequence[Variable], segment: str | None = None,
                  min_firms: int = 0) -> pd.DataFrame:
        """:func:`~creditpersona.review.kernels.combine_stability` of ``source`` between
        the two dates, from the buckets' partial counts.

        A variable's row depends on that variable alone, so each (source, dates, segment)
        is counted once for every watched variable of the source and the rows asked for
        are taken from it (the review compares the profile's variables in several subsets);
        the whole portfolio and the industry levels of the profile and the PD scores are
        judged together, in one pass over each pair of quarters.
        """
        key = (source, reference, current, segment, min_firms)
        asked = {v.name: i for i, v in enumerate(variables)}
        if key not in self._judged or not set(asked) <= self._judged[key][0]:
            extra = [v for v in self._variables if source == "profile" and v.name not in asked]
            wanted = [*variables, *extra]
            together = self._together(source, reference, current, (segment, min_firms))
            judged = self._judge(source, reference, current, wanted, together)
            names = frozenset(v.name for v in wanted)
            self._judged |= {(source, reference, current, level, floor): (names, rows)
                             for (level, floor), rows in judged.items()}
        rows = self._judged[key][1]
        rows = rows[rows["variable"].isin(list(asked))]
        rows = rows.assign(_s=rows["segment"].astype(str), _v=rows["variable"].map(asked))
        rows = rows.sort_values(["_s", "_v"], kind="stable", ignore_index=True).drop(
            columns=["_s", "_v"])
        return rows.drop(columns="segment") if segment is None else rows

    def _together(self, source: str, reference: dt.date, current: dt.date,
                  level: tuple[str | None, int]) -> list[tuple[str | None, int]]:
        """The comparisons judged with ``level``: the review's levels whose columns both
        quarters hold, when ``level`` is one of them (the personas' shares are compared
        over the whole portfolio only)."""
        if source == "personas" or level not in self._levels:
            return [level]
        ref, cur = self._pair(source, reference, current)
        return [lv for lv in self._levels if lv == level or lv[0] is None
                or (lv[0] in ref.columns and lv[0] in cur.columns)]

    def _judge(self, source: str, reference: dt.date, current: dt.date,
               variables: Sequence[Variable], levels: Sequence[tuple[str | None, int]]
               ) -> dict[tuple[str | None, int], pd.DataFrame]:
        """The drift rows of every variable at each level (segment column, min_firms),
        judged on the executors: the edges in one aggregation, the counts and judgements of
        all levels in one pass (then each level brought to the driver on its own)."""
        from pyspark.sql import functions as F

        ref, cur = self._pair(source, reference, current)
        present = tuple(v for v in variables if v.name in ref.columns and v.name in cur.columns)
        edges = self._edges(ref.frame, present, [lv for lv, _ in levels])
        name = {lv: "" if lv is None else lv for lv, _ in levels}
        models = {name[lv]: StabilityModel(present, lv, edges[lv]) for lv, _ in levels}
        floors = {name[lv]: floor for lv, floor in levels}
        cfg, ref_cols, cur_cols = self._cfg, ref.columns, cur.columns

        def count(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
            a, b = _frame(a, ref_cols), _frame(b, cur_cols)
            parts = [partial_stability(m, a, b).assign(level=n) for n, m in models.items()]
            return _plain(pd.concat(parts, ignore_index=True), _COUNTS)

        def judge(cells: pd.DataFrame) -> pd.DataFrame:
            n = str(cells["level"].iloc[0])
            out = combine_stability(models[n], [cells.drop(columns="level")], cfg, floors[n])
            if "segment" not in out.columns:
                out.insert(0, "segment", WHOLE)
            return _plain(out.assign(level=n)[["level", "segment", *_COLUMNS]], _DRIFT)

        counts = ref.frame.groupBy("bucket").cogroup(cur.frame.groupBy("bucket")).applyInPandas(
            count, _COUNTS)
        summed = counts.groupBy("level", "segment", "variable", "side", "bin").agg(
            F.sum("firms").cast("long").alias("firms"))
        judged = summed.groupBy("level", "segment").applyInPandas(judge, _DRIFT).persist()
        try:  # one level at a time: a division level holds ~90 segments' rows per variable
            return {(lv, floor): self._bring(judged.filter(F.col("level") == name[lv])).drop(
                columns="level") for lv, floor in levels}
        finally:
            judged.unpersist()

    def migration(self, source: str, column: str, previous: dt.date,
                  current: dt.date) -> list[pd.DataFrame]:
        """The buckets' :func:`~creditpersona.review.kernels.partial_migration`, summed."""
        from pyspark.sql import functions as F

        before, after = self._pair(source, previous, current)
        a_cols, b_cols = before.columns, after.columns

        def cells(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
            a, b = _frame(a, a_cols), _frame(b, b_cols)
            if a.empty and b.empty:
                return pd.DataFrame({c: [] for c in _CELLS.fieldNames()})
            return _plain(partial_migration(_by_firm(a, column), _by_firm(b, column)), _CELLS)

        frame = before.frame.groupBy("bucket").cogroup(after.frame.groupBy("bucket"))
        summed = frame.applyInPandas(cells, _CELLS).groupBy("from_state", "to_state").agg(
            F.sum("firms").cast("long").alias("firms"))
        return [self._bring(summed)]

    def changes(self, column: str, previous: dt.date, current: dt.date, order: Sequence[str],
                levels: Sequence[str] = ()) -> list[pd.DataFrame]:
        """The buckets' :func:`~creditpersona.review.kernels.partial_changes`, summed."""
        from pyspark.sql import functions as F

        before, after = self._pair("scores", previous, current)
        a_cols, b_cols, grades = before.columns, after.columns, list(order)

        def cells(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
            a, b = _frame(a, a_cols), _frame(b, b_cols)
            if a.empty or b.empty:  # no firm of the bucket graded in both quarters
                return pd.DataFrame({c: [] for c in _CHANGES.fieldNames()})
            segments = {level: _by_firm(b, level).combine_first(_by_firm(a, level))
                        for level in levels}
            return _plain(partial_changes(_by_firm(a, column), _by_firm(b, column), grades,
                                          segments), _CHANGES)

        frame = before.frame.groupBy("bucket").cogroup(after.frame.groupBy("bucket"))
        summed = frame.applyInPandas(cells, _CHANGES).groupBy(
            "level", "segment", "from_state", "to_state").agg(
            F.sum("firms").cast("long").alias("firms")).persist()
        try:  # one level at a time: a division level holds ~90 segments' cells
            return [self._bring(summed.filter(F.col("level") == level))
                    for level in (WHOLE, *levels)]
        finally:
            summed.unpersist()

    def versions(self, previous: dt.date, current: dt.date) -> list[int]:
        """The persona model versions of the two dates' assignments, sorted."""
        found: set[int] = set()
        for day in (previous, current):
            held = self._prepared("personas", day)
            if held is not None:
                rows = held.frame.select("model_version").dropna().distinct().collect()
                found |= {int(r[0]) for r in rows}
        return sorted(found)
