"""Reason codes: per firm, the features that raise its default probability most, in two languages.

The estimators supply a contribution matrix (rows × features, positive = raises the PD); this
module only ranks it and attaches the Chinese and English labels. A feature without a label
is named by its column name in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd


def reason_codes(
    contributions: npt.NDArray[np.float64],
    features: Sequence[str],
    labels: Mapping[str, tuple[str, str]],
    top: int,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Rank each row's contributions and name the ``top`` features that raise the PD most.

    Parameters
    ----------
    contributions : numpy.ndarray of shape (n_rows, n_features)
        How much each feature raises each row's PD (any unit; larger = worse).
    features : sequence of str
        The column names, in the order of ``contributions``' columns.
    labels : mapping
        Feature → (Chinese, English) label; features not in it are named by their column.
    top : int
        How many reasons per row.
    index : pandas.Index, optional
        The index of the result (default 0..n-1).

    Returns
    -------
    pandas.DataFrame
        ``reason_k_feature``, ``reason_k_zh``, ``reason_k_en``, ``reason_k_contribution`` for
        k = 1..top, largest contribution first. Contributions that are not positive do not
        count as reasons: their slots hold None and NaN. Ties keep the column order.

    Examples
    --------
    >>> import numpy as np
    >>> out = reason_codes(np.array([[0.5, 2.0, -1.0], [0.0, 0.0, 0.0]]),
    ...                    ["roa", "leverage", "size"],
    ...                    {"leverage": ("资产负债率", "Debt to assets")}, top=2)
    >>> out.loc[0, ["reason_1_zh", "reason_1_en", "reason_2_feature"]].tolist()
    ['资产负债率', 'Debt to assets', 'roa']
    >>> out.loc[1, "reason_1_feature"] is None
    True
    """
    n_rows, n_features = contributions.shape
    top = min(top, n_features)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    values = np.take_along_axis(contributions, order, axis=1)
    positive = values > 0
    names = np.asarray(features, dtype=object)
    zh = np.asarray([labels.get(f, (f, f))[0] for f in features], dtype=object)
    en = np.asarray([labels.get(f, (f, f))[1] for f in features], dtype=object)
    index = index if index is not None else pd.RangeIndex(n_rows)
    columns: dict[str, pd.Series] = {}
    for k in range(top):
        rank, ok = order[:, k], positive[:, k]
        # object dtype keeps None as None (pandas would otherwise infer strings and NaN)
        for suffix, text in (("feature", names), ("zh", zh), ("en", en)):
            picked = text[rank]
            picked[~ok] = None
            columns[f"reason_{k + 1}_{suffix}"] = pd.Series(picked, index=index, dtype=object)
        columns[f"reason_{k + 1}_contribution"] = pd.Series(
            np.where(ok, values[:, k], np.nan), index=index, dtype=np.float64)
    frame = pd.DataFrame(columns, index=index)
    return frame
