"""The hidden borrower personas that drive the synthetic bank.

Each persona fixes the distributions a firm's observable data are drawn from: industry,
size, growth, margins, balance-sheet shape, seasonality of account flows, product needs,
repayment habits and the level and drift of its latent credit risk. The numbers are
illustrative defaults chosen so that the personas are separable from the data with realistic
overlap; they are not calibrated to any real portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from creditpersona.contract.schema import PRODUCTS

#: Intercept of the quarterly default hazard ``sigmoid(HAZARD_INTERCEPT + offset + slope·r)``.
HAZARD_INTERCEPT = -6.0
#: Slope of the quarterly default hazard on the latent risk ``r``.
HAZARD_SLOPE = 1.15


@dataclass(frozen=True)
class Persona:
    """Generation parameters of one persona.

    Shares and ratios are fractions; money is RMB yuan. ``size_mix`` is the target share of
    (large, medium, small, micro) firms; ``months`` are the 12 monthly activity factors of
    account flows and revenue; ``needs`` is the probability that a firm truly needs each
    product of :data:`~creditpersona.contract.schema.PRODUCTS`, and ``affinity`` how strongly
    its loans lean towards each product it needs.
    """

    code: str
    zh: str
    en: str
    share: float
    industries: tuple[tuple[str, float], ...]
    size_mix: tuple[float, float, float, float]
    age_years: tuple[float, float]
    risk_mean: float
    risk_sd: float
    drift_mean: float
    drift_sd: float
    hazard_offset: float
    growth_mean: float
    growth_sd: float
    gross_margin: float
    opex_ratio: float
    asset_turnover: float
    revenue_per_employee: float
    current_asset_share: float
    ca_mix: tuple[float, float, float, float]
    leverage: float
    current_liability_share: float
    std_share: float
    payables_share: float
    advance_share: float
    ltd_share: float
    capex_ratio: float
    tax_rate: float
    needs: tuple[float, ...]
    affinity: tuple[float, ...]
    loans_per_firm: float
    months: tuple[float, ...]
    festival_boost: float
    concentrated_share: float
    txn_intensity: float
    quarterly_filer_share: float
    amount_sigma: float


def _by_product(**values: float) -> tuple[float, ...]:
    return tuple(values.get(p, 0.0) for p in PRODUCTS)


PERSONAS: tuple[Persona, ...] = (
    Persona(
        code="stable_manufacturer", zh="稳健现金流制造企业",
        en="Stable cash-flow manufacturer", share=0.24,
        industries=(("C3411", 1), ("C3484", 1), ("C3511", 1), ("C3670", 1.5), ("C3811", 1),
                    ("C3824", 1), ("C2922", 1), ("C3311", 1), ("C1310", 0.7), ("C1711", 0.7),
                    ("C2614", 0.8), ("C3021", 0.6), ("C34", 0.5), ("C38", 0.5), ("C35", 0.4)),
        size_mix=(0.08, 0.28, 0.45, 0.19), age_years=(5, 30),
        risk_mean=-0.7, risk_sd=0.6, drift_mean=0.0, drift_sd=0.12, hazard_offset=0.3,
        growth_mean=0.05, growth_sd=0.05, gross_margin=0.22, opex_ratio=0.10,
        asset_turnover=0.9, revenue_per_employee=1.0e6, current_asset_share=0.55,
        ca_mix=(0.25, 0.30, 0.25, 0.05), leverage=0.45, current_liability_share=0.70,
        std_share=0.30, payables_share=0.40, advance_share=0.08, ltd_share=0.70,
        capex_ratio=0.05, tax_rate=0.25,
        needs=_by_product(project_finance=0.03, working_capital=0.70, trade_finance=0.15,
                          equipment=0.35, tech_rnd=0.05, supply_chain=0.25, green=0.08,
                          inclusive_small=0.05),
        affinity=_by_product(project_finance=0.3, working_capital=1.0, trade_finance=0.4,
                             equipment=0.7, tech_rnd=0.2, supply_chain=0.6, green=0.5,
                             inclusive_small=0.3),
        loans_per_firm=1.5,
        months=(0.95, 0.70, 1.00, 1.00, 1.00, 1.02, 0.98, 1.00, 1.05, 1.00, 1.08, 1.20),
        festival_boost=0.0, concentrated_share=0.40, txn_intensity=1.0,
        quarterly_filer_share=0.85, amount_sigma=0.5,
    ),
    Persona(
        code="growth_tech", zh="成长型科技企业", en="Growth-stage technology firm", share=0.15,
        industries=(("I6510", 1.5), ("I6513", 1), ("I6450", 0.7), ("I6319", 0.4),
                    ("M7320", 1), ("M7340", 0.6), ("M7517", 0.6), ("C3973", 0.8),
                    ("C3976", 0.6), ("C3921", 0.6), ("C2761", 0.8), ("C2720", 0.6)),
        size_mix=(0.04, 0.20, 0.46, 0.30), age_years=(1, 12),
        risk_mean=0.1, risk_sd=0.7, drift_mean=-0.05, drift_sd=0.2, hazard_offset=0.45,
        growth_mean=0.35, growth_sd=0.15, gross_margin=0.48, opex_ratio=0.47,
        asset_turnover=0.7, revenue_per_employee=0.8e6, current_asset_share=0.65,
        ca_mix=(0.45, 0.30, 0.10, 0.05), leverage=0.32, current_liability_share=0.75,
        std_share=0.25, payables_share=0.30, advance_share=0.15, ltd_share=0.60,
        capex_ratio=0.12, tax_rate=0.15,
        needs=_by_product(project_finance=0.02, working_capital=0.35, trade_finance=0.05,
                          equipment=0.15, tech_rnd=0.80, supply_chain=0.10, green=0.05,
                          inclusive_small=0.10),
        affinity=_by_product(project_finance=0.1, working_capital=0.5, trade_finance=0.2,
                             equipment=0.4, tech_rnd=2.5, supply_chain=0.3, green=0.3,
                             inclusive_small=0.3),
        loans_per_firm=1.2,
        months=(0.90, 0.75, 0.95, 0.95, 0.95, 1.00, 0.95, 0.95, 1.00, 1.00, 1.15, 1.45),
        festival_boost=0.0, concentrated_share=0.25, txn_intensity=0.9,
        quarterly_filer_share=0.85, amount_sigma=0.7,
    ),
    Persona(
        code="leveraged_distressed", zh="高杠杆承压企业", en="Over-leveraged firm under stress",
        share=0.08,
        industries=(("C1711", 1), ("C1810", 1), ("C3021", 1), ("C3311", 1), ("C2922", 0.8),
                    ("C33", 0.5), ("F5123", 0.8), ("F5165", 0.6), ("E4710", 0.8),
                    ("E4813", 0.5), ("K7010", 1.0), ("H6210", 0.5), ("G5430", 0.5)),
        size_mix=(0.06, 0.25, 0.45, 0.24), age_years=(5, 25),
        risk_mean=1.3, risk_sd=0.6, drift_mean=0.35, drift_sd=0.2, hazard_offset=0.0,
        growth_mean=-0.06, growth_sd=0.08, gross_margin=0.16, opex_ratio=0.11,
        asset_turnover=0.6, revenue_per_employee=0.9e6, current_asset_share=0.50,
        ca_mix=(0.07, 0.42, 0.30, 0.06), leverage=0.80, current_liability_share=0.80,
        std_share=0.45, payables_share=0.35, advance_share=0.05, ltd_share=0.75,
        capex_ratio=0.02, tax_rate=0.25,
        needs=_by_product(project_finance=0.05, working_capital=0.90, trade_finance=0.20,
                          equipment=0.10, tech_rnd=0.02, supply_chain=0.20, green=0.03,
                          inclusive_small=0.05),
        affinity=_by_product(project_finance=0.3, working_capital=2.0, trade_finance=0.5,
                             equipment=0.3, tech_rnd=0.1, supply_chain=0.4, green=0.2,
                             inclusive_small=0.3),
        loans_per_firm=2.0,
        months=(0.95, 0.75, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.05, 1.15),
        festival_boost=0.0, concentrated_share=0.35, txn_intensity=1.1,
        quarterly_filer_share=0.75, amount_sigma=0.6,
    ),
    Persona(
        code="trading_turnover", zh="贸易流通周转型", en="Trading / working-capital-intensive firm",
        share=0.18,
        industries=(("F5123", 1), ("F5137", 1), ("F5143", 0.8), ("F5165", 1), ("F5174", 0.8),
                    ("F5181", 0.6), ("F5191", 0.8), ("F5211", 0.7), ("F5221", 0.7),
                    ("F5261", 0.5), ("F51", 0.4), ("G5920", 0.4)),
        size_mix=(0.04, 0.20, 0.46, 0.30), age_years=(2, 20),
        risk_mean=-0.1, risk_sd=0.6, drift_mean=0.0, drift_sd=0.15, hazard_offset=0.4,
        growth_mean=0.06, growth_sd=0.10, gross_margin=0.075, opex_ratio=0.035,
        asset_turnover=2.2, revenue_per_employee=4.0e6, current_asset_share=0.82,
        ca_mix=(0.15, 0.35, 0.30, 0.12), leverage=0.65, current_liability_share=0.90,
        std_share=0.35, payables_share=0.40, advance_share=0.12, ltd_share=0.50,
        capex_ratio=0.01, tax_rate=0.25,
        needs=_by_product(project_finance=0.01, working_capital=0.50, trade_finance=0.85,
                          equipment=0.05, tech_rnd=0.01, supply_chain=0.30, green=0.02,
                          inclusive_small=0.10),
        affinity=_by_product(project_finance=0.1, working_capital=0.6, trade_finance=2.5,
                             equipment=0.2, tech_rnd=0.1, supply_chain=0.5, green=0.1,
                             inclusive_small=0.3),
        loans_per_firm=1.8,
        months=(1.30, 0.85, 0.80, 0.85, 0.90, 0.90, 0.90, 0.95, 1.05, 1.15, 1.30, 1.45),
        festival_boost=1.3, concentrated_share=0.20, txn_intensity=1.3,
        quarterly_filer_share=0.80, amount_sigma=0.6,
    ),
    Persona(
        code="asset_heavy_project", zh="重资产项目型", en="Asset-heavy project firm", share=0.10,
        industries=(("E4710", 1), ("E4812", 0.8), ("E4819", 0.6), ("E48", 0.3), ("D4411", 0.5),
                    ("D4414", 0.8), ("D4415", 0.8), ("D4430", 0.4), ("K7010", 1.2),
                    ("N7721", 0.6), ("N7820", 0.4), ("G5411", 0.3), ("B0610", 0.3)),
        size_mix=(0.15, 0.35, 0.40, 0.10), age_years=(5, 30),
        risk_mean=-0.2, risk_sd=0.7, drift_mean=0.05, drift_sd=0.15, hazard_offset=0.3,
        growth_mean=0.04, growth_sd=0.12, gross_margin=0.28, opex_ratio=0.08,
        asset_turnover=0.3, revenue_per_employee=1.5e6, current_asset_share=0.35,
        ca_mix=(0.18, 0.25, 0.40, 0.08), leverage=0.68, current_liability_share=0.45,
        std_share=0.20, payables_share=0.40, advance_share=0.20, ltd_share=0.85,
        capex_ratio=0.30, tax_rate=0.25,
        needs=_by_product(project_finance=0.80, working_capital=0.30, trade_finance=0.05,
                          equipment=0.50, tech_rnd=0.02, supply_chain=0.05, green=0.15,
                          inclusive_small=0.01),
        affinity=_by_product(project_finance=2.5, working_capital=0.4, trade_finance=0.1,
                             equipment=0.8, tech_rnd=0.1, supply_chain=0.1, green=1.5,
                             inclusive_small=0.1),
        loans_per_firm=1.5,
        months=(0.85, 0.55, 0.95, 1.00, 1.00, 1.15, 0.95, 0.95, 1.00, 0.95, 1.05, 1.60),
        festival_boost=0.0, concentrated_share=0.50, txn_intensity=0.8,
        quarterly_filer_share=0.85, amount_sigma=1.1,
    ),
    Persona(
        code="micro_inclusive", zh="普惠小微", en="Micro & small inclusive-finance firm",
        share=0.25,
        industries=(("F5211", 1), ("F5292", 0.8), ("F5261", 0.5), ("H6210", 1), ("H6110", 0.4),
                    ("O8011", 0.5), ("O8111", 0.6), ("C1810", 0.6), ("C2922", 0.5),
                    ("A0141", 0.4), ("L7281", 0.5), ("R8710", 0.3), ("G5430", 0.6),
                    ("M7520", 0.3)),
        size_mix=(0.0, 0.0, 0.25, 0.75), age_years=(0.5, 10),
        risk_mean=0.45, risk_sd=0.7, drift_mean=0.0, drift_sd=0.2, hazard_offset=0.1,
        growth_mean=0.05, growth_sd=0.15, gross_margin=0.30, opex_ratio=0.20,
        asset_turnover=1.4, revenue_per_employee=0.5e6, current_asset_share=0.70,
        ca_mix=(0.30, 0.25, 0.25, 0.05), leverage=0.55, current_liability_share=0.85,
        std_share=0.30, payables_share=0.35, advance_share=0.10, ltd_share=0.50,
        capex_ratio=0.03, tax_rate=0.05,
        needs=_by_product(project_finance=0.0, working_capital=0.30, trade_finance=0.05,
                          equipment=0.10, tech_rnd=0.02, supply_chain=0.10, green=0.03,
                          inclusive_small=0.85),
        affinity=_by_product(project_finance=0.1, working_capital=0.4, trade_finance=0.2,
                             equipment=0.3, tech_rnd=0.1, supply_chain=0.2, green=0.1,
                             inclusive_small=2.5),
        loans_per_firm=1.0,
        months=(1.10, 0.95, 0.95, 0.95, 1.00, 1.00, 0.95, 0.95, 1.00, 1.05, 1.00, 1.10),
        festival_boost=0.6, concentrated_share=0.10, txn_intensity=0.8,
        quarterly_filer_share=0.0, amount_sigma=0.6,
    ),
)

PERSONA_CODES: tuple[str, ...] = tuple(p.code for p in PERSONAS)
#: Position of each persona code in :data:`PERSONAS`.
INDEX: dict[str, int] = {code: i for i, code in enumerate(PERSONA_CODES)}


def table(attribute: str) -> npt.NDArray[np.float64]:
    """One numeric attribute of every persona, stacked in :data:`PERSONAS` order.

    Examples
    --------
    >>> table("share").sum().round(6)
    np.float64(1.0)
    >>> table("needs").shape
    (6, 8)
    """
    return np.array([getattr(p, attribute) for p in PERSONAS], dtype=float)
