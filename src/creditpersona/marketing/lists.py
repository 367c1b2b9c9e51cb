"""Campaign lists per relationship manager (客户经理营销清单), as CSV and Excel.

Rendering only: the offers come from the planner; this module lays them out with bilingual
headers (Chinese first), one CSV per RM (UTF-8 with BOM, so Excel opens the Chinese right)
and one workbook with a summary sheet and a sheet per RM (a single sheet for all RMs when
there are more than ``MAX_SHEETS``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.errors import SchemaError
from creditpersona.safeio import (
    excel_writer_options,
    neutralise,
    neutralise_frame,
    private_dir,
    replace_from,
    to_csv_parts,
    write_text,
)

#: (column, 中文, English) of a campaign list, in order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rm_id", "客户经理", "RM"),
    ("firm_id", "统一社会信用代码", "Firm id"),
    ("firm_name", "企业名称", "Firm"),
    ("persona_name_zh", "客户性格", "Persona"),
    ("product", "产品代码", "Product code"),
    ("product_zh", "推荐产品", "Product"),
    ("journey_zh", "客户旅程", "Journey"),
    ("channel_zh", "触达渠道", "Channel"),
    ("reason_zh", "推荐理由", "Reason"),
    ("p_accept", "预计接受概率", "P(accept)"),
    ("expected_value", "预期价值(元)", "Expected value (yuan)"),
    ("suggested_rate", "建议利率(%)", "Suggested rate (%)"),
    ("suggested_limit", "建议额度(元)", "Suggested limit (yuan)"),
)
MAX_SHEETS = 200


@artefacts.trusted("campaign_list_files")
@dataclass(frozen=True)
class CampaignListFiles:
    """Where the lists were written."""

    csv_files: tuple[Path, ...]
    excel: Path | None


def headers() -> list[str]:
    """Bilingual column headers, e.g. ``推荐产品 Product``.

    Examples
    --------
    >>> headers()[5]
    '推荐产品 Product'
    """
    return [f"{zh} {en}" for _, zh, en in COLUMNS]


def list_frame(offers: pd.DataFrame) -> pd.DataFrame:
    """The offers as a campaign list: the list columns with bilingual headers, sorted by RM
    and expected value (highest first).

    Raises
    ------
    SchemaError
        If ``rm_id``, ``firm_id`` or ``product`` is missing.
    """
    missing = [c for c in ("rm_id", "firm_id", "product") if c not in offers.columns]
    if missing:
        raise SchemaError(f"offers lack {missing}; campaign lists need the RM, the firm and "
                          "the product of every offer.")
    frame = offers.reindex(columns=[c for c, _, _ in COLUMNS])
    if "expected_value" in offers.columns:
        frame = frame.sort_values(["rm_id", "expected_value"], ascending=[True, False])
    frame = frame.round({"p_accept": 4, "expected_value": 2, "suggested_rate": 4,
                         "suggested_limit": 2})
    frame.columns = headers()
    return frame.reset_index(drop=True)


#: Names Windows keeps for devices: a file called ``CON.csv`` cannot be opened there.
_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                      *(f"LPT{i}" for i in range(1, 10))})
#: The record of the files a run wrote into a list folder, so the next run removes exactly
#: those (and never a file someone else put there).
MANIFEST = ".campaign_lists.json"
BOOK = "campaign_lists.xlsx"
SUMMARY_SHEET = "汇总 Summary"
#: The summary sheet's columns: the RM, its offers, their expected value.
SUMMARY_COLUMNS = [f"{COLUMNS[0][1]} {COLUMNS[0][2]}", "推荐数 Offers",
                   "预期价值合计(元) Expected value (yuan)"]
ALL_SHEET = "全部 All"


def _unique(base: str, taken: set[str], limit: int | None = None) -> str:
    """``base`` or ``base~2``, ``base~3``…: the first not in ``taken`` (compared without case,
    as Excel and the file systems of Windows and macOS compare), cut to ``limit`` chars."""
    k = 1
    while True:
        suffix = "" if k == 1 else f"~{k}"
        name = (base[: limit - len(suffix)] if limit else base) + suffix
        if name.casefold() not in taken:
            taken.add(name.casefold())
            return name
        k += 1


def file_names(rm_ids: list[str]) -> list[str]:
    """A distinct, portable CSV file name per RM id, in the order given.

    Characters other than letters (any script), digits, ``_ . -`` become ``_``; ids that map
    to the same name (``RM 0001`` and ``RM_0001``, or ``rm1`` and ``RM1`` on a file system that
    ignores case) get ``~2``, ``~3``… so no list overwrites another.

    Examples
    --------
    >>> file_names(["RM 0001", "RM_0001", "张三", "..", "con"])
    ['RM_0001.csv', 'RM_0001~2.csv', '张三.csv', 'unassigned.csv', '_con.csv']
    """
    taken: set[str] = set()
    names = []
    for rm in rm_ids:
        base = re.sub(r"[^\w.-]", "_", rm).strip(".") or "unassigned"
        if base.upper() in _DEVICES:
            base = "_" + base
        names.append(_unique(base, taken) + ".csv")
    return names


def sheet_names(rm_ids: list[str], reserved: tuple[str, ...] = (SUMMARY_SHEET, ALL_SHEET)
                ) -> list[str]:
    """A distinct Excel sheet name per RM id: at most 31 characters, none of ``[]:*?/\\``,
    unique without case and apart from ``reserved``.

    Examples
    --------
    >>> sheet_names(["RM 0001", "RM:0001", "x" * 40, "x" * 40 + "y"])
    ['RM 0001', 'RM_0001', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxx~2']
    """
    taken = {r.casefold() for r in reserved} | {"history"}
    names = []
    for rm in rm_ids:
        base = re.sub(r"[\[\]:*?/\\]", "_", rm).strip("'") or "unassigned"
        names.append(_unique(base, taken, limit=31))
    return names


def _previous(out: Path) -> set[str]:
    """File names the last run recorded in ``out``'s manifest: plain names of lists only, so
    an edited manifest cannot make a rerun delete anything else."""
    try:
        names = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and n == Path(n).name
            and not n.startswith(".") and n.lower().endswith((".csv", ".xlsx"))}


def _record(out: Path, names: set[str]) -> None:
    write_text(out / MANIFEST, json.dumps({"files": sorted(names)}, ensure_ascii=False,
                                          indent=1) + "\n")


def write_campaign_lists(offers: pd.DataFrame, out_dir: str | Path, *, csv: bool = True,
                         excel: bool = True) -> CampaignListFiles:
    """Write one CSV per RM and one Excel workbook into ``out_dir``.

    The folder is created owner-only; every file is written atomically and never through a
    symbolic link planted at its name; cells a spreadsheet would run as a formula are
    neutralised. RM ids that map to the same file or sheet name get distinct ones, so every
    offer is in exactly one list. The lists an earlier run wrote into ``out_dir`` (as its
    manifest ``.campaign_lists.json`` records) and this run does not rewrite are removed;
    other files in the folder are left alone.

    Examples
    --------
    >>> import tempfile
    >>> o = pd.DataFrame({"rm_id": ["RM1", "RM2"], "firm_id": ["a", "b"], "product":
    ...                   ["green", "equipment"], "expected_value": [10.0, 20.0]})
    >>> files = write_campaign_lists(o, tempfile.mkdtemp())
    >>> [p.name for p in files.csv_files], files.excel.name
    (['RM1.csv', 'RM2.csv'], 'campaign_lists.xlsx')
    """
    out = private_dir(out_dir)
    by_rm, bounds, rm_ids = sorted_by_rm(offers)
    rm_col = headers()[0]
    previous = _previous(out)
    planned = ({*file_names(rm_ids)} if csv else set()) | ({BOOK} if excel else set())
    _record(out, previous | planned)
    written: list[Path] = []
    if csv:   # rendered once, one file per RM (thousands at a large bank)
        written = to_csv_parts(by_rm, [(out / name, bounds[i], bounds[i + 1]) for i, name
                                       in enumerate(file_names(rm_ids))])
    book = None
    if excel:
        summary = by_rm.groupby(rm_col).agg(
            offers=(headers()[1], "size"),
            expected_value=(headers()[10], "sum")).reset_index()
        summary.columns = SUMMARY_COLUMNS
        sheets = {SUMMARY_SHEET: summary}
        if len(rm_ids) <= MAX_SHEETS:
            sheets |= {name: by_rm.iloc[bounds[i]:bounds[i + 1]].reset_index(drop=True)
                       for i, name in enumerate(sheet_names(rm_ids))}
        else:
            sheets[ALL_SHEET] = by_rm
        book = write_book(out / BOOK, sheets)
    retire(out, previous, planned)
    return CampaignListFiles(tuple(written), book)


def sorted_by_rm(offers: pd.DataFrame) -> tuple[pd.DataFrame, list[int], list[str]]:
    """The campaign list of ``offers`` (:func:`list_frame`, a missing RM as
    ``unassigned``) sorted by RM, with each RM's first row, the row count last, and the RMs.

    Examples
    --------
    >>> o = pd.DataFrame({"rm_id": ["b", None, "a", "b"], "firm_id": list("wxyz"),
    ...                   "product": ["p"] * 4})
    >>> frame, bounds, rms = sorted_by_rm(o)
    >>> bounds, rms
    ([0, 1, 3, 4], ['a', 'b', 'unassigned'])
    """
    table = list_frame(offers)
    rm_col = headers()[0]
    table[rm_col] = table[rm_col].astype(object).where(table[rm_col].notna(), "unassigned")
    by_rm = table.sort_values(rm_col, kind="stable").reset_index(drop=True)
    keys = by_rm[rm_col].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([])
    return by_rm, [*starts.tolist(), len(keys)], [str(keys[i]) for i in starts]


def retire(out: Path, previous: set[str], planned: set[str]) -> None:
    """Remove the lists of an earlier run (``previous``) this run did not write
    (``planned``), never through a link, and record this run's in the manifest."""
    for stale in previous - planned:
        path = out / stale
        if path.is_symlink() or path.is_file():
            path.unlink()
    _record(out, planned)


def write_book(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write ``sheets`` (name → frame) as one workbook, row by row, atomically.

    The cells of :func:`~creditpersona.safeio.to_excel` (neutralised text, the same
    xlsxwriter options, pandas' bold bordered header, columns as wide as the header and the
    first 200 values, the header row frozen), written in xlsxwriter's constant-memory mode
    with one typed call per cell (:class:`BookWriter`): pandas' Excel writer styles every
    cell and would take most of the stage's time on the lists of a large bank.

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> p = write_book(Path(tempfile.mkdtemp()) / "b.xlsx",
    ...                {"s": pd.DataFrame({"a": ["=1+1", None], "n": [-3.0, float("nan")]})})
    >>> # the all-missing second row is left empty, as pandas leaves it
    >>> [[c.value for c in row] for row in openpyxl.load_workbook(p)["s"].iter_rows()]
    [['a', 'n'], ["'=1+1", -3]]
    """
    def write(tmp: Path) -> None:
        book = BookWriter(tmp)
        for name, frame in sheets.items():
            book.sheet(name, frame.columns).append(frame)
        book.close()

    return replace_from(path, write)


#: Rows of a sheet whose text sets its columns' widths (with the header).
WIDTH_ROWS = 200


class BookWriter:
    """A workbook written a batch of rows at a time (xlsxwriter's constant-memory mode, the
    options of :func:`~creditpersona.safeio.excel_writer_options`) into ``path`` (a file
    of :func:`~creditpersona.safeio.replace_from`): the campaign workbook of both engines.

    Sheets appear in the order :meth:`sheet` creates them; rows may be added to any of
    them, each sheet's in order; :meth:`close` sets the widths and writes the file.
    """

    def __init__(self, path: Path) -> None:
        import xlsxwriter

        options = {**excel_writer_options()["options"], "constant_memory": True}
        self._book = xlsxwriter.Workbook(str(path), options)
        self._head = self._book.add_format({"bold": True, "border": 1, "align": "center",
                                            "valign": "top"})
        self._sheets: list[SheetWriter] = []

    def sheet(self, name: str, columns: Any) -> SheetWriter:
        """A new sheet ``name`` with the header ``columns`` (neutralised)."""
        out = SheetWriter(self._book.add_worksheet(name), [str(c) for c in columns],
                          self._head)
        self._sheets.append(out)
        return out

    def close(self) -> None:
        for sheet in self._sheets:
            sheet.finish()
        self._book.close()


class SheetWriter:
    """One sheet of a :class:`BookWriter`: pandas' bold bordered header, the header row
    frozen, numbers as numbers, text neutralised, missing cells left empty; each column as
    wide as its header and its first :data:`WIDTH_ROWS` values (at least 10, at most 60)."""

    def __init__(self, ws: Any, columns: list[str], head: Any) -> None:
        self._ws, self._row = ws, 1
        names = [str(neutralise(c)) for c in columns]
        self._widths = [len(c) for c in names]
        for j, col in enumerate(names):
            ws.write_string(0, j, col, head)
        ws.freeze_panes(1, 0)

    def append(self, frame: pd.DataFrame) -> None:
        """Rows below those already written (``frame``'s columns in the header's order)."""
        safe = neutralise_frame(frame)
        left = WIDTH_ROWS - (self._row - 1)
        if left > 0:
            self._widths = [max([w] + [len(str(v)) for v in safe[col].head(left)])
                            for w, col in zip(self._widths, safe.columns, strict=True)]
        _cells(self._ws, safe, self._row)
        self._row += len(safe)

    def finish(self) -> None:
        for j, w in enumerate(self._widths):
            self._ws.set_column(j, j, min(60, max(10, w + 2)))


def _cells(ws: Any, frame: pd.DataFrame, first: int = 1) -> None:
    """The rows of ``frame`` from sheet row ``first``: numbers as numbers, text as text,
    missing cells left empty."""
    columns: list[tuple[Any, np.ndarray]] = []
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            columns.append((ws.write_number, s.to_numpy(dtype=float)))
        else:
            columns.append((ws.write, s.astype(object).where(s.notna(), None).to_numpy()))
    for i in range(len(frame)):
        for j, (put, values) in enumerate(columns):
            v = values[i]
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                continue
            put(i + first, j, v.item() if isinstance(v, np.generic) else v)
