"""The credit-risk lexicon of the text signals: events, severities, terms and negation cues.

``lexicon.yaml`` (beside this module) lists the events a bank watches in court and registry
notices, news and visit notes (失信被执行人, 股权冻结, 停产, 拖欠工资 … and positive events
such as 中标 or 专利授权), each with a severity in [0, 1] and its Chinese terms, plus the
negation cues (未发现, 不实 …) and protected words. :func:`load_lexicon` reads and validates
it; :class:`creditpersona.text.features.Vocabulary` finds its terms in a text.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.errors import parameter_error

__all__ = ["Event", "Lexicon", "Negation", "default_lexicon", "load_lexicon"]

_CODE = r"^[a-z][a-z0-9_]*$"


def _clean_words(words: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Words stripped of surrounding blanks; empty or repeated words are errors."""
    out = tuple(w.strip() for w in words)
    if any(not w for w in out):
        raise ValueError(f"{what} must not contain empty strings")
    repeated = sorted({w for w in out if out.count(w) > 1})
    if repeated:
        raise ValueError(f"{what} list {', '.join(repeated)} more than once")
    return out


class Event(BaseModel):
    """One risk or positive event of the lexicon."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    polarity: Literal["risk", "positive"]
    severity: float = Field(ge=0.0, le=1.0)
    terms: tuple[str, ...] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _terms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "terms")


class Negation(BaseModel):
    """Negation cues and how far they reach within a clause."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before: tuple[str, ...] = Field(min_length=1)
    window_before: int = Field(ge=1)
    after: tuple[str, ...] = ()
    window_after: int = Field(default=0, ge=0)

    @field_validator("before", "after")
    @classmethod
    def _cues(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "negation cues")


class Lexicon(BaseModel):
    """The whole lexicon: events, negation cues, protected words and clause delimiters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    events: tuple[Event, ...] = Field(min_length=1)
    negation: Negation
    protected: tuple[str, ...] = ()
    delimiters: tuple[str, ...] = Field(min_length=1)

    @field_validator("protected")
    @classmethod
    def _protected(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_words(v, "protected")

    @field_validator("delimiters")
    @classmethod
    def _delimiters(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(d == "" for d in v):
            raise ValueError("delimiters must not contain empty strings")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Lexicon:
        codes = [e.code for e in self.events]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"event codes must be unique; {', '.join(repeated)} repeated")
        owner: dict[str, str] = {}
        for e in self.events:
            for t in e.terms:
                if t in owner and owner[t] != e.code:
                    raise ValueError(f"term {t!r} belongs to both {owner[t]!r} and {e.code!r}; "
                                     "give it to one event")
                owner[t] = e.code
        roles = {"a negation cue": set(self.negation.before) | set(self.negation.after),
                 "a protected word": set(self.protected), "a delimiter": set(self.delimiters)}
        for role, words in roles.items():
            clash = sorted(set(owner) & words)
            if clash:
                raise ValueError(f"term(s) {', '.join(clash)} also listed as {role}; "
                                 "a word can have one role only")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        """Event codes in lexicon order."""
        return tuple(e.code for e in self.events)

    def event(self, code: str) -> Event:
        """The event called ``code``.

        Raises
        ------
        ConfigurationError
            If the lexicon has no such event.
        """
        for e in self.events:
            if e.code == code:
                return e
        raise parameter_error("code", "Lexicon.event", f"one of {', '.join(self.codes)}", code)


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and validate a lexicon (default: the packaged ``lexicon.yaml``).

    Parameters
    ----------
    path : str or Path, optional
        A YAML file with the layout of the packaged lexicon.

    Returns
    -------
    Lexicon

    Raises
    ------
    ConfigurationError
        If the file is missing or not YAML, or an entry is invalid; the message names the
        file and each offending entry.

    Examples
    --------
    >>> lex = load_lexicon()
    >>> lex.event("dishonest_debtor").zh, lex.event("dishonest_debtor").severity
    ('失信被执行人', 0.9)
    >>> "失信被执行人" in lex.event("dishonest_debtor").terms
    True
    """
    return load_yaml_config(Lexicon, "creditpersona.profile", "lexicon.yaml", path, "lexicon",
                            owner="load_lexicon")


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The packaged lexicon, read once."""
    return load_lexicon()
