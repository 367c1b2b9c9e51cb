"""Stage kernels of precision marketing: fit once on a sample, apply to any chunk of firms.

The marketing stage splits into work on one machine that stays small whatever the bank's
size, and work per firm that a cluster can spread over partitions of whole firms:

1. :func:`fit_marketing` (driver): the response (propensity) and uplift models fitted on a
   capped, stratified sample of the campaign history (``marketing.yaml``:
   ``fitting.sample_cap``), the peer-adoption counts of the whole bank (:class:`PeerTable`,
   additive over partitions) and the configuration → a small, frozen
   :class:`MarketingModel`.
2. :func:`apply_marketing` (per chunk): every eligible firm × product pair of the chunk's
   firms with its features, P(accept), uplift, value and expected value. Nothing depends on
   the other firms of the chunk, so any split of the firms gives the same rows.
3. Offers. Embedded, the stage plans the whole candidate table at once
   (:func:`~creditpersona.marketing.offers.plan_offers`). On a cluster, the capacity
   constraints are priced instead: :func:`solve_prices` solves the Lagrangian multipliers on
   the candidates of a sample of firms (capacities scaled to the sample), the model carries
   them to every partition, where :func:`apply_marketing` marks each firm's best pair at those
   prices (``proposed``); :func:`cap_offers` then keeps the proposals, best first, while every
   capacity holds — a rank within each relationship manager and running sums within each
   channel, section, product and grade group (window functions on a cluster), over one row
   per firm.

Inputs per firm come from :func:`marketing_inputs`: the profile with the firm's name,
relationship manager, PD, grade, persona, persona strategy and the products it holds
(``held:<product>`` columns).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditpersona.errors import SchemaError
from creditpersona.marketing.catalogue import Catalogue, eligibility, load_catalogue
from creditpersona.marketing.history import (
    PeerTable,
    feature_columns,
    marketing_features,
    sample_rows,
)
from creditpersona.marketing.needs import need_signals, products_held
from creditpersona.marketing.offers import (
    Family,
    OfferProblem,
    build_problem,
    lagrangian_prices,
)
from creditpersona.marketing.propensity import ProductPropensity
from creditpersona.marketing.routing import ChannelConfig, load_channels, route
from creditpersona.marketing.uplift import TwoModelUplift
from creditpersona.marketing.values import ValueInput, offer_inputs
from creditpersona.store.store import Store

#: Fewest contacted responses (and non-responses) the models need; below, a need-based prior.
MIN_RESPONSES = 20
#: Fewest responses in each arm (treated, control) for the uplift model and the backtest:
#: their training part (80 % of the history stratified by arm and response, or the firms not
#: held back) must leave the learners' four inner folds at least one response each.
MIN_ARM_RESPONSES = 8
#: Prefix of the columns of :func:`marketing_inputs` that say which products a firm holds.
HELD = "held:"
#: Capacity families priced by :func:`solve_prices` (the RM capacity is kept exactly by
#: :func:`cap_offers`, a rank within each RM).
PRICED_FAMILIES = ("channel", "section", "product", "grade_cap_")


@dataclass(frozen=True)
class MarketingModel:
    """Everything :func:`apply_marketing` needs, fitted once (small: no firm-sized table).

    Attributes
    ----------
    as_of : datetime.date
    catalogue : Catalogue
    channels : ChannelConfig
    propensity : ProductPropensity or None
        None: too few responses; P(accept) is the need-based prior.
    uplift : TwoModelUplift or None
        None: an arm has too few responses; uplift is NaN.
    peers : PeerTable
        Peer adoption counts of the whole bank.
    prices : dict
        Family name → price per unit of capacity per group label (the Lagrangian
        multipliers over the capacities, :func:`solve_prices`); empty until solved.
    fitted_rows : int
        Campaign contacts the models were fitted on (after the cap).
    history_rows : int
        Campaign contacts in the history given.
    responses : int
        Contacted responses in the rows fitted on.
    arm_responses : tuple of int
        Responses of the treated and of the control rows fitted on.
    notes : tuple of str
        What could not be fitted and what is used instead.
    """

    as_of: dt.date
    catalogue: Catalogue
    channels: ChannelConfig
    propensity: ProductPropensity | None
    uplift: TwoModelUplift | None
    peers: PeerTable
    prices: dict[str, pd.Series] = field(default_factory=dict)
    fitted_rows: int = 0
    history_rows: int = 0
    responses: int = 0
    arm_responses: tuple[int, int] = (0, 0)
    notes: tuple[str, ...] = ()


def marketing_inputs(store: Store, as_of: dt.date, profile: pd.DataFrame,
                     scores: pd.DataFrame | None = None, personas: pd.Series | None = None,
                     strategies: pd.Series | None = None) -> pd.DataFrame:
    """One row per firm with everything :func:`apply_marketing` reads.

    The profile with ``firm_name``, ``rm_id`` (the store's ``firms``), ``pd`` and ``grade``
    (``scores``: the latest row per firm), ``persona_name_zh``, ``strategy`` (persona strategy
    code, routes the standard journey) and ``held:<product>`` (an active loan of the product
    on ``as_of``).

    Raises
    ------
    SchemaError
        If the profile is empty or ``scores`` lacks ``firm_id`` or ``pd``.
    """
    if profile.empty:
        raise SchemaError(f"no profile as of {as_of}; run `creditpersona profile --as-of "
                          f"{as_of}` first.")
    firms = store.table("firms").select("firm_id", "name", "rm_id").to_pandas()
    firms["firm_id"] = firms["firm_id"].astype(str)
    out = profile.assign(firm_id=profile["firm_id"].astype(str)).merge(
        firms.rename(columns={"name": "firm_name"}), on="firm_id", how="left")
    if scores is not None:
        missing = [c for c in ("firm_id", "pd") if c not in scores.columns]
        if missing:
            raise SchemaError(f"scores lack the columns {missing}; pass pd_scores rows "
                              "(firm_id, as_of, pd, grade).")
        s = scores.copy()
        s["firm_id"] = s["firm_id"].astype(str)
        if "as_of" in s.columns:
            s = s.sort_values("as_of").drop_duplicates("firm_id", keep="last")
        keep = ["firm_id", "pd"] + (["grade"] if "grade" in s.columns else [])
        out = out.drop(columns=[c for c in ("pd", "grade") if c in out.columns]).merge(
            s[keep], on="firm_id", how="left")
    if personas is not None:
        out["persona_name_zh"] = personas.reindex(out["firm_id"]).to_numpy()
    out["strategy"] = (strategies.reindex(out["firm_id"]).to_numpy(dtype=object)
                       if strategies is not None else None)
    held = products_held(store, as_of).reindex(out["firm_id"], fill_value=False)
    for p in held.columns:
        out[HELD + p] = held[p].to_numpy(dtype=bool)
    return out


def split_inputs(chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """The firm frame, the products held (index ``firm_id``) and the strategies of a chunk
    of :func:`marketing_inputs`."""
    held_cols = [c for c in chunk.columns if str(c).startswith(HELD)]
    if "firm_id" not in chunk.columns or not held_cols:
        raise SchemaError("a marketing chunk needs firm_id and the held:<product> columns; "
                          "build it with marketing_inputs.")
    index = pd.Index(chunk["firm_id"].astype(str), name="firm_id")
    held = pd.DataFrame(chunk[held_cols].to_numpy(dtype=bool), index=index,
                        columns=[c[len(HELD):] for c in held_cols])
    strategy = (pd.Series(chunk["strategy"].to_numpy(dtype=object), index=index)
                if "strategy" in chunk.columns else pd.Series(None, index=index, dtype=object))
    # A copy, consolidated: a chunk Spark hands over is one block per column, and adding
    # columns to a frame of more than 100 blocks warns (pandas' PerformanceWarning).
    firms = chunk.drop(columns=[*held_cols, "strategy"], errors="ignore").reset_index(
        drop=True).copy()
    firms["firm_id"] = firms["firm_id"].astype(str)
    return firms, held, strategy


def capped_history(history: pd.DataFrame, catalogue: Catalogue | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """At most ``fitting.sample_cap`` rows of a campaign history, stratified by product,
    treatment and response (the history itself when it is within the cap)."""
    cap = (catalogue or load_catalogue()).fitting.sample_cap
    if len(history) <= cap:
        return history
    strata = history[["product", "treated", "responded"]].astype(str)
    return history.iloc[sample_rows(strata, cap, seed)].reset_index(drop=True)


def fit_marketing(history: pd.DataFrame, inputs: pd.DataFrame, as_of: dt.date, *,
                  catalogue: Catalogue | None = None, channels: ChannelConfig | None = None,
                  peers: PeerTable | None = None, seed: int = 0,
                  n_jobs: int = 1) -> MarketingModel:
    """Fit the marketing models on a capped, stratified sample of ``history``.

    Parameters
    ----------
    history : pandas.DataFrame
        :func:`~creditpersona.marketing.history.campaign_history` (capped there already, or
        here to the catalogue's ``fitting.sample_cap``, stratified by product, treatment and
        response).
    inputs : pandas.DataFrame
        :func:`marketing_inputs` of every firm (for the peer counts), or of a sample when
        ``peers`` is given.
    as_of : datetime.date
    catalogue, channels : optional
        Default the packaged ones.
    peers : PeerTable, optional
        Peer counts of the whole bank (:meth:`PeerTable.combine` of the partitions' counts);
        default counted from ``inputs``.
    seed, n_jobs : int
        Seed of every model and of the sample; LightGBM threads.

    Returns
    -------
    MarketingModel
    """
    cat = catalogue or load_catalogue()
    chn = channels or load_channels()
    notes: list[str] = []
    hist = capped_history(history, cat, seed)
    if peers is None:
        firms, held, _ = split_inputs(inputs)
        peers = PeerTable.count(firms.set_index("firm_id"), held)
    params = {"random_state": seed, "n_jobs": n_jobs}
    contacted = hist[hist["treated"].astype(bool)] if len(hist) else hist
    responses = int(contacted["responded"].sum()) if len(contacted) else 0
    propensity = None
    if min(responses, len(contacted) - responses) >= MIN_RESPONSES:
        propensity = ProductPropensity(params=params).fit(
            contacted[["product", *feature_columns(contacted)]],
            contacted["responded"].astype(int).to_numpy())
    else:
        notes.append(f"only {responses} contacted responses in the campaign history: "
                     "P(accept) is a need-based prior (2 % + 10 % per signalled need).")
    treated = hist["treated"].astype(bool) if len(hist) else pd.Series(dtype=bool)
    arms = tuple(int(hist.loc[arm, "responded"].astype(int).sum()) if len(hist) else 0
                 for arm in (treated, ~treated))
    uplift = None
    if min(arms) >= MIN_ARM_RESPONSES:
        cols = feature_columns(hist, pooled=True)
        uplift = TwoModelUplift(params=params).fit(
            hist[cols], hist["responded"].astype(int).to_numpy(), treated.to_numpy(),
            groups=hist["firm_id"].astype(str).to_numpy())
    else:
        notes.append(f"{arms[0]} treated and {arms[1]} control responses in the campaign "
                     f"history; an uplift model needs {MIN_ARM_RESPONSES} in each arm, so "
                     "offers are ranked by propensity alone.")
    return MarketingModel(as_of, cat, chn, propensity, uplift, peers, {}, len(hist),
                          len(history), responses, (arms[0], arms[1]), tuple(notes))


@dataclass
class Candidates:
    """The firms of a chunk and their candidate firm × product pairs (scored)."""

    firms: pd.DataFrame
    held: pd.DataFrame
    signals: pd.DataFrame
    eligible: pd.DataFrame
    routes: pd.DataFrame
    pairs: pd.DataFrame
    features: pd.DataFrame
    scored: pd.DataFrame = field(default_factory=pd.DataFrame)


def candidates(model: MarketingModel, chunk: pd.DataFrame,
               value: ValueInput | None = None) -> Candidates:
    """:func:`apply_marketing` with the intermediate tables (needs, eligibility, routes)."""
    cat, chn = model.catalogue, model.channels
    firms, held, strategy = split_inputs(chunk)
    signals = need_signals(firms, cat)
    eligible = eligibility(cat, firms.assign(persona_strategy=strategy.to_numpy()))
    routes = route(firms, strategy if strategy.notna().any() else None, chn)
    ok = eligible.to_numpy(dtype=bool) & ~held.reindex(
        index=eligible.index, columns=eligible.columns, fill_value=False).to_numpy(dtype=bool)
    rows, cols = np.nonzero(ok)
    pairs = pd.DataFrame({"firm_id": eligible.index.to_numpy(dtype=object)[rows],
                          "product": np.asarray(eligible.columns, dtype=object)[cols]})
    features = marketing_features(pairs, firms, held, cat, model.peers)
    c = Candidates(firms, held, signals, eligible, routes, pairs, features)
    c.scored = _score(model, c, value)
    return c


def apply_marketing(model: MarketingModel, chunk: pd.DataFrame,
                    value: ValueInput | None = None) -> pd.DataFrame:
    """Score every candidate pair of a chunk of firms.

    Parameters
    ----------
    model : MarketingModel
    chunk : pandas.DataFrame
        Rows of :func:`marketing_inputs` (whole firms, any number).
    value : pandas.DataFrame or callable, optional
        ``firm_id, product, value`` (yuan) and optionally ``rate``, ``limit`` of the pairs, or
        a callable giving them for the pairs; the rest is priced by the pricing engine.

    Returns
    -------
    pandas.DataFrame
        One row per eligible pair the firm does not hold, in the chunk's firm order then
        catalogue product order: ``firm_id, product, p_accept, propensity_model, uplift,
        value, contact_cost, suggested_rate, suggested_limit, limit, value_source, rm_id,
        channel, uses_rm, industry_section, peer_share``, ``grade`` (when scored),
        ``expected_value`` and, once the model has prices, ``penalised`` (expected value
        less the prices of the capacity the pair uses) and ``proposed`` (the firm's best
        pair with a positive penalised value).
    """
    return candidates(model, chunk, value).scored


def _score(model: MarketingModel, c: Candidates, value: ValueInput | None) -> pd.DataFrame:
    """P(accept), uplift, value and expected value of the pairs (one vectorised pass)."""
    frame = pd.concat([c.pairs[["product"]], c.features], axis=1)
    if model.propensity is not None:
        scored = model.propensity.predict_accept(frame)
        p_accept = scored["p_accept"].to_numpy()
        source = scored["propensity_model"].to_numpy(dtype=object)
    else:
        p_accept = 0.02 + 0.10 * c.features["product_need"].fillna(0).to_numpy()
        source = np.full(len(c.pairs), "prior", dtype=object)
    uplift = (model.uplift.predict_uplift(frame) if model.uplift is not None
              else np.full(len(c.pairs), np.nan))
    vals = offer_inputs(c.pairs, c.firms, value, model.catalogue)
    f = c.firms.set_index("firm_id")
    at = f.index.get_indexer(pd.Index(c.pairs["firm_id"]))
    r = c.routes.iloc[c.routes.index.get_indexer(pd.Index(c.pairs["firm_id"]))]
    out = pd.DataFrame({
        "firm_id": c.pairs["firm_id"].to_numpy(),
        "product": c.pairs["product"].to_numpy(),
        "p_accept": p_accept,
        "propensity_model": source,
        "uplift": uplift,
        "value": vals["value"].to_numpy(),
        "contact_cost": r["contact_cost"].to_numpy(dtype=float),
        "suggested_rate": vals["suggested_rate"].to_numpy(),
        "suggested_limit": vals["suggested_limit"].to_numpy(),
        "limit": vals["suggested_limit"].to_numpy(),
        "value_source": vals["value_source"].to_numpy(),
        "rm_id": f["rm_id"].to_numpy(dtype=object)[at],
        "channel": r["channel"].to_numpy(),
        "uses_rm": r["uses_rm"].to_numpy(),
        "industry_section": f["industry_section"].to_numpy(dtype=object)[at],
        "peer_share": c.features["peer_share"].to_numpy(),
    })
    if "grade" in f.columns:
        out["grade"] = f["grade"].to_numpy(dtype=object)[at]
    out["expected_value"] = out["p_accept"] * out["value"] - out["contact_cost"]
    if model.prices:
        out["penalised"] = out["expected_value"] - _price_of_pairs(model, out)
        out["proposed"] = _best_per_firm(out)
    return out


# -- offers on a cluster: priced capacities ----------------------------------------------
def _family_keys(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """The group label of each row in a capacity family (None: the family does not apply)."""
    if name == "channel":
        return frame["channel"].astype(object)
    if name == "section":
        return frame["industry_section"].astype(object).where(
            frame["industry_section"].notna(), "?").astype(str)
    if name == "product":
        return frame["product"].astype(str)
    if name.startswith("grade_cap_") and "grade" in frame.columns:
        return frame["grade"].astype(object).where(frame["grade"].notna(), "").astype(str)
    return None


def _price_of_pairs(model: MarketingModel, frame: pd.DataFrame) -> np.ndarray:
    """Σ over the priced families of price(group of the pair) × the pair's weight."""
    total = np.zeros(len(frame))
    limit = pd.to_numeric(frame["limit"], errors="coerce").fillna(0).clip(lower=0).to_numpy()
    for name, prices in model.prices.items():
        keys = _family_keys(frame, name)
        if keys is None:
            continue
        if name.startswith("grade_cap_"):   # one group: the grades listed together
            k = int(name.rsplit("_", 1)[1]) - 1
            inside = keys.isin(model.catalogue.risk_appetite.grade_caps[k].grades).to_numpy()
            price = np.where(inside, float(prices.iloc[0]), 0.0)
        else:
            price = prices.reindex(keys.to_numpy()).fillna(0.0).to_numpy(dtype=float)
        total += price * (1.0 if name == "channel" else limit)
    return total


def _best_per_firm(frame: pd.DataFrame) -> np.ndarray:
    """True on each firm's pair of highest positive penalised value (first on ties)."""
    pen = frame["penalised"].to_numpy(dtype=float)
    ok = np.isfinite(pen) & (pen > 0) & (frame["expected_value"].to_numpy(dtype=float) > 0)
    firm = pd.factorize(frame["firm_id"])[0]
    order = np.lexsort((np.arange(len(frame)), -np.where(ok, pen, -np.inf), firm))
    first = np.r_[True, firm[order][1:] != firm[order][:-1]]
    best = np.zeros(len(frame), dtype=bool)
    best[order[first]] = True
    return best & ok


def solve_prices(model: MarketingModel, sample: pd.DataFrame, firms: int, *,
                 max_iter: int = 150, tol: float = 1e-3) -> MarketingModel:
    """The model with the Lagrangian prices of the capacities, solved on a sample.

    Parameters
    ----------
    model : MarketingModel
    sample : pandas.DataFrame
        :func:`apply_marketing` rows of a random sample of firms (or of every firm).
    firms : int
        Firms with a positive-value candidate in the whole bank; the capacities of the
        sample's problem are scaled by its share of them (channels already are).

    Returns
    -------
    MarketingModel
        ``prices``: per family (channel, section, product, grade caps) the price per
        contact or per yuan of limit of each group.
    """
    positive = sample[sample["expected_value"] > 0].reset_index(drop=True)
    if positive.empty:
        return dataclasses.replace(model, prices={})
    problem = build_problem(positive, catalogue=model.catalogue, channels=model.channels)
    share = min(1.0, problem.shape[0] / max(firms, 1))
    scaled = tuple(f if f.name == "channel" else dataclasses.replace(f, caps=f.caps * share)
                   for f in problem.families)
    problem = dataclasses.replace(problem, families=scaled)
    priced = lagrangian_prices(problem, max_iter=max_iter, tol=tol)
    return dataclasses.replace(model, prices={
        fam.name: pd.Series(price, index=list(fam.labels)) for fam, price in priced
        if fam.name.startswith(PRICED_FAMILIES)})


def cap_offers(model: MarketingModel, proposals: pd.DataFrame, firms: int) -> pd.DataFrame:
    """The proposals that fit every capacity, best penalised value first.

    A proposal is kept when its rank among its relationship manager's proposals (on
    channels that take the RM's time) is within the RM capacity and, in the order of
    penalised value, the running contacts of its channel and the running limits of its
    section, product and grade group stay within their caps. The kept set fits every
    capacity whatever is dropped (running sums only count more than is kept).

    Parameters
    ----------
    model : MarketingModel
    proposals : pandas.DataFrame
        The ``proposed`` rows of :func:`apply_marketing` (one per firm).
    firms : int
        Firms with a positive-value candidate in the whole bank (channel capacities are
        shares of them).

    Returns
    -------
    pandas.DataFrame
        The kept proposals, best penalised value first.
    """
    if proposals.empty:
        return proposals.reset_index(drop=True)
    problem = build_problem(proposals, catalogue=model.catalogue, channels=model.channels)
    order = np.lexsort((proposals["firm_id"].astype(str).to_numpy(),
                        -proposals["penalised"].to_numpy(dtype=float)))
    p = proposals.iloc[order].reset_index(drop=True)
    limit = pd.to_numeric(p["limit"], errors="coerce").fillna(0).clip(lower=0).to_numpy()
    keep = np.ones(len(p), dtype=bool)
    for fam in problem.families:
        keep &= _within(fam, p, limit, model, firms)
    return p[keep].reset_index(drop=True)


def _within(fam: Family, p: pd.DataFrame, limit: np.ndarray, model: MarketingModel,
            firms: int) -> np.ndarray:
    """Rows whose running usage of their group (in ``p``'s order) stays within its cap."""
    if fam.name == "rm":
        uses = p["uses_rm"].fillna(True).to_numpy(dtype=bool)
        rank = pd.Series(uses.astype(np.int64)).groupby(
            p["rm_id"].astype(str).to_numpy()).cumsum().to_numpy()
        return ~uses | (rank <= model.channels.rm_capacity)
    keys = _family_keys(p, fam.name)
    if keys is None:
        return np.ones(len(p), dtype=bool)
    if fam.name == "channel":   # capacity shares of the bank's firms, not of the proposals
        chs = model.channels.channels
        shares = {c: chs[c].capacity_share if c in chs else None for c in keys.unique()}
        cap = {c: float(np.ceil(share * firms)) if share is not None else np.inf
               for c, share in shares.items()}
        weight = np.ones(len(p))
    else:
        cap = dict(zip(fam.labels, fam.caps.tolist(), strict=True))
        weight = limit
    if fam.name.startswith("grade_cap_"):
        k = int(fam.name.rsplit("_", 1)[1]) - 1
        inside = keys.isin(model.catalogue.risk_appetite.grade_caps[k].grades).to_numpy()
        keys = pd.Series(np.where(inside, fam.labels[0], "-"), dtype=object)
        cap["-"] = np.inf
    key = keys.to_numpy(dtype=object)
    running = pd.Series(weight).groupby(key).cumsum().to_numpy(dtype=float)
    caps = pd.Series(key).map(cap).astype(float).fillna(np.inf).to_numpy()
    return running <= caps * (1 + 1e-12) + 1e-9


def problem_of(candidates_frame: pd.DataFrame, model: MarketingModel) -> OfferProblem:
    """The planning problem of a candidate table with the model's configuration."""
    positive = candidates_frame[candidates_frame["expected_value"] > 0]
    return build_problem(positive.reset_index(drop=True), catalogue=model.catalogue,
                         channels=model.channels)


__all__ = ["HELD", "Candidates", "MarketingModel", "PeerTable", "apply_marketing",
           "cap_offers", "candidates", "capped_history", "fit_marketing", "marketing_inputs",
           "problem_of", "solve_prices", "split_inputs"]
