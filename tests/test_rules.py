"""Association rules that answer the bank's questions: items, tests, storage, CLI, report.

The planted-behaviour test mines the session's synthetic bank (2,000 firms, seed 5) and
passes the generator's TRUE persona as the ``personas`` input: the persona model is built
elsewhere, and the rules must show what the generator planted once personas are known. Every
item itself is derived from the contract tables and the profile only.
"""

from __future__ import annotations

import dataclasses
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
    benjamini_hochberg,
    holm,
    load_items,
    load_rules,
    mine_rules,
    rules_stage,
    save_rules,
    shuffle_control,
)
from creditpersona.store.store import Store

BankRules = tuple[pd.DataFrame, pd.Series, RuleSet]

# Planted behaviours of docs/synthetic-bank.md whose consequent is a repayment, uptake or
# response item, as (antecedent items → consequent item). The others (3: distressed →
# refinancing purpose; 5: project finance → tenor, schedule, collateral; 7: 普惠 → guarantee;
# 10: seasonal flows) have a consequent no question asks about; 9 (campaign uplift) is a
# treatment effect on firms' hidden needs, not a rule on their items.
PLANTED_WITH_PERSONAS = {
    "1 tech ∧ tech_rnd → early": (["persona_growth_tech", "product_tech_rnd"], "repay_early"),
    "2 trading → trade finance": (["persona_trading_turnover"], "product_trade_finance"),
    "2 trading ∧ trade finance → late in Q1": (
        ["persona_trading_turnover", "product_trade_finance"], "repay_late_q1"),
    "3 refinancing → late": (["purpose_refinancing"], "repay_late"),
    "4 manufacturer ∧ concentrated → supply chain": (
        ["persona_stable_manufacturer", "customer_concentration"], "product_supply_chain"),
    "5 asset-heavy → project finance": (["persona_asset_heavy_project"],
                                        "product_project_finance"),
    "6 utilities/environment → green": (["ind_utilities_env"], "product_green"),
    "7 micro persona → 普惠": (["persona_micro_inclusive"], "product_inclusive_small"),
    "8 inquiry burst ∧ risk news → default": (["inquiry_burst", "risk_news"], "in_default"),
}
# The same behaviours seen without personas, through industry and size items.
PLANTED_WITHOUT_PERSONAS = {
    "1 tech industry ∧ tech_rnd → early": (["ind_tech", "product_tech_rnd"], "repay_early"),
    "2 wholesale/retail ∧ trade finance → late in Q1": (
        ["product_trade_finance", "sec_F"], "repay_late_q1"),
    "4 manufacturing ∧ concentrated → supply chain": (
        ["customer_concentration", "sec_C"], "product_supply_chain"),
    "5 infrastructure → project finance": (["ind_infrastructure"], "product_project_finance"),
    "7 micro → 普惠": (["size_micro"], "product_inclusive_small"),
}


@pytest.fixture(scope="module")
def bank_rules(synthetic_bank: SyntheticBank) -> BankRules:
    """Every significant, productive rule (no cap) of the session bank with true personas."""
    truth = synthetic_bank.firms_truth().set_index("firm_id")["persona"]
    with Store(synthetic_bank.store_path, read_only=True) as st:
        basket = behaviour_items(st, synthetic_bank.as_of, synthetic_bank.profile, truth)
    return basket, truth, mine_rules(basket, truth, cap=False)


def _found(ruleset: RuleSet, antecedents: list[str], consequent: str,
           scope: str = PORTFOLIO) -> pd.Series:
    rule = ruleset.find(antecedents, consequent, scope)
    assert rule is not None, f"{antecedents} → {consequent} not kept in scope {scope}"
    return rule


@pytest.mark.parametrize("name", list(PLANTED_WITH_PERSONAS))
def test_planted_behaviour_survives_the_test(bank_rules: BankRules, name: str) -> None:
    _, _, ruleset = bank_rules
    antecedents, consequent = PLANTED_WITH_PERSONAS[name]
    rule = _found(ruleset, antecedents, consequent)
    assert rule.q_value <= ruleset.params["alpha"] and rule.lift > 1.5, (name, rule.lift)
    assert rule.confidence > rule.others_rate


def test_planted_behaviours_without_personas(synthetic_bank: SyntheticBank) -> None:
    with Store(synthetic_bank.store_path, read_only=True) as st:
        basket = behaviour_items(st, synthetic_bank.as_of, synthetic_bank.profile)
    assert not any(c.startswith("persona_") for c in basket.columns)
    ruleset = mine_rules(basket, cap=False)
    assert set(ruleset.rules["scope"]) == {PORTFOLIO}
    for name, (antecedents, consequent) in PLANTED_WITHOUT_PERSONAS.items():
        assert _found(ruleset, antecedents, consequent).lift > 1.5, name


def test_no_rule_joins_a_family_or_a_definitional_pair(bank_rules: BankRules) -> None:
    basket, truth, everything = bank_rules
    answer = mine_rules(basket, truth)
    vocab = load_items()
    for rs in (everything, answer):
        for ante, c, question in zip(rs.rules["antecedents"], rs.rules["consequent"],
                                     rs.rules["question"], strict=True):
            spec = vocab.questions[question]
            assert vocab.family_of(c) in spec.consequents
            families = {vocab.family_of(a) for a in ante}
            assert vocab.family_of(c) not in families and not families & set(spec.exclude)
            assert not vocab.definitional_with(c, ante), (ante, c)
    # The rules the issue complained of are gone for good.
    assert everything.find(["purpose_equipment_purchase"], "product_equipment") is None
    assert everything.find(["bureau_overdue"], "in_default") is None
    # The answer is short, repayment first, and a subset of the significant rules.
    sizes = answer.rules.groupby(["question", "scope"]).size()
    limits = {q: v.max_rules for q, v in vocab.questions.items()}
    assert all(n <= limits[q] for (q, _), n in sizes.items())
    assert answer.rules["question"].iloc[0] == "repayment"
    key = ["scope", "antecedents", "consequent"]
    assert set(map(tuple, answer.rules[key].to_numpy().tolist())) <= set(
        map(tuple, everything.rules[key].to_numpy().tolist()))


def test_rules_beat_chance_and_their_sub_rules(bank_rules: BankRules) -> None:
    from scipy.stats import fisher_exact

    basket, truth, ruleset = bank_rules
    r = ruleset.rules
    assert (r["q_value"] <= ruleset.params["alpha"]).all() and (r["p_value"] <= r["q_value"]).all()
    # One two-item rule recomputed by hand: its p-value is the largest of three tables.
    rule = r[(r["scope"] == PORTFOLIO) & (r["antecedents"].map(len) == 2)].iloc[0]
    a, b = rule.antecedents
    has_a, has_b, c = basket[a], basket[b], basket[rule.consequent]
    both = has_a & has_b

    def p(rows: pd.Series) -> float:
        x, y = both[rows], c[rows]
        return float(fisher_exact([[(x & y).sum(), (x & ~y).sum()],
                                   [(~x & y).sum(), (~x & ~y).sum()]],
                                  alternative="greater").pvalue)

    expected = max(p(pd.Series(True, index=basket.index)), p(has_a), p(has_b))
    assert rule.p_value == pytest.approx(expected, rel=1e-6)
    assert rule.others_rate == pytest.approx(c[~both].mean())


def test_shuffled_outcomes_give_few_rules(bank_rules: BankRules) -> None:
    basket, truth, _ = bank_rules
    control = shuffle_control(basket, truth, seed=11)
    assert control["real"] >= 50
    assert control["shuffled"] <= 0.05 * control["real"], control


def test_persona_scope_rates_are_within_the_persona(bank_rules: BankRules) -> None:
    basket, truth, ruleset = bank_rules
    inside = ruleset.rules[ruleset.rules["scope"] != PORTFOLIO]
    assert len(inside)
    rule = inside.iloc[0]
    firms = basket[truth.reindex(basket.index).eq(rule.scope).to_numpy()]
    has = firms[list(rule.antecedents)].all(axis=1)
    assert rule.confidence == pytest.approx(firms.loc[has, rule.consequent].mean())
    assert rule.others_rate == pytest.approx(firms.loc[~has, rule.consequent].mean())
    assert rule.firms == len(firms)
    # Persona items describe the scope itself and never appear inside a persona's rules.
    assert not any(a.startswith("persona_") for ante in inside["antecedents"] for a in ante)
    tech = ruleset.rules[(ruleset.rules["scope"] == "growth_tech")]
    if len(tech):
        assert tech["sentence_en"].iloc[0].startswith("Among growth-stage technology firms, ")
        assert tech["sentence_zh"].iloc[0].startswith("成长型科技企业中，")


def test_basket_is_bool_per_firm(bank_rules: BankRules) -> None:
    basket, _, _ = bank_rules
    assert basket.index.is_unique and basket.index.is_monotonic_increasing
    assert all(pd.api.types.is_bool_dtype(basket[c]) for c in basket.columns)


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


def _toy(rows: list[set[str]]) -> pd.DataFrame:
    items = sorted(set().union(*rows))
    return pd.DataFrame([{k: k in r for k in items} for r in rows])


def test_unproductive_rules_are_dropped() -> None:
    # Refinancing raises late repayment (24 of 40 against 4 of 60); a working-capital loan
    # held by half of each group adds nothing, so {refinancing, working capital} → late
    # does no better than refinancing alone and goes.
    rows = ([{"purpose_refinancing", "repay_late", "product_working_capital"}] * 12
            + [{"purpose_refinancing", "repay_late"}] * 12
            + [{"purpose_refinancing", "product_working_capital"}] * 8
            + [{"purpose_refinancing"}] * 8
            + [{"repay_late", "product_working_capital"}] * 2 + [{"repay_late"}] * 2
            + [{"product_working_capital"}] * 28 + [{"high_leverage"}] * 28)
    rs = mine_rules(_toy(rows), min_support=0.05, cap=False)
    refi = _found(rs, ["purpose_refinancing"], "repay_late")
    assert (refi.confidence, refi.others_rate) == pytest.approx((0.6, 4 / 60))
    assert rs.find(["product_working_capital", "purpose_refinancing"], "repay_late") is None
    # purpose ↔ product is definitional: never a rule, whatever the data.
    assert rs.find(["purpose_refinancing"], "product_working_capital") is None
    assert rs.scopes["tested"].sum() == rs.params["tested"] > len(rs.rules)


def test_rules_do_not_depend_on_row_order(bank_rules: BankRules) -> None:
    basket, truth, _ = bank_rules
    part = basket.iloc[:800]
    a = mine_rules(part, truth).rules
    b = mine_rules(part.sample(frac=1.0, random_state=4), truth).rules
    key = ["question", "scope", "antecedents", "consequent"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                  b.sort_values(key).reset_index(drop=True))


def test_holm_and_bh_against_statsmodels_free_hand_values() -> None:
    # Hand calculation: p = (0.01, 0.02, 0.03, 0.5) among m = 4.
    #   Holm: 4·0.01, max(0.04, 3·0.02), max(0.06, 2·0.03), max(0.06, 0.5)
    #   BH:   min over j ≥ i of 4 p_j / j: 0.04, 0.04, 0.04, 0.5
    p = [0.03, 0.01, 0.5, 0.02]
    assert holm(p).tolist() == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.04, 0.04, 0.5, 0.04])
    with pytest.raises(ConfigurationError, match="'m' parameter of holm"):
        holm(p, m=2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_support": 0.0}, r"The 'min_support' parameter of mine_rules must be a float in "
                           r"\(0, 1\]. Got 0.0 instead."),
    ({"alpha": 1.5}, r"'alpha' parameter of mine_rules must be a float in \(0, 1\)"),
    ({"correction": "bonferroni"}, r"'correction' parameter of mine_rules must be 'bh' or"),
    ({"max_overlap": 0.0}, r"'max_overlap' parameter of mine_rules must be a float"),
    ({"max_len": 1}, r"'max_len' parameter of mine_rules must be an int ≥ 2. Got 1 instead."),
    ({"by": ["x"]}, r"'by' parameter of mine_rules must be a pandas Series"),
])
def test_parameter_errors(kwargs: dict[str, object], message: str) -> None:
    basket = pd.DataFrame({"repay_late": [True, False], "size_micro": [True, True]})
    with pytest.raises(ConfigurationError, match=message):
        mine_rules(basket, **kwargs)


def test_basket_must_be_bool_items_of_a_family() -> None:
    with pytest.raises(SchemaError, match="columns repay_late are not bool"):
        mine_rules(pd.DataFrame({"repay_late": [1, 0], "size_micro": [True, False]}))
    with pytest.raises(SchemaError, match="items zz_new belong to no family"):
        mine_rules(pd.DataFrame({"zz_new": [True, False]}))


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
    bad.write_text(good.replace("consequents: [repayment, default]",
                                "consequents: [repayments, default]"), "utf-8")
    with pytest.raises(ConfigurationError, match="question repayment names unknown families "
                                                 "repayments"):
        load_items(bad)
    bad.write_text(good.replace("  max_overlap: 0.5\n", "  max_overlap: 0.5\n  min_lift: 1\n"),
                   "utf-8")
    with pytest.raises(ConfigurationError, match="(?s)mining.min_lift.*Extra inputs"):
        load_items(bad)
    bad.write_text(good.replace("right: [product_tech_rnd]", "right: [product_tech_rd]"),
                   "utf-8")
    with pytest.raises(ConfigurationError, match="names product_tech_rd, neither an item"):
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
        again = rules_stage(st, synthetic_bank.as_of, None, min_support=0.05, control=False)
        save_rules(st, again, dt.date(2025, 12, 31))
        stored = load_rules(st, synthetic_bank.as_of)
        n_rows = st.table("association_rules").count().execute()
        with pytest.raises(StoreError, match="holds no profile as of 2024-01-31"):
            rules_stage(st, dt.date(2024, 1, 31), None)
    assert n_rows == 2 * len(first.rules) > 0
    # Mined again without the control: the second set replaced the first one's rows.
    assert stored.params == again.params and stored.as_of == synthetic_bank.as_of
    assert "shuffle_control" not in again.params
    assert first.params["shuffle_control"]["real"] >= len(
        first.rules[first.rules["question"] == "repayment"])
    pd.testing.assert_frame_equal(stored.rules, first.rules, check_dtype=False)
    pd.testing.assert_frame_equal(stored.scopes, first.scopes, check_dtype=False)


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
    assert payload["rules"][0]["question"] == "repayment"
    assert "全部客户中" in payload["rules"][0]["sentence_zh"]
    assert "贷款用途与经营行为如何关联还款表现" in done.output and "Shuffle control" in done.output
    assert len(pd.read_csv(tmp_path / "rules.csv", encoding="utf-8-sig")) == len(
        payload["rules"])
    no_profile = runner.invoke(rules_app, ["mine", "--store", str(path), "--as-of",
                                           "2024-01-31"])
    assert no_profile.exit_code == 2 and "creditpersona profile" in no_profile.output
    bad = runner.invoke(rules_app, ["mine", "--store", str(path), "--as-of", "2026-06-30",
                                    "--alpha", "2"])
    assert bad.exit_code == 2 and "'alpha' parameter" in bad.output


def test_report_section_shows_sentences(bank_rules: BankRules) -> None:
    from creditpersona.report.rules import rules_section

    basket, truth, _ = bank_rules
    ruleset = mine_rules(basket, truth)
    page = rules_section(ruleset)
    best = ruleset.top(1, question="repayment", scope=PORTFOLIO).iloc[0]
    assert best.sentence_zh in page and "<br>" in page
    assert page.index("How loan use and behaviour relate to repayment") < page.index(
        "Which firm features go with product uptake")
    assert "plotly" in page.lower() and "Shuffle control" not in page
    controlled = dataclasses.replace(ruleset, params={**ruleset.params, "shuffle_control": {
        "question": "repayment", "seed": 0, "real": 9, "shuffled": 0, "share": 0.0}})
    assert "0 rules survive against 9 on the real data" in rules_section(controlled)
    # A cycle checkpointed by the untested miner (no questions) is named, not rendered.
    old = RuleSet(pd.DataFrame({"scope": ["portfolio"], "lift": [2.0]}))
    assert "mined by an earlier version" in rules_section(old)
    assert "No rules mined yet" in rules_section(mine_rules(
        pd.DataFrame({"repay_late": [True, False]}), min_count=1))


def test_cycle_stage_leaves_policy_personas_out(synthetic_bank: SyntheticBank,
                                                tmp_path: Path) -> None:
    from creditpersona.pipeline import _rules

    path = tmp_path / "bank.duckdb"
    shutil.copy(synthetic_bank.store_path, path)
    truth = synthetic_bank.firms_truth().set_index("firm_id")
    # As the persona stage gives them: found personas, and a policy rule's "In default".
    assigned = pd.DataFrame({
        "persona_id": truth["persona"], "persona_name_zh": truth["persona_zh"],
        "persona_name_en": truth["persona_en"].str.capitalize(), "source": "model"})
    defaulted = truth["defaulted"].astype(bool).to_numpy()
    assigned.loc[defaulted, ["persona_id", "persona_name_zh", "persona_name_en",
                             "source"]] = [
        "in_default", "已违约", "In default", "rule"]
    with Store(path) as st:
        ruleset = _rules(st, synthetic_bank.as_of, synthetic_bank.profile, assigned)
        stored = load_rules(st, synthetic_bank.as_of)
    r = stored.rules
    assert len(r) == len(ruleset.rules) > 0
    assert "in_default" not in set(r["scope"])
    assert not any("persona_in_default" in a for a in r["antecedents"])
    assert set(r["scope"]) - {PORTFOLIO} <= set(truth["persona"])
    # The stored answer meets the bounds on this bank too.
    assert len(r) <= 400 and (r["question"] == "repayment").mean() >= 0.6
    control = stored.params["shuffle_control"]
    assert control["shuffled"] <= 0.05 * control["real"]
    # Persona names read inside the sentence, lower-cased.
    inside = r[r["scope"] == "growth_tech"]
    assert inside.empty or inside["sentence_en"].iloc[0].startswith("Among growth")
