"""The review stage of the quarterly cycle (季度检视, 动态调整机制).

:func:`review_stage` compares an as-of date with the previous quarter in the store and with
the baselines of the models in force (the quarter each was fitted for): persona and rating
migration, score and feature stability per portfolio and industry section, the performance
of the PD models on the cohort whose outcomes have just matured, and a history of every
stored quarter. It raises the re-fit triggers of ``review.yaml`` with a recommendation,
the evidence and the command, and keeps its tables in the store (``review_drift``,
``review_migration``, ``review_performance``, ``review_triggers``; one set of rows per as-of
date, replaced when the date is reviewed again).

The stage is three steps in three modules: :mod:`~creditpersona.review.inputs` (what is read,
and the cycle's frames of the date), :mod:`~creditpersona.review.analysis` (everything
computed, nothing written) and :mod:`~creditpersona.review.storage` (the result tables).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from creditpersona.review.analysis import ReviewResult, review_analysis
from creditpersona.review.config import ReviewConfig, load_review_config
from creditpersona.review.inputs import ReviewFrames, ReviewInputs, review_inputs
from creditpersona.review.storage import (
    REVIEW_DRIFT,
    REVIEW_MIGRATION,
    REVIEW_PERFORMANCE,
    REVIEW_TRIGGERS,
    SCHEMAS,
    load_review_table,
    load_triggers,
    save_review,
)
from creditpersona.store import results
from creditpersona.store.store import Store

__all__ = ["REVIEW_DRIFT", "REVIEW_MIGRATION", "REVIEW_PERFORMANCE", "REVIEW_TRIGGERS",
           "SCHEMAS", "ReviewFrames", "ReviewInputs", "ReviewResult", "load_review_table",
           "load_triggers", "review_stage", "save_review"]


def review_stage(
    store: Store,
    as_of: dt.date,
    *,
    config: ReviewConfig | str | Path | None = None,
    current: ReviewFrames | None = None,
    save: bool | None = None,
) -> ReviewResult:
    """Review ``as_of`` against the previous quarter and the models' baselines; store it.

    Inputs (:func:`~creditpersona.review.inputs.review_inputs`) → analysis
    (:func:`~creditpersona.review.analysis.review_analysis`) → storage
    (:func:`~creditpersona.review.storage.save_review`).

    Parameters
    ----------
    store : Store
        Holds the earlier quarters (and the profile, ``pd_scores`` and ``personas`` of
        ``as_of`` unless ``current`` gives them).
    as_of : datetime.date
    config : ReviewConfig or path, optional
        The thresholds (default: the packaged ``review.yaml``).
    current : ReviewFrames, optional
        The cycle's frames of ``as_of`` (the cycle passes them; default: read them).
    save : bool, optional
        Store the review tables (default: when the store is open for writing,
        :func:`creditpersona.store.results.should_save`).

    Returns
    -------
    ReviewResult

    Raises
    ------
    InsufficientDataError
        If the profile, PD scores or personas of ``as_of`` are neither given nor stored.
    ConfigurationError
        If the thresholds file is invalid.
    StoreError
        If a stored review table has other columns (another version).
    """
    cfg = config if isinstance(config, ReviewConfig) else load_review_config(config)
    result = review_analysis(store, review_inputs(store, as_of, cfg, current))
    if results.should_save(store, save):
        save_review(store, result)
    return result
