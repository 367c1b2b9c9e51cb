"""The cycle's per-firm work on Spark, bucket by bucket of firms (Spark 阶段).

Every firm gets a bucket, ``pmod(xxhash64(firm_id), buckets)``; a bucket's rows of every
table (features, documents, scores) meet in one group, so each per-firm function receives a
pandas chunk of whole firms and calls the very function the embedded engine calls
(:func:`creditpersona.profile.build.profile_rows`,
:func:`creditpersona.models.development.apply`, :func:`creditpersona.models.rating.rate`,
:meth:`creditpersona.personas.policy.PersonaModel.assign`). What needs the whole portfolio
is computed by Spark (counts, the mean PD of the rating anchor, the grade distribution, the
PSI's histogram) and only that small answer reaches the driver.

Models are fitted on the driver on a sample of firms (:func:`firm_sample`): every firm whose
hash falls below a threshold, the same firms at every date, at most ``sample_cap`` rows.
The fitted model travels to the executors in the closure of the per-chunk function.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from creditpersona.contract.schema import TABLES as CONTRACT
from creditpersona.errors import InsufficientDataError
from creditpersona.spark.results import SparkResults, spark_schema
from creditpersona.store import results as store_results
from creditpersona.store.store import Store
from creditpersona.text.attribution import KnownFirms

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from pyspark.sql import Column, DataFrame, SparkSession

#: Default number of firm buckets (groups of whole firms handed to one Python call).
BUCKETS = 16
#: Default cap on the rows of a fit sample brought to the driver (firm-dates for the PD
#: development, firms for the personas): enough for the scorecard's binning, the LightGBM
#: challenger's folds and the persona mixture; a driver with 4 GB holds it easily.
SAMPLE_CAP = 20_000
#: The resolution of the hash sample (a firm is in when its hash mod this is below a bound).
_HASH_RANGE = 1_000_000
#: Columns of a stored profile that are not the firm's (dropped before the next stage).
_RUN_COLUMNS = ("as_of", "run_id", "engine")


@dataclass
class SparkCycle:
    """What every Spark stage of one cycle shares.

    Attributes
    ----------
    spark : SparkSession
    inputs : str
        Folder (or URI) of the contract tables as ``<table>.parquet``.
    results : SparkResults
    buckets : int
    sample_cap : int
    tables : dict of str to ibis.Table
        The contract tables through Ibis on the session (the profile's expressions).
    """

    spark: SparkSession
    inputs: str
    results: SparkResults
    buckets: int = BUCKETS
    sample_cap: int = SAMPLE_CAP
    tables: dict[str, ir.Table] = field(default_factory=dict)
    con: Any = None

    @classmethod
    def open(cls, spark: SparkSession, inputs: str | Path, results: SparkResults, *,
             buckets: int = BUCKETS, sample_cap: int = SAMPLE_CAP) -> SparkCycle:
        """Open the contract tables of ``inputs`` (every one present) on ``spark``.

        Raises
        ------
        InsufficientDataError
            If a table the profile needs is missing from ``inputs``.
        """
        import ibis

        from creditpersona.profile.build import PROFILE_TABLES

        if buckets < 1 or sample_cap < 100:
            raise InsufficientDataError(
                f"Spark cycle: buckets must be ≥ 1 and the sample cap ≥ 100 (got {buckets}, "
                f"{sample_cap}); pass --spark-conf spark.creditpersona.buckets=N.")
        run = cls(spark, str(inputs), results, buckets, sample_cap)
        run.con = ibis.pyspark.connect(spark)
        for t in CONTRACT:
            path = f"{run.inputs.rstrip('/')}/{t.name}.parquet"
            if results._fs_exists(path):
                run.tables[t.name] = run.con.read_parquet(path, table_name=t.name)
        missing = [t for t in PROFILE_TABLES if t not in run.tables]
        if missing:
            raise InsufficientDataError(
                f"{run.inputs}: the Spark cycle needs {', '.join(missing)} as "
                "<table>.parquet there; ingest them into the store (creditpersona ingest) "
                "or write them there.")
        return run

    def frame(self, expr: ir.Table) -> DataFrame:
        """The Spark DataFrame of an Ibis expression on the session (nothing collected)."""
        return self.con._session.sql(self.con.compile(expr))

    def bucket(self, column: str = "firm_id", buckets: int | None = None) -> Column:
        """The firm's bucket: ``pmod(xxhash64(firm_id), buckets)`` (the cycle's buckets
        unless ``buckets`` is given)."""
        from pyspark.sql import functions as F

        return F.pmod(F.xxhash64(F.col(column)), F.lit(buckets or self.buckets))

    def sampled(self, fraction: float, column: str = "firm_id") -> Column:
        """True for the firms of the hash sample of ``fraction`` (the same at every date)."""
        from pyspark.sql import functions as F

        bound = int(np.ceil(min(1.0, fraction) * _HASH_RANGE))
        # Another hash seed than the buckets', so a sample spreads over every bucket.
        return F.pmod(F.xxhash64(F.col(column), F.lit("sample")), F.lit(_HASH_RANGE)) < bound

    def count(self, frame: DataFrame) -> int:
        """Rows of ``frame`` (one number to the driver)."""
        return int(frame.count())

    @property
    def names_path(self) -> str:
        """The firms' Parquet file, read by each executor for the firms' names."""
        return f"{self.inputs.rstrip('/')}/firms.parquet"


def export_inputs(store: Store, folder: Path) -> Path:
    """Write the store's contract tables as ``<table>.parquet`` into ``folder`` (DuckDB
    copies them file to file; nothing passes through Python)."""
    from creditpersona.safeio import private_dir

    private_dir(folder)
    for t in CONTRACT:
        if store_results.has_table(store, t.name):
            path = folder / f"{t.name}.parquet"
            store.con.raw_sql(f"COPY \"{t.name}\" TO '{path}' (FORMAT parquet)")
    return folder


# ---- profile --------------------------------------------------------------------------------
_NAMES: dict[str, KnownFirms] = {}


def _firm_names(path: str) -> KnownFirms:
    """Registered name by firm id, read once per Python worker from the firms' file, with
    the names' automaton (built by the first bucket that reads texts, kept for the next)."""
    if path not in _NAMES:
        import pyarrow.parquet as pq

        t = pq.read_table(path, columns=["firm_id", "name"]).to_pandas()
        _NAMES[path] = KnownFirms(dict(zip(t["firm_id"].astype(str), t["name"], strict=True)))
    return _NAMES[path]


def _stored(name: str, rows: pd.DataFrame, as_of: dt.date, columns: list[str]
            ) -> pd.DataFrame:
    """``rows`` conformed to the declared schema of ``name`` (as ``conform`` stores them),
    as pandas in the order of ``columns`` (the Spark output schema)."""
    table = store_results.conform(name, rows.assign(as_of=as_of))
    return table.select(columns).to_pandas(date_as_object=True)


def _profile_rows(run: SparkCycle, run_id: str, columns: list[str]) -> Any:
    """The per-bucket step of a profile on Spark: features and documents of some firms and
    their as-of date to the stored profile rows (``columns``, without ``as_of``)."""
    from creditpersona.profile.build import profile_rows
    from creditpersona.profile.scoring import load_scoring

    names_path, config = run.names_path, load_scoring()

    def rows_of(features: pd.DataFrame, documents: pd.DataFrame, as_of: dt.date
                ) -> pd.DataFrame:
        if features.empty:
            return pd.DataFrame({c: [] for c in columns})
        rows = profile_rows(features, documents, _firm_names(names_path), as_of,
                            config=config, jobs=1)
        return _stored(store_results.PROFILES, rows.assign(run_id=run_id, engine="spark"),
                       as_of, columns)

    return rows_of


def profile_frame(run: SparkCycle, as_of: dt.date, run_id: str,
                  tables: dict[str, ir.Table] | None = None, buckets: int | None = None
                  ) -> DataFrame:
    """The profile of ``as_of`` as a Spark DataFrame (``profiles``' columns but ``as_of``).

    The features are Spark SQL (the same Ibis expressions as on DuckDB); the text signals,
    size class, industry section and scores are computed per bucket by
    :func:`~creditpersona.profile.build.profile_rows`. ``buckets`` (default the cycle's):
    fewer for a profile of a few firms, since each bucket is one call of ``profile_rows``
    with its fixed cost (the rows do not depend on the split).
    """
    import ibis

    from creditpersona.profile.features import profile_features

    t = tables or run.tables
    feats = run.frame(profile_features(t, as_of)).withColumn("bucket",
                                                             run.bucket(buckets=buckets))
    d = t["documents"]
    docs = run.frame(d.filter(d.doc_date <= ibis.literal(as_of, type="date")).select(
        "doc_id", "firm_id", "doc_date", "source", "text")).withColumn(
        "bucket", run.bucket(buckets=buckets))
    schema = spark_schema(store_results.PROFILES, without=("as_of",))
    rows_of = _profile_rows(run, run_id, schema.fieldNames())

    def chunk(features: pd.DataFrame, documents: pd.DataFrame) -> pd.DataFrame:
        return rows_of(features.drop(columns="bucket"), documents.drop(columns="bucket"),
                       as_of)

    return feats.groupBy("bucket").cogroup(docs.groupBy("bucket")).applyInPandas(chunk, schema)


def profile_frame_by_day(run: SparkCycle, pairs: DataFrame, run_id: str,
                         buckets: int | None = None) -> DataFrame:
    """:func:`profile_frame` of each firm of ``pairs`` (``firm_id``, ``_day``) on its day,
    in one Spark plan: ``profiles``' columns but ``as_of``, then ``_day``.

    The features are :func:`~creditpersona.profile.features.profile_features_by_day` (each
    source row joined to its firm's days); the documents are each firm's dated up to each
    of its days; :func:`~creditpersona.profile.build.profile_rows` runs once per bucket and
    day (the days of a marketing history's snapshots cost one query, not one each).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from creditpersona.profile.features import DAY, profile_features_by_day

    view = f"_profile_pairs_{id(pairs)}"
    pairs.select("firm_id", DAY).createOrReplaceTempView(view)
    days = run.con.table(view)
    feats = run.frame(profile_features_by_day(run.tables, days)).withColumn(
        "bucket", run.bucket(buckets=buckets))
    docs = run.frame(run.tables["documents"].select(
        "doc_id", "firm_id", "doc_date", "source", "text")).join(
        F.broadcast(pairs.select("firm_id", DAY)), "firm_id").filter(
        F.col("doc_date") <= F.col(DAY)).withColumn("bucket", run.bucket(buckets=buckets))
    rows_schema = spark_schema(store_results.PROFILES, without=("as_of",))
    schema = T.StructType([*rows_schema.fields, T.StructField(DAY, T.DateType(), True)])
    rows_of = _profile_rows(run, run_id, rows_schema.fieldNames())

    def chunk(features: pd.DataFrame, documents: pd.DataFrame) -> pd.DataFrame:
        if features.empty:
            return pd.DataFrame({c: [] for c in schema.fieldNames()})
        day = pd.Timestamp(features[DAY].iloc[0]).date()
        rows = rows_of(features.drop(columns=["bucket", DAY]),
                       documents.drop(columns=["bucket", DAY]), day)
        return rows.assign(**{DAY: day})

    return feats.groupBy("bucket", DAY).cogroup(docs.groupBy("bucket", DAY)).applyInPandas(
        chunk, schema)


def firms_only(frame: DataFrame) -> DataFrame:
    """A stored profile without the run's columns (what the next stages take)."""
    return frame.drop(*_RUN_COLUMNS)


def _scalar(frame: DataFrame) -> Any:
    """The one value of a one-row, one-column aggregate (None when there is no row)."""
    row = frame.first()
    return None if row is None else row[0]


# ---- PD: development sample, scores, rating ----------------------------------------------
def sampled_tables(run: SparkCycle, fraction: float) -> dict[str, ir.Table]:
    """The contract tables restricted to the hash sample of firms (as Ibis tables)."""
    out: dict[str, ir.Table] = {}
    for name, table in run.tables.items():
        frame = run.frame(table)
        if "firm_id" in frame.columns:
            frame = frame.filter(run.sampled(fraction))
        view = f"{name}__sample"
        frame.createOrReplaceTempView(view)
        out[name] = run.con.table(view)
    return out


def development_dates(run: SparkCycle, as_of: dt.date, horizon_months: int = 12,
                      quarters: int = 5) -> list[dt.date]:
    """As :func:`creditpersona.models.development.development_dates`, from the inputs.

    Raises
    ------
    InsufficientDataError
        If the statements do not reach back far enough for two dates.
    """
    from pyspark.sql import functions as F

    from creditpersona.models.target import sample_dates

    first = _scalar(run.frame(run.tables["financial_statements"]).agg(F.min("published_on")))
    last = (pd.Timestamp(as_of) - pd.DateOffset(months=horizon_months)).date()
    dates = [] if first is None else list(sample_dates(pd.Timestamp(first).date(), last))
    if len(dates) < 2:
        raise InsufficientDataError(
            f"PD development needs outcomes {horizon_months} months after at least two "
            f"quarter ends with published statements; the statements start {first} and the "
            f"as-of date is {as_of}: load more history or choose a later as-of date")
    return dates[-quarters:]


def development_sample(run: SparkCycle, dates: list[dt.date], horizon_months: int = 12
                       ) -> pd.DataFrame:
    """The labelled development sample of a hash sample of firms, at most ``sample_cap``
    firm-dates, on the driver (:func:`creditpersona.models.development.development_sample`'s
    columns).

    The same firms at every date (the folds are grouped by firm); the fraction is the cap
    over firms × dates, so the sample keeps the portfolio's default rate.
    """
    from pyspark.sql import functions as F

    from creditpersona.models.development import FEATURES
    from creditpersona.models.target import label_table

    firms = run.count(run.frame(run.tables["firms"]))
    fraction = run.sample_cap / max(1, firms * len(dates))
    tables = sampled_tables(run, fraction)
    parts = []
    for d in dates:
        prof = profile_frame(run, d, "development", tables).select("firm_id", *FEATURES)
        lab = run.frame(label_table(tables, d, horizon_months=horizon_months)).select(
            "firm_id", "default")
        parts.append(prof.join(lab, "firm_id").withColumn("as_of", F.lit(d)))
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    sample = union.orderBy("as_of", "firm_id").limit(run.sample_cap).toPandas()
    sample[list(FEATURES)] = sample[list(FEATURES)].astype("float64")
    sample["default"] = sample["default"].astype("int64")
    return sample


def defaulted_firms(run: SparkCycle, as_of: dt.date) -> DataFrame:
    """``firm_id`` of the firms in default on ``as_of`` (the target's definition)."""
    import ibis

    from creditpersona.models.target import first_default_dates

    first = first_default_dates(run.tables)
    hit = first.filter(first.default_date <= ibis.literal(as_of, type="date"))
    return run.frame(hit.select("firm_id")).distinct()


def score_frame(run: SparkCycle, profile: DataFrame, models: Any, as_of: dt.date
                ) -> DataFrame:
    """PD of both models, the PIT grade and reason codes, per partition
    (:func:`creditpersona.models.development.apply`); ``pd_scores``' columns but ``as_of``."""
    from pyspark.sql import functions as F

    from creditpersona.models import development as devmod

    flagged = firms_only(profile).join(
        defaulted_firms(run, as_of).withColumn("_defaulted", F.lit(True)), "firm_id", "left")
    schema = spark_schema(store_results.PD_SCORES, without=("as_of",))
    columns = schema.fieldNames()

    def score(chunks: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            hit = chunk.loc[chunk["_defaulted"].fillna(False).astype(bool), "firm_id"]
            out = devmod.apply(models, chunk.reset_index(drop=True), hit.astype(str))
            yield _stored(store_results.PD_SCORES, out, as_of, columns)

    return flagged.mapInPandas(score, schema)


def previous_ratings(run: SparkCycle, as_of: dt.date, max_gap_days: int
                     ) -> DataFrame | None:
    """``firm_id``, ``prev_rating_score``, ``prev_grade`` of the latest Spark-stored date
    before ``as_of`` within the gap (as :func:`creditpersona.models.rating.previous_ratings`)."""
    from pyspark.sql import functions as F

    earlier = run.results.latest(store_results.PD_SCORES, before=as_of)
    if earlier is None or (as_of - earlier).days > max_gap_days:
        return None
    rows = run.results.read(store_results.PD_SCORES, earlier)
    stored = _scalar(rows.agg(F.count("rating_score")))
    logit = F.log(F.col("pd") / (1 - F.col("pd")))
    score = F.col("rating_score") if stored else logit
    return rows.select("firm_id", score.cast("double").alias("prev_rating_score"),
                       F.col("grade").alias("prev_grade")).dropDuplicates(["firm_id"])


def grade_frame(run: SparkCycle, scores: DataFrame, models: Any, as_of: dt.date
                ) -> DataFrame:
    """The rating grade per partition (:func:`creditpersona.models.rating.rate`), anchored
    on the portfolio's mean PD computed by Spark and smoothed with the previous quarter's
    rating joined by firm."""
    from pyspark.sql import functions as F

    from creditpersona.models import rating

    cfg = rating.load_rating()
    scale = models.scale
    default = scale.default_grade
    central = _scalar(scores.filter(F.col("grade") != default).agg(F.mean("pd")))
    previous = previous_ratings(run, as_of, cfg.max_gap_days)
    joined = scores if previous is None else scores.join(previous, "firm_id", "left")
    long_run = rating.long_run_rate(models.summary)
    schema = spark_schema(store_results.PD_SCORES, without=("as_of",))
    columns = schema.fieldNames()

    def grade(chunks: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            chunk = chunk.reset_index(drop=True)
            current = pd.DataFrame({"firm_id": chunk["firm_id"],
                                    "pd": chunk["pd"].astype(float),
                                    "defaulted": chunk["grade"].astype(str) == default})
            before = None
            if "prev_grade" in chunk:
                known = chunk["prev_grade"].notna()
                before = pd.DataFrame({"firm_id": chunk.loc[known, "firm_id"],
                                       "rating_score": chunk.loc[known, "prev_rating_score"],
                                       "grade": chunk.loc[known, "prev_grade"]})
            rated = rating.rate(current, before, scale, cfg, long_run,
                                central=None if central is None else float(central))
            out = chunk.drop(columns=[c for c in chunk.columns if str(c).startswith("prev_")])
            for c in (*rating.RATING_COLUMNS, "grade"):
                out[c] = rated[c].to_numpy()
            yield _stored(store_results.PD_SCORES, out, as_of, columns)

    return joined.mapInPandas(grade, schema)


def histogram(frame: DataFrame, column: str, edges: np.ndarray) -> np.ndarray:
    """Counts of ``column`` per bin of ``edges`` as ``numpy.histogram`` gives them (a bin
    holds its left edge, the last also its right; missing, NaN, infinite and outside values
    are left out), counted by Spark in SQL (no Python task)."""
    from pyspark.sql import functions as F

    n = len(edges) - 1
    v = F.col(column).cast("double")
    inside = (v.isNotNull() & ~F.isnan(v) & (F.abs(v) != F.lit(float("inf")))
              & (v >= F.lit(float(edges[0]))) & (v <= F.lit(float(edges[-1]))))
    # numpy's bin: the edges at or below the value, less one; the last edge's in the last.
    at_or_below = [(v >= F.lit(float(e))).cast("long") for e in edges]
    index = F.least(sum(at_or_below[1:], at_or_below[0]) - F.lit(1), F.lit(n - 1))
    rows = frame.filter(inside).groupBy(index.alias("bin")).count().collect()
    out = np.zeros(n, dtype=np.int64)
    for r in rows:
        out[int(r["bin"])] = int(r["count"])
    return out


def validation_tables(models: Any, scores: DataFrame) -> dict[str, Any]:
    """:func:`creditpersona.models.development.validation_tables` with the grade counts and
    the PSI's histogram computed by Spark (the same figures, no firm on the driver)."""
    summary = models.summary
    tables = {k: v for k, v in summary.items() if k != "oof_champion"}
    counts = {r["grade"]: int(r["count"]) for r in scores.groupBy("grade").count().collect()}
    tables["grades"] = pd.DataFrame({"grade": models.scale.names, "firms": [
        counts.get(g, 0) for g in models.scale.names]})
    e = np.asarray(summary["oof_champion"], dtype=float)
    e = e[np.isfinite(e)]
    edges = np.unique(np.quantile(e, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    pe = np.histogram(e, edges)[0] / len(e)
    actual = histogram(scores, "pd", edges)
    pa_ = actual / max(1, actual.sum())
    pe, pa_ = np.clip(pe, 1e-6, None), np.clip(pa_, 1e-6, None)
    # The formula of creditpersona.models.validation.psi, on the counts.
    tables["psi"] = float(np.sum((pa_ - pe) * np.log(pa_ / pe)))
    return tables


def write_validation(path: Path, tables: dict[str, Any]) -> None:
    """The PD validation tables as JSON (as the embedded cycle writes them)."""
    from creditpersona.models import development as devmod
    from creditpersona.safeio import write_text

    write_text(path, json.dumps(devmod.to_json(tables), indent=2, default=str,
                                ensure_ascii=False))


# ---- personas ----------------------------------------------------------------------------
def persona_sample(run: SparkCycle, profile: DataFrame, scores: DataFrame) -> pd.DataFrame:
    """A hash sample of at most ``sample_cap`` firms' profiles with their PD, on the driver."""
    firms = run.count(profile)
    fraction = run.sample_cap / max(1, firms)
    picked = firms_only(profile).filter(run.sampled(fraction)).join(
        scores.select("firm_id", "pd"), "firm_id", "left")
    sample = picked.orderBy("firm_id").limit(run.sample_cap).toPandas()
    return sample.reset_index(drop=True)


def assign_frame(profile: DataFrame, model: Any, names: dict[str, tuple[str, str]],
                 version: int, run_id: str, as_of: dt.date) -> DataFrame:
    """Each firm's persona per partition (:meth:`PersonaModel.assign`), named from the
    cards of the fit sample; ``personas``' columns but ``as_of``."""
    schema = spark_schema(store_results.PERSONAS, without=("as_of",))
    columns = schema.fieldNames()

    def assign(chunks: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            frame = chunk.reset_index(drop=True)
            a = model.assign(frame)
            out = pd.DataFrame({"firm_id": frame["firm_id"].astype(str)}).join(a)
            out["persona_name_zh"] = out["persona_id"].map(lambda p: names[p][0])
            out["persona_name_en"] = out["persona_id"].map(lambda p: names[p][1])
            yield _stored(store_results.PERSONAS, out.assign(
                model_version=int(version), run_id=run_id), as_of, columns)

    return firms_only(profile).mapInPandas(assign, schema)
