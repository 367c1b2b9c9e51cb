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

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
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
from creditpersona.marketing.history import (
    campaign_history,
    feature_columns,
    marketing_features,
)
from creditpersona.marketing.lists import CampaignListFiles, write_campaign_lists
from creditpersona.marketing.needs import need_signals, products_held, unmet_needs
from creditpersona.marketing.offers import OfferPlan, build_problem, plan_offers, solve
from creditpersona.marketing.propensity import ProductPropensity
from creditpersona.marketing.routing import ChannelConfig, load_channels, route
from creditpersona.marketing.uplift import (
    TwoModelUplift,
    incremental_at_k,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)
from creditpersona.store.store import Store

OFFERS = "offers"
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
) -> MarketingResult:
    """Plan one campaign as of ``as_of`` and write its lists.

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
        Persona code by ``firm_id``.
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
        A :func:`~creditpersona.marketing.history.campaign_history` frame already built
        (it is built from the store otherwise).

    Returns
    -------
    MarketingResult
    """
    cat = catalogue or load_catalogue()
    chn = channels or load_channels()
    notes: list[str] = []
    if profile.empty:
        raise SchemaError(f"no profile as of {as_of}; run `creditpersona profile --as-of "
                          f"{as_of}` first.")
    firms = _firm_frame(store, profile, scores, personas)
    if scores is None:
        notes.append("no PD scores given: eligibility and risk appetite use no PD or grade; "
                     "fallback values assume the risk appetite's unrated_pd.")
    hist = history if history is not None else campaign_history(store, before=as_of,
                                                                catalogue=cat)
    held = products_held(store, as_of)
    signals = need_signals(firms, cat)
    eligible = eligibility(cat, firms)
    routes = route(firms, personas, chn)
    # candidate pairs: eligible and not already held
    stacked = cast(pd.Series, eligible.stack())
    pairs = stacked[stacked].index.to_frame(index=False)
    pairs.columns = ["firm_id", "product"]
    held_long = held.reindex(columns=cat.codes, fill_value=False).stack()
    already = held_long.reindex(pd.MultiIndex.from_frame(pairs)).fillna(False).to_numpy(
        dtype=bool)
    pairs = pairs[~already].reset_index(drop=True)
    feats = marketing_features(pairs, firms, held, cat)
    contacted = hist[hist["treated"].astype(bool)] if len(hist) else hist
    responses = int(contacted["responded"].sum()) if len(contacted) else 0
    propensity_metrics = pd.DataFrame(columns=["model", "contacted", "responses", "oof_auc"])
    if min(responses, len(contacted) - responses) >= MIN_RESPONSES:
        model = ProductPropensity(params={"random_state": seed, "n_jobs": n_jobs}).fit(
            contacted[["product", *feature_columns(contacted)]],
            contacted["responded"].astype(int).to_numpy())
        scored = model.predict_accept(pd.concat([pairs[["product"]], feats], axis=1))
        p_accept = scored["p_accept"].to_numpy()
        source = scored["propensity_model"].to_numpy(dtype=object)
        propensity_metrics = model.metrics_
    else:
        notes.append(f"only {responses} contacted responses in the campaign history: "
                     "P(accept) is a need-based prior (2 % + 10 % per signalled need).")
        p_accept = 0.02 + 0.10 * feats["product_need"].fillna(0).to_numpy()
        source = np.full(len(pairs), "prior", dtype=object)
    uplift_metrics: dict[str, float] = {}
    qini = pd.DataFrame(columns=["share", "targeted", "incremental", "random"])
    uplift_score = np.full(len(pairs), np.nan)
    treated_arm = hist["treated"].astype(bool) if len(hist) else pd.Series(dtype=bool)
    arm_responses = [int(hist.loc[arm, "responded"].astype(int).sum()) if len(hist) else 0
                     for arm in (treated_arm, ~treated_arm)]
    if min(arm_responses) < MIN_ARM_RESPONSES:
        notes.append(f"{arm_responses[0]} treated and {arm_responses[1]} control responses in "
                     f"the campaign history; an uplift model needs {MIN_ARM_RESPONSES} in each "
                     "arm, so offers are ranked by propensity alone.")
    else:
        uplift_metrics, qini = _uplift_oof(hist, seed, n_jobs)
        cols = feature_columns(hist, pooled=True)
        uplift_model = TwoModelUplift(params={"random_state": seed, "n_jobs": n_jobs}).fit(
            hist[cols], hist["responded"].astype(int).to_numpy(),
            hist["treated"].astype(bool).to_numpy())
        uplift_score = uplift_model.predict_uplift(pd.concat([pairs[["product"]], feats],
                                                             axis=1)[cols])
    vals = _values(pairs, firms, value, cat)
    f = firms.set_index("firm_id")
    r = routes.reindex(pairs["firm_id"])
    candidates = pd.DataFrame({
        "firm_id": pairs["firm_id"].to_numpy(),
        "product": pairs["product"].to_numpy(),
        "p_accept": p_accept,
        "propensity_model": source,
        "uplift": uplift_score,
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
        "peer_share": feats["peer_share"].to_numpy(),
    })
    if "grade" in f.columns:
        candidates["grade"] = f["grade"].reindex(pairs["firm_id"]).to_numpy()
    candidates["expected_value"] = (candidates["p_accept"] * candidates["value"]
                                    - candidates["contact_cost"])
    positive = candidates[candidates["expected_value"] > 0].reset_index(drop=True)
    plan = plan_offers(positive, method=method, catalogue=cat, channels=chn)  # type: ignore[arg-type]
    problem = build_problem(positive, catalogue=cat, channels=chn)
    greedy_objective = solve(problem, "greedy")[1]
    offers = plan.offers.copy()
    offers["as_of"] = as_of
    offers["firm_name"] = f["firm_name"].reindex(offers["firm_id"]).to_numpy()
    offers["persona"] = (personas.reindex(offers["firm_id"]).to_numpy() if personas is not None
                         else None)
    offers["product_zh"] = offers["product"].map(
        lambda p: cat.products[p].zh if p in cat.products else PRODUCT_LABELS_ZH.get(p, p))
    for c in ("journey", "journey_zh", "channel_zh"):
        offers[c] = routes[c].reindex(offers["firm_id"]).to_numpy()
    offers["reason_zh"] = _reasons(offers, signals, cat)
    offers["method"] = plan.method
    offers = offers[["as_of", "firm_id", "firm_name", "rm_id", "persona", "product",
                     "product_zh", "journey", "journey_zh", "channel", "channel_zh",
                     "p_accept", "uplift", "value", "contact_cost", "expected_value",
                     "suggested_rate", "suggested_limit", "value_source", "propensity_model",
                     "industry_section", "reason_zh", "method"]]
    if not store.read_only:
        save_offers(store, offers, as_of)
    else:
        notes.append("store opened read-only: offers not saved to the store.")
    lists = write_campaign_lists(offers, Path(out_dir) / "campaign_lists")
    needs_view = unmet_needs(signals, held, personas, eligible, cat)
    routing = routes.groupby(["journey", "journey_zh", "channel"]).size().rename(
        "firms").reset_index()
    bt = None
    if run_backtest and len(hist) and hist["campaign_id"].nunique() >= 2 \
            and responses >= MIN_RESPONSES:
        if min(arm_responses) >= MIN_ARM_RESPONSES:
            try:
                bt = backtest(hist, seed=seed, n_jobs=n_jobs)
            except InsufficientDataError as exc:
                notes.append(f"backtest not run: {exc}")
        else:
            notes.append(f"backtest skipped: {min(arm_responses)} responses in the smaller "
                         f"arm, fewer than {MIN_ARM_RESPONSES}.")
    return MarketingResult(as_of, offers, plan, greedy_objective, len(positive),
                           propensity_metrics, uplift_metrics, qini, bt, needs_view, routing,
                           lists, notes)


def save_offers(store: Store, offers: pd.DataFrame, as_of: dt.date) -> None:
    """Keep the offers in the store's ``offers`` table, replacing the rows of ``as_of``."""
    frame = offers.assign(as_of=as_of).copy()
    for c in frame.columns:
        if c != "as_of" and (frame[c].dtype == object or str(frame[c].dtype).startswith("str")):
            frame[c] = frame[c].astype("string")
    data = pa.Table.from_pandas(frame, preserve_index=False)
    if OFFERS not in store.con.list_tables():
        store.con.create_table(OFFERS, data.slice(0, 0))
    store.con.raw_sql(f"DELETE FROM {OFFERS} WHERE as_of = DATE '{as_of.isoformat()}'")
    store.con.insert(OFFERS, data)


def load_offers(store: Store, as_of: dt.date | None = None) -> pd.DataFrame:
    """The stored offers of an as-of date (default: the latest); empty if none."""
    import ibis

    if OFFERS not in store.con.list_tables():
        return pd.DataFrame()
    t = store.table(OFFERS)
    date = as_of or t.as_of.max().execute()
    return t.filter(t.as_of == ibis.literal(date, type="date")).to_pandas()
