"""The value, rate and limit of offers, from the pricing engine (the one pricing formula).

Next-best offers need, for every firm × product pair, the amount an offer proposes, its
rate and its worth if accepted. The amount is the product catalogue's ``offer_size``, capped
by the firm's risk caps from the limit engine; :func:`~creditpersona.decisions.pricing.
price_loans` quotes it; the worth is the quote's risk-adjusted return over the term.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.pricing import price_loans
from creditpersona.errors import SchemaError


def offer_values(pairs: pd.DataFrame, profile: pd.DataFrame, scores: pd.DataFrame,
                 limits: pd.DataFrame | None = None, *, config: DecisionsConfig | None = None,
                 as_of: dt.date | None = None) -> pd.DataFrame:
    """Value, rate and limit of every firm × product offer, from the pricing engine.

    The amount is the catalogue's sizing of the product (``offer_size``), capped by the
    firm's risk caps from the limit engine (single-borrower and leverage caps) when
    ``limits`` is given. The pricing engine quotes it (LPR in force on ``as_of`` + spread)
    with the firm's PD and grade; the value of an accepted offer is its risk-adjusted return
    over the term, RAROC × capital × amount × years (interest over funding, operating cost
    and expected loss). Offers the engine declines, or that cannot reach the hurdle within
    the spread bounds, are worth nothing.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``firm_id, product``: the candidate offers.
    profile : pandas.DataFrame
        ``firm_id, revenue, total_assets`` (the profile).
    scores : pandas.DataFrame
        ``firm_id, pd, grade`` and optionally ``persona_strategy`` (the strategy code).
    limits : pandas.DataFrame, optional
        ``firm_id, single_borrower_cap, leverage_cap`` from
        :func:`~creditpersona.decisions.limits.recommend_limits`.
    config : DecisionsConfig, optional
    as_of : datetime.date, optional
        The date whose LPR quotes the offers (default: the latest fixing).

    Returns
    -------
    pandas.DataFrame
        ``firm_id, product, value`` (yuan), ``rate`` (percent a year), ``limit`` (yuan): one
        row per pair, in the order of ``pairs`` grouped by product.

    Raises
    ------
    SchemaError
        If a column is missing or a firm has no PD score.

    Examples
    --------
    >>> pairs = pd.DataFrame({"firm_id": ["A"], "product": ["working_capital"]})
    >>> profile = pd.DataFrame({"firm_id": ["A"], "revenue": [1e8], "total_assets": [2e8]})
    >>> scores = pd.DataFrame({"firm_id": ["A"], "pd": [0.01], "grade": ["5"]})
    >>> row = offer_values(pairs, profile, scores).iloc[0]
    >>> float(row["limit"]), round(float(row["rate"]), 2), round(float(row["value"]))
    (12000000.0, 3.2, 51639)
    """
    cfg = config or load_decisions()
    for frame, need, what in ((pairs, ["firm_id", "product"], "the offer pairs"),
                              (profile, ["firm_id", "revenue", "total_assets"], "the profile"),
                              (scores, ["firm_id", "pd", "grade"], "the PD scores")):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise SchemaError(f"{what} lack the column(s) {', '.join(missing)}.")
    firms = profile[["firm_id", "revenue", "total_assets"]].merge(scores, on="firm_id")
    columns = ["firm_id", "pd", "grade", "revenue"] + (
        ["persona_strategy"] if "persona_strategy" in firms.columns else [])
    requests = _requests(pairs, firms, limits, cfg)
    quoted = price_loans(requests, firms[columns], cfg, as_of=as_of)
    worth = ~(quoted["declined"] | quoted["floor_above_max"]).to_numpy(dtype=bool)
    value = (quoted["raroc"] * quoted["capital_k"] * quoted["amount"]
             * quoted["term_months"] / 12).to_numpy(dtype=float)
    return pd.DataFrame({"firm_id": quoted["firm_id"], "product": quoted["product"],
                         "value": np.where(worth, value, 0.0),
                         "rate": quoted["rate"] * 100, "limit": quoted["amount"]})


def _requests(pairs: pd.DataFrame, firms: pd.DataFrame, limits: pd.DataFrame | None,
              cfg: DecisionsConfig) -> pd.DataFrame:
    """One loan request per pair: the catalogue's offer size within the risk caps."""
    caps = (limits.set_index("firm_id")[["single_borrower_cap", "leverage_cap"]].min(axis=1)
            if limits is not None else None)
    parts = []
    for product, group in pairs.groupby("product", sort=False):
        basis = firms.set_index("firm_id").reindex(group["firm_id"]).reset_index()
        amount = cfg.catalogue.offer_amount(basis, str(product))
        if caps is not None:
            cap = caps.reindex(group["firm_id"]).to_numpy(dtype=float)
            amount = np.where(np.isfinite(cap) & (cap > 0), np.minimum(amount, cap), amount)
        parts.append(pd.DataFrame({"firm_id": group["firm_id"].to_numpy(),
                                   "product": product, "amount": amount,
                                   "term_months": cfg.products[str(product)].term_months}))
    if not parts:
        return pd.DataFrame({"firm_id": pd.Series(dtype=object), "product": pd.Series(
            dtype=object), "amount": pd.Series(dtype=float), "term_months": pd.Series(
            dtype=np.int64)})
    requests = pd.concat(parts, ignore_index=True)
    return requests[requests["amount"] > 0].reset_index(drop=True)
