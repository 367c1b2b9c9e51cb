"""The marketing stage of the pipeline (精准营销): from a profiled store to campaign lists.

:func:`marketing_stage` learns from the store's campaign history (point-in-time features),
scores every eligible firm × product pair, plans one campaign with the next-best-offer
optimiser, routes every offer to its journey and channel, writes the campaign lists and
keeps the offers in the store's ``offers`` table (one set of rows per as-of date, replaced
when the date is planned again). It also measures the models (out-of-fold Qini and AUC), runs
the backtest and builds the product-innovation view.

Inputs the other stages provide are optional: PD and grade per firm (``scores``), personas,
and the value, suggested rate and limit of each firm × product pair (``value``, a frame or a
callable, e.g. from the pricing and limit engines). Pairs without them are priced by the
same pricing engine (catalogue offer size, no risk caps) and say so in ``value_source``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from creditpersona import artefacts
from creditpersona.contract.schema import PRODUCT_LABELS_ZH
from creditpersona.errors import InsufficientDataError, SchemaError
from creditpersona.marketing.backtest import BacktestResult, backtest
from creditpersona.marketing.catalogue import Catalogue, load_catalogue
from creditpersona.marketing.history import campaign_history, feature_columns
from creditpersona.marketing.in_force import InForce, fit_or_reuse, register_fit
from creditpersona.marketing.kernels import (
    MIN_ARM_RESPONSES,
    MIN_RESPONSES,
    Candidates,
    MarketingModel,
    candidates,
    capped_history,
    marketing_inputs,
)
from creditpersona.marketing.lists import CampaignListFiles, write_campaign_lists
from creditpersona.marketing.needs import unmet_needs
from creditpersona.marketing.offers import OfferPlan, build_problem, plan_offers, solve
from creditpersona.marketing.routing import ChannelConfig, load_channels
from creditpersona.marketing.uplift import (
    TwoModelUplift,
    incremental_at_k,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)
from creditpersona.marketing.values import ValueInput
from creditpersona.store import results
from creditpersona.store.store import Store

OFFERS = results.OFFERS


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


def _uplift_metrics(uplift: TwoModelUplift,
                    fitted: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Out-of-fold uplift metrics and Qini curve of the learner fitted on ``fitted``.

    Every row is scored by models that never saw it
    (:meth:`~creditpersona.marketing.uplift.TwoModelUplift.out_of_fold_uplift`): the fit's
    own cross-fitting, no refit.
    """
    feats = feature_columns(fitted, pooled=True)
    y = fitted["responded"].astype(int).to_numpy()
    t = fitted["treated"].astype(bool).to_numpy()
    oof = uplift.out_of_fold_uplift(fitted[feats], t)
    inc, ratio = incremental_at_k(y, t, oof, 0.2)
    metrics = {"rows": float(len(fitted)), "qini": qini_coefficient(y, t, oof),
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
        Default the packaged ``marketing.yaml`` (with ``catalogue.yaml``) and
        ``channels.yaml``.
    method : str
        Planner method (:func:`~creditpersona.marketing.offers.plan_offers`).
    seed, n_jobs : int
        Seed of every model and split; LightGBM threads.
    run_backtest : bool
        Also backtest the targeting on held-back history.
    history : pandas.DataFrame, optional
        A :func:`~creditpersona.marketing.history.campaign_history` frame already built
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
    """Plan one campaign: fit (:func:`~creditpersona.marketing.kernels.fit_marketing`, on
    at most ``fitting.sample_cap`` contacts, or the models in force when fitted on the
    same contacts: :func:`~creditpersona.marketing.in_force.fit_or_reuse`), score every
    pair (:func:`~creditpersona.marketing.kernels.apply_marketing`), plan, measure.

    The parameters are :func:`marketing_stage`'s. Neither offers nor lists are stored or
    written (:func:`publish_campaign` does both); on a store open for writing, the
    campaign snapshots' profiles (:mod:`creditpersona.marketing.snapshots`) and a new fit
    of the models (model registry) are kept.
    """
    cat = catalogue or load_catalogue()
    chn = channels or load_channels()
    notes: list[str] = []
    if profile.empty:
        raise SchemaError(f"no profile as of {as_of}; run `creditpersona profile --as-of "
                          f"{as_of}` first.")
    if scores is None:
        notes.append("no PD scores given: eligibility and risk appetite use no PD or grade; "
                     "offers are priced with the risk appetite's unrated_pd.")
    hist = history if history is not None else campaign_history(
        store, before=as_of, catalogue=cat, seed=seed)
    fitted = capped_history(hist, cat, seed)
    inputs = marketing_inputs(store, as_of, profile, scores, personas, strategies)
    forced = fit_or_reuse(store, fitted, inputs, as_of, catalogue=cat, channels=chn,
                          seed=seed, n_jobs=n_jobs)
    model = forced.model
    notes.extend([*model.notes, *([forced.note] if forced.note else [])])
    if len(fitted) < len(hist):
        notes.append(f"models fitted on {len(fitted):,} of {len(hist):,} campaign contacts "
                     "(fitting.sample_cap, stratified by product, arm and response).")
    c = candidates(model, inputs, value)
    positive = c.scored[c.scored["expected_value"] > 0].reset_index(drop=True)
    plan = plan_offers(positive, method=method, catalogue=cat, channels=chn)  # type: ignore[arg-type]
    greedy_objective = solve(build_problem(positive, catalogue=cat, channels=chn), "greedy")[1]
    offers = _offers(plan, c, personas, as_of, cat)
    routing = c.routes.groupby(["journey", "journey_zh", "channel"]).size().rename(
        "firms").reset_index()
    propensity = (model.propensity.metrics_ if model.propensity is not None else
                  pd.DataFrame(columns=["model", "contacted", "responses", "oof_auc"]))
    uplift_metrics: dict[str, float] = {}
    qini = pd.DataFrame(columns=["share", "targeted", "incremental", "random"])
    if model.uplift is not None:
        uplift_metrics, qini = _uplift_metrics(model.uplift, fitted)
    bt = _backtest_in_force(store, fitted, forced, as_of, run_backtest, seed, n_jobs, notes)
    return MarketingResult(as_of, offers, plan, greedy_objective, len(positive), propensity,
                           uplift_metrics, qini, bt,
                           unmet_needs(c.signals, c.held, personas, c.eligible, cat), routing,
                           None, notes)


def _offers(plan: OfferPlan, c: Candidates, personas: pd.Series | None, as_of: dt.date,
            cat: Catalogue) -> pd.DataFrame:
    """The planned offers with the firm's name, persona, journey and the reason in Chinese."""
    f = c.firms.set_index("firm_id")
    offers = plan.offers.copy()
    offers["as_of"] = as_of
    offers["firm_name"] = f["firm_name"].reindex(offers["firm_id"]).to_numpy()
    offers["persona_name_zh"] = (personas.reindex(offers["firm_id"]).to_numpy()
                                 if personas is not None else None)
    offers["product_zh"] = offers["product"].map(
        lambda p: cat.products[p].zh if p in cat.products else PRODUCT_LABELS_ZH.get(p, p))
    for col in ("journey", "journey_zh", "channel_zh"):
        offers[col] = c.routes[col].reindex(offers["firm_id"]).to_numpy()
    offers["reason_zh"] = _reasons(offers, c.signals, cat)
    offers["method"] = plan.method
    return offers[["as_of", "firm_id", "firm_name", "rm_id", "persona_name_zh", "product",
                   "product_zh", "journey", "journey_zh", "channel", "channel_zh",
                   "p_accept", "uplift", "value", "contact_cost", "expected_value",
                   "suggested_rate", "suggested_limit", "value_source", "propensity_model",
                   "industry_section", "reason_zh", "method"]]


def _backtest_in_force(store: Store, fitted: pd.DataFrame, forced: InForce, as_of: dt.date,
                       run: bool, seed: int, n_jobs: int,
                       notes: list[str]) -> BacktestResult | None:
    """The backtest of the models in force when they were backtested on the same contacts,
    else run now; a new fit is registered with it (:func:`~creditpersona.marketing.
    in_force.register_fit`)."""
    kept = forced.reused
    if kept is not None and (kept.backtested or not run):
        notes.extend(kept.backtest_notes if run else ())
        return kept.backtest if run else None
    mine: list[str] = []
    bt = _backtest(fitted, forced.model, run, seed, n_jobs, mine)
    notes.extend(mine)
    if kept is None:
        register_fit(store, fitted, forced.model, as_of, seed=seed, n_jobs=n_jobs,
                     backtest=bt, backtest_notes=tuple(mine), backtested=run)
    return bt


def _backtest(hist: pd.DataFrame, model: MarketingModel, run: bool, seed: int, n_jobs: int,
              notes: list[str]) -> BacktestResult | None:
    """The targeting backtest on held-back history, when asked and the history allows."""
    if not (run and len(hist) and hist["campaign_id"].nunique() >= 2
            and model.responses >= MIN_RESPONSES):
        return None
    if min(model.arm_responses) < MIN_ARM_RESPONSES:
        notes.append(f"backtest skipped: {min(model.arm_responses)} responses in the smaller "
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
