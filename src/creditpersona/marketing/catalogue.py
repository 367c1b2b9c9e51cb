"""The catalogue of precision marketing: the products, the risk appetite and the needs.

The products (names, tenor, offer size, eligibility: industry prefixes, size classes,
personas, worst grade, largest PD) come from the one product catalogue
(:mod:`creditpersona.catalogue`), whose grades are checked here against the master scale;
the risk appetite and the needs live in the versioned ``marketing.yaml``. The risk appetite
caps one campaign plan: a bank-wide grade and PD floor, and the limits offered per industry
section, per product and per group of grades. Offers are valued and priced by the pricing
engine (:func:`creditpersona.decisions.offers.offer_values`), never here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, field_validator, model_validator

from creditpersona.catalogue import Product, ProductCatalogue, load_products
from creditpersona.config import StrictModel, load_yaml_config, validate_config
from creditpersona.errors import ConfigurationError, SchemaError
from creditpersona.models.master_scale import load_master_scale

Bools = npt.NDArray[np.bool_]

#: Grades best first, then the default grade (from the rating master scale).
GRADES: tuple[str, ...] = tuple(load_master_scale().names)
#: A firm this many days past due is in default and never offered anything.
DEFAULT_DPD = 90


class GradeCap(StrictModel):
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


class RiskAppetite(StrictModel):
    """Caps on one campaign plan, in yuan of limits offered."""

    max_grade: str = GRADES[-2]
    max_pd: float = Field(default=1.0, gt=0, le=1)
    unrated: Literal["allow", "deny"] = "allow"
    unrated_pd: float = Field(default=0.03, gt=0, le=1)
    """PD the pricing engine assumes for a firm without one."""
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


class Condition(StrictModel):
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



class Need(StrictModel):
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


class Fitting(StrictModel):
    """How the response and uplift models are fitted (``marketing.yaml``: ``fitting``).

    ``sample_cap``: campaign contacts the models learn from at most. A longer history is
    sampled, stratified by product, treatment arm and response (each stratum keeps its share,
    seeded by the run's seed); only the sampled contacts get point-in-time features.
    """

    sample_cap: int = Field(default=40_000, ge=2_000, le=10_000_000)


class MarketingConfig(StrictModel):
    """``marketing.yaml``: the risk appetite, the needs and the model fitting, versioned."""

    version: int
    risk_appetite: RiskAppetite
    needs: dict[str, Need] = Field(default_factory=dict)
    fitting: Fitting = Field(default_factory=Fitting)


class Catalogue(StrictModel):
    """What precision marketing works with: the products, risk appetite and needs."""

    version: int
    products: dict[str, Product] = Field(min_length=1)
    risk_appetite: RiskAppetite
    needs: dict[str, Need] = Field(default_factory=dict)
    fitting: Fitting = Field(default_factory=Fitting)

    @model_validator(mode="after")
    def _known_products(self) -> Catalogue:
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


def load_catalogue(path: str | Path | None = None,
                   products: ProductCatalogue | str | Path | None = None) -> Catalogue:
    """Read and validate the marketing configuration with the product catalogue.

    Parameters
    ----------
    path : str or Path, optional
        The risk appetite and needs (default: the packaged ``marketing.yaml``).
    products : ProductCatalogue or path, optional
        The product catalogue (default: the packaged ``catalogue.yaml``).

    Raises
    ------
    ConfigurationError
        With the file and the path of the offending entry when either file is invalid, or
        a product's ``max_grade`` is not a grade of the master scale.

    Examples
    --------
    >>> cat = load_catalogue()
    >>> cat.products["green"].zh, "tech_rnd" in cat.codes
    ('绿色贷款', True)
    """
    catalogue = products if isinstance(products, ProductCatalogue) else load_products(products)
    for code, product in catalogue.products.items():
        grade = product.eligibility.max_grade
        if grade is not None and grade not in GRADES:
            where = str(products) if isinstance(products, str | Path) else \
                "creditpersona/catalogue.yaml"
            raise ConfigurationError(
                f"{where}: invalid product catalogue; fix these entries: "
                f"products.{code}.eligibility.max_grade: unknown grade {grade!r}; the master "
                f"scale has {list(GRADES)}")
    config = load_yaml_config(MarketingConfig, "creditpersona.marketing", "marketing.yaml", path,
                              "marketing configuration", owner="load_catalogue")
    where = str(path) if path is not None else "creditpersona/marketing/marketing.yaml"
    return validate_config(Catalogue, {
        "version": config.version, "products": catalogue.products,
        "risk_appetite": config.risk_appetite, "needs": config.needs,
        "fitting": config.fitting,
    }, where, "marketing configuration")


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
        ``persona_strategy`` (strategy code), ``pd`` and ``grade`` (checked when present;
        without them the risk appetite's ``unrated`` rule decides) and ``current_dpd`` (a
        firm 90 or more days past due is in default and never eligible, nor is a firm graded
        ``D``).

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
        if rule.personas is not None and "persona_strategy" in firms.columns:
            ok &= firms["persona_strategy"].isin(rule.personas).to_numpy(dtype=bool)
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
