"""Risk and positive events in a firm's Chinese documents, as point-in-time profile signals.

Court notices, registry changes, news and relationship managers' visit notes are read by the
packaged text-risk model (:mod:`creditpersona.text`) and its vocabulary: each text is
normalised, standard risk warnings (风险提示 …, :func:`creditpersona.text.features.prepare`)
are removed, and the terms of the credit-risk lexicon (``lexicon.yaml``, see
:mod:`creditpersona.profile.lexicon`: 失信被执行人, 股权冻结, 停产, 拖欠工资 … and positive
events such as 中标 or 专利授权) are found in one Aho–Corasick pass
(:class:`creditpersona.text.features.Vocabulary`, the same matches as the model's features
and ``creditpersona text score``'s events). A mention is dropped when a negation cue scopes
over it in the same clause (经核查，未发现……涉及诉讼; 网传停产消息不实). Each remaining
mention counts once per document and event, weighted by its recency,
``0.5 ** (age_days / half_life_days)``.

Scores. Each document gets the model's probability ``p``; where its text also names other
known firms, the attribution model gives the probability that it is about the document's own
firm instead (and when that says it is about another firm, its events do not count for the
firm). Its risk is ``q = 1 − (1 − m) · exp(−Σ severity)``, with ``m = (p − 0.65) / 0.35``
clipped to [0, 1] (the model when confident; 0 for a document that only denies risk events)
and the sum over the risk events it affirms: a single fresh 失信被执行人 listing the model is
unsure of is 59, as with the lexicon alone. With ``w`` the document's recency weight,
``text_risk_score = 100 · (1 − Π (1 − w · q))``: 0 without a risky document, strictly
increasing in every document's risk, below 100.

The lexicon gives the events. With ``S`` the sum of ``severity × text_<code>`` over the risk
events, ``text_lexicon_score = 100 · (1 − exp(−S))``; one fresh mention of an event of
severity ``s`` scores ``100 · (1 − e^−s)``: 63 for 破产 (1.0), 59 for 失信被执行人 (0.9), 33
for 诉讼 (0.4). ``text_positive_score`` is the same function over the positive events;
positives never lower the risk score.

Columns of :func:`text_signals`, one row per firm with documents up to ``as_of``:

* ``firm_id``; ``n_documents`` and ``n_documents_90d`` (dated in the 90 days ending on
  ``as_of``);
* per event ``text_<code>`` (sum of the weights of the documents that mention it without
  negation) and ``flag_<code>`` (such a document in the 365 days ending on ``as_of``);
  ``text_negated_mentions`` (negated term mentions);
* ``text_risk_score`` in [0, 100] (above; ``q`` at most 0.999), ``text_positive_score`` in
  [0, 100] and ``text_lexicon_score``; ``text_top_event`` (the risk event with the largest
  ``severity × text_<code>``, None if no risk event is mentioned);
* ``text_risk_documents`` (documents of the past 365 days with ``q`` at least 0.5),
  ``text_max_document_risk`` (their largest ``q``, 0 without documents) and
  ``text_other_firm_documents`` (documents about another named firm, not counted);
* ``text_top_document``, ``text_top_document_date`` and ``text_top_document_risk``: the
  firm's risk document (``q`` at least 0.5) of the past year with the largest ``w · q``,
  None / NaN without one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.errors import SchemaError, parameter_error
from creditpersona.profile.lexicon import (
    Event,
    Lexicon,
    Negation,
    default_lexicon,
    load_lexicon,
)

if TYPE_CHECKING:
    from creditpersona.text.features import Vocabulary
    from creditpersona.text.package import PendingScores, TextRiskPackage

__all__ = [
    "Event",
    "Lexicon",
    "Negation",
    "explain_text",
    "load_lexicon",
    "text_signals",
    "text_signals_at",
]

#: Days over which ``n_documents_90d`` and the ``flag_<code>`` columns look back.
RECENT_DAYS = 90
FLAG_DAYS = 365
#: A firm named in a document whose attribution probability is this much below another named
#: firm's is a bystander: the document's events do not count for it.
ATTRIBUTION_MARGIN = 0.1
#: Model probability below which the model adds nothing to a document's risk.
RISK_FLOOR = 0.65
#: Distinct texts matched at once (bounds the memory of the joined batch).
_MATCH_BATCH = 50_000
#: (text, firm) pairs whose attribution features are computed at once (bounds their memory).
PAIR_BATCH = 25_000

_default_lexicon = default_lexicon


# ----- mentions ---------------------------------------------------------------------------
def _vocabulary(lexicon: Lexicon) -> Vocabulary:
    """The model's vocabulary for the packaged lexicon, else one built for ``lexicon``."""
    from creditpersona.text.features import Vocabulary, vocabulary

    voc = vocabulary()
    return voc if voc.lexicon == lexicon else Vocabulary(lexicon)


def _text_mentions(texts: list[object], voc: Vocabulary) -> tuple[npt.NDArray[np.int64], ...]:
    """Event mentions per text, sorted by text then event: text position, event, affirmed
    (1 when mentioned at least once without negation), negated mentions.

    The texts are prepared as the model reads them (normalised, boilerplate removed) and
    matched in batches with :meth:`~creditpersona.text.features.Vocabulary.batch_matches`.
    """
    from creditpersona.text.features import prepare_many

    n_ev = len(voc.events)
    keys: list[npt.NDArray[np.int64]] = []
    negs: list[npt.NDArray[np.int64]] = []
    for lo in range(0, len(texts), _MATCH_BATCH):
        prepared = [p[0] for p in prepare_many(texts[lo:lo + _MATCH_BATCH])]
        batch = voc.batch_matches(prepared)
        if batch is None:  # a text holds the batch separator: one text at a time
            found = [(i, voc.events.index(m.event), int(m.negated))
                     for i, t in enumerate(prepared) for m in voc.matches(t) if m.event]
            arr = np.asarray(found, dtype=np.int64).reshape(-1, 3)
            batch = {"doc": arr[:, 0], "event": arr[:, 1], "negated": arr[:, 2]}
        hit = batch["event"] >= 0
        keys.append((batch["doc"][hit] + lo) * n_ev + batch["event"][hit])
        negs.append(batch["negated"][hit])
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    neg = np.concatenate(negs) if negs else np.zeros(0, dtype=np.int64)
    return _mention_cells(key, neg, n_ev)


def _mention_cells(key: npt.NDArray[np.int64], neg: npt.NDArray[np.int64], n_ev: int
                   ) -> tuple[npt.NDArray[np.int64], ...]:
    """:func:`_text_mentions` from one entry per match of an event: ``text · n_ev + event``
    and whether that match is negated."""
    cells, inv = np.unique(key, return_inverse=True)
    negated = np.bincount(inv, weights=neg, minlength=cells.size)
    total = np.bincount(inv, minlength=cells.size)
    return (cells // n_ev, cells % n_ev, (total > negated).astype(np.int64),
            negated.astype(np.int64))


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


def _check(documents: object, as_of: object, half_life_days: object, lexicon: object,
           risk_floor: object) -> None:
    """Refuse invalid :func:`text_signals` arguments with a clear message."""
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


@dataclass
class _Docs:
    """The documents up to ``as_of`` and, per mention of each, its row in the mention arrays."""

    frame: pd.DataFrame
    as_of_day: int
    age: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    firm_code: npt.NDArray[np.int64]
    firms: pd.Index
    text_code: npt.NDArray[np.int64]
    texts: pd.Index

    @classmethod
    def read(cls, documents: pd.DataFrame, as_of: dt.date, half_life_days: float) -> _Docs:
        as_of_day = int(np.datetime64(dt.date(as_of.year, as_of.month, as_of.day), "D")
                        .astype(np.int64))
        no_firm = documents["firm_id"].isna().to_numpy()
        if no_firm.any():
            raise _bad_rows(documents, no_firm, "firm_id", "is missing")
        age_all = as_of_day - _doc_days(documents)
        keep = age_all >= 0
        docs = documents.loc[keep]
        age = age_all[keep]
        firm_code, firms = pd.factorize(docs["firm_id"], sort=True)
        text_code, texts = pd.factorize(docs["text"])
        return cls(docs, as_of_day, age, np.power(0.5, age / float(half_life_days)),
                   firm_code, firms, text_code, texts)

    def at(self, as_of: dt.date, half_life_days: float) -> tuple[_Docs, npt.NDArray[np.bool_]]:
        """These documents as of an earlier date (those dated up to it), and which they are.

        The distinct texts (``texts``, ``text_code``) stay those of ``self``, so readings per
        text of ``self`` apply to the result as they are.
        """
        as_of_day = int(np.datetime64(dt.date(as_of.year, as_of.month, as_of.day), "D")
                        .astype(np.int64))
        age_all = self.age - (self.as_of_day - as_of_day)
        keep = age_all >= 0
        age = age_all[keep]
        docs = self.frame.loc[keep]
        firm_code, firms = pd.factorize(docs["firm_id"], sort=True)
        return _Docs(docs, as_of_day, age, np.power(0.5, age / float(half_life_days)),
                     firm_code, firms, self.text_code[keep], self.texts), keep

    def expand(self, m_text: npt.NDArray[np.int64]
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Mentions per distinct text as mentions per document: ``(doc, row)`` per mention,
        ``row`` indexing the per-text mention arrays (documents without text have none)."""
        n_per_text = np.bincount(m_text, minlength=len(self.texts) + 1)
        code = np.where(self.text_code >= 0, self.text_code, len(self.texts))
        reps = n_per_text[code]
        doc = np.repeat(np.arange(len(self.frame)), reps)
        first = np.repeat((np.cumsum(n_per_text) - n_per_text)[code], reps)
        row = first + np.arange(doc.size) - np.repeat(np.cumsum(reps) - reps, reps)
        return doc, row


def text_signals(
    documents: pd.DataFrame, as_of: dt.date, *, half_life_days: float = 180.0,
    lexicon: Lexicon | None = None, scorer: TextRiskPackage | None = None,
    firm_names: Mapping[str, str] | None = None, risk_floor: float = RISK_FLOOR,
    jobs: int | None = None,
) -> pd.DataFrame:
    """Recency-weighted risk and positive events per firm in its documents up to ``as_of``.

    Parameters
    ----------
    documents : pandas.DataFrame
        The ``documents`` contract table: ``firm_id``, ``doc_date``, ``text`` (``doc_id``
        names rows in errors). Later rows are ignored; a missing text has no mentions.
    as_of : datetime.date
        The profile date; a document's age is ``as_of − doc_date`` in days.
    half_life_days : float, default 180.0
        A mention's weight is ``0.5 ** (age_days / half_life_days)``.
    lexicon : Lexicon, optional
        Default: the packaged lexicon.
    scorer : TextRiskPackage, optional
        Gives each document its risk probability ``p``; default the packaged model.
    firm_names : mapping of firm_id to registered name, optional
        Where a text also names another known firm (name or short form), the attribution
        model decides whether it is about the document's firm; if not (below the threshold,
        or 0.1 below another named firm) its events and risk do not count for the firm.
    risk_floor : float, default 0.65
        A model probability below it adds nothing to a document's risk.
    jobs : int, optional
        Processes scoring the texts (:meth:`~creditpersona.text.package.TextRiskPackage.score`).

    Returns
    -------
    pandas.DataFrame
        One row per firm with documents up to ``as_of``, sorted by ``firm_id``; the columns
        are listed in the module docstring.

    Raises
    ------
    ConfigurationError, SchemaError
        If a parameter is invalid, a column is missing or a ``doc_date`` is not a date.

    Examples
    --------
    A's 失信被执行人 is 29 days old, its lawsuit 209; B's document denies a lawsuit.

    >>> docs = pd.DataFrame({"firm_id": ["A", "A", "B"], "doc_date": [
    ...     dt.date(2026, 6, 1), dt.date(2025, 12, 3), dt.date(2026, 6, 1)], "text": [
    ...     "甲公司被列为失信被执行人。", "甲公司因买卖合同纠纷被起诉。",
    ...     "经核查，未发现乙公司涉及诉讼。"]})
    >>> s = text_signals(docs, dt.date(2026, 6, 30))
    >>> s["text_top_event"].tolist(), s["flag_lawsuit"].tolist()
    (['dishonest_debtor', None], [True, False])
    >>> s["text_negated_mentions"].tolist()
    [0, 1]
    >>> s["text_lexicon_score"].round(1).tolist()  # 100·(1−exp(−(0.9·0.5**(29/180)+…)))
    [62.6, 0.0]
    >>> bool(s["text_risk_score"].iloc[0] > 50), float(s["text_risk_score"].iloc[1])
    (True, 0.0)
    """
    _check(documents, as_of, half_life_days, lexicon, risk_floor)
    lex = lexicon if lexicon is not None else _default_lexicon()
    d = _Docs.read(documents, as_of, half_life_days)
    pkg = scorer if scorer is not None else _packaged()
    return _signals(d, lex, _read_documents(d, lex, pkg, firm_names, jobs), risk_floor)


def text_signals_at(
    documents: pd.DataFrame, dates: Sequence[dt.date], *, half_life_days: float = 180.0,
    lexicon: Lexicon | None = None, scorer: TextRiskPackage | None = None,
    firm_names: Mapping[str, str] | None = None, risk_floor: float = RISK_FLOOR,
    jobs: int | None = None,
) -> dict[dt.date, pd.DataFrame]:
    """:func:`text_signals` on several dates, every document read once.

    What a document says (its mentions, the model's probability, whom it is about) does not
    depend on the date; only its age does. The documents up to the latest date are read once
    and each date's signals are computed from the readings of those dated up to it: the same
    rows as ``text_signals(documents, date, ...)`` for every date (the PD development
    sample profiles five dates). Parameters as :func:`text_signals`.

    Returns
    -------
    dict of datetime.date to pandas.DataFrame
        :func:`text_signals`' frame per date.

    Examples
    --------
    >>> docs = pd.DataFrame({"firm_id": ["A", "A"], "doc_date": [dt.date(2026, 1, 5),
    ...                      dt.date(2026, 6, 1)], "text": ["甲公司因买卖合同纠纷被起诉。",
    ...                      "甲公司被列为失信被执行人。"]})
    >>> days = [dt.date(2026, 3, 31), dt.date(2026, 6, 30)]
    >>> at = text_signals_at(docs, days)
    >>> all(at[d].equals(text_signals(docs, d)) for d in days)
    True
    """
    if not dates:
        raise parameter_error("dates", "text_signals_at", "one date or more", dates)
    for day in dates:
        _check(documents, day, half_life_days, lexicon, risk_floor)
    lex = lexicon if lexicon is not None else _default_lexicon()
    full = _Docs.read(documents, max(dates), half_life_days)
    pkg = scorer if scorer is not None else _packaged()
    mentions, doc_p, elsewhere = _read_documents(full, lex, pkg, firm_names, jobs)
    out = {}
    for day in dates:
        d, keep = full.at(day, half_life_days)
        out[day] = _signals(d, lex, (mentions, doc_p[keep], elsewhere[keep]), risk_floor)
    return out


def _signals(d: _Docs, lex: Lexicon,
             read: tuple[tuple[npt.NDArray[np.int64], ...], npt.NDArray[np.float64],
                         npt.NDArray[np.bool_]],
             risk_floor: float) -> pd.DataFrame:
    """The signals per firm of documents ``d`` from their readings (:func:`_read_documents`)."""
    mentions, doc_p, elsewhere = read
    m_text, m_event, m_affirmed, m_negated = mentions
    doc, row = d.expand(m_text)
    ev = m_event[row]
    affirmed = m_affirmed[row].astype(bool) & ~elsewhere[doc]
    columns = _event_columns(d, lex, doc, ev, affirmed)
    columns["text_negated_mentions"] = np.bincount(
        d.firm_code[doc], weights=m_negated[row], minlength=len(d.firms)).astype(np.int64)
    doc_q = _document_risk(d, lex, doc, ev, affirmed, m_negated[row], doc_p, risk_floor)
    columns.update(_document_columns(d, doc_q, elsewhere))
    order = ["firm_id", "n_documents", "n_documents_90d",
             *(f"text_{c}" for c in lex.codes), *(f"flag_{c}" for c in lex.codes),
             "text_negated_mentions", "text_risk_score", "text_positive_score",
             "text_top_event", "text_lexicon_score"]
    return pd.DataFrame({k: columns[k] for k in order + [c for c in columns if c not in order]})


def _read_documents(d: _Docs, lex: Lexicon, pkg: TextRiskPackage,
                    firm_names: Mapping[str, str] | None, jobs: int | None
                    ) -> tuple[tuple[npt.NDArray[np.int64], ...], npt.NDArray[np.float64],
                               npt.NDArray[np.bool_]]:
    """The event mentions per distinct text (:func:`_text_mentions`), each document's model
    probability for its firm, and whether the document is about another named firm (then
    its probability is 0)."""
    from creditpersona.text.features import vocabulary
    from creditpersona.text.model import probability

    texts = list(d.texts)
    voc = _vocabulary(lex)
    # With the model's own vocabulary the mentions come from the model's reading of the
    # texts (each text is prepared and matched once); the distinct texts are scored in
    # worker processes for many texts.
    shared = voc is vocabulary()
    # The texts are also searched for the firms they name where they are read.
    pending = pkg.score_async(texts, jobs, mentions=shared, firm_names=firm_names)
    try:
        named = pending.named() if firm_names else None
        found = pending.mentions() if shared else None
        mentions = (_mention_cells(found["doc"] * len(voc.events) + found["event"],
                                   found["negated"], len(voc.events))
                    if found is not None else _text_mentions(texts, voc))
        logit = pending.decisions()
        p_text = probability(logit)
        doc_p = np.where(d.text_code >= 0,
                         p_text[np.maximum(d.text_code, 0)] if len(d.texts) else 0.0, 0.0)
        elsewhere = np.zeros(len(d.frame), dtype=bool)
        if firm_names and named is not None:
            # The pairs' features are read by the same worker processes.
            doc_p, elsewhere = _attributed(d, logit, named, doc_p, pkg, firm_names, pending)
            doc_p[elsewhere] = 0.0  # a document about another firm adds no risk to this one
    finally:
        pending.close()
    return mentions, doc_p, elsewhere


def _event_columns(d: _Docs, lex: Lexicon, doc: npt.NDArray[np.int64],
                   ev: npt.NDArray[np.int64], affirmed: npt.NDArray[np.bool_]
                   ) -> dict[str, Any]:
    """Document counts, ``text_<code>``, ``flag_<code>``, the positive and lexicon scores and
    the top event per firm."""
    n_firms, n_events = len(d.firms), len(lex.events)
    cell = d.firm_code[doc] * n_events + ev
    size = n_firms * n_events
    weights = np.bincount(cell[affirmed], weights=d.weight[doc][affirmed], minlength=size)
    recent = affirmed & (d.age[doc] < FLAG_DAYS)
    flags = (np.bincount(cell[recent], minlength=size) > 0).reshape(n_firms, n_events)
    weights = weights.reshape(n_firms, n_events)
    severity = np.asarray([e.severity for e in lex.events])
    is_risk = np.asarray([e.polarity == "risk" for e in lex.events])
    contribution = weights * severity
    risk_part = np.where(is_risk, contribution, 0.0)
    codes = np.asarray(lex.codes, dtype=object)
    top_event = np.where(risk_part.max(axis=1) > 0, codes[risk_part.argmax(axis=1)], None)
    columns: dict[str, Any] = {
        "firm_id": pd.Series(d.firms, copy=False),
        "n_documents": np.bincount(d.firm_code, minlength=n_firms).astype(np.int64),
        "n_documents_90d": np.bincount(d.firm_code[d.age < RECENT_DAYS],
                                       minlength=n_firms).astype(np.int64),
    }
    columns.update({f"text_{c}": weights[:, j] for j, c in enumerate(lex.codes)})
    columns.update({f"flag_{c}": flags[:, j] for j, c in enumerate(lex.codes)})
    columns["text_positive_score"] = _score(np.where(is_risk, 0.0, contribution).sum(axis=1))
    columns["text_top_event"] = pd.Series(top_event, dtype=object)
    columns["text_lexicon_score"] = _score(risk_part.sum(axis=1))
    return columns


def _document_risk(d: _Docs, lex: Lexicon, doc: npt.NDArray[np.int64],
                   ev: npt.NDArray[np.int64], affirmed: npt.NDArray[np.bool_],
                   negated: npt.NDArray[np.int64], doc_p: npt.NDArray[np.float64],
                   risk_floor: float) -> npt.NDArray[np.float64]:
    """Each document's risk: the model's confident part and the lexicon's affirmed events
    together, ``q = 1 − (1 − m)·exp(−Σ severity)``, ``m = (p − floor) / (1 − floor)`` clipped
    to [0, 1]."""
    severity = np.asarray([e.severity for e in lex.events])
    is_risk = np.asarray([e.polarity == "risk" for e in lex.events])
    risky = affirmed & is_risk[ev]
    s_doc = np.bincount(doc[risky], weights=severity[ev][risky], minlength=len(d.frame))
    m_part = np.clip((doc_p - risk_floor) / (1.0 - risk_floor), 0.0, 1.0)
    # A document that only denies risk events (经核查，未发现……; 网传……不实) is not a risk
    # document, whatever the model makes of its words.
    denies = np.bincount(doc[negated > 0], minlength=len(d.frame)) > 0
    m_part[denies & (s_doc == 0)] = 0.0
    return np.asarray(1.0 - (1.0 - m_part) * np.exp(-s_doc), dtype=np.float64)


def _document_columns(d: _Docs, doc_q: npt.NDArray[np.float64],
                      elsewhere: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """``text_risk_score``, risk documents per firm and each firm's top risk document of the
    past year (largest recency-weighted risk)."""
    n_firms = len(d.firms)
    in_year = d.age < FLAG_DAYS
    top_p = np.zeros(n_firms)
    np.maximum.at(top_p, d.firm_code[in_year], doc_q[in_year])
    top_doc = np.full(n_firms, None, dtype=object)
    top_date = np.full(n_firms, None, dtype=object)
    top_risk = np.full(n_firms, np.nan)
    cand = np.flatnonzero(in_year & ~elsewhere & (doc_q >= 0.5))
    if cand.size:
        order = cand[np.lexsort((-doc_q[cand] * d.weight[cand], d.firm_code[cand]))]
        first = order[np.r_[True, d.firm_code[order][1:] != d.firm_code[order][:-1]]]
        f = d.firm_code[first]
        top_doc[f] = d.frame["text"].to_numpy(dtype=object)[first]
        days = d.as_of_day - d.age[first]
        top_date[f] = [dt.date(1970, 1, 1) + dt.timedelta(days=int(x)) for x in days]
        top_risk[f] = doc_q[first]
    return {
        "text_risk_score": _score(np.asarray(np.bincount(
            d.firm_code, weights=-np.log1p(-np.minimum(doc_q, 0.999) * d.weight),
            minlength=n_firms), dtype=np.float64)),
        "text_risk_documents": np.bincount(d.firm_code[in_year & (doc_q >= 0.5)],
                                           minlength=n_firms).astype(np.int64),
        "text_max_document_risk": top_p,
        "text_other_firm_documents": np.bincount(d.firm_code[elsewhere],
                                                 minlength=n_firms).astype(np.int64),
        "text_top_document": pd.Series(top_doc, dtype=object),
        "text_top_document_date": pd.to_datetime(pd.Series(top_date, dtype=object)),
        "text_top_document_risk": top_risk,
    }


def _packaged() -> TextRiskPackage:
    from creditpersona.text.package import load_packaged

    return load_packaged()


def _attributed(d: _Docs, logit: npt.NDArray[np.float64], named: list[set[str]],
                doc_p: npt.NDArray[np.float64], pkg: TextRiskPackage,
                firm_names: Mapping[str, str], pending: PendingScores
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Document risk for its own firm where the text also names other known firms.

    ``logit`` is the model's log-odds and ``named`` the firms named (ids,
    :func:`~creditpersona.text.attribution.named_firms`) of each distinct text; ``pending``
    the texts' scoring, whose worker processes read the pairs. Returns the
    risk per document (the attribution model's pair probability where another firm is
    named, else unchanged) and whether the document is about another firm (below the
    threshold, or ``ATTRIBUTION_MARGIN`` below the strongest other named firm).
    """
    docs, texts, text_code = d.frame, d.texts, d.text_code
    own = docs["firm_id"].astype(str).to_numpy()
    idx = [i for i in range(len(docs)) if text_code[i] >= 0
           and (named[text_code[i]] - {own[i]})]
    out = doc_p.copy()
    elsewhere = np.zeros(len(docs), dtype=bool)
    if not idx:
        return out, elsewhere
    # Documents repeating a text of the same firm are judged once.
    pair_of: dict[tuple[int, str], int] = {}
    which = [pair_of.setdefault((int(text_code[i]), own[i]), len(pair_of)) for i in idx]
    uniq = list(pair_of)
    pair_text = [texts[t] for t, _ in uniq]
    # The firm first, then the other named firms: it is judged beside them.
    pair_names = [[str(firm_names.get(f, ""))]
                  + sorted(str(firm_names.get(o, "")) for o in named[t] - {f})
                  for t, f in uniq]
    # pkg.attribute, the pairs' rows read in the worker processes (the same rows), a batch
    # of texts at a time: each row depends on its own text only, and the rows' features
    # (sentences, spans, vectors) of every pair at once outgrow memory at a million firms.
    own_p, other_p = np.empty(len(uniq)), np.empty(len(uniq))
    whole = logit[[t for t, _ in uniq]]
    for a in range(0, len(uniq), PAIR_BATCH):
        b = min(a + PAIR_BATCH, len(uniq))
        flat = pkg.attribution.score(pending.pair_features(pair_text[a:b], pair_names[a:b],
                                                           whole[a:b]))
        sizes = np.asarray([len(n) for n in pair_names[a:b]])
        first = np.r_[0, np.cumsum(sizes)[:-1]]
        own_p[a:b] = flat[first]
        # The strongest other firm named: a firm well below it is a bystander of the news.
        other_p[a:b] = [flat[f + 1:f + k].max() for f, k in zip(first, sizes, strict=True)]
    others, p = other_p[which], own_p[which]
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

