"""The item vocabulary of association rules (``items.yaml``), validated.

Every item is one yes/no fact about a firm on the as-of date with its Chinese and English
label and its thresholds; the same file declares the item families (by code prefix), the
questions the rules answer and the pairs of items that are true by definition (used by
:mod:`~creditpersona.rules.mining`). The items are built from the tables by
:mod:`~creditpersona.rules.items`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.contract.schema import COLLATERAL, GUARANTEE, LPR_TENORS, PRODUCTS, PURPOSES
from creditpersona.domain.size_class import SIZE_CLASSES

_CODE = r"^[a-z][a-z0-9_]*$|^sec_[A-T]$"
PERSONA_PREFIX = "persona_"


def persona_item(name: str) -> str:
    """The item code of a persona name.

    Examples
    --------
    >>> persona_item("growth_tech")
    'persona_growth_tech'
    """
    return f"{PERSONA_PREFIX}{name}"


class _Item(StrictModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=_CODE)
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _subset(values: Sequence[str] | None, allowed: tuple[str, ...], what: str) -> None:
    bad = sorted(set(values or ()) - set(allowed))
    if bad:
        raise ValueError(f"unknown {what} {', '.join(bad)}; allowed: {', '.join(allowed)}")


class IndustryItem(_Item):
    """The firm's GB/T 4754 code starts with one of ``prefixes`` (sections or divisions)."""

    kind: Literal["industry"]
    prefixes: tuple[Annotated[str, Field(pattern=r"^[A-T]([0-9]{2,4})?$")], ...] = Field(
        min_length=1)


class SizeItem(_Item):
    """The profile's MIIT size class is one of ``classes``."""

    kind: Literal["size"]
    classes: tuple[str, ...] = Field(min_length=1)

    @field_validator("classes")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _subset(v, SIZE_CLASSES, "size class")
        return v


class LoanItem(_Item):
    """The firm took a loan in the look-back that matches every given condition."""

    kind: Literal["loan"]
    product: tuple[str, ...] | None = None
    purpose: tuple[str, ...] | None = None
    collateral_type: tuple[str, ...] | None = None
    guarantee_type: tuple[str, ...] | None = None
    lpr_tenor: tuple[str, ...] | None = None
    min_term_months: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _conditions(self) -> LoanItem:
        _subset(self.product, PRODUCTS, "product")
        _subset(self.purpose, PURPOSES, "purpose")
        _subset(self.collateral_type, COLLATERAL, "collateral type")
        _subset(self.guarantee_type, GUARANTEE, "guarantee type")
        _subset(self.lpr_tenor, LPR_TENORS, "LPR tenor")
        if not any((self.product, self.purpose, self.collateral_type, self.guarantee_type,
                    self.lpr_tenor, self.min_term_months)):
            raise ValueError(f"loan item {self.code} needs at least one condition")
        return self


class ScheduleItem(_Item):
    """A loan in the look-back whose instalments fall at least ``min_gap_days`` apart."""

    kind: Literal["schedule"]
    min_gap_days: int = Field(ge=1)


class RepaymentItem(_Item):
    """A repayment pattern: early, on-time or late instalments, optionally in a season."""

    kind: Literal["repayment"]
    pattern: Literal["early", "on_time", "late"]
    early_days: int = Field(default=3, ge=1)
    late_days: int = Field(default=0, ge=0)
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None
    min_share: float = Field(gt=0, le=1)
    min_excess: float = Field(default=0.0, ge=0, le=1)
    min_instalments: int = Field(default=1, ge=1)


class FlowItem(_Item):
    """Flows in ``months`` against ``versus`` (monthly averages) reach ``min_ratio``."""

    kind: Literal["flow"]
    direction: Literal["in", "out", "both"]
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = Field(min_length=1)
    versus: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ()
    min_ratio: float = Field(gt=0)
    lookback_months: int = Field(ge=1)

    @model_validator(mode="after")
    def _disjoint(self) -> FlowItem:
        if set(self.months) & set(self.versus):
            raise ValueError(f"flow item {self.code}: months and versus overlap")
        return self

    @property
    def versus_months(self) -> tuple[int, ...]:
        """The comparison months (all the others when ``versus`` is empty)."""
        return self.versus or tuple(m for m in range(1, 13) if m not in self.months)


class ConcentrationItem(_Item):
    """The ``top`` counterparties bring at least ``min_share`` of the firm's receipts."""

    kind: Literal["concentration"]
    top: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)
    lookback_months: int = Field(ge=1)


_BUREAU_COLUMNS = ("lenders", "outstanding_balance", "overdue_count_12m", "overdue_count_24m",
                   "max_dpd_12m", "max_dpd_24m", "guarantees_given", "inquiries_1m",
                   "inquiries_3m", "inquiries_6m", "inquiries_12m", "written_off")


class BureauItem(_Item):
    """A bureau field, in the latest report or at its maximum over the look-back."""

    kind: Literal["bureau"]
    column: str
    agg: Literal["latest", "max"]
    at_least: float
    lookback_months: int = Field(ge=1)

    @field_validator("column")
    @classmethod
    def _known(cls, v: str) -> str:
        _subset((v,), _BUREAU_COLUMNS, "bureau_reports column")
        return v


class DefaultItem(_Item):
    """In default: ``min_dpd`` days past due at the bureau or with us, or written off."""

    kind: Literal["default"]
    min_dpd: int = Field(ge=1)


class ProfileItem(_Item):
    """A threshold on a profile column, or any of several boolean profile columns."""

    kind: Literal["profile"]
    column: str | None = None
    at_least: float | None = None
    below: float | None = None
    any_of: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ProfileItem:
        threshold = self.column is not None and (self.at_least is not None
                                                 or self.below is not None)
        if threshold == bool(self.any_of):
            raise ValueError(f"profile item {self.code} needs either column with at_least/"
                             "below, or any_of")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """The profile columns the item reads."""
        return self.any_of or ((self.column,) if self.column else ())


class CampaignItem(_Item):
    """The firm was contacted in a campaign in the look-back (and responded, if asked)."""

    kind: Literal["campaign"]
    responded: bool = True
    product: tuple[str, ...] | None = None

    @field_validator("product")
    @classmethod
    def _known(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        _subset(v, PRODUCTS, "product")
        return v


Item = Annotated[
    IndustryItem | SizeItem | LoanItem | ScheduleItem | RepaymentItem | FlowItem
    | ConcentrationItem | BureauItem | DefaultItem | ProfileItem | CampaignItem,
    Field(discriminator="kind"),
]


class Family(StrictModel):
    """A family of items: the items whose code starts with one of ``prefixes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    prefixes: tuple[str, ...] = Field(min_length=1)


class Question(StrictModel):
    """A question the rules answer: which families may follow, which may not lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    consequents: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()
    max_rules: int = Field(ge=1)


class Definitional(StrictModel):
    """Items (or families) on the left and on the right never form a rule together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    left: tuple[str, ...] = Field(min_length=1)
    right: tuple[str, ...] = Field(min_length=1)
    why: str = Field(min_length=1)


class Label(StrictModel):
    """How a sentence names a persona."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Lookback(StrictModel):
    """Months of history that count, per source without a per-item look-back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loans: int = Field(ge=1)
    repayments: int = Field(ge=1)
    campaigns: int = Field(ge=1)


class MiningDefaults(StrictModel):
    """Default search and test settings of :func:`creditpersona.rules.mining.mine_rules`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_support: float = Field(gt=0, le=1)
    min_count: int = Field(ge=1)
    max_len: int = Field(ge=2)
    correction: Literal["bh", "holm"]
    alpha: float = Field(gt=0, lt=1)
    max_overlap: float = Field(gt=0, le=1)
    shuffle_seed: int = Field(ge=0)


class ItemVocabulary(StrictModel):
    """The whole item vocabulary, versioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    lookback_months: Lookback
    mining: MiningDefaults
    families: dict[str, Family]
    questions: dict[str, Question] = Field(min_length=1)
    definitional: tuple[Definitional, ...] = ()
    personas: dict[str, Label] = Field(default_factory=dict)
    items: tuple[Item, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ItemVocabulary:
        codes = [i.code for i in self.items]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"item codes {', '.join(repeated)} appear more than once")
        clash = [c for c in codes if c.startswith(PERSONA_PREFIX)]
        if clash:
            raise ValueError(f"item codes {', '.join(clash)}: '{PERSONA_PREFIX}' is reserved for "
                             "persona items")
        prefixes = [p for f in self.families.values() for p in f.prefixes]
        shared = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if shared:
            raise ValueError(f"family prefixes {', '.join(shared)} appear more than once")
        persona = self.families.get("persona")
        if persona is None or persona.prefixes != (PERSONA_PREFIX,):
            raise ValueError(f"the families must declare persona with prefixes "
                             f"[{PERSONA_PREFIX}]")
        orphans = [c for c in codes if self.family_of(c) is None]
        if orphans:
            raise ValueError(f"items {', '.join(orphans)} match no family prefix; add a prefix "
                             "to a family")
        for name, q in self.questions.items():
            unknown = sorted(set(q.consequents + q.exclude) - set(self.families))
            if unknown:
                raise ValueError(f"question {name} names unknown families {', '.join(unknown)}")
        for pair in self.definitional:
            unknown = sorted(set(pair.left + pair.right) - set(self.families) - set(codes))
            if unknown:
                raise ValueError(f"definitional pair ({pair.why}) names {', '.join(unknown)}, "
                                 "neither an item code nor a family")
        return self

    def family_of(self, code: str) -> str | None:
        """The family of an item code: the one with the longest matching prefix.

        Examples
        --------
        >>> vocab = load_items()
        >>> vocab.family_of("repay_late_q1"), vocab.family_of("persona_P3")
        ('repayment', 'persona')
        """
        best, length = None, 0
        for name, fam in self.families.items():
            for p in fam.prefixes:
                if code.startswith(p) and len(p) > length:
                    best, length = name, len(p)
        return best

    def definitional_with(self, code: str, others: Sequence[str]) -> set[str]:
        """The items of ``others`` that ``code`` is paired with by definition (either way).

        Examples
        --------
        >>> sorted(load_items().definitional_with(
        ...     "product_tech_rnd", ["purpose_rnd", "purpose_construction", "long_tenor"]))
        ['long_tenor', 'purpose_rnd']
        """
        def side(entries: tuple[str, ...], item: str) -> bool:
            return item in entries or self.family_of(item) in entries

        out = set()
        for pair in self.definitional:
            for a, b in ((pair.left, pair.right), (pair.right, pair.left)):
                if side(a, code):
                    out |= {o for o in others if side(b, o)}
        return out

    def of_kind(self, kind: str) -> list[Item]:
        """The items of one kind, in vocabulary order."""
        return [i for i in self.items if i.kind == kind]

    def labels(self, personas: Sequence[str] = ()) -> pd.DataFrame:
        """Every item with its family and labels.

        Parameters
        ----------
        personas : sequence of str
            Persona names to add as ``persona_<name>`` items.

        Returns
        -------
        pandas.DataFrame
            Indexed by item code: ``family``, ``zh``, ``en``.

        Examples
        --------
        >>> labels = load_items().labels(["growth_tech"])
        >>> labels.loc["repay_early", ["zh", "en"]].tolist()
        ['提前还款', 'repay early']
        >>> labels.loc["persona_growth_tech", ["family", "zh"]].tolist()
        ['persona', '属于“成长型科技企业”类']
        """
        rows = [{"code": i.code, "family": self.family_of(i.code), "zh": i.zh, "en": i.en}
                for i in self.items]
        for name in personas:
            zh, en = self.persona_names(name)
            rows.append({"code": persona_item(name), "family": "persona", "zh": f"属于“{zh}”类",
                         "en": f"are {en}"})
        return pd.DataFrame(rows).set_index("code")

    def persona_names(self, name: str) -> tuple[str, str]:
        """Chinese and English names of a persona (its code when the vocabulary lacks it)."""
        label = self.personas.get(name)
        return (label.zh, label.en) if label else (f"“{name}”类企业", f"'{name}' firms")


def load_items(path: str | Path | None = None) -> ItemVocabulary:
    """Read and validate an item vocabulary (default: the packaged ``items.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the offending entry when the vocabulary is invalid.

    Examples
    --------
    >>> vocab = load_items()
    >>> vocab.mining.max_len, len(vocab.of_kind("repayment")), list(vocab.questions)
    (3, 4, ['repayment', 'uptake', 'response'])
    """
    return load_yaml_config(ItemVocabulary, "creditpersona.rules", "items.yaml", path,
                            "item vocabulary", owner="load_items")
