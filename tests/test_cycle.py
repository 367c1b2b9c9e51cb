"""The quarterly cycle: idempotent per quarter, resumable after a failure, governed models.

One small bank (400 firms, four years; the session's ``cycled_bank`` of conftest.py) is run
for two quarter ends; copies of its store at each step let every test start from a known
state. The comparisons cover every table the cycle writes for a date, except run ids and
timestamps. One re-run of quarter 2 (crashed mid-stage, then completed) serves both the
idempotence and the resume tests, so the module pays for one cycle beyond the session's two.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CYCLE_Q1, CYCLE_Q2, CycledBank

from creditpersona import pipeline
from creditpersona.errors import ConfigurationError
from creditpersona.models import registry
from creditpersona.personas.store import load_assignments
from creditpersona.profile.build import load_profile
from creditpersona.runs import runs, stages
from creditpersona.store.store import Store

Q1, Q2 = CYCLE_Q1, CYCLE_Q2
#: Columns that differ between two runs by design (ids and clocks).
VOLATILE = {"run_id", "created_at", "started_at", "generated_at", "model_id"}
#: Tables that are not results of a date (inputs, ledger, registry).
NOT_RESULTS = {"firms", "financial_statements", "bureau_reports", "transactions", "loans",
               "repayments", "campaign_contacts", "documents", "load_log", "quarantine",
               "model_registry", "cycle_runs", "cycle_stages"}


@pytest.fixture(scope="module")
def stores(cycled_bank: CycledBank) -> CycledBank:
    """The session's cycled bank (conftest.py): stores after Q1 and after Q1 and Q2."""
    return cycled_bank


def snapshot(path: Path, as_of: dt.date) -> dict[str, pd.DataFrame]:
    """Every result table's rows of ``as_of``, sorted, without ids and clocks."""
    out = {}
    with Store(path, read_only=True) as st:
        for name in sorted(set(st.con.list_tables()) - NOT_RESULTS):
            t = st.table(name)
            if "as_of" not in t.columns:
                continue
            frame = t.filter(t.as_of == as_of).to_pandas()
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            for c in frame.columns[[dtype is np.dtype(object) for dtype in frame.dtypes]]:
                frame[c] = [str(list(v)) if isinstance(v, list | np.ndarray) else v
                            for v in frame[c]]
            frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
            out[name] = frame
    return out


def assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=False, rtol=1e-9,
                                      obj=name)


def test_the_cycle_writes_every_stage_for_the_date(stores: CycledBank) -> None:
    tables = snapshot(stores.clean, Q2)
    for name in ("profiles", "pd_scores", "personas", "association_rules", "decision_pricing",
                 "offers", "review_triggers", "review_migration", "review_drift"):
        assert name in tables and len(tables[name]) > 0, name
    with Store(stores.clean, read_only=True) as st:
        ledger = runs(st)
        assert list(ledger["status"]) == ["completed", "completed"]
        # Quarter 2 used the models developed for quarter 1: nothing was re-fitted. The
        # packaged text-risk model is fitted once on public text, for no date, and is
        # registered once.
        reg = registry.records(st)
        assert set(reg.loc[reg["name"] != "text_risk", "as_of"]) == {Q1}
        text = reg[reg["name"] == "text_risk"]
        assert len(text) == 1 and text["as_of"].isna().all()
        latest = ledger.iloc[0]
        assert '"pd_champion": {"version": 1' in latest["models"]
        assert '"text_risk": {"version": 1' in latest["models"]
        assert len(latest["inputs_sha256"]) == 64 and "models/master_scale.yaml" in \
            latest["configs"]
        assert list(stages(st, latest["run_id"])["stage"]) == list(pipeline.STAGES)
        # The report of a completed run is rebuilt from its checkpoints, without computing.
        again = pipeline.load_cycle(st, Q2)
        assert again.run_id == latest["run_id"] and again.review.as_of == Q2
        stored = st.table("pd_scores").filter(st.table("pd_scores").as_of == Q2).to_pandas()
        assert dict(zip(stored["firm_id"], stored["pd"], strict=True)) == dict(
            zip(again.pd.scores["firm_id"], again.pd.scores["pd"], strict=True))


@dataclasses.dataclass(frozen=True)
class Rerun:
    """Quarter 2 of the clean store run again, failing mid-stage, then run to completion."""

    store: Path
    failed_stages: list[str]  # the stages the failing run started, in order
    resumed_stages: list[str]  # the stages the completing run resumed or started
    result: pipeline.CycleResult  # what the completing run returned


@pytest.fixture(scope="module")
def rerun(stores: CycledBank) -> Rerun:
    """Run the completed quarter 2 again, crash it while it writes its third decision
    table, then run it once more (which resumes the stages the crashed run finished).

    One re-run serves both the idempotence and the resume tests below: the crashed run
    computes profile, PD, personas and rules again over the quarter's rows, the completing
    run computes decisions, marketing and review again, so every stage of the quarter is
    recomputed once (a whole re-run costs another cycle).
    """
    from creditpersona.store import results

    store = stores.copy(stores.clean, "rerun")
    real = results.replace_date
    calls = {"n": 0}

    def crash_on_third_table(st: Store, name: str, as_of: dt.date,
                             frame: pd.DataFrame) -> int:
        if name.startswith("decision_"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("disk full (injected)")
        return real(st, name, as_of, frame)

    failed: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(results, "replace_date", crash_on_third_table)
        with Store(store) as st, pytest.raises(OSError, match="injected"):
            pipeline.run_cycle(st, Q2, stores.work / "out-rerun", on_stage=failed.append)
    seen: list[str] = []
    with Store(store) as st:
        result = pipeline.run_cycle(st, Q2, stores.work / "out-rerun", on_stage=seen.append)
    return Rerun(store, failed, seen, result)


def test_running_a_quarter_again_gives_the_same_results(stores: CycledBank,
                                                        rerun: Rerun) -> None:
    # A completed run is computed again, not reloaded: the re-run resumed nothing …
    assert rerun.failed_stages == ["profile", "pd_models", "personas", "rules", "decisions"]
    with Store(rerun.store, read_only=True) as st:
        assert pd.isna(runs(st, Q2)["resumed_from"].iloc[1])
    # … and re-fitted nothing (the completing run carries the re-run's PD and persona stages).
    assert not rerun.result.pd.fitted and not rerun.result.personas.fitted
    assert_same(snapshot(rerun.store, Q2), snapshot(stores.clean, Q2))
    assert_same(snapshot(rerun.store, Q1), snapshot(stores.clean, Q1))
    with Store(rerun.store, read_only=True) as st:
        versions = registry.records(st)[["name", "version", "as_of"]]
    with Store(stores.clean, read_only=True) as st:
        pd.testing.assert_frame_equal(versions, registry.records(st)[["name", "version",
                                                                      "as_of"]])


def test_a_failure_mid_stage_then_a_rerun_equals_a_clean_run(stores: CycledBank,
                                                             rerun: Rerun) -> None:
    with Store(rerun.store, read_only=True) as st:
        ledger = runs(st, Q2)
    failed = ledger.iloc[1]
    assert failed["status"] == "failed" and failed["failed_stage"] == "decisions"
    assert "injected" in failed["error"]
    assert rerun.result.resumed == ("profile", "pd_models", "personas", "rules")
    assert rerun.resumed_stages[:4] == [f"{s} (resumed)" for s in rerun.result.resumed]
    assert rerun.resumed_stages[4:] == ["decisions", "marketing", "review"]
    assert_same(snapshot(rerun.store, Q2), snapshot(stores.clean, Q2))
    assert list(ledger["status"]) == ["completed", "failed", "completed"]
    assert ledger["resumed_from"].iloc[0] == ledger["run_id"].iloc[1]


def test_only_a_failed_run_with_the_same_lineage_is_resumed(tmp_path: Path) -> None:
    from creditpersona.runs import Lineage, RunLedger

    lin = Lineage([{"load_id": 1, "sha256": "a"}], "a" * 64, {"x.yaml": "1"}, "duckdb", ())
    with Store(tmp_path / "s.duckdb") as st:
        failed = RunLedger.start(st, Q1, lin)
        failed.done("profile", {"rows": 3}, 1.0)
        failed.fail("pd_models", RuntimeError("injected"))
        same = RunLedger.start(st, Q1, lin)
        assert same.resumed_from == failed.run_id and same.resumable("profile")
        assert not same.resumable("pd_models")
        assert same.load("profile") == {"rows": 3}
        # Another input, configuration or re-fit: a new lineage, nothing is resumed.
        changed = Lineage(lin.inputs, "b" * 64, lin.configs, "duckdb", ())
        assert RunLedger.start(st, Q1, changed).resumed_from is None
        refit = Lineage(lin.inputs, lin.inputs_sha256, lin.configs, "duckdb", ("pd",))
        assert refit.fingerprint != lin.fingerprint
        assert RunLedger.start(st, Q1, lin, restart=True).resumed_from is None
        # A checkpoint altered after the run is not loaded.
        third = RunLedger.start(st, Q2, lin)
        third.done("profile", [1, 2], 0.1)
        third.fail("pd_models", RuntimeError("again"))
        (st.path.parent / f"{st.path.name}.runs" / Q2.isoformat() / "profile" /
         "state.json").write_bytes(b"tampered")
        assert not RunLedger.start(st, Q2, lin).resumable("profile")


def test_a_refit_keeps_persona_ids_and_replaces_itself(stores: CycledBank) -> None:
    store = stores.copy(stores.clean, "refit")
    with Store(store) as st:
        profiles = {d: load_profile(st, d).drop(columns=["as_of", "run_id", "engine"])
                    for d in (Q1, Q2)}
        scores = {d: st.table("pd_scores").filter(st.table("pd_scores").as_of == d).to_pandas()
                  for d in (Q1, Q2)}
        before = set(load_assignments(st, Q1)["persona_id"])
        first, _ = pipeline._personas(st, Q2, profiles[Q2], scores[Q2], refit=True)
        assert first.fitted and first.identity is not None and first.model_version == 2
        again, _ = pipeline._personas(st, Q2, profiles[Q2], scores[Q2], refit=True)
        assert again.model_version == 2  # replaced, not a third version
        # Identity matching: most persona ids carry over from the model in force.
        assert len(before & set(again.assignment["persona_id"])) >= len(before) - 1
        # Quarter 1 is still assigned with the model that was in force on it.
        back, _ = pipeline._personas(st, Q1, profiles[Q1], scores[Q1], refit=False)
        assert back.model_version == 1 and back.fitted
        assert registry.records(st, "personas")["version"].tolist() == [1, 2]
        assert registry.records(st, "personas")["as_of"].tolist() == [Q1, Q2]
        with pytest.raises(ConfigurationError, match="refit"):
            pipeline.run_cycle(st, Q2, stores.work / "o", refit=["everything"])
