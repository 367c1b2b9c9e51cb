"""Response propensity (响应倾向): P(accept | offered) per firm and product, with LightGBM.

:class:`PropensityModel` is a binary classifier for any table (numeric and categorical
columns; text, category and boolean columns are used natively as LightGBM categoricals). How
it is built, with defaults that work without tuning to a data set:

1. **Cross-fitting with early stopping.** The training rows are split into ``cv``
   stratified folds and one booster is grown per fold on the others (``lightgbm.cv``);
   growth stops when the mean held-out AUC has not improved for ``early_stopping_rounds``
   rounds and every booster is cut at the best round, so the number of trees comes from the
   data.
2. **Bagging.** The score is the mean of the ``cv`` boosters' log-odds.
3. **Calibration.** Platt scaling fitted on the out-of-fold log-odds (each training row
   scored by the booster that did not see it), so probabilities can be multiplied by a loan's
   value. The out-of-fold AUC is kept as ``oof_auc_``.

Trees of at most 15 leaves with at least 50 rows, learning rate 0.05, 80 % row and column
subsampling.

:func:`campaign_history` builds the point-in-time training table from the store's campaign
contacts: every campaign is joined to the profile as of the last quarter end before its first
contact (assignment) date, so nothing after the contact leaks into the features.
:class:`ProductPropensity` fits one model per product on the contacted (treated) rows, and a
pooled model on all products for products with too little history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from creditpersona.errors import SchemaError, parameter_error
from creditpersona.marketing.catalogue import Catalogue, load_catalogue
from creditpersona.marketing.needs import need_signals, product_need, products_held
from creditpersona.models.base import NotFittedError
from creditpersona.store import results
from creditpersona.store.store import Store

Floats = npt.NDArray[np.float64]
OWNER = "PropensityModel"

#: Profile columns that are identifiers, dates or rendered text, never features.
NOT_FEATURES = ("firm_id", "as_of", "run_id", "engine", "statement_period_end",
                "region_code", "industry_code", "summary_zh", "summary_en", "text_top_event")
#: Profile text columns used as categoricals.
CATEGORICAL_PROFILE = ("industry_section", "industry_division", "size_class", "ownership_type")


# -- the estimator -------------------------------------------------------------------------
class PropensityModel(ClassifierMixin, BaseEstimator):
    """Cross-fitted, early-stopped, calibrated LightGBM classifier for any table.

    Parameters
    ----------
    learning_rate : float, default 0.05
    num_leaves : int, default 15
    min_child_samples : int, default 50
        Rows per leaf at least; lowered automatically to a tenth of the rows on small tables.
    subsample, colsample : float, default 0.8
        Share of rows (per tree) and columns (per tree) each tree sees.
    cv : int, default 4
        Folds of the cross-fitting.
    early_stopping_rounds : int, default 50
    max_rounds : int, default 2000
    n_jobs : int, default 1
        LightGBM threads.
    random_state : int, default 0
        Seeds the folds and LightGBM; same seed and threads, same model.

    Attributes
    ----------
    feature_names_in_ : numpy.ndarray
    categories_ : dict
        Categorical column → categories seen in ``fit`` (others become missing).
    boosters_ : list of lightgbm.Booster
    best_rounds_ : int
    calibration_ : tuple of float
        Platt slope and intercept on the mean log-odds.
    oof_score_ : numpy.ndarray
        Out-of-fold log-odds of the training rows.
    oof_auc_ : float
        AUC of the out-of-fold scores on the training rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=1500),
    ...                   "colour": rng.choice(["red", "blue", "green"], 1500)})
    >>> y = (rng.random(1500) < expit(X["x"] + (X["colour"] == "red") - 1.5)).astype(int)
    >>> model = PropensityModel(random_state=0).fit(X, y)
    >>> p = model.predict_proba(X.head(3))[:, 1]
    >>> bool(((p > 0) & (p < 1)).all()), bool(model.oof_auc_ > 0.7)
    (True, True)
    """

    def __init__(self, *, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 50, subsample: float = 0.8, colsample: float = 0.8,
                 cv: int = 4, early_stopping_rounds: int = 50, max_rounds: int = 2000,
                 n_jobs: int = 1, random_state: int = 0) -> None:
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample = colsample
        self.cv = cv
        self.early_stopping_rounds = early_stopping_rounds
        self.max_rounds = max_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("learning_rate", _is_num(self.learning_rate) and 0 < self.learning_rate <= 1,
             "a float in (0, 1]"),
            ("num_leaves", _is_int(self.num_leaves) and self.num_leaves >= 2, "an int ≥ 2"),
            ("min_child_samples", _is_int(self.min_child_samples) and self.min_child_samples >= 1,
             "an int ≥ 1"),
            ("subsample", _is_num(self.subsample) and 0 < self.subsample <= 1,
             "a float in (0, 1]"),
            ("colsample", _is_num(self.colsample) and 0 < self.colsample <= 1,
             "a float in (0, 1]"),
            ("cv", _is_int(self.cv) and self.cv >= 2, "an int ≥ 2"),
            ("early_stopping_rounds", _is_int(self.early_stopping_rounds)
             and self.early_stopping_rounds >= 1, "an int ≥ 1"),
            ("max_rounds", _is_int(self.max_rounds) and self.max_rounds >= 1, "an int ≥ 1"),
            ("n_jobs", _is_int(self.n_jobs) and self.n_jobs >= 1, "an int ≥ 1"),
            ("random_state", _is_int(self.random_state) and 0 <= self.random_state < 2**31,
             "an int in [0, 2**31)"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise parameter_error(name, OWNER, expected, getattr(self, name))

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> PropensityModel:
        """Learn the boosters and the calibration from ``X`` and binary ``y``.

        Raises
        ------
        ConfigurationError
            For an invalid parameter.
        SchemaError
            If ``X`` is not a DataFrame, ``y`` is not 0/1 of the same length, or a class has
            fewer rows than ``cv``.
        """
        self._check_params()
        if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
            raise SchemaError(f"{OWNER}.fit needs X as a pandas DataFrame with at least one "
                              "column.")
        labels = np.asarray(y)
        if labels.shape != (len(X),) or not np.isin(labels, (0, 1)).all():
            raise SchemaError(f"{OWNER}.fit needs y as {len(X)} values of 0 or 1.")
        labels = labels.astype(np.int64)
        smaller = int(min(labels.sum(), labels.size - labels.sum()))
        if smaller < self.cv:
            raise SchemaError(f"{OWNER}.fit needs at least cv={self.cv} rows of each class; "
                              f"the rarer class has {smaller}.")
        weight = (np.ones(len(X)) if sample_weight is None
                  else np.asarray(sample_weight, dtype=float))
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_ = {}
        for c in X.columns:
            if not _is_numeric(X[c]):
                values = X[c].dropna().astype(str).unique()
                self.categories_[str(c)] = sorted(values.tolist())
        self.classes_ = np.array([0, 1])
        data = self._frame(X)
        min_leaf = int(max(5, min(self.min_child_samples, len(X) // 10)))
        params = {
            "objective": "binary", "metric": "auc", "verbose": -1,
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": min_leaf, "feature_fraction": self.colsample,
            "bagging_fraction": self.subsample, "bagging_freq": 1 if self.subsample < 1 else 0,
            "num_threads": self.n_jobs, "seed": self.random_state, "deterministic": True,
            "force_row_wise": True, "min_data_per_group": min(100, min_leaf * 2),
            "cat_smooth": 10.0, "feature_pre_filter": False,
        }
        folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
                     .split(np.zeros(len(labels)), labels))
        train = lgb.Dataset(data, labels, weight=weight, free_raw_data=False)
        result = lgb.cv(params, train, num_boost_round=self.max_rounds, folds=folds,
                        callbacks=[lgb.early_stopping(self.early_stopping_rounds,
                                                      verbose=False)],
                        return_cvbooster=True)
        cvb = cast(lgb.CVBooster, result["cvbooster"])
        self.best_rounds_ = int(cvb.best_iteration)
        self.boosters_ = list(cvb.boosters)
        oof = np.empty(len(labels))
        for booster, (_, held) in zip(self.boosters_, folds, strict=True):
            oof[held] = booster.predict(data.iloc[held], raw_score=True,
                                        num_iteration=self.best_rounds_)
        self.oof_score_ = oof
        self.oof_auc_ = float(roc_auc_score(labels, oof, sample_weight=weight))
        self.calibration_ = _platt(oof, labels, weight)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, Any] = {}
        for c in X.columns:
            name = str(c)
            if name in self.categories_:
                text = X[c].astype("string").astype(object)
                known = text.isin(self.categories_[name])
                out[name] = pd.Categorical(text.where(known, None),
                                           categories=self.categories_[name])
            else:
                out[name] = pd.to_numeric(X[c], errors="coerce").astype("float64")
        return pd.DataFrame(out, index=X.index)

    def _check(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"This {OWNER} instance is not fitted yet; call fit(X, y) "
                                 "first.")
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"{OWNER} needs X as a pandas DataFrame; got "
                              f"{type(X).__name__}.")
        names = list(self.feature_names_in_)
        missing = [n for n in names if n not in X.columns]
        if missing:
            raise SchemaError(f"X lacks the columns {OWNER} was fitted on: {missing[:10]}.")
        return self._frame(X[names])

    def decision_function(self, X: pd.DataFrame) -> Floats:
        """Mean raw log-odds of the boosters (before calibration)."""
        data = self._check(X)
        return np.mean([b.predict(data, raw_score=True, num_iteration=self.best_rounds_)
                        for b in self.boosters_], axis=0)

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Calibrated probabilities, n × 2 (column 1: the positive class)."""
        score = self.decision_function(X)
        a, b = self.calibration_
        p = expit(a * score + b)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the calibrated probability is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def feature_importance(self) -> pd.Series:
        """Mean total gain per feature over the boosters, largest first."""
        if not hasattr(self, "boosters_"):
            raise NotFittedError(f"This {OWNER} instance is not fitted yet.")
        gains = np.mean([b.feature_importance("gain") for b in self.boosters_], axis=0)
        return pd.Series(gains, index=list(self.feature_names_in_)).sort_values(
            ascending=False)


def _platt(score: Floats, y: npt.NDArray[np.int64], w: Floats) -> tuple[float, float]:
    def loss(ab: Floats) -> float:
        z = ab[0] * score + ab[1]
        return float(-np.sum(w * (y * log_expit(z) + (1 - y) * log_expit(-z))) / w.sum())

    res = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B",
                   bounds=[(0.0, None), (None, None)])
    return float(res.x[0]), float(res.x[1])


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


# -- point-in-time campaign history -------------------------------------------------------
def quarter_end_before(day: dt.date) -> dt.date:
    """The last quarter end strictly before ``day``.

    Examples
    --------
    >>> quarter_end_before(dt.date(2024, 3, 12)), quarter_end_before(dt.date(2024, 4, 1))
    (datetime.date(2023, 12, 31), datetime.date(2024, 3, 31))
    """
    quarter_start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return quarter_start - dt.timedelta(days=1)


def marketing_features(
    pairs: pd.DataFrame,
    profile: pd.DataFrame,
    held: pd.DataFrame,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Features of firm × product rows: the firm's profile and its need for the product.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``firm_id`` and ``product`` per row.
    profile : pandas.DataFrame
        One row per firm (a stored or computed profile).
    held : pandas.DataFrame
        Products held per firm (:func:`~creditpersona.marketing.needs.products_held`).

    Returns
    -------
    pandas.DataFrame
        Same rows as ``pairs``: every numeric profile feature, the categorical
        ``industry_section``, ``industry_division``, ``size_class``, ``ownership_type``, and
        per row ``product_need`` (signalled needs the product serves), ``holds_product``,
        ``products_held`` and ``peer_share`` (see :func:`peer_share`).
    """
    cat = catalogue or load_catalogue()
    prof = profile.drop_duplicates("firm_id").copy()
    prof["firm_id"] = prof["firm_id"].astype(str)
    if "industry_code" in prof.columns:
        prof["industry_division"] = prof["industry_code"].astype("string").str[:3]
    keep = [c for c in prof.columns if c not in NOT_FEATURES
            and (c in CATEGORICAL_PROFILE or _is_numeric(prof[c]))]
    prof = prof.set_index("firm_id")
    firm = pairs["firm_id"].astype(str).to_numpy()
    product = pairs["product"].astype(str).to_numpy()
    out = prof[keep].reindex(firm).reset_index(drop=True)
    for c in keep:
        if c not in CATEGORICAL_PROFILE:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    need = product_need(need_signals(profile, cat), cat)
    codes = {p: i for i, p in enumerate(need.columns)}
    need_matrix = need.reindex(firm).to_numpy(dtype=float)
    col = np.array([codes.get(p, -1) for p in product])
    rows = np.arange(len(firm))
    held_matrix = held.reindex(firm, fill_value=False).to_numpy(dtype=bool)
    held_cols = {p: i for i, p in enumerate(held.columns)}
    hcol = np.array([held_cols.get(p, -1) for p in product])
    extra = pd.DataFrame({
        "product_need": np.where(col >= 0, need_matrix[rows, np.maximum(col, 0)], np.nan),
        "holds_product": np.where(hcol >= 0, held_matrix[rows, np.maximum(hcol, 0)],
                                  False).astype(float),
        "products_held": held_matrix.sum(axis=1).astype(float),
        "peer_share": peer_share(prof, held).reindex(
            pd.MultiIndex.from_arrays([firm, product])).to_numpy(dtype=float),
    })
    out = pd.concat([out, extra], axis=1)
    out.index = pairs.index
    return out


def peer_share(profile: pd.DataFrame, held: pd.DataFrame, smoothing: float = 10.0) -> pd.Series:
    """How common each product is among a firm's industry peers (look-alike adoption).

    The share of the firms of the firm's GB/T 4754 division that hold the product, shrunk
    towards the section's share with ``smoothing`` pseudo-firms. A firm counts itself.

    Parameters
    ----------
    profile : pandas.DataFrame
        Index ``firm_id`` with ``industry_division`` and ``industry_section``.
    held : pandas.DataFrame
        Products held per firm.

    Returns
    -------
    pandas.Series
        Indexed by (firm_id, product).
    """
    firms = profile.index
    h = held.reindex(index=firms, fill_value=False).astype(float)
    division = profile["industry_division"].fillna("?").astype(str).to_numpy()
    section = profile["industry_section"].fillna("?").astype(str).to_numpy()
    by_sec = h.groupby(section).transform("mean")
    div_sum = h.groupby(division).transform("sum")
    div_n = pd.Series(division).map(pd.Series(division).value_counts()).to_numpy()[:, None]
    share = (div_sum.to_numpy() + smoothing * by_sec.to_numpy()) / (div_n + smoothing)
    out = cast(pd.Series, pd.DataFrame(share, index=firms, columns=h.columns).stack())
    out.index.names = ["firm_id", "product"]
    return out


ProfileSource = Callable[[dt.date], pd.DataFrame]


def stored_or_computed_profile(store: Store) -> ProfileSource:
    """A function giving the profile as of a date: the stored one if the store has that date,
    else computed on the fly (and not stored)."""
    from creditpersona.profile.build import PROFILES, compute_profile, load_profile

    def source(as_of: dt.date) -> pd.DataFrame:
        if results.exists(store, PROFILES, as_of):
            return load_profile(store, as_of)
        return compute_profile(store, as_of).frame

    return source


def campaign_history(
    store: Store,
    *,
    before: dt.date | None = None,
    profile_source: ProfileSource | None = None,
    catalogue: Catalogue | None = None,
) -> pd.DataFrame:
    """Every campaign contact with point-in-time features.

    Each campaign is joined to the profile as of the last quarter end before its first
    contact (or assignment) date and to the products each firm held on that date.

    Parameters
    ----------
    store : Store
    before : datetime.date, optional
        Only campaigns whose last contact is on or before this date (default: all).
    profile_source : callable, optional
        ``as_of → profile``; default :func:`stored_or_computed_profile`.
    catalogue : Catalogue, optional

    Returns
    -------
    pandas.DataFrame
        ``campaign_id, firm_id, product, channel, contact_date, treated, responded,
        amount_taken, snapshot`` and the columns of :func:`marketing_features`.
    """
    cat = catalogue or load_catalogue()
    contacts = store.table("campaign_contacts").drop("load_id").to_pandas()
    if contacts.empty:
        return contacts
    contacts["contact_date"] = pd.to_datetime(contacts["contact_date"]).dt.date
    span = contacts.groupby("campaign_id")["contact_date"].agg(["min", "max"])
    if before is not None:
        span = span[span["max"] <= before]
    source = profile_source or stored_or_computed_profile(store)
    parts = []
    for campaign_id, row in span.sort_values("min").iterrows():
        snapshot = quarter_end_before(row["min"])
        part = contacts[contacts["campaign_id"] == campaign_id].reset_index(drop=True)
        profile = source(snapshot)
        held = products_held(store, snapshot)
        feats = marketing_features(part[["firm_id", "product"]], profile, held, cat)
        part["snapshot"] = snapshot
        parts.append(pd.concat([part, feats], axis=1))
    out = pd.concat(parts, ignore_index=True)
    out["treated"] = out["treated"].astype(bool)
    out["responded"] = out["responded"].astype(bool)
    return out


HISTORY_COLUMNS = ("campaign_id", "firm_id", "product", "channel", "contact_date", "treated",
                   "responded", "amount_taken", "snapshot", "load_id")


def feature_columns(frame: pd.DataFrame, pooled: bool = False) -> list[str]:
    """The feature columns of a :func:`campaign_history` or :func:`marketing_features` frame."""
    return [c for c in frame.columns if c not in HISTORY_COLUMNS
            and (pooled or c != "product")]


# -- one model per product -----------------------------------------------------------------
class ProductPropensity(BaseEstimator):
    """P(accept | offered) per product: one :class:`PropensityModel` per product with enough
    contacted rows, and a pooled model over all products for the others.

    Parameters
    ----------
    min_responses : int, default 30
        A product gets its own model when its contacted rows hold at least this many
        responses and non-responses and the model's out-of-fold AUC beats the pooled model's
        out-of-fold AUC on the same rows; otherwise the pooled model scores it.
    params : mapping, optional
        Parameters of every :class:`PropensityModel`.

    Attributes
    ----------
    models_ : dict
        Product → fitted model; ``"_pooled"`` is the pooled one.
    metrics_ : pandas.DataFrame
        Per model: contacted rows, responses, the out-of-fold AUC, the pooled model's
        out-of-fold AUC on the same rows and whether the product model is used.
    """

    POOLED = "_pooled"

    def __init__(self, *, min_responses: int = 30,
                 params: Mapping[str, Any] | None = None) -> None:
        self.min_responses = min_responses
        self.params = params

    def fit(self, history: pd.DataFrame) -> ProductPropensity:
        """Fit on a :func:`campaign_history` frame (its contacted rows)."""
        if not _is_int(self.min_responses) or self.min_responses < 4:
            raise parameter_error("min_responses", "ProductPropensity", "an int ≥ 4",
                                  self.min_responses)
        contacted = history[history["treated"].astype(bool)]
        self.features_ = feature_columns(contacted)
        params = dict(self.params or {})
        self.models_: dict[str, PropensityModel] = {}
        rows = []
        y_all = contacted["responded"].astype(int).to_numpy()
        self.models_[self.POOLED] = PropensityModel(**params).fit(
            contacted[self.features_], y_all)
        pooled = self.models_[self.POOLED]
        rows.append({"model": self.POOLED, "contacted": len(contacted),
                     "responses": int(y_all.sum()), "oof_auc": pooled.oof_auc_,
                     "pooled_oof_auc": pooled.oof_auc_, "used": True})
        products = contacted["product"].astype(str).to_numpy()
        for product in np.unique(products):
            mine = products == product
            part = contacted[mine]
            y = y_all[mine]
            if min(y.sum(), y.size - y.sum()) < self.min_responses:
                continue
            model = PropensityModel(**params).fit(part[self.features_], y)
            pooled_auc = ranking_auc(y, pooled.oof_score_[mine])
            used = bool(model.oof_auc_ > pooled_auc)
            if used:
                self.models_[product] = model
            rows.append({"model": product, "contacted": len(part), "responses": int(y.sum()),
                         "oof_auc": model.oof_auc_, "pooled_oof_auc": pooled_auc,
                         "used": used})
        self.metrics_ = pd.DataFrame(rows)
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_accept`` and ``propensity_model`` (which model scored) for every row of a
        frame with ``product`` and the feature columns."""
        if not hasattr(self, "models_"):
            raise NotFittedError("This ProductPropensity instance is not fitted yet.")
        p = np.full(len(frame), np.nan)
        source = np.full(len(frame), self.POOLED, dtype=object)
        products = frame["product"].astype(str).to_numpy()
        for product in np.unique(products):
            mask = products == product
            name = product if product in self.models_ else self.POOLED
            p[mask] = self.models_[name].predict_proba(frame.loc[mask, self.features_])[:, 1]
            source[mask] = name
        return pd.DataFrame({"p_accept": p, "propensity_model": source}, index=frame.index)


def ranking_auc(y: Sequence[int] | npt.ArrayLike, score: npt.ArrayLike) -> float:
    """ROC AUC, or NaN when only one class is present.

    Examples
    --------
    >>> ranking_auc([0, 1, 1], [0.1, 0.8, 0.4]), ranking_auc([1, 1], [0.2, 0.3])
    (1.0, nan)
    """
    labels = np.asarray(y)
    if np.unique(labels).size < 2:
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(score)))
