"""The read-only snapshot the service answers from, published atomically after each cycle.

While ``creditpersona run`` writes the DuckDB store, no other process may open it, not even to
read. So the cycle, once its results are stored, copies what the service reads into
``<store>.serving.duckdb``: written to a temporary file beside it and moved over it with
``os.replace``. The service opens the snapshot read-only; a new one replaces the file's
directory entry, never its bytes, so a reader holding the old file keeps reading a complete
quarter and the next request sees the new one. Transactions (the largest table, which the
service never shows) are left out; the statement inputs of the latest quarter, which the limit
what-if needs, are added as ``service_statements``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from creditpersona.safeio import private_dir
from creditpersona.store.store import Store

#: Tables the service never reads (the largest inputs and the model artefacts).
SKIPPED = ("transactions", "quarantine", "load_log", "model_registry")
STATEMENTS = "service_statements"
PERSONA_RULES = "service_persona_rules"
_RULE_COLUMNS = ("persona_id", "rule_zh", "rule_en", "firms", "purity")


def snapshot_path(store_path: str | Path) -> Path:
    """Where the serving snapshot of a store lives: ``<store>.serving.duckdb``.

    Examples
    --------
    >>> snapshot_path("/data/bank.duckdb").name
    'bank.duckdb.serving.duckdb'
    """
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".serving.duckdb")


def reports_dir(store_path: str | Path) -> Path:
    """Where the reports of completed runs are kept: ``<store>.reports/``.

    Examples
    --------
    >>> reports_dir("/data/bank.duckdb").name
    'bank.duckdb.reports'
    """
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".reports")


def _latest_completed(con: duckdb.DuckDBPyConnection, catalog: str) -> dt.date | None:
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ?",
        [catalog]).fetchall()}
    if "cycle_runs" not in tables:
        return None
    row = con.execute(f'SELECT max(as_of) FROM "{catalog}".main.cycle_runs '
                      "WHERE status = 'completed'").fetchone()
    return None if row is None or row[0] is None else row[0]


def _copy(con: duckdb.DuckDBPyConnection, catalog: str, target: Path) -> dt.date | None:
    """Copy the served tables of ``catalog`` into a new DuckDB file ``target``."""
    con.execute(f"ATTACH '{target}' AS serving_snapshot")
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? "
            "AND table_schema = 'main' AND table_type = 'BASE TABLE'", [catalog]).fetchall()]
        for name in tables:
            if name not in SKIPPED:
                con.execute(f'CREATE TABLE serving_snapshot.main."{name}" AS '
                            f'SELECT * FROM "{catalog}".main."{name}"')
        as_of = _latest_completed(con, catalog)
    finally:
        con.execute("DETACH serving_snapshot")
    return as_of


def _add_statements(target: Path, store: Store, as_of: dt.date | None,
                    rules: pd.DataFrame | None = None) -> None:
    from creditpersona.decisions.limits import statement_inputs

    frame = None
    if as_of is not None:
        frame = statement_inputs({"financial_statements": store.table("financial_statements")},
                                 as_of)
    if rules is None or not len(rules):
        rules = pd.DataFrame({c: pd.Series(dtype=float if c in ("firms", "purity") else str)
                              for c in _RULE_COLUMNS})
    rules = rules[list(_RULE_COLUMNS)]
    with duckdb.connect(str(target)) as con:
        if frame is None:
            con.execute(f"CREATE TABLE {STATEMENTS} (firm_id VARCHAR)")
        else:
            con.register("statements_frame", frame)
            con.execute(f"CREATE TABLE {STATEMENTS} AS SELECT * FROM statements_frame")
        con.register("rules_frame", rules)
        con.execute(f"CREATE TABLE {PERSONA_RULES} AS SELECT * FROM rules_frame")


def _reserve(final: Path) -> Path:
    private_dir(final.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=final.name + ".", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # DuckDB creates the file itself; mkstemp only reserved an unused name
    return tmp


def _finish(tmp: Path, final: Path) -> Path:
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)
    return final


def _discard(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


def publish(store: Store, persona_rules: pd.DataFrame | None = None) -> Path:
    """Copy the store's served tables into its snapshot, replacing the last one atomically.

    Call it with the store the cycle wrote (the same process and connection: DuckDB lets no
    other process in while it writes). ``persona_rules`` are the quarter's readable persona
    rules (the surrogate tree's leaves: ``persona_id``, ``rule_zh``, ``rule_en``, ``firms``,
    ``purity``), which the store keeps only in the run's checkpoint.

    Returns
    -------
    Path
        The snapshot file.
    """
    final = snapshot_path(store.path)
    tmp = _reserve(final)
    try:
        raw = store.con.con
        row = raw.execute("SELECT current_database()").fetchone()
        catalog = str(row[0]) if row else "memory"
        raw.execute("CHECKPOINT")
        as_of = _copy(raw, catalog, tmp)
        _add_statements(tmp, store, as_of, persona_rules)
        return _finish(tmp, final)
    finally:
        _discard(tmp)


def publish_path(store_path: str | Path) -> Path:
    """Publish the snapshot of a store no process is writing (``serve`` on a fresh store)."""
    store_path = Path(store_path)
    final = snapshot_path(store_path)
    tmp = _reserve(final)
    try:
        # A read-only DuckDB instance cannot create the snapshot file: copy from an in-memory
        # instance that attaches the store read-only.
        with duckdb.connect() as con:
            con.execute(f"ATTACH '{store_path}' AS source_store (READ_ONLY)")
            as_of = _copy(con, "source_store", tmp)
            con.execute("DETACH source_store")
        with Store(store_path, read_only=True) as st:
            _add_statements(tmp, st, as_of)
        return _finish(tmp, final)
    finally:
        _discard(tmp)
