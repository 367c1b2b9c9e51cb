"""Enterprise size class under MIIT 2011 《中小企业划型标准规定》 (DOMAIN.md §1).

X = employees, Y = operating revenue, Z = total assets; thresholds are in 万元 (10,000 RMB)
while the data contract holds yuan. A firm is *large* when it reaches both large bounds,
*medium* or *small* when it reaches both bounds of that class, and *micro* as soon as one
indicator falls below the small bound (the NBS 2017 "下划一档" reading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

SIZE_CLASSES = ("large", "medium", "small", "micro")
#: Size class of a finance (section J) firm: the MIIT standard does not cover finance
#: (financial firms are sized under the PBOC 2015 《金融业企业划型标准规定》, by assets).
OUTSIDE_MIIT = "outside_miit"
SIZE_LABELS_ZH = {"large": "大型", "medium": "中型", "small": "小型", "micro": "微型",
                  OUTSIDE_MIIT: "不适用工信部标准(金融业)"}


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds of one MIIT industry group; ``indicators`` says which of X, Y, Z count."""

    indicators: tuple[str, ...]
    large: tuple[float, ...]
    medium: tuple[float, ...]
    small: tuple[float, ...]


THRESHOLDS: dict[str, Thresholds] = {
    "agriculture": Thresholds(("Y",), (20000,), (500,), (50,)),
    "industry": Thresholds(("X", "Y"), (1000, 40000), (300, 2000), (20, 300)),
    "construction": Thresholds(("Y", "Z"), (80000, 80000), (6000, 5000), (300, 300)),
    "wholesale": Thresholds(("X", "Y"), (200, 40000), (20, 5000), (5, 1000)),
    "retail": Thresholds(("X", "Y"), (300, 20000), (50, 500), (10, 100)),
    "transport": Thresholds(("X", "Y"), (1000, 30000), (300, 3000), (20, 200)),
    "warehousing": Thresholds(("X", "Y"), (200, 30000), (100, 1000), (20, 100)),
    "postal": Thresholds(("X", "Y"), (1000, 30000), (300, 2000), (20, 100)),
    "accommodation_catering": Thresholds(("X", "Y"), (300, 10000), (100, 2000), (10, 100)),
    "telecom_internet": Thresholds(("X", "Y"), (2000, 100000), (100, 1000), (10, 100)),
    "software_it": Thresholds(("X", "Y"), (300, 10000), (100, 1000), (10, 50)),
    "real_estate_development": Thresholds(("Y", "Z"), (200000, 10000), (1000, 5000), (100, 2000)),
    "property_management": Thresholds(("X", "Y"), (1000, 5000), (300, 1000), (100, 500)),
    "leasing_business": Thresholds(("X", "Z"), (300, 120000), (100, 8000), (10, 100)),
    "other": Thresholds(("X",), (300,), (100,), (10,)),
}


def miit_group(industry_code: str) -> str:
    """The MIIT industry group of a GB/T 4754 code (see :data:`THRESHOLDS`).

    Examples
    --------
    A division-level code uses its section's rule (``K70``: real-estate development, the
    MIIT row for the section); finance (``J``) is outside the MIIT standard:

    >>> miit_group("C38"), miit_group("F52"), miit_group("K7010"), miit_group("P83")
    ('industry', 'retail', 'real_estate_development', 'other')
    >>> miit_group("K70"), miit_group("K7020"), miit_group("J66")
    ('real_estate_development', 'property_management', 'finance')
    """
    letter, div = industry_code[:1], industry_code[1:3]
    if letter == "A":
        return "agriculture"
    if letter in ("B", "C", "D"):
        return "industry"
    if letter == "E":
        return "construction"
    if letter == "F":
        return "wholesale" if div == "51" else "retail"
    if letter == "G":
        return {"59": "warehousing", "60": "postal"}.get(div, "transport")
    if letter == "H":
        return "accommodation_catering"
    if letter == "I":
        return "software_it" if div == "65" else "telecom_internet"
    if letter == "J":
        return "finance"
    if letter == "K":
        group = industry_code[1:4]
        if len(group) < 3:  # division only (K70): the section's rule
            return "real_estate_development"
        return {"701": "real_estate_development", "702": "property_management"}.get(
            group, "other"
        )
    if letter == "L":
        return "leasing_business"
    return "other"


def classify(
    industry_codes: npt.ArrayLike,
    employees: npt.ArrayLike,
    revenue_yuan: npt.ArrayLike,
    total_assets_yuan: npt.ArrayLike,
) -> npt.NDArray[np.object_]:
    """Classify firms as large, medium, small or micro.

    Parameters
    ----------
    industry_codes : array-like of str
        GB/T 4754 codes.
    employees : array-like of float
        Head count (X).
    revenue_yuan, total_assets_yuan : array-like of float
        Annual operating revenue (Y) and total assets (Z) in RMB yuan.

    Returns
    -------
    numpy.ndarray of str
        One of :data:`SIZE_CLASSES` per firm, :data:`OUTSIDE_MIIT` for a finance (J) firm;
        a firm with a missing indicator that its group needs is ``None``.

    Examples
    --------
    A manufacturer with 350 staff and 25 million yuan revenue is medium; with 15 staff it
    drops to micro because one indicator is below the small bound:

    >>> classify(["C38", "C38"], [350, 15], [25e6, 25e6], [1e8, 1e8]).tolist()
    ['medium', 'micro']
    """
    codes = pd.Series(np.asarray(industry_codes, dtype=object)).astype(str)
    values = {
        "X": np.asarray(employees, dtype=float),
        "Y": np.asarray(revenue_yuan, dtype=float) / 1e4,
        "Z": np.asarray(total_assets_yuan, dtype=float) / 1e4,
    }
    groups = codes.map(miit_group).to_numpy()
    out = np.full(codes.shape[0], None, dtype=object)
    out[groups == "finance"] = OUTSIDE_MIIT
    for name, th in THRESHOLDS.items():
        mask = groups == name
        if not mask.any():
            continue
        ind = np.vstack([values[k][mask] for k in th.indicators])
        missing = np.isnan(ind).any(axis=0)
        result = np.full(mask.sum(), "micro", dtype=object)
        for label, bounds in (("small", th.small), ("medium", th.medium), ("large", th.large)):
            reached = (ind >= np.asarray(bounds, dtype=float)[:, None]).all(axis=0)
            result[reached] = label
        result[missing] = None
        out[mask] = result
    return out
