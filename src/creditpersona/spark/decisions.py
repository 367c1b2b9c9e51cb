"""The decision stage on Spark: value, pricing, limits, classification, warnings (决策, Spark).

The decisions of a firm depend on its own rows once three global things are known
(:mod:`creditpersona.decisions.kernels`): the configuration, the early-warning rules and the
prospect-value model. On Spark:

1. **Strategies** (:func:`strategy_frame`). Each persona's credit strategy is chosen by the
   rules of ``strategy.yaml`` on medians and shares of its members' profiles; Spark computes
   those statistics per persona (a few rows reach the driver) and the driver picks the rule,
   as :func:`~creditpersona.decisions.strategy.persona_strategies` does. Every firm's
   ``persona_strategy`` is its persona's, joined on Spark from the ``personas`` results.
2. **Inputs per bucket.** A firm's row (the profile, its PD, grade and strategy, and its
   profiles of the quarters the change rules look back to, from the Spark results) meets its
   loans, repayments and statements in one group (:func:`firm_rows`, :func:`contract_rows`:
   the three contract tables packed in one frame, since a cogroup takes two).
3. **Fit** (:func:`fit_model`). A first pass computes the customer value per bucket
   (:func:`value_facts`) of the firms of a hash sample of at most ``sample_cap`` firms
   only (a firm's value depends on its own rows alone); their customers come to the driver
   with their profiles and the prospect-value model is fitted on them.
4. **Apply** (:func:`decision_rows`). :func:`~creditpersona.decisions.kernels.apply_decisions`
   per bucket; its seven tables leave the bucket packed in one frame (a ``_table`` column
   and each table's declared columns prefixed), which is kept on the executors and written
   table by table as Parquet (:class:`~creditpersona.spark.results.SparkResults`).

Nothing firm-sized reaches the driver: the persona statistics, counts and the fit sample.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from creditpersona.spark.results import spark_schema
from creditpersona.spark.stages import SparkCycle, firms_only
from creditpersona.store import results as store_results

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

    from creditpersona.decisions.kernels import DecisionFrames, DecisionModel
    from creditpersona.spark.cycle import SparkStage

#: Contract tables of the decisions, packed in one frame per bucket.
PACKED = ("loans", "repayments", "financial_statements")
#: Decision result tables by the attribute of :class:`DecisionResult` that holds them.
TABLES = {"value": store_results.DECISION_VALUE, "pricing": store_results.DECISION_PRICING,
          "limits": store_results.DECISION_LIMITS,
          "classification": store_results.DECISION_CLASSIFICATION,
          "loans": store_results.DECISION_LOANS,
          "watchlist": store_results.DECISION_WATCHLIST,
          "plans": store_results.DECISION_PLANS}
#: Prefix of the joined score columns in a firm's row (``_g_pd``, ``_g_grade``…).
_SCORE = "_g_"
#: The graded columns, as the embedded cycle hands them to the decisions.
_GRADED = ("pd", "grade", "persona_strategy")


def _prefixed(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


# ---- strategies ---------------------------------------------------------------------------
def strategy_table(run: SparkCycle, profile: DataFrame, personas: DataFrame) -> pd.DataFrame:
    """The strategy of every persona (``persona, firms, strategy, strategy_zh, rule``), as
    :func:`~creditpersona.decisions.strategy.persona_strategies` chooses it, with the
    medians and shares of the members computed by Spark (one row per persona to the driver).

    Raises
    ------
    SchemaError
        If the profile lacks a feature the rules read.
    """
    from pyspark.sql import functions as F

    from creditpersona.decisions.config import load_decisions
    from creditpersona.decisions.strategy import _OPS, load_strategy_rules
    from creditpersona.errors import SchemaError

    rules, config = load_strategy_rules(), load_decisions()
    members = firms_only(profile).withColumn("asset_turnover", F.col("revenue") / F.when(
        F.col("total_assets") > 0, F.col("total_assets"))).join(
        personas.select("firm_id", "persona_id"), "firm_id")
    conditions = {(c.feature, c.stat, c.equals) for r in rules.rules for c in r.when}
    missing = sorted({f for f, _, _ in conditions} - set(members.columns))
    if missing:
        raise SchemaError(f"the profile lacks {missing}, which strategy.yaml's rules read")
    keyed = sorted(conditions, key=str)
    stats = [_statistic(feature, stat, equals).alias(f"s{i}")
             for i, (feature, stat, equals) in enumerate(keyed)]
    rows = members.groupBy("persona_id").agg(F.count(F.lit(1)).alias("firms"), *stats).collect()
    out = []
    for row in sorted(rows, key=lambda r: str(r["persona_id"])):
        chosen, number = "default", 0
        for i, rule in enumerate(rules.rules, start=1):
            values = [row[f"s{keyed.index((c.feature, c.stat, c.equals))}"] for c in rule.when]
            if all(v is not None and _OPS[c.op](float(v), c.value)
                   for v, c in zip(values, rule.when, strict=True)):
                chosen, number = rule.strategy, i
                break
        out.append({"persona_id": str(row["persona_id"]), "firms": int(row["firms"]),
                    "strategy": chosen, "strategy_zh": config.personas[chosen].zh,
                    "rule": number})
    return pd.DataFrame(out, columns=["persona_id", "firms", "strategy", "strategy_zh", "rule"])


def _statistic(feature: str, stat: str, equals: str | None) -> Column:
    """The Spark aggregate of one condition: the median of the finite values (NaN: none) or
    the share of non-missing values equal to ``equals`` (``share`` of the strategy rules)."""
    from pyspark.sql import functions as F

    col = F.col(feature)
    if stat == "share":
        return F.avg(F.when(col.isNull(), None).otherwise(
            (col.cast("string") == F.lit(equals)).cast("double")))
    v = col.cast("double")
    finite = v.isNotNull() & ~F.isnan(v) & (F.abs(v) != F.lit(float("inf")))
    return F.median(F.when(finite, v))


def strategy_frame(run: SparkCycle, profile: DataFrame, personas: DataFrame
                   ) -> tuple[DataFrame, pd.DataFrame]:
    """``firm_id, persona_strategy`` of every assigned firm (Spark) and the persona table."""
    from pyspark.sql import functions as F

    table = strategy_table(run, profile, personas)
    small = run.spark.createDataFrame(
        table[["persona_id", "strategy"]]
        if len(table) else pd.DataFrame({"persona_id": pd.Series(dtype=str),
                                         "strategy": pd.Series(dtype=str)}),
        "persona_id string, strategy string")
    joined = personas.select("firm_id", "persona_id").join(F.broadcast(small), "persona_id",
                                                           "left")
    return joined.select("firm_id", F.coalesce("strategy", F.lit("default")).alias(
        "persona_strategy")), table


# ---- inputs per bucket --------------------------------------------------------------------
def graded_frame(scores: DataFrame, strategies: DataFrame) -> DataFrame:
    """``firm_id, pd, grade, persona_strategy``: the PD scores with each firm's strategy
    (``default`` without a persona), what the embedded cycle calls ``graded``."""
    from pyspark.sql import functions as F

    return scores.select("firm_id", "pd", "grade").join(strategies, "firm_id", "left") \
        .withColumn("persona_strategy", F.coalesce("persona_strategy", F.lit("default")))


def previous_profiles(run: SparkCycle, as_of: dt.date) -> dict[int, DataFrame]:
    """The stored Spark profiles of the quarters the change rules look back to (those that
    exist), by quarters back: ``firm_id`` and the features the change rules compare (as the
    embedded :func:`~creditpersona.decisions.stage.previous_profiles`)."""
    from creditpersona.decisions.stage import previous_quarter_ends
    from creditpersona.decisions.warning import load_warning_rules

    rules = load_warning_rules()
    wanted = previous_quarter_ends(as_of, rules.lookbacks())
    frames = {q: run.results.read(store_results.PROFILES, d) for q, d in wanted.items()
              if run.results.exists(store_results.PROFILES, d)}
    return {q: frame.select(*[c for c in ("firm_id", *rules.compared())
                              if c in frame.columns])
            for q, frame in frames.items()}


def firm_rows(run: SparkCycle, profile: DataFrame, graded: DataFrame,
              previous: dict[int, DataFrame]) -> DataFrame:
    """One row per profiled firm: its profile, its graded columns (``_g_pd``…) and its
    earlier profiles (``_p<q>_<column>``), with its bucket."""
    from pyspark.sql import functions as F

    rows = firms_only(profile).join(graded.select(
        "firm_id", *[F.col(c).alias(_prefixed(_SCORE, c)) for c in _GRADED]), "firm_id",
        "left")
    for q, frame in previous.items():
        rows = rows.join(frame.select(
            F.col("firm_id").alias("_key"),
            *[F.col(c).alias(_prefixed(f"_p{q}_", c)) for c in frame.columns]),
            F.col("firm_id") == F.col("_key"), "left").drop("_key")
    return rows.withColumn("bucket", run.bucket())


def contract_rows(run: SparkCycle) -> DataFrame:
    """Loans, repayments (with their loan's firm) and statements in one frame: ``_table``,
    ``firm_id``, each table's contract columns prefixed ``<table>__``, and the bucket."""
    from pyspark.sql import functions as F

    from creditpersona.contract.schema import TABLES_BY_NAME

    loans = run.frame(run.tables["loans"])
    parts = []
    for name in PACKED:
        frame = run.frame(run.tables[name])
        if "firm_id" not in frame.columns:
            frame = frame.join(loans.select("loan_id", "firm_id"), "loan_id")
        fields = [f.name for f in TABLES_BY_NAME[name].fields]
        parts.append(frame.select(F.lit(name).alias("_table"), "firm_id", *[
            F.col(c).alias(f"{name}__{c}") for c in fields]))
    packed = parts[0]
    for p in parts[1:]:
        packed = packed.unionByName(p, allowMissingColumns=True)
    return packed.withColumn("bucket", run.bucket())


def unpack(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The contract tables of a packed bucket (:func:`contract_rows`), with their columns."""
    from creditpersona.contract.schema import TABLES_BY_NAME

    out = {}
    for name in PACKED:
        fields = [f.name for f in TABLES_BY_NAME[name].fields]
        part = rows[rows["_table"] == name] if "_table" in rows else rows.iloc[:0]
        frame = pd.DataFrame({c: part[f"{name}__{c}"].to_numpy() if f"{name}__{c}" in part
                              else pd.Series(dtype=object) for c in fields})
        out[name] = frame.reset_index(drop=True)
    return out


def bucket_frames(firms: pd.DataFrame, rows: pd.DataFrame, as_of: dt.date,
                  previous: dict[int, list[str]], config: Any) -> DecisionFrames:
    """The :class:`DecisionFrames` of one bucket from its firm rows and packed rows."""
    from creditpersona.decisions.kernels import decision_frames

    firms = firms.reset_index(drop=True)
    own = [c for c in firms.columns if not str(c).startswith("_") and c != "bucket"]
    profile = firms[own]
    scored = firms[_prefixed(_SCORE, "grade")].notna()
    scores = pd.DataFrame({"firm_id": firms["firm_id"], **{
        c: firms[_prefixed(_SCORE, c)] for c in _GRADED}})[scored].reset_index(drop=True)
    earlier = {}
    for q, columns in previous.items():
        key = _prefixed(f"_p{q}_", "firm_id")
        part = firms[firms[key].notna()]
        earlier[q] = pd.DataFrame({c: part[_prefixed(f"_p{q}_", c)].to_numpy()
                                   for c in columns})
    return decision_frames(unpack(rows), as_of, profile, scores,
                           {q: p for q, p in earlier.items() if len(p)}, config=config)


# ---- fit: the customers' values, then the prospect model on a sample --------------------
def value_facts(firms: DataFrame, rows: DataFrame, as_of: dt.date,
                previous: dict[int, list[str]]) -> DataFrame:
    """``firm_id, customer, revenue_contribution`` of every firm of ``firms``, per bucket
    (:func:`~creditpersona.decisions.value.customer_value`)."""
    from creditpersona.decisions.config import load_decisions
    from creditpersona.decisions.kernels import decided_firms
    from creditpersona.decisions.value import customer_value

    cfg = load_decisions()
    schema = "firm_id string, customer boolean, revenue_contribution double"

    def facts(firm: pd.DataFrame, packed: pd.DataFrame) -> pd.DataFrame:
        if firm.empty:
            return pd.DataFrame({"firm_id": [], "customer": [], "revenue_contribution": []})
        frames = bucket_frames(firm, packed, as_of, previous, cfg)
        decided, _, _ = decided_firms(frames)
        value = customer_value(decided, frames.book, cfg)
        return pd.DataFrame({"firm_id": value["firm_id"].astype(str),
                             "customer": value["customer"].astype(bool),
                             "revenue_contribution": value["revenue_contribution"]
                             .astype(float)})

    return firms.groupBy("bucket").cogroup(rows.groupBy("bucket")).applyInPandas(facts, schema)


def fit_model(run: SparkCycle, firms: DataFrame, rows: DataFrame, as_of: dt.date,
              previous: dict[int, list[str]]) -> tuple[DecisionModel, int]:
    """The :class:`DecisionModel`: the prospect-value model fitted on the customers of a
    hash sample of at most ``sample_cap`` firms (their rows on the driver, by firm id);
    the model and the rows the driver held.

    ``firms`` are :func:`firm_rows`, ``rows`` :func:`contract_rows`; the customer values
    (:func:`value_facts`) are computed for the sampled firms only.
    """
    from pyspark.sql import functions as F

    from creditpersona.decisions.config import load_decisions
    from creditpersona.decisions.kernels import (
        MIN_CUSTOMERS_FOR_MODEL,
        STRATEGY,
        DecisionModel,
    )
    from creditpersona.decisions.value import ProspectValueModel
    from creditpersona.decisions.warning import load_warning_rules

    fraction = run.sample_cap / max(1, run.count(firms))
    facts = value_facts(firms.filter(run.sampled(fraction)),
                        rows.filter(run.sampled(fraction)), as_of, previous)
    own = [c for c in firms.columns if not c.startswith("_") and c != "bucket"]
    picked = firms.filter(run.sampled(fraction)).filter(
        F.col(_prefixed(_SCORE, "grade")).isNotNull()).select(
        *own, *[F.col(_prefixed(_SCORE, c)).alias(c) for c in ("pd", "grade", STRATEGY)
                if c not in own]).join(
        facts.filter("customer").select("firm_id", "revenue_contribution"), "firm_id")
    sample = picked.orderBy("firm_id").limit(run.sample_cap).toPandas()
    prospect = None
    if len(sample) >= MIN_CUSTOMERS_FOR_MODEL:
        prospect = ProspectValueModel().fit(sample.drop(columns="revenue_contribution"),
                                            sample["revenue_contribution"].astype(float))
    model = DecisionModel(as_of, load_decisions(), load_warning_rules(), prospect,
                          len(sample), {q: tuple(c) for q, c in previous.items()})
    return model, len(sample)


# ---- apply, packed, and written -----------------------------------------------------------
def packed_schema() -> StructType:
    """``_table`` and every decision table's declared columns (but ``as_of``) prefixed."""
    from pyspark.sql import types as T

    fields = [T.StructField("_table", T.StringType(), False)]
    for attr, name in TABLES.items():
        fields += [T.StructField(f"{attr}__{f.name}", f.dataType, True)
                   for f in spark_schema(name, without=("as_of",)).fields]
    return T.StructType(fields)


def _pack(result: Any, as_of: dt.date, schema: StructType) -> pd.DataFrame:
    """The seven tables of a :class:`DecisionResult` in one frame of ``schema``."""
    from creditpersona.spark.stages import _stored

    parts = []
    for attr, name in TABLES.items():
        columns = spark_schema(name, without=("as_of",)).fieldNames()
        table = _stored(name, getattr(result, attr), as_of, columns)
        table.columns = [f"{attr}__{c}" for c in columns]
        parts.append(table.assign(_table=attr))
    names = schema.fieldNames()
    if not any(len(p) for p in parts):
        return pd.DataFrame({c: [] for c in names})
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True).reindex(columns=names)
    return frame.astype(object).where(frame.notna(), None)


def decision_rows(firms: DataFrame, rows: DataFrame, model: DecisionModel,
                  previous: dict[int, list[str]]) -> DataFrame:
    """Every decision of every firm, per bucket (:func:`apply_decisions`), packed."""
    from creditpersona.decisions.kernels import apply_decisions

    schema = packed_schema()
    as_of = model.as_of

    def decide(firm: pd.DataFrame, packed: pd.DataFrame) -> pd.DataFrame:
        if firm.empty:
            return pd.DataFrame({c: [] for c in schema.fieldNames()})
        frames = bucket_frames(firm, packed, as_of, previous, model.config)
        return _pack(apply_decisions(model, frames), as_of, schema)

    return firms.groupBy("bucket").cogroup(rows.groupBy("bucket")).applyInPandas(
        decide, schema)


def write_tables(run: SparkCycle, as_of: dt.date, packed: DataFrame) -> dict[str, int]:
    """Write each decision table of the packed rows (persisted by the caller); the rows
    written per table."""
    from pyspark.sql import functions as F

    for attr, name in TABLES.items():
        columns = spark_schema(name, without=("as_of",)).fieldNames()
        table = packed.filter(F.col("_table") == attr).select(
            *[F.col(f"{attr}__{c}").alias(c) for c in columns])
        run.results.write(name, as_of, table)
    # Every table's rows in one job over the packed rows the writes took (the caller keeps
    # them on the executors), not one job per written table.
    counted = {str(r["_table"]): int(r["count"])
               for r in packed.groupBy("_table").count().collect()}
    return {name: counted.get(attr, 0) for attr, name in TABLES.items()}


def stage(run: SparkCycle, as_of: dt.date, profile: DataFrame
          ) -> tuple[SparkStage, tuple[DataFrame, pd.DataFrame], dict[str, Any]]:
    """The decisions stage of the Spark cycle: strategies, fit, apply, write.

    Returns the stage's checkpoint, ``graded`` (``firm_id, pd, grade, persona_strategy``,
    a Spark frame the marketing stage reads) with the persona strategy table (one row per
    persona, for the report) and no model versions.
    """
    from creditpersona.spark.cycle import SparkStage

    scores = run.results.read(store_results.PD_SCORES, as_of)
    personas = run.results.read(store_results.PERSONAS, as_of)
    strategies, table = strategy_frame(run, profile, personas)
    graded = graded_frame(scores, strategies)
    previous = previous_profiles(run, as_of)
    columns = {q: [c for c in frame.columns] for q, frame in previous.items()}
    firms = firm_rows(run, profile, graded, previous).persist()
    rows = contract_rows(run)
    try:
        model, held = fit_model(run, firms, rows, as_of, columns)
        packed = decision_rows(firms, rows, model, columns).persist()
        try:
            counts = write_tables(run, as_of, packed)
        finally:
            packed.unpersist()
    finally:
        firms.unpersist()
    note = (f"prospect model on {held:,} sampled customers; "
            f"{len(table)} personas' strategies; look-backs {sorted(columns) or 'none'}")
    return SparkStage("decisions", "spark", counts, held, note), (graded, table), {}


__all__ = ["PACKED", "TABLES", "contract_rows", "decision_rows", "firm_rows", "fit_model",
           "graded_frame", "previous_profiles", "stage", "strategy_frame", "strategy_table",
           "unpack", "value_facts", "write_tables"]
