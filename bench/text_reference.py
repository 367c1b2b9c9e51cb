"""Write ``tests/data/text_risk_reference.json``: the packaged text model's scores of a fixed
set of texts, frozen so that a faster scoring path can be checked against them.

Run from the repository root after the packaged model is retrained::

    PYTHONPATH=src python bench/text_reference.py

The texts are 150 windows of ~150 characters cut from ``tests/data``'s BDCI sample (MIT)
and a few hand-written cases (negation, boilerplate, full-width digits, empty texts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from creditpersona.text.features import prepare, vocabulary
from creditpersona.text.package import document_events, load_packaged

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
EXTRA = ["经核查，未发现该公司涉及诉讼。",
         "公司股东所持股份被司法冻结。风险提示：股市有风险，投资需谨慎。",
         "ＡＢＣ公司２０２４年亏损3.5亿，被列为失信被执行人",
         "网传苏州恒瑞精密机械有限公司停产消息不实。",
         "", "a", "公司中标重点项目，获得发明专利授权。",
         "【风险提示】本文仅供参考。公司债券违约！"]


def reference_texts() -> list[str]:
    """The frozen texts."""
    news = pd.read_csv(DATA / "bdci2019_negative_news_sample.csv")
    texts = news["text"].astype(str).tolist()
    cut = [t[(i * 7) % 30:(i * 7) % 30 + 150] for i, t in enumerate(texts[:150])]
    return cut + EXTRA


def main() -> None:
    docs = reference_texts()
    pkg = load_packaged()
    ref = {"package_sha256": pkg.sha256, "texts": docs, "risk": pkg.score(docs).tolist(),
           "decision": pkg.text.decision(docs).tolist(),
           "vocabulary_features": vocabulary().features([prepare(t) for t in docs]).tolist(),
           "events": document_events(docs)}
    (DATA / "text_risk_reference.json").write_text(
        json.dumps(ref, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
