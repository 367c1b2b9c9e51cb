"""Benchmark: next-best-offer planning for 1,000,000 firms × 8 products.

A synthetic candidate table (not timed): one row per eligible firm × product pair (about
60 % of the pairs), one RM per 40 firms (25,000 RMs, 15 contacts each on RM channels), a
channel per firm by size, industry sections and grades with the catalogue's risk appetite,
limits lognormal around 3 million yuan, P(accept) ~ Beta(1, 8), value = limit × net margin
× term, contact cost by channel; the exposure budget is set so that it binds. Then, each in
its own process so that peak memory is its own:

- ``lagrangian``: ``plan_offers(method="lagrangian")`` — Lagrangian relaxation with the
  certified bound (the method "auto" uses at this size);
- ``greedy``: the baseline — pairs by expected value, each firm's best that still fits.

Reported: seconds (problem build and solve), peak memory, expected value, the bound, the
objective gap of greedy against the plan and both against the bound. ``--milp-firms N``
adds an instance of N firms solved exactly with HiGHS (time-limited) to check the
Lagrangian plan against the MILP optimum.

    python bench/bench_offers.py --firms 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

PRODUCTS = ("project_finance", "working_capital", "trade_finance", "equipment", "tech_rnd",
            "supply_chain", "green", "inclusive_small")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def candidates(firms: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    m = len(PRODUCTS)
    size = rng.choice(4, firms, p=[0.05, 0.18, 0.40, 0.37])          # large … micro
    channel_by_size = np.array(["rm_visit", "phone", "phone", "wechat"])
    channel = np.where(rng.random(firms) < 0.2, "sms", channel_by_size[size])
    section = rng.choice(list("CFIMHEOGDKLNAB"), firms,
                         p=[.37, .25, .06, .05, .05, .04, .035, .035, .03, .02, .02, .015,
                            .015, .01])
    grade = rng.choice([str(g) for g in range(1, 10)], firms,
                       p=[.03, .07, .12, .18, .2, .17, .12, .07, .04])
    keep = rng.random((firms, m)) < 0.6
    firm, prod = np.nonzero(keep)
    scale = np.array([3.0, 1.0, 0.8, 1.0, 1.2, 0.7, 2.0, 0.3])[prod] * (4.0 - size[firm])
    limit = np.round(rng.lognormal(13.5, 0.9, firm.size) * scale, -4)
    p = rng.beta(1, 8, firm.size)
    margin = rng.uniform(0.004, 0.02, firm.size)
    term = np.array([8, 1, 0.5, 4, 3, 1, 5, 1])[prod]
    cost = pd.Series(channel).map({"rm_visit": 300.0, "phone": 30.0, "wechat": 1.0,
                                   "sms": 0.5}).to_numpy()[firm]
    frame = pd.DataFrame({
        "firm_id": firm, "product": np.array(PRODUCTS)[prod],
        "expected_value": p * limit * margin * term - cost, "limit": limit,
        "rm_id": firm // 40, "channel": channel[firm], "industry_section": section[firm],
        "grade": grade[firm],
    })
    return frame[frame["expected_value"] > 0].reset_index(drop=True)


def budget_for(firms: int) -> float:
    """An exposure budget that binds: about a third of what the unconstrained plan offers."""
    return 3.0e6 * firms * 0.2


def stage_plan(firms: int, seed: int, method: str) -> dict[str, float]:
    from creditpersona.marketing.offers import build_problem, solve

    frame = candidates(firms, seed)
    t0 = time.perf_counter()
    problem = build_problem(frame, exposure_budget=budget_for(firms))
    built = time.perf_counter() - t0
    del frame
    t0 = time.perf_counter()
    choice, obj, bound, used, iterations = solve(problem, method, time_limit=600)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    assert problem.violations(choice) == [], problem.violations(choice)[:5]
    return {"build_seconds": built, "solve_seconds": seconds, "objective": obj,
            "bound": bound, "iterations": iterations, "offers": int((choice >= 0).sum()),
            "candidates": problem.candidates, "peak_mb": _peak_mb(), "method": used}


def _run(stage: str, firms: int, seed: int, method: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--firms", str(firms),
                          "--seed", str(seed), "--method", method],
                         check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--milp-firms", type=int, default=0)
    parser.add_argument("--stage")
    parser.add_argument("--method", default="lagrangian")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage_plan(args.firms, args.seed, args.method)))
        return
    runs = {m: _run("plan", args.firms, args.seed, m) for m in ("lagrangian", "greedy")}
    lag, gre = runs["lagrangian"], runs["greedy"]
    print(f"{args.firms:,} firms × {len(PRODUCTS)} products, {lag['candidates']:,} candidate "
          f"pairs (seed {args.seed})")
    print("| method | build s | solve s | peak MB | offers | expected value (yuan) | "
          "gap to bound |")
    print("|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        gap = (lag["bound"] - r["objective"]) / lag["bound"]
        print(f"| {name} | {r['build_seconds']:.1f} | {r['solve_seconds']:.1f} | "
              f"{r['peak_mb']:,.0f} | {r['offers']:,} | {r['objective']:,.0f} | {gap:.3%} |")
    print(f"Lagrangian bound {lag['bound']:,.0f} after {lag['iterations']} iterations; plan / "
          f"greedy = {lag['objective'] / gre['objective']:.4f} "
          f"(+{lag['objective'] / gre['objective'] - 1:.2%}); time lagrangian / greedy = "
          f"{lag['solve_seconds'] / gre['solve_seconds']:.1f}×")
    if args.milp_firms:
        small = {m: _run("plan", args.milp_firms, args.seed, m)
                 for m in ("milp", "lagrangian", "greedy")}
        opt = small["milp"]
        print(f"\n{args.milp_firms:,} firms, exact check (HiGHS, bound {opt['bound']:,.0f}):")
        for name, r in small.items():
            print(f"  {name}: {r['objective']:,.0f} in {r['solve_seconds']:.1f} s "
                  f"({(opt['bound'] - r['objective']) / opt['bound']:.3%} below the MILP "
                  "bound)")


if __name__ == "__main__":
    main()
