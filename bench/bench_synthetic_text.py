"""How well the old lexicon and the text-risk model read the synthetic bank's documents.

Run from the repository root (about a minute)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/bench_synthetic_text.py [--firms 500] [--seed 7]

Generates a bank (``generate_bank``, CSV under a temporary folder) and labels each of its
documents with the generator's truth: a document is a risk document of its firm when it was
written from a risk template (``synth.documents.RISK`` or the RM stress note); denials,
retracted rumours, resolved cases, news of another firm's scandal (``NEGATED``), neutral news
with standard risk warnings, positive news, registry changes, visit notes and annual reports
are not. The template of each text is recovered by matching it against every template.
Prints the AUC of

* ``old_lexicon``: the scorer before issue 16 (jieba tokens, no boilerplate removal, the
  2025.1 lexicon; ``bench/text_lexicon_baseline.py``), per document;
* ``lexicon_now``: the packaged lexicon alone through the model's vocabulary (boilerplate
  removed, negation along lists), per document;
* ``new_scorer``: the profile's document risk ``q`` (model, vocabulary events and attribution
  to the firm the text is about, :func:`creditpersona.profile.text.text_signals` with the
  bank's firm names), per document;

overall and per kind of non-risk document (risk documents against that kind only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_lexicon_baseline  # noqa: E402

from creditpersona.profile.lexicon import load_lexicon  # noqa: E402
from creditpersona.profile.text import text_signals  # noqa: E402
from creditpersona.synth import documents as sd  # noqa: E402
from creditpersona.synth.generator import generate_bank  # noqa: E402

OLD_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon_2025_1.yaml"
_FIELDS = re.compile(r"(\{name\}|\{n\}|\{city\}|\{other\})")


def _pattern(template: str) -> re.Pattern[str]:
    parts = [".+?" if p in ("{name}", "{other}", "{city}") else r"\d+" if p == "{n}"
             else re.escape(p) for p in _FIELDS.split(template)]
    return re.compile("^" + "".join(parts) + "$", re.S)


def kinds() -> list[tuple[str, re.Pattern[str]]]:
    """(kind, pattern) of every template; risk kinds first."""
    out = [("risk", _pattern(t)) for _, t in sd.RISK] + [("risk", _pattern(sd.RM_STRESS))]
    for t in sd.NEGATED:
        kind = "other_firm" if "{other}" in t[1] else "negated"
        out.append((kind, _pattern(t[1])))
    for t in sd.NEUTRAL:
        kind = "neutral_warning" if re.search("风险提示|重要提示", t[1]) else "neutral"
        out.append((kind, _pattern(t[1])))
    out += [("positive", _pattern(t)) for _, t in sd.POSITIVE]
    out += [("registry", _pattern(t)) for _, t in sd.REGISTRY]
    out += [("rm_note", _pattern(t)) for t in sd.RM_NOTES]
    out.append(("annual_report", re.compile(".*年度报告.*" + re.escape(sd.ANNUAL_REPORT_WARNING)
                                            + "$", re.S)))
    return out


def label(texts: pd.Series) -> pd.Series:
    """The kind of each text (``unknown`` when no template matches)."""
    ks = kinds()
    out = []
    for t in texts.astype(str):
        out.append(next((k for k, p in ks if p.match(t)), "unknown"))
    return pd.Series(out, index=texts.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="textrisk-synth-") as tmp:
        generate_bank(tmp, n_firms=args.firms, seed=args.seed, txn_per_firm_year=1.0)
        docs = pd.read_csv(Path(tmp) / "documents.csv", dtype={"firm_id": str})
        firms = pd.read_csv(Path(tmp) / "firms.csv", dtype={"firm_id": str})
    kind = label(docs["text"])
    y = (kind == "risk").to_numpy(dtype=int)
    old = text_lexicon_baseline.lexicon_scores(docs["text"].astype(str).tolist(),
                                               load_lexicon(OLD_LEXICON))
    # Each document scored as its firm's only document, dated on the profile date (weight
    # 1): the documents are dealt into rounds holding at most one document per firm.
    day = dt.date(2026, 6, 30)
    names = dict(zip(firms["firm_id"], firms["name"], strict=True))
    rnd = docs.groupby("firm_id").cumcount().to_numpy()
    now = np.zeros(len(docs))
    new = np.zeros(len(docs))
    for r in range(int(rnd.max()) + 1):
        sel = np.flatnonzero(rnd == r)
        part = docs.iloc[sel][["firm_id", "text"]].assign(doc_date=day)
        a = text_signals(part, day).set_index("firm_id").reindex(part["firm_id"])
        b = text_signals(part, day, firm_names=names).set_index("firm_id").reindex(
            part["firm_id"])
        now[sel] = a["text_lexicon_score"].to_numpy()
        new[sel] = b["text_max_document_risk"].to_numpy()
    scores = {"old_lexicon": old, "lexicon_now": now, "new_scorer": new}
    result: dict[str, object] = {
        "firms": args.firms, "seed": args.seed, "documents": len(docs),
        "risk_documents": int(y.sum()), "kinds": kind.value_counts().to_dict(),
        "auc": {k: float(roc_auc_score(y, v)) for k, v in scores.items()}}
    per_kind: dict[str, dict[str, float]] = {}
    for k in sorted(set(kind) - {"risk"}):
        sel = (kind == "risk") | (kind == k)
        per_kind[k] = {n: float(roc_auc_score(y[sel], v[sel.to_numpy()]))
                       for n, v in scores.items()}
    result["auc_risk_vs_kind"] = per_kind
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")


if __name__ == "__main__":
    main()
