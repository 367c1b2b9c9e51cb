"""Benchmark: the quarterly cycle of a 100,000-firm bank, stage by stage.

Setup (not timed): generate a bank with two review quarters (2026-03-31, 2026-06-30) and
ingest it (kept in ``--workdir`` for later runs; the cycles run on a copy). Then, each in its
own process so that peak memory is its own:

- ``first``: the cycle of the first quarter on an empty registry: it develops the PD models
  and fits the personas, which is what *every* quarter cost before the models were governed
  (re-developed on each run) — the baseline;
- ``steady``: the next quarter with the models in force: the cycle a bank runs each quarter,
  with the review against the first quarter.

Prints the seconds of every stage, peak memory, and the ratio first / steady.

    python bench/bench_cycle.py --firms 100000

Against another source tree in the same run (``--baseline-src DIR``): the same quarters run
with ``PYTHONPATH=DIR/src`` (or ``DIR`` when it holds ``creditpersona/`` itself) in the child
processes, each tree on its own copy of the ingested store (``cycle-baseline.duckdb``,
``cycle-new.duckdb``), the two trees alternating quarter by quarter so that both see the
machine's load of the same minutes. The stage tables are printed side by side with the
ratio baseline / new per stage and overall (above 1: the new code is faster), and the load
average before and after (the machine may be shared):

    git -C /work/main archive HEAD src | tar -x -C /tmp/base
    python bench/bench_cycle.py --firms 100000 --workdir /tmp/bc --baseline-src /tmp/base

``--quarters steady`` runs only the steady quarter, from the store each tree had after its
first quarter (kept as ``after-first-<tree>.duckdb`` by an earlier run with the same
``--workdir``: the registry of the first quarter's models and its results), which saves the
first quarter's model development when only the steady quarter changed. Default
``--quarters first,steady``.
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
from typing import NoReturn

QUARTERS = (dt.date(2026, 3, 31), dt.date(2026, 6, 30))
STEPS = ("first", "steady")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_setup(work: Path, firms: int) -> dict[str, float]:
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    t = time.perf_counter()
    gen = generate_bank(work / "data", firms, 7, fmt="parquet", quarters=len(QUARTERS),
                        end_date=QUARTERS[-1])
    generated = time.perf_counter() - t
    with Store(work / "store.duckdb") as st:
        ingest(st, [gen.out_dir])
    shutil.rmtree(work / "data")
    return {"generate_s": generated, "ingest_s": time.perf_counter() - t - generated,
            "transactions": gen.rows["transactions"]}


def stage_cycle(work: Path, as_of: dt.date, store: str = "cycle.duckdb") -> dict[str, object]:
    import creditpersona
    from creditpersona.pipeline import run_cycle
    from creditpersona.store.store import Store

    with Store(work / store) as st:
        t = time.perf_counter()
        result = run_cycle(st, as_of, work / f"out-{Path(store).stem}")
        total = time.perf_counter() - t
    return {"seconds": total, "stages": result.seconds, "peak_mb": _peak_mb(),
            "firms": len(result.profile), "pd_fitted": result.pd.fitted,
            "personas_fitted": result.personas.fitted,
            "triggers_fired": int(result.review.triggers["fired"].sum()),
            "source": str(Path(creditpersona.__file__).parent)}


def _child(stage: str, work: Path, *extra: str, pythonpath: str | None = None
           ) -> dict[str, object]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--workdir", str(work),
                          *extra], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _usage(message: str) -> NoReturn:
    """Print ``message`` and exit with status 2 (a usage error)."""
    print(f"bench_cycle: {message}", file=sys.stderr)
    raise SystemExit(2)


def source_path(tree: Path) -> str:
    """The PYTHONPATH entry of a source tree: ``tree/src`` or ``tree`` (holding
    ``creditpersona/``); exits with a usage error when neither does."""
    for candidate in (tree / "src", tree):
        if (candidate / "creditpersona" / "__init__.py").is_file():
            return str(candidate.resolve())
    _usage(f"--baseline-src {tree}: neither {tree / 'src'} nor {tree} holds "
             "creditpersona/__init__.py; extract a tree with `git archive HEAD src | tar -x "
             "-C DIR`.")


def steps_of(text: str) -> tuple[str, ...]:
    """The quarters asked by ``--quarters`` (``first``, ``steady`` or both), in cycle order."""
    asked = {s.strip() for s in text.split(",") if s.strip()}
    unknown = sorted(asked - set(STEPS))
    if unknown or not asked:
        _usage(f"--quarters {text}: choose first, steady or first,steady.")
    return tuple(s for s in STEPS if s in asked)


def _fresh(work: Path, name: str, source: Path) -> None:
    """``work/name`` a copy of ``source``, without the files an earlier run left beside it."""
    for old in work.glob(f"{name}*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.copy(source, work / name)


def run_tree(work: Path, tree: str, step: str, pythonpath: str | None) -> dict[str, object]:
    """One quarter of one source tree in its own process, on the tree's own store."""
    store = f"cycle-{tree}.duckdb"
    kept = work / f"after-first-{tree}.duckdb"
    if step == "first":
        _fresh(work, store, work / "store.duckdb")
    else:
        _fresh(work, store, kept)
    extra = ["--cycle-store", store]
    result = _child(step, work, *extra, pythonpath=pythonpath)
    if step == "first":
        shutil.copy(work / store, kept)
    return result


def _print_single(first: dict[str, object] | None, steady: dict[str, object] | None) -> None:
    runs = {k: v for k, v in (("first quarter (s)", first), ("steady quarter (s)", steady))
            if v is not None}
    stages = list(dict.fromkeys(s for r in runs.values() for s in r["stages"]))  # type: ignore[attr-defined]
    print(f"{'stage':<12}" + "".join(f"{k:>20}" for k in runs))
    for s in stages:
        print(f"{s:<12}" + "".join(f"{r['stages'].get(s, float('nan')):>20.1f}"  # type: ignore[attr-defined]
                                   for r in runs.values()))
    print(f"{'total':<12}" + "".join(f"{float(r['seconds']):>20.1f}"  # type: ignore[arg-type]
                                     for r in runs.values()))
    for name, r in runs.items():
        print(f"{name.split(' (')[0]}: firms {r['firms']:,}, peak memory "
              f"{float(r['peak_mb']):,.0f} MB, triggers fired {r['triggers_fired']}")  # type: ignore[arg-type]
    if first is not None and steady is not None:
        ratio = float(first["seconds"]) / float(steady["seconds"])  # type: ignore[arg-type]
        print(f"first quarter (develops and fits every model, as each quarter did before) / "
              f"steady quarter (models in force): {ratio:.1f}x")


def compare_table(base: dict[str, dict[str, object]], new: dict[str, dict[str, object]]
                  ) -> list[str]:
    """The side-by-side lines: per quarter the baseline's and the new seconds per stage and
    their ratio baseline / new (above 1: the new code is faster), then the totals.

    Examples
    --------
    >>> run = {"first": {"stages": {"profile": 10.0}, "seconds": 12.0}}
    >>> faster = {"first": {"stages": {"profile": 5.0}, "seconds": 8.0}}
    >>> print("\\n".join(compare_table(run, faster)))
    stage           first base    first new    ratio
    profile               10.0          5.0     2.00
    total                 12.0          8.0     1.50
    """
    steps = [s for s in STEPS if s in base and s in new]
    stages = list(dict.fromkeys(st for s in steps for r in (base[s], new[s])
                                for st in r["stages"]))  # type: ignore[attr-defined]
    head = f"{'stage':<12}" + "".join(f"{s + ' base':>14}{s + ' new':>13}{'ratio':>9}"
                                      for s in steps)
    lines = [head]

    def cells(b: float, n: float) -> str:
        ratio = b / n if n > 0 else float("nan")
        return f"{b:>14.1f}{n:>13.1f}{ratio:>9.2f}"

    nan = float("nan")
    for st in stages:
        lines.append(f"{st:<12}" + "".join(
            cells(float(base[s]["stages"].get(st, nan)),  # type: ignore[attr-defined]
                  float(new[s]["stages"].get(st, nan)))  # type: ignore[attr-defined]
            for s in steps))
    lines.append(f"{'total':<12}" + "".join(
        cells(float(base[s]["seconds"]), float(new[s]["seconds"]))  # type: ignore[arg-type]
        for s in steps))
    return lines


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, help="Reuse this folder (its store if present).")
    ap.add_argument("--baseline-src", type=Path,
                    help="Also run the quarters with this source tree (DIR/src or DIR on "
                         "PYTHONPATH) and print both side by side with their ratio.")
    ap.add_argument("--quarters", default="first,steady",
                    help="first, steady or first,steady; steady alone starts from the store "
                         "an earlier run kept after the first quarter.")
    ap.add_argument("--stage", choices=["setup", "first", "steady"])
    ap.add_argument("--cycle-store", default="cycle.duckdb", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage == "setup":
        print(json.dumps(stage_setup(a.workdir, a.firms)))
        return
    if a.stage in ("first", "steady"):
        day = QUARTERS[0] if a.stage == "first" else QUARTERS[1]
        print(json.dumps(stage_cycle(a.workdir, day, a.cycle_store), default=str))
        return
    steps = steps_of(a.quarters)
    baseline = source_path(a.baseline_src) if a.baseline_src is not None else None
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bench_cycle_"))
    work.mkdir(parents=True, exist_ok=True)
    trees = ("baseline", "new") if baseline is not None else ("new",)
    missing = [str(work / f"after-first-{t}.duckdb") for t in trees
               if not (work / f"after-first-{t}.duckdb").exists()]
    if "first" not in steps and missing:
        _usage(f"--quarters steady: {', '.join(missing)} missing; run the first quarter once "
                 "with this --workdir (--quarters first,steady).")
    if not (work / "store.duckdb").exists():
        setup = _child("setup", work, "--firms", str(a.firms))
        print(f"setup: generated in {setup['generate_s']:.0f} s, ingested in "
              f"{setup['ingest_s']:.0f} s ({setup['transactions']:,} transactions)")
    print(f"before: {_load()}")
    new: dict[str, dict[str, object]] = {}
    base: dict[str, dict[str, object]] = {}
    for step in steps:  # the trees alternate, so both run under the same minutes' load
        if baseline is not None:
            base[step] = run_tree(work, "baseline", step, baseline)
        new[step] = run_tree(work, "new", step, None)
    print(f"after: {_load()}")
    if baseline is None:
        _print_single(new.get("first"), new.get("steady"))
        return
    print(f"baseline: {base[steps[0]]['source']}\nnew:      {new[steps[0]]['source']}")
    print("\n".join(compare_table(base, new)))
    for step in steps:
        print(f"{step}: peak memory baseline {float(base[step]['peak_mb']):,.0f} MB, new "  # type: ignore[arg-type]
              f"{float(new[step]['peak_mb']):,.0f} MB; firms {new[step]['firms']:,}; "  # type: ignore[arg-type]
              f"triggers fired baseline {base[step]['triggers_fired']}, new "
              f"{new[step]['triggers_fired']}")


if __name__ == "__main__":
    main()
