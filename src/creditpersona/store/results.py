"""The result store: every table the quarterly cycle writes, declared once (结果表).

The cycle's stages keep their results in the store, one set of rows per as-of date. This
module owns those tables: each one's Arrow schema and key columns are declared here, in
:data:`TABLES`, and every stage writes and every reader reads them through the functions
below. No other module issues ``DELETE`` or ``INSERT`` on a result table.

* :func:`replace_date` converts a frame to the declared schema (one conversion for every
  table), creates the table if it is missing, and replaces that as-of date's rows in one
  transaction, so running a date again never duplicates anything;
  :func:`replace_date_stored` does the same and returns the rows as :func:`read` would.
* :func:`read` returns one date's rows (default: the latest), optionally of some firms
  (filtered in the database) and some columns.
* :func:`exists`, :func:`dates`, :func:`latest` answer what is stored;
  :func:`has_table` answers it for any table of the store (inputs, ledger, registry).
* :func:`read`, :func:`dates`, :func:`latest` and :func:`exists` also read the Parquet
  results of a Spark cycle: pass a :class:`~creditpersona.store.parquet.ParquetResults`
  in place of the store.
* :func:`should_save` is the one rule for whether a stage writes its results: when the
  caller says so, else whenever the store is open for writing.

The run ledger (:mod:`creditpersona.runs`) and the model registry
(:mod:`creditpersona.models.registry`) are not result tables of a date: they append rows
and update them by run id or model version, and keep their own schemas.

Examples
--------
>>> import datetime as dt
>>> import pandas as pd
>>> from creditpersona.store.store import Store
>>> with Store(":memory:") as store:
...     frame = pd.DataFrame({"kind": "rating", "segment": "all", "from_state": ["A", "B"],
...                           "to_state": ["B", "B"], "firms": [1, 1],
...                           "previous_as_of": dt.date(2026, 3, 31)})
...     stored = replace_date(store, "review_migration", dt.date(2026, 6, 30), frame)
...     back = read(store, "review_migration", columns=["from_state", "to_state", "firms"])
>>> stored, back.to_numpy().tolist()
(2, [['A', 'B', 1], ['B', 'B', 1]])
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from creditpersona.errors import StoreError
from creditpersona.store.store import Store, arrow_frame

if TYPE_CHECKING:
    from creditpersona.store.parquet import ParquetResults

_TYPES: dict[str, pa.DataType] = {
    "s": pa.string(), "i": pa.int64(), "f": pa.float64(), "b": pa.bool_(),
    "d": pa.date32(), "ts": pa.timestamp("s"), "ls": pa.list_(pa.string()),
}


def _schema(spec: str) -> pa.Schema:
    """An Arrow schema from ``"name:type name:type ..."`` (types: s i f b d ts ls)."""
    fields = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        fields.append(pa.field(name, _TYPES[kind]))
    return pa.schema(fields)


@dataclass(frozen=True)
class ResultTable:
    """A result table of the cycle: its schema, key and who writes and reads it.

    Attributes
    ----------
    name : str
        The table's name in the store.
    stage : str
        The cycle stage that writes it (:data:`creditpersona.pipeline.STAGES`).
    writer : str
        The function that hands the stage's frame to :func:`replace_date`.
    key : tuple of str
        The columns that identify a row within the as-of date (``as_of`` first).
    schema : pyarrow.Schema
        The stored columns, in order, and their types.
    description : str
        What a row is, in English and Chinese.
    readers : tuple of str
        The modules that read the table (for docs/architecture.md).
    optional : frozenset of str
        Declared columns a frame may lack (stored empty): the others must be present.
    """

    name: str
    stage: str
    writer: str
    key: tuple[str, ...]
    schema: pa.Schema
    description: str
    readers: tuple[str, ...]
    optional: frozenset[str] = frozenset()

    @property
    def columns(self) -> list[str]:
        """The declared column names, in stored order."""
        return list(self.schema.names)


PROFILES = "profiles"
PD_SCORES = "pd_scores"
PERSONAS = "personas"
ASSOCIATION_RULES = "association_rules"
DECISION_VALUE = "decision_value"
DECISION_PRICING = "decision_pricing"
DECISION_LIMITS = "decision_limits"
DECISION_CLASSIFICATION = "decision_classification"
DECISION_LOANS = "decision_loans"
DECISION_WATCHLIST = "decision_watchlist"
DECISION_PLANS = "decision_plans"
OFFERS = "offers"
HISTORY_PROFILES = "history_profiles"
REVIEW_DRIFT = "review_drift"
REVIEW_MIGRATION = "review_migration"
REVIEW_PERFORMANCE = "review_performance"
REVIEW_TRIGGERS = "review_triggers"

#: The text events of the profile (``text_<event>`` count, ``flag_<event>`` flag), in the
#: order of the packaged text-risk model's events.
_TEXT_EVENTS = (
    "bankruptcy", "default_overdue", "dishonest_debtor", "enforcement_listing", "lawsuit",
    "equity_freeze", "asset_seizure", "production_halt", "wage_arrears", "layoffs",
    "key_customer_loss", "management_departure", "executive_change", "control_change",
    "liquidity_stress",
    "financial_deterioration", "guarantee_risk", "rating_downgrade", "tax_arrears",
    "environmental_penalty", "administrative_penalty", "abnormal_operation", "license_loss",
    "capital_reduction", "fraud", "audit_qualified", "safety_accident", "negative_media",
    "disclosure_violation", "trading_violation", "shareholder_selldown", "equity_pledge",
    "restructuring_failure", "delisting", "illegal_fundraising", "pyramid_scheme",
    "payout_failure", "contract_win", "patent", "expansion", "award", "financing_round",
    "favourable_results", "sound_operations",
)

_FIRM_DATE = ("as_of", "firm_id")
_PROFILE = _schema(
    "firm_id:s industry_code:s region_code:s employees:i ownership_type:s listed:b "
    "firm_age_years:f relationship_years:f statement_period_end:ts revenue:f "
    "total_assets:f cash:f current_ratio:f quick_ratio:f cash_ratio:f debt_to_assets:f "
    "debt_to_ebitda:f interest_coverage:f dscr_proxy:f dscr:f net_assets:f "
    "gross_margin:f net_margin:f roa:f roe:f receivable_days:f receivable_days_change:f "
    "inventory_days:f payable_days:f revenue_growth:f profit_growth:f altman_z:f "
    "negative_equity:b leverage_trend:f capex_intensity:f short_debt_to_cash:f "
    "wc_gap_to_revenue:f bureau_lenders:i bureau_outstanding:f bureau_overdue_12m:i "
    "bureau_overdue_24m:i bureau_max_dpd_12m:i bureau_max_dpd_24m:i "
    "bureau_written_off:f guarantees_given:f inquiries_3m:i inquiries_12m:i "
    "inquiry_burst:f instalments_due:f late_share:f early_share:f max_days_late_24m:f "
    "current_dpd:f active_loans:f active_loan_amount:f refinancing_loans_12m:f "
    "inflow_12m:f outflow_12m:f txn_count_12m:f inflow_90d:f outflow_90d:f "
    "inflow_prev_90d:f inflow_volatility:f seasonality_index:f top3_share:f "
    "flow_trend_90d:f net_burn_monthly:f flow_to_revenue:f cash_runway_months:f "
    "debt_to_revenue:f guarantees_to_assets:f guarantees_to_equity:f "
    "industry_section:s size_class:s n_documents:i n_documents_90d:f "
    + " ".join(f"text_{e}:f" for e in _TEXT_EVENTS) + " "
    + " ".join(f"flag_{e}:b" for e in _TEXT_EVENTS) + " "
    "text_negated_mentions:f text_risk_score:f text_positive_score:f text_top_event:s "
    "text_lexicon_score:f text_risk_documents:f text_max_document_risk:f "
    "text_other_firm_documents:f text_top_document:s text_top_document_date:ts "
    "text_top_document_risk:f "
    + " ".join(f"{s}_score:f {s}_coverage:f {s}_driver_zh:s {s}_driver_en:s"
               for s in ("scale", "financial", "credit", "urgency", "willingness"))
    + " summary_zh:s summary_en:s as_of:d run_id:s engine:s")
_DECISION_READERS = ("decisions.stage (load_decisions_table)", "cli.decisions",
                     "report.decisions (via the cycle)")
_REVIEW_READERS = ("review.stage (load_review_table, load_triggers)", "cli.app (review)")

#: Every result table of the cycle, in the order the stages write them.
TABLES: dict[str, ResultTable] = {t.name: t for t in (
    ResultTable(
        PROFILES, "profile", "profile.build.save_profile", _FIRM_DATE, _PROFILE,
        "one firm's point-in-time features, text signals and scores 企业画像",
        ("pipeline", "decisions.stage (earlier quarters, early warning)",
         "review.stage", "marketing.propensity", "rules.items", "cli"),
        # A profile built from part of the sources (hand-made profiles in tests) stores the
        # features it has, the others empty; the identity columns are required.
        frozenset(_PROFILE.names) - {"firm_id", "as_of", "run_id", "engine"}),
    ResultTable(PD_SCORES, "pd_models", "models.development.save_scores", _FIRM_DATE, _schema(
        "firm_id:s pd:f pd_challenger:f grade:s "
        + " ".join(f"reason_{k}_feature:s reason_{k}_zh:s reason_{k}_en:s "
                   f"reason_{k}_contribution:f" for k in (1, 2, 3))
        + " grade_pit:s pd_rating:f rating_score:f rating_action:s as_of:d"),
        "one firm's PD, grade and reason codes 违约概率与评级",
        ("review.stage", "review.history", "models.rating (previous ratings)",
         "decisions.stage (stored_scores)", "cli"),
        # Scores graded without a challenger, reason codes or the rating philosophy
        # (models.rating, tests of one model) leave these empty.
        frozenset({"pd_challenger", "grade_pit", "pd_rating", "rating_score", "rating_action",
                   *(f"reason_{k}_{p}" for k in (1, 2, 3)
                     for p in ("feature", "zh", "en", "contribution"))})),
    ResultTable(PERSONAS, "personas", "personas.store.save_assignments", _FIRM_DATE, _schema(
        "firm_id:s as_of:d persona_id:s persona_name_zh:s persona_name_en:s source:s cluster:i "
        "confidence:f model_version:i run_id:s"),
        "one firm's persona 客户画像分群",
        ("review.stage", "review.history", "decisions.stage (stored_strategies)",
         "cli.personas")),
    ResultTable(ASSOCIATION_RULES, "rules", "rules.store.save_rules",
                ("as_of", "question", "scope", "rank"), _schema(
        "scope:s question:s rank:i antecedents:ls consequent:s firms:i antecedent_count:i "
        "consequent_count:i count:i support:f confidence:f others_rate:f lift:f leverage:f "
        "p_value:f q_value:f sentence_zh:s sentence_en:s as_of:d run_id:s params:s "
        "scopes:s"),
        "one association rule found by question and scope 关联规则",
        ("rules.store (load_rules)", "cli.rules")),
    ResultTable(DECISION_VALUE, "decisions", "decisions.stage.save_decisions", _FIRM_DATE,
                _schema(
        "firm_id:s persona_policy:s balance:f interest_margin:f fees:f expected_loss:f "
        "capital:f deposit_balance:f deposit_spread:f customer:b operating_cost:f "
        "revenue_contribution:f risk_adjusted_return:f raroc:f economic_profit:f "
        "value_y1:f value_y2:f value_y3:f value_3y_pv:f predicted_contribution:f as_of:d"),
        "one firm's customer value 客户价值", _DECISION_READERS),
    ResultTable(DECISION_PRICING, "decisions", "decisions.stage.save_decisions",
                ("as_of", "firm_id", "product"), _schema(
        "firm_id:s product:s amount:f amount_basis:s term_months:f collateral_type:s "
        "guarantee_type:s persona_policy:s pd:f grade:s lgd:f maturity_years:f capital_k:f "
        "ftp_bp:f operating_cost_bp:f expected_loss_bp:f capital_charge_bp:f "
        "target_margin_bp:f fee_credit_bp:f tax_bp:f strategy_bp:f floor_rate:f "
        "cost_floor_rate:f lpr_tenor:s lpr:f spread_bp:f rate:f cost_floor_applied:b "
        "below_cost:b exception:s raroc:f hurdle_rate:f below_hurdle:b floor_above_max:b "
        "declined:b as_of:d"),
        "one firm's indicative quote 风险定价", _DECISION_READERS),
    ResultTable(DECISION_LIMITS, "decisions", "decisions.stage.save_decisions", _FIRM_DATE,
                _schema(
        "firm_id:s persona_policy:s grade:s product:s sizing:s wc_need:f "
        "own_working_capital:f wc_line:f existing_short_term_debt:f wc_capacity:f "
        "our_exposure:f cfads:f existing_service:f dscr_capacity:f capacity:f "
        "grade_multiplier:f persona_multiplier:f adjusted_capacity:f "
        "single_borrower_cap:f leverage_cap:f product_cap:f recommended_limit:f "
        "new_lending:f binding:s binding_zh:s as_of:d"),
        "one firm's recommended limit 授信额度", _DECISION_READERS),
    ResultTable(DECISION_CLASSIFICATION, "decisions", "decisions.stage.save_decisions",
                _FIRM_DATE, _schema(
        "firm_id:s n_loans:i outstanding:f max_dpd:i npl_outstanding:f contagion:b "
        "npl_share:f tier:s tier_zh:s npl:b as_of:d"),
        "one borrower's five-tier classification 五级分类 (借款人)", _DECISION_READERS),
    ResultTable(DECISION_LOANS, "decisions", "decisions.stage.save_decisions",
                ("as_of", "loan_id"), _schema(
        "loan_id:s firm_id:s dpd:i outstanding:f tier_by_dpd:s observation:b npl_share:f "
        "contagion:b tier:s tier_zh:s as_of:d"),
        "one loan's five-tier classification 五级分类 (贷款)", _DECISION_READERS),
    ResultTable(DECISION_WATCHLIST, "decisions", "decisions.stage.save_decisions", _FIRM_DATE,
                _schema(
        "firm_id:s persona_policy:s n_hits:i points:f level:s on_watch:b top_rule:s "
        "categories:s reasons_zh:s reasons_en:s pd:f grade:s tier:s outstanding:f "
        "as_of:d"),
        "one firm's early-warning result 预警名单", _DECISION_READERS),
    ResultTable(DECISION_PLANS, "decisions", "decisions.stage.save_decisions", _FIRM_DATE,
                _schema(
        "firm_id:s persona_policy:s level:s review_months:i next_review:d "
        "persona_triggers:s actions_zh:s actions_en:s as_of:d"),
        "one firm's monitoring plan 贷后监测计划", _DECISION_READERS),
    ResultTable(OFFERS, "marketing", "marketing.stage.save_offers",
                ("as_of", "firm_id", "product"), _schema(
        "as_of:d firm_id:s firm_name:s rm_id:s persona_name_zh:s product:s product_zh:s journey:s "
        "journey_zh:s channel:s channel_zh:s p_accept:f uplift:f value:f contact_cost:f "
        "expected_value:f suggested_rate:f suggested_limit:f value_source:s "
        "propensity_model:s industry_section:s reason_zh:s method:s"),
        "one planned offer (firm × product × channel) 营销方案",
        ("marketing.stage (load_offers)", "cli.marketing")),
    ResultTable(
        HISTORY_PROFILES, "marketing", "marketing.snapshots.snapshot_profiles", _FIRM_DATE,
        pa.schema([*_PROFILE, *_schema(
            "profiled:b columns:s definition:s loads_through:i loads_sha256:s")]),
        "one contacted firm's profile at a campaign's snapshot (as_of: the snapshot; "
        "profiled false: the firm has no profile then; columns: the profile's, typed) "
        "营销历史快照画像",
        ("marketing.snapshots (campaign_history)",),
        frozenset(_PROFILE.names) - {"firm_id", "as_of", "run_id", "engine"}),
    ResultTable(REVIEW_DRIFT, "review", "review.stage.save_review",
                ("as_of", "segment", "comparison", "variable"), _schema(
        "as_of:d segment:s comparison:s reference_as_of:d variable:s kind:s models:s psi:f "
        "band:s noise_bound:f beyond_noise:b drifted:b bins:i firms_reference:i "
        "firms_current:i missing_reference:f missing_current:f"),
        "one variable's stability (PSI/CSI) in a segment 稳定性", _REVIEW_READERS),
    ResultTable(REVIEW_MIGRATION, "review", "review.stage.save_review",
                ("as_of", "kind", "segment", "from_state", "to_state"), _schema(
        "as_of:d previous_as_of:d kind:s segment:s from_state:s to_state:s firms:i"),
        "one cell of a persona or rating migration matrix 迁移矩阵", _REVIEW_READERS),
    ResultTable(REVIEW_PERFORMANCE, "review", "review.stage.save_review",
                ("as_of", "model"), _schema(
        "as_of:d cohort_as_of:d model:s model_version:i firms:i defaults:i judged:b auc:f "
        "auc_low:f auc_high:f gini:f dev_auc:f dev_auc_low:f dev_auc_high:f auc_change:f "
        "mean_pd:f observed_dr:f calibration_ratio:f binomial_p:f brier:f dev_brier:f"),
        "one PD model's performance on the matured cohort 模型表现", _REVIEW_READERS),
    ResultTable(REVIEW_TRIGGERS, "review", "review.stage.save_review",
                ("as_of", "trigger", "target"), _schema(
        "as_of:d trigger:s target:s fired:b evaluated:b value:f threshold:f "
        "recommendation_zh:s recommendation_en:s evidence:s command:s model_version:i"),
        "one re-fit trigger and whether it fired 重检触发", _REVIEW_READERS
        + ("review.stage (annual review: last confirmation)",)),
)}


def table(name: str) -> ResultTable:
    """The declared result table ``name``.

    Raises
    ------
    StoreError
        If ``name`` is not a declared result table (the message lists them).
    """
    try:
        return TABLES[name]
    except KeyError:
        raise StoreError(f"{name!r} is not a result table; choose one of "
                         f"{', '.join(TABLES)} (declared in creditpersona.store.results)."
                         ) from None


def has_table(store: Store, name: str) -> bool:
    """Whether the store holds a table ``name`` (any table: results, inputs, ledger)."""
    return name in store.con.list_tables()


def should_save(store: Store, save: bool | None = None) -> bool:
    """The one rule for whether a stage writes its results to the store.

    ``save`` when the caller says (True or False); otherwise whenever the store is open
    for writing (a read-only store is read, never written).

    Raises
    ------
    StoreError
        If ``save`` is True on a store opened read-only.
    """
    if save is None:
        return not store.read_only
    if save and store.read_only:
        raise StoreError(f"{store.path}: opened read-only, so results cannot be saved; open "
                         "it for writing or pass save=False.")
    return bool(save)


def conform(name: str, frame: pd.DataFrame | pa.Table) -> pa.Table:
    """``frame`` as an Arrow table of the declared schema of ``name`` (the one conversion).

    Columns are taken by name, in the declared order; text becomes strings, dates become
    dates (from dates, timestamps or ISO strings), numbers are cast to the declared type.
    A column the table declares optional and the frame lacks is stored empty (NULL).

    Raises
    ------
    StoreError
        If ``frame`` lacks a declared column or holds one that is not declared, or a
        column cannot be cast to its declared type (naming the table and column).
    """
    spec = table(name)
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    columns = [str(c) for c in frame.columns]
    missing = [c for c in spec.columns if c not in columns and c not in spec.optional]
    extra = [c for c in columns if c not in spec.schema.names]
    if missing or extra:
        raise StoreError(
            f"table {name}: the frame to store "
            + (f"lacks the declared column(s) {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"holds undeclared column(s) {', '.join(extra)}" if extra else "")
            + "; declare the columns in creditpersona.store.results.TABLES (and drop the "
            f"stored table {name} if its columns changed) or fix the stage's frame.")
    arrays = []
    for f in spec.schema:
        if f.name not in columns:  # an optional column the frame lacks
            arrays.append(pa.nulls(len(frame), type=f.type))
            continue
        try:
            arrays.append(_array(frame[f.name], f.type))
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise StoreError(f"table {name}, column {f.name}: cannot store the values as "
                             f"{f.type} ({exc}); fix the stage that computes them.") from exc
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def _array(col: pd.Series, kind: pa.DataType) -> pa.Array:
    if pa.types.is_date(kind):
        if pd.api.types.is_datetime64_dtype(col.dtype):  # tz-naive: the day of each value
            days = col.to_numpy().astype("datetime64[D]")
            return pa.array(days, type=kind, mask=col.isna().to_numpy())
        items = col.tolist()
        if set(map(type, items)) <= {dt.date, type(None)}:  # dates already (as_of, say)
            return pa.array(items, type=kind)
        return pa.array(_dates(items), type=kind)
    if pa.types.is_timestamp(kind):
        return pa.array(pd.to_datetime(col), type=kind, from_pandas=True)
    if pa.types.is_string(kind):
        return pa.array(col.astype("string"), type=kind, from_pandas=True)
    if pa.types.is_list(kind):
        return pa.array([None if v is None else [str(x) for x in v] for v in col], type=kind)
    if pa.types.is_boolean(kind):
        if col.dtype == object:  # e.g. flags of a left join: True / False / NaN
            try:  # Arrow takes booleans and missing values as they are (the same array)
                return pa.array(col, type=kind, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # 1, "x": bool() each
                col = pd.Series([v if v is True or v is False else None if _missing(v)
                                 else bool(v) for v in col.tolist()], dtype=object)
        return pa.array(col, type=kind, from_pandas=True)
    values = col if pd.api.types.is_numeric_dtype(col) else pd.to_numeric(col, errors="raise")
    return pa.array(values, type=kind, from_pandas=True)


def _dates(values: list[Any]) -> list[dt.date | None]:
    """The day of each value (a date, timestamp or ISO string; None when missing); the
    values of one type are converted once each (a column often repeats one date)."""
    seen: dict[tuple[type, Any, Any], dt.date | None] = {}
    out: list[dt.date | None] = []
    for v in values:
        try:
            key = (type(v), v, getattr(v, "tzinfo", None))  # equal instants, other days
            day = seen[key]
        except KeyError:
            day = seen[key] = None if _missing(v) else pd.Timestamp(v).date()
        except TypeError:  # unhashable: converted as it is
            day = None if _missing(v) else pd.Timestamp(v).date()
        out.append(day)
    return out


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, list | tuple | np.ndarray):
        return value is None
    return bool(pd.isna(value))


def _day(as_of: dt.date) -> ir.Scalar:
    return ibis.literal(as_of, type="date")


def _ensure(store: Store, name: str) -> None:
    """Create ``name`` with its declared schema, or check the stored one matches it.

    A stored table lacking some declared columns (written by an earlier version) gets them
    added, empty for its earlier rows; one with other columns is refused.
    """
    spec = table(name)
    if not has_table(store, name):
        store.con.create_table(name, schema=ibis.Schema.from_pyarrow(spec.schema))
        return
    stored = list(store.table(name).columns)
    extra = [c for c in stored if c not in spec.schema.names]
    if extra:
        raise StoreError(f"{store.path}: table {name} has columns {', '.join(extra)} that this "
                         f"version does not write (another version); export it and drop it "
                         f"(DROP TABLE {name}) before running again.")
    for f in spec.schema:
        if f.name not in stored:  # written by an earlier version: add the column (NULL)
            sql = ibis.Schema.from_pyarrow(pa.schema([f])).to_sqlglot_column_defs("duckdb")
            store.con.raw_sql(f'ALTER TABLE "{name}" ADD COLUMN {sql[0].sql("duckdb")}')


def replace_date(store: Store, name: str, as_of: dt.date,
                 frame: pd.DataFrame | pa.Table) -> int:
    """Replace the rows of ``as_of`` in result table ``name`` with ``frame``, atomically.

    ``frame`` may hold ``as_of`` already (it must then be that date) or not (it is added).
    The table is created with its declared schema if missing.

    Returns
    -------
    int
        The number of rows stored.

    Raises
    ------
    StoreError
        If the frame does not fit the declared schema (:func:`conform`), holds rows of
        another date, or the stored table has other columns.
    """
    return _replace(store, name, as_of, _conformed(name, as_of, frame)).num_rows


def replace_date_stored(store: Store, name: str, as_of: dt.date,
                        frame: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """:func:`replace_date`, returning the rows as :func:`read` gives them back.

    The frame is converted once (:func:`conform`) for both: what a stage writes and hands
    on are one conversion (:func:`as_stored` without converting twice).

    Raises
    ------
    StoreError
        As :func:`replace_date`.
    """
    data = _conformed(name, as_of, frame)
    # DuckDB writes the rows in a thread (it releases the GIL) while they become pandas.
    failed: list[BaseException] = []

    def write() -> None:
        try:
            _replace(store, name, as_of, data)
        except BaseException as exc:  # raised below, in the caller's thread
            failed.append(exc)

    writer = threading.Thread(target=write, name="creditpersona-write")
    writer.start()
    try:
        out = arrow_frame(data)
    finally:
        writer.join()
    if failed:
        raise failed[0]
    return out


def _conformed(name: str, as_of: dt.date, frame: pd.DataFrame | pa.Table) -> pa.Table:
    """``frame`` of one date, conformed; rows of another date are refused."""
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    if "as_of" in frame.columns:
        try:  # each distinct value once (a stage's frame holds one date)
            held = frame["as_of"].drop_duplicates().tolist()
        except TypeError:  # unhashable values: every one
            held = frame["as_of"].tolist()
        days = {pd.Timestamp(v).date() for v in held if not _missing(v)}
        if days - {as_of}:
            raise StoreError(f"table {name}: the frame holds rows of "
                             f"{', '.join(map(str, sorted(days - {as_of})))}, not only of "
                             f"{as_of}; store each date's rows on their own.")
    return conform(name, frame.assign(as_of=as_of))


def _replace(store: Store, name: str, as_of: dt.date, data: pa.Table) -> pa.Table:
    """Replace the rows of ``as_of`` with the conformed ``data`` in one transaction."""
    _ensure(store, name)
    db = store.con.con
    view = f"_replace_{uuid.uuid4().hex[:8]}"
    db.execute("BEGIN TRANSACTION")
    try:
        db.execute(f'DELETE FROM "{name}" WHERE as_of = ?', [as_of])
        if data.num_rows:
            db.register(view, data)
            db.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM "{view}"')
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        db.unregister(view)
    return data


def dates(store: Store | ParquetResults, name: str) -> list[dt.date]:
    """The as-of dates stored in ``name``, oldest first (empty if the table is missing)."""
    table(name)
    if not isinstance(store, Store):
        return store.dates(name)
    if not has_table(store, name):
        return []
    t = store.table(name)
    days = t.select("as_of").distinct().to_pandas()["as_of"]
    return sorted(pd.Timestamp(d).date() for d in days if not pd.isna(d))


def latest(store: Store | ParquetResults, name: str, *, before: dt.date | None = None
           ) -> dt.date | None:
    """The latest as-of date stored in ``name`` (strictly before ``before`` if given)."""
    table(name)
    if not isinstance(store, Store):
        return store.latest(name, before=before)
    if not has_table(store, name):
        return None
    t = store.table(name)
    if before is not None:
        t = t.filter(t.as_of < _day(before))
    value = t.as_of.max().execute()
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def exists(store: Store | ParquetResults, name: str, as_of: dt.date | None = None) -> bool:
    """Whether ``name`` holds rows (of ``as_of`` when given)."""
    table(name)
    if not isinstance(store, Store):
        day = as_of if as_of is not None else store.latest(name)
        return day is not None and store.exists(name, day)
    if not has_table(store, name):
        return False
    t = store.table(name)
    if as_of is not None:
        t = t.filter(t.as_of == _day(as_of))
    return bool(t.limit(1).count().execute() > 0)


def empty(name: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """An empty frame of ``name``'s declared columns (or of ``columns``), typed."""
    spec = table(name)
    frame = spec.schema.empty_table().to_pandas()
    return frame if columns is None else frame[list(columns)]


def query(store: Store, name: str, as_of: dt.date | None = None, *,
          firms: Iterable[str] | None = None) -> ir.Table | None:
    """The Ibis table of ``name`` filtered to one date (default: latest) and some firms.

    None when nothing is stored for that date. For readers that aggregate in the database
    (:func:`read` returns rows).
    """
    spec = table(name)
    if firms is not None and "firm_id" not in spec.columns:
        raise StoreError(f"table {name} has no firm_id; read it without firms=.")
    day = as_of if as_of is not None else latest(store, name)
    if day is None or not has_table(store, name):
        return None
    t = store.table(name)
    t = t.filter(t.as_of == _day(day))
    if firms is not None:
        # An IN list of literals (no memtable: Ibis never drops the view behind one).
        t = t.filter(t.firm_id.isin(sorted({str(f) for f in firms})))
    return t


def as_stored(store: Store, name: str, as_of: dt.date,
              frame: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """``frame`` exactly as :func:`read` returns it once stored, without reading it back.

    The frame goes through the one conversion (:func:`conform`) and then the conversion
    :func:`read` applies to the Arrow rows the store returns
    (:func:`~creditpersona.store.store.arrow_frame`), so a stage
    that has just written a date hands the next stage the same data a later run would read
    from the table. ``store`` is the store the rows are (or would be) written to.
    """
    del store  # the rows do not go through the engine: its Arrow rows are conform's own
    return arrow_frame(conform(name, (frame.to_pandas() if isinstance(frame, pa.Table)
                                    else frame).assign(as_of=as_of)))


def without_empty_optional(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the optional columns of ``name`` that hold no value at all.

    What a writer lacked is stored empty (:func:`conform`); a reader that treats a column
    as available only when it was computed (the PIT grade, the challenger's PD) drops them.
    """
    spec = table(name)
    return frame.drop(columns=[c for c in frame.columns
                               if c in spec.optional and frame[c].isna().all()])


def until(store: Store, name: str, as_of: dt.date) -> ir.Table | None:
    """The Ibis table of ``name``'s rows of every date up to ``as_of`` (None if missing).

    For readers that aggregate across quarters in the database (the review's history).
    """
    table(name)
    if not has_table(store, name):
        return None
    t = store.table(name)
    return t.filter(t.as_of <= _day(as_of))


def read(store: Store | ParquetResults, name: str, as_of: dt.date | None = None, *,
         firms: Iterable[str] | None = None,
         columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The rows of result table ``name`` of one as-of date.

    Parameters
    ----------
    store : Store or ParquetResults
        The embedded store, or the Parquet results of a Spark cycle (read with DuckDB).
    name : str
        A declared result table (:data:`TABLES`).
    as_of : datetime.date, optional
        Default: the latest date stored.
    firms : iterable of str, optional
        Only these firms' rows (filtered in the database).
    columns : iterable of str, optional
        Only these columns (default: all, in stored order).

    Returns
    -------
    pandas.DataFrame
        Empty, with the asked columns, when nothing is stored for the date.

    Raises
    ------
    StoreError
        If ``name`` is not a result table, or ``columns`` names one it does not declare.
    """
    if not isinstance(store, Store):
        return store.read(name, as_of, firms=firms, columns=columns)
    spec = table(name)
    wanted = None if columns is None else list(dict.fromkeys(columns))
    unknown = [c for c in wanted or [] if c not in spec.columns]
    if unknown:
        raise StoreError(f"table {name} has no column(s) {', '.join(unknown)}; its columns "
                         f"are {', '.join(spec.columns)}.")
    t = query(store, name, as_of, firms=firms)
    if t is None:
        return empty(name, wanted)
    if wanted is not None:
        present = [c for c in wanted if c in t.columns]
        t = t.select(*present)
    return t.to_pandas()


def markdown() -> str:
    """The Markdown table of every result table: stage, writer, key, readers, columns.

    ``docs/architecture.md`` holds its output between two markers (a test keeps it
    current).

    Examples
    --------
    >>> markdown().splitlines()[0]
    '| table | written by (stage) | key | read by | columns |'
    """
    lines = ["| table | written by (stage) | key | read by | columns |",
             "|---|---|---|---|---|"]
    for t in TABLES.values():
        lines.append(f"| `{t.name}` — {t.description} | `{t.writer}` ({t.stage}) "
                     f"| {', '.join(t.key)} | {'; '.join(t.readers)} | {len(t.columns)} |")
    return "\n".join(lines) + "\n"
