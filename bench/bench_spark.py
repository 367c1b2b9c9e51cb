"""Benchmark: the Spark stages of the cycle against the embedded engine on the same bank.

Setup (not timed): generate a bank with two review quarters (2026-03-31, 2026-06-30) and
ingest it. Then, each step in its own process so that its peak memory is its own:

- ``duckdb``: on a copy of the store, the embedded profile, PD (developed: first quarter)
  and personas stages of 2026-03-31, then the same stages of 2026-06-30 with the models in
  force (the steady quarter);
- ``spark``: on a copy of the store after the embedded first quarter (the same models in
  force, its ratings copied to the Spark results), the Spark cycle of 2026-06-30
  (``local[N]``), and optionally (``--spark-first``) the Spark cycle of 2026-03-31 on a
  fresh store, which develops the PD models and fits the personas on a driver sample.

Prints the seconds of every stage on each engine, the peak memory of the driver's Python
process and of the Spark JVM (the driver in local mode holds the executors too), and the
load average (the machine is shared).

    python bench/bench_spark.py --firms 2000
    python bench/bench_spark.py --firms 50000 --txn 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUARTERS = (dt.date(2026, 3, 31), dt.date(2026, 6, 30))
STAGES = ("profile", "pd_models", "personas")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jvm_peak_mb(spark: object) -> float:
    """VmHWM of the JVM the session runs in (local mode: driver and executors)."""
    proc = spark.sparkContext._gateway.proc  # type: ignore[attr-defined]
    pids = [proc.pid]
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == proc.pid:
            pids.append(int(fields[0]))
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def setup(work: Path, firms: int, txn: float) -> None:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    if (work / "bank.duckdb").exists():
        return
    gen = generate_bank(work / "data", firms, 7, years=3, quarters=2, txn_per_firm_year=txn,
                        fmt="parquet")
    with Store(work / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])


def _duck_stages(st: object, as_of: dt.date) -> dict[str, float]:
    from creditpersona import pipeline
    from creditpersona.text.package import register_packaged

    out: dict[str, float] = {}
    t = time.perf_counter()
    register_packaged(st)  # type: ignore[arg-type]
    computed: dict[str, object] = {}
    pipeline._profile(st, as_of, "duckdb", computed)  # type: ignore[arg-type]
    profile = computed["profile"].drop(  # type: ignore[attr-defined]
        columns=["as_of", "run_id", "engine"])
    out["profile"] = time.perf_counter() - t
    t = time.perf_counter()
    pd_stage = pipeline._pd_models(st, as_of, profile, False)  # type: ignore[arg-type]
    out["pd_models"] = time.perf_counter() - t
    t = time.perf_counter()
    pipeline._personas(st, as_of, profile, pd_stage.scores, False)  # type: ignore[arg-type]
    out["personas"] = time.perf_counter() - t
    return out


def step_duckdb(work: Path) -> dict[str, object]:
    from creditpersona.store.store import Store

    store = work / "duck" / "bank.duckdb"
    shutil.rmtree(store.parent, ignore_errors=True)
    store.parent.mkdir(mode=0o700)
    shutil.copy(work / "bank.duckdb", store)
    with Store(store) as st:
        first = _duck_stages(st, QUARTERS[0])
    shutil.copy(store, work / "after_q1.duckdb")
    with Store(store) as st:
        steady = _duck_stages(st, QUARTERS[1])
    return {"first": first, "steady": steady, "peak_mb": _peak_mb()}


def step_spark(work: Path, cores: int, buckets: int, first: bool) -> dict[str, object]:
    from creditpersona.spark.cycle import run_spark_cycle
    from creditpersona.spark.results import SparkResults
    from creditpersona.spark.session import spark_session
    from creditpersona.store import results
    from creditpersona.store.store import Store

    spark = spark_session(f"local[{cores}]", {"spark.driver.maxResultSize": "64m"})
    out: dict[str, object] = {}
    folder = work / ("spark-first" if first else "spark")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    store = folder / "bank.duckdb"
    shutil.copy(work / ("bank.duckdb" if first else "after_q1.duckdb"), store)
    as_of = QUARTERS[0] if first else QUARTERS[1]
    with Store(store) as st:
        if not first:
            SparkResults(spark, folder / "results").import_date(st, results.PD_SCORES,
                                                                QUARTERS[0])
        t = time.perf_counter()
        result = run_spark_cycle(st, as_of, folder / "out", spark=spark,
                                 results=folder / "results", buckets=buckets)
        out["total"] = time.perf_counter() - t
    out["stages"] = {k: result.seconds[k] for k in ("inputs", *STAGES)}
    out["driver_rows"] = {k: result.stages[k].driver_rows for k in STAGES}
    out["python_peak_mb"] = _peak_mb()
    out["jvm_peak_mb"] = _jvm_peak_mb(spark)
    spark.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=2000)
    parser.add_argument("--txn", type=float, default=8.0, help="transactions a firm-year")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--spark-first", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.gettempdir()) / f"bench-spark-{args.firms}"
    if args.step:
        if args.step == "duckdb":
            result = step_duckdb(work)
        else:
            result = step_spark(work, args.cores, args.buckets, args.step == "spark-first")
        print("RESULT " + json.dumps(result))
        return
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    setup(work, args.firms, args.txn)
    steps = ["duckdb", "spark"] + (["spark-first"] if args.spark_first else [])
    report: dict[str, object] = {"firms": args.firms, "load_before": os.getloadavg()}
    for step in steps:
        cmd = [sys.executable, __file__, "--firms", str(args.firms), "--cores",
               str(args.cores), "--buckets", str(args.buckets), "--workdir", str(work),
               "--step", step]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if done.returncode or not line:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"step {step} failed")
        report[step] = json.loads(line[0].removeprefix("RESULT "))
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    duck = report["duckdb"]["steady"]  # type: ignore[index]
    spark = report["spark"]["stages"]  # type: ignore[index]
    print(f"\nsteady quarter, {args.firms:,} firms (seconds)   duckdb    spark")
    for s in STAGES:
        print(f"  {s:<40}{duck[s]:8.1f} {spark[s]:8.1f}")


if __name__ == "__main__":
    main()
