"""Storage of the quarterly review: its four tables in the result store.

``review_drift``, ``review_migration``, ``review_performance`` and ``review_triggers`` are
declared in :mod:`creditpersona.store.results` and written with one set of rows per as-of
date, replaced when the date is reviewed again.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from creditpersona.errors import StoreError
from creditpersona.store import results
from creditpersona.store.store import Store

if TYPE_CHECKING:
    from creditpersona.review.analysis import ReviewResult

REVIEW_DRIFT = results.REVIEW_DRIFT
REVIEW_MIGRATION = results.REVIEW_MIGRATION
REVIEW_PERFORMANCE = results.REVIEW_PERFORMANCE
REVIEW_TRIGGERS = results.REVIEW_TRIGGERS
#: The declared schemas of the review tables (:data:`creditpersona.store.results.TABLES`).
SCHEMAS: dict[str, pa.Schema] = {name: results.TABLES[name].schema for name in (
    REVIEW_DRIFT, REVIEW_MIGRATION, REVIEW_PERFORMANCE, REVIEW_TRIGGERS)}


def save_review(store: Store, result: ReviewResult) -> None:
    """Store the review tables of ``result.as_of``, replacing that date's earlier rows.

    Raises
    ------
    StoreError
        If a stored review table has other columns (another version).
    """
    d = result.as_of
    results.replace_date(store, REVIEW_DRIFT, d, result.drift)
    results.replace_date(store, REVIEW_MIGRATION, d,
                         result.migration.assign(previous_as_of=result.previous))
    results.replace_date(store, REVIEW_PERFORMANCE, d,
                         result.performance.assign(cohort_as_of=result.cohort))
    results.replace_date(store, REVIEW_TRIGGERS, d, result.triggers)


def load_review_table(store: Store, name: str, as_of: dt.date | None = None) -> pd.DataFrame:
    """A stored review table (``drift``, ``migration``, ``performance``, ``triggers`` or its
    full name) of an as-of date (default: the latest). Empty if nothing is stored."""
    table = name if name.startswith("review_") else f"review_{name}"
    if table not in SCHEMAS:
        raise StoreError(f"no review table {name!r}; choose one of "
                         f"{', '.join(sorted(SCHEMAS))}.")
    return results.read(store, table, as_of)


def load_triggers(store: Store, as_of: dt.date | None = None) -> pd.DataFrame:
    """The stored triggers of an as-of date (default: the latest), fired first."""
    frame = load_review_table(store, REVIEW_TRIGGERS, as_of)
    if frame.empty:
        return frame
    return frame.sort_values(["fired", "evaluated"], ascending=False,
                             kind="stable").reset_index(drop=True)
