"""Benchmark: score 1,000,000 firms with the scorecard and the LightGBM challenger.

Both models are fitted on a synthetic 50,000-row table of 40 financial-ratio-like features
(heavy tails, 5 % missing values, a 4 % default rate, non-linear risk), then score
1,000,000 new rows of the same kind. The baseline, in the same run, is a plain scikit-learn
``LogisticRegression.predict_proba`` on the same rows (with the missing values filled
beforehand, untimed, since it cannot take NaN): the floor for scoring a linear model.

Each model runs in its own process so that its peak memory (max RSS, including the
1,000,000-row table of about 320 MB) is its own. Reason codes (``explain``) are timed on
the first ``--explain-rows`` rows.

    python bench/bench_pd_scoring.py [--rows 1000000] [--train 50000] [--features 40]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

SEED = 20240601


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_table(rows: int, features: int, seed: int) -> tuple[Any, Any]:
    """Ratio-like features (some log-normal, some Student-t), 5 % missing, a binary label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 1))  # one common "financial health" factor
    x = 0.6 * latent + 0.8 * rng.standard_t(4, size=(rows, features))
    x[:, ::3] = np.exp(x[:, ::3])  # every third column is a positive, skewed ratio
    logit = -3.6 - 1.2 * latent[:, 0] + 0.5 * np.tanh(x[:, 1]) * x[:, 2] - 0.3 * np.log1p(
        x[:, 0]) + 0.4 * (x[:, 4] > 1.5)
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    x[rng.uniform(size=x.shape) < 0.05] = np.nan
    return pd.DataFrame(x, columns=[f"ratio_{i:02d}" for i in range(features)]), y


def stage(model: str, rows: int, train: int, features: int, explain_rows: int) -> dict[str, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from creditpersona.models import BoostedPD, ScorecardPD

    X, y = make_table(train, features, SEED)
    new, _ = make_table(rows, features, SEED + 1)
    if model == "baseline":
        fill = X.median()
        t0 = time.perf_counter()
        lr = LogisticRegression(max_iter=1000).fit(X.fillna(fill).to_numpy(), y)
        fit = time.perf_counter() - t0
        filled = new.fillna(fill).to_numpy()
        t0 = time.perf_counter()
        pd_ = lr.predict_proba(filled)[:, 1]
        score = time.perf_counter() - t0
        explain = float("nan")
    else:
        estimator = ScorecardPD() if model == "scorecard" else BoostedPD()
        t0 = time.perf_counter()
        estimator.fit(X, y)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        pd_ = estimator.predict_pd(new)
        score = time.perf_counter() - t0
        t0 = time.perf_counter()
        estimator.explain(new.iloc[:explain_rows])
        explain = time.perf_counter() - t0
    assert pd_.shape == (rows,) and np.isfinite(pd_).all()
    return {"model": model, "fit_seconds": fit, "score_seconds": score,
            "explain_seconds": explain, "mean_pd": float(pd_.mean()), "peak_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument("--train", type=int, default=50_000, help="rows to fit on")
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--explain-rows", type=int, default=100_000)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    sizes = [str(a.rows), str(a.train), str(a.features), str(a.explain_rows)]
    if a.stage:
        print(json.dumps(stage(a.stage, a.rows, a.train, a.features, a.explain_rows)))
        return

    results = {}
    for model in ("baseline", "scorecard", "challenger"):
        done = subprocess.run(
            [sys.executable, __file__, "--stage", model, "--rows", sizes[0], "--train",
             sizes[1], "--features", sizes[2], "--explain-rows", sizes[3]],
            check=True, capture_output=True, text=True)
        results[model] = json.loads(done.stdout.strip().splitlines()[-1])

    base = a.rows / results["baseline"]["score_seconds"]
    print(f"fit on {a.train:,} rows x {a.features} features; score {a.rows:,} rows; "
          f"reason codes for {a.explain_rows:,} rows")
    print(f"{'model':<12}{'fit s':>8}{'score s':>9}{'firms/s':>14}{'baseline/model':>16}"
          f"{'reasons s':>11}{'peak MB':>9}")
    for model, r in results.items():
        rate = a.rows / r["score_seconds"]
        print(f"{model:<12}{r['fit_seconds']:8.1f}{r['score_seconds']:9.2f}{rate:14,.0f}"
              f"{base / rate:15.1f}x{r['explain_seconds']:11.2f}{r['peak_mb']:9.0f}")


if __name__ == "__main__":
    main()
