"""Point-in-time campaign history (营销历史): what the models of the marketing stage learn from.

:func:`campaign_history` builds the training table from the store's campaign contacts: every
campaign is joined to the profile as of the last quarter end before its first contact
(assignment) date, so nothing after the contact leaks into the features.
:func:`marketing_features` gives the same features for any firm × product pairs (the
candidates of a campaign being planned).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import cast

import numpy as np
import pandas as pd

from creditpersona.marketing.catalogue import Catalogue, load_catalogue
from creditpersona.marketing.needs import need_signals, product_need, products_held
from creditpersona.store import results
from creditpersona.store.store import Store

#: Profile columns that are identifiers, dates or rendered text, never features.
NOT_FEATURES = ("firm_id", "as_of", "run_id", "engine", "statement_period_end",
                "region_code", "industry_code", "summary_zh", "summary_en", "text_top_event")
#: Profile text columns used as categoricals.
CATEGORICAL_PROFILE = ("industry_section", "industry_division", "size_class", "ownership_type")


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def quarter_end_before(day: dt.date) -> dt.date:
    """The last quarter end strictly before ``day``.

    Examples
    --------
    >>> quarter_end_before(dt.date(2024, 3, 12)), quarter_end_before(dt.date(2024, 4, 1))
    (datetime.date(2023, 12, 31), datetime.date(2024, 3, 31))
    """
    quarter_start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return quarter_start - dt.timedelta(days=1)


def marketing_features(
    pairs: pd.DataFrame,
    profile: pd.DataFrame,
    held: pd.DataFrame,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Features of firm × product rows: the firm's profile and its need for the product.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``firm_id`` and ``product`` per row.
    profile : pandas.DataFrame
        One row per firm (a stored or computed profile).
    held : pandas.DataFrame
        Products held per firm (:func:`~creditpersona.marketing.needs.products_held`).

    Returns
    -------
    pandas.DataFrame
        Same rows as ``pairs``: every numeric profile feature, the categorical
        ``industry_section``, ``industry_division``, ``size_class``, ``ownership_type``, and
        per row ``product_need`` (signalled needs the product serves), ``holds_product``,
        ``products_held`` and ``peer_share`` (see :func:`peer_share`).
    """
    cat = catalogue or load_catalogue()
    prof = profile.drop_duplicates("firm_id").copy()
    prof["firm_id"] = prof["firm_id"].astype(str)
    if "industry_code" in prof.columns:
        prof["industry_division"] = prof["industry_code"].astype("string").str[:3]
    keep = [c for c in prof.columns if c not in NOT_FEATURES
            and (c in CATEGORICAL_PROFILE or _is_numeric(prof[c]))]
    prof = prof.set_index("firm_id")
    firm = pairs["firm_id"].astype(str).to_numpy()
    product = pairs["product"].astype(str).to_numpy()
    out = prof[keep].reindex(firm).reset_index(drop=True)
    for c in keep:
        if c not in CATEGORICAL_PROFILE:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    need = product_need(need_signals(profile, cat), cat)
    codes = {p: i for i, p in enumerate(need.columns)}
    need_matrix = need.reindex(firm).to_numpy(dtype=float)
    col = np.array([codes.get(p, -1) for p in product])
    rows = np.arange(len(firm))
    held_matrix = held.reindex(firm, fill_value=False).to_numpy(dtype=bool)
    held_cols = {p: i for i, p in enumerate(held.columns)}
    hcol = np.array([held_cols.get(p, -1) for p in product])
    extra = pd.DataFrame({
        "product_need": np.where(col >= 0, need_matrix[rows, np.maximum(col, 0)], np.nan),
        "holds_product": np.where(hcol >= 0, held_matrix[rows, np.maximum(hcol, 0)],
                                  False).astype(float),
        "products_held": held_matrix.sum(axis=1).astype(float),
        "peer_share": peer_share(prof, held).reindex(
            pd.MultiIndex.from_arrays([firm, product])).to_numpy(dtype=float),
    })
    out = pd.concat([out, extra], axis=1)
    out.index = pairs.index
    return out


def peer_share(profile: pd.DataFrame, held: pd.DataFrame, smoothing: float = 10.0) -> pd.Series:
    """How common each product is among a firm's industry peers (look-alike adoption).

    The share of the firms of the firm's GB/T 4754 division that hold the product, shrunk
    towards the section's share with ``smoothing`` pseudo-firms. A firm counts itself.

    Parameters
    ----------
    profile : pandas.DataFrame
        Index ``firm_id`` with ``industry_division`` and ``industry_section``.
    held : pandas.DataFrame
        Products held per firm.

    Returns
    -------
    pandas.Series
        Indexed by (firm_id, product).
    """
    firms = profile.index
    h = held.reindex(index=firms, fill_value=False).astype(float)
    division = profile["industry_division"].fillna("?").astype(str).to_numpy()
    section = profile["industry_section"].fillna("?").astype(str).to_numpy()
    by_sec = h.groupby(section).transform("mean")
    div_sum = h.groupby(division).transform("sum")
    div_n = pd.Series(division).map(pd.Series(division).value_counts()).to_numpy()[:, None]
    share = (div_sum.to_numpy() + smoothing * by_sec.to_numpy()) / (div_n + smoothing)
    out = cast(pd.Series, pd.DataFrame(share, index=firms, columns=h.columns).stack())
    out.index.names = ["firm_id", "product"]
    return out


ProfileSource = Callable[[dt.date], pd.DataFrame]


def stored_or_computed_profile(store: Store) -> ProfileSource:
    """A function giving the profile as of a date: the stored one if the store has that date,
    else computed on the fly (and not stored)."""
    from creditpersona.profile.build import PROFILES, compute_profile, load_profile

    def source(as_of: dt.date) -> pd.DataFrame:
        if results.exists(store, PROFILES, as_of):
            return load_profile(store, as_of)
        return compute_profile(store, as_of).frame

    return source


def campaign_history(
    store: Store,
    *,
    before: dt.date | None = None,
    profile_source: ProfileSource | None = None,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Every campaign contact with point-in-time features.

    Each campaign is joined to the profile as of the last quarter end before its first
    contact (or assignment) date and to the products each firm held on that date.

    Parameters
    ----------
    store : Store
    before : datetime.date, optional
        Only campaigns whose last contact is on or before this date (default: all).
    profile_source : callable, optional
        ``as_of → profile``; default :func:`stored_or_computed_profile`.
    catalogue : Catalogue, optional

    Returns
    -------
    pandas.DataFrame
        ``campaign_id, firm_id, product, channel, contact_date, treated, responded,
        amount_taken, response, snapshot`` and the columns of :func:`marketing_features`.
    """
    cat = catalogue or load_catalogue()
    contacts = store.table("campaign_contacts").drop("load_id").to_pandas()
    if contacts.empty:
        return contacts
    contacts["contact_date"] = pd.to_datetime(contacts["contact_date"]).dt.date
    span = contacts.groupby("campaign_id")["contact_date"].agg(["min", "max"])
    if before is not None:
        span = span[span["max"] <= before]
    source = profile_source or stored_or_computed_profile(store)
    parts = []
    for campaign_id, row in span.sort_values("min").iterrows():
        snapshot = quarter_end_before(row["min"])
        part = contacts[contacts["campaign_id"] == campaign_id].reset_index(drop=True)
        profile = source(snapshot)
        held = products_held(store, snapshot)
        feats = marketing_features(part[["firm_id", "product"]], profile, held, cat)
        part["snapshot"] = snapshot
        parts.append(pd.concat([part, feats], axis=1))
    out = pd.concat(parts, ignore_index=True)
    out["treated"] = out["treated"].astype(bool)
    out["responded"] = out["responded"].astype(bool)
    return out


#: Columns of a campaign's record, never features. ``response`` (contacted / interested /
#: declined / taken, as the RM recorded it) is an outcome: the models learn ``responded``, the
#: take-up, and must not see the response that says it.
HISTORY_COLUMNS = ("campaign_id", "firm_id", "product", "channel", "contact_date", "treated",
                   "responded", "amount_taken", "response", "snapshot", "load_id")


def feature_columns(frame: pd.DataFrame, pooled: bool = False) -> list[str]:
    """The feature columns of a :func:`campaign_history` or :func:`marketing_features` frame."""
    return [c for c in frame.columns if c not in HISTORY_COLUMNS
            and (pooled or c != "product")]
