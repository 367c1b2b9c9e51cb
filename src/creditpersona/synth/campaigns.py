"""Marketing campaigns: randomised contact, organic take-up and treatment uplift.

Six campaigns, one product each, run over the history. Each targets a sample of eligible
firms (relationship managers lean towards firms whose profile fits the product) and
randomly holds back about 20 % as a control group. Take-up within the campaign window is

    P(respond) = organic(need, size) + treated · uplift(need, persona, product),

so some firms respond whether contacted or not ("sure things": larger firms that need the
product) and others only when contacted ("persuadables": firms that need the product and
whose persona fits it). Responders take up an amount sized to the firm; the lending module
books the matching loans.
"""

from __future__ import annotations

import numpy as np

from creditpersona.contract.schema import CAMPAIGN_CHANNELS, PRODUCTS
from creditpersona.synth.financials import Columns
from creditpersona.synth.personas import INDEX, table
from creditpersona.synth.population import Population, choose

#: Campaign products in the order the campaigns run.
CAMPAIGN_PRODUCTS = ("tech_rnd", "supply_chain", "trade_finance", "green", "inclusive_small",
                     "working_capital")
#: Share of targeted firms assigned to the treatment group.
TREATED_SHARE = 0.8
#: Channel mix (in :data:`CAMPAIGN_CHANNELS` order) by size class, large → micro.
CHANNEL_MIX = np.array([
    [0.60, 0.25, 0.00, 0.10, 0.00, 0.05],
    [0.40, 0.30, 0.05, 0.15, 0.05, 0.05],
    [0.15, 0.30, 0.15, 0.15, 0.15, 0.10],
    [0.05, 0.20, 0.30, 0.10, 0.30, 0.05],
])


def typical_amount(pop: Population, product: str, firms: np.ndarray) -> np.ndarray:
    """A loan amount in yuan sized to each firm for ``product`` (rounded to 10,000)."""
    revenue = np.maximum(pop.revenue_anchor[firms], 0.5 * pop.assets_anchor[firms])
    assets = pop.assets_anchor[firms]
    base = {
        "project_finance": 0.25 * assets, "working_capital": 0.12 * revenue,
        "trade_finance": 0.08 * revenue, "equipment": 0.08 * assets,
        "tech_rnd": 0.15 * revenue, "supply_chain": 0.06 * revenue, "green": 0.15 * assets,
        "inclusive_small": np.minimum(0.15 * revenue, 1e7),
    }[product]
    return np.maximum(np.round(base / 1e4) * 1e4, 5e4)


def contacts(rng: np.random.Generator, pop: Population) -> Columns:
    """The ``campaign_contacts`` rows, plus the firm index and product index of each row.

    Firms are targeted as in the bank without an industry shock; ``kept`` is false for the
    contacts of firms the shock has already put in default at the campaign start (leave
    those rows out of the table; they all fall after the shock start).

    Returns
    -------
    dict
        Contract columns (``firm`` holds firm indices) in campaign order, then firm order,
        and ``kept``.
    """
    tl = pop.timeline
    span = (tl.end - tl.history_start).astype(np.int64)
    affinity = table("affinity")
    parts: dict[str, list[np.ndarray]] = {}
    for k, product in enumerate(CAMPAIGN_PRODUCTS):
        col = PRODUCTS.index(product)
        start = tl.history_start + np.timedelta64(int(span * (k + 0.4) / len(CAMPAIGN_PRODUCTS)),
                                                  "D")
        campaign_id = f"CMP{str(start.astype('datetime64[M]')).replace('-', '')}{k + 1:02d}"
        eligible = (pop.relationship_start <= start) & ~pop.calm_defaulted_by(start)
        if product == "inclusive_small":
            eligible &= pop.size_target >= 2
        fit = np.minimum(affinity[pop.persona, col], 2.5) / 2.5
        targeted = eligible & (rng.random(pop.n) < 0.05 + 0.25 * fit)
        firms = np.flatnonzero(targeted)
        m = firms.size
        treated = rng.random(m) < TREATED_SHARE
        need = pop.needs[firms, col]
        size = pop.size_target[firms]
        sure_thing = need & (size <= 1) & (rng.random(m) < 0.6)
        organic = np.where(sure_thing, 0.45, np.where(need, 0.04, 0.01))
        fits = affinity[pop.persona[firms], col] >= 1.5
        uplift = np.where(sure_thing, 0.0, np.where(need, np.where(fits, 0.40, 0.12), 0.01))
        distress_grab = (pop.persona[firms] == INDEX["leveraged_distressed"]) & (
            product == "working_capital")
        uplift = np.where(distress_grab, 0.45, uplift)
        responded = rng.random(m) < organic + treated * uplift
        contact = start + rng.integers(0, 31, m).astype("timedelta64[D]")
        contact = np.where(treated, contact, start)
        channel = np.asarray(CAMPAIGN_CHANNELS, dtype=object)[choose(rng, CHANNEL_MIX[size])]
        channel[~treated] = None
        amount = typical_amount(pop, product, firms) * rng.lognormal(0, 0.3, m)
        amount = np.where(responded, np.maximum(np.round(amount / 1e4) * 1e4, 1e4), 0.0)
        piece = {
            "campaign_id": np.full(m, campaign_id, dtype=object), "firm": firms,
            "product": np.full(m, product, dtype=object), "product_index": np.full(m, col),
            "channel": channel,
            "contact_date": contact, "treated": treated, "responded": responded,
            "amount_taken": amount, "kept": ~pop.defaulted_by(start)[firms],
        }
        for name, values in piece.items():
            parts.setdefault(name, []).append(np.asarray(values))
    return {name: np.concatenate(v) for name, v in parts.items()}
