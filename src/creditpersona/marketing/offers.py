"""Next-best offer (下一最佳产品推荐): which product to offer each firm in one campaign.

The plan maximises the expected value of the offers made,

    maximise  Σ_ij x_ij · v_ij,   v_ij = P(accept_ij | offered) · value_ij − contact cost_i

over x_ij ∈ {0, 1} (offer product j to firm i), subject to

- at most one offer per firm and campaign (Σ_j x_ij ≤ 1), only eligible pairs, v_ij > 0;
- contact capacity: per relationship manager (offers on channels that take the RM's time)
  and per channel;
- risk appetite: limits offered (the full limit, as if accepted) per industry section, per
  product and per group of weaker grades, each at most its cap (the catalogue's shares of
  the campaign's exposure budget).

Methods (``method=``; ``"auto"`` runs the Lagrangian method and, when its certified gap is
above ``tol`` on a plan of at most ``MILP_MAX_CANDIDATES`` pairs, the MILP too):

``"milp"``
    The integer programme solved by HiGHS (:func:`scipy.optimize.milp`) to a relative gap
    of 1e-4 or the time limit. ``bound`` is HiGHS's dual bound. Capacities on limits make it
    a multi-dimensional knapsack: HiGHS finds the optimum fast but can take long to prove it.
``"lagrangian"``
    For large plans (a million firms × eight products). The capacity constraints of channels,
    sections, products and grades are moved into the objective with multipliers λ ≥ 0
    (Lagrangian relaxation); what remains — one offer per firm and the RM capacities — is
    solved exactly for any λ: every firm takes its best penalised offer and every RM keeps
    its best firms up to capacity. That relaxed problem has integral LP solutions (one
    choice per firm, nested in one RM each), so the best Lagrangian bound equals the LP
    relaxation bound. λ follows projected subgradient steps with Polyak step sizes. Every
    few iterations a feasible plan is built from the penalised values by the allocation
    below, and the best is kept. ``bound`` is the smallest Lagrangian bound found, so
    ``gap = (bound − objective) / bound`` certifies how far the plan can be from the optimum.
``"greedy"``
    The baseline: candidate pairs by expected value, highest first, each firm's best pair
    that still fits every capacity. Reported for comparison; never used by ``"auto"``.

The allocation (used by ``"lagrangian"`` to build plans and by ``"greedy"``) is vectorised:
in rounds, every unassigned firm proposes its best remaining pair; pairs are ranked by
score, running usage of every capacity group is computed in that order, the pairs ahead of
the first pair that would overflow a group are accepted, the overflowing pairs are
dropped, and the rest propose again in the next round; a final pass retries dropped pairs
against the capacity left. Every accepted pair fits all capacities given the pairs accepted
before it, so the plan is always feasible.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from creditpersona import artefacts
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.marketing.catalogue import Catalogue, RiskAppetite, load_catalogue
from creditpersona.marketing.routing import ChannelConfig, load_channels

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Method = Literal["auto", "milp", "lagrangian", "greedy"]
METHODS = ("auto", "milp", "lagrangian", "greedy")
#: Largest number of candidate pairs ``"auto"`` solves exactly as a MILP.
MILP_MAX_CANDIDATES = 20_000
REQUIRED = ("firm_id", "product", "expected_value")
_TOL = 1e-9


@dataclass(frozen=True)
class Family:
    """One family of capacity constraints: a group per candidate pair, a weight, a cap.

    ``by_product``: the group is the product's (one per column); otherwise the firm's.
    ``weight``: ``"limit"`` (the pair's limit), or ``"firm"`` (a 0/1 weight per firm).
    Group code −1 means the pair is in no group of this family.
    """

    name: str
    groups: Ints
    caps: Floats
    labels: tuple[str, ...]
    weight: Literal["limit", "firm"]
    firm_weight: Floats | None = None
    by_product: bool = False

    def pair_groups(self, firm: Ints, product: Ints) -> Ints:
        """The group of each (firm, product) pair."""
        return self.groups[product] if self.by_product else self.groups[firm]

    def pair_weights(self, firm: Ints, product: Ints, limit: Floats) -> Floats:
        """The weight of each (firm, product) pair."""
        if self.weight == "limit":
            return limit[firm, product]
        assert self.firm_weight is not None
        return self.firm_weight[firm]


@dataclass(frozen=True)
class OfferProblem:
    """The planning problem in dense form: n firms × m products."""

    firm_ids: npt.NDArray[np.object_]
    products: tuple[str, ...]
    value: Floats          # n × m expected value; -inf where not a candidate
    limit: Floats          # n × m limit offered (yuan)
    families: tuple[Family, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """(firms, products)."""
        n, m = self.value.shape
        return int(n), int(m)

    @property
    def candidates(self) -> int:
        """Pairs that may be offered (eligible, positive value)."""
        return int(np.isfinite(self.value).sum())

    def objective(self, choice: Ints) -> float:
        """Total expected value of a plan (choice[i] = product index or −1)."""
        rows = np.flatnonzero(choice >= 0)
        return float(self.value[rows, choice[rows]].sum())

    def usage(self, choice: Ints) -> pd.DataFrame:
        """Used capacity per family and group: ``family, group, used, cap``."""
        rows = np.flatnonzero(choice >= 0)
        cols = choice[rows]
        parts = []
        for fam in self.families:
            g = fam.pair_groups(rows, cols)
            w = fam.pair_weights(rows, cols, self.limit)
            keep = g >= 0
            used = np.bincount(g[keep], weights=w[keep], minlength=fam.caps.size)
            parts.append(pd.DataFrame({"family": fam.name, "group": list(fam.labels),
                                       "used": used, "cap": fam.caps}))
        if not parts:
            return pd.DataFrame(columns=["family", "group", "used", "cap"])
        return pd.concat(parts, ignore_index=True)

    def violations(self, choice: Ints) -> list[str]:
        """Every broken rule of a plan, in words (empty when the plan is feasible)."""
        out = []
        rows = np.flatnonzero(choice >= 0)
        bad = ~np.isfinite(self.value[rows, choice[rows]])
        for i in rows[bad][:10]:
            out.append(f"firm {self.firm_ids[i]}: {self.products[choice[i]]} is not a "
                       "candidate (ineligible or without value)")
        usage = self.usage(choice)
        over = usage[usage["used"] > usage["cap"] * (1 + 1e-9) + 1e-6]
        for r in over.itertuples():
            out.append(f"{r.family} {r.group}: {r.used:,.2f} used of {r.cap:,.2f}")
        return out


@artefacts.trusted("offer_plan")
@dataclass(frozen=True)
class OfferPlan:
    """A solved plan.

    Attributes
    ----------
    offers : pandas.DataFrame
        The candidate rows chosen (one per firm offered), with all their columns.
    objective : float
        Total expected value (yuan).
    bound : float
        Upper bound on the optimum (NaN for greedy).
    gap : float
        ``(bound − objective) / |bound|``; NaN without a bound.
    method : str
    seconds : float
    iterations : int
        Subgradient iterations (``"lagrangian"``), else 0.
    usage : pandas.DataFrame
        ``family, group, used, cap`` of every capacity group.
    """

    offers: pd.DataFrame
    objective: float
    bound: float
    gap: float
    method: str
    seconds: float
    iterations: int
    usage: pd.DataFrame = field(repr=False)


# -- building the problem -------------------------------------------------------------------
def build_problem(
    candidates: pd.DataFrame,
    *,
    catalogue: Catalogue | None = None,
    channels: ChannelConfig | None = None,
    rm_capacity: int | None = None,
    channel_capacity: Mapping[str, float] | None = None,
    exposure_budget: float | None = None,
) -> OfferProblem:
    """The dense planning problem of a candidate table.

    Parameters
    ----------
    candidates : pandas.DataFrame
        One row per eligible (firm, product) pair: ``firm_id``, ``product``,
        ``expected_value`` (yuan) and optionally ``limit`` (yuan; 0 if absent), ``rm_id``,
        ``channel``, ``uses_rm`` (default: the channel's), ``industry_section`` and ``grade``
        (per firm). Pairs with non-positive or missing value are never offered.
    catalogue, channels : optional
        Risk appetite and contact configuration; default the packaged ones.
    rm_capacity : int, optional
        Contacts per RM; default the channel configuration's.
    channel_capacity : mapping, optional
        Contacts per channel; default each channel's ``capacity_share`` × firms.
    exposure_budget : float, optional
        Default the risk appetite's.

    Raises
    ------
    SchemaError
        If a required column is missing or a firm has one product twice.
    """
    missing = [c for c in REQUIRED if c not in candidates.columns]
    if missing:
        raise SchemaError(f"offer candidates lack the columns {missing}; each row needs "
                          "firm_id, product and expected_value.")
    cat = catalogue or load_catalogue()
    chn = channels or load_channels()
    ra = cat.risk_appetite
    budget = float(exposure_budget if exposure_budget is not None else ra.exposure_budget)
    if not budget > 0:
        raise parameter_error("exposure_budget", "build_problem", "a positive amount",
                              exposure_budget)
    rm_cap = chn.rm_capacity if rm_capacity is None else rm_capacity
    if not isinstance(rm_cap, int | np.integer) or rm_cap < 0:
        raise parameter_error("rm_capacity", "build_problem", "an int ≥ 0", rm_capacity)
    firm_codes, firm_index = pd.factorize(candidates["firm_id"], sort=True)
    firm_ids = np.asarray(firm_index, dtype=object).astype(str)
    present = pd.unique(candidates["product"].astype(str))
    products = tuple(p for p in cat.codes if p in set(present))
    products = products + tuple(sorted(set(present) - set(products)))
    prod_codes = pd.Index(products).get_indexer(pd.Index(candidates["product"].astype(str)))
    value, limit = _value_and_limit(candidates, firm_codes, prod_codes, len(firm_ids),
                                    len(products))
    _, first_row = np.unique(firm_codes, return_index=True)
    per_firm_columns = [c for c in ("channel", "uses_rm", "rm_id", "industry_section", "grade")
                        if c in candidates.columns]
    first = candidates.iloc[first_row][per_firm_columns].reset_index(drop=True)
    families = [*_contact_families(first, chn, rm_cap, channel_capacity),
                *_appetite_families(first, ra, budget, products)]
    return OfferProblem(np.asarray(firm_ids, dtype=object), products, value, limit,
                        tuple(families))


def _value_and_limit(candidates: pd.DataFrame, firm_codes: Ints, prod_codes: Ints, n: int,
                     m: int) -> tuple[Floats, Floats]:
    """Dense firm × product expected value (−inf: never offered) and limit matrices."""
    key = firm_codes.astype(np.int64) * m + prod_codes
    uniq, first_seen, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = candidates.iloc[int(first_seen[np.flatnonzero(counts > 1)[0]])]
        raise SchemaError(f"offer candidates row firm_id={dup['firm_id']} product="
                          f"{dup['product']}: the pair appears twice; keep one row per pair.")
    value = np.full((n, m), -np.inf)
    ev = pd.to_numeric(candidates["expected_value"], errors="coerce").to_numpy(dtype=float,
                                                                             na_value=np.nan)
    ok = np.isfinite(ev) & (ev > 0)
    value[firm_codes[ok], prod_codes[ok]] = ev[ok]
    limit = np.zeros((n, m))
    if "limit" in candidates.columns:
        lim = pd.to_numeric(candidates["limit"], errors="coerce").fillna(0).to_numpy(float)
        limit[firm_codes, prod_codes] = np.maximum(lim, 0)
    return value, limit


def _contact_families(first: pd.DataFrame, chn: ChannelConfig, rm_cap: int,
                      channel_capacity: Mapping[str, float] | None) -> list[Family]:
    """Contact capacity: contacts per relationship manager and per channel."""
    n = len(first)
    families: list[Family] = []
    channel = (first["channel"] if "channel" in first.columns
               else pd.Series(None, index=first.index)).astype(object)
    if "uses_rm" in first.columns:
        uses_rm = first["uses_rm"].fillna(True).to_numpy(dtype=float)
    else:
        uses_rm = np.array([chn.channels[c].uses_rm if c in chn.channels else True
                            for c in channel], dtype=float)
    if "rm_id" in first.columns:
        codes, labels = pd.factorize(first["rm_id"].astype(str))
        families.append(Family("rm", codes.astype(np.int64), np.full(len(labels), rm_cap,
                               dtype=float), tuple(labels), "firm", uses_rm))
    if channel.notna().any():
        codes, labels = pd.factorize(channel)
        caps = []
        for c in labels:
            if channel_capacity is not None and c in channel_capacity:
                caps.append(float(channel_capacity[c]))
            else:
                share = chn.channels[c].capacity_share if c in chn.channels else None
                caps.append(float(np.ceil(share * n)) if share is not None else np.inf)
        families.append(Family("channel", codes.astype(np.int64), np.array(caps),
                               tuple(str(c) for c in labels), "firm", np.ones(n)))
    return families


def _appetite_families(first: pd.DataFrame, ra: RiskAppetite, budget: float,
                       products: tuple[str, ...]) -> list[Family]:
    """Risk appetite: limits offered per industry section, per product, per grade group."""
    families: list[Family] = []
    if "industry_section" in first.columns:
        section = first["industry_section"].fillna("?").astype(str)
        codes, labels = pd.factorize(section)
        families.append(Family("section", codes.astype(np.int64),
                               np.array([ra.section_caps.get(s, ra.section_share * budget)
                                         for s in labels]),
                               tuple(labels), "limit"))
    families.append(Family("product", np.arange(len(products), dtype=np.int64),
                           np.array([ra.product_caps.get(p, ra.product_share * budget)
                                     for p in products]), products,
                           "limit", by_product=True))
    if "grade" in first.columns:
        grade = first["grade"].astype(object).to_numpy()
        for k, gc in enumerate(ra.grade_caps):
            inside = np.isin(grade.astype(str), gc.grades) & pd.notna(grade)
            families.append(Family(f"grade_cap_{k + 1}", np.where(inside, 0, -1).astype(
                np.int64), np.array([gc.share * budget]), ("+".join(gc.grades),), "limit"))
    return families


# -- allocation (feasible plans by score) -------------------------------------------------
def allocate(problem: OfferProblem, score: Floats, chunk: int = 2048) -> Ints:
    """The greedy plan in order of ``score`` (n × m; −inf or a non-candidate = never).

    Pairs are taken highest score first; a pair is accepted when its firm has no offer yet
    and it fits every capacity given the pairs accepted before it — exactly the sequential
    greedy rule, evaluated a chunk of pairs at a time: pairs that cannot fit even alone are
    dropped in bulk, and the chunk is accepted up to its first pair that would overflow a
    group given the pairs ahead of it, where evaluation resumes.

    Returns
    -------
    numpy.ndarray
        Chosen product index per firm, −1 for no offer.
    """
    n, _ = problem.shape
    ok = np.isfinite(problem.value) & np.isfinite(score)
    rows, cols = np.nonzero(ok)
    order = np.argsort(-score[rows, cols], kind="stable")
    rows, cols = rows[order].astype(np.int64), cols[order].astype(np.int64)
    choice = np.full(n, -1, dtype=np.int64)
    used = [np.zeros(f.caps.size) for f in problem.families]
    pos = 0
    while pos < rows.size:
        end = min(pos + chunk, rows.size)
        rr, cc = rows[pos:end], cols[pos:end]
        live = choice[rr] < 0
        parts = []
        for fam, u in zip(problem.families, used, strict=True):
            g = fam.pair_groups(rr, cc)
            w = fam.pair_weights(rr, cc, problem.limit)
            inside = g >= 0
            gi = np.where(inside, g, 0)
            live &= ~(inside & (u[gi] + w > fam.caps[gi] * (1 + 1e-12) + _TOL))
            parts.append((inside, gi, np.where(inside, w, 0.0)))
        idx = np.flatnonzero(live)
        if idx.size == 0:
            pos = end
            continue
        # a firm's later pairs in the chunk wait for its first one
        _, first = np.unique(rr[idx], return_index=True)
        lead = np.zeros(idx.size, dtype=bool)
        lead[first] = True
        cand = idx[lead]
        stop = cand.size
        for (inside, gi, w), fam, u in zip(parts, problem.families, used, strict=True):
            ins = inside[cand]
            if not ins.any():
                continue
            running = _group_running_sum(gi[cand], w[cand])
            over = ins & (running + u[gi[cand]] > fam.caps[gi[cand]] * (1 + 1e-12) + _TOL)
            if over.any():
                stop = min(stop, int(np.flatnonzero(over)[0]))
        acc = cand[:stop]
        choice[rr[acc]] = cc[acc]
        for (inside, gi, w), u in zip(parts, used, strict=True):
            keep = acc[inside[acc]]
            u += np.bincount(gi[keep], weights=w[keep], minlength=u.size)
        pos = end if stop == cand.size else pos + int(cand[stop])
    return choice


def _group_running_sum(groups: Ints, weights: Floats) -> Floats:
    """Running sum of ``weights`` within each group, in the given order (inclusive)."""
    by_group = np.argsort(groups, kind="stable")
    gs = groups[by_group]
    ws = weights[by_group]
    csum = np.cumsum(ws)
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
    offset = np.repeat(csum[starts] - ws[starts], np.diff(np.r_[starts, gs.size]))
    out = np.empty(groups.size)
    out[by_group] = csum - offset
    return out


# -- exact MILP ---------------------------------------------------------------------------
def _solve_milp(problem: OfferProblem, time_limit: float) -> tuple[Ints, float, float]:
    n, m = problem.shape
    rows, cols = np.nonzero(np.isfinite(problem.value))
    k = rows.size
    choice = np.full(n, -1, dtype=np.int64)
    if k == 0:
        return choice, 0.0, 0.0
    c = -problem.value[rows, cols]
    var = np.arange(k)
    blocks = [sp.csr_matrix((np.ones(k), (rows, var)), shape=(n, k))]
    upper = [np.ones(n)]
    for fam in problem.families:
        g = fam.pair_groups(rows, cols)
        w = fam.pair_weights(rows, cols, problem.limit)
        keep = (g >= 0) & (w > 0) & np.isfinite(fam.caps[np.maximum(g, 0)])
        if not keep.any():
            continue
        blocks.append(sp.csr_matrix((w[keep], (g[keep], var[keep])), shape=(fam.caps.size, k)))
        upper.append(np.where(np.isfinite(fam.caps), fam.caps, 1e30))
    a = sp.vstack(blocks).tocsr()
    res = milp(c=c, constraints=LinearConstraint(a, -np.inf, np.concatenate(upper)),
               integrality=np.ones(k), bounds=Bounds(0, 1),
               options={"time_limit": float(time_limit), "mip_rel_gap": 1e-4})
    if res.x is None:
        return choice, 0.0, float("nan")
    x = res.x > 0.5
    choice[rows[x]] = cols[x]
    bound = -float(getattr(res, "mip_dual_bound", np.nan))
    return choice, problem.objective(choice), bound


# -- Lagrangian relaxation ----------------------------------------------------------------
def _solve_lagrangian(problem: OfferProblem, max_iter: int, tol: float,
                      heuristic_every: int) -> tuple[Ints, float, float, int]:
    choice, obj, bound, it, _ = _lagrangian(problem, max_iter, tol, heuristic_every)
    return choice, obj, bound, it


def lagrangian_prices(problem: OfferProblem, *, max_iter: int = 150, tol: float = 1e-3,
                      heuristic_every: int = 25) -> list[tuple[Family, Floats]]:
    """The Lagrangian multipliers of the best bound, as prices per unit of capacity.

    Returns
    -------
    list of (Family, numpy.ndarray)
        Per dualised family (every family but the RM capacity), the price of each group
        per unit of its weight (per contact, or per yuan of limit): λ / cap, 0 where the
        cap is infinite or zero.
    """
    *_, prices = _lagrangian(problem, max_iter, tol, heuristic_every)
    return prices


def _lagrangian(problem: OfferProblem, max_iter: int, tol: float, heuristic_every: int
                ) -> tuple[Ints, float, float, int, list[tuple[Family, Floats]]]:
    value = problem.value
    rm = next((f for f in problem.families if f.name == "rm"), None)
    dual = [f for f in problem.families if f is not rm and np.isfinite(f.caps).any()]
    lam = [np.zeros(f.caps.size) for f in dual]
    finite_caps = [np.where(np.isfinite(f.caps) & (f.caps > 0), f.caps, np.inf) for f in dual]
    best_choice = allocate(problem, value)
    best_obj = problem.objective(best_choice)
    best_bound = np.inf
    best_lam = lam
    theta = 1.0
    stall = 0
    it = 0
    for it in range(1, max_iter + 1):
        adj = _penalised(problem, dual, lam, finite_caps)
        choice, relaxed_value = _relaxed(adj, rm)
        bound = relaxed_value + float(sum(lk[np.isfinite(cap)].sum()
                                          for lk, cap in zip(lam, finite_caps, strict=True)))
        if not np.isfinite(best_bound) or bound < best_bound - 1e-9 * abs(best_bound):
            best_bound, stall, best_lam = bound, 0, lam
        else:
            stall += 1
            if stall >= 5:
                theta, stall = theta / 2, 0
        if it % heuristic_every == 0 or it == 1:
            cand = allocate(problem, adj)
            obj = problem.objective(cand)
            if obj > best_obj:
                best_choice, best_obj = cand, obj
        if best_bound - best_obj <= tol * max(abs(best_bound), 1e-9) or theta < 1e-4:
            break
        grads = _subgradients(problem, dual, finite_caps, choice)
        norm = float(sum((gk ** 2).sum() for gk in grads))
        if norm <= 0:
            break
        step = theta * max(bound - best_obj, 1e-9 * max(abs(bound), 1.0)) / norm
        lam = [np.maximum(0.0, lk + step * gk) for lk, gk in zip(lam, grads, strict=True)]
    cand = allocate(problem, _penalised(problem, dual, lam, finite_caps))
    if problem.objective(cand) > best_obj:
        best_choice, best_obj = cand, problem.objective(cand)
    prices = [(fam, np.where(np.isfinite(cap), lk / np.where(np.isfinite(cap), cap, 1), 0.0))
              for fam, lk, cap in zip(dual, best_lam, finite_caps, strict=True)]
    return best_choice, best_obj, best_bound, it, prices


def _penalised(problem: OfferProblem, dual: list[Family], lams: list[Floats],
               finite_caps: list[Floats]) -> Floats:
    """Pair values less the multipliers' prices of the capacity each pair uses."""
    n, m = problem.shape
    firm_term = np.zeros(n)
    firm_limit = np.zeros(n)
    prod_limit = np.zeros(m)
    for fam, lk, cap in zip(dual, lams, finite_caps, strict=True):
        price = np.where(np.isfinite(cap), lk / np.where(np.isfinite(cap), cap, 1), 0.0)
        if fam.by_product:
            prod_limit += np.where(fam.groups >= 0, price[np.maximum(fam.groups, 0)], 0)
        else:
            p = np.where(fam.groups >= 0, price[np.maximum(fam.groups, 0)], 0.0)
            if fam.weight == "limit":
                firm_limit += p
            else:
                assert fam.firm_weight is not None
                firm_term += p * fam.firm_weight
    return problem.value - firm_term[:, None] - problem.limit * (firm_limit[:, None]
                                                                 + prod_limit[None, :])


def _relaxed(adj: Floats, rm: Family | None) -> tuple[Ints, float]:
    """The relaxed problem: each firm's best positive pair, within the RM capacities."""
    n = adj.shape[0]
    best = adj.argmax(axis=1)
    gain = adj[np.arange(n), best]
    take = np.isfinite(gain) & (gain > 0)
    if rm is not None:
        assert rm.firm_weight is not None
        counted = take & (rm.firm_weight > 0)
        idx = np.flatnonzero(counted)
        order = idx[np.lexsort((-gain[idx], rm.groups[idx]))]
        grp = rm.groups[order]
        starts = np.r_[0, np.flatnonzero(grp[1:] != grp[:-1]) + 1]
        rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
        drop = order[rank >= rm.caps[grp]]
        take[drop] = False
    choice = np.where(take, best, -1)
    return choice, float(gain[take].sum())


def _subgradients(problem: OfferProblem, dual: list[Family], finite_caps: list[Floats],
                  choice: Ints) -> list[Floats]:
    """Capacity used over capacity, less one, per dualised constraint."""
    grads = []
    rows = np.flatnonzero(choice >= 0)
    cols = choice[rows]
    for fam, cap in zip(dual, finite_caps, strict=True):
        g = fam.pair_groups(rows, cols)
        w = fam.pair_weights(rows, cols, problem.limit)
        keep = g >= 0
        use = np.bincount(g[keep], weights=w[keep], minlength=fam.caps.size)
        grads.append(np.where(np.isfinite(cap), use / np.where(np.isfinite(cap), cap, 1)
                              - 1.0, 0.0))
    return grads


# -- the public planner ---------------------------------------------------------------------
def solve(problem: OfferProblem, method: Method = "auto", *, max_iter: int = 150,
          tol: float = 1e-3, heuristic_every: int = 25,
          time_limit: float = 30.0) -> tuple[Ints, float, float, str, int]:
    """Solve a problem: (choice per firm, objective, bound, method used, iterations)."""
    if method not in METHODS:
        raise parameter_error("method", "plan_offers", f"one of {METHODS}", method)
    if method == "auto":
        choice, obj, bound, it = _solve_lagrangian(problem, max_iter, tol, heuristic_every)
        if bound - obj <= tol * max(abs(bound), 1e-9) or problem.candidates > \
                MILP_MAX_CANDIDATES:
            return choice, obj, bound, "lagrangian", it
        exact, exact_obj, exact_bound = _solve_milp(problem, time_limit)
        best_bound = min(bound, exact_bound) if np.isfinite(exact_bound) else bound
        if exact_obj >= obj:
            return exact, exact_obj, best_bound, "milp", it
        return choice, obj, best_bound, "lagrangian", it
    if method == "milp":
        choice, obj, bound = _solve_milp(problem, time_limit)
        return choice, obj, bound, method, 0
    if method == "lagrangian":
        choice, obj, bound, it = _solve_lagrangian(problem, max_iter, tol, heuristic_every)
        return choice, obj, bound, method, it
    choice = allocate(problem, problem.value)
    return choice, problem.objective(choice), float("nan"), "greedy", 0


def plan_offers(
    candidates: pd.DataFrame,
    *,
    method: Method = "auto",
    catalogue: Catalogue | None = None,
    channels: ChannelConfig | None = None,
    rm_capacity: int | None = None,
    channel_capacity: Mapping[str, float] | None = None,
    exposure_budget: float | None = None,
    max_iter: int = 150,
    tol: float = 1e-3,
    time_limit: float = 30.0,
) -> OfferPlan:
    """Plan one campaign: at most one offer per firm, maximising expected value.

    Parameters
    ----------
    candidates : pandas.DataFrame
        See :func:`build_problem`.
    method : {"auto", "milp", "lagrangian", "greedy"}
        ``"auto"``: Lagrangian; when its certified gap exceeds ``tol`` and the plan has at
        most ``MILP_MAX_CANDIDATES`` pairs, also the MILP (within ``time_limit``), keeping
        the better plan and the tighter bound.
    max_iter, tol : int, float
        Subgradient iterations at most, and the relative gap at which they stop.
    time_limit : float
        Seconds HiGHS may spend on a MILP.
    Other parameters: see :func:`build_problem`.

    Returns
    -------
    OfferPlan

    Examples
    --------
    Two firms of one RM who can make one call: the plan gives the call to the firm
    where it is worth more, and that firm's better product.

    >>> c = pd.DataFrame({"firm_id": ["a", "a", "b"], "product": ["green", "equipment",
    ...                   "green"], "expected_value": [50.0, 80.0, 60.0], "limit": 1e6,
    ...                   "rm_id": "RM1", "channel": "phone"})
    >>> plan = plan_offers(c, rm_capacity=1)
    >>> plan.offers[["firm_id", "product"]].values.tolist(), plan.objective, plan.gap
    ([['a', 'equipment']], 80.0, 0.0)
    """
    started = time.perf_counter()
    problem = build_problem(candidates, catalogue=catalogue, channels=channels,
                            rm_capacity=rm_capacity, channel_capacity=channel_capacity,
                            exposure_budget=exposure_budget)
    choice, obj, bound, used, it = solve(problem, method, max_iter=max_iter, tol=tol,
                                         time_limit=time_limit)
    offers = chosen_rows(candidates, problem, choice)
    gap = (bound - obj) / abs(bound) if np.isfinite(bound) and bound != 0 else (
        0.0 if bound == 0 and obj == 0 else float("nan"))
    return OfferPlan(offers, obj, bound, float(gap), used, time.perf_counter() - started, it,
                     problem.usage(choice))


def chosen_rows(candidates: pd.DataFrame, problem: OfferProblem, choice: Ints) -> pd.DataFrame:
    """The rows of ``candidates`` a plan chose, in firm order."""
    rows = np.flatnonzero(choice >= 0)
    picked = pd.DataFrame({"firm_id": problem.firm_ids[rows],
                           "product": np.asarray(problem.products, dtype=object)[choice[rows]]})
    keyed = candidates.assign(firm_id=candidates["firm_id"].astype(str),
                              product=candidates["product"].astype(str))
    return picked.merge(keyed, on=["firm_id", "product"], how="left")
