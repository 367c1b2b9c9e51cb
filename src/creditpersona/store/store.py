"""The embedded store: one DuckDB file, read and written through Ibis.

The store holds one table per contract table (typed as the contract says, plus the
``load_id`` that brought each row), the quarantine, and the load log. Everything goes
through an Ibis backend so the same table expressions can later run on Spark.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from creditpersona.contract.schema import TABLES, Table
from creditpersona.errors import InsufficientDataError, StoreError
from creditpersona.safeio import others_can_write, private_dir

ENV_VAR = "CREDITPERSONA_STORE"
MEMORY_ENV_VAR = "CREDITPERSONA_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GB"
DEFAULT_PATH = Path("creditpersona.duckdb")
LOAD_LOG = "load_log"
QUARANTINE = "quarantine"
_IBIS_TYPES = {"string": "string", "int": "int64", "float": "float64", "date": "date",
               "bool": "boolean"}

LOAD_LOG_SCHEMA = ibis.schema({
    "load_id": "int64", "table_name": "string", "source_file": "string", "sha256": "string",
    "format": "string", "encoding": "string", "rows_read": "int64", "rows_loaded": "int64",
    "rows_quarantined": "int64", "started_at": "timestamp", "seconds": "float64",
    "status": "string", "version": "string",
})
QUARANTINE_SCHEMA = ibis.schema({
    "load_id": "int64", "table_name": "string", "source_file": "string",
    "row_number": "int64", "line": "int64", "row_key": "string", "rule": "string",
    "rules": "string", "field": "string", "message": "string", "raw_json": "string",
})


def resolve_path(path: str | Path | None = None) -> Path:
    """Where the store lives: ``path``, else ``$CREDITPERSONA_STORE``, else the default.

    The default is ``./creditpersona.duckdb``.

    Examples
    --------
    >>> resolve_path("/tmp/bank.duckdb").name
    'bank.duckdb'
    """
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def check_private(path: Path) -> None:
    """Refuse a store other users could swap or feed; create a missing folder owner-only.

    Whoever can write the store's folder can replace the store file or put a
    ``<store>.wal`` beside it, which DuckDB replays silently on the next open; whoever can
    write the file or its WAL can change what the models and the ledger say. So the folder,
    the file and its WAL must be writable by their owner only. A store path that is a
    symbolic link is refused too: the file would live in a folder these checks do not see,
    and the link itself can be swapped to another store.

    Raises
    ------
    StoreError
        If ``path`` is a symbolic link, or its folder, the file or ``<path>.wal`` is
        writable by the group or by others (the message gives the ``chmod`` to fix it).
    """
    if path.is_symlink():
        raise StoreError(f"{path}: is a symbolic link (to {os.path.realpath(path)}); a store "
                         "is opened only at its real path, in a folder only you can write. "
                         "Pass the real path instead.")
    folder = path.parent
    if not folder.exists():
        private_dir(folder)
    elif others_can_write(folder):
        raise StoreError(f"{folder}: the folder of the store {path.name} is writable by other "
                         f"users (mode {stat.S_IMODE(folder.stat().st_mode):o}); anyone who "
                         "can write it can swap the store or plant a .wal that DuckDB "
                         f"replays. Fix it with: chmod go-w {folder} (or keep the store in a "
                         "folder only you can write).")
    for file in (path, path.with_name(path.name + ".wal")):
        if file.is_symlink():
            raise StoreError(f"{file}: is a symbolic link; remove it (a store and its "
                             "write-ahead log are never read through a link).")
        if file.exists() and others_can_write(file):
            raise StoreError(f"{file}: is writable by other users (mode "
                             f"{stat.S_IMODE(file.stat().st_mode):o}); anyone could change "
                             f"what the store holds. Fix it with: chmod go-w {file}")


def arrow_frame(data: pa.Table, schema: ibis.Schema | None = None) -> pd.DataFrame:
    """The pandas frame Ibis' DuckDB backend makes of these Arrow rows (``execute``).

    Ibis turns the Arrow table DuckDB returns into pandas column by column (``to_pylist``
    for nested columns and for any column holding a null, else ``to_pandas``) and converts
    it to the expression's schema; the same steps run here, with two shortcuts giving the
    same arrays: a floating column with nulls is converted by Arrow (nulls become NaN, as
    the list does once in a frame) and a boolean or string column with nulls becomes one
    object array of the same values (True / False / str, None). Tests compare the result
    with ``execute``.

    Parameters
    ----------
    data : pyarrow.Table
        Rows as DuckDB returns them (or as they were written to it).
    schema : ibis.Schema, optional
        The expression's schema; default the one of ``data``.
    """
    from ibis.backends.duckdb.converter import DuckDBPandasData
    from ibis.formats.pandas import PandasData

    schema = ibis.Schema.from_pyarrow(data.schema) if schema is None else schema
    df = pd.DataFrame({name: _column(col) for name, col in zip(data.column_names,
                                                                data.columns, strict=True)})
    return PandasData.convert_table(DuckDBPandasData.convert_table(df, schema), schema)


def _column(col: pa.ChunkedArray) -> Any:
    """One column as Ibis' DuckDB ``execute`` reads it (see :func:`arrow_frame`)."""
    if pa.types.is_nested(col.type) or pa.types.is_dictionary(col.type):
        return col.to_pylist()
    if not col.null_count or pa.types.is_floating(col.type):
        return col.to_pandas()
    if pa.types.is_boolean(col.type) or pa.types.is_string(col.type):
        return col.to_numpy(zero_copy_only=False)
    return col.to_pylist()


class PendingFrame:
    """Rows of a query DuckDB computes in a thread of its own while Python goes on
    (:meth:`Store.execute_later`); :meth:`result` waits and returns ``execute``'s frame."""

    def __init__(self, store: Store, expr: ir.Table) -> None:
        self._schema = expr.schema()
        sql = store.con.compile(expr)
        cursor = store.con.con.cursor()  # its own connection to the same database
        self._out: list[pa.Table] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._out.append(cursor.sql(sql).to_arrow_table())
            except BaseException as exc:  # handed to the caller by result()
                self._error.append(exc)
            finally:
                cursor.close()

        self._thread = threading.Thread(target=run, name="creditpersona-query", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait until the query is done (or failed)."""
        self._thread.join()

    def result(self) -> pd.DataFrame:
        """The rows, as ``expr.execute()`` returns them; the query's error if it failed."""
        self._thread.join()
        if self._error:
            raise self._error[0]
        return arrow_frame(self._out.pop(), self._schema)


def contract_schema(table: Table) -> ibis.Schema:
    """The store schema of a contract table: its fields and ``load_id``."""
    return ibis.schema(
        {**{f.name: _IBIS_TYPES[f.dtype] for f in table.fields}, "load_id": "int64"}
    )



def out_of_memory_error(exc: BaseException) -> StoreError:
    """What to tell a user whose command ran out of the memory DuckDB may use.

    Examples
    --------
    >>> out_of_memory_error(MemoryError("x")).args[0].startswith("DuckDB needed more memory")
    True
    """
    limit = os.environ.get(MEMORY_ENV_VAR, DEFAULT_MEMORY_LIMIT)
    return StoreError(
        f"DuckDB needed more memory than the store may use ({MEMORY_ENV_VAR}={limit}): "
        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. Set "
        f"{MEMORY_ENV_VAR} higher (e.g. 8GB; at most about half of the machine's memory) "
        "and run the command again; results of a stage that did not finish are not saved."
    )

class Store:
    """A creditpersona store in one DuckDB file.

    Parameters
    ----------
    path : str or Path, optional
        The DuckDB file; see :func:`resolve_path`.
    read_only : bool
        Open without the right to write (several readers may share the file).

    Examples
    --------
    >>> with Store(":memory:") as store:
    ...     int(store.table("firms").count().execute())
    0
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = resolve_path(path)
        self.read_only = read_only
        memory = str(self.path) == ":memory:"
        if read_only and not memory and not self.path.exists():
            raise StoreError(f"{self.path}: no store here; run `creditpersona ingest` first.")
        created = False
        if not memory:
            check_private(self.path)
            created = not self.path.exists()
        try:
            self.con = ibis.duckdb.connect(str(self.path), read_only=read_only)
        except Exception as exc:  # duckdb raises its own IOException types
            raise StoreError(f"{self.path}: cannot open the store ({exc}).") from exc
        if created and self.path.exists():
            os.chmod(self.path, 0o600)
        # Bound DuckDB's own memory (it spills to disk past the limit) so that a twenty-
        # million-row load fits a small machine; insertion order is not part of the contract.
        limit = os.environ.get(MEMORY_ENV_VAR, DEFAULT_MEMORY_LIMIT)
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", limit):
            raise StoreError(
                f"{MEMORY_ENV_VAR}={limit!r} is not a memory size; use e.g. 2GB or 512MB."
            )
        self.memory_limit = limit
        self.con.raw_sql(f"SET memory_limit = '{limit}'")
        self.con.raw_sql("SET preserve_insertion_order = false")
        if not read_only:
            self._ensure_schema()
            self.discard_unfinished_loads()

    def _ensure_schema(self) -> None:
        existing = set(self.con.list_tables())
        for t in TABLES:
            if t.name not in existing:
                self.con.create_table(t.name, schema=contract_schema(t))
            elif any(f.added for f in t.fields):
                self._add_columns(t)
        if LOAD_LOG not in existing:
            self.con.create_table(LOAD_LOG, schema=LOAD_LOG_SCHEMA)
        if QUARANTINE not in existing:
            self.con.create_table(QUARANTINE, schema=QUARANTINE_SCHEMA)

    def _add_columns(self, table: Table) -> None:
        """Add the contract's later fields to a table created before them (empty)."""
        have = set(self.con.table(table.name).columns)
        sql = {"string": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN",
               "date": "DATE"}
        for f in table.fields:
            if f.added and f.name not in have:
                self.con.raw_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{f.name}" '
                                 f"{sql[f.dtype]}")

    def discard_unfinished_loads(self) -> int:
        """Remove rows whose load never reached the load log (a load that failed midway).

        Returns
        -------
        int
            The number of rows removed.
        """
        removed = 0
        for name in (*(t.name for t in TABLES), QUARANTINE):
            query = (f'DELETE FROM "{name}" WHERE load_id NOT IN '
                     f'(SELECT load_id FROM "{LOAD_LOG}")')
            result = self.con.raw_sql(query).fetchone()
            removed += int(result[0]) if result else 0
        return removed

    def table(self, name: str) -> ir.Table:
        """An Ibis table of the store."""
        return self.con.table(name)

    def execute_later(self, expr: ir.Table) -> PendingFrame:
        """Start computing a table expression of the store's tables in DuckDB, in a thread
        (DuckDB releases the GIL while it works); ``.result()`` gives ``expr.execute()``'s
        frame. The expression must read only the store's tables (no in-memory table)."""
        return PendingFrame(self, expr)

    def require_rows(self, tables: tuple[str, ...], purpose: str) -> None:
        """Check that each of ``tables`` holds rows before a stage reads them.

        Raises
        ------
        InsufficientDataError
            Naming the tables that are missing or empty and the files to load.
        """
        existing = set(self.con.list_tables())
        empty = [t for t in tables
                 if t not in existing or int(self.table(t).count().execute()) == 0]
        if empty:
            files = " ".join(f"{t}.csv" for t in empty)
            raise InsufficientDataError(
                f"{self.path}: {purpose} needs rows in the table(s) {', '.join(empty)}, which "
                f"the store does not hold: load them (creditpersona ingest {files} --store "
                f"{self.path}, or a folder holding them) and run it again.")

    def next_load_id(self) -> int:
        """The id the next load will get."""
        top = self.con.con.execute(f'SELECT max(load_id) FROM "{LOAD_LOG}"').fetchone()
        return 1 if top is None or top[0] is None else int(top[0]) + 1

    def loaded(self, table: str, sha256: str) -> int | None:
        """The load id that already brought this file into ``table``, if any."""
        hit = self.con.con.execute(
            f'SELECT min(load_id) FROM "{LOAD_LOG}" WHERE table_name = $1 AND sha256 = $2 '
            "AND status = 'loaded'", [table, sha256]).fetchone()
        return None if hit is None or hit[0] is None else int(hit[0])

    def status(self) -> pd.DataFrame:
        """Rows held, loads and quarantined rows per contract table."""
        log = self.table(LOAD_LOG).to_pandas()
        quarantine = self.table(QUARANTINE)
        q = quarantine.group_by("table_name").agg(n=quarantine.count()).to_pandas()
        qn = dict(zip(q.table_name, q.n, strict=True))
        rows = []
        for t in TABLES:
            mine = log[log.table_name == t.name]
            rows.append({
                "table": t.name,
                "rows": int(self.table(t.name).count().execute()),
                "loads": int(len(mine)),
                "quarantined": int(qn.get(t.name, 0)),
                "last_load": mine.started_at.max() if len(mine) else pd.NaT,
            })
        return pd.DataFrame(rows)

    def close(self) -> None:
        """Close the connection (the file stays)."""
        self.con.disconnect()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
