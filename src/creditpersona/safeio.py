"""Writing files into folders other people may share: no planted symlink is followed, no
half-written file is left, folders holding customer data are the owner's alone, and text a
spreadsheet would run as a formula is neutralised.

Every file the package writes for a user (exports, campaign lists, reports, checkpoints)
goes through :func:`write_bytes` / :func:`write_text` or :func:`replace_from`: the data is
written to a fresh ``tempfile.mkstemp`` file in the target folder and moved over the target
with ``os.replace``, which replaces a symlink planted at the target rather than writing
through it.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from creditpersona.errors import CreditPersonaError

#: Cell prefixes a spreadsheet reads as a formula or a DDE command (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class UnsafePathError(CreditPersonaError, PermissionError):
    """A path the package would write to, or read its state from, is not safe to use."""


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; refuse a symlink or a non-folder.

    An existing folder is kept as it is, but never one that is a symlink: a link planted
    where customer data is about to go could send it anywhere.

    Raises
    ------
    UnsafePathError
        If ``path`` is a symlink or exists and is not a folder.

    Examples
    --------
    >>> import tempfile, stat
    >>> d = private_dir(Path(tempfile.mkdtemp()) / "lists")
    >>> oct(stat.S_IMODE(d.stat().st_mode))
    '0o700'
    """
    folder = Path(path)
    if folder.is_symlink():
        raise UnsafePathError(f"{folder}: is a symbolic link; refusing to write customer data "
                              "through it. Remove the link or choose another folder.")
    if folder.exists() and not folder.is_dir():
        raise UnsafePathError(f"{folder}: exists and is not a folder; choose another path.")
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder


def _check_target(path: Path) -> None:
    if path.exists() and not path.is_symlink() and path.is_dir():
        raise UnsafePathError(f"{path}: is a folder; give a file name to write.")


@contextmanager
def atomic_path(path: str | Path, *, mode: int = 0o600) -> Iterator[Path]:
    """A temporary path in ``path``'s folder that replaces ``path`` when the block succeeds.

    The temporary file is made by ``tempfile.mkstemp`` (``O_EXCL``: never an existing file
    or link) and moved over ``path`` with ``os.replace``; a symlink at ``path`` is replaced,
    never followed. On error the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    _check_target(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.exists():
        private_dir(folder)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, mode)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def unlinked_target(path: str | Path) -> Path:
    """``path`` ready for a streaming writer that opens it itself: a symlink planted there is
    removed (replaced, never followed), a folder refused.

    For writers too large to stage in a temporary file (the synthetic bank's tables); put
    them in a :func:`private_dir` so nobody else can plant a link after this check.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "target.txt").write_text("keep")
    4
    >>> (d / "out.csv").symlink_to(d / "target.txt")
    >>> p = unlinked_target(d / "out.csv"); p.exists(), (d / "target.txt").read_text()
    (False, 'keep')
    """
    target = Path(path)
    _check_target(target)
    if target.is_symlink():
        target.unlink()
    return target


def write_bytes(path: str | Path, data: bytes, *, mode: int = 0o600) -> Path:
    """Write ``data`` to ``path`` atomically, never through a planted symlink.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = write_bytes(p, b"ok"); p.read_bytes()
    b'ok'
    """
    target = Path(path)
    with atomic_path(target, mode=mode) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8",
               mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` atomically, never through a planted symlink."""
    return write_bytes(path, text.encode(encoding), mode=mode)


def replace_from(path: str | Path, writer: Callable[[Path], Any], *,
                 mode: int = 0o600) -> Path:
    """Let ``writer`` write a temporary file, then move it over ``path`` atomically.

    For writers that need a path of their own (pandas' ``to_csv``, ``ExcelWriter``).
    """
    target = Path(path)
    with atomic_path(target, mode=mode) as tmp:
        writer(tmp)
    return target


def neutralise(value: object) -> object:
    """A cell a spreadsheet will show as text: a leading formula character is escaped with an
    apostrophe (OWASP); anything that is not text is returned unchanged.

    Examples
    --------
    >>> neutralise("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise("-3 days"), neutralise(-3), neutralise("客户A")
    ("'-3 days", -3, '客户A')
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised.

    Numbers stay numbers (a negative amount is a number, not a formula); only text cells
    are escaped, so a CSV or Excel export can be opened safely by anyone.
    """
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(neutralise, na_action="ignore").astype(object)
    return out


def to_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8-sig") -> Path:
    """Export ``frame`` as CSV for spreadsheets: cells neutralised, written atomically.

    Lines end in CRLF, as Excel writes them, which also makes the writer quote a cell holding
    a bare carriage return instead of letting it split the row.
    """
    safe = neutralise_frame(frame)
    return replace_from(path, lambda tmp: safe.to_csv(tmp, index=False, encoding=encoding,
                                                      lineterminator="\r\n"))


def to_csv_parts(frame: pd.DataFrame, parts: Sequence[tuple[str | Path, int, int]], *,
                 encoding: str = "utf-8-sig") -> list[Path]:
    """Export consecutive row ranges of ``frame`` as CSV files, as :func:`to_csv` would.

    ``parts`` holds ``(path, start, stop)``: rows ``start:stop`` (positions) go to ``path``,
    each file with the header. The cells are neutralised and rendered once for all the
    files (one call per file of pandas' writer would cost its overhead per file: a campaign
    writes thousands of RM lists), then every file is written atomically. The bytes equal
    :func:`to_csv`'s of the same rows.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> f = pd.DataFrame({"rm": ["a", "a", "b"], "note": ["=1+1", None, "x,y"],
    ...                   "v": [1.5, None, 2.0]})
    >>> a, b = to_csv_parts(f, [(d / "a.csv", 0, 2), (d / "b.csv", 2, 3)])
    >>> b.read_bytes().decode("utf-8-sig")
    'rm,note,v\\r\\nb,"x,y",2.0\\r\\n'
    >>> a.read_bytes() == to_csv(f.iloc[:2], d / "a2.csv").read_bytes()
    True
    """
    safe = neutralise_frame(frame)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([str(c) for c in safe.columns])
    header = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    ends = [0]
    cells = safe.astype(object).where(safe.notna(), None)
    for row in cells.itertuples(index=False, name=None):
        writer.writerow(row)
        ends.append(buf.tell())
    text = buf.getvalue()
    written = []
    for path, start, stop in parts:
        body = header + text[ends[start]:ends[stop]]
        written.append(write_bytes(path, body.encode(encoding)))
    return written


def excel_writer_options() -> dict[str, Any]:
    """``engine_kwargs`` for ``pandas.ExcelWriter(engine="xlsxwriter")`` that keep every
    string a string: no formulas, no URLs, no numbers parsed out of text."""
    return {"options": {"strings_to_formulas": False, "strings_to_urls": False,
                        "strings_to_numbers": False}}


def to_excel(path: str | Path, sheets: Mapping[str, pd.DataFrame], *,
             format_sheet: Callable[[Any, str, pd.DataFrame], None] | None = None) -> Path:
    """Export ``sheets`` (sheet name → frame) as one .xlsx workbook, written atomically.

    Text cells are neutralised and the xlsxwriter options of :func:`excel_writer_options`
    keep every string a string; numbers stay numbers. ``format_sheet(writer, name, frame)``
    may set column widths and the like.

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> p = Path(tempfile.mkdtemp()) / "a.xlsx"
    >>> _ = to_excel(p, {"s": pd.DataFrame({"a": ["=1+1"], "n": [-3]})})
    >>> [c.value for c in openpyxl.load_workbook(p)["s"][2]]
    ["'=1+1", -3]
    """
    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="xlsxwriter",
                            engine_kwargs=excel_writer_options()) as writer:
            for name, frame in sheets.items():
                safe = neutralise_frame(frame)
                safe.to_excel(writer, sheet_name=name, index=False)
                if format_sheet is not None:
                    format_sheet(writer, name, safe)

    return replace_from(path, write)


def others_can_write(path: str | Path) -> bool:
    """Whether users other than the owner (group or others) may write ``path``.

    A folder with the sticky bit (like ``/tmp``) still counts: others cannot replace a file
    there, but they can plant new ones (a DuckDB ``.wal`` next to the store, say).
    """
    mode = Path(path).stat().st_mode
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))
