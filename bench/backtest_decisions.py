"""Backtests on a synthetic bank: persona-aware pricing vs one flat spread, and early warning.

Method (see :mod:`creditpersona.decisions.backtest`):

- **Pricing.** Every loan of the bank is priced at its start date with the PD and persona
  of the last quarter end before it — the generator's true 12-month PD and persona stand in
  for the PD and persona models, which are not part of this stage. Policies: persona-aware
  (cost-plus floor + persona adjustment, loans whose floor exceeds the spread cap
  declined), cost-plus only (no persona adjustment), and one flat spread (the amount-weighted
  mean of the persona-aware quotes). A borrower takes a quote no more than ``--tolerance``
  bp above the spread it actually paid; the same without that demand rule is printed too.
  Defaults, exposure time and losses are realised from the data (``firms_truth``
  default dates up to the end of the data).
- **Early warning.** Profiles at ``--as-of`` and the quarter before (computed on a copy of
  the store); firms not in default at ``--as-of`` with a known outcome; detection rate =
  flagged among firms that default within 12 months (``defaulted_within_12m``), false-alarm
  rate = flagged among the others. The rule thresholds were set by looking at hit rates on
  the same bank one year earlier (2024-06-30), not at the measured date.

    python bench/backtest_decisions.py --store /tmp/bank5k/creditpersona.duckdb \\
        --data /tmp/bank5k/data --as-of 2025-06-30
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from creditpersona.decisions.backtest import (
    price_at_origination,
    pricing_backtest,
    warning_backtest,
)
from creditpersona.decisions.stage import previous_quarter_ends
from creditpersona.profile.build import compute_profile, load_profile, save_profile
from creditpersona.store.store import Store


def _profile(st: Store, day: dt.date) -> pd.DataFrame:
    stored = load_profile(st, day)
    if len(stored):
        return stored
    run = compute_profile(st, day)
    save_profile(st, run)
    return run.frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Ingested store (read only).")
    parser.add_argument("--data", type=Path, required=True, help="Generated data with truth/.")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30),
                        help="Last date of the data.")
    parser.add_argument("--tolerance", type=float, default=50.0)
    a = parser.parse_args()

    truth_q = pd.read_csv(a.data / "truth" / "firm_quarter_truth.csv", dtype={"firm_id": str})
    truth_f = pd.read_csv(a.data / "truth" / "firms_truth.csv", dtype={"firm_id": str})
    with tempfile.TemporaryDirectory(prefix="cp-backtest-") as tmp:
        path = Path(tmp) / "store.duckdb"
        shutil.copy(a.store, path)
        with Store(path) as st:
            loans = st.table("loans").to_pandas()
            prev_day = previous_quarter_ends(a.as_of, [1])[1]
            now, before = _profile(st, a.as_of), _profile(st, prev_day)

    priced = price_at_origination(loans, truth_q.rename(columns={"true_pd_12m": "pd"}))
    defaults = truth_f.set_index("firm_id")["default_date"]
    pd.set_option("display.width", 200)
    pd.set_option("display.float_format", lambda v: f"{v:,.4f}")
    cols = ["spread_bp", "loans", "volume", "defaults", "el_rate", "loss_rate",
            "raroc_expected", "raroc_realised"]
    print(f"Pricing backtest: {len(priced):,} of {len(loans):,} loans priced at origination "
          f"(PD known then; loans before the first quarter end or of firms already in "
          f"default left out); outcomes to {a.end}.")
    out = pricing_backtest(priced, defaults, a.end, tolerance_bp=a.tolerance)
    print(f"\nwith demand (a quote is taken if ≤ recorded spread + {a.tolerance:.0f} bp):")
    print(out[cols].to_string())
    out = pricing_backtest(priced, defaults, a.end, acceptance=False)
    print("\nevery loan booked (no demand rule):")
    print(out[cols].to_string())
    print("\nel_rate / loss_rate: expected / realised loss per yuan-year of exposure; RAROC = "
          "(income − loss) / capital, income = rate + fees − FTP − operating cost.")

    outcomes = truth_q[truth_q["as_of"] == a.as_of.isoformat()]
    now = now.assign(persona_strategy=now["firm_id"].map(outcomes.set_index("firm_id")["persona"]))
    ew = warning_backtest(now, outcomes, {1: before})
    print(f"\nEarly warning at {a.as_of} (previous profile {prev_day}), defaults within 12 "
          "months:")
    print(ew.to_string())


if __name__ == "__main__":
    main()
