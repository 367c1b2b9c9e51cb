"""Train the packaged text-risk model: ``src/creditpersona/text/data/text_risk_model.json``.

Run from the repository root (2 cores, about 6 minutes)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/train_text_model.py

Training data (``../shared/data/text``, see its README):

* BDCI 2019 negative financial news (4,999 items, MIT) with its 0/1 label;
* only with ``--with-ccks``: CCKS 2019 financial events, one row per distinct text, adverse =
  every event type except 其他, 实控人股东变更 and 评级调整 (no licence stated: the shipped
  model is trained without it; with the flag the JSON keeps character n-grams of at most
  three characters and the file's digest, no text);
* for the attribution model, the BDCI (item, company) pairs. Its text-risk feature comes from
  text models that did not see the item (5 folds grouped by item), so that it learns how much
  an out-of-sample text score is worth.

The digests of the three files and the configuration are written into the JSON; training the
same files again gives the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))

import text_data  # noqa: E402

from creditpersona.text.attribution import (  # noqa: E402
    ATTRIBUTION_FEATURES,
    AttributionModel,
    flat_pair_features,
)
from creditpersona.text.model import TextRiskConfig, TextRiskModel  # noqa: E402
from creditpersona.text.package import PACKAGED_FILE, TextRiskPackage  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src" / "creditpersona" / "text" / PACKAGED_FILE
#: The configuration of the packaged model.
CONFIG = TextRiskConfig()


def training_set(with_ccks: bool = False) -> tuple[list[str], np.ndarray]:
    """BDCI items, and with ``with_ccks`` the distinct CCKS texts after them (a text in both
    keeps its BDCI label)."""
    bt, by = text_data.bdci_news()
    if not with_ccks:
        return bt, by
    ct, cy = text_data.ccks_adverse()
    seen = set(bt)
    keep = [i for i, t in enumerate(ct) if t not in seen]
    return bt + [ct[i] for i in keep], np.r_[by, cy[keep]]


def fit_attribution(config: TextRiskConfig, texts: list[str], labels: np.ndarray,
                    folds: int = 5) -> AttributionModel:
    """The attribution model on out-of-fold text scores of the BDCI pairs."""
    pairs = text_data.bdci_entities()
    groups = pairs["text"].factorize()[0]
    x = np.zeros((len(pairs), len(ATTRIBUTION_FEATURES)))
    for k, (_, te) in enumerate(GroupKFold(n_splits=folds).split(pairs, groups=groups), 1):
        held = set(pairs["text"].iloc[te])
        keep = [i for i, t in enumerate(texts) if t not in held]
        model = TextRiskModel.fit([texts[i] for i in keep], labels[keep], config)
        x[te] = flat_pair_features(model, pairs["text"].iloc[te].tolist(),
                                   pairs["entity"].iloc[te].tolist())
        print(f"  attribution fold {k}/{folds}", flush=True)
    return AttributionModel.fit(x, pairs["negative"].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--with-ccks", action="store_true",
                        help="Also train on CCKS 2019 (no licence stated; not the shipped "
                             "model).")
    args = parser.parse_args()
    t0 = time.perf_counter()
    texts, labels = training_set(args.with_ccks)
    names = (text_data.NEWS, text_data.ENTITIES) + ((text_data.CCKS,) if args.with_ccks else ())
    files = {name: text_data.sha256(name) for name in names}
    training = {"files": files, "n_texts": len(texts), "n_positive": int(labels.sum()),
                "script": "bench/train_text_model.py"
                          + (" --with-ccks" if args.with_ccks else "")}
    if args.with_ccks:
        training["ccks_not_adverse"] = list(text_data.NOT_ADVERSE)
    print(f"text model on {len(texts)} texts ({int(labels.sum())} risk)", flush=True)
    text = TextRiskModel.fit(texts, labels, CONFIG, training=training)
    attribution = fit_attribution(CONFIG, texts, labels)
    package = TextRiskPackage(text, attribution, training)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(package.to_json() + "\n", encoding="utf-8")
    size = args.out.stat().st_size
    print(json.dumps({"out": str(args.out), "bytes": size, "sha256": package.sha256,
                      "training_data_sha256": package.training_data_sha256,
                      "ngrams": len(text.ngrams), "seconds": round(time.perf_counter() - t0, 1)},
                     indent=2))


if __name__ == "__main__":
    main()
