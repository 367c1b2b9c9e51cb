"""The cycle of one as-of date: profile → PD models → personas → rules → decisions → marketing.

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

import pandas as pd

from creditpersona.decisions.stage import DecisionResult, decision_stage
from creditpersona.models import development as devmod
from creditpersona.profile.build import compute_profile, save_profile
from creditpersona.rules.mining import RuleSet
from creditpersona.rules.store import rules_stage
from creditpersona.store.store import Store

#: The stages in the order they run.
STAGES = ("profile", "pd_models", "rules", "decisions")


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
    rules: RuleSet
    decisions: DecisionResult
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

    t = start("rules")
    ruleset = rules_stage(store, as_of, profile)
    seconds["rules"] = time.perf_counter() - t

    t = start("decisions")
    decisions = decision_stage(store, as_of, profile, scores[["firm_id", "pd", "grade"]])
    seconds["decisions"] = time.perf_counter() - t

    return CycleResult(as_of=as_of, profile=profile, pd=PDStage(dev, scores, tables),
                       rules=ruleset, decisions=decisions, seconds=seconds, files=files)
