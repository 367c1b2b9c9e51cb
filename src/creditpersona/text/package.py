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
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona import artefacts
from creditpersona.errors import ConfigurationError, parameter_error
from creditpersona.text.attribution import (
    AttributionModel,
    KnownFirms,
    NameFinder,
    flat_pair_features,
    pair_features,
)
from creditpersona.text.features import prepare, prepare_joined, prepare_many, vocabulary
from creditpersona.text.model import TextRiskModel, probability

__all__ = ["PACKAGE_FORMAT", "PendingScores", "TextRiskPackage", "document_events", "load_packaged"]

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
    prepared = [p[0] for p in prepare_many(texts)]
    batch = voc.batch_matches(prepared)
    if batch is not None:
        ev = batch["event"]
        keep = (batch["negated"] == 0) & (ev >= 0) & voc.risk[np.maximum(ev, 0)]
        cells = np.unique(batch["doc"][keep] * len(voc.events) + ev[keep])
        rows: list[list[str]] = [[] for _ in prepared]
        for cell in cells.tolist():  # sorted: by document, then lexicon order
            rows[cell // len(voc.events)].append(voc.events[cell % len(voc.events)])
        return rows
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

    def score(self, texts: Sequence[object], jobs: int | None = None
              ) -> npt.NDArray[np.float64]:
        """Risk probability per text.

        Texts are scored in batches of at most :data:`BATCH` (bounded memory). With
        ``jobs`` above 1 the batches are shared among that many worker processes, each
        rebuilding the model from its JSON state (only texts, that state and probabilities
        cross between processes). Default: one process below :data:`PARALLEL_MIN_TEXTS`
        texts, else as many as the CPUs this process may use, at most 2. The result does
        not depend on ``jobs``. Workers are started with Python's ``spawn`` method: a script
        that scores that many texts must guard its entry point with
        ``if __name__ == "__main__":``, or pass ``jobs=1``.

        Raises
        ------
        ConfigurationError
            If ``jobs`` is not a positive integer.

        Examples
        --------
        >>> pkg = load_packaged()
        >>> p = pkg.score(["公司被列为失信被执行人，股权被司法冻结。", "公司中标重点项目。"])
        >>> bool(p[0] > 0.5 > p[1])
        True
        """
        pending = self.score_async(texts, jobs)
        try:
            return pending.result()
        finally:
            pending.close()

    def score_async(self, texts: Sequence[object], jobs: int | None = None, *,
                    mentions: bool = False,
                    firm_names: Mapping[str, str] | None = None) -> PendingScores:
        """:meth:`score`, started in the worker processes while the caller goes on; in one
        process the texts are scored when the result is asked for. With ``mentions`` the
        event mentions found while reading the texts come back too
        (:meth:`PendingScores.mentions`); with ``firm_names`` the known firms each text
        names (:meth:`PendingScores.named`, as
        :func:`~creditpersona.text.attribution.named_firms` finds them), searched in the
        texts as normalised for the model (each text is normalised once).

        Raises
        ------
        ConfigurationError
            If ``jobs`` is not a positive integer.
        """
        texts = list(texts)
        if jobs is None:
            jobs = 1 if len(texts) < PARALLEL_MIN_TEXTS else min(2, _usable_cpus())
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise parameter_error("jobs", "TextRiskPackage.score", "a positive integer", jobs)
        size = max(1, min(BATCH, -(-len(texts) // jobs)))
        batches = [texts[lo:lo + size] for lo in range(0, len(texts), size)]
        if jobs == 1 or len(batches) < 2:
            finder = None if not firm_names else (
                firm_names.finder if isinstance(firm_names, KnownFirms)
                else NameFinder(firm_names))
            return PendingScores(self.text, batches, None, mentions=mentions, finder=finder)
        names = dict(firm_names) if firm_names else None
        state = json.dumps(self.text.to_state(), ensure_ascii=False)
        workers = min(jobs, len(batches))
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(state, names))
        return PendingScores(self.text, batches, pool,
                             [pool.submit(_worker_score, b, mentions) for b in batches],
                             mentions=mentions, workers=workers)

    def attribute(self, texts: Sequence[object], entities: Sequence[Sequence[str]], *,
                  whole: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        """Probability per (text, entity) pair that the text is negative about the entity:
        ``entities[i]`` lists the firms named in ``texts[i]``; pairs in the order of
        ``entities`` flattened. ``whole``: the texts' log-odds when already known
        (:meth:`PendingScores.decisions`)."""
        x, _ = pair_features(self.text, texts, entities, whole=whole)
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


class PendingScores:
    """Scores on their way (see :meth:`TextRiskPackage.score_async`)."""

    def __init__(self, model: TextRiskModel, batches: list[list[object]],
                 pool: ProcessPoolExecutor | None, futures: list[Future[Any]] | None = None,
                 *, mentions: bool = False, workers: int = 1,
                 finder: NameFinder | None = None) -> None:
        self._model = model
        self._workers = workers
        self._finder = finder
        self._batches = batches
        self._pool = pool
        self._futures = futures or []
        self._mentions = mentions
        self._parts: list[Reading] | None = None

    def _done(self) -> list[Reading]:
        if self._parts is None:
            if self._pool is None:
                self._parts = [_read(self._model, b, self._mentions, self._finder)
                               for b in self._batches]
            else:
                self._parts = [f.result() for f in self._futures]
        return self._parts

    def decisions(self) -> npt.NDArray[np.float64]:
        """The model's log-odds per text, waiting for the workers if needed."""
        parts = [d for d, _, _ in self._done()]
        return np.concatenate(parts) if parts else np.zeros(0)

    def named(self) -> list[set[str]] | None:
        """The ids of the known firms each text names (asked for with ``firm_names``),
        waiting for the workers if needed; None unless asked for."""
        parts = [n for _, _, n in self._done()]
        if any(n is None for n in parts):
            return None
        return [found for n in parts if n is not None for found in n]

    def result(self) -> npt.NDArray[np.float64]:
        """The risk probability per text, waiting for the workers if needed."""
        return probability(self.decisions())

    def mentions(self) -> Mentions | None:
        """The lexicon-event matches of every text (``doc``, ``event``, ``negated``, ``doc``
        the text's position), as :meth:`TextRiskModel.decision_and_mentions` finds them;
        None unless asked for or when a text holds the batch separator."""
        parts = self._done()
        if not self._mentions or any(m is None for _, m, _ in parts):
            return None
        found = [m for _, m, _ in parts if m is not None]
        offsets = np.cumsum([0, *(len(b) for b in self._batches)])[:-1]
        return {"doc": np.concatenate([np.zeros(0, dtype=np.int64)]
                                      + [m["doc"] + o for m, o in zip(found, offsets,
                                                                      strict=True)]),
                **{k: np.concatenate([np.zeros(0, dtype=np.int64)] + [m[k] for m in found])
                   for k in ("event", "negated")}}

    def pair_features(self, texts: Sequence[object], entities: Sequence[Sequence[str]],
                      whole: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """:func:`~creditpersona.text.attribution.pair_features` of the texts (rows only), in
        the worker processes when there are some: the texts are split in one part per
        worker and the rows joined in order (each row depends on its own text only, so
        they are the rows of one call)."""
        if self._pool is None or len(texts) < 2:
            return pair_features(self._model, texts, entities, whole=whole)[0]
        parts = min(self._workers, len(texts))
        bounds = np.linspace(0, len(texts), parts + 1).astype(int)
        futures = [self._pool.submit(_worker_pairs, list(texts[a:b]),
                                     [list(e) for e in entities[a:b]], whole[a:b])
                   for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        return np.concatenate([f.result() for f in futures])

    def close(self) -> None:
        """Stop the worker processes (pending batches are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


#: Event matches per text: arrays ``doc``, ``event``, ``negated``.
Mentions = dict[str, npt.NDArray[np.int64]]


#: One batch read: log-odds, event mentions (when asked for), firms named (when asked for).
Reading = tuple[npt.NDArray[np.float64], Mentions | None, list[set[str]] | None]


def _read(model: TextRiskModel, texts: list[object], mentions: bool,
          finder: NameFinder | None = None) -> Reading:
    """One batch's log-odds, its event mentions when asked for, and the firms each text
    names when ``finder`` is given (searched in the texts normalised once for both)."""
    if finder is None:
        if mentions:
            return (*model.decision_and_mentions(texts), None)
        return model.decision(texts), None, None
    prepared, normed = prepare_joined(texts)
    named = finder.find(texts, normed)
    if mentions:
        return (*model.decision_and_mentions(texts, prepared), named)
    return model.decision_and_mentions(texts, prepared)[0], None, named


#: Most texts scored in one batch (a batch of ~150-character texts takes ~0.5 GB at most).
BATCH = 50_000
#: From this many texts :meth:`TextRiskPackage.score` uses worker processes by default.
PARALLEL_MIN_TEXTS = 100_000
_WORKER: list[TextRiskModel] = []
_FINDER: list[NameFinder] = []


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker(state: str, firm_names: dict[str, str] | None = None) -> None:
    """Worker process: the text model from its JSON state (no code is loaded), and the
    automaton of the firms' names when the texts' named firms are asked for."""
    _WORKER[:] = [TextRiskModel.from_state(json.loads(state))]
    _FINDER[:] = [NameFinder(firm_names)] if firm_names else []


def _worker_pairs(texts: list[object], entities: list[list[str]],
                  whole: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return pair_features(_WORKER[0], texts, entities, whole=whole)[0]


def _worker_score(texts: list[object], mentions: bool) -> Reading:
    return _read(_WORKER[0], texts, mentions, _FINDER[0] if _FINDER else None)


_CACHE: list[TextRiskPackage] = []
_DIGEST: list[str] = []


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
    if not _DIGEST:  # the packaged model is read once and never changed: digest it once
        _DIGEST.append(pkg.sha256)
    digest = _DIGEST[0]
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
