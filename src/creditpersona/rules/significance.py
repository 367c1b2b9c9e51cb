"""Significance of association rules: Fisher's exact test and Holm's step-down correction.

A rule ``A → c`` over ``N`` firms is a 2 × 2 table (``A`` or not × ``c`` or not). Under
independence, with both margins fixed, the number of firms holding both is hypergeometric;
the one-sided p-value of Fisher's exact test is the chance of seeing at least as many:

    p = P(X ≥ n(A ∧ c)),   X ~ Hypergeometric(N, n(c), n(A)).

The same test on the firms of a sub-antecedent ``B ⊂ A`` (``A`` against ``B`` without ``A``)
says whether ``A`` is *productive*: better than ``B → c`` (Webb 2007, "Discovering
significant patterns", Machine Learning 68). Because both margins are conditioned on,
searching only antecedents and consequents that are frequent enough does not bias the test.

Two corrections over the whole family of tests: Benjamini–Hochberg (1995) controls the
false-discovery rate — the expected share of kept rules that hold by chance — and is valid
for positively dependent tests (Benjamini & Yekutieli 2001), the usual case for one-sided
tests of rules that share items; Holm's step-down procedure (Holm 1979) controls the
family-wise error rate — the chance of keeping even one rule by chance — under any
dependence, at a much lower power when thousands of rules are tested.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import false_discovery_control, hypergeom

from creditpersona.errors import parameter_error

__all__ = ["benjamini_hochberg", "fisher_greater", "holm"]


def fisher_greater(both: npt.ArrayLike, total: npt.ArrayLike, consequent: npt.ArrayLike,
                   antecedent: npt.ArrayLike) -> np.ndarray:
    """One-sided p-values of Fisher's exact test that ``A`` raises the rate of ``c``.

    Parameters
    ----------
    both : array-like of int
        Firms with ``A`` and ``c``.
    total : array-like of int
        Firms in the population tested (a scope, or the firms of a sub-antecedent).
    consequent : array-like of int
        Firms of the population with ``c``.
    antecedent : array-like of int
        Firms of the population with ``A``.

    Returns
    -------
    numpy.ndarray
        ``P(X ≥ both)`` for ``X ~ Hypergeometric(total, consequent, antecedent)``.

    Examples
    --------
    The tea-tasting table of Fisher (1935): 3 of 4 cups right, 4 of 8 with milk first.

    >>> round(float(fisher_greater(3, 8, 4, 4)[0]), 4)  # (16 + 1) / 70
    0.2429
    >>> from scipy.stats import fisher_exact
    >>> round(float(fisher_exact([[3, 1], [1, 3]], alternative="greater").pvalue), 4)
    0.2429
    """
    k = np.atleast_1d(np.asarray(both, dtype=np.int64))
    return np.asarray(hypergeom.sf(k - 1, np.asarray(total, dtype=np.int64),
                                   np.asarray(consequent, dtype=np.int64),
                                   np.asarray(antecedent, dtype=np.int64)), dtype=np.float64)


def _family_size(p: np.ndarray, m: int | None, owner: str) -> int:
    m = len(p) if m is None else m
    if m < len(p):
        raise parameter_error("m", owner, f"an int ≥ the number of p-values ({len(p)})", m)
    return m


def benjamini_hochberg(p: npt.ArrayLike, m: int | None = None) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) of ``p`` among ``m`` hypotheses.

    Hypotheses counted in the search but not tested count in ``m`` with p = 1.

    Parameters
    ----------
    p : array-like of float
        Raw p-values.
    m : int, optional
        Hypotheses in the family; default ``len(p)``.

    Returns
    -------
    numpy.ndarray
        ``min over j ≥ i of m p_(j) / j`` (capped at 1) in the order of ``p``: keep at
        false-discovery rate q where ≤ q.

    Raises
    ------
    ConfigurationError
        If ``m`` is smaller than ``len(p)``.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.04, 0.04]
    >>> benjamini_hochberg([0.01, 0.02], m=4).tolist()
    [0.04, 0.04]
    """
    p = np.asarray(p, dtype=np.float64)
    m = _family_size(p, m, "benjamini_hochberg")
    if len(p) == 0:
        return p.copy()
    # SciPy's own BH; the untested hypotheses join the family as p = 1.
    family = np.concatenate([p, np.ones(m - len(p))])
    return np.asarray(false_discovery_control(family, method="bh")[:len(p)], dtype=np.float64)


def holm(p: npt.ArrayLike, m: int | None = None) -> np.ndarray:
    """Holm-adjusted p-values of ``p`` among ``m`` hypotheses (``m ≥ len(p)``).

    Hypotheses that were counted in the search but not tested (too few firms to matter)
    count in ``m`` with p = 1: they only make the correction stricter.

    Parameters
    ----------
    p : array-like of float
        Raw p-values.
    m : int, optional
        Hypotheses in the family; default ``len(p)``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the order of ``p``: reject at level α where ≤ α.

    Raises
    ------
    ConfigurationError
        If ``m`` is smaller than ``len(p)``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    >>> holm([0.01], m=5).tolist()
    [0.05]
    """
    p = np.asarray(p, dtype=np.float64)
    m = _family_size(p, m, "holm")
    order = np.argsort(p, kind="stable")
    steps = (m - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted
