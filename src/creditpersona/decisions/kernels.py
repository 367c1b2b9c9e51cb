"""The decision stage as kernels: a global fit, then per-firm work on any bucket of firms.

Every decision of a firm (value, pricing, limit, five-tier classification, early warning,
monitoring plan) depends on the firm's own rows only, once three global things are known:
the configuration, the early-warning rules and the prospect-value model (a regression of
customers' revenue contribution on their profiles). So the stage splits in two:

* :func:`fit_decisions` ``(sample, as_of) -> DecisionModel``: everything global. It computes
  the customers' values on ``sample`` (whole firms with their loans: every firm on the
  embedded engine, a capped sample of firms on Spark) and fits the prospect-value model on
  them; it also records which earlier quarters' profiles the change rules compare with.
* :func:`apply_decisions` ``(model, frames) -> DecisionResult``: pure and deterministic
  on the rows of whole firms. Run on any partition of the firms and concatenated
  (:func:`concat_decisions`) it gives exactly the result on all firms
  (``tests/test_kernels.py`` proves it on three random buckets).

:func:`decision_frames` gathers a bucket's inputs (:class:`DecisionFrames`) with the same
Ibis queries the embedded engine runs on the store, from the store's tables or from pandas
frames of the bucket's contract rows. :func:`~creditpersona.decisions.stage.decision_stage`
is ``decision_frames`` → ``fit_decisions`` → ``apply_decisions`` on every firm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.decisions.classification import classify_firms, classify_loans
from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.limits import recommend_limits, statement_inputs
from creditpersona.decisions.pricing import price_loans
from creditpersona.decisions.value import (
    PROSPECT_FEATURES,
    ProspectValueModel,
    customer_value,
    exposures,
    require_columns,
)
from creditpersona.decisions.warning import (
    WarningRules,
    evaluate_warnings,
    load_warning_rules,
    monitoring_plans,
)
from creditpersona.store.buckets import bucket_tables

__all__ = ["DecisionFrames", "DecisionModel", "DecisionResult", "apply_decisions",
           "concat_decisions", "decided_firms", "decision_frames", "fit_apply_decisions",
           "fit_decisions"]

#: The column of the firm's credit strategy (persona-policy code) in the decisions' inputs.
STRATEGY = "persona_strategy"
#: Customers needed before the prospect-value model is fitted.
MIN_CUSTOMERS_FOR_MODEL = 30
#: Amount of the indicative quote for a firm without a positive limit (yuan).
REFERENCE_AMOUNT = 1_000_000.0
#: The key of each decision table: concatenated buckets sorted by it equal the whole.
KEYS = {"value": ["firm_id"], "pricing": ["firm_id", "product"], "limits": ["firm_id"],
        "classification": ["firm_id"], "loans": ["loan_id"], "plans": ["firm_id"]}


@artefacts.trusted("decision_result")
@dataclass(frozen=True)
class DecisionResult:
    """Every decision table of one as-of date (one row per firm unless said otherwise).

    Attributes
    ----------
    as_of : datetime.date
    value : customer value, contribution, RAROC, 3-year projection, predicted contribution
    pricing : indicative quote in the persona's main product (the limit, or a reference amount)
    limits : limit, its constraints and the binding one
    classification : five-tier classification per firm with a loan at the bank
    loans : five-tier classification per loan
    watchlist : firms on the watch-list with bilingual reasons
    plans : monitoring plan per firm (review frequency, triggers, actions)
    skipped_rules : change rules skipped for want of an earlier profile
    """

    as_of: dt.date
    value: pd.DataFrame
    pricing: pd.DataFrame
    limits: pd.DataFrame
    classification: pd.DataFrame
    loans: pd.DataFrame
    watchlist: pd.DataFrame
    plans: pd.DataFrame
    skipped_rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DecisionFrames:
    """The inputs of the decisions of some whole firms (all rows of each firm).

    Attributes
    ----------
    profile : pandas.DataFrame
        One row per firm: the profile of the as-of date.
    scores : pandas.DataFrame
        One row per firm: ``firm_id``, ``pd``, ``grade`` and optionally ``persona_strategy``
        (the firm's credit strategy code; else the profile's ``persona_strategy`` column,
        else ``default``).
    book : pandas.DataFrame
        One row per loan of these firms still owed on the as-of date
        (:func:`~creditpersona.decisions.value.exposures`).
    statements : pandas.DataFrame
        One row per firm with an annual statement
        (:func:`~creditpersona.decisions.limits.statement_inputs`).
    previous : dict of int to pandas.DataFrame
        The profiles of these firms ``q`` quarters before (the change rules' look-backs);
        only the features the change rules compare are read.
    """

    profile: pd.DataFrame
    scores: pd.DataFrame
    book: pd.DataFrame
    statements: pd.DataFrame
    previous: dict[int, pd.DataFrame] = field(default_factory=dict)

    def only(self, firms: Iterable[str]) -> DecisionFrames:
        """The same frames restricted to ``firms`` (a bucket, or a sample for the fit)."""
        keep = pd.Index(list(firms)).astype(str)

        def cut(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["firm_id"].astype(str).isin(keep)].reset_index(drop=True)

        return DecisionFrames(cut(self.profile), cut(self.scores), cut(self.book),
                              cut(self.statements),
                              {q: cut(p) for q, p in self.previous.items()})


@dataclass(frozen=True)
class DecisionModel:
    """What the decisions need beyond a firm's own rows (small; broadcast to the workers).

    Attributes
    ----------
    as_of : datetime.date
    config : DecisionsConfig
    rules : WarningRules
    prospect : ProspectValueModel or None
        Predicts prospects' revenue contribution; None when the sample held fewer than
        :data:`MIN_CUSTOMERS_FOR_MODEL` customers.
    customers : int
        Customers the prospect model learned from.
    previous_columns : dict of int to tuple of str
        The earlier quarters whose profiles exist (quarters back → their columns): the
        change rules of the other look-backs are skipped everywhere, whatever a bucket holds.
    """

    as_of: dt.date
    config: DecisionsConfig
    rules: WarningRules
    prospect: ProspectValueModel | None
    customers: int
    previous_columns: dict[int, tuple[str, ...]] = field(default_factory=dict)


def decision_frames(
    tables: Mapping[str, ir.Table | pd.DataFrame],
    as_of: dt.date,
    profile: pd.DataFrame,
    scores: pd.DataFrame,
    previous: Mapping[int, pd.DataFrame] | None = None,
    *,
    config: DecisionsConfig | None = None,
) -> DecisionFrames:
    """Gather the decision inputs of some whole firms with the embedded engine's queries.

    Parameters
    ----------
    tables : mapping of str to ibis.Table or pandas.DataFrame
        ``loans``, ``repayments`` and ``financial_statements`` of the contract: the store's
        tables, or a bucket's rows as pandas frames (queried in process through Ibis).
    as_of : datetime.date
    profile, scores : pandas.DataFrame
        As :class:`DecisionFrames` (one row per firm).
    previous : mapping of int to pandas.DataFrame, optional
        Earlier profiles by quarters back.
    config : DecisionsConfig, optional

    Raises
    ------
    SchemaError
        If ``scores`` or ``profile`` lacks a column the decisions need.
    """
    cfg = config or load_decisions()
    require_columns(scores, ["firm_id", "pd", "grade"], "the PD scores")
    require_columns(profile, ["firm_id"], "the profile")
    rows = {n: t for n, t in tables.items() if isinstance(t, pd.DataFrame)}
    with bucket_tables(rows) as bucket:
        t = {**tables, **bucket}
        book, statements = exposures(t, as_of, cfg), statement_inputs(t, as_of)
    return DecisionFrames(_one_per_firm(profile), _one_per_firm(scores), book, statements,
                          dict(previous or {}))


def _one_per_firm(frame: pd.DataFrame) -> pd.DataFrame:
    """The first row of each firm, renumbered; a frame already one row per firm (the
    cycle's profile) is not copied row by row."""
    if frame["firm_id"].is_unique:
        return frame.reset_index(drop=True)
    return frame.drop_duplicates("firm_id").reset_index(drop=True)


def decided_firms(frames: DecisionFrames) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """The firms decided (profile ⋈ scores, with ``persona_strategy``), the persona by firm and the
    scores' ``firm_id, pd, grade``."""
    persona_map = pd.Series(dtype=object)
    for frame in (frames.scores, frames.profile):
        if STRATEGY in frame.columns:
            persona_map = frame.drop_duplicates("firm_id").set_index("firm_id")[STRATEGY]
            break
    s = frames.scores.drop_duplicates("firm_id")[["firm_id", "pd", "grade"]]
    profile = frames.profile
    base = profile.drop(columns=[c for c in ("pd", "grade", STRATEGY) if c in profile.columns])
    # A copy, consolidated: a profile Spark hands over is one block per column, and adding
    # a column to a frame of more than 100 blocks warns (pandas' PerformanceWarning).
    firms = base.merge(s, on="firm_id", how="inner").copy()
    firms[STRATEGY] = firms["firm_id"].map(persona_map)
    return firms, persona_map, s


def fit_decisions(sample: DecisionFrames, as_of: dt.date, *,
                  config: DecisionsConfig | None = None,
                  rules: WarningRules | None = None,
                  previous_columns: Mapping[int, Sequence[str]] | None = None,
                  ) -> DecisionModel:
    """Everything global of the decisions, from whole firms (all of them, or a sample).

    Parameters
    ----------
    sample : DecisionFrames
        Whole firms with their loans: the prospect-value model learns from its customers'
        contributions. The embedded engine passes every firm; on Spark a sample of firms
        (:func:`~creditpersona.decisions.kernels.DecisionFrames.only`) bounds the driver.
    as_of : datetime.date
    config, rules : optional
        Default: the packaged ``decisions.yaml`` and ``warning_rules.yaml``.
    previous_columns : mapping of int to sequence of str, optional
        The earlier profiles that exist, by quarters back, with their columns; default those
        of ``sample.previous`` that hold rows (give it when the sample is not every firm).

    Returns
    -------
    DecisionModel
    """
    cfg = config or load_decisions()
    firms, _, _ = decided_firms(sample)
    return _fit(sample, firms, customer_value(firms, sample.book, cfg), as_of, cfg,
                rules or load_warning_rules(), previous_columns)


def _fit(sample: DecisionFrames, firms: pd.DataFrame, value: pd.DataFrame, as_of: dt.date,
         cfg: DecisionsConfig, rs: WarningRules,
         previous_columns: Mapping[int, Sequence[str]] | None) -> DecisionModel:
    """:func:`fit_decisions` from the sample's decided firms and their customer values."""
    customers = value["customer"].to_numpy()
    prospect = None
    if customers.sum() >= MIN_CUSTOMERS_FOR_MODEL:
        # Only the model's features are cut to the customers (not every profile column).
        features = [c for c in PROSPECT_FEATURES if c in firms.columns]
        prospect = ProspectValueModel().fit(firms[features][customers],
                                            value.loc[customers, "revenue_contribution"])
    if previous_columns is None:
        previous_columns = {q: tuple(map(str, p.columns))
                            for q, p in sample.previous.items() if len(p)}
    return DecisionModel(as_of, cfg, rs, prospect, int(customers.sum()),
                         {int(q): tuple(c) for q, c in previous_columns.items()})


def apply_decisions(model: DecisionModel, frames: DecisionFrames) -> DecisionResult:
    """Every decision of the firms of ``frames`` (pure; chunk-invariant).

    Parameters
    ----------
    model : DecisionModel
        From :func:`fit_decisions`.
    frames : DecisionFrames
        Whole firms: every row of each firm present.

    Returns
    -------
    DecisionResult
        The firms' rows of every decision table; the watch-list most points first.
    """
    firms, persona_map, s = decided_firms(frames)
    return _apply(model, frames, firms, persona_map, s,
                  customer_value(firms, frames.book, model.config))


def fit_apply_decisions(frames: DecisionFrames, as_of: dt.date, *,
                        config: DecisionsConfig | None = None,
                        rules: WarningRules | None = None) -> DecisionResult:
    """``apply_decisions(fit_decisions(frames, as_of), frames)`` — the embedded engine,
    whose fit sees every firm it decides — with the decided firms and their customer
    values computed once for both (the same frames, so the same numbers)."""
    cfg = config or load_decisions()
    firms, persona_map, s = decided_firms(frames)
    value = customer_value(firms, frames.book, cfg)
    # The fit reads ``customer`` and ``revenue_contribution``; ``_apply`` adds columns after.
    model = _fit(frames, firms, value, as_of, cfg, rules or load_warning_rules(), None)
    return _apply(model, frames, firms, persona_map, s, value)


def _apply(model: DecisionModel, frames: DecisionFrames, firms: pd.DataFrame,
           persona_map: pd.Series, s: pd.DataFrame, value: pd.DataFrame) -> DecisionResult:
    """:func:`apply_decisions` from the decided firms (:func:`decided_firms`) and their
    customer values (:func:`~creditpersona.decisions.value.customer_value`)."""
    cfg, rs = model.config, model.rules
    value["predicted_contribution"] = (model.prospect.predict(firms) if model.prospect
                                       is not None else np.nan)
    value.insert(1, "persona_policy", cfg.persona_code(firms[STRATEGY], len(firms)))
    limits = _limits(firms, frames.book, frames.statements, cfg)
    pricing = price_loans(_quote_requests(limits, cfg), firms, cfg)
    loans = classify_loans(frames.book, cfg.classification)
    classification = classify_firms(loans)
    profile = frames.profile
    warn = evaluate_warnings(profile, _previous(model, frames), rs,
                             persona=profile["firm_id"].map(persona_map))
    watch = _watchlist(warn.watchlist, s, classification)
    plans = monitoring_plans(warn.firms, model.as_of, cfg, rs)
    return DecisionResult(model.as_of, value, pricing, limits, classification, loans, watch,
                          plans, warn.skipped)


def _previous(model: DecisionModel, frames: DecisionFrames) -> dict[int, pd.DataFrame]:
    """The earlier profiles the model knows exist, for this bucket's firms: a bucket
    whose firms are all new still compares (with nothing), as on every firm."""
    out = {}
    for q, columns in model.previous_columns.items():
        frame = frames.previous.get(q)
        if frame is None or not len(frame):
            ids = frames.profile["firm_id"].to_numpy()
            frame = pd.DataFrame({c: ids if c == "firm_id" else np.nan for c in columns},
                                 index=pd.RangeIndex(len(ids)))
            if not len(frame):  # an empty bucket: nothing to compare, nothing skipped
                frame = pd.DataFrame({c: [np.nan] for c in columns}).assign(firm_id="")
        out[q] = frame
    return out


def _limits(firms: pd.DataFrame, book: pd.DataFrame, statements: pd.DataFrame,
            cfg: DecisionsConfig) -> pd.DataFrame:
    """Recommended limits: bank debt from the bureau, else from the statements."""
    our = book.groupby("firm_id")["outstanding"].sum()
    st_debt = statements.set_index("firm_id")[["short_term_debt", "long_term_debt"]].sum(axis=1)
    bureau = (firms.set_index("firm_id")["bureau_outstanding"]
              if "bureau_outstanding" in firms.columns else pd.Series(dtype=float))
    bank_debt = bureau.reindex(firms["firm_id"]).fillna(st_debt.reindex(firms["firm_id"]))
    return recommend_limits(firms, statements, cfg, our_exposure=our, bank_debt=bank_debt)


def _quote_requests(limits: pd.DataFrame, cfg: DecisionsConfig) -> pd.DataFrame:
    """An indicative quote per firm not in default: the recommended limit in the persona's
    main product (per-unit components do not depend on the amount; a firm without a limit
    is quoted on a reference amount so that its price is still known)."""
    quoted = limits["binding"].to_numpy() != "no_new_credit"
    has_limit = limits["recommended_limit"].to_numpy() > 0
    requests = pd.DataFrame({
        "firm_id": limits["firm_id"], "product": limits["product"],
        "amount": np.where(has_limit, limits["recommended_limit"], REFERENCE_AMOUNT),
        "amount_basis": np.where(has_limit, "limit", "reference"),
    })[quoted].reset_index(drop=True)
    requests["term_months"] = cfg.product_values(requests["product"], "term_months")
    return requests


def _watchlist(watchlist: pd.DataFrame, scores: pd.DataFrame,
               classification: pd.DataFrame) -> pd.DataFrame:
    """The watch-list with each firm's PD, grade, five-tier class and outstanding."""
    tiers = classification.set_index("firm_id")
    watch = watchlist.merge(scores, on="firm_id", how="left")
    watch["tier"] = watch["firm_id"].map(tiers["tier"]).fillna("no_loan")
    watch["outstanding"] = watch["firm_id"].map(tiers["outstanding"]).fillna(0.0)
    return watch


def concat_decisions(parts: Sequence[DecisionResult]) -> DecisionResult:
    """The decisions of several buckets as one result, each table in a canonical order
    (by its key; the watch-list most points first, then by firm).

    Raises
    ------
    ValueError
        If ``parts`` is empty or its as-of dates differ.
    """
    if not parts or len({p.as_of for p in parts}) != 1:
        raise ValueError("concat_decisions needs one or more results of one as-of date.")

    def joined(name: str) -> pd.DataFrame:
        frame = pd.concat([getattr(p, name) for p in parts], ignore_index=True)
        if name == "watchlist":
            return frame.sort_values(["points", "firm_id"], ascending=[False, True],
                                     ignore_index=True, kind="stable")
        return frame.sort_values(KEYS[name], ignore_index=True, kind="stable")

    return DecisionResult(parts[0].as_of, joined("value"), joined("pricing"),
                          joined("limits"), joined("classification"), joined("loans"),
                          joined("watchlist"), joined("plans"), list(parts[0].skipped_rules))
