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
from dataclasses import dataclass
from importlib import resources

import ahocorasick
import numpy as np
import numpy.typing as npt
import yaml

from creditpersona.profile.text import Lexicon, load_lexicon

__all__ = [
    "DICTIONARY_LISTS",
    "Match",
    "Vocabulary",
    "load_dictionary",
    "normalise",
    "prepare",
    "strip_boilerplate",
    "vocabulary",
]

#: The four lists of the vendored financial sentiment dictionary, in feature order.
DICTIONARY_LISTS = ("formal_negative", "informal_negative", "formal_positive",
                    "informal_positive")

_DIGITS = str.maketrans("0123456789", "0000000000")
#: Sentences end at these marks; clauses (the reach of a negation) also at commas.
_SENTENCE = re.compile(r"[。！？!?\n；;]")
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
    cats = yaml.safe_load(raw)["categories"]
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
        self.automaton = ahocorasick.Automaton()
        for term, (ev, dk) in entries.items():
            self.automaton.add_word(term, (term, ev, dk))
        self.automaton.make_automaton()
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

    def _negated(self, text: str, start: int, end: int) -> bool:
        lo = start
        while lo > 0 and text[lo - 1] not in _CLAUSE_MARKS and start - lo < 20:
            lo -= 1
        before = text[lo:start]
        if before and any(before.endswith(c) or (len(c) > 1 and c in before)
                          for c in self.negation_before):
            return True
        hi = end
        while hi < len(text) and text[hi] not in _CLAUSE_MARKS and hi - end < _AFTER_REACH:
            hi += 1
        after = text[end:hi]
        return any(c in after for c in _AFTER_CUES)

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
        out: list[Match] = []
        for end, (term, ev, dk) in self.automaton.iter_long(text):
            if ev < 0 and dk < 0:
                continue
            start = end + 1 - len(term)
            out.append(Match(start, end + 1, term, self.events[ev] if ev >= 0 else None,
                             DICTIONARY_LISTS[dk] if dk >= 0 else None,
                             self._negated(text, start, end + 1)))
        return out

    def features(self, prepared: list[tuple[str, int]]) -> npt.NDArray[np.float64]:
        """The vocabulary features of prepared texts, one row each (``feature_names``)."""
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

    def _raw(self, text: str) -> list[tuple[int, int, int, bool]]:
        out = []
        for end, (term, ev, dk) in self.automaton.iter_long(text):
            if ev < 0 and dk < 0:
                continue
            out.append((end, ev, dk, self._negated(text, end + 1 - len(term), end + 1)))
        return out


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The packaged vocabulary (lexicon and dictionary), built once."""
    return Vocabulary()
