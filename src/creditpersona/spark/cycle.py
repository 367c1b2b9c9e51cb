"""The quarterly cycle on Spark: every stage's per-firm work on the cluster (Spark 季度循环).

``run_spark_cycle`` is what ``creditpersona run --engine spark`` executes. It runs the
stages of :data:`creditpersona.pipeline.STAGES` in order; each stage is recorded in the run
ledger of the store (``cycle_runs``, ``cycle_stages``) with a checkpoint
(:class:`SparkStage`) that says where it ran (``spark``: the per-firm work ran on the
executors, bucket by bucket, and its result tables were written as Parquet,
:class:`~creditpersona.spark.results.SparkResults`); only counts, means, histograms and the
capped fit samples reached the driver. Every stage runs on Spark; ``run --engine spark``
then writes the HTML report from the Parquet results (:mod:`creditpersona.report.spark`),
which :func:`load_spark_cycle` lets ``creditpersona report`` rebuild from the ledger.

A failed run is resumed as the embedded cycle resumes one (:mod:`creditpersona.runs`): the
next run of the date with the same lineage takes the stages the failed run finished from
their checkpoints (:class:`SparkCheckpoint`: the stage's record and the small value it
handed on; its rows are its Parquet tables, checked before they are used) and computes the
rest.

The store keeps what is not per firm: the run ledger and the model registry (PD models,
persona model, fitted on the driver on a sample, see :mod:`~creditpersona.spark.stages`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditpersona import artefacts
from creditpersona.errors import ConfigurationError, InsufficientDataError, StoreError
from creditpersona.runs import Lineage, RunLedger, completed, config_digests
from creditpersona.runs import lineage as store_lineage
from creditpersona.runs import stages as ledger_stages
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
    #: What each stage handed on that its checkpoint keeps, by stage (small: the PD
    #: validation tables, the persona strategy table, the rules, the review; ``None`` for
    #: the stages whose output is their Parquet tables). The report
    #: (``creditpersona.report.spark``) reads them and the Parquet results.
    values: dict[str, Any] = field(default_factory=dict)
    lineage: Lineage | None = None
    #: The contract tables the run read (``<table>.parquet`` in a folder or URI).
    inputs: str = ""
    #: The stages taken from the checkpoints of the failed run this one resumed.
    resumed: tuple[str, ...] = ()

    def where(self) -> dict[str, str]:
        """Where each stage ran (``spark``)."""
        return {name: s.ran_on for name, s in self.stages.items()}


def results_root(store: Store) -> Path:
    """The default results folder of a store: ``<store>.results`` beside it."""
    return store.path.parent / f"{store.path.name}.results"


def inputs_lineage(inputs: str, refit: tuple[str, ...]) -> Lineage:
    """The lineage of a run on ``--spark-inputs``: every file's name, size and SHA-256.

    A run on the store's own tables takes the store's lineage
    (:func:`creditpersona.runs.lineage`: its loads), as the embedded run does."""
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
    restart: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> SparkCycleResult:
    """Run the cycle of ``as_of`` on Spark.

    After a failure, running the date again with the same lineage (inputs, configuration,
    package version, re-fits) resumes it as the embedded cycle does: the stages the failed
    run finished are taken from their checkpoints (their Parquet results checked, see
    :class:`SparkCheckpoint`), the rest computed.

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
    restart : bool, default False
        Compute every stage even if a failed run of this date could be resumed.
    on_stage : callable, optional
        Called with each stage's name before it runs; a stage taken from a checkpoint is
        announced as ``"<stage> (resumed)"``.

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
    clock = time.perf_counter()
    run = _open(store, as_of, spark or spark_session(master, conf), inputs, results,
                buckets, sample_cap)
    lineage = _lineage(store, run.inputs if inputs is not None else None, refits)
    ledger = RunLedger.start(store, as_of, lineage, restart=restart)
    steps = _Steps(ledger, on_stage, run, as_of, {"inputs": time.perf_counter() - clock}, {})
    steps.record("inputs", SparkStage("inputs", "spark", note=f"inputs: {run.inputs}"),
                 run.inputs)
    files = {"pd_validation": out_dir / "pd-validation.json"}
    _stages(steps, store, refits, out_dir, files)
    versions = {**steps.models, "stages_on": {k: v.ran_on for k, v in steps.done.items()}}
    ledger.complete(versions)
    return SparkCycleResult(as_of, ledger.run_id, run.results.root, steps.done, steps.seconds,
                            versions, files, steps.values, lineage, run.inputs,
                            tuple(steps.resumed))


def _lineage(store: Store, inputs: str | None, refits: tuple[str, ...]) -> Lineage:
    """The run's lineage: the files of ``--spark-inputs``; else the store's loads, as the
    embedded run's (its copies in ``<store>.spark-inputs`` are rewritten by every run)."""
    return inputs_lineage(inputs, refits) if inputs is not None else \
        store_lineage(store, "spark", refits)


def _open(store: Store, as_of: dt.date, session: SparkSession, inputs: str | Path | None,
          results: str | Path | None, buckets: int, sample_cap: int) -> st.SparkCycle:
    """The run's inputs (the store's tables exported when none are given) and results."""
    if inputs is None:
        store.require_rows(("firms",), f"the Spark cycle as of {as_of}")
        inputs = st.export_inputs(store, store.path.parent / f"{store.path.name}.spark-inputs")
    root = str(results) if results is not None else str(private_dir(results_root(store)))
    return st.SparkCycle.open(session, inputs, SparkResults(session, root),
                              buckets=buckets, sample_cap=sample_cap)


def load_spark_cycle(store: Store, as_of: dt.date, *,
                     results: str | Path | None = None) -> SparkCycleResult:
    """The latest completed Spark cycle of ``as_of``, rebuilt from its checkpoints (no
    Spark, nothing computed): what :func:`creditpersona.report.spark.spark_report` needs to
    write its report again.

    Parameters
    ----------
    store : Store
        The store the run recorded its ledger in (read-only is enough).
    as_of : datetime.date
    results : str or Path, optional
        The results folder, when it moved since the run (default: where the run wrote).

    Raises
    ------
    StoreError
        If no run of ``as_of`` completed, the latest completed one did not run on Spark, or
        a checkpoint is missing or altered.
    """
    row, lineage, saved = completed(store, as_of)
    if row["engine"] != "spark":
        raise StoreError(f"{store.path}: the latest completed run of {as_of} "
                         f"({row['run_id']}) ran on {row['engine']}, not Spark.")
    missing = [s for s in ("inputs", *SPARK_STAGES)
               if not isinstance(saved.get(s), SparkCheckpoint)]
    if missing:
        raise StoreError(f"{store.path}: run {row['run_id']} of {as_of} has no Spark "
                         f"checkpoint for {', '.join(missing)} (it ran with an earlier "
                         f"version); run the date again: creditpersona run --as-of {as_of} "
                         "--engine spark --restart.")
    checkpoints: dict[str, SparkCheckpoint] = {k: v for k, v in saved.items()
                                               if isinstance(v, SparkCheckpoint)}
    rows = ledger_stages(store, str(row["run_id"]))
    seconds = dict(zip(rows["stage"], rows["seconds"].astype(float), strict=True))
    root = str(results) if results is not None else checkpoints["profile"].results_root
    return SparkCycleResult(
        as_of, str(row["run_id"]), root, {k: c.stage for k, c in checkpoints.items()},
        seconds, json.loads(row["models"] or "{}"), {},
        {k: c.value for k, c in checkpoints.items() if k != "inputs"}, lineage,
        str(checkpoints["inputs"].value),
        tuple(rows.loc[rows["status"] == "resumed", "stage"]))


def _stages(steps: _Steps, store: Store, refits: tuple[str, ...], out_dir: Path,
            files: dict[str, Path]) -> None:
    """Run (or resume) the stages after the inputs, in cycle order."""
    run, as_of, run_id = steps.run_, steps.as_of, steps.ledger.run_id
    profile = steps.run("profile", lambda: _profile(run, as_of, run_id),
                        lambda _: run.results.read(store_results.PROFILES, as_of),
                        keep=lambda _: None)
    tables = steps.run("pd_models", lambda: _pd(run, store, as_of, profile, "pd" in refits))
    st.write_validation(files["pd_validation"], tables)
    steps.run("personas", lambda: _personas(run, store, as_of, profile,
                                            "personas" in refits, run_id))
    steps.run("rules", lambda: spark_rules.rules_step(run, as_of, run_id))
    graded, _ = steps.run("decisions", lambda: spark_decisions.stage(run, as_of, profile),
                          lambda table: (_graded(run, as_of, profile), table),
                          keep=lambda value: value[1])
    steps.run("marketing", lambda: spark_marketing.stage(run, as_of, profile, graded, out_dir,
                                                         files),
              lambda _: files.update(_lists(out_dir)))
    steps.run("review", lambda: spark_review.review_step(run, store, as_of, run_id))


def _graded(run: st.SparkCycle, as_of: dt.date, profile: DataFrame) -> DataFrame:
    """The decisions stage's ``graded`` frame of a resumed run, from the stored results."""
    scores = run.results.read(store_results.PD_SCORES, as_of)
    personas = run.results.read(store_results.PERSONAS, as_of)
    strategies, _ = spark_decisions.strategy_frame(run, profile, personas)
    return spark_decisions.graded_frame(scores, strategies)


def _lists(out_dir: Path) -> dict[str, Path]:
    """The campaign lists a resumed marketing stage wrote (kept in ``out_dir``)."""
    folder = out_dir / "campaign_lists"
    return {"campaign_lists": folder} if folder.is_dir() else {}


@artefacts.trusted("spark_checkpoint")
@dataclass
class SparkCheckpoint:
    """What the run ledger keeps of one stage of a Spark cycle (its checkpoint).

    The per-firm rows stay in the Parquet results; the checkpoint holds the stage's record,
    the small value it handed on (the PD validation tables, the persona strategy table, the
    rule set, the review; ``None`` when its output is only its tables) and the model
    versions, which is what a resumed run and a rebuilt report need.

    Attributes
    ----------
    stage : SparkStage
    value : object
        Encoded by :mod:`creditpersona.artefacts` (trusted types only).
    models : dict
    results_root : str
        Where the stage wrote its tables.
    sample_cap : int
        The driver samples' cap the stage ran with.
    run_id : str
        The run that computed the stage (the ``run_id`` its tables carry).
    """

    stage: SparkStage
    value: Any
    models: dict[str, Any]
    results_root: str
    sample_cap: int
    run_id: str


@dataclass
class _Steps:
    """Runs the stages of one Spark cycle: each is computed, or taken from the checkpoint
    of the failed run this one resumes while every stage before it was, and recorded."""

    ledger: RunLedger
    on_stage: Callable[[str], None] | None
    run_: st.SparkCycle
    as_of: dt.date
    seconds: dict[str, float]
    models: dict[str, Any]
    done: dict[str, SparkStage] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    def checkpoint(self, stage: SparkStage, value: Any, models: dict[str, Any]
                   ) -> SparkCheckpoint:
        return SparkCheckpoint(stage, value, dict(models), self.run_.results.root,
                               self.run_.sample_cap, self.ledger.run_id)

    def record(self, name: str, stage: SparkStage, value: Any = None) -> None:
        self.seconds.setdefault(name, 0.0)
        self.done[name] = stage
        self.ledger.done(name, self.checkpoint(stage, value, {}), self.seconds[name])

    def run(self, name: str, compute: Callable[[], tuple[SparkStage, Any, dict[str, Any]]],
            resume: Callable[[Any], Any] = lambda value: value, *,
            keep: Callable[[Any], Any] = lambda value: value) -> Any:
        """The value stage ``name`` hands on: computed by ``compute``, or rebuilt by
        ``resume`` from the checkpoint's value (``keep`` of the computed value)."""
        saved = self._resumable(name)
        if saved is not None:
            if self.on_stage is not None:
                self.on_stage(f"{name} (resumed)")
            self.ledger.load(name)
            self.resumed.append(name)
            self.seconds[name] = 0.0
            self.done[name], self.values[name] = saved.stage, saved.value
            self.models.update(saved.models)
            return resume(saved.value)
        if self.on_stage is not None:
            self.on_stage(name)
        clock = time.perf_counter()
        try:
            stage, value, models = compute()
        except BaseException as exc:
            self.ledger.fail(name, exc)
            raise
        self.seconds[name] = time.perf_counter() - clock
        small = keep(value)
        self.computed.append(name)
        self.done[name], self.values[name] = stage, small
        self.models.update(models)
        self.ledger.done(name, self.checkpoint(stage, small, models), self.seconds[name])
        return value

    def _resumable(self, name: str) -> SparkCheckpoint | None:
        """The checkpoint of ``name`` in the run this one resumes, if every stage before
        was resumed and the stage's tables are still the ones it wrote: complete, in this
        run's results folder, written by that run, with the same sample cap."""
        if self.computed or not self.ledger.resumable(name):
            return None
        try:
            saved = self.ledger.peek(name)
        except StoreError:  # written by a version whose checkpoint held another type
            return None
        results = self.run_.results
        if (not isinstance(saved, SparkCheckpoint) or saved.results_root != results.root
                or saved.sample_cap != self.run_.sample_cap):
            return None
        for table in saved.stage.tables:
            if not results.exists(table, self.as_of):
                return None
            if "run_id" in store_results.table(table).columns and saved.stage.tables[table]:
                ids = results.read(table, self.as_of).select("run_id").distinct().limit(2)
                if [r["run_id"] for r in ids.collect()] != [saved.run_id]:
                    return None
        return saved


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


def _pd(run: st.SparkCycle, store: Store, as_of: dt.date, profile: DataFrame, refit: bool
        ) -> tuple[SparkStage, Any, dict[str, Any]]:
    """Score with the PD models in force (developed first on a driver sample if none is),
    grade, write ``pd_scores``; hand on the validation tables."""
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

