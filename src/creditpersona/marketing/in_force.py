"""The marketing models in force: fitted every quarter, reused when nothing they learn changed.

The response (propensity) and uplift models learn from the campaign history as of the
quarter (:func:`~creditpersona.marketing.kernels.fit_marketing`, on the capped, stratified
sample of the contacts). Unlike the PD and persona models, which stay in force until the
review asks for a re-fit (:mod:`creditpersona.pipeline`), they follow the latest finished
campaigns every quarter. Their fit is deterministic: the same sample, parameters, seed,
threads and code give the same boosters. So every fit is registered (:func:`register_fit`,
with the targeting backtest on the same contacts) in the model registry
(:mod:`creditpersona.models.registry`, name :data:`MODEL_NAME`, for the quarter it was
fitted for) with the digest of its training sample, and a later quarter whose sample and
fitting definition (:func:`fit_digest`) are those of the version in force loads that
version instead of fitting it again (:func:`fit_or_reuse`) — the model it would have
fitted, bit for bit (``tests/test_marketing_snapshots.py`` compares both). A quarter with a
newly finished campaign, another seed or other code fits, and registers, anew.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd

from creditpersona import __version__, artefacts
from creditpersona.errors import StoreError
from creditpersona.marketing.backtest import BacktestResult
from creditpersona.marketing.catalogue import Catalogue
from creditpersona.marketing.history import PeerTable, feature_columns
from creditpersona.marketing.kernels import MarketingModel, fit_marketing, split_inputs
from creditpersona.marketing.propensity import ProductPropensity
from creditpersona.marketing.routing import ChannelConfig
from creditpersona.marketing.uplift import TwoModelUplift
from creditpersona.models import registry
from creditpersona.store import results
from creditpersona.store.store import Store

#: The registry name of the marketing models.
MODEL_NAME = "marketing_models"


@artefacts.trusted("marketing_fitted_models")
@dataclass(frozen=True)
class FittedModels:
    """What :func:`~creditpersona.marketing.kernels.fit_marketing` learns from the history
    (the rest of a :class:`~creditpersona.marketing.kernels.MarketingModel` is the bank's
    peer counts and the configuration, taken afresh every quarter)."""

    propensity: ProductPropensity | None
    uplift: TwoModelUplift | None
    fitted_rows: int
    history_rows: int
    responses: int
    arm_responses: tuple[int, int]
    notes: tuple[str, ...]
    #: The targeting backtest on the same contacts (when the stage ran it: ``backtested``)
    #: and what it noted; it is as deterministic as the fit.
    backtest: BacktestResult | None = None
    backtest_notes: tuple[str, ...] = ()
    backtested: bool = False


@dataclass(frozen=True)
class InForce:
    """The models of a quarter (:func:`fit_or_reuse`).

    Attributes
    ----------
    model : MarketingModel
    reused : FittedModels or None
        The registered fit reused (None: fitted now, not registered yet:
        :func:`register_fit`).
    note : str or None
        Says which version was reused.
    """

    model: MarketingModel
    reused: FittedModels | None
    note: str | None


def fit_digest(seed: int, n_jobs: int) -> str:
    """SHA-256 of what a fit depends on besides its rows: the package version, every file
    of the marketing package (code and configuration), the product catalogue, the seed and
    the LightGBM threads.

    Examples
    --------
    >>> fit_digest(0, 1) == fit_digest(0, 1), fit_digest(0, 1) == fit_digest(1, 1)
    (True, False)
    """
    digest = hashlib.sha256(f"{__version__}|{seed}|{n_jobs}".encode())
    root = resources.files("creditpersona")
    package = root / "marketing"
    for child in sorted(package.iterdir(), key=lambda c: c.name):
        if child.is_file() and child.name.endswith((".py", ".yaml")):
            digest.update(child.name.encode() + b"\0" + child.read_bytes() + b"\0")
    digest.update((root / "catalogue.yaml").read_bytes())
    return digest.hexdigest()


def _reused(store: Store, history: pd.DataFrame, digest: str,
            as_of: dt.date) -> tuple[FittedModels, registry.ModelRecord] | None:
    """The version in force on ``as_of`` when it was fitted on ``history`` with ``digest``."""
    record = registry.record(store, MODEL_NAME, as_of=as_of)
    if (record is None or record.params.get("fit_digest") != digest
            or record.training_data_sha256 != registry.frame_sha256(history)):
        return None
    fitted, record = registry.load(store, MODEL_NAME, record.version)
    if not isinstance(fitted, FittedModels):
        raise StoreError(f"{store.path}: model {MODEL_NAME!r} v{record.version} is a "
                         f"{type(fitted).__name__}, not the marketing models; re-fit them "
                         "(drop that version from model_registry).")
    return fitted, record


def fit_or_reuse(store: Store, history: pd.DataFrame, inputs: pd.DataFrame, as_of: dt.date,
                 *, catalogue: Catalogue, channels: ChannelConfig, seed: int = 0,
                 n_jobs: int = 1) -> InForce:
    """The marketing models of ``as_of``: those in force when fitted on the same sample with
    the same definition, else fitted now (:func:`~creditpersona.marketing.kernels.
    fit_marketing`; keep them with :func:`register_fit`).

    Parameters
    ----------
    store : Store
    history : pandas.DataFrame
        The capped campaign history (:func:`~creditpersona.marketing.kernels.
        capped_history`).
    inputs : pandas.DataFrame
        :func:`~creditpersona.marketing.kernels.marketing_inputs` of every firm (the peer
        counts).
    as_of : datetime.date
    catalogue, channels
        The configuration.
    seed, n_jobs : int

    Returns
    -------
    InForce
    """
    hit = _reused(store, history, fit_digest(seed, n_jobs), as_of)
    if hit is None:
        return InForce(fit_marketing(history, inputs, as_of, catalogue=catalogue,
                                     channels=channels, seed=seed, n_jobs=n_jobs), None, None)
    fitted, record = hit
    firms, held, _ = split_inputs(inputs)
    model = MarketingModel(as_of, catalogue, channels, fitted.propensity, fitted.uplift,
                           PeerTable.count(firms.set_index("firm_id"), held), {},
                           fitted.fitted_rows, fitted.history_rows, fitted.responses,
                           fitted.arm_responses, fitted.notes)
    return InForce(model, fitted, (
        f"response and uplift models in force reused ({MODEL_NAME} v{record.version}, "
        f"fitted for {record.as_of}): no campaign finished since, so the same contacts "
        "would be fitted again."))


def register_fit(store: Store, history: pd.DataFrame, model: MarketingModel, as_of: dt.date,
                 *, seed: int, n_jobs: int, backtest: BacktestResult | None = None,
                 backtest_notes: tuple[str, ...] = (), backtested: bool = False) -> None:
    """Register a fit of :func:`fit_or_reuse` (and the backtest on its contacts) for
    ``as_of``; nothing on a read-only store."""
    if not results.should_save(store):
        return
    fitted = FittedModels(model.propensity, model.uplift, model.fitted_rows,
                          model.history_rows, model.responses, model.arm_responses,
                          model.notes, backtest, backtest_notes, backtested)
    registry.register(store, fitted, name=MODEL_NAME, kind="marketing", training=history,
                      features=feature_columns(history, pooled=True),
                      params={"seed": seed, "n_jobs": n_jobs,
                              "fit_digest": fit_digest(seed, n_jobs)},
                      metrics=_metrics(model), as_of=as_of)


def _metrics(model: MarketingModel) -> dict[str, Any]:
    """The registry's metrics of a fit: rows, responses, out-of-fold AUC per model."""
    out: dict[str, Any] = {"fitted_rows": model.fitted_rows, "responses": model.responses,
                           "arm_responses": list(model.arm_responses)}
    if model.propensity is not None:
        m = model.propensity.metrics_
        out["oof_auc"] = {str(k): float(v) for k, v in zip(m["model"], m["oof_auc"],
                                                           strict=True)}
    return out


__all__ = ["MODEL_NAME", "FittedModels", "InForce", "fit_digest", "fit_or_reuse",
           "register_fit"]
