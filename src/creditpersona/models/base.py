"""What every default-probability (PD) estimator shares: the input checks and the outputs.

A PD estimator follows scikit-learn's contract: ``__init__`` only stores keyword parameters,
``fit(X, y)`` validates them, learns attributes ending in ``_`` and returns ``self``, and
every prediction first checks that the estimator is fitted. ``X`` is a pandas DataFrame of
numeric features (missing values as NaN) and categorical ones (text, pandas ``category``);
``y`` holds 1 for a default and 0 otherwise.

A categorical feature reaches an estimator's numeric core as the index of its value among the
categories seen in ``fit`` (``categories_``, sorted); a missing value, or one that ``fit``
never saw, is NaN. The scorecard bins these codes as optbinning's categorical variables and
LightGBM splits them as categories, so the codes' order means nothing to either.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils import ClassifierTags, Tags

from creditpersona.errors import CreditPersonaError, SchemaError
from creditpersona.models.params import Int, check_param
from creditpersona.models.reasons import reason_codes

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class NotFittedError(CreditPersonaError, _SklearnNotFittedError):
    """A prediction was asked of an estimator that has not been fitted."""


class PDEstimator(ClassifierMixin, BaseEstimator):
    """Base class of the PD estimators: input checks, probabilities and reason codes.

    Subclasses implement ``fit``, ``_margin`` (the log-odds of default, or any score that
    ``_pd_from_margin`` turns into a PD) and ``_contributions`` (per row and feature, how
    much the feature raises the PD).
    """

    feature_names_in_: npt.NDArray[np.object_]
    n_features_in_: int
    classes_: Ints
    categories_: dict[str, list[str]]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=False)
        tags.target_tags.required = True
        tags.input_tags.allow_nan = True
        return tags

    # -- inputs --------------------------------------------------------------------------
    def _check_training_data(self, X: object, y: object) -> tuple[Floats, Ints]:
        """Validate ``X`` and ``y`` for ``fit`` and remember the feature names."""
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(
                f"{type(self).__name__}.fit needs X as a pandas DataFrame with one named column "
                f"per feature; got {type(X).__name__}."
            )
        if X.shape[1] == 0 or X.shape[0] == 0:
            raise SchemaError(f"{type(self).__name__}.fit needs at least one row and one "
                              f"feature; X has shape {X.shape}.")
        names = [str(c) for c in X.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"X has duplicated column names {duplicated}; rename them.")
        self.categories_ = {
            name: sorted(X.iloc[:, j].dropna().astype("string").unique().tolist())
            for j, name in enumerate(names) if is_categorical(X.iloc[:, j])}
        values = _feature_matrix(X, names, self.categories_)
        labels = _binary_target(y, len(X))
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        return values, labels

    def _check_scoring_data(self, X: object) -> Floats:
        """The columns of ``X`` the estimator was fitted on, in fit order, as floats."""
        self._require_fitted()
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"{type(self).__name__} needs X as a pandas DataFrame with the "
                              f"columns it was fitted on; got {type(X).__name__}.")
        names = list(self.feature_names_in_)
        columns = [str(c) for c in X.columns]
        missing = [n for n in names if n not in columns]
        extra = [c for c in columns if c not in set(names)]
        if missing or extra:
            raise SchemaError(
                f"X does not have the columns {type(self).__name__} was fitted on: "
                f"missing {missing[:10]}, unexpected {extra[:10]}; pass exactly the "
                f"fitted columns (feature_names_in_)."
            )
        frame = X.set_axis(columns, axis=1)[names]
        return _feature_matrix(frame, names, getattr(self, "categories_", {}))

    def _categorical_columns(self) -> list[int]:
        """Positions (in ``feature_names_in_``) of the categorical features."""
        names = list(self.feature_names_in_)
        return [names.index(n) for n in getattr(self, "categories_", {})]

    def _require_fitted(self) -> None:
        if not hasattr(self, "feature_names_in_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first."
            )

    # -- outputs -------------------------------------------------------------------------
    def _margin(self, values: Floats) -> Floats:
        raise NotImplementedError

    def _pd_from_margin(self, margin: Floats) -> Floats:
        raise NotImplementedError

    def _contributions(self, values: Floats) -> Floats:
        raise NotImplementedError

    def _labels(self) -> Mapping[str, tuple[str, str]]:
        labels: Mapping[str, tuple[str, str]] | None = getattr(self, "labels", None)
        return labels or {}

    def predict_pd(self, X: pd.DataFrame) -> Floats:
        """The probability of default of every row of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the estimator was fitted on (any order); NaN marks a missing value.

        Returns
        -------
        numpy.ndarray
            One PD in [0, 1] per row.

        Raises
        ------
        NotFittedError
            If the estimator has not been fitted.
        SchemaError
            If ``X`` lacks a fitted column, has others, or a column is not numeric.
        """
        return self._pd_from_margin(self._margin(self._check_scoring_data(X)))

    def predict_proba(self, X: pd.DataFrame) -> Floats:
        """Probabilities of no default (column 0) and default (column 1), as scikit-learn.

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the estimator was fitted on.

        Returns
        -------
        numpy.ndarray of shape (n_rows, 2)
        """
        pd_ = self.predict_pd(X)
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame) -> Ints:
        """1 where the PD is at least 0.5, else 0 (for scikit-learn tools; use the PD)."""
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def explain(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Reason codes: per row, the ``top`` features that raise its PD most.

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the estimator was fitted on.
        top : int, default 3
            How many reasons per row, between 1 and the number of features.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``X``, with ``reason_k_feature``, ``reason_k_zh``, ``reason_k_en``
            and ``reason_k_contribution`` for k = 1..top, largest contribution first. Only
            features that raise the PD are listed; the remaining slots are empty (None and
            NaN). The unit of the contribution is the estimator's (see its documentation).
        """
        values = self._check_scoring_data(X)
        check_param(top, "top", type(self).__name__, Int(1, self.n_features_in_))
        return reason_codes(self._contributions(values), list(self.feature_names_in_),
                            self._labels(), int(top), X.index)


def require_both_classes(target: Ints, folds: int, purpose: str) -> None:
    """Raise unless ``target`` has at least ``folds`` defaults and ``folds`` non-defaults."""
    events = int(target.sum())
    if min(events, target.size - events) < folds:
        raise SchemaError(f"y has {events} defaults and {target.size - events} non-defaults; "
                          f"{purpose} needs at least {folds} of each.")


def is_categorical(column: pd.Series) -> bool:
    """Whether the PD models take ``column`` as a categorical feature: text, pandas
    ``category`` or Python objects (numbers and booleans are numeric).

    Examples
    --------
    >>> is_categorical(pd.Series(["C13", "F51"])), is_categorical(pd.Series([1.5, None]))
    (True, False)
    """
    dtype = column.dtype
    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_datetime64_any_dtype(dtype))


def _feature_matrix(X: pd.DataFrame, names: list[str],
                    categories: Mapping[str, list[str]]) -> Floats:
    """``X`` as floats: categorical columns as the index of their value in ``categories``
    (NaN if missing or unseen), the others as numbers."""
    out = np.empty((len(X), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        column = X.iloc[:, j]
        if name in categories:
            text = column.astype("string")
            codes = pd.Index(categories[name], dtype="string").get_indexer(pd.Index(text))
            codes[text.isna().to_numpy()] = -1
            out[:, j] = np.where(codes < 0, np.nan, codes)
            continue
        if is_categorical(column):
            raise SchemaError(
                f"column {name!r} holds {column.dtype} values but was numeric when the model "
                "was fitted; pass the columns as they were in fit.")
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            raise SchemaError(f"column {name!r} holds dates; the PD models take numbers and "
                              "categories: turn it into a number (e.g. days since) or drop it.")
        try:
            out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"column {name!r} cannot be read as numbers: {exc}") from exc
    return out


def _binary_target(y: object, n_rows: int) -> Ints:
    values = np.asarray(y)
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise SchemaError(f"y must be one label per row of X ({n_rows}); got shape "
                          f"{values.shape}.")
    if values.dtype == bool:
        return values.astype(np.int64)
    try:
        numeric = values.astype(np.float64)
    except (TypeError, ValueError):
        numeric = np.array([np.nan])
    if not np.isin(numeric, (0.0, 1.0)).all():
        seen = sorted({str(v) for v in pd.unique(values)})[:5]
        raise SchemaError(f"y must hold 1 (default) and 0 (no default) only; found {seen}. "
                          "Convert the label first (creditpersona.models.binary_label).")
    labels = numeric.astype(np.int64)
    if labels.min() == labels.max():
        raise SchemaError(f"y holds only the class {labels[0]}; a PD model needs defaults "
                          "and non-defaults.")
    return labels
