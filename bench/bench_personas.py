"""Benchmark: fit and assign personas for 1,000,000 firms, against plain k-means.

The 1,000,000 profile rows are SYNTHESISED: a real profile (a generated bank of ``--seed-firms``
firms, ingested and profiled; not timed) is resampled with replacement and every numeric
feature is jittered by Gaussian noise of 5 % of its standard deviation (missing values stay
missing; industry and size class are kept). Each stage runs in its own process so that its
peak memory (``ru_maxrss``) is its own:

- ``ours``: ``PersonaSegmenter`` with the packaged policy's settings: choose the number of
  personas (4–9, bootstrap stability, on a 20,000-firm sample), refit on all firms, then
  assign all firms (``predict``);
- ``kmeans``: the baseline, scikit-learn ``KMeans`` (k = the number of personas we chose,
  ``n_init=1``) on the same rank-normal matrix, then ``predict``.

    python bench/bench_personas.py --firms 1000000
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


def stage_setup(work: Path, firms: int, seed_firms: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from creditpersona.personas.policy import load_policy
    from creditpersona.personas.segment import add_derived_features
    from creditpersona.profile.build import compute_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", seed_firms, 3, fmt="parquet")
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        profile = compute_profile(st, AS_OF).frame
    seg = load_policy().segmentation
    cols = [*seg.features, *seg.categories, "current_dpd"]
    base = add_derived_features(profile)[[c for c in dict.fromkeys(cols)]]
    rng = np.random.default_rng(0)
    rows = base.iloc[rng.integers(0, len(base), firms)].reset_index(drop=True)
    for c in base.columns:
        if pd.api.types.is_numeric_dtype(base[c]):
            sd = float(np.nanstd(base[c].to_numpy(dtype=float)))
            rows[c] = rows[c] + rng.normal(0.0, 0.05 * sd, firms)
    rows.to_parquet(work / "firms.parquet")
    shutil.rmtree(work / "data")
    return {"firms": len(rows), "columns": rows.shape[1]}


def stage_ours(work: Path) -> dict[str, float]:
    import pandas as pd

    from creditpersona.personas.policy import load_policy
    from creditpersona.personas.segment import PersonaSegmenter

    frame = pd.read_parquet(work / "firms.parquet")
    t0 = time.perf_counter()
    seg = PersonaSegmenter(**load_policy().segmentation.model_dump()).fit(frame)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = seg.predict(frame)
    assign = time.perf_counter() - t0
    return {"fit": fit, "assign": assign, "k": seg.n_personas_, "peak_mb": _peak_mb(),
            "stability": seg.stability_, "agree": float((labels == seg.labels_).mean())}


def stage_kmeans(work: Path, k: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import QuantileTransformer

    from creditpersona.personas.policy import load_policy

    frame = pd.read_parquet(work / "firms.parquet")
    seg = load_policy().segmentation
    t0 = time.perf_counter()
    values = frame[seg.features].to_numpy(dtype=float)
    z = QuantileTransformer(output_distribution="normal", random_state=0).fit_transform(values)
    z = np.nan_to_num(np.clip(z, -3, 3))
    onehot = pd.get_dummies(frame["industry_section"]).to_numpy(dtype=float)
    X = np.hstack([z, onehot])
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    km.predict(X)
    assign = time.perf_counter() - t0
    return {"fit": fit, "assign": assign, "peak_mb": _peak_mb()}


def _run(stage: str, work: Path, *extra: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--workdir", str(work), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--seed-firms", type=int, default=5_000,
                        help="firms of the generated bank whose profile is resampled")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=6, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.stage == "setup":
        print(json.dumps(stage_setup(a.workdir, a.firms, a.seed_firms)))
        return
    if a.stage == "ours":
        print(json.dumps(stage_ours(a.workdir)))
        return
    if a.stage == "kmeans":
        print(json.dumps(stage_kmeans(a.workdir, a.k)))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-personas-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        setup = _run("setup", work, "--firms", str(a.firms), "--seed-firms", str(a.seed_firms))
        ours = _run("ours", work)
        base = _run("kmeans", work, "--k", str(int(ours["k"])))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"firms {int(setup['firms']):,} (resampled and jittered from a {a.seed_firms:,}-firm "
          f"generated bank's profile as of {AS_OF})")
    print(f"ours: choose k (4–9, bootstrap), fit   {ours['fit']:7.1f} s   k={int(ours['k'])}  "
          f"bootstrap ARI {ours['stability']:.3f}")
    print(f"ours: assign                          {ours['assign']:7.1f} s   "
          f"peak {ours['peak_mb']:6.0f} MB")
    print(f"baseline k-means (fixed k): fit       {base['fit']:7.1f} s")
    print(f"baseline k-means: assign              {base['assign']:7.1f} s   "
          f"peak {base['peak_mb']:6.0f} MB")
    total_ours = ours["fit"] + ours["assign"]
    total_base = base["fit"] + base["assign"]
    print(f"ours / baseline (fit + assign)        {total_ours / total_base:7.2f} x   "
          f"memory {ours['peak_mb'] / base['peak_mb']:.2f} x")


if __name__ == "__main__":
    main()
