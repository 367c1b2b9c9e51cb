"""Read a source file into an Arrow table, keeping every row and its position.

CSV in UTF-8 or GBK/GB18030 (bank exports are often GBK), Parquet and Excel. CSV and Excel
columns are read as text so that the validator, not the reader, decides what is parseable;
nothing is dropped or coerced here. A ``_row`` column holds the 1-based data-row number
(the header excluded) so every quarantined row can be traced back to its file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from creditpersona.errors import SchemaError

ROW_COLUMN = "_row"
FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "excel", ".xlsm": "excel"}
_CHUNK = 1 << 24


class NotUTF8Error(SchemaError):
    """A CSV file read as UTF-8 holds bytes that are not UTF-8."""


@dataclass(frozen=True)
class SourceFile:
    """A file read for ingestion."""

    path: Path
    format: str
    encoding: str | None
    sha256: str
    data: pa.Table


def file_format(path: Path) -> str:
    """The reader format for ``path`` from its suffix.

    Raises
    ------
    SchemaError
        For a suffix no reader handles.
    """
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise SchemaError(
            f"{path}: cannot read files ending in {path.suffix!r}; "
            f"use one of {', '.join(sorted(FORMATS))}."
        ) from None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _header(path: Path, encoding: str) -> list[str]:
    try:
        with path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding,
                       newline="") as fh:
            first = next(csv.reader(io.StringIO(fh.readline())), [])
    except UnicodeDecodeError as exc:
        raise NotUTF8Error(f"{path}: the header is not {encoding} ({exc}).") from exc
    return [c.strip() for c in first]


def _with_rows(data: pa.Table) -> pa.Table:
    rows = np.arange(1, data.num_rows + 1, dtype=np.int64)
    return data.append_column(ROW_COLUMN, pa.array(rows))


def read_csv(path: Path, encoding: str | None = None) -> tuple[pa.Table, str]:
    """Read a CSV file with every column as nullable text.

    Without an ``encoding`` the file is read as UTF-8 (a BOM is allowed) and, if that fails
    because the bytes are not UTF-8, again as GB18030, a superset of GBK and GB2312. Arrow
    validates the UTF-8 while it parses, so detection costs nothing for UTF-8 files.

    Returns
    -------
    (pyarrow.Table, str)
        The data with its ``_row`` column, and the encoding used.
    """
    if encoding is not None:
        return _read_csv(path, encoding), encoding
    try:
        return _read_csv(path, "utf-8"), "utf-8"
    except NotUTF8Error:
        pass
    except pa.ArrowInvalid as exc:
        if "UTF8" not in str(exc).upper():
            raise
    return _read_csv(path, "gb18030"), "gb18030"


def _read_csv(path: Path, encoding: str) -> pa.Table:
    names = _header(path, encoding)
    if not any(names):
        raise SchemaError(f"{path}: the file is empty or has no header row.")
    data = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding="utf8" if encoding == "utf-8" else encoding, column_names=names,
            skip_rows=1,
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return _with_rows(data)


def read_parquet(path: Path) -> pa.Table:
    """Read a Parquet file as stored (types are checked by the validator)."""
    return _with_rows(pq.read_table(path))


def read_excel(path: Path) -> pa.Table:
    """Read the first worksheet of an Excel workbook as text.

    Dates that Excel stores as dates come back as ISO strings; numbers as their shortest
    text form.
    """
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise SchemaError(f"{path}: the first worksheet is empty.")
        names = [str(h).strip() if h is not None else "" for h in header]
        columns: list[list[str | None]] = [[] for _ in names]
        for row in rows:
            if row is None or all(v is None for v in row):
                continue
            for i in range(len(names)):
                v = row[i] if i < len(row) else None
                columns[i].append(_excel_text(v))
    finally:
        wb.close()
    data = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    return _with_rows(data)


def _excel_text(value: object) -> str | None:
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_source(
    path: str | Path, encoding: str | None = None, sha256: str | None = None
) -> SourceFile:
    """Read any supported file.

    Parameters
    ----------
    path : str or Path
        A CSV, Parquet or Excel file.
    encoding : str, optional
        Force a CSV encoding instead of detecting it.
    sha256 : str, optional
        The file's digest, if the caller has it already.

    Returns
    -------
    SourceFile
    """
    p = Path(path)
    if not p.is_file():
        raise SchemaError(f"{p}: no such file.")
    fmt = file_format(p)
    enc: str | None = None
    if fmt == "csv":
        data, enc = read_csv(p, encoding)
    elif fmt == "parquet":
        data = read_parquet(p)
    else:
        data = read_excel(p)
    return SourceFile(p, fmt, enc, sha256 or sha256_of(p), data)


def iter_batches(
    path: Path, fmt: str, encoding: str | None, batch_rows: int
) -> Iterator[pa.Table]:
    """Read a file in pieces of about ``batch_rows`` rows, numbering rows across pieces.

    Memory then grows with the piece, not the file. At least one (possibly empty) table is
    yielded, so a file with a header and no rows still has its columns checked.

    Parameters
    ----------
    path : Path
        The file.
    fmt : str
        ``csv``, ``parquet`` or ``excel`` (see :func:`file_format`).
    encoding : str, optional
        The CSV encoding, ``utf-8`` when not given.
    batch_rows : int
        Rows per piece (CSV pieces follow Arrow's blocks and come close to it).

    Raises
    ------
    NotUTF8Error
        If a CSV read as UTF-8 turns out not to be UTF-8 (read it again as GB18030).
    """
    offset = 0
    yielded = False
    for piece in _pieces(path, fmt, encoding or "utf-8", batch_rows):
        rows = np.arange(offset + 1, offset + piece.num_rows + 1, dtype=np.int64)
        offset += piece.num_rows
        yielded = True
        yield piece.append_column(ROW_COLUMN, pa.array(rows))
    if not yielded:
        empty = _empty(path, fmt, encoding or "utf-8")
        yield empty.append_column(ROW_COLUMN, pa.array([], pa.int64()))


def _pieces(path: Path, fmt: str, encoding: str, batch_rows: int) -> Iterator[pa.Table]:
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch])
        return
    if fmt == "excel":
        yield read_excel(path).drop_columns([ROW_COLUMN])
        return
    names = _header(path, encoding)
    if not any(names):
        raise SchemaError(f"{path}: the file is empty or has no header row.")
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding == "utf-8" else encoding, column_names=names,
                skip_rows=1, block_size=1 << 26,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in reader:
            pending.append(batch)
            count += batch.num_rows
            if count >= batch_rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc).upper() or "UTF-8" in str(exc).upper():
            raise NotUTF8Error(f"{path}: not UTF-8 ({exc}).") from exc
        if "Empty CSV file" in str(exc):
            return
        raise


def _empty(path: Path, fmt: str, encoding: str) -> pa.Table:
    if fmt == "parquet":
        return pq.ParquetFile(path).schema_arrow.empty_table()
    names = _header(path, encoding)
    return pa.table({n: pa.array([], pa.string()) for n in names})
