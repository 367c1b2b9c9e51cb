"""Validate the association rules on a synthetic bank: chance control and planted behaviours.

Generates a bank (default: the demo's 2,000 firms, seed 7), ingests and profiles it as of
2026-06-30, builds the behaviour basket with the generator's true personas (the persona
model is validated elsewhere; the planted behaviours are stated per true persona) and:

1. mines the short answer (what the pipeline stores) and checks it: rules per as-of date,
   share answering the repayment question, rules whose antecedent and consequent share a
   family or a definitional pair (must be 0);
2. shuffle control: the repayment outcomes (every ``repay_*`` item and ``in_default``)
   permuted across firms, for ``--shuffles`` seeds; the rules of the repayment question
   that survive are false discoveries, reported against the real count (every significant
   rule of the question, before the per-scope cap). Target: 0–5 %;
3. planted-behaviour recovery: each planted behaviour of docs/synthetic-bank.md whose
   consequent is a repayment, uptake or response item, as a rule — its adjusted p-value
   (q), whether it survives, and its rank in the stored answer, or the answer rule that
   restates it (same consequent, share of the planted rule's firms it covers), or its rank
   among every significant rule of its question when the answer has no rule for it;
4. the same recovery without personas, through industry and size items.

    python bench/validate_rules_synthetic.py --firms 2000 --seed 7
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = dt.date(2026, 6, 30)

PLANTED = {
    "1 growth_tech ∧ tech_rnd loan → early repayment": (
        ["persona_growth_tech", "product_tech_rnd"], "repay_early"),
    "2 trading firm → trade finance": (["persona_trading_turnover"], "product_trade_finance"),
    "2 trading firm ∧ trade finance → late in Q1": (
        ["persona_trading_turnover", "product_trade_finance"], "repay_late_q1"),
    "3 refinancing (借新还旧) → late repayment": (["purpose_refinancing"], "repay_late"),
    "4 manufacturer ∧ concentrated customers → supply chain": (
        ["persona_stable_manufacturer", "customer_concentration"], "product_supply_chain"),
    "5 asset-heavy → project finance": (["persona_asset_heavy_project"],
                                        "product_project_finance"),
    "6 utilities/environment → green loan": (["ind_utilities_env"], "product_green"),
    "7 micro persona → 普惠 loan": (["persona_micro_inclusive"], "product_inclusive_small"),
    "8 inquiry burst ∧ risk news → default": (["inquiry_burst", "risk_news"], "in_default"),
}
PLANTED_NO_PERSONAS = {
    "1 tech industry ∧ tech_rnd loan → early": (["ind_tech", "product_tech_rnd"],
                                                "repay_early"),
    "2 wholesale/retail ∧ trade finance → late in Q1": (
        ["product_trade_finance", "sec_F"], "repay_late_q1"),
    "3 refinancing → late": (["purpose_refinancing"], "repay_late"),
    "4 manufacturing ∧ concentrated → supply chain": (
        ["customer_concentration", "sec_C"], "product_supply_chain"),
    "5 infrastructure → project finance": (["ind_infrastructure"], "product_project_finance"),
    "6 utilities/environment → green": (["ind_utilities_env"], "product_green"),
    "7 micro → 普惠": (["size_micro"], "product_inclusive_small"),
    "8 inquiry burst ∧ risk news → default": (["inquiry_burst", "risk_news"], "in_default"),
}


def _setup(work: Path, firms: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    from creditpersona.profile.build import compute_profile, save_profile
    from creditpersona.rules import behaviour_items
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", firms, seed, end_date=AS_OF)
    truth = pd.read_csv(gen.out_dir / "truth" / "firms_truth.csv",
                        dtype={"firm_id": str}).set_index("firm_id")["persona"]
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        run = compute_profile(st, AS_OF)
        save_profile(st, run)
        with_personas = behaviour_items(st, AS_OF, run.frame, truth)
        without = behaviour_items(st, AS_OF, run.frame)
    return with_personas, without, truth


def _restated_by(answer: pd.DataFrame, basket: pd.DataFrame, ante: list[str], c: str) -> str:
    same = answer[(answer["scope"] == "portfolio") & (answer["consequent"] == c)]
    if same.empty:
        return ""
    mine = basket[ante].all(axis=1) & basket[c]
    shared = [(mine & basket[list(a)].all(axis=1) & basket[c]).sum() / max(mine.sum(), 1)
              for a in same["antecedents"]]
    k = int(np.argmax(shared))
    return f"#{same['rank'].iloc[k]} {' ∧ '.join(same['antecedents'].iloc[k])} ({shared[k]:.0%})"


def _recovery(basket: pd.DataFrame, by: pd.Series | None,
              planted: dict[str, tuple[list[str], str]]) -> tuple[pd.DataFrame, int]:
    from creditpersona.rules import mine_rules

    everything = mine_rules(basket, by, cap=False)
    answer = mine_rules(basket, by).rules
    rows = []
    for name, (ante, c) in planted.items():
        r = everything.find(ante, c)
        shown = answer[(answer["scope"] == "portfolio") & (answer["consequent"] == c)
                       & (answer["antecedents"] == tuple(sorted(ante)))]
        restated = _restated_by(answer, basket, ante, c)
        rows.append({
            "behaviour": name,
            "survives": r is not None,
            "q": np.nan if r is None else float(r.q_value),
            "conf": np.nan if r is None else float(r.confidence),
            "others": np.nan if r is None else float(r.others_rate),
            "answer": (f"#{shown['rank'].iloc[0]}" if len(shown)
                       else f"restated by {restated}" if restated
                       else "" if r is None else f"below the cap (#{r['rank']} of all)"),
        })
    return pd.DataFrame(rows), int(everything.params["tested"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shuffles", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    a = parser.parse_args()

    from creditpersona.rules import load_items, mine_rules, shuffle_control

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-validate-rules-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        basket, no_personas, truth = _setup(work, a.firms, a.seed)
    finally:
        if a.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    vocab = load_items()
    print(f"bank: {a.firms:,} firms, seed {a.seed}, as of {AS_OF}; basket {basket.shape[1]} "
          f"items; scopes: portfolio + {truth.nunique()} true personas")

    t0 = time.perf_counter()
    answer = mine_rules(basket, truth)
    seconds = time.perf_counter() - t0
    r = answer.rules
    bad = sum(
        vocab.family_of(c) in {vocab.family_of(x) for x in ante}
        or bool(vocab.definitional_with(c, ante))
        for ante, c in zip(r["antecedents"], r["consequent"], strict=True))
    print(f"\n1. answer stored: {len(r)} rules ({seconds:.1f} s, {answer.params['tested']:,} "
          f"rules tested, {answer.params['correction']} at {answer.params['alpha']}); "
          f"repayment question {(r['question'] == 'repayment').mean():.0%}; by question "
          f"{r['question'].value_counts().to_dict()}; same family or definitional: {bad}")
    print(answer.scopes.to_string(index=False))

    print(f"\n2. shuffle control (repayment outcomes permuted, seeds 0–{a.shuffles - 1}):")
    controls = [shuffle_control(basket, truth, seed=s, real=answer) for s in range(a.shuffles)]
    for c in controls:
        print(f"   seed {c['seed']}: {c['shuffled']} of {c['real']} survive "
              f"({c['shuffled'] / c['real']:.1%})")
    total = sum(c["shuffled"] for c in controls)
    print(f"   mean {total / a.shuffles:.1f} rules by chance against {controls[0]['real']} "
          f"real ({total / a.shuffles / controls[0]['real']:.1%})")

    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)
    for title, b, by, planted in (
            ("3. planted behaviours, true personas", basket, truth, PLANTED),
            ("4. planted behaviours, no personas (industry and size items)", no_personas,
             None, PLANTED_NO_PERSONAS)):
        table, tested = _recovery(b, by, planted)
        print(f"\n{title}: {int(table['survives'].sum())} of {len(table)} survive "
              f"({tested:,} rules tested)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2g}"))


if __name__ == "__main__":
    main()
