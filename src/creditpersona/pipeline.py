"""The cycle of one as-of date: profile → PD models → personas → rules → decisions → marketing.

Personas carry the credit strategy that ``decisions/strategy.yaml`` attaches to them (spread,
limit multiplier, main product, monitoring plan), and their names into the rules and the
marketing views.

``run_cycle`` is what ``creditpersona run`` (on a store) and ``creditpersona demo`` (on a
generated bank) execute. Every stage stores its results in the store under the as-of date,
replacing that date's earlier results, so running a date again never duplicates anything.
The cycle returns data only; the HTML report renders it (``creditpersona.report``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditpersona.decisions.config import load_decisions
from creditpersona.decisions.pricing import price_loans
from creditpersona.decisions.stage import DecisionResult, decision_stage
from creditpersona.decisions.strategy import persona_strategies
from creditpersona.marketing.catalogue import fallback_limit, load_catalogue
from creditpersona.marketing.stage import MarketingResult, marketing_stage
from creditpersona.models import development as devmod
from creditpersona.personas.store import PersonaResult, persona_stage
from creditpersona.profile.build import compute_profile, save_profile
from creditpersona.rules.items import Label, load_items
from creditpersona.rules.mining import RuleSet
from creditpersona.rules.store import rules_stage
from creditpersona.store.store import Store

Frame = pd.DataFrame
#: The stages in the order they run.
STAGES = ("profile", "pd_models", "personas", "rules", "decisions", "marketing")


@dataclass
class PDStage:
    """The PD stage: the development run, the graded firms and the validation tables."""

    development: devmod.Development
    scores: pd.DataFrame
    tables: dict[str, Any]


@dataclass
class CycleResult:
    """Everything one cycle produced, stage by stage (see :data:`STAGES`)."""

    as_of: dt.date
    profile: pd.DataFrame
    pd: PDStage
    personas: PersonaResult
    strategies: Frame  # `pd` is a field name here
    rules: RuleSet
    decisions: DecisionResult
    marketing: MarketingResult
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def run_cycle(
    store: Store,
    as_of: dt.date,
    out_dir: Path,
    *,
    engine: str = "duckdb",
    on_stage: Callable[[str], None] | None = None,
) -> CycleResult:
    """Run every stage for ``as_of`` on ``store``; JSON artefacts go to ``out_dir``.

    Parameters
    ----------
    store : Store
        Opened for writing.
    as_of : datetime.date
    out_dir : pathlib.Path
        Where the stages' JSON artefacts (for example the PD validation) are written.
    engine : {"duckdb", "spark"}, default "duckdb"
        The engine of the profile.
    on_stage : callable, optional
        Called with each stage's name before it runs (progress display).

    Raises
    ------
    InsufficientDataError
        If the store's history is too short for a stage (the message says what to load).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    files: dict[str, Path] = {}

    def start(name: str) -> float:
        if on_stage is not None:
            on_stage(name)
        return time.perf_counter()

    t = start("profile")
    run = compute_profile(store, as_of, engine=engine)  # type: ignore[arg-type]
    save_profile(store, run)
    profile = run.frame
    seconds["profile"] = time.perf_counter() - t

    t = start("pd_models")
    dev = devmod.develop(store, devmod.development_dates(store, as_of))
    scores = devmod.apply(dev, profile)
    devmod.save_scores(store, as_of, scores)
    tables = devmod.validation_tables(dev, scores)
    files["pd_validation"] = out_dir / "pd-validation.json"
    files["pd_validation"].write_text(
        json.dumps(devmod.to_json(tables), indent=2, default=str, ensure_ascii=False),
        encoding="utf-8")
    seconds["pd_models"] = time.perf_counter() - t

    t = start("personas")
    personas = persona_stage(store, as_of, profile, scores[["firm_id", "pd"]])
    assigned = personas.assignment.set_index("firm_id")
    strategies = persona_strategies(profile, assigned["persona_id"])
    strategy_of = assigned["persona_id"].map(strategies.set_index("persona")["strategy"])
    seconds["personas"] = time.perf_counter() - t

    t = start("rules")
    vocabulary = load_items()
    names = assigned.drop_duplicates("persona_id").set_index("persona_id")
    vocabulary = vocabulary.model_copy(update={"personas": {
        **vocabulary.personas,
        **{pid: Label(zh=row["name_zh"], en=row["name_en"]) for pid, row in names.iterrows()},
    }})
    ruleset = rules_stage(store, as_of, profile, assigned["persona_id"], vocabulary=vocabulary)
    seconds["rules"] = time.perf_counter() - t

    t = start("decisions")
    graded = scores[["firm_id", "pd", "grade"]].assign(
        persona=lambda f: f["firm_id"].map(strategy_of).fillna("default"))
    decisions = decision_stage(store, as_of, profile, graded)
    seconds["decisions"] = time.perf_counter() - t

    t = start("marketing")
    marketing = marketing_stage(
        store, as_of, profile, graded, assigned["name_zh"],
        lambda pairs: offer_values(pairs, profile, graded, decisions.limits),
        out_dir)
    seconds["marketing"] = time.perf_counter() - t

    return CycleResult(as_of=as_of, profile=profile, pd=PDStage(dev, scores, tables),
                       personas=personas, strategies=strategies, rules=ruleset,
                       decisions=decisions, marketing=marketing, seconds=seconds, files=files)


def offer_values(pairs: pd.DataFrame, profile: pd.DataFrame, scores: pd.DataFrame,
                 limits: pd.DataFrame) -> pd.DataFrame:
    """Value, rate and limit of every firm × product offer, from the pricing engine.

    The amount is the catalogue's sizing of the product, capped by the firm's risk caps
    from the limit engine (single-borrower and leverage caps). The pricing engine quotes
    it (LPR + spread) with the firm's PD and grade; the value of an accepted offer is its
    risk-adjusted return over the term, RAROC × capital × amount × years (interest over
    funding, operating cost and expected loss). Offers the engine declines, or that
    cannot reach the hurdle within the spread bounds, are worth nothing.
    """
    catalogue, config = load_catalogue(), load_decisions()
    firms = profile[["firm_id", "revenue", "total_assets"]].merge(scores, on="firm_id")
    columns = ["firm_id", "pd", "grade", "revenue"] + (
        ["persona"] if "persona" in firms.columns else [])
    caps = limits.set_index("firm_id")[["single_borrower_cap", "leverage_cap"]].min(axis=1)
    parts = []
    for product, group in pairs.groupby("product", sort=False):
        basis = firms.set_index("firm_id").reindex(group["firm_id"]).reset_index()
        amount = fallback_limit(catalogue, basis, str(product))
        cap = caps.reindex(group["firm_id"]).to_numpy(dtype=float)
        amount = np.where(np.isfinite(cap) & (cap > 0), np.minimum(amount, cap), amount)
        term = config.products[str(product)].term_months
        parts.append(pd.DataFrame({"firm_id": group["firm_id"].to_numpy(),
                                   "product": product, "amount": amount,
                                   "term_months": term}))
    requests = pd.concat(parts, ignore_index=True)
    requests = requests[requests["amount"] > 0].reset_index(drop=True)
    quoted = price_loans(requests, firms[columns], config)
    worth = ~(quoted["declined"] | quoted["floor_above_max"]).to_numpy(dtype=bool)
    value = (quoted["raroc"] * quoted["capital_k"] * quoted["amount"]
             * quoted["term_months"] / 12).to_numpy(dtype=float)
    return pd.DataFrame({"firm_id": quoted["firm_id"], "product": quoted["product"],
                         "value": np.where(worth, value, 0.0),
                         "rate": quoted["rate"] * 100, "limit": quoted["amount"]})
