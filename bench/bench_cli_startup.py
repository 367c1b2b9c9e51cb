"""Benchmark: how fast the command line answers ``--help`` and a mistyped path.

Each case runs ``python -m creditpersona ...`` in a fresh process, ``--repeat`` times, and
reports the median wall time, its ratio to the baseline ``python -c pass`` measured in the
same run, the peak memory of the process, and which heavy libraries were imported. Before
the command line imported its modules lazily, ``--help`` took about 3.7 s on an idle 2-core
machine (9 s under load) because every subcommand's modules (pandas, Ibis, scikit-learn,
LightGBM, optbinning, plotly) loaded up front.

    python bench/bench_cli_startup.py --repeat 7

``--src DIR`` times another checkout's ``src`` folder (for a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("pandas", "numpy", "ibis", "duckdb", "sklearn", "lightgbm", "optbinning", "plotly",
         "scipy", "pyarrow")

CASES = {
    "baseline: python -c pass": ["-c", "pass"],
    "creditpersona --help": ["-m", "creditpersona", "--help"],
    "creditpersona pd --help": ["-m", "creditpersona", "pd", "--help"],
    "creditpersona ingest /nonexistent": ["-m", "creditpersona", "ingest", "/nonexistent"],
    "creditpersona pd evaluate --data missing.csv": [
        "-m", "creditpersona", "pd", "evaluate", "--data", "missing.csv", "--label", "y"],
}


def _run(args: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    """Wall seconds, peak resident MB and exit code of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def _heavy_imported(env: dict[str, str]) -> list[str]:
    code = ("import sys, creditpersona.cli.app; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src",
                        help="The src folder whose creditpersona to time.")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as cwd:
        for name, case in CASES.items():
            _run(case, env, cwd)  # warm the file cache
            times, peaks, codes = [], [], set()
            for _ in range(args.repeat):
                seconds, peak, code = _run(case, env, cwd)
                times.append(seconds)
                peaks.append(peak)
                codes.add(code)
            rows.append({"case": name, "median_s": statistics.median(times),
                         "min_s": min(times), "peak_mb": max(peaks), "exit": sorted(codes)})
    base = rows[0]["median_s"]
    print(f"{'case':<48} {'median s':>9} {'min s':>7} {'× pass':>7} {'peak MB':>8}  exit")
    for r in rows:
        print(f"{r['case']:<48} {r['median_s']:9.3f} {r['min_s']:7.3f} "
              f"{r['median_s'] / base:7.1f} {r['peak_mb']:8.0f}  {r['exit']}")
    heavy = _heavy_imported(env)
    print(f"heavy modules imported by `import creditpersona.cli.app`: {heavy or 'none'}")
    print(json.dumps({"src": str(args.src), "repeat": args.repeat, "cases": rows,
                      "heavy_imported": heavy}))


if __name__ == "__main__":
    main()
