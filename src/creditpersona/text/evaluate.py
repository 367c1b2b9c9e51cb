"""Cross-validated evaluation of the text-risk model on a labelled file.

Two models are scored on the same folds: ``packaged`` (the shipped model, as is: it is not
fitted on the file) and ``retrained`` (the same method, with the packaged configuration,
fitted on the training folds). With an entity column the rows are (text, firm) pairs, folds
are grouped by text, and both the text model and the attribution model are retrained on the
training folds (the text model on the text-level label: negative about any firm).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedKFold

from creditpersona.contract.readers import (
    ROW_COLUMN,
    file_format,
    read_csv,
    read_excel,
    read_parquet,
)
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.text.attribution import AttributionModel, flat_pair_features
from creditpersona.text.model import TextRiskModel
from creditpersona.text.package import TextRiskPackage, load_packaged

__all__ = ["MODELS", "evaluate_text", "read_texts"]

MODELS = ("packaged", "retrained")


def read_texts(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """Read a CSV (UTF-8 or GB18030), Parquet or Excel file and check it has ``columns``.

    Raises
    ------
    SchemaError
        If the file cannot be read or a column is missing (the message lists the columns).
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"{path}: no such file.")
    kind = file_format(path)
    table = (read_csv(path)[0] if kind == "csv" else read_parquet(path) if kind == "parquet"
             else read_excel(path))
    frame = table.to_pandas()
    frame = frame.drop(columns=[ROW_COLUMN]) if ROW_COLUMN in frame.columns else frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{path}: no column {', '.join(map(repr, missing))}; the columns "
                          f"are {', '.join(map(str, frame.columns[:20]))}.")
    return frame


def _metrics(y: npt.NDArray[np.int64], p: npt.NDArray[np.float64],
             threshold: float) -> dict[str, float]:
    return {"auc": float(roc_auc_score(y, p)), "average_precision":
            float(average_precision_score(y, p)),
            "f1": float(f1_score(y, (p >= threshold).astype(int), zero_division=0))}


def evaluate_text(
    frame: pd.DataFrame,
    text: str,
    label: str,
    *,
    positive: str | None = None,
    entity: str | None = None,
    cv: int = 5,
    seed: int = 0,
    package: TextRiskPackage | None = None,
    on_fold: Callable[[int, str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """AUC, average precision and F1 at the packaged threshold, per fold and model.

    Parameters
    ----------
    frame : pandas.DataFrame
        The labelled rows.
    text, label : str
        Column names. The label is 0/1 (true/false, yes/no) unless ``positive`` is given.
    positive : str, optional
        The label value that marks a risk text; every other value is 0.
    entity : str, optional
        A firm-name column: rows are (text, firm) pairs, scored by the attribution model.
    cv, seed : int
        Folds (stratified, or grouped by text with ``entity``) and their seed.
    package : TextRiskPackage, optional
        Default: the packaged model.

    Returns
    -------
    dict
        ``rows``, ``positives``, ``cv``, ``seed`` and ``models.<name>.summary`` (``auc_mean``,
        ``auc_sd``, ``average_precision_mean``, ``f1_mean``, ...) and
        ``models.<name>.folds[]``, as ``pd evaluate`` writes them.

    Raises
    ------
    ConfigurationError, SchemaError
        On bad parameters, missing columns or a label that is not binary.
    """
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise parameter_error("cv", "evaluate_text", "an integer >= 2", cv)
    for col in (text, label, *([entity] if entity else [])):
        if col not in frame.columns:
            raise SchemaError(f"no column {col!r}; the columns are "
                              f"{', '.join(map(str, frame.columns[:20]))}.")
    pkg = package or load_packaged()
    texts = frame[text].fillna("").astype(str).to_numpy(dtype=object)
    # One label reader for every evaluation command (`pd`, `campaign`, `text evaluate`).
    from creditpersona.models.evaluate import binary_label

    y = binary_label(frame[label], label, positive=positive)
    if len(y) < 2 * cv:
        raise SchemaError(f"{len(y)} rows are too few for {cv}-fold cross-validation.")
    ents = (frame[entity].fillna("").astype(str).to_numpy(dtype=object) if entity
            else None)
    if ents is not None:
        groups = pd.factorize(pd.Series(texts))[0]
        splits = list(GroupKFold(n_splits=cv).split(texts, y, groups))
    else:
        splits = list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(texts, y))
    rows: list[dict[str, Any]] = []
    for k, (tr, te) in enumerate(splits, start=1):
        for name in MODELS:
            t0 = time.perf_counter()
            p = _fold_scores(name, pkg, texts, ents, y, tr, te, seed)
            row = {"model": name, "fold": k, **_metrics(y[te], p, pkg.threshold),
                   "seconds": time.perf_counter() - t0, "train_rows": len(tr),
                   "test_rows": len(te), "test_positives": int(y[te].sum())}
            rows.append(row)
            if on_fold is not None:
                on_fold(k, name, row)
    return {"text": text, "label": label, "entity": entity, "rows": len(y),
            "positives": int(y.sum()), "cv": cv, "seed": seed,
            "threshold": pkg.threshold, "sd": "sample standard deviation over folds (n-1)",
            "models": _summaries(pd.DataFrame(rows))}


def _fold_scores(name: str, pkg: TextRiskPackage, texts: npt.NDArray[np.object_],
                 ents: npt.NDArray[np.object_] | None, y: npt.NDArray[np.int64],
                 tr: npt.NDArray[np.int64], te: npt.NDArray[np.int64],
                 seed: int) -> npt.NDArray[np.float64]:
    """One model's scores of the test rows of a fold (pairs when ``ents`` is given)."""
    if ents is not None:
        if name == "packaged":
            return np.asarray(pkg.attribute_rows(list(texts[te]), list(ents[te])))
        return _retrained_pairs(pkg, texts, ents, y, tr, te, seed)
    if name == "packaged":
        return pkg.score(list(texts[te]))
    model = TextRiskModel.fit(list(texts[tr]), y[tr], pkg.text.config)
    return model.score(list(texts[te]))


def _summaries(folds: pd.DataFrame) -> dict[str, Any]:
    """``models.<name>``: mean and sample sd of each metric, and the folds' rows."""
    models: dict[str, Any] = {}
    for model_name, part in folds.groupby("model", sort=False):
        summary = {}
        for m in ("auc", "average_precision", "f1"):
            summary[f"{m}_mean"] = float(part[m].mean())
            summary[f"{m}_sd"] = float(part[m].std(ddof=1))
        models[str(model_name)] = {"summary": summary, "folds": [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items() if k != "model"}
            for r in part.to_dict(orient="records")]}
    return models


def _retrained_pairs(pkg: TextRiskPackage, texts: npt.NDArray[np.object_],
                     ents: npt.NDArray[np.object_], y: npt.NDArray[np.int64],
                     tr: npt.NDArray[np.int64], te: npt.NDArray[np.int64],
                     seed: int) -> npt.NDArray[np.float64]:
    """Text model and attribution model fitted on the training pairs, scoring the test pairs.

    The attribution model is fitted on out-of-fold text scores of the training pairs (an
    inner 3-fold split by text), so that it does not learn to trust in-sample text scores.
    """
    tr_frame = pd.DataFrame({"text": texts[tr], "y": y[tr], "entity": ents[tr]})
    per_text = tr_frame.groupby("text", sort=True)["y"].max()
    cfg = pkg.text.config
    inner_x = np.zeros((len(tr), len(pkg.attribution.coef)))
    text_ids = pd.factorize(tr_frame["text"])[0]
    for itr, ite in GroupKFold(n_splits=3).split(tr_frame, groups=text_ids):
        fit_texts = tr_frame.iloc[itr].groupby("text", sort=True)["y"].max()
        inner = TextRiskModel.fit(fit_texts.index.tolist(), fit_texts.to_numpy(), cfg)
        inner_x[ite] = flat_pair_features(inner, tr_frame["text"].iloc[ite].tolist(),
                                          tr_frame["entity"].iloc[ite].tolist())
    attribution = AttributionModel.fit(inner_x, y[tr])
    model = TextRiskModel.fit(per_text.index.tolist(), per_text.to_numpy(), cfg)
    return attribution.score(flat_pair_features(model, list(texts[te]), list(ents[te])))
