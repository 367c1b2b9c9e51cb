"""The marketing models in force: fitted every quarter, reused when nothing they learn changed.

The response (propensity) and uplift models learn from the campaign history as of the
quarter (:func:`~creditpersona.marketing.kernels.fit_marketing`, on the capped, stratified
sample of the contacts). Unlike the PD and persona models, which stay in force until the
review asks for a re-fit (:mod:`creditpersona.pipeline`), they follow the latest finished
campaigns every quarter. Their fit is deterministic: the same sample, parameters, seed,
threads and code give the same boosters. So :func:`fit_or_reuse` registers every fit in the
model registry (:mod:`creditpersona.models.registry`, name :data:`MODEL_NAME`, for the
quarter it was fitted for) with the digest of its training sample, and a later quarter whose
sample and fitting definition (:func:`fit_digest`) are those of the version in force loads
that version instead of fitting it again — the model it would have fitted, bit for bit
(``tests/test_marketing_snapshots.py`` compares both). A quarter with a newly finished
campaign, another seed or other code fits, and registers, anew.
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
                 n_jobs: int = 1) -> tuple[MarketingModel, str | None]:
    """The marketing models of ``as_of``: those in force when fitted on the same sample with
    the same definition, else fitted (:func:`~creditpersona.marketing.kernels.
    fit_marketing`) and registered for ``as_of`` (unless the store is read-only).

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
    (MarketingModel, str or None)
        The model, and a note when the models in force were reused.
    """
    digest = fit_digest(seed, n_jobs)
    hit = _reused(store, history, digest, as_of)
    if hit is not None:
        fitted, record = hit
        firms, held, _ = split_inputs(inputs)
        model = MarketingModel(as_of, catalogue, channels, fitted.propensity, fitted.uplift,
                               PeerTable.count(firms.set_index("firm_id"), held), {},
                               fitted.fitted_rows, fitted.history_rows, fitted.responses,
                               fitted.arm_responses, fitted.notes)
        return model, (f"response and uplift models in force reused ({MODEL_NAME} "
                       f"v{record.version}, fitted for {record.as_of}): no campaign finished "
                       "since, so the same contacts would be fitted again.")
    model = fit_marketing(history, inputs, as_of, catalogue=catalogue, channels=channels,
                          seed=seed, n_jobs=n_jobs)
    if results.should_save(store):
        fitted = FittedModels(model.propensity, model.uplift, model.fitted_rows,
                              model.history_rows, model.responses, model.arm_responses,
                              model.notes)
        registry.register(store, fitted, name=MODEL_NAME, kind="marketing",
                          training=history, features=feature_columns(history, pooled=True),
                          params={"seed": seed, "n_jobs": n_jobs, "fit_digest": digest},
                          metrics=_metrics(model), as_of=as_of)
    return model, None


def _metrics(model: MarketingModel) -> dict[str, Any]:
    """The registry's metrics of a fit: rows, responses, out-of-fold AUC per model."""
    out: dict[str, Any] = {"fitted_rows": model.fitted_rows, "responses": model.responses,
                           "arm_responses": list(model.arm_responses)}
    if model.propensity is not None:
        m = model.propensity.metrics_
        out["oof_auc"] = {str(k): float(v) for k, v in zip(m["model"], m["oof_auc"],
                                                           strict=True)}
    return out


__all__ = ["MODEL_NAME", "FittedModels", "fit_digest", "fit_or_reuse"]
