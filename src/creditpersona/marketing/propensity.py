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
subsampling, growth stopped after 20 rounds without gain. The patience of 20 rounds is for
speed (the marketing stage fits about twenty of these models every quarter, and the best
round is typically 20–40, so most of the trees grown with a patience of 50 were cut off
again): on the campaign history of a 20,000-firm synthetic bank the models fit in half the
time, the same best rounds and out-of-fold AUC for the models the stage uses
(docs/marketing-speed.md).

:class:`ProductPropensity` fits one model per product on the contacted (treated) rows of a
campaign history (:mod:`creditpersona.marketing.history`), and a pooled model on all products
for products with too little history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from creditpersona import artefacts
from creditpersona.errors import SchemaError
from creditpersona.models.base import NotFittedError
from creditpersona.models.folds import stratified_group_folds
from creditpersona.models.params import Check, Constraint, Int, OrNone, Real, validate_params

Floats = npt.NDArray[np.float64]
OWNER = "PropensityModel"


# -- the estimator -------------------------------------------------------------------------
@artefacts.trusted("marketing_propensity_model")
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
    early_stopping_rounds : int, default 20
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
                 cv: int = 4, early_stopping_rounds: int = 20, max_rounds: int = 2000,
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

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "learning_rate": Real(0, 1, low_open=True),
        "num_leaves": Int(2),
        "min_child_samples": Int(1),
        "subsample": Real(0, 1, low_open=True),
        "colsample": Real(0, 1, low_open=True),
        "cv": Int(2),
        "early_stopping_rounds": Int(1),
        "max_rounds": Int(1),
        "n_jobs": Int(1),
        "random_state": Int(0, 2**31 - 1),
    }

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None,
            groups: npt.ArrayLike | None = None) -> PropensityModel:
        """Learn the boosters and the calibration from ``X`` and binary ``y``.

        ``groups`` (e.g. the firm of each row): the cross-fitting keeps a group's rows in
        one fold (:func:`~creditpersona.models.folds.stratified_group_folds`), so that the
        out-of-fold scores never come from a booster that saw the same firm.

        Raises
        ------
        ConfigurationError
            For an invalid parameter.
        SchemaError
            If ``X`` is not a DataFrame, ``y`` is not 0/1 of the same length, or a class has
            fewer rows than ``cv``.
        """
        validate_params(self)
        labels = _binary_labels(X, y, OWNER)
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
        if groups is None:
            folds = list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
                         .split(np.zeros(len(labels)), labels))
        else:
            folds = stratified_group_folds(labels, np.asarray(groups), self.cv,
                                           self.random_state)
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

    def matrix(self, X: pd.DataFrame) -> Floats:
        """The float matrix the boosters score: the fitted columns of ``X``, a categorical
        as its code among the fitted categories (unknown or missing: NaN)."""
        return _matrix(self._check(X))

    def same_inputs(self, other: PropensityModel) -> bool:
        """Whether ``other`` scores the same :meth:`matrix` (same columns and categories),
        so one matrix serves both."""
        return (list(self.feature_names_in_) == list(other.feature_names_in_)
                and self.categories_ == other.categories_)

    def decision_function(self, X: pd.DataFrame) -> Floats:
        """Mean raw log-odds of the boosters (before calibration)."""
        return self.score_matrix(self.matrix(X))   # converted once for all the boosters

    def score_matrix(self, data: Floats) -> Floats:
        """:meth:`decision_function` of a :meth:`matrix`."""
        return np.mean([b.predict(data, raw_score=True, num_iteration=self.best_rounds_)
                        for b in self.boosters_], axis=0)

    def proba_matrix(self, data: Floats) -> Floats:
        """The calibrated probability of the positive class of each row of a
        :meth:`matrix`."""
        a, b = self.calibration_
        return np.asarray(expit(a * self.score_matrix(data) + b), dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Calibrated probabilities, n × 2 (column 1: the positive class)."""
        p = self.proba_matrix(self.matrix(X))
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


def _matrix(data: pd.DataFrame) -> Floats:
    """The float matrix LightGBM makes of a :meth:`PropensityModel._frame`: numbers as they
    are, a categorical as its code (missing: NaN). The frame's categories are the ones the
    boosters were trained on, so the codes are theirs."""
    out = np.empty(data.shape, dtype=np.float64)
    for j, c in enumerate(data.columns):
        s = data[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = s.to_numpy(dtype=np.float64)
    return out


def _platt(score: Floats, y: npt.NDArray[np.int64], w: Floats) -> tuple[float, float]:
    def loss(ab: Floats) -> float:
        z = ab[0] * score + ab[1]
        return float(-np.sum(w * (y * log_expit(z) + (1 - y) * log_expit(-z))) / w.sum())

    res = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B",
                   bounds=[(0.0, None), (None, None)])
    return float(res.x[0]), float(res.x[1])


def _binary_labels(X: object, y: npt.ArrayLike, owner: str) -> npt.NDArray[np.int64]:
    """``y`` as 0/1 integers, after checking ``X`` is a DataFrame with a column and ``y``
    holds one 0 or 1 per row."""
    if not isinstance(X, pd.DataFrame) or X.shape[1] == 0:
        raise SchemaError(f"{owner}.fit needs X as a pandas DataFrame with at least one "
                          "column.")
    labels = np.asarray(y)
    if labels.shape != (len(X),) or not np.isin(labels, (0, 1)).all():
        raise SchemaError(f"{owner}.fit needs y as {len(X)} values of 0 or 1.")
    return labels.astype(np.int64)


def is_model_params(value: object) -> bool:
    """Whether ``value`` maps parameter names of :class:`PropensityModel` to values.

    Examples
    --------
    >>> is_model_params({"random_state": 3}), is_model_params({"trees": 3})
    (True, False)
    """
    names = PropensityModel._parameter_constraints
    return isinstance(value, Mapping) and all(k in names for k in value)


#: ``params``: settings passed to every :class:`PropensityModel` (each is checked when fitted).
MODEL_PARAMS = OrNone(Check(is_model_params, "a mapping of PropensityModel parameters ("
                            + ", ".join(PropensityModel._parameter_constraints) + ")"))


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


# -- one model per product -----------------------------------------------------------------
@artefacts.trusted("marketing_product_propensity")
class ProductPropensity(ClassifierMixin, BaseEstimator):
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
    features_ : list of str
        The feature columns (every column of ``X`` but ``product``).
    models_ : dict
        Product → fitted model; ``"_pooled"`` is the pooled one.
    metrics_ : pandas.DataFrame
        Per model: contacted rows, responses, the out-of-fold AUC, the pooled model's
        out-of-fold AUC on the same rows and whether the product model is used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"product": rng.choice(["loan", "card"], 1200),
    ...                   "x": rng.normal(size=1200)})
    >>> sign = np.where(X["product"] == "loan", 2.0, -2.0)  # the products' responders differ
    >>> y = (rng.random(1200) < expit(sign * X["x"] - 1)).astype(int)
    >>> model = ProductPropensity(min_responses=100).fit(X, y)
    >>> sorted(model.models_), model.predict_proba(X.head(2)).shape
    (['_pooled', 'card', 'loan'], (2, 2))
    """

    POOLED = "_pooled"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "min_responses": Int(4),
        "params": MODEL_PARAMS,
    }

    def __init__(self, *, min_responses: int = 30,
                 params: Mapping[str, Any] | None = None) -> None:
        self.min_responses = min_responses
        self.params = params

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> ProductPropensity:
        """Fit on the contacted rows of a campaign history.

        Parameters
        ----------
        X : pandas.DataFrame
            ``product`` and the feature columns, one row per contact (e.g. the treated rows
            of :func:`~creditpersona.marketing.history.campaign_history`, columns
            ``feature_columns(history, pooled=True)``).
        y : array-like
            1 where the firm responded (took the product), else 0.

        Returns
        -------
        ProductPropensity
            ``self``.

        Raises
        ------
        ConfigurationError
            For an invalid parameter.
        SchemaError
            If ``X`` has no ``product`` column or ``y`` is not 0/1 per row.
        """
        validate_params(self)
        y_all = _binary_labels(X, y, "ProductPropensity")
        if "product" not in X.columns:
            raise SchemaError("ProductPropensity.fit needs X with a 'product' column beside "
                              "the features; got columns " f"{list(X.columns)[:10]}.")
        self.features_ = [str(c) for c in X.columns if c != "product"]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        params = dict(self.params or {})
        self.models_: dict[str, PropensityModel] = {}
        pooled = PropensityModel(**params).fit(X[self.features_], y_all)
        self.models_[self.POOLED] = pooled
        rows = [{"model": self.POOLED, "contacted": len(X), "responses": int(y_all.sum()),
                 "oof_auc": pooled.oof_auc_, "pooled_oof_auc": pooled.oof_auc_,
                 "used": True}]
        products = X["product"].astype(str).to_numpy()
        for product in np.unique(products):
            mine = products == product
            y_mine = y_all[mine]
            if min(y_mine.sum(), y_mine.size - y_mine.sum()) < self.min_responses:
                continue
            model = PropensityModel(**params).fit(X.loc[mine, self.features_], y_mine)
            pooled_auc = ranking_auc(y_mine, pooled.oof_score_[mine])
            used = bool(model.oof_auc_ > pooled_auc)
            if used:
                self.models_[product] = model
            rows.append({"model": product, "contacted": int(mine.sum()),
                         "responses": int(y_mine.sum()), "oof_auc": model.oof_auc_,
                         "pooled_oof_auc": pooled_auc, "used": used})
        self.metrics_ = pd.DataFrame(rows)
        return self

    def predict_accept(self, X: pd.DataFrame) -> pd.DataFrame:
        """``p_accept`` and ``propensity_model`` (which model scored) for every row of a
        frame with ``product`` and the feature columns."""
        if not hasattr(self, "models_"):
            raise NotFittedError("This ProductPropensity instance is not fitted yet; call "
                                 "fit(X, y) first.")
        if not isinstance(X, pd.DataFrame) or "product" not in X.columns:
            raise SchemaError("ProductPropensity needs X as a pandas DataFrame with a "
                              "'product' column and the fitted features.")
        p = np.full(len(X), np.nan)
        products = X["product"].astype(str).to_numpy()
        # the model of each row: its product's own, else the pooled one (all its rows at once)
        source = np.where(np.isin(products, list(self.models_)), products,
                          self.POOLED).astype(object)
        for name in np.unique(source):
            mask = source == name
            p[mask] = self.models_[name].predict_proba(X.loc[mask, self.features_])[:, 1]
        return pd.DataFrame({"p_accept": p, "propensity_model": source}, index=X.index)

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Probabilities of no response (column 0) and response (column 1), n × 2."""
        p = self.predict_accept(X)["p_accept"].to_numpy(dtype=np.float64)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """1 where the probability of a response is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


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
