"""Benchmark: the marketing stage, today's code path against the baseline's, in one run.

Setup (not timed, kept in ``--workdir``): generate a bank with two review quarters
(2026-03-31, 2026-06-30), ingest it and store the profiles of both quarter ends — the state
of a store in a steady quarter. Then the marketing stage of 2026-06-30 (``plan_campaign``,
then ``publish_campaign``: offers stored, campaign lists written) runs twice, each in its own
process on its own copy of the store, so that peak memory is its own:

- ``baseline``: the code of commit ``--baseline`` (default 0d66697, before the stage
  kernels), extracted with ``git archive`` into a temporary folder;
- ``current``: this checkout.

No PD scores or personas are given (the stage's own pricing engine values the offers), so
the marketing stage is timed alone. Printed per path: seconds, peak memory, the parts of the
stage (cProfile, cumulative seconds), the stage's own out-of-fold AUC of the pooled response
model, total expected value of the offers; and, on a common hold-out (the contacts of every
fifth firm, by a hash of its id), the AUC of the response model and the Qini coefficient of
the uplift model each path fits on the other firms.

    OMP_NUM_THREADS=1 python bench/bench_marketing.py --firms 100000
    OMP_NUM_THREADS=1 python bench/bench_marketing.py --firms 100000 --workdir /tmp/bm \\
        --baseline-src /tmp/main-src/src     # baseline: another checkout's code

With ``--skip-baseline`` only the current code runs and its numbers fill both columns.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUARTERS = (dt.date(2026, 3, 31), dt.date(2026, 6, 30))
#: Parts of the stage: functions whose cumulative time (all their calls) is reported.
PARTS = {
    "history (campaign_history)": ("creditpersona.marketing.history", "campaign_history"),
    "response models (ProductPropensity.fit)": ("creditpersona.marketing.propensity",
                                                "ProductPropensity.fit"),
    "uplift out-of-fold (_uplift_oof, 5 refits)": ("creditpersona.marketing.stage",
                                                   "_uplift_oof"),
    "uplift out-of-fold (_uplift_metrics, no refit)": ("creditpersona.marketing.stage",
                                                       "_uplift_metrics"),
    "snapshots profiled (profile_of_firms)": ("creditpersona.marketing.history",
                                              "profile_of_firms"),
    "TwoModelUplift.fit (every call)": ("creditpersona.marketing.uplift",
                                        "TwoModelUplift.fit"),
    "backtest": ("creditpersona.marketing.backtest", "backtest"),
    "response scoring (predict_accept)": ("creditpersona.marketing.propensity",
                                          "ProductPropensity.predict_accept"),
    "uplift scoring (predict_uplift, every call)": ("creditpersona.marketing.uplift",
                                                    "TwoModelUplift.predict_uplift"),
    "offer plan (plan_offers)": ("creditpersona.marketing.offers", "plan_offers"),
    "lists (write_campaign_lists)": ("creditpersona.marketing.lists", "write_campaign_lists"),
    "offers stored (save_offers)": ("creditpersona.marketing.stage", "save_offers"),
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(work: Path, firms: int) -> dict[str, float]:
    from creditpersona.profile.build import compute_profile, save_profile
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    t = time.perf_counter()
    gen = generate_bank(work / "data", firms, 7, fmt="parquet", quarters=len(QUARTERS),
                        end_date=QUARTERS[-1])
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
        for day in QUARTERS:
            save_profile(st, compute_profile(st, day))
    shutil.rmtree(work / "data")
    return {"setup_s": time.perf_counter() - t}


def _parts(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each part's function, found by its code's file and line."""
    import importlib

    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, (module, name) in PARTS.items():
        obj: Any = importlib.import_module(module)
        for attr in name.split("."):
            obj = getattr(obj, attr, None)
        if obj is None:          # not in this path's code
            found[label] = 0.0
            continue
        code = obj.__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        found[label] = float(raw[key][3]) if key in raw else 0.0
    return found


def _holdout(store: Any, day: dt.date, current: bool, seed: int = 0) -> dict[str, float]:
    """Response AUC and uplift Qini on the contacts of every fifth firm, fitted on the rest
    (by this path's own fitting: the baseline on every row, the current on the capped
    sample)."""
    import zlib

    import numpy as np

    from creditpersona.marketing.history import campaign_history, feature_columns
    from creditpersona.marketing.propensity import ProductPropensity, ranking_auc
    from creditpersona.marketing.uplift import TwoModelUplift, qini_coefficient

    if current:
        full = campaign_history(store, before=day, sample_cap=10_000_000)
    else:
        full = campaign_history(store, before=day)
    held = np.array([zlib.crc32(f.encode()) % 5 == 0 for f in full["firm_id"].astype(str)])
    train, test = full[~held].reset_index(drop=True), full[held].reset_index(drop=True)
    if current:
        from creditpersona.marketing.kernels import capped_history
        train = capped_history(train, seed=seed)
    params = {"random_state": seed, "n_jobs": 1}
    t_tr = train["treated"].astype(bool).to_numpy()
    contacted = train[t_tr]
    prop = ProductPropensity(params=params).fit(
        contacted[["product", *feature_columns(contacted)]],
        contacted["responded"].astype(int).to_numpy())
    cols = feature_columns(train, pooled=True)
    import inspect

    by_firm = ({"groups": train["firm_id"].astype(str).to_numpy()}   # as fit_marketing fits
               if "groups" in inspect.signature(TwoModelUplift.fit).parameters else {})
    upl = TwoModelUplift(params=params).fit(train[cols], train["responded"].astype(int)
                                            .to_numpy(), t_tr, **by_firm)
    t_te = test["treated"].astype(bool).to_numpy()
    y_te = test["responded"].astype(int).to_numpy()
    p = prop.predict_accept(test[["product", *feature_columns(contacted)]])["p_accept"]
    return {"train_rows": float(len(train)), "test_rows": float(len(test)),
            "response_auc": ranking_auc(y_te[t_te], p.to_numpy()[t_te]),
            "uplift_qini": qini_coefficient(y_te, t_te, upl.predict_uplift(test[cols]))}


def _has_kernels() -> bool:
    """Whether the code run has the stage kernels (a capped history): then the baseline's
    hold-out is drawn as the current code's."""
    import importlib.util

    return importlib.util.find_spec("creditpersona.marketing.kernels") is not None


def run(work: Path, label: str, warm: bool = False) -> dict[str, object]:
    """The stage of the last quarter on a copy of the store; ``warm``: after the history and
    the models of the quarter before were built on it (untimed), as a first quarter run by
    this code leaves the store (the campaign snapshots' profiles stored, the models
    registered)."""
    from creditpersona.marketing.stage import plan_campaign, publish_campaign
    from creditpersona.profile.build import load_profile
    from creditpersona.store.store import Store

    path = work / f"{label}.duckdb"
    shutil.copy(work / "store.duckdb", path)
    day = QUARTERS[-1]
    first_s = float("nan")
    with Store(path) as st:
        if warm:
            clock = time.perf_counter()
            _first_quarter(st)
            first_s = time.perf_counter() - clock
        profile = load_profile(st, day).drop(columns=["as_of", "run_id", "engine"],
                                              errors="ignore")
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        result = publish_campaign(st, plan_campaign(st, day, profile, None, None, None),
                                  work / f"out-{label}")
        prof.disable()
        seconds = time.perf_counter() - t
        peak = _peak_mb()
        stats = pstats.Stats(prof)
        holdout = _holdout(st, day, label != "baseline" or _has_kernels())
    pooled = result.propensity[result.propensity["model"] == "_pooled"]
    top = stats.sort_stats("cumulative")
    lines: list[str] = []
    for func in list(top.fcn_list)[:40]:  # type: ignore[attr-defined]
        cc, nc, tt, ct, _ = top.stats[func]  # type: ignore[attr-defined]
        lines.append(f"{ct:8.1f} s cum {tt:7.1f} s own  {func[2]}  ({Path(func[0]).name})")
    path.unlink()
    return {"seconds": seconds, "peak_mb": peak, "load_end": os.getloadavg(),
            "first_quarter_plan_s": first_s,
            "offers": len(result.offers),
            "expected_value": float(result.offers["expected_value"].sum()),
            "objective": result.plan.objective, "candidates": result.candidates,
            "oof_auc": float(pooled["oof_auc"].iloc[0]) if len(pooled) else float("nan"),
            "uplift_qini_oof": result.uplift.get("qini", float("nan")),
            "notes": result.notes, "parts": _parts(stats), "profile": lines,
            "holdout": holdout}


def _first_quarter(st: Any) -> None:
    """What the marketing stage of the first quarter leaves in the store (this code): the
    campaign snapshots' profiles and the models (with their backtest) registered for it."""
    from creditpersona.marketing.stage import plan_campaign
    from creditpersona.profile.build import load_profile

    day = QUARTERS[0]
    profile = load_profile(st, day).drop(columns=["as_of", "run_id", "engine"],
                                         errors="ignore")
    plan_campaign(st, day, profile, None, None, None)


def _child(stage: str, work: Path, src: Path | None, *extra: str) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--workdir", str(work),
                          *extra], check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _baseline_src(commit: str, into: Path) -> Path:
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", commit, "src"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _report(base: dict[str, Any], cur: dict[str, Any]) -> None:
    print(f"{'':<44}{'baseline':>14}{'current':>14}")
    for key, fmt in (("seconds", "{:,.1f}"), ("peak_mb", "{:,.0f}"), ("offers", "{:,}"),
                     ("candidates", "{:,}"), ("expected_value", "{:,.0f}"),
                     ("oof_auc", "{:.4f}"), ("uplift_qini_oof", "{:.4f}")):
        print(f"{key:<44}{fmt.format(base[key]):>14}{fmt.format(cur[key]):>14}")
    print(f"{'load average (1 min) at its end':<44}{base['load_end'][0]:>14.1f}"
          f"{cur['load_end'][0]:>14.1f}")
    for key in ("train_rows", "response_auc", "uplift_qini"):
        fmt = "{:,.0f}" if key == "train_rows" else "{:.4f}"
        print(f"{'hold-out ' + key:<44}{fmt.format(base['holdout'][key]):>14}"
              f"{fmt.format(cur['holdout'][key]):>14}")
    print("parts of the stage (cProfile cumulative seconds):")
    for part in PARTS:
        print(f"  {part:<42}{base['parts'][part]:>14.1f}{cur['parts'][part]:>14.1f}")
    print(f"speed-up baseline / current: {base['seconds'] / cur['seconds']:.1f}x; "
          f"expected value current / baseline: "
          f"{cur['expected_value'] / base['expected_value']:.4f}")
    for name, r in (("baseline", base), ("current", cur)):
        print(f"\ntop of the profile, {name}:")
        print("\n".join(r["profile"][:25]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, help="Reuse this folder (its store if present).")
    ap.add_argument("--baseline", default="0d66697", help="Commit of the baseline code.")
    ap.add_argument("--baseline-src", type=Path,
                    help="A source folder of the baseline code (its PYTHONPATH, e.g. "
                         "main's src extracted with git archive), instead of --baseline.")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="Time the current code only (no ratio).")
    ap.add_argument("--stage", choices=["setup", "baseline", "current", "current-warm"])
    ap.add_argument("--warm", action="store_true",
                    help="Time the current code's steady quarter after its first quarter "
                         "(plan_campaign of the quarter before, timed apart: the cold "
                         "history and fit) on the same store.")
    a = ap.parse_args()
    if a.stage == "setup":
        print(json.dumps(setup(a.workdir, a.firms)))
        return
    if a.stage in ("baseline", "current", "current-warm"):
        print(json.dumps(run(a.workdir, a.stage, warm=a.stage == "current-warm"), default=str))
        return
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_marketing_"))
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (work / "store.duckdb").exists():
        done = _child("setup", work, None, "--firms", str(a.firms))
        print(f"setup: {a.firms:,} firms generated, ingested and profiled at two quarter ends "
              f"in {done['setup_s']:.0f} s")
    here = Path(__file__).resolve().parents[1] / "src"
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    if a.skip_baseline:
        base = None
    elif a.baseline_src is not None:
        base = _child("baseline", work, a.baseline_src.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bench_marketing_base_") as tmp:
            base = _child("baseline", work, _baseline_src(a.baseline, Path(tmp)))
    cur = _child("current-warm" if a.warm else "current", work, here)
    print(f"load average at the end: {os.getloadavg()} (1, 5, 15 min; 2 cores shared)")
    if a.warm:
        print("current: the steady quarter after the first quarter's plan_campaign on the "
              f"same store, which took {cur['first_quarter_plan_s']:.1f} s (cold: every "
              "snapshot profiled and stored, the models fitted, backtested and registered; "
              "peak memory is of the process that ran both)")
    _report(base or cur, cur)


if __name__ == "__main__":
    main()
