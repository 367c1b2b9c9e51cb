"""Fuzzing the ingest: valid contract files, mutated, through the real command line.

Each case starts from a valid ``firms`` file and mutates it the way files arrive from other
systems — values (numbers, dates, text with control characters), quoting, columns, rows,
separators, line ends, encodings (UTF-8, BOM, GBK, rows of both) and raw bytes (inserted,
dropped, truncated) — then runs ``creditpersona ingest --fail-on-quarantine`` in-process. Whatever
the mutation, the command answers with 0, 2 (with a message naming the file) or 3, never a
traceback, and every row it read is either loaded or quarantined. Examples are derandomised
(the same cases on every run) and counted in the report of ``pytest -s``; see the README.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import FIRMS_HEADER, GOOD_FIRMS
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from creditpersona.cli.app import app

runner = CliRunner()
HEADER = FIRMS_HEADER.split(",")
ROWS = [r.split(",") for r in GOOD_FIRMS]
NUMERIC = [HEADER.index("employees"), HEADER.index("registered_capital")]
DATES = [HEADER.index("founded_on"), HEADER.index("relationship_start")]
TEXT = [HEADER.index("name"), HEADER.index("rm_id"), HEADER.index("ownership_type")]
NUMBERS = ["inf", "-inf", "nan", "NaN", "1e309", "-1e309", "3.7", "-1", "1,000", "1e5", "0x10",
           "１２", "", " 12 ", "9" * 30, "1_000", "+5", ".5"]
DATE_TEXT = ["2024-02-30", "2024/01/01", "20240101", "0000-00-00", "2024-13-01", "9999-12-31",
             "1900-01-01", "", "2024-1-1", "昨天"]
ODD_TEXT = ["\x00", "\x1b", "\x7f", "\t", "\u200b", "\ufeff", '"', "'", ",", ";", "|", "\n",
            "\r", "=1+1", "é", "𠀀", "\ud7ff"]

# No shrinking: a failure is reported as found, so the suite's time stays bounded.
_settings = settings(
    max_examples=30, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated_rows(draw: st.DrawFn) -> tuple[list[str], list[list[str]], bool]:
    """Header and rows after value, column and row mutations; and whether the number of rows
    a reader should see is still exactly the number of rows (no quote or row-merging change)."""
    header = list(HEADER)
    rows = [list(r) for r in ROWS] + [list(ROWS[i]) for i in
                                      draw(st.lists(st.integers(0, 3), max_size=3))]
    exact = True
    kinds = ["number", "date", "text", "quote", "column", "cell"]
    # Values first, then the changes that move columns, so every index stays valid.
    for kind in sorted(draw(st.lists(st.sampled_from(kinds), max_size=4)), key=kinds.index):
        r = draw(st.integers(0, len(rows) - 1))
        if kind == "number":
            value = draw(st.one_of(st.sampled_from(NUMBERS),
                                   st.floats(allow_nan=True, allow_infinity=True).map(repr)))
            rows[r][draw(st.sampled_from(NUMERIC))] = value
        elif kind == "date":
            value = draw(st.one_of(st.sampled_from(DATE_TEXT), st.dates().map(str)))
            rows[r][draw(st.sampled_from(DATES))] = value
        elif kind == "text":
            c = draw(st.sampled_from(TEXT))
            odd = draw(st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=4)))
            rows[r][c] = rows[r][c][:2] + odd + rows[r][c][2:]
            exact = exact and not any(ch in odd for ch in "\"\n\r,;|\t")
        elif kind == "quote":
            c = draw(st.integers(0, len(header) - 1))
            rows[r][c] = draw(st.sampled_from([
                f'"{rows[r][c]}"', f'"{rows[r][c]}', f'{rows[r][c]}"', f'"a""b{rows[r][c]}"',
                f'"{rows[r][c]},x"', f'"{rows[r][c]}\nnext"']))
            exact = False
        elif kind == "column":
            how = draw(st.sampled_from(["drop", "repeat", "extra", "swap"]))
            c = draw(st.integers(0, len(header) - 1))
            if how == "drop":
                header.pop(c)
                for row in rows:
                    row.pop(c)
            elif how == "repeat":
                header.append(header[c])
                for row in rows:
                    row.append(row[c])
            elif how == "extra":
                header.append("note")
                for row in rows:
                    row.append("x")
            else:
                d = draw(st.integers(0, len(header) - 1))
                header[c], header[d] = header[d], header[c]
                for row in rows:
                    row[c], row[d] = row[d], row[c]
        else:
            if draw(st.booleans()):
                rows[r].append("extra")
            elif len(rows[r]) > 1:
                rows[r].pop()
    return header, rows, exact


@st.composite
def csv_bytes(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A mutated CSV file and the number of rows it holds (None when that is not known)."""
    header, rows, exact = draw(mutated_rows())
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "mixed"]))
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    if any(ch in cell for r in rows for cell in r for ch in ",;|\t"):
        exact = False  # a value holding a separator changes the count of fields
    encoded = []
    for i, line in enumerate(lines):
        enc = ("gbk" if i % 2 else "utf-8") if encoding == "mixed" else encoding
        if enc == "utf-8-sig" and i:
            enc = "utf-8"
        try:
            encoded.append(line.encode(enc))
        except UnicodeEncodeError:
            encoded.append(line.encode("utf-8", errors="surrogatepass"))
            exact = exact and enc != "gbk"
    data = end.encode().join(encoded) + end.encode()
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["insert", "delete", "truncate", "flip"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        elif how == "truncate":
            data = data[:at]
        else:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:] \
                if data else data
        exact = False
    return data, (len(rows) if exact else None)


@st.composite
def other_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    """A mutated Parquet (text or typed columns) or Excel file."""
    header, rows, _ = draw(mutated_rows())
    width = len(header)
    rows = [(r + [""] * width)[:width] for r in rows]
    frame = pd.DataFrame(rows, columns=range(width)).astype(str)
    suffix = draw(st.sampled_from(["parquet", "xlsx"]))
    buf = io.BytesIO()
    if suffix == "parquet":
        names = [f"{h}_{i}" if header.count(h) > 1 else h for i, h in enumerate(header)]
        table = pa.table({n: pa.array(frame[i].tolist()) for i, n in enumerate(names)})
        if "employees" in names and draw(st.booleans()):
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                   min_size=len(rows), max_size=len(rows)))
            table = table.set_column(names.index("employees"), "employees", pa.array(values))
        pq.write_table(table, buf)
    else:
        frame.columns = header
        frame.to_excel(buf, index=False)
    data = buf.getvalue()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data = draw(st.sampled_from([data[:at], data[:at] + b"\x00" * 8 + data[at + 8:]]))
    return suffix, data


_STORES: dict[str, Path] = {}


def _store(kind: str) -> Path:
    """One store per test, shared by its examples (opening a new one costs more than a load);
    each load is checked on its own rows."""
    if kind not in _STORES:
        _STORES[kind] = Path(tempfile.mkdtemp(prefix="fuzz-store-")) / "s.duckdb"
    return _STORES[kind]


def _ingest(name: str, data: bytes, store: Path) -> tuple[int, Path, int | None]:
    """Run the command on the file; its exit code, path and load id (None: no new load)."""
    path = Path(tempfile.mkdtemp(prefix="fuzz-")) / name
    path.write_bytes(data)
    before = _last_load(store)
    result = runner.invoke(app, ["ingest", str(path), "--store", str(store),
                                 "--fail-on-quarantine"])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 2, 3), result.output
    if result.exit_code == 2:
        assert f"error: {path}" in result.output, result.output
    after = _last_load(store)
    if result.exit_code == 2:
        assert after == before  # a refused file leaves no load behind
    return result.exit_code, path, after if after != before else None


def _last_load(store: Path) -> int:
    if not store.exists():
        return 0
    con = duckdb.connect(str(store), read_only=True)
    try:
        row = con.execute("select coalesce(max(load_id), 0) from load_log").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def _balanced(store: Path, path: Path, load_id: int) -> int:
    """Check loaded + quarantined = read against the store's own tables; rows read."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        ((read, loaded, quarantined),) = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from load_log where load_id = ?",
            [load_id]).fetchall()
        assert read == loaded + quarantined
        assert con.execute("select count(*) from firms where load_id = ?",
                           [load_id]).fetchone() == (loaded,)
        rows = con.execute("select row_number, message from quarantine where load_id = ?",
                           [load_id]).fetchall()
    finally:
        con.close()
    assert len(rows) == quarantined == len({r for r, _ in rows})
    assert all(f"({path} " in message for _, message in rows)
    return int(read)


@_settings
@given(case=csv_bytes())
def test_mutated_csv_is_answered_and_nothing_is_lost(case: tuple[bytes, int | None]) -> None:
    data, expected_rows = case
    code, path, load_id = _ingest("firms.csv", data, _store("csv"))
    if code in (0, 3) and load_id is not None:
        read = _balanced(_store("csv"), path, load_id)
        if expected_rows is not None:
            assert read == expected_rows


@settings(_settings, max_examples=12)
@given(case=other_bytes())
def test_mutated_parquet_and_excel_are_answered(case: tuple[str, bytes]) -> None:
    suffix, data = case
    code, path, load_id = _ingest(f"firms.{suffix}", data, _store("other"))
    if code in (0, 3) and load_id is not None:
        _balanced(_store("other"), path, load_id)
