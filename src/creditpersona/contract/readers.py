"""Read a source file into an Arrow table, keeping every row and its position.

CSV in UTF-8 or GBK/GB18030 (bank exports are often GBK), separated by ``,`` ``;`` tab or
``|``, Parquet and Excel. CSV and Excel columns are read as text so that the validator, not the
reader, decides what is parseable; nothing is dropped or coerced here. A ``_row`` column holds
the 1-based data-row number (the header excluded) so every quarantined row can be traced back
to its file. A CSV file is read by Arrow; one that Arrow cannot read as it is (lines in
different encodings, a row with the wrong number of fields, a quote that may not close) is
read again line by line, and the rows that cannot be read are set aside with their line
(:class:`ReadNotes`) for the quarantine. A file that cannot be read at all raises a
:class:`~creditpersona.errors.SchemaError` naming it, the line where there is one, and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from creditpersona.contract.dialect import detect_separator
from creditpersona.errors import SchemaError

ROW_COLUMN = "_row"
FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".xlsx": "excel", ".xlsm": "excel"}
#: Encodings tried, in order, for each line of a CSV file that is not all UTF-8.
FALLBACK_ENCODINGS = ("utf-8", "gb18030")
_CHUNK = 1 << 24
_BARE_CR = re.compile(r"(?<=\r)(?!\n)")
_SAMPLE = 1 << 16
#: Rows per piece on the careful (line by line) path, which holds Python strings.
_CAREFUL_ROWS = 200_000


class RereadNeeded(SchemaError):
    """The fast CSV reader met something it cannot handle in place (bytes that are not UTF-8,
    a row with the wrong number of fields, a quote that may run to the end of the file); the
    file must be read again line by line with :func:`iter_batches` ``careful=True``."""


@dataclass(frozen=True)
class RejectedRow:
    """A row the reader could not turn into fields; it goes to the quarantine as it is.

    ``rule`` is ``ragged_row`` (more or fewer fields than the header) or ``undecodable``
    (bytes that are neither UTF-8 nor GB18030); ``text`` is the row as read (undecodable bytes
    shown as U+FFFD).
    """

    row: int
    line: int
    rule: str
    reason: str
    text: str


@dataclass
class ReadNotes:
    """What reading a file noticed: rejected rows and the encodings its lines were in."""

    rejected: list[RejectedRow] = field(default_factory=list)
    encodings: list[str] = field(default_factory=list)

    def used(self, encoding: str) -> None:
        """Record that some line was read in ``encoding``."""
        if encoding not in self.encodings:
            self.encodings.append(encoding)


@dataclass(frozen=True)
class SourceFile:
    """A file read for ingestion."""

    path: Path
    format: str
    encoding: str | None
    sha256: str
    data: pa.Table


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file is laid out: its field separator and its header's column names."""

    separator: str
    names: list[str]


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


def _decode_line(raw: bytes, encodings: tuple[str, ...]) -> tuple[str, str | None]:
    """A line as text in the first encoding it is valid in, and that encoding (None: none)."""
    for enc in encodings:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace"), None


def _none_of(encodings: tuple[str, ...]) -> str:
    """``neither UTF-8 nor GB18030``, or ``not GBK`` for one encoding."""
    names = " nor ".join(e.upper() for e in encodings)
    return f"neither {names}" if len(encodings) > 1 else f"not {names}"


def _encodings(encoding: str | None) -> tuple[str, ...]:
    return (encoding,) if encoding else FALLBACK_ENCODINGS


def csv_layout(path: Path, encoding: str | None = None) -> CsvLayout:
    """The separator (``,`` ``;`` tab or ``|``) and the header of a CSV file.

    Raises
    ------
    SchemaError
        If the file is empty, its header cannot be decoded, or it names a column twice.
    """
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE)
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    first, _, _ = sample.partition(b"\n")
    header, used = _decode_line(first, _encodings(encoding))
    if used is None:
        raise SchemaError(
            f"{path} line 1: the header is {_none_of(_encodings(encoding))}; "
            "save the file as UTF-8 (or pass --encoding) and ingest it again.")
    text = "\n".join(_decode_line(line, _encodings(encoding))[0]
                     for line in sample.split(b"\n")[:50])
    if "\r" in header.rstrip("\r"):
        raise SchemaError(f"{path} line 1: the header holds a carriage return inside it; save "
                          "the file with one kind of line end and ingest it again.")
    separator = detect_separator(text)
    names = [c.strip() for c in next(csv.reader([header.rstrip("\r")], delimiter=separator), [])]
    if not any(names):
        raise SchemaError(f"{path}: the file is empty or has no header row; the first line "
                          "must name the columns.")
    check_unique_names(path, names, "line 1")
    return CsvLayout(separator, names)


def single_encoding(path: Path) -> str | None:
    """The one encoding all lines of a file are in: ``utf-8`` or ``gb18030``, or None when
    some lines are UTF-8 and others not, or a line is in neither.

    A line of plain ASCII is in both. This costs one pass over the bytes, far less than
    reading a file line by line, so a file all in GBK is read at the fast reader's speed.
    """
    utf8 = other = False
    with path.open("rb") as fh:
        for raw in fh:
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                utf8 = True
            except UnicodeDecodeError:
                try:
                    raw.decode("gb18030")
                except UnicodeDecodeError:
                    return None
                other = True
            if utf8 and other:
                return None
    return "gb18030" if other else "utf-8"


def check_unique_names(path: Path, names: list[str], where: str) -> None:
    """Refuse a header that names a column twice (the reader could not tell which is meant).

    Raises
    ------
    SchemaError
        Naming the file, where the header is and the repeated names.

    Examples
    --------
    >>> check_unique_names(Path("firms.csv"), ["a", "b", "a"], "line 1")
    Traceback (most recent call last):
    ...
    creditpersona.errors.SchemaError: firms.csv line 1: the header names the column(s) a more \
than once; rename or remove the repeated columns and ingest the file again.
    """
    counts = Counter(n for n in names if n)
    repeated = [n for n, k in counts.items() if k > 1]
    if repeated:
        raise SchemaError(
            f"{path} {where}: the header names the column(s) {', '.join(repeated)}"
            " more than once; rename or remove the repeated columns and ingest the file again.")


def read_csv(path: Path, encoding: str | None = None) -> tuple[pa.Table, str]:
    """Read a whole CSV file with every column as nullable text.

    The separator is detected; each line is read as UTF-8 (a BOM is allowed) or, where it is
    not UTF-8, as GB18030 (a superset of GBK and GB2312).

    Returns
    -------
    (pyarrow.Table, str)
        The data with its ``_row`` column, and the encoding(s) used.

    Raises
    ------
    SchemaError
        If a row cannot be read (wrong number of fields, undecodable bytes); the message
        names its line. :func:`iter_batches` instead sets such rows aside.
    """
    notes = ReadNotes()
    try:
        pieces = list(iter_batches(path, "csv", encoding, _CAREFUL_ROWS, notes))
    except RereadNeeded:
        notes = ReadNotes()
        pieces = list(iter_batches(path, "csv", encoding, _CAREFUL_ROWS, notes, careful=True))
    if notes.rejected:
        bad = notes.rejected[0]
        raise SchemaError(f"{path} line {bad.line}: {bad.reason}; correct the row and read "
                          "the file again.")
    return pa.concat_tables(pieces), "+".join(notes.encodings) or (encoding or "utf-8")


def read_parquet(path: Path) -> pa.Table:
    """Read a Parquet file as stored (types are checked by the validator).

    Raises
    ------
    SchemaError
        If the file is not Parquet, is truncated or names a column twice.
    """
    pieces = list(iter_batches(path, "parquet", None, BATCH_READ_ROWS))
    return pa.concat_tables(pieces)


def _parquet_error(path: Path, exc: Exception) -> SchemaError:
    return SchemaError(
        f"{path}: not a readable Parquet file ({exc}); it may be truncated or another format: "
        "write it again (or export it as CSV) and ingest it again.")


def read_excel(path: Path, notes: ReadNotes | None = None) -> pa.Table:
    """Read the first worksheet of an Excel workbook as text.

    Dates that Excel stores as dates come back as ISO strings; numbers as their shortest
    text form. A row with values beyond the header's last column is set aside in ``notes``
    (or refused, without ``notes``).

    Raises
    ------
    SchemaError
        If the file is not a readable workbook, its first sheet is empty or its header names
        a column twice.
    """
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors: the file is not a workbook
        raise SchemaError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}: {exc}); open and "
            "save it again in Excel as .xlsx, or export the sheet as CSV, and ingest it again."
        ) from exc
    rows_out: list[int] = []
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise SchemaError(f"{path}: the first worksheet is empty; put the column names in "
                              "its first row.")
        names = [str(h).strip() if h is not None else "" for h in header]
        while names and not names[-1]:
            names.pop()
        check_unique_names(path, names, "sheet row 1")
        columns: list[list[str | None]] = [[] for _ in names]
        number = 0
        for line, row in enumerate(rows, start=2):
            if row is None or all(v is None for v in row):
                continue
            number += 1
            extra = [v for v in row[len(names):] if v is not None]
            if extra:
                reason = (f"has values in {len(names) + len(extra)} columns, the header names "
                          f"{len(names)}")
                if notes is None:
                    raise SchemaError(f"{path} sheet row {line}: {reason}; correct the row.")
                notes.rejected.append(RejectedRow(
                    number, line, "ragged_row", reason,
                    "\t".join("" if v is None else str(v) for v in row)))
                continue
            rows_out.append(number)
            for i in range(len(names)):
                v = row[i] if i < len(row) else None
                columns[i].append(_excel_text(v))
    except SchemaError:
        raise
    except Exception as exc:  # a damaged sheet fails while it is read, not when opened
        raise SchemaError(
            f"{path}: the workbook is damaged ({type(exc).__name__}: {exc}); open and save it "
            "again in Excel, or export the sheet as CSV, and ingest it again.") from exc
    finally:
        wb.close()
    data = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    return data.append_column(ROW_COLUMN, pa.array(rows_out, pa.int64()))


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


#: Rows per piece when a whole file is read at once.
BATCH_READ_ROWS = 2_000_000


def iter_batches(
    path: Path,
    fmt: str,
    encoding: str | None,
    batch_rows: int,
    notes: ReadNotes | None = None,
    *,
    careful: bool = False,
) -> Iterator[pa.Table]:
    """Read a file in pieces of about ``batch_rows`` rows, numbering rows across pieces.

    Memory then grows with the piece, not the file. At least one (possibly empty) table is
    yielded, so a file with a header and no rows still has its columns checked. Every piece
    has a ``_row`` column: the 1-based number of the row in the file (header and blank lines
    excluded), counting the rows set aside in ``notes`` too, so numbers match the file.

    Parameters
    ----------
    path : Path
        The file.
    fmt : str
        ``csv``, ``parquet`` or ``excel`` (see :func:`file_format`).
    encoding : str, optional
        Force a CSV encoding; by default each line is UTF-8 or else GB18030.
    batch_rows : int
        Rows per piece (CSV pieces follow Arrow's blocks and come close to it).
    notes : ReadNotes, optional
        Collects rows that cannot be split into the header's fields or decoded, and the
        encodings used.
    careful : bool, default False
        Read a CSV file line by line in Python: each line in the first encoding it is valid
        in, rows with the wrong number of fields or undecodable bytes set aside. The default
        reads in Arrow, many times faster, and raises :class:`RereadNeeded` if the file
        needs the careful reading.

    Raises
    ------
    RereadNeeded
        From the fast CSV reading (see ``careful``).
    SchemaError
        If the file cannot be read at all (the message says what to do).
    """
    notes = notes if notes is not None else ReadNotes()
    if fmt == "parquet":
        yield from _parquet_pieces(path, batch_rows)
        return
    if fmt == "excel":
        yield read_excel(path, notes)
        return
    layout = csv_layout(path, encoding)
    if careful:
        yield from _careful_pieces(path, layout, encoding, min(batch_rows, _CAREFUL_ROWS), notes)
    else:
        notes.used(encoding or "utf-8")
        yield from _arrow_pieces(path, layout, encoding, batch_rows)


def _parquet_pieces(path: Path, batch_rows: int) -> Iterator[pa.Table]:
    try:
        pf = pq.ParquetFile(path)
        check_unique_names(path, list(pf.schema_arrow.names), "schema")
        offset = 0
        yielded = False
        for batch in pf.iter_batches(batch_size=batch_rows):
            rows = np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
            offset += batch.num_rows
            yielded = True
            yield pa.Table.from_batches([batch]).append_column(ROW_COLUMN, pa.array(rows))
        if not yielded:
            yield pf.schema_arrow.empty_table().append_column(
                ROW_COLUMN, pa.array([], pa.int64()))
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(path, exc) from exc


def _arrow_pieces(
    path: Path, layout: CsvLayout, encoding: str | None, batch_rows: int
) -> Iterator[pa.Table]:
    names = layout.names
    odd: list[str] = []

    def invalid_row(row: pacsv.InvalidRow) -> str:
        odd.append(row.text)
        return "skip"

    previous_hook = sys.unraisablehook

    def quiet_undecodable(unraisable: Any) -> None:
        # Arrow decodes an invalid row as UTF-8 before calling ``invalid_row``; on bytes that
        # are not UTF-8 that decoding fails where Python can only print it ("Exception
        # ignored in ..." on the user's stderr). Arrow then stops with ArrowInvalid, which
        # sends the file to the careful reading below: nothing is lost by not printing it.
        if not isinstance(unraisable.exc_value, UnicodeDecodeError):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_undecodable
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding in (None, "utf-8") else encoding,
                column_names=names, skip_rows=1, block_size=1 << 26,
            ),
            parse_options=pacsv.ParseOptions(delimiter=layout.separator,
                                             newlines_in_values=True,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                # Only an empty value is missing: Arrow's default list would also turn
                # 'NA', 'NULL' and 'nan' into nothing, silently.
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        pending: list[pa.RecordBatch] = []
        count = offset = 0
        last: pa.RecordBatch | None = None
        yielded = False
        for batch in reader:
            if odd:
                raise RereadNeeded(f"{path}: a row has the wrong number of fields.")
            if batch.num_rows:
                last = batch
            pending.append(batch)
            count += batch.num_rows
            if count >= batch_rows:
                yield _numbered(pa.Table.from_batches(pending), offset)
                offset += count
                pending, count, yielded = [], 0, True
        if odd:
            raise RereadNeeded(f"{path}: a row has the wrong number of fields.")
        # A quote left open swallows the rest of the file into the last row's value; only
        # the careful reading can tell that from a value that truly holds line breaks.
        if last is not None and any(
            isinstance(v, str) and ("\n" in v or "\r" in v)
            for v in last.slice(last.num_rows - 1).to_pylist()[0].values()
        ):
            raise RereadNeeded(f"{path}: the last row holds a line break.")
        if pending or not yielded:
            table = (pa.Table.from_batches(pending) if pending else
                     pa.table({n: pa.array([], pa.string()) for n in names}))
            yield _numbered(table, offset)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        text = str(exc)
        if isinstance(exc, UnicodeDecodeError) or "UTF8" in text.upper() \
                or "UTF-8" in text.upper():
            raise RereadNeeded(f"{path}: not all {encoding or 'UTF-8'} ({exc}).") from exc
        if "Empty CSV file" in text:
            yield _numbered(pa.table({n: pa.array([], pa.string()) for n in names}), 0)
            return
        raise RereadNeeded(f"{path}: {exc}") from exc
    finally:
        sys.unraisablehook = previous_hook


def _numbered(table: pa.Table, offset: int) -> pa.Table:
    rows = np.arange(offset + 1, offset + table.num_rows + 1, dtype=np.int64)
    return table.append_column(ROW_COLUMN, pa.array(rows))


def open_quote(text: str, separator: str = ",", quote: str = '"') -> bool:
    """Whether delimited text ends inside a quoted value (a quote opened and never closed).

    A quote opens a value only at its start (spaces before it allowed); inside, a doubled
    quote stands for one.

    Examples
    --------
    >>> open_quote('1,"a\\nb",2\\n'), open_quote('1,"a\\nb,2\\n')
    (False, True)
    >>> open_quote('1,5" pipe,2'), open_quote("1, 'x", quote="'")
    (False, True)
    """
    inside = False
    at_start = True
    i = 0
    while i < len(text):
        ch = text[i]
        if inside:
            if ch == quote:
                if text[i + 1:i + 2] == quote:
                    i += 1
                else:
                    inside = False
        elif ch == quote and at_start:
            inside, at_start = True, False
        elif ch in (separator, "\n", "\r"):
            at_start = True
        elif ch != " ":
            at_start = False
        i += 1
    return inside


def _careful_pieces(
    path: Path, layout: CsvLayout, encoding: str | None, batch_rows: int, notes: ReadNotes
) -> Iterator[pa.Table]:
    names, width = layout.names, len(layout.names)
    encodings = _encodings(encoding)
    bad_lines: list[int] = []
    consumed: list[str] = []
    consumed_lines: list[int] = []

    with path.open("rb") as fh:
        fh.readline()  # the header, read by csv_layout

        def lines() -> Iterator[str]:
            for number, raw in enumerate(fh, start=2):
                text, used = _decode_line(raw, encodings)
                if used is None:
                    bad_lines.append(number)
                elif not raw.isascii():
                    notes.used(used)
                # A carriage return alone ends a line, as in the fast reading (and old Mac
                # files); the csv module would stop at one inside an unquoted value.
                for piece in _BARE_CR.split(text) if "\r" in text else (text,):
                    if piece:
                        consumed.append(piece)
                        consumed_lines.append(number)
                        yield piece

        reader = csv.reader(lines(), delimiter=layout.separator)
        columns: list[list[str | None]] = [[] for _ in names]
        numbers: list[int] = []
        row = 0
        yielded = False
        for record in _records(reader, path, consumed_lines):
            start, end = consumed_lines[0], consumed_lines[-1]
            text = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            consumed_lines.clear()
            first_bad = bad_lines[0] if bad_lines else None
            bad_lines.clear()
            if not record:
                continue  # a blank line is no row, as in the fast reading
            row += 1
            # The csv module ends a row inside a quote only at the end of the file: the quote
            # was never closed and everything after it would silently become one value.
            # (Only a row that holds a quote is scanned.)
            if '"' in text and open_quote(text, layout.separator):
                swallowed = f", so lines {start}–{end} would become one value" \
                    if end > start else ""
                raise SchemaError(
                    f"{path} line {start}: a quoted value opens on this line and is never "
                    f"closed{swallowed}; close the quote (a quote inside a value is written "
                    'twice: "") and ingest the file again.')
            if first_bad is not None:
                notes.rejected.append(RejectedRow(
                    row, start, "undecodable",
                    f"holds bytes that are {_none_of(encodings)} (line {first_bad})", text))
                continue
            if len(record) != width:
                spans = (f" (it runs over lines {start}–{end}: check for a quote that is not "
                         "closed)") if end > start else ""
                notes.rejected.append(RejectedRow(
                    row, start, "ragged_row",
                    f"has {len(record)} fields but the header has {width}{spans}", text))
                continue
            numbers.append(row)
            for i, value in enumerate(record):
                columns[i].append(value if value != "" else None)
            if len(numbers) >= batch_rows:
                yield _careful_table(names, columns, numbers)
                columns, numbers, yielded = [[] for _ in names], [], True
    if numbers or not yielded:
        yield _careful_table(names, columns, numbers)


def _records(
    reader: Iterator[list[str]], path: Path, lines: list[int]
) -> Iterator[list[str]]:
    """The csv module's rows, its errors as a message naming the line."""
    # A long text (an annual report in `documents`) may exceed the module's default limit of
    # 128 KiB per value, which the fast reading does not have.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    try:
        yield from reader
    except csv.Error as exc:
        where = f" line {lines[0]}" if lines else ""
        raise SchemaError(f"{path}{where}: cannot split the row into fields ({exc}); correct "
                          "the row and ingest the file again.") from exc


def _careful_table(
    names: list[str], columns: list[list[str | None]], numbers: list[int]
) -> pa.Table:
    data = {n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)}
    data[ROW_COLUMN] = pa.array(numbers, pa.int64())
    return pa.table(data)
