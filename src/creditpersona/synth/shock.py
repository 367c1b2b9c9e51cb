"""An industry downturn planted in the synthetic bank from one review quarter on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from numbers import Integral, Real

from creditpersona.errors import parameter_error

#: Largest accepted shift of the latent risk.
MAX_SHOCK_SIZE = 5.0
_PREFIX = re.compile(r"[A-T][0-9]{0,4}")


@dataclass(frozen=True)
class Shock:
    """A downturn of one industry: its firms' latent risk rises by ``size`` from a quarter on.

    Parameters
    ----------
    industry : str
        GB/T 4754 code prefix matched against the firms' ``industry_code`` with
        ``startswith``: a section (``"E"``, construction), a division (``"F51"``, wholesale)
        or a longer prefix.
    from_quarter : int
        The review quarter (1 = oldest) from which the downturn is in force; it stays in force
        in every later quarter, those after the end date included.
    size : float, default 1.5
        Shift added to the latent risk, in (0, 5]. One unit of risk multiplies the quarterly
        default odds by about ``exp(1.15)`` ≈ 3.2.

    Raises
    ------
    ConfigurationError
        If a field is out of range.

    Examples
    --------
    >>> Shock("F51", from_quarter=3)
    Shock(industry='F51', from_quarter=3, size=1.5)
    """

    industry: str
    from_quarter: int
    size: float = 1.5

    def __post_init__(self) -> None:
        if not isinstance(self.industry, str) or not _PREFIX.fullmatch(self.industry):
            raise parameter_error("industry", "Shock",
                                  "a GB/T 4754 code prefix such as 'E' or 'F51'", self.industry)
        if (not isinstance(self.from_quarter, Integral) or isinstance(self.from_quarter, bool)
                or self.from_quarter < 1):
            raise parameter_error("from_quarter", "Shock", "an int >= 1", self.from_quarter)
        if (not isinstance(self.size, Real) or isinstance(self.size, bool)
                or not 0 < float(self.size) <= MAX_SHOCK_SIZE):
            raise parameter_error("size", "Shock", f"a float in (0, {MAX_SHOCK_SIZE:g}]",
                                  self.size)
