"""Develop, validate and apply the PD models on a store.

Development sample: the point-in-time profile of every firm at several as-of dates, labelled
with a default in the following horizon (:mod:`~creditpersona.models.target`). Samples of one
firm at different dates are never split across training and validation folds (grouped
K-fold by firm), so the out-of-fold figures carry no leakage between dates. The scorecard is
the champion that sets the grade; the LightGBM model is its challenger.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from creditpersona import artefacts
from creditpersona.contract.schema import TABLES
from creditpersona.errors import InsufficientDataError, StoreError
from creditpersona.models import registry, validation
from creditpersona.models.base import PDEstimator
from creditpersona.models.boosting import BoostedPD
from creditpersona.models.calibration import CalibratedPD, LogitCalibration
from creditpersona.models.folds import stratified_group_folds
from creditpersona.models.master_scale import MasterScale, load_master_scale
from creditpersona.models.scorecard import ScorecardPD
from creditpersona.models.target import first_default_dates, labels
from creditpersona.profile.build import build_profile
from creditpersona.profile.scoring import load_scoring
from creditpersona.profile.text import text_signals_at
from creditpersona.store import results
from creditpersona.store.store import Store

#: Profile features the PD models read (raw features; the dimension scores are not inputs).
FEATURES = (
    "current_ratio", "quick_ratio", "cash_ratio", "debt_to_assets", "debt_to_ebitda",
    "interest_coverage", "dscr_proxy", "gross_margin", "net_margin", "roa",
    "receivable_days", "inventory_days", "payable_days", "revenue_growth", "altman_z",
    "leverage_trend", "capex_intensity", "short_debt_to_cash", "wc_gap_to_revenue",
    "bureau_lenders", "bureau_overdue_24m", "bureau_max_dpd_24m", "bureau_written_off",
    "inquiries_12m", "inquiry_burst", "late_share", "early_share", "max_days_late_24m",
    "current_dpd", "inflow_volatility", "top3_share", "flow_trend_90d", "flow_to_revenue",
    "cash_runway_months", "debt_to_revenue", "guarantees_to_assets", "text_risk_score",
    "firm_age_years", "employees", "revenue", "total_assets",
)
#: Economic sense for the challenger: +1 PD rises with the feature, -1 it falls.
MONOTONE = {
    "current_ratio": -1, "cash_ratio": -1, "debt_to_assets": 1, "interest_coverage": -1,
    "net_margin": -1, "roa": -1, "altman_z": -1, "bureau_overdue_24m": 1,
    "bureau_max_dpd_24m": 1, "late_share": 1, "max_days_late_24m": 1, "current_dpd": 1,
    "text_risk_score": 1,
}
_EXTRA_LABELS = {
    "quick_ratio": ("速动比率", "quick ratio"), "cash_ratio": ("现金比率", "cash ratio"),
    "dscr_proxy": ("偿债备付率(近似)", "debt service coverage (proxy)"),
    "gross_margin": ("毛利率", "gross margin"), "receivable_days": ("应收账款周转天数",
                                                                  "receivable days"),
    "inventory_days": ("存货周转天数", "inventory days"),
    "payable_days": ("应付账款周转天数", "payable days"),
    "bureau_lenders": ("授信机构数", "number of lenders"),
    "inquiries_12m": ("近12个月征信查询次数", "credit inquiries (12m)"),
    "inflow_volatility": ("月度流入波动率", "volatility of monthly inflows"),
    "top3_share": ("前三大交易对手占比", "top-3 counterparty share"),
    "flow_trend_90d": ("近90天流入变化", "inflow trend (90 days)"),
    "flow_to_revenue": ("流水/营业收入", "flows to revenue"),
}


def feature_labels() -> dict[str, tuple[str, str]]:
    """Chinese and English labels of the model features (for reason codes)."""
    out = dict(_EXTRA_LABELS)
    for dim in load_scoring().dimensions.values():
        for f in dim.features:
            out.setdefault(f.name, (f.zh, f.en))
    return out


#: At most this many firms enter the development sample, each at every date. A bank with
#: more is sampled: the firms whose stable hash of ``firm_id`` is smallest (the same firms
#: whatever the order of the store), every table restricted to them. The Spark engine
#: also samples firms by hash (:mod:`creditpersona.spark.stages`, xxhash64 in Spark), but
#: not the same firms: above the caps the two engines' samples differ. A
#: hundred thousand firms at five dates are half a million firm-dates: enough for thousands
#: of defaults, and the development of a million-firm bank then costs what a
#: 100,000-firm bank's costs.
DEVELOPMENT_FIRMS = 100_000


def development_firms(firm_ids: pd.Series, max_firms: int = DEVELOPMENT_FIRMS
                      ) -> pd.Series | None:
    """The firms of the development sample (sorted), or None when every firm is in it.

    >>> ids = pd.Series([f"F{i:03d}" for i in range(10)])
    >>> development_firms(ids, 20) is None
    True
    >>> picked = development_firms(ids, 4)
    >>> len(picked), picked.equals(development_firms(ids[::-1], 4))
    (4, True)
    """
    if isinstance(max_firms, bool) or not isinstance(max_firms, int) or max_firms < 1:
        raise ValueError(f"max_firms must be an int >= 1, got {max_firms!r}")
    ids = pd.Series(firm_ids.astype(str).unique())
    if len(ids) <= max_firms:
        return None
    key = pd.util.hash_pandas_object(ids, index=False).to_numpy()
    order = np.lexsort((ids.to_numpy(), key))
    return ids.iloc[order[:max_firms]].sort_values(ignore_index=True)


def development_sample(
    store: Store, as_of_dates: Sequence[dt.date], horizon_months: int = 12,
    max_firms: int = DEVELOPMENT_FIRMS,
) -> pd.DataFrame:
    """Labelled point-in-time profiles: one row per firm and as-of date.

    A bank of more than ``max_firms`` firms is sampled (:data:`DEVELOPMENT_FIRMS`,
    :func:`development_firms`): every table holding ``firm_id`` is restricted to the
    sampled firms, the firm names the texts are attributed to included.
    """
    tables = {t.name: store.table(t.name) for t in TABLES}
    picked = development_firms(tables["firms"].firm_id.to_pandas(), max_firms)
    if picked is not None:
        chosen = ibis.memtable(pd.DataFrame({"firm_id": picked}))
        tables = {name: t.filter(t.firm_id.isin(chosen.firm_id))
                  if "firm_id" in t.columns else t for name, t in tables.items()}
    # What each document says is read once for all the dates (it was two thirds of the
    # sample's time when every date read its documents again: docs/pd-speed.md).
    docs = tables["documents"]
    documents = docs.filter(docs.doc_date <= ibis.literal(max(as_of_dates), type="date")).select(
        "doc_id", "firm_id", "doc_date", "source", "text").to_pandas()
    firms = tables["firms"].select("firm_id", "name").to_pandas()
    text = text_signals_at(documents, list(as_of_dates), firm_names=dict(
        zip(firms["firm_id"].astype(str), firms["name"], strict=True)))
    parts = []
    for d in as_of_dates:
        # The raw features, not the scores.
        prof = build_profile(tables, d, scores=False, text=text[d])
        lab = labels(tables, d, horizon_months=horizon_months)
        part = prof[["firm_id", *FEATURES]].merge(lab[["firm_id", "default"]], on="firm_id")
        parts.append(part.assign(as_of=d))
    sample = pd.concat(parts, ignore_index=True)
    sample[list(FEATURES)] = sample[list(FEATURES)].astype("float64")
    return sample


@dataclass
class Development:
    """What a development run produced.

    ``sample`` carries, per firm and date, the out-of-fold PD of both models after a
    cross-fitted calibration (``pd_champion``, ``pd_challenger``): the calibration of a
    fold's rows was fitted on the other folds only, so every figure is out of sample.
    """

    sample: pd.DataFrame
    metrics: dict[str, dict[str, Any]]
    champion: CalibratedPD
    challenger: CalibratedPD
    scale: MasterScale
    records: dict[str, registry.ModelRecord] = field(default_factory=dict)


#: Defaults per fold below which the out-of-fold figures (and the challenger's own inner
#: folds) are too noisy to validate anything.
MIN_DEFAULTS_PER_FOLD = 10


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    a = validation.auc_delong(y, p)
    hl, hl_p = validation.hosmer_lemeshow(y, p)
    return {"auc": a.auc, "auc_low": a.low, "auc_high": a.high, "gini": a.gini,
            "ks": validation.ks_statistic(y, p), "brier": validation.brier(y, p),
            "hosmer_lemeshow": hl, "hosmer_lemeshow_p": hl_p, "n": int(len(y)),
            "defaults": int(y.sum())}


def _fit_predict(model: PDEstimator, x: pd.DataFrame, y: np.ndarray, train: np.ndarray,
                 test: np.ndarray) -> tuple[PDEstimator, np.ndarray]:
    fitted = model.fit(x.iloc[train], y[train])
    return fitted, fitted.predict_pd(x.iloc[test])


def develop(
    store: Store,
    as_of_dates: Sequence[dt.date],
    *,
    folds: int = 5,
    seed: int = 0,
    horizon_months: int = 12,
    n_jobs: int | None = None,
    as_of: dt.date | None = None,
    sample: pd.DataFrame | None = None,
    max_firms: int = DEVELOPMENT_FIRMS,
) -> Development:
    """Build the sample, validate both models out of fold, fit them on all of it, register.

    Registers ``pd_champion``, ``pd_challenger`` and their validation summary
    ``pd_validation`` (:func:`summarise`) as the models fitted for ``as_of``.

    Parameters
    ----------
    store : Store
    as_of_dates : sequence of date
        Quarter ends of the development sample (see :func:`development_dates`).
    folds : int, default 5
        Folds grouped by firm.
    seed : int, default 0
    horizon_months : int, default 12
        The default horizon of the target.
    n_jobs : int, optional
        Fits run side by side in this many processes, one thread each (default: one per
        core; the two final models, then the scorecard's per-fold refits). The results do
        not depend on it.
    as_of : datetime.date, optional
        The date the models are developed for (the cycle's as-of date): they are in force
        from it on, and a development for the same date replaces them.
    sample : pandas.DataFrame, optional
        The labelled development sample (:func:`development_sample`'s columns), built
        elsewhere; the Spark engine builds a capped sample of firms on the cluster.
    max_firms : int, default :data:`DEVELOPMENT_FIRMS`
        The most firms the sample built here holds (a hash sample of a bigger bank).
    """
    if sample is None:
        sample = development_sample(store, as_of_dates, horizon_months, max_firms)
    x, y = sample[list(FEATURES)], sample["default"].to_numpy()
    if int(y.sum()) < MIN_DEFAULTS_PER_FOLD * folds:
        raise InsufficientDataError(
            f"PD development found {int(y.sum())} defaults among {len(y):,} firm-dates "
            f"({', '.join(d.isoformat() for d in as_of_dates)}); {folds} folds need at "
            f"least {MIN_DEFAULTS_PER_FOLD * folds}: load more firms or more history")
    models, sample, metrics = _cross_fit(sample, x, y, folds, seed, n_jobs)
    dev = Development(sample, metrics, models["champion"], models["challenger"],
                      load_master_scale())
    _register(store, dev, {"folds": folds, "seed": seed, "horizon_months": horizon_months,
                           "as_of_dates": [d.isoformat() for d in as_of_dates],
                           "sample_firms": int(sample["firm_id"].nunique())}, as_of)
    return dev


def _cross_fit(sample: pd.DataFrame, x: pd.DataFrame, y: np.ndarray, folds: int, seed: int,
               n_jobs: int | None
               ) -> tuple[dict[str, CalibratedPD], pd.DataFrame, dict[str, dict[str, Any]]]:
    """Both models fitted on everything and calibrated, the sample with their out-of-fold
    PDs (``pd_champion``, ``pd_challenger``) and their out-of-fold metrics.

    The folds are grouped by firm. What each fold costs (profiled in docs/pd-speed.md):

    * **challenger**: no refit per fold. The final model is itself a cross-fitted ensemble
      with one booster per fold (:class:`BoostedPD` with ``groups``), grown on the same
      grouped folds; a row's out-of-fold score is that of the booster whose fold held it out
      (``oof_margin_``). The number of trees is chosen on the mean held-out AUC of the
      folds, as in any early-stopped cross-validation.
    * **champion**: the optbinning split points and the penalty ``C`` are chosen once, by
      the scorecard fitted on everything; each fold refits the WoE, the information values,
      the selection and the regression on its training rows only (``ScorecardPD(splits=,
      C=)``). The split points and ``C`` have seen the held-out fold: optbinning's bins hold
      at least 5 % of the rows each, so on thousands of firm-dates their place is not a
      leak a validation can feel (the out-of-fold AUC moved by less than 0.001 against
      binning inside every fold: docs/pd-speed.md).
    """
    labels_ = feature_labels()
    groups = sample["firm_id"].to_numpy()
    # scikit-learn's StratifiedGroupKFold(shuffle=True), ten times faster (models/folds.py).
    splits = stratified_group_folds(y, groups, folds, seed)
    workers = min(2, n_jobs if n_jobs is not None else (os.cpu_count() or 1))
    champion = ScorecardPD(labels=labels_, random_state=seed, n_jobs=1)
    challenger = BoostedPD(monotone_constraints=MONOTONE, labels=labels_, random_state=seed,
                           n_jobs=1, cv=folds, validation="cross-fit")
    final = Parallel(n_jobs=workers)([delayed(_fit)(champion, x, y, None),
                                      delayed(_fit)(challenger, x, y, groups)])
    champion, challenger = final[0], final[1]
    assert isinstance(champion, ScorecardPD) and isinstance(challenger, BoostedPD)
    assert challenger.oof_margin_ is not None
    per_fold = ScorecardPD(labels=labels_, random_state=seed, n_jobs=1,
                           splits=champion.splits_, C=champion.C_)
    scored = Parallel(n_jobs=min(n_jobs or os.cpu_count() or 1, folds))(
        delayed(_fit_predict)(clone(per_fold), x, y, train, test) for train, test in splits)
    raw = {"champion": np.zeros(len(y)),
           "challenger": challenger._pd_from_margin(challenger.oof_margin_)}
    for (_, test), (_, predicted) in zip(splits, scored, strict=True):
        raw["champion"][test] = predicted
    oof = {}
    for name in raw:
        oof[name] = np.zeros(len(y))
        for train, test in splits:
            cal = LogitCalibration().fit(raw[name][train], y[train])
            oof[name][test] = cal.transform(raw[name][test])
    sample = sample.assign(pd_champion=oof["champion"], pd_challenger=oof["challenger"])
    metrics = {name: _metrics(y, oof[name]) for name in oof}
    fitted: dict[str, PDEstimator] = {"champion": champion, "challenger": challenger}
    models = {name: CalibratedPD(fitted[name], LogitCalibration().fit(raw[name], y))
              for name in raw}
    return models, sample, metrics


def _fit(model: PDEstimator, x: pd.DataFrame, y: np.ndarray,
         groups: np.ndarray | None) -> PDEstimator:
    if isinstance(model, BoostedPD):
        return model.fit(x, y, groups=groups)
    return model.fit(x, y)


def _register(store: Store, dev: Development, params: dict[str, Any],
              as_of: dt.date | None) -> None:
    """Register both models and the validation summary for ``as_of`` (``dev.records``)."""
    training = dev.sample[[*FEATURES, "default"]]
    for name, kind in (("champion", "scorecard"), ("challenger", "lightgbm")):
        model = dev.champion if name == "champion" else dev.challenger
        dev.records[name] = registry.register(
            store, model, name=f"pd_{name}", kind=kind, training=training,
            features=list(FEATURES),
            params={**params, "calibration_degree": model.calibration.degree_},
            metrics=dev.metrics[name], as_of=as_of,
        )
    dev.records["validation"] = registry.register(
        store, summarise(dev), name=VALIDATION_NAME, kind="validation_summary",
        training=training, features=list(FEATURES),
        params={"as_of_dates": params["as_of_dates"]},
        metrics={"champion_version": dev.records["champion"].version,
                 "challenger_version": dev.records["challenger"].version}, as_of=as_of)


#: Registry name of a development's validation summary (:func:`summarise`).
VALIDATION_NAME = "pd_validation"


@artefacts.trusted("pd_models_in_force")
@dataclass
class ModelsInForce:
    """The PD models in force on a date, loaded from the registry.

    ``fitted_for`` is the as-of date they were developed for; ``summary`` their
    development's validation summary (:func:`summarise`).
    """

    champion: CalibratedPD
    challenger: CalibratedPD
    scale: MasterScale
    summary: dict[str, Any]
    records: dict[str, registry.ModelRecord]

    @property
    def fitted_for(self) -> dt.date | None:
        """The as-of date the champion was developed for."""
        return self.records["champion"].as_of

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Out-of-fold development metrics per model."""
        return dict(self.summary["metrics"])


def in_force(store: Store, as_of: dt.date) -> ModelsInForce | None:
    """The PD models in force on ``as_of`` (None if none was developed for it or before).

    Raises
    ------
    StoreError
        If a stored model fails its digest check or is not what its name says.
    """
    if not registry.has(store, "pd_champion", as_of=as_of):
        return None
    loaded = {name: registry.load(store, f"pd_{name}", as_of=as_of)
              for name in ("champion", "challenger")}
    loaded["validation"] = registry.load(store, VALIDATION_NAME, as_of=as_of)
    champion, challenger = loaded["champion"][0], loaded["challenger"][0]
    summary = loaded["validation"][0]
    if not (isinstance(champion, CalibratedPD) and isinstance(challenger, CalibratedPD)
            and isinstance(summary, dict)):
        raise StoreError(f"{store.path}: the PD models in force on {as_of} are not what "
                         "their registry names say; develop them again (creditpersona run "
                         f"--as-of {as_of} --refit pd).")
    return ModelsInForce(champion, challenger, load_master_scale(), summary,
                         {name: record for name, (_, record) in loaded.items()})


def summarise(dev: Development) -> dict[str, Any]:
    """What the validation report needs of a development, kept with its models.

    Everything is measured out of fold on the development sample: ROC, calibration,
    Jeffreys per grade, information values, plus the out-of-fold champion PD (the
    baseline of the population stability index).
    """
    from sklearn.metrics import roc_curve

    s = dev.sample
    y = s["default"].to_numpy()
    oof = {"champion": s["pd_champion"].to_numpy(), "challenger": s["pd_challenger"].to_numpy()}
    roc = {}
    for name, p in oof.items():
        fpr, tpr, _ = roc_curve(y, p, drop_intermediate=True)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
        roc[name] = pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})
    dev_grades = dev.scale.assign(oof["champion"])
    labels_ = feature_labels()
    champion = dev.champion.estimator
    assert isinstance(champion, ScorecardPD)
    iv = (champion.iv_.rename_axis("feature").reset_index()
          .assign(zh=lambda f: [labels_.get(n, (n, n))[0] for n in f["feature"]],
                  en=lambda f: [labels_.get(n, (n, n))[1] for n in f["feature"]],
                  selected=lambda f: f["feature"].isin(champion.selected_features_))
          .sort_values("iv", ascending=False, ignore_index=True))
    return {
        "dates": sorted({pd.Timestamp(d).date().isoformat() for d in s["as_of"]}),
        "metrics": dev.metrics,
        "roc": roc,
        "calibration": {k: validation.calibration_table(y, p) for k, p in oof.items()},
        "jeffreys": validation.jeffreys_by_grade(dev_grades, y, oof["champion"],
                                                 dev.scale.names[:-1]),
        "iv": iv,
        "master_scale": dev.scale.table(),
        "oof_champion": oof["champion"],
    }


def apply(dev: Development | ModelsInForce, profile: pd.DataFrame,
          defaulted: Iterable[str] = ()) -> pd.DataFrame:
    """PD of both models, the champion's grade and its reason codes for profiled firms.

    Firms in ``defaulted`` (in default on the as-of date, :func:`in_default`) get PD 1 and
    the default grade; their reason codes are the model's.
    """
    x = profile[list(FEATURES)].astype("float64")
    out = pd.DataFrame({"firm_id": profile["firm_id"].to_numpy()})
    out["pd"] = dev.champion.predict_pd(x)
    out["pd_challenger"] = dev.challenger.predict_pd(x)
    hit = out["firm_id"].astype(str).isin(set(map(str, defaulted))).to_numpy()
    out.loc[hit, ["pd", "pd_challenger"]] = 1.0
    out["grade"] = dev.scale.assign(out["pd"], hit)
    reasons = dev.champion.explain(x, top=3).reset_index(drop=True)
    return pd.concat([out, reasons], axis=1)


def in_default(store: Store, as_of: dt.date) -> list[str]:
    """Firms in default on ``as_of``: 90 days past due or written off by then (the target's
    default definition, :func:`~creditpersona.models.target.first_default_dates`)."""
    import ibis

    tables = {t.name: store.table(t.name) for t in TABLES
              if t.name in ("repayments", "loans", "bureau_reports")}
    first = first_default_dates(tables)
    hit = first.filter(first.default_date <= ibis.literal(as_of, type="date"))
    return sorted(hit.firm_id.to_pandas().astype(str))


def development_dates(store: Store, as_of: dt.date, horizon_months: int = 12,
                      quarters: int = 5) -> list[dt.date]:
    """Quarter ends whose outcome window has closed by ``as_of``: the latest ``quarters``.

    Raises
    ------
    InsufficientDataError
        If the store's history is too short for even two such dates.
    """
    from creditpersona.models.target import sample_dates

    st = store.table("financial_statements")
    first_pub = st.published_on.min().execute()
    last = (pd.Timestamp(as_of) - pd.DateOffset(months=horizon_months)).date()
    if first_pub is None or pd.isna(first_pub):
        raise InsufficientDataError(
            "the store holds no financial statements; the PD models need them: ingest "
            "financial_statements first")
    dates = [d for d in sample_dates(pd.Timestamp(first_pub).date(), last)]
    if len(dates) < 2:
        raise InsufficientDataError(
            f"PD development needs outcomes {horizon_months} months after at least two quarter "
            f"ends with published statements; the store's statements start "
            f"{pd.Timestamp(first_pub).date()} and the as-of date is {as_of}: load more "
            f"history or choose a later as-of date")
    return dates[-quarters:]


def validation_tables(dev: Development | ModelsInForce, applied: pd.DataFrame
                      ) -> dict[str, Any]:
    """The tables of the validation report (also written as JSON).

    Everything is measured out of fold on the development sample (:func:`summarise`),
    except the grade distribution and the PSI, which compare the firms scored now with
    that sample.
    """
    summary = dev.summary if isinstance(dev, ModelsInForce) else summarise(dev)
    tables = {k: v for k, v in summary.items() if k != "oof_champion"}
    tables["grades"] = (applied["grade"].value_counts().reindex(dev.scale.names, fill_value=0)
                        .rename_axis("grade").reset_index(name="firms"))
    tables["psi"] = validation.psi(summary["oof_champion"], applied["pd"])
    return tables


def to_json(tables: dict[str, Any]) -> dict[str, Any]:
    """:func:`validation_tables` as plain JSON values (frames become lists of records)."""
    def plain(value: Any) -> Any:
        if isinstance(value, pd.DataFrame):
            return value.to_dict(orient="records")
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return {k: plain(v) for k, v in tables.items()}


PD_SCORES = results.PD_SCORES


def save_scores(store: Store, as_of: dt.date, applied: pd.DataFrame) -> None:
    """Keep the graded firms of an as-of date in ``pd_scores`` (that date's rows replaced).

    Columns the stored table lacks (scores stored by an older version) are added to it
    (:func:`creditpersona.store.results.replace_date`).
    """
    results.replace_date(store, PD_SCORES, as_of, applied)
