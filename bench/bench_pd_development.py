"""Benchmark: PD development, today's code against a baseline commit, on the same data.

Two measurements, each in its own process per code version (so that peak memory is its own):

- ``--sample FILE``: the model part only (``development._cross_fit``: both models fitted,
  validated out of fold and calibrated) on a saved development sample (Parquet; write one
  with ``--save-sample`` from a store);
- ``--store FILE --as-of DATE``: the whole ``develop()`` on a copy of an ingested store
  (sample building included; nothing is registered in the original).

The baseline is the source tree of another commit (``git archive <commit> src | tar -x -C
DIR``), passed as ``--baseline DIR/src``. Prints seconds, the ratio, peak memory of the
main process and the out-of-fold AUC of the scorecard (champion) and the challenger of both.

    git archive 0d66697 src | tar -x -C /tmp/base
    python bench/bench_pd_development.py --store bank.duckdb --as-of 2026-03-31 \\
        --save-sample /tmp/sample.parquet
    python bench/bench_pd_development.py --sample /tmp/sample.parquet --baseline /tmp/base/src
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
from typing import Any

HERE = Path(__file__).resolve().parent
CURRENT = HERE.parent / "src"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, path: Path, as_of: str | None, n_jobs: int) -> dict[str, object]:
    """Run in the process whose ``PYTHONPATH`` selects the code version."""
    import pandas as pd

    from creditpersona.models import development as devmod

    if mode == "sample":
        sample = pd.read_parquet(path)
        x, y = sample[list(devmod.FEATURES)], sample["default"].to_numpy()
        t = time.perf_counter()
        _, _, metrics = devmod._cross_fit(sample, x, y, 5, 0, n_jobs)
        seconds = time.perf_counter() - t
        rows, defaults = len(sample), int(y.sum())
    else:
        from creditpersona.store.store import Store

        assert as_of is not None
        day = dt.date.fromisoformat(as_of)
        with Store(path) as st:
            t = time.perf_counter()
            dev = devmod.develop(st, devmod.development_dates(st, day), n_jobs=n_jobs,
                                 as_of=day)
            seconds = time.perf_counter() - t
        metrics, rows, defaults = dev.metrics, len(dev.sample), int(dev.sample["default"].sum())
    return {"seconds": seconds, "peak_mb": _peak_mb(), "rows": rows, "defaults": defaults,
            "auc": {k: float(v["auc"]) for k, v in metrics.items()},
            "source": str(Path(devmod.__file__).resolve().parents[2])}


def _run(src: Path, mode: str, path: Path, as_of: str | None, n_jobs: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", mode, "--path", str(path), "--n-jobs",
           str(n_jobs)] + (["--as-of", as_of] if as_of else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def save_sample(store: Path, as_of: str, out: Path) -> None:
    from creditpersona.models import development as devmod
    from creditpersona.store.store import Store

    with Store(store) as st:
        dates = devmod.development_dates(st, dt.date.fromisoformat(as_of))
        devmod.development_sample(st, dates).to_parquet(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, help="A saved development sample (Parquet).")
    ap.add_argument("--store", type=Path, help="An ingested store (copied, never changed).")
    ap.add_argument("--as-of", help="The development's as-of date (with --store).")
    ap.add_argument("--save-sample", type=Path, help="Write the store's sample and stop.")
    ap.add_argument("--baseline", type=Path, required=False, help="The baseline's src folder.")
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--child", choices=["sample", "store"], help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.path, a.as_of, a.n_jobs)))
        return
    if a.save_sample:
        save_sample(a.store, a.as_of, a.save_sample)
        return
    mode = "sample" if a.sample else "store"
    versions = [("today", CURRENT)] + ([("baseline", a.baseline)] if a.baseline else [])
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_pd_development_") as tmp:
        for name, src in versions:
            path = a.sample
            if mode == "store":
                path = Path(tmp) / f"{name}.duckdb"
                shutil.copy(a.store, path)
            r = results[name] = _run(src, mode, path, a.as_of, a.n_jobs)
            if name == "today":
                print(f"{mode}: {r['rows']:,} firm-dates, {r['defaults']:,} defaults; "
                      f"n_jobs {a.n_jobs}")
                print(f"{'code':<10}{'seconds':>10}{'peak MB':>10}{'scorecard AUC':>15}"
                      f"{'challenger AUC':>16}{'load':>6}  source")
            # Each line as soon as it is measured: a baseline may take hours on a busy machine.
            print(f"{name:<10}{r['seconds']:>10.1f}{r['peak_mb']:>10,.0f}"
                  f"{r['auc']['champion']:>15.4f}{r['auc']['challenger']:>16.4f}"
                  f"{os.getloadavg()[0]:>6.1f}  {r['source']}", flush=True)
    first = results["today"]
    if "baseline" in results:
        base = results["baseline"]
        print(f"baseline / today: {base['seconds'] / first['seconds']:.2f}x; AUC today - "
              f"baseline: scorecard {first['auc']['champion'] - base['auc']['champion']:+.4f}, "
              f"challenger {first['auc']['challenger'] - base['auc']['challenger']:+.4f}")


if __name__ == "__main__":
    main()
