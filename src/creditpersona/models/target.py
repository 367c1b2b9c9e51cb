"""The default target, read from the store without looking past each sample's horizon.

A firm defaults on the first day that any of these becomes true (configurable):

- an instalment with us reaches ``dpd_threshold`` days past due (default 90) unpaid;
- a credit-bureau report shows a maximum days past due of at least ``dpd_threshold`` in the
  last 12 months;
- a credit-bureau report shows a written-off amount.

The label of a sample taken at ``as_of`` is 1 when the firm's first default falls in
``(as_of, as_of + horizon]``; a firm whose first default is on or before ``as_of`` is already
in default and is not a sample. Every date used is the date the event became known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from creditpersona.errors import parameter_error

Tables = Mapping[str, ir.Table]


def first_default_dates(t: Tables, dpd_threshold: int = 90) -> ir.Table:
    """Each firm's first default date over the whole history in the tables."""
    if dpd_threshold < 1:
        raise parameter_error("dpd_threshold", "first_default_dates", "a positive integer",
                              dpd_threshold)
    rep, loans, bureau = t["repayments"], t["loans"], t["bureau_reports"]
    reached = rep.due_date + ibis.interval(days=dpd_threshold)
    late = rep.filter(rep.paid_date.isnull() | (rep.paid_date > reached)).select(
        "loan_id", event=reached)
    ours = late.inner_join(loans.select("loan_id", "firm_id"), "loan_id").select(
        "firm_id", "event")
    bad_report = bureau.filter((bureau.max_dpd_12m >= dpd_threshold) | (bureau.written_off > 0))
    theirs = bad_report.select("firm_id", event=bad_report.report_date)
    events = ours.union(theirs)
    return events.group_by("firm_id").agg(default_date=events.event.min())


def label_table(
    t: Tables, as_of: dt.date, *, horizon_months: int = 12, dpd_threshold: int = 90
) -> ir.Table:
    """:func:`labels` as an Ibis expression (``default_date`` also outside the horizon)."""
    if horizon_months < 1:
        raise parameter_error("horizon_months", "labels", "a positive integer", horizon_months)
    d = ibis.literal(as_of, type="date")
    end = ibis.literal((pd.Timestamp(as_of) + pd.DateOffset(months=horizon_months)).date(),
                       type="date")
    firms = t["firms"].filter(t["firms"].founded_on <= d).select("firm_id")
    first = first_default_dates(t, dpd_threshold)
    joined = firms.left_join(first, "firm_id").select("firm_id", "default_date")
    alive = joined.filter(joined.default_date.isnull() | (joined.default_date > d))
    out = alive.mutate(
        default=(alive.default_date.notnull() & (alive.default_date <= end)).cast("int64")
    )
    return out


def labels(
    t: Tables, as_of: dt.date, *, horizon_months: int = 12, dpd_threshold: int = 90
) -> pd.DataFrame:
    """Labels of the firms founded by ``as_of`` that are not yet in default on it.

    Returns
    -------
    pandas.DataFrame
        ``firm_id``, ``default`` (0/1) and ``default_date`` (when it falls in the horizon).
    """
    out = label_table(t, as_of, horizon_months=horizon_months,
                      dpd_threshold=dpd_threshold).to_pandas()
    out.loc[out["default"] == 0, "default_date"] = pd.NaT
    return out.sort_values("firm_id", ignore_index=True)


def sample_dates(first: dt.date, last: dt.date, step_months: int = 3) -> Sequence[dt.date]:
    """Quarter-end (or ``step_months``) as-of dates from ``first`` to ``last``.

    Examples
    --------
    >>> [d.isoformat() for d in sample_dates(dt.date(2024, 6, 30), dt.date(2025, 3, 31))]
    ['2024-06-30', '2024-09-30', '2024-12-31', '2025-03-31']
    """
    dates = pd.date_range(first, last, freq=f"{step_months}QE-DEC" if step_months % 3 == 0
                          else f"{step_months}ME")
    if step_months % 3 == 0:
        dates = pd.date_range(first, last, freq="QE-DEC")[:: step_months // 3]
    return [x.date() for x in dates]
