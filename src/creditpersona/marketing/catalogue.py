"""The product catalogue (产品目录) and the risk appetite of precision marketing.

Both live in the versioned ``products.yaml`` (validated here). A product has eligibility
rules (industry prefixes, size classes, personas, worst grade, largest PD), a fallback
limit rule and fallback pricing that stand in for the limit and pricing engines when the
caller gives no suggested limit, rate or value. The risk appetite caps one campaign plan:
a bank-wide grade and PD floor, and the limits offered per industry section, per product and
per group of grades.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, Field, field_validator, model_validator

from creditpersona.config import load_yaml_config
from creditpersona.contract.schema import PRODUCTS
from creditpersona.domain.size_class import SIZE_CLASSES
from creditpersona.errors import SchemaError
from creditpersona.models.master_scale import load_master_scale

Bools = npt.NDArray[np.bool_]

#: Grades best first, then the default grade (from the rating master scale).
GRADES: tuple[str, ...] = tuple(load_master_scale().names)
#: A firm this many days past due is in default and never offered anything.
DEFAULT_DPD = 90


class Eligibility(BaseModel):
    """Who may be offered a product; an omitted condition does not restrict."""

    industries: list[str] | None = None
    exclude_industries: list[str] = Field(default_factory=list)
    size_classes: list[str] | None = None
    personas: list[str] | None = None
    max_grade: str | None = None
    max_pd: float | None = Field(default=None, gt=0, le=1)

    @field_validator("size_classes")
    @classmethod
    def _sizes(cls, v: list[str] | None) -> list[str] | None:
        unknown = sorted(set(v or ()) - set(SIZE_CLASSES))
        if unknown:
            raise ValueError(f"unknown size classes {unknown}; use {list(SIZE_CLASSES)}")
        return v

    @field_validator("max_grade")
    @classmethod
    def _grade(cls, v: str | None) -> str | None:
        if v is not None and v not in GRADES:
            raise ValueError(f"unknown grade {v!r}; the master scale has {list(GRADES)}")
        return v


class LimitRule(BaseModel):
    """Fallback suggested limit: ``share × basis`` clipped to ``[min, max]`` yuan."""

    basis: Literal["revenue", "total_assets"]
    share: float = Field(gt=0, le=5)
    min: float = Field(ge=0)
    max: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> LimitRule:
        if self.min > self.max:
            raise ValueError("limit min must not exceed max")
        return self


class Pricing(BaseModel):
    """Fallback pricing and value of an offer."""

    spread_bp: float = Field(ge=-300, le=2000)
    net_margin: float = Field(gt=0, lt=1)
    lgd: float = Field(ge=0, le=1)
    term_years: float = Field(gt=0, le=30)


class Product(BaseModel):
    """One product of the catalogue."""

    zh: str
    en: str
    eligibility: Eligibility = Field(default_factory=Eligibility)
    limit: LimitRule
    pricing: Pricing


class GradeCap(BaseModel):
    """The listed grades together take at most ``share`` of the exposure budget."""

    grades: list[str]
    share: float = Field(gt=0, le=1)

    @field_validator("grades")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(GRADES))
        if unknown or not v:
            raise ValueError(f"unknown or no grades {unknown}; the master scale has "
                             f"{list(GRADES)}")
        return v


class RiskAppetite(BaseModel):
    """Caps on one campaign plan, in yuan of limits offered."""

    max_grade: str = GRADES[-2]
    max_pd: float = Field(default=1.0, gt=0, le=1)
    unrated: Literal["allow", "deny"] = "allow"
    unrated_pd: float = Field(default=0.03, gt=0, le=1)
    exposure_budget: float = Field(gt=0)
    section_share: float = Field(default=1.0, gt=0, le=1)
    product_share: float = Field(default=1.0, gt=0, le=1)
    section_caps: dict[str, float] = Field(default_factory=dict)
    product_caps: dict[str, float] = Field(default_factory=dict)
    grade_caps: list[GradeCap] = Field(default_factory=list)

    @field_validator("max_grade")
    @classmethod
    def _grade(cls, v: str) -> str:
        if v not in GRADES:
            raise ValueError(f"unknown grade {v!r}; the master scale has {list(GRADES)}")
        return v


Operator = Literal[">=", "<=", ">", "<", "==", "in", "prefix"]


class Condition(BaseModel):
    """``feature op value``; a missing feature value fails the condition."""

    feature: str
    op: Operator
    value: float | bool | str | list[str]

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.op in ("in", "prefix") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op in (">=", "<=", ">", "<") and (
                isinstance(self.value, bool | list | str)):
            raise ValueError(f"operator {self.op!r} needs a number")
        return self

    def holds(self, frame: pd.DataFrame) -> Bools:
        """Rows of ``frame`` where the condition holds (False where the feature is missing)."""
        if self.feature not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        col = frame[self.feature]
        present = col.notna().to_numpy()
        values = self.value if isinstance(self.value, list) else [str(self.value)]
        if self.op == "prefix":
            text = col.astype("string").fillna("")
            hit = np.zeros(len(frame), dtype=bool)
            for prefix in values:  # a handful of prefixes: vectorised per prefix
                hit |= text.str.startswith(str(prefix)).to_numpy(dtype=bool, na_value=False)
            return hit & present
        if self.op == "in":
            return col.isin(values).to_numpy(dtype=bool) & present
        if self.op == "==":
            return (col == self.value).to_numpy(dtype=bool, na_value=False) & present
        x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        v = float(self.value)  # type: ignore[arg-type]
        with np.errstate(invalid="ignore"):
            out = {">=": x >= v, "<=": x <= v, ">": x > v, "<": x < v}[self.op]
        return np.asarray(out & present, dtype=bool)



class Need(BaseModel):
    """A need signalled by behaviour and the products that meet it."""

    zh: str
    en: str
    reason_zh: str
    served_by: list[str]
    rules: list[list[Condition]] = Field(min_length=1)

    def signalled(self, frame: pd.DataFrame) -> Bools:
        """Rows where all conditions of at least one rule hold."""
        out = np.zeros(len(frame), dtype=bool)
        for rule in self.rules:
            hit = np.ones(len(frame), dtype=bool)
            for cond in rule:
                hit &= cond.holds(frame)
            out |= hit
        return out


class Catalogue(BaseModel):
    """The whole catalogue: products, risk appetite and needs, versioned."""

    version: int
    lpr_1y_pct: float = Field(gt=0, lt=20)
    products: dict[str, Product] = Field(min_length=1)
    risk_appetite: RiskAppetite
    needs: dict[str, Need] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_products(self) -> Catalogue:
        unknown = sorted(set(self.products) - set(PRODUCTS))
        if unknown:
            raise ValueError(f"products {unknown} are not in the data contract's PRODUCTS "
                             f"{list(PRODUCTS)}; add them to the contract first")
        for name, need in self.needs.items():
            bad = sorted(set(need.served_by) - set(self.products))
            if bad:
                raise ValueError(f"need {name!r} is served by unknown products {bad}")
        for key in self.risk_appetite.product_caps:
            if key not in self.products:
                raise ValueError(f"risk_appetite.product_caps names unknown product {key!r}")
        return self

    @property
    def codes(self) -> list[str]:
        """Product codes in catalogue order."""
        return list(self.products)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate a catalogue (default: the packaged ``products.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the offending entry when the catalogue is invalid.

    Examples
    --------
    >>> cat = load_catalogue()
    >>> cat.products["green"].zh, "tech_rnd" in cat.codes
    ('绿色贷款', True)
    """
    return load_yaml_config(Catalogue, "creditpersona.marketing", "products.yaml", path,
                            "product catalogue")


def grade_rank(grades: pd.Series | np.ndarray) -> np.ndarray:
    """Position of each grade on the master scale (0 = best); -1 where unknown or missing.

    Examples
    --------
    >>> grade_rank(np.array(["1", "10", "D", None], dtype=object)).tolist()
    [0, 9, 10, -1]
    """
    order = {g: i for i, g in enumerate(GRADES)}
    return np.array([order.get(str(g), -1) if g is not None and not pd.isna(g) else -1
                     for g in np.asarray(grades, dtype=object)], dtype=np.int64)


REQUIRED_FIRM_COLUMNS = ("firm_id", "industry_code", "size_class")


def eligibility(catalogue: Catalogue, firms: pd.DataFrame) -> pd.DataFrame:
    """Which firm may be offered which product: a firm × product table of booleans.

    Parameters
    ----------
    catalogue : Catalogue
    firms : pandas.DataFrame
        One row per firm: ``firm_id``, ``industry_code``, ``size_class``; optionally
        ``persona``, ``pd`` and ``grade`` (checked when present; without them the risk
        appetite's ``unrated`` rule decides) and ``current_dpd`` (a firm 90 or more days past
        due is in default and never eligible, nor is a firm graded ``D``).

    Returns
    -------
    pandas.DataFrame
        Index ``firm_id``, one boolean column per product.

    Raises
    ------
    SchemaError
        If a required column is missing.

    Examples
    --------
    >>> firms = pd.DataFrame({"firm_id": ["a", "b"], "industry_code": ["D4411", "F5211"],
    ...                       "size_class": ["medium", "micro"], "pd": [0.01, 0.01]})
    >>> e = eligibility(load_catalogue(), firms)
    >>> e.loc["a", ["green", "inclusive_small"]].tolist(), e.loc["b", ["green",
    ...     "inclusive_small"]].tolist()
    ([True, False], [False, True])
    """
    missing = [c for c in REQUIRED_FIRM_COLUMNS if c not in firms.columns]
    if missing:
        raise SchemaError(f"eligibility needs the firm columns {missing}; pass the profile "
                          "(it has industry_code and size_class).")
    ra = catalogue.risk_appetite
    industry = firms["industry_code"].astype("string").fillna("")
    size = firms["size_class"].astype(object)
    rank = grade_rank(firms["grade"]) if "grade" in firms.columns else np.full(len(firms), -1)
    pd_ = (pd.to_numeric(firms["pd"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
           if "pd" in firms.columns else np.full(len(firms), np.nan))
    rated = (rank >= 0) | ~np.isnan(pd_)
    base = np.ones(len(firms), dtype=bool)
    if "current_dpd" in firms.columns:
        dpd = pd.to_numeric(firms["current_dpd"], errors="coerce").fillna(0).to_numpy()
        base &= dpd < DEFAULT_DPD
    base &= rank != GRADES.index(GRADES[-1])
    base &= (rank < 0) | (rank <= GRADES.index(ra.max_grade))
    base &= np.isnan(pd_) | (pd_ <= ra.max_pd)
    if ra.unrated == "deny":
        base &= rated
    out = {}
    for code, product in catalogue.products.items():
        rule = product.eligibility
        ok = base.copy()
        if rule.industries is not None:
            ok &= _starts_with_any(industry, rule.industries)
        if rule.exclude_industries:
            ok &= ~_starts_with_any(industry, rule.exclude_industries)
        if rule.size_classes is not None:
            ok &= size.isin(rule.size_classes).to_numpy(dtype=bool)
        if rule.personas is not None and "persona" in firms.columns:
            ok &= firms["persona"].isin(rule.personas).to_numpy(dtype=bool)
        if rule.max_grade is not None:
            ok &= (rank < 0) | (rank <= GRADES.index(rule.max_grade))
        if rule.max_pd is not None:
            ok &= np.isnan(pd_) | (pd_ <= rule.max_pd)
        out[code] = ok
    return pd.DataFrame(out, index=pd.Index(firms["firm_id"].astype(str), name="firm_id"))


def _starts_with_any(codes: pd.Series, prefixes: list[str]) -> Bools:
    hit = np.zeros(len(codes), dtype=bool)
    for prefix in prefixes:
        hit |= codes.str.startswith(prefix).to_numpy(dtype=bool, na_value=False)
    return hit


def fallback_limit(catalogue: Catalogue, firms: pd.DataFrame, product: str) -> np.ndarray:
    """The catalogue's suggested limit (yuan) of ``product`` for every firm.

    A firm without the basis (no statement) gets the product's minimum.

    Examples
    --------
    >>> firms = pd.DataFrame({"revenue": [1e8, np.nan], "total_assets": [2e8, 1e6]})
    >>> fallback_limit(load_catalogue(), firms, "working_capital").tolist()
    [12000000.0, 200000.0]
    """
    rule = catalogue.products[product].limit
    basis = (pd.to_numeric(firms[rule.basis], errors="coerce").to_numpy(dtype=float,
             na_value=np.nan) if rule.basis in firms.columns else np.full(len(firms), np.nan))
    raw = np.where(np.isfinite(basis) & (basis > 0), rule.share * basis, rule.min)
    return np.round(np.clip(raw, rule.min, rule.max) / 1e4) * 1e4


def fallback_value(catalogue: Catalogue, limit: np.ndarray, pd_: np.ndarray,
                   product: str) -> np.ndarray:
    """Value (yuan) of an accepted offer when no pricing engine gives one.

    ``limit × term_years × (net_margin − PD × lgd)``; a missing PD counts as the risk
    appetite's ``unrated_pd``.

    Examples
    --------
    >>> fallback_value(load_catalogue(), np.array([1e6]), np.array([0.01]), "working_capital")
    array([10500.])
    """
    p = catalogue.products[product].pricing
    risk = np.where(np.isnan(pd_), catalogue.risk_appetite.unrated_pd, pd_)
    return np.asarray(limit * p.term_years * (p.net_margin - risk * p.lgd), dtype=float)


def fallback_rate(catalogue: Catalogue, product: str) -> float:
    """The suggested rate (percent a year) of ``product``: 1-year LPR + its spread.

    Examples
    --------
    >>> fallback_rate(load_catalogue(), "working_capital")
    3.8
    """
    return round(catalogue.lpr_1y_pct + catalogue.products[product].pricing.spread_bp / 100, 4)
