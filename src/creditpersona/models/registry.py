"""Model registry in the store: versioned artefacts with their lineage.

An artefact is stored in the store itself (a BLOB in ``model_registry``) with the SHA-256 of
its bytes, the hash of the training data, the features, the parameters and the metrics.
Models are only ever loaded from there, after the digest is checked: never from a file path.

The bytes are JSON (:mod:`creditpersona.artefacts`): a model is rebuilt from its
fitted numbers through a closed allow-list of trusted types, so nothing stored can run code
when loaded, even if someone rewrote the BLOB and its digest together. A store written by
an earlier version (pickle BLOBs) is refused, never unpickled: re-fit its models.

Every version carries the as-of date it was fitted for. ``load(..., as_of=D)`` returns the
model *in force* on ``D``: the latest version fitted for a date on or before ``D``. So a
quarter run again later is scored with the model it was scored with the first time, even
after a re-fit for a later quarter. Registering a model for a date that already has a
version of that name replaces it under the same version number: re-fitting a quarter twice
never leaves two candidates for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from creditpersona import __version__, artefacts
from creditpersona.errors import StoreError
from creditpersona.store import results
from creditpersona.store.store import Store

REGISTRY = "model_registry"
_SCHEMA = pa.schema([
    ("model_id", pa.string()), ("name", pa.string()), ("version", pa.int64()),
    ("kind", pa.string()), ("created_at", pa.timestamp("us")),
    ("training_data_sha256", pa.string()), ("features", pa.string()),
    ("params", pa.string()), ("metrics", pa.string()), ("artefact_sha256", pa.string()),
    ("artefact", pa.binary()), ("package_version", pa.string()), ("as_of", pa.date32()),
])


@artefacts.trusted("model_record")
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
    as_of: dt.date | None = None


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
    as_of: dt.date | None = None,
) -> ModelRecord:
    """Store a fitted model as the next version of ``name``.

    With ``as_of``, the model is the one fitted for that date: a version of ``name``
    already registered for the same date is replaced and its version number reused.
    """
    con = store.con
    _ensure(store)
    reg = store.table(REGISTRY)
    version = None
    if as_of is not None:
        same = reg.filter((reg.name == name) & (reg.as_of == ibis.literal(as_of, type="date")))
        hit = same.version.max().execute()
        if hit is not None and not pd.isna(hit):
            version = int(hit)
            con.raw_sql(f"DELETE FROM {REGISTRY} WHERE name = '{_quoted(name)}' "
                        f"AND as_of = DATE '{as_of.isoformat()}'")
    if version is None:
        top = reg.filter(reg.name == name).version.max().execute()
        version = 1 if top is None or pd.isna(top) else int(top) + 1
    blob = artefacts.dumps(model)
    record = ModelRecord(uuid.uuid4().hex[:12], name, version, kind,
                         dt.datetime.now().replace(microsecond=0), frame_sha256(training),
                         list(features), params, metrics, as_of)
    row = pa.table({
        "model_id": [record.model_id], "name": [name], "version": [version], "kind": [kind],
        "created_at": [record.created_at],
        "training_data_sha256": [record.training_data_sha256],
        "features": [json.dumps(record.features)],
        "params": [json.dumps(params, default=str)],
        "metrics": [json.dumps(metrics, default=float)],
        "artefact_sha256": [hashlib.sha256(blob).hexdigest()], "artefact": [blob],
        "package_version": [__version__], "as_of": [as_of],
    }, schema=_SCHEMA)
    con.insert(REGISTRY, row)
    return record


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _ensure(store: Store) -> None:
    """Create the registry table, or fail clearly on one from before as-of dates existed."""
    con = store.con
    if not results.has_table(store, REGISTRY):
        con.create_table(REGISTRY, _SCHEMA.empty_table())
    elif "as_of" not in store.table(REGISTRY).columns:
        raise StoreError(f"{store.path}: table {REGISTRY} is from an earlier version (no as_of "
                         "column); re-fit the models on a new store, or add the column: "
                         f"ALTER TABLE {REGISTRY} ADD COLUMN as_of DATE.")


def _rows(store: Store, name: str, version: int | None, as_of: dt.date | None) -> ir.Table:
    reg = store.table(REGISTRY)
    rows = reg.filter(reg.name == name)
    if version is not None:
        rows = rows.filter(rows.version == version)
    if as_of is not None:
        rows = rows.filter(rows.as_of.isnull() | (rows.as_of <= ibis.literal(as_of, type="date")))
    return rows


def has(store: Store, name: str, *, as_of: dt.date | None = None) -> bool:
    """Whether a model ``name`` is registered (in force on ``as_of`` when given)."""
    if not results.has_table(store, REGISTRY):
        return False
    _ensure(store)
    return bool(_rows(store, name, None, as_of).count().execute() > 0)


def records(store: Store, name: str | None = None) -> pd.DataFrame:
    """Every registered version (without the bytes), oldest first."""
    columns = [f for f in _SCHEMA.names if f != "artefact"]
    if not results.has_table(store, REGISTRY):
        return pd.DataFrame(columns=columns)
    _ensure(store)
    reg = store.table(REGISTRY)
    if name is not None:
        reg = reg.filter(reg.name == name)
    out = reg.select(*columns).order_by(["name", "version"]).to_pandas()
    out["as_of"] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in out["as_of"]]
    return out


def load(store: Store, name: str, version: int | None = None, *,
         as_of: dt.date | None = None) -> tuple[object, ModelRecord]:
    """The model ``name`` and its record, digest checked.

    The latest version unless ``version`` is given; with ``as_of``, the latest version in
    force on that date (fitted for ``as_of`` or earlier).

    Raises
    ------
    StoreError
        If no such model is registered or its bytes do not match their digest, or are not
        a JSON artefact of a trusted type (a pickle of an earlier version, say).
    """
    if not results.has_table(store, REGISTRY):
        raise StoreError(f"{store.path}: no model registered yet; run `creditpersona run` first.")
    _ensure(store)
    rows = _rows(store, name, version, as_of)
    df = rows.order_by(rows.version.desc()).limit(1).to_pandas()
    if df.empty:
        when = "" if as_of is None else f" in force on {as_of}"
        raise StoreError(f"{store.path}: no model {name!r}"
                         f"{'' if version is None else f' version {version}'}{when} in the "
                         "registry.")
    r = df.iloc[0]
    blob = bytes(r["artefact"])
    if hashlib.sha256(blob).hexdigest() != r["artefact_sha256"]:
        raise StoreError(f"{store.path}: model {name!r} v{r['version']} fails its SHA-256 check; "
                         "it was altered after registration and will not be loaded.")
    model = artefacts.loads(blob, what=f"{store.path}: model {name!r} v{r['version']}")
    return model, _record(r)


def _record(r: pd.Series) -> ModelRecord:
    return ModelRecord(str(r["model_id"]), str(r["name"]), int(r["version"]), str(r["kind"]),
                       pd.Timestamp(r["created_at"]).to_pydatetime(),
                       str(r["training_data_sha256"]), json.loads(r["features"]),
                       json.loads(r["params"]), json.loads(r["metrics"]),
                       None if pd.isna(r["as_of"]) else pd.Timestamp(r["as_of"]).date())


def record(store: Store, name: str, version: int | None = None, *,
           as_of: dt.date | None = None) -> ModelRecord | None:
    """The record :func:`load` would return, without reading the model (None if none)."""
    if not results.has_table(store, REGISTRY):
        return None
    _ensure(store)
    rows = _rows(store, name, version, as_of)
    columns = [f for f in _SCHEMA.names if f != "artefact"]
    df = rows.select(*columns).order_by(rows.version.desc()).limit(1).to_pandas()
    return None if df.empty else _record(df.iloc[0])
