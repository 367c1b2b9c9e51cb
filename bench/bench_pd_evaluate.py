"""Benchmark: ``pd evaluate`` on the Polish 1-year file against a plain default LightGBM.

Stratified 10-fold cross-validation (seed 0, the folds of ``creditpersona pd evaluate``);
in every fold, one after the other on one thread each: a plain ``LGBMClassifier()`` with
LightGBM's defaults, the challenger (:class:`BoostedPD`) and the scorecard
(:class:`ScorecardPD`) as ``pd evaluate`` builds them. Interleaving the models fold by fold
keeps a shared machine's changing load from favouring one of them. Prints the seconds (fit
and scoring) and the AUC of each, and their ratios to the plain model.

``--baseline DIR/src`` also runs the challenger and the scorecard of another commit's source
tree (``git archive <commit> src | tar -x -C DIR``) in a second process, after the first.

    python bench/bench_pd_evaluate.py [--data tests/data/polish_bankruptcy_1year.arff]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
POLISH = HERE.parent / "tests" / "data" / "polish_bankruptcy_1year.arff"


def measure(data: Path, models: list[str], cv: int, seed: int) -> dict[str, dict[str, Any]]:
    """Seconds and AUC per model over the folds (run with the code on ``PYTHONPATH``)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from creditpersona.models.evaluate import (
        _fit_and_score,
        _folds,
        binary_label,
        default_estimators,
        prepare_features,
        read_table,
    )

    table = read_table(data, label="class")
    y = binary_label(table["class"], "class")
    X = prepare_features(table.drop(columns=["class"])).frame
    estimators = default_estimators(seed)
    out: dict[str, dict[str, Any]] = {m: {"seconds": 0.0, "auc": []} for m in models}
    for train, test in _folds(X, y, cv, seed):
        for name in models:
            if name == "plain":
                t = time.perf_counter()
                plain = lgb.LGBMClassifier(n_jobs=1, random_state=seed, verbose=-1)
                proba = plain.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])
                p = np.asarray(proba)[:, 1]
                out[name]["seconds"] += time.perf_counter() - t
                out[name]["auc"].append(float(roc_auc_score(y[test], p)))
                continue
            row = _fit_and_score(estimators[name], X, y, train, test, True)
            out[name]["seconds"] += row["fit_seconds"] + row["predict_seconds"]
            out[name]["auc"].append(row["auc"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=POLISH)
    ap.add_argument("--cv", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", type=Path, help="Another commit's src folder.")
    ap.add_argument("--models", default="plain,challenger,scorecard", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    results = measure(a.data, a.models.split(","), a.cv, a.seed)
    if a.json:
        print(json.dumps(results))
        return
    if a.baseline:
        env = {**os.environ, "PYTHONPATH": str(a.baseline), "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, __file__, "--data", str(a.data), "--cv",
                               str(a.cv), "--seed", str(a.seed), "--models",
                               "challenger,scorecard", "--json"],
                              check=True, capture_output=True, text=True, env=env)
        for name, r in json.loads(done.stdout.strip().splitlines()[-1]).items():
            results[f"{name} (baseline)"] = r
    plain = results["plain"]["seconds"]
    print(f"{a.data.name}: {a.cv}-fold, seed {a.seed}; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'model':<24}{'seconds':>9}{'x plain':>9}{'AUC mean':>10}{'sd':>8}")
    for name, r in results.items():
        auc = np.asarray(r["auc"])
        print(f"{name:<24}{r['seconds']:>9.1f}{r['seconds'] / plain:>9.2f}{auc.mean():>10.4f}"
              f"{auc.std(ddof=1):>8.4f}")
    if "challenger" in results and "scorecard" in results:
        both = results["challenger"]["seconds"] + results["scorecard"]["seconds"]
        print(f"pd evaluate's two models together: {both:.1f} s = {both / plain:.2f}x plain")


if __name__ == "__main__":
    main()
