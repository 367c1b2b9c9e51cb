"""Parity: the embedded and the Spark cycle on one generated bank, stage by stage.

Setup: generate a bank (``--firms``, four years of history to 2026-06-30), ingest it and run
the embedded cycle of 2026-03-31 (PD models developed, personas fitted). Then the steady
quarter 2026-06-30 twice, from copies of that store: the embedded cycle, and the Spark cycle
(``local[2]``) with the first quarter's PD scores and profile copied to the Spark results
(the rating smoothing and the change rules read them), so both engines use the same models.

For every stage that runs on Spark it prints the rows of each engine, the largest relative
difference of the numeric columns, the share of differing values of the other columns
(profile, pd_scores, personas, the seven decision tables), and for the offers the share of
firms offered the same product and the differences of the same pairs' numbers. Then the
seconds of every stage on each engine and the load average (the machine is shared).

    python bench/bench_spark_parity.py --firms 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Q1, Q2 = dt.date(2026, 3, 31), dt.date(2026, 6, 30)
#: Result tables compared row by row, with their keys.
TABLES = {"profiles": ["firm_id"], "pd_scores": ["firm_id"], "personas": ["firm_id"],
          "decision_value": ["firm_id"], "decision_pricing": ["firm_id", "product"],
          "decision_limits": ["firm_id"], "decision_classification": ["firm_id"],
          "decision_loans": ["loan_id"], "decision_watchlist": ["firm_id"],
          "decision_plans": ["firm_id"]}
#: Columns that say which run wrote a row, not what it computed.
RUN_COLUMNS = {"run_id", "engine", "model_version", "as_of"}


def _text(v: Any) -> str:
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, np.ndarray | list):
        return str([_text(x) for x in v])
    return "None" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def compare(spark_rows: pd.DataFrame, duck_rows: pd.DataFrame, keys: list[str]
            ) -> tuple[float, float, str]:
    """Largest relative numeric difference, largest share of differing other values, and
    the column of the latter, over the rows both engines hold (by ``keys``)."""
    a = spark_rows.drop_duplicates(keys).set_index(keys)
    b = duck_rows.drop_duplicates(keys).set_index(keys)
    both = a.index.intersection(b.index)
    a, b = a.loc[both], b.loc[both]
    worst_num, worst_text, where = 0.0, 0.0, ""
    for c in b.columns:
        if c in RUN_COLUMNS or c not in a.columns:
            continue
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
            u, v = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            same = (u == v) | (np.isnan(u) & np.isnan(v))  # equal infinities included
            with np.errstate(invalid="ignore"):
                rel = np.abs(u - v) / np.maximum(np.abs(v), 1e-12)
            rel = np.where(same, 0.0, np.where(np.isnan(rel), 1.0, rel))
            worst_num = max(worst_num, float(rel.max(initial=0.0)))
        else:
            share = float(np.mean([_text(p) != _text(q) for p, q in zip(x, y, strict=True)])
                          ) if len(x) else 0.0
            if share > worst_text:
                worst_text, where = share, c
    return worst_num, worst_text, where


def offers_report(spark_rows: pd.DataFrame, duck_rows: pd.DataFrame) -> str:
    """Firms offered the same product (or none) by both, and the same pairs' numbers."""
    a, b = spark_rows.set_index("firm_id"), duck_rows.set_index("firm_id")
    firms = a.index.union(b.index)
    same = a["product"].reindex(firms) == b["product"].reindex(firms)
    both = a.index.intersection(b.index)
    pair = both[(a.loc[both, "product"] == b.loc[both, "product"]).to_numpy()]
    worst, _, _ = compare(a.loc[pair].reset_index(), b.loc[pair].reset_index(), ["firm_id"])
    return (f"offers: spark {len(a):,}, duckdb {len(b):,}; same firm→product for "
            f"{same.mean():.1%} of {len(firms):,} firms; same pairs' numbers within {worst:.1e}"
            f"; expected value spark {a['expected_value'].sum():,.0f} / duckdb "
            f"{b['expected_value'].sum():,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--firms", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--buckets", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import pyarrow.parquet as pq

    from creditpersona.pipeline import run_cycle
    from creditpersona.spark.cycle import run_spark_cycle
    from creditpersona.spark.results import SparkResults
    from creditpersona.spark.session import spark_session
    from creditpersona.store import results
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    work = Path(tempfile.mkdtemp(prefix="bench-spark-parity-"))
    gen = generate_bank(work / "data", args.firms, args.seed, years=4, txn_per_firm_year=30,
                        fmt="parquet")
    base = work / "q1.duckdb"
    with Store(base) as st:
        ingest(st, [gen.out_dir])
        run_cycle(st, Q1, work / "out-q1")
    duck_store, spark_store = work / "duck.duckdb", work / "spark.duckdb"
    for target in (duck_store, spark_store):
        shutil.copy(base, target)
        if (work / "q1.duckdb.runs").exists():
            shutil.copytree(work / "q1.duckdb.runs", work / f"{target.name}.runs")
    clock = time.perf_counter()
    with Store(duck_store) as st:
        duck = run_cycle(st, Q2, work / "out-duck")
    duck_seconds = time.perf_counter() - clock
    spark = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    root = work / "results"
    clock = time.perf_counter()
    with Store(spark_store) as st:
        for name in (results.PD_SCORES, results.PROFILES):
            SparkResults(spark, root).import_date(st, name, Q1)
        ran = run_spark_cycle(st, Q2, work / "out-spark", spark=spark, results=root,
                              buckets=args.buckets)
    spark_seconds = time.perf_counter() - clock
    print(f"bank: {args.firms:,} firms (seed {args.seed}), steady quarter {Q2}")
    print(f"{'table':26s} {'duckdb':>8s} {'spark':>8s} {'numbers':>9s} {'other':>7s} column")
    with Store(duck_store, read_only=True) as st:
        for name, keys in TABLES.items():
            d = results.read(st, name, Q2)
            s = pq.read_table(root / name / f"as_of={Q2}").to_pandas()
            num, text, col = compare(s, d, keys)
            print(f"{name:26s} {len(d):8,d} {len(s):8,d} {num:9.1e} {text:7.1%} {col}")
        print(offers_report(pq.read_table(root / "offers" / f"as_of={Q2}").to_pandas(),
                            results.read(st, results.OFFERS, Q2)))
    print(f"\n{'stage':12s} {'duckdb s':>9s} {'spark s':>9s}  spark ran on")
    for stage, where in ran.where().items():
        print(f"{stage:12s} {duck.seconds.get(stage, 0.0):9.1f} "
              f"{ran.seconds.get(stage, 0.0):9.1f}  {where}")
    print(f"{'total':12s} {duck_seconds:9.1f} {spark_seconds:9.1f}")
    print(f"load average: {os.getloadavg()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
