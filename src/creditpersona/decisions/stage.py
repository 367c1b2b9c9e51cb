"""The decision stage of the pipeline: value, pricing, limits, classification, monitoring.

:func:`decision_stage` takes the profile and the PD scores of an as-of date, reads the loan
book and the statements from the store through Ibis, computes every decision table and keeps
them in the store (``decision_*`` tables, one set of rows per as-of date: running a date
again replaces that date's rows, other dates stay).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from creditpersona import artefacts
from creditpersona.contract.schema import TABLES
from creditpersona.decisions.classification import classify_firms, classify_loans
from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.kernels import (
    REFERENCE_AMOUNT,
    DecisionResult,
    decision_frames,
    fit_apply_decisions,
)
from creditpersona.decisions.limits import recommend_limits, statement_inputs
from creditpersona.decisions.pricing import price_loans
from creditpersona.decisions.value import exposures
from creditpersona.decisions.warning import (
    WarningRules,
    evaluate_warnings,
    load_warning_rules,
    monitoring_plans,
)
from creditpersona.profile.build import load_profile
from creditpersona.store import results
from creditpersona.store.store import Store

TABLE_NAMES = {"value": results.DECISION_VALUE, "pricing": results.DECISION_PRICING,
               "limits": results.DECISION_LIMITS,
               "classification": results.DECISION_CLASSIFICATION,
               "loans": results.DECISION_LOANS, "watchlist": results.DECISION_WATCHLIST,
               "plans": results.DECISION_PLANS}


def previous_quarter_ends(as_of: dt.date, quarters: list[int]) -> dict[int, dt.date]:
    """The quarter ends ``q`` quarters before ``as_of`` (the latest one before it for q=1).

    Examples
    --------
    >>> previous_quarter_ends(dt.date(2025, 6, 30), [1, 4])
    {1: datetime.date(2025, 3, 31), 4: datetime.date(2024, 6, 30)}
    """
    ts = pd.Timestamp(as_of)
    return {q: (ts - pd.offsets.QuarterEnd(q)).date() for q in quarters}


def previous_profiles(store: Store, as_of: dt.date, rules: WarningRules
                      ) -> dict[int, pd.DataFrame]:
    """The stored profiles of the quarters the change rules look back to (those that hold
    rows), by quarters back: ``firm_id`` and the features the rules compare, nothing else
    (the earlier quarters' other columns are never read by the decisions)."""
    declared = results.TABLES[results.PROFILES].columns
    columns = ["firm_id", *[c for c in rules.compared() if c in declared]]
    wanted = previous_quarter_ends(as_of, rules.lookbacks())
    frames = {q: results.read(store, results.PROFILES, d, columns=columns)
              for q, d in wanted.items()}
    return {q: p for q, p in frames.items() if len(p)}


def decision_stage(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    config: DecisionsConfig | None = None,
    rules: WarningRules | None = None,
    previous: dict[int, pd.DataFrame] | None = None,
    save: bool | None = None,
) -> DecisionResult:
    """Compute (and store) every decision of an as-of date.

    Parameters
    ----------
    store : Store
        The loan book, repayments and statements are read from it; results written to it
        as :func:`creditpersona.store.results.should_save` says.
    as_of : datetime.date
    profile : pandas.DataFrame
        The profile of ``as_of`` (:func:`creditpersona.profile.build.load_profile`).
    scores : pandas.DataFrame
        ``firm_id``, ``pd``, ``grade`` and optionally ``persona_strategy`` (else
        the profile's ``persona_strategy`` column, else the ``default`` policy).
    config, rules : optional
        Default: the packaged ``decisions.yaml`` and ``warning_rules.yaml``.
    previous : dict of int to pandas.DataFrame, optional
        Earlier profiles by quarters back for the change rules; default: those stored.
    save : bool, optional
        Write the results (default: when the store is open for writing).

    Returns
    -------
    DecisionResult

    Raises
    ------
    SchemaError
        If ``scores`` or ``profile`` lacks a column the decisions need.
    StoreError
        If a stored decision table has other columns (an older version).
    """
    cfg = config or load_decisions()
    rs = rules or load_warning_rules()
    if previous is None:
        previous = previous_profiles(store, as_of, rs)
    frames = decision_frames({t.name: store.table(t.name) for t in TABLES
                              if t.name in ("loans", "repayments", "financial_statements")},
                             as_of, profile, scores, previous, config=cfg)
    # The embedded engine is the kernels on every firm: the fit sees them all.
    result = fit_apply_decisions(frames, as_of, config=cfg, rules=rs)
    if results.should_save(store, save):
        save_decisions(store, result)
    return result


def save_decisions(store: Store, result: DecisionResult) -> None:
    """Store every decision table, replacing earlier rows of the same as-of date.

    Raises
    ------
    StoreError
        If a stored decision table has other columns (another version).
    """
    for attr, name in TABLE_NAMES.items():
        results.replace_date(store, name, result.as_of, getattr(result, attr))


def load_decisions_table(store: Store, table: str, as_of: dt.date | None = None) -> pd.DataFrame:
    """A stored decision table (``value``, ``pricing``, … or its full name) of an as-of date.

    Default: the latest stored date. An empty frame if nothing is stored.
    """
    return results.read(store, TABLE_NAMES.get(table, table), as_of)


# Store-facing calls for one firm or the whole book (the command line and, later, the REST
# service serialise what these return).

PD_SCORES = results.PD_SCORES
PERSONAS = results.PERSONAS


def stored_strategies(store: Store, as_of: dt.date, profile: pd.DataFrame) -> pd.Series:
    """The credit strategy (persona-policy code) of every firm, as the cycle derives it.

    The cycle stores each firm's persona (``personas``: ``persona_id``) and maps every
    persona to a strategy with :func:`~creditpersona.decisions.strategy.persona_strategies`
    on the profile of the date; this does the same, so a single-firm decision on the command
    line uses the policy the cycle used. Empty when no persona is stored for the date.
    """
    from creditpersona.decisions.strategy import persona_strategies
    from creditpersona.personas.store import load_assignments

    assigned = load_assignments(store, as_of)
    if assigned.empty or "as_of" in assigned.columns and not (
            pd.to_datetime(assigned["as_of"]).dt.date == as_of).all():
        return pd.Series(dtype=object)
    persona = assigned.drop_duplicates("firm_id").set_index("firm_id")["persona_id"]
    base = profile.drop(columns=["as_of", "run_id", "engine"], errors="ignore")
    strategies = persona_strategies(base, persona).set_index("persona_id")["strategy"]
    return persona.map(strategies).fillna("default").astype(object)


def stored_scores(store: Store, as_of: dt.date,
                  profile: pd.DataFrame | None = None) -> pd.DataFrame:
    """PD scores of ``as_of`` from ``pd_scores``, with ``persona_strategy`` (the firm's strategy,
    :func:`stored_strategies`) when personas are stored for the date and ``profile`` given.

    Returns an empty frame when no scores are stored for the date.
    """
    scores = results.read(store, PD_SCORES, as_of, columns=["firm_id", "pd", "grade"])
    if profile is not None and results.exists(store, PERSONAS, as_of):
        strategy = stored_strategies(store, as_of, profile)
        if len(strategy):
            scores["persona_strategy"] = scores["firm_id"].map(strategy).fillna("default")
    return scores


def firm_inputs(
    store: Store, as_of: dt.date, firm_id: str, *, pd_value: float | None = None,
    persona: str | None = None,
) -> pd.DataFrame:
    """One firm's profile row with ``pd``, ``grade`` and ``persona_strategy`` for a decision.

    The PD comes from ``pd_value`` if given, else from the stored ``pd_scores``.

    Raises
    ------
    SchemaError
        If the as-of date has no stored profile, the firm is not in it, or no PD is known.
    """
    from creditpersona.errors import SchemaError
    from creditpersona.models.master_scale import load_master_scale

    profile = load_profile(store, as_of)
    if profile.empty:
        raise SchemaError(f"no profile stored for {as_of}; run `creditpersona profile "
                          f"--as-of {as_of}` first.")
    row = profile[profile["firm_id"] == firm_id].reset_index(drop=True)
    if row.empty:
        raise SchemaError(f"firm_id={firm_id} is not in the profile of {as_of}; check the id "
                          "(a firm founded after the date has no profile).")
    if pd_value is not None:
        if not 0.0 <= pd_value <= 1.0:
            raise SchemaError(f"--pd must be a probability in [0, 1]; got {pd_value}.")
        row["pd"] = pd_value
        row["grade"] = load_master_scale().assign([pd_value])[0]
        row["persona_strategy"] = persona
        return row
    scores = stored_scores(store, as_of, profile)
    hit = scores[scores["firm_id"] == firm_id]
    if hit.empty:
        raise SchemaError(f"no PD score for firm_id={firm_id} on {as_of} (table {PD_SCORES}); "
                          "score the portfolio first or give the PD with --pd.")
    row["pd"] = float(hit["pd"].iloc[0])
    row["grade"] = str(hit["grade"].iloc[0])
    row["persona_strategy"] = persona if persona is not None else (
        hit["persona_strategy"].iloc[0] if "persona_strategy" in hit.columns else None)
    return row


def price_request(
    store: Store, as_of: dt.date, firm_id: str, amount: float | None = None,
    term_months: int | None = None, *,
    product: str | None = None, collateral_type: str | None = None,
    pd_value: float | None = None, persona: str | None = None,
    exception: str | None = None, config: DecisionsConfig | None = None,
) -> pd.DataFrame:
    """Price one requested loan of a stored firm (one row of :func:`price_loans`).

    ``exception`` is a pricing exception (a reason, logged) that allows a rate below the
    cost floor.

    Without ``amount`` the loan is the cycle's indicative quote: the firm's recommended
    limit in the product (:func:`firm_limit`), or :data:`REFERENCE_AMOUNT` when it has none,
    over the product's term; so with the stored scores and personas the result equals the
    cycle's ``decision_pricing`` row of the firm.
    """
    cfg = config or load_decisions()
    firm = firm_inputs(store, as_of, firm_id, pd_value=pd_value, persona=persona)
    if amount is None or product is None:
        lim = recommend_limits_for(store, as_of, firm, firm_id, product=product, config=cfg)
        product = product or str(lim["product"].iloc[0])
        if amount is None:
            limit = float(lim["recommended_limit"].iloc[0])
            amount = limit if limit > 0 else REFERENCE_AMOUNT
    if term_months is None:
        term_months = int(cfg.products[product].term_months)
    request = pd.DataFrame({"firm_id": [firm_id], "amount": [amount],
                            "term_months": [term_months], "product": [product],
                            "collateral_type": [collateral_type],
                            "pricing_exception": [exception]})
    return price_loans(request, firm, cfg)


def firm_limit(
    store: Store, as_of: dt.date, firm_id: str, *, product: str | None = None,
    pd_value: float | None = None, persona: str | None = None,
    config: DecisionsConfig | None = None,
) -> pd.DataFrame:
    """The recommended limit of one stored firm (one row of :func:`recommend_limits`).

    With the stored scores and personas it equals the cycle's ``decision_limits`` row.
    """
    cfg = config or load_decisions()
    firm = firm_inputs(store, as_of, firm_id, pd_value=pd_value, persona=persona)
    return recommend_limits_for(store, as_of, firm, firm_id, product=product, config=cfg)


def recommend_limits_for(store: Store, as_of: dt.date, firm: pd.DataFrame, firm_id: str, *,
                         product: str | None = None,
                         config: DecisionsConfig | None = None) -> pd.DataFrame:
    """:func:`recommend_limits` of one firm row (:func:`firm_inputs`), read as the cycle."""
    cfg = config or load_decisions()
    st = store.table("financial_statements")
    loans = store.table("loans")
    tables = {"financial_statements": st.filter(st.firm_id == firm_id),
              "loans": loans.filter(loans.firm_id == firm_id),
              "repayments": store.table("repayments")}
    statements = statement_inputs(tables, as_of)
    book = exposures(tables, as_of, cfg)
    ours = book.groupby("firm_id")["outstanding"].sum()
    known = "bureau_outstanding" in firm.columns and firm["bureau_outstanding"].notna().all()
    debt = (pd.Series(firm["bureau_outstanding"].to_numpy(dtype=float), index=[firm_id])
            if known else None)
    return recommend_limits(firm, statements, cfg, product=product, our_exposure=ours,
                            bank_debt=debt)


@artefacts.trusted("monitor_result")
@dataclass(frozen=True)
class MonitorResult:
    """Monitoring of the book on one date: watch-list, classification and plans."""

    as_of: dt.date
    watchlist: pd.DataFrame
    classification: pd.DataFrame
    loans: pd.DataFrame
    plans: pd.DataFrame
    skipped_rules: list[str]


def monitor_portfolio(
    store: Store, as_of: dt.date, *, config: DecisionsConfig | None = None,
    rules: WarningRules | None = None,
) -> MonitorResult:
    """Five-tier classification, early warnings and plans from the stored profile.

    Personas come from the stored scores or persona table when present; change rules use
    the stored profiles of earlier quarters when present.

    Raises
    ------
    SchemaError
        If no profile is stored for ``as_of``.
    """
    from creditpersona.errors import SchemaError

    cfg = config or load_decisions()
    rs = rules or load_warning_rules()
    profile = load_profile(store, as_of)
    if profile.empty:
        raise SchemaError(f"no profile stored for {as_of}; run `creditpersona profile "
                          f"--as-of {as_of}` first.")
    scores = stored_scores(store, as_of, profile)
    persona = (profile["firm_id"].map(scores.drop_duplicates("firm_id")
                                      .set_index("firm_id")["persona_strategy"])
               if "persona_strategy" in scores.columns else None)
    warn = evaluate_warnings(profile, previous_profiles(store, as_of, rs), rs,
                             persona=persona)
    tables = {t.name: store.table(t.name) for t in TABLES}
    loans = classify_loans(exposures(tables, as_of, cfg), cfg.classification)
    classification = classify_firms(loans)
    watch = warn.watchlist
    tiers = classification.set_index("firm_id")
    watch["tier"] = watch["firm_id"].map(tiers["tier"]).fillna("no_loan")
    watch["outstanding"] = watch["firm_id"].map(tiers["outstanding"]).fillna(0.0)
    plans = monitoring_plans(warn.firms, as_of, cfg, rs)
    return MonitorResult(as_of, watch, classification, loans, plans, warn.skipped)
