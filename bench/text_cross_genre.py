"""The cross-genre target of issue 16 (trained without CCKS, scored on CCKS): what was tried,
and why the packaged method stays near 0.67.

Run from the repository root (2 cores; about 20 minutes, see docs/text-risk.md)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/text_cross_genre.py [--json OUT]

Needs ``../shared/data/text`` (``bench/text_data.py``). CCKS 2019 is read here as an
evaluation set only (no licence stated); nothing below is fitted on it except the
*in-domain references* of part 2, which are labelled as such and never shipped.

1. **Variants, all trained on BDCI only**, each with its BDCI 5-fold AUC (stratified, seed 0,
   the folds of ``text evaluate``) and its BDCI → CCKS AUC (adverse vs rest, one row per
   distinct text): the packaged method; its training texts with every BDCI entity name
   (the per-company file's ``entity`` column) masked as 某公司, so that the n-grams cannot
   learn the firms and platforms of the training set; hedging cues (谨防, 打击, 整治 …) added
   to the lexicon's negation cues, so that warnings and crackdown campaigns are not events;
   jieba word unigrams with a logistic regression; the plain character n-gram baseline.
   Added in the third attempt: a logistic regression stacked on the packaged method's
   out-of-fold log-odds and the published dictionary's negative share plus the noisy-OR of
   the lexicon's event severities (fitted on the BDCI training folds); the same stacked on
   the event severities of clauses that name a firm or its people and of the others; the
   riskiest clause of a text instead of the whole text; jieba words beside the packaged
   design under a stronger penalty.
2. **Diagnostics of the packaged method on CCKS**: the AUC of its n-gram part and of its
   vocabulary part; its AUC against each kind of "rest" (其他 only; 实控人股东变更 or
   评级调整 only); scores that need no training (the Yao et al. negative share, the event
   severities); and, as in-domain references, a logistic regression on the same
   vocabulary features and the plain character n-gram model, both *fitted on CCKS*
   (5-fold), with the former's coefficients for the events that the target's definition
   counts as not adverse.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import ahocorasick
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_data  # noqa: E402

import creditpersona.text.model as text_model  # noqa: E402
from creditpersona.profile.lexicon import load_lexicon  # noqa: E402
from creditpersona.text.features import Vocabulary, normalise, prepare_many  # noqa: E402
from creditpersona.text.model import TextRiskModel  # noqa: E402
from creditpersona.text.package import load_packaged  # noqa: E402

#: Cues of a warning, a question or a crackdown campaign: a risk word after them (in its
#: clause) is not an event of a firm. Added to the lexicon's negation cues in variant 1c.
HEDGES = ("谨防", "提防", "小心", "远离", "严厉打击", "打击", "整治", "专项整治", "如何识别",
          "如何防范", "怎么办")
#: Events that the target's definition of "adverse" leaves out, by their lexicon codes.
CONVENTION_EVENTS = ("rating_downgrade", "control_change", "shareholder_selldown",
                     "executive_change")

Scorer = Callable[[list[str], np.ndarray, list[str]], np.ndarray]


def packaged_method(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The packaged configuration fitted on ``train``: log-odds of ``test``."""
    return TextRiskModel.fit(train, y, load_packaged().text.config).decision(test)


def entity_masker() -> Callable[[str], str]:
    """Replaces every entity name of the BDCI per-company file by 某公司 (longest first)."""
    names = {normalise(e) for e in text_data.bdci_entities()["entity"] if len(e) >= 2}
    automaton = ahocorasick.Automaton()
    for n in names:
        automaton.add_word(n, len(n))
    automaton.make_automaton()

    def mask(text: str) -> str:
        t = normalise(text)
        out, pos = [], 0
        for end, n in automaton.iter_long(t):
            out += [t[pos:end + 1 - n], "某公司"]
            pos = end + 1
        return "".join(out) + t[pos:]

    return mask


def entity_masked(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The packaged method on training texts whose BDCI entity names are masked."""
    mask = entity_masker()
    return packaged_method([mask(t) for t in train], y, test)


@contextlib.contextmanager
def hedged_vocabulary() -> Iterator[None]:
    """The model reads the vocabulary of a lexicon with :data:`HEDGES` as negation cues."""
    raw = yaml.safe_load(resources.files("creditpersona.profile").joinpath("lexicon.yaml")
                         .read_text(encoding="utf-8"))
    raw["negation"]["before"] = list(raw["negation"]["before"]) + list(HEDGES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lexicon.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        voc = Vocabulary(load_lexicon(path))
    original = text_model.vocabulary
    text_model.vocabulary = lambda: voc  # type: ignore[assignment]
    try:
        yield
    finally:
        text_model.vocabulary = original


def hedged(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The packaged method with hedging cues as negation cues."""
    with hedged_vocabulary():
        return packaged_method(train, y, test)


def jieba_words(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """jieba word unigrams (company names masked), TF-IDF, logistic regression (C=1)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    cfg = load_packaged().text.config

    def view(texts: list[str]) -> list[str]:
        return [text_model._ngram_view(p[0], cfg) for p in prepare_many(texts)]

    vec = TfidfVectorizer(tokenizer=lambda t: [w for w in jieba.lcut(t, HMM=False) if w.strip()],
                          lowercase=False, token_pattern=None, sublinear_tf=True, min_df=2)
    lr = LogisticRegression(C=1.0, max_iter=3000).fit(vec.fit_transform(view(train)), y)
    return lr.decision_function(vec.transform(view(test)))


def plain(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """Character 1–3-gram TF-IDF and a logistic regression (C=10): the issue's baseline."""
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    lr = LogisticRegression(C=10.0, max_iter=3000).fit(vec.fit_transform(train), y)
    return lr.decision_function(vec.transform(test))


#: Words that name a firm or its people: a risk event in the same clause is "anchored" to a
#: firm (digits are 0 after normalisation, so ``(000000)`` is a stock code).
FIRM_CUES = re.compile(r"公司|集团|银行|平台|证券|基金|股份|科技|控股|实业|资本|董事|股东|高管|"
                       r"实控人|法人|st|[(（]0{6}[)）]")
_CLAUSE = re.compile(r"[^。！？!?\n；;，,]+")
_PIECE = re.compile(r"(?<=[。！？!?；;\n])|\s+")


def dictionary_and_events(texts: list[str]) -> np.ndarray:
    """Two genre-independent scores per text, no training: the Yao et al. negative share
    ``(neg − pos) / (neg + pos + 1)`` over affirmed words, and the noisy-OR of the lexicon
    severities of the affirmed risk events ``1 − Π(1 − severity)``."""
    voc = text_model.vocabulary()
    n_ev = len(voc.events)
    raw = np.expm1(voc.features(prepare_many(texts)))
    neg = raw[:, n_ev] + raw[:, n_ev + 1]
    pos = raw[:, n_ev + 2] + raw[:, n_ev + 3]
    sev = np.asarray([e.severity if e.polarity == "risk" else 0.0 for e in voc.lexicon.events])
    hit = raw[:, :n_ev] > 0
    noisy_or = 1.0 - np.prod(np.where(hit, 1.0 - sev, 1.0), axis=1)
    return np.c_[(neg - pos) / (neg + pos + 1.0), noisy_or]


def firm_anchored(texts: list[str]) -> np.ndarray:
    """Severity sums (log1p) of the affirmed risk events whose clause names a firm or its
    people (:data:`FIRM_CUES`), and of the others: risk talk about nobody in particular
    (scam warnings, legal advertisements, crime news) is the second column."""
    voc = text_model.vocabulary()
    sev = np.asarray([e.severity if e.polarity == "risk" else 0.0 for e in voc.lexicon.events])
    prepared = prepare_many(texts)
    out = np.zeros((len(texts), 2))
    for i, (text, _) in enumerate(prepared):
        clauses = [(m.start(), m.end(), FIRM_CUES.search(m.group()) is not None)
                   for m in _CLAUSE.finditer(text)]
        for m in voc.matches(text):
            if m.event is None or m.negated:
                continue
            s = sev[voc.events.index(m.event)]
            anchored = any(a <= m.start < b and f for a, b, f in clauses)
            out[i, 0 if anchored else 1] += s
    return np.log1p(out)


def _stacked(extra: Callable[[list[str]], np.ndarray]) -> Scorer:
    """A logistic regression on [packaged-method log-odds, ``extra(texts)``], fitted on the
    training texts with out-of-fold log-odds (5 folds), so that it learns what the extra
    features add to an out-of-sample model score."""
    def scorer(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
        oof = np.zeros(len(train))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(train, y):
            oof[te] = packaged_method([train[i] for i in tr], y[tr], [train[i] for i in te])
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(np.c_[oof, extra(train)], y)
        return lr.decision_function(np.c_[packaged_method(train, y, test), extra(test)])
    return scorer


def clause_max(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The packaged method fitted on whole texts, a test text scored as its riskiest clause
    (split at 。！？；, line breaks and spaces; pieces under 4 characters dropped): several
    weak items in a news digest do not add up to a severe one."""
    model = TextRiskModel.fit(train, y, load_packaged().text.config)
    pieces: list[str] = []
    owner: list[int] = []
    for i, t in enumerate(test):
        parts = [p for p in _PIECE.split(t) if len(p.strip()) >= 4] or [t]
        pieces += parts
        owner += [i] * len(parts)
    best = np.full(len(test), -np.inf)
    np.maximum.at(best, np.asarray(owner), model.decision(pieces))
    return best


def words_and_chars(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The packaged design (character n-grams and vocabulary, with its prior) plus jieba
    words of two or more characters (TF-IDF, ``min_df`` 3) under a stronger penalty
    (C 0.3 against the n-grams' 4), in one logistic regression."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    cfg = load_packaged().text.config
    model = TextRiskModel.fit(train, y, cfg)

    def view(texts: list[str]) -> list[str]:
        return [text_model._ngram_view(p[0], cfg) for p in prepare_many(texts)]

    vec = TfidfVectorizer(tokenizer=lambda t: [w for w in jieba.lcut(t, HMM=False)
                                               if len(w.strip()) >= 2],
                          lowercase=False, token_pattern=None, sublinear_tf=True, min_df=3)
    w_train = vec.fit_transform(view(train))
    mu, lam = text_model._prior(text_model.vocabulary(), cfg, len(model.ngrams))
    mu = np.r_[mu, np.zeros(w_train.shape[1])]
    lam = np.r_[lam, np.full(w_train.shape[1], 1.0 / 0.3)]
    x_train = sp.hstack([model.design(train)[0], w_train]).tocsr()
    coef, b = text_model._logistic(x_train, np.asarray(y, dtype=np.int64), mu, lam)
    x_test = sp.hstack([model.design(test)[0], vec.transform(view(test))]).tocsr()
    return np.asarray(x_test @ coef + b)


VARIANTS: dict[str, Scorer] = {"packaged_method": packaged_method,
                               "entity_names_masked_in_training": entity_masked,
                               "hedging_cues_as_negation": hedged,
                               "jieba_words_logistic": jieba_words,
                               "plain_char_ngram": plain,
                               "stacked_dictionary_share_and_event_noisy_or":
                                   _stacked(dictionary_and_events),
                               "stacked_firm_anchored_events": _stacked(firm_anchored),
                               "riskiest_clause": clause_max,
                               "words_and_chars": words_and_chars}


def variant_scores(name: str, scorer: Scorer) -> dict[str, float]:
    """BDCI 5-fold AUC and BDCI → CCKS AUC of one variant."""
    bt, by = text_data.bdci_news()
    ct, cy = text_data.ccks_adverse()
    t0 = time.perf_counter()
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(bt, by):
        s = scorer([bt[i] for i in tr], by[tr], [bt[i] for i in te])
        aucs.append(roc_auc_score(by[te], s))
    out = {"bdci_5fold_auc": float(np.mean(aucs)), "bdci_5fold_sd": float(np.std(aucs)),
           "bdci_to_ccks_auc": float(roc_auc_score(cy, scorer(bt, by, ct))),
           "seconds": time.perf_counter() - t0}
    print(json.dumps({name: out}), flush=True)
    return out


def diagnostics() -> dict[str, object]:
    """Part 2 of the module docstring."""
    bt, by = text_data.bdci_news()
    ct, cy = text_data.ccks_adverse()
    model = TextRiskModel.fit(bt, by, load_packaged().text.config)
    x, _ = model.design(ct)
    n = len(model.ngrams)
    ngram_part = x[:, :n] @ model.coef[:n]
    vocab_part = x[:, n:] @ model.coef[n:]
    score = ngram_part + vocab_part
    rows = pd.read_csv(text_data.DATA / text_data.CCKS)
    rows["text"] = rows["text"].fillna("").astype(str)
    types = rows.groupby("text", sort=True)["event_type"].agg(set).reindex(ct)
    rest_only = np.asarray([not (t - set(text_data.NOT_ADVERSE)) for t in types])
    other_only = np.asarray([t == {"其他"} for t in types])
    adverse = cy == 1
    sub = {}
    for name, neg in (("other_only", other_only),
                      ("control_or_rating_only", rest_only & ~other_only)):
        keep = adverse | neg
        sub[name] = {"texts": int(neg.sum()),
                     "auc": float(roc_auc_score(cy[keep], score[keep]))}
    voc = text_model.vocabulary()
    vx = voc.features(prepare_many(ct))
    lr = LogisticRegression(C=1.0, max_iter=2000)
    in_domain = cross_val_predict(lr, vx, cy, cv=5, method="decision_function")
    coef = dict(zip(voc.feature_names, lr.fit(vx, cy).coef_[0].tolist(), strict=True))
    severity = {e.code: e.severity for e in voc.lexicon.events}
    de, fa = dictionary_and_events(ct), firm_anchored(ct)
    no_training = {"yao_negative_share": float(roc_auc_score(cy, de[:, 0])),
                   "lexicon_event_severity_noisy_or": float(roc_auc_score(cy, de[:, 1])),
                   "firm_anchored_event_severity": float(roc_auc_score(cy, fa[:, 0])),
                   "unanchored_event_severity": float(roc_auc_score(cy, fa[:, 1]))}
    char_in_domain = cross_val_predict(
        make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                      min_df=2), LogisticRegression(C=10.0, max_iter=3000)),
        ct, cy, cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="decision_function")
    return {
        "ccks_no_training": no_training,
        "in_domain_reference_plain_char_ngram_fitted_on_ccks_5fold_auc":
            float(roc_auc_score(cy, char_in_domain)),
        "bdci_to_ccks_ngram_part_auc": float(roc_auc_score(cy, ngram_part)),
        "bdci_to_ccks_vocabulary_part_auc": float(roc_auc_score(cy, vocab_part)),
        "bdci_to_ccks_against_each_rest": sub,
        "in_domain_reference_vocabulary_fitted_on_ccks_5fold_auc":
            float(roc_auc_score(cy, in_domain)),
        "in_domain_reference_coefficients": {
            e: {"fitted_on_ccks": round(coef[f"event:{e}"], 2), "lexicon_severity": severity[e]}
            for e in CONVENTION_EVENTS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--variant", choices=tuple(VARIANTS), action="append",
                        help="Run only these variants (repeatable); default all.")
    parser.add_argument("--skip-diagnostics", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {
        "variants": {k: variant_scores(k, VARIANTS[k]) for k in (args.variant or VARIANTS)}}
    if not args.skip_diagnostics:
        results["diagnostics"] = diagnostics()
        print(json.dumps({"diagnostics": results["diagnostics"]}, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
