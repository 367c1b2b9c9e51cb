"""The marketing stage of the pipeline (精准营销): from a profiled store to campaign lists.

:func:`marketing_stage` learns from the store's campaign history (point-in-time features),
scores every eligible firm × product pair, plans one campaign with the next-best-offer
optimiser, routes every offer to its journey and channel, writes the campaign lists and
keeps the offers in the store's ``offers`` table (one set of rows per as-of date, replaced
when the date is planned again). It also measures the models (out-of-fold Qini and AUC), runs
the backtest and builds the product-innovation view.

Inputs the other stages provide are optional: PD and grade per firm (``scores``), personas,
and the value, suggested rate and limit of each firm × product pair (``value``, a frame or a
callable, e.g. from the pricing and limit engines). Without them the catalogue's fallback
limit, rate and value are used and the offers say so in ``value_source``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from creditpersona import artefacts
from creditpersona.contract.schema import PRODUCT_LABELS_ZH
from creditpersona.errors import InsufficientDataError, SchemaError
from creditpersona.marketing.backtest import BacktestResult, backtest
from creditpersona.marketing.catalogue import (
    Catalogue,
    eligibility,
    fallback_limit,
    fallback_rate,
    fallback_value,
    load_catalogue,
)
from creditpersona.marketing.lists import CampaignListFiles, write_campaign_lists
from creditpersona.marketing.needs import need_signals, products_held, unmet_needs
from creditpersona.marketing.offers import OfferPlan, build_problem, plan_offers, solve
from creditpersona.marketing.propensity import (
    ProductPropensity,
    campaign_history,
    feature_columns,
    marketing_features,
)
from creditpersona.marketing.routing import ChannelConfig, load_channels, route
from creditpersona.marketing.uplift import (
    TwoModelUplift,
    incremental_at_k,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)
from creditpersona.store import results
from creditpersona.store.store import Store

OFFERS = results.OFFERS
#: Fewest contacted responses (and non-responses) the models need; below, a need-based prior.
MIN_RESPONSES = 20
#: Fewest responses in each arm (treated, control) for the uplift model and the backtest:
#: their training part (80 % of the history stratified by arm and response, or the firms not
#: held back) must leave the learners' four inner folds at least one response each.
MIN_ARM_RESPONSES = 8
ValueInput = pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame]


@artefacts.trusted("marketing_result")
@dataclass(frozen=True)
class MarketingResult:
    """Everything the marketing stage produced for one as-of date.

    Attributes
    ----------
    as_of : datetime.date
    offers : pandas.DataFrame
        One row per firm offered (see the module docstring for the columns).
    plan : OfferPlan
        The solved plan (objective, bound, gap, method, capacity usage).
    greedy_objective : float
        Expected value of the greedy plan on the same candidates, for comparison.
    candidates : int
        Eligible firm × product pairs with positive expected value.
    propensity : pandas.DataFrame
        Per propensity model: contacted rows, responses, out-of-fold AUC.
    uplift : dict
        Out-of-fold uplift metrics of the two-model learner on the history: ``qini``,
        ``uplift_at_20``, ``incremental_at_20``, ``ratio_to_random_at_20``, ``rows``.
    qini : pandas.DataFrame
        Out-of-fold Qini curve (``share, incremental, random``).
    backtest : BacktestResult or None
    needs : pandas.DataFrame
        The product-innovation view (:func:`~creditpersona.marketing.needs.unmet_needs`).
    routing : pandas.DataFrame
        Firms per journey and channel.
    lists : CampaignListFiles or None
    notes : list of str
        What the stage could not do and what it used instead.
    """

    as_of: dt.date
    offers: pd.DataFrame
    plan: OfferPlan
    greedy_objective: float
    candidates: int
    propensity: pd.DataFrame
    uplift: dict[str, float]
    qini: pd.DataFrame = field(repr=False)
    backtest: BacktestResult | None = field(default=None, repr=False)
    needs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    routing: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    lists: CampaignListFiles | None = None
    notes: list[str] = field(default_factory=list)


def _firm_frame(store: Store, profile: pd.DataFrame, scores: pd.DataFrame | None,
                personas: pd.Series | None) -> pd.DataFrame:
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
        out["persona"] = personas.reindex(out["firm_id"]).to_numpy()
    return out


def _values(pairs: pd.DataFrame, firms: pd.DataFrame, value: ValueInput | None,
            cat: Catalogue) -> pd.DataFrame:
    """value, suggested_rate, suggested_limit and value_source per pair."""
    out = pd.DataFrame({"value": np.nan, "suggested_rate": np.nan, "suggested_limit": np.nan},
                       index=pairs.index)
    given = None
    if value is not None:
        given = value(pairs[["firm_id", "product"]]) if callable(value) else value
        if not {"firm_id", "product", "value"} <= set(given.columns):
            raise SchemaError("value must have the columns firm_id, product and value (yuan; "
                              "optionally rate and limit).")
        g = given.assign(firm_id=given["firm_id"].astype(str)).drop_duplicates(
            ["firm_id", "product"]).set_index(["firm_id", "product"])
        key = pd.MultiIndex.from_frame(pairs[["firm_id", "product"]])
        out["value"] = g["value"].reindex(key).to_numpy(dtype=float)
        if "rate" in g.columns:
            out["suggested_rate"] = g["rate"].reindex(key).to_numpy(dtype=float)
        if "limit" in g.columns:
            out["suggested_limit"] = g["limit"].reindex(key).to_numpy(dtype=float)
    source = np.where(out["value"].notna(), "input", "catalogue fallback").astype(object)
    f = firms.set_index("firm_id").reindex(pairs["firm_id"]).reset_index(drop=True)
    pd_ = pd.to_numeric(f["pd"], errors="coerce").to_numpy(dtype=float) if "pd" in f.columns \
        else np.full(len(pairs), np.nan)
    products = pairs["product"].to_numpy()
    for product in np.unique(products):
        m = products == product
        limit = fallback_limit(cat, f[m], product)
        need_limit = out["suggested_limit"].isna().to_numpy() & m
        out.loc[need_limit, "suggested_limit"] = limit[need_limit[m]]
        need_rate = out["suggested_rate"].isna().to_numpy() & m
        out.loc[need_rate, "suggested_rate"] = fallback_rate(cat, product)
        need_value = out["value"].isna().to_numpy() & m
        lim = out.loc[m, "suggested_limit"].to_numpy(dtype=float)
        out.loc[need_value, "value"] = fallback_value(cat, lim, pd_[m], product)[need_value[m]]
    out["value_source"] = source
    return out


def _reasons(offers: pd.DataFrame, signals: pd.DataFrame, cat: Catalogue) -> list[str]:
    """One Chinese sentence per offer: the needs behind it, peer adoption, the model's odds."""
    served: dict[str, list[str]] = {}
    for name, need in cat.needs.items():
        for p in need.served_by:
            served.setdefault(p, []).append(name)
    sig = signals.reindex(offers["firm_id"], fill_value=False)
    out = []
    columns = zip(offers["product"].astype(str), offers["peer_share"].astype(float),
                  offers["p_accept"].astype(float), offers["channel_zh"].astype(str),
                  offers["journey_zh"].astype(str), strict=True)
    for i, (product, peer, prob, channel, journey) in enumerate(columns):
        needs = [cat.needs[n].reason_zh for n in served.get(product, [])
                 if n in sig.columns and bool(sig[n].iat[i])]
        head = "；".join(needs) if needs else (
            f"同行业客户{peer:.0%}已使用该产品" if np.isfinite(peer) and peer > 0
            else "模型预测对该产品有潜在需求")
        out.append(f"{head}。预计接受概率{prob:.0%}，建议通过{channel}（{journey}）触达。")
    return out


def _uplift_oof(history: pd.DataFrame, seed: int, n_jobs: int,
                cv: int = 5) -> tuple[dict[str, float], pd.DataFrame]:
    feats = feature_columns(history, pooled=True)
    y = history["responded"].astype(int).to_numpy()
    t = history["treated"].astype(bool).to_numpy()
    strata = y * 2 + t
    oof = np.zeros(len(history))
    splitter = StratifiedGroupKFold(cv, shuffle=True, random_state=seed)
    for train, test in splitter.split(history, strata, history["firm_id"]):
        model = TwoModelUplift(params={"random_state": seed, "n_jobs": n_jobs})
        model.fit(history.iloc[train][feats], y[train], t[train])
        oof[test] = model.predict_uplift(history.iloc[test][feats])
    inc, ratio = incremental_at_k(y, t, oof, 0.2)
    metrics = {"rows": float(len(history)), "qini": qini_coefficient(y, t, oof),
               "uplift_at_20": uplift_at_k(y, t, oof, 0.2), "incremental_at_20": inc,
               "ratio_to_random_at_20": ratio}
    return metrics, qini_curve(y, t, oof, points=50)


def marketing_stage(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame,
    scores: pd.DataFrame | None,
    personas: pd.Series | None,
    value: ValueInput | None,
    out_dir: Path,
    *,
    catalogue: Catalogue | None = None,
    channels: ChannelConfig | None = None,
    method: str = "auto",
    seed: int = 0,
    n_jobs: int = 1,
    run_backtest: bool = True,
    history: pd.DataFrame | None = None,
    strategies: pd.Series | None = None,
) -> MarketingResult:
    """Plan one campaign as of ``as_of``, store its offers and write its lists.

    :func:`plan_campaign` (candidates → propensity → uplift → valuation → plan), then
    :func:`publish_campaign` (the offers stored, the lists written); the cycle calls the
    two itself.

    Parameters
    ----------
    store : Store
        The store (campaign history, loans, firms); written to (``offers``) unless opened
        read-only.
    as_of : datetime.date
        The planning date; only campaigns finished by then are learnt from.
    profile : pandas.DataFrame
        The profile as of ``as_of`` (:func:`~creditpersona.profile.build.load_profile`).
    scores : pandas.DataFrame, optional
        ``firm_id, pd`` and optionally ``grade`` (and ``as_of``: the latest row per firm).
    personas : pandas.Series, optional
        Persona name by ``firm_id``, shown with the offers, the lists and the needs view.
    value : pandas.DataFrame or callable, optional
        ``firm_id, product, value`` (yuan, RAROC-based value of the loan if accepted) and
        optionally ``rate`` (%) and ``limit`` (yuan); or a callable taking the candidate pairs
        (``firm_id, product``) and returning such a frame.
    out_dir : Path
        Where the campaign lists go (``out_dir/campaign_lists/``).
    catalogue, channels : optional
        Default the packaged ``products.yaml`` and ``channels.yaml``.
    method : str
        Planner method (:func:`~creditpersona.marketing.offers.plan_offers`).
    seed, n_jobs : int
        Seed of every model and split; LightGBM threads.
    run_backtest : bool
        Also backtest the targeting on held-back history.
    history : pandas.DataFrame, optional
        A :func:`~creditpersona.marketing.propensity.campaign_history` frame already built
        (it is built from the store otherwise).
    strategies : pandas.Series, optional
        Persona strategy code by ``firm_id`` (``decisions/strategy.yaml``), which routes the
        standard journey to its persona's channel (``channels.yaml``: ``persona_channels``).

    Returns
    -------
    MarketingResult
    """
    result = plan_campaign(store, as_of, profile, scores, personas, value,
                           catalogue=catalogue, channels=channels, method=method, seed=seed,
                           n_jobs=n_jobs, run_backtest=run_backtest, history=history,
                           strategies=strategies)
    return publish_campaign(store, result, out_dir)


def publish_campaign(store: Store, result: MarketingResult, out_dir: Path,
                     save: bool | None = None) -> MarketingResult:
    """Store the offers (:func:`creditpersona.store.results.should_save`) and write the
    campaign lists to ``out_dir/campaign_lists``; the result with its lists."""
    notes = list(result.notes)
    if results.should_save(store, save):
        save_offers(store, result.offers, result.as_of)
    else:
        notes.append("store opened read-only: offers not saved to the store.")
    lists = write_campaign_lists(result.offers, Path(out_dir) / "campaign_lists")
    return dataclasses.replace(result, lists=lists, notes=notes)


@dataclass
class _Candidates:
    """The firms of a campaign and their candidate firm × product pairs."""

    firms: pd.DataFrame
    held: pd.DataFrame
    signals: pd.DataFrame
    eligible: pd.DataFrame
    routes: pd.DataFrame
    pairs: pd.DataFrame
    features: pd.DataFrame


@dataclass
class _Scores:
    """Acceptance probability and uplift of every candidate pair, and the models' figures."""

    p_accept: np.ndarray
    source: np.ndarray
    propensity: pd.DataFrame
    responses: int
    uplift: np.ndarray
    uplift_metrics: dict[str, float]
    qini: pd.DataFrame
    arm_responses: list[int]


def plan_campaign(
    store: Store,
    as_of: dt.date,
    profile: pd.DataFrame,
    scores: pd.DataFrame | None,
    personas: pd.Series | None,
    value: ValueInput | None,
    *,
    catalogue: Catalogue | None = None,
    channels: ChannelConfig | None = None,
    method: str = "auto",
    seed: int = 0,
    n_jobs: int = 1,
    run_backtest: bool = True,
    history: pd.DataFrame | None = None,
    strategies: pd.Series | None = None,
) -> MarketingResult:
    """Plan one campaign: candidates → propensity → uplift → valuation → plan.

    The parameters are :func:`marketing_stage`'s; nothing is stored or written (the
    result has no lists: :func:`publish_campaign` does both).
    """
    cat = catalogue or load_catalogue()
    chn = channels or load_channels()
    notes: list[str] = []
    if profile.empty:
        raise SchemaError(f"no profile as of {as_of}; run `creditpersona profile --as-of "
                          f"{as_of}` first.")
    if scores is None:
        notes.append("no PD scores given: eligibility and risk appetite use no PD or grade; "
                     "fallback values assume the risk appetite's unrated_pd.")
    hist = history if history is not None else campaign_history(store, before=as_of,
                                                                catalogue=cat)
    c = _candidates(store, as_of, profile, scores, personas, strategies, cat, chn)
    scored = _propensity(hist, c, seed, n_jobs, notes)
    scored = _uplift(hist, c, scored, seed, n_jobs, notes)
    candidates = _valuation(c, scored, value, cat)
    positive = candidates[candidates["expected_value"] > 0].reset_index(drop=True)
    plan = plan_offers(positive, method=method, catalogue=cat, channels=chn)  # type: ignore[arg-type]
    greedy_objective = solve(build_problem(positive, catalogue=cat, channels=chn), "greedy")[1]
    offers = _offers(plan, c, personas, as_of, cat)
    routing = c.routes.groupby(["journey", "journey_zh", "channel"]).size().rename(
        "firms").reset_index()
    bt = _backtest(hist, scored, run_backtest, seed, n_jobs, notes)
    return MarketingResult(as_of, offers, plan, greedy_objective, len(positive),
                           scored.propensity, scored.uplift_metrics, scored.qini, bt,
                           unmet_needs(c.signals, c.held, personas, c.eligible, cat), routing,
                           None, notes)


def _candidates(store: Store, as_of: dt.date, profile: pd.DataFrame,
                scores: pd.DataFrame | None, personas: pd.Series | None,
                strategies: pd.Series | None, cat: Catalogue,
                chn: ChannelConfig) -> _Candidates:
    """Eligible firm × product pairs the firm does not hold yet, with their features."""
    firms = _firm_frame(store, profile, scores, personas)
    held = products_held(store, as_of)
    signals = need_signals(firms, cat)
    eligible = eligibility(cat, firms)
    routes = route(firms, strategies, chn)
    stacked = cast(pd.Series, eligible.stack())
    pairs = stacked[stacked].index.to_frame(index=False)
    pairs.columns = ["firm_id", "product"]
    held_long = held.reindex(columns=cat.codes, fill_value=False).stack()
    already = held_long.reindex(pd.MultiIndex.from_frame(pairs)).fillna(False).to_numpy(
        dtype=bool)
    pairs = pairs[~already].reset_index(drop=True)
    return _Candidates(firms, held, signals, eligible, routes, pairs,
                       marketing_features(pairs, firms, held, cat))


def _propensity(hist: pd.DataFrame, c: _Candidates, seed: int, n_jobs: int,
                notes: list[str]) -> _Scores:
    """P(accept) of every pair: the propensity models, or a need-based prior."""
    contacted = hist[hist["treated"].astype(bool)] if len(hist) else hist
    responses = int(contacted["responded"].sum()) if len(contacted) else 0
    metrics = pd.DataFrame(columns=["model", "contacted", "responses", "oof_auc"])
    if min(responses, len(contacted) - responses) >= MIN_RESPONSES:
        model = ProductPropensity(params={"random_state": seed, "n_jobs": n_jobs}).fit(hist)
        scored = model.predict(pd.concat([c.pairs[["product"]], c.features], axis=1))
        p_accept = scored["p_accept"].to_numpy()
        source = scored["propensity_model"].to_numpy(dtype=object)
        metrics = model.metrics_
    else:
        notes.append(f"only {responses} contacted responses in the campaign history: "
                     "P(accept) is a need-based prior (2 % + 10 % per signalled need).")
        p_accept = 0.02 + 0.10 * c.features["product_need"].fillna(0).to_numpy()
        source = np.full(len(c.pairs), "prior", dtype=object)
    return _Scores(p_accept, source, metrics, responses, np.full(len(c.pairs), np.nan), {},
                   pd.DataFrame(columns=["share", "targeted", "incremental", "random"]), [])


def _uplift(hist: pd.DataFrame, c: _Candidates, scored: _Scores, seed: int, n_jobs: int,
            notes: list[str]) -> _Scores:
    """The uplift of every pair (two-model learner), when both arms have enough responses."""
    treated_arm = hist["treated"].astype(bool) if len(hist) else pd.Series(dtype=bool)
    scored.arm_responses = [int(hist.loc[arm, "responded"].astype(int).sum()) if len(hist)
                            else 0 for arm in (treated_arm, ~treated_arm)]
    if min(scored.arm_responses) < MIN_ARM_RESPONSES:
        notes.append(f"{scored.arm_responses[0]} treated and {scored.arm_responses[1]} control "
                     f"responses in the campaign history; an uplift model needs "
                     f"{MIN_ARM_RESPONSES} in each arm, so offers are ranked by propensity "
                     "alone.")
        return scored
    scored.uplift_metrics, scored.qini = _uplift_oof(hist, seed, n_jobs)
    cols = feature_columns(hist, pooled=True)
    model = TwoModelUplift(params={"random_state": seed, "n_jobs": n_jobs}).fit(
        hist[cols], hist["responded"].astype(int).to_numpy(),
        hist["treated"].astype(bool).to_numpy())
    scored.uplift = model.predict_uplift(pd.concat([c.pairs[["product"]], c.features],
                                                   axis=1)[cols])
    return scored


def _valuation(c: _Candidates, scored: _Scores, value: ValueInput | None,
               cat: Catalogue) -> pd.DataFrame:
    """Every candidate pair with its value, contact cost and expected value."""
    pairs = c.pairs
    vals = _values(pairs, c.firms, value, cat)
    f = c.firms.set_index("firm_id")
    r = c.routes.reindex(pairs["firm_id"])
    candidates = pd.DataFrame({
        "firm_id": pairs["firm_id"].to_numpy(),
        "product": pairs["product"].to_numpy(),
        "p_accept": scored.p_accept,
        "propensity_model": scored.source,
        "uplift": scored.uplift,
        "value": vals["value"].to_numpy(),
        "contact_cost": r["contact_cost"].to_numpy(dtype=float),
        "suggested_rate": vals["suggested_rate"].to_numpy(),
        "suggested_limit": vals["suggested_limit"].to_numpy(),
        "limit": vals["suggested_limit"].to_numpy(),
        "value_source": vals["value_source"].to_numpy(),
        "rm_id": f["rm_id"].reindex(pairs["firm_id"]).to_numpy(),
        "channel": r["channel"].to_numpy(),
        "uses_rm": r["uses_rm"].to_numpy(),
        "industry_section": f["industry_section"].reindex(pairs["firm_id"]).to_numpy(),
        "peer_share": c.features["peer_share"].to_numpy(),
    })
    if "grade" in f.columns:
        candidates["grade"] = f["grade"].reindex(pairs["firm_id"]).to_numpy()
    candidates["expected_value"] = (candidates["p_accept"] * candidates["value"]
                                    - candidates["contact_cost"])
    return candidates


def _offers(plan: OfferPlan, c: _Candidates, personas: pd.Series | None, as_of: dt.date,
            cat: Catalogue) -> pd.DataFrame:
    """The planned offers with the firm's name, persona, journey and the reason in Chinese."""
    f = c.firms.set_index("firm_id")
    offers = plan.offers.copy()
    offers["as_of"] = as_of
    offers["firm_name"] = f["firm_name"].reindex(offers["firm_id"]).to_numpy()
    offers["persona"] = (personas.reindex(offers["firm_id"]).to_numpy() if personas is not None
                         else None)
    offers["product_zh"] = offers["product"].map(
        lambda p: cat.products[p].zh if p in cat.products else PRODUCT_LABELS_ZH.get(p, p))
    for col in ("journey", "journey_zh", "channel_zh"):
        offers[col] = c.routes[col].reindex(offers["firm_id"]).to_numpy()
    offers["reason_zh"] = _reasons(offers, c.signals, cat)
    offers["method"] = plan.method
    return offers[["as_of", "firm_id", "firm_name", "rm_id", "persona", "product",
                   "product_zh", "journey", "journey_zh", "channel", "channel_zh",
                   "p_accept", "uplift", "value", "contact_cost", "expected_value",
                   "suggested_rate", "suggested_limit", "value_source", "propensity_model",
                   "industry_section", "reason_zh", "method"]]


def _backtest(hist: pd.DataFrame, scored: _Scores, run: bool, seed: int, n_jobs: int,
              notes: list[str]) -> BacktestResult | None:
    """The targeting backtest on held-back history, when asked and the history allows."""
    if not (run and len(hist) and hist["campaign_id"].nunique() >= 2
            and scored.responses >= MIN_RESPONSES):
        return None
    if min(scored.arm_responses) < MIN_ARM_RESPONSES:
        notes.append(f"backtest skipped: {min(scored.arm_responses)} responses in the smaller "
                     f"arm, fewer than {MIN_ARM_RESPONSES}.")
        return None
    try:
        return backtest(hist, seed=seed, n_jobs=n_jobs)
    except InsufficientDataError as exc:
        notes.append(f"backtest not run: {exc}")
        return None


def save_offers(store: Store, offers: pd.DataFrame, as_of: dt.date) -> None:
    """Keep the offers in the store's ``offers`` table, replacing the rows of ``as_of``."""
    results.replace_date(store, OFFERS, as_of, offers)


def load_offers(store: Store, as_of: dt.date | None = None) -> pd.DataFrame:
    """The stored offers of an as-of date (default: the latest); empty if none."""
    return results.read(store, OFFERS, as_of)
