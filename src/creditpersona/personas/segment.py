"""Persona segmentation: a mixed-type mixture model over the customer profile.

Each firm is described by numeric features (by default the five dimension scores and a few
business-model ratios) and categorical ones (by default the industry section). Numeric
features are rank-transformed to a standard normal (robust to the heavy tails of financial
ratios) and modelled per persona by independent normals; a missing value drops out of the
likelihood instead of being imputed. Each categorical feature has its own distribution per
persona, so a persona may span several industries. The model is fitted by EM, started from
k-means.

The number of personas is chosen within ``[k_min, k_max]`` from two measurements made on
the same sample: internal validity (silhouette of the embedded firms) and bootstrap
stability (mean adjusted Rand index between the labelling of the sample and the labelling
by a model refitted on a bootstrap resample), and actionability (held-out fidelity of a
shallow decision tree imitating the personas). The chosen ``k`` maximises
``stability × silhouette / best silhouette × fidelity`` among the ``k`` whose stability
and fidelity reach ``min_stability`` and ``min_fidelity`` (if none does, among all);
Calinski–Harabasz and BIC are reported beside them (BIC keeps falling with ``k`` on
profiles of real size, so it cannot choose on its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import QuantileTransformer
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import NotFittedError
from creditpersona.models.params import (
    Check,
    Constraint,
    Int,
    OrNone,
    Real,
    validate_params,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: The five profile dimension scores (0–100).
SCORE_COLUMNS: tuple[str, ...] = (
    "scale_score", "financial_score", "credit_score", "urgency_score", "willingness_score",
)
#: Business-model features the default segmentation adds to the five scores.
DEFAULT_FEATURES: tuple[str, ...] = (
    *SCORE_COLUMNS,
    "log_revenue", "log_employees", "firm_age_years", "debt_to_assets", "gross_margin",
    "net_margin", "revenue_growth", "capex_intensity", "asset_turnover", "receivable_days",
    "inventory_days", "current_ratio", "late_share", "early_share", "top3_share",
    "seasonality_index", "leverage_trend",
)
DEFAULT_CATEGORIES: dict[str, float] = {"industry_section": 1.0}
_CLIP = 3.0  # rank-normal values beyond ±3 sd carry no extra information about a persona


def add_derived_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The profile with the derived features the segmentation can use.

    ``log_revenue``, ``log_total_assets``, ``log_employees`` (``log(1 + x)`` of non-negative
    values), ``asset_turnover`` (revenue / total assets, missing unless assets are positive)
    and ``industry_division`` (section letter and two digits). A derived column is added
    only when its sources exist and it is not already there.

    Examples
    --------
    >>> f = pd.DataFrame({"revenue": [200.0, 0.0], "total_assets": [100.0, 0.0]})
    >>> add_derived_features(f)["asset_turnover"].tolist()
    [2.0, nan]
    """
    out = frame.copy()

    def have(*cols: str) -> bool:
        return all(c in out.columns for c in cols)

    for name, src in (("log_revenue", "revenue"), ("log_total_assets", "total_assets"),
                      ("log_employees", "employees")):
        if name not in out.columns and have(src):
            out[name] = np.log1p(pd.to_numeric(out[src], errors="coerce").clip(lower=0))
    if "asset_turnover" not in out.columns and have("revenue", "total_assets"):
        assets = pd.to_numeric(out["total_assets"], errors="coerce")
        out["asset_turnover"] = pd.to_numeric(out["revenue"], errors="coerce") / assets.where(
            assets > 0)
    if "industry_division" not in out.columns and have("industry_code"):
        out["industry_division"] = out["industry_code"].astype("string").str[:3]
    return out


@artefacts.trusted("persona_mixture")
@dataclass
class _Mixture:
    """Parameters of a fitted mixture (persona ``j`` is row ``j``)."""

    mean: Floats                # k × d, rank-normal units
    var: Floats                 # k × d
    log_theta: list[Floats]     # per categorical feature: k × levels
    log_weight: Floats          # k
    log_likelihood: float
    n_iter: int


class _Data:
    """Numeric and categorical inputs in the shapes EM needs, computed once."""

    def __init__(self, z: Floats, codes: list[Ints], levels: list[int],
                 cat_weights: list[float]) -> None:
        observed = ~np.isnan(z)
        self.n, self.d = z.shape
        self.mask = observed.astype(np.float64)
        self.z = np.where(observed, z, 0.0)
        self.z2 = self.z ** 2
        self.cat_weights = cat_weights
        self.onehot = [
            sp.csr_matrix((np.ones(int((c >= 0).sum())), (np.flatnonzero(c >= 0), c[c >= 0])),
                          shape=(self.n, n_levels))
            for c, n_levels in zip(codes, levels, strict=True)
        ]

    def subset(self, rows: Ints) -> _Data:
        out = object.__new__(_Data)
        out.n, out.d = len(rows), self.d
        out.mask, out.z, out.z2 = self.mask[rows], self.z[rows], self.z2[rows]
        out.cat_weights = self.cat_weights
        out.onehot = [m[rows] for m in self.onehot]
        return out

    def embedding(self) -> Floats:
        """Numeric values (missing at the centre) beside the weighted one-hot categories."""
        parts = [self.z] + [np.asarray(m.todense()) * w
                            for m, w in zip(self.onehot, self.cat_weights, strict=True)]
        return np.hstack(parts)

    def log_joint(self, mix: _Mixture) -> Floats:
        """n × k: log weight + log density of each firm under each persona."""
        inv = 1.0 / mix.var
        ll = -0.5 * (self.mask @ np.log(2.0 * np.pi * mix.var).T
                     + self.z2 @ inv.T - 2.0 * self.z @ (mix.mean * inv).T
                     + self.mask @ (mix.mean ** 2 * inv).T)
        for m, lt, w in zip(self.onehot, mix.log_theta, self.cat_weights, strict=True):
            ll += w * np.asarray(m @ lt.T)
        return np.asarray(ll + mix.log_weight, dtype=np.float64)


def _m_step(data: _Data, resp: Floats, var_floor: float) -> _Mixture:
    count = resp.T @ data.mask + 1e-9
    mean = (resp.T @ data.z) / count
    var = np.maximum((resp.T @ data.z2) / count - mean ** 2, var_floor)
    log_theta = []
    for m in data.onehot:
        counts = np.asarray((m.T @ resp).T) + 1.0  # Laplace smoothing: no level is impossible
        log_theta.append(np.log(counts / counts.sum(axis=1, keepdims=True)))
    weight = resp.sum(axis=0) + 1e-9
    return _Mixture(mean, var, log_theta, np.log(weight / weight.sum()), -np.inf, 0)


def _em(data: _Data, k: int, seed: int, var_floor: float, max_iter: int, tol: float,
        start: _Mixture | None = None, n_init: int = 1) -> _Mixture:
    """EM from ``start``, else the best of ``n_init`` runs started from k-means."""
    if start is None and n_init > 1:
        runs = [_em(data, k, seed + 1000 * i, var_floor, max_iter, tol) for i in range(n_init)]
        return max(runs, key=lambda m: m.log_likelihood)
    if start is None:
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(data.embedding())
        resp = np.eye(k)[km.labels_]
        mix = _m_step(data, resp, var_floor)
    else:
        mix = start
    previous = -np.inf
    for it in range(1, max_iter + 1):
        ll = data.log_joint(mix)
        total = logsumexp(ll, axis=1)
        resp = np.exp(ll - total[:, None])
        current = float(total.sum())
        mix = _m_step(data, resp, var_floor)
        mix.log_likelihood, mix.n_iter = current, it
        if current - previous <= tol * abs(current):
            break
        previous = current
    return mix


def _tree_fidelity(data: _Data, labels: Ints, depth: int | None, seed: int) -> float:
    """Held-out accuracy of a depth-limited tree imitating ``labels``.

    The tree sees the rank-normal values (splits on them are splits on the raw features, the
    transform being monotone) with missing values kept missing, and the category indicators.
    """
    if depth is None or len(np.unique(labels)) < 2:
        return float("nan")
    X = np.hstack([np.where(data.mask > 0, data.z, np.nan)]
                  + [np.asarray(m.todense()) for m in data.onehot])
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    X_tr, X_te, y_tr, y_te = train_test_split(X, labels, test_size=0.3, stratify=stratify,
                                              random_state=seed)
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=max(1, len(y_tr) // 100),
                                  random_state=seed).fit(X_tr, y_tr)
    return float(tree.score(X_te, y_te))


def _n_parameters(mix: _Mixture) -> int:
    k, d = mix.mean.shape
    return 2 * k * d + sum(k * (lt.shape[1] - 1) for lt in mix.log_theta) + k - 1


def _is_feature_list(value: object) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(f, str) for f in value) and len(set(value)) == len(value))


def _is_category_weights(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(w, int | float) and not isinstance(w, bool) and 0 <= w <= 10
        for w in value.values())


@artefacts.trusted("persona_segmenter")
class PersonaSegmenter(ClusterMixin, BaseEstimator):
    """Segment firms into personas and assign new firms.

    Parameters
    ----------
    features : sequence of str, optional
        Numeric profile columns (default :data:`DEFAULT_FEATURES`); derived features of
        :func:`add_derived_features` are computed when missing.
    categories : mapping of str to float, optional
        Categorical columns and the weight of their log-likelihood (default
        ``{"industry_section": 1.0}``); a weight of 0 leaves a column out.
    k_min, k_max : int
        The range of the number of personas to choose from.
    n_personas : int, optional
        Fit exactly this many personas (no selection).
    n_bootstrap : int
        Bootstrap refits per candidate ``k`` for the stability measurement.
    n_init : int
        EM runs (from different k-means starts) per fit; the most likely one is kept.
    surrogate_depth : int, optional
        Personas are only useful if rules a business user can read reproduce them: the
        choice of ``k`` also weighs the held-out fidelity of a decision tree of this depth
        (None: ignore it).
    min_stability : float
        Candidates whose bootstrap ARI is below this are only chosen if none reaches it.
    min_fidelity : float
        Likewise for the fidelity of the depth-``surrogate_depth`` tree (a business
        requirement: personas that rules cannot reproduce cannot be used).
    sample_size : int
        At most this many firms (drawn at random) are used to choose ``k``; the final
        model is then refitted on all firms from the chosen model.
    var_floor : float
        Smallest variance of a feature within a persona (rank-normal units).
    max_iter : int
        EM iterations at most.
    tol : float
        Relative log-likelihood improvement below which EM stops.
    random_state : int
        Seed of every random draw: same data and seed, same personas.

    Attributes
    ----------
    n_personas_ : int
        The number of personas fitted.
    centroids_ : pandas.DataFrame
        Mean of each persona (rows) on each feature (columns), rank-normal units.
    selection_ : pandas.DataFrame
        Per candidate ``k``: ``silhouette``, ``calinski_harabasz``, ``bic``,
        ``bootstrap_ari``, ``fidelity`` (of a depth-``surrogate_depth`` tree), ``score`` and
        ``chosen``.
    labels_ : numpy.ndarray
        The persona of each training firm (0 is the largest persona).
    stability_ : float
        Bootstrap ARI of the chosen ``k`` (NaN when ``n_personas`` was given).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": np.r_[rng.normal(0, 1, 60), rng.normal(6, 1, 60)],
    ...                   "b": np.r_[rng.normal(0, 1, 60), rng.normal(6, 1, 60)],
    ...                   "sector": ["C"] * 60 + ["F"] * 60})
    >>> seg = PersonaSegmenter(features=["a", "b"], categories={"sector": 1.0},
    ...                        k_min=2, k_max=3, n_bootstrap=2).fit(X)
    >>> seg.n_personas_, np.bincount(seg.predict(X)).tolist()
    (2, [60, 60])
    """

    def __init__(
        self,
        *,
        features: Sequence[str] | None = None,
        categories: Mapping[str, float] | None = None,
        k_min: int = 4,
        k_max: int = 9,
        n_personas: int | None = None,
        n_bootstrap: int = 5,
        n_init: int = 2,
        surrogate_depth: int | None = 4,
        min_stability: float = 0.8,
        min_fidelity: float = 0.9,
        sample_size: int = 20_000,
        var_floor: float = 0.05,
        max_iter: int = 300,
        tol: float = 1e-6,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.categories = categories
        self.k_min = k_min
        self.k_max = k_max
        self.n_personas = n_personas
        self.n_bootstrap = n_bootstrap
        self.n_init = n_init
        self.surrogate_depth = surrogate_depth
        self.min_stability = min_stability
        self.min_fidelity = min_fidelity
        self.sample_size = sample_size
        self.var_floor = var_floor
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "features": OrNone(Check(_is_feature_list, "a non-empty list of distinct column names")),
        "categories": OrNone(Check(_is_category_weights,
                                   "a mapping of column name to a weight in [0, 10]")),
        "k_min": Int(2),
        "k_max": Int(2),
        "n_personas": OrNone(Int(1)),
        "n_bootstrap": Int(0),
        "n_init": Int(1),
        "surrogate_depth": OrNone(Int(1)),
        "min_stability": Real(0, 1),
        "min_fidelity": Real(0, 1),
        "sample_size": Int(50),
        "var_floor": Real(1e-6, 1),
        "max_iter": Int(1),
        "tol": Real(0, 1),
        "random_state": Int(0),
    }

    # -- parameters ------------------------------------------------------------------------
    def _validated(self) -> dict[str, Any]:
        """The parameters, checked, with their defaults filled in."""
        validate_params(self)
        if self.k_max < self.k_min:
            raise parameter_error("k_max", type(self).__name__,
                                  f"an integer ≥ k_min ({self.k_min})", self.k_max)
        categories = dict(DEFAULT_CATEGORIES if self.categories is None else self.categories)
        return {
            "k_min": int(self.k_min), "k_max": int(self.k_max),
            "n_personas": None if self.n_personas is None else int(self.n_personas),
            "features": list(DEFAULT_FEATURES if self.features is None else self.features),
            "categories": {c: float(w) for c, w in categories.items() if w > 0},
            "n_bootstrap": int(self.n_bootstrap), "n_init": int(self.n_init),
            "surrogate_depth": (None if self.surrogate_depth is None
                                else int(self.surrogate_depth)),
            "sample_size": int(self.sample_size),
            "max_iter": int(self.max_iter), "random_state": int(self.random_state),
            "min_stability": float(self.min_stability), "var_floor": float(self.var_floor),
            "min_fidelity": float(self.min_fidelity),
            "tol": float(self.tol),
        }

    # -- inputs ----------------------------------------------------------------------------
    def _frame(self, X: object, features: list[str], categories: list[str],
               during: str) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"PersonaSegmenter.{during} needs X as a pandas DataFrame (a "
                              f"profile); got {type(X).__name__}.")
        sources = {"revenue", "total_assets", "employees", "industry_code"}
        wanted = [c for c in X.columns if c in sources or c in features or c in categories]
        frame = add_derived_features(X[wanted])
        missing = [c for c in [*features, *categories] if c not in frame.columns]
        if missing:
            raise SchemaError(f"PersonaSegmenter.{during}: the profile has no column(s) "
                              f"{missing}; profile the firms first or change the features.")
        if len(frame) == 0:
            raise SchemaError(f"PersonaSegmenter.{during} needs at least one firm; X is empty.")
        return frame

    def _data(self, frame: pd.DataFrame) -> _Data:
        values = frame[self.features_].apply(pd.to_numeric, errors="coerce")
        values = values.astype("float64").replace([np.inf, -np.inf], np.nan)
        z = self.transformer_.transform(values.to_numpy())
        z = np.clip(z, -_CLIP, _CLIP) / self.scale_
        codes = []
        for c, levels in self.category_levels_.items():
            values = frame[c].astype("object").where(frame[c].notna(), None).astype(str)
            known = values.where(values.isin(levels))  # an unseen level is no evidence
            codes.append(pd.Categorical(known, categories=levels).codes.astype(np.int64))
        return _Data(z, codes, [len(v) for v in self.category_levels_.values()],
                     list(self.categories_.values()))

    def _require_fitted(self) -> None:
        if not hasattr(self, "mixture_"):
            raise NotFittedError("This PersonaSegmenter is not fitted yet; call fit first.")

    # -- fit -------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: object = None) -> PersonaSegmenter:
        """Choose the number of personas, fit them, and label the training firms.

        Parameters
        ----------
        X : pandas.DataFrame
            The profile, one row per firm.
        y : ignored

        Returns
        -------
        PersonaSegmenter
            ``self``.

        Raises
        ------
        ConfigurationError
            If a parameter is invalid (the message names it).
        SchemaError
            If ``X`` is not a DataFrame or lacks a feature column.
        """
        p = self._validated()
        frame = self._frame(X, p["features"], list(p["categories"]), "fit")
        # The products here are tall and thin (firms × a few dozen columns); multi-threaded
        # BLAS only adds synchronisation on them, which costs 10–50× on a busy machine.
        with threadpool_limits(limits=1):
            return self._fit(frame, p)

    def _fit(self, frame: pd.DataFrame, p: dict[str, Any]) -> PersonaSegmenter:
        n = len(frame)
        k_max = min(p["k_max"], n - 1) if p["n_personas"] is None else p["n_personas"]
        if p["n_personas"] is None and k_max < p["k_min"]:
            raise SchemaError(f"PersonaSegmenter.fit: {n} firms cannot be split into "
                              f"{p['k_min']}–{p['k_max']} personas; give more firms.")
        if p["n_personas"] is not None and p["n_personas"] > n:
            raise SchemaError(f"PersonaSegmenter.fit: {n} firms cannot be split into "
                              f"{p['n_personas']} personas.")
        self.features_ = p["features"]
        self.categories_ = p["categories"]
        values = frame[self.features_].apply(pd.to_numeric, errors="coerce")
        values = values.astype("float64").replace([np.inf, -np.inf], np.nan)
        self.transformer_ = QuantileTransformer(
            n_quantiles=min(1000, n), output_distribution="normal", subsample=100_000,
            random_state=p["random_state"]).fit(values.to_numpy())
        z = np.clip(self.transformer_.transform(values.to_numpy()), -_CLIP, _CLIP)
        scale = np.nanstd(z, axis=0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.category_levels_ = {
            c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in self.categories_
        }
        data = self._data(frame)
        rng = np.random.default_rng(p["random_state"])
        rows = np.sort(rng.choice(n, p["sample_size"], replace=False)) \
            if n > p["sample_size"] else np.arange(n)
        sample = data.subset(rows)
        candidates = [p["n_personas"]] if p["n_personas"] is not None \
            else list(range(p["k_min"], k_max + 1))
        fits, table = self._select(sample, candidates, p, rng)
        chosen = int(table.loc[table["chosen"], "k"].iloc[0])
        mix = fits[chosen]
        if len(rows) < n:
            mix = _em(data, chosen, p["random_state"], p["var_floor"], p["max_iter"],
                      p["tol"], start=mix)
        mix = self._ordered(mix, data)
        self.mixture_ = mix
        self.n_personas_ = chosen
        self.selection_ = table
        self.stability_ = float(table.loc[table["chosen"], "bootstrap_ari"].iloc[0])
        self.labels_ = data.log_joint(mix).argmax(axis=1).astype(np.int64)
        self.centroids_ = pd.DataFrame(mix.mean * self.scale_, columns=self.features_,
                                       index=pd.RangeIndex(chosen, name="persona"))
        self.n_features_in_ = len(self.features_)
        self.bic_ = float(-2 * mix.log_likelihood + _n_parameters(mix) * np.log(n))
        return self

    def _select(self, sample: _Data, candidates: list[int], p: dict[str, Any],
                rng: np.random.Generator) -> tuple[dict[int, _Mixture], pd.DataFrame]:
        fits: dict[int, _Mixture] = {}
        rows = []
        embedded = sample.embedding()
        seed = p["random_state"]
        for k in candidates:
            mix = _em(sample, k, seed, p["var_floor"], p["max_iter"], p["tol"],
                      n_init=p["n_init"])
            fits[k] = mix
            labels = sample.log_joint(mix).argmax(axis=1)
            distinct = len(np.unique(labels))
            valid = 1 < distinct < sample.n
            sil = float(silhouette_score(embedded, labels, sample_size=min(sample.n, 5000),
                                         random_state=seed)) if valid else float("nan")
            ch = float(calinski_harabasz_score(embedded, labels)) if valid else float("nan")
            aris = []
            for b in range(p["n_bootstrap"]):
                draw = np.asarray(rng.integers(0, sample.n, size=sample.n), dtype=np.int64)
                boot = sample.subset(draw)
                refit = _em(boot, k, seed + b + 1, p["var_floor"], p["max_iter"], p["tol"],
                            n_init=p["n_init"])
                aris.append(adjusted_rand_score(labels, sample.log_joint(refit).argmax(axis=1)))
            rows.append({
                "k": k, "silhouette": sil, "calinski_harabasz": ch,
                "bic": -2 * mix.log_likelihood + _n_parameters(mix) * np.log(sample.n),
                "bootstrap_ari": float(np.mean(aris)) if aris else float("nan"),
                "fidelity": _tree_fidelity(sample, labels, p["surrogate_depth"], seed),
                "empty_personas": k - distinct,
            })
        table = pd.DataFrame(rows)
        silhouette = table["silhouette"].clip(lower=0).fillna(0.0)
        best = float(silhouette.max())
        stability = table["bootstrap_ari"].fillna(1.0)
        table["score"] = (stability * (silhouette / best if best > 0 else 1.0)
                          * table["fidelity"].fillna(1.0))
        eligible = ((stability >= p["min_stability"])
                    & (table["fidelity"].fillna(1.0) >= p["min_fidelity"])
                    & (table["empty_personas"] == 0))
        pool = table[eligible] if eligible.any() else table
        table["chosen"] = table.index == pool["score"].idxmax()
        return fits, table

    @staticmethod
    def _ordered(mix: _Mixture, data: _Data) -> _Mixture:
        """Personas numbered by size, largest first, so labels do not depend on EM order."""
        sizes = np.bincount(data.log_joint(mix).argmax(axis=1), minlength=len(mix.log_weight))
        order = np.lexsort((np.arange(len(sizes)), -sizes))
        return _Mixture(mix.mean[order], mix.var[order], [lt[order] for lt in mix.log_theta],
                        mix.log_weight[order], mix.log_likelihood, mix.n_iter)

    # -- use -------------------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Posterior probability of each persona for each firm (n × ``n_personas_``).

        Unknown category levels (an industry not seen in training) count as no evidence.
        """
        self._require_fitted()
        data = self._data(self._frame(X, self.features_, list(self.categories_), "predict"))
        with threadpool_limits(limits=1):
            ll = data.log_joint(self.mixture_)
        return np.asarray(np.exp(ll - logsumexp(ll, axis=1)[:, None]), dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> Ints:
        """The persona (0 … ``n_personas_`` − 1) of each firm."""
        self._require_fitted()
        data = self._data(self._frame(X, self.features_, list(self.categories_), "predict"))
        with threadpool_limits(limits=1):
            return data.log_joint(self.mixture_).argmax(axis=1).astype(np.int64)

    def embed(self, X: pd.DataFrame) -> Floats:
        """The firms in the segmentation space (for silhouette and centroid distances)."""
        self._require_fitted()
        data = self._data(self._frame(X, self.features_, list(self.categories_), "embed"))
        return data.embedding()

    def fit_predict(self, X: pd.DataFrame, y: object = None) -> Ints:
        """Fit and return the training firms' personas."""
        return self.fit(X).labels_

    def score(self, X: pd.DataFrame, y: object = None) -> float:
        """Mean log-likelihood per firm under the mixture (higher fits better), as
        scikit-learn's ``GaussianMixture.score``; ``y`` is ignored.

        Only comparable between models fitted on the same features and categories.
        """
        self._require_fitted()
        data = self._data(self._frame(X, self.features_, list(self.categories_), "score"))
        with threadpool_limits(limits=1):
            ll = data.log_joint(self.mixture_)
        return float(logsumexp(ll, axis=1).mean())
