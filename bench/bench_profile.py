"""Benchmark: profile a 100,000-firm bank, and the transaction features against naive pandas.

Setup (not timed): generate the bank and ingest it into a store. Then, each in its own
process so that peak memory is its own:

- ``ours-flows``: the transaction-flow features of the profile (Ibis on DuckDB);
- ``pandas-flows``: the same features written the obvious way in pandas, on the same rows
  read from the same store (read time reported apart, compute time compared);
- ``ours-profile``: the whole profile (all sources, text signals, scores) as `creditpersona
  profile` computes it.

    python bench/bench_profile.py --firms 100000

With ``--store`` it measures the cycle's profile stage instead (the packaged text model
registered, the profile computed, stored and handed on, as `run_cycle` does) on a copy of an
ingested store, e.g. the one ``bench/bench_cycle.py --workdir`` keeps; with
``--baseline-src DIR`` the same measurement runs with ``PYTHONPATH=DIR`` too (another source
tree, e.g. main's), alternating, in the same run; the load average is printed with each.

    python bench/bench_profile.py --store /tmp/bc/store.duckdb --as-of 2026-06-30 \
        --baseline-src /tmp/main-src/src
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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

AS_OF = dt.date(2026, 3, 31)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_setup(work: Path, firms: int) -> dict[str, float]:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", firms, 7, fmt="parquet")
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
    shutil.rmtree(work / "data")
    return {"transactions": gen.rows["transactions"]}


def stage_ours_flows(work: Path) -> dict[str, float]:
    import ibis

    from creditpersona.profile.features import flow_features
    from creditpersona.store.store import Store

    with Store(work / "store.duckdb", read_only=True) as st:
        t0 = time.perf_counter()
        out = flow_features({"transactions": st.table("transactions")},
                            ibis.literal(AS_OF, type="date")).to_pandas()
        seconds = time.perf_counter() - t0
    out.sort_values("firm_id").to_parquet(work / "ours.parquet")
    return {"seconds": seconds, "peak_mb": _peak_mb(), "firms": len(out)}


def stage_pandas_flows(work: Path) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from creditpersona.store.store import Store

    t0 = time.perf_counter()
    with Store(work / "store.duckdb", read_only=True) as st:
        tx = st.table("transactions").select(
            "firm_id", "txn_date", "amount", "counterparty").to_pandas()
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    as_of = pd.Timestamp(AS_OF)
    tx["txn_date"] = pd.to_datetime(tx["txn_date"])
    w = tx[(tx.txn_date <= as_of) & (tx.txn_date > as_of - pd.Timedelta(days=365))].copy()
    w["inflow"] = w.amount.clip(lower=0)
    w["outflow"] = (-w.amount).clip(lower=0)
    age = (as_of - w.txn_date).dt.days
    w["recent"] = age < 90
    w["before"] = (age >= 90) & (age < 180)
    g = w.groupby("firm_id")
    out = pd.DataFrame({
        "inflow_12m": g.inflow.sum(), "outflow_12m": g.outflow.sum(),
        "txn_count_12m": g.size(),
        "inflow_90d": w[w.recent].groupby("firm_id").inflow.sum(),
        "outflow_90d": w[w.recent].groupby("firm_id").outflow.sum(),
        "inflow_prev_90d": w[w.before].groupby("firm_id").inflow.sum(),
    })
    w["month"] = w.txn_date.dt.to_period("M")
    monthly = w.groupby(["firm_id", "month"]).inflow.sum().groupby("firm_id")
    out["inflow_volatility"] = monthly.std(ddof=0) / monthly.mean()
    out["seasonality_index"] = monthly.max() / monthly.mean()
    pos = w[w.amount > 0].assign(party=lambda d: d.counterparty.fillna("(none)"))
    by_party = pos.groupby(["firm_id", "party"]).amount.sum()
    top3 = by_party.groupby("firm_id").apply(lambda s: s.nlargest(3).sum() / s.sum())
    out["top3_share"] = top3
    out["flow_trend_90d"] = out.inflow_90d / out.inflow_prev_90d.replace(0, np.nan) - 1
    out["net_burn_monthly"] = (out.outflow_90d - out.inflow_90d) / 3
    seconds = time.perf_counter() - t0
    out.reset_index().sort_values("firm_id").to_parquet(work / "pandas.parquet")
    return {"seconds": seconds, "read_seconds": read, "peak_mb": _peak_mb(), "firms": len(out)}


def stage_ours_profile(work: Path) -> dict[str, float]:
    from creditpersona.profile.build import compute_profile
    from creditpersona.store.store import Store

    with Store(work / "store.duckdb") as st:
        t0 = time.perf_counter()
        run = compute_profile(st, AS_OF)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": _peak_mb(), "firms": len(run.frame)}


def stage_cycle_profile(work: Path, store: Path, as_of: dt.date,
                        dump: Path | None = None) -> dict[str, float]:
    """The cycle's profile stage on a copy of ``store``: wall and CPU seconds (this process
    and its worker processes), peak memory. With ``dump``, the rows handed on and the rows
    read back from the store go to ``dump``-handed.arrow and ``dump``-read.arrow."""
    import os

    from creditpersona import pipeline
    from creditpersona.profile.build import load_profile
    from creditpersona.store.store import Store

    copy = work / f"profile-{os.getpid()}.duckdb"
    shutil.copy(store, copy)
    try:
        with Store(copy) as st:
            if dump is not None:  # DuckDB's parallel sums vary in the last bits run to run
                st.con.con.execute("SET threads = 1")
            computed: dict[str, pd.DataFrame] = {}
            t0, c0 = time.perf_counter(), _cpu()
            pipeline._profile(st, as_of, "duckdb", computed)
            seconds, cpu = time.perf_counter() - t0, _cpu() - c0
            firms = int(st.con.con.execute("SELECT count(*) FROM profiles WHERE as_of = ?",
                                           [as_of]).fetchone()[0])
            if dump is not None:
                _dump(computed["profile"], Path(f"{dump}-handed.arrow"))
                _dump(load_profile(st, as_of), Path(f"{dump}-read.arrow"))
    finally:
        copy.unlink(missing_ok=True)
        Path(str(copy) + ".wal").unlink(missing_ok=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mb": _peak_mb(), "firms": firms}


def _dump(frame: pd.DataFrame, path: Path) -> None:
    """A profile frame to an Arrow IPC file, pandas dtypes kept (for :func:`check_equal`)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path)


def _read_dump(path: Path) -> pd.DataFrame:
    import pyarrow.feather as feather

    return feather.read_table(path).to_pandas()


def check_equal(store: Path, as_of: dt.date, baseline: Path) -> int:
    """Run the profile stage with this tree and with ``baseline`` on copies of ``store``
    and compare the rows handed on and the rows stored, every column (``run_id`` aside),
    exactly: dtypes, values and missing values. DuckDB runs on one thread in both (its
    parallel floating-point sums differ in the last bits from run to run of the same
    code). Returns 0 when equal, 1 otherwise."""
    import os

    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="cp-bench-profile-", dir=store.parent))
    try:
        for name, src in (("this", None), ("baseline", baseline)):
            env = dict(os.environ, **({"PYTHONPATH": str(src)} if src else {}))
            cmd = [sys.executable, __file__, "--stage", "cycle-profile", "--workdir",
                   str(work), "--store", str(store), "--as-of", as_of.isoformat(),
                   "--dump", str(work / name)]
            subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        bad = 0
        for kind in ("handed", "read"):
            new, old = (_read_dump(work / f"{n}-{kind}.arrow") for n in ("this", "baseline"))
            cols = [c for c in old.columns if c != "run_id"]
            if list(new.columns) != list(old.columns):
                print(f"{kind}: columns differ")
                bad += 1
                continue
            for c in cols:
                a, b = new[c], old[c]
                same = a.dtype == b.dtype and a.isna().equals(b.isna()) and bool(
                    np.all(a[a.notna()].to_numpy() == b[b.notna()].to_numpy()))
                if not same:
                    print(f"{kind}: column {c} differs ({a.dtype} / {b.dtype})")
                    bad += 1
            print(f"{kind}: {len(old):,} rows × {len(cols)} columns compared, "
                  f"{bad} differing so far")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare_cycle_profile(store: Path, as_of: dt.date, baseline: Path | None,
                          repeat: int) -> None:
    """Print the profile stage's time with this tree's source and, alternating, the
    baseline's."""
    import os

    work = Path(tempfile.mkdtemp(prefix="cp-bench-profile-", dir=store.parent))
    trees = {"this tree": None, **({"baseline": baseline} if baseline else {})}
    seen: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    try:
        for _ in range(repeat):
            for name, src in trees.items():
                env = dict(os.environ, **({"PYTHONPATH": str(src)} if src else {}))
                before = _load()
                cmd = [sys.executable, __file__, "--stage", "cycle-profile", "--workdir",
                       str(work), "--store", str(store), "--as-of", as_of.isoformat()]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                seen[name].append(r)
                print(f"{name:<10} profile stage {r['seconds']:7.1f} s wall  "
                      f"{r['cpu_seconds']:7.1f} s CPU  peak {r['peak_mb']:6.0f} MB  "
                      f"({int(r['firms']):,} firms)  load average before {before}, "
                      f"after {_load()}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if baseline:
        for key in ("seconds", "cpu_seconds"):
            new = min(r[key] for r in seen["this tree"])
            old = min(r[key] for r in seen["baseline"])
            print(f"baseline / this tree ({key}, best of {repeat}): {old / new:.2f}x")


#: The measured stages (``setup`` takes the number of firms too and is called apart).
STAGES: dict[str, Callable[[Path], dict[str, float]]] = {
    "ours-flows": stage_ours_flows, "pandas-flows": stage_pandas_flows,
    "ours-profile": stage_ours_profile}


def _run(stage: str, work: Path, *extra: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--workdir", str(work), *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, default=None,
                        help="Measure the cycle's profile stage on (a copy of) this store.")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF,
                        help="Profile date with --store (default %(default)s).")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="With --store: measure with PYTHONPATH=DIR too.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each tree (--store).")
    parser.add_argument("--check", action="store_true",
                        help="With --store and --baseline-src: compare the rows, not times.")
    parser.add_argument("--dump", type=Path, default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.stage == "cycle-profile":
        print(json.dumps(stage_cycle_profile(a.workdir, a.store, a.as_of, a.dump)))
        return
    if a.check:
        if not (a.store and a.baseline_src):
            parser.error("--check needs --store and --baseline-src")
        sys.exit(check_equal(a.store.resolve(), a.as_of, a.baseline_src))
    if a.store:
        compare_cycle_profile(a.store.resolve(), a.as_of, a.baseline_src, a.repeat)
        return
    if a.stage == "setup":
        print(json.dumps(stage_setup(a.workdir, a.firms)))
        return
    if a.stage:
        print(json.dumps(STAGES[a.stage](a.workdir)))
        return

    import pandas as pd

    work = Path(a.workdir or tempfile.mkdtemp(prefix="cp-bench-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        setup = _run("setup", work, "--firms", str(a.firms))
        ours = _run("ours-flows", work)
        naive = _run("pandas-flows", work)
        whole = _run("ours-profile", work)
        a_df = pd.read_parquet(work / "ours.parquet").set_index("firm_id")
        b_df = pd.read_parquet(work / "pandas.parquet").set_index("firm_id")
        common = [c for c in b_df.columns if c in a_df.columns]
        gap = (a_df[common] - b_df[common].reindex(a_df.index)).abs().max().max()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"firms {a.firms:,}  transactions {int(setup['transactions']):,}  as of {AS_OF}")
    print(f"flow features, ours (Ibis/DuckDB)  {ours['seconds']:7.1f} s   "
          f"peak {ours['peak_mb']:6.0f} MB")
    print(f"flow features, naive pandas        {naive['seconds']:7.1f} s   "
          f"peak {naive['peak_mb']:6.0f} MB   (+{naive['read_seconds']:.1f} s to read)")
    with_read = (naive["seconds"] + naive["read_seconds"]) / ours["seconds"]
    print(f"pandas / ours                      {naive['seconds'] / ours['seconds']:7.2f} x "
          f"(with pandas' read: {with_read:.2f} x)")
    print(f"largest difference between the two {gap:.3g}")
    print(f"whole profile, ours                {whole['seconds']:7.1f} s   "
          f"peak {whole['peak_mb']:6.0f} MB   ({int(whole['firms']):,} firms)")


if __name__ == "__main__":
    main()
