"""Generic evaluation of the PD models on any table: stratified K-fold CV.

``read_table`` reads CSV (separator detected: ``,`` ``;`` tab or ``|``; UTF-8 or GB18030),
Parquet or ARFF: numeric features (``?`` or an empty field is a missing value), categorical
(text) features and a binary label; ``evaluate`` cross-validates the scorecard and the
challenger on it and reports, per fold and model, AUC, KS and Brier score (DOMAIN.md §8) with
the fit and scoring times. Infinite values are counted and treated as missing; text columns
that look like identifiers (more distinct values than half the rows) are left out and named.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

from creditpersona.contract.dialect import detect_separator
from creditpersona.contract.readers import (
    ROW_COLUMN,
    check_unique_names,
    open_quote,
    read_parquet,
)
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import Floats, Ints, PDEstimator, is_categorical
from creditpersona.models.boosting import BoostedPD
from creditpersona.models.params import Int, check_param
from creditpersona.models.scorecard import ScorecardPD

READERS = {".csv": "csv", ".txt": "csv", ".gz": "csv", ".parquet": "parquet",
           ".pq": "parquet", ".arff": "arff"}
#: A text column is numeric with typos (an error) rather than categorical when at least this
#: share of its values reads as numbers.
NUMERIC_SHARE = 0.9
#: A text column with more distinct values than this share of its rows (and more than
#: ``ID_MIN_DISTINCT``) is an identifier, not a feature: names, ids, free text.
ID_SHARE = 0.5
ID_MIN_DISTINCT = 20
MISSING_TEXT = ("", "?")
#: ARFF attribute types read as numbers.
ARFF_NUMERIC = ("numeric", "real", "integer")
#: Spellings of infinity and not-a-number that ARFF numbers may not take.
NON_FINITE_TEXT = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan",
                   "-nan")
_TRUE = ("1", "1.0", "true", "yes")
_FALSE = ("0", "0.0", "false", "no")
METRICS = ("auc", "ks", "brier")


# -- reading ---------------------------------------------------------------------------------
def read_delimited(path: str | Path) -> pd.DataFrame:
    """A delimited text file (``.csv``, ``.txt``, also gzip-compressed) as text columns.

    The one CSV reader of the evaluation commands: the encoding is UTF-8 (a BOM is allowed)
    or else GB18030, and the separator is detected by
    :func:`creditpersona.contract.dialect.detect_separator` (``,`` ``;`` tab or ``|``).
    Every value is text (``""`` where empty); column names are stripped.

    Raises
    ------
    SchemaError
        If the bytes are neither UTF-8 nor GB18030, the text cannot be parsed, or two
        columns share a name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bank.csv"
    >>> _ = p.write_text('"age";"job";"y"\\n56;"housemaid";"no"\\n')
    >>> read_delimited(p).to_dict("records")
    [{'age': '56', 'job': 'housemaid', 'y': 'no'}]
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise SchemaError(f"{path}: not a readable gzip file ({exc}).") from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SchemaError(f"{path}: neither UTF-8 nor GB18030 text; save the file as UTF-8.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=detect_separator(text[:20000]), dtype=str,
                            keep_default_na=False, skipinitialspace=True)
    except (ValueError, csv.Error) as exc:  # pandas' ParserError is a ValueError
        raise SchemaError(f"{path}: cannot read the table ({exc}).") from exc
    return with_clean_names(frame, path)


def with_clean_names(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame`` with its column names as trimmed text, refusing a name given twice
    (:func:`creditpersona.contract.readers.check_unique_names`, as for contract files)."""
    frame.columns = [str(c).strip() for c in frame.columns]
    check_unique_names(path, list(frame.columns), "header")
    return frame


def read_table(path: str | Path, label: str | None = None, *,
               positive: str | None = None) -> pd.DataFrame:
    """Read a table of features (and optionally a binary label) for the PD models.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.txt`` (also ``.gz``; separator detected, UTF-8 else GB18030),
        ``.parquet``/``.pq`` or ``.arff`` file.
    label : str, optional
        The label column: it may hold text (``yes``/``no``, ARFF's nominal ``{0,1}``) and is
        returned as 0/1 (see :func:`binary_label`).
    positive : str, optional
        The label value that marks the event (a default), for labels coded otherwise than
        0/1, true/false or yes/no (``2``, ``Y``, ``bad``).

    Returns
    -------
    pandas.DataFrame
        Numeric features as float64 (``?`` and empty fields are NaN; ``inf`` stays infinite
        for :func:`evaluate` to count), text features as pandas ``category``, the label as
        int64.

    Raises
    ------
    SchemaError
        If the file cannot be read, the label is missing or not binary, or a column of
        numbers holds a few values that are not (the message names column, row and value).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "firms.csv"
    >>> _ = path.write_text("roa;sector;status\\n0.1;C13;good\\n?;F51;bad\\n")
    >>> t = read_table(path, label="status", positive="bad")
    >>> t
       roa sector  status
    0  0.1    C13       0
    1  NaN    F51       1
    >>> t.dtypes.astype(str).tolist()
    ['float64', 'category', 'int64']
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file.")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise SchemaError(f"{path}: cannot read files ending in {path.suffix!r}; use one of "
                          f"{', '.join(sorted(READERS))}.")
    if kind == "arff":
        raw = _read_arff(path)
    elif kind == "csv":
        raw = read_delimited(path)
        raw[ROW_COLUMN] = np.arange(1, len(raw) + 1)
    else:
        raw = read_parquet(path).to_pandas()
    rows = raw.pop(ROW_COLUMN).to_numpy()
    names = [str(c) for c in raw.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SchemaError(f"{path}: duplicated column names {duplicated}; rename them.")
    if label is not None and label not in names:
        raise SchemaError(f"{path}: no label column {label!r}; the columns are "
                          f"{_shorten(names)}.")
    out: dict[str, object] = {}
    for name in names:
        column = raw[name]
        if name == label:
            out[name] = binary_label(column, name, rows=rows, source=str(path),
                                     positive=positive)
        else:
            out[name] = _feature(column, name, rows, str(path))
    return pd.DataFrame(out, index=pd.RangeIndex(len(raw)))


def _text(value: object) -> str:
    """A label value as text: bytes decoded, stripped, whole numbers without ``.0``."""
    text = (value.decode("utf-8", "replace") if isinstance(value, bytes)
            else str(value)).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _quoted(values: list[str], counts: list[int], limit: int = 6) -> str:
    shown = [f"{v!r} ({c:,} rows)" for v, c in zip(values[:limit], counts[:limit],
                                                   strict=False)]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(shown) + more


def binary_label(values: pd.Series | np.ndarray, name: str = "label", *,
                 rows: np.ndarray | None = None, source: str = "data",
                 positive: str | None = None) -> Ints:
    """A binary label as 1 (the event: a default, a response) / 0.

    Without ``positive`` the label must read as 0/1, true/false or yes/no (any case; bytes,
    as ARFF's nominal values, too). With ``positive`` the label holds two values of any
    spelling and the one equal to ``positive`` (ignoring case and surrounding spaces;
    ``1.0`` equals ``1``) is the event.

    Parameters
    ----------
    values : pandas.Series or numpy.ndarray
    name : str
        The column name, for messages.
    rows : numpy.ndarray, optional
        The 1-based file row of each value, for messages.
    source : str
        Where the values come from, for messages.
    positive : str, optional
        The value that marks the event (``--positive`` on the command line).

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    SchemaError
        If a value is missing, the values are not a binary coding (the message quotes the
        column's own values), ``positive`` is not one of them, or only one class occurs.

    Examples
    --------
    >>> binary_label(pd.Series([b"0", b"1", b"1"])).tolist()
    [0, 1, 1]
    >>> binary_label(pd.Series(["Yes", "no", " TRUE "])).tolist()
    [1, 0, 1]
    >>> binary_label(pd.Series([1, 2, 2]), "class", positive="2").tolist()
    [0, 1, 1]
    >>> binary_label(pd.Series(["good", "bad"]), "status", positive="BAD").tolist()
    [0, 1]
    >>> binary_label(pd.Series([1, 2, 2]), "class")
    Traceback (most recent call last):
    ...
    creditpersona.errors.SchemaError: data: label column 'class' holds '1' (1 rows) and \
'2' (2 rows), not 0/1, true/false or yes/no; name the value that marks the event: \
--positive 2 or --positive 1.
    """
    series = pd.Series(values).reset_index(drop=True)
    rows = np.arange(1, len(series) + 1) if rows is None else rows
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [_text(v) for v in uniques]
    blank = np.array([t == "" for t in texts] + [True])[codes]  # code -1 (NaN) is blank too
    if blank.any():
        first = int(np.flatnonzero(blank)[0])
        raise SchemaError(f"{source}: label column {name!r} is empty in "
                          f"{int(blank.sum())} rows (first at row {rows[first]}); "
                          "drop or fill those rows.")
    keys = [t.lower() for t in texts]
    distinct = sorted(set(keys))
    counts = np.bincount(codes, minlength=len(uniques))
    spelled = {k: next(t for t, kk in zip(texts, keys, strict=True) if kk == k)
               for k in distinct}
    per_key = [int(sum(c for c, kk in zip(counts, keys, strict=True) if kk == k))
               for k in distinct]
    listing = " and ".join(_quoted([spelled[k] for k in distinct], per_key).rsplit(", ", 1))
    where = _LabelColumn(name, source, listing, distinct, spelled)
    mapped = (_coded_by_positive(keys, positive, where) if positive is not None
              else _coded_as_binary(keys, texts, codes, rows, where))
    labels = mapped[codes]
    if labels.min() == labels.max():
        raise SchemaError(f"{source}: label column {name!r} holds only {listing}; evaluation "
                          "needs both classes (events and non-events).")
    return labels


@dataclass(frozen=True)
class _LabelColumn:
    """What the messages of :func:`binary_label` say about the column."""

    name: str
    source: str
    listing: str                # its values and counts, as the messages quote them
    distinct: list[str]         # its values, lower case, sorted
    spelled: dict[str, str]     # lower case → as first written


def _coded_by_positive(keys: list[str], positive: str, where: _LabelColumn) -> Ints:
    """1 for the distinct value equal to ``positive``, 0 for the other (by factor code)."""
    want = _text(positive).lower()
    if want not in where.distinct:
        raise SchemaError(f"{where.source}: --positive {positive!r} is not a value of label "
                          f"column {where.name!r}, which holds {where.listing}.")
    if len(where.distinct) > 2:
        raise SchemaError(f"{where.source}: label column {where.name!r} holds "
                          f"{len(where.distinct)} values ({where.listing}); a binary label "
                          "has two.")
    return np.array([int(k == want) for k in keys], dtype=np.int64)


def _coded_as_binary(keys: list[str], texts: list[str], codes: Ints, rows: np.ndarray,
                     where: _LabelColumn) -> Ints:
    """1 for true/yes/1, 0 for false/no/0 (by factor code), else an error naming a value."""
    known = [k in _TRUE or k in _FALSE for k in keys]
    if not all(known):
        if len(where.distinct) == 2:
            first_, second = (where.spelled[k] for k in where.distinct)
            raise SchemaError(
                f"{where.source}: label column {where.name!r} holds {where.listing}, not 0/1, "
                f"true/false or yes/no; name the value that marks the event: --positive "
                f"{second} or --positive {first_}.")
        odd = next(i for i, ok in enumerate(known) if not ok)
        first = int(np.flatnonzero(codes == odd)[0])
        raise SchemaError(
            f"{where.source}: label column {where.name!r} is not binary: it holds "
            f"{len(where.distinct)} values ({where.listing}; {texts[odd]!r} first at row "
            f"{rows[first]}); expected 0/1, true/false or yes/no, or two values and "
            "--positive.")
    return np.array([int(k in _TRUE) for k in keys], dtype=np.int64)


def _feature(column: pd.Series, name: str, rows: np.ndarray, source: str) -> pd.Series:
    """A feature column as float64 numbers, or as a pandas ``category`` of its text.

    A text column whose values almost all read as numbers (at least ``NUMERIC_SHARE``) is a
    column of numbers with a few bad values: an error naming the first, so that a typo does
    not silently turn an amount into categories.
    """
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return pd.Series(column.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        raise SchemaError(f"{source}: column {name!r} holds dates; the PD models take numbers "
                          "and categories: turn it into a number (e.g. days since) or drop it.")
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.reset_index(drop=True)
    text = column.astype("string").str.strip()
    text = text.mask(text.isin(MISSING_TEXT))
    number = pd.to_numeric(text, errors="coerce")
    bad = text.notna().to_numpy() & number.isna().to_numpy()
    present = int(text.notna().sum())
    if not bad.any():
        return pd.Series(number.to_numpy(dtype=np.float64, na_value=np.nan))
    if present - int(bad.sum()) >= NUMERIC_SHARE * present:
        first = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{source}: column {name!r} is numbers except {int(bad.sum())} values such as "
            f"{text.iloc[first]!r} at row {rows[first]}; fix those values, mark them missing "
            "('?' or empty), or leave the column out (--drop).")
    return text.astype("category").reset_index(drop=True)


def _read_arff(path: Path) -> pd.DataFrame:
    """A dense ARFF file as text columns (plus the ``_row`` column of data-row numbers)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text ({exc}); save the ARFF file as UTF-8.") \
            from exc
    names: list[str] = []
    numeric: list[str] = []
    data_start = None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        keyword = text.split(None, 1)[0].lower()
        if keyword == "@attribute":
            rest = text[len("@attribute"):].strip()
            names.append(_arff_name(rest, path, number))
            kind = rest[rest.find(rest[0], 1) + 1:] if rest[:1] in ("'", '"') else \
                rest.split(None, 1)[-1]
            if kind.strip().split(None, 1)[0].lower() in ARFF_NUMERIC:
                numeric.append(names[-1])
        elif keyword == "@data":
            data_start = number
            break
    if data_start is None or not names:
        raise SchemaError(f"{path}: not an ARFF file (no @attribute lines or no @data line).")
    body = [(n, line) for n, line in enumerate(lines[data_start:], start=data_start + 1)
            if line.strip() and not line.lstrip().startswith("%")]
    if any(line.lstrip().startswith("{") for _, line in body):
        raise SchemaError(f"{path}: sparse ARFF is not supported; write the data densely.")
    records = []
    for line_no, line in body:
        # ARFF keeps a row on one line: a quote left open would take the next lines into
        # the value and shift every later row.
        if open_quote(line, ",", "'") or open_quote(line, ",", '"'):
            raise SchemaError(
                f"{path} line {line_no}: a quoted value is not closed on its line; an ARFF "
                "row is one line, so write a line break inside a value as \\n and close the "
                "quote.")
        record = next(csv.reader([line], quotechar="'", skipinitialspace=True))
        if len(record) != len(names):
            raise SchemaError(f"{path} line {line_no}: {len(record)} values for "
                              f"{len(names)} attributes; give one value per attribute (? for "
                              "a missing one).")
        records.append(record)
    frame = pd.DataFrame(records, columns=names, dtype=object)
    for name in numeric:
        spelled = frame[name].astype(str).str.strip().str.lower()
        odd = spelled.isin(NON_FINITE_TEXT).to_numpy()
        if odd.any():
            first = int(np.flatnonzero(odd)[0])
            raise SchemaError(
                f"{path} line {body[first][0]}: numeric attribute {name!r} = "
                f"{frame[name].iloc[first]!r} is not a finite number ({int(odd.sum())} such "
                "rows); ARFF numbers are finite: write ? for an unknown value, or cap it.")
    frame[ROW_COLUMN] = np.arange(1, len(frame) + 1)
    return frame


def _arff_name(rest: str, path: Path, line: int) -> str:
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        if end > 0:
            return rest[1:end]
    elif rest:
        return rest.split(None, 1)[0]
    raise SchemaError(f"{path} line {line}: cannot read the attribute name.")


def _shorten(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


# -- metrics ---------------------------------------------------------------------------------
def ks_statistic(y: Ints, pd_: Floats) -> float:
    """Kolmogorov–Smirnov statistic: the largest gap between the PD distributions of
    defaults and non-defaults (max over thresholds of TPR − FPR).

    Examples
    --------
    >>> import numpy as np
    >>> ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.5
    """
    fpr, tpr, _ = roc_curve(y, pd_)
    return float(np.max(tpr - fpr))


def brier_score(y: Ints, pd_: Floats) -> float:
    """Mean squared difference between PD and outcome.

    Examples
    --------
    >>> import numpy as np
    >>> round(brier_score(np.array([0, 1]), np.array([0.2, 0.6])), 6)
    0.1
    """
    return float(np.mean((pd_ - y) ** 2))


# -- features --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """Feature columns made ready for the models, and what was done to them.

    Attributes
    ----------
    frame : pandas.DataFrame
        The features: numbers with infinities as NaN, categories as they came.
    infinities : dict
        Column → number of infinite values (now missing), for columns that had any.
    identifiers : tuple of str
        Text columns left out because they look like identifiers (names, ids, free text).
    categorical : tuple of str
        Columns used as categorical features.
    """

    frame: pd.DataFrame
    infinities: dict[str, int]
    identifiers: tuple[str, ...]
    categorical: tuple[str, ...]


def prepare_features(X: pd.DataFrame) -> Features:
    """Count infinite values and make them missing; leave out identifier-like text columns.

    A ratio over a zero denominator, ``inf`` or ``1e309`` in a file, is a number no model can
    use; it is counted per column and treated as missing (the output says how many). A text
    column with more distinct values than half its rows (and more than ``ID_MIN_DISTINCT``)
    names things rather than grouping them, so it cannot generalise: it is left out, by name.

    Raises
    ------
    SchemaError
        If no feature is left.

    Examples
    --------
    >>> X = pd.DataFrame({"roa": [0.1, np.inf, -np.inf], "sector": ["C", "F", "C"]})
    >>> f = prepare_features(X)
    >>> f.infinities, f.categorical, f.frame["roa"].isna().tolist()
    ({'roa': 2}, ('sector',), [False, True, True])
    """
    infinities: dict[str, int] = {}
    identifiers: list[str] = []
    categorical: list[str] = []
    columns: dict[str, pd.Series] = {}
    for name in X.columns:
        column = X[name]
        if is_categorical(column):
            present = int(column.notna().sum())
            distinct = int(column.nunique(dropna=True))
            if distinct > max(ID_MIN_DISTINCT, ID_SHARE * present):
                identifiers.append(str(name))
                continue
            categorical.append(str(name))
            columns[name] = column
            continue
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            infinities[str(name)] = int(infinite.sum())
            values = np.where(infinite, np.nan, values)
        columns[name] = pd.Series(values, index=column.index, name=name)
    if not columns:
        raise SchemaError("no feature columns are left"
                          + (f" (identifier-like text columns left out: {identifiers})"
                             if identifiers else "") + "; the table needs features.")
    return Features(pd.DataFrame(columns, index=X.index), infinities, tuple(identifiers),
                    tuple(categorical))


def describe_preparation(infinities: dict[str, int], categorical: tuple[str, ...] = (),
                         identifiers: tuple[str, ...] = ()) -> list[str]:
    """Sentences for the output on what :func:`prepare_features` did (nothing: empty), from
    what an evaluation result keeps of it.

    Examples
    --------
    >>> f = prepare_features(pd.DataFrame({"a": [1.0, np.inf]}))
    >>> describe_preparation(f.infinities, f.categorical, f.identifiers)
    ['1 infinite value (a: 1) treated as missing.']
    """
    notes = []
    if infinities:
        total = sum(infinities.values())
        listed = ", ".join(f"{k}: {v:,}" for k, v in sorted(infinities.items(),
                                                            key=lambda kv: -kv[1])[:8])
        notes.append(f"{total:,} infinite value{'s' if total > 1 else ''} ({listed}) treated "
                     "as missing.")
    if categorical:
        notes.append(f"{len(categorical)} categorical column"
                     f"{'s' if len(categorical) > 1 else ''}: {_shorten(list(categorical))}.")
    if identifiers:
        notes.append(f"left out as identifiers (more distinct values than half the rows): "
                     f"{_shorten(list(identifiers))}; --drop them to silence this.")
    return notes


# -- evaluation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationResult:
    """Cross-validated performance of the PD models on one table.

    Attributes
    ----------
    label : str
    rows, features, defaults : int
        Size of the table and number of label-1 rows.
    cv, seed : int
        Folds and the seed of the fold split and the models.
    folds : pandas.DataFrame
        One row per model and fold: ``model, fold, auc, ks, brier, fit_seconds,
        predict_seconds, train_rows, test_rows, test_defaults``.
    dropped : tuple of str
        Columns left out on request (``drop``).
    categorical : tuple of str
        Features used as categorical.
    infinities : dict
        Column → infinite values treated as missing.
    identifiers : tuple of str
        Text columns left out as identifiers.
    positive : str or None
        The label value named as the event, if one was.
    """

    label: str
    rows: int
    features: int
    defaults: int
    cv: int
    seed: int
    folds: pd.DataFrame = field(repr=False)
    dropped: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    infinities: dict[str, int] = field(default_factory=dict)
    identifiers: tuple[str, ...] = ()
    positive: str | None = None

    def notes(self) -> list[str]:
        """What was done to the table before fitting, as sentences for the output."""
        return describe_preparation(self.infinities, self.categorical, self.identifiers)

    def summary(self) -> pd.DataFrame:
        """Per model: mean and standard deviation (n−1) of AUC, KS and Brier over the folds,
        and the mean fit and scoring seconds per fold."""
        grouped = self.folds.groupby("model", sort=False)
        out = pd.DataFrame(index=pd.Index(grouped.groups.keys(), name="model"))
        for metric in METRICS:
            out[f"{metric}_mean"] = grouped[metric].mean()
            out[f"{metric}_sd"] = grouped[metric].std(ddof=1)
        out["fit_seconds"] = grouped["fit_seconds"].mean()
        out["predict_seconds"] = grouped["predict_seconds"].mean()
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values: the table, the per-fold numbers, the summary."""
        summary = self.summary()
        return {
            "label": self.label, "rows": self.rows, "features": self.features,
            "defaults": self.defaults, "cv": self.cv, "seed": self.seed,
            "positive": self.positive, "dropped": list(self.dropped),
            "categorical": list(self.categorical), "infinities": dict(self.infinities),
            "identifiers": list(self.identifiers),
            "sd": "sample standard deviation over folds (n-1)",
            "models": {
                model: {
                    "folds": [{k: _plain(v) for k, v in row.items() if k != "model"}
                              for row in part.to_dict(orient="records")],
                    "summary": {k: _plain(v) for k, v in summary.loc[model].items()},
                }
                for model, part in self.folds.groupby("model", sort=False)
            },
        }


def default_estimators(seed: int = 0) -> dict[str, PDEstimator]:
    """The two models ``evaluate`` compares: the scorecard and the LightGBM challenger."""
    return {"scorecard": ScorecardPD(random_state=seed),
            "challenger": BoostedPD(random_state=seed)}


def evaluate(
    data: pd.DataFrame,
    label: str,
    cv: int = 5,
    seed: int = 0,
    *,
    positive: str | None = None,
    drop: Sequence[str] = (),
    estimators: Mapping[str, PDEstimator] | None = None,
    on_fold: Callable[[int, str, dict[str, float]], None] | None = None,
    n_jobs: int | None = None,
) -> EvaluationResult:
    """Stratified K-fold cross-validation of the PD models on one table.

    Every fold fits a fresh copy (``sklearn.base.clone``) of every estimator on the other
    folds and scores the held-out rows.

    Parameters
    ----------
    data : pandas.DataFrame
        Numeric and categorical features and the label column (as :func:`read_table`
        returns). Infinite values are counted and treated as missing; identifier-like text
        columns are left out (see :func:`prepare_features`).
    label : str
        The label column (1/true/yes = default, unless ``positive`` says otherwise).
    cv : int, default 5
        Number of folds (at least 2, at most the number of rows of the rarer class).
    seed : int, default 0
        Seed of the fold split and of the models.
    positive : str, optional
        The label value that marks a default, for labels such as 1/2, Y/N or good/bad.
    drop : sequence of str
        Columns to leave out (an identifier, or one known only after the outcome).
    estimators : mapping, optional
        Name → unfitted estimator; default :func:`default_estimators` (``seed``).
    on_fold : callable, optional
        Called after every model and fold with (fold number, model name, its metrics).
    n_jobs : int, optional
        Fits run side by side in this many processes, each estimator on one thread
        (default: one process per core). The numbers do not depend on it.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ConfigurationError
        If ``cv`` or ``seed`` is invalid.
    SchemaError
        If the label is missing or not binary or a feature is not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({"leverage": rng.uniform(0, 1, 2000)})
    >>> table["default"] = (rng.uniform(size=2000) < table["leverage"] ** 4).astype(int)
    >>> result = evaluate(table, "default", cv=3, seed=0,
    ...                   estimators={"scorecard": ScorecardPD()}, n_jobs=1)
    >>> result.folds[["model", "fold"]].values.tolist()
    [['scorecard', 1], ['scorecard', 2], ['scorecard', 3]]
    >>> bool(result.summary().loc["scorecard", "auc_mean"] > 0.75)
    True
    """
    folds_n = int(check_param(cv, "cv", "evaluate", Int(2)))
    seed = int(check_param(seed, "seed", "evaluate", Int(0, 2**31 - 1)))
    X, y, prepared = _evaluation_inputs(data, label, positive, drop)
    defaults = int(y.sum())
    if (rarer := min(defaults, y.size - defaults)) < folds_n:
        raise parameter_error("cv", "evaluate", f"at most the rows of the rarer class ({rarer})",
                              cv)
    models = dict(estimators) if estimators is not None else default_estimators(seed)
    workers = int(check_param(n_jobs, "n_jobs", "evaluate", Int(1))) if n_jobs is not None \
        else (os.cpu_count() or 1)
    return EvaluationResult(
        label=label, rows=int(y.size), features=X.shape[1], defaults=defaults, cv=folds_n,
        seed=seed, folds=_cross_validate(models, X, y, folds_n, seed, workers, on_fold),
        dropped=tuple(drop), categorical=prepared.categorical,
        infinities=prepared.infinities, identifiers=prepared.identifiers, positive=positive)


def _evaluation_inputs(data: object, label: str, positive: str | None,
                       drop: Sequence[str]) -> tuple[pd.DataFrame, Ints, Features]:
    """The features, the label and what preparing the features did, for :func:`evaluate`."""
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"evaluate needs a pandas DataFrame; got {type(data).__name__}.")
    if label not in data.columns:
        raise SchemaError(f"no label column {label!r}; the columns are "
                          f"{_shorten([str(c) for c in data.columns])}.")
    unknown = [c for c in drop if c not in data.columns]
    if unknown:
        raise SchemaError(f"cannot drop {unknown}: no such columns; the columns are "
                          f"{_shorten([str(c) for c in data.columns])}.")
    y = binary_label(data[label], label, positive=positive)
    prepared = prepare_features(data.drop(columns=[label, *drop]).reset_index(drop=True))
    return prepared.frame, y, prepared


def _cross_validate(models: Mapping[str, PDEstimator], X: pd.DataFrame, y: Ints, folds_n: int,
                    seed: int, workers: int,
                    on_fold: Callable[[int, str, dict[str, float]], None] | None
                    ) -> pd.DataFrame:
    """One row per model and fold: its metrics, times and sizes (models in given order)."""
    jobs = [(fold, name, train, test)
            for fold, (train, test) in enumerate(_folds(X, y, folds_n, seed), start=1)
            for name in models]
    # Whole fits run side by side, one thread each: on few cores this is much faster than
    # one fit at a time with every core (LightGBM's threads gain little on small tables).
    single = workers > 1
    tasks = (delayed(_fit_and_score)(models[name], X, y, train, test, single)
             for _, name, train, test in jobs)
    records = []
    results = Parallel(n_jobs=min(workers, len(jobs)), return_as="generator")(tasks)
    for (fold, name, train, test), row in zip(jobs, results, strict=True):
        records.append({"model": name, "fold": fold, **row, "train_rows": int(train.size),
                        "test_rows": int(test.size), "test_defaults": int(y[test].sum())})
        if on_fold is not None:
            on_fold(fold, name, row)
    frame = pd.DataFrame(records)
    frame = frame.sort_values(["model", "fold"], key=lambda s: s.map(
        {n: i for i, n in enumerate(models)}) if s.name == "model" else s, kind="stable")
    return frame.reset_index(drop=True)


def _fit_and_score(estimator: PDEstimator, X: pd.DataFrame, y: Ints, train: Ints, test: Ints,
                   single_thread: bool) -> dict[str, float]:
    model = clone(estimator)
    if single_thread and "n_jobs" in model.get_params():
        model.set_params(n_jobs=1)
    started = time.perf_counter()
    model.fit(X.iloc[train], y[train])
    fitted = time.perf_counter()
    pd_ = model.predict_pd(X.iloc[test])
    scored = time.perf_counter()
    return {
        "auc": float(roc_auc_score(y[test], pd_)),
        "ks": ks_statistic(y[test], pd_),
        "brier": brier_score(y[test], pd_),
        "fit_seconds": fitted - started,
        "predict_seconds": scored - fitted,
    }


def _folds(X: pd.DataFrame, y: Ints, k: int, seed: int) -> Iterator[tuple[Ints, Ints]]:
    yield from StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y)


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
