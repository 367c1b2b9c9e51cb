"""Quarterly financials of every firm and the ``financial_statements`` table built from them.

Flows are simulated per calendar quarter and balance sheets at every quarter end; an annual
statement sums the four quarters of its fiscal year and reports the balance sheet at
31 December, so quarterly and annual statements agree. Every ratio follows the persona and
the firm's latent risk in that quarter: as risk rises, margins fall, leverage and the
short-term share of debt rise and cash gives way to receivables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from creditpersona.synth.personas import INDEX, table
from creditpersona.synth.population import Floats, Population
from creditpersona.synth.timeline import Timeline

Columns = dict[str, npt.NDArray[Any]]

_DISTRESSED = INDEX["leveraged_distressed"]


@dataclass
class Financials:
    """Firm × quarter matrices of every statement line (flows of the quarter, stocks at its end)."""

    lines: dict[str, Floats]

    def __getitem__(self, name: str) -> Floats:
        return self.lines[name]


#: Statement lines in contract order (after firm_id, period_type, period_end, published_on).
LINES = (
    "revenue", "cost_of_sales", "operating_profit", "net_profit", "interest_expense",
    "depreciation_amortisation", "total_assets", "current_assets", "cash", "receivables",
    "inventory", "prepayments", "total_liabilities", "current_liabilities", "short_term_debt",
    "long_term_debt", "payables", "advance_receipts", "equity", "operating_cash_flow", "capex",
)
FLOW_LINES = ("revenue", "cost_of_sales", "operating_profit", "net_profit", "interest_expense",
              "depreciation_amortisation", "operating_cash_flow", "capex")


def _firm(rng: np.random.Generator, base: Floats, sd: float) -> Floats:
    return np.asarray(base + rng.normal(0.0, sd, base.size))[:, None]


def simulate(rng: np.random.Generator, pop: Population) -> Financials:
    """Simulate every statement line for every firm and grid quarter.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream reserved for the financials.
    pop : Population
        The firms.

    Returns
    -------
    Financials
        Unrounded firm × quarter matrices.
    """
    tl = pop.timeline
    last_fy = int(tl.fiscal_years[-1])
    anchor = np.datetime64(f"{last_fy}-07-01", "D")
    t = ((tl.quarter_ends - anchor).astype(np.int64) / 365.25)[None, :]
    growth = np.maximum(pop.growth, -0.5)[:, None]
    # The random draws are made in one fixed order (income, balance sheet, flows): the
    # same seed gives the same bank.
    lines = _income(rng, pop, t, growth, last_fy)
    lines.update(_balance_sheet(rng, pop, t, growth))
    lines.update(_flows(rng, pop, lines))
    order = ("revenue", "cost_of_sales", "operating_profit", "net_profit", "interest_expense",
             "depreciation_amortisation", "total_assets", "current_assets", "cash",
             "receivables", "inventory", "prepayments", "total_liabilities",
             "current_liabilities", "short_term_debt", "long_term_debt", "payables",
             "advance_receipts", "operating_cash_flow", "capex", "opex")
    return Financials({k: lines[k] for k in order})


def _income(rng: np.random.Generator, pop: Population, t: Floats, growth: Floats,
            last_fy: int) -> dict[str, Floats]:
    """Revenue, cost of sales and operating expenses (and the annual level, ``_annual``)."""
    tl = pop.timeline
    n, nq = pop.n, tl.quarter_ends.size
    p, r = pop.persona, pop.risk
    shares = tl.quarter_shares()[p]  # n × nq, sums to 1 per calendar year
    in_last_fy = tl.quarter_ends.astype("datetime64[Y]").astype(np.int64) + 1970 == last_fy
    # The anchor is the firm's normal level, so a downturn lowers revenue instead of being
    # absorbed by it (and revenue before the downturn stays as it was).
    r_anchor = pop.calm_risk[:, in_last_fy].mean(axis=1, keepdims=True)
    annual = pop.revenue_anchor[:, None] * (1.0 + growth) ** t
    after_default = ~np.isnat(pop.default_date)[:, None] & (
        tl.quarter_ends[None, :] > pop.default_date[:, None]
    )
    trend = np.exp(-0.15 * (r - r_anchor)) * np.where(after_default, 0.4, 1.0)
    revenue = annual * shares * trend * rng.normal(1.0, 0.06, (n, nq)).clip(0.7, 1.3)

    gm = np.clip(_firm(rng, table("gross_margin")[p], 0.035) - 0.025 * r
                 + rng.normal(0, 0.01, (n, nq)), -0.3, 0.9)
    cost = revenue * (1.0 - gm)
    opex_ratio = table("opex_ratio")[p][:, None] * rng.lognormal(0, 0.2, (n, 1))
    fixed = annual * shares * opex_ratio * 0.3
    opex = revenue * opex_ratio * 0.7 + fixed
    startup_cost = pop.registered_capital[:, None] * 0.03 * np.ones((1, nq))
    opex = np.where(pop.zero_revenue[:, None], startup_cost, opex)
    return {"revenue": revenue, "cost_of_sales": cost, "opex": opex,
            "_annual_shares": annual * shares}


def _balance_sheet(rng: np.random.Generator, pop: Population, t: Floats,
                   growth: Floats) -> dict[str, Floats]:
    """Assets, liabilities and their parts, and depreciation."""
    n, nq = pop.n, pop.timeline.quarter_ends.size
    p, r = pop.persona, pop.risk
    asset_growth = (0.6 * growth + 0.02)
    assets = pop.assets_anchor[:, None] * (1.0 + asset_growth) ** t * rng.normal(
        1.0, 0.02, (n, nq)).clip(0.9, 1.1)
    ca_share = np.clip(_firm(rng, table("current_asset_share")[p], 0.05), 0.05, 0.97)
    depreciation = assets * (1.0 - ca_share) * 0.08 / 4.0

    r0 = r[:, :1]
    lev = np.clip(_firm(rng, table("leverage")[p], 0.08) + 0.03 * r + 0.07 * (r - r0)
                  + rng.normal(0, 0.01, (n, nq)), 0.05, 1.35)
    liabilities = assets * lev
    cl_share = np.clip(_firm(rng, table("current_liability_share")[p], 0.05) + 0.03 * r,
                       0.2, 0.98)
    current_liab = liabilities * cl_share
    fr_std = np.clip(_firm(rng, table("std_share")[p], 0.05) + 0.04 * r, 0.0, 0.6)
    fr_pay = np.clip(_firm(rng, table("payables_share")[p], 0.05), 0.05, 0.6)
    fr_adv = np.clip(_firm(rng, table("advance_share")[p], 0.03), 0.0, 0.4) * np.ones((1, nq))
    total = fr_std + fr_pay + fr_adv
    scale = np.where(total > 0.95, 0.95 / total, 1.0)
    ltd_share = np.clip(_firm(rng, table("ltd_share")[p], 0.08), 0.0, 0.95)

    current_assets = assets * ca_share
    mix = table("ca_mix")[p][:, :, None] * rng.lognormal(0, 0.15, (n, 4, 1))
    mix = mix * np.ones((1, 1, nq))
    mix[:, 0] *= np.exp(-0.25 * r)
    mix[:, 1] *= np.exp(0.10 * r)
    mix_total = mix.sum(axis=1, keepdims=True)
    mix = np.where(mix_total > 0.95, mix * 0.95 / mix_total, mix)
    cash, receivables, inventory, prepayments = (current_assets * mix[:, k] for k in range(4))
    return {
        "depreciation_amortisation": depreciation, "total_assets": assets,
        "current_assets": current_assets, "cash": cash, "receivables": receivables,
        "inventory": inventory, "prepayments": prepayments, "total_liabilities": liabilities,
        "current_liabilities": current_liab, "short_term_debt": current_liab * fr_std * scale,
        "long_term_debt": (liabilities - current_liab) * ltd_share,
        "payables": current_liab * fr_pay * scale,
        "advance_receipts": current_liab * fr_adv * scale,
    }


def _flows(rng: np.random.Generator, pop: Population,
           lines: dict[str, Floats]) -> dict[str, Floats]:
    """Interest, profit, tax, operating cash flow and capital expenditure."""
    n, nq = pop.n, pop.timeline.quarter_ends.size
    p, r = pop.persona, pop.risk
    revenue, depreciation = lines["revenue"], lines["depreciation_amortisation"]
    rate = 0.045 + 0.006 * np.maximum(r, 0.0)
    interest = (lines["short_term_debt"] + lines["long_term_debt"]) * rate / 4.0
    operating = revenue - lines["cost_of_sales"] - lines["opex"] - depreciation - interest
    tax = table("tax_rate")[p][:, None] * np.maximum(operating, 0.0)
    net = operating - tax
    d_revenue = np.diff(revenue, axis=1, prepend=revenue[:, :1])
    strain = np.maximum(r - 1.0, 0.0) * 0.05 * revenue
    # Chinese cash-flow statements put interest paid under financing activities: operating
    # cash flow is before interest (net profit + interest + D&A − working-capital build).
    ocf = (net + interest + depreciation - 0.15 * d_revenue - strain
           + rng.normal(0, 0.04, (n, nq)) * revenue)
    lumpy = np.where(p[:, None] == INDEX["asset_heavy_project"], rng.gamma(0.6, 1 / 0.6, (n, nq)),
                     rng.lognormal(-0.125, 0.5, (n, nq)))
    capex = np.maximum(lines.pop("_annual_shares"), pop.registered_capital[:, None] * 0.05
                       ) * table("capex_ratio")[p][:, None] * lumpy
    capex = np.where(pop.persona[:, None] == _DISTRESSED, capex * np.exp(-0.3 * r), capex)
    return {"operating_profit": operating, "net_profit": net, "interest_expense": interest,
            "operating_cash_flow": ocf, "capex": capex}


def _rounded_rows(values: dict[str, Floats]) -> Columns:
    """Round to fen and restore the accounting identities exactly on the rounded values."""
    out: Columns = {k: np.round(v, 2) for k, v in values.items() if k in LINES}
    out["equity"] = np.round(out["total_assets"] - out["total_liabilities"], 2)
    return out


def statements(rng: np.random.Generator, pop: Population, fin: Financials) -> Columns:
    """The ``financial_statements`` rows: annual and (for quarterly filers) quarterly.

    Statements are published 60–120 days (annual) or 20–45 days (quarterly) after the
    period ends; those not yet published at the end date are dropped, as are periods
    before the firm was founded and, for most defaulted firms, periods after the default.

    Returns
    -------
    dict
        Contract columns (``firm_id`` as firm indices under ``"firm"``), sorted by firm,
        period type and period end.
    """
    tl: Timeline = pop.timeline
    n = pop.n
    stops_filing = rng.random(n) < 0.8
    late = pop.persona == _DISTRESSED
    fy_quarters = np.stack([
        np.flatnonzero(tl.quarter_ends.astype("datetime64[Y]").astype(np.int64) + 1970 == y)
        for y in tl.fiscal_years
    ])  # fiscal years × their 4 quarters

    # Candidate rows: every grid quarter up to the end date for quarterly filers, and every
    # fiscal year for all firms. ``slot`` is the quarter, or the fiscal year for annual rows.
    q_idx = np.flatnonzero(tl.quarter_ends <= tl.end)
    qf = np.repeat(np.flatnonzero(pop.quarterly_filer), q_idx.size)
    qq = np.tile(q_idx, int(pop.quarterly_filer.sum()))
    af = np.repeat(np.arange(n), tl.fiscal_years.size)
    ay = np.tile(np.arange(tl.fiscal_years.size), n)
    firm = np.concatenate([qf, af])
    annual = np.concatenate([np.zeros(qf.size, bool), np.ones(af.size, bool)])
    slot = np.concatenate([qq, ay])
    period = tl.quarter_ends[np.where(annual, fy_quarters[slot.clip(0, len(fy_quarters) - 1),
                                                          -1], slot)]
    lag = np.where(annual,
                   np.where(late[firm], rng.integers(95, 121, firm.size),
                            rng.integers(60, 121, firm.size)),
                   np.where(late[firm], rng.integers(35, 46, firm.size),
                            rng.integers(20, 46, firm.size)))
    published = period + lag.astype("timedelta64[D]")

    default = pop.default_date[firm]
    after_default = ~np.isnat(default) & (period > default) & stops_filing[firm]
    keep = (
        (published <= tl.end)
        & ~pop.no_statements[firm]
        & (period >= pop.founded_on[firm] + np.timedelta64(90, "D"))
        & ~after_default
    )
    ptype = np.where(annual, "annual", "quarterly").astype(object)
    order = np.lexsort((period[keep], ptype[keep], firm[keep]))
    sel = np.flatnonzero(keep)[order]
    f, a, sl = firm[sel], annual[sel], slot[sel]
    fy = sl.clip(0, len(fy_quarters) - 1)
    values: dict[str, Floats] = {}
    for k, v in fin.lines.items():
        if k not in LINES:
            continue
        if k in FLOW_LINES:
            yearly = v[:, fy_quarters].sum(axis=2)  # firms × fiscal years
            values[k] = np.where(a, yearly[f, fy], v[f, sl.clip(0, v.shape[1] - 1)])
        else:
            values[k] = v[f, np.where(a, fy_quarters[fy, -1], sl)]
    out: Columns = {"firm": f, "period_type": ptype[sel], "period_end": period[sel],
                    "published_on": published[sel]}
    out.update(_rounded_rows(values))
    return out
