"""Association rules that answer the bank's questions, each tested against chance.

The vocabulary (``items.yaml``) declares the **questions** — how loan use and behaviour relate
to repayment (贷款用途与还款行为之间的关系, the main one), which firms take up a product,
which respond to campaigns — each a set of consequent families and of families kept off the
left-hand side, and the **definitional pairs** that never form a rule (a purpose and its
product, default and overdue records, …). A rule ``A → c`` has one consequent item ``c`` of
its question and an antecedent ``A`` of at most ``max_len − 1`` items, none of ``c``'s own
family nor paired with ``c`` by definition.

Search. Frequent itemsets (held by at least ``min_support`` of the scope's firms and
``min_count`` firms; counted by matrix products up to three items, by ``mlxtend``'s FP-growth
beyond) give every antecedent worth testing and every count a test needs. Each allowed pair
of a frequent antecedent and a consequent is one hypothesis of the search; those whose
firms with ``A`` and ``c`` are too few to matter count as tested with p = 1.

Test. A rule's p-value is the largest of Fisher's one-sided exact tests of ``A`` against the
other firms of the scope and of ``A`` against each sub-antecedent ``B ⊂ A`` on ``B``'s firms:
a rule must beat chance and be **productive** — better than every rule made of a subset of its
antecedent (Webb 2007). The correction runs over every hypothesis of the search, all
questions and scopes together. By default it is Benjamini–Hochberg at ``alpha`` = 5 %: the
expected share of kept rules that hold by chance stays below 5 %. FDR rather than FWER
because the answer is a list the bank reads as a whole, where a bounded share of chance rules
is the relevant error; with some twenty thousand hypotheses a family-wise bound (Holm) needs
p < 2·10⁻⁶ and loses conjunctions the data support clearly (on a 2,000-firm bank, "inquiry
burst and risk news → default", p = 5·10⁻⁵ against its better half). BH is valid for
positively dependent tests, as one-sided tests of rules sharing items are; the shuffle control
(:func:`shuffle_control`) checks the rate empirically. ``correction: holm`` in
``items.yaml`` gives the family-wise bound instead.

Answer. Per question and scope (the portfolio; each persona's firms on their own, without
persona items), the significant rules are ranked by **leverage**, ``s(A ∪ c) − s(A) s(c)``:
the share of the scope's firms the rule explains beyond chance, which weighs strength
(lift) and coverage (support) together. Going down that list, a rule whose firms (with
``A`` and ``c``) overlap those of a rule already kept with the same consequent by more than
``max_overlap`` (Jaccard) restates it — "tech firms with an R&D loan", "firms with an R&D
loan and a 40 % margin" — and is left out; the question's ``max_rules`` first are kept.
:func:`shuffle_control` measures how many rules survive when the outcomes are shuffled.

Example
-------
Sixty firms; thirty borrow to refinance (借新还旧) and twenty of them repay late, against
three of the thirty others:

>>> late = [True] * 20 + [False] * 10 + [True] * 3 + [False] * 27
>>> b = pd.DataFrame({"purpose_refinancing": [True] * 30 + [False] * 30,
...                   "repay_late": late})
>>> rs = mine_rules(b)
>>> r = rs.find(["purpose_refinancing"], "repay_late")
>>> r.question, int(r["count"]), round(float(r.confidence), 3), round(float(r.lift), 2)
('repayment', 20, 0.667, 1.74)
>>> float(r.p_value) < 1e-5, float(r.q_value) <= rs.params["alpha"]
(True, True)
>>> print(r.sentence_en)  # doctest: +NORMALIZE_WHITESPACE
Across the portfolio, 67% of the 30 firms that borrow to refinance (借新还旧) repay late,
against 10% of the other firms (lift 1.7).
>>> r.sentence_zh
'全部客户中，有借新还旧贷款的企业（30家）有67%逾期还款，其他企业为10%（提升度1.7）'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # mlxtend's fpcommon calls warnings.simplefilter("always", DeprecationWarning) when it is
    # imported, which would print every third-party deprecation of the process on the
    # command line; the block restores the filters as they were.
    from mlxtend.frequent_patterns import fpgrowth

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.rules.items_vocabulary import PERSONA_PREFIX, ItemVocabulary, load_items
from creditpersona.rules.significance import benjamini_hochberg, fisher_greater, holm

__all__ = ["PORTFOLIO", "RULE_COLUMNS", "RuleSet", "mine_rules", "shuffle_control"]

PORTFOLIO = "portfolio"
RULE_COLUMNS = (
    "scope", "question", "rank", "antecedents", "consequent", "firms", "antecedent_count",
    "consequent_count", "count", "support", "confidence", "others_rate", "lift", "leverage",
    "p_value", "q_value", "sentence_zh", "sentence_en",
)
_SCOPE_COLUMNS = ("scope", "question", "firms", "tested", "candidates", "significant",
                  "rules")


@artefacts.trusted("rule_set")
@dataclass(frozen=True)
class RuleSet:
    """Tested rules per question and scope, the settings used and what each scope gave.

    Attributes
    ----------
    rules : pandas.DataFrame
        One row per rule, columns :data:`RULE_COLUMNS`: ``antecedents`` is a tuple of item
        codes; ``antecedent_count``, ``consequent_count`` and ``count`` are firms with ``A``,
        with ``c`` and with both; ``others_rate`` the rate of ``c`` among the scope's other
        firms; ``p_value`` the rule's Fisher p-value (the largest over its sub-antecedents)
        and ``q_value`` its Holm-adjusted value; ``rank`` its place by leverage within its
        question and scope. Ordered by question (as in the vocabulary), portfolio first,
        then by scope and rank.
    params : dict
        Search and test settings, the number of hypotheses tested and, once measured, the
        shuffle control (``params["shuffle_control"]``).
    scopes : pandas.DataFrame
        Per scope and question: ``firms``, hypotheses ``tested``, ``candidates`` (enough firms
        to compute a p-value), ``significant`` (productive, adjusted p ≤ alpha) and
        ``rules`` kept.
    as_of : datetime.date, optional
        The as-of date of the basket, when known.
    """

    rules: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    scopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    as_of: dt.date | None = None

    def top(self, n: int = 20, question: str | None = None,
            scope: str | None = None) -> pd.DataFrame:
        """The ``n`` rules of highest leverage (all questions and scopes, or one of each)."""
        r = self.rules
        if question is not None:
            r = r[r["question"] == question]
        if scope is not None:
            r = r[r["scope"] == scope]
        return r.sort_values(["leverage", "p_value"], ascending=[False, True]).head(n)

    def find(self, antecedents: tuple[str, ...] | list[str] | set[str], consequent: str,
             scope: str = PORTFOLIO) -> pd.Series | None:
        """The rule ``antecedents → consequent`` of ``scope``, or None if it was not kept."""
        want = tuple(sorted(antecedents))
        r = self.rules
        hit = r[(r["scope"] == scope) & (r["antecedents"] == want)
                & (r["consequent"] == consequent)]
        return None if hit.empty else hit.iloc[0]

    def to_records(self) -> list[dict[str, Any]]:
        """The rules as JSON-ready dicts (a missing rate becomes None)."""
        out: list[dict[str, Any]] = []
        for raw in self.rules.to_dict(orient="records"):
            rec = {str(k): v for k, v in raw.items()}
            rec["antecedents"] = list(rec["antecedents"])
            rec = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in rec.items()}
            out.append(rec)
        return out


@dataclass(frozen=True)
class _Settings:
    min_support: float
    min_count: int
    max_len: int
    correction: str
    alpha: float
    max_overlap: float


def _check(basket: pd.DataFrame, s: _Settings, by: pd.Series | None,
           vocab: ItemVocabulary) -> None:
    owner = "mine_rules"
    if not isinstance(basket, pd.DataFrame):
        raise parameter_error("basket", owner, "a pandas DataFrame of bool item columns",
                              type(basket).__name__)
    if not 0 < s.min_support <= 1:
        raise parameter_error("min_support", owner, "a float in (0, 1]", s.min_support)
    if isinstance(s.min_count, bool) or not isinstance(s.min_count, int) or s.min_count < 1:
        raise parameter_error("min_count", owner, "an int ≥ 1", s.min_count)
    if isinstance(s.max_len, bool) or not isinstance(s.max_len, int) or s.max_len < 2:
        raise parameter_error("max_len", owner, "an int ≥ 2", s.max_len)
    if s.correction not in ("bh", "holm"):
        raise parameter_error("correction", owner, "'bh' or 'holm'", s.correction)
    if not 0 < s.alpha < 1:
        raise parameter_error("alpha", owner, "a float in (0, 1)", s.alpha)
    if not 0 < s.max_overlap <= 1:
        raise parameter_error("max_overlap", owner, "a float in (0, 1]", s.max_overlap)
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
    unknown = [str(c) for c in basket.columns if vocab.family_of(str(c)) is None]
    if unknown:
        raise SchemaError(
            f"basket: items {', '.join(unknown[:5])} belong to no family of the vocabulary; "
            "add a prefix for them to a family in items.yaml or drop the columns.")


def _forbidden(vocab: ItemVocabulary, items: list[str]) -> dict[str, dict[str, frozenset[str]]]:
    """Per question and consequent item: the items that may not stand on its left."""
    out: dict[str, dict[str, frozenset[str]]] = {}
    family = {c: vocab.family_of(c) for c in items}
    for name, q in vocab.questions.items():
        excluded = {c for c in items if family[c] in q.exclude}
        out[name] = {
            c: frozenset(excluded | {o for o in items if family[o] == family[c]}
                         | vocab.definitional_with(c, items))
            for c in items if family[c] in q.consequents}
    return out


def _frequent_counts(x: pd.DataFrame, least: int, max_len: int) -> dict[frozenset[str], int]:
    """Firms holding each itemset of at most ``max_len`` items held by at least ``least``.

    Up to three items the counts are exact matrix products (the co-occurrence matrix, and
    per item that of its firms), which at a million firms is many times faster than
    FP-growth; longer itemsets come from ``mlxtend``'s FP-growth.
    """
    n = len(x)
    if max_len > 3:
        freq = fpgrowth(x, min_support=least / n, use_colnames=True, max_len=max_len)
        return {frozenset(k): int(round(v * n))
                for k, v in zip(freq["itemsets"], freq["support"], strict=True)}
    # float32 holds every count exactly below 2**24 firms.
    kind = np.float32 if n < 2**24 else np.float64
    single = x.sum(axis=0).to_numpy()
    names = [str(c) for c, v in zip(x.columns, single, strict=True) if v >= least]
    m = x[names].to_numpy(dtype=kind)
    count: dict[frozenset[str], int] = {
        frozenset((c,)): int(v) for c, v in zip(names, single[single >= least], strict=True)}
    if len(names) < 2:
        return count
    pairs = np.rint(m.T @ m).astype(np.int64)
    upper = np.triu(np.ones_like(pairs, dtype=bool), k=1)
    for i, j in zip(*np.nonzero(upper & (pairs >= least)), strict=True):
        count[frozenset((names[i], names[j]))] = int(pairs[i, j])
    if max_len < 3:
        return count
    for i in range(len(names) - 2):
        partners = np.nonzero(pairs[i, i + 1:] >= least)[0] + i + 1
        if len(partners) < 2:
            continue
        sub = m[m[:, i] > 0][:, partners]
        triples = np.rint(sub.T @ sub).astype(np.int64)
        inner = np.triu(np.ones_like(triples, dtype=bool), k=1) & (triples >= least)
        for a, b in zip(*np.nonzero(inner), strict=True):
            count[frozenset((names[i], names[partners[a]], names[partners[b]]))] = int(
                triples[a, b])
    return count


def _scope_candidates(x: pd.DataFrame, forbidden: dict[str, dict[str, frozenset[str]]],
                      s: _Settings) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """Candidate rules of one scope with their counts and p-values; hypotheses per question."""
    n = len(x)
    stats = {q: (0, 0) for q in forbidden}
    # An item every firm of the scope holds (or none) cannot change a rate: leave it out.
    x = x.loc[:, ~x.all(axis=0) & x.any(axis=0)] if n else x
    threshold = max(s.min_support, s.min_count / n) if n else 1.0
    if x.shape[1] == 0 or threshold > 1.0:
        return pd.DataFrame(), stats
    count = _frequent_counts(x, math.ceil(threshold * n - 1e-9), s.max_len)
    present = set(x.columns)
    rows: list[tuple[str, frozenset[str], str]] = []
    for q, by_consequent in forbidden.items():
        consequents = [(c, f) for c, f in by_consequent.items() if c in present]
        tested = 0
        for itemset in count:
            if len(itemset) >= s.max_len:
                continue
            for c, banned in consequents:
                if c in itemset or itemset & banned:
                    continue
                tested += 1
                if itemset | {c} in count:
                    rows.append((q, itemset, c))
        stats[q] = (tested, sum(1 for r in rows if r[0] == q))
    if not rows:
        return pd.DataFrame(), stats
    question, ante, cons = (list(v) for v in zip(*rows, strict=True))
    n_a = np.array([count[a] for a in ante])
    n_c = np.array([count[frozenset((c,))] for c in cons])
    n_ac = np.array([count[a | {c}] for a, c in zip(ante, cons, strict=True)])
    # A rule at or below its expected count cannot beat chance, and one whose p-value
    # exceeds alpha can never be kept (adjusted p-values are never smaller): their p-values
    # are left at 1 rather than computed exactly, which changes no decision.
    p = np.ones(len(rows))
    above = n_ac * n > n_a * n_c
    p[above] = fisher_greater(n_ac[above], np.full(int(above.sum()), n), n_c[above],
                              n_a[above])
    # Productivity: A against each proper sub-antecedent B, on the firms holding B.
    sub_rule, sub_n, sub_nc, sub_na, sub_nac = [], [], [], [], []
    for k, (a, c) in enumerate(zip(ante, cons, strict=True)):
        if len(a) < 2 or p[k] > s.alpha:
            continue
        for item in a:
            b = a - {item}
            sub_rule.append(k)
            sub_n.append(count[b])
            sub_nc.append(count[b | {c}])
            sub_na.append(n_a[k])
            sub_nac.append(n_ac[k])
    if sub_rule:
        # With rules of up to three items (the default) these are all the proper
        # sub-antecedents; longer rules are compared with those one item shorter.
        p_sub = fisher_greater(sub_nac, sub_n, sub_nc, sub_na)
        np.maximum.at(p, np.asarray(sub_rule), p_sub)
    frame = pd.DataFrame({
        "question": question, "antecedents": [tuple(sorted(a)) for a in ante],
        "consequent": cons, "firms": n, "antecedent_count": n_a, "consequent_count": n_c,
        "count": n_ac, "p_value": p})
    return frame, stats


def _metrics(r: pd.DataFrame) -> pd.DataFrame:
    n = r["firms"].astype("float64")
    others = (n - r["antecedent_count"]).astype("float64")
    support = r["count"] / n
    a_share = r["antecedent_count"] / n
    c_share = r["consequent_count"] / n
    confidence = r["count"] / r["antecedent_count"]
    return r.assign(
        antecedent_support=a_share, consequent_support=c_share, support=support,
        confidence=confidence,
        others_rate=((r["consequent_count"] - r["count"]) / others.where(others > 0)),
        lift=confidence / c_share, leverage=support - a_share * c_share)


def _answer(rules: pd.DataFrame, baskets: dict[str, pd.DataFrame], vocab: ItemVocabulary,
            max_overlap: float) -> np.ndarray:
    """Which rules (sorted by question, scope, leverage) make the short answer."""
    keep = np.zeros(len(rules), dtype=bool)
    limit = {q: v.max_rules for q, v in vocab.questions.items()}
    positions = pd.RangeIndex(len(rules))
    for (question, scope), group in rules.groupby(["question", "scope"], sort=False):
        frame = baskets[str(scope)]
        x = frame.to_numpy(dtype=bool)
        column = {str(c): k for k, c in enumerate(frame.columns)}
        kept: dict[str, list[np.ndarray]] = {}
        n = 0
        for pos, ante, c in zip(positions[rules.index.get_indexer(group.index)],
                                group["antecedents"], group["consequent"], strict=True):
            if n == limit[str(question)]:
                break
            cover: np.ndarray = np.asarray(x[:, [column[a] for a in (*ante, c)]].all(axis=1))
            size = cover.sum()
            if any((cover & other).sum() > max_overlap * (size + other.sum()
                                                          - (cover & other).sum())
                   for other in kept.get(c, [])):
                continue
            kept.setdefault(c, []).append(cover)
            keep[pos] = True
            n += 1
    return keep


def _sentences(rules: pd.DataFrame, labels: pd.DataFrame, vocab: ItemVocabulary
               ) -> tuple[list[str], list[str]]:
    zh_of = labels["zh"].to_dict()
    en_of = labels["en"].to_dict()
    # Conditions read in the vocabulary's family order: who the firm is, then its loans.
    place = {f: k for k, f in enumerate(vocab.families)}
    family = labels["family"].to_dict()

    def ordered(ante: tuple[str, ...]) -> list[str]:
        return sorted(ante, key=lambda a: (place.get(family.get(a, ""), len(place)), a))

    zh, en = [], []
    for scope, ante, c, n_a, conf, others, lift in zip(
            rules["scope"], rules["antecedents"], rules["consequent"],
            rules["antecedent_count"], rules["confidence"], rules["others_rate"],
            rules["lift"], strict=True):
        if scope == PORTFOLIO:
            where_zh, where_en, rest_zh, rest_en = ("全部客户中", "Across the portfolio",
                                                    "其他企业", "the other firms")
        else:
            name_zh, name_en = vocab.persona_names(scope)
            where_zh, where_en = f"{name_zh}中", f"Among {name_en}"
            rest_zh, rest_en = f"其他{name_zh}", f"the other {name_en}"
        a_zh = "且".join(zh_of.get(a, a) for a in ordered(ante))
        a_en = " and ".join(en_of.get(a, a) for a in ordered(ante))
        if others == others:  # not NaN: some firms of the scope lack the antecedent
            vs_zh, vs_en = f"，{rest_zh}为{others:.0%}", f", against {others:.0%} of {rest_en}"
        else:
            vs_zh, vs_en = "", ""
        zh.append(f"{where_zh}，{a_zh}的企业（{n_a:,}家）有{conf:.0%}{zh_of.get(c, c)}"
                  f"{vs_zh}（提升度{lift:.1f}）")
        en.append(f"{where_en}, {conf:.0%} of the {n_a:,} firms that {a_en} "
                  f"{en_of.get(c, c)}{vs_en} (lift {lift:.1f}).")
    return zh, en


def mine_rules(
    basket: pd.DataFrame,
    by: pd.Series | None = None,
    *,
    min_support: float | None = None,
    min_count: int | None = None,
    max_len: int | None = None,
    correction: str | None = None,
    alpha: float | None = None,
    max_overlap: float | None = None,
    cap: bool = True,
    vocabulary: ItemVocabulary | None = None,
    as_of: dt.date | None = None,
) -> RuleSet:
    """Mine and test the rules that answer the vocabulary's questions.

    Parameters
    ----------
    basket : pandas.DataFrame
        One row per firm, one bool column per item (:func:`behaviour_items`).
    by : pandas.Series, optional
        A scope (persona) name per firm, indexed like ``basket``; each scope is also mined
        on its own, without persona items. Firms without a name belong to the portfolio
        scope only.
    min_support : float, optional
        Least share of a scope's firms a rule covers; default the vocabulary's ``mining``.
    min_count : int, optional
        Fewest firms a rule covers: in a small scope the support threshold rises to
        ``min_count / firms`` so that a handful of firms cannot make a rule.
    max_len : int, optional
        Most items in a rule, consequent included (≥ 2).
    correction : {"bh", "holm"}, optional
        False-discovery rate (Benjamini–Hochberg) or family-wise error rate (Holm) over
        every rule tested.
    alpha : float, optional
        The rate the correction keeps.
    max_overlap : float, optional
        Largest Jaccard overlap of a kept rule's firms with a better one's (same
        consequent) in the answer.
    cap : bool, default True
        Keep the answer: per question and scope at most ``max_rules`` rules by leverage,
        without restatements (``max_overlap``). False keeps every significant, productive
        rule.
    vocabulary : ItemVocabulary, optional
        Families, questions, definitional pairs and labels; default :func:`load_items`.
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
        If the basket has non-bool columns or items of no family.

    See the module's example.
    """
    vocab = vocabulary or load_items()
    m = vocab.mining
    s = _Settings(
        min_support=m.min_support if min_support is None else min_support,
        min_count=m.min_count if min_count is None else min_count,
        max_len=m.max_len if max_len is None else max_len,
        correction=m.correction if correction is None else correction,
        alpha=m.alpha if alpha is None else alpha,
        max_overlap=m.max_overlap if max_overlap is None else max_overlap)
    _check(basket, s, by, vocab)
    x = basket.rename(columns=str)
    scopes = _scopes(x, by)
    rules, stat, tested = _tested(scopes, _forbidden(vocab, list(x.columns)), s)
    rules = _ordered(rules, vocab, scopes)
    return _answered(rules, stat, scopes, s, cap, vocab, _persona_names(basket, by),
                     tested, as_of)


def _persona_names(basket: pd.DataFrame, by: pd.Series | None) -> list[str]:
    """The personas of the basket's persona items and of the scopes, sorted."""
    return sorted({str(c)[len(PERSONA_PREFIX):] for c in basket.columns
                   if str(c).startswith(PERSONA_PREFIX)}
                  | (set(by.dropna().astype(str)) if by is not None else set()))


def _answered(rules: pd.DataFrame, stat: pd.DataFrame,
              scopes: list[tuple[str, pd.DataFrame]], s: _Settings, cap: bool,
              vocab: ItemVocabulary, personas: list[str], tested: int,
              as_of: dt.date | None) -> RuleSet:
    """The rule set: the short answer (when ``cap``), counts per scope and sentences."""
    significant = rules.groupby(["scope", "question"]).size()
    if cap:
        keep = _answer(rules, dict(scopes), vocab, s.max_overlap)
        rules = rules[keep]
        rules["rank"] = rules.groupby(["_q", "_s"]).cumcount() + 1
    kept = rules.groupby(["scope", "question"]).size()
    key = pd.MultiIndex.from_frame(stat[["scope", "question"]])
    stat["significant"] = significant.reindex(key, fill_value=0).to_numpy()
    stat["rules"] = kept.reindex(key, fill_value=0).to_numpy()
    rules["sentence_zh"], rules["sentence_en"] = _sentences(rules, vocab.labels(personas), vocab)
    for column in ("firms", "antecedent_count", "consequent_count", "count", "rank"):
        rules[column] = rules[column].astype("int64")
    params: dict[str, Any] = {
        **dataclasses.asdict(s), "cap": cap, "tested": tested,
        "test": "fisher_exact_productive"}
    return RuleSet(rules[list(RULE_COLUMNS)].reset_index(drop=True), params,
                   stat[list(_SCOPE_COLUMNS)], as_of)


def _scopes(x: pd.DataFrame, by: pd.Series | None) -> list[tuple[str, pd.DataFrame]]:
    """The portfolio, then each named scope on its own (without persona items)."""
    scopes: list[tuple[str, pd.DataFrame]] = [(PORTFOLIO, x)]
    if by is not None:
        names = by.reindex(x.index)
        within = x[[c for c in x.columns if not c.startswith(PERSONA_PREFIX)]]
        scopes += [(str(sc), within[(names == sc).to_numpy()])
                   for sc in sorted(names.dropna().unique(), key=str)]
    return scopes


def _tested(scopes: list[tuple[str, pd.DataFrame]], forbidden: dict[str, dict[str, frozenset[str]]],
            s: _Settings) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The rules significant after the correction over every rule tested, the per-scope
    counts, and the number tested."""
    parts, stats = [], []
    for scope, xs in scopes:
        cand, st = _scope_candidates(xs, forbidden, s)
        if len(cand):
            parts.append(cand.assign(scope=scope))
        stats += [{"scope": scope, "question": q, "firms": len(xs), "tested": t,
                   "candidates": c} for q, (t, c) in st.items()]
    stat = pd.DataFrame(stats, columns=list(_SCOPE_COLUMNS[:5]))
    tested = int(stat["tested"].sum())
    if parts:
        rules = pd.concat(parts, ignore_index=True)
        adjust = holm if s.correction == "holm" else benjamini_hochberg
        rules["q_value"] = adjust(rules["p_value"].to_numpy(), tested)
        return _metrics(rules[rules["q_value"] <= s.alpha]), stat, tested
    return _metrics(pd.DataFrame({c: pd.Series(dtype="float64") for c in (
        "firms", "antecedent_count", "consequent_count", "count", "p_value", "q_value")})
        .assign(scope=pd.Series(dtype=object), question=pd.Series(dtype=object),
                antecedents=pd.Series(dtype=object), consequent=pd.Series(dtype=object))
    ), stat, tested


def _ordered(rules: pd.DataFrame, vocab: ItemVocabulary,
             scopes: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Rules by question, scope and leverage, with their rank in each (question, scope)."""
    order_q = {q: k for k, q in enumerate(vocab.questions)}
    order_s = {sc: k for k, (sc, _) in enumerate(scopes)}
    # Equal leverage (two antecedents holding the same firms) falls back to the p-value,
    # then to the rule's items, so that the order never depends on the search's.
    rules = rules.assign(_q=rules["question"].map(order_q), _s=rules["scope"].map(order_s),
                         _k=[" ".join((*a, c)) for a, c in zip(
                             rules["antecedents"], rules["consequent"], strict=True)])
    rules = rules.sort_values(["_q", "_s", "leverage", "p_value", "_k"],
                              ascending=[True, True, False, True, True], kind="stable")
    rules["rank"] = rules.groupby(["_q", "_s"]).cumcount() + 1
    return rules


def shuffle_control(
    basket: pd.DataFrame,
    by: pd.Series | None = None,
    *,
    question: str = "repayment",
    seed: int | None = None,
    real: RuleSet | None = None,
    vocabulary: ItemVocabulary | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """How many rules of ``question`` survive when its outcomes are shuffled across firms.

    The consequent items of the question (for repayment: every ``repay_*`` item and
    ``in_default``) are permuted together across the firms, which keeps their joint
    distribution and breaks any link with the antecedents; everything else stays. Every rule
    of the question that then survives the test is a false discovery. The same search and
    test run on the real basket give the real count (every significant rule, before the
    per-scope cap).

    Parameters
    ----------
    basket, by :
        As for :func:`mine_rules`.
    question : str, default "repayment"
        The question whose outcomes are shuffled.
    seed : int, optional
        Seed of the permutation; default the vocabulary's ``mining.shuffle_seed``.
    real : RuleSet, optional
        The rules :func:`mine_rules` gave on ``basket`` with the same settings (capped or
        not: its ``scopes`` count every significant rule); saves mining the basket again.
    vocabulary : ItemVocabulary, optional
    **settings :
        ``min_support``, ``min_count``, ``max_len``, ``correction``, ``alpha`` as for
        :func:`mine_rules`.

    Returns
    -------
    dict
        ``question``, ``seed``, ``real`` and ``shuffled`` (significant rules of the question
        over every scope) and ``share`` (shuffled / real, None when real is 0).

    Raises
    ------
    ConfigurationError
        If ``question`` is not one of the vocabulary's.
    """
    vocab = vocabulary or load_items()
    if question not in vocab.questions:
        raise parameter_error("question", "shuffle_control",
                              f"one of {', '.join(vocab.questions)}", question)
    seed = vocab.mining.shuffle_seed if seed is None else seed
    families = vocab.questions[question].consequents
    outcomes = [c for c in basket.columns if vocab.family_of(str(c)) in families]
    rng = np.random.default_rng(seed)
    shuffled = basket.copy()
    shuffled[outcomes] = basket[outcomes].to_numpy()[rng.permutation(len(basket))]

    def significant(rs: RuleSet) -> int:
        return int(rs.scopes.loc[rs.scopes["question"] == question, "significant"].sum())

    def mine(b: pd.DataFrame) -> RuleSet:
        return mine_rules(b, by, cap=False, vocabulary=vocab, **settings)

    n_real = significant(real if real is not None else mine(basket))
    fake = significant(mine(shuffled))
    return {"question": question, "seed": int(seed), "real": n_real, "shuffled": fake,
            "share": fake / n_real if n_real else None}
