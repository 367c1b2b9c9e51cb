"""Behaviour items per firm (one-hot basket) for association rules, built as Ibis expressions.

The item vocabulary lives in ``items.yaml`` (validated here): every item is one yes/no fact
about a firm on the as-of date with its Chinese and English label and its thresholds; the
same file declares the item families (by code prefix), the questions the rules answer and
the pairs of items that are true by definition (used by :mod:`~creditpersona.rules.mining`). Items
come from the contract tables through the query engine — industry from ``firms``, loans held
and their terms from ``loans``, repayment patterns and instalment spacing from
``repayments``, seasonal flow patterns and customer concentration from ``transactions``,
inquiry bursts and default from ``bureau_reports``, campaign responses from
``campaign_contacts`` — and from the stored profile (size class, financial ratios, the text
flags that ``documents`` gave). The hidden truth of a synthetic bank is never read; personas
come in only through the optional ``personas`` input.

Point in time: nothing dated after the as-of date is read. A loan counts from its start
date, an instalment from its due date (paid after the as-of date counts as unpaid, and
then as late by the days since it was due), flows, bureau reports and contacts from their
dates, each within its look-back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.contract.schema import COLLATERAL, GUARANTEE, LPR_TENORS, PRODUCTS, PURPOSES
from creditpersona.domain.size_class import SIZE_CLASSES
from creditpersona.errors import SchemaError, StoreError, parameter_error
from creditpersona.store.store import Store

__all__ = [
    "ItemVocabulary",
    "Question",
    "behaviour_items",
    "load_items",
    "persona_item",
]

_CODE = r"^[a-z][a-z0-9_]*$|^sec_[A-T]$"
PERSONA_PREFIX = "persona_"


def persona_item(name: str) -> str:
    """The item code of a persona name.

    Examples
    --------
    >>> persona_item("growth_tech")
    'persona_growth_tech'
    """
    return f"{PERSONA_PREFIX}{name}"


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _subset(values: Sequence[str] | None, allowed: tuple[str, ...], what: str) -> None:
    bad = sorted(set(values or ()) - set(allowed))
    if bad:
        raise ValueError(f"unknown {what} {', '.join(bad)}; allowed: {', '.join(allowed)}")


class IndustryItem(_Item):
    """The firm's GB/T 4754 code starts with one of ``prefixes`` (sections or divisions)."""

    kind: Literal["industry"]
    prefixes: tuple[Annotated[str, Field(pattern=r"^[A-T]([0-9]{2,4})?$")], ...] = Field(
        min_length=1)


class SizeItem(_Item):
    """The profile's MIIT size class is one of ``classes``."""

    kind: Literal["size"]
    classes: tuple[str, ...] = Field(min_length=1)

    @field_validator("classes")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _subset(v, SIZE_CLASSES, "size class")
        return v


class LoanItem(_Item):
    """The firm took a loan in the look-back that matches every given condition."""

    kind: Literal["loan"]
    product: tuple[str, ...] | None = None
    purpose: tuple[str, ...] | None = None
    collateral_type: tuple[str, ...] | None = None
    guarantee_type: tuple[str, ...] | None = None
    lpr_tenor: tuple[str, ...] | None = None
    min_term_months: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _conditions(self) -> LoanItem:
        _subset(self.product, PRODUCTS, "product")
        _subset(self.purpose, PURPOSES, "purpose")
        _subset(self.collateral_type, COLLATERAL, "collateral type")
        _subset(self.guarantee_type, GUARANTEE, "guarantee type")
        _subset(self.lpr_tenor, LPR_TENORS, "LPR tenor")
        if not any((self.product, self.purpose, self.collateral_type, self.guarantee_type,
                    self.lpr_tenor, self.min_term_months)):
            raise ValueError(f"loan item {self.code} needs at least one condition")
        return self


class ScheduleItem(_Item):
    """A loan in the look-back whose instalments fall at least ``min_gap_days`` apart."""

    kind: Literal["schedule"]
    min_gap_days: int = Field(ge=1)


class RepaymentItem(_Item):
    """A repayment pattern: early, on-time or late instalments, optionally in a season."""

    kind: Literal["repayment"]
    pattern: Literal["early", "on_time", "late"]
    early_days: int = Field(default=3, ge=1)
    late_days: int = Field(default=0, ge=0)
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None
    min_share: float = Field(gt=0, le=1)
    min_excess: float = Field(default=0.0, ge=0, le=1)
    min_instalments: int = Field(default=1, ge=1)


class FlowItem(_Item):
    """Flows in ``months`` against ``versus`` (monthly averages) reach ``min_ratio``."""

    kind: Literal["flow"]
    direction: Literal["in", "out", "both"]
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = Field(min_length=1)
    versus: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ()
    min_ratio: float = Field(gt=0)
    lookback_months: int = Field(ge=1)

    @model_validator(mode="after")
    def _disjoint(self) -> FlowItem:
        if set(self.months) & set(self.versus):
            raise ValueError(f"flow item {self.code}: months and versus overlap")
        return self

    @property
    def versus_months(self) -> tuple[int, ...]:
        """The comparison months (all the others when ``versus`` is empty)."""
        return self.versus or tuple(m for m in range(1, 13) if m not in self.months)


class ConcentrationItem(_Item):
    """The ``top`` counterparties bring at least ``min_share`` of the firm's receipts."""

    kind: Literal["concentration"]
    top: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)
    lookback_months: int = Field(ge=1)


_BUREAU_COLUMNS = ("lenders", "outstanding_balance", "overdue_count_12m", "overdue_count_24m",
                   "max_dpd_12m", "max_dpd_24m", "guarantees_given", "inquiries_1m",
                   "inquiries_3m", "inquiries_6m", "inquiries_12m", "written_off")


class BureauItem(_Item):
    """A bureau field, in the latest report or at its maximum over the look-back."""

    kind: Literal["bureau"]
    column: str
    agg: Literal["latest", "max"]
    at_least: float
    lookback_months: int = Field(ge=1)

    @field_validator("column")
    @classmethod
    def _known(cls, v: str) -> str:
        _subset((v,), _BUREAU_COLUMNS, "bureau_reports column")
        return v


class DefaultItem(_Item):
    """In default: ``min_dpd`` days past due at the bureau or with us, or written off."""

    kind: Literal["default"]
    min_dpd: int = Field(ge=1)


class ProfileItem(_Item):
    """A threshold on a profile column, or any of several boolean profile columns."""

    kind: Literal["profile"]
    column: str | None = None
    at_least: float | None = None
    below: float | None = None
    any_of: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ProfileItem:
        threshold = self.column is not None and (self.at_least is not None
                                                 or self.below is not None)
        if threshold == bool(self.any_of):
            raise ValueError(f"profile item {self.code} needs either column with at_least/"
                             "below, or any_of")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """The profile columns the item reads."""
        return self.any_of or ((self.column,) if self.column else ())


class CampaignItem(_Item):
    """The firm was contacted in a campaign in the look-back (and responded, if asked)."""

    kind: Literal["campaign"]
    responded: bool = True
    product: tuple[str, ...] | None = None

    @field_validator("product")
    @classmethod
    def _known(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        _subset(v, PRODUCTS, "product")
        return v


Item = Annotated[
    IndustryItem | SizeItem | LoanItem | ScheduleItem | RepaymentItem | FlowItem
    | ConcentrationItem | BureauItem | DefaultItem | ProfileItem | CampaignItem,
    Field(discriminator="kind"),
]


class Family(BaseModel):
    """A family of items: the items whose code starts with one of ``prefixes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    prefixes: tuple[str, ...] = Field(min_length=1)


class Question(BaseModel):
    """A question the rules answer: which families may follow, which may not lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    consequents: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()
    max_rules: int = Field(ge=1)


class Definitional(BaseModel):
    """Items (or families) on the left and on the right never form a rule together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    left: tuple[str, ...] = Field(min_length=1)
    right: tuple[str, ...] = Field(min_length=1)
    why: str = Field(min_length=1)


class Label(BaseModel):
    """How a sentence names a persona."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Lookback(BaseModel):
    """Months of history that count, per source without a per-item look-back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loans: int = Field(ge=1)
    repayments: int = Field(ge=1)
    campaigns: int = Field(ge=1)


class MiningDefaults(BaseModel):
    """Default search and test settings of :func:`creditpersona.rules.mining.mine_rules`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_support: float = Field(gt=0, le=1)
    min_count: int = Field(ge=1)
    max_len: int = Field(ge=2)
    correction: Literal["bh", "holm"]
    alpha: float = Field(gt=0, lt=1)
    max_overlap: float = Field(gt=0, le=1)
    shuffle_seed: int = Field(ge=0)


class ItemVocabulary(BaseModel):
    """The whole item vocabulary, versioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    lookback_months: Lookback
    mining: MiningDefaults
    families: dict[str, Family]
    questions: dict[str, Question] = Field(min_length=1)
    definitional: tuple[Definitional, ...] = ()
    personas: dict[str, Label] = Field(default_factory=dict)
    items: tuple[Item, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ItemVocabulary:
        codes = [i.code for i in self.items]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"item codes {', '.join(repeated)} appear more than once")
        clash = [c for c in codes if c.startswith(PERSONA_PREFIX)]
        if clash:
            raise ValueError(f"item codes {', '.join(clash)}: '{PERSONA_PREFIX}' is reserved for "
                             "persona items")
        prefixes = [p for f in self.families.values() for p in f.prefixes]
        shared = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if shared:
            raise ValueError(f"family prefixes {', '.join(shared)} appear more than once")
        persona = self.families.get("persona")
        if persona is None or persona.prefixes != (PERSONA_PREFIX,):
            raise ValueError(f"the families must declare persona with prefixes "
                             f"[{PERSONA_PREFIX}]")
        orphans = [c for c in codes if self.family_of(c) is None]
        if orphans:
            raise ValueError(f"items {', '.join(orphans)} match no family prefix; add a prefix "
                             "to a family")
        for name, q in self.questions.items():
            unknown = sorted(set(q.consequents + q.exclude) - set(self.families))
            if unknown:
                raise ValueError(f"question {name} names unknown families {', '.join(unknown)}")
        for pair in self.definitional:
            unknown = sorted(set(pair.left + pair.right) - set(self.families) - set(codes))
            if unknown:
                raise ValueError(f"definitional pair ({pair.why}) names {', '.join(unknown)}, "
                                 "neither an item code nor a family")
        return self

    def family_of(self, code: str) -> str | None:
        """The family of an item code: the one with the longest matching prefix.

        Examples
        --------
        >>> vocab = load_items()
        >>> vocab.family_of("repay_late_q1"), vocab.family_of("persona_P3")
        ('repayment', 'persona')
        """
        best, length = None, 0
        for name, fam in self.families.items():
            for p in fam.prefixes:
                if code.startswith(p) and len(p) > length:
                    best, length = name, len(p)
        return best

    def definitional_with(self, code: str, others: Sequence[str]) -> set[str]:
        """The items of ``others`` that ``code`` is paired with by definition (either way).

        Examples
        --------
        >>> sorted(load_items().definitional_with(
        ...     "product_tech_rnd", ["purpose_rnd", "purpose_construction", "long_tenor"]))
        ['long_tenor', 'purpose_rnd']
        """
        def side(entries: tuple[str, ...], item: str) -> bool:
            return item in entries or self.family_of(item) in entries

        out = set()
        for pair in self.definitional:
            for a, b in ((pair.left, pair.right), (pair.right, pair.left)):
                if side(a, code):
                    out |= {o for o in others if side(b, o)}
        return out

    def of_kind(self, kind: str) -> list[Item]:
        """The items of one kind, in vocabulary order."""
        return [i for i in self.items if i.kind == kind]

    def labels(self, personas: Sequence[str] = ()) -> pd.DataFrame:
        """Every item with its family and labels.

        Parameters
        ----------
        personas : sequence of str
            Persona names to add as ``persona_<name>`` items.

        Returns
        -------
        pandas.DataFrame
            Indexed by item code: ``family``, ``zh``, ``en``.

        Examples
        --------
        >>> labels = load_items().labels(["growth_tech"])
        >>> labels.loc["repay_early", ["zh", "en"]].tolist()
        ['提前还款', 'repay early']
        >>> labels.loc["persona_growth_tech", ["family", "zh"]].tolist()
        ['persona', '属于“成长型科技企业”类']
        """
        rows = [{"code": i.code, "family": self.family_of(i.code), "zh": i.zh, "en": i.en}
                for i in self.items]
        for name in personas:
            zh, en = self.persona_names(name)
            rows.append({"code": persona_item(name), "family": "persona", "zh": f"属于“{zh}”类",
                         "en": f"are {en}"})
        return pd.DataFrame(rows).set_index("code")

    def persona_names(self, name: str) -> tuple[str, str]:
        """Chinese and English names of a persona (its code when the vocabulary lacks it)."""
        label = self.personas.get(name)
        return (label.zh, label.en) if label else (f"“{name}”类企业", f"'{name}' firms")


def load_items(path: str | Path | None = None) -> ItemVocabulary:
    """Read and validate an item vocabulary (default: the packaged ``items.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the offending entry when the vocabulary is invalid.

    Examples
    --------
    >>> vocab = load_items()
    >>> vocab.mining.max_len, len(vocab.of_kind("repayment")), list(vocab.questions)
    (3, 4, ['repayment', 'uptake', 'response'])
    """
    return load_yaml_config(ItemVocabulary, "creditpersona.rules", "items.yaml", path,
                            "item vocabulary")


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
    if personas is not None and not isinstance(personas, pd.Series):
        raise parameter_error("personas", "behaviour_items",
                              "a pandas Series of persona names indexed by firm_id",
                              type(personas).__name__)
    vocab = vocabulary or load_items()
    if profile is None:
        from creditpersona.profile.build import PROFILES, load_profile

        profile = load_profile(store, as_of)
        if profile.empty:
            raise StoreError(
                f"{store.path}: table {PROFILES} holds no profile as of {as_of}; run "
                f"`creditpersona profile --as-of {as_of}` first or pass the profile.")
    d = ibis.literal(as_of, type="date")
    look = vocab.lookback_months
    firms = store.table("firms")
    firms = firms.filter(firms.founded_on <= d)
    loans, rep, tx = store.table("loans"), store.table("repayments"), store.table("transactions")

    def kind(k: str) -> list[Any]:
        return vocab.of_kind(k)

    base = firms.select("firm_id", **_industry_items(firms, kind("industry")))
    parts = [
        _loan_items(loans, d, look.loans, kind("loan")),
        _schedule_items(loans, rep, d, look.loans, kind("schedule")),
        _repayment_items(loans, rep, d, look.repayments, kind("repayment")),
        _flow_items(tx, d, kind("flow")),
        *_concentration_items(tx, d, kind("concentration")),
        _bureau_items(store.table("bureau_reports"), d, kind("bureau"), kind("default")),
        _own_default(loans, rep, d, kind("default")),
        _campaign_items(store.table("campaign_contacts"), d, look.campaigns, kind("campaign")),
    ]
    out = base
    for part in parts:
        if part is None:
            continue
        out = out.left_join(part, "firm_id").select(
            *out.columns, *[c for c in part.columns if c != "firm_id"])
    frame = out.to_pandas().set_index("firm_id").sort_index()
    frame = frame.join(_profile_items(profile, vocab), how="left")
    for dfl in kind("default"):
        frame[dfl.code] = (frame.pop(f"{dfl.code}__bureau").fillna(False).astype(bool)
                           | frame.pop(f"{dfl.code}__own").fillna(False).astype(bool))
    basket = frame[[i.code for i in vocab.items]].fillna(False).astype(bool)
    if personas is not None:
        names = personas.dropna().astype(str)
        aligned = names.reindex(basket.index)
        for name in sorted(names.unique()):
            basket[persona_item(name)] = (aligned == name).to_numpy()
    basket.index.name = "firm_id"
    return basket
