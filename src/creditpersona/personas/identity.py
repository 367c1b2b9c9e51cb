"""Stable persona identity across re-fits: match new personas to old ones.

When personas are re-fitted on new data, the new personas are matched one-to-one to the old
ones by minimum total distance between centroids (Hungarian assignment,
:func:`scipy.optimize.linear_sum_assignment`), so ids, names and business overrides carry
over. Centroids are compared in the *old* model's space: the new personas' centroids are the
means of their firms embedded by the old model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from creditpersona import artefacts
from creditpersona.personas.segment import PersonaSegmenter


@artefacts.trusted("persona_identity_match")
@dataclass(frozen=True)
class IdentityMatch:
    """How the new personas map onto the old ones.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per new persona: ``new``, ``old`` (−1 when unmatched: the new model has more
        personas), ``distance`` between the centroids, ``relative_distance`` (distance over
        the median distance between two old centroids: well below 1 is a good match) and
        ``overlap`` (share of the new persona's firms the old model puts in the matched old
        persona).
    agreement : float
        Share of firms whose old persona equals the matched new one.
    ari : float
        Adjusted Rand index between the old and new assignment of the same firms.
    """

    pairs: pd.DataFrame
    agreement: float
    ari: float

    def mapping(self) -> dict[int, int]:
        """New persona → old persona, for the matched ones."""
        matched = self.pairs[self.pairs["old"] >= 0]
        return dict(zip(matched["new"].astype(int), matched["old"].astype(int), strict=True))


def hungarian_match(old: npt.ArrayLike, new: npt.ArrayLike) -> tuple[npt.NDArray[np.int64],
                                                                    npt.NDArray[np.float64]]:
    """Match rows of ``new`` to rows of ``old`` by minimum total Euclidean distance.

    Missing coordinates are ignored (distance over the coordinates both centroids have).

    Returns
    -------
    match : numpy.ndarray
        For each new row the old row matched to it, −1 if none (more new rows than old).
    distance : numpy.ndarray
        The distance of each match (NaN if none).

    Examples
    --------
    >>> old = [[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]]
    >>> new = [[0.1, 4.9], [4.8, 5.2], [0.2, -0.1]]
    >>> hungarian_match(old, new)[0].tolist()
    [2, 1, 0]
    """
    a = np.atleast_2d(np.asarray(old, dtype=float))
    b = np.atleast_2d(np.asarray(new, dtype=float))
    diff = b[:, None, :] - a[None, :, :]
    cost = np.sqrt(np.nansum(diff ** 2, axis=2))
    rows, cols = linear_sum_assignment(cost)
    match = np.full(len(b), -1, dtype=np.int64)
    distance = np.full(len(b), np.nan)
    match[rows] = cols
    distance[rows] = cost[rows, cols]
    return match, distance


def match_personas(previous: PersonaSegmenter, current: PersonaSegmenter,
                   frame: pd.DataFrame) -> IdentityMatch:
    """Match the personas of ``current`` to those of ``previous`` on the firms of ``frame``.

    Parameters
    ----------
    previous, current : PersonaSegmenter
        Fitted segmenters (any numbers of personas; features may differ).
    frame : pandas.DataFrame
        Profile rows both can label (usually the data ``current`` was fitted on).

    Returns
    -------
    IdentityMatch
    """
    old_labels = previous.predict(frame)
    new_labels = current.predict(frame)
    embedded = previous.embed(frame)
    k_new = current.n_personas_
    old_centres = np.vstack([embedded[old_labels == j].mean(axis=0) if (old_labels == j).any()
                             else np.full(embedded.shape[1], np.nan)
                             for j in range(previous.n_personas_)])
    new_centres = np.vstack([embedded[new_labels == j].mean(axis=0) if (new_labels == j).any()
                             else np.full(embedded.shape[1], np.nan) for j in range(k_new)])
    old_centres = np.nan_to_num(old_centres)
    new_centres = np.nan_to_num(new_centres)
    match, distance = hungarian_match(old_centres, new_centres)
    spread = [np.linalg.norm(old_centres[i] - old_centres[j])
              for i in range(len(old_centres)) for j in range(i + 1, len(old_centres))]
    scale = float(np.median(spread)) if spread else 1.0
    overlap = [float((old_labels[new_labels == j] == match[j]).mean())
               if (new_labels == j).any() and match[j] >= 0 else 0.0 for j in range(k_new)]
    pairs = pd.DataFrame({"new": np.arange(k_new), "old": match, "distance": distance,
                          "relative_distance": distance / scale if scale > 0 else distance,
                          "overlap": overlap})
    mapped = np.where(match[new_labels] >= 0, match[new_labels], -1)
    return IdentityMatch(pairs, float((mapped == old_labels).mean()),
                         float(adjusted_rand_score(old_labels, new_labels)))
