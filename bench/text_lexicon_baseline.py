"""The lexicon scorer the profile used before the text-risk model (issue 16): a baseline.

Texts are segmented with jieba (every lexicon word added to its dictionary); a lexicon term
counts when it is a whole token and no negation cue scopes over it in the same clause. No
boilerplate removal. A text's lexicon score is ``100 · (1 − exp(−Σ severity))`` over the risk
events it affirms (once per event), the ``text_lexicon_score`` of a one-document firm before
issue 16. ``bench/bench_text.py`` times it against the model (the speed ratio the issue asks
for) and ``bench/bench_synthetic_text.py`` measures how well it reads the synthetic bank's
documents.
"""

from __future__ import annotations

import functools
import logging
import re

import jieba
import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.profile.lexicon import Lexicon

#: Runs of the characters jieba segments together; any other character ends a run, so the
#: text on either side of it is segmented independently.
_JIEBA_BLOCK: re.Pattern[str] = jieba.re_han_default


class Matcher:
    """A jieba tokenizer holding the lexicon's words, and the lookups of mention finding."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.term_event = {t: i for i, e in enumerate(lexicon.events) for t in e.terms}
        self.before = frozenset(lexicon.negation.before)
        self.after = frozenset(lexicon.negation.after)
        self.delimiters = frozenset(lexicon.delimiters)
        self.window_before = lexicon.negation.window_before
        self.window_after = lexicon.negation.window_after
        # Delimiters made of characters that end a jieba block (punctuation, line breaks)
        # can cut a text into clauses before tokenising; word delimiters (但是) cannot.
        marks = sorted({c for d in self.delimiters if not _JIEBA_BLOCK.search(d) for c in d})
        escaped = "".join("\\" + c if c in "\\]^-[" else c for c in marks)
        self.clause_split = f"[{escaped}]" if marks else ""
        # A superset test only (a term must occur as a substring to be a token): the order of
        # the alternatives does not matter, sorting keeps the pattern deterministic.
        terms = sorted(self.term_event, key=lambda t: (-len(t), t))
        self.pattern = "|".join(re.escape(t) for t in terms)
        self.tokenizer = jieba.Tokenizer()
        log = logging.getLogger("jieba")
        level = log.level
        log.setLevel(logging.WARNING)  # jieba reports building its prefix dict at DEBUG
        try:
            self.tokenizer.initialize()
        finally:
            log.setLevel(level)
        # jieba's default frequency for an added word is the least that keeps it whole on
        # its own; single characters are left alone so that 未 or 无 are never cut out of
        # 未来 or 无锡.
        words = (set(self.term_event) | self.before | self.after | set(lexicon.protected)
                 | self.delimiters)
        for w in sorted(words):
            if len(w) > 1:
                self.tokenizer.add_word(w)

    def tokens(self, text: str) -> list[str]:
        """The jieba tokens of ``text`` (dictionary words only, no HMM guesses)."""
        return list(self.tokenizer.lcut(text, HMM=False))

    def mentions(self, tokens: list[str]) -> list[tuple[int, bool]]:
        """``(event index, negated)`` for every lexicon term among ``tokens``."""
        out: list[tuple[int, bool]] = []
        clause_start = 0
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if tok in self.delimiters:
                clause_start = i + 1
                continue
            ev = self.term_event.get(tok)
            if ev is None:
                continue
            lo = max(clause_start, i - self.window_before)
            negated = any(t in self.before for t in tokens[lo:i])
            if not negated:
                for t in tokens[i + 1: min(n, i + 1 + self.window_after)]:
                    if t in self.delimiters:
                        break
                    if t in self.after:
                        negated = True
                        break
            out.append((ev, negated))
        return out


@functools.lru_cache(maxsize=2)
def matcher(lexicon: Lexicon) -> Matcher:
    return Matcher(lexicon)



def text_mentions(texts: pd.Series, m: Matcher) -> tuple[npt.NDArray[np.int64], ...]:
    """Mentions per distinct text, sorted by text: text position, event, affirmed, negated.

    ``affirmed`` is 1 when the text mentions the event at least once without negation;
    ``negated`` counts its negated mentions. Negation never crosses a clause and jieba
    segments the runs between punctuation marks independently, so texts are cut at their
    punctuation delimiters and each distinct clause holding a lexicon term as a substring
    (pre-selected by one Arrow regex) is tokenised once: texts repeat across documents and
    clauses across texts.
    """
    arrow = pd.StringDtype("pyarrow")
    s = texts.astype(arrow).reset_index(drop=True)
    s = s[s.str.contains(m.pattern, regex=True).fillna(False).to_numpy(dtype=bool)]
    if m.clause_split:
        s = s.str.split(m.clause_split, regex=True).explode().astype(arrow)
        s = s[s.str.contains(m.pattern, regex=True).fillna(False).to_numpy(dtype=bool)]
    clause_code, clauses = pd.factorize(s)
    c_clause: list[int] = []
    c_event: list[int] = []
    c_negated: list[bool] = []
    for k, clause in enumerate(clauses.tolist()):
        for ev, neg in m.mentions(m.tokens(clause)):
            c_clause.append(k)
            c_event.append(ev)
            c_negated.append(neg)
    found = pd.DataFrame({"clause": np.asarray(c_clause, dtype=np.int64),
                          "event": np.asarray(c_event, dtype=np.int64),
                          "negated": np.asarray(c_negated, dtype=bool)})
    where = pd.DataFrame({"text": s.index.to_numpy(dtype=np.int64), "clause": clause_code})
    per_text = where.merge(found, on="clause").assign(affirmed=lambda d: ~d["negated"])
    agg = per_text.groupby(["text", "event"], sort=True)[["affirmed", "negated"]].sum()
    return (agg.index.get_level_values("text").to_numpy(dtype=np.int64),
            agg.index.get_level_values("event").to_numpy(dtype=np.int64),
            (agg["affirmed"].to_numpy() > 0).astype(np.int64),
            agg["negated"].to_numpy(dtype=np.int64))



def lexicon_scores(texts: list[str], lexicon: Lexicon) -> npt.NDArray[np.float64]:
    """Each text's lexicon-only risk score in [0, 100] (see the module docstring)."""
    m = matcher(lexicon)
    text_code, texts_u = pd.factorize(pd.Series(texts, dtype=object))
    t, ev, affirmed, _ = text_mentions(pd.Series(texts_u), m)
    sev = np.asarray([e.severity if e.polarity == "risk" else 0.0 for e in lexicon.events])
    total = np.bincount(t, weights=sev[ev] * affirmed, minlength=len(texts_u))
    per_text = 100.0 * -np.expm1(-total)
    return np.where(text_code >= 0, per_text[np.maximum(text_code, 0)], 0.0)
