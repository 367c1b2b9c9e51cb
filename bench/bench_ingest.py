"""Benchmark: generate a synthetic bank and ingest it, against a plain DuckDB load.

Each stage runs in a fresh process so its peak memory is its own. The baseline loads the same
files into DuckDB with no validation at all (``CREATE TABLE AS SELECT * FROM read_…``); the
ratio says what the contract checks and the quarantine cost on top of moving the bytes.

    python bench/bench_ingest.py --firms 100000 --format parquet
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_generate(out: Path, firms: int, fmt: str, seed: int) -> dict[str, float]:
    from creditpersona.synth import generate_bank

    t0 = time.perf_counter()
    result = generate_bank(out, firms, seed, fmt=fmt)  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(),
            "transactions": result.rows["transactions"], "rows": sum(result.rows.values())}


def stage_ingest(out: Path, store: Path) -> dict[str, float]:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store

    t0 = time.perf_counter()
    with Store(store) as st:
        results = ingest(st, [out])
    assert all(r.balanced for r in results)
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(),
            "rows": sum(r.rows_loaded for r in results),
            "quarantined": sum(r.rows_quarantined for r in results)}


def stage_baseline(out: Path, store: Path) -> dict[str, float]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(str(store))
    rows = 0
    for path in sorted(out.iterdir()):
        if path.suffix == ".parquet":
            con.execute(f"create table {path.stem} as select * from read_parquet('{path}')")
        elif path.suffix == ".csv":
            con.execute(f"create table {path.stem} as select * from read_csv('{path}')")
        else:
            continue
        rows += con.execute(f"select count(*) from {path.stem}").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(), "rows": rows}


def _run(stage: str, *args: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()

    if a.stage == "generate":
        print(json.dumps(stage_generate(a.out, a.firms, a.format, a.seed)))
        return
    if a.stage == "ingest":
        print(json.dumps(stage_ingest(a.out, a.store)))
        return
    if a.stage == "baseline":
        print(json.dumps(stage_baseline(a.out, a.store)))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-"))
    data = work / "data"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        gen = _run("generate", "--out", str(data), "--firms", str(a.firms),
                   "--format", a.format, "--seed", str(a.seed))
        base = _run("baseline", "--out", str(data), "--store", str(work / "baseline.duckdb"))
        ours = _run("ingest", "--out", str(data), "--store", str(work / "store.duckdb"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = gen["seconds"] + ours["seconds"]
    print(f"firms {a.firms:,}  format {a.format}  transactions {int(gen['transactions']):,}  "
          f"rows {int(gen['rows']):,}")
    print(f"generate            {gen['seconds']:8.1f} s   peak {gen['peak_mb']:8.0f} MB")
    print(f"ingest (validated)  {ours['seconds']:8.1f} s   peak {ours['peak_mb']:8.0f} MB   "
          f"quarantined {int(ours['quarantined'])}")
    print(f"baseline raw load   {base['seconds']:8.1f} s   peak {base['peak_mb']:8.0f} MB")
    print(f"ingest / baseline   {ours['seconds'] / base['seconds']:8.2f} x")
    print(f"generate + ingest   {total:8.1f} s   (target < 300 s, peak < 6144 MB)")


if __name__ == "__main__":
    main()
