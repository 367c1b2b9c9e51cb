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
from dataclasses import dataclass

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.errors import parameter_error
from creditpersona.marketing.catalogue import Catalogue, load_catalogue
from creditpersona.marketing.needs import need_signals, product_need, products_held
from creditpersona.marketing.snapshots import snapshot_profiles, valid_snapshots
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
    peers: PeerTable | None = None,
) -> pd.DataFrame:
    """Features of firm × product rows: the firm's profile and its need for the product.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``firm_id`` and ``product`` per row.
    profile : pandas.DataFrame
        One row per firm (a stored or computed profile), at least the firms of ``pairs``.
    held : pandas.DataFrame
        Products held per firm (:func:`~creditpersona.marketing.needs.products_held`).
    peers : PeerTable, optional
        The peer adoption counts of the whole bank; default counted from ``profile`` and
        ``held`` (right when ``profile`` holds every firm).

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
    at = prof.index.get_indexer(pd.Index(firm))
    out = prof[keep].reindex(firm).reset_index(drop=True)  # no profile row: all missing
    for c in keep:
        if c not in CATEGORICAL_PROFILE:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    need = product_need(need_signals(prof.reset_index(), cat), cat)
    rows = np.arange(len(firm))
    need_matrix = need.to_numpy(dtype=float)[np.maximum(at, 0)]
    col = pd.Index(need.columns).get_indexer(pd.Index(product))
    held_matrix = held.reindex(firm, fill_value=False).to_numpy(dtype=bool)
    hcol = pd.Index(held.columns).get_indexer(pd.Index(product))
    table = peers if peers is not None else PeerTable.count(prof, held)
    extra = pd.DataFrame({
        "product_need": np.where((col >= 0) & (at >= 0),
                                 need_matrix[rows, np.maximum(col, 0)], np.nan),
        "holds_product": np.where(hcol >= 0, held_matrix[rows, np.maximum(hcol, 0)],
                                  False).astype(float),
        "products_held": held_matrix.sum(axis=1).astype(float),
        "peer_share": table.share(_division(prof).to_numpy()[np.maximum(at, 0)],
                                  _section(prof).to_numpy()[np.maximum(at, 0)], product),
    })
    extra.loc[at < 0, "peer_share"] = np.nan
    out = pd.concat([out, extra], axis=1)
    out.index = pairs.index
    return out


def _division(frame: pd.DataFrame) -> pd.Series:
    if "industry_division" in frame.columns:
        division = frame["industry_division"]
    else:
        division = frame["industry_code"].astype("string").str[:3]
    return division.astype(object).where(division.notna(), "?").astype(str)


def _section(frame: pd.DataFrame) -> pd.Series:
    return frame["industry_section"].astype(object).where(
        frame["industry_section"].notna(), "?").astype(str)


@dataclass(frozen=True)
class PeerTable:
    """The counts behind :func:`peer_share`, per GB/T 4754 division and section.

    Counts add up, so the table of a bank is the sum of the tables of any split of its
    firms into parts (:meth:`combine`): a cluster counts each partition and adds.

    Attributes
    ----------
    division, section : pandas.DataFrame
        Index the division (section) code (``"?"`` for none); column ``_firms`` (firms) and
        one column per product (firms holding it).
    smoothing : float
        Pseudo-firms pulling a division's share towards its section's.
    """

    division: pd.DataFrame
    section: pd.DataFrame
    smoothing: float = 10.0

    @classmethod
    def count(cls, firms: pd.DataFrame, held: pd.DataFrame,
              smoothing: float = 10.0) -> PeerTable:
        """Count the firms of ``firms`` (index ``firm_id``; ``industry_division`` or
        ``industry_code``, and ``industry_section``) and the products they hold."""
        h = held.reindex(index=firms.index.astype(str), fill_value=False).astype(float)
        h.index = firms.index
        h.insert(0, "_firms", 1.0)
        return cls(h.groupby(_division(firms).to_numpy()).sum(),
                   h.groupby(_section(firms).to_numpy()).sum(), smoothing)

    @classmethod
    def combine(cls, parts: list[PeerTable]) -> PeerTable:
        """The table of the firms of all ``parts`` (counted on disjoint sets of firms)."""
        if not parts:
            raise ValueError("PeerTable.combine needs at least one part.")

        def add(frames: list[pd.DataFrame]) -> pd.DataFrame:
            return pd.concat(frames).groupby(level=0).sum()

        return cls(add([p.division for p in parts]), add([p.section for p in parts]),
                   parts[0].smoothing)

    def share(self, division: npt.ArrayLike, section: npt.ArrayLike,
              product: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The peer share of each (division, section, product) row; NaN for a product
        not counted or a division or section without firms."""
        prods = [c for c in self.division.columns if c != "_firms"]
        d = self.division.reindex(index=pd.Index(np.asarray(division, dtype=object)))
        s = self.section.reindex(index=pd.Index(np.asarray(section, dtype=object)))
        col = pd.Index(prods).get_indexer(pd.Index(np.asarray(product, dtype=object)))
        rows = np.arange(len(col))
        d_sum = d[prods].to_numpy(dtype=float)[rows, np.maximum(col, 0)]
        s_sum = s[prods].to_numpy(dtype=float)[rows, np.maximum(col, 0)]
        d_n = d["_firms"].to_numpy(dtype=float)
        s_n = s["_firms"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (d_sum + self.smoothing * s_sum / s_n) / (d_n + self.smoothing)
        return np.where(col >= 0, out, np.nan)


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
    table = PeerTable.count(profile, held, smoothing)
    products = list(held.columns)
    n, m = len(profile), len(products)
    share = table.share(np.repeat(_division(profile).to_numpy(), m),
                        np.repeat(_section(profile).to_numpy(), m), np.tile(products, n))
    index = pd.MultiIndex.from_arrays([np.repeat(profile.index.to_numpy(), m),
                                       np.tile(products, n)], names=["firm_id", "product"])
    return pd.Series(share, index=index)


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


def profile_of_firms(store: Store, as_of: dt.date, firm_ids: npt.ArrayLike) -> pd.DataFrame:
    """The profile of some firms as of a date: the stored rows if the store has that date,
    else computed for those firms only (every profile feature is the firm's own, so the rows
    equal those of the whole bank's profile)."""
    from creditpersona.contract.schema import TABLES
    from creditpersona.profile.build import PROFILES, build_profile, load_profile

    ids = pd.Index(pd.unique(np.asarray(firm_ids, dtype=object).astype(str)))
    if results.exists(store, PROFILES, as_of):
        prof = load_profile(store, as_of)
        return prof[prof["firm_id"].astype(str).isin(ids)].reset_index(drop=True)
    wanted = ibis.memtable(pd.DataFrame({"firm_id": ids.to_numpy()}))
    tables = {}
    for t in TABLES:
        table = store.table(t.name)
        if "firm_id" in table.columns:
            table = table.semi_join(wanted, "firm_id")
        tables[t.name] = table
    # every firm's name: a document naming another firm is scored as such
    firms = store.table("firms").select("firm_id", "name").to_pandas()
    names = dict(zip(firms["firm_id"].astype(str), firms["name"], strict=True))
    return build_profile(tables, as_of, firm_names=names)


def _snapshot_peers(store: Store, as_of: dt.date, held: pd.DataFrame) -> PeerTable:
    """The peer counts of every firm founded by ``as_of`` (the firms a profile holds)."""
    from creditpersona.domain import industry

    t = store.table("firms")
    firms = t.filter(t.founded_on <= ibis.literal(as_of, type="date")).select(
        "firm_id", "industry_code").to_pandas()
    firms["firm_id"] = firms["firm_id"].astype(str)
    firms["industry_section"] = industry.section_of(firms["industry_code"])
    return PeerTable.count(firms.set_index("firm_id"), held)


def sample_rows(strata: pd.DataFrame, cap: int, seed: int) -> npt.NDArray[np.int64]:
    """Positions of at most ``cap`` rows, stratified by the columns of ``strata``.

    Every stratum keeps its share of the rows (largest remainders, so the sizes add up to
    ``cap``; a stratum of a single row may be left out); rows are drawn without
    replacement with ``seed``. All rows, in order, when there are at most ``cap``.

    Examples
    --------
    >>> s = pd.DataFrame({"product": ["a"] * 90 + ["b"] * 10, "y": [0, 1] * 50})
    >>> rows = sample_rows(s, 20, seed=0)
    >>> len(rows), int((s["product"].iloc[rows] == "b").sum())
    (20, 2)
    """
    n = len(strata)
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    codes = strata.groupby(list(strata.columns), sort=True, dropna=False).ngroup().to_numpy()
    sizes = np.bincount(codes)
    quota = sizes * cap / n
    take = np.floor(quota).astype(np.int64)
    short = cap - int(take.sum())
    take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), codes))            # by stratum, random within
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(start, sizes)
    return np.flatnonzero(rank < take[codes]).astype(np.int64)


def campaign_history(
    store: Store,
    *,
    before: dt.date | None = None,
    profile_source: ProfileSource | None = None,
    catalogue: Catalogue | None = None,
    sample_cap: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Campaign contacts with point-in-time features (a capped, stratified sample).

    Each campaign is joined to the profile as of the last quarter end before its first
    contact (or assignment) date and to the products each firm held on that date. Campaigns
    with the same snapshot share one profile (of the sampled firms only) and one count of
    holdings.

    Parameters
    ----------
    store : Store
    before : datetime.date, optional
        Only campaigns whose last contact is on or before this date (default: all).
    profile_source : callable, optional
        ``as_of → profile``; default the stored profile of that date, or the contacted
        firms' profile computed once per snapshot and kept in the store
        (:func:`~creditpersona.marketing.snapshots.snapshot_profiles`).
    catalogue : Catalogue, optional
    sample_cap : int, optional
        Contacts kept at most (:func:`sample_rows`, stratified by product, treatment and
        response); default the catalogue's ``fitting.sample_cap``.
    seed : int
        Seed of the sample.

    Returns
    -------
    pandas.DataFrame
        ``campaign_id, firm_id, product, channel, contact_date, treated, responded,
        amount_taken, response, snapshot`` and the columns of :func:`marketing_features`.
    """
    cat = catalogue or load_catalogue()
    cap = cat.fitting.sample_cap if sample_cap is None else sample_cap
    if not isinstance(cap, int | np.integer) or cap < 1:
        raise parameter_error("sample_cap", "campaign_history", "an int ≥ 1", sample_cap)
    contacts = store.table("campaign_contacts").drop("load_id").to_pandas()
    if contacts.empty:
        return contacts
    contacts["contact_date"] = pd.to_datetime(contacts["contact_date"]).dt.date
    span = contacts.groupby("campaign_id")["contact_date"].agg(["min", "max"])
    if before is not None:
        span = span[span["max"] <= before]
    span = span.sort_values("min", kind="stable")
    contacts = contacts[contacts["campaign_id"].isin(span.index)]
    # campaigns in order of their first contact, each in stored row order, as before
    contacts = contacts.iloc[np.lexsort((np.arange(len(contacts)), pd.Index(span.index)
                                         .get_indexer(contacts["campaign_id"])))]
    contacts = contacts.reset_index(drop=True)
    days = span["min"].map(quarter_end_before)
    # every contacted firm of a snapshot, before the sample: stored once for all samples
    contacted = contacts.groupby(contacts["campaign_id"].map(days))["firm_id"].unique()
    strata = contacts[["product", "treated", "responded"]].astype(str)
    contacts = contacts.iloc[sample_rows(strata, int(cap), seed)].reset_index(drop=True)
    if contacts.empty:
        return contacts
    snapshot = contacts["campaign_id"].map(days)
    valid = valid_snapshots(store) if profile_source is None else set()
    parts = []
    for day in sorted(snapshot.unique()):
        part = contacts[(snapshot == day).to_numpy()].reset_index(drop=True)
        source = profile_source or (lambda d: snapshot_profiles(  # noqa: B023 (called now)
            store, d, contacted[d], valid))
        parts.append(_snapshot_part(store, day, part, source, profile_source is None, cat))
    out = pd.concat(parts, ignore_index=True)
    order = pd.Index(span.index).get_indexer(out["campaign_id"])
    out = out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    out["treated"] = out["treated"].astype(bool)
    out["responded"] = out["responded"].astype(bool)
    return out


def _snapshot_part(store: Store, day: dt.date, part: pd.DataFrame, source: ProfileSource,
                   sampled_firms: bool, cat: Catalogue) -> pd.DataFrame:
    """The contacts of one snapshot with their point-in-time features.

    ``sampled_firms``: the profile holds some firms only (the contacted ones), so the peer
    counts come from every firm founded by the snapshot; otherwise from the profile.
    """
    held = products_held(store, day)
    profile = source(day)
    if sampled_firms:
        profile = profile[profile["firm_id"].astype(str).isin(
            part["firm_id"].astype(str))].reset_index(drop=True)
        peers = _snapshot_peers(store, day, held)
    else:
        peers = PeerTable.count(_firm_index(profile), held)
    feats = marketing_features(part[["firm_id", "product"]], profile, held, cat, peers)
    part = part.assign(snapshot=day)
    return pd.concat([part, feats], axis=1)


def _firm_index(profile: pd.DataFrame) -> pd.DataFrame:
    prof = profile.drop_duplicates("firm_id")
    return prof.set_index(prof["firm_id"].astype(str))



#: Columns of a campaign's record, never features. ``response`` (contacted / interested /
#: declined / taken, as the RM recorded it) is an outcome: the models learn ``responded``, the
#: take-up, and must not see the response that says it.
HISTORY_COLUMNS = ("campaign_id", "firm_id", "product", "channel", "contact_date", "treated",
                   "responded", "amount_taken", "response", "snapshot", "load_id")


def feature_columns(frame: pd.DataFrame, pooled: bool = False) -> list[str]:
    """The feature columns of a :func:`campaign_history` or :func:`marketing_features` frame."""
    return [c for c in frame.columns if c not in HISTORY_COLUMNS
            and (pooled or c != "product")]
