"""The scorecard: optimal monotonic binning, weight of evidence, logistic regression, points.

How a :class:`ScorecardPD` is built (every step is a documented default that works on any
numeric table; nothing is specific to one data set):

1. **Binning.** optbinning's ``OptimalBinning`` bins every feature with a monotonic event
   rate (``monotonic_trend="auto_asc_desc"``: ascending or descending, whichever fits). Each
   feature also has a *special* bin (±inf — a ratio over a zero denominator — and the
   ``special_codes``) and a *missing* bin (NaN). A categorical feature (text or pandas
   ``category``) is binned by optbinning as a categorical variable: categories are ordered
   by default rate and grouped into bins; a category never seen in training falls in the
   missing bin.
2. **Weight of evidence.** WoE = ln(share of non-defaults in the bin / share of defaults),
   so a higher WoE is safer. Counts are smoothed with half a default's worth of prior at the
   training default rate (the bin gets 0.5 defaults and 0.5·N/D non-defaults added, N and D
   the training non-defaults and defaults), which keeps the WoE of a bin without defaults
   finite and pulls tiny bins towards the average; for bins of optbinning's usual size
   (≥ 5 % of rows) the correction is negligible. Missing and special values get the WoE of
   *their own* bin — never a WoE of 0 by default (optbinning's ``transform`` assigns 0 to
   missing values unless told otherwise, which on the Polish bankruptcy data costs 8 points
   of AUC because missingness there is highly informative). A missing or special bin that
   is **empty in training** gets the WoE of the feature's worst (riskiest) bin: a value the
   model has never seen is scored conservatively. ``bins_`` says which bins were so filled
   (``woe_source``).
3. **Selection.** Features whose information value (IV) is below ``min_iv`` (default 0.02,
   the practitioners' "not predictive" cut-off) are dropped.
4. **Logistic regression** of default on the selected WoE columns with an L2 penalty whose
   strength ``C`` is chosen by stratified inner cross-validation on log loss (grid 10⁻³ …
   10). The intercept is not penalised. With ``sign_constrained=True`` every coefficient is
   kept ≤ 0, so each feature's points rise with its evidence (collinear features that would
   take the "wrong" sign drop out instead; this costs accuracy on collinear ratio data).
5. **Points.** ``score = offset + factor · ln(odds)``, odds = non-default : default, with
   ``factor = pdo / ln 2`` and ``offset = base_score − factor · ln(base_odds)``: the score is
   ``base_score`` at odds ``base_odds`` and every ``pdo`` points double the odds. The
   intercept is spread evenly over the selected features, so a firm's score is the sum of its
   bins' points and its PD is ``1 / (1 + exp((score − offset) / factor))`` exactly.

Reason codes (``explain``) are the points a firm loses on each feature relative to that
feature's best bin.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from joblib import Parallel, delayed
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from creditpersona import artefacts
from creditpersona.errors import SchemaError
from creditpersona.models.base import Floats, Ints, PDEstimator, require_both_classes
from creditpersona.models.optbin import OptimalBinning
from creditpersona.models.params import (
    LABELS,
    SEED,
    Bool,
    Check,
    Constraint,
    Int,
    Options,
    OrNone,
    Real,
    validate_params,
)

TRENDS = ("auto_asc_desc", "auto", "auto_heuristic", "ascending", "descending", "peak",
          "valley", "convex", "concave")
#: Inverse L2 penalty strengths tried by the inner cross-validation when ``C`` is None.
C_GRID = tuple(float(c) for c in np.logspace(-3, 1, 9))
WORST_BIN = "worst bin (empty in training)"


def _is_codes(value: object) -> bool:
    """Whether ``value`` is a list of special codes: numbers, none of them NaN."""
    return not isinstance(value, str | bytes) and isinstance(value, Sequence) and all(
        isinstance(c, int | float | np.number) and not isinstance(c, bool)
        and not math.isnan(float(c)) for c in value)


def _is_splits(value: object) -> bool:
    """Whether ``value`` maps feature names to increasing lists of finite split points."""
    if not isinstance(value, Mapping):
        return False
    for points in value.values():
        if isinstance(points, str | bytes) or not isinstance(points, Sequence | np.ndarray):
            return False
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if array.ndim != 1 or not np.isfinite(array).all() or np.any(np.diff(array) <= 0):
            return False
    return True


@artefacts.trusted("pd_scorecard")
class ScorecardPD(PDEstimator):
    """Points scorecard: monotonic optimal binning, WoE logistic regression, PDO scaling.

    Parameters
    ----------
    pdo : float, default 20
        Points to double the odds (non-default : default).
    base_score : float, default 600
        The score at which the odds are ``base_odds``.
    base_odds : float, default 50
        The odds (non-default : default) at ``base_score``; 50 means 50 : 1.
    min_iv : float, default 0.02
        Features with a lower information value are left out of the regression.
    monotonic_trend : str, default "auto_asc_desc"
        optbinning's event-rate trend for every feature ("auto_asc_desc", "auto",
        "auto_heuristic", "ascending", "descending", "peak", "valley", "convex", "concave").
    max_n_prebins : int, default 20
        Pre-bins before optimal merging (optbinning's default).
    special_codes : sequence of float, optional
        Values that are codes rather than measurements (e.g. -999); they share the special
        bin with ±inf.
    C : float, optional
        Inverse L2 penalty of the regression; None chooses it by inner cross-validation.
    cv : int, default 5
        Folds of the inner cross-validation that chooses ``C``.
    sign_constrained : bool, default False
        Keep every coefficient ≤ 0 so that points never fall as evidence improves.
    labels : dict, optional
        Feature → (Chinese, English) label for reason codes; unlabelled features are named
        by their column.
    random_state : int, optional
        Seed of the inner cross-validation folds (None means 0).
    n_jobs : int, optional
        Threads for the binning, one feature at a time each (None: one; -1: one per core).
    cat_cutoff : float or None, default 0.01
        Categories of a categorical feature holding less than this share of the training
        rows are binned together (optbinning's ``cat_cutoff``), so that a category seen a
        handful of times does not get a bin, and a WoE, of its own; None keeps them apart.
    splits : dict, optional
        Fixed split points for every (numeric) feature, e.g. the ``splits_`` of a scorecard
        fitted on a larger sample: the binning is skipped and only the WoE, the selection
        and the regression are fitted. For refits on parts of a sample already binned (the
        cross-fitted development, :mod:`~creditpersona.models.development`); None bins.

    Attributes
    ----------
    feature_names_in_ : numpy.ndarray
        The columns of ``X`` at fit.
    binnings_ : dict
        Feature → its fitted ``optbinning.OptimalBinning`` (features with two distinct
        regular values only; empty in a scorecard loaded from the registry: see
        :meth:`to_state`).
    categories_ : dict
        Categorical feature → the categories seen in ``fit`` (sorted).
    category_bins_ : dict
        Categorical feature → the regular bin of each of its ``categories_`` (NaN: none,
        scored as missing).
    bins_ : pandas.DataFrame
        Every bin of every feature: ``feature, bin, lower, upper, count, defaults,
        default_rate, woe, woe_source`` (``"data"``, or ``"worst bin (empty in training)"``).
    iv_ : pandas.Series
        Information value of every feature.
    selected_features_ : list of str
        Features in the regression (IV ≥ ``min_iv``).
    C_ : float
        The inverse penalty used.
    intercept_ : float
    coef_ : pandas.Series
        Regression coefficient of each selected feature's WoE.
    factor_, offset_ : float
        The points scaling: ``score = offset_ + factor_ · ln(odds)``.
    points_ : pandas.DataFrame
        ``feature, bin, woe, points`` for every bin of the selected features.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"leverage": rng.uniform(0, 1, 3000),
    ...                   "roa": rng.normal(0.05, 0.1, 3000)})
    >>> logit = -5 + 4 * X["leverage"] - 8 * X["roa"]
    >>> y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-logit))).astype(int)
    >>> X.loc[:299, "roa"] = np.nan
    >>> sc = ScorecardPD(labels={"leverage": ("资产负债率", "Debt to assets")}).fit(X, y)
    >>> round(sc.factor_, 4), round(sc.offset_, 4)
    (28.8539, 487.1229)
    >>> sc.selected_features_
    ['leverage', 'roa']
    >>> bool(sc.bins_.query("feature == 'roa' and bin == 'Missing'")["woe"].iloc[0] != 0)
    True
    >>> pd_ = sc.predict_pd(X)
    >>> bool(np.allclose(pd_, 1 / (1 + 50 * 2 ** ((sc.points(X) - 600) / 20))))
    True
    >>> sc.explain(X.iloc[:1], top=1).columns.tolist()
    ['reason_1_feature', 'reason_1_zh', 'reason_1_en', 'reason_1_contribution']
    """

    def __init__(
        self,
        *,
        pdo: float = 20.0,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        min_iv: float = 0.02,
        monotonic_trend: str = "auto_asc_desc",
        max_n_prebins: int = 20,
        special_codes: Sequence[float] | None = None,
        C: float | None = None,
        cv: int = 5,
        sign_constrained: bool = False,
        labels: Mapping[str, tuple[str, str]] | None = None,
        random_state: int | None = 0,
        n_jobs: int | None = None,
        cat_cutoff: float | None = 0.01,
        splits: Mapping[str, Sequence[float] | Floats] | None = None,
    ) -> None:
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.min_iv = min_iv
        self.monotonic_trend = monotonic_trend
        self.max_n_prebins = max_n_prebins
        self.special_codes = special_codes
        self.C = C
        self.cv = cv
        self.sign_constrained = sign_constrained
        self.labels = labels
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.cat_cutoff = cat_cutoff
        self.splits = splits

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "pdo": Real(0, low_open=True),
        "base_score": Real(),
        "base_odds": Real(0, low_open=True),
        "min_iv": Real(0),
        "monotonic_trend": Options(TRENDS, f"one of {', '.join(TRENDS)}"),
        "max_n_prebins": Int(2),
        "special_codes": OrNone(Check(_is_codes, "a list of numbers (not NaN)")),
        "C": OrNone(Real(0, low_open=True)),
        "cv": Int(2),
        "sign_constrained": Bool(),
        "labels": LABELS,
        "random_state": SEED,
        "n_jobs": OrNone(Int(-1)),
        "cat_cutoff": OrNone(Real(0, 0.5, low_open=True)),
        "splits": OrNone(Check(_is_splits, "a dict mapping every feature of X to increasing "
                                           "finite split points")),
    }

    # -- fit -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Sequence[int] | Ints | pd.Series) -> ScorecardPD:
        """Bin, weigh the evidence, select, regress and scale.

        Parameters
        ----------
        X : pandas.DataFrame
            Numeric features; NaN is a missing value.
        y : array-like
            1 for a default, 0 otherwise.

        Returns
        -------
        ScorecardPD
            The fitted scorecard (``self``).

        Raises
        ------
        ConfigurationError
            If a parameter is invalid (the message names it).
        SchemaError
            If ``X`` is not numeric, ``y`` not binary, or no feature reaches ``min_iv``.
        """
        validate_params(self)
        values, target = self._check_training_data(X, y)
        names = [str(n) for n in self.feature_names_in_]
        require_both_classes(target, int(self.cv), "the inner cross-validation (cv)")

        self.special_codes_ = np.concatenate([
            np.array([float(c) for c in self.special_codes or []], dtype=np.float64),
            [np.inf, -np.inf]])
        splits_of = (self._fit_splits(values, target, names) if self.splits is None
                     else self._given_splits(names))
        values = self._grouped(values)
        woe_of = self._weigh_evidence(values, target, names, splits_of)
        selected = [n for n in names if self.iv_[n] >= self.min_iv]
        if not selected:
            best = self.iv_.sort_values(ascending=False).head(3).round(4).to_dict()
            raise SchemaError(f"no feature reaches the information value min_iv="
                              f"{self.min_iv:g} (best: {best}); lower min_iv or add features.")
        self.selected_features_ = selected
        self._regress_and_scale(values, target, names, woe_of)
        return self

    def _weigh_evidence(self, values: Floats, target: Ints, names: list[str],
                        splits_of: dict[str, Floats]) -> dict[str, Floats]:
        """Every feature's bins, counts and WoE (``bins_``, ``iv_``, ``splits_``); returns
        the WoE of each feature's bins (regular, special, missing)."""
        events, total = int(target.sum()), int(target.size)
        tables, ivs = [], {}
        self.splits_: dict[str, Floats] = {}
        woe_of: dict[str, Floats] = {}
        for j, name in enumerate(names):
            splits = splits_of[name]
            index = _bin_index(values[:, j], splits, self._specials(name))
            n_bins = splits.size + 3
            count = np.bincount(index, minlength=n_bins).astype(np.float64)
            bad = np.bincount(index, weights=target, minlength=n_bins).astype(np.float64)
            woe, source = _woe(count, bad, events, total)
            good_share = (count - bad) / (total - events)
            ivs[name] = float(np.sum((good_share - bad / events) * woe))
            self.splits_[name] = splits
            woe_of[name] = woe
            categorical = name in self.category_bins_
            tables.append(pd.DataFrame({
                "feature": name,
                "bin": (self._category_labels(name) if categorical else _bin_labels(splits)),
                "lower": (np.full(n_bins, np.nan) if categorical
                          else np.r_[-np.inf, splits, np.nan, np.nan]),
                "upper": (np.full(n_bins, np.nan) if categorical
                          else np.r_[splits, np.inf, np.nan, np.nan]),
                "count": count.astype(np.int64), "defaults": bad.astype(np.int64),
                "default_rate": np.divide(bad, count, out=np.full(n_bins, np.nan),
                                          where=count > 0),
                "woe": woe, "woe_source": source,
            }))
        self.bins_ = pd.concat(tables, ignore_index=True)
        self.iv_ = pd.Series(ivs, name="iv")
        return woe_of

    def _regress_and_scale(self, values: Floats, target: Ints, names: list[str],
                           woe_of: dict[str, Floats]) -> None:
        """Regress default on the selected features' WoE and turn the fit into points."""
        selected = self.selected_features_
        columns = [names.index(n) for n in selected]
        woe_matrix = np.column_stack([
            woe_of[n][_bin_index(values[:, j], self.splits_[n], self._specials(n))]
            for n, j in zip(selected, columns, strict=True)
        ])
        seed = 0 if self.random_state is None else int(self.random_state)
        c = float(self.C) if self.C is not None else _choose_c(
            woe_matrix, target, int(self.cv), seed, self.sign_constrained)
        intercept, coef = _fit_logit(woe_matrix, target, c, self.sign_constrained)
        self.C_ = c
        self.intercept_ = intercept
        self.coef_ = pd.Series(coef, index=selected, name="coef")

        self.factor_ = float(self.pdo) / math.log(2.0)
        self.offset_ = float(self.base_score) - self.factor_ * math.log(float(self.base_odds))
        share = (self.offset_ - self.factor_ * intercept) / len(selected)
        self._columns = np.asarray(columns, dtype=np.int64)
        self._point_tables = [share - self.factor_ * b * woe_of[n]
                              for n, b in zip(selected, coef, strict=True)]
        points = self.bins_[self.bins_["feature"].isin(selected)][["feature", "bin", "woe"]]
        self.points_ = points.assign(
            points=np.concatenate(self._point_tables)).reset_index(drop=True)

    def _fit_splits(self, values: Floats, target: Ints, names: list[str]) -> dict[str, Floats]:
        """optbinning's optimal split points of every feature.

        A feature with fewer than two distinct regular values (all missing, all special, or
        constant) has nothing to split: it gets one regular bin without calling optbinning.
        """
        splits = {n: np.empty(0, dtype=np.float64) for n in names}
        categories = self.categories_
        self.category_bins_: dict[str, Floats] = {
            n: np.zeros(len(c), dtype=np.float64) for n, c in categories.items()}
        regular = ~np.isnan(values) & ~np.isin(values, self.special_codes_)
        for n in categories:  # a category code is never a special code
            regular[:, names.index(n)] = ~np.isnan(values[:, names.index(n)])
        binnable = [n for j, n in enumerate(names)
                    if np.unique(values[regular[:, j], j]).size >= 2]
        columns = {n: (_category_text(values[:, names.index(n)], categories[n])
                       if n in categories else values[:, names.index(n)]) for n in binnable}
        # One OptimalBinning per feature with the parameters optbinning's BinningProcess
        # would give it, but without the process's selection statistics, which nothing here
        # reads and which cost a third of the binning time. Threads, as BinningProcess.
        fitted = Parallel(n_jobs=self.n_jobs or 1, prefer="threads")(
            delayed(_optimal_binning)(
                columns[n], target, n, n in categories, int(self.max_n_prebins),
                list(self.special_codes_),
                {"cat_cutoff": self.cat_cutoff} if n in categories
                else {"monotonic_trend": self.monotonic_trend})
            for n in binnable)
        self.binnings_: dict[str, OptimalBinning] = dict(zip(binnable, fitted, strict=True))
        for n in binnable:
            found = self.binnings_[n].splits
            if n not in categories:
                splits[n] = np.asarray(found, dtype=np.float64)
                continue
            # Each category's bin becomes its code, so the numeric bins below apply as they are.
            position = {c: i for i, c in enumerate(categories[n])}
            bins = np.full(len(categories[n]), np.nan)
            for k, group in enumerate(found):
                bins[[position[str(c)] for c in group]] = k
            self.category_bins_[n] = bins
            splits[n] = np.arange(len(found) - 1, dtype=np.float64) + 0.5
        return splits

    def _given_splits(self, names: list[str]) -> dict[str, Floats]:
        """The fixed ``splits`` as arrays, checked against the features of ``X``."""
        assert self.splits is not None
        given = {str(k): np.asarray(v, dtype=np.float64) for k, v in self.splits.items()}
        if self.categories_ or set(given) != set(names):
            raise SchemaError(
                f"ScorecardPD(splits=...) needs split points for exactly the features of X, "
                f"all numeric; X has {names[:10]} (categorical: {sorted(self.categories_)}), "
                f"the splits name {sorted(given)[:10]}: pass another fit's splits_ for the "
                "same columns, or splits=None to bin.")
        self.category_bins_ = {}
        self.binnings_ = {}
        return {n: given[n] for n in names}

    def _grouped(self, values: Floats) -> Floats:
        """``values`` with every categorical code replaced by its category's bin."""
        if not self.category_bins_:
            return values
        out = values.copy()
        names = list(self.feature_names_in_)
        for n, bins in self.category_bins_.items():
            j = names.index(n)
            known = ~np.isnan(out[:, j])
            out[known, j] = bins[out[known, j].astype(np.int64)]
        return out

    def _specials(self, name: str) -> Floats:
        """The special codes of a feature (none for a categorical one: its codes are bins)."""
        if name in self.category_bins_:
            return np.empty(0, dtype=np.float64)
        return self.special_codes_

    def _category_labels(self, name: str, width: int = 60) -> list[str]:
        """Bin labels of a categorical feature: its categories, e.g. ``{C13, F51}``."""
        bins = self.category_bins_[name]
        cats = self.categories_[name]
        n_regular = self.splits_[name].size + 1 if name in self.splits_ else int(
            np.nanmax(bins, initial=0)) + 1
        labels = []
        for k in range(n_regular):
            text = ", ".join(c for c, b in zip(cats, bins, strict=True) if b == k)
            labels.append("{" + (text if len(text) <= width else text[:width - 1] + "…") + "}")
        return [*labels, "Special", "Missing"]

    # -- storage -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The fitted scorecard as JSON values (:mod:`~creditpersona.artefacts`).

        The splits, bins, coefficients and points are kept; optbinning's fitted
        ``binnings_`` are not (they are not needed to score, and they are object graphs
        that only a pickle could keep), so a loaded scorecard has empty ``binnings_``.
        """
        return artefacts.attrs_state(self, exclude=("binnings_",))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ScorecardPD:
        """The scorecard :meth:`to_state` described."""
        model = artefacts.attrs_from_state(cls, state)
        model.binnings_ = {}
        return model

    # -- predictions ---------------------------------------------------------------------
    def _bin_points(self, values: Floats) -> Floats:
        # Column-major: each feature's points are written and read as one contiguous run.
        out = np.empty((values.shape[0], len(self.selected_features_)), dtype=np.float64,
                       order="F")
        values = self._grouped(values)
        for k, (name, j) in enumerate(zip(self.selected_features_, self._columns, strict=True)):
            index = _bin_index(values[:, j], self.splits_[name], self._specials(name))
            out[:, k] = self._point_tables[k][index]
        return out

    def _margin(self, values: Floats) -> Floats:
        return self._bin_points(values).sum(axis=1)

    def _pd_from_margin(self, margin: Floats) -> Floats:
        return np.asarray(expit((self.offset_ - margin) / self.factor_), dtype=np.float64)

    def _contributions(self, values: Floats) -> Floats:
        points = self._bin_points(values)
        best = np.array([t.max() for t in self._point_tables])
        lost = np.zeros((values.shape[0], self.n_features_in_), dtype=np.float64)
        lost[:, self._columns] = best - points
        return lost

    def points(self, X: pd.DataFrame) -> Floats:
        """The scorecard points of every row (higher = safer).

        (``score(X, y)`` is scikit-learn's: the accuracy of :meth:`predict` on ``y``.)

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the scorecard was fitted on.

        Returns
        -------
        numpy.ndarray
            ``offset_ + factor_ · ln(odds)``; the sum of the row's bin points.
        """
        return self._margin(self._check_scoring_data(X))

    def explain(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Reason codes: per row, the features on which it loses most points.

        The contribution is the points lost relative to the feature's best bin (≥ 0); only
        features with a loss are listed. See :meth:`PDEstimator.explain`.

        Parameters
        ----------
        X : pandas.DataFrame
            The columns the scorecard was fitted on.
        top : int, default 3
            Reasons per row.

        Returns
        -------
        pandas.DataFrame
        """
        return super().explain(X, top)


def _optimal_binning(x: Floats | npt.NDArray[np.object_], target: Ints, name: str,
                     categorical: bool, max_n_prebins: int, special_codes: list[float],
                     params: dict[str, Any]) -> OptimalBinning:
    """optbinning's OptimalBinning of one feature, fitted as ``BinningProcess`` fits it."""
    binning = OptimalBinning(name=name, dtype="categorical" if categorical else "numerical",
                             max_n_prebins=max_n_prebins, special_codes=special_codes)
    binning.set_params(**params)
    with warnings.catch_warnings():
        # optbinning's deprecation notices about pandas internals are not the user's.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        binning.fit(x, target)
    return binning


def _category_text(codes: Floats, categories: list[str]) -> npt.NDArray[np.object_]:
    """Category codes back as their text (None where missing), for optbinning."""
    out = np.full(codes.size, None, dtype=object)
    known = ~np.isnan(codes)
    out[known] = np.asarray(categories, dtype=object)[codes[known].astype(np.int64)]
    return out


def _bin_index(x: Floats, splits: Floats, special_codes: Floats) -> Ints:
    """Bin of every value: 0..len(splits) regular, then special, then missing.

    Regular bins are [s_{i-1}, s_i), as optbinning defines them.

    Examples
    --------
    >>> import numpy as np
    >>> _bin_index(np.array([-1.0, 0.0, 5.0, np.inf, -999.0, np.nan]),
    ...            np.array([0.0, 1.0]), np.array([-999.0, np.inf, -np.inf])).tolist()
    [0, 1, 2, 3, 3, 4]
    """
    index = np.searchsorted(splits, x, side="right").astype(np.int64)
    index[np.isin(x, special_codes)] = splits.size + 1
    index[np.isnan(x)] = splits.size + 2
    return index


def _woe(count: Floats, bad: Floats, events: int, total: int) -> tuple[Floats, list[str]]:
    """Smoothed WoE of every bin (regular bins, special, missing) and where it came from.

    Examples
    --------
    Half a default at the portfolio rate is added to every bin (a bin at the portfolio
    rate has WoE 0); empty bins (here the special and the missing bin) take the worst
    bin's WoE:

    >>> import numpy as np
    >>> woe, source = _woe(np.array([50.0, 50.0, 0.0, 0.0]), np.array([5.0, 15.0, 0.0, 0.0]),
    ...                    20, 100)
    >>> woe.round(4).tolist(), source[-1]
    ([0.7591, -0.5162, -0.5162, -0.5162], 'worst bin (empty in training)')
    """
    goods = total - events
    prior_bad, prior_good = 0.5, 0.5 * goods / events
    woe = np.log((count - bad + prior_good) / goods) - np.log((bad + prior_bad) / events)
    seen = count > 0
    worst = float(woe[seen].min()) if seen.any() else 0.0
    woe[~seen] = worst
    source = ["data" if s else WORST_BIN for s in seen]
    return woe, source


def _bin_labels(splits: Floats) -> list[str]:
    edges = [f"{s:.6g}" for s in splits]
    lows = ["-inf", *edges]
    highs = [*edges, "inf"]
    regular = [f"[{lo}, {hi})" if lo != "-inf" else f"(-inf, {hi})"
               for lo, hi in zip(lows, highs, strict=True)]
    return [*regular, "Special", "Missing"]


def _fit_logit(w: Floats, y: Ints, c: float, sign_constrained: bool,
               start: Floats | None = None) -> tuple[float, Floats]:
    """L2-penalised logistic regression (unpenalised intercept) by L-BFGS-B.

    Minimises ``Σ logloss + ‖β‖² / (2C)`` (scikit-learn's convention); with
    ``sign_constrained`` every β is bounded above by 0. ``start`` (intercept, then β) is
    where the search begins: the problem is strictly convex, so it changes the time, not
    the answer (beyond the solver's tolerance).
    """
    n, k = w.shape
    rate = float(np.clip(y.mean(), 1e-9, 1 - 1e-9))

    negatives = (1 - y).astype(np.float64)

    def objective(theta: Floats) -> tuple[float, Floats]:
        z = theta[0] + w @ theta[1:]
        # One logarithm per row: log p = log_expit(z) and log(1 − p) = log p − z, so the
        # log loss is −Σ log p + Σ (1 − y)·z, and p = exp(log p). (The C search fits this
        # dozens of times on every firm-date: it was most of the scorecard's time.)
        log_p = log_expit(z)
        loss = -log_p.sum() + negatives @ z + theta[1:] @ theta[1:] / (2 * c)
        g = np.exp(log_p) - y
        grad = np.concatenate([[g.sum()], w.T @ g + theta[1:] / c])
        return float(loss) / n, grad / n

    if start is None:
        start = np.zeros(k + 1)
        start[0] = math.log(rate / (1 - rate))
    bounds = [(None, None)] + [(None, 0.0) if sign_constrained else (None, None)] * k
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 5000})
    if not result.success:
        warnings.warn(f"ScorecardPD: the logistic regression did not converge (C={c:g}): "
                      f"{result.message}", ConvergenceWarning, stacklevel=3)
    return float(result.x[0]), np.asarray(result.x[1:], dtype=np.float64)


def _choose_c(w: Floats, y: Ints, folds: int, seed: int, sign_constrained: bool) -> float:
    """The grid C with the lowest held-out log loss in stratified ``folds``-fold CV.

    The grid is walked from the strongest penalty up, each fold's fit starting from its
    previous one's solution (a warm start: the next optimum is close by). The walk stops at
    the first C whose held-out loss (summed over the folds) is above the previous one's:
    the held-out loss along a ridge path falls to one minimum and rises after it (on every
    Polish fold the minimum was at the sixth of nine C and the loss rose from there on), and
    the weakest penalties are the slowest fits.
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    parts = list(splitter.split(w, y))
    starts: list[Floats | None] = [None] * len(parts)
    loss = np.full(len(C_GRID), np.inf)
    for i, c in enumerate(C_GRID):
        loss[i] = 0.0
        for k, (train, test) in enumerate(parts):
            b0, beta = _fit_logit(w[train], y[train], c, sign_constrained, starts[k])
            starts[k] = np.concatenate([[b0], beta])
            z = b0 + w[test] @ beta
            loss[i] -= np.sum(y[test] * log_expit(z) + (1 - y[test]) * log_expit(-z))
        if i and loss[i] > loss[i - 1]:
            break
    return C_GRID[int(np.argmin(loss))]
