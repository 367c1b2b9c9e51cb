"""Master scale, default target and validation statistics against hand calculations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import SyntheticBank
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from creditpersona import ConfigurationError
from creditpersona.models import validation
from creditpersona.models.master_scale import load_master_scale


def test_master_scale_grades_and_floor() -> None:
    scale = load_master_scale()
    assert scale.names[-1] == "D" and len(scale.names) == 11
    grades = scale.assign([0.0, 0.0005, 0.001, 0.0011, 0.02, 0.99, 0.05], [0, 0, 0, 0, 0, 0, 1])
    assert grades.tolist() == ["1", "1", "1", "2", "6", "10", "D"]
    table = scale.table()
    assert table["pd_from"].iloc[0] == 0.0005 and table["pd_to"].iloc[-1] == 1.0


@given(st.lists(st.floats(0, 1), min_size=2, max_size=50))
def test_master_scale_is_monotone(pds: list[float]) -> None:
    scale = load_master_scale()
    order = {g: i for i, g in enumerate(scale.names)}
    ranks = [order[g] for g in scale.assign(sorted(pds))]
    assert ranks == sorted(ranks)


def test_master_scale_must_be_ordered(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "scale.yaml"  # type: ignore[operator]
    path.write_text("version: 1\npd_floor: 0.0005\ndefault_grade: D\ngrades:\n"
                    "  - {name: A, upper_pd: 0.1}\n  - {name: B, upper_pd: 0.05}\n")
    with pytest.raises(ConfigurationError, match=r"(?s)invalid master scale.*must increase"):
        load_master_scale(path)


def test_auc_matches_sklearn_and_delong_interval_covers() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = y * 0.3 + rng.random(400)
    a = validation.auc_delong(y, p)
    assert a.auc == pytest.approx(roc_auc_score(y, p))
    assert a.low < a.auc < a.high and a.gini == pytest.approx(2 * a.auc - 1)


def test_delong_variance_reference() -> None:
    # Hand calculation: positives {0.35, 0.8}, negatives {0.1, 0.4}.
    # V10 = (0.5, 1.0), V01 = (1.0, 0.5): var = 0.125/2 + 0.125/2 = 0.125, se = 0.35355.
    a = validation.auc_delong([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert a.auc == pytest.approx(0.75) and a.se == pytest.approx(0.353553, abs=1e-6)


def test_ks_brier_hl() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.4, 0.8, 0.9])
    assert validation.ks_statistic(y, p) == pytest.approx(2 / 3)
    assert validation.brier(y, p) == pytest.approx(np.mean((p - y) ** 2))
    rng = np.random.default_rng(0)
    pd_true = rng.uniform(0.01, 0.3, 20000)
    outcome = rng.random(20000) < pd_true
    _, p_good = validation.hosmer_lemeshow(outcome, pd_true)
    _, p_bad = validation.hosmer_lemeshow(outcome, pd_true / 2)
    assert p_good > 0.01 and p_bad < 1e-6


def test_jeffreys_matches_the_beta_posterior() -> None:
    grades = ["1"] * 100 + ["2"] * 50
    y = [1] * 2 + [0] * 98 + [1] * 10 + [0] * 40
    p = [0.02] * 100 + [0.05] * 50
    t = validation.jeffreys_by_grade(grades, y, p, ["1", "2", "3"]).set_index("grade")
    assert list(t.index) == ["1", "2"]
    assert t.loc["1", "p_value"] == pytest.approx(stats.beta.cdf(0.02, 2.5, 98.5))
    assert bool(t.loc["1", "within"]) and not bool(t.loc["2", "within"])


def test_jeffreys_is_one_sided() -> None:
    """An overstated PD (0 defaults among 400 at PD 2 %) passes; the regulatory test only
    asks whether the default rate is higher than the PD."""
    t = validation.jeffreys_by_grade(["1"] * 400, [0] * 400, [0.02] * 400, ["1"])
    assert bool(t["within"].iloc[0])
    assert t["low"].iloc[0] == pytest.approx(stats.beta.ppf(0.05, 0.5, 400.5))


def test_psi_conventions() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=20000)
    assert validation.psi(base, rng.normal(size=20000)) < validation.PSI_INVESTIGATE
    assert validation.psi(base, rng.normal(0.8, 1, 20000)) > validation.PSI_SIGNIFICANT


def test_calibration_table() -> None:
    t = validation.calibration_table([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], bins=2)
    assert t["observed_dr"].tolist() == [0.0, 1.0] and t["firms"].tolist() == [2, 2]


def test_labels_agree_with_the_generators_truth(synthetic_bank: SyntheticBank) -> None:
    """On the session's synthetic bank (2,000 firms, read-only; it was a 400-firm bank of its
    own, generated and ingested by this test)."""
    from creditpersona.contract.schema import TABLES
    from creditpersona.models.target import labels
    from creditpersona.store.store import Store

    as_of = dt.date(2025, 3, 31)
    with Store(synthetic_bank.store_path, read_only=True) as store:
        lab = labels({t.name: store.table(t.name) for t in TABLES}, as_of)
    truth = synthetic_bank.quarter_truth()
    truth = truth[truth["as_of"] == as_of.isoformat()]
    merged = lab.merge(truth, on="firm_id")
    assert len(merged) == len(lab) and merged["default"].sum() > 0
    assert (merged["default"] == merged["defaulted_within_12m"].astype(int)).mean() >= 0.98
    # A default becomes known with the next bureau report or the 90th day unpaid with us, so a
    # few firms already in default by the truth are still samples for the bank.
    assert merged["in_default"].astype(bool).mean() < 0.02


def test_registry_versions_and_refuses_altered_bytes(tmp_path: pytest.TempPathFactory) -> None:
    from sklearn.linear_model import LogisticRegression

    from creditpersona import StoreError
    from creditpersona.models import registry
    from creditpersona.models.calibration import LogitCalibration
    from creditpersona.store.store import Store

    x = pd.DataFrame({"a": np.linspace(0.02, 0.98, 400)})
    y = (np.random.default_rng(0).uniform(size=400) < x["a"]).astype(int).to_numpy()
    model = LogitCalibration(degree=1).fit(x["a"].to_numpy(), y)
    with Store(tmp_path / "r.duckdb") as store:  # type: ignore[operator]
        with pytest.raises(StoreError, match="no model registered yet"):
            registry.load(store, "pd")
        # Only trusted types are stored (nothing that would need a pickle to come back).
        with pytest.raises(TypeError, match="not a trusted artefact type"):
            registry.register(store, LogisticRegression().fit(x, y), name="pd", kind="logit",
                              training=x, features=["a"], params={}, metrics={})
        first = registry.register(store, model, name="pd", kind="logit", training=x,
                                  features=["a"], params={"C": 1.0}, metrics={"auc": 1.0})
        second = registry.register(store, model, name="pd", kind="logit", training=x,
                                   features=["a"], params={"C": 1.0}, metrics={"auc": 1.0})
        assert (first.version, second.version) == (1, 2)
        assert first.training_data_sha256 == registry.frame_sha256(x)
        loaded, record = registry.load(store, "pd")
        assert record.version == 2 and record.metrics == {"auc": 1.0}
        assert np.array_equal(loaded.transform(x["a"]),  # type: ignore[attr-defined]
                              model.transform(x["a"]))
        store.con.raw_sql("UPDATE model_registry SET artefact = artefact || '\\x00'::BLOB "
                          "WHERE version = 1")
        with pytest.raises(StoreError, match="fails its SHA-256 check"):
            registry.load(store, "pd", version=1)
