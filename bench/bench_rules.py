"""Benchmark: behaviour items, then mining *and testing* the rules on a large basket.

Setup (not timed): generate a bank of ``--firms`` firms, ingest it, profile it. Then, each
in its own process so that peak memory is its own:

- ``items``: :func:`behaviour_items` on the store (Ibis on DuckDB), every item of
  ``items.yaml``; the basket is saved;
- the basket is resampled with replacement to ``--basket-firms`` rows (seeded) — the shape
  of a 100,000-firm portfolio without generating one;
- ``mine``: the whole of :func:`mine_rules` with the packaged settings (search, Fisher
  tests for chance and productivity, BH over every rule, the short answer, sentences),
  portfolio-wide and per persona (the generator's true personas, only to size the scopes),
  then :func:`shuffle_control` given those rules (one more search and test on the shuffled
  basket): what the pipeline's rules stage does after building the basket;
- ``baseline``: what ``rules mine`` did before the rules were tested — FP-growth itemsets
  (``mlxtend.fpgrowth``, support ≥ 0.01, up to four items) and every single-consequent rule
  of confidence ≥ 0.25 and lift ≥ 1.2 (``mlxtend.association_rules``), portfolio and per
  persona, without tests, pruning or sentences (a lower bound of its time).

    python bench/bench_rules.py --firms 10000 --basket-firms 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2026, 6, 30)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_setup(work: Path, firms: int) -> dict[str, float]:
    from creditpersona.profile.build import compute_profile, save_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", firms, 7, fmt="parquet")
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        save_profile(st, compute_profile(st, AS_OF))
    shutil.copy(gen.out_dir / "truth" / "firms_truth.csv", work / "firms_truth.csv")
    shutil.rmtree(work / "data")
    return {"transactions": gen.rows["transactions"], "loans": gen.rows["loans"]}


def stage_items(work: Path) -> dict[str, float]:
    from creditpersona.rules import behaviour_items
    from creditpersona.store.store import Store

    with Store(work / "store.duckdb", read_only=True) as st:
        t0 = time.perf_counter()
        basket = behaviour_items(st, AS_OF)
        seconds = time.perf_counter() - t0
    basket.to_parquet(work / "basket.parquet")
    return {"seconds": seconds, "peak_mb": _peak_mb(), "firms": len(basket),
            "items": basket.shape[1]}


def stage_resample(work: Path, rows: int, seed: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    basket = pd.read_parquet(work / "basket.parquet")
    truth = pd.read_csv(work / "firms_truth.csv", dtype={"firm_id": str}).set_index("firm_id")
    pick = np.random.default_rng(seed).integers(0, len(basket), rows)
    big = basket.iloc[pick].reset_index(drop=True)
    big.index = pd.Index([f"F{i:07d}" for i in range(rows)], name="firm_id")
    personas = truth["persona"].reindex(basket.index).iloc[pick].to_numpy()
    big.to_parquet(work / "big.parquet")
    pd.Series(personas, index=big.index, name="persona").to_frame().to_parquet(
        work / "big_personas.parquet")
    return {"rows": rows}


def _load_big(work: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    return (pd.read_parquet(work / "big.parquet"),
            pd.read_parquet(work / "big_personas.parquet")["persona"])


def stage_mine(work: Path) -> dict[str, float]:
    from creditpersona.rules import mine_rules, shuffle_control

    basket, personas = _load_big(work)
    t0 = time.perf_counter()
    ruleset = mine_rules(basket, personas)
    mine_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    control = shuffle_control(basket, personas, real=ruleset)
    control_seconds = time.perf_counter() - t0
    return {"mine_seconds": mine_seconds, "control_seconds": control_seconds,
            "tested": ruleset.params["tested"], "rules": len(ruleset.rules),
            "significant": int(ruleset.scopes["significant"].sum()),
            "shuffled": control["shuffled"], "real": control["real"], "peak_mb": _peak_mb()}


def stage_baseline(work: Path) -> dict[str, float]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    basket, personas = _load_big(work)
    t0 = time.perf_counter()
    rules = 0
    scopes = [basket] + [basket[(personas == p).to_numpy()] for p in sorted(personas.unique())]
    for x in scopes:
        freq = fpgrowth(x, min_support=0.01, use_colnames=True, max_len=4)
        r = association_rules(freq, num_itemsets=len(x), metric="confidence",
                              min_threshold=0.25)
        r = r[(r["consequents"].map(len) == 1) & (r["lift"] >= 1.2)]
        rules += len(r)
    return {"seconds": time.perf_counter() - t0, "rules": rules, "peak_mb": _peak_mb()}


def _run(stage: str, work: Path, *extra: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--workdir", str(work), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=10_000)
    parser.add_argument("--basket-firms", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.stage:
        work = a.workdir
        result = {
            "setup": lambda: stage_setup(work, a.firms),
            "items": lambda: stage_items(work),
            "resample": lambda: stage_resample(work, a.basket_firms, a.seed),
            "mine": lambda: stage_mine(work),
            "baseline": lambda: stage_baseline(work),
        }[a.stage]()
        print(json.dumps(result))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-rules-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        setup = _run("setup", work, "--firms", str(a.firms))
        items = _run("items", work)
        _run("resample", work, "--basket-firms", str(a.basket_firms), "--seed", str(a.seed))
        mine = _run("mine", work)
        base = _run("baseline", work)
    finally:
        if a.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bank: {a.firms:,} firms ({setup['transactions']:,.0f} transactions, "
          f"{setup['loans']:,.0f} loans), as of {AS_OF}")
    print(f"behaviour_items (Ibis on DuckDB): {items['seconds']:.1f} s, "
          f"{items['firms']:,} firms × {items['items']} items, peak {items['peak_mb']:,.0f} MB")
    print(f"basket resampled to {a.basket_firms:,} firms (seed {a.seed})")
    total = mine["mine_seconds"] + mine["control_seconds"]
    print(f"mine_rules (search, tests, BH, answer, sentences; portfolio + personas): "
          f"{mine['mine_seconds']:.1f} s — {mine['tested']:,} rules tested, "
          f"{mine['significant']:,} significant, {mine['rules']:,} in the answer")
    print(f"shuffle_control (one more search and test): {mine['control_seconds']:.1f} s — "
          f"{mine['shuffled']} of {mine['real']} repayment rules survive shuffling")
    print(f"rules stage after the basket: {total:.1f} s, peak {mine['peak_mb']:,.0f} MB")
    print(f"baseline, untested FP-growth rules as rules mine made them: {base['seconds']:.1f} s "
          f"({base['rules']:,} rules), peak {base['peak_mb']:,.0f} MB")
    print(f"tested / untested: {total / base['seconds']:.2f}×")


if __name__ == "__main__":
    main()
