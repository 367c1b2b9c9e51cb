"""The quarterly cycle: idempotent per quarter, resumable after a failure, governed models.

One small bank (600 firms, four years) is run for two quarter ends; copies of its store
at each step let every test start from a known state. The comparisons cover every table
the cycle writes for a date, except run ids and timestamps.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditpersona import pipeline
from creditpersona.errors import ConfigurationError
from creditpersona.models import registry
from creditpersona.personas.store import load_assignments
from creditpersona.profile.build import load_profile
from creditpersona.runs import runs, stages
from creditpersona.store.ingest import ingest
from creditpersona.store.store import Store
from creditpersona.synth import generate_bank

Q1, Q2 = dt.date(2026, 3, 31), dt.date(2026, 6, 30)
#: Columns that differ between two runs by design (ids and clocks).
VOLATILE = {"run_id", "created_at", "started_at", "generated_at", "model_id"}
#: Tables that are not results of a date (inputs, ledger, registry).
NOT_RESULTS = {"firms", "financial_statements", "bureau_reports", "transactions", "loans",
               "repayments", "campaign_contacts", "documents", "load_log", "quarantine",
               "model_registry", "cycle_runs", "cycle_stages"}


@dataclass(frozen=True)
class Stores:
    """Store files at each step: ingested only, after Q1, after Q1 and Q2."""

    base: Path
    after_q1: Path
    clean: Path
    work: Path

    def copy(self, source: Path, name: str) -> Path:
        target = self.work / f"{name}.duckdb"
        shutil.copy(source, target)
        runs_dir = source.parent / f"{source.name}.runs"
        if runs_dir.exists():
            shutil.copytree(runs_dir, self.work / f"{target.name}.runs", dirs_exist_ok=True)
        return target


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    work = tmp_path_factory.mktemp("cycle")
    gen = generate_bank(work / "data", 600, 11, years=4, txn_per_firm_year=30, fmt="parquet")
    base = work / "base.duckdb"
    with Store(base) as st:
        ingest(st, [gen.out_dir])
    after_q1, clean = work / "after_q1.duckdb", work / "clean.duckdb"
    shutil.copy(base, after_q1)
    with Store(after_q1) as st:
        pipeline.run_cycle(st, Q1, work / "out")
    shutil.copy(after_q1, clean)
    with Store(clean) as st:
        pipeline.run_cycle(st, Q2, work / "out")
    yield Stores(base, after_q1, clean, work)


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


def test_the_cycle_writes_every_stage_for_the_date(stores: Stores) -> None:
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


def test_running_a_quarter_again_gives_the_same_results(stores: Stores) -> None:
    again = stores.copy(stores.clean, "again")
    with Store(again) as st:
        result = pipeline.run_cycle(st, Q2, stores.work / "out-again")
        assert result.resumed == ()  # a completed run is computed again, not reloaded
        assert not result.pd.fitted and not result.personas.fitted
    assert_same(snapshot(again, Q2), snapshot(stores.clean, Q2))
    assert_same(snapshot(again, Q1), snapshot(stores.clean, Q1))
    with Store(again, read_only=True) as st:
        versions = registry.records(st)[["name", "version", "as_of"]]
    with Store(stores.clean, read_only=True) as st:
        pd.testing.assert_frame_equal(versions, registry.records(st)[["name", "version",
                                                                      "as_of"]])


def test_a_failure_mid_stage_then_a_rerun_equals_a_clean_run(
        stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    from creditpersona.store import results

    broken = stores.copy(stores.after_q1, "broken")
    real = results.replace_date
    calls = {"n": 0}

    def crash_on_third_table(store: Store, name: str, as_of: dt.date,
                             frame: pd.DataFrame) -> int:
        if name.startswith("decision_"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("disk full (injected)")
        return real(store, name, as_of, frame)

    monkeypatch.setattr(results, "replace_date", crash_on_third_table)
    with Store(broken) as st, pytest.raises(OSError, match="injected"):
        pipeline.run_cycle(st, Q2, stores.work / "out-broken")
    monkeypatch.setattr(results, "replace_date", real)
    with Store(broken, read_only=True) as st:
        failed = runs(st, Q2).iloc[0]
        assert failed["status"] == "failed" and failed["failed_stage"] == "decisions"
        assert "injected" in failed["error"]
    seen: list[str] = []
    with Store(broken) as st:
        result = pipeline.run_cycle(st, Q2, stores.work / "out-broken", on_stage=seen.append)
    assert result.resumed == ("profile", "pd_models", "personas", "rules")
    assert seen[:4] == [f"{s} (resumed)" for s in result.resumed]
    assert_same(snapshot(broken, Q2), snapshot(stores.clean, Q2))
    with Store(broken, read_only=True) as st:
        ledger = runs(st, Q2)
        assert list(ledger["status"]) == ["completed", "failed"]
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


def test_a_refit_keeps_persona_ids_and_replaces_itself(stores: Stores) -> None:
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
