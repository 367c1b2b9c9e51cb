"""Five-tier loan risk classification (五级分类), CBIRC/PBOC 2023 No. 1 objective floors.

DOMAIN.md §4: any overdue → at least 关注 special mention; more than 90 days → at least 次级
substandard; more than 270 → at least 可疑 doubtful; more than 360 → 损失 loss (the day
thresholds are configuration). The last three tiers are non-performing (NPL).

Same-bank contagion: if more than 10 % of a debtor's claims at the bank (by outstanding
balance; by count when no balance is known) are non-performing, all its claims there are at
least substandard. Restructured loans and refinancing a borrower in difficulty (借新还旧, loan
purpose ``refinancing``) are at least 关注 during their observation period: at least two
repayment periods and at least one year from the loan's start (DOMAIN.md §4; configurable).
Other qualitative triggers are not applied (DOMAIN.md marks them unverified); the
early-warning rules cover them as warnings instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.decisions.config import (
    TIERS,
    TIERS_ZH,
    ClassificationConfig,
    load_decisions,
    lookup,
)
from creditpersona.decisions.value import require_columns

SUBSTANDARD = TIERS.index("substandard")
SPECIAL_MENTION = TIERS.index("special_mention")


def tier_of_dpd(dpd: npt.ArrayLike, config: ClassificationConfig | None = None
                ) -> npt.NDArray[np.int64]:
    """Tier index (0 normal … 4 loss) of days past due, by the objective floors.

    Examples
    --------
    >>> tier_of_dpd([0, 1, 90, 91, 270, 271, 360, 361]).tolist()
    [0, 1, 1, 2, 2, 3, 3, 4]
    """
    cfg = config or load_decisions().classification
    days = np.nan_to_num(np.asarray(dpd, dtype=float), nan=0.0)
    # "more than N days" → at least the tier: strictly greater, hence side="left".
    return np.searchsorted(cfg.thresholds(), days, side="left").astype(np.int64)


def classify_loans(book: pd.DataFrame, config: ClassificationConfig | None = None
                   ) -> pd.DataFrame:
    """Tier of every loan, with same-bank contagion.

    Parameters
    ----------
    book : pandas.DataFrame
        ``loan_id``, ``firm_id``, ``dpd``; optional ``outstanding`` (claims weight) and
        ``purpose`` with ``elapsed_days`` (and ``instalment_months``) for the observation
        period of restructured and refinancing loans.
    config : ClassificationConfig, optional

    Returns
    -------
    pandas.DataFrame
        ``loan_id``, ``firm_id``, ``dpd``, ``outstanding``, ``tier_by_dpd``,
        ``observation`` (a restructured or refinancing loan under observation), ``npl_share``
        (the firm's non-performing share by the days-past-due floors), ``contagion``
        (raised by contagion), ``tier`` and ``tier_zh``.

    Examples
    --------
    Firm A: one loan 120 days overdue (20 % of its claims) drags the other two into 次级.

    >>> book = pd.DataFrame({"loan_id": ["1", "2", "3", "4"], "firm_id": ["A", "A", "A", "B"],
    ...                      "dpd": [120, 0, 5, 0], "outstanding": [2.0, 5.0, 3.0, 1.0]})
    >>> classify_loans(book)["tier"].tolist()
    ['substandard', 'substandard', 'substandard', 'normal']

    A refinancing loan (借新还旧) paid on time is 关注 in its first year, normal after it:

    >>> refi = pd.DataFrame({"loan_id": ["5", "6"], "firm_id": ["C", "D"], "dpd": [0, 0],
    ...                      "purpose": ["refinancing"] * 2, "elapsed_days": [200, 400]})
    >>> classify_loans(refi)["tier"].tolist()
    ['special_mention', 'normal']
    """
    cfg = config or load_decisions().classification
    require_columns(book, ["loan_id", "firm_id", "dpd"], "the loan book")
    out = book[["loan_id", "firm_id", "dpd"]].reset_index(drop=True).copy()
    weight = (book["outstanding"].to_numpy(dtype=float) if "outstanding" in book.columns
              else np.ones(len(book)))
    out["outstanding"] = weight
    by_dpd = tier_of_dpd(out["dpd"], cfg)
    out["tier_by_dpd"] = np.array(TIERS, dtype=object)[by_dpd]
    observed = np.zeros(len(out), dtype=bool)
    if {"purpose", "elapsed_days"} <= set(book.columns):
        period = (book["instalment_months"].to_numpy(dtype=float)
                  if "instalment_months" in book.columns else np.ones(len(book)))
        months = np.maximum(cfg.observation_months, cfg.observation_periods * period)
        observed = (book["purpose"].isin(cfg.restructured_purposes).to_numpy()
                    & (book["elapsed_days"].to_numpy(dtype=float) <= months * 365.25 / 12))
    out["observation"] = observed
    by_dpd = np.where(observed, np.maximum(by_dpd, SPECIAL_MENTION), by_dpd)
    npl = by_dpd >= SUBSTANDARD
    w = np.maximum(np.nan_to_num(weight), 0.0)
    grouped = pd.DataFrame({"firm_id": out["firm_id"], "w": w, "nw": w * npl,
                            "c": 1.0, "nc": npl.astype(float)}).groupby("firm_id")
    sums = grouped.transform("sum")
    share = np.where(sums["w"] > 0, sums["nw"] / np.where(sums["w"] > 0, sums["w"], 1.0),
                     sums["nc"] / sums["c"])
    out["npl_share"] = share
    contagion = (share > cfg.contagion_share) & ~npl
    tier = np.where(contagion, np.maximum(by_dpd, SUBSTANDARD), by_dpd)
    out["contagion"] = contagion
    out["tier"] = np.array(TIERS, dtype=object)[tier]
    out["tier_zh"] = np.array(TIERS_ZH, dtype=object)[tier]
    return out


def classify_firms(loans: pd.DataFrame) -> pd.DataFrame:
    """Per firm: loans, balance, worst tier, NPL balance and share, contagion.

    Parameters
    ----------
    loans : pandas.DataFrame
        From :func:`classify_loans`.

    Examples
    --------
    >>> book = pd.DataFrame({"loan_id": ["1", "2"], "firm_id": ["A", "A"], "dpd": [300, 0],
    ...                      "outstanding": [1.0, 1.0]})
    >>> classify_firms(classify_loans(book))[["tier", "npl_outstanding"]].values.tolist()
    [['doubtful', 2.0]]
    """
    rank = lookup(loans["tier"], {t: i for i, t in enumerate(TIERS)}, 0).astype(np.int64)
    frame = pd.DataFrame({
        "firm_id": loans["firm_id"].to_numpy(), "outstanding": loans["outstanding"].to_numpy(),
        "rank": rank, "npl": loans["outstanding"].to_numpy() * (rank >= SUBSTANDARD),
        "dpd": loans["dpd"].to_numpy(), "contagion": loans["contagion"].to_numpy(),
    })
    g = frame.groupby("firm_id", sort=True)
    out = g.agg(n_loans=("rank", "size"), outstanding=("outstanding", "sum"),
                max_dpd=("dpd", "max"), worst=("rank", "max"),
                npl_outstanding=("npl", "sum"), contagion=("contagion", "any")).reset_index()
    out["npl_share"] = np.where(out["outstanding"] > 0, out["npl_outstanding"]
                                / out["outstanding"].where(out["outstanding"] > 0, 1.0), 0.0)
    out["tier"] = np.array(TIERS, dtype=object)[out["worst"].to_numpy()]
    out["tier_zh"] = np.array(TIERS_ZH, dtype=object)[out["worst"].to_numpy()]
    out["npl"] = out["worst"] >= SUBSTANDARD
    return out.drop(columns="worst")
