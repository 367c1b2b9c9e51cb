"""Rating stability: the point-in-time grade against the rating philosophy's grade.

Generates a bank with several review quarters (optionally with an industry shock), ingests
it and runs, quarter by quarter, the cycle's profile and PD stages (``pipeline._profile``
and ``pipeline._pd_models``: the models in force, then the rating of ``models/rating.yaml``
read against the previous quarter's stored ratings). Both grades come out of the same run:
``grade_pit`` (today's grading: the PD on the master scale) and ``grade`` (the rating).

Per basis it prints, over consecutive quarters, the share of firms performing in the
earlier quarter that keep their grade and that move at most one notch (mean and worst
quarter), the AUC of the grade (its rank) against the true default within twelve months of
each quarter end (``truth/firm_quarter_truth.csv``, performing firms, all quarters pooled),
and with a shock the downgrade share of the shocked industry against the rest in each
quarter of the shock. Targets (issue 15): stay ≥ 75 %, within one notch ≥ 95 %, AUC at most
0.01 below the PIT grade's; the shocked industry still visibly downgraded.

    python bench/bench_rating_stability.py --firms 2000 --quarters 5 --seed 11
    python bench/bench_rating_stability.py --firms 2000 --quarters 5 --seed 12 \\
        --shock-industry F51 --shock-from 3
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

BASES = {"pit": "grade_pit", "rating": "grade"}


def stability(scores: pd.DataFrame, column: str, order: list[str]) -> pd.DataFrame:
    """Per pair of consecutive quarters: performing firms, stay and within-one shares."""
    rank = {g: i for i, g in enumerate(order)}
    dates = sorted(scores["as_of"].unique())
    rows = []
    for a, b in zip(dates, dates[1:], strict=False):
        x = scores.loc[scores["as_of"] == a].set_index("firm_id")[column].map(rank)
        y = scores.loc[scores["as_of"] == b].set_index("firm_id")[column].map(rank)
        x = x[x < len(order) - 1]  # performing in the earlier quarter
        both = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").dropna()
        d = (both["y"] - both["x"]).to_numpy()
        rows.append({"from": a, "to": b, "firms": len(d), "stay": float((d == 0).mean()),
                     "within_one": float((np.abs(d) <= 1).mean())})
    return pd.DataFrame(rows)


def grade_auc(scores: pd.DataFrame, truth: pd.DataFrame, column: str,
              order: list[str]) -> float:
    """AUC of the grade rank against the true 12-month default, performing firms pooled."""
    rank = {g: i for i, g in enumerate(order)}
    m = scores.merge(truth, on=["firm_id", "as_of"])
    m = m[~m["in_default"].astype(bool) & m["defaulted_within_12m"].notna()]
    m = m[m[column] != order[-1]]
    return float(roc_auc_score(m["defaulted_within_12m"].astype(bool).astype(int),
                               m[column].map(rank)))


def shocked_moves(scores: pd.DataFrame, column: str, order: list[str], industry: str,
                  quarters: list, shock_from: int) -> pd.DataFrame:
    """Downgrade share and mean notches of the shocked industry and of the rest."""
    rank = {g: i for i, g in enumerate(order)}
    rows = []
    for k in range(max(shock_from, 2), len(quarters) + 1):
        a, b = quarters[k - 2], quarters[k - 1]
        x = scores.loc[scores["as_of"] == a].set_index("firm_id")
        y = scores.loc[scores["as_of"] == b].set_index("firm_id")
        both = x[[column, "industry_code"]].join(y[[column]], rsuffix="_now", how="inner")
        both = both[both[column] != order[-1]]
        d = both[f"{column}_now"].map(rank) - both[column].map(rank)
        hit = both["industry_code"].astype(str).str.startswith(industry)
        rows.append({"quarter": k, "industry_down": float((d[hit] > 0).mean()),
                     "rest_down": float((d[~hit] > 0).mean()),
                     "industry_notches": float(d[hit].mean()),
                     "rest_notches": float(d[~hit].mean())})
    return pd.DataFrame(rows)


def main() -> None:
    from creditpersona.models.master_scale import load_master_scale
    from creditpersona.pipeline import _pd_models, _profile
    from creditpersona.profile.build import load_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import Shock, generate_bank

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--quarters", type=int, default=5)
    ap.add_argument("--shock-industry")
    ap.add_argument("--shock-from", type=int, default=3)
    ap.add_argument("--shock-size", type=float, default=1.5)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", type=Path, help="Write the results here.")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_rating_"))
    shock = (Shock(a.shock_industry, a.shock_from, a.shock_size) if a.shock_industry
             else None)
    t0 = time.perf_counter()
    gen = generate_bank(work / "data", a.firms, a.seed, quarters=a.quarters, shock=shock,
                        fmt="parquet")
    parts = []
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        for day in gen.quarters:
            _profile(st, day, "duckdb")
            profile = load_profile(st, day).drop(columns=["as_of", "run_id", "engine"],
                                                 errors="ignore")
            scores = _pd_models(st, day, profile, False).scores
            parts.append(scores.assign(as_of=day).merge(
                profile[["firm_id", "industry_code"]], on="firm_id", how="left"))
            print(f"{day}: scored {len(scores):,} firms", file=sys.stderr, flush=True)
    scores = pd.concat(parts, ignore_index=True)
    truth = pd.read_csv(gen.truth_files["firm_quarter_truth"], dtype={"firm_id": str})
    truth["as_of"] = pd.to_datetime(truth["as_of"]).dt.date
    order = load_master_scale().names
    out: dict[str, object] = {"firms": a.firms, "seed": a.seed, "quarters": a.quarters,
                              "shock": None if shock is None else
                              {"industry": shock.industry, "from": shock.from_quarter,
                               "size": a.shock_size}}
    print(f"bank: {a.firms:,} firms × {a.quarters} quarters, seed {a.seed}"
          + ("" if shock is None else f", shock {a.shock_industry} from quarter "
             f"{a.shock_from} (+{a.shock_size})"))
    print(f"{'basis':8} {'stay mean':>10} {'stay min':>9} {'≤1 mean':>8} {'≤1 min':>7} "
          f"{'AUC':>7}")
    for basis, column in BASES.items():
        s = stability(scores, column, order)
        auc = grade_auc(scores, truth, column, order)
        out[basis] = {"pairs": s.to_dict(orient="records"), "stay_mean": s["stay"].mean(),
                      "stay_min": s["stay"].min(), "within_one_mean": s["within_one"].mean(),
                      "within_one_min": s["within_one"].min(), "auc": auc}
        print(f"{basis:8} {s['stay'].mean():10.1%} {s['stay'].min():9.1%} "
              f"{s['within_one'].mean():8.1%} {s['within_one'].min():7.1%} {auc:7.4f}")
        if shock is not None:
            moves = shocked_moves(scores, column, order, a.shock_industry, gen.quarters,
                                  a.shock_from)
            out[basis]["shock"] = moves.to_dict(orient="records")  # type: ignore[index]
            for _, r in moves.iterrows():
                print(f"    quarter {int(r['quarter'])}: {a.shock_industry} downgraded "
                      f"{r['industry_down']:.1%} (mean {r['industry_notches']:+.2f} notches) "
                      f"against the rest {r['rest_down']:.1%} ({r['rest_notches']:+.2f})")
    pit, new = out["pit"], out["rating"]
    assert isinstance(pit, dict) and isinstance(new, dict)
    print(f"ratio rating / PIT: stay {new['stay_mean'] / pit['stay_mean']:.2f}×, within one "
          f"notch {new['within_one_mean'] / pit['within_one_mean']:.2f}×; AUC change "
          f"{new['auc'] - pit['auc']:+.4f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {time.perf_counter() - t0:.0f} s, peak memory {peak:,.0f} MB; work {work}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
