"""Calibration of a model's PDs to observed default rates (score-to-PD mapping).

A rating model ranks well long before its probabilities are right: a WoE scorecard fitted on
a pooled, strongly separating sample is typically over-confident at both ends. Banks
therefore calibrate the score to the observed default rates of the development sample
before assigning grades. The mapping used here is a logistic regression of the outcome on a
low-order polynomial of the model's log-odds::

    PD = sigmoid(a + b1·z + b2·z²),   z = logit(model PD), clipped to the range seen in fit

It has three parameters, so fitting it on tens of thousands of out-of-fold scores adds
almost no optimism, and it stays monotone: ``z`` is clipped to the central 99.8 % of the
values seen in fit and, for a parabola, at its vertex (the curve is flat beyond); if the
vertex lies inside the central 90 % of the scores, a straight line (Platt scaling) is used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import Floats, Ints, PDEstimator

_EPS = 1e-7
#: Share of scores at each end clipped to the next one (the curve is flat beyond them).
_TAIL = 0.001


@artefacts.trusted("logit_calibration")
class LogitCalibration:
    """Monotone polynomial-in-log-odds calibration of PDs.

    Parameters
    ----------
    degree : {1, 2}, default 2
        Highest power of the log-odds (1 is Platt scaling).

    Attributes
    ----------
    degree_ : int
        The degree used (1 if the parabola would turn inside the central 90 % of scores).
    intercept_ : float
    coef_ : numpy.ndarray
        Coefficients of z, z², …
    z_range_ : tuple of float
        The 0.1 % and 99.9 % quantiles of the log-odds seen in fit; inputs are clipped to
        them, so the mapping is flat beyond.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(-4, 1.5, 20000)
    >>> y = (rng.uniform(size=z.size) < expit(0.5 + 0.7 * z)).astype(int)
    >>> cal = LogitCalibration(degree=1).fit(expit(z), y)
    >>> round(cal.intercept_, 1), round(float(cal.coef_[0]), 1)
    (0.5, 0.7)
    """

    def __init__(self, degree: int = 2) -> None:
        self.degree = degree

    def fit(self, pd_: Floats, y: Ints) -> LogitCalibration:
        """Fit the mapping on PDs and outcomes (1 = default)."""
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or not (
                1 <= self.degree <= 2):
            raise parameter_error("degree", "LogitCalibration", "1 or 2",
                                  self.degree)
        p = np.asarray(pd_, dtype=np.float64)
        target = np.asarray(y, dtype=np.int64)
        if p.shape != target.shape or not np.isfinite(p).all() or set(np.unique(target)) != {
                0, 1}:
            raise SchemaError("LogitCalibration.fit needs finite PDs and outcomes of both "
                              "classes, of the same length.")
        z = logit(np.clip(p, _EPS, 1 - _EPS))
        # The curve is fitted and checked where the scores are, not on a few outliers.
        low, high = np.quantile(z, [_TAIL, 1 - _TAIL])
        self.z_range_ = (float(low), float(high))
        z = np.clip(z, low, high)
        model = LogisticRegression(C=1e6, max_iter=2000)
        degree = self.degree
        if degree == 2:
            model.fit(_powers(z, 2), target)
            b1, b2 = (float(v) for v in model.coef_[0])
            # A parabola turns at its vertex: cut the range there (the curve is flat beyond),
            # unless that would flatten more than the outer 5 % of the scores.
            vertex = -b1 / (2 * b2) if b2 != 0 else np.inf
            q05, q95 = np.quantile(z, [0.05, 0.95])
            if b2 < 0 and vertex < high:
                degree = 2 if vertex > q95 and b1 + 2 * b2 * low > 0 else 1
                high = min(high, vertex)
            elif b2 > 0 and vertex > low:
                degree = 2 if vertex < q05 and b1 + 2 * b2 * high > 0 else 1
                low = max(low, vertex)
        if degree == 1:
            low, high = self.z_range_
            model.fit(_powers(z, 1), target)
            if model.coef_[0][0] <= 0:
                raise SchemaError("LogitCalibration: the PDs do not rise with the default rate "
                                  "(slope ≤ 0); the model does not rank.")
        self.z_range_ = (float(low), float(high))
        intercept = float(model.intercept_[0])
        coef = np.asarray(model.coef_[0], dtype=np.float64)
        self.degree_ = degree
        self.intercept_ = intercept
        self.coef_ = coef
        return self

    def transform(self, pd_: Floats) -> Floats:
        """The calibrated PD of every input PD."""
        if not hasattr(self, "coef_"):
            raise SchemaError("LogitCalibration is not fitted; call fit first.")
        z = np.clip(logit(np.clip(np.asarray(pd_, dtype=np.float64), _EPS, 1 - _EPS)),
                    *self.z_range_)
        return np.asarray(expit(self.intercept_ + _powers(z, self.degree_) @ self.coef_),
                          dtype=np.float64)


def _powers(z: Floats, degree: int) -> Floats:
    return np.column_stack([z**k for k in range(1, degree + 1)])


@artefacts.trusted("calibrated_pd")
class CalibratedPD:
    """A fitted PD estimator followed by its :class:`LogitCalibration`.

    The estimator's ranking, points and reason codes are unchanged; only its probabilities
    are mapped. This is what the pipeline registers and applies.
    """

    def __init__(self, estimator: PDEstimator, calibration: LogitCalibration) -> None:
        self.estimator = estimator
        self.calibration = calibration

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.estimator.feature_names_in_

    def predict_pd(self, X: pd.DataFrame) -> Floats:
        """Calibrated PD of every row of ``X``."""
        return self.calibration.transform(self.estimator.predict_pd(X))

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Probabilities of no default (column 0) and default (column 1)."""
        p = self.predict_pd(X)
        return np.column_stack([1.0 - p, p])

    def explain(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The estimator's reason codes (the calibration is monotone, so they still hold)."""
        return self.estimator.explain(X, top=top)
