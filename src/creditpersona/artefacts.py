"""Artefacts that cannot run code: fitted models and stage results as plain JSON (+ Parquet).

Nothing the package stores (a model in the registry, a stage checkpoint of a run) is a
pickle: unpickling runs whatever the bytes ask for, so anyone able to write a store's
folder could run code as the next user of ``report`` or ``personas assign``. Instead every
stored object is rebuilt from JSON through a *closed allow-list*: a type is only ever
constructed if its class put itself on the list with :func:`trusted` (or is one of the few
third-party pieces re-expressed here: LightGBM boosters as their own text model, and the
scikit-learn isotonic regression, quantile transformer and decision tree by their fitted
arrays). Anything else in the bytes is refused with a :class:`~creditpersona.errors.StoreError`.

Registering a model of your own (say a text model) takes a decorator in its own module::

    from creditpersona import artefacts

    @artefacts.trusted("text_model")          # a name unique in the package
    class TextModel:
        def to_state(self) -> dict:            # JSON values only (use artefacts.encode
            return {"vocabulary": self.vocabulary_,              # for arrays and frames)
                    "weights": artefacts.encode(self.weights_)}
        @classmethod
        def from_state(cls, state: dict) -> "TextModel":
            model = cls()
            model.vocabulary_ = dict(state["vocabulary"])
            model.weights_ = artefacts.decode(state["weights"])
            return model

then ``registry.register(store, model, ...)`` and ``registry.load`` work as for the PD
models (the module must have been imported before a load: a name not yet on the list is
refused, never imported on the strength of the stored bytes). Dataclasses and
pydantic models need no methods (their fields are encoded, and rebuilt field by field); any
other class without them is stored by its instance attributes (``vars(obj)``), each one
encoded by :func:`encode`, which refuses what it does not know.

The encoded form is JSON: ``None``, bools, ints, strings and finite floats are themselves;
everything else is an object with a ``"$t"`` tag (``"ndarray"`` with its dtype and a flat
list, ``"frame"`` column by column, ``"date"``, ``"obj"`` with a trusted type name and its
state, ...). Inside a checkpoint, DataFrames go to Parquet files beside the JSON instead
(:func:`collecting_frames`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from creditpersona.errors import StoreError

#: The ``format`` of what :func:`dumps` writes; :func:`loads` accepts only this one.
FORMAT = "creditpersona-artefact/1"
T = TypeVar("T")

_BY_NAME: dict[str, type] = {}
_NAME_OF: dict[type, str] = {}
#: Frames collected by :func:`encode_with_frames` (None: frames are encoded as JSON).
_FRAME_SINK: ContextVar[list[pd.DataFrame] | None] = ContextVar("frame_sink", default=None)
#: Frames read back for :func:`decode_with_frames`.
_FRAME_SOURCE: ContextVar[Callable[[int], pd.DataFrame] | None] = ContextVar(
    "frame_source", default=None)


class ArtefactError(StoreError, ValueError):
    """Stored bytes are not an artefact this version of the package can rebuild safely."""


# -- the allow-list ------------------------------------------------------------------------
def trusted(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: put the class on the allow-list under ``name``.

    A class that defines neither ``to_state`` nor ``from_state`` gets defaults: fields of
    a dataclass, ``model_dump``/``model_validate`` of a pydantic model, else the instance
    attributes.

    Raises
    ------
    ValueError
        If ``name`` is already taken by another class.
    """
    def register(cls: type[T]) -> type[T]:
        taken = _BY_NAME.get(name)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise ValueError(f"artefact type name {name!r} is taken by {taken.__qualname__}")
        if not hasattr(cls, "to_state"):
            if dataclasses.is_dataclass(cls):
                to_state, from_state = _dataclass_to_state, _dataclass_from_state
            elif hasattr(cls, "model_validate") and hasattr(cls, "model_dump"):
                to_state, from_state = _pydantic_to_state, _pydantic_from_state
            else:
                to_state, from_state = _attrs_to_state, _attrs_from_state
            cls.to_state = to_state  # type: ignore[attr-defined]
            cls.from_state = classmethod(from_state)  # type: ignore[attr-defined]
        _BY_NAME[name] = cls
        _NAME_OF[cls] = name
        return cls
    return register


def trusted_types() -> dict[str, str]:
    """The allow-list so far: type name → class (module and name).

    A class joins the list when its module is imported; the PD models of this layer are
    always on it. A higher layer that reads artefacts imports its own types first (the
    persona store its model, the run ledger the cycle's stages).
    """
    _load_trusted_modules()
    return {name: f"{cls.__module__}.{cls.__qualname__}"
            for name, cls in sorted(_BY_NAME.items())}


#: The modules of this layer that declare trusted types: imported before a name is looked
#: up, so a PD model can be read whatever the caller imported first. (Higher layers are
#: never imported from here: they register their types themselves.)
_TRUSTED_MODULES = (
    "creditpersona.models.registry", "creditpersona.models.calibration",
    "creditpersona.models.scorecard", "creditpersona.models.boosting",
    "creditpersona.models.development", "creditpersona.models.master_scale",
)


def _load_trusted_modules() -> None:
    import importlib

    for module in _TRUSTED_MODULES:
        importlib.import_module(module)


def _trusted_class(name: object) -> type:
    if not isinstance(name, str):
        raise ArtefactError(f"an artefact names its type with {name!r}, not a type name.")
    if name not in _BY_NAME:
        _load_trusted_modules()
    if name not in _BY_NAME:
        raise ArtefactError(f"artefact type {name!r} is not on the allow-list of trusted "
                            "types; it is not loaded. Re-fit the model (or run the date "
                            "again) with this version of creditpersona.")
    return _BY_NAME[name]


def _dataclass_to_state(self: Any) -> dict[str, Any]:
    return {f.name: encode(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _dataclass_from_state(cls: type[T], state: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _expect_keys(cls, state, names)
    obj = cls.__new__(cls)
    for key, value in state.items():
        object.__setattr__(obj, key, decode(value))
    return obj


def _pydantic_to_state(self: Any) -> dict[str, Any]:
    return {"fields": self.model_dump(mode="json")}


def _pydantic_from_state(cls: Any, state: dict[str, Any]) -> Any:
    _expect_keys(cls, state, {"fields"})
    return cls.model_validate(state["fields"])


def _attrs_to_state(self: Any) -> dict[str, Any]:
    return attrs_state(self)


def _attrs_from_state(cls: type[T], state: dict[str, Any]) -> T:
    return attrs_from_state(cls, state)


def attrs_state(obj: object, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The state of an estimator: its instance attributes but ``exclude``, encoded."""
    return {"attrs": {k: encode(v) for k, v in vars(obj).items() if k not in exclude}}


def attrs_from_state(cls: type[T], state: object) -> T:
    """The instance of ``cls`` whose state :func:`attrs_state` gave."""
    _expect_keys(cls, state, {"attrs"})
    assert isinstance(state, dict)
    return restore_attrs(cls, state["attrs"])


def restore_attrs(cls: type[T], attrs: object) -> T:
    """An instance of ``cls`` whose attributes are the decoded ``attrs`` (no ``__init__``)."""
    if not isinstance(attrs, dict) or not all(
            isinstance(k, str) and k.isidentifier() and not k.startswith("__") for k in attrs):
        raise ArtefactError(f"the stored attributes of a {cls.__qualname__} are malformed; "
                            "re-fit the model.")
    obj = cls.__new__(cls)
    obj.__dict__.update({k: decode(v) for k, v in attrs.items()})
    return obj


def _expect_keys(cls: type, state: object, names: set[str]) -> None:
    if not isinstance(state, dict) or set(state) != names:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ArtefactError(f"the stored state of a {cls.__qualname__} has the fields {got}, "
                            f"not {sorted(names)}: it was written by another version; re-fit "
                            "the model (or run the date again).")


# -- third-party pieces, re-expressed by their fitted arrays ------------------------------
def _foreign_name(value: object) -> str | None:
    kind = type(value)
    key = f"{kind.__module__}.{kind.__qualname__}"
    return _FOREIGN_KEYS.get(key)


_FOREIGN_KEYS = {
    "lightgbm.basic.Booster": "lightgbm.Booster",
    "sklearn.isotonic.IsotonicRegression": "sklearn.IsotonicRegression",
    "sklearn.preprocessing._data.QuantileTransformer": "sklearn.QuantileTransformer",
    "sklearn.tree._classes.DecisionTreeClassifier": "sklearn.DecisionTreeClassifier",
}


def _foreign_to_state(name: str, value: Any) -> dict[str, Any]:
    if name == "lightgbm.Booster":
        # LightGBM's own text model: every split and leaf value, written to full precision.
        return {"model": value.model_to_string()}
    attrs = dict(vars(value))
    if name == "sklearn.IsotonicRegression":
        attrs.pop("f_", None)  # a scipy interpolator, rebuilt from the thresholds
    if name == "sklearn.DecisionTreeClassifier":
        tree = attrs.pop("tree_")
        inner = tree.__getstate__()
        attrs["tree_"] = {
            "n_features": int(tree.n_features), "n_classes": encode(np.asarray(tree.n_classes)),
            "n_outputs": int(tree.n_outputs), "max_depth": int(inner["max_depth"]),
            "node_count": int(inner["node_count"]),
            "nodes": {f: encode(np.asarray(inner["nodes"][f]))
                      for f in inner["nodes"].dtype.names},
            "values": encode(np.asarray(inner["values"])),
        }
        return {"attrs": {k: v if k == "tree_" else encode(v) for k, v in attrs.items()}}
    return {"attrs": {k: encode(v) for k, v in attrs.items()}}


def _foreign_from_state(name: str, state: Any) -> Any:
    if name == "lightgbm.Booster":
        import lightgbm as lgb

        _expect_keys(lgb.Booster, state, {"model"})
        if not isinstance(state["model"], str):
            raise ArtefactError("a stored LightGBM booster is not a text model; re-fit.")
        return lgb.Booster(model_str=state["model"])
    if name == "sklearn.IsotonicRegression":
        from sklearn.isotonic import IsotonicRegression

        _expect_keys(IsotonicRegression, state, {"attrs"})
        iso = restore_attrs(IsotonicRegression, state["attrs"])
        iso._build_f(iso.X_thresholds_, iso.y_thresholds_)
        return iso
    if name == "sklearn.QuantileTransformer":
        from sklearn.preprocessing import QuantileTransformer

        _expect_keys(QuantileTransformer, state, {"attrs"})
        return restore_attrs(QuantileTransformer, state["attrs"])
    if name == "sklearn.DecisionTreeClassifier":
        from sklearn.tree import DecisionTreeClassifier
        from sklearn.tree._tree import NODE_DTYPE, Tree

        _expect_keys(DecisionTreeClassifier, state, {"attrs"})
        attrs = dict(state["attrs"])
        raw = attrs.pop("tree_", None)
        if not isinstance(raw, dict):
            raise ArtefactError("a stored decision tree has no tree; re-fit.")
        clf = restore_attrs(DecisionTreeClassifier, attrs)
        fields = raw["nodes"]
        if set(fields) != set(NODE_DTYPE.names):
            raise ArtefactError("a stored decision tree was written by another scikit-learn "
                                "version (its node fields differ); re-fit.")
        nodes = np.zeros(int(raw["node_count"]), dtype=NODE_DTYPE)
        for f in NODE_DTYPE.names:
            nodes[f] = decode(fields[f])
        n_classes = np.asarray(decode(raw["n_classes"]), dtype=np.intp)
        tree = Tree(int(raw["n_features"]), n_classes, int(raw["n_outputs"]))
        tree.__setstate__({"max_depth": int(raw["max_depth"]),
                           "node_count": int(raw["node_count"]), "nodes": nodes,
                           "values": np.ascontiguousarray(decode(raw["values"]),
                                                          dtype=np.float64)})
        clf.tree_ = tree
        return clf
    raise ArtefactError(f"unknown third-party artefact type {name!r}; re-fit.")


# -- the codec -------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """``value`` as JSON-compatible data (see the module documentation).

    Raises
    ------
    TypeError
        If ``value`` holds an object of a type that is not trusted.

    Examples
    --------
    >>> encode({"a": (1, 2.5), "b": np.array([1.0, np.nan])})
    {'a': {'$t': 'tuple', 'items': [1, 2.5]}, 'b': {'$t': 'ndarray', 'dtype': '<f8', \
'shape': [2], 'data': [1.0, 'nan']}}
    >>> decode(encode(dt.date(2026, 6, 30)))
    datetime.date(2026, 6, 30)
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$t": "float", "v": repr(value)}
    if isinstance(value, np.generic):
        return _encode_scalar(value)
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return {"$t": "tuple", "items": [encode(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"$t": type(value).__name__, "items": [encode(v) for v in value]}
    if isinstance(value, dict) and type(value) is dict:
        if all(isinstance(k, str) for k in value) and "$t" not in value:
            return {k: encode(v) for k, v in value.items()}
        return {"$t": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, pd.DataFrame):
        sink = _FRAME_SINK.get()
        if sink is not None and _parquet_ok(value):
            sink.append(value)
            return {"$t": "parquet", "i": len(sink) - 1,
                    "objects": [str(c) for c in value.columns
                                if value[c].dtype is np.dtype(object)]}
        return _encode_frame(value)
    if isinstance(value, pd.Series):
        return {"$t": "series", "name": encode(value.name), "index": _encode_index(value.index),
                "values": _encode_column(value)}
    if isinstance(value, pd.Index):
        return _encode_index(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, pd.Timestamp):
        return {"$t": "timestamp", "v": value.isoformat(), "unit": value.unit}
    if value is pd.NaT:
        return {"$t": "nat"}
    if value is pd.NA:
        return {"$t": "na"}
    if isinstance(value, dt.datetime):
        return {"$t": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$t": "date", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$t": "timedelta", "v": value.total_seconds()}
    if isinstance(value, PurePath):
        return {"$t": "path", "v": str(value)}
    name = _NAME_OF.get(type(value))
    if name is not None:
        return {"$t": "obj", "type": name, "state": value.to_state()}
    foreign = _foreign_name(value)
    if foreign is not None:
        return {"$t": "foreign", "type": foreign, "state": _foreign_to_state(foreign, value)}
    raise TypeError(f"cannot store a {type(value).__module__}.{type(value).__qualname__}: "
                    "it is not a trusted artefact type; decorate its class with "
                    "@creditpersona.artefacts.trusted(NAME).")


def decode(node: Any) -> Any:
    """The value :func:`encode` encoded; only trusted types are ever constructed.

    Raises
    ------
    ArtefactError
        If ``node`` is not something :func:`encode` writes.
    """
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [decode(v) for v in node]
    if not isinstance(node, dict):
        raise ArtefactError(f"unexpected {type(node).__name__} in a stored artefact.")
    tag = node.get("$t")
    if tag is None:
        return {k: decode(v) for k, v in node.items()}
    try:
        return _decode_tagged(str(tag), node)
    except (ArtefactError, StoreError):
        raise
    except Exception as exc:  # anything malformed, whatever the library that noticed it
        raise ArtefactError(f"a stored {tag!r} value is malformed ({type(exc).__name__}: "
                            f"{exc}); it is not loaded: re-fit the model (or run the date "
                            "again).") from None


def _decode_tagged(tag: str, node: dict[str, Any]) -> Any:
    if tag == "float":
        if node["v"] not in ("nan", "inf", "-inf"):
            raise ValueError(f"not a special float: {node['v']!r}")
        return float(node["v"])
    if tag == "np":
        return _decode_scalar(node)
    if tag == "tuple":
        return tuple(decode(v) for v in node["items"])
    if tag == "set":
        return {decode(v) for v in node["items"]}
    if tag == "frozenset":
        return frozenset(decode(v) for v in node["items"])
    if tag == "dict":
        return {decode(k): decode(v) for k, v in node["items"]}
    if tag == "ndarray":
        return _decode_array(node)
    if tag == "frame":
        return _decode_frame(node)
    if tag == "parquet":
        source = _FRAME_SOURCE.get()
        if source is None:
            raise ArtefactError("a stored artefact refers to a Parquet file, but none was "
                                "read with it.")
        frame = source(int(node["i"]))
        for column in node.get("objects", []):
            values = frame[column]
            frame[column] = values.astype(object).where(values.notna(), None)
        return frame
    if tag == "series":
        values = _decode_column(node["values"])
        return pd.Series(values, index=_decode_index(node["index"]), name=decode(node["name"]))
    if tag in ("index", "range", "multiindex"):
        return _decode_index(node)
    if tag == "timestamp":
        return pd.Timestamp(node["v"]).as_unit(node["unit"])
    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "datetime":
        return dt.datetime.fromisoformat(node["v"])
    if tag == "date":
        return dt.date.fromisoformat(node["v"])
    if tag == "timedelta":
        return dt.timedelta(seconds=float(node["v"]))
    if tag == "path":
        return Path(node["v"])
    if tag == "obj":
        cls = _trusted_class(node["type"])
        return cls.from_state(node["state"])  # type: ignore[attr-defined]
    if tag == "foreign":
        if node["type"] not in _FOREIGN_KEYS.values():
            raise ArtefactError(f"artefact type {node['type']!r} is not on the allow-list; "
                                "it is not loaded. Re-fit the model.")
        return _foreign_from_state(str(node["type"]), node["state"])
    raise ArtefactError(f"unknown tag {tag!r} in a stored artefact; it is not loaded.")


#: numpy dtype kinds an array or scalar may have: bool, ints, floats, text, dates, objects.
_KINDS = set("biufUMmO")


def _dtype(text: object) -> np.dtype[Any]:
    if not isinstance(text, str):
        raise ValueError(f"a dtype must be a string, not {text!r}")
    dtype = np.dtype(text)
    if dtype.kind not in _KINDS or dtype.fields is not None:
        raise ValueError(f"dtype {text!r} is not one an artefact may hold")
    return dtype


def _encode_scalar(value: np.generic) -> dict[str, Any]:
    dtype = value.dtype
    if dtype.kind in "Mm":
        return {"$t": "np", "dtype": dtype.str, "v": int(value.view("i8"))}
    if dtype.kind not in _KINDS - {"O"}:
        raise TypeError(f"cannot store a numpy {dtype} scalar")
    return {"$t": "np", "dtype": dtype.str, "v": encode(value.item())}


def _decode_scalar(node: dict[str, Any]) -> np.generic:
    dtype = _dtype(node["dtype"])
    if dtype.kind in "Mm":
        out: Any = np.array(int(node["v"]), dtype="i8").view(dtype)[()]
        return out
    if dtype.kind == "O":
        raise ValueError("an object scalar is not a numpy scalar")
    value: Any = np.array(decode(node["v"]), dtype=dtype)[()]
    return value


def _encode_array(value: np.ndarray) -> dict[str, Any]:
    dtype = value.dtype
    if dtype.kind not in _KINDS or dtype.fields is not None:
        raise TypeError(f"cannot store a numpy array of dtype {dtype}")
    flat = value.ravel(order="C")
    if dtype.kind == "O":
        data: list[Any] = [encode(v) for v in flat]
    elif dtype.kind in "Mm":
        data = flat.view("i8").tolist()
    elif dtype.kind == "f" and not np.isfinite(flat).all():
        data = [v if math.isfinite(v) else repr(v) for v in flat.tolist()]
    else:
        data = flat.tolist()
    return {"$t": "ndarray", "dtype": dtype.str, "shape": list(value.shape), "data": data}


def _decode_array(node: dict[str, Any]) -> np.ndarray:
    dtype = _dtype(node["dtype"])
    shape = tuple(int(n) for n in node["shape"])
    data = node["data"]
    if not isinstance(data, list):
        raise ValueError("array data must be a list")
    if dtype.kind == "O":
        out = np.empty(len(data), dtype=object)
        out[:] = [decode(v) for v in data] if data else []
    elif dtype.kind in "Mm":
        out = np.asarray(data, dtype="i8").view(dtype)
    elif dtype.kind == "f":
        out = np.asarray([float(v) if isinstance(v, str) and v in ("nan", "inf", "-inf")
                          else v for v in data], dtype=dtype)
    else:
        if any(isinstance(v, dict | list) for v in data):
            raise ValueError("a numeric array holds nested values")
        out = np.asarray(data, dtype=dtype)
    return out.reshape(shape)


def _encode_column(values: pd.Series | pd.Index) -> dict[str, Any]:
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        return {"kind": "numpy", "array": _encode_array(np.asarray(values))}
    if isinstance(dtype, pd.CategoricalDtype):
        codes = pd.Categorical(values).codes
        return {"kind": "category", "categories": _encode_index(dtype.categories),
                "ordered": bool(dtype.ordered), "codes": _encode_array(np.asarray(codes))}
    items = [None if v is pd.NA or (v is not None and not isinstance(v, str) and pd.isna(v))
             else v for v in values.tolist()]
    return {"kind": "extension", "dtype": str(dtype), "data": [encode(v) for v in items]}


def _decode_column(node: dict[str, Any]) -> Any:
    kind = node["kind"]
    if kind == "numpy":
        return _decode_array(node["array"])
    if kind == "category":
        categories = _decode_index(node["categories"])
        return pd.Categorical.from_codes(_decode_array(node["codes"]), categories=categories,
                                         ordered=bool(node["ordered"]))
    if kind == "extension":
        dtype = pd.api.types.pandas_dtype(str(node["dtype"]))
        if isinstance(dtype, np.dtype):
            raise ValueError("an extension column names a numpy dtype")
        return pd.array([decode(v) for v in node["data"]], dtype=dtype)  # type: ignore[call-overload]
    raise ValueError(f"unknown column kind {kind!r}")


def _encode_index(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.RangeIndex):
        return {"$t": "range", "start": index.start, "stop": index.stop, "step": index.step,
                "name": encode(index.name)}
    if isinstance(index, pd.MultiIndex):
        return {"$t": "multiindex", "names": [encode(n) for n in index.names],
                "levels": [_encode_column(index.get_level_values(k))
                           for k in range(index.nlevels)]}
    return {"$t": "index", "name": encode(index.name), "values": _encode_column(index)}


def _decode_index(node: dict[str, Any]) -> pd.Index:
    tag = node["$t"]
    if tag == "range":
        return pd.RangeIndex(int(node["start"]), int(node["stop"]), int(node["step"]),
                             name=decode(node["name"]))
    if tag == "multiindex":
        arrays = [_decode_column(level) for level in node["levels"]]
        return pd.MultiIndex.from_arrays(arrays, names=[decode(n) for n in node["names"]])
    if tag == "index":
        return pd.Index(_decode_column(node["values"]), name=decode(node["name"]),
                        tupleize_cols=False)
    raise ValueError(f"not an index: {tag!r}")


def _encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    return {"$t": "frame", "columns": _encode_index(frame.columns),
            "index": _encode_index(frame.index),
            "data": [_encode_column(frame.iloc[:, j]) for j in range(frame.shape[1])]}


def _decode_frame(node: dict[str, Any]) -> pd.DataFrame:
    index = _decode_index(node["index"])
    columns = _decode_index(node["columns"])
    data = [_decode_column(c) for c in node["data"]]
    if len(data) != len(columns):
        raise ValueError("a stored frame has more or fewer columns than names")
    frame = pd.DataFrame({j: pd.Series(values, index=index, copy=False)
                          for j, values in enumerate(data)}, index=index)
    frame.columns = columns
    return frame


#: pandas' nullable dtypes, which Parquet keeps as they are.
_MASKED = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
           "Float32", "Float64", "boolean"}


def _parquet_ok(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` survives a Parquet round trip exactly (else it goes as JSON)."""
    columns = frame.columns
    if (isinstance(columns, pd.MultiIndex) or columns.name is not None
            or not all(isinstance(c, str) for c in columns) or not columns.is_unique
            or isinstance(frame.index, pd.MultiIndex)):
        return False
    index = frame.index
    if not isinstance(index, pd.RangeIndex) and (index.dtype == object or index.name in set(
            columns) or not isinstance(index.dtype, np.dtype | pd.StringDtype)):
        return False
    for c in columns:
        dtype = frame[c].dtype
        if dtype is np.dtype(object):
            kind = pd.api.types.infer_dtype(frame[c], skipna=True)
            if kind not in ("string", "empty") and not (kind == "date" and _dates(frame[c])):
                return False
        elif isinstance(dtype, np.dtype):
            if dtype.kind in "mcV":
                return False
        elif not isinstance(dtype, pd.StringDtype) and str(dtype) not in _MASKED:
            return False
    return True


def _dates(values: pd.Series) -> bool:
    """Whether every value is a ``datetime.date`` (not a datetime) or None: Parquet keeps
    them as ``date32`` and reads them back as the same objects (a NaN would come back None)."""
    return all(v is None or type(v) is dt.date for v in values.tolist())


@contextmanager
def collecting_frames() -> Iterator[list[pd.DataFrame]]:
    """Within the block, :func:`encode` hands eligible DataFrames to the list it yields."""
    frames: list[pd.DataFrame] = []
    token = _FRAME_SINK.set(frames)
    try:
        yield frames
    finally:
        _FRAME_SINK.reset(token)


@contextmanager
def reading_frames(source: Callable[[int], pd.DataFrame]) -> Iterator[None]:
    """Within the block, :func:`decode` reads frame ``i`` of a checkpoint with ``source(i)``."""
    token = _FRAME_SOURCE.set(source)
    try:
        yield
    finally:
        _FRAME_SOURCE.reset(token)


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of a frame :func:`encode` collected."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=None)
    return buffer.getvalue()


def frame_from_parquet(data: bytes) -> pd.DataFrame:
    """The frame of :func:`frame_to_parquet`'s bytes (data only: Parquet runs no code)."""
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


# -- whole artefacts ---------------------------------------------------------------------------
def dumps(obj: object) -> bytes:
    """A trusted object as JSON bytes ``{"type", "format", "state"}`` (UTF-8).

    Raises
    ------
    TypeError
        If ``obj`` (or anything it holds) is not of a trusted type.
    """
    node = encode(obj)
    kind = node.get("type") if isinstance(node, dict) and node.get("$t") == "obj" else None
    payload = {"type": kind or "value", "format": FORMAT,
               "state": node["state"] if kind else node}
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def loads(data: bytes, *, what: str = "artefact") -> Any:
    """The object :func:`dumps` wrote; anything else is refused without being run.

    Parameters
    ----------
    data : bytes
    what : str
        How to name the artefact in an error (e.g. ``"model 'pd_champion' v1 in
        store.duckdb"``).

    Raises
    ------
    ArtefactError
        If ``data`` is not JSON of this format naming a trusted type (a pickle of an
        earlier version, say): the message says what it is and to re-fit.

    Examples
    --------
    >>> loads(dumps({"a": 1}))
    {'a': 1}
    >>> loads(b"\\x80\\x04K\\x01.")
    Traceback (most recent call last):
    ...
    creditpersona.artefacts.ArtefactError: artefact: is a Python pickle (written by \
an earlier creditpersona, or planted); a pickle can run code when loaded, so it is refused. \
Re-fit the models with this version on a new store (creditpersona ingest, then creditpersona \
run).
    """
    if data[:1] == b"\x80":
        raise ArtefactError(f"{what}: is a Python pickle (written by an earlier "
                            "creditpersona, or planted); a pickle can run code when loaded, "
                            "so it is refused. Re-fit the models with this version on a new "
                            "store (creditpersona ingest, then creditpersona run).")
    try:
        payload = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ArtefactError(f"{what}: is not a creditpersona JSON artefact ({exc}); it is "
                            "not loaded. Re-fit the model with this version.") from None
    if not isinstance(payload, dict) or set(payload) != {"type", "format", "state"}:
        raise ArtefactError(f"{what}: is JSON but not a creditpersona artefact (it needs "
                            "exactly type, format and state); re-fit the model.")
    if payload["format"] != FORMAT:
        raise ArtefactError(f"{what}: has format {payload['format']!r}; this version reads "
                            f"{FORMAT!r} only. Re-fit the model with this version.")
    kind = payload["type"]
    try:
        if kind == "value":
            return decode(payload["state"])
        cls = _trusted_class(kind)
        return cls.from_state(payload["state"])  # type: ignore[attr-defined]
    except ArtefactError as exc:
        raise ArtefactError(f"{what}: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
