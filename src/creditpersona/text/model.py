"""The text-risk model: character n-grams and vocabulary features in one logistic regression.

A document is prepared (:func:`creditpersona.text.features.prepare`: normalised, boilerplate
warnings removed) and read two ways:

* **character n-grams** (1 to 3 characters), ``log1p`` counts times their idf, each row
  scaled to unit length: what the training texts say, in any genre, without a segmenter;
* **vocabulary features** (:class:`~creditpersona.text.features.Vocabulary`): affirmed
  mentions per event of the credit-risk lexicon and per list of the Yao et al. (2021)
  financial sentiment dictionary, negated risk mentions and removed boilerplate, multiplied
  by ``vocabulary_weight``. The larger that weight, the less the L2 penalty holds these
  features back against the n-grams, so the model leans on the genre-independent vocabulary.

``risk = sigmoid(intercept + x · coef)``. The fitted state is plain JSON (:meth:`to_state`,
:meth:`from_state`): vocabulary, idf, coefficients and configuration, nothing that executes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy import optimize
from sklearn.feature_extraction.text import CountVectorizer

from creditpersona.errors import ConfigurationError, parameter_error
from creditpersona.text.features import Vocabulary, joinable, prepare_many, vocabulary

__all__ = ["STATE_FORMAT", "TextRiskConfig", "TextRiskModel", "probability"]

#: ``format`` of the JSON state; a state of another format is refused.
STATE_FORMAT = "creditpersona.text_risk/1"


@dataclass(frozen=True)
class TextRiskConfig:
    """How the model is fitted.

    Attributes
    ----------
    ngram_min, ngram_max : int
        Character n-gram lengths.
    min_df : int
        An n-gram must occur in at least this many training texts.
    max_ngrams : int
        After a first fit, only the n-grams with the largest absolute coefficients are kept
        and the model is fitted again on them (keeps the JSON small).
    C : float
        Inverse L2 strength of the logistic regression.
    vocabulary_weight : float
        Scale of the vocabulary features (see the module docstring).
    mask_names : bool
        Company names (up to 12 characters before 有限公司, 集团, 公司 …) become 某公司 in
        the n-gram view, so that the model does not learn the firms of its training texts.
    C_vocabulary : float
        Inverse strength of the pull of the vocabulary coefficients towards their prior.
    prior_strength : float
        Prior coefficient of one mention of a severity-1 event (see :func:`_prior`).
    threshold : float
        Probability from which a document counts as a risk document.
    """

    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 3
    max_ngrams: int = 40000
    C: float = 4.0
    vocabulary_weight: float = 1.0
    mask_names: bool = True
    C_vocabulary: float = 0.03
    prior_strength: float = 6.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.ngram_min <= self.ngram_max <= 6:
            raise parameter_error("ngram_min/ngram_max", "TextRiskConfig",
                                  "1 <= ngram_min <= ngram_max <= 6",
                                  (self.ngram_min, self.ngram_max))
        for name in ("min_df", "max_ngrams"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise parameter_error(name, "TextRiskConfig", "a positive integer", v)
        for name in ("C", "vocabulary_weight", "C_vocabulary", "prior_strength"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0 or (
                    name in ("C", "C_vocabulary") and v == 0):
                raise parameter_error(name, "TextRiskConfig", "a positive finite number", v)
        if not 0.0 < self.threshold < 1.0:
            raise parameter_error("threshold", "TextRiskConfig", "a number in (0, 1)",
                                  self.threshold)


_NAME = re.compile(r"[\u4e00-\u9fff]{2,12}?(?:股份有限公司|有限责任公司|有限公司|集团|公司)")


def _ngram_view(text: str, cfg: TextRiskConfig) -> str:
    """The text the n-grams are read from: company names masked when configured.

    Examples
    --------
    >>> _ngram_view("苏州恒瑞精密机械有限公司停产", TextRiskConfig())
    '某公司停产'
    """
    return _NAME.sub("某公司", text) if cfg.mask_names else text


#: CountVectorizer's whitespace normalisation before it reads character n-grams.
_WHITE_SPACES = re.compile(r"\s\s+")
_BITS = 21  # a code point fits in 21 bits; three of them in an int64


def _ngram_keys(ngrams: Sequence[str]) -> npt.NDArray[np.int64]:
    """Each n-gram (1 to 3 characters) as one integer: its code points, 21 bits each."""
    keys = np.zeros(len(ngrams), dtype=np.int64)
    for i, g in enumerate(ngrams):
        k = 0
        for c in g:
            k = (k << _BITS) | ord(c)
        keys[i] = k
    return keys


class _NgramCounter:
    """Counts of fixed character n-grams (1 to 3 characters) in many texts, vectorised.

    The same matrix as ``CountVectorizer(analyzer="char", vocabulary=...)`` (runs of
    whitespace read as one space, no n-gram across texts), computed with numpy on the code
    points of the joined texts instead of a Python loop over n-grams.
    """

    def __init__(self, ngrams: Sequence[str], ngram_min: int, ngram_max: int) -> None:
        keys = _ngram_keys(ngrams)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.n_features = len(ngrams)
        self.lengths = range(ngram_min, ngram_max + 1)
        self.unigrams = np.full(0x110000, -1, dtype=np.int64)
        one = keys < (1 << _BITS)
        self.unigrams[keys[one]] = np.flatnonzero(one)
        self.unigrams[0] = -1

    def transform(self, views: list[str]) -> sp.csr_matrix | None:
        """The count matrix, or None when a text holds the separator."""
        joined = joinable(views)
        if joined is None:
            return None
        joined = _WHITE_SPACES.sub(" ", joined)
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"),
                              dtype=np.uint32).astype(np.int64)
        sep = codes == 0
        doc_of = np.cumsum(sep)
        rows: list[npt.NDArray[np.int64]] = []
        cols: list[npt.NDArray[np.int64]] = []
        for n in self.lengths:
            m = codes.size - n + 1
            if m <= 0:
                continue
            if n == 1:  # a table indexed by code point
                col = self.unigrams[codes]
                hit = np.flatnonzero(col >= 0)
                rows.append(doc_of[hit])
                cols.append(col[hit])
                continue
            key = codes[:m].copy()
            bad = sep[:m].copy()
            for k in range(1, n):
                key = (key << _BITS) | codes[k:k + m]
                bad |= sep[k:k + m]
            pos = np.searchsorted(self.keys, key)
            pos[pos == self.keys.size] = 0
            hit = np.flatnonzero((self.keys[pos] == key) & ~bad)
            rows.append(doc_of[hit])
            cols.append(self.order[pos[hit]])
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        counts = sp.csr_matrix((np.ones(row.size), (row, col)),
                               shape=(len(views), self.n_features))
        counts.sum_duplicates()
        counts.sort_indices()
        return counts


def _ngram_views(texts: list[str], cfg: TextRiskConfig) -> list[str]:
    """:func:`_ngram_view` of each text, in one regex pass over the joined batch (a company
    name never spans the separator)."""
    if not cfg.mask_names:
        return texts
    joined = joinable(texts)
    if joined is None:
        return [_ngram_view(t, cfg) for t in texts]
    return _NAME.sub("某公司", joined).split("\x00")


def _analyzer(cfg: TextRiskConfig) -> CountVectorizer:
    return CountVectorizer(analyzer="char", ngram_range=(cfg.ngram_min, cfg.ngram_max),
                           lowercase=False, dtype=np.float64)


@dataclass
class TextRiskModel:
    """A fitted text-risk model (see the module docstring).

    Build one with :meth:`fit` or :meth:`from_state`, or take the packaged one with
    :func:`load_packaged`.

    Examples
    --------
    >>> texts = ["公司被列为失信被执行人", "公司债券违约，股权被冻结", "公司中标重点项目",
    ...          "公司获得发明专利授权"] * 3
    >>> m = TextRiskModel.fit(texts, [1, 1, 0, 0] * 3, TextRiskConfig(min_df=1, C=10.0))
    >>> bool(m.score(["某公司被法院列为失信被执行人"])[0] > m.score(["某公司中标"])[0])
    True
    >>> again = TextRiskModel.from_state(m.to_state())
    >>> bool(np.allclose(again.score(texts), m.score(texts)))
    True
    """

    config: TextRiskConfig
    ngrams: list[str]
    idf: npt.NDArray[np.float64]
    coef: npt.NDArray[np.float64]
    intercept: float
    vocabulary_sha256: str
    training: dict[str, Any] = field(default_factory=dict)

    # ----- fitting ---------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Sequence[object], labels: Sequence[int] | npt.ArrayLike,
            config: TextRiskConfig | None = None, *,
            training: dict[str, Any] | None = None) -> TextRiskModel:
        """Fit on texts and 0/1 labels.

        Raises
        ------
        ConfigurationError
            If the labels are not 0/1, do not hold both classes or do not match the texts.
        """
        cfg = config or TextRiskConfig()
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(texts):
            raise parameter_error("labels", "TextRiskModel.fit",
                                  f"one 0/1 label per text ({len(texts)})", y.shape)
        if not np.isin(y, (0, 1)).all() or len(np.unique(y)) != 2:
            raise ConfigurationError("TextRiskModel.fit: labels must be 0/1 and hold both "
                                     "classes; check the label column.")
        y = y.astype(np.int64)
        voc = vocabulary()
        prepared = prepare_many(texts)
        counts_vec = _analyzer(cfg)
        counts_vec.set_params(min_df=min(cfg.min_df, len(texts)))
        counts = counts_vec.fit_transform([_ngram_view(p[0], cfg) for p in prepared]).tocsr()
        names = counts_vec.get_feature_names_out().tolist()
        vocab_x = voc.features(prepared)
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        # Rounded as stored in the JSON state, so a model read back scores identically.
        idf = np.round(np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0, 6)
        x = _design(counts, idf, vocab_x, cfg.vocabulary_weight)
        mu, lam = _prior(voc, cfg, len(names))
        coef, intercept = _logistic(x, y, mu, lam)
        n_ng = len(names)
        if n_ng > cfg.max_ngrams:
            keep = np.sort(np.argsort(-np.abs(coef[:n_ng]), kind="stable")[: cfg.max_ngrams])
            names = [names[i] for i in keep]
            counts = counts[:, keep]
            idf = idf[keep]
            x = _design(counts, idf, vocab_x, cfg.vocabulary_weight)
            mu, lam = _prior(voc, cfg, len(names))
            coef, intercept = _logistic(x, y, mu, lam)
        info = dict(training or {})
        info.setdefault("n_texts", len(texts))
        info.setdefault("n_positive", int(y.sum()))
        return cls(cfg, names, idf, coef, intercept, voc.sha256, info)

    # ----- scoring ---------------------------------------------------------------------
    def _vectorizer(self) -> CountVectorizer:
        vec = getattr(self, "_vec", None)
        if vec is None:
            vec = _analyzer(self.config)
            vec.set_params(vocabulary={g: i for i, g in enumerate(self.ngrams)})
            self._vec = vec
        return vec

    def _counts(self, views: list[str]) -> sp.csr_matrix:
        counter = getattr(self, "_counter", None)
        if counter is None and self.config.ngram_max <= 3:
            counter = _NgramCounter(self.ngrams, self.config.ngram_min, self.config.ngram_max)
            self._counter = counter
        counts = counter.transform(views) if counter is not None else None
        return counts if counts is not None else self._vectorizer().transform(views).tocsr()

    def design(self, texts: Sequence[object]) -> tuple[sp.csr_matrix, list[tuple[str, int]]]:
        """The model's feature rows of ``texts`` and the prepared texts."""
        x, prepared, _ = self._design_matches(texts)
        return x, prepared

    def _design_matches(self, texts: Sequence[object],
                        prepared: list[tuple[str, int]] | None = None
                        ) -> tuple[sp.csr_matrix, list[tuple[str, int]],
                                   dict[str, npt.NDArray[np.int64]] | None]:
        """:meth:`design` and the vocabulary's batch matches of the prepared texts
        (``prepared``: ``prepare_many(texts)`` when the caller has it)."""
        voc = vocabulary()
        if voc.sha256 != self.vocabulary_sha256:
            raise ConfigurationError(
                "text-risk model: it was fitted with another vocabulary (lexicon or "
                "dictionary changed since); fit it again (bench/train_text_model.py).")
        if prepared is None:
            prepared = prepare_many(texts)
        counts = self._counts(_ngram_views([p[0] for p in prepared], self.config))
        vocab_x, batch = voc.features_and_matches(prepared)
        return _design(counts, self.idf, vocab_x, self.config.vocabulary_weight), prepared, batch

    def decision(self, texts: Sequence[object]) -> npt.NDArray[np.float64]:
        """The linear score (log-odds) of each text."""
        x, _ = self.design(texts)
        return np.asarray(x @ self.coef + self.intercept, dtype=np.float64)

    def decision_and_mentions(self, texts: Sequence[object],
                              prepared: list[tuple[str, int]] | None = None
                              ) -> tuple[npt.NDArray[np.float64],
                                         dict[str, npt.NDArray[np.int64]] | None]:
        """:meth:`decision` and the event mentions the vocabulary found while reading the
        texts: arrays ``doc``, ``event`` and ``negated`` per match of a lexicon event (see
        :meth:`~creditpersona.text.features.Vocabulary.batch_matches`), so a caller needing
        both reads each text once; None when a text holds the batch separator.
        ``prepared``: ``prepare_many(texts)`` when the caller has it."""
        x, _, batch = self._design_matches(texts, prepared)
        decision = np.asarray(x @ self.coef + self.intercept, dtype=np.float64)
        if batch is None:
            return decision, None
        hit = batch["event"] >= 0
        return decision, {k: batch[k][hit] for k in ("doc", "event", "negated")}

    def score(self, texts: Sequence[object]) -> npt.NDArray[np.float64]:
        """The risk probability of each text, in [0, 1]."""
        return probability(self.decision(texts))

    def drivers(self, text: object, top: int = 5) -> list[tuple[str, float]]:
        """The words that push ``text`` towards risk most, with their contribution.

        Vocabulary matches (affirmed risk terms and negative dictionary words) come as the
        matched words; n-grams are merged into the longest runs of adjacent risk-raising
        n-grams, each run scored by the sum of its n-grams' contributions.
        """
        voc = vocabulary()
        x, prepared = self.design([text])
        row = x.getrow(0)
        contrib = row.multiply(self.coef).tocsr()
        n_ng = len(self.ngrams)
        out: dict[str, float] = {}
        body = prepared[0][0]
        # n-gram contributions mapped onto character positions
        per_char = np.zeros(len(body))
        idx = {g: i for i, g in enumerate(self.ngrams)}
        values = dict(zip(contrib.indices.tolist(), contrib.data.tolist(), strict=True))
        for n in range(self.config.ngram_min, self.config.ngram_max + 1):
            for s in range(len(body) - n + 1):
                j = idx.get(body[s:s + n])
                if j is not None and j in values and values[j] > 0:
                    per_char[s:s + n] += values[j] / n
        cut = np.quantile(per_char[per_char > 0], 0.9) if (per_char > 0).any() else np.inf
        s = 0
        while s < len(body):
            if per_char[s] >= cut:
                e = s
                while e < len(body) and per_char[e] >= cut:
                    e += 1
                if e - s >= 2:
                    out[body[s:e]] = out.get(body[s:e], 0.0) + float(per_char[s:e].sum())
                s = e
            else:
                s += 1
        n_ev = len(voc.events)
        for m in voc.matches(body):
            if m.negated:
                continue
            j = None
            if m.event is not None and voc.risk[voc.events.index(m.event)]:
                j = n_ng + voc.events.index(m.event)
            elif m.dictionary in ("formal_negative", "informal_negative"):
                j = n_ng + n_ev + (0 if m.dictionary == "formal_negative" else 1)
            if j is not None and self.coef[j] > 0:
                out[m.term] = max(out.get(m.term, 0.0), float(values.get(j, 0.0)))
        ranked = sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(w, round(c, 4)) for w, c in ranked[:top] if c > 0]

    # ----- state -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The fitted model as JSON-compatible values only."""
        return {
            "format": STATE_FORMAT,
            "config": {k: getattr(self.config, k) for k in TextRiskConfig.__dataclass_fields__},
            "vocabulary_sha256": self.vocabulary_sha256,
            "feature_names": vocabulary().feature_names,
            "ngrams": list(self.ngrams),
            "idf": [round(float(v), 6) for v in self.idf],
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "training": self.training,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TextRiskModel:
        """A model from :meth:`to_state`'s output.

        Raises
        ------
        ConfigurationError
            If the state is not of this format or its arrays disagree in length.
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ConfigurationError(
                f"text-risk model state: format must be {STATE_FORMAT!r}, got "
                f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}"
                "; fit the model again with this version.")
        try:
            cfg = TextRiskConfig(**state["config"])
            ngrams = [str(g) for g in state["ngrams"]]
            idf = np.asarray(state["idf"], dtype=np.float64)
            coef = np.asarray(state["coef"], dtype=np.float64)
            n_vocab = len(state["feature_names"])
            if len(idf) != len(ngrams) or len(coef) != len(ngrams) + n_vocab:
                raise ValueError("ngrams, idf and coef lengths disagree")
            return cls(cfg, ngrams, idf, coef, float(state["intercept"]),
                       str(state["vocabulary_sha256"]), dict(state.get("training", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"text-risk model state: invalid ({exc}); fit the "
                                     "model again.") from exc

    def to_json(self) -> str:
        """:meth:`to_state` as compact JSON text."""
        return json.dumps(self.to_state(), ensure_ascii=False, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        """Digest of the JSON state."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()


#: Prior coefficients of the dictionary lists and of the negated / boilerplate counts, per
#: unit of ``log1p(count)`` before ``vocabulary_weight``.
_DICT_PRIOR = (1.0, 1.0, -0.6, -0.3)
_NEGATED_PRIOR = -0.5


def _prior(voc: Vocabulary, cfg: TextRiskConfig,
           n_ngrams: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Prior means and penalty weights of the coefficients.

    n-grams are shrunk towards 0 with weight ``1 / C``. Vocabulary coefficients are shrunk
    towards what the lexicon already says: ``prior_strength · severity`` for a risk event,
    its negative for a positive event, fixed values for the dictionary lists; with weight
    ``1 / C_vocabulary``. An event the training texts never mention keeps its prior.
    """
    sev = np.asarray([e.severity if e.polarity == "risk" else -e.severity
                      for e in voc.lexicon.events])
    w = cfg.vocabulary_weight if cfg.vocabulary_weight > 0 else 1.0
    vocab_mu = np.r_[sev * cfg.prior_strength, np.asarray(_DICT_PRIOR) * cfg.prior_strength / 3,
                     _NEGATED_PRIOR, 0.0] / w
    mu = np.r_[np.zeros(n_ngrams), vocab_mu]
    lam = np.r_[np.full(n_ngrams, 1.0 / cfg.C), np.full(len(vocab_mu), 1.0 / cfg.C_vocabulary)]
    if cfg.vocabulary_weight == 0:
        mu[n_ngrams:] = 0.0
    return mu, lam


def _logistic(x: sp.csr_matrix, y: npt.NDArray[np.int64], mu: npt.NDArray[np.float64],
              lam: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float]:
    """L2 logistic regression shrunk towards ``mu``: minimises
    ``Σ log(1 + exp(−s·(x·w + b))) + ½ Σ lam·(w − mu)²`` with ``s = 2y − 1`` (L-BFGS)."""
    s = 2.0 * y - 1.0
    xt = x.T.tocsr()
    n_feat = x.shape[1]

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w, b = theta[:n_feat], theta[n_feat]
        z = s * (x @ w + b)
        ll = np.logaddexp(0.0, -z)
        g = -s * np.exp(-np.logaddexp(0.0, z))
        d = w - mu
        f = float(ll.sum() + 0.5 * np.dot(lam * d, d))
        grad = np.empty(n_feat + 1)
        grad[:n_feat] = xt @ g + lam * d
        grad[n_feat] = g.sum()
        return f, grad

    theta0 = np.r_[mu, 0.0]
    res = optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000, "gtol": 1e-6})
    return np.asarray(res.x[:n_feat], dtype=np.float64), float(res.x[n_feat])


def probability(decision: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The logistic function of the log-odds (:meth:`TextRiskModel.score`)."""
    return np.asarray(1.0 / (1.0 + np.exp(-decision)), dtype=np.float64)


def _design(counts: sp.csr_matrix, idf: npt.NDArray[np.float64],
            vocab_x: npt.NDArray[np.float64], weight: float) -> sp.csr_matrix:
    """``[l2-normalised log1p(counts)·idf, weight · vocabulary features]``."""
    x = counts.copy()
    x.data = np.log1p(x.data)
    x = x.multiply(idf).tocsr()
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    x = sp.diags(1.0 / norm) @ x
    return sp.hstack([x, sp.csr_matrix(vocab_x * weight)], format="csr")
