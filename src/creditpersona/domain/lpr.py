"""The Loan Prime Rate (LPR) by date and tenor: the one rate source (``lpr.yaml``).

Pricing, limits, offers, the value of the loan book and the synthetic bank all read the LPR
from :func:`load_lpr`. Rates are decimals per year (0.03 = 3 %); a fixing applies from its
date until the next one. A loan is quoted on the 1-year LPR, or on the over-5-year LPR when
its term is over ``five_year_above_months`` months (DOMAIN.md §5).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, Field, model_validator

from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.errors import ConfigurationError

TENORS = ("1Y", "5Y")
Floats = npt.NDArray[np.float64]


class Fixing(StrictModel):
    """The LPR of both tenors from ``date`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    date: dt.date
    one_year: float = Field(alias="1Y", gt=0, lt=0.2)
    five_year: float = Field(alias="5Y", gt=0, lt=0.2)

    def rates(self) -> dict[str, float]:
        """``{"1Y": …, "5Y": …}``."""
        return {"1Y": self.one_year, "5Y": self.five_year}


class LprTable(StrictModel):
    """Every LPR fixing, oldest first, and the tenor rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    five_year_above_months: int = Field(ge=1)
    fixings: list[Fixing] = Field(min_length=1)

    @model_validator(mode="after")
    def _increasing(self) -> LprTable:
        dates = [f.date for f in self.fixings]
        if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
            raise ValueError("fixings must be listed oldest first, one per date")
        return self

    @property
    def latest(self) -> Fixing:
        """The most recent fixing (the rates in force now)."""
        return self.fixings[-1]

    def in_force(self, on: dt.date | None = None) -> Fixing:
        """The fixing in force on ``on`` (default: the latest).

        Raises
        ------
        ConfigurationError
            If ``on`` is before the first fixing.

        Examples
        --------
        >>> lpr = load_lpr()
        >>> lpr.in_force(dt.date(2026, 6, 30)).rates()
        {'1Y': 0.03, '5Y': 0.035}
        >>> lpr.in_force(dt.date(2025, 5, 19)).rates()
        {'1Y': 0.031, '5Y': 0.036}
        """
        if on is None:
            return self.latest
        index = int(self._index(np.array([on], dtype="datetime64[D]"))[0])
        return self.fixings[index]

    def tenor(self, term_months: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """The LPR tenor a loan of this term is quoted on: ``1Y`` or ``5Y``.

        Examples
        --------
        >>> load_lpr().tenor([12, 60, 61]).tolist()
        ['1Y', '1Y', '5Y']
        """
        t = np.asarray(term_months, dtype=float)
        return np.where(t > self.five_year_above_months, "5Y", "1Y").astype(object)

    def rate(self, tenor: npt.ArrayLike, on: dt.date | npt.ArrayLike | None = None) -> Floats:
        """The LPR of each ``tenor`` (``1Y``/``5Y``) in force on ``on`` (a date or one per row).

        ``on=None`` takes the latest fixing for every row.

        Raises
        ------
        ConfigurationError
            If a tenor is unknown or a date lies before the first fixing.

        Examples
        --------
        >>> load_lpr().rate(["1Y", "5Y"], np.array(["2024-12-31", "2024-12-31"],
        ...                                        dtype="datetime64[D]")).tolist()
        [0.031, 0.036]
        """
        tenors = np.asarray(tenor, dtype=object)
        bad = sorted({str(t) for t in tenors.ravel()} - set(TENORS))
        if bad:
            raise ConfigurationError(f"unknown LPR tenor(s) {bad}; use {' or '.join(TENORS)}")
        if on is None:
            index = np.full(tenors.shape, len(self.fixings) - 1)
        else:
            days = np.asarray(on, dtype="datetime64[D]")
            index = np.broadcast_to(self._index(np.atleast_1d(days)).reshape(days.shape),
                                    tenors.shape)
        one = np.array([f.one_year for f in self.fixings])
        five = np.array([f.five_year for f in self.fixings])
        return np.where(tenors == "5Y", five[index], one[index]).astype(float)

    def rate_for_term(self, term_months: npt.ArrayLike,
                      on: dt.date | npt.ArrayLike | None = None) -> Floats:
        """The LPR a loan of this term is quoted on (see :meth:`tenor` and :meth:`rate`)."""
        return self.rate(self.tenor(term_months), on)

    def _index(self, days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
        starts = np.array([f.date for f in self.fixings], dtype="datetime64[D]")
        index = np.searchsorted(starts, days, side="right") - 1
        if len(days) and (index < 0).any():
            first = days[index < 0].min()
            raise ConfigurationError(
                f"no LPR fixing in force on {first}: the LPR table starts on "
                f"{self.fixings[0].date}; add the earlier fixings to domain/lpr.yaml (or the "
                "file passed to load_lpr).")
        return index.astype(np.int64)


@cache
def _packaged() -> LprTable:
    return load_yaml_config(LprTable, "creditpersona.domain", "lpr.yaml", None, "LPR table",
                            owner="load_lpr")


def load_lpr(path: str | Path | None = None) -> LprTable:
    """Read and validate the LPR table (default: the packaged ``lpr.yaml``, read once).

    Raises
    ------
    ConfigurationError
        Naming the file and the offending entry when the table is invalid.

    Examples
    --------
    >>> load_lpr().latest.date, load_lpr().latest.rates()
    (datetime.date(2025, 5, 20), {'1Y': 0.03, '5Y': 0.035})
    """
    if path is None:
        return _packaged()
    return load_yaml_config(LprTable, "creditpersona.domain", "lpr.yaml", path, "LPR table",
                            owner="load_lpr")
