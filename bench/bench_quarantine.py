"""Benchmark: quarantine at scale — a file whose rows are all duplicates of one key, against a
clean file of the same size, loaded the same way in the same run.

Both files are ``firms.csv`` with the same columns and row count: the clean one has a distinct
valid firm in every row, the duplicate one repeats the first row, so every row but the first is
quarantined with its own message. Each load runs in a fresh process so its peak memory is its
own. The ratio says what writing a million quarantine records costs on top of a clean load.

    python bench/bench_quarantine.py --rows 1000000
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

import numpy as np

ROW = ("{firm_id},上海恒信精密机械有限公司,C3411,310110,2010-01-01,350,10000000,private,false,"
       "2015-01-01,RM0001\n")
HEADER = ("firm_id,name,industry_code,region_code,founded_on,employees,registered_capital,"
          "ownership_type,listed,relationship_start,rm_id\n")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_files(work: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """A clean and an all-duplicates ``firms.csv`` of ``rows`` rows each."""
    from creditpersona.domain.uscc import random_codes

    rng = np.random.default_rng(seed)
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < rows:
        for code in random_codes(rng, np.full(rows - len(codes), "310110")).tolist():
            if code not in seen:
                seen.add(code)
                codes.append(code)
    clean, dups = work / "clean" / "firms.csv", work / "dups" / "firms.csv"
    for path in (clean, dups):
        path.parent.mkdir(parents=True)
    clean.write_text(HEADER + "".join(ROW.format(firm_id=c) for c in codes), encoding="utf-8")
    dups.write_text(HEADER + ROW.format(firm_id=codes[0]) * rows, encoding="utf-8")
    return clean, dups


def stage_ingest(path: Path, store: Path) -> dict[str, float]:
    from creditpersona.store.ingest import ingest_file
    from creditpersona.store.store import QUARANTINE, Store

    t0 = time.perf_counter()
    with Store(store) as st:
        result = ingest_file(st, path)
        messages = int(st.table(QUARANTINE).count().execute())
    assert result.balanced and messages == result.rows_quarantined
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(),
            "read": result.rows_read, "loaded": result.rows_loaded,
            "quarantined": result.rows_quarantined}


def _run(*args: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", "ingest", *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()

    if a.stage == "ingest":
        print(json.dumps(stage_ingest(a.file, a.store)))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-q-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        clean, dups = write_files(work, a.rows, a.seed)
        base = _run("--file", str(clean), "--store", str(work / "clean.duckdb"))
        ours = _run("--file", str(dups), "--store", str(work / "dups.duckdb"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"rows {a.rows:,}  seed {a.seed}")
    print(f"clean load           {base['seconds']:8.1f} s   peak {base['peak_mb']:8.0f} MB   "
          f"loaded {int(base['loaded']):,}")
    print(f"all-duplicates load  {ours['seconds']:8.1f} s   peak {ours['peak_mb']:8.0f} MB   "
          f"quarantined {int(ours['quarantined']):,}")
    print(f"duplicates / clean   {ours['seconds'] / base['seconds']:8.2f} x   "
          "(target: all-duplicates < 60 s and < 2048 MB)")


if __name__ == "__main__":
    main()
