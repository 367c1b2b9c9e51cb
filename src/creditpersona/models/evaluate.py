"""Generic evaluation of the PD models on any numeric table: stratified K-fold CV.

``read_table`` reads CSV (UTF-8 or GB18030), Parquet or ARFF with numeric features (``?`` or
an empty field is a missing value) and a binary label; ``evaluate`` cross-validates the
scorecard and the challenger on it and reports, per fold and model, AUC, KS and Brier score
(DOMAIN.md §8) with the fit and scoring times.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

from creditpersona.contract.readers import ROW_COLUMN, open_quote, read_csv, read_parquet
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import Floats, Ints, PDEstimator, check_int
from creditpersona.models.boosting import BoostedPD
from creditpersona.models.scorecard import ScorecardPD

READERS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".arff": "arff"}
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
def read_table(path: str | Path, label: str | None = None) -> pd.DataFrame:
    """Read a table of numeric features (and optionally a binary label) for the PD models.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.txt`` (UTF-8, else GB18030), ``.parquet``/``.pq`` or ``.arff`` file.
    label : str, optional
        The label column: it may hold text (``yes``/``no``, ARFF's nominal ``{0,1}``) and is
        returned as 0/1 (see :func:`binary_label`).

    Returns
    -------
    pandas.DataFrame
        Every feature as float64 (``?`` and empty fields are NaN) and the label as int64.

    Raises
    ------
    SchemaError
        If the file cannot be read, the label is missing or not binary, or a feature column
        holds a value that is not a number (the message names the column, row and value).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "firms.csv"
    >>> _ = path.write_text("roa,leverage,default\\n0.1,?,no\\n,0.7,yes\\n")
    >>> read_table(path, label="default")
       roa  leverage  default
    0  0.1       NaN        0
    1  NaN       0.7        1
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
    else:
        table = read_csv(path)[0] if kind == "csv" else read_parquet(path)
        raw = table.to_pandas()
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
            out[name] = binary_label(column, name, rows=rows, source=str(path))
        else:
            out[name] = _as_number(column, name, rows, str(path))
    return pd.DataFrame(out, index=pd.RangeIndex(len(raw)))


def binary_label(values: pd.Series | np.ndarray, name: str = "label", *,
                 rows: np.ndarray | None = None, source: str = "data") -> Ints:
    """A binary label as 1 (default) / 0: accepts 0/1, true/false, yes/no, bytes (ARFF).

    Parameters
    ----------
    values : pandas.Series or numpy.ndarray
    name : str
        The column name, for messages.
    rows : numpy.ndarray, optional
        The 1-based file row of each value, for messages.
    source : str
        Where the values come from, for messages.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    SchemaError
        If a value is missing or not one of the accepted spellings, or only one class occurs.

    Examples
    --------
    >>> binary_label(pd.Series([b"0", b"1", b"1"])).tolist()
    [0, 1, 1]
    >>> binary_label(pd.Series(["Yes", "no", " TRUE "])).tolist()
    [1, 0, 1]
    >>> binary_label(pd.Series([0, 2]), "class")
    Traceback (most recent call last):
    ...
    creditpersona.errors.SchemaError: data: label column 'class' is not binary: value '2' \
at row 2; expected 0/1, true/false or yes/no.
    """
    series = pd.Series(values).reset_index(drop=True)
    rows = np.arange(1, len(series) + 1) if rows is None else rows
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if (codes < 0).any():
        first = int(np.flatnonzero(codes < 0)[0])
        raise SchemaError(f"{source}: label column {name!r} is empty in "
                          f"{int((codes < 0).sum())} rows (first at row {rows[first]}); "
                          "drop or fill those rows.")
    mapped = np.empty(len(uniques), dtype=np.int64)
    for i, value in enumerate(uniques):
        text = (value.decode("utf-8", "replace") if isinstance(value, bytes)
                else str(value)).strip().lower()
        if text in _TRUE:
            mapped[i] = 1
        elif text in _FALSE:
            mapped[i] = 0
        else:
            first = int(np.flatnonzero(codes == i)[0])
            raise SchemaError(f"{source}: label column {name!r} is not binary: value "
                              f"{text!r} at row {rows[first]}; expected 0/1, true/false or "
                              "yes/no.")
    labels = mapped[codes]
    if labels.min() == labels.max():
        raise SchemaError(f"{source}: label column {name!r} holds only the class "
                          f"{labels[0]}; evaluation needs defaults and non-defaults.")
    return labels


def _as_number(column: pd.Series, name: str, rows: np.ndarray, source: str) -> Floats:
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    if not (pd.api.types.is_string_dtype(column.dtype) or column.dtype == object):
        raise SchemaError(f"{source}: column {name!r} has type {column.dtype}, not numbers; "
                          "the PD models take numeric features only: encode it or drop it.")
    text = column.astype("string").str.strip()
    text = text.mask(text.isin(MISSING_TEXT))
    number = pd.to_numeric(text, errors="coerce")
    bad = text.notna().to_numpy() & number.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"{source}: column {name!r} is not numeric: {text.iloc[first]!r} at row "
            f"{rows[first]} ({int(bad.sum())} such rows). The PD models take numeric features "
            "only: encode the column as numbers, drop it, or pass it as --label."
        )
    return np.asarray(number.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


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
    """

    label: str
    rows: int
    features: int
    defaults: int
    cv: int
    seed: int
    folds: pd.DataFrame = field(repr=False)

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
        Numeric features and the label column (as :func:`read_table` returns).
    label : str
        The label column (1/true/yes = default).
    cv : int, default 5
        Number of folds (at least 2, at most the number of rows of the rarer class).
    seed : int, default 0
        Seed of the fold split and of the models.
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
    folds_n = check_int(cv, "cv", "evaluate", 2)
    seed = check_int(seed, "seed", "evaluate", 0, 2**31 - 1)
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"evaluate needs a pandas DataFrame; got {type(data).__name__}.")
    if label not in data.columns:
        raise SchemaError(f"no label column {label!r}; the columns are "
                          f"{_shorten([str(c) for c in data.columns])}.")
    y = binary_label(data[label], label)
    X = data.drop(columns=[label]).reset_index(drop=True)
    defaults = int(y.sum())
    rarer = min(defaults, y.size - defaults)
    if rarer < folds_n:
        raise parameter_error("cv", "evaluate", f"at most the rows of the rarer class ({rarer})",
                              cv)
    models = dict(estimators) if estimators is not None else default_estimators(seed)
    workers = check_int(n_jobs, "n_jobs", "evaluate", 1) if n_jobs is not None else (
        os.cpu_count() or 1)
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
    return EvaluationResult(label=label, rows=int(y.size), features=X.shape[1],
                            defaults=defaults, cv=folds_n, seed=seed,
                            folds=frame.reset_index(drop=True))


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
