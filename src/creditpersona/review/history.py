"""Quarter-over-quarter history of the portfolio, from every as-of date in the store.

Aggregations run in the query engine (one grouped query per stored table); only a row per
date (and per persona or grade) comes back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from creditpersona.store import results
from creditpersona.store.store import Store

PD_SCORES = results.PD_SCORES
PERSONAS = results.PERSONAS
#: Stored decision tables (written by the decision stage) the history reads when present.
CLASSIFICATION = results.DECISION_CLASSIFICATION
WATCHLIST = results.DECISION_WATCHLIST
_TIERS_NPL = ("substandard", "doubtful", "loss")


@dataclass(frozen=True)
class History:
    """The portfolio per as-of date.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per date: ``as_of``, ``firms`` (graded), ``mean_pd``, ``median_pd``,
        ``default_grade_share``; with the decision tables, ``loan_firms``,
        ``special_mention_share`` and ``npl_share`` (of firms with a loan, five-tier
        classification) and ``watchlist_firms``; with personas, ``persona_firms`` and
        ``persona_model_version``.
    personas : pandas.DataFrame
        ``as_of``, ``persona_id``, ``persona_name_zh``, ``persona_name_en``, ``firms``,
        ``share``.
    grades : pandas.DataFrame
        ``as_of``, ``grade``, ``firms``, ``share``.
    """

    summary: pd.DataFrame
    personas: pd.DataFrame
    grades: pd.DataFrame


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame):
        frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame


def portfolio_history(store: Store, as_of: dt.date, default_grade: str = "D") -> History:
    """Persona shares, PD, grades and classification of every stored date up to ``as_of``."""
    summary = pd.DataFrame(columns=["as_of"])
    grades = pd.DataFrame(columns=["as_of", "grade", "firms", "share"])
    personas = pd.DataFrame(columns=["as_of", "persona_id", "persona_name_zh",
                                     "persona_name_en", "firms", "share"])
    s = results.until(store, PD_SCORES, as_of)
    if s is not None:
        summary = _dates(s.group_by("as_of").agg(
            firms=s.count(), mean_pd=s.pd.mean(), median_pd=s.pd.median(),
            default_grade_share=(s.grade == default_grade).cast("float64").mean(),
        ).to_pandas())
        grades = _dates(s.group_by(["as_of", "grade"]).agg(firms=s.count()).to_pandas())
        if len(grades):
            grades["share"] = grades["firms"] / grades.groupby("as_of")["firms"].transform("sum")
    p = results.until(store, PERSONAS, as_of)
    if p is not None:
        per = _dates(p.group_by(["as_of", "persona_id"]).agg(
            persona_name_zh=p.persona_name_zh.max(), persona_name_en=p.persona_name_en.max(),
            firms=p.count()).to_pandas())
        if len(per):
            per["share"] = per["firms"] / per.groupby("as_of")["firms"].transform("sum")
            personas = per
        versions = _dates(p.group_by("as_of").agg(
            persona_firms=p.count(), persona_model_version=p.model_version.max()).to_pandas())
        summary = versions if summary.empty else summary.merge(versions, on="as_of",
                                                               how="outer")
    c = results.until(store, CLASSIFICATION, as_of)
    if c is not None:
        tiers = _dates(c.group_by("as_of").agg(
            loan_firms=c.count(),
            special_mention_share=(c.tier == "special_mention").cast("float64").mean(),
            npl_share=c.tier.isin(_TIERS_NPL).cast("float64").mean()).to_pandas())
        summary = tiers if summary.empty else summary.merge(tiers, on="as_of", how="left")
    w = results.until(store, WATCHLIST, as_of)
    if w is not None:
        watch = _dates(w.group_by("as_of").agg(watchlist_firms=w.count()).to_pandas())
        summary = watch if summary.empty else summary.merge(watch, on="as_of", how="left")
    order = ["as_of", "persona_id"] if len(personas) else ["as_of"]
    return History(summary.sort_values("as_of", ignore_index=True),
                   personas.sort_values(order, ignore_index=True),
                   grades.sort_values(["as_of", "grade"], ignore_index=True)
                   if len(grades) else grades)
