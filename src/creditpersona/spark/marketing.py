"""The marketing stage on Spark: scoring, priced offers, capacities, lists (精准营销, Spark).

The stage splits as :mod:`creditpersona.marketing.kernels` prepares it:

1. **Inputs** (:func:`input_rows`): one row per profiled firm, as
   :func:`~creditpersona.marketing.kernels.marketing_inputs` builds it (profile, name, RM,
   PD, grade, persona, strategy, ``held:<product>``), plus the firm's risk caps from the
   ``decision_limits`` results and its persona strategy, which the offers' value needs
   (:func:`~creditpersona.decisions.offers.offer_values`). A firm is one row, so any batch
   of rows holds whole firms.
2. **History** (:func:`history_sample`): the campaign contacts learnt from, at most
   ``min(fitting.sample_cap, sample_cap)`` of them, stratified by product, arm and response
   as :func:`~creditpersona.marketing.history.sample_rows` does (the draw inside a stratum
   is a hash of the contact), with point-in-time features: the profile of the sampled firms
   at each campaign's snapshot (stored on Spark, or computed for those firms), their
   holdings, and the peer counts of every firm, added up by Spark.
3. **Fit** on the driver: :func:`~creditpersona.marketing.kernels.fit_marketing` on that
   sample with the bank's peer counts (:func:`peer_table`, summed by Spark).
4. **Prices** (:func:`solve_on_sample`): the Lagrangian multipliers of the capacities,
   solved on the candidates of a hash sample of firms (at most ``sample_cap`` candidate
   pairs on the driver; capacities scaled by the sample's share of the firms with a
   positive candidate, :func:`~creditpersona.marketing.kernels.solve_prices`).
5. **Offers** per batch (:func:`proposal_rows`): each firm's best pair at those prices, with
   the offer's columns; then :func:`cap_frame` keeps the proposals, best penalised value
   first, while every capacity holds, with Spark window functions (a rank per RM, running
   contacts per channel, running limits per section, product and grade group), as
   :func:`~creditpersona.marketing.kernels.cap_offers` does in pandas.
6. **Lists** (:func:`write_lists`): the campaign lists written once from the stored offers,
   a batch of whole RMs at a time (``safeio``: atomic files, neutralised cells), the
   workbook streamed row by row (xlsxwriter's constant-memory mode).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from creditpersona.spark.results import spark_schema
from creditpersona.spark.stages import SparkCycle, firms_only
from creditpersona.store import results as store_results

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

    from creditpersona.marketing.catalogue import Catalogue
    from creditpersona.marketing.history import PeerTable
    from creditpersona.marketing.kernels import MarketingModel
    from creditpersona.marketing.lists import CampaignListFiles
    from creditpersona.spark.cycle import SparkStage

#: The planner method recorded on every offer planned on Spark.
METHOD = "lagrangian_sample"
#: Most offers brought to the driver at once while the lists are written (whole RMs).
LIST_BATCH_ROWS = 5_000
#: The snapshot day of a row of the history's frames (several days in one Spark query).
_DAY = "_day"
#: Buckets of a history snapshot's profile: its firms are the sampled contacts' (at most the
#: sample cap), and each bucket is one ``profile_rows`` call with its fixed cost.
_HISTORY_BUCKETS = 1
#: Columns of a firm's input row that feed the offers' value, not the marketing models.
_VALUE = ("_sbc", "_lev", "_strategy")
#: Columns of a candidate the planner reads (the solve sample and the capping).
_PLAN = ("firm_id", "product", "expected_value", "limit", "rm_id", "channel", "uses_rm",
         "industry_section", "grade")


# ---- inputs -------------------------------------------------------------------------------
def held_frame(run: SparkCycle, day: dt.date) -> DataFrame:
    """``firm_id`` and ``held:<product>`` of the firms with an active loan on ``day``
    (:func:`~creditpersona.marketing.needs.products_held`)."""
    from pyspark.sql import functions as F

    from creditpersona.contract.schema import PRODUCTS
    from creditpersona.marketing.kernels import HELD

    loans = run.frame(run.tables["loans"])
    active = loans.filter((F.col("start_date") <= F.lit(day))
                          & (F.col("maturity_date") > F.lit(day)))
    pivot = active.groupBy("firm_id").pivot("product", list(PRODUCTS)).count()
    return pivot.select("firm_id", *[
        (F.coalesce(F.col(p), F.lit(0)) > 0).alias(HELD + p) for p in PRODUCTS])


def input_rows(run: SparkCycle, as_of: dt.date, profile: DataFrame, graded: DataFrame
               ) -> DataFrame:
    """One row per profiled firm: :func:`marketing_inputs`' columns, then the firm's risk
    caps (``_sbc``, ``_lev``) and persona strategy (``_strategy``) for the offers' value."""
    from pyspark.sql import functions as F

    from creditpersona.contract.schema import PRODUCTS
    from creditpersona.marketing.kernels import HELD

    firms = run.frame(run.tables["firms"]).select(
        "firm_id", F.col("name").alias("firm_name"), "rm_id")
    base = firms_only(profile)
    base = base.drop(*[c for c in ("pd", "grade", "persona_name_zh", "strategy")
                       if c in base.columns])
    personas = run.results.read(store_results.PERSONAS, as_of).select(
        "firm_id", "persona_name_zh")
    limits = run.results.read(store_results.DECISION_LIMITS, as_of).select(
        "firm_id", F.col("single_borrower_cap").alias("_sbc"),
        F.col("leverage_cap").alias("_lev"))
    rows = base.join(firms, "firm_id", "left").join(
        graded.select("firm_id", "pd", "grade", F.col("persona_strategy").alias("_strategy")),
        "firm_id", "left").join(personas, "firm_id", "left").withColumn(
        "strategy", F.col("_strategy")).join(held_frame(run, as_of), "firm_id", "left")
    rows = rows.join(limits, "firm_id", "left")
    held = [F.coalesce(F.col(f"`{HELD + p}`"), F.lit(False)).alias(HELD + p) for p in PRODUCTS]
    order = [F.col(c) for c in base.columns] + [F.col(c) for c in (
        "firm_name", "rm_id", "pd", "grade", "persona_name_zh", "strategy")]
    return rows.select(*order, *held, *[F.col(c) for c in _VALUE])


def _chunk(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                        pd.DataFrame]:
    """A batch of input rows as the marketing inputs, the profile, the graded scores and
    the limits :func:`~creditpersona.decisions.offers.offer_values` reads."""
    rows = rows.reset_index(drop=True)
    inputs = rows.drop(columns=list(_VALUE))
    graded = pd.DataFrame({"firm_id": rows["firm_id"], "pd": rows["pd"],
                           "grade": rows["grade"], "persona_strategy": rows["_strategy"]})
    graded = graded[graded["grade"].notna()].reset_index(drop=True)
    limits = pd.DataFrame({"firm_id": rows["firm_id"], "single_borrower_cap": rows["_sbc"],
                           "leverage_cap": rows["_lev"]})
    return inputs, rows, graded, limits


def _value(rows: pd.DataFrame, graded: pd.DataFrame, limits: pd.DataFrame,
           as_of: dt.date) -> Any:
    """The offers' value of a batch, as the embedded cycle gives it (a callable)."""
    from creditpersona.decisions.offers import offer_values

    return lambda pairs: offer_values(pairs, rows, graded, limits, as_of=as_of)


# ---- peers, history, fit -----------------------------------------------------------------
def peer_table(frame: DataFrame, columns: str = "profile") -> PeerTable:
    """The :class:`PeerTable` of the firms of ``frame``, counted per batch and summed by
    Spark (one row per division or section and product reaches the driver).

    ``frame`` is input rows (``columns="profile"``: ``industry_division`` or
    ``industry_code``, ``industry_section``, ``held:*``) or firms with ``industry_code``
    and ``held:*`` (``columns="firms"``: the section is derived as the embedded snapshot does).
    """
    from pyspark.sql import functions as F

    return peer_tables(frame.withColumn(_DAY, F.lit(None).cast("date")), [None], columns)[None]


def peer_tables(frame: DataFrame, days: list[dt.date | None], columns: str = "profile"
                ) -> dict[dt.date | None, PeerTable]:
    """:func:`peer_table` of the rows of each of ``days`` (``frame``'s ``_day`` column), in
    one Spark job (the peers of every campaign snapshot of the history at once)."""
    from pyspark.sql import functions as F

    from creditpersona.marketing.history import PeerTable
    from creditpersona.marketing.kernels import HELD

    held_cols = [c for c in frame.columns if c.startswith(HELD)]
    schema = "day date, level string, key string, col string, n double"

    def count(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from creditpersona.domain import industry

        for chunk in chunks:
            for day, rows in chunk.groupby(_DAY, dropna=False, sort=False):
                firms = rows.drop(columns=_DAY).assign(
                    firm_id=rows["firm_id"].astype(str)).set_index("firm_id")
                if columns == "firms":
                    firms["industry_section"] = industry.section_of(firms["industry_code"])
                held = pd.DataFrame(firms[held_cols].to_numpy(dtype=bool), index=firms.index,
                                    columns=[c[len(HELD):] for c in held_cols])
                table = PeerTable.count(firms, held)
                for level, part in (("division", table.division), ("section", table.section)):
                    long = part.stack().reset_index()
                    long.columns = pd.Index(["key", "col", "n"])
                    yield long.assign(day=None if pd.isna(day) else day, level=level)[
                        ["day", "level", "key", "col", "n"]]

    keep = [c for c in ("firm_id", "industry_code", "industry_division", "industry_section")
            if c in frame.columns]
    summed = frame.select(*keep, *[F.col(f"`{c}`") for c in held_cols], _DAY).mapInPandas(
        count, schema).groupBy("day", "level", "key", "col").agg(F.sum("n").alias("n")
                                                                 ).collect()
    long = pd.DataFrame([r.asDict() for r in summed], columns=["day", "level", "key", "col",
                                                              "n"])
    order = ["_firms", *[c[len(HELD):] for c in held_cols]]

    def wide(part: pd.DataFrame) -> pd.DataFrame:
        part = part.pivot(index="key", columns="col", values="n")
        part = part.reindex(columns=order).fillna(0.0).sort_index()
        part.index.name, part.columns.name = None, None
        return part

    keys = [None if pd.isna(d) else pd.Timestamp(d).date() for d in long["day"]]
    out = {}
    for day in days:
        mine = long[[k == day for k in keys]]
        out[day] = PeerTable(wide(mine[mine["level"] == "division"]),
                             wide(mine[mine["level"] == "section"]))
    return out


def _quotas(counts: pd.DataFrame, cap: int) -> dict[str, int]:
    """Rows per stratum (key ``product|treated|responded``), largest remainders, as
    :func:`~creditpersona.marketing.history.sample_rows` allots them."""
    counts = counts.iloc[sorted(range(len(counts)),
                                key=lambda i: tuple(str(counts["key"].iat[i]).split("|")))]
    counts = counts.reset_index(drop=True)
    sizes = counts["n"].to_numpy(dtype=np.int64)
    quota = sizes * cap / max(1, int(sizes.sum()))
    take = np.floor(quota).astype(np.int64)
    short = cap - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    return dict(zip(counts["key"], take.tolist(), strict=True))


def _stratum() -> Column:
    from pyspark.sql import functions as F

    def text(c: str) -> Column:
        return F.when(F.col(c).isNull(), "None").otherwise(F.initcap(F.col(c).cast("string"))) \
            if c != "product" else F.coalesce(F.col(c), F.lit("None"))

    return F.concat_ws("|", text("product"), text("treated"), text("responded"))


def contacts_sample(run: SparkCycle, as_of: dt.date, cap: int, seed: int
                    ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The contacts of the campaigns finished by ``as_of``, at most ``cap`` (stratified),
    in the order the embedded history keeps; the campaigns' spans; the contacts in all."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from creditpersona.contract.schema import TABLES_BY_NAME

    fields = [f.name for f in TABLES_BY_NAME["campaign_contacts"].fields]
    contacts = run.frame(run.tables["campaign_contacts"]).select(*fields).withColumn(
        "_row", F.monotonically_increasing_id())
    spans = contacts.groupBy("campaign_id").agg(F.min("contact_date").alias("min"),
                                               F.max("contact_date").alias("max")).collect()
    span = pd.DataFrame([r.asDict() for r in spans], columns=["campaign_id", "min", "max"])
    span = span.set_index("campaign_id").sort_index()
    span = span[span["max"] <= as_of].sort_values("min", kind="stable")
    kept = contacts.filter(F.col("campaign_id").isin(list(span.index))).withColumn(
        "_stratum", _stratum())
    counts = kept.groupBy(F.col("_stratum").alias("key")).count().collect()
    table = pd.DataFrame([(r["key"], r["count"]) for r in counts], columns=["key", "n"])
    total = int(table["n"].sum()) if len(table) else 0
    if total > cap:
        take = _quotas(table, cap)
        quota = F.create_map(*[F.lit(x) for kv in take.items() for x in kv])
        draw = Window.partitionBy("_stratum").orderBy(F.xxhash64(
            "campaign_id", "firm_id", "product", "_row", F.lit(seed)), "_row")
        kept = kept.withColumn("_rank", F.row_number().over(draw)).filter(
            F.col("_rank") <= quota[F.col("_stratum")]).drop("_rank")
    rows = kept.drop("_stratum").toPandas()
    rows["contact_date"] = pd.to_datetime(rows["contact_date"]).dt.date
    rank = pd.Index(span.index).get_indexer(rows["campaign_id"])
    rows = rows.iloc[np.lexsort((rows["_row"].to_numpy(), rank))].drop(columns="_row")
    return rows.reset_index(drop=True), span, total


def _day_firms(run: SparkCycle, firms: dict[dt.date, Iterable[str]]) -> DataFrame:
    """``firm_id, _day``: the firms of each snapshot day (a small frame from the driver)."""
    pairs = [(f, d) for d, ids in firms.items() for f in sorted(set(map(str, ids)))]
    return run.spark.createDataFrame(
        pd.DataFrame({"firm_id": [f for f, _ in pairs], _DAY: [d for _, d in pairs]}),
        f"firm_id string, {_DAY} date")


def _split(frame: pd.DataFrame, days: Iterable[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """The rows of each day of a frame with ``_day`` (the column dropped)."""
    keys = pd.to_datetime(frame[_DAY]).dt.date if len(frame) else frame[_DAY]
    return {d: frame[(keys == d).to_numpy()].drop(columns=_DAY).reset_index(drop=True)
            for d in days}


def snapshot_profiles(run: SparkCycle, firms: dict[dt.date, Iterable[str]]
                      ) -> dict[dt.date, pd.DataFrame]:
    """The profile of some firms on each day: the Spark-stored one, else computed for them
    (:func:`~creditpersona.spark.stages.profile_frame_by_day`: the firms of every day to
    compute in one Spark query, each on its day, as :func:`profile_frame` gives them)."""
    from pyspark.sql import functions as F

    from creditpersona.spark.stages import profile_frame_by_day

    ids = _day_firms(run, firms)
    out = {}
    for day in firms:
        if run.results.exists(store_results.PROFILES, day):
            mine = ids.filter(F.col(_DAY) == F.lit(day)).select("firm_id")
            stored = run.results.read(store_results.PROFILES, day)
            out[day] = stored.join(mine, "firm_id", "left_semi").toPandas()
    days = [d for d in firms if d not in out]
    if days:
        frame = profile_frame_by_day(run, ids.filter(F.col(_DAY).isin(days)), "history",
                                     buckets=_HISTORY_BUCKETS)
        counts = [f.name for f in frame.schema.fields if f.dataType.typeName() == "long"]
        for day, rows in _split(frame.toPandas(), days).items():
            # As the embedded engine's profile of a few firms: a count none of them has (an
            # integer column of NULLs) is untyped, so not a numeric feature of the history.
            for c in [c for c in counts if rows[c].isna().all()]:
                rows[c] = pd.Series([None] * len(rows), index=rows.index, dtype=object)
            out[day] = rows
    return out


def _days(run: SparkCycle, days: list[dt.date]) -> DataFrame:
    """``_day``: the snapshot days (a small frame from the driver, broadcast in joins)."""
    from pyspark.sql import functions as F

    return F.broadcast(run.spark.createDataFrame(pd.DataFrame({_DAY: days}), f"{_DAY} date"))


def _held_on(run: SparkCycle, days: list[dt.date]) -> DataFrame:
    """``firm_id, held:<product>, _day``: :func:`held_frame` of every day, in one frame
    (each loan paired with the days it is active on, then one pivot)."""
    from pyspark.sql import functions as F

    from creditpersona.contract.schema import PRODUCTS
    from creditpersona.marketing.kernels import HELD

    loans = run.frame(run.tables["loans"]).select("firm_id", "product", "start_date",
                                                  "maturity_date")
    active = loans.crossJoin(_days(run, days)).filter(
        (F.col("start_date") <= F.col(_DAY)) & (F.col("maturity_date") > F.col(_DAY)))
    pivot = active.groupBy("firm_id", _DAY).pivot("product", list(PRODUCTS)).count()
    return pivot.select("firm_id", *[
        (F.coalesce(F.col(p), F.lit(0)) > 0).alias(HELD + p) for p in PRODUCTS], _DAY)


def _snapshot_peers(run: SparkCycle, days: list[dt.date], held: DataFrame
                    ) -> dict[dt.date, PeerTable]:
    """The peer counts of every firm founded by each day (one Spark job for all days)."""
    from pyspark.sql import functions as F

    firms = run.frame(run.tables["firms"]).select("firm_id", "founded_on", "industry_code")
    founded = firms.crossJoin(_days(run, days)).filter(
        F.col("founded_on") <= F.col(_DAY)).select("firm_id", "industry_code", _DAY)
    rows = founded.join(held, ["firm_id", _DAY], "left").fillna(False)
    tables = peer_tables(rows.select(*[c for c in rows.columns if c != _DAY], _DAY),
                         list(days), "firms")
    return {d: tables[d] for d in days}


def history_sample(run: SparkCycle, as_of: dt.date, catalogue: Catalogue, seed: int = 0
                   ) -> tuple[pd.DataFrame, int]:
    """The campaign history fitted on (:func:`~creditpersona.marketing.history.
    campaign_history`'s columns), at most ``min(fitting.sample_cap, sample_cap)`` contacts,
    and the contacts of the history in all.

    Every campaign snapshot's holdings, peers and profiles are each one Spark query over
    all the snapshot days (not one per day: a query's fixed cost dominates at this size).
    """
    from creditpersona.marketing.history import marketing_features, quarter_end_before
    from creditpersona.marketing.kernels import HELD

    if "campaign_contacts" not in run.tables:
        return pd.DataFrame(), 0
    cap = min(catalogue.fitting.sample_cap, run.sample_cap)
    contacts, span, total = contacts_sample(run, as_of, cap, seed)
    if contacts.empty:
        return contacts, total
    snapshot = contacts["campaign_id"].map(span["min"].map(quarter_end_before))
    days = sorted(snapshot.unique())
    part_of = {d: contacts[(snapshot == d).to_numpy()].reset_index(drop=True) for d in days}
    firms = {d: part_of[d]["firm_id"] for d in days}
    held_rows = _held_on(run, days).persist()   # read twice: the sample's and the peers'
    try:
        mine = held_rows.join(_day_firms(run, firms), ["firm_id", _DAY], "left_semi")
        holdings = _split(mine.toPandas(), days)
        peers = _snapshot_peers(run, days, held_rows)
    finally:
        held_rows.unpersist()
    profiles = snapshot_profiles(run, firms)
    parts = []
    for day in days:
        part, own = part_of[day], holdings[day]
        held = pd.DataFrame(own.drop(columns="firm_id").to_numpy(dtype=bool),
                            index=pd.Index(own["firm_id"].astype(str), name="firm_id"),
                            columns=[c[len(HELD):] for c in own.columns if c != "firm_id"])
        feats = marketing_features(part[["firm_id", "product"]], profiles[day], held,
                                   catalogue, peers[day])
        part["snapshot"] = day
        parts.append(pd.concat([part, feats], axis=1))
    out = pd.concat(parts, ignore_index=True)
    order = pd.Index(span.index).get_indexer(out["campaign_id"])
    out = out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    out["treated"] = out["treated"].astype(bool)
    out["responded"] = out["responded"].astype(bool)
    return out, total


def fit_model(run: SparkCycle, as_of: dt.date, rows: DataFrame, seed: int = 0
              ) -> tuple[MarketingModel, int, int]:
    """:func:`~creditpersona.marketing.kernels.fit_marketing` on the history sample with
    the bank's peer counts; the model, the contacts fitted on and the contacts in all."""
    from creditpersona.marketing.catalogue import load_catalogue
    from creditpersona.marketing.kernels import fit_marketing
    from creditpersona.marketing.routing import load_channels

    cat = load_catalogue()
    history, total = history_sample(run, as_of, cat, seed)
    peers = peer_table(rows)
    model = fit_marketing(history, pd.DataFrame(), as_of, catalogue=cat,
                          channels=load_channels(), peers=peers, seed=seed)
    return dataclasses.replace(model, history_rows=total), len(history), total


def _plan_schema() -> StructType:
    from pyspark.sql import types as T

    kinds = {"expected_value": T.DoubleType(), "limit": T.DoubleType(),
             "uses_rm": T.BooleanType()}
    return T.StructType([T.StructField(c, kinds.get(c, T.StringType()), True) for c in _PLAN])


def candidate_rows(rows: DataFrame, model: MarketingModel) -> DataFrame:
    """The candidate pairs with a positive expected value of the firms of ``rows``
    (:func:`~creditpersona.marketing.kernels.apply_marketing`), the planner's columns."""
    from creditpersona.marketing.kernels import apply_marketing

    schema = _plan_schema()

    def score(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            inputs, base, graded, limits = _chunk(chunk)
            scored = apply_marketing(model, inputs, _value(base, graded, limits, model.as_of))
            positive = scored[scored["expected_value"] > 0]
            yield positive.reindex(columns=list(_PLAN)).astype(object).where(
                positive.reindex(columns=list(_PLAN)).notna(), None)

    return rows.mapInPandas(score, schema)


def solve_on_sample(run: SparkCycle, rows: DataFrame, model: MarketingModel
                    ) -> tuple[MarketingModel, int]:
    """The model with the capacities' prices solved on a hash sample of firms whose
    positive candidates number at most ``sample_cap`` (fetched to the driver); the rows
    held. The capacities are scaled by the sample's share of the bank's firms."""
    from creditpersona.marketing.kernels import solve_prices

    firms = run.count(rows)
    per_firm = max(1, len(model.catalogue.codes))
    fraction = min(1.0, run.sample_cap / max(1, firms * per_firm))
    picked = rows.filter(run.sampled(fraction))
    sampled = run.count(picked)
    sample = candidate_rows(picked, model).orderBy("firm_id", "product").limit(
        run.sample_cap).toPandas()
    positive = int(sample["firm_id"].nunique())
    whole = positive if sampled >= firms else int(round(positive * firms / max(1, sampled)))
    sample["uses_rm"] = sample["uses_rm"].astype(object)
    sample["grade"] = sample["grade"].astype(object)
    return solve_prices(model, sample, whole), len(sample)


def _proposal_schema() -> StructType:
    from pyspark.sql import types as T

    base = spark_schema(store_results.OFFERS, without=("as_of",))
    extra = [T.StructField("penalised", T.DoubleType(), True),
             T.StructField("limit", T.DoubleType(), True),
             T.StructField("uses_rm", T.BooleanType(), True),
             T.StructField("grade", T.StringType(), True),
             T.StructField("_proposed", T.BooleanType(), False)]
    return T.StructType([*base.fields, *extra])


def proposal_rows(rows: DataFrame, model: MarketingModel) -> DataFrame:
    """Per firm with a positive candidate, one row: its best pair at the model's prices as
    an offer (``_proposed``), or only its id when no pair is worth its capacities."""
    from creditpersona.marketing.kernels import candidates
    from creditpersona.marketing.stage import _offers

    schema = _proposal_schema()
    names = schema.fieldNames()
    extra = ["penalised", "limit", "uses_rm", "grade"]

    def propose(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            inputs, base, graded, limits = _chunk(chunk)
            c = candidates(model, inputs, _value(base, graded, limits, model.as_of))
            scored = c.scored
            best = scored[scored["proposed"]].reset_index(drop=True)
            personas = pd.Series(inputs["persona_name_zh"].to_numpy(),
                                 index=inputs["firm_id"].astype(str))
            plan: Any = _Plan(best, METHOD)
            offers = _offers(plan, c, personas, model.as_of, model.catalogue)
            offers = offers.drop(columns="as_of")
            for col in extra:
                offers[col] = best[col].to_numpy() if col in best else None
            offers["_proposed"] = True
            positive = scored.loc[scored["expected_value"] > 0, "firm_id"].unique()
            proposed = set(best["firm_id"])
            rest = pd.DataFrame({"firm_id": [f for f in positive if f not in proposed]})
            out = pd.concat([offers, rest.assign(_proposed=False)], ignore_index=True)
            out = out.reindex(columns=names)
            yield out.astype(object).where(out.notna(), None)

    return rows.mapInPandas(propose, schema)


@dataclasses.dataclass
class _Plan:
    """What :func:`creditpersona.marketing.stage._offers` reads of a plan."""

    offers: pd.DataFrame
    method: str


def cap_frame(model: MarketingModel, proposals: DataFrame, firms: int) -> DataFrame:
    """The proposals that fit every capacity, as :func:`cap_offers` keeps them, by Spark
    window functions: in the order of penalised value (then firm id), the rank of a
    proposal among its RM's (on channels that take the RM's time) and the running contacts
    of its channel and limits of its section, product and grade group within their caps."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ra, chn = model.catalogue.risk_appetite, model.channels
    budget = float(ra.exposure_budget)
    order = [F.col("penalised").desc(), F.col("firm_id").asc()]

    def running(value: Column, *key: Column) -> Column:
        w = Window.partitionBy(*key).orderBy(*order).rowsBetween(
            Window.unboundedPreceding, Window.currentRow)
        return F.sum(value).over(w)

    def within(used: Column, cap: Column) -> Column:
        return used <= cap * F.lit(1 + 1e-12) + F.lit(1e-9)

    def lookup(caps: dict[str, float], key: Column, default: float) -> Column:
        if not caps:
            return F.lit(default)
        table = F.create_map(*[F.lit(x) for kv in caps.items() for x in kv])
        return F.coalesce(table[key], F.lit(default))

    uses = F.coalesce(F.col("uses_rm"), F.lit(True))
    limit = F.greatest(F.coalesce(F.col("limit"), F.lit(0.0)), F.lit(0.0))
    section = F.coalesce(F.col("industry_section"), F.lit("?"))
    shares = {c: float(np.ceil(v.capacity_share * firms)) for c, v in chn.channels.items()
              if v.capacity_share is not None}
    # A firm without an RM is in no RM's group, as in the embedded planner's problem.
    keep = (~uses | F.col("rm_id").isNull()
            | (running(uses.cast("long"), F.col("rm_id")) <= F.lit(chn.rm_capacity)))
    keep = keep & within(running(F.lit(1.0), F.col("channel")),
                         lookup(shares, F.col("channel"), float("inf")))
    keep = keep & within(running(limit, section), lookup(
        {str(k): float(v) for k, v in ra.section_caps.items()}, section,
        ra.section_share * budget))
    keep = keep & within(running(limit, F.col("product")), lookup(
        {str(k): float(v) for k, v in ra.product_caps.items()}, F.col("product"),
        ra.product_share * budget))
    for gc in ra.grade_caps:
        inside = F.coalesce(F.col("grade").isin(list(gc.grades)), F.lit(False))
        keep = keep & (~inside | within(running(limit, inside), F.lit(gc.share * budget)))
    return proposals.withColumn("_keep", keep).filter("_keep").drop("_keep")


# ---- campaign lists, a batch of whole RMs at a time ---------------------------------------
def _rm_batches(counts: list[tuple[str, int]], rows: int) -> list[list[str]]:
    """Consecutive RMs (in list order) grouped so that a batch holds at most ``rows`` offers
    (an RM with more is a batch of its own).

    Examples
    --------
    >>> _rm_batches([("a", 3), ("b", 3), ("c", 9), ("d", 1)], 6)
    [['a', 'b'], ['c'], ['d']]
    """
    batches: list[list[str]] = []
    size = 0
    for rm, n in counts:
        if not batches or size + n > rows:
            batches.append([])
            size = 0
        batches[-1].append(rm)
        size += n
    return batches


def write_lists(offers: DataFrame, out_dir: Path, rows: int = LIST_BATCH_ROWS
                ) -> CampaignListFiles:
    """The campaign lists of the stored offers (:func:`~creditpersona.marketing.lists.
    write_campaign_lists`' files and layout), from Spark a batch of whole RMs at a time:
    each batch's CSVs (one per RM) rendered at once by ``safeio.to_csv_parts``, its rows
    added to the workbook (summary, then a sheet per RM or one sheet of all;
    :class:`~creditpersona.marketing.lists.BookWriter`, constant memory) in a file
    ``safeio.replace_from`` puts in place atomically; cells neutralised."""
    from pyspark.sql import functions as F

    from creditpersona.marketing import lists as L
    from creditpersona.safeio import private_dir, replace_from, to_csv_parts

    out = private_dir(out_dir)
    key = F.coalesce(F.col("rm_id"), F.lit("unassigned"))
    counted = offers.groupBy(key.alias("rm")).count().collect()
    counts = sorted((str(r["rm"]), int(r["count"])) for r in counted)
    rm_ids = [rm for rm, _ in counts]
    previous = L._previous(out)
    names = dict(zip(rm_ids, L.file_names(rm_ids), strict=True))
    sheets = dict(zip(rm_ids, L.sheet_names(rm_ids), strict=True))
    planned = set(names.values()) | {L.BOOK}
    L._record(out, previous | planned)
    ev = L.headers()[10]
    written: list[Path] = []

    def write(tmp: Path) -> None:
        book = L.BookWriter(tmp)
        summary_sheet = book.sheet(L.SUMMARY_SHEET, L.SUMMARY_COLUMNS)
        whole = None if len(rm_ids) <= L.MAX_SHEETS else book.sheet(L.ALL_SHEET, L.headers())
        summary: list[tuple[str, int, float]] = []
        for batch in _rm_batches(counts, rows):
            table, bounds, found = L.sorted_by_rm(offers.filter(key.isin(batch)).toPandas())
            written.extend(to_csv_parts(table, [(out / names[rm], bounds[i], bounds[i + 1])
                                                for i, rm in enumerate(found)]))
            for i, rm in enumerate(found):
                group = table.iloc[bounds[i]:bounds[i + 1]]
                summary.append((rm, len(group), float(group[ev].sum())))
                if whole is None:
                    book.sheet(sheets[rm], group.columns).append(group)
            if whole is not None:
                whole.append(table)
        summary_sheet.append(pd.DataFrame(summary, columns=L.SUMMARY_COLUMNS))
        book.close()

    path = replace_from(out / L.BOOK, write)
    L.retire(out, previous, planned)
    return L.CampaignListFiles(tuple(written), path)


# ---- the stage ----------------------------------------------------------------------------
def stage(run: SparkCycle, as_of: dt.date, profile: DataFrame, graded: DataFrame,
          out_dir: Path, files: dict[str, Path]) -> tuple[SparkStage, None, dict[str, Any]]:
    """The marketing stage of the Spark cycle: fit, price, propose, cap, write, list."""
    from creditpersona.spark.cycle import SparkStage

    rows = input_rows(run, as_of, profile, graded).persist()
    try:
        model, fitted, total = fit_model(run, as_of, rows)
        priced, solved = solve_on_sample(run, rows, model)
        proposals = proposal_rows(rows, priced).persist()
        try:
            firms = run.count(proposals)
            kept = cap_frame(priced, proposals.filter("_proposed"), firms)
            declared = spark_schema(store_results.OFFERS, without=("as_of",)).fieldNames()
            run.results.write(store_results.OFFERS, as_of, kept.select(*declared))
        finally:
            proposals.unpersist()
    finally:
        rows.unpersist()
    stored = run.results.read(store_results.OFFERS, as_of)
    offered = run.count(stored)
    files["campaign_lists"] = out_dir / "campaign_lists"
    write_lists(stored, files["campaign_lists"])
    note = (f"models fitted on {fitted:,} of {total:,} campaign contacts; prices solved on "
            f"{solved:,} candidate pairs of sampled firms; {offered:,} offers to "
            f"{firms:,} firms with a positive candidate")
    return (SparkStage("marketing", "spark", {store_results.OFFERS: offered},
                       max(fitted, solved), note), None, {})


__all__ = ["cap_frame", "candidate_rows", "fit_model", "history_sample", "input_rows",
           "peer_table", "peer_tables", "proposal_rows", "snapshot_profiles", "solve_on_sample",
           "stage", "write_lists"]
