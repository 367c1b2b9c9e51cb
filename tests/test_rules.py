"""Association rules on loan behaviour: items, mining, pruning, storage, CLI, report.

The planted-behaviour test mines the session's synthetic bank (2,000 firms, seed 5) and
passes the generator's TRUE persona as the ``personas`` input: the persona model is built
elsewhere, and the rules must show what the generator planted once personas are known. Every
item itself is derived from the contract tables and the profile only.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import SyntheticBank
from typer.testing import CliRunner

from creditpersona.errors import ConfigurationError, SchemaError, StoreError
from creditpersona.rules import (
    PORTFOLIO,
    RuleSet,
    behaviour_items,
    load_items,
    load_rules,
    mine_rules,
    rules_stage,
    save_rules,
)
from creditpersona.store.store import Store

BankRules = tuple[pd.DataFrame, pd.Series, RuleSet]

# Planted behaviours of docs/synthetic-bank.md as (antecedent items → consequent item).
# Behaviour 9 (campaign uplift) is a treatment effect, not a rule.
PLANTED_WITH_PERSONAS = {
    "1 tech ∧ tech_rnd → early": (["persona_growth_tech", "product_tech_rnd"], "repay_early"),
    "2 trading → trade finance": (["persona_trading_turnover"], "product_trade_finance"),
    "2 trading ∧ trade finance → late in Q1": (
        ["persona_trading_turnover", "product_trade_finance"], "repay_late_q1"),
    "3 distressed → refinancing": (["persona_leveraged_distressed"], "purpose_refinancing"),
    "3 refinancing → late": (["purpose_refinancing"], "repay_late"),
    "4 manufacturer ∧ concentrated → supply chain": (
        ["persona_stable_manufacturer", "customer_concentration"], "product_supply_chain"),
    "5 asset-heavy → project finance": (["persona_asset_heavy_project"],
                                        "product_project_finance"),
    "5 project finance → long tenor": (["product_project_finance"], "long_tenor"),
    "5 project finance → quarterly": (["product_project_finance"], "quarterly_instalments"),
    "5 project finance → land-use right": (["product_project_finance"],
                                           "collateral_land_use_right"),
    "6 utilities/environment → green": (["ind_utilities_env"], "product_green"),
    "7 micro persona → 普惠": (["persona_micro_inclusive"], "product_inclusive_small"),
    "7 普惠 → personal guarantee": (["product_inclusive_small"], "guarantee_personal"),
    "8 inquiry burst ∧ risk news → default": (["inquiry_burst", "risk_news"], "in_default"),
    "10 trading → January peak": (["persona_trading_turnover"], "flow_jan_peak"),
    "10 asset-heavy → December settlements": (["persona_asset_heavy_project"],
                                              "flow_dec_settlement"),
    "10 tech → Q4-heavy receipts": (["persona_growth_tech"], "flow_q4_heavy"),
}
# The same behaviours seen without personas, through industry and size items.
PLANTED_WITHOUT_PERSONAS = {
    "1 tech industry ∧ tech_rnd → early": (["ind_tech", "product_tech_rnd"], "repay_early"),
    "2 wholesale/retail ∧ trade finance → late in Q1": (
        ["sec_F", "product_trade_finance"], "repay_late_q1"),
    "4 manufacturing ∧ concentrated → supply chain": (
        ["sec_C", "customer_concentration"], "product_supply_chain"),
    "5 infrastructure → project finance": (["ind_infrastructure"], "product_project_finance"),
    "7 micro → 普惠": (["size_micro"], "product_inclusive_small"),
    "10 wholesale/retail → January peak": (["sec_F"], "flow_jan_peak"),
}


@pytest.fixture(scope="module")
def bank_rules(synthetic_bank: SyntheticBank) -> BankRules:
    truth = synthetic_bank.firms_truth().set_index("firm_id")["persona"]
    with Store(synthetic_bank.store_path, read_only=True) as st:
        basket = behaviour_items(st, synthetic_bank.as_of, synthetic_bank.profile, truth)
    return basket, truth, mine_rules(basket, by=truth)


def _found(ruleset: RuleSet, antecedents: list[str], consequent: str,
           scope: str = PORTFOLIO) -> pd.Series:
    rule = ruleset.find(antecedents, consequent, scope)
    assert rule is not None, f"{antecedents} → {consequent} not mined in scope {scope}"
    return rule


@pytest.mark.parametrize("name", list(PLANTED_WITH_PERSONAS))
def test_planted_behaviour_is_a_rule_with_lift_above_1_5(
        bank_rules: BankRules, name: str) -> None:
    _, _, ruleset = bank_rules
    antecedents, consequent = PLANTED_WITH_PERSONAS[name]
    rule = _found(ruleset, antecedents, consequent)
    assert rule.lift > 1.5, (name, rule.lift)


def test_planted_behaviours_without_personas(synthetic_bank: SyntheticBank) -> None:
    with Store(synthetic_bank.store_path, read_only=True) as st:
        basket = behaviour_items(st, synthetic_bank.as_of, synthetic_bank.profile)
    assert not any(c.startswith("persona_") for c in basket.columns)
    ruleset = mine_rules(basket)
    assert set(ruleset.rules["scope"]) == {PORTFOLIO}
    for name, (antecedents, consequent) in PLANTED_WITHOUT_PERSONAS.items():
        assert _found(ruleset, antecedents, consequent).lift > 1.5, name


def test_persona_scope_lift_is_within_the_persona(bank_rules: BankRules) -> None:
    basket, truth, ruleset = bank_rules
    rule = _found(ruleset, ["product_tech_rnd"], "repay_early", scope="growth_tech")
    tech = basket[truth.reindex(basket.index).eq("growth_tech").to_numpy()]
    has = tech["product_tech_rnd"]
    confidence = (has & tech["repay_early"]).sum() / has.sum()
    assert rule.confidence == pytest.approx(confidence)
    assert rule.lift == pytest.approx(confidence / tech["repay_early"].mean())
    assert rule.sentence_zh.startswith("成长型科技企业中，持有科技研发贷款的企业有")
    assert rule.sentence_en.startswith("Among growth-stage technology firms, ")
    # Persona items describe the scope itself and never appear inside a persona's rules.
    inside = ruleset.rules[ruleset.rules["scope"] != PORTFOLIO]
    assert not any(a.startswith("persona_") for ante in inside["antecedents"] for a in ante)


def test_basket_is_bool_per_firm_and_attributes_stay_left(bank_rules: BankRules) -> None:
    basket, _, ruleset = bank_rules
    assert basket.index.is_unique and basket.index.is_monotonic_increasing
    assert all(pd.api.types.is_bool_dtype(basket[c]) for c in basket.columns)
    groups = load_items().labels(["x"])["group"]
    consequents = {c[0] for c in ruleset.rules["consequents"]}
    assert not {c for c in consequents
                if c.startswith("persona_") or groups.get(c) in ("industry", "size")}
    r = ruleset.rules
    assert ((r["support"] >= ruleset.params["min_support"] - 1e-12)
            & (r["confidence"] >= ruleset.params["min_confidence"] - 1e-12)
            & (r["lift"] >= ruleset.params["min_lift"] - 1e-12)).all()


def _truncate(path: Path, as_of: dt.date) -> None:
    """Delete (or blank) every fact dated after ``as_of``."""
    d = f"DATE '{as_of.isoformat()}'"
    con = duckdb.connect(str(path))
    con.execute(f"DELETE FROM loans WHERE start_date > {d}")
    con.execute(f"DELETE FROM repayments WHERE due_date > {d}")
    con.execute(f"UPDATE repayments SET paid_date = NULL, amount_paid = 0 WHERE paid_date > {d}")
    con.execute(f"DELETE FROM transactions WHERE txn_date > {d}")
    con.execute(f"DELETE FROM bureau_reports WHERE report_date > {d}")
    con.execute(f"DELETE FROM campaign_contacts WHERE contact_date > {d}")
    con.execute(f"DELETE FROM documents WHERE doc_date > {d}")
    con.close()


def test_items_are_point_in_time(synthetic_bank: SyntheticBank, tmp_path: Path) -> None:
    as_of = dt.date(2025, 3, 31)
    cut = tmp_path / "cut.duckdb"
    shutil.copy(synthetic_bank.store_path, cut)
    _truncate(cut, as_of)
    profile = synthetic_bank.profile  # any profile: both sides read the same one
    with Store(synthetic_bank.store_path, read_only=True) as st:
        full = behaviour_items(st, as_of, profile)
    with Store(cut, read_only=True) as st:
        truncated = behaviour_items(st, as_of, profile)
    pd.testing.assert_frame_equal(full, truncated)
    # The earlier date sees fewer loans than the latest one.
    with Store(synthetic_bank.store_path, read_only=True) as st:
        latest = behaviour_items(st, synthetic_bank.as_of, profile)
    assert full["product_trade_finance"].sum() < latest["product_trade_finance"].sum()


def test_redundant_rules_are_pruned() -> None:
    # Twenty firms. c follows a half the time, with or without b: {a, b} → c adds nothing
    # and goes. d follows a 30 % of the time but always with e: {a, e} → d stays.
    rows = ([{"a", "b", "c"}] * 2 + [{"a", "b"}] * 2 + [{"a", "c"}] * 3
            + [{"a", "d", "e"}] * 3 + [{"e"}] * 4 + [{"d"}] + [set()] * 5)
    basket = pd.DataFrame([{k: k in r for k in "abcde"} for r in rows])
    rs = mine_rules(basket, min_support=0.05, min_confidence=0.1, min_lift=0.0, max_len=3,
                    min_count=1)
    a_c = rs.find(["a"], "c")
    assert a_c is not None
    assert (a_c.support, a_c.confidence, a_c.lift) == pytest.approx((0.25, 0.5, 2.0))
    assert rs.find(["a", "b"], "c") is None  # 2/4 = 0.5: no better than a → c
    ae_d = rs.find(["a", "e"], "d")
    assert ae_d is not None and ae_d.confidence == pytest.approx(1.0)
    assert ae_d.lift == pytest.approx(1.0 / 0.2) and ae_d.conviction == float("inf")
    stats = rs.scopes.set_index("scope").loc[PORTFOLIO]
    assert stats["pruned"] > 0 and stats["rules"] == len(rs.rules)


def test_pruning_keeps_exactly_the_rules_no_shorter_rule_matches() -> None:
    rng = pd.Series(range(400)).map(lambda i: (i * 2654435761) % 997)
    basket = pd.DataFrame({f"i{k}": (rng % (k + 2) == 0) | (rng % 7 == k) for k in range(6)})
    rs = mine_rules(basket, min_support=0.02, min_confidence=0.05, min_lift=0.0, max_len=3,
                    min_count=1)
    kept = {(r.antecedents, r.consequents[0]): r.confidence for r in rs.rules.itertuples()}
    for (ante, cons), conf in kept.items():
        for item in ante:
            shorter = tuple(a for a in ante if a != item)
            if shorter:
                sub = basket[list(shorter)].all(axis=1)
                assert (sub & basket[cons]).sum() / sub.sum() < conf


def test_rules_do_not_depend_on_row_order(bank_rules: BankRules) -> None:
    basket, truth, _ = bank_rules
    shuffled = basket.sample(frac=1.0, random_state=3)
    a = mine_rules(basket.iloc[:600], min_support=0.05, by=truth).rules
    b = mine_rules(shuffled.loc[basket.index[:600]].sample(frac=1.0, random_state=4),
                   min_support=0.05, by=truth).rules
    key = ["scope", "antecedents", "consequents"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                  b.sort_values(key).reset_index(drop=True))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_support": 0.0}, r"The 'min_support' parameter of mine_rules must be a float in "
                           r"\(0, 1\]. Got 0.0 instead."),
    ({"min_confidence": 1.5}, r"'min_confidence' parameter of mine_rules must be a float"),
    ({"min_lift": -1.0}, r"'min_lift' parameter of mine_rules must be a float ≥ 0"),
    ({"max_len": 1}, r"'max_len' parameter of mine_rules must be an int ≥ 2. Got 1 instead."),
    ({"by": ["x"]}, r"'by' parameter of mine_rules must be a pandas Series"),
])
def test_parameter_errors(kwargs: dict[str, object], message: str) -> None:
    basket = pd.DataFrame({"a": [True, False], "b": [True, True]})
    with pytest.raises(ConfigurationError, match=message):
        mine_rules(basket, **kwargs)


def test_basket_must_be_bool() -> None:
    with pytest.raises(SchemaError, match="columns a are not bool"):
        mine_rules(pd.DataFrame({"a": [1, 0], "b": [True, False]}))


def test_vocabulary_is_validated(tmp_path: Path) -> None:
    good = resources.files("creditpersona.rules").joinpath("items.yaml").read_text("utf-8")
    bad = tmp_path / "items.yaml"
    bad.write_text(good.replace("product: [tech_rnd]", "product: [tech_rd]"), "utf-8")
    with pytest.raises(ConfigurationError,
                       match=r"(?s)items.yaml: invalid item vocabulary.*unknown product tech_rd"):
        load_items(bad)
    bad.write_text(good.replace("code: repay_late,", "code: repay_early,"), "utf-8")
    with pytest.raises(ConfigurationError, match="repay_early appear more than once"):
        load_items(bad)


def test_profile_must_carry_the_columns_items_read(synthetic_bank: SyntheticBank) -> None:
    with Store(synthetic_bank.store_path, read_only=True) as st, pytest.raises(
            SchemaError, match="profile: columns size_class are missing"):
        behaviour_items(st, synthetic_bank.as_of, synthetic_bank.profile.drop(
            columns="size_class"))


def test_stage_stores_rules_per_as_of(synthetic_bank: SyntheticBank, tmp_path: Path) -> None:
    path = tmp_path / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    with Store(path) as st:
        first = rules_stage(st, synthetic_bank.as_of, None, min_support=0.05)
        again = rules_stage(st, synthetic_bank.as_of, None, min_support=0.05)
        save_rules(st, again, dt.date(2025, 12, 31))
        stored = load_rules(st, synthetic_bank.as_of)
        n_rows = st.table("association_rules").count().execute()
        with pytest.raises(StoreError, match="holds no profile as of 2024-01-31"):
            rules_stage(st, dt.date(2024, 1, 31), None)
    assert n_rows == 2 * len(first.rules)
    assert stored.params == first.params and stored.as_of == synthetic_bank.as_of
    key = ["scope", "antecedents", "consequents"]
    pd.testing.assert_frame_equal(
        stored.rules.sort_values(key).reset_index(drop=True),
        first.rules.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_cli_mine(synthetic_bank: SyntheticBank, tmp_path: Path) -> None:
    from creditpersona.cli.rules import rules_app

    path = tmp_path / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    out = tmp_path / "rules.json"
    runner = CliRunner()
    done = runner.invoke(rules_app, [
        "mine", "--store", str(path), "--as-of", "2026-06-30", "--min-support", "0.05",
        "--top", "3", "--json", str(out), "--csv", str(tmp_path / "rules.csv")])
    assert done.exit_code == 0, done.output
    payload = json.loads(out.read_text("utf-8"))
    assert payload["params"]["min_support"] == 0.05 and payload["rules"]
    assert "全部客户中" in payload["rules"][0]["sentence_zh"]
    assert len(pd.read_csv(tmp_path / "rules.csv", encoding="utf-8-sig")) == len(
        payload["rules"])
    no_profile = runner.invoke(rules_app, ["mine", "--store", str(path), "--as-of",
                                           "2024-01-31"])
    assert no_profile.exit_code == 2 and "creditpersona profile" in no_profile.output
    bad = runner.invoke(rules_app, ["mine", "--store", str(path), "--as-of", "2026-06-30",
                                    "--min-lift", "-2"])
    assert bad.exit_code == 2 and "'min_lift' parameter" in bad.output


def test_report_section_shows_sentences(bank_rules: BankRules) -> None:
    from creditpersona.report.rules import rules_section

    _, _, ruleset = bank_rules
    page = rules_section(ruleset)
    best = ruleset.top(1, scope=PORTFOLIO).iloc[0]
    assert best.sentence_zh in page and "<br>" in page
    assert "No rules mined yet" in rules_section(mine_rules(
        pd.DataFrame({"a": [True, False]}), min_count=1))
