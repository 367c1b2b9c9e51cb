"""Model registry in the store: versioned artefacts with their lineage.

An artefact is stored in the store itself (a BLOB in ``model_registry``) with the SHA-256 of
its bytes, the hash of the training data, the features, the parameters and the metrics.
Models are only ever loaded from there, after the digest is checked: never from a file path a
user could point at a crafted pickle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from creditpersona import __version__
from creditpersona.errors import StoreError
from creditpersona.store.store import Store

REGISTRY = "model_registry"
_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("name", pa.string()), ("version", pa.int64()),
    ("kind", pa.string()), ("created_at", pa.timestamp("us")),
    ("training_data_sha256", pa.string()), ("features", pa.string()),
    ("params", pa.string()), ("metrics", pa.string()), ("artefact_sha256", pa.string()),
    ("artefact", pa.binary()), ("package_version", pa.string()),
])


@dataclass(frozen=True)
class ModelRecord:
    """A registered model without its bytes."""

    model_id: str
    name: str
    version: int
    kind: str
    created_at: dt.datetime
    training_data_sha256: str
    features: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]


def frame_sha256(frame: pd.DataFrame) -> str:
    """A digest of a training frame's values and columns (row order matters)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def register(
    store: Store,
    model: object,
    *,
    name: str,
    kind: str,
    training: pd.DataFrame,
    features: list[str],
    params: dict[str, Any],
    metrics: dict[str, Any],
) -> ModelRecord:
    """Store a fitted model as the next version of ``name``."""
    con = store.con
    if REGISTRY not in con.list_tables():
        con.create_table(REGISTRY, _SCHEMA.empty_table())
    reg = store.table(REGISTRY)
    top = reg.filter(reg.name == name).version.max().execute()
    version = 1 if top is None or pd.isna(top) else int(top) + 1
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    record = ModelRecord(uuid.uuid4().hex[:12], name, version, kind,
                         dt.datetime.now().replace(microsecond=0), frame_sha256(training),
                         list(features), params, metrics)
    row = pa.table({
        "model_id": [record.model_id], "name": [name], "version": [version], "kind": [kind],
        "created_at": [record.created_at],
        "training_data_sha256": [record.training_data_sha256],
        "features": [json.dumps(record.features)],
        "params": [json.dumps(params, default=str)],
        "metrics": [json.dumps(metrics, default=float)],
        "artefact_sha256": [hashlib.sha256(blob).hexdigest()], "artefact": [blob],
        "package_version": [__version__],
    }, schema=_SCHEMA)
    con.insert(REGISTRY, row)
    return record


def load(store: Store, name: str, version: int | None = None) -> tuple[object, ModelRecord]:
    """The model ``name`` (latest version unless given) and its record, digest checked.

    Raises
    ------
    StoreError
        If no such model is registered or its bytes do not match their digest.
    """
    if REGISTRY not in store.con.list_tables():
        raise StoreError(f"{store.path}: no model registered yet; run `creditpersona run` first.")
    reg = store.table(REGISTRY)
    rows = reg.filter(reg.name == name)
    if version is not None:
        rows = rows.filter(rows.version == version)
    df = rows.order_by(reg.version.desc()).limit(1).to_pandas()
    if df.empty:
        raise StoreError(f"{store.path}: no model {name!r}"
                         f"{'' if version is None else f' version {version}'} in the registry.")
    r = df.iloc[0]
    blob = bytes(r["artefact"])
    if hashlib.sha256(blob).hexdigest() != r["artefact_sha256"]:
        raise StoreError(f"{store.path}: model {name!r} v{r['version']} fails its SHA-256 check; "
                         "it was altered after registration and will not be loaded.")
    model = pickle.loads(blob)  # noqa: S301 - bytes from our own store, digest verified above
    record = ModelRecord(r["model_id"], r["name"], int(r["version"]), r["kind"],
                         pd.Timestamp(r["created_at"]).to_pydatetime(),
                         r["training_data_sha256"], json.loads(r["features"]),
                         json.loads(r["params"]), json.loads(r["metrics"]))
    return model, record
