"""The quarterly cycle on Spark: every stage's per-firm work on the cluster (Spark 季度循环).

``run_spark_cycle`` is what ``creditpersona run --engine spark`` executes. It runs the
stages of :data:`creditpersona.pipeline.STAGES` in order; each stage is recorded in the run
ledger of the store (``cycle_runs``, ``cycle_stages``) with a checkpoint
(:class:`SparkStage`) that says where it ran (``spark``: the per-firm work ran on the
executors, bucket by bucket, and its result tables were written as Parquet,
:class:`~creditpersona.spark.results.SparkResults`); only counts, means, histograms and the
capped fit samples reached the driver. Every stage runs on Spark; ``run --engine spark``
then writes the HTML report from the Parquet results (:mod:`creditpersona.report.spark`).

The store keeps what is not per firm: the run ledger and the model registry (PD models,
persona model, fitted on the driver on a sample, see :mod:`~creditpersona.spark.stages`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditpersona import artefacts
from creditpersona.errors import ConfigurationError, InsufficientDataError
from creditpersona.runs import Lineage, RunLedger, config_digests
from creditpersona.safeio import private_dir
from creditpersona.spark import decisions as spark_decisions
from creditpersona.spark import marketing as spark_marketing
from creditpersona.spark import review as spark_review
from creditpersona.spark import rules as spark_rules
from creditpersona.spark import stages as st
from creditpersona.spark.results import SparkResults
from creditpersona.store import results as store_results
from creditpersona.store.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Stages whose per-firm work runs on Spark, in cycle order.
SPARK_STAGES = ("profile", "pd_models", "personas", "rules", "decisions", "marketing", "review")
REFITS = ("pd", "personas")


@artefacts.trusted("spark_stage")
@dataclass
class SparkStage:
    """One stage of a Spark cycle: where it ran, what it wrote and what the driver held.

    Attributes
    ----------
    stage : str
    ran_on : {"spark"}
    tables : dict of str to int
        Result tables written (as Parquet) and their rows.
    driver_rows : int
        The largest number of rows the stage brought to the driver at once (a fit sample;
        0 when only aggregates came back).
    note : str
        What the reader should know (the model versions used, why a stage did not run).
    """

    stage: str
    ran_on: str
    tables: dict[str, int] = field(default_factory=dict)
    driver_rows: int = 0
    note: str = ""


@dataclass
class SparkCycleResult:
    """What a Spark cycle did, stage by stage (nothing firm-sized: the rows are in
    ``results_root``)."""

    as_of: dt.date
    run_id: str
    results_root: str
    stages: dict[str, SparkStage]
    seconds: dict[str, float]
    models: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    #: What each stage handed on, by stage (small: the PD validation tables, the personas'
    #: strategy table, the rules, the review; Spark frames stay on the cluster). The report
    #: (``creditpersona.report.spark``) reads them and the Parquet results.
    values: dict[str, Any] = field(default_factory=dict)
    lineage: Lineage | None = None
    #: The contract tables the run read (``<table>.parquet`` in a folder or URI).
    inputs: str = ""

    def where(self) -> dict[str, str]:
        """Where each stage ran (``spark``)."""
        return {name: s.ran_on for name, s in self.stages.items()}


def results_root(store: Store) -> Path:
    """The default results folder of a store: ``<store>.results`` beside it."""
    return store.path.parent / f"{store.path.name}.results"


def inputs_lineage(inputs: str, refit: tuple[str, ...]) -> Lineage:
    """The lineage of a run on the Parquet inputs: every file's name, size and SHA-256."""
    files = []
    folder = Path(inputs)
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append({"table_name": path.stem, "source_file": str(path), "sha256": digest,
                      "bytes": path.stat().st_size})
    whole = hashlib.sha256("".join(str(f["sha256"]) for f in files).encode()).hexdigest()
    return Lineage(files, whole, config_digests(), "spark", refit)


def run_spark_cycle(
    store: Store,
    as_of: dt.date,
    out_dir: Path,
    *,
    spark: SparkSession | None = None,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    inputs: str | Path | None = None,
    results: str | Path | None = None,
    buckets: int = st.BUCKETS,
    sample_cap: int = st.SAMPLE_CAP,
    refit: Iterable[str] = (),
    on_stage: Callable[[str], None] | None = None,
) -> SparkCycleResult:
    """Run the cycle of ``as_of`` on Spark.

    Parameters
    ----------
    store : Store
        Opened for writing: the run ledger and the model registry. Its contract tables
        are the inputs unless ``inputs`` is given.
    as_of : datetime.date
    out_dir : Path
        Where the PD validation JSON goes.
    spark : SparkSession, optional
        Default: :func:`creditpersona.spark.session.spark_session` (``master``, ``conf``).
    inputs : str or Path, optional
        A folder (or URI) of the contract tables as ``<table>.parquet``, already validated
        (the bank's ingestion writes them on the cluster). Default: the store's tables,
        copied by DuckDB to ``<store>.spark-inputs/``.
    results : str or Path, optional
        The results folder (default ``<store>.results`` beside the store).
    buckets : int
        Firm buckets (groups of whole firms per Python call).
    sample_cap : int
        Most rows of a fit sample on the driver (PD development, personas).
    refit : iterable of {"pd", "personas"}
    on_stage : callable, optional
        Called with each stage's name before it runs.

    Raises
    ------
    ConfigurationError
        If ``refit`` names something else.
    InsufficientDataError
        If an input is missing or the history is too short.
    """
    from creditpersona.spark.session import spark_session

    refits = tuple(sorted(set(refit)))
    if [r for r in refits if r not in REFITS]:
        raise ConfigurationError(f"refit: {', '.join(refits)}: re-fit pd and/or personas.")
    private_dir(out_dir)
    session = spark or spark_session(master, conf)
    clock = time.perf_counter()
    if inputs is None:
        store.require_rows(("firms",), f"the Spark cycle as of {as_of}")
        inputs = st.export_inputs(store, store.path.parent / f"{store.path.name}.spark-inputs")
    root = str(results) if results is not None else str(private_dir(results_root(store)))
    run = st.SparkCycle.open(session, inputs, SparkResults(session, root),
                             buckets=buckets, sample_cap=sample_cap)
    lineage = inputs_lineage(str(inputs), refits)
    ledger = RunLedger.start(store, as_of, lineage, restart=True)
    steps = _Steps(ledger, on_stage, {"inputs": time.perf_counter() - clock}, {})
    steps.record("inputs", SparkStage("inputs", "spark", note=f"inputs: {inputs}"))
    files = {"pd_validation": out_dir / "pd-validation.json"}
    run_id = ledger.run_id
    profile = steps.run("profile", lambda: _profile(run, as_of, run_id))
    steps.run("pd_models", lambda: _pd(run, store, as_of, profile, "pd" in refits,
                                                files["pd_validation"]))
    steps.run("personas", lambda: _personas(run, store, as_of, profile,
                                            "personas" in refits, run_id))
    steps.run("rules", lambda: spark_rules.rules_step(run, as_of, run_id))
    graded, _ = steps.run("decisions", lambda: spark_decisions.stage(run, as_of, profile))
    steps.run("marketing", lambda: spark_marketing.stage(run, as_of, profile, graded, out_dir,
                                                         files))
    steps.run("review", lambda: spark_review.review_step(run, store, as_of, run_id))
    versions = {**steps.models, "stages_on": {k: v.ran_on for k, v in steps.done.items()}}
    ledger.complete(versions)
    return SparkCycleResult(as_of, run_id, root, steps.done, steps.seconds, versions, files,
                            steps.frames, lineage, str(inputs))


@dataclass
class _Steps:
    """Runs and records the stages of one Spark cycle."""

    ledger: RunLedger
    on_stage: Callable[[str], None] | None
    seconds: dict[str, float]
    models: dict[str, Any]
    done: dict[str, SparkStage] = field(default_factory=dict)
    frames: dict[str, Any] = field(default_factory=dict)

    def record(self, name: str, stage: SparkStage) -> None:
        self.seconds.setdefault(name, 0.0)
        self.done[name] = stage
        self.ledger.done(name, stage, self.seconds[name])

    def run(self, name: str, compute: Callable[[], tuple[SparkStage, Any, dict[str, Any]]]
            ) -> Any:
        if self.on_stage is not None:
            self.on_stage(name)
        clock = time.perf_counter()
        try:
            stage, value, models = compute()
        except BaseException as exc:
            self.ledger.fail(name, exc)
            raise
        self.seconds[name] = time.perf_counter() - clock
        self.frames[name] = value
        self.models.update(models)
        self.record(name, stage)
        return value


def _profile(run: st.SparkCycle, as_of: dt.date, run_id: str
             ) -> tuple[SparkStage, DataFrame, dict[str, Any]]:
    """Profile every firm on Spark, write ``profiles``, hand on the stored rows."""
    from creditpersona.text.package import REGISTRY_NAME

    frame = st.profile_frame(run, as_of, run_id)
    run.results.write(store_results.PROFILES, as_of, frame)
    stored = run.results.read(store_results.PROFILES, as_of)
    rows = run.count(stored)
    if rows == 0:
        raise InsufficientDataError(f"Spark cycle: no firm founded by {as_of} in {run.inputs}.")
    return (SparkStage("profile", "spark", {store_results.PROFILES: rows},
                       note=f"text model: {REGISTRY_NAME} (packaged), per bucket"),
            stored, {})


def _pd(run: st.SparkCycle, store: Store, as_of: dt.date, profile: DataFrame, refit: bool,
        validation_path: Path) -> tuple[SparkStage, Any, dict[str, Any]]:
    """Score with the PD models in force (developed first on a driver sample if none is),
    grade, write ``pd_scores`` and the validation JSON; hand on the validation tables."""
    from creditpersona.models import development as devmod

    models = None if refit else devmod.in_force(store, as_of)
    driver_rows = 0
    if models is None:
        dates = st.development_dates(run, as_of)
        sample = st.development_sample(run, dates)
        driver_rows = len(sample)
        devmod.develop(store, dates, as_of=as_of, sample=sample)
        models = devmod.in_force(store, as_of)
        assert models is not None, "develop registers the models for as_of"
    scores = st.score_frame(run, profile, models, as_of).persist()
    try:
        graded = st.grade_frame(run, scores, models, as_of)
        run.results.write(store_results.PD_SCORES, as_of, graded)
    finally:
        scores.unpersist()
    stored = run.results.read(store_results.PD_SCORES, as_of)
    tables = st.validation_tables(models, stored)
    st.write_validation(validation_path, tables)
    versions = {f"pd_{k}" if k != "validation" else devmod.VALIDATION_NAME:
                {"version": r.version, "fitted_for": r.as_of}
                for k, r in models.records.items()}
    note = (f"developed for {as_of} on {driver_rows:,} sampled firm-dates"
            if driver_rows else f"models in force (fitted for {models.fitted_for})")
    return (SparkStage("pd_models", "spark", {store_results.PD_SCORES: run.count(stored)},
                       driver_rows, note), tables, versions)


def _personas(run: st.SparkCycle, store: Store, as_of: dt.date, profile: DataFrame,
              refit: bool, run_id: str) -> tuple[SparkStage, Any, dict[str, Any]]:
    """Fit (on a driver sample, if none is in force or asked) and describe the personas,
    assign every firm per partition, write ``personas``."""
    from creditpersona.personas.describe import describe_personas
    from creditpersona.personas.evaluation import evaluate_personas
    from creditpersona.personas.policy import fit_personas, load_policy
    from creditpersona.personas.store import (
        _keep_frozen_cards,
        has_model,
        load_model,
        register_model,
    )

    scores = run.results.read(store_results.PD_SCORES, as_of)
    sample = st.persona_sample(run, profile, scores)
    in_force = load_model(store, as_of=as_of) if has_model(store, as_of) else None
    fit = refit or in_force is None
    if fit:
        day_before = as_of - dt.timedelta(days=1)
        before = load_model(store, as_of=day_before)[0] if has_model(store, day_before) \
            else None
        model, _ = fit_personas(sample, load_policy(), before)
    else:
        assert in_force is not None
        model = in_force[0]
    assignment = model.assign(sample)
    pd_series = sample["pd"].astype("float64")
    cards = describe_personas(sample, assignment, model, pd_scores=pd_series)
    _keep_frozen_cards(model, cards)
    if fit:
        evaluation = evaluate_personas(sample, assignment, model, surrogate=cards.surrogate)
        version = register_model(store, model, sample, evaluation.summary(), as_of).version
    else:
        assert in_force is not None
        version = in_force[1]
    names = {str(pid): (str(r["name_zh"]), str(r["name_en"]))
             for pid, r in cards.cards[["name_zh", "name_en"]].iterrows()}
    frame = st.assign_frame(profile, model, names, version, run_id, as_of)
    run.results.write(store_results.PERSONAS, as_of, frame)
    rows = run.count(run.results.read(store_results.PERSONAS, as_of))
    note = (f"fitted for {as_of} on {len(sample):,} sampled firms" if fit
            else f"model v{version} in force; cards described on {len(sample):,} sampled firms")
    return (SparkStage("personas", "spark", {store_results.PERSONAS: rows}, len(sample),
                       note), None, {"personas": {"version": int(version),
                                                  "fitted_for": as_of if fit else None}})

