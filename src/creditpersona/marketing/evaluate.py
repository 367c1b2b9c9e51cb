"""Generic evaluation of the response and uplift models on any table: stratified K-fold CV.

``read_campaign_table`` reads CSV (separator detected: ``,`` ``;`` tab or ``|``; UTF-8 or
GB18030; ``.csv.gz`` too) or Parquet; columns whose every value reads as a number are
numeric, the others categorical (used natively by LightGBM). ``evaluate_table`` reports per
fold the AUC of the :class:`~creditpersona.marketing.propensity.PropensityModel` and, given a
treatment column, the Qini coefficient, uplift@k and the incremental responses in the top
share against random targeting for both uplift learners.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from creditpersona.errors import SchemaError, parameter_error
from creditpersona.marketing.propensity import PropensityModel, ranking_auc
from creditpersona.marketing.uplift import (
    UPLIFT_LEARNERS,
    incremental_at_k,
    qini_coefficient,
    uplift_at_k,
)
from creditpersona.models.evaluate import (
    Features,
    binary_label,
    describe_preparation,
    prepare_features,
    read_delimited,
    with_clean_names,
)

MISSING_TEXT = ("", "?", "NA", "N/A", "nan", "NaN", "null", "NULL")


def read_campaign_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.txt``, ``.csv.gz``) or Parquet table for evaluation.

    Returns
    -------
    pandas.DataFrame
        Numeric columns as float64 (``?``, empty, NA … are missing); other columns as text.

    Raises
    ------
    SchemaError
        If the file does not exist, has an unknown suffix, or cannot be parsed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bank.csv"
    >>> _ = p.write_text('"age";"job";"y"\\n56;"housemaid";"no"\\n41;?;"yes"\\n')
    >>> t = read_campaign_table(p)
    >>> t.dtypes.astype(str).tolist(), t["job"].isna().tolist()
    (['float64', 'object', 'object'], [False, True])
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file.")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            raw = pd.read_parquet(path)
        elif name.endswith((".csv", ".txt", ".csv.gz", ".txt.gz")):
            raw = read_delimited(path)
        else:
            raise SchemaError(f"{path}: cannot read files ending in {path.suffix!r}; use "
                              ".csv, .txt, .csv.gz or .parquet.")
    except SchemaError:
        raise
    except Exception as exc:  # parser errors of pandas and pyarrow alike
        raise SchemaError(f"{path}: cannot read the table ({exc}).") from exc
    raw = with_clean_names(raw, path)
    return pd.DataFrame({c: _typed(raw[c]) for c in raw.columns})


def _typed(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col
    text = col.astype("string").str.strip()
    text = text.mask(text.isin(MISSING_TEXT))
    number = pd.to_numeric(text, errors="coerce")
    if number.notna().sum() == text.notna().sum() and text.notna().any():
        return number.astype("float64")
    return text.astype(object).where(text.notna(), None)


@dataclass(frozen=True)
class CampaignEvaluation:
    """Cross-validated performance on one table.

    Attributes
    ----------
    label, treatment : str, str or None
    rows, features, positives : int
    cv, seed : int
    dropped : tuple of str
    categorical : tuple of str
        Columns used as categoricals.
    infinities : dict
        Column → infinite values treated as missing.
    identifiers : tuple of str
        Text columns left out as identifiers.
    positive : str or None
        The label value named as the event, if one was.
    folds : pandas.DataFrame
        One row per model and fold: ``model, fold`` and ``auc`` (propensity) or ``qini,
        uplift_at_k, incremental_at_k, ratio_to_random`` (uplift), ``fit_seconds``.
    k : float
        The top share of uplift@k.
    """

    label: str
    treatment: str | None
    rows: int
    features: int
    positives: int
    cv: int
    seed: int
    dropped: tuple[str, ...]
    categorical: tuple[str, ...]
    k: float
    folds: pd.DataFrame = field(repr=False)
    infinities: dict[str, int] = field(default_factory=dict)
    identifiers: tuple[str, ...] = ()
    positive: str | None = None

    def notes(self) -> list[str]:
        """What was done to the table before fitting, as sentences for the output."""
        return describe_preparation(self.infinities, self.categorical, self.identifiers)

    def summary(self) -> pd.DataFrame:
        """Per model: mean and sample standard deviation of every metric over the folds."""
        metrics = [c for c in ("auc", "qini", "uplift_at_k", "incremental_at_k",
                               "ratio_to_random", "fit_seconds") if c in self.folds.columns]
        g = self.folds.groupby("model", sort=False)[metrics]
        mean, sd = g.mean(), g.std(ddof=1)
        out = pd.DataFrame(index=mean.index)
        for c in metrics:
            out[f"{c}_mean"], out[f"{c}_sd"] = mean[c], sd[c]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: settings, per-fold numbers and the summary."""
        summary = self.summary()
        return {
            "label": self.label, "treatment": self.treatment, "rows": self.rows,
            "features": self.features, "positives": self.positives, "cv": self.cv,
            "seed": self.seed, "dropped": list(self.dropped),
            "categorical": list(self.categorical), "k": self.k,
            "positive": self.positive, "infinities": dict(self.infinities),
            "identifiers": list(self.identifiers),
            "sd": "sample standard deviation over folds (n-1)",
            "models": {
                str(model): {
                    "folds": [{k: _plain(v) for k, v in row.items() if k != "model"}
                              for row in part.dropna(axis=1, how="all").to_dict("records")],
                    "summary": {k: _plain(v) for k, v in summary.loc[model].dropna().items()},
                }
                for model, part in self.folds.groupby("model", sort=False)
            },
        }


def evaluate_table(
    data: pd.DataFrame,
    label: str,
    *,
    treatment: str | None = None,
    positive: str | None = None,
    drop: Sequence[str] = (),
    cv: int = 5,
    seed: int = 0,
    k: float = 0.2,
    n_jobs: int = 1,
    on_fold: Callable[[int, str, dict[str, float]], None] | None = None,
) -> CampaignEvaluation:
    """Stratified K-fold cross-validation of the propensity and uplift models on a table.

    Parameters
    ----------
    data : pandas.DataFrame
        Features, the label and optionally the treatment (as :func:`read_campaign_table`
        returns).
    label : str
        The response: 1/0, true/false or yes/no, or two values and ``positive``.
    treatment : str, optional
        The treatment flag (1/0, true/false, yes/no). With it, the propensity model is fitted
        and scored on the treated rows (P(respond | contacted)) and the uplift learners on
        all rows; folds are stratified on label × treatment.
    positive : str, optional
        The label value that marks a response (e.g. ``Y`` or ``subscribed``).
    drop : sequence of str
        Columns left out (e.g. ``duration``, known only after the call). Infinite values
        are counted and treated as missing; identifier-like text columns are left out (see
        :func:`creditpersona.models.evaluate.prepare_features`).
    cv, seed : int
        Folds (≥ 2) and the seed of the folds and the models.
    k : float
        Top share for uplift@k and the incremental responses.
    n_jobs : int
        LightGBM threads.
    on_fold : callable, optional
        Called with (fold, model, metrics) after every model and fold.

    Returns
    -------
    CampaignEvaluation

    Raises
    ------
    SchemaError
        If a named column is missing or the label or treatment is not binary.
    ConfigurationError
        If ``cv``, ``seed`` or ``k`` is invalid.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"x": rng.normal(size=1200), "c": rng.choice(list("abc"), 1200)})
    >>> t["y"] = np.where(rng.random(1200) < 1 / (1 + np.exp(1.5 - 2 * t["x"])), "yes", "no")
    >>> r = evaluate_table(t, "y", cv=3)
    >>> r.folds["model"].unique().tolist(), bool(r.summary().loc["propensity", "auc_mean"] > 0.7)
    (['propensity'], True)
    """
    _check(data, label, treatment, drop, cv, seed, k)
    y = binary_label(data[label], label, positive=positive)
    t = (binary_label(data[treatment], treatment).astype(bool) if treatment is not None
         else None)
    prepared = _features(data, label, treatment, drop)
    X, categorical = prepared.frame, prepared.categorical
    strata = y * 2 + t if t is not None else y
    smallest = int(np.bincount(strata).min()) if np.unique(strata).size > 1 else 0
    if smallest < cv:
        raise parameter_error("cv", "evaluate_table",
                              f"at most the rows of the rarest class ({smallest})", cv)
    records = _cross_validate(X, y, t, strata, cv, seed, k, n_jobs, on_fold)
    return CampaignEvaluation(label, treatment, int(y.size), X.shape[1], int(y.sum()), cv, seed,
                              tuple(drop), categorical, k, pd.DataFrame(records),
                              prepared.infinities, prepared.identifiers, positive)


def _features(data: pd.DataFrame, label: str, treatment: str | None,
              drop: Sequence[str]) -> Features:
    """The feature columns: all but the label, the treatment and ``drop``, prepared."""
    X = data.drop(columns=[label, *([treatment] if treatment else []), *drop]).reset_index(
        drop=True)
    if X.shape[1] == 0:
        raise SchemaError("no feature columns are left after dropping the label, the "
                          "treatment and --drop columns.")
    return prepare_features(X)


def _check(data: pd.DataFrame, label: str, treatment: str | None, drop: Sequence[str],
           cv: int, seed: int, k: float) -> None:
    """The parameter and column checks of :func:`evaluate_table`."""
    if not isinstance(cv, int) or isinstance(cv, bool) or cv < 2:
        raise parameter_error("cv", "evaluate_table", "an int ≥ 2", cv)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise parameter_error("seed", "evaluate_table", "an int in [0, 2**31)", seed)
    if not 0 < k <= 1:
        raise parameter_error("k", "evaluate_table", "a share in (0, 1]", k)
    names = [str(c) for c in data.columns]
    for col, what in ((label, "label"), (treatment, "treatment")):
        if col is not None and col not in names:
            raise SchemaError(f"no {what} column {col!r}; the columns are {_shorten(names)}.")
    unknown = [c for c in drop if c not in names]
    if unknown:
        raise SchemaError(f"cannot drop {unknown}: no such columns; the columns are "
                          f"{_shorten(names)}.")


def _cross_validate(X: pd.DataFrame, y: np.ndarray, t: np.ndarray | None, strata: np.ndarray,
                    cv: int, seed: int, k: float, n_jobs: int,
                    on_fold: Callable[[int, str, dict[str, float]], None] | None,
                    ) -> list[dict[str, Any]]:
    """One record per fold and model: the propensity model, then every uplift learner."""
    params = {"random_state": seed, "n_jobs": n_jobs}
    records = []
    splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(X, strata), start=1):
        started = time.perf_counter()
        fit_rows = train if t is None else train[t[train]]
        score_rows = test if t is None else test[t[test]]
        model = PropensityModel(**params).fit(X.iloc[fit_rows], y[fit_rows])
        p = model.predict_proba(X.iloc[score_rows])[:, 1]
        row: dict[str, float] = {"auc": ranking_auc(y[score_rows], p),
                                 "fit_seconds": time.perf_counter() - started}
        records.append({"model": "propensity", "fold": fold, **row})
        if on_fold is not None:
            on_fold(fold, "propensity", row)
        if t is None:
            continue
        for name, learner in UPLIFT_LEARNERS.items():
            started = time.perf_counter()
            u = learner(params=params).fit(X.iloc[train], y[train], t[train]).predict_uplift(
                X.iloc[test])
            inc, ratio = incremental_at_k(y[test], t[test], u, k)
            row = {"qini": qini_coefficient(y[test], t[test], u),
                   "uplift_at_k": uplift_at_k(y[test], t[test], u, k),
                   "incremental_at_k": inc, "ratio_to_random": ratio,
                   "fit_seconds": time.perf_counter() - started}
            records.append({"model": name, "fold": fold, **row})
            if on_fold is not None:
                on_fold(fold, name, row)
    return records


def _shorten(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
