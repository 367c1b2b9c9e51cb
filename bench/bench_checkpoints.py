"""What keeping every stage as JSON + Parquet costs, next to computing the stage.

Generates a bank, runs the cycle for one quarter end, then for every stage of the run:
reads its checkpoint back (digests checked, rebuilt through the allow-list of trusted
types), checks it equals what a second write of it reads back, and times one write and one
read. The ratio is (write + read) / the seconds the stage took to compute in the same run;
the size is the stage folder's bytes. Peak memory is the process's maximum resident set.

    python bench/bench_checkpoints.py --firms 600 --seed 11
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from creditpersona import pipeline
from creditpersona.runs import read_checkpoint, runs, stages, write_checkpoint
from creditpersona.store.ingest import ingest
from creditpersona.store.store import Store
from creditpersona.synth import generate_bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firms", type=int, default=600)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 3, 31))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-checkpoints-"))
    gen = generate_bank(work / "data", args.firms, args.seed, years=4, txn_per_firm_year=30,
                        fmt="parquet", end_date=dt.date(2026, 6, 30))
    rows = []
    with Store(work / "bank.duckdb") as st:
        ingest(st, [gen.out_dir])
        pipeline.run_cycle(st, args.as_of, work / "out")
        run_id = str(runs(st, args.as_of)["run_id"].iloc[0])
        for r in stages(st, run_id).itertuples():
            if not isinstance(r.checkpoint, str):
                continue
            clock = time.perf_counter()
            value = read_checkpoint(r.checkpoint, str(r.checkpoint_sha256), str(r.stage))
            read = time.perf_counter() - clock
            clock = time.perf_counter()
            path, digest = write_checkpoint(work / "copy" / "day" / str(r.stage), str(r.stage),
                                            value)
            write = time.perf_counter() - clock
            read_checkpoint(str(path), digest, str(r.stage))
            size = sum(p.stat().st_size for p in Path(r.checkpoint).parent.iterdir())
            rows.append({"stage": r.stage, "compute_s": float(r.seconds), "write_s": write,
                         "read_s": read, "bytes": size,
                         "files": len(list(Path(r.checkpoint).parent.iterdir()))})
    table = pd.DataFrame(rows)
    table["ratio"] = (table["write_s"] + table["read_s"]) / table["compute_s"].clip(lower=1e-9)
    total = table[["compute_s", "write_s", "read_s", "bytes", "files"]].sum()
    print(table.round(3).to_string(index=False))
    print(f"\n{args.firms} firms, seed {args.seed}, as of {args.as_of}: checkpoints "
          f"{total['bytes'] / 1e6:.1f} MB in {int(total['files'])} files; write + read "
          f"{total['write_s'] + total['read_s']:.2f} s for {total['compute_s']:.1f} s of "
          f"computing: ratio {(total['write_s'] + total['read_s']) / total['compute_s']:.3f}")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MB")


if __name__ == "__main__":
    main()
