"""Benchmark: credit decisions for 1,000,000 firms, against a row-by-row Python baseline.

Setup (not timed): generate a bank, ingest it, profile it at the as-of date and the quarter
before, read its loan book and statements; then synthesise a portfolio of ``--firms`` firms by
resampling those firms with replacement (each copy keeps its source's profile, statements,
loans and PD under a new id). The PD is the generator's true PD (the PD model is not part of
this stage).

Timed, each in its own process so that peak memory is its own:

- ``ours``: customer value, limits, an indicative quote per firm, five-tier classification
  with contagion, early warnings with the previous quarter, monitoring plans — the
  vectorised functions :func:`decision_stage` calls;
- ``baseline``: the same decisions written as a plain Python loop over firms (``math`` and
  ``statistics.NormalDist`` for the IRB formula, dict lookups for the configuration) on a
  ``--baseline-firms`` sample, scaled linearly to the portfolio.

    python bench/bench_decisions.py --firms 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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


def stage_setup(work: Path, source_firms: int, firms: int) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from creditpersona.decisions import exposures, load_decisions, statement_inputs
    from creditpersona.decisions.stage import previous_quarter_ends
    from creditpersona.models.master_scale import load_master_scale
    from creditpersona.profile.build import compute_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", source_firms, 17, fmt="parquet")
    prev_date = previous_quarter_ends(AS_OF, [1])[1]
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        tables = {n: st.table(n) for n in ("loans", "repayments", "financial_statements")}
        profile = compute_profile(st, AS_OF).frame
        previous = compute_profile(st, prev_date).frame
        book = exposures(tables, AS_OF, load_decisions())
        statements = statement_inputs(tables, AS_OF)
    truth = pd.read_csv(gen.out_dir / "truth" / "firm_quarter_truth.csv", dtype={"firm_id": str})
    truth = truth[truth["as_of"] == AS_OF.isoformat()].set_index("firm_id")

    rng = np.random.default_rng(0)
    src = profile["firm_id"].to_numpy()
    pick = rng.integers(0, len(src), firms)
    new_ids = np.array([f"B{i:09d}" for i in range(firms)], dtype=object)
    mapping = pd.DataFrame({"firm_id": new_ids, "source": src[pick]})

    def resample(frame: pd.DataFrame) -> pd.DataFrame:
        out = mapping.merge(frame.rename(columns={"firm_id": "source"}), on="source")
        return out.drop(columns="source")

    big_profile = resample(profile)
    big_prev = resample(previous)
    big_statements = resample(statements)
    loans = resample(book)
    loans["loan_id"] = np.arange(len(loans)).astype(str)
    t = truth.reindex(mapping["source"])
    pd_ = t["true_pd_12m"].fillna(0.02).to_numpy()
    scores = pd.DataFrame({
        "firm_id": new_ids, "pd": pd_, "persona_strategy": t["persona"].to_numpy(),
        "grade": load_master_scale().assign(pd_, t["in_default"].fillna(False).astype(bool)),
    })
    for name, frame in (("profile", big_profile), ("previous", big_prev),
                        ("statements", big_statements), ("loans", loans), ("scores", scores)):
        frame.to_parquet(work / f"{name}.parquet", index=False)
    return {"firms": firms, "loans": len(loans), "source_firms": len(src)}


def _load(work: Path) -> dict[str, object]:
    import pandas as pd

    return {n: pd.read_parquet(work / f"{n}.parquet")
            for n in ("profile", "previous", "statements", "loans", "scores")}


def stage_ours(work: Path) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from creditpersona.decisions import (
        classify_firms,
        classify_loans,
        customer_value,
        evaluate_warnings,
        load_decisions,
        load_warning_rules,
        price_loans,
        recommend_limits,
    )
    from creditpersona.decisions.warning import monitoring_plans

    d = _load(work)
    profile, previous = d["profile"], d["previous"]
    statements, loans, scores = d["statements"], d["loans"], d["scores"]
    assert isinstance(profile, pd.DataFrame) and isinstance(scores, pd.DataFrame)
    assert isinstance(loans, pd.DataFrame) and isinstance(statements, pd.DataFrame)
    assert isinstance(previous, pd.DataFrame)
    cfg, rules = load_decisions(), load_warning_rules()
    times: dict[str, float] = {}
    cpu0 = time.process_time()
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    firms = profile.merge(scores, on="firm_id")
    times["merge"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    value = customer_value(firms, loans, cfg)
    times["value"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = loans.groupby("firm_id")["outstanding"].sum()
    limits = recommend_limits(firms, statements, cfg, our_exposure=ours,
                              bank_debt=firms.set_index("firm_id")["bureau_outstanding"])
    times["limits"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    requests = pd.DataFrame({"firm_id": limits["firm_id"], "product": limits["product"],
                             "amount": np.maximum(limits["recommended_limit"], 1e6)})
    requests["term_months"] = cfg.product_values(requests["product"], "term_months")
    pricing = price_loans(requests, firms, cfg)
    times["pricing"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tiers = classify_firms(classify_loans(loans, cfg.classification))
    times["classification"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    warn = evaluate_warnings(profile, {1: previous}, rules,
                             persona=profile["firm_id"].map(scores.set_index("firm_id")
                                                            ["persona_strategy"]))
    plans = monitoring_plans(warn.firms, AS_OF, cfg, rules)
    times["warnings_plans"] = time.perf_counter() - t0
    seconds = time.perf_counter() - t_all
    cpu = time.process_time() - cpu0
    keep = pd.DataFrame({"firm_id": limits["firm_id"], "limit": limits["recommended_limit"],
                         "rate": pricing["rate"], "on_watch": warn.firms["on_watch"]})
    keep.to_parquet(work / "ours.parquet", index=False)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": _peak_mb(), "firms": len(firms),
            "watch": int(warn.firms["on_watch"].sum()), "npl_firms": int(tiers["npl"].sum()),
            "plans": len(plans), "value_rows": len(value),
            **{f"t_{k}": v for k, v in times.items()}}


def stage_baseline(work: Path, sample: int) -> dict[str, float]:
    """The same decisions, one firm at a time in plain Python."""
    import pandas as pd

    from creditpersona.decisions import load_decisions, load_warning_rules

    d = _load(work)
    profile, previous = d["profile"], d["previous"]
    statements, loans, scores = d["statements"], d["loans"], d["scores"]
    assert isinstance(profile, pd.DataFrame) and isinstance(scores, pd.DataFrame)
    assert isinstance(loans, pd.DataFrame) and isinstance(statements, pd.DataFrame)
    assert isinstance(previous, pd.DataFrame)
    cfg, rules = load_decisions(), load_warning_rules()
    ids = set(profile["firm_id"].iloc[:sample])
    prof = profile[profile["firm_id"].isin(ids)].to_dict("records")
    prev = {r["firm_id"]: r for r in previous[previous["firm_id"].isin(ids)].to_dict("records")}
    stm = {r["firm_id"]: r for r in statements[statements["firm_id"].isin(ids)]
           .to_dict("records")}
    sc = {r["firm_id"]: r for r in scores[scores["firm_id"].isin(ids)].to_dict("records")}
    by_firm: dict[str, list[dict[str, object]]] = {}
    for r in loans[loans["firm_id"].isin(ids)].to_dict("records"):
        by_firm.setdefault(str(r["firm_id"]), []).append(r)
    nd = __import__("statistics").NormalDist()
    ftp_x = [p[0] for p in cfg.ftp_curve]
    ftp_y = [p[1] for p in cfg.ftp_curve]

    def ftp(term: float) -> float:
        if term <= ftp_x[0]:
            return ftp_y[0]
        for (x0, y0), (x1, y1) in zip(cfg.ftp_curve, cfg.ftp_curve[1:], strict=False):
            if term <= x1:
                return y0 + (y1 - y0) * (term - x0) / (x1 - x0)
        return ftp_y[-1]

    def capital(p: float, lgd: float, m: float) -> float:
        if p >= 1.0:
            return 0.0
        p = max(p, cfg.capital.pd_floor)
        m = min(max(m, 1.0), 5.0)
        f = (1 - math.exp(-50 * p)) / (1 - math.exp(-50))
        r = 0.12 * f + 0.24 * (1 - f)
        b = (0.11852 - 0.05478 * math.log(p)) ** 2
        cond = nd.cdf((nd.inv_cdf(p) + math.sqrt(r) * nd.inv_cdf(0.999)) / math.sqrt(1 - r))
        return max((lgd * cond - p * lgd) * (1 + (m - 2.5) * b) / (1 - 1.5 * b), 0.0)

    thresholds = cfg.classification.thresholds()
    points = rules.severity_points
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out = []
    for row in prof:
        fid = row["firm_id"]
        s = sc[fid]
        p, grade = float(s["pd"]), str(s["grade"])
        policy = cfg.personas.get(str(s["persona_strategy"]), cfg.personas["default"])
        # value and classification over the firm's loans
        bal = margin = el = cap = 0.0
        worst, npl_bal = 0, 0.0
        tiers = []
        for ln in by_firm.get(fid, []):
            o = float(ln["outstanding"])
            lgd = float(ln["lgd"])
            rate = cfg.lpr[str(ln["lpr_tenor"])] + float(ln["spread_bp"]) / 1e4
            bal += o
            margin += o * (rate - ftp(float(ln["term_months"])))
            el += o * lgd * min(p, 1.0)
            cap += o * capital(p, lgd, float(ln["maturity_years"]))
            t = sum(1 for th in thresholds if float(ln["dpd"]) > th)
            tiers.append((t, o))
            if t >= 2:
                npl_bal += o
        if bal > 0 and npl_bal / bal > cfg.classification.contagion_share:
            tiers = [(max(t, 2), o) for t, o in tiers]
        worst = max((t for t, _ in tiers), default=0)
        # limit
        st = stm.get(fid)
        limit = 0.0
        product = policy.main_product
        if st is not None and st["revenue"] and st["cost_of_sales"]:
            rev, cos = float(st["revenue"]), float(st["cost_of_sales"])
            g = rev / st["prev_revenue"] - 1 if st["prev_revenue"] else 0.0
            g = min(max(g, cfg.limits.growth_bounds[0]), cfg.limits.growth_bounds[1])
            cycle = (360 * st["inventory"] / cos + 360 * st["receivables"] / rev
                     - 360 * st["payables"] / cos + 360 * st["prepayments"] / cos
                     - 360 * st["advance_receipts"] / rev)
            need = rev * (1 - st["net_profit"] / rev) * (1 + g) * max(cycle, 0) / 360
            own = max(st["current_assets"] - st["current_liabilities"], 0)
            limit = max(need - own - st["short_term_debt"], 0.0)
            limit *= cfg.limits.grade_multipliers.get(grade, 0.0) * policy.limit_multiplier
        # price
        prod = cfg.products[product]
        lgd = cfg.lgd.by_collateral[prod.default_collateral]
        k = capital(p, lgd, prod.term_months / 12)
        floor = (ftp(prod.term_months) + prod.operating_cost_bp / 1e4 + min(p, 1.0) * lgd
                 + cfg.hurdle_rate * k - prod.fee_bp / 1e4)
        lpr = cfg.lpr[prod.lpr_tenor]
        spread = min(max((floor - lpr) * 1e4 + policy.spread_adjustment_bp,
                         cfg.spread_bounds_bp[0]), cfg.spread_bounds_bp[1])
        # warnings
        score = 0.0
        reasons = []
        for r in rules.rules:
            if r.personas is not None and s["persona_strategy"] not in r.personas:
                continue
            x = row.get(r.feature)
            if r.kind != "level":
                before = prev.get(fid, {}).get(r.feature)
                if x is None or before is None or pd.isna(x) or pd.isna(before):
                    continue
                x = x - before if r.kind == "change" else (x / before - 1 if before > 0
                                                           else None)
            if x is None or pd.isna(x):
                continue
            hit = (bool(x) if r.op == "true" else
                   {">": x > r.threshold, ">=": x >= r.threshold, "<": x < r.threshold,
                    "<=": x <= r.threshold, "==": x == r.threshold}[r.op])
            if hit:
                score += points[r.severity]
                reasons.append(r.zh)
        out.append((fid, bal, margin, el, cap, worst, limit, spread, score,
                    "；".join(reasons)))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu0,
            "peak_mb": _peak_mb(), "firms": len(out)}


STAGES = {"ours": stage_ours}


def _run(stage: str, work: Path, *extra: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--workdir", str(work), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--source-firms", type=int, default=3000)
    parser.add_argument("--baseline-firms", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.stage == "setup":
        print(json.dumps(stage_setup(a.workdir, a.source_firms, a.firms)))
        return
    if a.stage == "baseline":
        print(json.dumps(stage_baseline(a.workdir, a.baseline_firms)))
        return
    if a.stage:
        print(json.dumps(STAGES[a.stage](a.workdir)))
        return

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-decisions-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        setup = _run("setup", work, "--firms", str(a.firms),
                     "--source-firms", str(a.source_firms))
        ours = _run("ours", work)
        base = _run("baseline", work, "--baseline-firms", str(a.baseline_firms))
    finally:
        if a.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    scaled = base["seconds"] * setup["firms"] / base["firms"]
    print(f"portfolio: {setup['firms']:,} firms resampled from {setup['source_firms']:,} "
          f"generated ones; {setup['loans']:,} loans on the book at {AS_OF}")
    print(f"ours (vectorised): {ours['seconds']:.1f} s, "
          f"{ours['firms'] / ours['seconds']:,.0f} firms/s, peak {ours['peak_mb'] / 1024:.2f} GB")
    print("  per step: " + ", ".join(f"{k[2:]} {v:.1f} s" for k, v in ours.items()
                                      if k.startswith("t_")))
    print(f"  watch-list {ours['watch']:,} firms; NPL {ours['npl_firms']:,} firms")
    print(f"baseline (row-by-row Python): {base['seconds']:.1f} s for {base['firms']:,} firms "
          f"→ {scaled:.0f} s scaled to {setup['firms']:,} "
          f"({base['firms'] / base['seconds']:,.0f} firms/s), peak "
          f"{base['peak_mb'] / 1024:.2f} GB")
    scaled_cpu = base["cpu_seconds"] * setup["firms"] / base["firms"]
    print(f"baseline / ours: {scaled / ours['seconds']:.1f}× wall clock, "
          f"{scaled_cpu / ours['cpu_seconds']:.1f}× CPU time "
          f"(ours {ours['cpu_seconds']:.1f} s CPU, baseline {scaled_cpu:.0f} s CPU scaled)")


if __name__ == "__main__":
    main()
