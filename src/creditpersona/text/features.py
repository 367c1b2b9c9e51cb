"""Text preparation and the vocabulary features of the text-risk model.

Three steps turn a Chinese document into what the model reads:

1. **Normalisation** (:func:`normalise`): NFKC (full-width letters and digits become ASCII),
   lower case, every digit becomes ``0`` (amounts and dates carry no risk).
2. **Boilerplate removal** (:func:`strip_boilerplate`): a sentence that opens with a
   standard warning (风险提示, 投资有风险, 免责声明, 以上内容仅供参考 …) is dropped: such
   text is in every prospectus and broker note and reports no event.
3. **Vocabulary matches** (:class:`Vocabulary`): one Aho–Corasick pass finds, left to right
   and longest first, the terms of the project's event lexicon
   (``creditpersona/profile/lexicon.yaml``) and of the Yao et al. (2021) financial sentiment
   dictionary (``data/finance_sentiment_yao2021.yaml``). A match is *negated* when a
   negation cue of the lexicon stands before it in the same clause (经核查，未发现…涉及诉讼)
   or a retraction cue follows it (网传停产消息不实). The features are ``log1p`` counts of
   affirmed matches per event and per dictionary list, plus the negated risk matches and the
   removed boilerplate.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import ahocorasick
import numpy as np
import numpy.typing as npt
import yaml

from creditpersona.errors import ConfigurationError
from creditpersona.profile.lexicon import Lexicon, load_lexicon

__all__ = [
    "DICTIONARY_LISTS",
    "Match",
    "Vocabulary",
    "load_dictionary",
    "normalise",
    "prepare",
    "normalise_joined",
    "prepare_joined",
    "prepare_many",
    "strip_boilerplate",
    "vocabulary",
]

#: The four lists of the vendored financial sentiment dictionary, in feature order.
DICTIONARY_LISTS = ("formal_negative", "informal_negative", "formal_positive",
                    "informal_positive")

_DIGITS = str.maketrans("0123456789", "0000000000")
#: Sentences end at these marks; clauses (the reach of a negation) also at commas.
_SENTENCE = re.compile(r"[。！？!?\n]")
_CLAUSE_MARKS = frozenset("。！？!?\n；;，,：:")
#: A sentence opening with one of these is a standard warning or disclaimer.
BOILERPLATE = ("风险提示", "特别提示", "重要提示", "投资有风险", "市场有风险", "免责声明",
               "以上内容仅供参考", "本文仅供参考", "不构成投资建议", "不作为投资建议",
               "敬请投资者注意投资风险", "敬请广大投资者注意投资风险", "请投资者注意风险",
               "理性投资", "声明：")
#: Cues after a term, in the same clause, that retract it (网传…不实).
_AFTER_CUES = ("不实", "不属实", "失实", "谣言", "已澄清", "已撤诉", "已解除", "已撤销",
               "已结清", "已还清", "已偿还", "已归还", "已化解", "已和解", "已复工", "恢复正常",
               "已移出", "已整改完毕", "履行完毕")
_AFTER_REACH = 10
_BEFORE_REACH = 20
#: Joins the documents of a batch: NFKC and lower case leave it alone and never combine it
#: with a neighbour, no pattern of the vocabulary or the cues holds it, and it ends clauses.
SEPARATOR = "\x00"
_NONZERO = re.compile("[1-9]+")
_BOILERPLATE_RE = re.compile("|".join(re.escape(b) for b in BOILERPLATE))
_MARK_CODES = np.asarray(sorted({ord(c) for c in _CLAUSE_MARKS} | {0}), dtype=np.uint32)


def _zeros(m: re.Match[str]) -> str:
    return "0" * (m.end() - m.start())


def joinable(texts: list[str]) -> str | None:
    """The texts joined by :data:`SEPARATOR`, or None when a text holds the separator."""
    joined = SEPARATOR.join(texts)
    return joined if joined.count(SEPARATOR) == max(len(texts) - 1, 0) else None


def normalise(text: str) -> str:
    """NFKC, lower case and every digit as ``0``.

    Examples
    --------
    >>> normalise("ＡＢＣ公司２０２４年亏损3.5亿")
    'abc公司0000年亏损0.0亿'
    """
    return unicodedata.normalize("NFKC", text).lower().translate(_DIGITS)


def strip_boilerplate(text: str) -> tuple[str, int]:
    """The text without its boilerplate sentences, and how many were dropped.

    Examples
    --------
    >>> strip_boilerplate("公司股东所持股份被司法冻结。风险提示：股市有风险，投资需谨慎。")
    ('公司股东所持股份被司法冻结。', 1)
    >>> strip_boilerplate("公司经营正常。")
    ('公司经营正常。', 0)
    """
    if not any(b in text for b in BOILERPLATE):
        return text, 0
    kept: list[str] = []
    dropped = 0
    start = 0
    for m in _SENTENCE.finditer(text + "\n"):
        sentence = text[start:m.end()]
        start = m.end()
        head = sentence.lstrip(" 　【[（(")
        if head.startswith(BOILERPLATE):
            dropped += 1
        else:
            kept.append(sentence)
    return "".join(kept).rstrip("\n") if dropped else text, dropped


def prepare(text: object) -> tuple[str, int]:
    """Normalised text without boilerplate (a missing text is empty), and the drop count."""
    if not isinstance(text, str):
        return "", 0
    return strip_boilerplate(normalise(text))


def prepare_many(texts: Sequence[object]) -> list[tuple[str, int]]:
    """:func:`prepare` of each text, computed on the whole batch at once.

    The texts are joined by :data:`SEPARATOR` and normalised in one call; only the texts
    that hold a boilerplate opening are split into sentences. The result is the same as
    ``[prepare(t) for t in texts]``, which is what it falls back to when a text holds the
    separator.

    Examples
    --------
    >>> prepare_many(["ＡＢＣ公司２０２４年亏损", None, "公司被冻结。风险提示：投资有风险。"])
    [('abc公司0000年亏损', 0), ('', 0), ('公司被冻结。', 1)]
    """
    return prepare_joined(texts)[0]


def normalise_joined(joined: str) -> str:
    """:func:`normalise` of texts joined by :data:`SEPARATOR` in one call: the same string
    as the texts normalised one by one and joined (NFKC and lower case never combine a
    character with the separator).

    Examples
    --------
    >>> parts = ["ＡＢＣ２０２４", "公司3"]
    >>> normalise_joined(SEPARATOR.join(parts)) == SEPARATOR.join(map(normalise, parts))
    True
    """
    return _NONZERO.sub(_zeros, unicodedata.normalize("NFKC", joined).lower())


def prepare_joined(texts: Sequence[object]) -> tuple[list[tuple[str, int]], str | None]:
    """:func:`prepare_many` and the texts normalised and joined (:func:`normalise_joined`,
    before any boilerplate is removed; None when a text holds the separator), for a caller
    that searches the whole texts too (the firms they name)."""
    strs = [t if isinstance(t, str) else "" for t in texts]
    joined = joinable(strs)
    if joined is None:
        return [prepare(t) for t in texts], None
    normed = normalise_joined(joined)
    parts = normed.split(SEPARATOR)
    out = [(p, 0) for p in parts]
    if _BOILERPLATE_RE.search(normed) is not None:
        starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]])
        hits = {int(i) for i in np.searchsorted(
            starts, [m.start() for m in _BOILERPLATE_RE.finditer(normed)], side="right") - 1}
        for i in hits:
            out[i] = strip_boilerplate(parts[i])
    return out, normed


@functools.lru_cache(maxsize=1)
def load_dictionary() -> dict[str, tuple[str, ...]]:
    """The vendored Yao et al. (2021) financial sentiment word lists.

    Examples
    --------
    >>> d = load_dictionary()
    >>> "违约" in d["formal_negative"], sorted(d) == sorted(DICTIONARY_LISTS)
    (True, True)
    """
    raw = resources.files("creditpersona.text").joinpath(
        "data/finance_sentiment_yao2021.yaml").read_text(encoding="utf-8")
    # libyaml's safe loader when PyYAML is built with it (the same lists, 6x faster for
    # these 7,099 words: 0.18 s instead of 1.1 s); PyYAML's own safe loader otherwise.
    cats = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["categories"]
    return {k: tuple(cats[k]) for k in DICTIONARY_LISTS}


@dataclass(frozen=True)
class Match:
    """One vocabulary match: where, the term, its event (or None) and list, negated."""

    start: int
    end: int
    term: str
    event: str | None
    dictionary: str | None
    negated: bool


class Vocabulary:
    """The event lexicon and the sentiment dictionary in one Aho–Corasick automaton.

    Parameters
    ----------
    lexicon : Lexicon, optional
        Default: the packaged lexicon.
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else load_lexicon()
        self.events = self.lexicon.codes
        self.risk = np.asarray([e.polarity == "risk" for e in self.lexicon.events])
        dictionary = load_dictionary()
        entries: dict[str, list[int]] = {}
        for j, e in enumerate(self.lexicon.events):
            for t in e.terms:
                entries.setdefault(normalise(t), [-1, -1])[0] = j
        for k, name in enumerate(DICTIONARY_LISTS):
            for t in dictionary[name]:
                entry = entries.setdefault(normalise(t), [-1, -1])
                if entry[1] < 0:
                    entry[1] = k
        # Protected words are matched too (with no role) so that their parts are not.
        for t in self.lexicon.protected:
            entries.setdefault(normalise(t), [-1, -1])
        self.negation_before = tuple(normalise(c) for c in self.lexicon.negation.before)
        self._before_single = np.asarray(
            sorted({ord(c) for c in self.negation_before if len(c) == 1}), dtype=np.uint32)
        self._before_cues = _cue_automaton(c for c in self.negation_before if len(c) > 1)
        self._after_cues = _cue_automaton(_AFTER_CUES)
        self.automaton = ahocorasick.Automaton()
        for term, (ev, dk) in entries.items():
            self.automaton.add_word(term, (term, ev, dk))
        self.automaton.make_automaton()
        # The same automaton with (length, event + 1, list + 1) packed in one integer, for
        # the batch pass (ints come out of the C iterator without Python tuples).
        if len(self.events) >= 255 or len(DICTIONARY_LISTS) >= 255:
            raise ConfigurationError("lexicon: at most 254 events are supported.")
        self._packed = ahocorasick.Automaton()
        for term, (ev, dk) in entries.items():
            self._packed.add_word(term, (len(term) << 16) | ((ev + 1) << 8) | (dk + 1))
        self._packed.make_automaton()
        digest = hashlib.sha256()
        for term in sorted(entries):
            digest.update(f"{term}\t{entries[term][0]}\t{entries[term][1]}\n".encode())
        #: Digest of the terms and their roles: a model is tied to the vocabulary it was
        #: fitted with.
        self.sha256 = digest.hexdigest()
        self.feature_names = (
            tuple(f"event:{c}" for c in self.events)
            + tuple(f"dict:{n}" for n in DICTIONARY_LISTS)
            + ("negated_risk", "boilerplate"))

    def matches(self, text: str) -> list[Match]:
        """The matches in a prepared text (see :func:`prepare`), left to right.

        Examples
        --------
        >>> v = vocabulary()
        >>> [(m.term, m.event, m.negated) for m in v.matches("经核查，未发现该公司涉及诉讼。")
        ...  if m.event]
        [('诉讼', 'lawsuit', True)]
        >>> [(m.term, m.event, m.negated) for m in v.matches("公司股权被司法冻结。") if m.event]
        [('司法冻结', 'equity_freeze', False)]
        """
        found = [(end + 1 - len(term), end + 1, term, ev, dk)
                 for end, (term, ev, dk) in self.automaton.iter_long(text)
                 if ev >= 0 or dk >= 0]
        negated = self._batch_negated(text, np.asarray([f[0] for f in found], dtype=np.int64),
                                      np.asarray([f[1] for f in found], dtype=np.int64))
        return [Match(start, stop, term, self.events[ev] if ev >= 0 else None,
                      DICTIONARY_LISTS[dk] if dk >= 0 else None, bool(neg))
                for (start, stop, term, ev, dk), neg in zip(found, negated, strict=True)]

    def batch_matches(self, texts: list[str]) -> dict[str, npt.NDArray[np.int64]] | None:
        """The matches of prepared texts in one pass over the joined batch.

        Returns arrays ``doc``, ``start``, ``end`` (within the document), ``event`` and
        ``dictionary`` (-1 for none) and ``negated`` (0/1), one entry per match, the same
        as :meth:`matches` of each text; None when a text holds :data:`SEPARATOR`.
        """
        joined = joinable(texts)
        if joined is None:
            return None
        found = np.asarray(list(self._packed.iter_long(joined)), dtype=np.int64).reshape(-1, 2)
        code = found[:, 1]
        evs = (code >> 8 & 0xFF) - 1
        dks = (code & 0xFF) - 1
        keep = (evs >= 0) | (dks >= 0)
        found, code, evs, dks = found[keep], code[keep], evs[keep], dks[keep]
        stop = found[:, 0] + 1
        start = stop - (code >> 16)
        doc_start = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]], dtype=np.int64)
        doc = np.searchsorted(doc_start, start, side="right") - 1
        negated = self._batch_negated(joined, start, stop)
        return {"doc": doc, "start": start - doc_start[doc], "end": stop - doc_start[doc],
                "event": evs, "dictionary": dks,
                "negated": negated.astype(np.int64)}

    def _batch_negated(self, joined: str, start: npt.NDArray[np.int64],
                       stop: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each match ``[start, stop)`` of the joined texts is negated.

        A match is negated when, in its clause, a negation cue of the lexicon stands right
        before it (one character: 未, 无 …) or within 20 characters before it (several
        characters: 未发现, 不存在 …), or a retraction cue follows within 10 characters
        (不实, 已撤诉 …); when it is the label of a form field answered "none" (涉诉情况：无);
        or when it follows a negated match joined to it by 、/和/及/或/与 (a negation reaches
        along a list: 无逾期、欠息记录).
        """
        if start.size == 0:
            return np.zeros(0, dtype=bool)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # clause marks, with the text's edges as marks before and after it
        marks = np.r_[-1, np.flatnonzero(np.isin(codes, _MARK_CODES)), codes.size]
        prev = marks[np.searchsorted(marks, start, side="left") - 1]
        lo = np.maximum(start - _BEFORE_REACH, prev + 1)
        hi = np.minimum(stop + _AFTER_REACH, marks[np.searchsorted(marks, stop, side="left")])
        single = (lo < start) & np.isin(codes[np.maximum(start - 1, 0)], self._before_single)
        negated = (single | _cue_within(self._before_cues, joined, lo, start)
                   | _cue_within(self._after_cues, joined, stop, hi)
                   | _denied_fields(joined, start, stop))
        # A negation reaches along a list: 无逾期、欠息记录 denies both.
        joiner = np.r_[False, (start[1:] - stop[:-1] == 1)
                       & np.isin(codes[np.maximum(start[1:] - 1, 0)], _LIST_CODES)]
        for _ in range(8):
            more = negated | (joiner & np.r_[False, negated[:-1]])
            if (more == negated).all():
                break
            negated = more
        return np.asarray(negated, dtype=bool)

    def features(self, prepared: list[tuple[str, int]]) -> npt.NDArray[np.float64]:
        """The vocabulary features of prepared texts, one row each (``feature_names``)."""
        return self.features_and_matches(prepared)[0]

    def features_and_matches(self, prepared: list[tuple[str, int]]
                             ) -> tuple[npt.NDArray[np.float64],
                                        dict[str, npt.NDArray[np.int64]] | None]:
        """:meth:`features` and the :meth:`batch_matches` they were counted from (None when
        a text holds :data:`SEPARATOR`: the features are then counted one text at a time)."""
        batch = self.batch_matches([p[0] for p in prepared])
        if batch is not None:
            return self._batch_features(prepared, batch), batch
        return self._loop_features(prepared), None

    def _loop_features(self, prepared: list[tuple[str, int]]) -> npt.NDArray[np.float64]:
        """:meth:`features` one text at a time (texts holding the separator)."""
        n_ev = len(self.events)
        n_dk = len(DICTIONARY_LISTS)
        out = np.zeros((len(prepared), n_ev + n_dk + 2))
        risk = self.risk
        for i, (text, dropped) in enumerate(prepared):
            row = out[i]
            row[-1] = dropped
            for m in self._raw(text):
                end, ev, dk, negated = m
                if negated:
                    if ev >= 0 and risk[ev] or dk == 0 or dk == 1:
                        row[-2] += 1
                    continue
                if ev >= 0:
                    row[ev] += 1
                if dk >= 0:
                    row[n_ev + dk] += 1
        return np.log1p(out)

    def _batch_features(self, prepared: list[tuple[str, int]],
                        batch: dict[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.float64]:
        n_ev = len(self.events)
        n_dk = len(DICTIONARY_LISTS)
        width = n_ev + n_dk + 2
        out = np.zeros((len(prepared), width))
        out[:, -1] = [p[1] for p in prepared]
        doc, ev, dk = batch["doc"], batch["event"], batch["dictionary"]
        neg = batch["negated"].astype(bool)
        risky = ((ev >= 0) & self.risk[np.maximum(ev, 0)]) | (dk == 0) | (dk == 1)
        flat = out.reshape(-1)
        np.add.at(flat, doc[neg & risky] * width + width - 2, 1.0)
        a = ~neg & (ev >= 0)
        np.add.at(flat, doc[a] * width + ev[a], 1.0)
        a = ~neg & (dk >= 0)
        np.add.at(flat, doc[a] * width + n_ev + dk[a], 1.0)
        return np.log1p(out)

    def _raw(self, text: str) -> list[tuple[int, int, int, bool]]:
        return [(m.end - 1, self.events.index(m.event) if m.event is not None else -1,
                 DICTIONARY_LISTS.index(m.dictionary) if m.dictionary is not None else -1,
                 m.negated) for m in self.matches(text)]


#: Characters joining the items of a list over which a negation reaches.
_LIST_CODES = np.asarray([ord(c) for c in "、/和及或与"], dtype=np.uint32)
#: A form field answered "none" (涉诉情况：无; 是否被执行：否): the field label is denied.
_DENIED_ANSWER = re.compile(
    r"[：:]\s*(?:无|否|暂无|没有|未发现|不存在)\s*(?=[。！？!?\n；;，,\x00]|$)")
_LABEL_REACH = 16


def _denied_fields(joined: str, start: npt.NDArray[np.int64],
                   stop: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether each ``[start, stop)`` lies in the label of a field answered "none": the text
    from the previous clause mark (at most 16 characters back) up to ``：无``."""
    spans = []
    for m in _DENIED_ANSWER.finditer(joined):
        lo = m.start()
        while (lo > 0 and m.start() - lo < _LABEL_REACH
               and joined[lo - 1] not in _CLAUSE_MARKS and joined[lo - 1] != SEPARATOR):
            lo -= 1
        spans.append((lo, m.start()))
    if not spans:
        return np.zeros(start.size, dtype=bool)
    lo_a = np.asarray([a for a, _ in spans], dtype=np.int64)
    hi_a = np.asarray([b for _, b in spans], dtype=np.int64)
    k = np.searchsorted(lo_a, start, side="right") - 1
    return np.asarray((k >= 0) & (stop <= hi_a[np.maximum(k, 0)]))


def _cue_automaton(cues: Iterable[str]) -> ahocorasick.Automaton | None:
    automaton = ahocorasick.Automaton()
    for c in cues:
        automaton.add_word(c, len(c))
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


def _cue_within(automaton: ahocorasick.Automaton | None, joined: str,
                lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether some occurrence of a cue lies wholly in ``[lo, hi)``, per window."""
    if automaton is None:
        return np.zeros(lo.size, dtype=bool)
    found = [(end + 1 - n, end + 1) for end, n in automaton.iter(joined)]
    if not found:
        return np.zeros(lo.size, dtype=bool)
    occ = np.asarray(sorted(found), dtype=np.int64)
    # smallest end among the occurrences starting at or after each one
    least_end = np.r_[np.minimum.accumulate(occ[::-1, 1])[::-1], np.iinfo(np.int64).max]
    return np.asarray(least_end[np.searchsorted(occ[:, 0], lo, side="left")] <= hi)


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The packaged vocabulary (lexicon and dictionary), built once."""
    return Vocabulary()
