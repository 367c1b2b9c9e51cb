"""Validate the PD models on a synthetic bank against its hidden truth.

Generates a bank, ingests it, develops both PD models as of the end of its history (five
matured quarter ends, folds grouped by firm) and prints, out of fold:

* the AUC of the hidden true 12-month PD, of the calibrated scorecard and of the challenger,
  on all firm-dates not already in default and on those not past due;
* the Jeffreys test per grade of each model;
* the same AUCs once the three features that react to a firm's *drawn* default date (bureau
  inquiry burst, 12-month inquiries, text risk score) are left out — the reason the models
  beat the true PD on this generator.

    python bench/validate_pd_synthetic.py [--firms 5000] [--seed 7] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from creditpersona import ingest
from creditpersona.models import BoostedPD, validation
from creditpersona.models import development as devmod
from creditpersona.store.store import Store
from creditpersona.synth import generate_bank

AS_OF = dt.date(2026, 6, 30)
ANTICIPATING = ["inquiry_burst", "inquiries_12m", "text_risk_score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firms", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    a = parser.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="pd-synthetic-"))
    gen = generate_bank(work / "bank", a.firms, seed=a.seed)
    with Store(work / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])
        dates = devmod.development_dates(st, AS_OF)
        t0 = time.perf_counter()
        dev = devmod.develop(st, dates)
        seconds = time.perf_counter() - t0
    truth = pd.read_csv(gen.out_dir / "truth" / "firm_quarter_truth.csv",
                        dtype={"firm_id": str}, parse_dates=["as_of"])
    sample = dev.sample.assign(as_of=pd.to_datetime(dev.sample["as_of"]))
    merged = sample.merge(truth, on=["firm_id", "as_of"], how="left", validate="1:1")
    merged = merged[~merged["in_default"].astype(bool)].reset_index(drop=True)
    print(f"{a.firms:,} firms, seed {a.seed}; development dates "
          f"{', '.join(d.isoformat() for d in dates)}; {len(dev.sample):,} firm-dates, "
          f"{int(dev.sample['default'].sum()):,} defaults; develop {seconds:.0f} s")
    print("\nAUC out of fold (firm-dates not already in default)")
    print(f"{'population':<16}{'rows':>8}{'defaults':>10}{'true PD':>9}{'scorecard':>11}"
          f"{'challenger':>12}")
    for name, part in (("all", merged),
                       ("not past due", merged[merged["current_dpd"].fillna(0) == 0])):
        y = part["default"].to_numpy()
        aucs = [validation.auc_delong(y, part[c]).auc
                for c in ("true_pd_12m", "pd_champion", "pd_challenger")]
        print(f"{name:<16}{len(part):>8,}{int(y.sum()):>10,}" + "".join(
            f"{v:>{w}.4f}" for v, w in zip(aucs, (9, 11, 12), strict=True)))
    y_all = dev.sample["default"].to_numpy()
    for column in ("pd_champion", "pd_challenger"):
        p = dev.sample[column].to_numpy()
        table = validation.jeffreys_by_grade(dev.scale.assign(p), y_all, p,
                                             dev.scale.names[:-1])
        print(f"\nJeffreys test per grade, {column} "
              f"({int(table['within'].sum())} of {len(table)} within 95 %)")
        print(table[["grade", "firms", "defaults", "observed_dr", "mean_pd", "low", "high",
                     "within"]].round(4).to_string(index=False))
    features = [f for f in devmod.FEATURES if f not in ANTICIPATING]
    y = merged["default"].to_numpy()
    oof = np.zeros(len(y))
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in folds.split(merged, y, merged["firm_id"]):
        model = BoostedPD(monotone_constraints={k: v for k, v in devmod.MONOTONE.items()
                                                if k in features}, random_state=0)
        oof[test] = model.fit(merged.loc[train, features], y[train]).predict_pd(
            merged.loc[test, features])
    print(f"\nChallenger without {', '.join(ANTICIPATING)}: AUC "
          f"{validation.auc_delong(y, oof).auc:.4f} (true PD "
          f"{validation.auc_delong(y, merged['true_pd_12m']).auc:.4f})")


if __name__ == "__main__":
    main()
