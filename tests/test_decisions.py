"""Credit decisions: IRB capital, pricing, limits, five-tier classification, early warning.

Reference values come from DOMAIN.md (the IRB test vector, the tier boundaries) and from hand
calculations written out in the docstrings; the synthetic-bank tests check the decisions
against the bank's hidden truth.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SyntheticBank
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import creditpersona.decisions as decisions
from creditpersona.decisions import (
    TIERS,
    ProspectValueModel,
    classify_loans,
    customer_value,
    decision_stage,
    dscr_capacity,
    evaluate_warnings,
    irb_capital,
    load_decisions,
    load_warning_rules,
    price_loans,
    recommend_limits,
    tier_of_dpd,
    working_capital_limit,
    working_capital_need,
)
from creditpersona.decisions.limits import STATEMENT_COLUMNS
from creditpersona.decisions.warning import Rule, WarningRules
from creditpersona.errors import ConfigurationError, SchemaError
from creditpersona.models.base import NotFittedError
from creditpersona.models.master_scale import load_master_scale
from creditpersona.store.store import Store

CONFIG_DIR = Path(decisions.__file__).parent


def test_public_api_names_exist() -> None:
    for name in decisions.__all__:
        assert hasattr(decisions, name), name


# IRB capital ------------------------------------------------------------------------------

def test_irb_test_vector_of_domain_md() -> None:
    """DOMAIN.md §5: PD 1 %, LGD 45 %, M 2.5 → R 0.19278, b 0.13749, K 0.07385, RW 92.32 %."""
    row = irb_capital(0.01, 0.45, 2.5).iloc[0]
    assert row["correlation"] == pytest.approx(0.19278, abs=5e-6)
    assert row["maturity_slope"] == pytest.approx(0.13749, abs=5e-6)
    assert row["capital"] == pytest.approx(0.07385, abs=5e-6)
    assert row["risk_weight"] == pytest.approx(0.9232, abs=5e-5)


def test_sme_adjustment_follows_the_chinese_size_scale() -> None:
    """S = revenue / RMB 10 m clamped to [3, 30]: full 0.04 off at ≤ 30 m, none at ≥ 300 m."""
    r = irb_capital(0.01, 0.45, 2.5, [1e6, 3e7, 1.65e8, 3e8, 5e9, np.nan])["correlation"]
    base = 0.19278
    expected = [base - 0.04, base - 0.04, base - 0.02, base, base, base]
    assert r.to_numpy() == pytest.approx(expected, abs=5e-6)


@settings(max_examples=40, deadline=None)
@given(p=st.floats(1e-6, 0.999), lgd=st.floats(0.0, 1.0), m=st.floats(0.1, 10.0))
def test_capital_is_between_zero_and_lgd(p: float, lgd: float, m: float) -> None:
    k = float(irb_capital(p, lgd, m)["capital"].iloc[0])
    assert 0.0 <= k <= lgd * 1.5 + 1e-12
    assert float(irb_capital(1.0, lgd, m)["capital"].iloc[0]) == 0.0


# Working capital, DSCR, limits ------------------------------------------------------------

def test_working_capital_hand_example() -> None:
    """Hand calculation (DOMAIN.md §6, CBRC 2010 annex).

    Prior-year revenue 100,000,000, sales margin 5 %, expected growth 10 %.
    Days: inventory 60, receivables 45, payables 30, prepayments 10, advance receipts 5
    → cycle 60 + 45 − 30 + 10 − 5 = 80 days → turnover 360 / 80 = 4.5.
    营运资金量 = 100,000,000 × (1 − 0.05) × (1 + 0.10) / 4.5 = 104,500,000 / 4.5
              = 23,222,222.22.
    New limit = 23,222,222.22 − own funds 8,000,000 − existing loans 10,000,000
                − other channels 2,000,000 = 3,222,222.22.

    The same firm through ``recommend_limits`` from statement lines: cost of sales
    90,000,000, inventory 15,000,000 (60 days of cost), receivables 12,500,000 (45 days of
    revenue), payables 7,500,000 (30 days of cost), prepayments 2,500,000 (10 days of cost),
    advance receipts 1,388,888.89 (5 days of revenue), net profit 5,000,000, last year's
    revenue 100,000,000 / 1.1; current assets − current liabilities = 8,000,000 own funds;
    short-term debt 12,000,000 (existing 10 m + other channels 2 m) → capacity
    3,222,222.22; grade 1 (× 1.0) and stable manufacturer (× 1.1) → 3,544,444.44.
    """
    need = working_capital_need(1e8, 0.05, 0.10, 60, 45, 30, 10, 5)
    assert need[0] == pytest.approx(23_222_222.22, abs=0.01)
    assert working_capital_limit(need, 8e6, 10e6, 2e6)[0] == pytest.approx(3_222_222.22,
                                                                             abs=0.01)
    st_row = {"firm_id": "A", "revenue": 1e8, "cost_of_sales": 9e7, "net_profit": 5e6,
              "interest_expense": 0.0, "current_assets": 4e7, "current_liabilities": 3.2e7,
              "receivables": 1.25e7, "inventory": 1.5e7, "prepayments": 2.5e6,
              "payables": 7.5e6, "advance_receipts": 1e8 * 5 / 360, "short_term_debt": 1.2e7,
              "long_term_debt": 0.0, "operating_cash_flow": 6e6,
              "depreciation_amortisation": 0.0, "prev_revenue": 1e8 / 1.1}
    firms = pd.DataFrame({"firm_id": ["A"], "grade": ["1"],
                          "persona_strategy": ["stable_manufacturer"]})
    lim = recommend_limits(firms, pd.DataFrame([st_row]), product="working_capital").iloc[0]
    assert lim["wc_need"] == pytest.approx(23_222_222.22, abs=0.01)
    assert lim["wc_capacity"] == pytest.approx(3_222_222.22, abs=0.01)
    assert lim["recommended_limit"] == pytest.approx(3_544_444.44, abs=0.01)
    assert lim["binding"] == "working_capital_need"


def test_dscr_capacity_keeps_the_minimum_cover() -> None:
    """The loan's level service plus the existing service equals CFADS / 1.3."""
    cfads, existing, rate, months = 26e6, 5e6, 0.045, 120
    loan = dscr_capacity(cfads, existing, rate, months, 1.3)[0]
    service = loan * rate / (1 - (1 + rate) ** -(months / 12))
    assert (service + existing) == pytest.approx(cfads / 1.3, rel=1e-9)
    assert dscr_capacity(1e6, 5e6, rate, months)[0] == 0.0


def _statements(n: int, rng: np.random.Generator) -> pd.DataFrame:
    revenue = 10 ** rng.uniform(6, 9.5, n)
    frame = pd.DataFrame({"firm_id": [f"F{i:05d}" for i in range(n)]})
    for c in STATEMENT_COLUMNS:
        frame[c] = revenue * rng.uniform(0.0, 0.8, n)
    frame["revenue"] = revenue
    frame["net_profit"] = revenue * rng.uniform(-0.1, 0.15, n)
    frame["operating_cash_flow"] = revenue * rng.uniform(-0.1, 0.3, n)
    frame["prev_revenue"] = revenue / rng.uniform(0.7, 1.5, n)
    return frame


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_limits_are_never_negative_and_ignore_row_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stm = _statements(40, rng)
    grades = rng.choice(load_master_scale().names, 40)
    personas = rng.choice([*load_decisions().personas, "unknown_code"], 40)
    firms = pd.DataFrame({"firm_id": stm["firm_id"], "grade": grades,
                          "persona_strategy": personas})
    out = recommend_limits(firms, stm)
    assert (out["recommended_limit"] >= 0).all()
    assert (out.loc[firms["grade"].eq("D").to_numpy(), "recommended_limit"] == 0).all()
    order = rng.permutation(40)
    shuffled = recommend_limits(firms.iloc[order], stm.iloc[rng.permutation(40)])
    pd.testing.assert_frame_equal(
        out.set_index("firm_id").sort_index(), shuffled.set_index("firm_id").sort_index())


def test_the_binding_constraint_is_named() -> None:
    rng = np.random.default_rng(3)
    stm = _statements(2, rng)
    stm["revenue"] = 2e9
    stm[["current_assets", "current_liabilities", "short_term_debt"]] = [0.0, 0.0, 0.0]
    stm[["receivables", "inventory"]] = [4e8, 4e8]
    firms = pd.DataFrame({"firm_id": stm["firm_id"], "grade": ["1", "1"],
                          "persona_strategy": ["micro_inclusive", "stable_manufacturer"]})
    out = recommend_limits(firms, stm, bank_debt=pd.Series([0.0, 1.999e9], index=stm.firm_id))
    # micro_inclusive's main product is capped at 10 m; the other is capped by leverage.
    assert out["binding"].tolist() == ["product_cap", "leverage_cap"]
    assert out["recommended_limit"].tolist() == pytest.approx([1e7, 1e6])
    assert out["binding_zh"].tolist() == ["产品额度上限", "负债/收入上限"]


# Five-tier classification -------------------------------------------------------------------

@pytest.mark.parametrize(("dpd", "tier"), [
    (0, "normal"), (1, "special_mention"), (90, "special_mention"), (91, "substandard"),
    (270, "substandard"), (271, "doubtful"), (360, "doubtful"), (361, "loss"),
])
def test_five_tier_day_boundaries(dpd: int, tier: str) -> None:
    assert TIERS[int(tier_of_dpd([dpd])[0])] == tier
    book = pd.DataFrame({"loan_id": ["L1"], "firm_id": ["A"], "dpd": [dpd],
                         "outstanding": [1.0]})
    assert classify_loans(book)["tier"].iloc[0] == tier


def test_same_bank_contagion_above_ten_percent() -> None:
    """NPL 10 % of claims: no contagion (the rule says more than 10 %); 10.1 %: all NPL."""
    book = pd.DataFrame({
        "loan_id": ["1", "2", "3", "4"], "firm_id": ["A", "A", "B", "B"],
        "dpd": [91, 0, 91, 10], "outstanding": [10.0, 90.0, 10.1, 89.9]})
    out = classify_loans(book)
    assert out["tier"].tolist() == ["substandard", "normal", "substandard", "substandard"]
    assert out["contagion"].tolist() == [False, False, False, True]


# Pricing ---------------------------------------------------------------------------------------

def _firms(pd_value: float, persona: str | None) -> pd.DataFrame:
    grade = load_master_scale().assign([pd_value])[0]
    return pd.DataFrame({"firm_id": ["A"], "pd": [pd_value], "grade": [grade],
                         "persona_strategy": [persona]})


def _request(**extra: object) -> pd.DataFrame:
    return pd.DataFrame({"firm_id": ["A"], "amount": [1e7], "term_months": [36],
                         "product": ["working_capital"], "collateral_type": ["real_estate"],
                         **{k: [v] for k, v in extra.items()}})


def test_price_is_the_sum_of_its_components_and_the_floor_earns_the_hurdle() -> None:
    row = price_loans(_request(), _firms(0.02, "trading_turnover")).iloc[0]  # adjustment 0
    parts = [row[c] for c in decisions.COMPONENTS]
    assert row["rate"] * 1e4 == pytest.approx(sum(parts))
    assert row["spread_bp"] == pytest.approx(row["rate"] * 1e4 - 300.0)
    assert row["expected_loss_bp"] == pytest.approx(0.02 * 0.25 * 1e4)
    assert row["raroc"] == pytest.approx(0.12)
    assert not row["below_hurdle"]


def test_persona_adjustments_move_the_price_and_flag_raroc() -> None:
    cfg = load_decisions()
    rows = {p: price_loans(_request(), _firms(0.02, p)).iloc[0]
            for p in ("stable_manufacturer", "leveraged_distressed", "no_such_persona")}
    base = rows["no_such_persona"]
    assert base["persona_policy"] == "default"
    for p in ("stable_manufacturer", "leveraged_distressed"):
        adj = cfg.personas[p].spread_adjustment_bp
        assert rows[p]["spread_bp"] - base["spread_bp"] == pytest.approx(adj)
    assert rows["stable_manufacturer"]["below_hurdle"]  # a discount costs RAROC
    assert not rows["leveraged_distressed"]["below_hurdle"]


def test_unpriceable_and_defaulted_loans_are_flagged() -> None:
    risky = price_loans(_request(), _firms(0.6, None)).iloc[0]
    assert risky["floor_above_max"] and risky["below_hurdle"]
    assert risky["spread_bp"] == load_decisions().spread_bounds_bp[1]
    defaulted = pd.DataFrame({"firm_id": ["A"], "pd": [1.0], "grade": ["D"]})
    assert price_loans(_request(), defaulted)["declined"].iloc[0]


def test_pricing_input_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match="firm_id=B has no PD score"):
        price_loans(_request().assign(firm_id="B"), _firms(0.02, None))
    with pytest.raises(SchemaError, match="product 'mortgage' is not in the catalogue"):
        price_loans(_request(product="mortgage").drop(columns="product").assign(
            product="mortgage"), _firms(0.02, None))
    with pytest.raises(SchemaError, match="lacks the column"):
        price_loans(_request(), _firms(0.02, None).drop(columns="grade"))


def _write_config(tmp_path: Path, edit: dict[str, object]) -> Path:
    data = yaml.safe_load((CONFIG_DIR / "decisions.yaml").read_text(encoding="utf-8"))
    for dotted, value in edit.items():
        node = data
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    out = tmp_path / "decisions.yaml"
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


def test_configuration_errors_are_reported(tmp_path: Path) -> None:
    bad = _write_config(tmp_path, {"personas.growth_tech.spread_adjustment_bp": 250})
    with pytest.raises(ConfigurationError, match=r"growth_tech.*outside strategy_bounds_bp"):
        load_decisions(bad)
    bad = _write_config(tmp_path, {"personas.default": None})
    with pytest.raises(ConfigurationError, match="needs a 'default' entry"):
        load_decisions(bad)
    bad = _write_config(tmp_path, {"lgd.by_collateral.deposit": 1.5})
    with pytest.raises(ConfigurationError, match="LGD values must lie in"):
        load_decisions(bad)
    bad = _write_config(tmp_path, {"classification.doubtful_after_days": 60})
    with pytest.raises(ConfigurationError, match="thresholds must increase"):
        load_decisions(bad)


def test_prospect_model_parameter_errors_and_fitting() -> None:
    with pytest.raises(ConfigurationError, match=r"The 'learning_rate' parameter of "
                       r"ProspectValueModel must be a float in \(0, 1\]\. Got 2 instead\."):
        ProspectValueModel(learning_rate=2).fit(pd.DataFrame({"revenue": [1.0]}), [1.0])
    with pytest.raises(NotFittedError):
        ProspectValueModel().predict(pd.DataFrame({"revenue": [1.0]}))


def test_customer_value_adds_up() -> None:
    """One 10 m working-capital loan at LPR + 100 bp, 12-month FTP 2 %, PD 1 %, LGD 45 %:
    margin 10 m × (4 % − 2 %) = 200,000; fees 10 bp = 10,000; loan opex 40 bp = 40,000 +
    relationship 12,000 (small); EL = 0.01 × 0.45 × 10 m = 45,000; deposits: 20 days of
    36.5 m inflows = 2 m at 1.2 % = 24,000."""
    firms = pd.DataFrame({"firm_id": ["A"], "pd": [0.01], "size_class": ["small"],
                          "inflow_12m": [36.5e6], "revenue": [np.nan]})
    book = pd.DataFrame({"firm_id": ["A"], "outstanding": [1e7], "lgd": [0.45],
                         "maturity_years": [1.0], "term_months": [12],
                         "product": ["working_capital"], "lpr_tenor": ["1Y"],
                         "spread_bp": [100.0]})
    v = customer_value(firms, book).iloc[0]
    assert v["interest_margin"] == pytest.approx(200_000)
    assert v["fees"] == pytest.approx(10_000)
    assert v["operating_cost"] == pytest.approx(52_000)
    assert v["expected_loss"] == pytest.approx(45_000)
    assert v["deposit_spread"] == pytest.approx(24_000)
    k = irb_capital(0.01, 0.45, 1.0)["capital"].iloc[0]
    assert v["capital"] == pytest.approx(k * 1e7)
    assert v["raroc"] == pytest.approx((234_000 - 52_000 - 45_000) / (k * 1e7))


# Early-warning rules ----------------------------------------------------------------------

def _rules(*rules: Rule) -> WarningRules:
    return WarningRules(version=1, severity_points={"low": 1, "medium": 2, "high": 4},
                        watch_points=4, red_points=8, rules=list(rules))


def test_change_rules_need_the_earlier_profile_and_persona_rules_their_persona() -> None:
    change = Rule(id="rev_fall", category="financial", severity="high", feature="inflow_90d",
                  kind="pct_change", op="<", threshold=-0.5, zh="流入下降", en="inflows fell",
                  fmt="%.0f%%", scale=100)
    persona = Rule(id="runway", category="flows", severity="high",
                   feature="cash_runway_months", op="<", threshold=6,
                   personas=["growth_tech"], zh="现金可支撑月数", en="runway")
    now = pd.DataFrame({"firm_id": ["A", "B", "C"], "inflow_90d": [10.0, 90.0, 10.0],
                        "cash_runway_months": [3.0, 3.0, 30.0],
                        "persona_strategy": ["growth_tech", "stable_manufacturer", "growth_tech"]})
    before = pd.DataFrame({"firm_id": ["C", "A", "B"], "inflow_90d": [100.0, 100.0, 100.0]})
    alone = evaluate_warnings(now, None, _rules(change, persona))
    assert alone.skipped == ["rev_fall"]
    assert alone.watchlist["firm_id"].tolist() == ["A"]
    res = evaluate_warnings(now, {1: before}, _rules(change, persona))
    assert res.skipped == []
    assert res.hits["rev_fall"].tolist() == [True, False, True]
    assert res.firms.set_index("firm_id")["level"].to_dict() == {
        "A": "red", "B": "none", "C": "amber"}
    assert res.firms.set_index("firm_id").loc["C", "reasons_en"] == "inflows fell -90%"


def test_warning_backtest_counts_detections_and_false_alarms() -> None:
    from creditpersona.decisions.backtest import warning_backtest

    rule = Rule(id="overdue", category="repayment", severity="high", feature="current_dpd",
                op=">", threshold=0, zh="逾期", en="overdue")
    profile = pd.DataFrame({"firm_id": list("ABCDEF"),
                            "current_dpd": [5.0, 0.0, 9.0, 0.0, 0.0, 30.0]})
    outcomes = pd.DataFrame({"firm_id": list("ABCDEF"),
                             "defaulted_within_12m": [True, True, False, False, None, True],
                             "in_default": [False] * 5 + [True]})
    row = warning_backtest(profile, outcomes, rules=_rules(rule)).loc["watch"]
    # E has no outcome and F is already in default: A–D remain; A of A, B caught; C false.
    assert (row["firms"], row["defaulters"], row["flagged"]) == (4, 2, 2)
    assert row["detection_rate"] == 0.5 and row["false_alarm_rate"] == 0.5


def test_packaged_rules_load_and_read_only_profile_features(synthetic_bank) -> None:
    rules = load_warning_rules()
    features = {r.feature for r in rules.rules}
    assert features <= set(synthetic_bank.profile.columns)
    with pytest.raises(SchemaError, match="lacks feature"):
        evaluate_warnings(synthetic_bank.profile[["firm_id", "current_dpd"]])


# On the synthetic bank --------------------------------------------------------------------

def _truth_scores(truth: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    t = truth[truth["as_of"] == as_of.isoformat()]
    grade = load_master_scale().assign(t["true_pd_12m"], t["in_default"].astype(bool))
    return pd.DataFrame({"firm_id": t["firm_id"], "pd": t["true_pd_12m"], "grade": grade,
                         "persona_strategy": t["persona"]})


@pytest.fixture(scope="module")
def bank_store(synthetic_bank, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decisions") / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    return path


@pytest.fixture(scope="module")
def staged(synthetic_bank, bank_store: Path):
    """The decision stage on the truth PD (the PD model stands outside this stage)."""
    scores = _truth_scores(synthetic_bank.quarter_truth(), synthetic_bank.as_of)
    with Store(bank_store) as st:
        result = decision_stage(st, synthetic_bank.as_of, synthetic_bank.profile, scores)
    return result, scores


def test_stage_saves_replaceable_tables(synthetic_bank, bank_store: Path, staged) -> None:
    result, scores = staged
    with Store(bank_store) as st:
        again = decision_stage(st, synthetic_bank.as_of, synthetic_bank.profile, scores)
        for attr, name in decisions.stage.TABLE_NAMES.items():
            stored = int(st.table(name).count().execute())
            assert stored == len(getattr(again, attr)), name
    assert len(result.value) == len(result.limits) == len(scores.merge(
        synthetic_bank.profile[["firm_id"]]))
    assert (result.limits["recommended_limit"] >= 0).all()
    assert result.pricing["persona_policy"].nunique() >= 6


def test_stage_classification_agrees_with_the_profile(synthetic_bank, staged) -> None:
    """The profile and the classification compute days past due apart; they must agree."""
    result, _ = staged
    firm = result.classification.set_index("firm_id")
    prof = synthetic_bank.profile.set_index("firm_id")["current_dpd"]
    overdue = prof[prof > 90].index.intersection(firm.index)
    assert len(overdue) > 10
    assert firm.loc[overdue, "npl"].all()
    assert set(firm["tier"]) <= set(TIERS)


def test_defaulted_firms_are_on_the_watch_list(synthetic_bank, staged) -> None:
    result, scores = staged
    truth = synthetic_bank.quarter_truth()
    t = truth[truth["as_of"] == synthetic_bank.as_of.isoformat()].set_index("firm_id")
    watched = set(result.watchlist["firm_id"])
    in_default = t.index[t["in_default"].astype(bool)]
    healthy = t.index[(~t["in_default"].astype(bool)) & (t["true_pd_12m"] < 0.01)]
    share_default = np.mean([f in watched for f in in_default])
    share_healthy = np.mean([f in watched for f in healthy])
    assert share_default >= 0.8
    assert share_healthy <= 0.15
    assert result.watchlist["reasons_zh"].str.len().gt(0).all()
    assert result.watchlist["reasons_en"].str.len().gt(0).all()


def test_prospect_model_beats_the_mean_on_held_out_customers(synthetic_bank, staged) -> None:
    result, scores = staged
    firms = synthetic_bank.profile.merge(scores, on="firm_id")
    y = result.value.set_index("firm_id").loc[firms["firm_id"], "revenue_contribution"]
    customers = result.value.set_index("firm_id").loc[firms["firm_id"], "customer"].to_numpy()
    X, y = firms[customers].reset_index(drop=True), y[customers].to_numpy()
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    model = ProspectValueModel(max_iter=100).fit(X[~test], y[~test])
    pred = model.predict(X[test])
    z, zhat = np.arcsinh(y[test] / 1e4), np.arcsinh(pred / 1e4)
    r2 = 1 - np.sum((z - zhat) ** 2) / np.sum((z - z.mean()) ** 2)
    assert r2 > 0.3


def test_persona_aware_pricing_beats_a_flat_spread(synthetic_bank, bank_store: Path) -> None:
    from creditpersona.decisions.backtest import price_at_origination, pricing_backtest

    with Store(bank_store, read_only=True) as st:
        loans = st.table("loans").to_pandas()
    history = synthetic_bank.quarter_truth().rename(columns={"true_pd_12m": "pd"})
    priced = price_at_origination(loans, history)
    defaults = synthetic_bank.firms_truth().set_index("firm_id")["default_date"]
    out = pricing_backtest(priced, defaults, synthetic_bank.as_of)
    aware, flat = out.loc["persona_aware"], out.loc["flat"]
    assert aware["el_rate"] < flat["el_rate"]
    assert aware["raroc_realised"] > flat["raroc_realised"]
    everyone = pricing_backtest(priced, defaults, synthetic_bank.as_of, acceptance=False)
    # Same average price and the same book: expected loss differs only by declined loans.
    assert everyone.loc["flat", "loans"] >= everyone.loc["persona_aware", "loans"]


# Command line and report --------------------------------------------------------------------

def test_cli_price_limit_monitor(synthetic_bank, bank_store: Path, staged,
                                 tmp_path: Path) -> None:
    import typer

    from creditpersona.cli.decisions import decisions_app

    app = typer.Typer()
    app.add_typer(decisions_app)
    runner = CliRunner()
    result, _ = staged
    firm = result.limits.loc[result.limits["recommended_limit"].idxmax(), "firm_id"]
    base = ["--store", str(bank_store), "--as-of", synthetic_bank.as_of.isoformat()]
    out = runner.invoke(app, ["price", *base, "--firm", firm, "--amount", "5000000",
                              "--term-months", "12", "--pd", "0.02"])
    assert out.exit_code == 0, out.output
    assert "recommended rate" in out.output and "RAROC" in out.output
    out = runner.invoke(app, ["limit", *base, "--firm", firm, "--pd", "0.02"])
    assert out.exit_code == 0, out.output
    assert "binding constraint" in out.output
    out = runner.invoke(app, ["price", *base, "--firm", "NOPE", "--amount", "1",
                              "--term-months", "12", "--pd", "0.02"])
    assert out.exit_code == 2
    assert "firm_id=NOPE is not in the profile" in out.output
    out = runner.invoke(app, ["price", *base, "--firm", firm, "--amount", "1",
                              "--term-months", "12"])
    assert out.exit_code == 2 and "no PD score" in out.output
    csv = tmp_path / "watch.csv"
    out = runner.invoke(app, ["monitor", *base, "--csv", str(csv), "--top", "3"])
    assert out.exit_code == 0, out.output
    assert len(pd.read_csv(csv)) > 0


def test_report_section_renders(staged) -> None:
    from creditpersona.report.decisions import decisions_section

    result, _ = staged
    page = decisions_section(result)
    assert "Pricing waterfall" in page and "Watch-list" in page
    assert page.count("plotly-graph-div") >= 7  # six personas' waterfalls and the tiers


def test_strategy_rules_name_known_strategies(tmp_path: Path) -> None:
    from creditpersona.decisions.strategy import load_strategy_rules

    bad = tmp_path / "strategy.yaml"
    bad.write_text("version: 1\nrules:\n  - strategy: moonshot\n    when: [{feature: roa, "
                   "stat: median, op: '>', value: 0}]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="moonshot"):
        load_strategy_rules(bad)
    assert len(load_strategy_rules().rules) >= 6


def test_every_found_persona_of_the_fixture_gets_a_strategy(synthetic_bank: SyntheticBank
                                                            ) -> None:
    from creditpersona.decisions.strategy import persona_strategies

    truth = synthetic_bank.firms_truth().set_index("firm_id")["persona"]
    out = persona_strategies(synthetic_bank.profile, truth)
    # On the generator's own personas the archetype rules give each its namesake strategy.
    assert (out["strategy"] == out["persona_id"]).all(), out


# Issue 15: rules a credit officer checks first -------------------------------------------

_ST_ROW = {"firm_id": "A", "revenue": 1e8, "cost_of_sales": 9e7, "net_profit": 5e6,
           "interest_expense": 1e6, "current_assets": 4e7, "current_liabilities": 3.2e7,
           "receivables": 1.25e7, "inventory": 1.5e7, "prepayments": 2.5e6,
           "payables": 7.5e6, "advance_receipts": 1e8 * 5 / 360, "short_term_debt": 1.2e7,
           "long_term_debt": 5e6, "operating_cash_flow": 6e6,
           "depreciation_amortisation": 1e6, "prev_revenue": 1e8 / 1.1}


@pytest.mark.parametrize("product", ["working_capital", "project_finance", "equipment"])
def test_a_firm_without_a_statement_has_insufficient_data(product: str) -> None:
    firms = pd.DataFrame({"firm_id": ["A", "B"], "grade": ["3", "3"]})
    lim = recommend_limits(firms, pd.DataFrame([_ST_ROW]), product=product)
    assert lim.loc[1, "binding"] == "insufficient_data"
    assert lim.loc[1, "recommended_limit"] == 0.0
    assert lim.loc[0, "binding"] != "insufficient_data"


def test_working_capital_line_new_lending_and_renewal() -> None:
    """The total line, the new lending, and a renewal of our own short-term loan."""
    firms = pd.DataFrame({"firm_id": ["A"], "grade": ["1"],
                          "persona_strategy": ["stable_manufacturer"]})
    st_ = pd.DataFrame([_ST_ROW])
    alone = recommend_limits(firms, st_, product="working_capital").iloc[0]
    # need 23,222,222 − own 8,000,000 = total line 15,222,222; − 12 m short-term = 3,222,222.
    assert alone["wc_line"] == pytest.approx(15_222_222.22, abs=0.01)
    assert alone["wc_capacity"] == pytest.approx(3_222_222.22, abs=0.01)
    # All 12 m of short-term debt is ours: our line covers its renewal (× 1.1 persona).
    ours = recommend_limits(firms, st_, product="working_capital",
                            our_exposure=pd.Series({"A": 1.2e7})).iloc[0]
    assert ours["recommended_limit"] == pytest.approx(15_222_222.22 * 1.1, abs=0.01)
    assert ours["new_lending"] == pytest.approx(15_222_222.22 * 1.1 - 1.2e7, abs=0.01)
    assert ours["recommended_limit"] > 1.2e7  # a renewal is not sized at zero


def test_turnover_days_use_average_balances_when_the_prior_statement_exists() -> None:
    firms = pd.DataFrame({"firm_id": ["A"], "grade": ["1"]})
    row = dict(_ST_ROW)
    # Prior receivables 7.5 m: average 10 m = 36 days instead of 45 → need falls by 9 days.
    prior = {"prev_receivables": 7.5e6, "prev_inventory": 1.5e7, "prev_prepayments": 2.5e6,
             "prev_payables": 7.5e6, "prev_advance_receipts": 1e8 * 5 / 360}
    without = recommend_limits(firms, pd.DataFrame([row]), product="working_capital")
    with_prior = recommend_limits(firms, pd.DataFrame([{**row, **prior}]),
                                  product="working_capital")
    per_day = 1e8 * 0.95 * 1.1 / 360
    assert without["wc_need"].iloc[0] - with_prior["wc_need"].iloc[0] == pytest.approx(
        9 * per_day, rel=1e-9)


def test_cfads_is_operating_cash_flow_without_adding_interest_back() -> None:
    firms = pd.DataFrame({"firm_id": ["A"], "grade": ["1"]})
    lim = recommend_limits(firms, pd.DataFrame([_ST_ROW]), product="project_finance").iloc[0]
    assert lim["cfads"] == _ST_ROW["operating_cash_flow"]


def test_irb_maturity_of_an_amortising_loan_is_effective() -> None:
    """A 36-month amortising equipment loan: M = 37/24 years, not 3 (about 16 bp less)."""
    firms = pd.DataFrame({"firm_id": ["A"], "pd": [0.01], "grade": ["5"]})
    req = pd.DataFrame({"firm_id": ["A"], "amount": [1e7], "term_months": [36],
                        "product": ["equipment"], "collateral_type": ["none"]})
    p = price_loans(req, firms).iloc[0]
    assert p["maturity_years"] == pytest.approx(37 / 24)
    cfg = load_decisions()
    k = irb_capital(0.01, 0.40, 37 / 24)["capital"].iloc[0]
    assert p["capital_k"] == pytest.approx(k * 12.5 * cfg.pricing.capital_per_rwa)
    k3 = irb_capital(0.01, 0.40, 3.0)["capital"].iloc[0]
    saved_bp = cfg.hurdle_rate * (k3 - k) * 12.5 * cfg.pricing.capital_per_rwa * 1e4
    assert 10 < saved_bp / (1 - cfg.pricing.vat_and_surcharges) < 25
    bullet = price_loans(req.assign(product="working_capital", term_months=12), firms)
    assert bullet["maturity_years"].iloc[0] == 1.0


def test_cost_plus_pricing_tax_capital_and_the_cost_floor(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    """PD 0.05 % deposit-secured trade finance: priced 2.00 % under a 2.079 % floor before."""
    cfg = load_decisions()
    assert cfg.pricing.vat_and_surcharges == pytest.approx(0.06 * 1.12)
    assert cfg.pricing.capital_per_rwa >= 0.105
    firms = pd.DataFrame({"firm_id": ["B"], "pd": [0.0005], "grade": ["1"]})
    req = pd.DataFrame({"firm_id": ["B"], "amount": [1e7], "term_months": [6],
                        "product": ["trade_finance"], "collateral_type": ["deposit"]})
    q = price_loans(req, firms).iloc[0]
    cost = (q["ftp_bp"] + q["operating_cost_bp"]) / (1 - cfg.pricing.vat_and_surcharges)
    assert q["rate"] * 1e4 >= cost - 1e-6 and bool(q["cost_floor_applied"])
    assert not q["below_cost"] and q["raroc"] > 0
    # The waterfall adds up to the floor, the tax included.
    parts = sum(float(q[c]) for c in decisions.COMPONENTS[:-1])
    assert parts == pytest.approx(q["floor_rate"] * 1e4)
    assert q["tax_bp"] == pytest.approx(q["floor_rate"] * 1e4 * cfg.pricing.vat_and_surcharges)
    with caplog.at_level("WARNING"):
        e = price_loans(req.assign(pricing_exception="CRO approval 2026-07"), firms).iloc[0]
    assert bool(e["below_cost"]) and e["exception"] == "CRO approval 2026-07"
    assert "CRO approval 2026-07" in caplog.text


def test_exposure_includes_arrears_of_running_amortising_loans() -> None:
    from creditpersona.decisions.value import add_exposure_columns

    book = pd.DataFrame({"amount": [1200.0], "product": ["equipment"], "term_months": [12],
                         "elapsed_days": [182.625], "remaining_days": [182.625],
                         "unpaid_due": [300.0], "collateral_type": ["none"],
                         "guarantee_type": ["none"]})
    assert add_exposure_columns(book, load_decisions())["outstanding"].iloc[0] == 900.0


def test_refinancing_loans_are_special_mention_while_observed() -> None:
    cfg = load_decisions().classification
    book = pd.DataFrame({"loan_id": list("abcd"), "firm_id": list("ABCD"), "dpd": 0,
                         "purpose": ["refinancing", "refinancing", "refinancing", "working"],
                         "elapsed_days": [30, 364, 400, 30],
                         "instalment_months": [1, 1, 12, 1]})
    tiers = classify_loans(book, cfg)["tier"].tolist()
    # c: yearly instalments → two periods = 24 months of observation.
    assert tiers == ["special_mention", "special_mention", "special_mention", "normal"]


def _profile_row(**values: object) -> pd.DataFrame:
    """One firm with every feature the rules read missing (never fires), but ``values``."""
    blank = {r.feature: np.nan for r in load_warning_rules().rules}
    return pd.DataFrame([{"firm_id": "X", **blank, **values}])


@pytest.mark.parametrize("flag", ["flag_management_departure", "flag_control_change",
                                  "flag_guarantee_risk", "flag_audit_qualified",
                                  "flag_abnormal_operation"])
def test_direct_text_triggers_put_a_firm_on_the_watch_list(flag: str) -> None:
    out = evaluate_warnings(_profile_row(**{flag: True, "text_risk_score": 0.0}), {},
                            load_warning_rules())
    assert bool(out.firms["on_watch"].iloc[0]), flag


def test_dscr_bands_guarantees_on_net_assets_receivables_and_refinancing() -> None:
    rules = load_warning_rules()
    ids = {r.id for r in rules.rules}
    assert "weak_debt_service" not in ids

    def hits(**values: object) -> set[str]:
        h = evaluate_warnings(_profile_row(**values), {}, rules).hits.iloc[0]
        return set(h[h].index)

    assert hits(dscr=1.2) == {"dscr_below_target"}
    assert hits(dscr=1.05) == {"dscr_lockup"}
    assert hits(dscr=0.8) == {"dscr_below_one"}
    assert hits(dscr=1.5) == set()
    # Guarantees of 60 % of net assets but 10 % of total assets: heavy.
    assert hits(guarantees_to_equity=0.6, guarantees_to_assets=0.1) == {"guarantee_heavy"}
    assert hits(receivable_days_change=45.0) == {"receivables_swelling"}
    assert hits(refinancing_loans_12m=1) == {"refinancing"}
