"""Credit-decision parameters: FTP, hurdle, capital, LGD, persona policy, limits.

The bank's parameters live in ``decisions.yaml`` (versioned, validated here by pydantic);
the products come from the one product catalogue (:mod:`creditpersona.catalogue`) and the
LPR from the one LPR table (:mod:`creditpersona.domain.lpr`), both attached to the
:class:`DecisionsConfig`. The decision functions take that config and read no constant of
their own. Lookups that the hot path needs (FTP by term, LGD by collateral, persona policy by
code) are vectorised here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, field_validator, model_validator

from creditpersona.catalogue import Product, ProductCatalogue, load_products
from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.contract.schema import COLLATERAL, GUARANTEE
from creditpersona.domain.lpr import LprTable, load_lpr

DEFAULT_PERSONA = "default"
TIERS = ("normal", "special_mention", "substandard", "doubtful", "loss")
TIERS_ZH = ("正常", "关注", "次级", "可疑", "损失")

Floats = npt.NDArray[np.float64]
#: Up to this many keys, :func:`lookup` looks each one up in the dict.
_SMALL = 512


def lookup(keys: pd.Series | npt.ArrayLike, table: Mapping[str, object],
           default: object = np.nan) -> npt.NDArray[np.generic]:
    """``table[key]`` for every key (``default`` for unknown or missing keys), vectorised.

    A hash lookup of the keys in the table's index (several times faster than
    ``Series.map(dict)`` on Arrow-backed strings).

    Examples
    --------
    >>> lookup(pd.Series(["b", "z", None]), {"a": 1.0, "b": 2.0}).tolist()
    [2.0, nan, nan]
    """
    values = list(table.values())
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values) \
        and (default is None or isinstance(default, int | float))
    n = len(keys) if isinstance(keys, pd.Series) else np.size(keys)
    if n <= _SMALL:
        # A few keys (a quote, a batch of them): a dict look-up per key costs microseconds,
        # building the two indexes below a millisecond. Same answer: exact matches, anything
        # else (missing, NaN, another type) takes the default.
        seq = keys.tolist() if isinstance(keys, pd.Series) else np.ravel(
            np.asarray(keys, dtype=object)).tolist()
        return np.array([table.get(k, default) if isinstance(k, str) else default
                         for k in seq], dtype=float if numeric else object)
    # Hash both sides in the same representation: a Series keeps its own (Arrow) strings,
    # a numpy array stays object (converting a million strings costs more than the lookup).
    if isinstance(keys, pd.Series):
        codes = pd.Index(list(table.keys())).get_indexer(pd.Index(keys))
    else:
        codes = pd.Index(list(table.keys()), dtype=object).get_indexer(
            pd.Index(np.asarray(keys, dtype=object), dtype=object))
    column = np.array([*values, default], dtype=float if numeric else object)
    return column[codes]


class CapitalConfig(StrictModel):
    """Basel IRB corporate formula settings (DOMAIN.md §5)."""

    pd_floor: float = Field(ge=0, lt=0.01)
    maturity_floor_years: float = Field(gt=0)
    maturity_cap_years: float = Field(gt=0)
    sme_adjustment: bool
    sme_revenue_unit_yuan: float = Field(gt=0)
    sme_lower: float = Field(gt=0)
    sme_upper: float = Field(gt=0)

    @model_validator(mode="after")
    def _ranges(self) -> CapitalConfig:
        if self.maturity_cap_years < self.maturity_floor_years:
            raise ValueError("maturity_cap_years must not be below maturity_floor_years")
        if self.sme_upper <= self.sme_lower:
            raise ValueError("sme_upper must exceed sme_lower")
        return self


class PricingConfig(StrictModel):
    """Cost-plus pricing settings: tax on interest, capital held, maturity, the cost floor."""

    vat_and_surcharges: float = Field(ge=0, lt=0.5)
    capital_ratio: float = Field(gt=0, le=0.5)
    capital_buffers: float = Field(ge=0, le=0.2)
    maturity: Literal["effective", "foundation"]
    foundation_maturity_years: float = Field(gt=0)
    cost_floor: bool

    @property
    def capital_per_rwa(self) -> float:
        """Capital held per unit of risk-weighted assets (the total ratio requirement)."""
        return self.capital_ratio + self.capital_buffers


class LgdConfig(StrictModel):
    """LGD by collateral type, lowered by a guarantee."""

    by_collateral: dict[str, float]
    guarantee_reduction: dict[str, float]
    lgd_floor: float = Field(ge=0, le=1)

    @field_validator("by_collateral", "guarantee_reduction")
    @classmethod
    def _unit(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not 0.0 <= x <= 1.0}
        if bad:
            raise ValueError(f"LGD values must lie in [0, 1]: {bad}")
        return v

    @model_validator(mode="after")
    def _complete(self) -> LgdConfig:
        missing = set(COLLATERAL) - set(self.by_collateral)
        if missing:
            raise ValueError(f"by_collateral lacks collateral types {sorted(missing)}")
        missing = set(GUARANTEE) - set(self.guarantee_reduction)
        if missing:
            raise ValueError(f"guarantee_reduction lacks guarantee types {sorted(missing)}")
        return self


class PersonaPolicy(StrictModel):
    """Pricing, limit and monitoring policy for one persona."""

    zh: str
    en: str
    spread_adjustment_bp: float
    limit_multiplier: float = Field(ge=0, le=3)
    main_product: str
    review_months: int = Field(ge=1, le=36)
    watch_review_months: int = Field(ge=1, le=36)
    actions_zh: str
    actions_en: str
    watch_actions_zh: str
    watch_actions_en: str


class LimitsConfig(StrictModel):
    """Credit-limit parameters (DOMAIN.md §6)."""

    growth_bounds: tuple[float, float]
    min_dscr: float = Field(gt=0)
    existing_debt_years: float = Field(gt=0)
    grade_multipliers: dict[str, float]
    bank_net_capital_yuan: float = Field(gt=0)
    single_borrower_share: float = Field(gt=0, le=1)
    max_debt_to_revenue: float = Field(gt=0)

    @field_validator("grade_multipliers")
    @classmethod
    def _multipliers(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not 0.0 <= x <= 3.0}
        if bad:
            raise ValueError(f"grade multipliers must lie in [0, 3]: {bad}")
        return v


class ClassificationConfig(StrictModel):
    """Days-past-due floors of the five tiers and the same-bank contagion share."""

    special_mention_after_days: int = Field(ge=0)
    substandard_after_days: int
    doubtful_after_days: int
    loss_after_days: int
    contagion_share: float = Field(gt=0, lt=1)
    restructured_purposes: list[str]
    observation_months: int = Field(ge=0)
    observation_periods: int = Field(ge=0)

    @model_validator(mode="after")
    def _increasing(self) -> ClassificationConfig:
        days = [self.special_mention_after_days, self.substandard_after_days,
                self.doubtful_after_days, self.loss_after_days]
        if any(b <= a for a, b in zip(days, days[1:], strict=False)):
            raise ValueError("the tier day thresholds must increase")
        return self

    def thresholds(self) -> Floats:
        """The day thresholds, special mention first."""
        return np.array([self.special_mention_after_days, self.substandard_after_days,
                         self.doubtful_after_days, self.loss_after_days], dtype=float)


class DecisionsConfig(StrictModel):
    """Every credit-decision parameter, versioned."""

    version: int
    ftp_curve: list[tuple[float, float]]
    hurdle_rate: float = Field(gt=0, lt=1)
    target_margin_bp: float
    capital: CapitalConfig
    pricing: PricingConfig
    lgd: LgdConfig
    relationship_cost_yuan: dict[str, float]
    deposit_days_of_inflow: float = Field(ge=0, le=365)
    deposit_margin: float = Field(ge=-0.05, le=0.05)
    projection_growth: tuple[float, float]
    spread_bounds_bp: tuple[float, float]
    strategy_bounds_bp: tuple[float, float]
    personas: dict[str, PersonaPolicy]
    limits: LimitsConfig
    classification: ClassificationConfig
    #: Not in ``decisions.yaml``: the one product catalogue and the one LPR table.
    catalogue: ProductCatalogue = Field(default_factory=load_products)
    lpr_table: LprTable = Field(default_factory=load_lpr)

    @field_validator("ftp_curve")
    @classmethod
    def _ftp(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        terms = [p[0] for p in v]
        if len(v) < 1 or any(b <= a for a, b in zip(terms, terms[1:], strict=False)):
            raise ValueError("ftp_curve needs points with increasing terms")
        if not all(0 <= p[1] < 0.2 for p in v):
            raise ValueError("FTP rates are decimals per year in [0, 0.2)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DecisionsConfig:
        if DEFAULT_PERSONA not in self.personas:
            raise ValueError(f"personas needs a {DEFAULT_PERSONA!r} entry for unknown personas")
        lo, hi = self.strategy_bounds_bp
        for code, p in self.personas.items():
            if not lo <= p.spread_adjustment_bp <= hi:
                raise ValueError(
                    f"persona {code!r}: spread_adjustment_bp {p.spread_adjustment_bp:g} lies "
                    f"outside strategy_bounds_bp [{lo:g}, {hi:g}]")
            if p.main_product not in self.products:
                raise ValueError(f"persona {code!r}: main_product {p.main_product!r} is not "
                                 "in the product catalogue")
        for a, b in (self.spread_bounds_bp, self.strategy_bounds_bp, self.projection_growth,
                     self.limits.growth_bounds):
            if b < a:
                raise ValueError(f"bounds [{a:g}, {b:g}] run backwards")
        missing = {*[str(g) for g in range(1, 11)], "D"} - set(self.limits.grade_multipliers)
        if missing:
            raise ValueError(f"limits.grade_multipliers lacks grades {sorted(missing)}")
        return self

    @property
    def products(self) -> dict[str, Product]:
        """The product catalogue's products, in catalogue order."""
        return self.catalogue.products

    @property
    def lpr(self) -> dict[str, float]:
        """The latest LPR fixing by tenor (``{"1Y": 0.03, "5Y": 0.035}``)."""
        return self.lpr_table.latest.rates()

    # Vectorised lookups ----------------------------------------------------------------

    def ftp(self, term_months: npt.ArrayLike) -> Floats:
        """FTP rate by term (linear between curve points, flat beyond).

        Examples
        --------
        >>> load_decisions().ftp([12, 24, 600]).round(5).tolist()
        [0.02, 0.02125, 0.0285]
        """
        xs, ys = zip(*self.ftp_curve, strict=True)
        return np.interp(np.asarray(term_months, dtype=float), xs, ys)

    def lpr_tenor(self, term_months: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """The LPR tenor a loan of this term is quoted on: ``1Y`` or ``5Y``."""
        return self.lpr_table.tenor(term_months)

    def lpr_rate(self, term_months: npt.ArrayLike,
                 on: dt.date | npt.ArrayLike | None = None) -> Floats:
        """The LPR a loan of this term is quoted on, in force on ``on`` (default: latest).

        ``on`` is one date or one per loan.

        Examples
        --------
        >>> cfg = load_decisions()
        >>> cfg.lpr_rate([12, 120]).tolist(), cfg.lpr_rate([12], dt.date(2024, 12, 31)).tolist()
        ([0.03, 0.035], [0.031])
        """
        return self.lpr_table.rate_for_term(term_months, on)

    def lgd_of(self, collateral: pd.Series, guarantee: pd.Series | None = None) -> Floats:
        """LGD per loan from collateral (and guarantee) type; unknown types count as none.

        Examples
        --------
        >>> cfg = load_decisions()
        >>> cfg.lgd_of(pd.Series(["none", "deposit", "?"]),
        ...            pd.Series(["corporate", "none", None])).round(2).tolist()
        [0.35, 0.05, 0.4]
        """
        lgd = lookup(collateral, self.lgd.by_collateral,
                     self.lgd.by_collateral["none"]).astype(float)
        if guarantee is not None:
            lgd = lgd - lookup(guarantee, self.lgd.guarantee_reduction, 0.0).astype(float)
        return np.clip(lgd, self.lgd.lgd_floor, 1.0)

    def product_values(self, product: pd.Series, field: str) -> npt.NDArray[np.generic]:
        """One catalogue field per row (missing for unknown products)."""
        table = {name: getattr(p, field) for name, p in self.products.items()}
        return lookup(product, table, np.nan if field != "default_collateral" else None)

    def persona_code(self, persona: pd.Series | None, n: int) -> npt.NDArray[np.object_]:
        """Persona codes with unknown or missing ones replaced by ``default``."""
        if persona is None:
            return np.full(n, DEFAULT_PERSONA, dtype=object)
        known = {code: code for code in self.personas}
        return lookup(persona, known, DEFAULT_PERSONA).astype(object)

    def persona_values(self, codes: npt.NDArray[np.object_], field: str) -> npt.NDArray[np.generic]:
        """One persona-policy field per row of known codes (see :meth:`persona_code`)."""
        table = {code: getattr(p, field) for code, p in self.personas.items()}
        return lookup(codes, table)


def load_decisions(path: str | Path | None = None) -> DecisionsConfig:
    """Read and validate the decision parameters (default: the packaged ``decisions.yaml``).

    The product catalogue and the LPR table are the packaged ones
    (:func:`~creditpersona.catalogue.load_products`, :func:`~creditpersona.domain.lpr.load_lpr`);
    to use others, ``model_copy(update={"catalogue": …, "lpr_table": …})``.

    Raises
    ------
    ConfigurationError
        Naming the file and the offending entry when the configuration is invalid.

    Examples
    --------
    >>> cfg = load_decisions()
    >>> cfg.lpr["1Y"], cfg.hurdle_rate, cfg.personas["growth_tech"].main_product
    (0.03, 0.12, 'tech_rnd')
    """
    return load_yaml_config(DecisionsConfig, "creditpersona.decisions", "decisions.yaml", path,
                            "decision configuration", owner="load_decisions")
