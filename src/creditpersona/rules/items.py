"""Behaviour items per firm (one-hot basket) for association rules, built as Ibis expressions.

The item vocabulary (``items.yaml``, :mod:`~creditpersona.rules.items_vocabulary`) says
which items there are; this module builds them. Items come from the contract tables through
the query engine — industry from ``firms``, loans held and their terms from ``loans``,
repayment patterns and instalment spacing from ``repayments``, seasonal flow patterns and
customer concentration from ``transactions``, inquiry bursts and default from
``bureau_reports``, campaign responses from ``campaign_contacts`` — and from the stored
profile (size class, financial ratios, the text flags that ``documents`` gave). The hidden
truth of a synthetic bank is never read; personas come in only through the optional
``personas`` input.

Point in time: nothing dated after the as-of date is read. A loan counts from its start
date, an instalment from its due date (paid after the as-of date counts as unpaid, and then
as late by the days since it was due), flows, bureau reports and contacts from their dates,
each within its look-back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from creditpersona.errors import SchemaError, StoreError, parameter_error
from creditpersona.rules.items_vocabulary import (
    PERSONA_PREFIX,
    BureauItem,
    CampaignItem,
    ConcentrationItem,
    DefaultItem,
    FlowItem,
    IndustryItem,
    ItemVocabulary,
    Label,
    LoanItem,
    ProfileItem,
    Question,
    RepaymentItem,
    ScheduleItem,
    SizeItem,
    load_items,
    persona_item,
)
from creditpersona.store.buckets import bucket_tables
from creditpersona.store.store import Store

# The vocabulary's names stay importable from here (callers written before the split).
__all__ = [
    "PERSONA_PREFIX",
    "ItemVocabulary",
    "Label",
    "Question",
    "ITEM_TABLES",
    "basket_items",
    "behaviour_items",
    "load_items",
    "persona_item",
]

def _months_before(d: ir.DateScalar, months: int) -> ir.DateScalar:
    return d - ibis.interval(months=months)


def _in(col: ir.StringValue, values: Sequence[str] | None) -> ir.BooleanValue:
    return col.isin(list(values)) if values else ibis.literal(True)


def _industry_items(firms: ir.Table, items: list[IndustryItem]) -> dict[str, ir.BooleanValue]:
    code = firms.industry_code
    return {i.code: ibis.or_(*[code.startswith(p) for p in i.prefixes]) for i in items}


def _loan_items(loans: ir.Table, d: ir.DateScalar, months: int,
                items: list[LoanItem]) -> ir.Table | None:
    if not items:
        return None
    held = loans.filter((loans.start_date <= d) & (loans.start_date > _months_before(d, months)))

    def match(i: LoanItem) -> ir.BooleanValue:
        cond = (_in(held["product"], i.product) & _in(held.purpose, i.purpose)
                & _in(held.collateral_type, i.collateral_type)
                & _in(held.guarantee_type, i.guarantee_type) & _in(held.lpr_tenor, i.lpr_tenor))
        if i.min_term_months is not None:
            cond = cond & (held.term_months >= i.min_term_months)
        return cond

    return held.group_by("firm_id").agg(**{i.code: match(i).any() for i in items})


def _schedule_items(loans: ir.Table, rep: ir.Table, d: ir.DateScalar, months: int,
                    items: list[ScheduleItem]) -> ir.Table | None:
    if not items:
        return None
    held = loans.filter((loans.start_date <= d) & (loans.start_date > _months_before(d, months)))
    due = rep.filter(rep.due_date <= d).inner_join(held.select("loan_id", "firm_id"), "loan_id")
    gaps = due.mutate(
        _gap=due.due_date.delta(
            due.due_date.lag().over(group_by="loan_id", order_by="due_date"), unit="day"))
    per_loan = gaps.group_by(["loan_id", "firm_id"]).agg(_min_gap=gaps._gap.min())
    return per_loan.group_by("firm_id").agg(
        **{i.code: (per_loan._min_gap >= i.min_gap_days).any() for i in items})


def _repayment_items(loans: ir.Table, rep: ir.Table, d: ir.DateScalar, months: int,
                     items: list[RepaymentItem]) -> ir.Table | None:
    if not items:
        return None
    started = loans.filter(loans.start_date <= d).select("loan_id", "firm_id")
    due = rep.filter((rep.due_date <= d) & (rep.due_date > _months_before(d, months)))
    due = due.inner_join(started, "loan_id")
    paid = due.paid_date.notnull() & (due.paid_date <= d)
    # Days after the due date: negative when paid early; unpaid counts up to the as-of date.
    delta = ibis.ifelse(paid, due.paid_date.delta(due.due_date, unit="day"),
                        d.delta(due.due_date, unit="day"))
    t = due.mutate(_paid=paid, _delta=delta, _month=due.due_date.month())
    aggs: dict[str, ir.Value] = {}
    for i in items:
        if i.pattern == "early":
            hit = t._paid & (t._delta <= -i.early_days)
        elif i.pattern == "late":
            hit = t._delta > i.late_days
        else:
            hit = t._paid & (t._delta > -i.early_days) & (t._delta <= i.late_days)
        season = t._month.isin(list(i.months)) if i.months else t._month.notnull()
        aggs[f"{i.code}__n"] = season.cast("int64").sum()
        aggs[f"{i.code}__share"] = hit.cast("float64").mean(where=season)
        if i.months:
            aggs[f"{i.code}__other"] = hit.cast("float64").mean(where=~season)
    agg = t.group_by("firm_id").agg(**aggs)

    def holds(i: RepaymentItem) -> ir.BooleanValue:
        share = agg[f"{i.code}__share"]
        other = agg[f"{i.code}__other"].fill_null(0.0) if i.months else 0.0
        return ((agg[f"{i.code}__n"] >= i.min_instalments) & (share >= i.min_share)
                & (share - other >= i.min_excess))

    return agg.select("firm_id", **{i.code: holds(i) for i in items})


def _flow_items(tx: ir.Table, d: ir.DateScalar, items: list[FlowItem]) -> ir.Table | None:
    if not items:
        return None
    longest = max(i.lookback_months for i in items)
    w = tx.filter((tx.txn_date <= d) & (tx.txn_date > _months_before(d, longest)))
    w = w.mutate(_month=w.txn_date.month())
    aggs: dict[str, ir.Value] = {}
    for i in items:
        value = {"in": ibis.ifelse(w.amount > 0, w.amount, 0.0),
                 "out": ibis.ifelse(w.amount < 0, -w.amount, 0.0),
                 "both": w.amount.abs()}[i.direction]
        recent = w.txn_date > _months_before(d, i.lookback_months)
        aggs[f"{i.code}__m"] = value.sum(where=recent & w._month.isin(list(i.months)))
        aggs[f"{i.code}__v"] = value.sum(where=recent & w._month.isin(list(i.versus_months)))
    agg = w.group_by("firm_id").agg(**aggs)
    out = {}
    for i in items:
        m = agg[f"{i.code}__m"].fill_null(0.0) / len(i.months)
        v = agg[f"{i.code}__v"].fill_null(0.0) / len(i.versus_months)
        out[i.code] = (v > 0) & (m >= i.min_ratio * v)
    return agg.select("firm_id", **out)


def _concentration_items(tx: ir.Table, d: ir.DateScalar,
                         items: list[ConcentrationItem]) -> list[ir.Table]:
    tables = []
    for i in items:
        w = tx.filter((tx.txn_date <= d) & (tx.txn_date > _months_before(d, i.lookback_months))
                      & (tx.amount > 0))
        by_party = (w.mutate(_party=w.counterparty.fill_null("(none)"))
                    .group_by(["firm_id", "_party"]).agg(_in=lambda x: x.amount.sum()))
        ranked = by_party.mutate(
            _rank=ibis.row_number().over(group_by="firm_id", order_by=ibis.desc("_in")))
        top = ranked.group_by("firm_id").agg(
            _top=lambda x, n=i.top: x._in.sum(where=x._rank < n), _all=lambda x: x._in.sum())
        tables.append(top.select("firm_id", **{
            i.code: top._top >= i.min_share * top._all.nullif(0.0)}))
    return tables


def _bureau_items(b: ir.Table, d: ir.DateScalar, items: list[BureauItem],
                  defaults: list[DefaultItem]) -> ir.Table | None:
    if not items and not defaults:
        return None
    upto = b.filter(b.report_date <= d)
    ranked = upto.mutate(
        _latest=ibis.row_number().over(group_by="firm_id", order_by=ibis.desc("report_date"))
        == 0)
    aggs: dict[str, ir.Value] = {}
    for i in items:
        col = ranked[i.column]
        if i.agg == "latest":
            where = ranked._latest & (ranked.report_date > _months_before(d, i.lookback_months))
        else:
            where = ranked.report_date > _months_before(d, i.lookback_months)
        aggs[i.code] = (col >= i.at_least).any(where=where)
    for dfl in defaults:
        aggs[f"{dfl.code}__bureau"] = ((ranked.max_dpd_12m >= dfl.min_dpd)
                                       | (ranked.written_off > 0)).any(where=ranked._latest)
    return ranked.group_by("firm_id").agg(**aggs)


def _own_default(loans: ir.Table, rep: ir.Table, d: ir.DateScalar,
                 defaults: list[DefaultItem]) -> ir.Table | None:
    if not defaults:
        return None
    started = loans.filter(loans.start_date <= d).select("loan_id", "firm_id")
    due = rep.filter(rep.due_date <= d).inner_join(started, "loan_id")
    unpaid = due.paid_date.isnull() | (due.paid_date > d)
    dpd = d.delta(due.due_date, unit="day")
    return due.group_by("firm_id").agg(
        **{f"{i.code}__own": (unpaid & (dpd >= i.min_dpd)).any() for i in defaults})


def _campaign_items(c: ir.Table, d: ir.DateScalar, months: int,
                    items: list[CampaignItem]) -> ir.Table | None:
    if not items:
        return None
    w = c.filter((c.contact_date <= d) & (c.contact_date > _months_before(d, months)))
    return w.group_by("firm_id").agg(**{
        i.code: ((w.responded if i.responded else ibis.literal(True))
                 & _in(w["product"], i.product)).any() for i in items})


def _profile_items(profile: pd.DataFrame, vocab: ItemVocabulary) -> pd.DataFrame:
    sizes = [i for i in vocab.items if isinstance(i, SizeItem)]
    others = [i for i in vocab.items if isinstance(i, ProfileItem)]
    needed = {"firm_id", *(["size_class"] if sizes else []),
              *(c for i in others for c in i.columns)}
    missing = sorted(needed - set(profile.columns))
    if missing:
        raise SchemaError(
            f"profile: columns {', '.join(missing)} are missing; pass the profile that "
            "creditpersona.profile.build computes (or load_profile), or drop the items that "
            "read them from the vocabulary.")
    p = profile.drop_duplicates("firm_id").set_index("firm_id")
    out = pd.DataFrame(index=p.index)
    for s in sizes:
        out[s.code] = p["size_class"].isin(s.classes)
    for i in others:
        if i.any_of:
            out[i.code] = p[list(i.any_of)].fillna(False).astype(bool).any(axis=1)
            continue
        x = pd.to_numeric(p[i.column], errors="coerce")
        hit = pd.Series(True, index=p.index)
        if i.at_least is not None:
            hit &= x >= i.at_least
        if i.below is not None:
            hit &= x < i.below
        out[i.code] = hit & x.notna()
    return out


def behaviour_items(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame | None = None,
    personas: pd.Series | None = None,
    *,
    vocabulary: ItemVocabulary | None = None,
) -> pd.DataFrame:
    """The one-hot behaviour basket: one row per firm founded by ``as_of``, one bool per item.

    Parameters
    ----------
    store : Store
        The store holding the contract tables.
    as_of : datetime.date
        Nothing dated after it is read.
    profile : pandas.DataFrame, optional
        The profile as of ``as_of`` (``firm_id``, ``size_class`` and the columns the
        profile items read). Default: the profile stored for ``as_of``.
    personas : pandas.Series, optional
        Persona name per firm (index ``firm_id``). Adds one ``persona_<name>`` item per
        persona; without it the basket has no persona items.
    vocabulary : ItemVocabulary, optional
        Default: :func:`load_items`.

    Returns
    -------
    pandas.DataFrame
        Index ``firm_id`` (sorted), one bool column per item in vocabulary order, then the
        persona items in sorted order.

    Raises
    ------
    StoreError
        If no profile is given and none is stored for ``as_of``.
    SchemaError
        If the profile lacks a column an item reads.
    ConfigurationError
        If ``personas`` is not a Series of names.
    """
    vocab = vocabulary or load_items()
    if profile is None:
        profile = stored_profile(store, as_of)
    return basket_items({t: store.table(t) for t in ITEM_TABLES}, as_of, profile, personas,
                        vocabulary=vocab)


def stored_profile(store: Store, as_of: dt.date) -> pd.DataFrame:
    """The profile stored for ``as_of``.

    Raises
    ------
    StoreError
        If none is stored.
    """
    from creditpersona.profile.build import PROFILES, load_profile

    profile = load_profile(store, as_of)
    if profile.empty:
        raise StoreError(
            f"{store.path}: table {PROFILES} holds no profile as of {as_of}; run "
            f"`creditpersona profile --as-of {as_of}` first or pass the profile.")
    return profile


#: The contract tables the items read.
ITEM_TABLES = ("firms", "loans", "repayments", "transactions", "bureau_reports",
               "campaign_contacts")


def basket_items(
    tables: Mapping[str, ir.Table | pd.DataFrame],
    as_of: dt.date,
    profile: pd.DataFrame,
    personas: pd.Series | None = None,
    *,
    vocabulary: ItemVocabulary | None = None,
    persona_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:func:`behaviour_items` of the firms in ``tables`` (the rules' per-firm kernel).

    Every item of a firm reads that firm's rows only, so the basket of a bucket of whole
    firms is the bucket's rows of the basket of every firm.

    Parameters
    ----------
    tables : mapping of str to ibis.Table or pandas.DataFrame
        The contract tables of :data:`ITEM_TABLES`: the store's, or a bucket's rows as
        pandas frames (queried in process through Ibis).
    as_of : datetime.date
    profile : pandas.DataFrame
        The profile rows of these firms.
    personas : pandas.Series, optional
        Persona name per firm (index ``firm_id``).
    vocabulary : ItemVocabulary, optional
    persona_names : sequence of str, optional
        The persona items to build (default: the names in ``personas``); a bucket passes
        every persona of the portfolio so that all buckets have the same columns.

    Returns
    -------
    pandas.DataFrame
        As :func:`behaviour_items`.
    """
    if personas is not None and not isinstance(personas, pd.Series):
        raise parameter_error("personas", "behaviour_items",
                              "a pandas Series of persona names indexed by firm_id",
                              type(personas).__name__)
    vocab = vocabulary or load_items()
    rows = {n: t for n, t in tables.items() if isinstance(t, pd.DataFrame)}
    with bucket_tables(rows) as bucket:
        items = _table_items({**tables, **bucket}, as_of, vocab)
    frame = items.join(_profile_items(profile, vocab), how="left")
    for dfl in vocab.of_kind("default"):
        frame[dfl.code] = (frame.pop(f"{dfl.code}__bureau").fillna(False).astype(bool)
                           | frame.pop(f"{dfl.code}__own").fillna(False).astype(bool))
    basket = frame[[i.code for i in vocab.items]].fillna(False).astype(bool)
    if personas is not None or persona_names is not None:
        names = (pd.Series(dtype=str) if personas is None else personas).dropna().astype(str)
        aligned = names.reindex(basket.index)
        for name in sorted(names.unique()) if persona_names is None else persona_names:
            basket[persona_item(name)] = (aligned == name).to_numpy()
    basket.index.name = "firm_id"
    return basket


def _table_items(tables: Mapping[str, ir.Table], as_of: dt.date,
                 vocab: ItemVocabulary) -> pd.DataFrame:
    """The items the contract tables give, one row per firm founded by ``as_of``, sorted."""
    d = ibis.literal(as_of, type="date")
    look = vocab.lookback_months
    firms = tables["firms"]
    firms = firms.filter(firms.founded_on <= d)
    loans, rep, tx = tables["loans"], tables["repayments"], tables["transactions"]

    def kind(k: str) -> list[Any]:
        return vocab.of_kind(k)

    base = firms.select("firm_id", **_industry_items(firms, kind("industry")))
    parts = [
        _loan_items(loans, d, look.loans, kind("loan")),
        _schedule_items(loans, rep, d, look.loans, kind("schedule")),
        _repayment_items(loans, rep, d, look.repayments, kind("repayment")),
        _flow_items(tx, d, kind("flow")),
        *_concentration_items(tx, d, kind("concentration")),
        _bureau_items(tables["bureau_reports"], d, kind("bureau"), kind("default")),
        _own_default(loans, rep, d, kind("default")),
        _campaign_items(tables["campaign_contacts"], d, look.campaigns, kind("campaign")),
    ]
    out = base
    for part in parts:
        if part is None:
            continue
        out = out.left_join(part, "firm_id").select(
            *out.columns, *[c for c in part.columns if c != "firm_id"])
    return out.to_pandas().set_index("firm_id").sort_index()
