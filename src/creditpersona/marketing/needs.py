"""Needs signalled by behaviour and the product-innovation view (产品创新视角).

The catalogue's ``needs`` turn profile features (funding urgency, capital expenditure,
customer concentration, seasonality, industry, size …) into needs; a need is *unmet* when
the firm holds none of the products that serve it. Aggregated per persona, the unmet needs
show where the bank is missing business, and needs no product serves (or that the firms who
have them are not eligible for) show where a new product would help.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from creditpersona.marketing.catalogue import Catalogue, load_catalogue
from creditpersona.store.store import Store

UNKNOWN_PERSONA = "unknown"


def need_signals(profile: pd.DataFrame, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Which needs each firm's behaviour signals.

    Parameters
    ----------
    profile : pandas.DataFrame
        One row per firm with ``firm_id`` and the features the needs name.
    catalogue : Catalogue, optional
        Default :func:`~creditpersona.marketing.catalogue.load_catalogue`.

    Returns
    -------
    pandas.DataFrame
        Index ``firm_id``, one boolean column per need.

    Examples
    --------
    >>> p = pd.DataFrame({"firm_id": ["a", "b"], "industry_section": ["D", "F"],
    ...                   "size_class": ["large", "micro"], "gross_margin": [0.3, 0.1]})
    >>> s = need_signals(p)
    >>> s.loc["a", "green_transition"], s.loc["b", "trade_settlement"]
    (np.True_, np.True_)
    """
    cat = catalogue or load_catalogue()
    index = pd.Index(profile["firm_id"].astype(str), name="firm_id")
    frame = profile.reset_index(drop=True)
    return pd.DataFrame({name: need.signalled(frame) for name, need in cat.needs.items()},
                        index=index)


def product_need(signals: pd.DataFrame, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Per firm and product: how many signalled needs the product serves (0 = none).

    Examples
    --------
    >>> s = pd.DataFrame({"trade_settlement": [True], "short_term_liquidity": [True]},
    ...                  index=pd.Index(["a"], name="firm_id"))
    >>> product_need(s).loc["a", ["working_capital", "trade_finance", "green"]].tolist()
    [2, 1, 0]
    """
    cat = catalogue or load_catalogue()
    out = pd.DataFrame(0, index=signals.index, columns=cat.codes, dtype=np.int64)
    for name, need in cat.needs.items():
        if name not in signals.columns:
            continue
        hit = signals[name].to_numpy(dtype=np.int64)
        for product in need.served_by:
            out[product] += hit
    return out


def products_held(store: Store, as_of: dt.date) -> pd.DataFrame:
    """Per firm and product: does the firm hold an active loan of it on ``as_of``.

    Computed by the query engine: loans started on or before ``as_of`` and maturing after.

    Returns
    -------
    pandas.DataFrame
        Index ``firm_id`` (firms with at least one active loan), one boolean column per
        contract product.
    """
    from creditpersona.contract.schema import PRODUCTS

    loans = store.table("loans")
    day = ibis.literal(as_of, type="date")
    active = loans.filter((loans.start_date <= day) & (loans.maturity_date > day))
    pairs = active.select("firm_id", "product").distinct().to_pandas()
    held = pd.crosstab(pairs["firm_id"].astype(str), pairs["product"]).astype(bool)
    held = held.reindex(columns=list(PRODUCTS), fill_value=False)
    held.index.name = "firm_id"
    held.columns.name = None
    return held


def unmet_needs(
    signals: pd.DataFrame,
    held: pd.DataFrame,
    personas: pd.Series | None = None,
    eligible: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """The product-innovation view: signalled and unmet needs per persona.

    Parameters
    ----------
    signals : pandas.DataFrame
        From :func:`need_signals`.
    held : pandas.DataFrame
        From :func:`products_held` (firms missing from it hold nothing).
    personas : pandas.Series, optional
        Persona code by ``firm_id``; without it every firm counts as ``unknown``.
    eligible : pandas.DataFrame, optional
        From :func:`~creditpersona.marketing.catalogue.eligibility`; counts the unmet firms
        that are eligible for none of the products serving the need.
    catalogue : Catalogue, optional

    Returns
    -------
    pandas.DataFrame
        One row per persona and need: ``persona, need, need_zh, served_by, firms,
        signalled, unmet, unmet_share`` (of the persona's firms), ``no_eligible_product``
        (unmet firms no serving product is open to) and ``gap`` (True when the catalogue has
        no product for the need, or none is open to any of the unmet firms).

    Examples
    --------
    >>> s = pd.DataFrame({"seasonal_revolving": [True, False], "trade_settlement":
    ...                   [True, True]}, index=pd.Index(["a", "b"], name="firm_id"))
    >>> held = pd.DataFrame({"trade_finance": [True]}, index=pd.Index(["b"], name="firm_id"))
    >>> v = unmet_needs(s, held)
    >>> v[["need", "signalled", "unmet", "gap"]].values.tolist()
    [['seasonal_revolving', 1, 1, True], ['trade_settlement', 2, 1, False]]
    """
    cat = catalogue or load_catalogue()
    firms = signals.index
    persona = (personas.reindex(firms).fillna(UNKNOWN_PERSONA).astype(str)
               if personas is not None else pd.Series(UNKNOWN_PERSONA, index=firms))
    held = held.reindex(index=firms, fill_value=False)
    rows = []
    for name, need in cat.needs.items():
        if name not in signals.columns:
            continue
        sig = signals[name].to_numpy(dtype=bool)
        served = [p for p in need.served_by if p in held.columns]
        has = held[served].to_numpy(dtype=bool).any(axis=1) if served else np.zeros(
            len(firms), dtype=bool)
        unmet = sig & ~has
        if eligible is not None and need.served_by:
            open_ = eligible.reindex(firms)[need.served_by].fillna(False).to_numpy(
                dtype=bool).any(axis=1)
        else:
            open_ = np.full(len(firms), bool(need.served_by))
        part = pd.DataFrame({"persona_name_zh": persona.to_numpy(), "signalled": sig,
                             "unmet": unmet, "closed": unmet & ~open_})
        g = part.groupby("persona_name_zh", sort=True)
        agg = pd.DataFrame({"firms": g.size(), "signalled": g["signalled"].sum(),
                            "unmet": g["unmet"].sum(),
                            "no_eligible_product": g["closed"].sum()})
        agg["need"], agg["need_zh"] = name, need.zh
        agg["served_by"] = ", ".join(need.served_by) or "—"
        rows.append(agg.reset_index())
    out = pd.concat(rows, ignore_index=True)
    for c in ("firms", "signalled", "unmet", "no_eligible_product"):
        out[c] = out[c].astype(np.int64)
    out["unmet_share"] = (out["unmet"] / out["firms"]).round(4)
    out["gap"] = (out["served_by"] == "—") | (
        (out["unmet"] > 0) & (out["no_eligible_product"] == out["unmet"]))
    out = out[["persona_name_zh", "need", "need_zh", "served_by", "firms", "signalled", "unmet",
               "unmet_share", "no_eligible_product", "gap"]]
    return out.sort_values(["persona_name_zh", "need"], ignore_index=True)
