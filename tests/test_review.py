"""The quarterly review: stability, migration, matured performance, triggers, storage, report.

A small bank is written straight into a store (no pipeline run): 1,220 firms in three
industry sections over five quarter ends, profiles, PD scores and personas per quarter, a
persona model and two stand-in PD models registered for the first quarter, and credit-bureau
defaults in the year after it. Quarters 0–3 are stable; in quarter 4 construction (section
E) takes a shock to its credit record and PD. Everything is drawn from ``SEED``; the
assertions hold for other seeds too (checked for 1–7).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from creditpersona.errors import ConfigurationError, InsufficientDataError
from creditpersona.models import registry, validation
from creditpersona.models.development import save_scores
from creditpersona.models.master_scale import load_master_scale
from creditpersona.personas.identity import IdentityMatch
from creditpersona.personas.policy import (
    PersonaModel,
    PersonaPolicy,
    Segmentation,
    fit_personas,
    load_policy,
)
from creditpersona.personas.segment import SCORE_COLUMNS
from creditpersona.personas.store import save_assignments
from creditpersona.profile.build import ProfileRun, save_profile
from creditpersona.report.review import review_section
from creditpersona.review import (
    REVIEW_DRIFT,
    REVIEW_MIGRATION,
    REVIEW_PERFORMANCE,
    REVIEW_TRIGGERS,
    AnnualReview,
    ReviewConfig,
    category_stability_index,
    load_review_config,
    load_triggers,
    migration_matrix,
    review_stage,
    stability_index,
)
from creditpersona.review import triggers as trig
from creditpersona.review.config import PersonaReviewConfig
from creditpersona.store.store import LOAD_LOG, Store

SEED = 20260331
QUARTERS = [dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30),
            dt.date(2025, 12, 31), dt.date(2026, 3, 31)]
SECTIONS = {"C": 520, "E": 400, "F": 300}
CODES = {"C": "C38", "E": "E48", "F": "F51"}
SHOCK_QUARTER = 4
SHOCKED = "E"
LEAVERS = 20   # firms 0..19 are gone in the last quarter …
NEWCOMERS = 20  # … and the last 20 firms only appear in it
DEV_AUC = 0.80
CENTRES = np.array([[75.0, 72.0, 82.0, 30.0, 72.0],
                    [48.0, 46.0, 52.0, 55.0, 50.0],
                    [22.0, 24.0, 26.0, 80.0, 28.0]])


@dataclass(frozen=True)
class Bank:
    path: Path
    defaults: pd.DataFrame  # firm_id, default (the quarter-0 cohort's 12-month outcome)
    scores: dict[dt.date, pd.DataFrame]
    personas: dict[dt.date, pd.DataFrame]


def _firms(rng: np.random.Generator) -> pd.DataFrame:
    section = np.repeat(list(SECTIONS), list(SECTIONS.values()))
    n = len(section)
    return pd.DataFrame({
        "firm_id": [f"F{i:05d}" for i in range(n)], "industry_section": section,
        "industry_code": [CODES[s] for s in section], "cluster": rng.integers(0, 3, n),
        "log_size": rng.normal(16.0, 1.2, n), "effect": list(rng.normal(0.0, 4.0, (n, 5))),
        "risk": rng.normal(0.0, 0.5, n),
    })


def _quarter(firms: pd.DataFrame, q: int, rng: np.random.Generator) -> pd.DataFrame:
    """Profile and PD of every firm present in quarter ``q``."""
    n = len(firms)
    present = np.ones(n, dtype=bool)
    if q == SHOCK_QUARTER:
        present[:LEAVERS] = False
    else:
        present[n - NEWCOMERS:] = False
    f = firms[present].reset_index(drop=True)
    m = len(f)
    scores = (CENTRES[f["cluster"].to_numpy()] + np.vstack(f["effect"].to_numpy())
              + rng.normal(0.0, 1.5, (m, 5)))
    shocked = (f["industry_section"] == SHOCKED).to_numpy() & (q == SHOCK_QUARTER)
    scores[shocked, 2] -= 30.0
    credit = scores[:, 2]
    frame = pd.DataFrame(np.clip(scores, 0, 100), columns=list(SCORE_COLUMNS))
    frame.insert(0, "firm_id", f["firm_id"].to_numpy())
    frame["industry_section"] = f["industry_section"].to_numpy()
    frame["industry_code"] = f["industry_code"].to_numpy()
    frame["size_class"] = "small"
    frame["revenue"] = np.exp(f["log_size"].to_numpy() + rng.normal(0, 0.05, m))
    frame["total_assets"] = frame["revenue"] * 1.5
    frame["employees"] = np.round(frame["revenue"] / 1e5).astype("int64")
    frame["current_ratio"] = np.exp(0.01 * (scores[:, 1] - 50) + rng.normal(0, 0.05, m))
    frame["debt_to_assets"] = np.clip(0.8 - 0.005 * scores[:, 1] + rng.normal(0, 0.02, m), 0, 1)
    frame["late_share"] = np.clip(0.4 - 0.004 * credit + rng.normal(0, 0.02, m)
                                  + 0.3 * shocked, 0, 1)
    frame["bureau_overdue_24m"] = np.maximum(np.round(5 - credit / 20 + 4 * shocked
                                                      + rng.normal(0, 0.3, m)), 0)
    frame["max_days_late_24m"] = np.maximum(60 - 0.6 * credit + 60 * shocked
                                            + rng.normal(0, 3, m), 0)
    frame["gross_margin"] = 0.2 + 0.001 * scores[:, 0] + rng.normal(0, 0.01, m)
    logit = -3.2 + 0.05 * (50 - credit) + 0.02 * (scores[:, 3] - 50) + f["risk"].to_numpy()
    frame["pd"] = 1 / (1 + np.exp(-logit))
    frame["pd_challenger"] = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.3, m))))
    return frame


def _policy() -> PersonaPolicy:
    seg = Segmentation(k_min=3, k_max=3, features=list(SCORE_COLUMNS), categories={},
                       n_bootstrap=0, n_init=1, surrogate_depth=None, sample_size=20_000)
    return load_policy().model_copy(update={"segmentation": seg, "rules": []})


def _insert(store: Store, name: str, rows: list[dict[str, object]]) -> None:
    schema = store.table(name).schema().to_pyarrow()
    store.con.insert(name, pa.Table.from_pylist(
        [{c: r.get(c) for c in schema.names} for r in rows], schema=schema))


def _build(path: Path) -> Bank:
    rng = np.random.default_rng(SEED)
    firms = _firms(rng)
    scale = load_master_scale()
    frames = {d: _quarter(firms, q, rng) for q, d in enumerate(QUARTERS)}
    kept_scores, kept_personas = {}, {}
    with Store(path) as store:
        _insert(store, LOAD_LOG, [{"load_id": 1, "table_name": "firms", "status": "loaded"}])
        _insert(store, "firms", [{"firm_id": f, "industry_code": c, "load_id": 1,
                                  "founded_on": dt.date(2010, 1, 1)}
                                 for f, c in zip(firms["firm_id"], firms["industry_code"],
                                                 strict=True)])
        first = frames[QUARTERS[0]]
        model, _ = fit_personas(first, _policy())
        registry.register(store, model, name="personas", kind="persona_segmenter",
                          training=first[list(SCORE_COLUMNS)], features=list(SCORE_COLUMNS),
                          params={}, metrics={}, as_of=QUARTERS[0])
        for name in ("pd_champion", "pd_challenger"):
            registry.register(store, {"stand-in": name}, name=name, kind="test",
                              training=first[["pd"]], features=["pd"], params={},
                              metrics={"auc": DEV_AUC, "auc_low": DEV_AUC - 0.03,
                                       "auc_high": DEV_AUC + 0.03, "brier": 0.05},
                              as_of=QUARTERS[0])
        names = {"P1": ("稳健型", "steady"), "P2": ("平衡型", "balanced"),
                 "P3": ("紧张型", "strained")}
        for d, frame in frames.items():
            profile = frame.drop(columns=["pd", "pd_challenger"])
            save_profile(store, ProfileRun(f"run-{d}", d, "duckdb", profile))
            scores = frame[["firm_id", "pd", "pd_challenger"]].assign(
                grade=scale.assign(frame["pd"]))
            save_scores(store, d, scores)
            assigned = model.assign(profile)
            out = pd.concat([profile[["firm_id"]], assigned], axis=1)
            out["persona_name_zh"] = out["persona_id"].map(lambda p: names.get(p, (p, p))[0])
            out["persona_name_en"] = out["persona_id"].map(lambda p: names.get(p, (p, p))[1])
            save_assignments(store, d, out, 1, run_id=f"run-{d}")
            kept_scores[d], kept_personas[d] = scores, out
        # Outcomes of the first quarter's firms: a bureau report 90+ days past due within a year.
        p0 = frames[QUARTERS[0]]
        hit = rng.random(len(p0)) < np.clip(p0["pd"].to_numpy() * 1.5, 0, 1)
        days = rng.integers(10, 360, len(p0))
        _insert(store, "bureau_reports", [
            {"firm_id": f, "report_date": QUARTERS[0] + dt.timedelta(days=int(k)),
             "max_dpd_12m": 120, "written_off": 0.0, "load_id": 1}
            for f, k in zip(p0.loc[hit, "firm_id"], days[hit], strict=True)])
        defaults = pd.DataFrame({"firm_id": p0["firm_id"], "default": hit.astype(int)})
    return Bank(path, defaults, kept_scores, kept_personas)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    return _build(tmp_path_factory.mktemp("review") / "bank.duckdb")


@pytest.fixture
def store(bank: Bank, tmp_path: Path) -> Store:
    """A private copy of the bank's store (reviews write to it)."""
    path = tmp_path / "s.duckdb"
    shutil.copy(bank.path, path)
    s = Store(path)
    yield s
    s.close()


def _config(**personas: object) -> ReviewConfig:
    cfg = load_review_config()
    return cfg.model_copy(update={"personas": cfg.personas.model_copy(update=personas)})


# -- statistics --------------------------------------------------------------------------


def test_psi_of_identical_distributions_is_zero_and_of_a_shift_is_large() -> None:
    rng = np.random.default_rng(SEED)
    x = rng.lognormal(0.0, 1.0, 4000)
    assert stability_index(x, x) == pytest.approx(0.0, abs=1e-12)
    assert stability_index(x, rng.lognormal(0.0, 1.0, 4000)) < 0.02
    assert stability_index(x, x * 2.0) > 0.25
    # Without missing values it is the validation module's PSI.
    y = rng.lognormal(0.2, 1.0, 4000)
    assert stability_index(x, y) == pytest.approx(validation.psi(x, y), rel=1e-3)
    # Values going missing are drift of their own.
    gone = np.where(rng.random(4000) < 0.3, np.nan, x)
    assert stability_index(x, gone) > 0.25
    assert category_stability_index(list("AABBCC") * 100, list("AABBCC") * 50) == 0.0


def test_migration_matrix_equals_a_hand_crosstab() -> None:
    before = pd.Series(["P1", "P1", "P2", "P3", "P2"], index=list("abcde"))
    after = pd.Series(["P1", "P2", "P2", "P2", "P1"], index=list("abcfg"))
    m = migration_matrix(before, after)
    assert m.counts.loc["P1", "P1"] == 1 and m.counts.loc["P1", "P2"] == 1
    assert m.counts.loc["P2", "P2"] == 1
    assert m.counts.loc["P2", "(left)"] == 1 and m.counts.loc["P3", "(left)"] == 1
    assert m.counts.loc["(new)", ["P1", "P2"]].tolist() == [1, 1]
    assert m.rates.loc["P1"].sum() == pytest.approx(1.0)
    assert int(m.counts.to_numpy().sum()) == 7


# -- the stage on the bank ---------------------------------------------------------------


def test_review_of_the_shock_quarter(bank: Bank, store: Store) -> None:
    as_of, previous = QUARTERS[4], QUARTERS[3]
    r = review_stage(store, as_of)
    assert r.previous == previous

    # Persona migration: the crosstab of the stored assignments, with the margins.
    prev = bank.personas[previous].set_index("firm_id")["persona_id"]
    cur = bank.personas[as_of].set_index("firm_id")["persona_id"]
    both = prev.index.intersection(cur.index)
    hand = pd.crosstab(prev.loc[both], cur.loc[both])
    for a in hand.index:
        for b in hand.columns:
            assert r.persona_migration.loc[a, b] == hand.loc[a, b]
    assert int(r.persona_migration["(left)"].sum()) == LEAVERS
    assert int(r.persona_migration.loc["(new)"].sum()) == NEWCOMERS
    stored = store.table(REVIEW_MIGRATION).to_pandas()
    personas = stored[stored["kind"] == "persona"]
    assert int(personas["firms"].sum()) == len(prev.index.union(cur.index))

    # Rating migration in master-scale order, default last; construction downgraded most.
    scale = load_master_scale()
    assert list(r.rating_migration.index[:-1]) == scale.names
    assert r.rating_migration.columns[-2] == scale.default_grade
    assert r.downgrades_by_section["segment"].iloc[0].startswith(SHOCKED)
    assert r.downgrades_by_section.set_index("segment")["downgrade_share"][SHOCKED] > 0.5
    shares = r.rating_summary.iloc[0]
    assert shares[["upgrade_share", "stable_share", "downgrade_share"]].sum() == \
        pytest.approx(1.0)

    # The shocked industry (its section and divisions), and only it, is flagged; its reason
    # names moving features.
    flagged = r.flagged_industries["segment"].tolist()
    assert SHOCKED in flagged and all(seg.startswith(SHOCKED) for seg in flagged)
    reason = r.flagged_industries.set_index("segment")["reason"][SHOCKED]
    assert "建筑业" in reason and "PD PSI" in reason
    assert any(f in reason for f in ("late_share", "bureau_overdue_24m", "max_days_late_24m"))
    assert {seg[:1] for seg in r.rating_by_section["segment"]} == {"C", "E", "F"}
    e = r.drift[(r.drift["segment"] == SHOCKED) & (r.drift["variable"] == "pd")]
    assert e["psi"].iloc[0] > 0.25 and e["band"].iloc[0] == "drift"
    c = r.drift[(r.drift["segment"] == "C") & (r.drift["variable"] == "pd")]
    assert c["psi"].iloc[0] < 0.10

    # Matured cohort: the first quarter, with its own outcomes.
    assert r.cohort == QUARTERS[0]
    joined = bank.scores[QUARTERS[0]].merge(bank.defaults, on="firm_id")
    expected = validation.auc_delong(joined["default"], joined["pd"])
    champion = r.performance.set_index("model").loc["pd_champion"]
    assert champion["firms"] == len(joined)
    assert champion["defaults"] == int(joined["default"].sum()) >= 20
    assert champion["auc"] == pytest.approx(expected.auc)
    assert champion["dev_auc"] == pytest.approx(DEV_AUC)
    assert champion["observed_dr"] == pytest.approx(joined["default"].mean())
    assert len(r.performance_grades) > 3

    # One industry in three shocked moves the portfolio PD by less than the drift band: the
    # industry is flagged, the PD models are not sent back for re-development.
    t = r.triggers.set_index("trigger")
    assert 0.05 < t.loc["pd_score_psi", "value"] < 0.25
    assert not t.loc["pd_score_psi", "fired"] and t.loc["pd_score_psi", "command"] == ""
    assert r.triggers["fired"].tolist() == sorted(r.triggers["fired"], reverse=True)
    assert len(r.history) == 5 and r.history["mean_pd"].iloc[-1] > r.history["mean_pd"].iloc[0]
    assert r.model_versions == {"pd_champion": 1, "pd_challenger": 1, "personas": 1}


def test_no_trigger_fires_in_a_stable_quarter(store: Store) -> None:
    r = review_stage(store, QUARTERS[3])
    assert not r.triggers["fired"].any(), r.triggers[["trigger", "evidence"]]
    assert r.flagged_industries.empty
    assert r.cohort is None
    assert any("No cohort has matured" in n for n in r.notes)
    judged = r.triggers.set_index("trigger")["evaluated"]
    assert judged[["pd_score_psi", "persona_share_psi", "persona_feature_drift",
                   "persona_agreement"]].all()
    assert not judged["pd_auc_drop"]


def test_pd_psi_trigger_fires_beyond_its_threshold(store: Store) -> None:
    cfg = load_review_config()
    cfg = cfg.model_copy(update={"pd": cfg.pd.model_copy(update={"score_psi": 0.05})})
    r = review_stage(store, QUARTERS[4], config=cfg)
    row = r.triggers.set_index("trigger").loc["pd_score_psi"]
    assert row["fired"] and row["threshold"] == 0.05
    assert row["command"] == (f"creditpersona run --as-of 2026-03-31 --refit pd "
                              f"--store {store.path}")
    assert r.triggers["trigger"].iloc[0] == "pd_score_psi"  # fired first


def test_auc_drop_fires_against_a_higher_development_auc(store: Store) -> None:
    registry.register(store, {"stand-in": 1}, name="pd_champion", kind="test",
                      training=pd.DataFrame({"x": [1.0]}), features=["x"], params={},
                      metrics={"auc": 0.99}, as_of=QUARTERS[0])
    r = review_stage(store, QUARTERS[4])
    row = r.triggers.set_index("trigger").loc["pd_auc_drop"]
    assert row["fired"] and row["value"] > 0.05
    assert row["command"].startswith("creditpersona run --as-of 2026-03-31 --refit pd")


def test_rerunning_a_review_replaces_its_rows(store: Store) -> None:
    review_stage(store, QUARTERS[4])
    counts = {t: int(store.table(t).count().execute())
              for t in (REVIEW_DRIFT, REVIEW_MIGRATION, REVIEW_PERFORMANCE, REVIEW_TRIGGERS)}
    review_stage(store, QUARTERS[4])
    again = {t: int(store.table(t).count().execute()) for t in counts}
    assert again == counts and min(counts.values()) > 0
    stored = load_triggers(store, QUARTERS[4])
    assert sorted(stored["trigger"]) == sorted([
        "pd_auc_drop", "pd_score_psi", "persona_share_psi", "persona_feature_drift",
        "persona_agreement", "persona_annual_review"])
    assert not stored["fired"].any()  # an industry shock is not a re-fit (see above)


def test_first_quarter_is_reviewed_without_comparisons(store: Store) -> None:
    r = review_stage(store, QUARTERS[0])
    assert r.previous is None and r.cohort is None
    assert any("First quarter" in n for n in r.notes)
    assert r.migration.empty and r.persona_migration.empty and r.flagged_industries.empty
    assert not r.triggers["fired"].any() and not r.triggers["evaluated"].any()
    html = review_section(r)
    assert "季度检视" in html and "First quarter" in html


def test_missing_quarter_is_an_error(store: Store) -> None:
    with pytest.raises(InsufficientDataError, match="run `creditpersona run --as-of 2024-12-31"):
        review_stage(store, dt.date(2024, 12, 31))


def test_annual_review_confirms_stable_personas_once_a_year(store: Store) -> None:
    cfg = _config(annual_review_months=6)
    r = review_stage(store, QUARTERS[2], config=cfg)  # the model is six months old
    assert r.annual is not None and r.annual.performed and not r.annual.refit
    row = r.triggers.set_index("trigger").loc["persona_annual_review"]
    assert row["evaluated"] and not row["fired"] and row["value"] >= 0.7
    assert "confirms" in row["evidence"]
    nxt = review_stage(store, QUARTERS[3], config=cfg)  # confirmed last quarter: not due
    assert nxt.annual is not None and not nxt.annual.performed
    assert nxt.annual.last_confirmed == QUARTERS[2]
    assert nxt.annual.due_on == dt.date(2026, 3, 31)


def test_config_from_a_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "review.yaml"
    good.write_text("version: 2\nindustry: {min_firms: 50}\n", encoding="utf-8")
    cfg = load_review_config(good)
    assert cfg.industry.min_firms == 50 and cfg.stability.drift == 0.25
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nstability: {watch: 0.3, drift: 0.2}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="bad.yaml: invalid review thresholds"):
        load_review_config(bad)


def test_too_small_a_section_is_not_judged(store: Store) -> None:
    cfg = load_review_config().model_copy(update={
        "industry": load_review_config().industry.model_copy(update={"min_firms": 450})})
    r = review_stage(store, QUARTERS[4], config=cfg)
    judged = r.industries.set_index("segment")["judged"]
    assert judged["C"] and not judged["E"] and not judged["F"]
    assert r.flagged_industries.empty
    assert (r.drift.loc[r.drift["segment"] == "E", "band"] == "too few firms").all()


# -- triggers on their own ---------------------------------------------------------------

CTX = trig.Context(QUARTERS[4], "/data/bank.duckdb", {"personas": 3, "pd_champion": 2})
PERSONA_CFG = PersonaReviewConfig()


def test_persona_agreement_trigger() -> None:
    low = trig.persona_agreement(CTX, 0.7, 1000, QUARTERS[3], [3], PERSONA_CFG)
    high = trig.persona_agreement(CTX, 0.9, 1000, QUARTERS[3], [3], PERSONA_CFG)
    refit = trig.persona_agreement(CTX, 0.4, 1000, QUARTERS[3], [2, 3], PERSONA_CFG)
    assert low.fired and "--refit personas" in low.command and "匈牙利" in low.recommendation_zh
    assert not high.fired and high.evaluated and high.command == ""
    assert not refit.fired and not refit.evaluated and "changed" in refit.evidence


def test_persona_feature_drift_trigger() -> None:
    rows = pd.DataFrame({"variable": list("abcd"), "psi": [0.3, 0.4, 0.05, 0.01],
                         "beyond_noise": [True, True, True, True]})
    fired = trig.persona_feature_drift(CTX, rows, QUARTERS[0], PERSONA_CFG)
    assert fired.fired and fired.value == 0.5 and "b 0.40" in fired.evidence
    calm = trig.persona_feature_drift(CTX, rows.assign(psi=[0.3, 0.1, 0.05, 0.01]),
                                      QUARTERS[0], PERSONA_CFG)
    assert not calm.fired and calm.value == 0.25  # a quarter is not *more* than a quarter
    noisy = trig.persona_feature_drift(CTX, rows.assign(beyond_noise=False), QUARTERS[0],
                                       PERSONA_CFG)
    assert not noisy.fired


def test_annual_review_trigger() -> None:
    def review(ari: float, k_new: int = 4, unmatched: int = 0, refit: bool = False
               ) -> AnnualReview:
        match = IdentityMatch(pd.DataFrame({"new": [], "old": []}), 0.9, ari)
        return AnnualReview(3, QUARTERS[0], None, QUARTERS[4], True, match, 4, k_new,
                            unmatched, refit)
    ok = trig.persona_annual_review(CTX, review(0.85), PERSONA_CFG)
    assert not ok.fired and ok.evaluated and "confirm" in ok.recommendation_en
    bad = trig.persona_annual_review(CTX, review(0.5, refit=True), PERSONA_CFG)
    assert bad.fired and bad.command.endswith("--refit personas --store /data/bank.duckdb")
    due = AnnualReview(3, QUARTERS[2], None, dt.date(2026, 9, 30), False)
    later = trig.persona_annual_review(CTX, due, PERSONA_CFG)
    assert not later.fired and "2026-09-30" in later.evidence


def test_report_section_renders_the_review(store: Store) -> None:
    cfg = load_review_config()
    cfg = cfg.model_copy(update={"pd": cfg.pd.model_copy(update={"score_psi": 0.05})})
    r = review_stage(store, QUARTERS[4], config=cfg)
    html = review_section(r)
    for text in ("季度检视 Quarterly review", "<code>creditpersona run --as-of 2026-03-31",
                 "Persona migration", "Rating migration", "E 建筑业", "0.25"):
        assert text in html, text
    assert html.count("class=\"plotly-graph-div\"") >= 7


def test_persona_model_is_a_persona_model(bank: Bank) -> None:
    with Store(bank.path, read_only=True) as s:
        model, record = registry.load(s, "personas", as_of=QUARTERS[4])
    assert isinstance(model, PersonaModel) and record.as_of == QUARTERS[0]
    assert model.segmenter.n_personas_ == 3
