"""Benchmark: the quarterly cycle of a 100,000-firm bank, stage by stage.

Setup (not timed): generate a bank with two review quarters (2026-03-31, 2026-06-30) and
ingest it (kept in ``--workdir`` for later runs; the cycles run on a copy). Then, each in its
own process so that peak memory is its own:

- ``first``: the cycle of the first quarter on an empty registry: it develops the PD models
  and fits the personas, which is what *every* quarter cost before the models were governed
  (re-developed on each run) — the baseline;
- ``steady``: the next quarter with the models in force: the cycle a bank runs each quarter,
  with the review against the first quarter.

Prints the seconds of every stage, peak memory, and the ratio first / steady.

    python bench/bench_cycle.py --firms 100000
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

QUARTERS = (dt.date(2026, 3, 31), dt.date(2026, 6, 30))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_setup(work: Path, firms: int) -> dict[str, float]:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    t = time.perf_counter()
    gen = generate_bank(work / "data", firms, 7, fmt="parquet", quarters=len(QUARTERS),
                        end_date=QUARTERS[-1])
    generated = time.perf_counter() - t
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
    shutil.rmtree(work / "data")
    return {"generate_s": generated, "ingest_s": time.perf_counter() - t - generated,
            "transactions": gen.rows["transactions"]}


def stage_cycle(work: Path, as_of: dt.date) -> dict[str, object]:
    from creditpersona.pipeline import run_cycle
    from creditpersona.store.store import Store

    with Store(work / "cycle.duckdb") as st:
        t = time.perf_counter()
        result = run_cycle(st, as_of, work / "out")
        total = time.perf_counter() - t
    return {"seconds": total, "stages": result.seconds, "peak_mb": _peak_mb(),
            "firms": len(result.profile), "pd_fitted": result.pd.fitted,
            "personas_fitted": result.personas.fitted,
            "triggers_fired": int(result.review.triggers["fired"].sum())}


def _child(stage: str, work: Path, *extra: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--workdir", str(work),
                          *extra], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, help="Reuse this folder (its store if present).")
    ap.add_argument("--stage", choices=["setup", "first", "steady"])
    a = ap.parse_args()
    if a.stage == "setup":
        print(json.dumps(stage_setup(a.workdir, a.firms)))
        return
    if a.stage in ("first", "steady"):
        day = QUARTERS[0] if a.stage == "first" else QUARTERS[1]
        print(json.dumps(stage_cycle(a.workdir, day), default=str))
        return
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_cycle_"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "store.duckdb").exists():
        setup = _child("setup", work, "--firms", str(a.firms))
        print(f"setup: generated in {setup['generate_s']:.0f} s, ingested in "
              f"{setup['ingest_s']:.0f} s ({setup['transactions']:,} transactions)")
    # The cycles run on a copy, so the ingested store stays as it was for the next run.
    shutil.copy(work / "store.duckdb", work / "cycle.duckdb")
    shutil.rmtree(work / "cycle.duckdb.runs", ignore_errors=True)
    first = _child("first", work)
    steady = _child("steady", work)
    stages = list(dict.fromkeys([*first["stages"], *steady["stages"]]))  # type: ignore[arg-type]
    print(f"{'stage':<12}{'first quarter (s)':>20}{'steady quarter (s)':>20}")
    for s in stages:
        f = first["stages"].get(s, float("nan"))  # type: ignore[attr-defined]
        q = steady["stages"].get(s, float("nan"))  # type: ignore[attr-defined]
        print(f"{s:<12}{f:>20.1f}{q:>20.1f}")
    print(f"{'total':<12}{first['seconds']:>20.1f}{steady['seconds']:>20.1f}")
    print(f"firms {steady['firms']:,}; peak memory first {first['peak_mb']:,.0f} MB, steady "
          f"{steady['peak_mb']:,.0f} MB; triggers fired in the steady quarter: "
          f"{steady['triggers_fired']}")
    ratio = float(first["seconds"]) / float(steady["seconds"])  # type: ignore[arg-type]
    print(f"first quarter (develops and fits every model, as each quarter did before) / "
          f"steady quarter (models in force): {ratio:.1f}x")


if __name__ == "__main__":
    main()
