"""The estimator contract, run over every estimator of the package.

Every estimator (the scorecard, the LightGBM challenger, the persona segmenter, the response
propensity models and both uplift learners) must behave as scikit-learn's tools expect:
``__init__`` only stores parameters (``get_params`` / ``set_params`` / ``clone`` round-trip,
and one declared constraint per parameter), predictions before ``fit`` raise
``NotFittedError``, a bad parameter is refused by ``fit`` with the project's message, and
``cross_val_score`` runs with the estimator's own ``score``. The data are small and the
models are kept small (few rounds, folds and bootstraps) so that the module runs in seconds.

scikit-learn's ``check_estimator`` is run only for its checks that do not fit on data
(:data:`APPLICABLE_CHECKS`): the others feed numpy arrays or sparse matrices, and every
estimator here takes a pandas DataFrame with named columns (feature names are part of what a
PD model, a persona or a propensity is fitted on; see ``models/base.py``). What those checks
test on a fit (fit returns self, parameters unchanged by fit, cross-validation, scoring) is
written out below on DataFrames.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator, clone, is_classifier, is_clusterer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimators_unfitted,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)
from sklearn.utils.validation import check_is_fitted

from creditpersona.errors import ConfigurationError
from creditpersona.marketing import (
    ClassTransformationUplift,
    ProductPropensity,
    PropensityModel,
    TwoModelUplift,
)
from creditpersona.models import BoostedPD, ScorecardPD
from creditpersona.models.base import NotFittedError
from creditpersona.personas.segment import PersonaSegmenter

SEED = 20261204
SMALL_LGBM = {"max_rounds": 40, "early_stopping_rounds": 10, "n_jobs": 1}


def _credit(n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame({"leverage": rng.uniform(0, 1, n), "roa": rng.normal(0.05, 0.1, n),
                      "sector": rng.choice(["C13", "F51", "I65"], n)})
    logit = -3 + 4 * X["leverage"] - 6 * X["roa"] + (X["sector"] == "F51")
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()


def _profiles(n: int = 180) -> tuple[pd.DataFrame, None]:
    rng = np.random.default_rng(SEED)
    half = n // 2
    X = pd.DataFrame({"a": np.r_[rng.normal(0, 1, half), rng.normal(5, 1, n - half)],
                      "b": np.r_[rng.normal(0, 1, half), rng.normal(5, 1, n - half)],
                      "sector": ["C"] * half + ["F"] * (n - half)})
    return X, None


def _responses(n: int = 1200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame({"product": rng.choice(["loan", "card"], n), "x": rng.normal(size=n),
                      "colour": rng.choice(["red", "blue"], n)})
    p = 1 / (1 + np.exp(-(X["x"] + (X["colour"] == "red") - 1.5)))
    return X, (rng.random(n) < p).astype(int).to_numpy()


def _campaign(n: int = 2000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    X = pd.DataFrame({"x": rng.random(n)})
    t = rng.random(n) < 0.6
    y = np.asarray(rng.random(n) < 0.1 + 0.3 * t * (X["x"] > 0.5), dtype=np.int64)
    return X, y, t


@dataclass(frozen=True)
class Case:
    """One estimator: how to build it small, its data and what it predicts."""

    make: Callable[..., BaseEstimator]
    data: Callable[[], tuple[Any, ...]]
    predictions: tuple[str, ...]
    small: dict[str, Any] = field(default_factory=dict)

    def build(self, **params: Any) -> BaseEstimator:
        return self.make(**{**self.small, **params})


CASES = {
    "scorecard": Case(ScorecardPD, _credit, ("predict_pd", "predict_proba", "predict",
                                             "explain", "points"), {"cv": 3}),
    "challenger": Case(BoostedPD, _credit, ("predict_pd", "predict_proba", "predict",
                                            "explain"), {"cv": 3, **SMALL_LGBM}),
    "segmenter": Case(PersonaSegmenter, _profiles, ("predict", "predict_proba", "embed",
                                                    "score"),
                      {"features": ["a", "b"], "categories": {"sector": 1.0}, "k_min": 2,
                       "k_max": 3, "n_bootstrap": 1, "n_init": 1, "surrogate_depth": 2}),
    "propensity": Case(PropensityModel, lambda: (_responses()[0].drop(columns="product"),
                                                 _responses()[1]),
                       ("predict_proba", "predict", "decision_function"),
                       {"cv": 3, **SMALL_LGBM}),
    "product_propensity": Case(ProductPropensity, _responses,
                               ("predict_accept", "predict_proba", "predict"),
                               {"min_responses": 60, "params": {"cv": 3, **SMALL_LGBM}}),
    "two_model_uplift": Case(TwoModelUplift, _campaign, ("predict_uplift", "score"),
                             {"params": {"cv": 3, **SMALL_LGBM}}),
    "class_transformation_uplift": Case(ClassTransformationUplift, _campaign,
                                        ("predict_uplift", "score"),
                                        {"params": {"cv": 3, **SMALL_LGBM}}),
}

#: (estimator, bad parameters, the whole message expected).
BAD_PARAMETERS: list[tuple[str, dict[str, Any], str]] = [
    ("scorecard", {"pdo": 0},
     r"The 'pdo' parameter of ScorecardPD must be a float > 0\. Got 0 instead\."),
    ("scorecard", {"cv": True},
     r"The 'cv' parameter of ScorecardPD must be an int >= 2\. Got True instead\."),
    ("scorecard", {"sign_constrained": "yes"},
     r"The 'sign_constrained' parameter of ScorecardPD must be a bool\. Got 'yes' instead\."),
    ("challenger", {"num_leaves": 1},
     r"The 'num_leaves' parameter of BoostedPD must be an int in \[2, 131072\]\. "
     r"Got 1 instead\."),
    ("challenger", {"monotone_constraints": {"leverage": 2}},
     r"The 'monotone_constraints' parameter of BoostedPD must be a dict mapping feature "
     r"names of X to \+1 or -1\. Got \{'leverage': 2\} instead\."),
    ("segmenter", {"sample_size": 10},
     r"The 'sample_size' parameter of PersonaSegmenter must be an int >= 50\. "
     r"Got 10 instead\."),
    ("segmenter", {"min_fidelity": 1.5},
     r"The 'min_fidelity' parameter of PersonaSegmenter must be a float in \[0, 1\]\. "
     r"Got 1\.5 instead\."),
    ("segmenter", {"k_min": 3, "k_max": 2},
     r"The 'k_max' parameter of PersonaSegmenter must be an integer ≥ k_min \(3\)\. "
     r"Got 2 instead\."),
    ("propensity", {"subsample": 0},
     r"The 'subsample' parameter of PropensityModel must be a float in \(0, 1\]\. "
     r"Got 0 instead\."),
    ("propensity", {"random_state": -1},
     r"The 'random_state' parameter of PropensityModel must be an int in "
     r"\[0, 2147483647\]\. Got -1 instead\."),
    ("product_propensity", {"min_responses": 2},
     r"The 'min_responses' parameter of ProductPropensity must be an int >= 4\. "
     r"Got 2 instead\."),
    ("product_propensity", {"params": {"trees": 3}},
     r"The 'params' parameter of ProductPropensity must be a mapping of PropensityModel "
     r"parameters \(learning_rate, .*\)\. Got \{'trees': 3\} instead\."),
    ("two_model_uplift", {"params": {"learning_rate": 2}},
     r"The 'learning_rate' parameter of PropensityModel must be a float in \(0, 1\]\. "
     r"Got 2 instead\."),
    ("class_transformation_uplift", {"params": [("cv", 3)]},
     r"The 'params' parameter of ClassTransformationUplift must be a mapping of "
     r"PropensityModel parameters .*Got \[\('cv', 3\)\] instead\."),
]


#: scikit-learn's checks that apply to estimators taking DataFrames (none of them fits).
APPLICABLE_CHECKS = (check_estimator_cloneable, check_estimator_repr,
                     check_no_attributes_set_in_init, check_estimators_unfitted,
                     check_do_not_raise_errors_in_init_or_set_params, check_mixin_order,
                     check_parameters_default_constructible, check_get_params_invariance,
                     check_set_params)


def _fit(estimator: BaseEstimator, data: tuple[Any, ...]) -> BaseEstimator:
    X, y, *rest = data
    with warnings.catch_warnings():
        # Tiny folds make LightGBM say it cannot split further; not what is tested here.
        warnings.simplefilter("ignore", UserWarning)
        if rest:
            return estimator.fit(X, y, treatment=rest[0])
        return estimator.fit(X) if y is None else estimator.fit(X, y)


@pytest.mark.parametrize("name", CASES)
def test_parameters_round_trip_through_get_params_set_params_and_clone(name: str) -> None:
    case = CASES[name]
    estimator = case.build()
    params = estimator.get_params(deep=False)
    # One declared constraint per parameter, nothing more (scikit-learn's own rule).
    assert sorted(type(estimator)._parameter_constraints) == sorted(params)
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params(deep=False).keys() == params.keys()
    for key, value in params.items():
        assert twin.get_params(deep=False)[key] == value, key
    first = next(iter(params))
    assert estimator.set_params(**{first: params[first]}) is estimator
    with pytest.raises(ValueError, match="Invalid parameter"):
        estimator.set_params(no_such_parameter=1)
    # __init__ stores, it does not validate: a bad value is accepted until fit.
    case.make(**{first: object()})


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("check", APPLICABLE_CHECKS, ids=lambda c: c.__name__)
def test_scikit_learns_checks_that_apply(name: str, check: Callable[..., None]) -> None:
    estimator = CASES[name].build()
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("name", CASES)
def test_predictions_before_fit_raise_not_fitted(name: str) -> None:
    case = CASES[name]
    estimator = case.build()
    X = case.data()[0]
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(estimator)
    for method in case.predictions:
        args = (X, *case.data()[1:]) if method == "score" else (X,)
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(estimator, method)(*args)


@pytest.mark.parametrize(("name", "params", "message"), BAD_PARAMETERS,
                         ids=[f"{n}-{next(iter(p))}" for n, p, _ in BAD_PARAMETERS])
def test_bad_parameters_are_refused_by_fit_with_their_name(name: str, params: dict[str, Any],
                                                           message: str) -> None:
    case = CASES[name]
    with pytest.raises(ConfigurationError, match=message):
        _fit(case.build(**params), case.data())


@pytest.mark.parametrize("name", ["scorecard", "challenger", "propensity", "product_propensity"])
def test_classifiers_cross_validate_with_scikit_learns_score(name: str) -> None:
    case = CASES[name]
    estimator = case.build()
    assert is_classifier(estimator)
    X, y = case.data()
    before = clone(estimator).get_params(deep=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        accuracy = cross_val_score(estimator, X, y, cv=StratifiedKFold(3))
        auc = cross_val_score(estimator, X, y, cv=StratifiedKFold(3), scoring="roc_auc")
    # score(X, y) is the accuracy of predict; the rare class keeps it near the base rate, so
    # the bar is the majority class's share less a margin, and the ranking must be real.
    majority = max(y.mean(), 1 - y.mean())
    assert np.all(accuracy >= majority - 0.05), accuracy
    assert np.all(auc > 0.6), auc
    fitted = _fit(estimator, (X, y))
    # fit returns self and leaves the parameters as they were (scikit-learn's
    # check_estimators_overwrite_params, on a DataFrame).
    assert fitted is estimator
    assert joblib.hash(estimator.get_params(deep=False)) == joblib.hash(before)
    assert fitted.score(X, y) == pytest.approx(np.mean(fitted.predict(X) == y))
    check_is_fitted(fitted)


def test_the_segmenter_cross_validates_with_its_log_likelihood() -> None:
    case = CASES["segmenter"]
    estimator = case.build()
    assert is_clusterer(estimator)
    X, _ = case.data()
    scores = cross_val_score(estimator, X, cv=3)
    assert np.all(np.isfinite(scores))
    before = joblib.hash(estimator.get_params(deep=False))
    fitted = _fit(estimator, case.data())
    assert fitted is estimator and joblib.hash(estimator.get_params(deep=False)) == before
    # Two well separated groups: the mixture explains them better than one persona does.
    assert fitted.score(X) > _fit(case.build(n_personas=1), case.data()).score(X)


@pytest.mark.parametrize("name", ["two_model_uplift", "class_transformation_uplift"])
def test_uplift_learners_cross_validate_with_the_treatment_routed(name: str) -> None:
    case = CASES[name]
    X, y, t = case.data()
    with sklearn.config_context(enable_metadata_routing=True):
        learner = case.build().set_fit_request(treatment=True).set_score_request(
            treatment=True)
        qini = cross_val_score(learner, X, y, cv=StratifiedKFold(3), params={"treatment": t})
        before = joblib.hash(learner.get_params(deep=False))
        assert learner.fit(X, y, treatment=t) is learner
        assert joblib.hash(learner.get_params(deep=False)) == before
    # The uplift is concentrated in x > 0.5: ranking by the learner beats random targeting.
    assert np.all(qini > 0), qini
