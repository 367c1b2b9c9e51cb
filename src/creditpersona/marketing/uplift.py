"""Uplift models (增量响应模型) and their evaluation: Qini curve, Qini coefficient, uplift@k.

Where a campaign kept a random control group, the quantity worth ranking on is the
*uplift* P(respond | contacted) − P(respond | not contacted): a firm that takes the loan
anyway (a "sure thing") is a wasted contact. Two learners:

- :class:`TwoModelUplift` (T-learner): one :class:`~creditpersona.marketing.propensity.
  PropensityModel` on the treated rows, one on the control rows; uplift = difference.
- :class:`ClassTransformationUplift` (Jaśkowski & Jaroszewicz 2012): the transformed label
  Z = Y·T + (1 − Y)(1 − T) satisfies uplift = 2 P(Z = 1) − 1 when treatment and control are
  equally likely; with an unequal split (campaigns hold back about 20 %) the rows are weighted
  by 1 / (2 P(T = t)) so that both groups weigh half, which restores the identity.

Metrics, on rows ranked by a score (highest first), with ``n_t(k), r_t(k)`` the treated rows
and responses among the top ``k`` rows and ``n_c(k), r_c(k)`` the control ones:

- **Qini curve** (Radcliffe 2007): incremental responses
  ``Q(k) = r_t(k) − r_c(k) · n_t(k) / n_c(k)`` against the share of rows targeted; random
  targeting gives the straight line to ``Q(n)``.
- **Qini coefficient**: the area between the Qini curve and the random line, with both axes
  as shares (x: rows targeted / n, y: Q / n), so it reads in units of uplift; 0 is random.
- **uplift@k**: treated minus control response rate among the top share ``k``;
  **incremental@k**: ``Q`` at share ``k`` and its ratio to random targeting's ``k · Q(n)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.marketing.propensity import MODEL_PARAMS, PropensityModel
from creditpersona.models.base import NotFittedError
from creditpersona.models.params import Constraint, validate_params

Floats = npt.NDArray[np.float64]


def _inputs(y: npt.ArrayLike, treatment: npt.ArrayLike,
            score: npt.ArrayLike | None = None) -> tuple[Floats, npt.NDArray[np.bool_], Floats]:
    yy = np.asarray(y, dtype=float)
    tt = np.asarray(treatment).astype(bool)
    ss = np.zeros(yy.size) if score is None else np.asarray(score, dtype=float)
    if not (yy.shape == tt.shape == ss.shape) or yy.ndim != 1:
        raise SchemaError("y, treatment and score must be one-dimensional and of the same "
                          f"length; got {yy.shape}, {tt.shape}, {ss.shape}.")
    if not np.isin(yy, (0.0, 1.0)).all():
        raise SchemaError("y must hold 0 or 1 only.")
    return yy, tt, ss


def qini_curve(y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike,
               points: int | None = 100) -> pd.DataFrame:
    """The Qini curve of a ranking.

    Parameters
    ----------
    y, treatment, score : array-like
        Outcome (0/1), treatment flag and the uplift score (higher = target first).
    points : int or None, default 100
        Evaluate at this many equally spaced shares (and 0); None: after every row.

    Returns
    -------
    pandas.DataFrame
        ``share`` targeted, ``targeted`` rows, ``incremental`` responses Q and ``random``
        (the random-targeting line).

    Examples
    --------
    >>> q = qini_curve([1, 0, 1, 0], [1, 1, 0, 0], [0.9, 0.8, 0.1, 0.2], points=None)
    >>> q["incremental"].tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    yy, tt, ss = _inputs(y, treatment, score)
    order = np.argsort(-ss, kind="stable")
    yt = np.cumsum((yy * tt)[order])
    yc = np.cumsum((yy * ~tt)[order])
    nt = np.cumsum(tt[order])
    nc = np.cumsum(~tt[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(nc > 0, yt - yc * nt / np.maximum(nc, 1), yt)
    n = yy.size
    q = np.concatenate([[0.0], q])
    targeted = np.arange(n + 1)
    if points is not None:
        idx = np.unique(np.round(np.linspace(0, n, points + 1)).astype(int))
        q, targeted = q[idx], targeted[idx]
    share = targeted / max(n, 1)
    return pd.DataFrame({"share": share, "targeted": targeted, "incremental": q,
                         "random": share * (q[-1] if q.size else 0.0)})


def qini_coefficient(y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area between the Qini curve and random targeting, in uplift units (0 = random).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.random(4000) < 0.5
    >>> x = rng.random(4000)
    >>> y = (rng.random(4000) < 0.1 + 0.3 * t * (x > 0.5)).astype(int)
    >>> bool(qini_coefficient(y, t, x) > 0.01), bool(qini_coefficient(y, t, -x) < -0.01)
    (True, True)
    """
    curve = qini_curve(y, treatment, score, points=None)
    n = max(int(curve["targeted"].iloc[-1]), 1)
    gap = (curve["incremental"] - curve["random"]).to_numpy() / n
    return float(np.trapezoid(gap, curve["share"].to_numpy()))


def uplift_at_k(y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike,
                k: float = 0.2) -> float:
    """Treated minus control response rate among the top share ``k`` of rows.

    NaN when the top rows hold no treated or no control row.

    Examples
    --------
    >>> uplift_at_k([1, 0, 1, 0], [1, 0, 1, 0], [4, 3, 2, 1], k=0.5)
    1.0
    """
    if not 0 < k <= 1:
        raise parameter_error("k", "uplift_at_k", "a share in (0, 1]", k)
    yy, tt, ss = _inputs(y, treatment, score)
    top = np.argsort(-ss, kind="stable")[:max(1, int(np.ceil(k * yy.size)))]
    yt, yc = yy[top][tt[top]], yy[top][~tt[top]]
    if yt.size == 0 or yc.size == 0:
        return float("nan")
    return float(yt.mean() - yc.mean())


def incremental_at_k(y: npt.ArrayLike, treatment: npt.ArrayLike, score: npt.ArrayLike,
                     k: float = 0.2) -> tuple[float, float]:
    """Incremental responses Q captured in the top share ``k``, and their ratio to random
    targeting's ``k · Q(all)`` (NaN when the campaign as a whole has no uplift).

    Examples
    --------
    >>> incremental_at_k([1, 0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0],
    ...                  [8, 1, 2, 3, 0.5, 4, 5, 6], k=0.25)
    (1.0, nan)
    """
    if not 0 < k <= 1:
        raise parameter_error("k", "incremental_at_k", "a share in (0, 1]", k)
    curve = qini_curve(y, treatment, score, points=None)
    n = int(curve["targeted"].iloc[-1])
    at = int(np.ceil(k * n))
    q_k = float(curve["incremental"].iloc[at])
    total = float(curve["incremental"].iloc[-1])
    ratio = q_k / (k * total) if total > 0 else float("nan")
    return q_k, ratio


# -- learners ------------------------------------------------------------------------------
class _UpliftBase(BaseEstimator):
    """What both learners share: ``params``, input checks and :meth:`score`.

    ``fit(X, y, treatment)`` and ``score(X, y, treatment)`` take the treatment flag as
    metadata; to cross-validate (``cross_val_score(..., params={"treatment": t})``) enable
    scikit-learn's metadata routing and request it:
    ``learner.set_fit_request(treatment=True).set_score_request(treatment=True)``.
    """

    params: Mapping[str, Any] | None
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {"params": MODEL_PARAMS}

    def predict_uplift(self, X: pd.DataFrame) -> Floats:
        raise NotImplementedError

    def score(self, X: pd.DataFrame, y: npt.ArrayLike, treatment: npt.ArrayLike) -> float:
        """The Qini coefficient of ranking ``X`` by predicted uplift (0 = random targeting;
        higher is better), see :func:`qini_coefficient`."""
        return qini_coefficient(y, treatment, self.predict_uplift(X))

    def _data(self, X: object, y: npt.ArrayLike,
              treatment: npt.ArrayLike) -> tuple[pd.DataFrame, npt.NDArray[np.int64],
                                                  npt.NDArray[np.bool_]]:
        validate_params(self)
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"{type(self).__name__}.fit needs X as a pandas DataFrame.")
        yy, tt, _ = _inputs(y, treatment)
        if len(X) != yy.size:
            raise SchemaError(f"X has {len(X)} rows but y has {yy.size}.")
        if tt.all() or not tt.any():
            raise SchemaError(f"{type(self).__name__}.fit needs treated and control rows.")
        return X, yy.astype(np.int64), tt

    def _model(self) -> PropensityModel:
        return PropensityModel(**dict(self.params or {}))

    def _require(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call "
                                 "fit(X, y, treatment) first.")


@artefacts.trusted("marketing_two_model_uplift")
class TwoModelUplift(_UpliftBase):
    """T-learner: separate response models for the treated and the control rows.

    Parameters
    ----------
    params : mapping, optional
        Parameters of both :class:`~creditpersona.marketing.propensity.PropensityModel`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame({"x": rng.random(4000)})
    >>> t = rng.random(4000) < 0.5
    >>> y = (rng.random(4000) < 0.1 + 0.3 * t * (X["x"] > 0.5)).astype(int)
    >>> u = TwoModelUplift().fit(X, y, t).predict_uplift(X)
    >>> bool(u[X["x"] > 0.6].mean() > u[X["x"] < 0.4].mean() + 0.15)
    True
    """

    def __init__(self, *, params: Mapping[str, Any] | None = None) -> None:
        self.params = params

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike, treatment: npt.ArrayLike,
            groups: npt.ArrayLike | None = None) -> TwoModelUplift:
        """Fit the treated and the control model (``groups``, e.g. the firm of each row:
        each arm's cross-fitting keeps a group in one fold, so that
        :meth:`out_of_fold_uplift` is out of fold by firm)."""
        X, yy, tt = self._data(X, y, treatment)
        g = None if groups is None else np.asarray(groups)
        if g is not None and g.shape[0] != tt.size:
            raise SchemaError(f"groups has {g.shape[0]} rows but X has {tt.size}.")
        self.treated_model_ = self._model().fit(X[tt], yy[tt],
                                                groups=None if g is None else g[tt])
        self.control_model_ = self._model().fit(X[~tt], yy[~tt],
                                                groups=None if g is None else g[~tt])
        return self

    def predict_uplift(self, X: pd.DataFrame) -> Floats:
        """P(respond | treated) − P(respond | control) per row."""
        self._require("treated_model_")
        treated, control = self.treated_model_, self.control_model_
        data = treated.matrix(X)          # one matrix for both arms when they read the same
        other = data if treated.same_inputs(control) else control.matrix(X)
        return treated.proba_matrix(data) - control.proba_matrix(other)

    def out_of_fold_uplift(self, X: pd.DataFrame, treatment: npt.ArrayLike) -> Floats:
        """The uplift of the training rows, each predicted by models that never saw it.

        The arm models are cross-fitted (:class:`~creditpersona.marketing.propensity.
        PropensityModel`), so a treated row's P(respond | treated) is the calibrated
        out-of-fold score of the treated model, and its P(respond | control) comes from the
        control model, which never saw a treated row (the other way round for a control
        row). So one fit measures the learner out of fold, with no refit.

        Parameters
        ----------
        X : pandas.DataFrame
            The rows :meth:`fit` was given, in the same order.
        treatment : array-like of bool
            Their treatment flags, as given to :meth:`fit`.

        Raises
        ------
        SchemaError
            If the rows are not those the models were fitted on (counts per arm differ).

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> X = pd.DataFrame({"x": rng.random(4000)})
        >>> t = rng.random(4000) < 0.5
        >>> y = (rng.random(4000) < 0.1 + 0.3 * t * (X["x"] > 0.5)).astype(int)
        >>> u = TwoModelUplift().fit(X, y, t).out_of_fold_uplift(X, t)
        >>> bool(u[X["x"] > 0.6].mean() > u[X["x"] < 0.4].mean() + 0.15)
        True
        >>> bool(qini_coefficient(y, t, u) > 0)
        True
        """
        self._require("treated_model_")
        tt = np.asarray(treatment).astype(bool)
        arms = ((self.treated_model_, tt), (self.control_model_, ~tt))
        if len(X) != tt.size or any(m.oof_score_.size != int(rows.sum()) for m, rows in arms):
            raise SchemaError("out_of_fold_uplift needs the rows and treatment flags the "
                              "learner was fitted on (the counts per arm differ).")
        own = np.empty(tt.size)
        other = np.empty(tt.size)
        for model, rows in arms:
            a, b = model.calibration_
            own[rows] = expit(a * model.oof_score_ + b)
        other[tt] = self.control_model_.predict_proba(X[tt])[:, 1]
        other[~tt] = self.treated_model_.predict_proba(X[~tt])[:, 1]
        return np.where(tt, own - other, other - own)


class ClassTransformationUplift(_UpliftBase):
    """Class-transformation learner with treatment-balancing weights.

    Parameters
    ----------
    params : mapping, optional
        Parameters of the :class:`~creditpersona.marketing.propensity.PropensityModel`.

    Attributes
    ----------
    treated_share_ : float
        Share of treated rows in the training data (the weights use it).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> X = pd.DataFrame({"x": rng.random(5000)})
    >>> t = rng.random(5000) < 0.8
    >>> y = (rng.random(5000) < 0.1 + 0.3 * t * (X["x"] > 0.5)).astype(int)
    >>> u = ClassTransformationUplift().fit(X, y, t).predict_uplift(X)
    >>> bool(u[X["x"] > 0.6].mean() > u[X["x"] < 0.4].mean() + 0.1)
    True
    """

    def __init__(self, *, params: Mapping[str, Any] | None = None) -> None:
        self.params = params

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike,
            treatment: npt.ArrayLike) -> ClassTransformationUplift:
        """Fit one classifier on the transformed label Z, rows weighted to balance T."""
        X, yy, tt = self._data(X, y, treatment)
        self.treated_share_ = float(tt.mean())
        z = np.where(tt, yy, 1 - yy)
        weight = np.where(tt, 0.5 / self.treated_share_, 0.5 / (1 - self.treated_share_))
        self.model_ = self._model().fit(X, z, sample_weight=weight)
        return self

    def predict_uplift(self, X: pd.DataFrame) -> Floats:
        """2 P(Z = 1 | x) − 1 per row."""
        self._require("model_")
        return np.asarray(2 * self.model_.predict_proba(X)[:, 1] - 1, dtype=float)


UPLIFT_LEARNERS: dict[str, type[TwoModelUplift] | type[ClassTransformationUplift]] = {
    "two_model": TwoModelUplift,
    "class_transformation": ClassTransformationUplift,
}
