"""The shipped text model: text risk, events, drivers and attribution per document.

:class:`TextRiskPackage` holds a :class:`~creditpersona.text.model.TextRiskModel` and an
:class:`~creditpersona.text.attribution.AttributionModel` with the digests of the data they
were trained on; its state is one JSON document
(``creditpersona/text/data/text_risk_model.json``, written by ``bench/train_text_model.py``).
:meth:`TextRiskPackage.score_frame` is what ``creditpersona text score``, the profile and the
report use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona import artefacts
from creditpersona.errors import ConfigurationError
from creditpersona.text.attribution import AttributionModel, flat_pair_features, pair_features
from creditpersona.text.features import prepare, vocabulary
from creditpersona.text.model import TextRiskModel

__all__ = ["PACKAGE_FORMAT", "TextRiskPackage", "document_events", "load_packaged"]

PACKAGE_FORMAT = "creditpersona.text_package/1"
PACKAGED_FILE = "data/text_risk_model.json"


def document_events(texts: Sequence[object]) -> list[list[str]]:
    """The risk events affirmed in each text (lexicon codes, in lexicon order).

    Examples
    --------
    >>> document_events(["公司被列为失信被执行人，股权被冻结。", "经核查，未发现涉及诉讼。", None])
    [['dishonest_debtor', 'equity_freeze'], [], []]
    """
    voc = vocabulary()
    order = {c: i for i, c in enumerate(voc.events)}
    out: list[list[str]] = []
    for t in texts:
        body = prepare(t)[0]
        found = {m.event for m in voc.matches(body)
                 if m.event is not None and not m.negated and voc.risk[order[m.event]]}
        out.append(sorted(found, key=order.__getitem__))
    return out


@artefacts.trusted("text_risk_package")
@dataclass
class TextRiskPackage:
    """Text-risk model, attribution model and where they come from."""

    text: TextRiskModel
    attribution: AttributionModel
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """Probability from which a document counts as a risk document."""
        return self.text.config.threshold

    def score(self, texts: Sequence[object]) -> npt.NDArray[np.float64]:
        """Risk probability per text."""
        return self.text.score(texts)

    def attribute(self, texts: Sequence[object],
                  entities: Sequence[Sequence[str]]) -> npt.NDArray[np.float64]:
        """Probability per (text, entity) pair that the text is negative about the entity:
        ``entities[i]`` lists the firms named in ``texts[i]``; pairs in the order of
        ``entities`` flattened."""
        x, _ = pair_features(self.text, texts, entities)
        return self.attribution.score(x)

    def attribute_rows(self, texts: Sequence[object],
                       entities: Sequence[str]) -> npt.NDArray[np.float64]:
        """:meth:`attribute` for (text, entity) rows; rows with the same text are read
        together (see :func:`~creditpersona.text.attribution.flat_pair_features`)."""
        return self.attribution.score(flat_pair_features(self.text, texts, entities))

    def score_frame(self, texts: Sequence[object], entities: Sequence[str | None] | None = None,
                    *, drivers: int = 5) -> pd.DataFrame:
        """Per text: ``risk`` (0–1), ``risk_doc`` (at the threshold), ``events`` and
        ``events_en`` ('; '-joined), ``drivers`` (risk-raising words, '、'-joined) and, with
        ``entities``, ``entity_risk`` (the pair probability; the text risk where no entity).
        """
        texts = list(texts)
        risk = self.score(texts)
        voc = vocabulary()
        names = {e.code: e for e in voc.lexicon.events}
        events = document_events(texts)
        out = pd.DataFrame({
            "risk": risk,
            "risk_doc": risk >= self.threshold,
            "events": ["; ".join(e) for e in events],
            "events_zh": ["；".join(names[c].zh for c in e) for e in events],
            "events_en": ["; ".join(names[c].en for c in e) for e in events],
        })
        if drivers > 0:
            out["drivers"] = ["、".join(w for w, _ in self.text.drivers(t, drivers))
                              if r >= 0.2 else "" for t, r in zip(texts, risk, strict=True)]
        if entities is not None:
            ents = list(entities)
            has = [isinstance(e, str) and bool(e.strip()) for e in ents]
            idx = [i for i, h in enumerate(has) if h]
            pair = self.attribute_rows([texts[i] for i in idx], [str(ents[i]) for i in idx]) \
                if idx else np.zeros(0)
            entity_risk = risk.copy()
            entity_risk[idx] = pair
            out["entity_risk"] = entity_risk
        return out

    # ----- state -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state of both models and the training record."""
        return {"format": PACKAGE_FORMAT, "text": self.text.to_state(),
                "attribution": self.attribution.to_state(), "training": self.training}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextRiskPackage:
        """A package from :meth:`to_state`.

        Raises
        ------
        ConfigurationError
            If the state is of another format.
        """
        if not isinstance(state, dict) or state.get("format") != PACKAGE_FORMAT:
            raise ConfigurationError(
                f"text model package: format must be {PACKAGE_FORMAT!r}; train it again "
                "with bench/train_text_model.py.")
        return cls(TextRiskModel.from_state(state["text"]),
                   AttributionModel.from_state(state["attribution"]),
                   dict(state.get("training", {})))

    def to_json(self) -> str:
        """The state as compact, key-sorted JSON."""
        return json.dumps(self.to_state(), ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True)

    @property
    def sha256(self) -> str:
        """Digest of :meth:`to_json`."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @property
    def training_data_sha256(self) -> str:
        """Digest of the training files' digests (recorded by the training script)."""
        files = self.training.get("files", {})
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(f"{name}\t{files[name]}\n".encode())
        return digest.hexdigest()


_CACHE: list[TextRiskPackage] = []


def load_packaged() -> TextRiskPackage:
    """The package shipped in ``creditpersona/text/data/text_risk_model.json`` (read once).

    Raises
    ------
    ConfigurationError
        If the file is missing or not a valid state.
    """
    if not _CACHE:
        try:
            raw = resources.files("creditpersona.text").joinpath(PACKAGED_FILE).read_text(
                encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"creditpersona/text/{PACKAGED_FILE} is missing; train it with "
                "bench/train_text_model.py or reinstall the package.") from exc
        try:
            state = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"creditpersona/text/{PACKAGED_FILE}: not JSON ({exc}); "
                                     "reinstall the package.") from exc
        _CACHE.append(TextRiskPackage.from_state(state))
    return _CACHE[0]


#: Registry name of the text-risk package.
REGISTRY_NAME = "text_risk"


def register_packaged(store: Any) -> Any:
    """Register the packaged model in ``store``'s model registry, once per package digest.

    The training "frame" is the manifest of the training files and their SHA-256 digests,
    so ``training_data_sha256`` identifies the data the package was trained on.

    Returns
    -------
    creditpersona.models.registry.ModelRecord
        The record of the package (the existing one when already registered).
    """
    from creditpersona.models import registry

    pkg = load_packaged()
    digest = pkg.sha256
    existing = registry.record(store, REGISTRY_NAME)
    if existing is not None and existing.params.get("package_sha256") == digest:
        return existing
    files = pkg.training.get("files", {})
    manifest = pd.DataFrame({"file": sorted(files), "sha256": [files[k] for k in sorted(files)]})
    cfg = pkg.text.to_state()["config"]
    return registry.register(
        store, pkg, name=REGISTRY_NAME, kind="text_risk_package", training=manifest,
        features=list(vocabulary().feature_names) + [f"char_{cfg['ngram_min']}_"
                                                       f"{cfg['ngram_max']}_grams"],
        params={"package_sha256": digest, "config": cfg,
                "ngrams": len(pkg.text.ngrams), "vocabulary_sha256": pkg.text.vocabulary_sha256},
        metrics=dict(pkg.training.get("metrics", {})))
