"""Annual review of the persona model (年度检视): is the model in force still the right one?

Once a year (``annual_review_months`` after the model's fit date, or after the last annual
review that confirmed it) a challenger is fitted on the current profile under the model's
own policy, with the model in force as ``previous`` so that its personas are matched to the
old ones (Hungarian matching, :mod:`creditpersona.personas.identity`). The review
recommends a re-fit when the two assignments agree less than ``min_ari`` (adjusted Rand
index) or when a challenger persona matches none of the old ones; otherwise it confirms the
personas in force.

The number of personas is chosen by a bootstrap-stability criterion, and neighbouring
numbers often score alike: on an unchanged portfolio the challenger's free choice can move
from 6 to 8 with 98 % of firms keeping their persona. A different number alone is therefore
not a reason to re-fit: when the challenger's number differs, a second challenger is fitted
with the number in force, and it is that one whose agreement decides. The free choice is
reported (``personas_challenger``) beside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from creditpersona import artefacts
from creditpersona.personas.identity import IdentityMatch
from creditpersona.personas.policy import PersonaModel, fit_personas
from creditpersona.review.config import PersonaReviewConfig


def months_later(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (or earlier); a month end stays a month end.

    Examples
    --------
    >>> months_later(dt.date(2025, 9, 30), 6), months_later(dt.date(2025, 11, 30), 3)
    (datetime.date(2026, 3, 31), datetime.date(2026, 2, 28))
    >>> months_later(dt.date(2026, 3, 31), -12), months_later(dt.date(2025, 5, 15), 1)
    (datetime.date(2025, 3, 31), datetime.date(2025, 6, 15))
    """
    ts = pd.Timestamp(day)
    if ts.is_month_end:
        return (ts + pd.offsets.MonthEnd(months)).date() if months else day
    return (ts + pd.DateOffset(months=months)).date()


@artefacts.trusted("annual_review")
@dataclass(frozen=True)
class AnnualReview:
    """The outcome of an annual review of the persona model.

    Attributes
    ----------
    model_version : int
    fitted_for : datetime.date
        The as-of date the model in force was fitted for.
    last_confirmed : datetime.date or None
        The last review date on which an annual review confirmed this model.
    due_on : datetime.date
        When the review falls due (a year after the later of the two dates above).
    performed : bool
        Whether a challenger was fitted on this review date.
    match : IdentityMatch or None
        The challenger's personas matched to those in force (the challenger fitted with the
        number in force when the free choice differs).
    personas_in_force, personas_challenger : int
        Numbers of model personas: in force, and the challenger's free choice.
    unmatched : int
        Challenger personas matched to no persona in force.
    refit : bool
        Whether the review recommends a re-fit.
    """

    model_version: int
    fitted_for: dt.date
    last_confirmed: dt.date | None
    due_on: dt.date
    performed: bool
    match: IdentityMatch | None = None
    personas_in_force: int = 0
    personas_challenger: int = 0
    unmatched: int = 0
    refit: bool = False

    @property
    def ari(self) -> float:
        """Adjusted Rand index of the two assignments (NaN if not performed)."""
        return float("nan") if self.match is None else self.match.ari


def annual_review(
    profile: pd.DataFrame,
    model: PersonaModel,
    *,
    model_version: int,
    fitted_for: dt.date,
    as_of: dt.date,
    cfg: PersonaReviewConfig,
    last_confirmed: dt.date | None = None,
) -> AnnualReview:
    """Fit a challenger and compare it with the model in force, when the review is due.

    Parameters
    ----------
    profile : pandas.DataFrame
        The full profile of ``as_of`` (every column the policy's features and rules read).
    model : PersonaModel
        The model in force.
    model_version : int
    fitted_for : datetime.date
        The as-of date ``model`` was fitted for.
    as_of : datetime.date
        The review date.
    cfg : PersonaReviewConfig
    last_confirmed : datetime.date, optional
        The last date an annual review confirmed this model (the clock restarts there).

    Returns
    -------
    AnnualReview
        ``performed`` is False when the review is not due yet.
    """
    start = max(fitted_for, last_confirmed) if last_confirmed else fitted_for
    due_on = months_later(start, cfg.annual_review_months)
    if as_of < due_on:
        return AnnualReview(model_version, fitted_for, last_confirmed, due_on, False,
                            personas_in_force=model.segmenter.n_personas_)
    frame = profile.reset_index(drop=True)
    challenger, match = fit_personas(frame, model.policy, previous=model)
    k_old, k_new = model.segmenter.n_personas_, challenger.segmenter.n_personas_
    if k_new != k_old:  # judge the structure at the number in force (module docstring)
        seg = model.policy.segmentation.model_copy(update={"k_min": k_old, "k_max": k_old})
        _, match = fit_personas(frame, model.policy.model_copy(update={"segmentation": seg}),
                                previous=model)
    unmatched = 0 if match is None else int((match.pairs["old"] < 0).sum())
    ari = float("nan") if match is None else match.ari
    refit = bool(unmatched > 0 or not ari >= cfg.min_ari)
    return AnnualReview(model_version, fitted_for, last_confirmed, due_on, True, match,
                        k_old, k_new, unmatched, refit)
