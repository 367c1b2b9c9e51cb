"""Parity: the rules and review stages, embedded (DuckDB) against Spark, on one bank.

Generates a bank (seed 11, four years to 2026-06-30), runs the embedded cycle of
2026-03-31 (develops the PD models, fits the personas) and of 2026-06-30 on one store; on a
copy of the store after the first quarter, copies the first quarter's profile, PD scores,
personas and review triggers into Spark results and runs the Spark cycle of 2026-06-30 with
the first quarter's models in force. Prints, for the rules and the review, the rows of each
engine and the largest differences (support, confidence, p-values; PSI, noise bound,
migration cells), with the seconds of each stage on each engine.

    OMP_NUM_THREADS=1 python bench/bench_spark_parity_rr.py --firms 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Q1, Q2 = dt.date(2026, 3, 31), dt.date(2026, 6, 30)
CARRIED = ("profiles", "pd_scores", "personas", "review_triggers")


def _embedded(work: Path, firms: int) -> tuple[Path, Path, Any, dict[str, float]]:
    """Generate, ingest, run both embedded quarters; the store after Q1 is kept."""
    from creditpersona.pipeline import run_cycle
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", firms, 11, years=4, txn_per_firm_year=30,
                        fmt="parquet")
    after_q1, clean = work / "after_q1.duckdb", work / "clean.duckdb"
    with Store(after_q1) as st:
        ingest(st, [gen.out_dir])
        run_cycle(st, Q1, work / "out")
    shutil.copy(after_q1, clean)
    if (work / "after_q1.duckdb.runs").exists():
        shutil.copytree(work / "after_q1.duckdb.runs", work / "clean.duckdb.runs")
    with Store(clean) as st:
        q2 = run_cycle(st, Q2, work / "out")
    return gen.out_dir, after_q1, q2, q2.seconds


def _spark(work: Path, data: Path, after_q1: Path, buckets: int) -> tuple[Path, Any]:
    from creditpersona.spark.cycle import run_spark_cycle
    from creditpersona.spark.results import SparkResults
    from creditpersona.spark.session import spark_session
    from creditpersona.store.store import Store

    spark = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4",
                                       "spark.driver.maxResultSize": "64m"})
    store, root = work / "spark.duckdb", work / "results"
    shutil.copy(after_q1, store)
    runs = after_q1.parent / f"{after_q1.name}.runs"
    if runs.exists():
        shutil.copytree(runs, work / "spark.duckdb.runs")
    with Store(store) as st:
        for name in CARRIED:
            SparkResults(spark, root).import_date(st, name, Q1)
        result = run_spark_cycle(st, Q2, work / "spark-out", spark=spark, results=root,
                                 inputs=str(data), buckets=buckets)
    return root, result


def _worst(a: pd.Series, b: pd.Series) -> float:
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    if (np.isfinite(x) != np.isfinite(y)).any():
        return float("inf")
    return float(np.max(np.abs(x[both] - y[both]), initial=0.0))


def _compare(name: str, got: pd.DataFrame, want: pd.DataFrame, key: list[str],
             numbers: list[str]) -> None:
    got = got.sort_values(key, key=lambda s: s.astype(str), ignore_index=True)
    want = want.sort_values(key, key=lambda s: s.astype(str), ignore_index=True)
    same_keys = len(got) == len(want) and all(
        got[k].astype(str).tolist() == want[k].astype(str).tolist() for k in key)
    print(f"{name}: embedded {len(want):,} rows, Spark {len(got):,} rows, "
          f"same keys: {same_keys}")
    if not same_keys:
        return
    for c in numbers:
        if c in want.columns:
            print(f"  max |Δ {c}| = {_worst(got[c], want[c]):.3g}")


def main() -> None:
    from creditpersona.store import results
    from creditpersona.store.store import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="spark-rr-parity-"))
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    clock = time.perf_counter()
    data, after_q1, q2, duck_seconds = _embedded(work, args.firms)
    print(f"embedded: two quarters of {args.firms:,} firms in "
          f"{time.perf_counter() - clock:.0f} s")
    root, result = _spark(work, data, after_q1, args.buckets)
    for stage in ("rules", "review"):
        print(f"{stage}: embedded {duck_seconds.get(stage, float('nan')):.1f} s, Spark "
              f"{result.seconds.get(stage, float('nan')):.1f} s "
              f"({result.stages[stage].ran_on}; {result.stages[stage].note})")

    def spark_table(name: str) -> pd.DataFrame:
        import pyarrow.parquet as pq
        return pq.read_table(root / name / f"as_of={Q2}").to_pandas()

    _compare("association_rules", spark_table(results.ASSOCIATION_RULES), q2.rules.rules,
             ["question", "scope", "rank"], ["support", "confidence", "lift", "p_value",
                                             "q_value", "count"])
    with Store(work / "clean.duckdb", read_only=True) as st:
        for name, key, numbers in (
                (results.REVIEW_DRIFT, ["comparison", "reference_as_of", "segment", "variable"],
                 ["psi", "noise_bound", "firms_reference", "firms_current",
                  "missing_reference", "missing_current"]),
                (results.REVIEW_MIGRATION, ["kind", "segment", "from_state", "to_state"],
                 ["firms"]),
                (results.REVIEW_PERFORMANCE, ["model"], ["auc", "mean_pd"]),
                (results.REVIEW_TRIGGERS, ["trigger", "target"], ["value"])):
            _compare(name, spark_table(name), results.read(st, name, Q2), key, numbers)
    print(f"work folder: {work}")


if __name__ == "__main__":
    sys.exit(main())
