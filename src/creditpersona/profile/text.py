"""Risk and positive events in a firm's Chinese documents, as point-in-time profile signals.

Court notices, registry changes, news and relationship managers' visit notes are segmented
with jieba; the words of a curated lexicon (``lexicon.yaml``: 失信被执行人, 股权冻结, 停产,
拖欠工资 … and positive events such as 中标 or 专利授权) are found as whole tokens, and a
mention is dropped when a negation cue scopes over it in the same clause (经核查，未发现……涉及
诉讼; 网传停产消息不实). Each remaining mention counts once per document and event, weighted
by its recency, ``0.5 ** (age_days / half_life_days)``.

Scores. ``text_risk_score`` joins the packaged text-risk model (:mod:`creditpersona.text`:
character n-grams, this lexicon and a financial sentiment dictionary in one logistic
regression trained on real Chinese financial news and event reports) and the lexicon's events.
Each document gets a model probability ``p``; where its text also names other known firms, the
attribution model gives the probability that it is about the document's own firm instead
(and when that is below one half, the document's events do not count for the firm). Its risk
is ``q = 1 − (1 − m) · exp(−Σ severity)``, with ``m = (p − 0.65) / 0.35`` clipped to [0, 1]
(the model when confident; 0 for a document that only denies risk events) and the sum over
the risk events it affirms: a single fresh
失信被执行人 listing the model is unsure of is 59, as with the lexicon alone. With ``w`` the
document's recency weight, ``text_risk_score = 100 · (1 − Π (1 − w · q))``: 0 without a
risky document, strictly increasing in every document's risk, below 100.

The lexicon gives the events. With ``S`` the sum of ``severity × text_<code>`` over the risk
events, ``text_lexicon_score = 100 · (1 − exp(−S))``; one fresh mention of an event of
severity ``s`` scores ``100 · (1 − e^−s)``: 63 for 破产 (1.0), 59 for 失信被执行人 (0.9), 33
for 诉讼 (0.4). ``text_positive_score`` is the same function over the positive events;
positives never lower the risk score.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jieba
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.errors import SchemaError, parameter_error

if TYPE_CHECKING:
    from creditpersona.text.package import TextRiskPackage

__all__ = [
    "Event",
    "Lexicon",
    "Negation",
    "explain_text",
    "load_lexicon",
    "text_signals",
]

#: Days over which ``n_documents_90d`` and the ``flag_<code>`` columns look back.
RECENT_DAYS = 90
FLAG_DAYS = 365
#: A firm named in a document whose attribution probability is this much below another named
#: firm's is a bystander: the document's events do not count for it.
ATTRIBUTION_MARGIN = 0.1
#: Model probability below which the model adds nothing to a document's risk.
RISK_FLOOR = 0.65

_CODE = r"^[a-z][a-z0-9_]*$"
#: Runs of the characters jieba segments together; any other character ends a run, so the
#: text on either side of it is segmented independently.
_JIEBA_BLOCK: re.Pattern[str] = jieba.re_han_default


def _clean_words(words: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Words stripped of surrounding blanks; empty or repeated words are errors."""
    out = tuple(w.strip() for w in words)
    if any(not w for w in out):
        raise ValueError(f"{what} must not contain empty strings")
    repeated = sorted({w for w in out if out.count(w) > 1})
    if repeated:
        raise ValueError(f"{what} list {', '.join(repeated)} more than once")
    return out


class Event(BaseModel):
    """One risk or positive event of the lexicon."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    polarity: Literal["risk", "positive"]
    severity: float = Field(ge=0.0, le=1.0)
    terms: tuple[str, ...] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _terms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "terms")


class Negation(BaseModel):
    """Negation cues and how far they reach within a clause."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before: tuple[str, ...] = Field(min_length=1)
    window_before: int = Field(ge=1)
    after: tuple[str, ...] = ()
    window_after: int = Field(default=0, ge=0)

    @field_validator("before", "after")
    @classmethod
    def _cues(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "negation cues")


class Lexicon(BaseModel):
    """The whole lexicon: events, negation cues, protected words and clause delimiters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    events: tuple[Event, ...] = Field(min_length=1)
    negation: Negation
    protected: tuple[str, ...] = ()
    delimiters: tuple[str, ...] = Field(min_length=1)

    @field_validator("protected")
    @classmethod
    def _protected(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "protected")

    @field_validator("delimiters")
    @classmethod
    def _delimiters(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(d == "" for d in v):
            raise ValueError("delimiters must not contain empty strings")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Lexicon:
        codes = [e.code for e in self.events]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"event codes must be unique; {', '.join(repeated)} repeated")
        owner: dict[str, str] = {}
        for e in self.events:
            for t in e.terms:
                if t in owner and owner[t] != e.code:
                    raise ValueError(f"term {t!r} belongs to both {owner[t]!r} and {e.code!r}; "
                                     "give it to one event")
                owner[t] = e.code
        roles = {"a negation cue": set(self.negation.before) | set(self.negation.after),
                 "a protected word": set(self.protected), "a delimiter": set(self.delimiters)}
        for role, words in roles.items():
            clash = sorted(set(owner) & words)
            if clash:
                raise ValueError(f"term(s) {', '.join(clash)} also listed as {role}; "
                                 "a word can have one role only")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        """Event codes in lexicon order."""
        return tuple(e.code for e in self.events)

    def event(self, code: str) -> Event:
        """The event called ``code``.

        Raises
        ------
        ConfigurationError
            If the lexicon has no such event.
        """
        for e in self.events:
            if e.code == code:
                return e
        raise parameter_error("code", "Lexicon.event", f"one of {', '.join(self.codes)}", code)


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and validate a lexicon (default: the packaged ``lexicon.yaml``).

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with the layout of the packaged lexicon.

    Returns
    -------
    Lexicon

    Raises
    ------
    ConfigurationError
        If the file is missing or not YAML, or an entry is invalid; the message names the
        file and each offending entry.

    Examples
    --------
    >>> lex = load_lexicon()
    >>> lex.event("dishonest_debtor").zh, lex.event("dishonest_debtor").severity
    ('失信被执行人', 0.9)
    >>> "失信被执行人" in lex.event("dishonest_debtor").terms
    True
    """
    return load_yaml_config(Lexicon, "creditpersona.profile", "lexicon.yaml", path, "lexicon",
                            owner="load_lexicon")


# ----- tokenisation and mention finding ---------------------------------------------------
class _Matcher:
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
def _matcher(lexicon: Lexicon) -> _Matcher:
    return _Matcher(lexicon)


@functools.lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    return load_lexicon()


def _text_mentions(texts: pd.Series, m: _Matcher) -> tuple[npt.NDArray[np.int64], ...]:
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


# ----- signals ------------------------------------------------------------------------------
_REQUIRED = ("firm_id", "doc_date", "text")


def _bad_rows(documents: pd.DataFrame, bad: npt.NDArray[np.bool_], column: str,
              problem: str) -> SchemaError:
    i = int(np.flatnonzero(bad)[0])
    key = (f"doc_id={documents['doc_id'].iat[i]}" if "doc_id" in documents.columns
           else f"position {i}")
    return SchemaError(
        f"documents row {key}: {column} {documents[column].iat[i]!r} {problem} "
        f"({int(bad.sum())} such rows); fix the source or drop the rows."
    )


def _doc_days(documents: pd.DataFrame) -> npt.NDArray[np.int64]:
    """``doc_date`` as days since the epoch; a missing or unparseable date is an error."""
    parsed = pd.to_datetime(documents["doc_date"], errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _bad_rows(documents, bad, "doc_date", "is not a date")
    return parsed.to_numpy().astype("datetime64[D]").astype(np.int64)


def _score(total: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 100.0 * -np.expm1(-total)


def text_signals(
    documents: pd.DataFrame,
    as_of: dt.date,
    *,
    half_life_days: float = 180.0,
    lexicon: Lexicon | None = None,
    scorer: TextRiskPackage | None = None,
    firm_names: Mapping[str, str] | None = None,
    risk_floor: float = RISK_FLOOR,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Recency-weighted risk and positive events per firm in its documents up to ``as_of``.

    Parameters
    ----------
    documents : pandas.DataFrame
        Rows of the ``documents`` contract table; needs ``firm_id``, ``doc_date`` and
        ``text`` (``doc_id`` names rows in error messages). Rows dated after ``as_of`` are
        ignored; a missing text counts as a document without mentions.
    as_of : datetime.date
        The profile date. A document's age is ``as_of − doc_date`` in days.
    half_life_days : float, default 180.0
        A mention's weight is ``0.5 ** (age_days / half_life_days)``.
    lexicon : Lexicon, optional
        Default: the packaged lexicon (:func:`load_lexicon`).
    scorer : TextRiskPackage, optional
        The text-risk model giving each document its risk probability ``p``; default the
        packaged one (:func:`creditpersona.text.package.load_packaged`).
    firm_names : mapping of firm_id to registered name, optional
        The known firms. A document whose text names another known firm (by its name or a
        short form, see :func:`creditpersona.text.attribution.short_names`) is scored for
        its own firm by the attribution model; when that says the text is not about the
        firm (below the model's threshold, or 0.1 below another named firm), its events are
        not counted for it.
    risk_floor : float, default 0.65
        A model probability below it adds nothing to a document's risk.
    jobs : int, optional
        Processes scoring the texts with the model (see
        :meth:`creditpersona.text.package.TextRiskPackage.score`): default one below
        100,000 distinct texts, else up to 2 while the lexicon is matched in this process.

    Returns
    -------
    pandas.DataFrame
        One row per firm with documents up to ``as_of``, sorted by ``firm_id`` (left-join it
        onto all firms; firms without documents do not appear), with columns ``firm_id``;
        ``n_documents`` and ``n_documents_90d`` (dated in the 90 days ending on ``as_of``);
        per event ``text_<code>`` (sum of the weights of the documents that mention it
        without negation) and ``flag_<code>`` (such a document in the 365 days ending on
        ``as_of``); ``text_negated_mentions`` (negated term mentions);
        ``text_risk_score`` in [0, 100]: ``100 · (1 − Π (1 − w · q))`` over the documents,
        with ``w`` the recency weight and the document risk
        ``q = 1 − (1 − m) · exp(−Σ severity)`` (``m = (p − risk_floor) / (1 − risk_floor)``
        clipped to [0, 1], the sum over the risk events the document affirms; ``q`` at most
        0.999): 0 without risky documents, strictly increasing in every document's risk;
        ``text_positive_score`` in [0, 100] and ``text_lexicon_score``
        (the lexicon-only risk score, see the module docstring); ``text_top_event`` (the
        risk event with the largest ``severity × text_<code>``, None if no risk event is
        mentioned); ``text_risk_documents`` (documents of the past 365 days with ``q`` at
        least 0.5), ``text_max_document_risk`` (their largest ``q``, 0 without documents)
        and ``text_other_firm_documents`` (documents about another named firm, not
        counted); ``text_top_document``, ``text_top_document_date`` and
        ``text_top_document_risk``: the firm's risk document (``q`` at least 0.5) of the
        past year with the largest ``w · q``, None / NaN without one.

    Raises
    ------
    ConfigurationError
        If a parameter is invalid.
    SchemaError
        If a required column is missing or a ``doc_date`` is not a date.

    Examples
    --------
    >>> docs = pd.DataFrame({
    ...     "firm_id": ["A", "A", "B", "C"],
    ...     "doc_date": [dt.date(2026, 6, 1), dt.date(2025, 12, 3), dt.date(2026, 6, 1),
    ...                  dt.date(2026, 7, 1)],
    ...     "text": ["甲公司被列为失信被执行人。", "甲公司因买卖合同纠纷被起诉。",
    ...              "经核查，未发现乙公司涉及诉讼。", "丙公司停产。"]})
    >>> s = text_signals(docs, dt.date(2026, 6, 30))
    >>> s["firm_id"].tolist(), s["n_documents"].tolist(), s["text_top_event"].tolist()
    (['A', 'B'], [2, 1], ['dishonest_debtor', None])
    >>> s["flag_lawsuit"].tolist(), s["text_negated_mentions"].tolist()
    ([True, False], [0, 1])

    A's 失信被执行人 is 29 days old (severity 0.9), its lawsuit 209 days (0.4), so its lexicon
    score is ``100 · (1 − exp(−(0.9 · 0.5 ** (29/180) + 0.4 · 0.5 ** (209/180))))``; C's
    document is dated after ``as_of``. The model scores A's documents as risky, B's not:

    >>> s["text_lexicon_score"].round(1).tolist()
    [62.6, 0.0]
    >>> bool(s["text_risk_score"].iloc[0] > 50), float(s["text_risk_score"].iloc[1])
    (True, 0.0)
    >>> s["text_risk_documents"].tolist()
    [1, 0]
    """
    owner = "text_signals"
    if not isinstance(documents, pd.DataFrame):
        raise parameter_error("documents", owner, "a pandas DataFrame", type(documents).__name__)
    if not isinstance(as_of, dt.date):
        raise parameter_error("as_of", owner, "a datetime.date", as_of)
    if (isinstance(half_life_days, bool) or not isinstance(half_life_days, int | float)
            or not math.isfinite(half_life_days) or half_life_days <= 0):
        raise parameter_error("half_life_days", owner, "a positive finite number of days",
                              half_life_days)
    if lexicon is not None and not isinstance(lexicon, Lexicon):
        raise parameter_error("lexicon", owner, "a Lexicon or None", type(lexicon).__name__)
    if (isinstance(risk_floor, bool) or not isinstance(risk_floor, int | float)
            or not 0.0 <= risk_floor < 1.0):
        raise parameter_error("risk_floor", owner, "a number in [0, 1)", risk_floor)
    missing = [c for c in _REQUIRED if c not in documents.columns]
    if missing:
        raise SchemaError(f"documents has no column {', '.join(missing)}; {owner} needs "
                          f"{', '.join(_REQUIRED)}.")
    lex = lexicon if lexicon is not None else _default_lexicon()
    m = _matcher(lex)
    n_events = len(lex.events)

    as_of_day = np.datetime64(dt.date(as_of.year, as_of.month, as_of.day), "D").astype(np.int64)
    no_firm = documents["firm_id"].isna().to_numpy()
    if no_firm.any():
        raise _bad_rows(documents, no_firm, "firm_id", "is missing")
    age_all = as_of_day - _doc_days(documents)
    keep = age_all >= 0
    docs = documents.loc[keep]
    age = age_all[keep]

    firm_code, firms = pd.factorize(docs["firm_id"], sort=True)
    text_code, texts = pd.factorize(docs["text"])
    n_firms = len(firms)
    weight = np.power(0.5, age / float(half_life_days))

    # The model scores the distinct texts (in worker processes for many texts) while the
    # lexicon is matched here.
    pkg = scorer if scorer is not None else _packaged()
    pending = pkg.score_async(list(texts), jobs)
    try:
        m_text, m_event, m_affirmed, m_negated = _text_mentions(pd.Series(texts), m)
        p_text = pending.result()
    finally:
        pending.close()
    # Expand mentions per distinct text into mentions per document; the extra last slot
    # stands for documents without text.
    n_per_text = np.bincount(m_text, minlength=len(texts) + 1)
    code = np.where(text_code >= 0, text_code, len(texts))
    reps = n_per_text[code]
    doc = np.repeat(np.arange(len(docs)), reps)
    first = np.repeat((np.cumsum(n_per_text) - n_per_text)[code], reps)
    row = first + np.arange(doc.size) - np.repeat(np.cumsum(reps) - reps, reps)

    # Document risk from the model, on distinct texts; attribution where other firms are named.
    doc_p = np.where(text_code >= 0, p_text[np.maximum(text_code, 0)] if len(texts) else 0.0,
                     0.0)
    elsewhere = np.zeros(len(docs), dtype=bool)
    if firm_names:
        doc_p, elsewhere = _attributed(docs, texts, text_code, doc_p, pkg, firm_names)

    firm_of = firm_code[doc]
    cell = firm_of * n_events + m_event[row]
    affirmed = m_affirmed[row].astype(bool) & ~elsewhere[doc]
    size = n_firms * n_events
    weights = np.bincount(cell[affirmed], weights=weight[doc][affirmed], minlength=size)
    recent = affirmed & (age[doc] < FLAG_DAYS)
    flags = np.bincount(cell[recent], minlength=size) > 0
    weights = weights.reshape(n_firms, n_events)
    flags = flags.reshape(n_firms, n_events)

    severity = np.asarray([e.severity for e in lex.events])
    is_risk = np.asarray([e.polarity == "risk" for e in lex.events])
    contribution = weights * severity
    risk_part = np.where(is_risk, contribution, 0.0)
    top = risk_part.argmax(axis=1)
    codes = np.asarray(lex.codes, dtype=object)
    top_event = np.where(risk_part.max(axis=1) > 0, codes[top], None)

    columns: dict[str, Any] = {
        "firm_id": pd.Series(firms, copy=False),
        "n_documents": np.bincount(firm_code, minlength=n_firms).astype(np.int64),
        "n_documents_90d": np.bincount(firm_code[age < RECENT_DAYS],
                                       minlength=n_firms).astype(np.int64),
    }
    columns.update({f"text_{c}": weights[:, j] for j, c in enumerate(lex.codes)})
    columns.update({f"flag_{c}": flags[:, j] for j, c in enumerate(lex.codes)})
    columns["text_negated_mentions"] = np.bincount(
        firm_of, weights=m_negated[row], minlength=n_firms).astype(np.int64)
    # Document risk: the model's confident part and the lexicon's affirmed events together,
    # q = 1 − (1 − m)·exp(−Σ severity), m = (p − floor) / (1 − floor) clipped to [0, 1].
    severity_all = np.asarray([e.severity for e in lex.events])
    is_risk_all = np.asarray([e.polarity == "risk" for e in lex.events])
    risky = affirmed & is_risk_all[m_event[row]]
    s_doc = np.bincount(doc[risky], weights=severity_all[m_event[row]][risky],
                        minlength=len(docs))
    m_part = np.clip((doc_p - risk_floor) / (1.0 - risk_floor), 0.0, 1.0)
    # A document that only denies risk events (经核查，未发现……; 网传……不实) is not a risk
    # document, whatever the model makes of its words.
    denies = np.bincount(doc[m_negated[row] > 0], minlength=len(docs)) > 0
    m_part[denies & (s_doc == 0)] = 0.0
    doc_q = 1.0 - (1.0 - m_part) * np.exp(-s_doc)
    r = np.minimum(doc_q, 0.999) * weight
    columns["text_risk_score"] = _score(np.asarray(
        np.bincount(firm_code, weights=-np.log1p(-r), minlength=n_firms), dtype=np.float64))
    columns["text_positive_score"] = _score(np.where(is_risk, 0.0, contribution).sum(axis=1))
    columns["text_top_event"] = pd.Series(top_event, dtype=object)
    columns["text_lexicon_score"] = _score(risk_part.sum(axis=1))
    in_year = age < FLAG_DAYS
    columns["text_risk_documents"] = np.bincount(
        firm_code[in_year & (doc_q >= 0.5)], minlength=n_firms).astype(np.int64)
    top_p = np.zeros(n_firms)
    np.maximum.at(top_p, firm_code[in_year], doc_q[in_year])
    columns["text_max_document_risk"] = top_p
    columns["text_other_firm_documents"] = np.bincount(
        firm_code[elsewhere], minlength=n_firms).astype(np.int64)
    # Each firm's top risk document of the past year (largest recency-weighted risk).
    top_doc = np.full(n_firms, None, dtype=object)
    top_date = np.full(n_firms, None, dtype=object)
    top_risk = np.full(n_firms, np.nan)
    cand = np.flatnonzero(in_year & ~elsewhere & (doc_q >= 0.5))
    if cand.size:
        order = cand[np.lexsort((-doc_q[cand] * weight[cand], firm_code[cand]))]
        first = order[np.r_[True, firm_code[order][1:] != firm_code[order][:-1]]]
        f = firm_code[first]
        top_doc[f] = docs["text"].to_numpy(dtype=object)[first]
        days = as_of_day - age[first]
        top_date[f] = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]
        top_risk[f] = doc_q[first]
    columns["text_top_document"] = pd.Series(top_doc, dtype=object)
    columns["text_top_document_date"] = pd.to_datetime(pd.Series(top_date, dtype=object))
    columns["text_top_document_risk"] = top_risk
    return pd.DataFrame(columns)


def _packaged() -> TextRiskPackage:
    from creditpersona.text.package import load_packaged

    return load_packaged()


def _attributed(docs: pd.DataFrame, texts: pd.Index, text_code: npt.NDArray[np.int64],
                doc_p: npt.NDArray[np.float64], pkg: TextRiskPackage,
                firm_names: Mapping[str, str]
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Document risk for its own firm where the text also names other known firms.

    Returns the risk per document (the attribution model's pair probability where another
    firm is named, else unchanged) and whether the document is about another firm (below
    the threshold, or ``ATTRIBUTION_MARGIN`` below the strongest other named firm).
    """
    from creditpersona.text.attribution import named_firms

    named = named_firms(list(texts), firm_names)
    own = docs["firm_id"].astype(str).to_numpy()
    idx = [i for i in range(len(docs)) if text_code[i] >= 0
           and (named[text_code[i]] - {own[i]})]
    out = doc_p.copy()
    elsewhere = np.zeros(len(docs), dtype=bool)
    if not idx:
        return out, elsewhere
    pair_text = [texts[text_code[i]] for i in idx]
    # The firm first, then the other named firms: it is judged beside them.
    pair_names = [[str(firm_names.get(own[i], ""))]
                  + sorted(str(firm_names.get(f, "")) for f in named[text_code[i]] - {own[i]})
                  for i in idx]
    flat = pkg.attribute(pair_text, pair_names)
    sizes = np.asarray([len(n) for n in pair_names])
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    p = flat[first]
    # The strongest other firm named: a firm well below it is a bystander of the news.
    others = np.asarray([flat[a + 1:a + k].max() for a, k in zip(first, sizes, strict=True)])
    out[idx] = p
    elsewhere[idx] = (p < pkg.threshold) | (p < others - ATTRIBUTION_MARGIN)
    return out, elsewhere


# ----- explanation --------------------------------------------------------------------------
def explain_text(row: Mapping[str, Any] | pd.Series, *, lexicon: Lexicon | None = None,
                 max_events: int = 2) -> tuple[str, str]:
    """A short Chinese and English phrase for a firm's top text risk event.

    The top event (``text_top_event``) comes first, followed by the next strongest risk
    events flagged in the past year, up to ``max_events``.

    Parameters
    ----------
    row : mapping or pandas.Series
        One row of :func:`text_signals` (or of a profile holding its columns).
    lexicon : Lexicon, optional
        Default: the packaged lexicon.
    max_events : int, default 2
        How many events the phrase names at most.

    Returns
    -------
    tuple of str
        ``(zh, en)``.

    Raises
    ------
    ConfigurationError
        If ``max_events`` is not a positive integer or the top event is not in the lexicon.

    Examples
    --------
    >>> explain_text({"text_top_event": "lawsuit", "text_lawsuit": 1.2, "flag_lawsuit": True,
    ...               "text_enforcement_listing": 0.6, "flag_enforcement_listing": True})
    ('近一年涉及诉讼与被执行人信息', 'lawsuits and enforcement listings in the past year')
    >>> explain_text({"text_top_event": "dishonest_debtor", "text_dishonest_debtor": 0.2,
    ...               "flag_dishonest_debtor": False})
    ('一年以前曾涉及失信被执行人信息', 'dishonest-debtor listings more than a year ago')
    >>> explain_text({"text_top_event": None})
    ('近期未见负面文本信息', 'no adverse news, court or registry records')
    """
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
        raise parameter_error("max_events", "explain_text", "a positive integer", max_events)
    lex = lexicon if lexicon is not None else _default_lexicon()
    top = row.get("text_top_event")
    if not isinstance(top, str) or not top:
        return "近期未见负面文本信息", "no adverse news, court or registry records"
    first = lex.event(top)
    if not _truthy(row.get(f"flag_{top}")):
        return f"一年以前曾涉及{first.zh}信息", f"{first.en} more than a year ago"
    others = [(e.severity * _number(row.get(f"text_{e.code}")), i, e)
              for i, e in enumerate(lex.events)
              if e.polarity == "risk" and e.code != top and _truthy(row.get(f"flag_{e.code}"))]
    others.sort(key=lambda x: (-x[0], x[1]))
    named = [first, *(e for _, _, e in others[: max_events - 1])]
    return (f"近一年涉及{'与'.join(e.zh for e in named)}信息",
            f"{' and '.join(e.en for e in named)} in the past year")


def _truthy(value: object) -> bool:
    return value is not None and not pd.isna(value) and bool(value)  # type: ignore[call-overload]


def _number(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return out if math.isfinite(out) else 0.0
