"""Write contract tables as CSV or Parquet, chunk by chunk, deterministically.

CSV is UTF-8 with a plain header, ``,`` separators, quotes only around values that contain
a separator, quote or line break, ISO dates, ``true``/``false``, empty fields for nulls and
money with exactly two decimals. Parquet keeps typed columns (string, int64, float64,
date32, bool), unless error injection is on: then every column is text so dirty values
survive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from creditpersona.contract.schema import DType, Table
from creditpersona.safeio import unlinked_target

if TYPE_CHECKING:
    from creditpersona.synth.errors_injection import Injector

Format = Literal["csv", "parquet"]

ARROW_TYPES: dict[DType, pa.DataType] = {
    "string": pa.string(), "int": pa.int64(), "float": pa.float64(), "date": pa.date32(),
    "bool": pa.bool_(),
}
_NEEDS_QUOTES = '[,"\r\n]'
#: Rows converted and written at a time, which bounds the memory of text conversion.
SLICE_ROWS = 250_000


def typed_array(values: object, dtype: DType) -> pa.Array:
    """One column as an Arrow array of the contract type (NaN / NaT / None become null).

    Dictionary-encoded string arrays are kept as they are.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    arr = np.asarray(values)
    if dtype == "float":
        return pa.array(np.round(arr.astype(np.float64), 2), pa.float64(), from_pandas=True)
    if dtype == "date":
        return pa.array(arr.astype("datetime64[D]"), pa.date32(), from_pandas=True)
    if dtype == "int":
        return pa.array(arr.astype(np.int64), pa.int64())
    if dtype == "bool":
        return pa.array(arr.astype(bool), pa.bool_())
    return pa.array(arr, pa.string(), from_pandas=True)


def typed_table(table: Table, columns: Mapping[str, object]) -> pa.Table:
    """The contract columns of ``table`` in contract order as an Arrow table (a field added
    to the contract later that the generator does not fill is written empty)."""
    rows = len(next(iter(columns.values()))) if columns else 0  # type: ignore[arg-type]
    arrays = [typed_array(columns[f.name], f.dtype) if f.name in columns or not f.added
              else pa.nulls(rows, ARROW_TYPES[f.dtype]) for f in table.fields]
    return pa.Table.from_arrays(arrays, names=list(table.field_names))


def money_decimal(values: pa.Array) -> pa.Array:
    """Amounts as ``decimal128(18, 2)``, rounded half-even to the fen; nulls stay null.

    Built straight from the integer number of fen, so no binary-to-decimal rounding can
    creep in; CSV writers print it with exactly two decimals.

    Examples
    --------
    >>> pc.cast(money_decimal(pa.array([1234.5, -0.25, None, 3.0])), pa.string()).to_pylist()
    ['1234.50', '-0.25', None, '3.00']
    """
    x = values.to_numpy(zero_copy_only=False).astype(np.float64)
    valid = ~np.isnan(x)
    cents = np.rint(np.where(valid, x, 0.0) * 100.0).astype(np.int64)
    words = np.empty((cents.size, 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # two's-complement sign extension to 128 bits
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    null_count = int((~valid).sum())
    return pa.Array.from_buffers(pa.decimal128(18, 2), cents.size,
                                 [validity, pa.py_buffer(words)], null_count=null_count)


def csv_table(table: Table, typed: pa.Table) -> pa.Table:
    """A typed contract table ready for the CSV writer: money as two-decimal decimals."""
    arrays = [money_decimal(typed.column(f.name).combine_chunks()) if f.dtype == "float"
              else typed.column(f.name) for f in table.fields]
    return pa.Table.from_arrays(arrays, names=list(table.field_names))


def text_table(table: Table, typed: pa.Table) -> pa.Table:
    """Every column of a typed contract table as plain text, exactly as CSV prints it."""
    ready = csv_table(table, typed)
    arrays = [pc.cast(ready.column(i), pa.string()) for i in range(ready.num_columns)]
    return pa.Table.from_arrays(arrays, names=list(table.field_names))


def _quote(values: pa.Array) -> pa.Array:
    """Quote the values that need it; a dictionary array is quoted in its dictionary."""
    if isinstance(values, pa.DictionaryArray):
        return pa.DictionaryArray.from_arrays(values.indices, _quote(values.dictionary))
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_QUOTES), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def _may_need_quotes(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value might contain a separator, quote or line break (cheap byte scan)."""
    if isinstance(values, pa.ChunkedArray):
        return any(_may_need_quotes(chunk) for chunk in values.chunks)
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return False
    data = values.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()
    return any(ch in raw for ch in (b",", b'"', b"\n", b"\r"))


_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def write_csv_rows(stream: pa.NativeFile, table: pa.Table) -> None:
    """Append the rows of ``table`` (no header) to ``stream``, quoting only where needed."""
    if table.num_rows == 0:
        return
    if not any(_may_need_quotes(c) for c in table.columns):
        pa_csv.write_csv(table, stream, _CSV_OPTIONS)
        return
    columns = [table.column(i).combine_chunks() for i in range(table.num_columns)]
    parts = [pc.fill_null(_quote(c).cast(pa.string()) if _may_need_quotes(c)
                          else pc.cast(c, pa.string()), "") for c in columns]
    rows = pc.binary_join_element_wise(*parts, ",")
    lines = pc.binary_join_element_wise(rows, pa.scalar(""), "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset: lines.offset + len(lines) + 1]
    stream.write(lines.buffers()[2].to_pybytes()[int(offsets[0]): int(offsets[-1])])


class TableSink:
    """Append chunks of one contract table to its output file.

    Parameters
    ----------
    table : Table
        The contract table.
    path : Path
        File to write.
    fmt : {"csv", "parquet"}
        Output format.
    injector : Injector or None
        When given, dirty rows are added to each chunk and every column is written as text.
    """

    def __init__(self, table: Table, path: Path, fmt: Format,
                 injector: Injector | None = None) -> None:
        self.table = table
        self.path = unlinked_target(path)
        self.fmt = fmt
        self.injector = injector
        self.rows = 0
        self._stream: pa.NativeFile | None = None
        self._parquet: pq.ParquetWriter | None = None
        if fmt == "csv":
            self._stream = pa.OSFile(str(self.path), "wb")
            self._stream.write((",".join(table.field_names) + "\n").encode("utf-8"))

    def write(self, columns: Mapping[str, object], last: bool = True) -> None:
        """Write one chunk of clean rows (plus its dirty rows when injecting).

        ``last`` marks the final chunk, so the injector can honour its minimum of one
        dirty row per table.
        """
        typed = typed_table(self.table, columns)
        starts = range(0, max(typed.num_rows, 1), SLICE_ROWS)
        for i, start in enumerate(starts):
            self._write_slice(typed.slice(start, SLICE_ROWS), last and i == len(starts) - 1)

    def _write_slice(self, typed: pa.Table, last: bool) -> None:
        if self.injector is not None:
            out = self.injector.inject(self.table, text_table(self.table, typed), self.rows,
                                       last)
        elif self._stream is not None:
            out = csv_table(self.table, typed)
        else:
            out = typed
        if self._stream is not None:
            write_csv_rows(self._stream, out)
        else:
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, out.schema, store_schema=False)
            self._parquet.write_table(out.cast(self._parquet.schema))
        self.rows += out.num_rows

    def close(self) -> Path:
        """Finish the file (an empty table still gets its header or schema)."""
        if self._stream is not None:
            self._stream.close()
            return self.path
        if self._parquet is None:
            text = self.injector is not None
            schema = pa.schema([(f.name, pa.string() if text else ARROW_TYPES[f.dtype])
                                for f in self.table.fields])
            self._parquet = pq.ParquetWriter(self.path, schema, store_schema=False)
        self._parquet.close()
        return self.path


class CsvSink:
    """Append typed tables (the hidden truths) to one CSV file, block by block.

    Same conventions as the contract tables; probabilities (columns named ``true_pd*``)
    keep their precision, other floats are money.

    Parameters
    ----------
    path : Path
        File to write; the header is written at once.
    names : sequence of str
        The column names, in file order.
    """

    def __init__(self, path: Path, names: Sequence[str]) -> None:
        self.path = unlinked_target(path)
        self.names = list(names)
        self.rows = 0
        self._stream = pa.OSFile(str(self.path), "wb")
        self._stream.write((",".join(self.names) + "\n").encode("utf-8"))

    def write(self, table: pa.Table) -> None:
        """Append the rows of ``table`` (its columns named as the header, in that order)."""
        if table.column_names != self.names:
            raise ValueError(f"{self.path.name}: columns {table.column_names} do not match "
                             f"the header {self.names}")
        arrays = [table.column(name).combine_chunks() for name in self.names]
        arrays = [money_decimal(a) if pa.types.is_floating(a.type)
                  and not name.startswith("true_pd") else a
                  for name, a in zip(self.names, arrays, strict=True)]
        write_csv_rows(self._stream, pa.Table.from_arrays(arrays, names=self.names))
        self.rows += table.num_rows

    def close(self) -> Path:
        """Finish the file."""
        self._stream.close()
        return self.path


def write_csv_table(path: Path, table: pa.Table) -> Path:
    """Write a small typed table (the hidden truths) as CSV with the same conventions.

    Probabilities (columns named ``true_pd*``) keep their precision; other floats are money.
    """
    sink = CsvSink(path, table.column_names)
    sink.write(table)
    return sink.close()
