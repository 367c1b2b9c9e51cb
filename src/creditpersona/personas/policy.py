"""Persona policy: business control over the personas, in a versioned YAML file.

The packaged ``policy.yaml`` holds the segmentation settings, the naming lexicon and the
business overrides: rename, freeze or merge personas, and rule-based personas checked before
the model (e.g. ``current_dpd > 90`` → 已违约 / in default). Loading validates it; an error
names the file and the offending key.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from creditpersona import artefacts
from creditpersona.config import load_yaml_config
from creditpersona.errors import ConfigurationError, SchemaError
from creditpersona.personas.identity import IdentityMatch, match_personas
from creditpersona.personas.segment import PersonaSegmenter


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bilingual(_Strict):
    """A text in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Segmentation(_Strict):
    """Arguments of :class:`~creditpersona.personas.segment.PersonaSegmenter`."""

    k_min: int = Field(4, ge=2)
    k_max: int = Field(9, ge=2)
    features: list[str] = Field(min_length=1)
    categories: dict[str, float] = Field(default_factory=dict)
    n_bootstrap: int = Field(5, ge=0)
    n_init: int = Field(2, ge=1)
    surrogate_depth: int | None = Field(4, ge=1)
    min_stability: float = Field(0.8, ge=0, le=1)
    min_fidelity: float = Field(0.9, ge=0, le=1)
    sample_size: int = Field(20_000, ge=50)
    random_state: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _range(self) -> Segmentation:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be at least k_min ({self.k_min})")
        return self


class Surrogate(_Strict):
    """The readable decision tree that explains the assignment."""

    max_depth: int = Field(4, ge=1, le=6)
    min_leaf_share: float = Field(0.01, gt=0, lt=0.5)


class Descriptor(_Strict):
    """Words for a persona that stands out high or low on a feature."""

    high: Bilingual
    low: Bilingual


class Naming(_Strict):
    """How persona names are generated."""

    top_descriptors: int = Field(2, ge=1, le=4)
    min_effect: float = Field(0.5, ge=0)
    dominant_section: float = Field(0.5, gt=0, le=1)
    descriptors: dict[str, Descriptor]
    sections: dict[str, Bilingual] = Field(default_factory=dict)
    default_noun: Bilingual
    labels: dict[str, Bilingual] = Field(default_factory=dict)

    def label(self, feature: str) -> Bilingual:
        """How a feature reads (its own name when the policy has no label for it)."""
        return self.labels.get(feature, Bilingual(zh=feature, en=feature))


class Rename(_Strict):
    """A business name for a persona (the description is optional)."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    description_zh: str | None = None
    description_en: str | None = None


class Merge(_Strict):
    """Fold ``members`` into ``into``."""

    into: str
    members: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _not_itself(self) -> Merge:
        if self.into in self.members:
            raise ValueError(f"persona {self.into!r} cannot be merged into itself")
        return self


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}


class Condition(_Strict):
    """``feature op value``; a missing feature value never satisfies a condition."""

    feature: str = Field(min_length=1)
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float | str | bool

    def holds(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Which rows satisfy the condition."""
        if self.feature not in frame.columns:
            raise SchemaError(f"persona rule: the profile has no column {self.feature!r}; "
                              "fix the rule in the policy or profile the firms first.")
        col = frame[self.feature]
        if isinstance(self.value, str | bool):
            result = _OPS[self.op](col.astype("object"), self.value)
        else:
            result = _OPS[self.op](pd.to_numeric(col, errors="coerce"), float(self.value))
        return np.asarray(result.fillna(False) & col.notna(), dtype=bool)

    def text(self) -> str:
        """The condition as it reads in a rule."""
        return f"{self.feature} {self.op} {self.value}"


class RulePersona(_Strict):
    """A persona defined by a rule: all of ``all`` and at least one of ``any``."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    description_zh: str = ""
    description_en: str = ""
    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_condition(self) -> RulePersona:
        if not self.all and not self.any:
            raise ValueError(f"rule {self.id!r} needs at least one condition in 'all' or 'any'")
        return self

    def matches(self, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
        """Which firms the rule captures."""
        hit = np.ones(len(frame), dtype=bool)
        for c in self.all:
            hit &= c.holds(frame)
        if self.any:
            hit &= np.logical_or.reduce([c.holds(frame) for c in self.any])
        return hit

    def text(self) -> str:
        """The rule in words (English operators, feature names as in the profile)."""
        parts = [" AND ".join(c.text() for c in self.all)] if self.all else []
        if self.any:
            parts.append("(" + " OR ".join(c.text() for c in self.any) + ")")
        return " AND ".join(parts)


@artefacts.trusted("persona_policy")
class PersonaPolicy(_Strict):
    """The whole persona policy, versioned."""

    version: int = Field(ge=1)
    segmentation: Segmentation
    surrogate: Surrogate = Field(default_factory=lambda: Surrogate(max_depth=4,
                                                                 min_leaf_share=0.01))
    naming: Naming
    renames: dict[str, Rename] = Field(default_factory=dict)
    freeze: list[str] = Field(default_factory=list)
    merges: list[Merge] = Field(default_factory=list)
    rules: list[RulePersona] = Field(default_factory=list)

    @field_validator("freeze")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("freeze lists a persona twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PersonaPolicy:
        rule_ids = [r.id for r in self.rules]
        if len(set(rule_ids)) != len(rule_ids):
            raise ValueError("rules: two rules have the same id")
        merged = [m for merge in self.merges for m in merge.members]
        if len(set(merged)) != len(merged):
            raise ValueError("merges: a persona is merged twice")
        for merge in self.merges:
            if merge.into in merged:
                raise ValueError(f"merges: {merge.into!r} is merged away and cannot receive "
                                 "other personas")
        clash = sorted(set(merged) & set(self.freeze))
        if clash:
            raise ValueError(f"merges: frozen persona(s) {clash} cannot be merged")
        ruled = sorted(set(rule_ids) & (set(merged) | {m.into for m in self.merges}))
        if ruled:
            raise ValueError(f"merges: rule-based persona(s) {ruled} cannot be merged")
        return self

    def check_ids(self, persona_ids: list[str]) -> None:
        """Raise if renames, freezes or merges name a persona the model does not have.

        Raises
        ------
        ConfigurationError
            Naming the policy key and the personas that exist.
        """
        known = set(persona_ids) | {r.id for r in self.rules}
        for key, ids in (("renames", list(self.renames)), ("freeze", self.freeze),
                         ("merges", [x for m in self.merges for x in [m.into, *m.members]])):
            unknown = sorted(set(ids) - known)
            if unknown:
                raise ConfigurationError(
                    f"persona policy key {key!r}: no persona {', '.join(unknown)}; the "
                    f"personas are {', '.join(sorted(known))}.")


def load_policy(path: str | Path | None = None) -> PersonaPolicy:
    """Read and validate a persona policy (default: the packaged ``policy.yaml``).

    Raises
    ------
    ConfigurationError
        ``<file>: invalid persona policy: …`` naming the offending key.

    Examples
    --------
    >>> policy = load_policy()
    >>> policy.version, policy.rules[0].en
    (1, 'In default')
    """
    if path is not None and not Path(path).is_file():
        raise ConfigurationError(f"{path}: no persona policy file here; give the path of a "
                                 "YAML policy (see creditpersona/personas/policy.yaml).")
    return load_yaml_config(PersonaPolicy, "creditpersona.personas", "policy.yaml", path,
                            "persona policy")


def merge_map(policy: PersonaPolicy) -> dict[str, str]:
    """Persona id → the id it is merged into (identity for personas not merged).

    Examples
    --------
    >>> p = load_policy().model_copy(update={"merges": [Merge(into="P1", members=["P4"])]})
    >>> merge_map(p)
    {'P4': 'P1'}
    """
    return {m: merge.into for merge in policy.merges for m in merge.members}


#: ``source`` of an assignment: a business rule, a frozen persona, or the model.
SOURCES = ("rule", "frozen", "model")


@artefacts.trusted("persona_model")
@dataclass
class PersonaModel:
    """The personas in force: a fitted segmenter, persona ids and the policy applied.

    Attributes
    ----------
    segmenter : PersonaSegmenter
        The model behind the model-based personas.
    cluster_ids : list of str
        Persona id of each of the segmenter's personas (before merges).
    policy : PersonaPolicy
        The policy the model was fitted under (rules, merges, renames, freezes).
    frozen : dict
        Persona id → (segmenter, persona number) that defines a frozen persona.
    cards : dict
        Persona id → a frozen persona's name and description (``zh``, ``en``,
        ``description_zh``, ``description_en``).
    identity : IdentityMatch or None
        How this model's personas matched the model it replaced (None for a first fit).
    """

    segmenter: PersonaSegmenter
    cluster_ids: list[str]
    policy: PersonaPolicy
    frozen: dict[str, tuple[PersonaSegmenter, int]] = field(default_factory=dict)
    cards: dict[str, dict[str, str]] = field(default_factory=dict)
    identity: IdentityMatch | None = None

    @property
    def persona_ids(self) -> list[str]:
        """Every persona a firm can be assigned to: rules, frozen, then model personas."""
        merged = merge_map(self.policy)
        ids = [r.id for r in self.policy.rules] + list(self.frozen)
        for pid in self.cluster_ids:
            pid = merged.get(pid, pid)
            if pid not in ids:
                ids.append(pid)
        return ids

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The persona of each firm under the policy.

        Returns
        -------
        pandas.DataFrame
            Same index as ``frame``: ``persona_id``, ``source`` (``rule``, ``frozen`` or
            ``model``), ``cluster`` (the segmenter's persona number, −1 for rules) and
            ``confidence`` (the model's posterior probability of its persona; 1 for rules).
        """
        n = len(frame)
        persona = np.full(n, "", dtype=object)
        source = np.full(n, "model", dtype=object)
        done = np.zeros(n, dtype=bool)
        for rule in self.policy.rules:
            hit = rule.matches(frame) & ~done
            persona[hit], source[hit] = rule.id, "rule"
            done |= hit
        for pid, (seg, label) in self.frozen.items():
            rest = np.flatnonzero(~done)
            if len(rest) == 0:
                break
            hit = rest[seg.predict(frame.iloc[rest]) == label]
            persona[hit], source[hit] = pid, "frozen"
            done[hit] = True
        proba = self.segmenter.predict_proba(frame)
        cluster = proba.argmax(axis=1)
        merged = merge_map(self.policy)
        ids = np.array([merged.get(c, c) for c in self.cluster_ids], dtype=object)
        rest = ~done
        persona[rest] = ids[cluster[rest]]
        return pd.DataFrame({
            "persona_id": persona, "source": source,
            "cluster": np.where(source == "rule", -1, cluster).astype(np.int64),
            "confidence": np.where(source == "rule", 1.0, proba.max(axis=1)),
        }, index=frame.index)


def fit_personas(
    frame: pd.DataFrame,
    policy: PersonaPolicy | None = None,
    previous: PersonaModel | None = None,
) -> tuple[PersonaModel, IdentityMatch | None]:
    """Fit the personas of a profile under a policy, keeping ids of a previous model.

    Firms captured by a rule, or by a frozen persona of ``previous``, are left out of the
    fit, so they do not shape the model personas.

    Parameters
    ----------
    frame : pandas.DataFrame
        The profile, one row per firm.
    policy : PersonaPolicy, optional
        Default :func:`load_policy`.
    previous : PersonaModel, optional
        The model in force; its persona ids carry over by :func:`match_personas`.

    Returns
    -------
    (PersonaModel, IdentityMatch or None)
        The model, and how its personas match the previous ones (None without one).

    Raises
    ------
    ConfigurationError
        If the policy names a persona the fitted model does not have.
    """
    policy = policy or load_policy()
    captured = np.zeros(len(frame), dtype=bool)
    for rule in policy.rules:
        captured |= rule.matches(frame)
    carried: dict[str, tuple[PersonaSegmenter, int]] = {}
    cards: dict[str, dict[str, str]] = {}
    if previous is not None:
        for pid in policy.freeze:
            if pid in previous.frozen:
                carried[pid] = previous.frozen[pid]
            elif pid in previous.cluster_ids:
                carried[pid] = (previous.segmenter, previous.cluster_ids.index(pid))
            else:
                continue
            if pid in previous.cards:
                cards[pid] = previous.cards[pid]
            rest = np.flatnonzero(~captured)
            seg, label = carried[pid]
            captured[rest[seg.predict(frame.iloc[rest]) == label]] = True
    train = frame[~captured]
    seg = PersonaSegmenter(**policy.segmentation.model_dump()).fit(train)
    match: IdentityMatch | None = None
    if previous is None:
        ids = [f"P{j + 1}" for j in range(seg.n_personas_)]
    else:
        match = match_personas(previous.segmenter, seg, train)
        old = match.mapping()
        taken = set(carried) | {r.id for r in policy.rules}
        ids = []
        numbers = [int(p[1:]) for p in [*previous.cluster_ids, *previous.frozen]
                   if p[1:].isdigit()]
        next_number = max(numbers, default=0) + 1
        for j in range(seg.n_personas_):
            pid = previous.cluster_ids[old[j]] if j in old else ""
            if not pid or pid in taken:
                pid, next_number = f"P{next_number}", next_number + 1
            ids.append(pid)
            taken.add(pid)
    for pid in policy.freeze:
        if pid not in carried and pid in ids:
            carried[pid] = (seg, ids.index(pid))
    model = PersonaModel(seg, ids, policy, carried, cards, match)
    policy.check_ids([*ids, *carried])
    return model, match
