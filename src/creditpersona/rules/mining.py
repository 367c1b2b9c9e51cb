"""Association rules from a behaviour basket: FP-growth, metrics, pruning, sentences.

Frequent itemsets come from ``mlxtend.frequent_patterns.fpgrowth``. Every rule has one
consequent item ``c`` and an antecedent ``A`` (one or more items), with, over the ``N``
firms of its scope,

* support ``s(A ∪ c)``: the share of firms holding every item;
* confidence ``s(A ∪ c) / s(A)``: the share of firms with ``A`` that also show ``c``;
* lift ``confidence / s(c)``: how many times more often ``c`` occurs given ``A``;
* conviction ``(1 − s(c)) / (1 − confidence)`` (infinite when the confidence is 1);

and it is kept when it reaches the thresholds. A rule is **redundant**, and pruned, when a
rule with the same consequent and an antecedent that is a proper subset of its own has at
least its confidence (and so at least its lift: both share ``s(c)``): the extra items add
nothing. Items of a group marked ``consequent: false`` in the vocabulary (industry, size,
persona) stay on the left-hand side.

Scopes: ``'portfolio'`` mines every firm (with the persona items, when the basket has them);
with ``by`` (persona per firm) each persona's firms are mined again on their own, without
persona items, and the lift is then relative to that persona.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from mlxtend.frequent_patterns import fpgrowth

from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models import artefacts
from creditpersona.rules.items import PERSONA_PREFIX, ItemVocabulary, load_items

__all__ = ["PORTFOLIO", "RULE_COLUMNS", "RuleSet", "mine_rules"]

PORTFOLIO = "portfolio"
RULE_COLUMNS = (
    "scope", "antecedents", "consequents", "antecedent_support", "consequent_support",
    "support", "confidence", "lift", "conviction", "firms", "count", "sentence_zh",
    "sentence_en",
)


@artefacts.trusted("rule_set")
@dataclass(frozen=True)
class RuleSet:
    """Mined rules, the thresholds used and what each scope gave.

    Attributes
    ----------
    rules : pandas.DataFrame
        One row per rule, columns :data:`RULE_COLUMNS` (``antecedents`` and ``consequents``
        are tuples of item codes), portfolio first, then by scope and decreasing lift.
    params : dict
        The thresholds the rules were mined with.
    scopes : pandas.DataFrame
        Per scope: ``firms``, frequent ``itemsets``, ``candidates`` (rules reaching the
        thresholds), ``pruned`` (redundant among them) and ``rules`` kept.
    as_of : datetime.date, optional
        The as-of date of the basket, when known.
    """

    rules: pd.DataFrame
    params: dict[str, float] = field(default_factory=dict)
    scopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    as_of: dt.date | None = None

    def top(self, n: int = 20, by: str = "lift", scope: str | None = None) -> pd.DataFrame:
        """The ``n`` strongest rules by ``by`` (all scopes, or one)."""
        r = self.rules if scope is None else self.rules[self.rules["scope"] == scope]
        return r.sort_values([by, "support"], ascending=False).head(n)

    def find(self, antecedents: tuple[str, ...] | list[str] | set[str], consequent: str,
             scope: str = PORTFOLIO) -> pd.Series | None:
        """The rule ``antecedents → consequent`` of ``scope``, or None if it was not kept."""
        want = tuple(sorted(antecedents))
        r = self.rules
        hit = r[(r["scope"] == scope) & (r["antecedents"] == want)
                & (r["consequents"] == (consequent,))]
        return None if hit.empty else hit.iloc[0]

    def to_records(self) -> list[dict[str, Any]]:
        """The rules as JSON-ready dicts (an infinite conviction becomes None)."""
        out: list[dict[str, Any]] = []
        for raw in self.rules.to_dict(orient="records"):
            rec = {str(k): v for k, v in raw.items()}
            rec["antecedents"] = list(rec["antecedents"])
            rec["consequents"] = list(rec["consequents"])
            rec = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in rec.items()}
            out.append(rec)
        return out


def _check(basket: pd.DataFrame, min_support: float, min_confidence: float, min_lift: float,
           max_len: int, min_count: int, by: pd.Series | None) -> None:
    owner = "mine_rules"
    if not isinstance(basket, pd.DataFrame):
        raise parameter_error("basket", owner, "a pandas DataFrame of bool item columns",
                              type(basket).__name__)
    if not 0 < min_support <= 1:
        raise parameter_error("min_support", owner, "a float in (0, 1]", min_support)
    if not 0 < min_confidence <= 1:
        raise parameter_error("min_confidence", owner, "a float in (0, 1]", min_confidence)
    if not min_lift >= 0:
        raise parameter_error("min_lift", owner, "a float ≥ 0", min_lift)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
        raise parameter_error("max_len", owner, "an int ≥ 2", max_len)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise parameter_error("min_count", owner, "an int ≥ 1", min_count)
    if by is not None and not isinstance(by, pd.Series):
        raise parameter_error("by", owner, "a pandas Series of scope names indexed like the "
                              "basket", type(by).__name__)
    not_bool = [str(c) for c in basket.columns if not pd.api.types.is_bool_dtype(basket[c])]
    if not_bool:
        raise SchemaError(
            f"basket: columns {', '.join(not_bool[:5])} are not bool; build the basket with "
            "behaviour_items or cast the one-hot columns with .astype(bool).")
    if basket.columns.duplicated().any():
        raise SchemaError("basket: item columns must be unique.")


def _frequent(x: pd.DataFrame, min_support: float, max_len: int) -> pd.DataFrame:
    if x.shape[1] == 0 or len(x) == 0:
        return pd.DataFrame({"support": [], "itemsets": []})
    return fpgrowth(x, min_support=min_support, use_colnames=True, max_len=max_len)


def _candidates(freq: pd.DataFrame, may_follow: dict[str, bool]) -> pd.DataFrame:
    """Every single-consequent rule the frequent itemsets support, with its metrics."""
    support = dict(zip(freq["itemsets"], freq["support"], strict=True))
    rows: list[tuple[frozenset[str], str, float]] = []
    for itemset, s in support.items():
        if len(itemset) < 2:
            continue
        rows.extend((itemset - {c}, c, s) for c in itemset if may_follow.get(c, True))
    if not rows:
        return pd.DataFrame(columns=["antecedent", "consequent", "support",
                                     "antecedent_support", "consequent_support"])
    ante, cons, sup = zip(*rows, strict=True)
    return pd.DataFrame({
        "antecedent": list(ante), "consequent": list(cons), "support": np.array(sup),
        "antecedent_support": np.array([support[a] for a in ante]),
        "consequent_support": np.array([support[frozenset((c,))] for c in cons]),
    })


def _redundant(rules: pd.DataFrame, confidence_of: dict[tuple[frozenset[str], str], float]
               ) -> np.ndarray:
    """True where a rule with a proper sub-antecedent and the same consequent does as well."""
    out = np.zeros(len(rules), dtype=bool)
    for k, (a, c, conf) in enumerate(zip(rules["antecedent"], rules["consequent"],
                                         rules["confidence"], strict=True)):
        for size in range(1, len(a)):
            if any(confidence_of.get((frozenset(sub), c), -1.0) >= conf - 1e-12
                   for sub in itertools.combinations(a, size)):
                out[k] = True
                break
    return out


def _mine_scope(x: pd.DataFrame, may_follow: dict[str, bool], min_support: float,
                min_confidence: float, min_lift: float, max_len: int, min_count: int
                ) -> tuple[pd.DataFrame, dict[str, int]]:
    n = len(x)
    # An item every firm of the scope holds has lift 1 with anything: it tells nothing.
    x = x.loc[:, ~x.all(axis=0) & x.any(axis=0)] if n else x
    threshold = max(min_support, min_count / n) if n else min_support
    freq = _frequent(x, min(threshold, 1.0), max_len)
    cand = _candidates(freq, may_follow)
    cand["confidence"] = cand["support"] / cand["antecedent_support"]
    cand["lift"] = cand["confidence"] / cand["consequent_support"]
    confidence_of = dict(zip(zip(cand["antecedent"], cand["consequent"], strict=True),
                             cand["confidence"], strict=True))
    kept = cand[(cand["confidence"] >= min_confidence) & (cand["lift"] >= min_lift)]
    pruned = _redundant(kept, confidence_of) if len(kept) else np.zeros(0, dtype=bool)
    rules = kept[~pruned].copy()
    with np.errstate(divide="ignore"):
        rules["conviction"] = np.where(
            rules["confidence"] >= 1.0, np.inf,
            (1.0 - rules["consequent_support"]) / (1.0 - rules["confidence"]))
    rules["firms"] = n
    rules["count"] = np.rint(rules["support"] * n).astype("int64")
    stats = {"firms": n, "itemsets": len(freq), "candidates": len(kept),
             "pruned": int(pruned.sum()), "rules": len(rules)}
    return rules, stats


def _sentences(rules: pd.DataFrame, labels: pd.DataFrame, vocab: ItemVocabulary
               ) -> tuple[list[str], list[str]]:
    zh_of = labels["zh"].to_dict()
    en_of = labels["en"].to_dict()
    zh, en = [], []
    for scope, ante, cons, conf, lift, sup in zip(
            rules["scope"], rules["antecedents"], rules["consequents"], rules["confidence"],
            rules["lift"], rules["support"], strict=True):
        if scope == PORTFOLIO:
            where_zh, where_en = "全部客户中", "Across the portfolio"
        else:
            name_zh, name_en = vocab.persona_names(scope)
            where_zh, where_en = f"{name_zh}中", f"Among {name_en}"
        a_zh = "且".join(zh_of.get(a, a) for a in ante)
        a_en = " and ".join(en_of.get(a, a) for a in ante)
        c = cons[0]
        zh.append(f"{where_zh}，{a_zh}的企业有{conf:.0%}{zh_of.get(c, c)}"
                  f"（提升度{lift:.1f}，支持度{sup:.1%}）")
        en.append(f"{where_en}, {conf:.0%} of firms that {a_en} {en_of.get(c, c)} "
                  f"(lift {lift:.1f}, support {sup:.1%}).")
    return zh, en


def mine_rules(
    basket: pd.DataFrame,
    min_support: float | None = None,
    min_confidence: float | None = None,
    min_lift: float | None = None,
    max_len: int | None = None,
    by: pd.Series | None = None,
    *,
    min_count: int | None = None,
    vocabulary: ItemVocabulary | None = None,
    as_of: dt.date | None = None,
) -> RuleSet:
    """Mine single-consequent association rules, portfolio-wide and per scope of ``by``.

    Parameters
    ----------
    basket : pandas.DataFrame
        One row per firm, one bool column per item (:func:`behaviour_items`).
    min_support, min_confidence, min_lift : float, optional
        Thresholds; default the vocabulary's ``mining`` section.
    max_len : int, optional
        Most items in a rule, consequent included (≥ 2).
    by : pandas.Series, optional
        A scope (persona) name per firm, indexed like ``basket``; each scope is also mined
        on its own. Firms without a name belong to the portfolio scope only.
    min_count : int, optional
        Fewest firms a rule must cover: in a small scope the support threshold rises to
        ``min_count / firms`` so that a handful of firms cannot make a rule.
    vocabulary : ItemVocabulary, optional
        Labels and which groups may be consequents; default :func:`load_items`.
    as_of : datetime.date, optional
        Recorded on the result.

    Returns
    -------
    RuleSet

    Raises
    ------
    ConfigurationError
        For a parameter out of range.
    SchemaError
        If the basket has non-bool columns.

    Examples
    --------
    Ten firms; six hold a tech R&D loan, five of them repay early, one other firm does too:

    >>> b = pd.DataFrame({"product_tech_rnd": [True] * 6 + [False] * 4,
    ...                   "repay_early": [True] * 5 + [False, True] + [False] * 3})
    >>> rs = mine_rules(b, min_support=0.1, min_confidence=0.5, min_lift=1.0, min_count=1)
    >>> r = rs.find(["product_tech_rnd"], "repay_early")
    >>> [round(float(r[k]), 3) for k in ('support', 'confidence', 'lift', 'conviction')]
    [0.5, 0.833, 1.389, 2.4]
    >>> print(r.sentence_en)  # doctest: +NORMALIZE_WHITESPACE
    Across the portfolio, 83% of firms that hold a tech R&D loan repay early (lift 1.4, support
    50.0%).
    >>> r.sentence_zh
    '全部客户中，持有科技研发贷款的企业有83%提前还款（提升度1.4，支持度50.0%）'
    """
    vocab = vocabulary or load_items()
    m = vocab.mining
    min_support = m.min_support if min_support is None else min_support
    min_confidence = m.min_confidence if min_confidence is None else min_confidence
    min_lift = m.min_lift if min_lift is None else min_lift
    max_len = m.max_len if max_len is None else max_len
    min_count = m.min_count if min_count is None else min_count
    _check(basket, min_support, min_confidence, min_lift, max_len, min_count, by)

    personas = sorted({str(c)[len(PERSONA_PREFIX):] for c in basket.columns
                       if str(c).startswith(PERSONA_PREFIX)}
                      | (set(by.dropna().astype(str)) if by is not None else set()))
    labels = vocab.labels(personas)
    may_follow = {str(c): bool(labels["consequent"].get(c, True)) for c in basket.columns}
    x = basket.rename(columns=str)
    scopes: list[tuple[str, pd.DataFrame]] = [(PORTFOLIO, x)]
    if by is not None:
        names = by.reindex(x.index)
        within = x[[c for c in x.columns if not c.startswith(PERSONA_PREFIX)]]
        scopes += [(str(s), within[(names == s).to_numpy()])
                   for s in sorted(names.dropna().unique(), key=str)]
    parts, stats = [], []
    for scope, xs in scopes:
        rules, st = _mine_scope(xs, may_follow, min_support, min_confidence, min_lift,
                                max_len, min_count)
        parts.append(rules.assign(scope=scope))
        stats.append({"scope": scope, **st})
    # A scope without rules is an empty frame of object columns: leave it out of the concat
    # so that the measures stay numeric.
    found = [part for part in parts if len(part)]
    rules = pd.concat(found or parts[:1], ignore_index=True) if parts else pd.DataFrame()
    for column in ("support", "confidence", "lift", "conviction"):
        if column in rules.columns:
            rules[column] = rules[column].astype("float64")
    rules["antecedents"] = [tuple(sorted(a)) for a in rules["antecedent"]]
    rules["consequents"] = [(c,) for c in rules["consequent"]]
    order = {s: k for k, (s, _) in enumerate(scopes)}
    rules = rules.assign(_o=rules["scope"].map(order)).sort_values(
        ["_o", "lift", "support"], ascending=[True, False, False], kind="stable")
    rules["sentence_zh"], rules["sentence_en"] = _sentences(rules, labels, vocab)
    params = {"min_support": float(min_support), "min_confidence": float(min_confidence),
              "min_lift": float(min_lift), "max_len": int(max_len), "min_count": int(min_count)}
    return RuleSet(rules[list(RULE_COLUMNS)].reset_index(drop=True), params,
                   pd.DataFrame(stats), as_of)
