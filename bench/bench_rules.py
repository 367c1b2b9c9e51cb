"""Benchmark: behaviour items and association-rule mining on a 100,000-firm basket.

Setup (not timed): generate a bank of ``--firms`` firms, ingest it, profile it. Then, each
in its own process so that peak memory is its own:

- ``items``: :func:`behaviour_items` on the store (Ibis on DuckDB), every item of
  ``items.yaml``; the basket is saved;
- the basket is resampled with replacement to ``--basket-firms`` rows (seeded) — the shape
  of a 100,000-firm portfolio without generating one;
- ``fpgrowth``: frequent itemsets with ``mlxtend.fpgrowth`` on that basket, then the whole
  of :func:`mine_rules` (itemsets, rules, pruning, sentences), portfolio-wide and per
  persona; the personas are the generator's true ones (only to size the persona scopes);
- ``apriori`` (baseline): the same frequent itemsets with ``mlxtend.apriori`` (same support
  and length), as it runs by default and with ``low_memory=True``, checked to be the same
  itemsets.

    python bench/bench_rules.py --firms 10000 --basket-firms 100000
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


def stage_fpgrowth(work: Path, min_support: float, max_len: int) -> dict[str, float]:
    from mlxtend.frequent_patterns import fpgrowth

    from creditpersona.rules import mine_rules

    basket, personas = _load_big(work)
    t0 = time.perf_counter()
    freq = fpgrowth(basket, min_support=min_support, use_colnames=True, max_len=max_len)
    itemsets_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ruleset = mine_rules(basket, min_support=min_support, max_len=max_len, by=personas)
    mine_seconds = time.perf_counter() - t0
    freq["itemsets"].map(lambda s: "|".join(sorted(s))).to_frame().to_parquet(
        work / "fp_itemsets.parquet")
    portfolio = ruleset.scopes.set_index("scope").loc["portfolio"]
    return {"itemsets_seconds": itemsets_seconds, "itemsets": len(freq),
            "mine_seconds": mine_seconds, "rules": len(ruleset.rules),
            "portfolio_rules": int(portfolio["rules"]),
            "portfolio_pruned": int(portfolio["pruned"]), "peak_mb": _peak_mb()}


def stage_apriori(work: Path, min_support: float, max_len: int) -> dict[str, float]:
    import pandas as pd
    from mlxtend.frequent_patterns import apriori

    basket, _ = _load_big(work)
    t0 = time.perf_counter()
    freq = apriori(basket, min_support=min_support, use_colnames=True, max_len=max_len)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    low = apriori(basket, min_support=min_support, use_colnames=True, max_len=max_len,
                  low_memory=True)
    low_seconds = time.perf_counter() - t0
    ours = set(pd.read_parquet(work / "fp_itemsets.parquet")["itemsets"])
    same = all(ours == set(f["itemsets"].map(lambda s: "|".join(sorted(s))))
               for f in (freq, low))
    return {"itemsets_seconds": seconds, "low_memory_seconds": low_seconds,
            "itemsets": len(freq), "same_itemsets": same, "peak_mb": _peak_mb()}


def _run(stage: str, work: Path, *extra: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--workdir", str(work), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=10_000)
    parser.add_argument("--basket-firms", type=int, default=100_000)
    parser.add_argument("--min-support", type=float, default=0.01)
    parser.add_argument("--max-len", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    mining = ["--min-support", str(a.min_support), "--max-len", str(a.max_len)]
    if a.stage:
        work = a.workdir
        result = {
            "setup": lambda: stage_setup(work, a.firms),
            "items": lambda: stage_items(work),
            "resample": lambda: stage_resample(work, a.basket_firms, a.seed),
            "fpgrowth": lambda: stage_fpgrowth(work, a.min_support, a.max_len),
            "apriori": lambda: stage_apriori(work, a.min_support, a.max_len),
        }[a.stage]()
        print(json.dumps(result))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-rules-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        setup = _run("setup", work, "--firms", str(a.firms))
        items = _run("items", work)
        _run("resample", work, "--basket-firms", str(a.basket_firms), "--seed", str(a.seed))
        fp = _run("fpgrowth", work, *mining)
        ap = _run("apriori", work, *mining)
    finally:
        if a.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bank: {a.firms:,} firms ({setup['transactions']:,.0f} transactions, "
          f"{setup['loans']:,.0f} loans), as of {AS_OF}")
    print(f"behaviour_items (Ibis on DuckDB): {items['seconds']:.1f} s, "
          f"{items['firms']:,} firms × {items['items']} items, peak {items['peak_mb']:,.0f} MB")
    print(f"basket resampled to {a.basket_firms:,} firms (seed {a.seed}); "
          f"min_support {a.min_support}, max_len {a.max_len}")
    print(f"fpgrowth itemsets: {fp['itemsets_seconds']:.1f} s ({fp['itemsets']:,} itemsets)")
    print(f"apriori itemsets (baseline): {ap['itemsets_seconds']:.1f} s ({ap['itemsets']:,} "
          f"itemsets, same: {ap['same_itemsets']}), peak {ap['peak_mb']:,.0f} MB")
    print(f"apriori / fpgrowth: {ap['itemsets_seconds'] / fp['itemsets_seconds']:.1f}× "
          f"(apriori low_memory=True: {ap['low_memory_seconds']:.1f} s, "
          f"{ap['low_memory_seconds'] / fp['itemsets_seconds']:.1f}×)")
    print(f"mine_rules (portfolio + personas, pruning, sentences): {fp['mine_seconds']:.1f} s, "
          f"{fp['rules']:,} rules ({fp['portfolio_rules']:,} portfolio, "
          f"{fp['portfolio_pruned']:,} pruned there), peak {fp['peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
