"""optbinning's optimal binning with the CP model replaced by an exact dynamic programme.

The scorecard (:mod:`~creditpersona.models.scorecard`) bins every feature with
``OptimalBinning(monotonic_trend="auto_asc_desc")`` and no other constraint. optbinning
states that problem as a constraint programme (OR-Tools CP-SAT): choose which pre-bins end a
bin so that the sum of the bins' information values (IV, scaled to integers) is largest and
the bins' event rates (scaled to integers) never fall (ascending) or never rise
(descending). Building that model in Python and solving it was two thirds of the
scorecard's fit on the Polish data (docs/pd-speed.md).

Bins are runs of consecutive pre-bins, the objective is a sum over bins and the monotonic
constraint binds only neighbouring bins (``≤`` is transitive), so the same problem is solved
exactly by a dynamic programme over (first, last pre-bin) of the last bin: O(n³) integer
additions for n pre-bins (n ≤ 20 by default) instead of a CP model with O(n²) constraints of
O(n) terms. The programme reads optbinning's own integer data (``model_data`` with the same
scale) and applies the CP model's preprocessing (the bin ends it forbids), so it has the
same feasible set and the same optimum. Integer IVs tie exactly when a bin could be split
into two of almost the same rate; among tied solutions the one with the most bins is taken.
CP-SAT's choice among ties is unspecified (it took the finer solution in some ties, the
coarser in others): on the Polish file's 10 training folds, 634 of 640 binnings have
optbinning's split points and the 6 others tie it exactly (docs/pd-speed.md).

:class:`OptimalBinning` takes this path only for the problems it covers (CP solver,
ascending or descending trend, IV divergence, no size, count, p-value, rate-difference,
bin-count, regularisation or fixed-split constraint); every other configuration runs
optbinning's own solver unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from optbinning import OptimalBinning as _OptimalBinning
from optbinning.binning.auto_monotonic import auto_monotonic
from optbinning.binning.model_data import model_data

#: optbinning's integer scale of the CP model's rates and IVs (``BinningCP.build_model``).
SCALE = int(1e6)
_CONSTRAINTS = ("min_n_bins", "max_n_bins", "min_bin_size", "max_bin_size",
                "min_bin_n_event", "max_bin_n_event", "min_bin_n_nonevent",
                "max_bin_n_nonevent", "max_pvalue", "user_splits_fixed")


class OptimalBinning(_OptimalBinning):
    """optbinning's ``OptimalBinning`` solving monotonic IV binning by dynamic programming.

    Same parameters, attributes and results as optbinning's class (see the module notes
    for the problems it solves itself).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=5000)
    >>> y = (rng.uniform(size=5000) < 1 / (1 + np.exp(2 - x))).astype(int)
    >>> from optbinning import OptimalBinning as Original
    >>> ours = OptimalBinning(monotonic_trend="auto_asc_desc").fit(x, y)
    >>> theirs = Original(monotonic_trend="auto_asc_desc").fit(x, y)
    >>> bool(np.array_equal(ours.splits, theirs.splits)), ours.status
    (True, 'OPTIMAL')
    """

    def _covered(self) -> bool:
        return (self.solver == "cp" and self.divergence == "iv" and not self.gamma
                and not self.min_event_rate_diff
                and all(getattr(self, c) is None for c in _CONSTRAINTS))

    def _fit_optimizer(self, splits: npt.NDArray[Any], n_nonevent: npt.NDArray[Any],
                       n_event: npt.NDArray[Any]) -> None:
        if len(n_nonevent) <= 1 or not self._covered():
            super()._fit_optimizer(splits, n_nonevent, n_event)
            return
        if self.dtype == "numerical":
            trend = self.monotonic_trend
            if trend in ("auto", "auto_heuristic", "auto_asc_desc"):
                trend = auto_monotonic(n_nonevent, n_event, trend)
        else:  # optbinning orders categories by event rate and bins them ascending
            trend = None if self.monotonic_trend is None else "ascending"
        if trend not in ("ascending", "descending"):
            super()._fit_optimizer(splits, n_nonevent, n_event)
            return
        solution = monotone_bin_ends(n_nonevent, n_event, trend == "ascending")
        self._solution = solution
        self._optimizer, self._time_optimizer = None, None
        self._status = "OPTIMAL"
        self._splits_optimal = splits[solution[:-1]]


def monotone_bin_ends(n_nonevent: npt.NDArray[Any], n_event: npt.NDArray[Any],
                      ascending: bool) -> npt.NDArray[np.bool_]:
    """Which pre-bins end a bin in the IV-optimal monotonic binning (the last always does).

    Solves optbinning's CP model (``BinningCP`` with only the monotonic constraint) exactly,
    on its integer rates ``D`` and IVs ``V``: ``D[e][s]`` and ``V[e][s]`` are those of the
    bin made of pre-bins ``s..e``.

    Examples
    --------
    Event rates 10 %, 30 %, 20 %, 40 %: ascending bins must merge the middle two.

    >>> import numpy as np
    >>> monotone_bin_ends(np.array([90, 70, 80, 60]), np.array([10, 30, 20, 40]),
    ...                   True).tolist()
    [True, False, True, True]
    """
    n = len(n_nonevent)
    rates, values = model_data("iv", np.asarray(n_nonevent), np.asarray(n_event), None,
                               "consecutive", 0, SCALE)[:2]

    def allowed(before: int, after: int) -> bool:  # may a bin of rate `after` follow?
        return bool(before <= after) if ascending else bool(before >= after)

    forbidden = _forbidden_ends(rates, n, ascending)
    # best[e][s]: (the largest total IV, then the most bins) of pre-bins 0..e whose last bin
    # is s..e; None where no monotonic binning ends that way.
    best: list[list[tuple[int, int] | None]] = [[None] * n for _ in range(n)]
    back = [[-1] * n for _ in range(n)]
    for e in range(n):
        if e in forbidden:
            continue
        best[e][0] = (int(values[e][0]), 1)
        for s in range(1, e + 1):
            top, arg = None, -1
            for p in range(s):  # the previous bin is p..s-1
                prev = best[s - 1][p]
                if (prev is not None and (top is None or prev > top)
                        and allowed(rates[s - 1][p], rates[e][s])):
                    top, arg = prev, p
            if top is not None:
                best[e][s], back[e][s] = (top[0] + int(values[e][s]), top[1] + 1), arg
    ends = np.zeros(n, dtype=bool)
    last = [(b, s) for s, b in enumerate(best[n - 1]) if b is not None]
    e, s = n - 1, max(last, key=lambda bs: bs[0])[1]  # s = 0 (one bin) is always feasible
    while True:
        ends[e] = True
        if s == 0:
            return ends
        e, s = s - 1, back[e][s]


def _forbidden_ends(rates: list[npt.NDArray[np.int64]], n: int, ascending: bool) -> set[int]:
    """The bin ends the CP model's preprocessing forbids (``add_constraint_monotonic_*``)."""
    sign = 1 if ascending else -1
    out = set()
    for i in range(n - 1):
        if sign * (rates[i + 1][i] - rates[i + 1][i + 1]) > 0:
            out.add(i)
            for j in range(n - i - 1):
                if sign * (rates[i + 1 + j][i] - rates[i + 1 + j][i + 1 + j]) > 0:
                    out.add(i + j)
    return out
