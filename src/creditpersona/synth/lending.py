"""Loans and their repayment schedules and history.

Organic loans follow each firm's true needs and persona (see :data:`PRODUCT_TERMS` and the
persona ``affinity``); campaign responders add loans of the campaign's product. Repayment
behaviour per instalment depends on the persona, the product, the purpose, the season and
the firm's latent risk at the due date; a defaulting firm stops paying 90 days before its
default date. Only instalments due on or before the end date are written. Rates float on the
one LPR table (:mod:`creditpersona.domain.lpr`): an instalment's interest is at the LPR in
force on its due date plus the loan's spread.

With an industry shock, loans and instalments are drawn as in the bank without it; loans
the shock prevents (starting after the shock start, within 30 days of the firm's new stop
date) are marked not ``booked`` and left out with their instalments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from creditpersona.contract.schema import COLLATERAL, GUARANTEE, PRODUCTS, PURPOSES
from creditpersona.domain.lpr import load_lpr
from creditpersona.synth.campaigns import typical_amount
from creditpersona.synth.financials import Columns
from creditpersona.synth.personas import INDEX, table
from creditpersona.synth.population import Population, choose, sigmoid
from creditpersona.synth.timeline import add_months

#: Possible terms in months per product.
PRODUCT_TERMS: dict[str, tuple[int, ...]] = {
    "project_finance": (60, 96, 120, 180), "working_capital": (6, 12, 12, 24, 36),
    "trade_finance": (3, 6, 6, 12), "equipment": (24, 36, 60), "tech_rnd": (12, 24, 36),
    "supply_chain": (3, 6, 12), "green": (36, 60, 96, 120),
    "inclusive_small": (6, 12, 12, 24, 36),
}
#: Spread over LPR in basis points before risk and size adjustments.
BASE_SPREAD_BP: dict[str, float] = {
    "project_finance": 60, "working_capital": 80, "trade_finance": 50, "equipment": 70,
    "tech_rnd": 30, "supply_chain": 40, "green": 20, "inclusive_small": -20,
}
#: Share of loans of each product repaid quarterly (the rest monthly).
QUARTERLY_SHARE: dict[str, float] = {
    "project_finance": 0.95, "green": 0.5, "equipment": 0.3,
}
#: Products repaid interest-only with the principal at maturity (先息后本).
BULLET = ("working_capital", "trade_finance", "supply_chain")


def _mix(spec: dict[str, dict[str, float]], labels: tuple[str, ...]) -> npt.NDArray[np.float64]:
    return np.array([[spec[p].get(label, 0.0) for label in labels] for p in PRODUCTS])


COLLATERAL_MIX = _mix({
    "project_finance": {"land_use_right": .45, "real_estate": .2, "equity_pledge": .2,
                        "receivables": .15},
    "working_capital": {"real_estate": .4, "none": .3, "receivables": .15, "inventory": .1,
                        "deposit": .05},
    "trade_finance": {"receivables": .35, "deposit": .3, "inventory": .3, "none": .05},
    "equipment": {"equipment": .85, "real_estate": .15},
    "tech_rnd": {"none": .6, "equity_pledge": .3, "receivables": .1},
    "supply_chain": {"receivables": .8, "inventory": .2},
    "green": {"equipment": .4, "receivables": .35, "land_use_right": .25},
    "inclusive_small": {"none": .5, "real_estate": .4, "deposit": .1},
}, COLLATERAL)
GUARANTEE_MIX = _mix({
    "project_finance": {"corporate": .5, "none": .3, "government_fund": .2},
    "working_capital": {"none": .35, "corporate": .4, "personal": .2, "guarantee_company": .05},
    "trade_finance": {"none": .6, "corporate": .4},
    "equipment": {"none": .5, "corporate": .4, "personal": .1},
    "tech_rnd": {"guarantee_company": .4, "government_fund": .3, "personal": .2, "none": .1},
    "supply_chain": {"corporate": .6, "none": .4},
    "green": {"none": .5, "corporate": .3, "government_fund": .2},
    "inclusive_small": {"personal": .6, "guarantee_company": .3, "government_fund": .1},
}, GUARANTEE)
PURPOSE_MIX = _mix({
    "project_finance": {"construction": 1},
    "working_capital": {"raw_materials": .4, "payroll": .2, "inventory": .3, "other": .1},
    "trade_finance": {"trade_settlement": .85, "inventory": .15},
    "equipment": {"equipment_purchase": 1},
    "tech_rnd": {"rnd": .9, "equipment_purchase": .1},
    "supply_chain": {"raw_materials": .6, "inventory": .4},
    "green": {"construction": .5, "equipment_purchase": .5},
    "inclusive_small": {"raw_materials": .3, "inventory": .3, "payroll": .2, "other": .2},
}, PURPOSES)
_SHORT_TERM = np.isin(np.asarray(PRODUCTS), ("working_capital", "trade_finance",
                                              "supply_chain", "inclusive_small"))


def loans(rng: np.random.Generator, pop: Population, campaign: Columns, *,
          first_id: int = 1) -> Columns:
    """The ``loans`` rows: organic loans plus the loans booked by campaign responders.

    ``first_id`` is the number of the first ``loan_id`` (a block of a larger bank continues
    the numbering of the blocks before it).

    Returns
    -------
    dict
        Contract columns (``firm`` holds firm indices, ``product_index`` the product) sorted
        by start date, with ``loan_id`` assigned in that order, and ``booked`` (false for
        the loans an industry shock prevents: write only the booked ones).
    """
    # The random draws are made in one fixed order (organic loans, campaign loans, terms):
    # the same seed gives the same bank.
    firm, product, start, amount, booked = _organic_and_campaign(rng, pop, campaign)
    terms = _terms(rng, pop, firm, product, start)
    order = np.lexsort((firm, start))
    last = first_id + firm.size - 1
    numbers = np.arange(first_id, last + 1).astype(str)
    out: Columns = {
        "loan_id": np.char.add("L", np.char.zfill(numbers, max(8, len(str(last))))),
        "firm": firm[order], "product": np.asarray(PRODUCTS, dtype=object)[product[order]],
        "purpose": np.asarray(PURPOSES, dtype=object)[terms["purpose"][order]],
        "amount": amount[order], "lpr_tenor": terms["lpr_tenor"][order],
        "spread_bp": terms["spread"][order].astype(float),
        "term_months": terms["term"][order].astype(np.int64), "start_date": start[order],
        "maturity_date": terms["maturity"][order],
        "collateral_type": terms["collateral"][order],
        "guarantee_type": terms["guarantee"][order], "product_index": product[order],
        "booked": booked[order],
    }
    return out


def _organic_and_campaign(rng: np.random.Generator, pop: Population, campaign: Columns
                          ) -> tuple[npt.NDArray[Any], ...]:
    """Firm, product index, start, amount and ``booked`` of organic and campaign loans."""
    tl = pop.timeline
    n = pop.n
    count = rng.poisson(table("loans_per_firm")[pop.persona])
    firm = np.repeat(np.arange(n), count)
    m = firm.size
    persona = pop.persona[firm]

    weights = pop.needs[firm] * table("affinity")[persona] + 0.01
    manuf_concentrated = (persona == INDEX["stable_manufacturer"]) & pop.concentrated[firm]
    weights[:, PRODUCTS.index("supply_chain")] *= np.where(manuf_concentrated, 4.0, 1.0)
    large = pop.size_target[firm] <= 1
    weights[:, PRODUCTS.index("inclusive_small")] *= np.where(large, 0.0, 1.0)
    product = choose(rng, weights)

    lo = np.maximum(pop.relationship_start[firm], tl.history_start - np.timedelta64(365, "D"))
    hi = _last_start(pop.calm_stop_date[firm], tl.end)
    width = (hi - lo).astype(np.int64)
    ok = width > 0
    start = lo + (rng.random(m) * np.maximum(width, 0)).astype("timedelta64[D]")
    amount = np.empty(m)
    for k, name in enumerate(PRODUCTS):
        sel = product == k
        amount[sel] = typical_amount(pop, name, firm[sel])
    amount = np.maximum(np.round(amount * rng.lognormal(0, 0.35, m) / 1e4) * 1e4, 5e4)

    camp_firm = campaign["firm"][campaign["responded"]]
    camp_product = campaign["product_index"][campaign["responded"]]
    camp_start = campaign["contact_date"][campaign["responded"]] + rng.integers(
        5, 41, camp_firm.size).astype("timedelta64[D]")
    camp_stop = pop.calm_stop_date[camp_firm]
    camp_ok = (camp_start <= tl.end - np.timedelta64(10, "D")) & (
        np.isnat(camp_stop) | (camp_start < camp_stop - np.timedelta64(20, "D")))
    camp_amount = campaign["amount_taken"][campaign["responded"]]

    # Every later draw is sized on the loans of the bank without a shock; a loan the shock
    # prevents is not booked, unless it started before the shock (no one saw it coming).
    stop, cf = pop.stop_date, camp_firm[camp_ok]
    booked = np.concatenate([
        start[ok] < _last_start(stop[firm[ok]], tl.end),
        np.isnat(stop[cf]) | (camp_start[camp_ok] < stop[cf] - np.timedelta64(20, "D")),
    ]) | pop.before_shock(np.concatenate([start[ok], camp_start[camp_ok]]))
    return (np.concatenate([firm[ok], camp_firm[camp_ok]]),
            np.concatenate([product[ok], camp_product[camp_ok]]).astype(np.int64),
            np.concatenate([start[ok], camp_start[camp_ok]]),
            np.concatenate([amount[ok], camp_amount[camp_ok]]), booked)


def _terms(rng: np.random.Generator, pop: Population, firm: npt.NDArray[Any],
           product: npt.NDArray[np.int64], start: npt.NDArray[np.datetime64]) -> Columns:
    """Term, maturity, LPR tenor, spread, collateral, guarantee and purpose of each loan."""
    m = firm.size
    persona = pop.persona[firm]
    q_start = np.clip(pop.timeline.quarter_index(start), 0, pop.timeline.quarter_ends.size - 1)
    risk = pop.risk[firm, q_start]
    terms = np.array([PRODUCT_TERMS[p] + (0,) * (5 - len(PRODUCT_TERMS[p])) for p in PRODUCTS])
    n_terms = np.array([len(PRODUCT_TERMS[p]) for p in PRODUCTS])
    term = terms[product, (rng.random(m) * n_terms[product]).astype(np.int64)]
    size_adj = np.array([-30.0, 0.0, 30.0, 60.0])[pop.size_target[firm]]
    base = np.array([BASE_SPREAD_BP[p] for p in PRODUCTS])[product]
    spread = np.clip(np.round(base + 70.0 * risk + size_adj + rng.normal(0, 20, m)), -150, 800)

    collateral = np.asarray(COLLATERAL, dtype=object)[choose(rng, COLLATERAL_MIX[product])]
    guarantee = np.asarray(GUARANTEE, dtype=object)[choose(rng, GUARANTEE_MIX[product])]
    distressed = persona == INDEX["leveraged_distressed"]
    guarantee = np.where(distressed & (rng.random(m) < 0.4), "corporate", guarantee)
    purpose = choose(rng, PURPOSE_MIX[product])
    p_refi = np.where(distressed & _SHORT_TERM[product], 0.55,
                      0.5 * sigmoid(2.0 * (risk - 2.0)) * _SHORT_TERM[product])
    purpose = np.where(rng.random(m) < p_refi, PURPOSES.index("refinancing"), purpose)
    return {"term": term, "maturity": add_months(start, term),
            "lpr_tenor": load_lpr().tenor(term), "spread": spread, "collateral": collateral,
            "guarantee": guarantee, "purpose": purpose}


def _last_start(stop: npt.NDArray[np.datetime64],
                end: np.datetime64) -> npt.NDArray[np.datetime64]:
    """Day before which an organic loan starts: 10 days before the end date, 30 before a stop."""
    hi = np.where(np.isnat(stop), end, np.minimum(end, stop - np.timedelta64(20, "D")))
    return np.asarray(hi - np.timedelta64(10, "D"))


def repayments(rng: np.random.Generator, pop: Population, loan: Columns) -> Columns:
    """The ``repayments`` rows: every instalment due on or before the end date.

    Instalments are monthly or quarterly; bullet products pay interest each period and the
    principal at maturity, the others amortise equal principal. ``paid_date`` is empty while
    an instalment is unpaid at the end date (``amount_paid`` then holds any partial payment).

    Returns
    -------
    dict
        Contract columns sorted by loan and due date, for the booked loans only.
    """
    tl = pop.timeline
    product = loan["product_index"]
    nl = product.size
    quarterly_share = np.array([QUARTERLY_SHARE.get(p, 0.0) for p in PRODUCTS])[product]
    period = np.where(rng.random(nl) < quarterly_share, 3, 1)
    term = loan["term_months"]
    period = np.where(term % period == 0, period, 1)
    n_inst = term // period
    li = np.repeat(np.arange(nl), n_inst)
    k = np.arange(li.size) - np.repeat(np.cumsum(n_inst) - n_inst, n_inst) + 1
    due = add_months(loan["start_date"][li], k * period[li])
    keep = due <= tl.end
    li, k, due = li[keep], k[keep], due[keep]

    # Floating rate: each instalment's interest is at the LPR in force on its due date.
    rate = load_lpr().rate(loan["lpr_tenor"][li], due) + loan["spread_bp"][li] / 1e4
    amount = loan["amount"][li]
    n_total = n_inst[li]
    bullet = np.isin(np.asarray(PRODUCTS)[product[li]], BULLET)
    outstanding = np.where(bullet, amount, amount * (1.0 - (k - 1) / n_total))
    principal = np.where(bullet, np.where(k == n_total, amount, 0.0), amount / n_total)
    interest = outstanding * rate * period[li] / 12.0
    amount_due = np.round(principal + interest, 2)

    firm = loan["firm"][li]
    persona = pop.persona[firm]
    q_due = np.clip(tl.quarter_index(due), 0, tl.quarter_ends.size - 1)
    risk = pop.risk[firm, q_due]
    name = np.asarray(PRODUCTS)[product[li]]
    month = due.astype("datetime64[M]").astype(np.int64) % 12 + 1
    refinancing = loan["purpose"][li] == "refinancing"

    p_early = np.where((persona == INDEX["growth_tech"]) & (name == "tech_rnd"), 0.65, 0.04)
    p_late = sigmoid(-3.6 + 0.9 * risk)
    trade_q1 = (persona == INDEX["trading_turnover"]) & (name == "trade_finance") & (month <= 3)
    p_late = np.where(trade_q1, np.maximum(p_late, 0.6), p_late)
    p_late = np.where(refinancing, np.minimum(p_late + 0.4, 0.95), p_late)
    p_late = np.where(persona == INDEX["leveraged_distressed"], p_late + 0.08, p_late)
    u = rng.random(li.size)
    late = u < p_late
    early = ~late & (u < p_late + p_early)
    days_late = np.where(trade_q1, rng.integers(8, 36, li.size),
                         np.where(refinancing, rng.integers(10, 61, li.size),
                                  rng.integers(1, 16, li.size)))
    offset = np.where(late, days_late, np.where(early, -rng.integers(3, 26, li.size), 0))
    paid = due + offset.astype("timedelta64[D]")
    paid = np.maximum(paid, loan["start_date"][li] + np.timedelta64(1, "D"))

    stop = pop.stop_date[firm]
    unpaid = (~np.isnat(stop) & (due >= stop)) | (paid > tl.end)
    partial = unpaid & (rng.random(li.size) < 0.3)
    amount_paid = np.where(unpaid, np.where(partial, np.round(
        amount_due * rng.uniform(0.1, 0.6, li.size), 2), 0.0), amount_due)
    paid_date = np.where(unpaid, np.datetime64("NaT", "D"), paid)
    out: Columns = {
        "loan_id": loan["loan_id"][li], "due_date": due, "amount_due": amount_due,
        "paid_date": paid_date, "amount_paid": amount_paid,
    }
    booked = loan["booked"][li]
    return out if booked.all() else {k: v[booked] for k, v in out.items()}
