"""The firms of the synthetic bank and their hidden truths.

A :class:`Population` holds, for every firm, the registry facts that go into the ``firms``
table and the hidden state the other tables are drawn from: persona, size anchors, growth,
the latent credit-risk path per quarter, the default hazard it implies, the default date
and the products the firm truly needs.

With an industry :class:`~creditpersona.synth.shock.Shock` the population also keeps the
*calm* risk path and default dates, those of the same bank without the shock. Every
component draws as many random numbers as it would in the calm bank (sizing its draws on
the calm values) and lets the shock act only from the shock start, so everything dated
before the shock is the same with or without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.contract.schema import OWNERSHIP, PRODUCTS
from creditpersona.domain import uscc
from creditpersona.domain.regions import DISTRICTS
from creditpersona.domain.size_class import SIZE_CLASSES, THRESHOLDS, miit_group
from creditpersona.errors import parameter_error
from creditpersona.synth import names
from creditpersona.synth.personas import (
    HAZARD_INTERCEPT,
    HAZARD_SLOPE,
    INDEX,
    PERSONAS,
    table,
)
from creditpersona.synth.shock import Shock
from creditpersona.synth.timeline import Days, Timeline

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Ownership mix (in :data:`OWNERSHIP` order) per persona.
OWNERSHIP_MIX = np.array([
    [0.06, 0.72, 0.08, 0.08, 0.02, 0.04],
    [0.03, 0.85, 0.05, 0.03, 0.00, 0.04],
    [0.05, 0.85, 0.02, 0.03, 0.02, 0.03],
    [0.04, 0.86, 0.03, 0.04, 0.01, 0.02],
    [0.35, 0.45, 0.03, 0.03, 0.02, 0.12],
    [0.00, 0.95, 0.00, 0.01, 0.04, 0.00],
])
#: Share of firms with no statements at all, and of start-ups with no revenue yet.
NO_STATEMENT_SHARE = 0.02
ZERO_REVENUE_SHARE = 0.01
#: Firms per relationship manager.
FIRMS_PER_RM = 40
_COASTAL = ("11", "12", "31", "32", "33", "35", "37", "44")


def choose(rng: np.random.Generator, weights: npt.ArrayLike) -> Ints:
    """One category per row of a (rows × categories) weight matrix, drawn in one pass.

    Examples
    --------
    >>> choose(np.random.default_rng(0), [[0, 1, 0], [1, 0, 0]]).tolist()
    [1, 0]
    """
    w = np.asarray(weights, dtype=float)
    cum = np.cumsum(w, axis=1)
    u = rng.random(w.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), w.shape[1] - 1).astype(np.int64)


def choose_grouped(
    rng: np.random.Generator, weights: npt.ArrayLike, groups: npt.ArrayLike
) -> Ints:
    """One category per row when rows share a few weight vectors: row ``i`` uses
    ``weights[groups[i]]``. Equivalent to ``choose(rng, weights[groups])`` but cheaper.

    Examples
    --------
    >>> choose_grouped(np.random.default_rng(0), [[0, 1], [1, 0]], [0, 1, 1]).tolist()
    [1, 0, 0]
    """
    w = np.asarray(weights, dtype=float)
    g = np.asarray(groups, dtype=np.int64)
    cum = np.cumsum(w, axis=1)
    u = rng.random(g.size)
    out = np.empty(g.size, dtype=np.int64)
    for k in np.unique(g):
        sel = g == k
        out[sel] = np.searchsorted(cum[k], u[sel] * cum[k, -1], side="right")
    return np.minimum(out, w.shape[1] - 1)


def sigmoid(x: npt.ArrayLike) -> Floats:
    """The logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float))), dtype=np.float64)


def unique_codes(rng: np.random.Generator, regions: npt.ArrayLike,
                 exclude: npt.ArrayLike = ()) -> npt.NDArray[np.str_]:
    """Valid USCCs for ``regions``, unique among themselves and absent from ``exclude``."""
    regions = np.asarray(regions, dtype=str)
    out = uscc.random_codes(rng, regions)
    taken = np.asarray(exclude, dtype=str)
    while True:
        _, first = np.unique(out, return_index=True)
        bad = np.ones(out.size, dtype=bool)
        bad[first] = False
        bad |= np.isin(out, taken)
        if not bad.any():
            return out
        out[bad] = uscc.random_codes(rng, regions[bad])


@dataclass
class Population:
    """Registry facts and hidden state of every firm (arrays aligned on the firm index).

    ``risk``, ``hazard``, ``cum_hazard`` and ``default_date`` include the industry shock, if
    any; ``calm_risk`` and ``calm_default_date`` are the same without it (the same arrays
    when there is no shock), ``shocked`` flags the firms of the shocked industry and
    ``shock_start`` is the first day of the shock (NaT without one).
    """

    timeline: Timeline
    persona: Ints
    firm_id: npt.NDArray[np.str_]
    name: npt.NDArray[np.object_]
    industry_code: npt.NDArray[np.object_]
    region_code: npt.NDArray[np.str_]
    city: npt.NDArray[np.object_]
    founded_on: Days
    employees: Ints
    registered_capital: Floats
    ownership: npt.NDArray[np.object_]
    listed: Bools
    relationship_start: Days
    rm_id: npt.NDArray[np.object_]
    size_target: Ints
    revenue_anchor: Floats
    assets_anchor: Floats
    growth: Floats
    concentrated: Bools
    zero_revenue: Bools
    no_statements: Bools
    quarterly_filer: Bools
    risk: Floats
    hazard: Floats
    knots: Days
    cum_hazard: Floats
    default_date: Days
    needs: Bools
    calm_risk: Floats
    calm_default_date: Days
    shocked: Bools
    shock_start: np.datetime64

    @property
    def n(self) -> int:
        """Number of firms."""
        return int(self.persona.size)

    @property
    def has_shock(self) -> bool:
        """Whether an industry shock is planted."""
        return not np.isnat(self.shock_start)

    @property
    def stop_date(self) -> Days:
        """Date a defaulting firm stops paying (90 days before it reaches 90+ DPD); NaT if never."""
        return self.default_date - np.timedelta64(90, "D")

    @property
    def calm_stop_date(self) -> Days:
        """:attr:`stop_date` of the bank without the shock."""
        return self.calm_default_date - np.timedelta64(90, "D")

    @property
    def moved_by_shock(self) -> Bools:
        """Firms whose default date the shock changed (brought forward, or created)."""
        same = (np.isnat(self.default_date) & np.isnat(self.calm_default_date)) | (
            self.default_date == self.calm_default_date)
        return np.asarray(~same)

    def defaulted_by(self, day: np.datetime64) -> Bools:
        """Whether each firm's default date is on or before ``day``."""
        return np.asarray(~np.isnat(self.default_date) & (self.default_date <= day))

    def calm_defaulted_by(self, day: np.datetime64) -> Bools:
        """:meth:`defaulted_by` in the bank without the shock."""
        return np.asarray(~np.isnat(self.calm_default_date) & (self.calm_default_date <= day))

    def before_shock(self, days: Days) -> Bools:
        """Whether each date falls before the shock start (all true without a shock)."""
        days = np.asarray(days, dtype="datetime64[D]")
        if not self.has_shock:
            return np.ones(days.shape, dtype=bool)
        return np.asarray(days < self.shock_start)

    def cumulative_hazard_at(self, day: np.datetime64) -> Floats:
        """Integrated default intensity from the history start to ``day`` (per firm)."""
        t = (day - self.knots[0]).astype(np.int64)
        k = (self.knots - self.knots[0]).astype(np.int64)
        if t <= 0:
            return np.zeros(self.n)
        j = int(np.clip(np.searchsorted(k, t, side="left"), 1, k.size - 1))
        rate = (self.cum_hazard[:, j] - self.cum_hazard[:, j - 1]) / (k[j] - k[j - 1])
        return np.asarray(self.cum_hazard[:, j - 1] + rate * min(t - k[j - 1], k[j] - k[j - 1]))

    def pd_between(self, start: np.datetime64, end: np.datetime64) -> Floats:
        """True probability of default in ``(start, end]`` given survival to ``start``."""
        delta = self.cumulative_hazard_at(end) - self.cumulative_hazard_at(start)
        return np.asarray(1.0 - np.exp(-delta))


def _size_anchors(
    rng: np.random.Generator, industry: npt.NDArray[np.object_], persona: Ints, size: Ints
) -> tuple[Floats, Floats, Floats]:
    """Employees, annual revenue and total assets (yuan) inside each firm's MIIT size band."""
    n = persona.size
    group_of = {c: miit_group(str(c)) for c in np.unique(industry)}
    groups = pd.Series(industry).map(group_of).to_numpy()
    rpe = table("revenue_per_employee")[persona] * rng.lognormal(0.0, 0.3, n)
    turnover = table("asset_turnover")[persona] * rng.lognormal(0.0, 0.25, n)
    position = rng.uniform(0.05, 0.95, n)
    values = {k: np.full(n, np.nan) for k in ("X", "Y", "Z")}
    for group, th in THRESHOLDS.items():
        for cls_index, cls in enumerate(SIZE_CLASSES):
            mask = (groups == group) & (size == cls_index)
            if not mask.any():
                continue
            for i, ind in enumerate(th.indicators):
                small, medium, large = th.small[i], th.medium[i], th.large[i]
                lo, hi = {"large": (large, large * 6), "medium": (medium, large),
                          "small": (small, medium), "micro": (small / 12, small)}[cls]
                unit = 1.0 if ind == "X" else 1e4
                u = np.clip(position[mask] + rng.normal(0, 0.1, mask.sum()), 0.03, 0.97)
                values[ind][mask] = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) * unit
    x, y, z = values["X"], values["Y"], values["Z"]
    y = np.where(np.isnan(y), x * rpe, y)
    x = np.where(np.isnan(x), y / rpe, x)
    z = np.where(np.isnan(z), y / turnover, z)
    return np.maximum(np.round(x), 1).astype(np.int64), y, z


def build_population(rng: np.random.Generator, n: int, timeline: Timeline,
                     shock: Shock | None = None, *, n_rms: int | None = None,
                     taken_codes: npt.ArrayLike = (), require_shocked: bool = True
                     ) -> Population:
    """Draw ``n`` firms: personas, registry facts, size, latent risk path and default dates.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream reserved for the population.
    n : int
        Number of firms.
    timeline : Timeline
        The bank's calendar; ``shock.from_quarter`` indexes its :attr:`~Timeline.reviews`.
    shock : Shock, optional
        Industry downturn: from the grid quarter holding the review date of
        ``shock.from_quarter`` on, ``shock.size`` is added to the latent risk of every firm
        whose industry code starts with ``shock.industry``. The default hazard takes the
        shift one quarter later: a firm the downturn pushes over the edge stops paying in a
        shocked quarter and reaches 90 days past due, its default date, in the next one.
        The random draws are the same with or without a shock.
    n_rms : int, optional
        Relationship managers to share the firms among (default: one per
        :data:`FIRMS_PER_RM` firms). A block of a larger bank passes the whole bank's.
    taken_codes : array-like of str
        USCCs the new firms must not take (those of earlier blocks of the same bank).
    require_shocked : bool, default True
        Raise when no firm is in the shock's industry; a block of a larger bank may have
        none (the whole bank is checked once every block is drawn).

    Returns
    -------
    Population

    Raises
    ------
    ConfigurationError
        If no firm's industry code starts with ``shock.industry`` and ``require_shocked``.
    """
    # The random draws are made in one fixed order (the helpers below, in turn): the same
    # seed gives the same bank.
    shares = table("share")
    persona = rng.choice(len(PERSONAS), size=n, p=shares / shares.sum()).astype(np.int64)
    size = choose(rng, table("size_mix")[persona])
    industry, region, city, firm_id = _place(rng, persona, taken_codes)
    scale = _scale(rng, industry, persona, size, timeline.end)
    registry = _registry(rng, persona, size, city, industry, scale["founded"], timeline.end,
                         max(1, -(-n // FIRMS_PER_RM)) if n_rms is None else n_rms)
    growth = rng.normal(table("growth_mean")[persona], table("growth_sd")[persona])
    concentrated = rng.random(n) < table("concentrated_share")[persona]
    quarterly = (rng.random(n) < table("quarterly_filer_share")[persona]) & (size < 3)
    paths = _risk_and_defaults(rng, persona, size, timeline, industry, shock, require_shocked)
    needs = _needs(rng, persona, size, industry, concentrated)
    return Population(
        timeline=timeline, persona=persona, firm_id=firm_id, name=registry["name"],
        industry_code=industry, region_code=region, city=city, founded_on=scale["founded"],
        employees=scale["employees"].astype(np.int64), registered_capital=scale["capital"],
        ownership=registry["ownership"], listed=registry["listed"],
        relationship_start=registry["relationship"],
        rm_id=registry["rm_id"].astype(object), size_target=size,
        revenue_anchor=scale["revenue"], assets_anchor=scale["assets"], growth=growth,
        concentrated=concentrated, zero_revenue=scale["zero_revenue"],
        no_statements=scale["no_statements"], quarterly_filer=quarterly, needs=needs, **paths,
    )


def _place(rng: np.random.Generator, persona: npt.NDArray[np.int64], taken: npt.ArrayLike
           ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """Industry by persona, district (coastal ones twice as likely), city and USCC."""
    n = persona.size
    industry = np.empty(n, dtype=object)
    for i, p in enumerate(PERSONAS):
        mask = persona == i
        codes = np.array([c for c, _ in p.industries], dtype=object)
        w = np.array([w for _, w in p.industries])
        industry[mask] = codes[rng.choice(codes.size, size=int(mask.sum()), p=w / w.sum())]
    districts = np.array(list(DISTRICTS), dtype=str)
    dw = np.where(np.isin(districts.astype("<U2"), _COASTAL), 2.0, 1.0)
    district_city = np.array([DISTRICTS[d] for d in districts], dtype=object)
    where = rng.choice(districts.size, size=n, p=dw / dw.sum())
    region, city = districts[where], district_city[where]
    return industry, region, city, unique_codes(rng, region, taken)


def _scale(rng: np.random.Generator, industry: npt.NDArray[Any],
           persona: npt.NDArray[np.int64], size: npt.NDArray[np.int64],
           end: np.datetime64) -> dict[str, npt.NDArray[Any]]:
    """Employees, revenue, assets, age and registered capital (start-ups without revenue)."""
    n = persona.size
    employees, revenue, assets = _size_anchors(rng, industry, persona, size)
    zero_revenue = rng.random(n) < ZERO_REVENUE_SHARE
    no_statements = rng.random(n) < NO_STATEMENT_SHARE
    lo, hi = table("age_years")[persona].T
    age_days = rng.uniform(lo, hi) * 365.25
    age_days = np.where(zero_revenue, rng.uniform(300, 720, n), age_days)
    founded = end - age_days.astype("timedelta64[D]")
    capital = np.maximum(np.round(assets * rng.uniform(0.05, 0.4, n) / 1e5) * 1e5, 1e5)
    capital = np.where(zero_revenue, np.round(rng.uniform(1e5, 5e6, n) / 1e5) * 1e5, capital)
    assets = np.where(zero_revenue, capital * rng.uniform(0.5, 1.5, n), assets)
    return {"employees": np.where(zero_revenue, rng.integers(3, 15, n), employees),
            "revenue": np.where(zero_revenue, 0.0, revenue), "assets": assets,
            "zero_revenue": zero_revenue, "no_statements": no_statements,
            "founded": founded, "capital": capital}


def _registry(rng: np.random.Generator, persona: npt.NDArray[np.int64],
              size: npt.NDArray[np.int64], city: npt.NDArray[Any], industry: npt.NDArray[Any],
              founded: npt.NDArray[np.datetime64], end: np.datetime64, n_rm: int
              ) -> dict[str, npt.NDArray[Any]]:
    """Ownership, listing, name, start of the relationship with the bank and the RM."""
    n = persona.size
    ownership = np.asarray(OWNERSHIP, dtype=object)[choose(rng, OWNERSHIP_MIX[persona])]
    listed = rng.random(n) < np.array([0.35, 0.05, 0.003, 0.0])[size]
    joint_stock = listed | ((size == 0) & (rng.random(n) < 0.4))
    name = names.firm_names(rng, city, industry, joint_stock)
    room = np.maximum((end - np.timedelta64(30, "D") - founded).astype(np.int64), 0)
    gap = np.minimum(rng.exponential(7 * 365.25, n), room).astype(np.int64)
    relationship = end - np.timedelta64(30, "D") - gap.astype("timedelta64[D]")
    relationship = np.maximum(relationship, founded)
    width = max(4, len(str(n_rm)))
    rm_id = np.char.add("RM", np.char.zfill(rng.integers(1, n_rm + 1, n).astype(str), width))
    return {"ownership": ownership, "listed": listed, "name": name,
            "relationship": relationship, "rm_id": rm_id}


def _risk_and_defaults(rng: np.random.Generator, persona: npt.NDArray[np.int64],
                       size: npt.NDArray[np.int64], timeline: Timeline,
                       industry: npt.NDArray[Any], shock: Shock | None,
                       require_shocked: bool = True) -> dict[str, Any]:
    """Latent risk paths, hazards and default dates, with and without the shock."""
    n = persona.size
    risk, hazard = _risk_paths(rng, persona, size, timeline)
    patience = np.asarray(rng.exponential(1.0, n))
    knots, cum, default_date = _default_times(patience, hazard, timeline)
    calm_risk, calm_default = risk, default_date
    shocked = np.zeros(n, dtype=bool)
    shock_start = np.datetime64("NaT", "D")
    if shock is not None:
        shocked = _in_industry(industry, shock.industry, require_shocked)
        q = int(timeline.quarter_index(timeline.reviews[[shock.from_quarter - 1]])[0])
        shock_start = timeline.quarter_starts()[q]
        grid = np.arange(timeline.quarter_ends.size)
        shift = float(shock.size) * shocked[:, None]
        risk = calm_risk + shift * (grid >= q)[None, :]
        hazard = _hazard(persona, calm_risk + shift * (grid > q)[None, :])
        knots, cum, default_date = _default_times(patience, hazard, timeline)
    return {"risk": risk, "hazard": hazard, "knots": knots, "cum_hazard": cum,
            "default_date": default_date, "calm_risk": calm_risk,
            "calm_default_date": calm_default, "shocked": shocked, "shock_start": shock_start}


def _in_industry(industry: npt.NDArray[np.object_], prefix: str, required: bool = True
                 ) -> Bools:
    """Firms whose industry code starts with ``prefix``; an error when there are none and
    ``required``."""
    codes = np.asarray(industry, dtype=str)
    hit = np.char.startswith(codes, prefix)
    if required and not hit.any():
        counts = pd.Series(codes.astype("<U1")).value_counts()
        sections = ", ".join(f"{s} {c}" for s, c in sorted(counts.items()))
        division = pd.Series(codes.astype("<U3")).value_counts().index[0]
        raise parameter_error(
            "shock", "generate_bank",
            f"a Shock whose industry matches the start of some firm's industry_code (none "
            f"starts with {prefix!r}; sections present, with their firms: {sections}); pass "
            f"a section letter or a division such as Shock(industry={division!r}, ...)", prefix)
    return np.asarray(hit)


def _hazard(persona: Ints, risk: Floats) -> Floats:
    """The quarterly default hazard implied by the latent risk."""
    offset = table("hazard_offset")[persona]
    return sigmoid(HAZARD_INTERCEPT + offset[:, None] + HAZARD_SLOPE * risk)


def _risk_paths(
    rng: np.random.Generator, persona: Ints, size: Ints, timeline: Timeline
) -> tuple[Floats, Floats]:
    """Latent risk ``r`` per firm and grid quarter, and the quarterly default hazard."""
    n, nq = persona.size, timeline.quarter_ends.size
    r0 = rng.normal(table("risk_mean")[persona], table("risk_sd")[persona])
    r0 += np.array([-0.35, -0.15, 0.0, 0.2])[size]
    drift = rng.normal(table("drift_mean")[persona], table("drift_sd")[persona])
    t = (timeline.quarter_ends - timeline.history_start).astype(np.int64) / 365.25
    noise = np.empty((n, nq))
    noise[:, 0] = rng.normal(0, 0.2, n)
    for q in range(1, nq):
        noise[:, q] = 0.85 * noise[:, q - 1] + rng.normal(0, 0.15, n)
    risk = r0[:, None] + drift[:, None] * np.maximum(t, -0.5)[None, :] + noise
    return risk, _hazard(persona, risk)


def _default_times(
    patience: Floats, hazard: Floats, timeline: Timeline
) -> tuple[Days, Floats, Days]:
    """Default dates from the piecewise-constant default intensity.

    Within each quarter the intensity is constant, chosen so the quarter's default
    probability equals its hazard; before the history starts it is zero. A firm defaults
    when its cumulative intensity reaches its ``patience`` (a unit exponential draw), so
    raising the hazard from some quarter on leaves earlier default dates unchanged. Returns
    the knots (history start, then every later quarter end), the cumulative intensity at
    each knot and the default date (NaT when the firm survives the whole grid).
    """
    qe = timeline.quarter_ends
    later = qe > timeline.history_start
    knots = np.concatenate([[timeline.history_start], qe[later]])
    starts = timeline.quarter_starts()[later]
    qlen = (qe[later] - starts).astype(np.int64) + 1
    intensity = -np.log1p(-hazard[:, later]) / qlen  # per day
    span = np.diff(knots).astype(np.int64)
    cum = np.concatenate([np.zeros((hazard.shape[0], 1)), np.cumsum(intensity * span, axis=1)],
                         axis=1)
    k = (cum < patience[:, None]).sum(axis=1)  # first knot index with cum >= patience
    hit = k < knots.size
    k_safe = np.clip(k, 1, knots.size - 1)
    rows = np.arange(hazard.shape[0])
    before = cum[rows, k_safe - 1]
    rate = intensity[rows, k_safe - 1]
    offset = np.ceil((patience - before) / np.where(rate > 0, rate, 1.0))
    offset = np.clip(offset, 1, span[k_safe - 1])
    day = knots[k_safe - 1] + offset.astype("timedelta64[D]")
    default_date = np.where(hit, day, np.datetime64("NaT", "D"))
    return knots, cum, default_date


def _needs(
    rng: np.random.Generator, persona: Ints, size: Ints, industry: npt.NDArray[np.object_],
    concentrated: Bools,
) -> Bools:
    """True product needs (firms × :data:`PRODUCTS`)."""
    p = table("needs")[persona].copy()
    section = np.asarray(industry, dtype=str).astype("<U1")
    col = {name: i for i, name in enumerate(PRODUCTS)}
    green_sector = np.isin(section, ("D", "N"))
    p[green_sector, col["green"]] = 0.85
    manuf = persona == INDEX["stable_manufacturer"]
    p[manuf & concentrated, col["supply_chain"]] = 0.85
    p[manuf & ~concentrated, col["supply_chain"]] = 0.08
    p[:, col["inclusive_small"]] = np.where(
        size >= 2, np.maximum(p[:, col["inclusive_small"]], 0.4), np.where(size == 1, 0.02, 0.0)
    )
    return np.asarray(rng.random(p.shape) < p)
