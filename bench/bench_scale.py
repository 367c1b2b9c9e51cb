"""Benchmark: a large bank end to end — generate, ingest, a steady quarter on each engine.

Each step runs in its own process, so that its peak memory is its own:

- ``generate``: the bank streamed to Parquet block by block (``--block-firms``), two review
  quarters (2026-03-31, 2026-06-30), seed 7;
- ``ingest``: every table into a fresh store, with every contract check;
- ``first``: the cycle of the first quarter on the embedded engine (not the measure: it
  develops the PD models and fits the personas the next quarter uses);
- ``steady``: the second quarter with the models in force, once per engine, each on its own
  copy of the store after the first quarter: ``duckdb``, the embedded engine
  (``run_cycle``), and ``spark``, the whole Spark cycle of ``run --engine spark``
  (``run_spark_cycle`` in local mode, ``--spark-master``), reading the generated Parquet
  files as its inputs (the bank the ingest loaded, no row quarantined), ``--buckets``
  buckets of firms (docs/spark.md: about firms / 20,000), ``--spark-conf`` settings.

Prints the seconds of every stage (``CycleResult.seconds``, which the run ledger records)
and two peaks per process: the Python process's own (``ru_maxrss``) and the whole process
tree's (sampled from ``/proc`` every 0.2 s, so it counts Spark's JVM too).

    python bench/bench_scale.py --firms 50000
    python bench/bench_scale.py --firms 1000000 --steps generate,ingest
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
import threading
import time
from pathlib import Path

QUARTERS = (dt.date(2026, 3, 31), dt.date(2026, 6, 30))
STEPS = ("generate", "ingest", "first", "steady")
ENGINES = ("duckdb", "spark")


class TreePeak:
    """Peak resident memory of this process and all its descendants, sampled from /proc."""

    def __init__(self, every: float = 0.2) -> None:
        self.peak_kb = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self._every)


def _tree_rss_kb(root: int) -> int:
    """Resident kB of ``root`` and its descendants (processes gone mid-read are skipped)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def _own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_generate(work: Path, firms: int, block_firms: int) -> dict[str, object]:
    from creditpersona.synth import generate_bank

    t = time.perf_counter()
    gen = generate_bank(work / "data", firms, 7, fmt="parquet", quarters=len(QUARTERS),
                        end_date=QUARTERS[-1], block_firms=block_firms)
    return {"seconds": time.perf_counter() - t, "rows": gen.rows, "blocks": gen.blocks}


def step_ingest(work: Path) -> dict[str, object]:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store

    t = time.perf_counter()
    with Store(work / "store.duckdb") as st:
        results = ingest(st, [work / "data"])
    return {"seconds": time.perf_counter() - t,
            "files": {r.table: round(r.seconds, 1) for r in results},
            "quarantined": sum(r.rows_quarantined for r in results)}


def step_cycle(store: Path, out: Path, as_of: dt.date) -> dict[str, object]:
    from creditpersona.pipeline import run_cycle
    from creditpersona.store.store import Store

    with Store(store) as st:
        t = time.perf_counter()
        result = run_cycle(st, as_of, out)
        total = time.perf_counter() - t
    return {"seconds": total, "stages": result.seconds, "firms": len(result.profile)}


def step_spark_cycle(store: Path, work: Path, as_of: dt.date, a: argparse.Namespace
                     ) -> dict[str, object]:
    from creditpersona.spark.cycle import run_spark_cycle
    from creditpersona.spark.session import parse_conf
    from creditpersona.store.store import Store

    with Store(store) as st:
        t = time.perf_counter()
        result = run_spark_cycle(
            st, as_of, work / "out-spark", master=a.spark_master,
            conf=parse_conf(a.spark_conf), inputs=str(work / "data"),
            results=str(work / "spark-results"), buckets=a.buckets)
        total = time.perf_counter() - t
    return {"seconds": total, "stages": result.seconds, "buckets": a.buckets}


def _child(*args: str) -> dict[str, object]:
    """Run one step in a fresh interpreter; its last stdout line is its JSON result."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return {"error": f"exit {proc.returncode}: {tail}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_step(a: argparse.Namespace) -> None:
    """The body of a child process: one step, measured."""
    work: Path = a.workdir
    with TreePeak() as peak:
        if a.step == "generate":
            out = step_generate(work, a.firms, a.block_firms)
        elif a.step == "ingest":
            out = step_ingest(work)
        elif a.step == "first":
            shutil.copy(work / "store.duckdb", work / "first.duckdb")
            out = step_cycle(work / "first.duckdb", work / "out-first", QUARTERS[0])
        else:
            store = work / f"steady-{a.engine}.duckdb"
            shutil.copy(work / "first.duckdb", store)
            out = (step_spark_cycle(store, work, QUARTERS[1], a) if a.engine == "spark"
                   else step_cycle(store, work / f"out-{a.engine}", QUARTERS[1]))
    out.update(own_peak_mb=_own_peak_mb(), tree_peak_mb=peak.peak_kb / 1024)
    print(json.dumps(out, default=str))


def _peaks(r: dict[str, object]) -> str:
    return f"{float(r['own_peak_mb']):,.0f} MB / {float(r['tree_peak_mb']):,.0f} MB"  # type: ignore[arg-type]


def print_table(results: dict[str, dict[str, object]]) -> None:
    """Seconds and peaks of every step, then the steady quarter's stages per engine."""
    print(f"{'step':<16}{'seconds':>10}  peak (python / process tree)")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<16}{'failed':>10}  {r['error']}")
        else:
            print(f"{name:<16}{float(r['seconds']):>10.1f}  {_peaks(r)}")  # type: ignore[arg-type]
    steady = {e: results[f"steady {e}"] for e in ENGINES
              if f"steady {e}" in results and "error" not in results[f"steady {e}"]}
    if not steady:
        return
    stages = list(dict.fromkeys(s for r in steady.values() for s in r["stages"]))  # type: ignore[attr-defined]
    print(f"\nsteady quarter {QUARTERS[1]}, seconds per stage")
    print(f"{'stage':<14}" + "".join(f"{e:>12}" for e in steady))
    for s in stages:
        cells = "".join(f"{r['stages'].get(s, float('nan')):>12.1f}"  # type: ignore[attr-defined]
                        for r in steady.values())
        print(f"{s:<14}{cells}")
    print(f"{'total':<14}" + "".join(f"{float(r['seconds']):>12.1f}"  # type: ignore[arg-type]
                                     for r in steady.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=1_000_000)
    ap.add_argument("--block-firms", type=int, default=50_000)
    ap.add_argument("--workdir", type=Path, help="Work folder (default: a new temporary one).")
    ap.add_argument("--steps", default=",".join(STEPS),
                    help=f"Comma-separated steps to run, of {', '.join(STEPS)}.")
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help="Comma-separated engines of the steady quarter.")
    ap.add_argument("--buckets", type=int, default=50,
                    help="Spark: buckets of firms (docs/spark.md: about firms / 20,000).")
    ap.add_argument("--spark-master", default="local[2]", help="Spark: the master URL.")
    ap.add_argument("--spark-conf", action="append", default=[],
                    help="Spark: a setting KEY=VALUE (repeat), e.g. spark.driver.memory=6g.")
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.step is not None:
        run_step(a)
        return
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    steps = [s for s in a.steps.split(",") if s]
    unknown = set(steps) - set(STEPS) | set(a.engines.split(",")) - set(ENGINES)
    if unknown:
        ap.error(f"unknown steps or engines: {', '.join(sorted(unknown))}")
    base = ["--workdir", str(work), "--firms", str(a.firms), "--block-firms", str(a.block_firms),
            "--buckets", str(a.buckets), "--spark-master", a.spark_master,
            *[arg for kv in a.spark_conf for arg in ("--spark-conf", kv)]]
    results: dict[str, dict[str, object]] = {}
    for step in steps:
        for engine in (a.engines.split(",") if step == "steady" else [None]):
            name = step if engine is None else f"steady {engine}"
            extra = [] if engine is None else ["--engine", engine]
            results[name] = _child("--step", step, *base, *extra)
            print(f"{name}: {json.dumps(results[name], default=str)}", flush=True)
    print(f"\n{a.firms:,} firms in blocks of {a.block_firms:,}; work folder {work}; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print_table(results)


if __name__ == "__main__":
    main()
