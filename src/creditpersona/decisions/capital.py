"""Regulatory capital by the Basel IRB corporate formula, with the SME firm-size adjustment.

DOMAIN.md §5 (BCBS CRE31), per unit of exposure at default:

- f = (1 − e^(−50·PD)) / (1 − e^(−50));  R = 0.12·f + 0.24·(1 − f)
- SME (China's version, unverified): S = revenue in RMB 10 m clamped to [3, 30];
  R −= 0.04·(1 − (S − 3)/27)
- b = (0.11852 − 0.05478·ln PD)²
- K = [LGD·N((G(PD) + √R·G(0.999)) / √(1 − R)) − PD·LGD] · (1 + (M − 2.5)·b) / (1 − 1.5·b)
- risk weight = 12.5·K

PD is floored (0.05 %), maturity clamped to [1, 5] years, as configured. Everything is numpy,
one call for a million exposures.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri

from creditpersona.decisions.config import CapitalConfig, load_decisions

Floats = npt.NDArray[np.float64]

_G999 = float(ndtri(0.999))


def _config(config: CapitalConfig | None) -> CapitalConfig:
    return config if config is not None else load_decisions().capital


def asset_correlation(
    pd_: npt.ArrayLike, revenue_yuan: npt.ArrayLike | None = None,
    *, config: CapitalConfig | None = None,
) -> Floats:
    """Asset correlation R, with the SME adjustment where revenue is known.

    A missing revenue gets no SME adjustment (the larger, conservative correlation).

    Examples
    --------
    >>> round(float(asset_correlation(0.01)[0]), 5)
    0.19278
    >>> round(float(asset_correlation(0.01, 30_000_000)[0]), 5)  # S = 3: the full 0.04
    0.15278
    """
    cfg = _config(config)
    p = np.maximum(np.atleast_1d(np.asarray(pd_, dtype=float)), cfg.pd_floor)
    f = (1.0 - np.exp(-50.0 * p)) / (1.0 - np.exp(-50.0))
    r = 0.12 * f + 0.24 * (1.0 - f)
    if revenue_yuan is not None and cfg.sme_adjustment:
        s = np.asarray(revenue_yuan, dtype=float) / cfg.sme_revenue_unit_yuan
        s = np.clip(s, cfg.sme_lower, cfg.sme_upper)
        cut = 0.04 * (1.0 - (s - cfg.sme_lower) / (cfg.sme_upper - cfg.sme_lower))
        r = r - np.where(np.isnan(s), 0.0, cut)
    return np.asarray(r, dtype=float)


def maturity_slope(pd_: npt.ArrayLike, *, config: CapitalConfig | None = None) -> Floats:
    """The maturity-adjustment slope b = (0.11852 − 0.05478·ln PD)².

    Examples
    --------
    >>> round(float(maturity_slope(0.01)[0]), 5)
    0.13749
    """
    cfg = _config(config)
    p = np.maximum(np.atleast_1d(np.asarray(pd_, dtype=float)), cfg.pd_floor)
    return np.asarray((0.11852 - 0.05478 * np.log(p)) ** 2, dtype=float)


def irb_capital(
    pd_: npt.ArrayLike,
    lgd: npt.ArrayLike,
    maturity_years: npt.ArrayLike = 2.5,
    revenue_yuan: npt.ArrayLike | None = None,
    *,
    config: CapitalConfig | None = None,
) -> pd.DataFrame:
    """IRB capital per unit of EAD, with its parts.

    Parameters
    ----------
    pd_ : array-like
        One-year PD (floored as configured). A PD of 1 (default) gives K = 0 here: the
        defaulted exposure is covered by provisions, not by this formula.
    lgd : array-like
        Loss given default in [0, 1].
    maturity_years : array-like, default 2.5
        Effective maturity, clamped to the configured range.
    revenue_yuan : array-like, optional
        Annual revenue for the SME adjustment; missing → no adjustment.
    config : CapitalConfig, optional
        Default: ``load_decisions().capital``.

    Returns
    -------
    pandas.DataFrame
        ``correlation`` (R), ``maturity_slope`` (b), ``capital`` (K) and ``risk_weight``
        (12.5·K), one row per exposure.

    Examples
    --------
    DOMAIN.md §5 test vector:

    >>> irb_capital(0.01, 0.45).round(5).iloc[0].tolist()
    [0.19278, 0.13749, 0.07385, 0.92317]
    """
    cfg = _config(config)
    p = np.maximum(np.atleast_1d(np.asarray(pd_, dtype=float)), cfg.pd_floor)
    lg = np.asarray(lgd, dtype=float)
    m = np.clip(np.asarray(maturity_years, dtype=float), cfg.maturity_floor_years,
                cfg.maturity_cap_years)
    r = asset_correlation(p, revenue_yuan, config=cfg)
    b = maturity_slope(p, config=cfg)
    performing = p < 1.0
    q = np.where(performing, p, 0.5)  # keeps ndtri finite; K is set to 0 for PD = 1 below
    conditional = ndtr((ndtri(q) + np.sqrt(r) * _G999) / np.sqrt(1.0 - r))
    k = (lg * conditional - q * lg) * (1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b)
    k = np.where(performing, np.maximum(k, 0.0), 0.0)
    k, r, b = np.broadcast_arrays(k, r, b)
    return pd.DataFrame({"correlation": r, "maturity_slope": b, "capital": k,
                         "risk_weight": 12.5 * k})


def effective_maturity(term_months: npt.ArrayLike, amortising: npt.ArrayLike,
                       method: str = "effective", foundation_years: float = 2.5) -> Floats:
    """Maturity M (years) of the IRB formula for loans of a term and repayment profile.

    ``effective`` (BCBS CRE32.47, M = Σ t·CF_t / Σ CF_t over the principal cash flows): a
    bullet loan has its term; an amortising loan of ``n`` monthly equal-principal
    instalments has M = (n + 1) / 24 years. ``foundation``: the same M for every loan
    (2.5 years by default). :func:`irb_capital` then clamps M to its configured range.

    Examples
    --------
    A 36-month amortising loan: 1.54 years, not 3; a 12-month bullet loan: 1 year.

    >>> effective_maturity([36, 12], [True, False]).round(4).tolist()
    [1.5417, 1.0]
    >>> effective_maturity([36], [True], "foundation").tolist()
    [2.5]
    """
    term = np.atleast_1d(np.asarray(term_months, dtype=float))
    if method == "foundation":
        return np.full(term.shape, float(foundation_years))
    amort = np.broadcast_to(np.asarray(amortising, dtype=bool), term.shape)
    return np.asarray(np.where(amort, (term + 1.0) / 24.0, term / 12.0), dtype=float)
