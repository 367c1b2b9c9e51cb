"""The challenger: an early-stopped LightGBM model with calibrated probabilities.

How a :class:`BoostedPD` is built (documented defaults that work on any numeric table):

1. **Early stopping.** The number of trees is chosen from the data — a few dozen on noisy
   tables, a hundred or more on the Polish bankruptcy ratios — instead of a fixed count
   that overfits one and underfits the other. With ``validation="holdout"`` (the default)
   one stratified fold of ``cv`` is held out, a booster grown on the rest stops when the
   held-out AUC has not improved for ``early_stopping_rounds`` rounds, and the model is one
   booster refitted on every row with a tenth more trees than the best round (it sees a
   quarter more rows). With ``validation="cross-fit"`` one booster is grown per fold, all in
   step (``lightgbm.cv``), every booster is cut at the round with the best mean held-out
   AUC, and the model averages their log-odds; it costs ``cv`` times the trees and gives
   every training row an out-of-fold score (``oof_margin_``), which the PD development
   uses as its out-of-fold validation (:mod:`~creditpersona.models.development`).
2. **Calibration** on held-out predictions: the calibrator maps log-odds to PD on scores of
   rows the scoring booster did not see. ``"sigmoid"`` (Platt scaling, the default) fits
   ``PD = 1 / (1 + exp(-(a·m + b)))`` with ``a ≥ 0``: it keeps the ranking (so the AUC),
   and reason codes stay in log-odds. ``"isotonic"`` fits a non-decreasing step function;
   it can fix any monotone miscalibration but ties scores within a step and needs many
   defaults.
3. **Monotone constraints** come from the caller: ``{"debt_to_assets": +1}`` makes the PD
   non-decreasing in that feature, ``-1`` non-increasing; unnamed features are free. They
   hold for every booster, so for the average, and both calibrators are non-decreasing.

Trees of at most 15 leaves, learning rate 0.1 and at least 10 rows per leaf are the
defaults (until 2026-12 the rate was 0.05 with 50 rounds of patience and cross-fitting:
on the Polish data that took five to ten times a plain LightGBM for the same AUC,
docs/pd-speed.md). Fits are deterministic for a given ``random_state`` (which seeds the
folds and LightGBM) and number of threads.

Reason codes (``explain``) are SHAP values from LightGBM's ``pred_contrib``, averaged over
the boosters and multiplied by the Platt slope: each feature's contribution to the firm's
calibrated log-odds of default (raw booster log-odds with the isotonic calibrator).
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
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import Floats, Ints, PDEstimator, require_both_classes
from creditpersona.models.folds import stratified_group_folds
from creditpersona.models.params import (
    LABELS,
    SEED,
    Check,
    Constraint,
    Int,
    Options,
    OrNone,
    Real,
    validate_params,
)

CALIBRATIONS = ("sigmoid", "isotonic")
VALIDATIONS = ("holdout", "cross-fit")
#: Trees of the refitted booster (``validation="holdout"``) per tree of the best held-out round.
REFIT_ROUNDS = 1.1
MONOTONE = "a dict mapping feature names of X to +1 or -1"


def _is_monotone_map(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v in (-1, 1)
        for v in value.values())



@artefacts.trusted("pd_lightgbm")
class BoostedPD(PDEstimator):
    """LightGBM challenger: cross-fitted, early-stopped, bagged and calibrated.

    Parameters
    ----------
    monotone_constraints : dict, optional
        Feature → +1 (PD rises with it) or -1 (PD falls with it); features not named are
        unconstrained. Economic sense is the caller's to supply.
    calibration : {"sigmoid", "isotonic"}, default "sigmoid"
        How out-of-fold log-odds become PDs (Platt scaling or isotonic regression).
    validation : {"holdout", "cross-fit"}, default "holdout"
        How the number of trees is chosen and the calibration fitted. ``"holdout"``: one
        stratified fold of ``cv`` is held out, a booster grown on the rest stops when its
        held-out AUC has not improved for ``early_stopping_rounds`` rounds, the calibration
        is fitted on its held-out scores, and the model is one booster refitted on every
        row with a tenth more trees than the best round. ``"cross-fit"``: one booster per
        fold, grown in step and averaged (``oof_margin_`` then covers every row); five
        times the trees, for the callers that need every row's out-of-fold score.
    learning_rate : float, default 0.1
    num_leaves : int, default 15
    min_child_samples : int, default 10
        Minimum rows in a leaf.
    max_rounds : int, default 2000
        Upper bound on trees per booster.
    early_stopping_rounds : int, default 25
        Stop when the held-out AUC (the mean over the folds when cross-fitting) has not
        improved for this many rounds.
    cv : int, default 5
        Folds: boosters when cross-fitting; with ``"holdout"``, 1/cv of the rows is held
        out.
    labels : dict, optional
        Feature → (Chinese, English) label for reason codes.
    random_state : int, optional
        Seed of the folds and of LightGBM (None means 0).
    n_jobs : int, optional
        LightGBM threads (None: LightGBM's default, all cores).

    Attributes
    ----------
    feature_names_in_ : numpy.ndarray
    boosters_ : list of lightgbm.Booster
        One per fold (cross-fit), or the one refitted on every row (holdout).
    n_rounds_ : int
        Trees used from every booster (cross-fit: the best mean held-out AUC; holdout: a
        tenth more than the best held-out round).
    cv_auc_ : float
        The held-out AUC at the best round (the mean over the folds when cross-fitting).
    calibration_slope_, calibration_intercept_ : float
        Platt's ``a`` and ``b`` (NaN with isotonic calibration).
    isotonic_ : sklearn.isotonic.IsotonicRegression or None
    oof_margin_ : numpy.ndarray or None
        The out-of-fold log-odds of every training row (from the booster whose fold held it
        out; NaN for rows not held out with ``"holdout"``), as the calibration saw them; not
        stored with the model (None once loaded).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"leverage": rng.uniform(0, 1, 3000),
    ...                   "roa": rng.normal(0.05, 0.1, 3000)})
    >>> y = (rng.uniform(size=3000) < 1 / (1 + np.exp(5 - 4 * X["leverage"]))).astype(int)
    >>> model = BoostedPD(monotone_constraints={"leverage": +1}, n_jobs=1).fit(X, y)
    >>> grid = pd.DataFrame({"leverage": np.linspace(0, 1, 50), "roa": 0.05})
    >>> bool(np.all(np.diff(model.predict_pd(grid)) >= 0))
    True
    >>> model.explain(X.head(2), top=1)["reason_1_feature"].notna().all()
    np.True_
    """

    def __init__(
        self,
        *,
        monotone_constraints: Mapping[str, int] | None = None,
        calibration: str = "sigmoid",
        validation: str = "holdout",
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        max_rounds: int = 2000,
        early_stopping_rounds: int = 25,
        cv: int = 5,
        labels: Mapping[str, tuple[str, str]] | None = None,
        random_state: int | None = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.monotone_constraints = monotone_constraints
        self.calibration = calibration
        self.validation = validation
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.cv = cv
        self.labels = labels
        self.random_state = random_state
        self.n_jobs = n_jobs

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "monotone_constraints": OrNone(Check(_is_monotone_map, MONOTONE)),
        "calibration": Options(CALIBRATIONS),
        "validation": Options(VALIDATIONS),
        "learning_rate": Real(0, 1, low_open=True),
        "num_leaves": Int(2, 131072),
        "min_child_samples": Int(1),
        "max_rounds": Int(1),
        "early_stopping_rounds": Int(1),
        "cv": Int(2),
        "labels": LABELS,
        "random_state": SEED,
        "n_jobs": OrNone(Int(1)),
    }

    def _settings(self, names: Sequence[str]) -> dict[str, Any]:
        """The validated parameters as LightGBM and the folds take them.

        The monotone constraints must name features of ``X``, so they are checked here,
        after ``X``, rather than by :func:`~creditpersona.models.params.validate_params`.
        """
        constraints = self.monotone_constraints or {}
        unknown = sorted(str(k) for k in constraints if k not in set(names))
        if unknown:
            raise parameter_error("monotone_constraints", type(self).__name__,
                                  f"{MONOTONE} (not features of X: {unknown})",
                                  self.monotone_constraints)
        return {
            "learning_rate": float(self.learning_rate), "num_leaves": int(self.num_leaves),
            "min_child_samples": int(self.min_child_samples),
            "max_rounds": int(self.max_rounds),
            "early_stopping_rounds": int(self.early_stopping_rounds), "cv": int(self.cv),
            "seed": 0 if self.random_state is None else int(self.random_state),
            "threads": 0 if self.n_jobs is None else int(self.n_jobs),
            "monotone": [int(constraints.get(n, 0)) for n in names],
        }

    def fit(self, X: pd.DataFrame, y: Sequence[int] | Ints | pd.Series,
            groups: Sequence[object] | npt.NDArray[Any] | pd.Series | None = None
            ) -> BoostedPD:
        """Grow the cross-fitted boosters and calibrate them on their out-of-fold scores.

        Parameters
        ----------
        X : pandas.DataFrame
            Numeric and categorical features; NaN is a missing value (LightGBM learns where
            it goes). Categorical features (text or pandas ``category``) are split as
            categories; a category ``fit`` never saw is scored as missing.
        y : array-like
            1 for a default, 0 otherwise.
        groups : array-like, optional
            A group per row (e.g. the firm of a firm-date): rows of one group are never
            split across the folds (scikit-learn's ``StratifiedGroupKFold`` with
            ``random_state``), so ``oof_margin_`` is out of sample for the group too.

        Returns
        -------
        BoostedPD
            The fitted model (``self``).

        Raises
        ------
        ConfigurationError
            If a parameter is invalid (the message names it).
        SchemaError
            If ``X`` is not numeric or ``y`` not binary with ``cv`` rows of each class.
        """
        validate_params(self)
        values, target = self._check_training_data(X, y)
        p = self._settings(list(self.feature_names_in_))
        require_both_classes(target, p["cv"], "the cross-fitting (cv)")

        params = {
            "objective": "binary", "metric": "auc", "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"], "min_child_samples": p["min_child_samples"],
            "seed": p["seed"], "deterministic": True, "force_col_wise": True,
            "num_threads": p["threads"], "verbose": -1,
        }
        if any(p["monotone"]):
            params["monotone_constraints"] = p["monotone"]
        folds = _folds(values, target, groups, p["cv"], p["seed"])
        grow = self._cross_fit if self.validation == "cross-fit" else self._hold_out
        out_of_fold = grow(params, values, target, folds, p)
        held = ~np.isnan(out_of_fold)
        self.oof_margin_: Floats | None = out_of_fold
        self.isotonic_: IsotonicRegression | None = None
        if self.calibration == "sigmoid":
            self.calibration_slope_, self.calibration_intercept_ = _platt(
                out_of_fold[held], target[held])
        else:
            self.calibration_slope_ = self.calibration_intercept_ = float("nan")
            self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True,
                                                out_of_bounds="clip").fit(out_of_fold[held],
                                                                          target[held])
        self.threads_ = p["threads"]
        return self

    def _dataset(self, values: Floats, target: Ints) -> lgb.Dataset:
        # LightGBM rejects some characters in feature names; the booster sees positions.
        # Categorical features arrive as category codes (PDEstimator) and are split as
        # categories, as LightGBM does with a pandas ``category`` column.
        return lgb.Dataset(values, label=target, feature_name=_positional(values.shape[1]),
                           categorical_feature=self._categorical_columns() or "auto")

    def _cross_fit(self, params: dict[str, Any], values: Floats, target: Ints,
                   folds: list[tuple[Ints, Ints]], p: dict[str, Any]) -> Floats:
        """One booster per fold, grown in step; returns every row's out-of-fold log-odds."""
        result = lgb.cv(params, self._dataset(values, target), num_boost_round=p["max_rounds"],
                        folds=folds, return_cvbooster=True,
                        callbacks=[lgb.early_stopping(p["early_stopping_rounds"],
                                                      verbose=False)])
        cv_booster = cast(lgb.CVBooster, result["cvbooster"])
        self.n_rounds_ = int(cv_booster.best_iteration)
        self.cv_auc_ = float(cast(list[float], result["valid auc-mean"])[self.n_rounds_ - 1])
        self.boosters_ = list(cv_booster.boosters)
        out_of_fold = np.empty(target.size, dtype=np.float64)
        for (_, held_out), booster in zip(folds, self.boosters_, strict=True):
            out_of_fold[held_out] = booster.predict(values[held_out], raw_score=True,
                                                    num_iteration=self.n_rounds_)
        return out_of_fold

    def _hold_out(self, params: dict[str, Any], values: Floats, target: Ints,
                  folds: list[tuple[Ints, Ints]], p: dict[str, Any]) -> Floats:
        """Early stopping on the first fold, then one booster refitted on every row; returns
        the held-out rows' log-odds (NaN elsewhere)."""
        train, held_out = folds[0]
        fit_set = self._dataset(values[train], target[train])
        valid = fit_set.create_valid(values[held_out], label=target[held_out])
        probe = lgb.train(params, fit_set, num_boost_round=p["max_rounds"], valid_sets=[valid],
                          callbacks=[lgb.early_stopping(p["early_stopping_rounds"],
                                                        verbose=False)])
        best = int(probe.best_iteration) or int(probe.current_iteration())
        self.cv_auc_ = float(probe.best_score["valid_0"]["auc"])
        out_of_fold = np.full(target.size, np.nan)
        out_of_fold[held_out] = probe.predict(values[held_out], raw_score=True,
                                              num_iteration=best)
        # The refit sees cv/(cv-1) times the rows: a tenth more trees than the best round.
        self.n_rounds_ = min(p["max_rounds"], max(1, int(best * REFIT_ROUNDS)))
        self.boosters_ = [lgb.train(params, self._dataset(values, target),
                                    num_boost_round=self.n_rounds_)]
        return out_of_fold
    def to_state(self) -> dict[str, Any]:
        """The fitted model as JSON values (:mod:`~creditpersona.artefacts`), without
        ``oof_margin_`` (one number per training row, not needed to score)."""
        return artefacts.attrs_state(self, exclude=("oof_margin_",))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BoostedPD:
        """The model :meth:`to_state` described (``oof_margin_`` None)."""
        model = artefacts.attrs_from_state(cls, state)
        model.oof_margin_ = None
        return model

    def _margin(self, values: Floats) -> Floats:
        total = np.zeros(values.shape[0], dtype=np.float64)
        for booster in self.boosters_:
            total += booster.predict(values, raw_score=True, num_iteration=self.n_rounds_,
                                     num_threads=self.threads_)
        return total / len(self.boosters_)

    def _pd_from_margin(self, margin: Floats) -> Floats:
        if self.isotonic_ is not None:
            return np.asarray(self.isotonic_.predict(margin), dtype=np.float64)
        z = self.calibration_slope_ * margin + self.calibration_intercept_
        return np.asarray(expit(z), dtype=np.float64)

    def _contributions(self, values: Floats) -> Floats:
        total = np.zeros((values.shape[0], self.n_features_in_ + 1), dtype=np.float64)
        for booster in self.boosters_:
            total += booster.predict(values, pred_contrib=True, num_iteration=self.n_rounds_,
                                     num_threads=self.threads_)
        shap = total[:, :-1] / len(self.boosters_)  # the last column is the expected value
        return shap if self.isotonic_ is not None else shap * self.calibration_slope_

    def explain(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Reason codes: per row, the features whose SHAP value raises its log-odds most.

        The contribution is in (calibrated) log-odds of default; only features that raise
        the PD are listed. See :meth:`PDEstimator.explain`.

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the model was fitted on.
        top : int, default 3
            Reasons per row.

        Returns
        -------
        pandas.DataFrame
        """
        return super().explain(X, top)


def _folds(values: Floats, target: Ints,
           groups: Sequence[object] | npt.NDArray[Any] | pd.Series | None, k: int,
           seed: int) -> list[tuple[Ints, Ints]]:
    """The ``k`` stratified folds of the cross-fitting (grouped when ``groups`` is given)."""
    if groups is None:
        return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
                    .split(values, target))
    labels = np.asarray(groups)
    if labels.shape != (target.size,):
        raise SchemaError(f"groups must be one label per row of X ({target.size}); got shape "
                          f"{labels.shape}.")
    # scikit-learn's StratifiedGroupKFold(shuffle=True) folds, computed ten times faster.
    return stratified_group_folds(target, labels, k, seed)


def _positional(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]


def _platt(margin: Floats, y: Ints) -> tuple[float, float]:
    """Platt scaling ``PD = expit(a·m + b)`` by maximum likelihood with ``a ≥ 0``.

    The bound keeps the calibrated PD non-decreasing in the booster's log-odds (so the
    monotone constraints survive); ``a = 0`` — a constant PD — is the honest answer when
    the out-of-fold scores carry no signal.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> m = rng.normal(size=20000)
    >>> y = (rng.uniform(size=20000) < 1 / (1 + np.exp(-(2 * m - 1)))).astype(int)
    >>> [round(v, 1) for v in _platt(m, y)]
    [2.0, -1.0]
    """
    def objective(theta: Floats) -> tuple[float, Floats]:
        z = theta[0] * margin + theta[1]
        g = expit(z) - y
        loss = -np.sum(y * log_expit(z) + (1 - y) * log_expit(-z))
        return float(loss) / y.size, np.array([g @ margin, g.sum()]) / y.size

    result = minimize(objective, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                      bounds=[(0.0, None), (None, None)])
    return float(result.x[0]), float(result.x[1])
