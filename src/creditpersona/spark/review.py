"""The review stage on Spark: drift, migration and rating changes from partial counts
(季度检视, Spark).

The same analysis as the embedded :func:`creditpersona.review.review_stage`, with every
statistic over all firms computed by :class:`~creditpersona.spark.review_stats.SparkStatistics`
from the Parquet result store (this quarter and the earlier ones the Spark cycle, or
:meth:`~creditpersona.spark.results.SparkResults.import_date`, wrote). What the driver
holds: the models in force and their registry records (the store), one row per (segment,
variable) of the drift, one per pair of states of the migrations, the rating overrides of
the operational store (small), and — only when the review needs them — two capped hash
samples of firms (``--sample-cap``):

* the **matured cohort** (scored 12 months or more before the review): its PD scores
  joined with the outcomes Spark derives from the contract tables; a bank with more
  cohort firms than the cap is judged on a hash sample of them (a note says so);
* the **annual persona review** (a year after the model's fit): the challenger is fitted
  on a hash sample of the quarter's profile, as the persona model itself is.

The review reads no decision or marketing output. It writes ``review_drift``,
``review_migration``, ``review_performance`` and ``review_triggers`` as Parquet with the
declared schemas. The portfolio history and override tables of the embedded
:class:`~creditpersona.review.ReviewResult` are report views (the Spark cycle writes no
report); :func:`spark_review` computes them from per-date aggregates all the same.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from creditpersona.errors import CreditPersonaError
from creditpersona.models.master_scale import load_master_scale
from creditpersona.review.analysis import EngineReads, ReviewResult, assemble_review
from creditpersona.review.annual import AnnualReview, annual_review, months_later
from creditpersona.review.config import PersonaReviewConfig, ReviewConfig, load_review_config
from creditpersona.review.history import History
from creditpersona.review.inputs import (
    ModelsInForce,
    Quarters,
    ReviewInputs,
    models_in_force,
    override_counts,
    previous_quarter,
    read_overrides,
    watched_variables,
    zh_en,
)
from creditpersona.review.performance import COLUMNS as PERFORMANCE_COLUMNS
from creditpersona.review.performance import MODELS, matured_performance
from creditpersona.spark.review_stats import SparkStatistics
from creditpersona.store import results as store_results
from creditpersona.store.store import Store

if TYPE_CHECKING:
    from creditpersona.spark.stages import SparkCycle

__all__ = ["review_step", "spark_review", "write_review"]

PD_SCORES, PERSONAS, PROFILES = (store_results.PD_SCORES, store_results.PERSONAS,
                                 store_results.PROFILES)


def _inputs(run: SparkCycle, store: Store, as_of: dt.date, cfg: ReviewConfig
            ) -> ReviewInputs:
    """:func:`creditpersona.review.inputs.review_inputs` with the dates of the Spark
    results (the quarters themselves are read by :class:`SparkStatistics`).

    Raises
    ------
    InsufficientDataError
        If the profile, PD scores or personas of ``as_of`` are not in the Spark results.
    """
    notes: list[str] = []
    score_dates = set(run.results.dates(PD_SCORES))
    persona_dates = set(run.results.dates(PERSONAS))
    previous = previous_quarter(
        as_of, cfg, score_dates, persona_dates, run.results.exists(PROFILES, as_of), notes,
        holder=f"the Spark results {run.results.root}",
        command=f"creditpersona run --engine spark --as-of {as_of}")
    models = models_in_force(store, as_of, previous, notes)
    watched = watched_variables(models.persona)
    # Never read: SparkStatistics answers for the quarters (the analysis asks it only).
    quarters = Quarters(store, watched.columns)
    return ReviewInputs(as_of, cfg, load_master_scale(), previous, score_dates, models,
                        watched, quarters, None, notes, pd.DataFrame())


def _hash_sample(run: SparkCycle, frame: Any, firms: int, seen: list[int]) -> pd.DataFrame:
    """At most ``sample_cap`` rows of ``frame``: the hash sample of firms, on the driver
    (its rows appended to ``seen``)."""
    fraction = run.sample_cap / max(1, firms)
    out = frame.filter(run.sampled(fraction)).orderBy("firm_id").limit(
        run.sample_cap).toPandas()
    seen.append(len(out))
    return out


def _matured(run: SparkCycle, i: ReviewInputs, notes: list[str], seen: list[int]
             ) -> tuple[dt.date | None, pd.DataFrame, pd.DataFrame]:
    """The matured cohort's performance (:func:`creditpersona.review.analysis._matured`)
    on its scores in the Spark results and the outcomes Spark derives, hash-sampled to the
    cap."""
    from creditpersona.models.target import label_table

    cfg = i.config
    matured = months_later(i.as_of, -cfg.pd.horizon_months)
    candidates = [d for d in i.score_dates if d <= matured]
    if not candidates:
        notes.append(zh_en(f"尚无成熟样本：{matured}及以前没有评分记录。",
                           f"No cohort has matured yet: no PD scores on or before {matured}."))
        return None, pd.DataFrame(columns=PERFORMANCE_COLUMNS), pd.DataFrame()
    cohort = max(candidates)
    development, scored_by = {}, {}
    for name in MODELS:
        rec = i.models.registered.get(name, cohort)
        if rec is not None:
            development[name], scored_by[name] = rec.metrics, rec.version
    if not development:
        notes.append(zh_en(f"{cohort}评分所用模型不在注册表中，无开发期AUC可比。",
                           f"The models that scored {cohort} are not in the registry; no "
                           "development AUC to compare with."))
    scores = run.results.read(PD_SCORES, cohort)
    keep = [c for c in ("firm_id", "grade", *MODELS.values()) if c in scores.columns]
    outcomes = run.frame(label_table(run.tables, cohort, horizon_months=cfg.pd.horizon_months)
                         ).select("firm_id", "default")
    joined = scores.select(*keep).join(outcomes, "firm_id", "left")
    firms = run.count(joined)
    rows = _hash_sample(run, joined, firms, seen)
    if firms > len(rows):
        notes.append(zh_en(f"成熟样本按哈希抽样：{len(rows):,}/{firms:,}家企业。",
                           f"The matured cohort of {cohort} is judged on a hash sample of "
                           f"{len(rows):,} of its {firms:,} firms (the Spark sample cap)."))
    known = rows.dropna(subset=["default"]).astype({"default": "int64"})
    performance, grades = matured_performance(
        rows[keep], known[["firm_id", "default"]], development, scored_by,
        grade_order=i.scale.names[:-1], min_defaults=cfg.pd.min_matured_defaults)
    if len(performance) and int(performance["firms"].max()) == 0:
        notes.append(zh_en(f"{cohort}的评分客户在库中没有结果数据。",
                           f"No outcome is known for the firms scored on {cohort}."))
    return cohort, performance, grades


def _last_confirmed(run: SparkCycle, as_of: dt.date, version: int) -> dt.date | None:
    """The latest earlier review (in the Spark results) on which the annual review
    confirmed persona model ``version``."""
    from pyspark.sql import functions as F

    name = store_results.REVIEW_TRIGGERS
    for day in reversed([d for d in run.results.dates(name) if d < as_of]):
        t = run.results.read(name, day)
        hit = t.filter((F.col("trigger") == "persona_annual_review") & F.col("evaluated")
                       & ~F.col("fired") & (F.col("model_version") == version))
        if hit.limit(1).count():
            return day
    return None


def _annual(run: SparkCycle, as_of: dt.date, models: ModelsInForce, cfg: PersonaReviewConfig,
            notes: list[str], seen: list[int]) -> AnnualReview | None:
    """:func:`creditpersona.review.analysis._annual`, the challenger fitted on a hash
    sample of the quarter's profile when the review is due."""
    from creditpersona.spark.stages import firms_only

    model, rec = models.persona, models.persona_record
    if model is None or rec is None or rec.as_of is None:
        return None
    confirmed = _last_confirmed(run, as_of, rec.version)
    due_on = months_later(max(rec.as_of, confirmed) if confirmed else rec.as_of,
                          cfg.annual_review_months)
    if as_of >= due_on:
        profile = firms_only(run.results.read(PROFILES, as_of))
        sample = _hash_sample(run, profile, run.count(profile), seen)
        notes.append(zh_en(f"年度检视的挑战者模型在{len(sample):,}家抽样企业上拟合。",
                           f"The annual review's challenger is fitted on a hash sample of "
                           f"{len(sample):,} firms."))
        try:
            return annual_review(sample, model, model_version=rec.version,
                                 fitted_for=rec.as_of, as_of=as_of, cfg=cfg,
                                 last_confirmed=confirmed)
        except CreditPersonaError as exc:
            notes.append(zh_en("年度检视未能拟合挑战者模型，请人工复核。",
                               f"The annual review could not fit a challenger ({exc}); "
                               "review the personas by hand."))
    return AnnualReview(rec.version, rec.as_of, confirmed, due_on, False,
                        personas_in_force=model.segmenter.n_personas_)


def _overrides(run: SparkCycle, store: Store, i: ReviewInputs) -> pd.DataFrame:
    """:func:`~creditpersona.review.inputs.override_counts` of the quarter's overrides (the
    operational store's, read on the driver) against the previous quarter's book, whose
    firms per grade and per persona Spark counts."""
    from pyspark.sql import functions as F

    overrides = read_overrides(store, i.previous, i.as_of)
    if overrides.empty or i.previous is None or not run.results.exists(PD_SCORES, i.previous):
        return override_counts(overrides, None, None, i.scale.names)
    scores = run.results.read(PD_SCORES, i.previous).select("firm_id", "grade")
    personas = None
    book = scores
    if run.results.exists(PERSONAS, i.previous):
        personas = run.results.read(PERSONAS, i.previous).select("firm_id", "persona_id")
        book = scores.join(personas, "firm_id", "left")
    # One row per (grade, persona) with its firms: the book's counts, not its firms.
    cells = book.groupBy(*[c for c in ("grade", "persona_id") if c in book.columns]).agg(
        F.count(F.lit(1)).alias("_n")).toPandas()
    own = None
    if personas is not None:
        ids = sorted(set(overrides["firm_id"].astype(str)))
        own = personas.filter(F.col("firm_id").isin(ids)).toPandas()
    # The overrides counted against an empty book, then each segment's firms from the counts.
    counted = override_counts(overrides, pd.DataFrame({"firm_id": [], "grade": []}), own,
                              i.scale.names)
    totals = {"all": {"all": int(cells["_n"].sum())}}
    for by, column in (("persona", "persona_id"), ("grade", "grade")):
        if column in cells.columns:
            keys = cells[column].map(lambda v: "nan" if pd.isna(v) else str(v))
            totals[by] = {str(k): int(v) for k, v in cells.groupby(keys)["_n"].sum().items()}
    counted["firms"] = [totals.get(b, {}).get(str(s), 0)
                        for b, s in zip(counted["by"], counted["segment"], strict=True)]
    counted["share"] = counted["overrides"] / counted["firms"].where(counted["firms"] > 0)
    return counted


def _until(run: SparkCycle, name: str, as_of: dt.date) -> Any:
    """Every stored date of ``name`` up to ``as_of`` in the Spark results (None if none)."""
    frames = [run.results.read(name, d) for d in run.results.dates(name) if d <= as_of]
    if not frames:
        return None
    union = frames[0]
    for f in frames[1:]:
        union = union.unionByName(f)
    return union


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame


def _history(run: SparkCycle, as_of: dt.date, default_grade: str, notes: list[str]
             ) -> History:
    """:func:`creditpersona.review.history.portfolio_history` from the Spark results: one
    aggregate row per date (and per grade or persona) comes to the driver."""
    from pyspark.sql import functions as F

    empty = pd.DataFrame(columns=["as_of"])
    summary, grades, personas = empty, pd.DataFrame(columns=["as_of", "grade", "firms",
                                                             "share"]), pd.DataFrame(
        columns=["as_of", "persona_id", "persona_name_zh", "persona_name_en", "firms",
                 "share"])
    s = _until(run, PD_SCORES, as_of)
    if s is not None:
        summary = _dated(s.groupBy("as_of").agg(
            F.count(F.lit(1)).alias("firms"), F.mean("pd").alias("mean_pd"),
            F.percentile("pd", 0.5).alias("median_pd"),
            F.mean((F.col("grade") == default_grade).cast("double")).alias(
                "default_grade_share")).toPandas())
        grades = _dated(s.groupBy("as_of", "grade").agg(
            F.count(F.lit(1)).alias("firms")).toPandas())
        if len(grades):
            grades["share"] = grades["firms"] / grades.groupby("as_of")["firms"].transform("sum")
    p = _until(run, PERSONAS, as_of)
    if p is not None:
        per = _dated(p.groupBy("as_of", "persona_id").agg(
            F.max("persona_name_zh").alias("persona_name_zh"),
            F.max("persona_name_en").alias("persona_name_en"),
            F.count(F.lit(1)).alias("firms")).toPandas())
        if len(per):
            per["share"] = per["firms"] / per.groupby("as_of")["firms"].transform("sum")
            personas = per
        versions = _dated(p.groupBy("as_of").agg(
            F.count(F.lit(1)).alias("persona_firms"),
            F.max("model_version").alias("persona_model_version")).toPandas())
        summary = versions if summary.empty else summary.merge(versions, on="as_of",
                                                               how="outer")
    summary = _decision_history(run, as_of, summary, notes)
    order = ["as_of", "persona_id"] if len(personas) else ["as_of"]
    return History(summary.sort_values("as_of", ignore_index=True),
                   personas.sort_values(order, ignore_index=True),
                   grades.sort_values(["as_of", "grade"], ignore_index=True)
                   if len(grades) else grades)


def _decision_history(run: SparkCycle, as_of: dt.date, summary: pd.DataFrame,
                      notes: list[str]) -> pd.DataFrame:
    """The history's classification and watch-list columns from the decision tables in
    the Spark results, when present (a note says when they are not)."""
    from pyspark.sql import functions as F

    from creditpersona.review.history import _TIERS_NPL, CLASSIFICATION, WATCHLIST

    c = _until(run, CLASSIFICATION, as_of)
    if c is not None:
        tiers = _dated(c.groupBy("as_of").agg(
            F.count(F.lit(1)).alias("loan_firms"),
            F.mean((F.col("tier") == "special_mention").cast("double")).alias(
                "special_mention_share"),
            F.mean(F.col("tier").isin(list(_TIERS_NPL)).cast("double")).alias("npl_share"),
        ).toPandas())
        summary = tiers if summary.empty else summary.merge(tiers, on="as_of", how="left")
    w = _until(run, WATCHLIST, as_of)
    if w is not None:
        watch = _dated(w.groupBy("as_of").agg(F.count(F.lit(1)).alias(
            "watchlist_firms")).toPandas())
        summary = watch if summary.empty else summary.merge(watch, on="as_of", how="left")
    if c is None or w is None:
        notes.append(zh_en("Spark结果中没有贷款五级分类或预警名单，历史表不含这些列。",
                           "The Spark results hold no decision classification or watch list "
                           "(the decisions stage has not run on Spark): the history has no "
                           "classification or watch-list columns."))
    return summary


def spark_review(run: SparkCycle, store: Store, as_of: dt.date, *,
                 config: ReviewConfig | None = None, seen: list[int] | None = None
                 ) -> ReviewResult:
    """Review ``as_of`` on Spark (:func:`creditpersona.review.analysis.review_analysis`
    with :class:`SparkStatistics`, the matured cohort, the annual review and the history
    from the Spark results); nothing is written.

    Raises
    ------
    InsufficientDataError
        If the quarter's profile, PD scores or personas are not in the Spark results.

    ``seen``, when given, receives the rows of every larger answer brought to the driver
    (aggregates and samples).
    """
    seen = [] if seen is None else seen
    cfg = config or load_review_config(None)
    i = _inputs(run, store, as_of, cfg)
    stats = SparkStatistics(run, i.watched.columns, i.watched.profile, cfg.stability,
                            cfg.industry.min_firms)
    try:
        return assemble_review(str(store.path), i, stats, EngineReads(
            matured=lambda notes: _matured(run, i, notes, seen),
            annual=lambda notes: _annual(run, as_of, i.models, cfg.personas, notes, seen),
            history=lambda notes: _history(run, as_of, i.scale.default_grade, notes),
            overrides=lambda: _overrides(run, store, i)))
    finally:
        stats.close()
        seen += stats.seen


def write_review(run: SparkCycle, result: ReviewResult) -> dict[str, int]:
    """The four review tables of ``result.as_of`` as Parquet (as
    :func:`creditpersona.review.storage.save_review` stores them). Returns their rows."""
    from creditpersona.spark.rules import write_small

    d = result.as_of
    frames = {store_results.REVIEW_DRIFT: result.drift,
              store_results.REVIEW_MIGRATION: result.migration.assign(
                  previous_as_of=result.previous),
              store_results.REVIEW_PERFORMANCE: result.performance.assign(
                  cohort_as_of=result.cohort),
              store_results.REVIEW_TRIGGERS: result.triggers}
    return {name: write_small(run, name, d, frame) for name, frame in frames.items()}


def review_step(run: SparkCycle, store: Store, as_of: dt.date, run_id: str
                ) -> tuple[Any, ReviewResult, dict[str, Any]]:
    """The cycle's ``review`` step: its :class:`~creditpersona.spark.cycle.SparkStage`, the
    review, no model version."""
    from creditpersona.spark.cycle import SparkStage

    seen: list[int] = []
    result = spark_review(run, store, as_of, seen=seen)
    tables = write_review(run, result)
    fired = int(result.triggers["fired"].astype(bool).sum()) if len(result.triggers) else 0
    missing = [n for n in result.notes if "decisions stage has not run on Spark" in n]
    note = (f"previous quarter {result.previous or 'none'}; {fired} trigger(s) fired; "
            "drift, migration and rating changes from per-bucket counts"
            + ("; missing on Spark: decision classification and watch list (history only)"
               if missing else ""))
    return SparkStage("review", "spark", tables, max(seen, default=0), note), result, {}
