"""Benchmark: ingesting small banks with the code of this tree against a baseline tree.

A small file's ingest used to cost about half a second per file and table whatever its size,
mostly Ibis and sqlglot building and compiling the same check expressions again. This bench
ingests the same banks (60 and 2,000 firms, clean and with injected errors) with the code of
a baseline tree (``--base``, e.g. main) and of this tree, each in its own process, and prints
the times and their ratio. Each process ingests the 60-firm bank several times into fresh
stores (the first ingest of a process compiles the checks; the later ones are what every
test fixture after the first pays) and the 2,000-firm bank once.

It also checks that both trees leave the same stores: the contract tables, the quarantine
(records and messages) and the load log apart from its ``seconds`` and ``started_at``.

    git -C /work/main archive HEAD src | tar -x -C /tmp/ingestfast-base
    OMP_NUM_THREADS=1 python bench/bench_ingest_small.py --base /tmp/ingestfast-base/src
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BANKS = (("small", 60, 0.0), ("small_dirty", 60, 0.05), ("medium", 2000, 0.0),
         ("medium_dirty", 2000, 0.02))


def _digest(store: Path) -> dict[str, str]:
    """SHA-256 of every table of a store, rows sorted, the load log without its clock."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    out = {}
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() "
                                        "ORDER BY table_name").fetchall()]
    for name in tables:
        columns = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()
                   if r[0] not in ("seconds", "started_at")]
        typed = [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f'SELECT {listed} FROM "{name}" ORDER BY ALL').fetchall()
        out[name] = hashlib.sha256(repr((typed, rows)).encode()).hexdigest()
    con.close()
    return out


def worker(banks: Path, work: Path, repeats: int) -> dict[str, object]:
    """Ingest every bank (the small ones ``repeats`` times) in this process."""
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store

    timings: dict[str, list[float]] = {}
    digests = {}
    for name, _, _ in BANKS:
        for i in range(repeats if name.startswith("small") else 1):
            store = work / f"{name}_{i}.duckdb"
            t0 = time.perf_counter()
            with Store(store) as st:
                results = ingest(st, [banks / name])
            timings.setdefault(name, []).append(time.perf_counter() - t0)
            assert all(r.balanced for r in results)
            if i == 0:
                digests[name] = _digest(store)
            store.unlink()
    return {"timings": timings, "digests": digests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True,
                        help="the baseline tree's src folder")
    parser.add_argument("--repeats", type=int, default=4,
                        help="ingests of each 60-firm bank per process")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats)))
        return
    from creditpersona.synth import generate_bank

    here = Path(__file__).resolve().parents[1] / "src"
    tmp = Path(tempfile.mkdtemp(prefix="ingestfast-bench-", dir="/tmp"))
    try:
        for name, firms, errors in BANKS:
            generate_bank(tmp / "banks" / name, firms, seed=2, inject_errors=errors)
        runs = {}
        for label, src in (("base", args.base.resolve()), ("this", here)):
            work = tmp / label
            work.mkdir()
            env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
            out = subprocess.run(
                [sys.executable, __file__, "--base", str(args.base), "--repeats",
                 str(args.repeats), "--worker", str(tmp / "banks"), str(work)],
                env=env, capture_output=True, text=True, check=True)
            runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{'bank':<14}{'ingest':>8}{'base s':>10}{'this s':>10}{'ratio':>8}")
        for name, _, _ in BANKS:
            base, this = runs["base"]["timings"][name], runs["this"]["timings"][name]
            for i, (b, t) in enumerate(zip(base, this, strict=True)):
                kind = "first" if i == 0 else f"again{i}"
                print(f"{name:<14}{kind:>8}{b:>10.2f}{t:>10.2f}{b / t:>7.1f}x")
            same = runs["base"]["digests"][name] == runs["this"]["digests"][name]
            print(f"{name:<14}{'stores identical':>28}: {same}")
            if not same:
                for table, digest in runs["base"]["digests"][name].items():
                    if runs["this"]["digests"][name].get(table) != digest:
                        print(f"    differs: {table}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
