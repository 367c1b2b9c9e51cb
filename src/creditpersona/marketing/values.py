"""Value, suggested rate and suggested limit of every candidate offer.

The caller may give them (a frame or a callable, e.g. the cycle's pricing and limit
engines); whatever it leaves out is priced here by the same pricing engine
(:func:`creditpersona.decisions.offers.offer_values`): the catalogue's offer size, quoted at
LPR + spread with the firm's PD (the risk appetite's ``unrated_pd`` for a firm without one).
There is no second pricing formula.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from creditpersona.decisions.offers import offer_values
from creditpersona.errors import SchemaError
from creditpersona.marketing.catalogue import Catalogue

ValueInput = pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame]
#: ``value_source`` of the pairs the caller valued and of those priced here.
GIVEN, PRICED = "input", "pricing engine"


def offer_inputs(pairs: pd.DataFrame, firms: pd.DataFrame, value: ValueInput | None,
                 cat: Catalogue) -> pd.DataFrame:
    """``value``, ``suggested_rate`` (%), ``suggested_limit`` and ``value_source`` per pair.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``firm_id, product``.
    firms : pandas.DataFrame
        One row per firm: ``firm_id`` and, when present, ``pd``, ``grade``, ``revenue``,
        ``total_assets``.
    value : pandas.DataFrame or callable, optional
        ``firm_id, product, value`` and optionally ``rate`` and ``limit``.
    cat : Catalogue

    Raises
    ------
    SchemaError
        If ``value`` lacks ``firm_id``, ``product`` or ``value``.

    Examples
    --------
    >>> from creditpersona.marketing.catalogue import load_catalogue
    >>> pairs = pd.DataFrame({"firm_id": ["A"], "product": ["working_capital"]})
    >>> firms = pd.DataFrame({"firm_id": ["A"], "revenue": [1e8], "total_assets": [2e8]})
    >>> row = offer_inputs(pairs, firms, None, load_catalogue()).iloc[0]
    >>> float(row["suggested_limit"]), round(float(row["suggested_rate"]), 2), row["value_source"]
    (12000000.0, 3.6, 'pricing engine')
    """
    out = pd.DataFrame({"value": np.nan, "suggested_rate": np.nan, "suggested_limit": np.nan},
                       index=pairs.index)
    key = pd.MultiIndex.from_frame(pairs[["firm_id", "product"]])
    if value is not None:
        given = value(pairs[["firm_id", "product"]]) if callable(value) else value
        _fill(out, given, key)
    source = np.where(out["value"].notna(), GIVEN, PRICED).astype(object)
    todo = out[["value", "suggested_rate", "suggested_limit"]].isna().any(axis=1).to_numpy()
    if todo.any():
        _fill(out, _priced(pairs[todo], firms, cat), key)
    out["value_source"] = source
    return out


def _fill(out: pd.DataFrame, given: pd.DataFrame, key: pd.MultiIndex) -> None:
    """Fill the missing ``value``/``suggested_rate``/``suggested_limit`` from ``given``."""
    if not {"firm_id", "product", "value"} <= set(given.columns):
        raise SchemaError("value must have the columns firm_id, product and value (yuan; "
                          "optionally rate and limit).")
    g = given.assign(firm_id=given["firm_id"].astype(str)).drop_duplicates(
        ["firm_id", "product"]).set_index(["firm_id", "product"])
    for column, target in (("value", "value"), ("rate", "suggested_rate"),
                           ("limit", "suggested_limit")):
        if column in g.columns:
            found = g[column].reindex(key).to_numpy(dtype=float)
            out[target] = out[target].fillna(pd.Series(found, index=out.index))


def _priced(pairs: pd.DataFrame, firms: pd.DataFrame, cat: Catalogue) -> pd.DataFrame:
    """Price the pairs with the pricing engine (no risk caps: no limit engine here).

    The default persona policy applies: the frame's ``persona`` holds names for the lists,
    not the strategy codes the pricing engine reads.
    """
    f = firms.drop_duplicates("firm_id")
    pd_ = (pd.to_numeric(f["pd"], errors="coerce") if "pd" in f.columns
           else pd.Series(np.nan, index=f.index))
    scores = pd.DataFrame({"firm_id": f["firm_id"].to_numpy(),
                           "pd": pd_.fillna(cat.risk_appetite.unrated_pd).to_numpy(dtype=float),
                           "grade": (f["grade"].to_numpy(dtype=object) if "grade" in f.columns
                                     else np.full(len(f), None, dtype=object))})
    profile = pd.DataFrame({"firm_id": f["firm_id"].to_numpy()})
    for c in ("revenue", "total_assets"):
        profile[c] = (pd.to_numeric(f[c], errors="coerce").to_numpy(dtype=float)
                      if c in f.columns else np.nan)
    return offer_values(pairs, profile, scores)
