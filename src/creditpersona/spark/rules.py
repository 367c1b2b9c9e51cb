"""The rules stage on Spark: items per bucket of firms, mining on a capped sample (规则, Spark).

The embedded stage (:func:`creditpersona.rules.store.rules_stage`) is the kernels of
:mod:`creditpersona.rules.kernels` on every firm; here they run per bucket:

* **Global part** (:func:`~creditpersona.rules.kernels.fit_rules`): the item vocabulary and
  the persona names, from the distinct personas of the stored assignment (one row per
  persona reaches the driver).
* **Per bucket** (``applyInPandas`` of a ``cogroup``): the bucket's rows of the item tables
  (:data:`~creditpersona.rules.items.ITEM_TABLES`, repayments bucketed by their loan's firm)
  meet its profile and personas; :func:`~creditpersona.rules.kernels.apply_rules` builds
  the basket and :func:`~creditpersona.rules.kernels.partial_rules` keeps the bucket's
  ``cap`` firms of smallest sample key.
* **Sample first** (:func:`sample_firms`): when the bank has more firms than ``cap``, only
  the ``cap`` firms of smallest sample key can be mined, so the keys (a hash of the firm id,
  :func:`~creditpersona.rules.kernels.partial_rules`') are computed per batch of firm ids,
  Spark keeps the ``cap`` smallest and only those firms' rows are grouped and basketed (a
  firm's basket reads its own rows only); the firms in all are counted by Spark.
* **Combination**: Spark keeps the ``cap`` smallest keys of all buckets; the driver receives
  at most ``cap`` baskets (a uniform sample of firms:
  :func:`~creditpersona.rules.kernels.combine_rules` gives the same sample whatever the
  split) and mines them (:func:`~creditpersona.rules.kernels.mine_sample`). ``cap`` is the
  cycle's ``--sample-cap`` (at most the kernels' own
  :data:`~creditpersona.rules.kernels.SAMPLE_CAP`): a bank with fewer firms is mined whole,
  exactly as the embedded stage mines it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from creditpersona.contract.schema import TABLES_BY_NAME
from creditpersona.errors import InsufficientDataError
from creditpersona.rules import kernels
from creditpersona.rules.items import ITEM_TABLES, Label, load_items, persona_item
from creditpersona.rules.mining import RuleSet
from creditpersona.store import results as store_results

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from creditpersona.rules.kernels import RulesModel
    from creditpersona.spark.stages import SparkCycle

__all__ = ["rules_model", "rules_sample", "sample_firms", "write_rules"]

#: The date column of each item table: rows dated after the as-of date are never read by
#: an item (:mod:`creditpersona.rules.items`), so they stay on the executors' disks.
_DATED = {"firms": "founded_on", "loans": "start_date", "repayments": "due_date",
          "transactions": "txn_date", "bureau_reports": "report_date",
          "campaign_contacts": "contact_date"}
#: Flips the top bit of a uint64 sample key so that it sorts the same as a signed long.
_TOP = np.uint64(1 << 63)
_PANDAS: dict[str, Any] = {"string": "string", "int": "Int64", "float": "float64",
                          "bool": "boolean"}


def rules_model(run: SparkCycle, as_of: dt.date) -> RulesModel:
    """:func:`~creditpersona.rules.kernels.fit_rules` from the stored personas of ``as_of``
    (their distinct ids and names; the policy-rule personas are no found segment, as in
    :func:`creditpersona.pipeline.rule_inputs`)."""
    from pyspark.sql import functions as F

    assigned = run.results.read(store_results.PERSONAS, as_of)
    found = assigned.filter(F.col("source").isNull() | (F.col("source") != "rule"))
    names = found.groupBy("persona_id").agg(
        F.first("persona_name_zh").alias("zh"), F.first("persona_name_en").alias("en")
    ).orderBy("persona_id").collect()
    vocabulary = load_items()
    vocabulary = vocabulary.model_copy(update={"personas": {
        **vocabulary.personas,
        **{str(r["persona_id"]): Label(zh=str(r["zh"]),
                                       en=str(r["en"])[:1].lower() + str(r["en"])[1:])
           for r in names},
    }})
    cap = min(run.sample_cap, kernels.SAMPLE_CAP)
    return kernels.fit_rules(as_of, [str(r["persona_id"]) for r in names],
                             vocabulary=vocabulary, sample_cap=cap)


def _item_rows(run: SparkCycle, as_of: dt.date, firms: DataFrame | None = None
               ) -> DataFrame:
    """Every item table's rows up to ``as_of`` in one frame: columns ``<table>__<column>``,
    ``_table`` and the firm's ``bucket`` (repayments take their loan's firm); only the rows
    of ``firms`` (a small frame of ``firm_id``, broadcast) when it is given."""
    from pyspark.sql import functions as F

    missing = [t for t in ITEM_TABLES if t not in run.tables]
    if missing:
        raise InsufficientDataError(
            f"{run.inputs}: the rules need {', '.join(missing)} as <table>.parquet there; "
            "ingest them (creditpersona ingest) or write them there.")
    parts = []
    for name in ITEM_TABLES:
        frame = run.frame(run.tables[name])
        frame = frame.filter(F.col(_DATED[name]) <= F.lit(as_of))
        if name == "repayments":
            owners = run.frame(run.tables["loans"]).select("loan_id", "firm_id")
            frame = frame.join(owners, "loan_id")
        if firms is not None:
            frame = frame.join(F.broadcast(firms), "firm_id", "left_semi")
        keep = [f.name for f in TABLES_BY_NAME[name].fields]
        parts.append(frame.select(*[F.col(c).alias(f"{name}__{c}") for c in keep],
                                  F.lit(name).alias("_table"), run.bucket().alias("bucket")))
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p, allowMissingColumns=True)
    return union


def _tables_of(chunk: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A bucket's rows of each item table, with the contract's column names."""
    out = {}
    for name in ITEM_TABLES:
        fields = TABLES_BY_NAME[name].fields
        rows = chunk[chunk["_table"] == name] if "_table" in chunk else chunk.iloc[:0]
        out[name] = pd.DataFrame({f.name: _typed(rows.get(f"{name}__{f.name}", pd.Series(
            [], dtype=object)), f.dtype) for f in fields})
    return out


def _typed(column: pd.Series, dtype: str) -> pd.Series:
    """A contract column with a pandas type DuckDB can create even when every value of the
    bucket is missing (an all-null object column has no type)."""
    values = column.reset_index(drop=True)
    if dtype == "date":
        return pd.to_datetime(values)
    return values.astype(_PANDAS[dtype])


def _sample_schema(model: RulesModel) -> StructType:
    from pyspark.sql import types as T

    items = [*(i.code for i in model.vocabulary.items),
             *(persona_item(p) for p in model.personas)]
    return T.StructType([T.StructField("firm_id", T.StringType()),
                         T.StructField("_sample_key", T.LongType()),
                         T.StructField("_scope", T.StringType()),
                         T.StructField("_firms", T.LongType()),
                         *[T.StructField(c, T.BooleanType()) for c in items]])


def partial_frame(run: SparkCycle, model: RulesModel, as_of: dt.date,
                  firms: DataFrame | None = None) -> DataFrame:
    """Each bucket's :func:`~creditpersona.rules.kernels.partial_rules` (at most ``cap``
    firms' baskets with their sample keys, as signed longs), as a Spark DataFrame: of every
    firm, or of the firms of ``firms`` (``firm_id``, :func:`sample_firms`) only."""
    from pyspark.sql import functions as F

    from creditpersona.spark.stages import firms_only

    profile = firms_only(run.results.read(store_results.PROFILES, as_of))
    personas = run.results.read(store_results.PERSONAS, as_of).filter(
        F.col("source").isNull() | (F.col("source") != "rule")).select(
        "firm_id", F.col("persona_id").alias("_persona"))
    rows = profile.join(personas, "firm_id", "left")
    if firms is not None:
        rows = rows.join(F.broadcast(firms), "firm_id", "left_semi")
    rows = rows.withColumn("bucket", run.bucket())
    schema = _sample_schema(model)
    columns = schema.fieldNames()

    def chunk(rows: pd.DataFrame, prof: pd.DataFrame) -> pd.DataFrame:
        if prof.empty:  # no firm of the bucket founded by the as-of date
            return pd.DataFrame({c: [] for c in columns})
        prof = prof.drop(columns="bucket").reset_index(drop=True)
        scope = pd.Series(prof["_persona"].to_numpy(dtype=object),
                          index=prof["firm_id"].astype(str)).dropna().astype(str)
        people = scope if model.personas else None
        basket = kernels.apply_rules(model, _tables_of(rows), prof.drop(columns="_persona"),
                                     people)
        part = kernels.partial_rules(model, basket, people)
        keys = part["_sample_key"].to_numpy(dtype=np.uint64)
        part["_sample_key"] = (keys ^ _TOP).view(np.int64)
        return part.reindex(columns=columns)

    return (_item_rows(run, as_of, firms).groupBy("bucket").cogroup(rows.groupBy("bucket"))
            .applyInPandas(chunk, schema))


def sample_firms(run: SparkCycle, model: RulesModel, as_of: dt.date
                 ) -> tuple[DataFrame | None, DataFrame | None, int]:
    """The firms the mining sample can hold and the firms with a basket (founded by
    ``as_of``; one number to the driver).

    With at most ``cap`` firms every one is mined (``None``: no filter). Otherwise the
    sample is the ``cap`` firms of smallest sample key whatever the buckets
    (:func:`~creditpersona.rules.kernels.combine_rules`), so their ids (a frame of at most
    ``cap`` rows, ties included, kept on the executors) are all the baskets need: the keys
    are :func:`~creditpersona.rules.kernels.partial_rules`' hash of the firm id, computed per
    batch of ids, and Spark finds the ``cap``-th smallest. Returns those ids, the persisted
    keys they are read from (the caller unpersists them once the ids are used) and the
    firms with a basket.
    """
    from pyspark.sql import functions as F

    founded = run.frame(run.tables["firms"]).filter(
        F.col("founded_on") <= F.lit(as_of)).select("firm_id")
    firms = run.count(founded)
    if firms <= model.sample_cap:
        return None, None, firms

    def keyed(chunks: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for chunk in chunks:
            ids = pd.Index(chunk["firm_id"].astype(str))
            keys = kernels.sample_keys(ids) ^ _TOP
            yield pd.DataFrame({"firm_id": ids, "_sample_key": keys.view(np.int64)})

    keys = founded.mapInPandas(keyed, "firm_id string, _sample_key long").persist()
    row = keys.orderBy("_sample_key").limit(model.sample_cap).agg(
        F.max("_sample_key")).first()
    bound = int(row[0]) if row is not None and row[0] is not None else 0
    return keys.filter(F.col("_sample_key") <= bound).select("firm_id"), keys, firms


def rules_sample(run: SparkCycle, model: RulesModel, as_of: dt.date
                 ) -> kernels.RuleSample:
    """The mining sample: the ``cap`` smallest sample keys of every bucket's partial (Spark
    orders and cuts them) of the firms :func:`sample_firms` picks, combined on the driver by
    :func:`~creditpersona.rules.kernels.combine_rules`."""
    from pyspark.sql import functions as F

    picked, keys, firms = sample_firms(run, model, as_of)
    try:
        kept = partial_frame(run, model, as_of, picked).filter(
            F.col("firm_id").isNotNull()).orderBy("_sample_key").limit(
            model.sample_cap).toPandas()
    finally:
        if keys is not None:
            keys.unpersist()
    signed = kept["_sample_key"].to_numpy(dtype=np.int64)
    kept["_sample_key"] = signed.view(np.uint64) ^ _TOP
    kept["_firms"] = np.zeros(len(kept), dtype=np.int64)
    if len(kept):
        kept.loc[0, "_firms"] = firms
    else:
        raise InsufficientDataError(f"rules on Spark: no firm founded by {as_of} holds a "
                                    f"basket in {run.inputs}.")
    return kernels.combine_rules(model, [kept])


def rules_frame(ruleset: RuleSet, as_of: dt.date, run_id: str) -> pd.DataFrame:
    """The ``association_rules`` rows of a rule set, as
    :func:`creditpersona.rules.store.save_rules` stores them."""
    return ruleset.rules.assign(
        antecedents=ruleset.rules["antecedents"].map(list),
        as_of=as_of, run_id=run_id, params=json.dumps(ruleset.params, sort_keys=True),
        scopes=ruleset.scopes.to_json(orient="records"))


def write_small(run: SparkCycle, name: str, as_of: dt.date, frame: pd.DataFrame) -> int:
    """Write a small result table (rules, review tables) built on the driver: conformed to
    the declared schema, then stored as Parquet like every Spark result. Returns its rows."""
    from creditpersona.spark.results import spark_schema

    table = store_results.conform(name, frame.assign(as_of=as_of))
    columns = [c for c in table.column_names if c != "as_of"]
    rows = table.select(columns).to_pylist()
    schema = spark_schema(name, without=("as_of",))
    run.results.write(name, as_of, run.spark.createDataFrame(
        [tuple(r[c] for c in columns) for r in rows], schema))
    return len(rows)


def write_rules(run: SparkCycle, as_of: dt.date, run_id: str
                ) -> tuple[RuleSet, int, int]:
    """The rules stage on Spark: fit, per-bucket baskets, mining on the driver sample,
    ``association_rules`` written. Returns the rule set, the rows written and the firms
    mined (the most rows the stage brought to the driver)."""
    model = rules_model(run, as_of)
    sample = rules_sample(run, model, as_of)
    ruleset = kernels.mine_sample(model, sample)
    rows = write_small(run, store_results.ASSOCIATION_RULES, as_of,
                       rules_frame(ruleset, as_of, run_id))
    return ruleset, rows, len(sample.basket)


def rules_step(run: SparkCycle, as_of: dt.date, run_id: str
               ) -> tuple[Any, RuleSet, dict[str, Any]]:
    """The cycle's ``rules`` step: its :class:`~creditpersona.spark.cycle.SparkStage`, the
    rule set, no model version."""
    from creditpersona.spark.cycle import SparkStage

    ruleset, rows, mined = write_rules(run, as_of, run_id)
    sample = ruleset.params.get("sample")
    note = (f"mined on {mined:,} of {sample['firms']:,} firms (smallest hash, cap "
            f"{sample['cap']:,})" if sample else f"mined on every firm ({mined:,})")
    return (SparkStage("rules", "spark", {store_results.ASSOCIATION_RULES: rows}, mined,
                       note), ruleset, {})
