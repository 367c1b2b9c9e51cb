"""The calendar of the synthetic bank: history window, quarters, months and seasonality."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from creditpersona.synth.personas import PERSONAS

Days = npt.NDArray[np.datetime64]

#: Spring Festival (春节) dates; years outside the table fall back to 1 February.
SPRING_FESTIVAL: dict[int, str] = {
    2015: "2015-02-19", 2016: "2016-02-08", 2017: "2017-01-28", 2018: "2018-02-16",
    2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01",
    2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17",
    2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03",
    2031: "2031-01-23", 2032: "2032-02-11", 2033: "2033-01-31", 2034: "2034-02-19",
    2035: "2035-02-08",
}


def shift_years(day: datetime.date, years: int) -> datetime.date:
    """``day`` moved by whole calendar years (29 February becomes 28 February).

    Examples
    --------
    >>> shift_years(datetime.date(2024, 2, 29), -1)
    datetime.date(2023, 2, 28)
    """
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(days: Days, months: npt.ArrayLike) -> Days:
    """Dates moved by whole months, the day of month clipped to 28.

    Examples
    --------
    >>> add_months(np.array(["2024-01-31"], dtype="datetime64[D]"), [1]).tolist()
    [datetime.date(2024, 2, 28)]
    """
    d = np.asarray(days, dtype="datetime64[D]")
    dom = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    month = d.astype("datetime64[M]") + np.asarray(months, dtype=np.int64)
    return month.astype("datetime64[D]") + np.minimum(dom, 27)


def quarter_end(year: int, quarter: int) -> datetime.date:
    """Last day of a calendar quarter (1–4)."""
    month = 3 * quarter
    return datetime.date(year, month, 31 if month in (3, 12) else 30)


def is_quarter_end(day: datetime.date) -> bool:
    """Whether ``day`` is the last day of a calendar quarter.

    Examples
    --------
    >>> is_quarter_end(datetime.date(2025, 9, 30)), is_quarter_end(datetime.date(2025, 9, 29))
    (True, False)
    """
    return day.month % 3 == 0 and day == quarter_end(day.year, day.month // 3)


def review_dates(end_date: datetime.date, quarters: int) -> list[datetime.date]:
    """As-of dates of the review quarters: ``end_date`` and the quarter ends before it.

    With one quarter the single review is ``end_date`` itself; with more, ``end_date``
    should be a quarter end and the earlier reviews are the preceding quarter ends, oldest
    first.

    Examples
    --------
    >>> [str(d) for d in review_dates(datetime.date(2026, 6, 30), 3)]
    ['2025-12-31', '2026-03-31', '2026-06-30']
    """
    dates = [end_date]
    year, q = end_date.year, (end_date.month - 1) // 3 + 1
    for _ in range(quarters - 1):
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
        dates.insert(0, quarter_end(year, q))
    return dates


def history_years(years: int, quarters: int) -> int:
    """Whole years of history so the first of ``quarters`` review quarters has ``years``.

    Examples
    --------
    >>> history_years(3, 1), history_years(3, 2), history_years(3, 5), history_years(3, 6)
    (3, 4, 4, 5)
    """
    return years + math.ceil((quarters - 1) / 4)


@dataclass(frozen=True)
class Timeline:
    """Every date grid the generator uses.

    The *history* is the ``years`` before ``end``; the *quarter grid* starts with the first
    quarter of the first fiscal year and runs twelve months past ``end`` so the true
    12-month default probability at ``end`` is defined. The *review dates* are the as-of
    dates of the review quarters (see :func:`review_dates`), the last one being ``end``.
    """

    end: np.datetime64
    years: int
    history_start: np.datetime64
    fiscal_years: npt.NDArray[np.int64]
    quarter_ends: Days
    first_day: np.datetime64
    last_day: np.datetime64
    hist_quarter_ends: Days
    month_ends: Days
    reviews: Days

    @classmethod
    def build(cls, end_date: datetime.date, years: int, quarters: int = 1) -> Timeline:
        """Derive the grids from the end date, the years of history and the review quarters.

        ``years`` counts the whole history: pass :func:`history_years` of the years wanted
        before the first review quarter.
        """
        start = shift_years(end_date, -years) + datetime.timedelta(days=1)
        last_fy = end_date.year if (end_date.month, end_date.day) == (12, 31) else (
            end_date.year - 1
        )
        fiscal = np.arange(last_fy - years + 1, last_fy + 1, dtype=np.int64)
        horizon = shift_years(end_date, 1)
        qends: list[datetime.date] = []
        y, q = int(fiscal[0]), 1
        while not qends or qends[-1] < horizon:
            qends.append(quarter_end(y, q))
            y, q = (y + 1, 1) if q == 4 else (y, q + 1)
        qe = np.array(qends, dtype="datetime64[D]")
        end = np.datetime64(end_date, "D")
        first = np.datetime64(datetime.date(int(fiscal[0]), 1, 1), "D")
        hist_q = qe[(qe >= np.datetime64(start, "D")) & (qe <= end)]
        first_month = np.datetime64(start, "M") - 24
        months = np.arange(first_month, np.datetime64(end_date, "M") + 1)
        month_ends = (months + 1).astype("datetime64[D]") - 1
        reviews = np.array(review_dates(end_date, quarters), dtype="datetime64[D]")
        return cls(end, years, np.datetime64(start, "D"), fiscal, qe, first, qe[-1], hist_q,
                   month_ends, reviews)

    @property
    def horizon(self) -> np.datetime64:
        """Twelve months after the end date."""
        return np.datetime64(shift_years(self.end.astype(datetime.date), 1), "D")

    def quarter_index(self, days: Days) -> npt.NDArray[np.int64]:
        """Index into :attr:`quarter_ends` of the quarter each date falls in."""
        return np.searchsorted(self.quarter_ends, days, side="left").astype(np.int64)

    def quarter_starts(self) -> Days:
        """First day of each grid quarter."""
        return (self.quarter_ends.astype("datetime64[M]") - 2).astype("datetime64[D]")

    def grid_days(self) -> Days:
        """Every day from the first grid quarter to the last."""
        return np.arange(self.first_day, self.last_day + 1)

    def activity(self) -> npt.NDArray[np.float64]:
        """Daily activity weight of each persona over :meth:`grid_days` (personas × days).

        Combines the persona's monthly factors, fewer flows at weekends, the standstill of
        the Spring Festival week and, for trading and retail personas, the stocking-up rush
        in the weeks before it.
        """
        days = self.grid_days()
        month = (days.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)
        weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday
        weekend = np.where(weekday >= 5, 0.35, 1.0)
        years = np.unique(days.astype("datetime64[Y]").astype(np.int64) + 1970)
        festivals = np.array(
            [SPRING_FESTIVAL.get(int(y), f"{int(y)}-02-01") for y in years], dtype="datetime64[D]"
        )
        # Distance in days to the nearest Spring Festival, signed (negative = before it).
        gap = (days[:, None] - festivals[None, :]).astype(np.int64)
        nearest = gap[np.arange(days.size), np.abs(gap).argmin(axis=1)]
        holiday = np.where((nearest >= -2) & (nearest <= 6), 0.25, 1.0)
        rush = np.exp(-(((nearest + 18) / 9.0) ** 2))
        out = np.empty((len(PERSONAS), days.size))
        for i, p in enumerate(PERSONAS):
            factors = np.asarray(p.months)[month]
            out[i] = factors * weekend * holiday * (1.0 + p.festival_boost * rush)
        return out

    def quarter_shares(self) -> npt.NDArray[np.float64]:
        """Share of each persona's calendar-year activity falling in each grid quarter.

        Returns a personas × quarters array; the four quarters of a year sum to one.
        """
        days = self.grid_days()
        act = self.activity()
        qidx = self.quarter_index(days)
        nq = self.quarter_ends.size
        per_q = np.stack([np.bincount(qidx, weights=a, minlength=nq) for a in act])
        year = self.quarter_ends.astype("datetime64[Y]").astype(np.int64)
        _, inverse = np.unique(year, return_inverse=True)
        totals = np.stack([np.bincount(inverse, weights=row)[inverse] for row in per_q])
        counts = np.bincount(inverse)[inverse]
        # A partial final year is scaled as if it were complete.
        return per_q / totals * counts / 4.0
