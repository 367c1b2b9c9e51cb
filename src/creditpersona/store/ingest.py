"""Load source files into the store: every row is either loaded or quarantined.

One file is one load: its good rows go to the contract table, its bad rows to the quarantine
with the reason, and the load log records the file, its SHA-256 and the counts; the log row,
written last, commits the load (a load that fails midway leaves nothing behind). A file whose
bytes were already loaded into the same table is skipped, so ingesting the same file twice
changes nothing.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import glob
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends.sql.datatypes import DuckDBType

from creditpersona import __version__
from creditpersona.contract import readers, schema, validate
from creditpersona.contract.validate import quote_identifier as _quote
from creditpersona.errors import SchemaError, StoreError, parameter_error
from creditpersona.store.store import (
    LOAD_LOG,
    LOAD_LOG_SCHEMA,
    MEMORY_ENV_VAR,
    QUARANTINE,
    Store,
)

_ORDER = {t.name: i for i, t in enumerate(schema.TABLES)}
#: Rows read and parsed at a time (about 0.25 GB of Arrow text for transactions).
BATCH_ROWS = 2_000_000
#: Rows checked across rows and loaded at a time: a file is staged in the store's temporary
#: space a chunk at a time (a 270-million-row file staged whole filled 40 GB of disk).
CHUNK_ROWS = 10_000_000


@dataclass(frozen=True)
class LoadResult:
    """What one file did to the store."""

    table: str
    path: Path
    load_id: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    seconds: float
    skipped: bool = False

    @property
    def balanced(self) -> bool:
        """Loaded + quarantined = read: nothing was lost."""
        return self.rows_loaded + self.rows_quarantined == self.rows_read


def plan(paths: Iterable[str | Path], table: str | None = None) -> list[tuple[Path, str]]:
    """Files to load and their tables, parents before children.

    A directory contributes the files directly inside it whose name (without suffix) is a
    contract table, such as ``firms.csv`` or ``transactions.parquet``; other files there are
    left alone. A file named explicitly must be named after its table, or ``table`` must say
    which table it feeds.

    A path that does not exist but holds ``*``, ``?`` or ``[`` is a pattern (for callers
    that pass it unexpanded).

    Raises
    ------
    SchemaError
        If a path does not exist, a folder or pattern holds nothing to load, or a file's
        table cannot be told.
    """
    found: list[tuple[Path, str]] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            inside = [(child, child.stem.lower()) for child in sorted(p.iterdir())
                      if child.is_file() and child.suffix.lower() in readers.FORMATS
                      and child.stem.lower() in schema.TABLES_BY_NAME]
            if not inside:
                raise SchemaError(
                    f"{p}: the folder holds no file to load; it needs files named after "
                    f"contract tables ({', '.join(t + '.csv' for t in list(_ORDER)[:2])}, …) "
                    f"ending in {', '.join(sorted(readers.FORMATS))}.")
            found.extend(inside)
        elif p.is_file():
            name = table or p.stem.lower()
            if name not in schema.TABLES_BY_NAME:
                raise SchemaError(
                    f"{p}: cannot tell which contract table this file feeds; name it after "
                    f"the table (e.g. firms.csv) or pass --table with one of "
                    f"{', '.join(schema.TABLES_BY_NAME)}."
                )
            found.append((p, name))
        elif glob.has_magic(str(p)):
            matches = sorted(Path(m) for m in glob.glob(str(p)))
            if not matches:
                raise SchemaError(f"{p}: the pattern matches no file; check the path.")
            found.extend(plan(matches, table))
        else:
            raise SchemaError(f"{p}: no such file or directory.")
    return sorted(found, key=lambda pair: (_ORDER[pair[1]], str(pair[0])))


def ingest_file(
    store: Store,
    path: str | Path,
    table: str | None = None,
    *,
    encoding: str | None = None,
    batch_rows: int = BATCH_ROWS,
    chunk_rows: int = CHUNK_ROWS,
) -> LoadResult:
    """Validate one file and load it: good rows to its table, bad rows to the quarantine.

    Parameters
    ----------
    store : Store
        An open, writable store.
    path : str or Path
        A CSV (UTF-8 or GBK/GB18030), Parquet or Excel file.
    table : str, optional
        The contract table; by default the file's name without suffix.
    encoding : str, optional
        Force a CSV encoding instead of detecting it.
    batch_rows : int
        Rows read and parsed at a time; memory grows with this, not with the file.
    chunk_rows : int
        Rows checked and loaded at a time (whole batches, so a chunk may hold up to
        ``batch_rows - 1`` more); the temporary space the checks need grows with this and
        with the file's key columns, not with its whole width.

    Returns
    -------
    LoadResult
    """
    for name, value in (("batch_rows", batch_rows), ("chunk_rows", chunk_rows)):
        if value < 1:
            raise parameter_error(name, "ingest_file", "a positive integer", value)
    p = Path(path)
    contract = schema.table(table or p.stem.lower())
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise parameter_error("encoding", "ingest", "an encoding Python knows, such as "
                                  "utf-8, gbk or gb18030", encoding) from None
    started = dt.datetime.now()
    clock = time.perf_counter()
    sha = readers.sha256_of(p)
    earlier = store.loaded(contract.name, sha)
    if earlier is not None:
        return LoadResult(contract.name, p, earlier, 0, 0, 0, 0.0, skipped=True)
    fmt = readers.file_format(p)
    try:
        return _load(store, p, contract, fmt, encoding, sha, started, clock, batch_rows,
                         chunk_rows)
    except readers.RereadNeeded:
        pass
    # Not all UTF-8: a file all in GBK/GB18030 (most bank exports) is still read fast.
    if encoding is None and readers.single_encoding(p) == "gb18030":
        try:
            return _load(store, p, contract, fmt, "gb18030", sha, started, clock, batch_rows,
                         chunk_rows)
        except readers.RereadNeeded:
            pass
    # Lines in different encodings, a row with the wrong number of fields or a quote that
    # may not close: read it again line by line, each line in the encoding it is valid in,
    # setting aside the rows that cannot be read.
    return _load(store, p, contract, fmt, encoding, sha, started, clock, batch_rows,
                 chunk_rows, careful=True)


def _load(
    store: Store,
    p: Path,
    contract: schema.Table,
    fmt: str,
    encoding: str | None,
    sha: str,
    started: dt.datetime,
    clock: float,
    batch_rows: int,
    chunk_rows: int,
    *,
    careful: bool = False,
) -> LoadResult:
    con = store.con
    load_id = store.next_load_id()
    names = _Staging(contract.name, load_id)
    # No transaction around the load: DuckDB keeps a transaction's inserts in memory, which
    # at twenty million rows costs gigabytes. The load-log row, written last, commits the
    # load instead; rows of a load without one are removed here on failure and by the store
    # when it is next opened.
    try:
        notes = readers.ReadNotes()
        pieces = iter(readers.iter_batches(p, fmt, encoding, batch_rows, notes, careful=careful))
        rows_read = 0
        while (chunk := _parse_pieces(store, p, contract, pieces, chunk_rows, names)) is not None:
            compiled, rows, flagged = chunk
            _load_chunk(store, p, contract, fmt, load_id, compiled, names, flagged=flagged,
                        more=rows >= chunk_rows)
            rows_read += rows
        rejected = validate.describe_rejected(notes.rejected, contract, str(p), fmt)
        if len(rejected):
            con.insert(QUARANTINE, rejected.assign(load_id=load_id)[
                ["load_id", *validate.QUARANTINE_COLUMNS]].astype({"line": "Int64"}))
        rows_read += len(rejected)
        counted = con.con.execute(f"SELECT count(*) FROM {_quote(QUARANTINE)} WHERE load_id = $1",
                                  [load_id]).fetchone()
        quarantined = int(counted[0]) if counted else 0
        rows_loaded = rows_read - quarantined
        seconds = time.perf_counter() - clock
        log = {
            "load_id": load_id, "table_name": contract.name, "source_file": str(p),
            "sha256": sha, "format": fmt,
            "encoding": ("+".join(notes.encodings) or "utf-8") if fmt == "csv" else None,
            "rows_read": rows_read, "rows_loaded": rows_loaded,
            "rows_quarantined": quarantined, "started_at": started, "seconds": seconds,
            "status": "loaded", "version": __version__,
        }
        _insert_log(con.con, log)
    except duckdb.OutOfMemoryException as exc:
        store.discard_unfinished_loads()
        raise StoreError(
            f"{p}: loading table {contract.name} needed more memory than the store may use "
            f"({MEMORY_ENV_VAR}={store.memory_limit}); nothing of this file was loaded. "
            f"Set {MEMORY_ENV_VAR} higher (e.g. 8GB; at most about half of the machine's "
            "memory) and ingest the file again."
        ) from exc
    except BaseException:
        store.discard_unfinished_loads()
        raise
    finally:
        con.con.execute(f"DROP VIEW IF EXISTS {_quote(names.existing)}")
        for name in names.all():
            con.con.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
    return LoadResult(contract.name, p, load_id, rows_read, rows_loaded, quarantined, seconds)


def _insert_log(db: duckdb.DuckDBPyConnection, log: dict[str, object]) -> None:
    """Write a load's log row (which commits the load), its values as parameters."""
    columns = list(LOAD_LOG_SCHEMA.names)
    db.execute(f"INSERT INTO {_quote(LOAD_LOG)} ({', '.join(map(_quote, columns))}) VALUES "
               f"({', '.join(f'${i + 1}' for i in range(len(columns)))})",
               [log[c] for c in columns])


def _insert_good(db: duckdb.DuckDBPyConnection, contract: schema.Table,
                 local: tuple[validate.Check, ...], parsed: str, flagged: list[str],
                 load_id: int) -> None:
    """Load a chunk's good rows into the contract table."""
    db.execute(validate.good_rows_sql(contract, local, parsed, flagged), [load_id])


@dataclass(frozen=True)
class _Staging:
    """Names of one load's temporary tables and views."""

    table: str
    load_id: int

    @property
    def parsed(self) -> str:
        """The chunk's parsed rows and row-local flags."""
        return f"_parsed_{self.table}_{self.load_id}"

    @property
    def raw(self) -> str:
        """The raw text of the chunk's flagged rows."""
        return f"_raw_{self.table}_{self.load_id}"

    @property
    def keys(self) -> str:
        """Key and row number of every row of the file's earlier chunks."""
        return f"_keys_{self.table}_{self.load_id}"

    @property
    def piece(self) -> str:
        """The view of the piece of the file being parsed (its Arrow data)."""
        return f"_piece_{self.table}_{self.load_id}"

    @property
    def existing(self) -> str:
        """The view of the table's rows of earlier loads."""
        return f"_existing_{self.table}_{self.load_id}"

    def flagged(self, column: str) -> str:
        """The rows a cross-row check flags."""
        return f"_set_{self.table}_{self.load_id}_{column}"

    def all(self) -> tuple[str, str, str]:
        """The tables that live as long as the load."""
        return self.parsed, self.raw, self.keys


# The checks are Ibis expressions (contract/validate.py); building and compiling them costs
# about half a second per file and table whatever its size, so each is compiled to DuckDB
# SQL once per contract table and input schema, against these placeholder table names, and
# a load binds the placeholders to its own tables (:func:`_bind`). Only names the code makes
# are bound; data reaches DuckDB as Arrow views and parameters, never inside the SQL.
_PIECE = "__creditpersona_piece__"
_PARSED = "__creditpersona_parsed__"
_EXISTING = "__creditpersona_existing__"
_EARLIER = "__creditpersona_earlier__"


def _parent_placeholder(reference: str) -> str:
    """The placeholder name of the parent table of a ``table.field`` reference."""
    return f"__creditpersona_parent_{reference.split('.')[0]}__"


def _bind(sql: str, names: dict[str, str]) -> str:
    """``sql`` with each placeholder table name replaced by the load's own table."""
    for placeholder, real in names.items():
        sql = sql.replace(_quote(placeholder), _quote(real))
    return sql


def _columns_sql(table_schema: ibis.Schema) -> str:
    """The column definitions of a table of ``table_schema``, as Ibis would create it."""
    defs = table_schema.to_sqlglot_column_defs("duckdb")
    for column in defs:
        column.set("constraints", [])  # Ibis's temporary tables end without constraints
    return ", ".join(column.sql("duckdb") for column in defs)


@dataclass(frozen=True)
class _Parse:
    """The parse-and-flag query of a contract table for pieces of one Arrow schema."""

    select: str
    local: tuple[validate.Check, ...]
    parsed: ibis.Schema
    columns: str


@functools.lru_cache(maxsize=64)
def _compiled_parse(contract: schema.Table, piece: ibis.Schema) -> _Parse:
    """:func:`validate.parse` of a piece of schema ``piece``, compiled once."""
    expr, local = validate.parse(ibis.table(piece, name=_PIECE), contract)
    parsed = expr.schema()
    return _Parse(ibis.to_sql(expr, dialect="duckdb", pretty=False), local, parsed,
                  _columns_sql(parsed))


@dataclass(frozen=True)
class _Cross:
    """The cross-row queries of a chunk: per check column, its rows' query and columns."""

    checks: tuple[validate.Check, ...]
    sets: tuple[tuple[str, str, str], ...]
    keys: tuple[str, str]


#: A table's columns as DuckDB describes them: (name, type, nullable) per column.
_Described = tuple[tuple[str, str, bool], ...]


def _describe(db: duckdb.DuckDBPyConnection, name: str) -> _Described:
    """The columns of table ``name`` (a cache key cheaper than an Ibis schema)."""
    rows = db.execute(f"DESCRIBE {_quote(name)}").fetchall()
    return tuple((str(r[0]), str(r[1]), r[2] == "YES") for r in rows)


def _ibis_schema(described: _Described) -> ibis.Schema:
    """The Ibis schema of a described table (as ``get_schema`` makes it)."""
    return ibis.schema({name: DuckDBType.from_string(typ, nullable=nullable)
                        for name, typ, nullable in described})


@functools.lru_cache(maxsize=64)
def _compiled_cross(contract: schema.Table, parse: _Parse,
                    parents: tuple[tuple[str, _Described], ...], existing: _Described,
                    earlier: _Described | None) -> _Cross:
    """:func:`validate.cross_row_checks` and :func:`validate.chunk_keys` of a chunk, compiled
    once per parse and shape of the store's tables (``earlier``: the file's earlier chunks'
    keys, if any)."""
    parsed = ibis.table(parse.parsed, name=_PARSED)
    cross, sets = validate.cross_row_checks(
        parsed, contract,
        {ref: ibis.table(_ibis_schema(s), name=_parent_placeholder(ref)) for ref, s in parents},
        ibis.table(_ibis_schema(existing), name=_EXISTING), len(parse.local),
        earlier=None if earlier is None else ibis.table(_ibis_schema(earlier), name=_EARLIER))
    keys = validate.chunk_keys(parsed, contract)
    return _Cross(
        cross,
        tuple((column, ibis.to_sql(rows, dialect="duckdb", pretty=False),
               _columns_sql(rows.schema())) for column, rows in sets.items()),
        (ibis.to_sql(keys, dialect="duckdb", pretty=False), _columns_sql(keys.schema())))


@functools.lru_cache(maxsize=64)
def _raw_columns(contract: schema.Table) -> str:
    """The column definitions of the raw-text table of ``contract``."""
    return _columns_sql(validate.raw_schema(contract))


def _fill(db: duckdb.DuckDBPyConnection, name: str, columns: str, select: str | None,
          *, create: bool) -> int:
    """Create the temporary table ``name`` (``columns``) and/or append ``select`` to it (by
    column name, as Ibis inserts); the number of rows appended."""
    if create:
        db.execute(f"CREATE OR REPLACE TEMP TABLE {_quote(name)} ({columns})")
    if select is None:
        return 0
    done = db.execute(f"INSERT INTO {_quote(name)} BY NAME {select}").fetchone()
    return int(done[0]) if done else 0


def _load_chunk(store: Store, p: Path, contract: schema.Table, fmt: str, load_id: int,
                parse: _Parse, names: _Staging, *, flagged: int, more: bool) -> None:
    """Check one chunk of the file across rows and load it: good rows to the table, bad rows
    with their messages to the quarantine (``flagged`` rows break a row-local check; the
    quarantine query, slow to plan, runs only when some row is bad).

    Duplicates are found against the rows of earlier loads (by the load holding the key)
    and against the file's earlier chunks (by the row read first); when ``more`` chunks may
    follow, this chunk's keys join the earlier ones.
    """
    con = store.con
    db = con.con
    references = [f.references for f in contract.fields if f.references]
    earlier = bool(db.execute("SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = $1",
                              [names.keys]).fetchall())
    db.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(names.existing)} AS SELECT * FROM "
               f"{_quote(contract.name)} WHERE load_id <> {int(load_id)}")
    cross = _compiled_cross(
        contract, parse,
        tuple((ref, _describe(db, ref.split(".")[0])) for ref in references),
        _describe(db, contract.name), _describe(db, names.keys) if earlier else None)
    bound = {_PARSED: names.parsed, _EXISTING: names.existing, _EARLIER: names.keys,
             **{_parent_placeholder(ref): ref.split(".")[0] for ref in references}}
    set_names = {column: names.flagged(column) for column, _, _ in cross.sets}
    try:
        for column, select, columns in cross.sets:
            flagged += _fill(db, set_names[column], columns, _bind(select, bound), create=True)
        _insert_good(db, contract, parse.local, names.parsed, list(set_names.values()),
                     load_id)
        if flagged:
            db.execute(
                validate.quarantine_sql(contract, parse.local, cross.checks, names.parsed,
                                        names.raw, set_names, fmt),
                [load_id, str(p)])
    finally:
        for name in set_names.values():
            db.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
    if more:
        select, columns = cross.keys
        _fill(db, names.keys, columns, _bind(select, bound), create=not earlier)


def _parse_pieces(store: Store, p: Path, contract: schema.Table,
                  pieces: Iterator[pa.Table], chunk_rows: int, names: _Staging,
                  ) -> tuple[_Parse, int, int] | None:
    """Parse and flag the next chunk of the file, piece by piece, into the temporary tables
    ``names.parsed`` and ``names.raw``; ``None`` when the file has no more pieces.

    Pieces are taken until the chunk holds ``chunk_rows`` rows. Each piece is parsed and
    flagged in one pass (DuckDB scans the Arrow data in place) and appended to a typed
    temporary table; the raw text of its flagged rows goes to another, for the messages.
    The chunk's cross-row checks, load and quarantine then read those tables. Returns the
    parse (its query, row-local checks and the parsed table's schema), the rows read and
    the rows flagged.
    """
    db = store.con.con
    rows_read = flagged = 0
    parse: _Parse | None = None
    _fill(db, names.raw, _raw_columns(contract), None, create=True)
    for piece in pieces:
        data = validate.conform(piece, contract, str(p))
        del piece
        first = parse is None
        parse = _compiled_parse(contract, ibis.Schema.from_pyarrow(data.schema))
        db.register(names.piece, data)
        try:
            _fill(db, names.parsed, parse.columns, _bind(parse.select, {_PIECE: names.piece}),
                  create=first)
        finally:
            db.unregister(names.piece)
        rows_read += data.num_rows
        if data.num_rows:
            numbers = data.column(validate.ROW)
            flags = " OR ".join(_quote(c.column) for c in parse.local) or "false"
            bad_here = db.execute(
                f"SELECT {validate.ROW} FROM {_quote(names.parsed)} WHERE {validate.ROW} "
                f"BETWEEN $1 AND $2 AND ({flags})",
                [pc.min(numbers).as_py(), pc.max(numbers).as_py()]).fetchnumpy()[validate.ROW]
            flagged += len(bad_here)
            if len(bad_here):
                raw = validate.raw_text(data, contract, bad_here)
                db.register(names.piece, raw)
                try:
                    db.execute(f"INSERT INTO {_quote(names.raw)} BY NAME SELECT * FROM "
                               f"{_quote(names.piece)}")
                finally:
                    db.unregister(names.piece)
        del data
        if rows_read >= chunk_rows:
            break
    if parse is None:
        return None
    return parse, rows_read, flagged


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    table: str | None = None,
    encoding: str | None = None,
    on_file: Callable[[LoadResult], None] | None = None,
) -> list[LoadResult]:
    """Ingest files and directories in dependency order (see :func:`plan`).

    Parameters
    ----------
    store : Store
        An open, writable store.
    paths : iterable of str or Path
        Files, or directories holding files named after contract tables.
    table : str, optional
        The contract table for explicitly named files whose names do not say it.
    encoding : str, optional
        Force a CSV encoding.
    on_file : callable, optional
        Called with each :class:`LoadResult` as soon as its file is done.

    Returns
    -------
    list of LoadResult
    """
    results = []
    for path, name in plan(paths, table):
        result = ingest_file(store, path, name, encoding=encoding)
        if on_file is not None:
            on_file(result)
        results.append(result)
    return results
