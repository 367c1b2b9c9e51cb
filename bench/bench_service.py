"""Load test of the REST service: firm 360 latency and quote throughput on 100,000 firms.

The store. A real 100,000-firm cycle takes about half an hour, so the serving snapshot is
*replicated* from a small real cycle (``--base``, a store ``creditpersona run`` published, by
default one built here: 400 firms, seed 11, one quarter): every per-firm row of every served
table is copied ``k`` times with a new firm id (``91`` + 15 digits + ``X``), a name with a
``（复本k）`` suffix and new loan and document ids (each loan's repayments copied with it),
until there are ``--firms`` firms. Scores,
prices and limits are those of the 400 real firms, repeated; sizes and indexes are those of a
100,000-firm store, which is what latency depends on.

The load. ``uvicorn`` serves ``creditpersona.service.asgi:app`` on 127.0.0.1 (``--workers``
processes); ``--clients`` concurrent clients (asyncio + httpx, keep-alive, each logged in as
a credit officer) run two bounded phases of ``--seconds`` each: GET ``/api/v1/firms/{id}`` of
random firms (every read audited, as in production), then POST ``/api/v1/quotes`` (the
cycle's pricing engine). Reported: requests, errors, p50/p95/p99 latency, requests per
second per phase, and the server's CPU milliseconds per request (its worker processes' CPU
time from /proc over the phase), which does not depend on how busy the shared machine is.
Targets (issue 17): p95 of the 360 under 150 ms, quotes at 300 per second or more. The
clients run on the same machine as the server and share its cores.

    OMP_NUM_THREADS=1 python bench/bench_service.py --firms 100000 --clients 20 --seconds 20

``--baseline-src DIR`` (a ``src`` folder of another version, e.g. ``git archive`` of the
last commit) measures that version first on the same store and clients, then this one, and
reports both and their ratio: on a shared machine only numbers of the same run compare.
``--phases quotes`` runs only the quote phase.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

PASSWORD = "bench password 123"
#: Columns holding ids that must stay unique per copy, by table.
ID_COLUMNS = {"loans": "loan_id", "decision_loans": "loan_id", "documents": "doc_id"}


def build_base(work: Path) -> Path:
    """A real one-quarter cycle of 400 firms (about two minutes), published."""
    from creditpersona.service.live import run_cycle_live
    from creditpersona.store.ingest import ingest
    from creditpersona.store.store import Store
    from creditpersona.synth import generate_bank

    gen = generate_bank(work / "data", 400, 11, years=3, txn_per_firm_year=30, fmt="parquet")
    store = work / "base.duckdb"
    with Store(store) as st:
        ingest(st, [gen.out_dir])
        run_cycle_live(st, gen.quarters[-1], work / "out", keep_report=False)
    return store


def replicate(snapshot: Path, target: Path, firms: int) -> int:
    """Write ``target``: the snapshot's tables with per-firm rows copied to ``firms`` firms."""
    with duckdb.connect(str(target)) as con:
        con.execute(f"ATTACH '{snapshot}' AS src (READ_ONLY)")
        base = con.execute("SELECT count(*) FROM src.firms").fetchone()[0]
        copies = -(-firms // base)
        con.execute("CREATE TEMP TABLE idmap AS SELECT firm_id, row_number() OVER "
                    "(ORDER BY firm_id) - 1 AS n FROM src.firms")
        con.execute(f"CREATE TEMP TABLE k AS SELECT range AS k FROM range({copies})")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
        ).fetchall()]
        for name in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
                "'src' AND table_name = ? ORDER BY ordinal_position", [name]).fetchall()]
            if "firm_id" not in cols and "loan_id" in cols:
                # Per-loan rows (repayments): copied with their loan, through its firm.
                picked = ", ".join("t.loan_id || '-' || k.k AS loan_id" if c == "loan_id"
                                   else f't."{c}"' for c in cols)
                con.execute(
                    f'CREATE TABLE "{name}" AS SELECT {picked} FROM src."{name}" t '
                    f"JOIN src.loans l USING (loan_id) JOIN idmap m ON m.firm_id = l.firm_id "
                    f"CROSS JOIN k WHERE m.n * {copies} + k.k < {firms}")
                continue
            if "firm_id" not in cols:
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM src."{name}"')
                continue
            new_id = f"printf('91%015dX', m.n * {copies} + k.k)"
            swaps = [f"{new_id} AS firm_id"]
            if name == "firms":
                swaps.append("t.name || '（复本' || k.k || '）' AS name")
            if name in ID_COLUMNS:
                col = ID_COLUMNS[name]
                swaps.append(f"t.{col} || '-' || k.k AS {col}")
            replaced = ", ".join(swaps)
            con.execute(
                f'CREATE TABLE "{name}" AS SELECT * REPLACE ({replaced}) FROM src."{name}" t '
                f"JOIN idmap m USING (firm_id) CROSS JOIN k "
                f"WHERE m.n * {copies} + k.k < {firms}")
        return int(con.execute("SELECT count(*) FROM firms").fetchone()[0])


def server_cpu_s(parent: int) -> float:
    """User + system CPU seconds of ``parent`` and its child processes (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == parent or int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {f"p{q}": round(float(np.percentile(a, q)), 1) for q in (50, 95, 99)}


async def phase(url: str, token: str, clients: int, seconds: float,
                request: Any) -> dict[str, Any]:
    """``clients`` tasks sending ``request(client, rng)`` until ``seconds`` have passed."""
    latencies: list[float] = []
    errors: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    stop = time.perf_counter() + seconds

    async def one(k: int) -> None:
        rng = random.Random(k)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await request(client, rng)
                latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code >= 300:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 1),
            "per_second": round(len(latencies) / wall, 1), **percentiles(latencies)}


def serve(work: Path, port: int, workers: int,
          src: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CREDITPERSONA_STORE": str(work / "bench.duckdb"),
           "CREDITPERSONA_SECRET": "bench-secret-" + "z" * 40, "OMP_NUM_THREADS": "1"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "creditpersona.service.asgi:app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level",
         "warning", "--no-access-log", "--timeout-worker-healthcheck", "600"], env=env)


def wait_ready(url: str, limit_s: float = 1800) -> None:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            r = httpx.get(f"{url}/healthz", timeout=60)
            if r.status_code == 200 and r.json()["as_of"]:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the service did not come up")


def measure(work: Path, ids: list[str], args: argparse.Namespace,
            src: Path | None) -> dict[str, Any]:
    """Start the service (from ``src`` if given), run the phases, stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(work, port, args.workers, src)
    try:
        t = time.perf_counter()
        wait_ready(url)
        startup = time.perf_counter() - t
        token = httpx.post(f"{url}/api/v1/auth/token", data={
            "username": "bench_officer", "password": PASSWORD}).json()["access_token"]

        async def firm360(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            return await client.get(f"/api/v1/firms/{rng.choice(ids)}")

        async def quote(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
            return await client.post("/api/v1/quotes", json={
                "firm_id": rng.choice(ids), "product": "working_capital",
                "amount": rng.choice([1e6, 5e6, 2e7]), "term_months": rng.choice([6, 12, 24])})

        results: dict[str, Any] = {"startup_s": round(startup, 1)}
        phases = {"firm_360": firm360, "quotes": quote}
        for name in args.phases.split(","):
            cpu = server_cpu_s(server.pid)
            load = os.getloadavg()[0]
            results[name] = asyncio.run(phase(url, token, args.clients, args.seconds,
                                              phases[name]))
            # Server CPU per request: what the numbers above would be on cores of our own.
            results[name]["server_cpu_ms_per_request"] = round(
                (server_cpu_s(server.pid) - cpu) * 1000 / max(results[name]["requests"], 1), 2)
            results[name]["load_average_1m"] = [round(load, 1),
                                                round(os.getloadavg()[0], 1)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--base", type=Path, help="A published store (default: build one).")
    parser.add_argument("--work", type=Path, help="Folder to keep (default: a temporary one).")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep a replicated snapshot already in --work.")
    parser.add_argument("--baseline-src", type=Path,
                        help="Measure the version in this src folder first (same run).")
    parser.add_argument("--phases", default="firm_360,quotes",
                        help="Comma-separated phases: firm_360, quotes.")
    args = parser.parse_args()

    from creditpersona.service.opstore import OpsStore, ops_path
    from creditpersona.service.snapshot import snapshot_path
    from creditpersona.service.users import add_user

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-service-"))
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    t = time.perf_counter()
    reuse = args.reuse and snapshot_path(work / "bench.duckdb").exists()
    base = args.base or (work / "unused" if reuse else build_base(work))
    built = time.perf_counter() - t
    store = work / "bench.duckdb"
    target = snapshot_path(store)
    t = time.perf_counter()
    if args.reuse and target.exists():
        with duckdb.connect(str(target), read_only=True) as con:
            n = int(con.execute("SELECT count(*) FROM firms").fetchone()[0])
    else:
        target.unlink(missing_ok=True)
        n = replicate(snapshot_path(base), target, args.firms)
        target.chmod(0o600)
    replicated = time.perf_counter() - t
    for suffix in ("", "-wal", "-shm"):  # a fresh operational store (no stale WAL)
        ops_path(store).with_name(ops_path(store).name + suffix).unlink(missing_ok=True)
    add_user(OpsStore(ops_path(store)), "bench_officer", "credit_officer", PASSWORD)
    with duckdb.connect(str(target), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT firm_id FROM pd_scores WHERE grade != 'D' "
                                         "AND CAST(as_of AS DATE) = (SELECT max(CAST(as_of "
                                         "AS DATE)) FROM pd_scores)").fetchall()]
    runs = {}
    versions = ([("baseline", args.baseline_src)] if args.baseline_src else []) + [
        ("this", None)]
    for label, src in versions:
        runs[label] = measure(work, ids, args, src)
    results = runs["this"]
    if args.baseline_src:
        results = {"baseline": runs["baseline"], "this": runs["this"], "ratio": {
            name: round(runs["this"][name]["per_second"]
                        / max(runs["baseline"][name]["per_second"], 1e-9), 2)
            for name in runs["this"] if isinstance(runs["this"][name], dict)}}
    from creditpersona.service.audit import verify

    ops = OpsStore(ops_path(store))
    audit_rows = ops.read("SELECT count(*) FROM audit")[0][0]
    results["audit_chain_ok"] = verify(ops).ok
    print(json.dumps({
        "firms": n, "clients": args.clients, "workers": args.workers,
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "base_build_s": round(built, 1), "replicate_s": round(replicated, 1),
        "audit_records": audit_rows, **results}, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
