"""The quarterly cycle of one as-of date (季度循环).

input checks → profile → PD models → personas → rules → decisions → marketing → review.

``run_cycle`` is what ``creditpersona run`` (on a store) and ``creditpersona demo`` (on a
generated bank) execute. Every stage stores its results in the store under the as-of date,
replacing that date's earlier results, so running a date again never duplicates anything.

Models are governed, not refitted by habit: the PD models and the persona model are
developed on the first run and then *in force* (:func:`creditpersona.models.registry.load`
with ``as_of``) until a re-fit is asked for (``refit=("pd", "personas")``, what the review's
triggers recommend). A re-fit is registered for its as-of date and keeps the persona ids by
identity matching. A date run again is scored with the models in force on it, so its
results are the same.

Each run is recorded in the run ledger (:mod:`creditpersona.runs`) with its lineage: input
loads, configuration digests, package version, engine, model versions. Each finished stage
leaves a checkpoint; after a failure, the next run of the same date with the same lineage
loads the finished stages and computes the rest.

The cycle returns data only; the HTML report renders it (``creditpersona.report``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from creditpersona import artefacts
from creditpersona.decisions.offers import offer_values
from creditpersona.decisions.stage import DecisionResult, decision_stage
from creditpersona.decisions.strategy import persona_strategies
from creditpersona.errors import ConfigurationError, InsufficientDataError, StoreError
from creditpersona.marketing.stage import MarketingResult, plan_campaign, publish_campaign
from creditpersona.models import development as devmod
from creditpersona.models import rating, registry
from creditpersona.personas.store import PersonaResult, persona_stage
from creditpersona.profile.build import compute_profile, load_profile, save_profile
from creditpersona.review import ReviewFrames, ReviewResult, review_stage
from creditpersona.rules.items import ItemVocabulary, Label, load_items
from creditpersona.rules.mining import RuleSet
from creditpersona.rules.store import rules_stage
from creditpersona.runs import Lineage, RunLedger, completed, lineage, stages
from creditpersona.safeio import private_dir, write_text
from creditpersona.store import results
from creditpersona.store.inbox import take_outcomes
from creditpersona.store.store import Store
from creditpersona.store.summary import firm_names
from creditpersona.text.package import REGISTRY_NAME as TEXT_MODEL_NAME
from creditpersona.text.package import register_packaged as register_text_model

Frame = pd.DataFrame
Names = pd.Series


def _no_names() -> Names:
    return pd.Series(dtype=object)

#: The stages in the order they run.
STAGES = ("inputs", "profile", "pd_models", "personas", "rules", "decisions", "marketing",
          "review")
#: What ``refit`` may name.
REFITS = ("pd", "personas")
#: Contract tables the cycle cannot run without.
_REQUIRED = ("firms", "financial_statements", "bureau_reports", "loans", "repayments")
#: Contract tables the cycle reads when the store holds them.
_OPTIONAL = ("transactions", "documents", "campaign_contacts")
#: Largest gap, in days, between the store's latest dated record and the as-of date.
MAX_DATA_GAP_DAYS = 92


@artefacts.trusted("cycle_pd_stage")
@dataclass
class PDStage:
    """The PD stage: the models in force, the graded firms and the validation tables.

    ``fitted`` is True when the models were developed for this as-of date (in this run or
    an earlier run of the same date).
    """

    models: devmod.ModelsInForce
    scores: pd.DataFrame
    tables: dict[str, Any]
    fitted: bool


@artefacts.trusted("cycle_input_check")
@dataclass
class InputCheck:
    """The input checks of a run: what the store holds and its lineage."""

    lineage: Lineage
    rows: dict[str, int]
    latest: dict[str, dt.date]
    quarantined: int
    #: Campaign outcomes taken in from the service's inbox before the checks (taken, rejected).
    outcomes: tuple[int, int] = (0, 0)


@dataclass
class CycleResult:
    """Everything one cycle produced, stage by stage (see :data:`STAGES`)."""

    as_of: dt.date
    inputs: InputCheck
    profile: pd.DataFrame
    pd: PDStage
    personas: PersonaResult
    strategies: Frame  # `pd` is a field name here
    rules: RuleSet
    decisions: DecisionResult
    marketing: MarketingResult
    review: ReviewResult
    run_id: str = ""
    resumed: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    #: Firm name by firm id (the report shows it next to the code).
    names: Names = field(default_factory=_no_names)

    @property
    def model_versions(self) -> dict[str, Any]:
        """Versions (and the as-of dates they were fitted for) of the models used."""
        records = self.pd.models.records
        out: dict[str, Any] = {
            f"pd_{k}" if k != "validation" else devmod.VALIDATION_NAME:
                {"version": r.version, "fitted_for": r.as_of}
            for k, r in records.items()}
        out["personas"] = {"version": self.personas.model_version,
                           "fitted_for": self.as_of if self.personas.fitted else None}
        return out


def check_inputs(store: Store, as_of: dt.date, engine: str,
                 refit: tuple[str, ...]) -> InputCheck:
    """The inputs step: take in recorded outcomes, then check the tables and their dates.

    Campaign outcomes recorded through the service wait in the operational store's inbox
    (``<store>.ops.sqlite``); they are loaded into ``campaign_contacts`` through the data
    contract's validation first (:func:`creditpersona.store.inbox.take_outcomes`; nothing to
    do without an operational store), so every way of running a cycle — the CLI, the
    service's live run, a library call — feeds them to the response and uplift models, and
    the run's lineage records their load.

    Raises
    ------
    InsufficientDataError
        If a required table is missing or empty, or the data end long before ``as_of``.
    """
    tables = {t for t in _REQUIRED if results.has_table(store, t)}
    missing = [t for t in _REQUIRED if t not in tables]
    if missing:
        raise InsufficientDataError(
            f"{store.path}: the cycle needs the tables {', '.join(missing)}, which the store "
            "does not hold: ingest them (creditpersona ingest FILES).")
    # The firms the outcomes refer to are loaded: take them in before anything is counted.
    intake = take_outcomes(store)
    tables = {t for t in (*_REQUIRED, *_OPTIONAL, "quarantine") if results.has_table(store, t)}
    rows = {t: int(store.table(t).count().execute()) for t in sorted(tables)
            if t in _REQUIRED or t in _OPTIONAL}
    empty = [t for t in _REQUIRED if rows[t] == 0]
    if empty:
        raise InsufficientDataError(f"{store.path}: the tables {', '.join(empty)} are empty: "
                                    "ingest their files (creditpersona ingest FILES).")
    dated = {"bureau_reports": "report_date", "transactions": "txn_date",
             "repayments": "due_date", "financial_statements": "published_on"}
    latest: dict[str, dt.date] = {}  # the latest record on or before the as-of date
    for table, column in dated.items():
        if table in tables:
            t = store.table(table)
            value = t.filter(t[column] <= as_of)[column].max().execute()
            if value is not None and not pd.isna(value):
                latest[table] = pd.Timestamp(value).date()
    recent = max((latest[t] for t in ("bureau_reports", "transactions") if t in latest),
                 default=None)
    if recent is None or (as_of - recent).days > MAX_DATA_GAP_DAYS:
        raise InsufficientDataError(
            f"{store.path}: the latest bureau report or transaction is "
            f"{recent or 'missing'}, more than {MAX_DATA_GAP_DAYS} days before the as-of date "
            f"{as_of}: load the data up to {as_of} or choose an earlier as-of date.")
    quarantined = int(store.table("quarantine").count().execute()) \
        if "quarantine" in tables else 0
    return InputCheck(lineage(store, engine, refit), rows, latest, quarantined,
                      (intake.taken, intake.rejected))


def run_cycle(
    store: Store,
    as_of: dt.date,
    out_dir: Path,
    *,
    engine: str = "duckdb",
    refit: Iterable[str] = (),
    restart: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> CycleResult:
    """Run every stage for ``as_of`` on ``store``; JSON artefacts go to ``out_dir``.

    Parameters
    ----------
    store : Store
        Opened for writing.
    as_of : datetime.date
    out_dir : pathlib.Path
        Where the stages' files go (PD validation JSON, campaign lists).
    engine : {"duckdb", "spark"}, default "duckdb"
        The engine of the profile.
    refit : iterable of {"pd", "personas"}
        Re-develop the PD models and/or re-fit the personas for this date instead of using
        the models in force (the review's triggers say when).
    restart : bool, default False
        Compute every stage even if a failed run of this date could be resumed.
    on_stage : callable, optional
        Called with each stage's name before it runs (progress display); a stage taken
        from a checkpoint is announced as ``"<stage> (resumed)"``.

    Raises
    ------
    InsufficientDataError
        If the store's history is too short for a stage (the message says what to load).
    ConfigurationError
        If ``refit`` names something other than ``pd`` or ``personas``.
    """
    refits = tuple(sorted(set(refit)))
    unknown = [r for r in refits if r not in REFITS]
    if unknown:
        raise ConfigurationError(f"refit: {', '.join(unknown)} is not one of "
                                 f"{', '.join(REFITS)}; pass --refit pd and/or --refit personas.")
    private_dir(out_dir)
    t = time.perf_counter()
    inputs = check_inputs(store, as_of, engine, refits)
    ledger = RunLedger.start(store, as_of, inputs.lineage, restart=restart)
    run = _Stages(ledger, on_stage, {"inputs": time.perf_counter() - t})
    ledger.done("inputs", inputs, run.seconds["inputs"])
    files: dict[str, Path] = {"pd_validation": out_dir / "pd-validation.json"}

    profile = _profile_of_run(store, as_of, engine, run)
    pd_stage: PDStage = run.stage("pd_models", lambda: _pd_models(store, as_of, profile,
                                                                  "pd" in refits))
    scores = pd_stage.scores
    write_text(files["pd_validation"], json.dumps(devmod.to_json(pd_stage.tables), indent=2,
                                                  default=str, ensure_ascii=False))
    personas, strategies = run.stage("personas", lambda: _personas(
        store, as_of, profile, scores, "personas" in refits))
    assigned = personas.assignment.set_index("firm_id")
    strategy_of = assigned["persona_id"].map(strategies.set_index("persona_id")["strategy"])
    ruleset: RuleSet = run.stage("rules", lambda: _rules(store, as_of, profile, assigned))
    graded = scores[["firm_id", "pd", "grade"]].assign(
        persona_strategy=lambda f: f["firm_id"].map(strategy_of).fillna("default"))
    decisions: DecisionResult = run.stage("decisions", lambda: decision_stage(
        store, as_of, profile, graded))
    marketing: MarketingResult = run.stage("marketing", lambda: publish_campaign(
        store, plan_campaign(store, as_of, profile, graded, assigned["persona_name_zh"],
                             lambda pairs: offer_values(pairs, profile, graded,
                                                        decisions.limits, as_of=as_of),
                             strategies=strategy_of), out_dir))
    reviewed: ReviewResult = run.stage("review", lambda: review_stage(store, as_of, current=(
        _review_frames(store, as_of, profile, scores, personas))))
    result = CycleResult(as_of=as_of, inputs=inputs, profile=profile, pd=pd_stage,
                         personas=personas, strategies=strategies, rules=ruleset,
                         decisions=decisions, marketing=marketing, review=reviewed,
                         run_id=ledger.run_id, resumed=tuple(run.resumed),
                         seconds=run.seconds, files=files, names=firm_names(store))
    ledger.complete({**result.model_versions, **_text_model_version(store)})
    return result


@dataclass
class _Stages:
    """Runs the stages of one cycle: each is computed, or loaded from its checkpoint while
    every stage before it was (resuming a failed run), and recorded in the ledger."""

    ledger: RunLedger
    on_stage: Callable[[str], None] | None
    seconds: dict[str, float]
    resumed: list[str] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str, compute: Callable[[], Any]) -> Any:
        if len(self.resumed) == len(self.done) and self.ledger.resumable(name):
            if self.on_stage is not None:
                self.on_stage(f"{name} (resumed)")
            value = self.ledger.load(name)
            self.resumed.append(name)
            self.seconds[name] = 0.0
        else:
            if self.on_stage is not None:
                self.on_stage(name)
            clock = time.perf_counter()
            try:
                value = compute()
            except BaseException as exc:
                self.ledger.fail(name, exc)
                raise
            self.seconds[name] = time.perf_counter() - clock
            self.ledger.done(name, value, self.seconds[name])
        self.done[name] = value
        return value


def _profile_of_run(store: Store, as_of: dt.date, engine: str, run: _Stages) -> pd.DataFrame:
    """The profile stage: computed and stored, its rows handed on as stored; resumed, the
    rows the failed run stored (checked by run id).

    Raises
    ------
    StoreError
        If the stored profile of a resumed run is not the one it computed.
    """
    computed: dict[str, pd.DataFrame] = {}
    profile_id = run.stage("profile", lambda: _profile(store, as_of, engine, computed))
    profile = computed.get("profile")
    if profile is None:  # resumed: the profile of the run that computed it, from the store
        profile = load_profile(store, as_of)
        if profile.empty or set(profile["run_id"].astype(str)) != {profile_id}:
            error = StoreError(f"{store.path}: the stored profile of {as_of} is not the one "
                               "this run computed (it was profiled again meanwhile); run "
                               "again with --restart.")
            run.ledger.fail("profile", error)
            raise error
    return profile.drop(columns=["as_of", "run_id", "engine"], errors="ignore")


def _text_model_version(store: Store) -> dict[str, Any]:
    """The packaged text-risk model the profile scored documents with, for the ledger."""
    record = registry.record(store, TEXT_MODEL_NAME)
    if record is None:
        return {}
    return {TEXT_MODEL_NAME: {"version": record.version, "fitted_for": None,
                              "package_sha256": record.params.get("package_sha256")}}


def load_cycle(store: Store, as_of: dt.date) -> CycleResult:
    """The latest completed cycle of ``as_of``, rebuilt from its checkpoints (no computing).

    Raises
    ------
    StoreError
        If no run of ``as_of`` completed, or a checkpoint is missing or was altered.
    """
    row, _, values = completed(store, as_of)
    missing = [s for s in STAGES if s not in values]
    if missing:
        raise StoreError(f"{store.path}: run {row['run_id']} of {as_of} has no checkpoint "
                         f"for {', '.join(missing)}; run the date again.")
    profile = load_profile(store, as_of)
    if profile.empty or set(profile["run_id"].astype(str)) != {values["profile"]}:
        raise StoreError(f"{store.path}: the stored profile of {as_of} is not the one run "
                         f"{row['run_id']} used (the date was profiled again since); run the "
                         "date again.")
    personas, strategies = values["personas"]
    stage_rows = stages(store, str(row["run_id"]))
    return CycleResult(
        as_of=as_of, inputs=values["inputs"],
        profile=profile.drop(columns=["as_of", "run_id", "engine"], errors="ignore"),
        pd=values["pd_models"], personas=personas, strategies=strategies,
        rules=values["rules"], decisions=values["decisions"], marketing=values["marketing"],
        review=values["review"], run_id=str(row["run_id"]),
        resumed=tuple(stage_rows.loc[stage_rows["status"] == "resumed", "stage"]),
        seconds=dict(zip(stage_rows["stage"], stage_rows["seconds"].astype(float),
                         strict=True)),
        names=firm_names(store))


def _profile(store: Store, as_of: dt.date, engine: str, computed: dict[str, pd.DataFrame]
             ) -> str:
    """Profile ``as_of`` and store it; the rows, as stored, go to ``computed["profile"]``.

    The stage's checkpoint is the run id alone; the next stages use the rows as stored
    (:func:`creditpersona.profile.build.save_profile` returns them), so fresh and resumed
    runs see the same data without reading back what was just written.
    """
    register_text_model(store)  # the text-risk model the profile scores documents with
    run = compute_profile(store, as_of, engine=engine)  # type: ignore[arg-type]
    computed["profile"] = save_profile(store, run)
    return str(run.run_id)


def _pd_models(store: Store, as_of: dt.date, profile: pd.DataFrame, refit: bool) -> PDStage:
    """Score with the PD models in force; develop them first if none is or if asked."""
    models = None if refit else devmod.in_force(store, as_of)
    if models is None:
        devmod.develop(store, devmod.development_dates(store, as_of), as_of=as_of)
        models = devmod.in_force(store, as_of)
        assert models is not None, "develop registers the models for as_of"
    scores = devmod.apply(models, profile, devmod.in_default(store, as_of))
    # The grade is the rating of the rating philosophy (models/rating.yaml); ``pd`` stays
    # point in time (pricing, capital, early warning) and ``grade_pit`` keeps its grade.
    scores = rating.grade_scores(store, as_of, scores, models.scale, models.summary)
    devmod.save_scores(store, as_of, scores)
    return PDStage(models, scores, devmod.validation_tables(models, scores),
                   fitted=models.fitted_for == as_of)


def _personas(store: Store, as_of: dt.date, profile: pd.DataFrame, scores: pd.DataFrame,
              refit: bool) -> tuple[PersonaResult, pd.DataFrame]:
    personas = persona_stage(store, as_of, profile, scores[["firm_id", "pd"]],
                             refit=True if refit else None)
    assigned = personas.assignment.set_index("firm_id")
    return personas, persona_strategies(profile, assigned["persona_id"])


def _review_frames(store: Store, as_of: dt.date, profile: pd.DataFrame, scores: pd.DataFrame,
                   personas: PersonaResult) -> ReviewFrames:
    """The cycle's frames of ``as_of`` for the review, as the store holds them."""
    return ReviewFrames(
        profile=profile,
        scores=results.as_stored(store, results.PD_SCORES, as_of, scores),
        personas=personas.assignment[["firm_id", "persona_id"]].assign(
            model_version=int(personas.model_version)))


def _rules(store: Store, as_of: dt.date, profile: pd.DataFrame,
           assigned: pd.DataFrame) -> RuleSet:
    personas, vocabulary = rule_inputs(assigned)
    return rules_stage(store, as_of, profile, personas, vocabulary=vocabulary)


def rule_inputs(assigned: pd.DataFrame) -> tuple[pd.Series, ItemVocabulary]:
    """The persona of each firm the rules read (``persona_id`` by ``firm_id``) and the item
    vocabulary with the personas' names, from the persona assignment (index ``firm_id``)."""
    # Personas a policy rule assigns (in default: more than 90 days past due) are definitions,
    # not found segments: "firms in default are in default" is no finding. Their firms stay
    # in the portfolio scope, without a persona item or a scope of their own.
    found = assigned[assigned["source"] != "rule"] if "source" in assigned else assigned
    vocabulary = load_items()
    names = found.drop_duplicates("persona_id").set_index("persona_id")
    vocabulary = vocabulary.model_copy(update={"personas": {
        **vocabulary.personas,
        # Names read inside a sentence ("firms that are stable manufacturers").
        **{pid: Label(zh=row["persona_name_zh"],
                      en=row["persona_name_en"][:1].lower() + row["persona_name_en"][1:])
           for pid, row in names.iterrows()},
    }})
    return found["persona_id"], vocabulary
