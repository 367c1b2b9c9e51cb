"""The rules stage as kernels: items per firm on any bucket, mining on a bounded sample.

* :func:`fit_rules` ``(as_of, personas) -> RulesModel``: everything global before the items
  — the vocabulary with its settings, the persona names (one item and one scope each; a
  bucket must build every persona's column, not only those it holds) and the cap of the
  mining sample.
* :func:`apply_rules` ``(model, tables, profile, personas) -> basket``: the behaviour items
  of a bucket of whole firms (:func:`~creditpersona.rules.items.basket_items`); pure and
  chunk-invariant.
* :func:`partial_rules` ``(model, basket, personas) -> frame`` and :func:`combine_rules`
  ``(model, partials) -> RuleSample``: the mining sample, mergeable. Each firm gets a
  pseudo-random key from its id (a fixed hash, the same in every process); a bucket keeps
  its ``sample_cap`` firms with the smallest keys and the combination keeps the
  ``sample_cap`` smallest of all, which are exactly the ``sample_cap`` smallest of the
  whole portfolio, however the firms were split. A bank of at most ``sample_cap`` firms is
  mined whole.
* :func:`mine_sample` ``(model, sample) -> RuleSet``: FP-growth counts, Fisher tests and
  the shuffle control (:func:`~creditpersona.rules.mining.mine_rules`) on the sample, on
  the driver. Why a sample and not merged itemset counts: the answer's overlap filter
  (Jaccard of two rules' firms) and the shuffle control (outcomes permuted across firms)
  need the firms' baskets, not only counts. Supports are shares, so a sample of 250,000
  firms finds the portfolio's frequent itemsets up to sampling error; the Fisher tests run
  on the sample's counts (less power than on every firm; not measured at a million firms).

:func:`~creditpersona.rules.store.rules_stage` (the embedded engine) is these kernels on
every firm, with the same cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from creditpersona.errors import parameter_error
from creditpersona.rules.items import ItemVocabulary, basket_items, load_items
from creditpersona.rules.mining import RuleSet, mine_rules, shuffle_control

__all__ = ["RuleSample", "RulesModel", "apply_rules", "combine_rules", "fit_rules",
           "mine_sample", "partial_rules"]

#: Most firms the rules are mined on (a uniform sample of the portfolio above it).
SAMPLE_CAP = 250_000
_KEY = "_sample_key"
_SCOPE = "_scope"


@dataclass(frozen=True)
class RulesModel:
    """What the rules need beyond a firm's own rows (small; broadcast to the workers).

    Attributes
    ----------
    as_of : datetime.date
    vocabulary : ItemVocabulary
        Items, questions and mining settings (with the cycle's persona names).
    personas : tuple of str
        Every persona (scope) name, sorted: one persona item each in every bucket.
    sample_cap : int
        Most firms mined.
    """

    as_of: dt.date
    vocabulary: ItemVocabulary
    personas: tuple[str, ...]
    sample_cap: int = SAMPLE_CAP


@dataclass(frozen=True)
class RuleSample:
    """The firms the rules are mined on.

    Attributes
    ----------
    basket : pandas.DataFrame
        One bool column per item, index ``firm_id`` (sorted).
    by : pandas.Series or None
        The persona (scope) of each firm of ``basket`` (None: no personas).
    firms : int
        Firms in the portfolio (``len(basket)`` unless sampled).
    """

    basket: pd.DataFrame
    by: pd.Series | None
    firms: int

    @property
    def sampled(self) -> bool:
        """Whether the basket is a sample of the portfolio rather than all of it."""
        return self.firms > len(self.basket)


def fit_rules(as_of: dt.date, personas: pd.Series | Iterable[str] | None = None, *,
              vocabulary: ItemVocabulary | None = None,
              sample_cap: int = SAMPLE_CAP) -> RulesModel:
    """The global part of the rules: the vocabulary, every persona name and the cap.

    Parameters
    ----------
    as_of : datetime.date
    personas : pandas.Series or iterable of str, optional
        The persona of each firm, or just the persona names (small either way).
    vocabulary : ItemVocabulary, optional
        Default: :func:`~creditpersona.rules.items.load_items`.
    sample_cap : int, default :data:`SAMPLE_CAP`

    Raises
    ------
    ConfigurationError
        If ``sample_cap`` is not a positive int.
    """
    if isinstance(sample_cap, bool) or not isinstance(sample_cap, int) or sample_cap < 1:
        raise parameter_error("sample_cap", "fit_rules", "an int ≥ 1", sample_cap)
    names: tuple[str, ...] = ()
    if personas is not None:
        series = personas if isinstance(personas, pd.Series) else pd.Series(list(personas))
        names = tuple(sorted(series.dropna().astype(str).unique()))
    return RulesModel(as_of, vocabulary or load_items(), names, sample_cap)


def apply_rules(model: RulesModel, tables: Mapping[str, ir.Table | pd.DataFrame],
                profile: pd.DataFrame, personas: pd.Series | None = None) -> pd.DataFrame:
    """The behaviour basket of a bucket of whole firms (chunk-invariant).

    Parameters
    ----------
    model : RulesModel
    tables : mapping of str to ibis.Table or pandas.DataFrame
        The bucket's rows of :data:`~creditpersona.rules.items.ITEM_TABLES` (or the
        store's tables: every firm).
    profile : pandas.DataFrame
        The bucket's profile rows.
    personas : pandas.Series, optional
        Persona name per firm (index ``firm_id``).

    Returns
    -------
    pandas.DataFrame
        One row per firm of the bucket founded by the as-of date, one bool per item (every
        persona of ``model`` included), index ``firm_id`` sorted.
    """
    return basket_items(tables, model.as_of, profile, personas, vocabulary=model.vocabulary,
                        persona_names=model.personas if model.personas else None)


def sample_keys(ids: pd.Index) -> np.ndarray:
    """A fixed pseudo-random key per firm id (pandas' hash: the same in every process); the
    mining sample is the firms of smallest key."""
    return pd.util.hash_pandas_object(pd.Series(ids.astype(str)), index=False).to_numpy()


def partial_rules(model: RulesModel, basket: pd.DataFrame,
                  personas: pd.Series | None = None) -> pd.DataFrame:
    """A bucket's share of the mining sample: its ``sample_cap`` firms of smallest key.

    Returns
    -------
    pandas.DataFrame
        At most ``model.sample_cap`` rows: ``firm_id``, the sample key, the firm's persona,
        ``_firms`` (the bucket's firm count on the first row, 0 elsewhere, so that the
        combination knows the portfolio's) and the items. An empty bucket gives one row
        without a firm.
    """
    frame = basket.reset_index()
    frame.insert(1, _KEY, sample_keys(pd.Index(basket.index)))
    frame.insert(2, _SCOPE, (personas.reindex(basket.index).to_numpy(dtype=object)
                             if personas is not None else None))
    kept = frame.nsmallest(model.sample_cap, _KEY) if len(frame) > model.sample_cap else frame
    kept = kept.reset_index(drop=True)
    kept.insert(3, "_firms", np.zeros(len(kept), dtype=np.int64))
    if len(kept):
        kept.loc[0, "_firms"] = len(frame)
    else:  # an empty bucket: one row saying so, dropped by the combination
        kept = pd.DataFrame({"firm_id": [None], _KEY: [np.uint64(0)], _SCOPE: [None],
                             "_firms": [0]})
    return kept


def combine_rules(model: RulesModel, partials: Sequence[pd.DataFrame]) -> RuleSample:
    """The mining sample of the portfolio from its buckets' :func:`partial_rules`.

    Raises
    ------
    ValueError
        If ``partials`` is empty.
    """
    if not partials:
        raise ValueError("combine_rules needs the partials of one or more buckets.")
    firms = int(sum(p["_firms"].sum() for p in partials))
    held = [p for p in partials if p["firm_id"].notna().any()] or list(partials[:1])
    frame = pd.concat(held, ignore_index=True)
    frame = frame[frame["firm_id"].notna()]
    if len(frame) > model.sample_cap:
        frame = frame.nsmallest(model.sample_cap, _KEY)
    frame = frame.sort_values("firm_id", kind="stable").set_index("firm_id")
    by = frame[_SCOPE] if model.personas else None
    basket = frame.drop(columns=[_KEY, _SCOPE, "_firms"]).astype(bool)
    if by is not None:
        by = by.rename(None)
    return RuleSample(basket, by, firms)


def mine_sample(model: RulesModel, sample: RuleSample, *, control: bool = True,
                **settings: Any) -> RuleSet:
    """Mine and test the rules on the sample (with the shuffle control unless ``control``
    is False); a sampled portfolio is recorded in ``params["sample"]``.

    ``settings`` are ``min_support``, ``max_len`` and ``alpha`` as for
    :func:`~creditpersona.rules.mining.mine_rules` (None: the vocabulary's).
    """
    vocab = model.vocabulary
    ruleset = mine_rules(sample.basket, sample.by, vocabulary=vocab, as_of=model.as_of,
                         **settings)
    params = dict(ruleset.params)
    if control:
        params["shuffle_control"] = shuffle_control(sample.basket, sample.by, real=ruleset,
                                                    vocabulary=vocab, **settings)
    if sample.sampled:
        params["sample"] = {"firms": sample.firms, "mined": len(sample.basket),
                            "cap": model.sample_cap, "method": "smallest hash of firm_id"}
    return dataclasses.replace(ruleset, params=params)
