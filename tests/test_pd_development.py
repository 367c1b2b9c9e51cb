"""PD development on the synthetic bank: against the hidden truth, per grade, in the store.

The bank of the session fixture (2,000 firms, seed 5) is developed once as of 2026-06-30:
five quarter ends (2024-06-30 … 2025-06-30) whose twelve-month outcomes have matured.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SyntheticBank
from scipy import stats

from creditpersona.errors import InsufficientDataError
from creditpersona.models import development as devmod
from creditpersona.models import registry, validation
from creditpersona.models.calibration import CalibratedPD, LogitCalibration
from creditpersona.store.store import Store


@pytest.fixture(scope="module")
def developed(synthetic_bank: SyntheticBank, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, devmod.Development, pd.DataFrame]:
    path = tmp_path_factory.mktemp("pd") / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    with Store(path) as st:
        dates = devmod.development_dates(st, synthetic_bank.as_of)
        dev = devmod.develop(st, dates)
        applied = devmod.apply(dev, synthetic_bank.profile)
        devmod.save_scores(st, synthetic_bank.as_of, applied)
    return path, dev, applied


@pytest.fixture(scope="module")
def with_truth(developed: tuple[Path, devmod.Development, pd.DataFrame],
               synthetic_bank: SyntheticBank) -> pd.DataFrame:
    sample = developed[1].sample.assign(as_of=lambda f: pd.to_datetime(f["as_of"]))
    truth = synthetic_bank.quarter_truth().assign(as_of=lambda f: pd.to_datetime(f["as_of"]))
    merged = sample.merge(truth, on=["firm_id", "as_of"], how="left", validate="1:1")
    assert merged["true_pd_12m"].notna().all()
    # The truth's PD is 1 for firms already in default; those are not a ranking question.
    return merged[~merged["in_default"].astype(bool)]


def test_development_dates_are_matured_quarter_ends(
        developed: tuple[Path, devmod.Development, pd.DataFrame]) -> None:
    dates = sorted({pd.Timestamp(d).date() for d in developed[1].sample["as_of"]})
    assert dates[-1] == dt.date(2025, 6, 30) and len(dates) == 5
    assert all((d + dt.timedelta(days=1)).day == 1 and d.month % 3 == 0 for d in dates)


def test_models_rank_close_to_the_true_pd_without_beating_it(with_truth: pd.DataFrame) -> None:
    """Both models keep at least two thirds of the hidden true PD's Gini, and neither beats it.

    The true PD knows each firm's latent risk path over the next year; the models see only
    its noisy traces (statements, flows, bureau, text). Since the generator's warning signs
    follow the latent risk rather than the drawn default date (issue 15), no model can rank
    defaults better than the true PD: an AUC above it by more than sampling noise means a
    leak of the outcome into the features. On the bank with the leak the challenger beat the
    true PD by 0.19 AUC (3,000 firms, seed 7: 0.942 against 0.756); without it the models
    reach 69–83 % of the true PD's Gini (this bank, seed 5: 83 % for the challenger;
    bench/validate_pd_synthetic.py on 3,000 firms, seeds 7 and 8: 74–82 % and 69–70 %).
    A model with no signal (Gini 0) or a lost driver fails the lower bar; the old bar (AUC
    within 0.03 of the true PD) only held because of the leak.
    """
    y = with_truth["default"].to_numpy()
    truth_auc = validation.auc_delong(y, with_truth["true_pd_12m"]).auc
    assert truth_auc > 0.75
    for column in ("pd_challenger", "pd_champion"):
        auc = validation.auc_delong(y, with_truth[column]).auc
        assert auc <= truth_auc + 0.02, (column, auc, truth_auc)
        assert auc - 0.5 >= 2 / 3 * (truth_auc - 0.5), (column, auc, truth_auc)


def test_labels_agree_with_the_generator(with_truth: pd.DataFrame) -> None:
    agree = (with_truth["default"] == with_truth["defaulted_within_12m"].astype(int)).mean()
    assert agree > 0.99


@pytest.mark.xfail(strict=True, reason=(
    "Known calibration deficit on the leak-free generator (issue 15 item 5, measured "
    "2026-12-04 on this bank): the out-of-fold calibrated scorecard under-predicts in three "
    "of ten grades at 95 % (grades 1, 3, 9; none at 99.9 %) and Hosmer-Lemeshow is 29.7 "
    "(p 0.001 on 10 df). Strict: the marker must go when the calibration is fixed."))
def test_predicted_default_rate_per_grade_within_jeffreys_bounds(
        developed: tuple[Path, devmod.Development, pd.DataFrame]) -> None:
    """The grades come from the (calibrated) scorecard: its PD per grade must hold up."""
    dev = developed[1]
    y = dev.sample["default"].to_numpy()
    p = dev.sample["pd_champion"].to_numpy()
    table = validation.jeffreys_by_grade(dev.scale.assign(p), y, p, dev.scale.names[:-1])
    assert len(table) >= 6, table
    # One-sided at 95 %: each grade is flagged by chance with probability 5 %, so with ten
    # grades two may be (about 9 % of the time); none may be at 99.9 %.
    assert (~table["within"]).sum() <= 2, table
    strict = validation.jeffreys_by_grade(dev.scale.assign(p), y, p, dev.scale.names[:-1],
                                          level=0.999)
    assert strict["within"].all(), strict


def test_calibrated_scorecard_passes_hosmer_lemeshow(
        developed: tuple[Path, devmod.Development, pd.DataFrame]) -> None:
    """Hosmer–Lemeshow on the out-of-fold PDs, whose calibration was fitted on other folds.

    Predictions tested on data they were not fitted on follow chi-square with as many degrees
    of freedom as groups (10), not groups − 2 as for in-sample fits (Hosmer, Lemeshow and
    Sturdivant, Applied Logistic Regression, 3rd ed., §5.2.2); the stored p-value uses
    groups − 2 and is therefore stricter than the test of fit. Without the default-date leak
    the statistic on this bank is about 21 (p 0.007 on 8, 0.02 on 10 degrees of freedom).

    It failed (29.7, p 0.001) while every fold refitted the scorecard's binning; since the
    folds share the split points and C of the scorecard fitted on the whole sample
    (docs/pd-speed.md) it passes. That is a change of the out-of-fold models, not a fix of
    the calibration: the Jeffreys test per grade above still fails.
    """
    dev = developed[1]
    metrics = dev.metrics["champion"]
    assert stats.chi2.sf(metrics["hosmer_lemeshow"], 10) > 0.01, metrics
    assert metrics["auc_low"] < metrics["auc"] < metrics["auc_high"]


def test_scores_grades_and_reasons_are_stored(
        developed: tuple[Path, devmod.Development, pd.DataFrame],
        synthetic_bank: SyntheticBank) -> None:
    path, dev, applied = developed
    assert len(applied) == len(synthetic_bank.profile)
    assert applied["pd"].between(0, 1).all() and applied["grade"].isin(dev.scale.names).all()
    risky = applied.nlargest(20, "pd")
    assert risky["reason_1_zh"].notna().all() and risky["reason_1_en"].notna().all()
    # Higher grades hold riskier firms: mean PD rises with the grade.
    means = applied.groupby("grade")["pd"].mean().reindex(dev.scale.names).dropna()
    assert np.all(np.diff(means.to_numpy()) > 0)
    with Store(path) as st:
        stored = st.con.table(devmod.PD_SCORES).to_pandas()
        assert len(stored) == len(applied)
        devmod.save_scores(st, synthetic_bank.as_of, applied)  # same date: replaced
        assert st.con.table(devmod.PD_SCORES).count().execute() == len(applied)
        record = dev.records["champion"]
        model, _ = registry.load(st, record.name, record.version)
        assert isinstance(model, CalibratedPD)
        x = synthetic_bank.profile[list(devmod.FEATURES)].astype("float64").head(50)
        assert np.allclose(model.predict_pd(x), applied["pd"].head(50))


def test_validation_tables_are_complete(
        developed: tuple[Path, devmod.Development, pd.DataFrame]) -> None:
    _, dev, applied = developed
    tables = devmod.validation_tables(dev, applied)
    assert set(tables) >= {"metrics", "roc", "calibration", "jeffreys", "grades", "psi", "iv"}
    assert tables["iv"]["selected"].any() and tables["iv"]["zh"].notna().all()
    assert 0 <= tables["psi"] < 0.25
    plain = devmod.to_json(tables)
    assert isinstance(plain["jeffreys"], list) and isinstance(plain["roc"]["champion"], list)


def test_too_few_defaults_is_a_clear_error(tiny_bank: Path, tmp_path: Path) -> None:
    """On the session's 60-firm bank (conftest.py)."""
    shutil.copy(tiny_bank, tmp_path / "s.duckdb")
    with Store(tmp_path / "s.duckdb") as st:
        dates = devmod.development_dates(st, dt.date(2026, 6, 30))
        # One date is enough to show the error (each date costs a point-in-time profile).
        with pytest.raises(InsufficientDataError,
                           match=f"defaults among .* \\({dates[-1].isoformat()}\\); 5 folds "
                                 "need at least 50"):
            devmod.develop(st, dates[-1:])


def test_logit_calibration_is_monotone_and_validated() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(-4, 1.5, 20000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-(0.3 + 0.8 * z + 0.05 * z**2)))).astype(int)
    cal = LogitCalibration().fit(1 / (1 + np.exp(-z)), y)
    grid = cal.transform(np.linspace(1e-4, 0.9, 500))
    assert np.all(np.diff(grid) >= 0)
    with pytest.raises(ValueError, match="'degree' parameter of LogitCalibration"):
        LogitCalibration(degree=3).fit(np.full(10, 0.1), np.r_[np.zeros(5), np.ones(5)])


def test_a_bank_above_the_cap_is_developed_on_a_hash_sample_of_firms(
        developed: tuple[Path, devmod.Development, pd.DataFrame]) -> None:
    """Above ``max_firms`` the sample holds the firms of smallest stable hash, every table
    restricted to them: each firm's own features and label are those of the full sample.

    Only the text score may differ: a text naming a firm outside the sample is no longer
    shared with it (the Spark engine's hash sample restricts the names the same way).
    """
    path, dev, _ = developed
    last = max(pd.Timestamp(d).date() for d in dev.sample["as_of"])
    with Store(path, read_only=True) as st:
        small = devmod.development_sample(st, [last], max_firms=300)
        every = st.table("firms").firm_id.to_pandas()
    expected = devmod.development_firms(every, 300)
    assert expected is not None and len(expected) == 300 and len(every) > 300
    full = dev.sample[pd.to_datetime(dev.sample["as_of"]) == pd.Timestamp(last)]
    full = full[full["firm_id"].isin(expected)].set_index("firm_id").sort_index()
    small = small.set_index("firm_id").sort_index()
    assert set(small.index) <= set(expected) and len(small) == len(full) > 250
    assert small["default"].equals(full["default"].astype(small["default"].dtype))
    own = [f for f in devmod.FEATURES if f != "text_risk_score"]
    pd.testing.assert_frame_equal(small[own], full[own], check_dtype=False)
    with pytest.raises(ValueError, match="max_firms must be an int >= 1"):
        devmod.development_firms(dev.sample["firm_id"], 0)
