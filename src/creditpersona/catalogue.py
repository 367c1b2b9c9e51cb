"""The product catalogue (产品目录): one validated description of every product.

``catalogue.yaml`` names each product (zh/en) and gives its tenor, usual collateral, capital
treatment (amortising or not), fee and operating cost, caps, the size of an offer and who is
eligible. Pricing, limits and the value of the book (``decisions``), next-best offers and
campaign lists (``marketing``) all read it through :func:`load_products`; the LPR tenor of a
product follows from its tenor through the one LPR table (:mod:`creditpersona.domain.lpr`).

It sits just above the data contract (whose ``PRODUCTS`` it describes) and below every layer
that uses it. Grades are checked against the master scale by ``marketing``, which owns it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from creditpersona.config import StrictModel, load_yaml_config
from creditpersona.contract.schema import COLLATERAL, PRODUCTS
from creditpersona.domain.lpr import load_lpr
from creditpersona.domain.size_class import SIZE_CLASSES


class Eligibility(StrictModel):
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


class OfferSize(StrictModel):
    """The amount an offer proposes: ``share × basis`` clipped to ``[min, max]`` yuan."""

    basis: Literal["revenue", "total_assets"]
    share: float = Field(gt=0, le=5)
    min: float = Field(ge=0)
    max: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> OfferSize:
        if self.min > self.max:
            raise ValueError("offer_size min must not exceed max")
        return self


class Product(StrictModel):
    """One product of the catalogue."""

    zh: str
    en: str
    term_months: int = Field(ge=1, le=360)
    default_collateral: str
    amortising: bool
    fee_bp: float = Field(ge=0)
    operating_cost_bp: float = Field(ge=0)
    max_amount_yuan: float | None = Field(default=None, gt=0)
    offer_size: OfferSize
    eligibility: Eligibility = Field(default_factory=Eligibility)

    @field_validator("default_collateral")
    @classmethod
    def _collateral(cls, v: str) -> str:
        if v not in COLLATERAL:
            raise ValueError(f"default_collateral {v!r} is not one of {', '.join(COLLATERAL)}")
        return v

    @property
    def lpr_tenor(self) -> str:
        """The LPR tenor (``1Y`` / ``5Y``) the product's tenor is quoted on."""
        return str(load_lpr().tenor([self.term_months])[0])


class ProductCatalogue(StrictModel):
    """Every product, in catalogue order, versioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    products: dict[str, Product] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> ProductCatalogue:
        unknown = sorted(set(self.products) - set(PRODUCTS))
        if unknown:
            raise ValueError(f"products {unknown} are not in the data contract's PRODUCTS "
                             f"{list(PRODUCTS)}; add them to the contract first")
        return self

    @property
    def codes(self) -> list[str]:
        """Product codes in catalogue order."""
        return list(self.products)

    def offer_amount(self, firms: pd.DataFrame, product: str) -> npt.NDArray[np.float64]:
        """The amount (yuan) an offer of ``product`` proposes to every firm.

        ``share × basis`` (the firm's revenue or total assets) clipped to the product's
        ``[min, max]`` and rounded to 10,000 yuan; a firm without the basis gets the minimum.

        Examples
        --------
        >>> firms = pd.DataFrame({"revenue": [1e8, np.nan], "total_assets": [2e8, 1e6]})
        >>> load_products().offer_amount(firms, "working_capital").tolist()
        [12000000.0, 200000.0]
        """
        rule = self.products[product].offer_size
        basis = (pd.to_numeric(firms[rule.basis], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan) if rule.basis in firms.columns
            else np.full(len(firms), np.nan))
        raw = np.where(np.isfinite(basis) & (basis > 0), rule.share * basis, rule.min)
        return np.asarray(np.round(np.clip(raw, rule.min, rule.max) / 1e4) * 1e4, dtype=float)


@cache
def _packaged() -> ProductCatalogue:
    return load_yaml_config(ProductCatalogue, "creditpersona", "catalogue.yaml", None,
                            "product catalogue", owner="load_products")


def load_products(path: str | Path | None = None) -> ProductCatalogue:
    """Read and validate the product catalogue (default: the packaged ``catalogue.yaml``).

    Raises
    ------
    ConfigurationError
        Naming the file and the path of each offending entry.

    Examples
    --------
    >>> cat = load_products()
    >>> p = cat.products["tech_rnd"]
    >>> p.zh, p.term_months, p.lpr_tenor, cat.products["project_finance"].lpr_tenor
    ('科技研发贷款', 24, '1Y', '5Y')
    """
    if path is None:
        return _packaged()
    return load_yaml_config(ProductCatalogue, "creditpersona", "catalogue.yaml", path,
                            "product catalogue", owner="load_products")
