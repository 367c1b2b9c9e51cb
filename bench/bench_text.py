"""Benchmark of the text-risk model on real Chinese financial text (issue 16).

Run from the repository root (2 cores, about 15 minutes)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/bench_text.py [--docs 100000] [--skip-speed]

Needs ``../shared/data/text`` (see ``bench/text_data.py``). Prints, with the baselines
measured in the same run:

1. ``text evaluate`` on the BDCI negative-news file: packaged and retrained (5-fold) AUC.
2. Cross-genre, the model's training held apart from the test set:
   trained on BDCI only, scored on CCKS adverse-vs-rest (one row per distinct text);
   trained on CCKS only, scored on BDCI. Baselines: a plain character 1–3-gram TF-IDF
   logistic regression (C=10), the lexicon scorer (``text_lexicon_score``) with the lexicon
   of release 2025.1 (``bench/data/lexicon_2025_1.yaml``) and with today's, and the Yao et al.
   (2021) dictionary as a plain word count, ``(neg − pos) / (neg + pos + 1)``.
3. Entity attribution on the BDCI (item, company) pairs, 5 folds grouped by item: packaged
   and retrained.
4. Speed: documents of about 150 characters scored per second by the packaged model in one
   process and in two, and the ratio to the lexicon scorer of before (jieba,
   ``bench/text_lexicon_baseline.py``, 2025.1 lexicon) in the same run (one process);
   the 1-minute load average before (the machine may be shared); peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_data  # noqa: E402
import text_lexicon_baseline  # noqa: E402

from creditpersona.profile.lexicon import load_lexicon  # noqa: E402
from creditpersona.profile.text import text_signals  # noqa: E402
from creditpersona.text.evaluate import evaluate_text  # noqa: E402
from creditpersona.text.features import DICTIONARY_LISTS, prepare, vocabulary  # noqa: E402
from creditpersona.text.model import TextRiskModel  # noqa: E402
from creditpersona.text.package import load_packaged  # noqa: E402


def plain(train: list[str], y: np.ndarray, test: list[str]) -> np.ndarray:
    """The plain baseline: character 1–3-gram TF-IDF and a logistic regression."""
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    lr = LogisticRegression(C=10.0, max_iter=3000).fit(vec.fit_transform(train), y)
    return lr.decision_function(vec.transform(test))


#: The lexicon before issue 16 (release 2025.1), kept as the baseline.
OLD_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon_2025_1.yaml"


def lexicon_score(texts: list[str], old: bool = False) -> np.ndarray:
    """A lexicon-only score per text. With ``old``: the scorer before issue 16 (jieba
    tokens, no boilerplate removal, ``bench/text_lexicon_baseline.py``) with the 2025.1
    lexicon the issue measured; else the profile's ``text_lexicon_score`` (the packaged
    lexicon through the model's vocabulary), one text per firm."""
    if old:
        return text_lexicon_baseline.lexicon_scores(texts, load_lexicon(OLD_LEXICON))
    day = dt.date(2026, 6, 30)
    docs = pd.DataFrame({"firm_id": [f"F{i:07d}" for i in range(len(texts))],
                         "doc_date": day, "text": texts})
    out = text_signals(docs, day).set_index("firm_id")
    return out["text_lexicon_score"].reindex(docs["firm_id"]).to_numpy()


def yao_count(texts: list[str]) -> np.ndarray:
    """The Yao et al. dictionary as a plain word count."""
    voc = vocabulary()
    n_ev = len(voc.events)
    raw = np.expm1(voc.features([prepare(t) for t in texts]))[:, n_ev:n_ev + len(DICTIONARY_LISTS)]
    neg, pos = raw[:, 0] + raw[:, 1], raw[:, 2] + raw[:, 3]
    return (neg - pos) / (neg + pos + 1.0)


def cross_genre() -> dict[str, dict[str, float]]:
    bt, by = text_data.bdci_news()
    ct, cy = text_data.ccks_adverse()
    cfg = load_packaged().text.config
    out: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    m = TextRiskModel.fit(bt, by, cfg)
    out["bdci_to_ccks"] = {"model": roc_auc_score(cy, m.decision(ct)),
                           "plain_char_ngram": roc_auc_score(cy, plain(bt, by, ct))}
    m = TextRiskModel.fit(ct, cy, cfg)
    out["ccks_to_bdci"] = {"model": roc_auc_score(by, m.decision(bt)),
                           "plain_char_ngram": roc_auc_score(by, plain(ct, cy, bt))}
    out["no_training"] = {
        "lexicon_2025_1_on_bdci": roc_auc_score(by, lexicon_score(bt, old=True)),
        "lexicon_2025_1_on_ccks": roc_auc_score(cy, lexicon_score(ct, old=True)),
        "lexicon_now_on_bdci": roc_auc_score(by, lexicon_score(bt)),
        "lexicon_now_on_ccks": roc_auc_score(cy, lexicon_score(ct)),
        "yao_word_count_on_bdci": roc_auc_score(by, yao_count(bt)),
        "yao_word_count_on_ccks": roc_auc_score(cy, yao_count(ct))}
    out["seconds"] = {"all": time.perf_counter() - t0}
    return out


def speed(n_docs: int, seed: int = 0) -> dict[str, float]:
    """Score ``n_docs`` distinct documents of ~150 characters cut from the BDCI texts: the
    packaged model in one process and in two worker processes (``TextRiskPackage.score``'s
    ``jobs``), the lexicon scorer in one process."""
    bt, _ = text_data.bdci_news()
    rng = np.random.default_rng(seed)
    pool = [t for t in bt if len(t) >= 190]
    pick = rng.integers(0, len(pool), n_docs)
    start = rng.integers(0, 40, n_docs)
    docs = [f"{pool[i][s:s + 150]}{k}" for k, (i, s) in enumerate(zip(pick, start, strict=True))]
    chars = sum(len(d) for d in docs) / len(docs)
    load = os.getloadavg()[0]
    pkg = load_packaged()
    pkg.score(docs[:100])
    out: dict[str, float] = {"docs": n_docs, "mean_chars": chars,
                             "load_average_1min_before": load}
    scores = {}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        scores[jobs] = pkg.score(docs, jobs=jobs)
        secs = time.perf_counter() - t0
        out[f"model_seconds_{jobs}_process"] = secs
        out[f"model_docs_per_second_{jobs}_process"] = n_docs / secs
        out[f"extrapolated_1m_docs_seconds_{jobs}_process"] = secs * 1_000_000 / n_docs
    out["max_abs_difference_1_vs_2_processes"] = float(np.abs(scores[1] - scores[2]).max())
    m = text_lexicon_baseline.matcher(load_lexicon(OLD_LEXICON))
    t0 = time.perf_counter()
    for lo in range(0, n_docs, 50_000):
        text_lexicon_baseline.text_mentions(pd.Series(docs[lo:lo + 50_000]), m)
    lexicon_s = time.perf_counter() - t0
    out["lexicon_seconds"] = lexicon_s
    out["lexicon_docs_per_second"] = n_docs / lexicon_s
    out["model_over_lexicon_time_1_process"] = out["model_seconds_1_process"] / lexicon_s
    out["model_over_lexicon_time_2_processes"] = out["model_seconds_2_process"] / lexicon_s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Text-risk model benchmark (issue 16).")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", choices=("evaluate", "cross", "entity", "speed"),
                        action="append", help="Run only these parts (repeatable).")
    args = parser.parse_args()
    parts = set(args.only or ("evaluate", "cross", "entity", "speed"))
    if args.skip_speed:
        parts.discard("speed")
    results: dict[str, object] = {}
    if "evaluate" in parts:
        bt, by = text_data.bdci_news()
        news = pd.DataFrame({"text": bt, "negative": by})
        ev = evaluate_text(news, "text", "negative", cv=5, seed=0)
        results["bdci_text_evaluate"] = {k: v["summary"] for k, v in ev["models"].items()}
        print(json.dumps({"bdci_text_evaluate": results["bdci_text_evaluate"]}, indent=2),
              flush=True)
    if "cross" in parts:
        results["cross_genre"] = cross_genre()
        print(json.dumps({"cross_genre": results["cross_genre"]}, indent=2), flush=True)
    if "entity" in parts:
        pairs = text_data.bdci_entities()
        ev = evaluate_text(pairs, "text", "negative", entity="entity", cv=5, seed=0)
        results["entity_attribution"] = {k: v["summary"] for k, v in ev["models"].items()}
        print(json.dumps({"entity_attribution": results["entity_attribution"]}, indent=2),
              flush=True)
    if "speed" in parts:
        results["speed"] = speed(args.docs)
        print(json.dumps({"speed": results["speed"]}, indent=2), flush=True)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["package_sha256"] = load_packaged().sha256
    print(json.dumps({"peak_rss_mb": results["peak_rss_mb"]}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
