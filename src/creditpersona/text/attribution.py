"""Which firm a text is about: scoring each (text, firm named in it) pair.

A news item often names several firms, and the risk it reports concerns one of them. For a
pair the features are

* the risk log-odds of the whole text and of the sentences that name the firm
  (:class:`~creditpersona.text.model.TextRiskModel`),
* the risk log-odds of what the text says right after naming the firm (up to the next other
  firm named or the end of the sentence: the predicate of the firm as subject),
* affirmed risk-vocabulary matches within 20 characters of a mention of the firm, and in
  those predicates,
* how often and how early the firm is named, its share of all firm mentions,
* whether its name is part of another firm's name in the same list (小资钱包 beside
  北京小资钱包金融信息服务有限公司: the shorter one is rarely the subject) or holds one,
* how many firms the text names.

A logistic regression on these (:class:`AttributionModel`) gives the probability that the
text carries negative information *about that firm*. Its state is plain JSON like the text
model's.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from creditpersona.errors import ConfigurationError, parameter_error
from creditpersona.text.features import (
    DICTIONARY_LISTS,
    SEPARATOR,
    joinable,
    normalise,
    normalise_joined,
    prepare_many,
    vocabulary,
)
from creditpersona.text.model import TextRiskModel

__all__ = ["ATTRIBUTION_FEATURES", "AttributionModel", "KnownFirms", "NameFinder",
           "flat_pair_features", "named_firms", "pair_features", "short_names"]

ATTRIBUTION_FEATURES = (
    "text_logit", "local_logit", "span_logit", "near_risk", "span_risk", "log_mentions",
    "first_position", "mention_share", "inside_other", "holds_other", "log_entities",
    "not_found")
STATE_FORMAT = "creditpersona.text_attribution/1"
_NEAR = 20
#: Dictionary lists whose words count as risk near a firm's name.
_NEGATIVE_LISTS = ("formal_negative", "informal_negative")
_SENTENCE = re.compile(r"[^。！？!?\n；;]+[。！？!?\n；;]?")
_SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "集团股份有限公司", "有限公司",
             "集团", "股份公司", "公司")
_PROVINCES = ("北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏",
              "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南",
              "四川", "贵州", "云南", "陕西", "甘肃", "青海", "内蒙古", "广西", "西藏", "宁夏",
              "新疆", "深圳", "广州", "杭州", "南京", "苏州", "成都", "武汉", "西安")
_LONGEST_FIRST = tuple(sorted(_PROVINCES, key=len, reverse=True))


def short_names(name: str) -> tuple[str, ...]:
    """The name and its short forms: without the legal suffix, then without a leading place.

    Examples
    --------
    >>> short_names("苏州恒瑞精密机械有限公司")
    ('苏州恒瑞精密机械有限公司', '苏州恒瑞精密机械', '恒瑞精密机械')
    >>> short_names("无锡鼎信化工有限公司")
    ('无锡鼎信化工有限公司', '无锡鼎信化工', '鼎信化工')
    >>> short_names("小资钱包")
    ('小资钱包',)
    """
    out = [name]
    core = name
    for s in _SUFFIXES:
        if core.endswith(s) and len(core) - len(s) >= 2:
            core = core[: -len(s)]
            break
    if core != name:
        out.append(core)
    for p in _LONGEST_FIRST:
        if core.startswith(p) and len(core) - len(p) >= 2:
            rest = core[len(p):].removeprefix("市").removeprefix("省")
            if len(rest) >= 2:
                out.append(rest)
            break
    else:
        # Most registered names open with a two-character place (无锡, 佛山 …).
        if len(core) >= 6 and core is not name:
            out.append(core[2:])
    return tuple(dict.fromkeys(out))


def named_firms(texts: Sequence[object], firm_names: Mapping[str, str],
                min_length: int = 4) -> list[set[str]]:
    """The ids of the known firms each text names, by name or short form.

    Short forms shorter than ``min_length`` characters are not searched (two-character
    trade names are too ambiguous). :class:`NameFinder` keeps the names' automaton for
    several batches of texts.

    Examples
    --------
    >>> found = named_firms(["恒瑞精密机械与鼎信化工发生合同纠纷", "无关"],
    ...                     {"A": "苏州恒瑞精密机械有限公司", "B": "无锡鼎信化工有限公司"})
    >>> [sorted(f) for f in found]
    [['A', 'B'], []]
    """
    return NameFinder(firm_names, min_length).find(texts)


class KnownFirms(Mapping[str, str]):
    """The known firms' registered names (firm id → name), read-only, with their
    :class:`NameFinder` built on first use and then kept.

    A process that reads many batches of texts against the same firms (a Spark worker,
    bucket after bucket) builds the automaton once: on a 50,000-firm bank it took about
    2 s a bucket. Pass it wherever ``firm_names`` is asked for.

    Examples
    --------
    >>> known = KnownFirms({"A": "苏州恒瑞精密机械有限公司"})
    >>> known.finder is known.finder, len(known), known["A"]
    (True, 1, '苏州恒瑞精密机械有限公司')
    """

    def __init__(self, firm_names: Mapping[str, str]) -> None:
        self._names = dict(firm_names)
        self._finder: NameFinder | None = None

    def __getitem__(self, firm_id: str) -> str:
        return self._names[firm_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def finder(self) -> NameFinder:
        """The automaton of these names (:class:`NameFinder` with its default length)."""
        if self._finder is None:
            self._finder = NameFinder(self._names)
        return self._finder


class NameFinder:
    """The known firms' names and short forms in one Aho–Corasick automaton
    (:func:`named_firms`), built once and searched batch by batch.

    Parameters
    ----------
    firm_names : mapping of firm_id to registered name
    min_length : int, default 4
        Shorter short forms are not searched.
    """

    def __init__(self, firm_names: Mapping[str, str], min_length: int = 4) -> None:
        owners: dict[str, set[str]] = {}
        named = [(str(fid), name) for fid, name in firm_names.items()
                 if isinstance(name, str) and name]
        joined = joinable([name for _, name in named])
        normed = (normalise_joined(joined).split(SEPARATOR) if joined is not None and named
                  else [normalise(name) for _, name in named])  # one call for all names
        for (fid, _), name in zip(named, normed, strict=True):
            for form in short_names(name):
                if len(form) >= min_length:
                    owners.setdefault(form, set()).add(fid)
        self.empty = not owners
        self.batchable = not any(SEPARATOR in f for f in owners)
        self.automaton = ahocorasick.Automaton()
        # Each form's value is its position; its firms are ids[ptr[k]:ptr[k + 1]], as
        # positions in self.firms.
        firms = sorted({f for ids in owners.values() for f in ids})
        code = {f: i for i, f in enumerate(firms)}
        self.firms = firms
        self.ids = np.asarray([code[f] for ids in owners.values() for f in sorted(ids)],
                              dtype=np.int64)
        self.ptr = np.cumsum([0] + [len(ids) for ids in owners.values()])
        for k, form in enumerate(owners):
            self.automaton.add_word(form, k)
        if owners:
            self.automaton.make_automaton()

    def find(self, texts: Sequence[object], normed: str | None = None) -> list[set[str]]:
        """The ids named in each text. ``normed``: the texts already normalised and joined
        (:func:`~creditpersona.text.features.normalise_joined` of the joined texts, as
        :func:`~creditpersona.text.features.prepare_joined` gives it), else computed."""
        if self.empty:
            return [set() for _ in texts]
        strs = [t if isinstance(t, str) else "" for t in texts]
        if normed is None and self.batchable:
            joined = joinable(strs)
            normed = normalise_joined(joined) if joined is not None else None
        if normed is None or not self.batchable:  # a separator in a text or a name
            out: list[set[str]] = []
            for t in strs:
                found: set[str] = set()
                for _, k in self.automaton.iter(normalise(t)) if t else ():
                    found.update(self.firms[j] for j in self.ids[self.ptr[k]:self.ptr[k + 1]])
                out.append(found)
            return out
        # One pass over the normalised batch; no name holds the separator, so none spans
        # texts. Each match's text is found by its end among the texts' starts; each
        # (text, firm) once.
        starts = np.cumsum([0] + [len(p) + 1 for p in normed.split(SEPARATOR)[:-1]])
        hits = np.fromiter(itertools.chain.from_iterable(self.automaton.iter(normed)),
                           dtype=np.int64).reshape(-1, 2)
        text = np.searchsorted(starts, hits[:, 0], side="right") - 1
        n_ids = np.diff(self.ptr)[hits[:, 1]]
        first = self.ptr[hits[:, 1]]
        # Every (text, firm) of the matches: the forms' firms expanded.
        firm = self.ids[np.repeat(first - np.cumsum(n_ids) + n_ids, n_ids)
                        + np.arange(int(n_ids.sum()))]
        pair = np.unique(np.repeat(text, n_ids) * len(self.firms) + firm)
        found_in: list[set[str]] = [set() for _ in strs]
        names = self.firms
        for t, f in zip((pair // len(names)).tolist(), (pair % len(names)).tolist(),
                        strict=True):
            found_in[t].add(names[f])
        return found_in


def _positions(text: str, names: tuple[str, ...]) -> list[int]:
    out: set[int] = set()
    for n in names:
        if not n:
            continue
        start = text.find(n)
        while start >= 0:
            out.add(start)
            start = text.find(n, start + 1)
    return sorted(out)


def _risky_ends(bodies: list[str]) -> list[list[int]]:
    """Per prepared text, the end of each affirmed match of a risk event or of a negative
    word of the dictionary, found in one pass over the batch
    (:meth:`~creditpersona.text.features.Vocabulary.batch_matches`)."""
    voc = vocabulary()
    batch = voc.batch_matches(bodies)
    if batch is None:  # a text holds the batch separator: one text at a time
        return [[m.end for m in voc.matches(body) if not m.negated and (
            (m.event is not None and voc.risk[voc.events.index(m.event)])
            or m.dictionary in _NEGATIVE_LISTS)] for body in bodies]
    ev, dk = batch["event"], batch["dictionary"]
    negative = np.isin(dk, [DICTIONARY_LISTS.index(n) for n in _NEGATIVE_LISTS])
    keep = (batch["negated"] == 0) & (((ev >= 0) & voc.risk[np.maximum(ev, 0)]) | negative)
    out: list[list[int]] = [[] for _ in bodies]
    for d, end in zip(batch["doc"][keep].tolist(), batch["end"][keep].tolist(), strict=True):
        out[d].append(end)
    return out


def pair_features(model: TextRiskModel, texts: Sequence[object],
                  entities: Sequence[Sequence[str]], *,
                  whole: npt.NDArray[np.float64] | None = None
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Features of every (text, entity) pair.

    Parameters
    ----------
    model : TextRiskModel
        Scores the whole texts and the sentences naming each entity.
    texts : sequence of str
        One per item.
    entities : sequence of sequences of str
        The firms named in each text (names as written; short forms are searched too).
    whole : numpy.ndarray, optional
        ``model.decision(texts)`` when the caller has it already (computed otherwise).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        One row per pair in the order of ``entities`` flattened (``ATTRIBUTION_FEATURES``),
        and the position of each pair's text.
    """
    if len(texts) != len(entities):
        raise parameter_error("entities", "pair_features",
                              f"one list per text ({len(texts)})", len(entities))
    if whole is None:
        whole = model.decision(texts)
    elif len(whole) != len(texts):
        raise parameter_error("whole", "pair_features", f"one log-odds per text ({len(texts)})",
                              len(whole))
    rows: list[list[float]] = []
    owner: list[int] = []
    local_texts: list[str] = []
    span_texts: list[str] = []
    bodies = [p[0] for p in prepare_many(texts)]
    for i, (body, names, risky) in enumerate(zip(bodies, entities, _risky_ends(bodies),
                                                 strict=True)):
        norm = [normalise(str(e)) for e in names]
        found = [_positions(body, short_names(e)) for e in norm]
        total = sum(len(f) for f in found) or 1
        sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(body)]
        ends = sorted(b for _, b in sentences)
        for k, e in enumerate(norm):
            pos = found[k]
            local = "".join(body[a:b] for a, b in sentences if any(a <= p < b for p in pos))
            local_texts.append(local)
            near = sum(1 for r in risky for p in pos if p - _NEAR <= r <= p + len(e) + _NEAR)
            # What the text says after naming the firm, up to the next other firm named or the
            # end of the sentence: in Chinese the subject comes before its predicate.
            other_pos = sorted(q for j, f in enumerate(found) if j != k for q in f)
            spans = []
            for p in pos:
                stop = min([q for q in other_pos if q > p] + [b for b in ends if b > p]
                           + [len(body)])
                spans.append((p, stop))
            span_texts.append("".join(body[a:b] for a, b in spans))
            span_risk = sum(1 for r in risky for a, b in spans if a < r <= b)
            others = [o for j, o in enumerate(norm) if j != k and o]
            rows.append([
                whole[i], 0.0, 0.0, math.log1p(near), math.log1p(span_risk), math.log1p(len(pos)),
                pos[0] / max(len(body), 1) if pos else 1.0, len(pos) / total,
                float(any(e and e != o and e in o for o in others)),
                float(any(o != e and o in e for o in others)),
                math.log1p(len(norm)), float(not pos)])
            owner.append(i)
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(ATTRIBUTION_FEATURES))
    if len(local_texts):
        found_any = x[:, -1] == 0
        # One batch, rows independent: each distinct text is scored once (firms sharing a
        # short form are found at the same places, so their sentences and spans repeat).
        index: dict[str, int] = {}
        code = np.asarray([index.setdefault(t, len(index)) for t in local_texts + span_texts],
                          dtype=np.int64)
        parts = model.decision(list(index))[code]
        x[:, 1] = np.where(found_any, parts[:len(local_texts)], x[:, 0])
        x[:, 2] = np.where(found_any, parts[len(local_texts):], x[:, 0])
    return x, np.asarray(owner, dtype=np.int64)


def flat_pair_features(model: TextRiskModel, texts: Sequence[object],
                       entities: Sequence[str]) -> npt.NDArray[np.float64]:
    """:func:`pair_features` of (text, entity) rows: the entities of rows with the same text
    are one list (so each firm is seen beside the others), rows keep their order."""
    if len(texts) != len(entities):
        raise parameter_error("entities", "flat_pair_features",
                              f"one entity per text ({len(texts)})", len(entities))
    keys = [t if isinstance(t, str) else "" for t in texts]
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    order = [i for rows in groups.values() for i in rows]
    x, _ = pair_features(model, list(groups),
                         [[str(entities[i]) for i in rows] for rows in groups.values()])
    out = np.empty_like(x)
    out[np.asarray(order, dtype=np.int64)] = x
    return out


@dataclass
class AttributionModel:
    """Logistic regression over :func:`pair_features`.

    Examples
    --------
    >>> m = AttributionModel(coef=np.zeros(len(ATTRIBUTION_FEATURES)), intercept=0.0)
    >>> AttributionModel.from_state(m.to_state()).intercept
    0.0
    """

    coef: npt.NDArray[np.float64]
    intercept: float
    mean: npt.NDArray[np.float64] | None = None
    scale: npt.NDArray[np.float64] | None = None

    @classmethod
    def fit(cls, x: npt.NDArray[np.float64], y: npt.ArrayLike,
            C: float = 1.0) -> AttributionModel:
        """Fit on pair features and 0/1 labels."""
        yy = np.asarray(y).astype(np.int64)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0
        lr = LogisticRegression(C=C, max_iter=2000).fit((x - mean) / scale, yy)
        return cls(lr.coef_[0].astype(np.float64), float(lr.intercept_[0]), mean, scale)

    def decision(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Log-odds per pair."""
        z = x if self.mean is None or self.scale is None else (x - self.mean) / self.scale
        return np.asarray(z @ self.coef + self.intercept, dtype=np.float64)

    def score(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Probability per pair that the text is negative about that firm."""
        return 1.0 / (1.0 + np.exp(-self.decision(x)))

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        n = len(self.coef)
        return {"format": STATE_FORMAT, "features": list(ATTRIBUTION_FEATURES),
                "coef": [float(v) for v in self.coef], "intercept": float(self.intercept),
                "mean": [float(v) for v in (self.mean if self.mean is not None
                                            else np.zeros(n))],
                "scale": [float(v) for v in (self.scale if self.scale is not None
                                             else np.ones(n))]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AttributionModel:
        """A model from :meth:`to_state`.

        Raises
        ------
        ConfigurationError
            If the state is of another format or feature list.
        """
        if (not isinstance(state, dict) or state.get("format") != STATE_FORMAT
                or list(state.get("features", [])) != list(ATTRIBUTION_FEATURES)
                or len(state.get("coef", [])) != len(ATTRIBUTION_FEATURES)):
            raise ConfigurationError(
                "text attribution state: not of format "
                f"{STATE_FORMAT!r} with features {', '.join(ATTRIBUTION_FEATURES)}; fit it "
                "again with this version.")
        try:
            return cls(np.asarray(state["coef"], dtype=np.float64), float(state["intercept"]),
                       np.asarray(state["mean"], dtype=np.float64),
                       np.asarray(state["scale"], dtype=np.float64))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"text attribution state: invalid ({exc}).") from exc
