"""Daily account flows, generated in chunks of firms so millions of rows stay cheap.

Each firm gets a Poisson number of transactions proportional to its size and persona over
the days it banks with us (until shortly after a default). Dates follow the persona's daily
activity (seasonality, weekends, Spring Festival); each transaction is a flow type —
customer receipts, supplier payments, payroll, tax, loan service, other — whose amounts
within a firm, type and quarter add up to the matching line of the quarterly financials,
so inflows from customers track revenue. Customers and suppliers recur per firm, and firms
with concentrated sales get most receipts from three dominant customers.

With an industry shock, counts and dates are drawn as in the bank without it and the rows
after a firm's new cut-off (60 days after its shocked default date, always after the shock
start) are dropped, leaving gaps in the ``txn_id`` numbering; amounts follow the shocked
financials and still add up per firm, type and quarter.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from creditpersona.contract.schema import TXN_CHANNELS
from creditpersona.synth import names
from creditpersona.synth.financials import Financials
from creditpersona.synth.personas import PERSONAS, table
from creditpersona.synth.population import Population, choose_grouped

FLOW_TYPES = ("customer_in", "supplier_out", "payroll", "tax", "loan_service", "other_out",
              "other_in")
_SIGN = np.array([1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0])
#: Share of transactions of each flow type, per persona (rows in PERSONAS order).
FLOW_MIX = np.array([
    [0.30, 0.28, 0.12, 0.08, 0.06, 0.10, 0.06],
    [0.28, 0.18, 0.20, 0.08, 0.04, 0.14, 0.08],
    [0.28, 0.30, 0.10, 0.06, 0.12, 0.08, 0.06],
    [0.36, 0.36, 0.05, 0.06, 0.07, 0.06, 0.04],
    [0.25, 0.30, 0.12, 0.06, 0.10, 0.10, 0.07],
    [0.40, 0.25, 0.10, 0.06, 0.05, 0.10, 0.04],
])
#: Customer-receipt summaries per persona.
RECEIPT_WORDS = (
    ("货款", "销售回款", "收款"), ("服务费", "技术服务费", "货款", "收款"),
    ("货款", "收款", "销售回款"), ("货款", "销售回款", "收款"),
    ("工程款", "工程进度款", "收款"), ("货款", "收款", "营业款"),
)
#: Channel mix (in :data:`TXN_CHANNELS` order) by size class, large → micro.
CHANNEL_MIX = np.array([
    [0.05, 0.30, 0.03, 0.60, 0.02],
    [0.10, 0.55, 0.08, 0.25, 0.02],
    [0.15, 0.60, 0.20, 0.00, 0.05],
    [0.12, 0.30, 0.55, 0.00, 0.03],
])
#: Relative transaction volume by size class, large → micro.
SIZE_VOLUME = np.array([2.0, 1.4, 1.0, 0.7])
#: Rows per chunk the generator aims for.
CHUNK_ROWS = 1_000_000
POOL_SIZE = 20_000
_FLOWS_AFTER_DEFAULT = np.timedelta64(60, "D")
_CHANNELS = pa.array(TXN_CHANNELS, pa.string())


@dataclass
class _Pools:
    """Text pools indexed by integer codes, built once for all chunks."""

    counterparties: pa.Array
    n_pool: int
    summaries: pa.Array
    summary_start: npt.NDArray[np.int64]
    summary_count: npt.NDArray[np.int64]
    receipt_start: npt.NDArray[np.int64]
    receipt_count: npt.NDArray[np.int64]


def _pools(rng: np.random.Generator, pop: Population) -> _Pools:
    cities = tuple(sorted(set(pop.city.tolist())))
    pool = names.counterparty_pool(rng, cities, POOL_SIZE)
    n = pop.n
    which = rng.integers(0, 64, n)
    extra = np.concatenate([names.tax_office_names(pop.city), names.bank_names(pop.city, which),
                            names.service_provider_names(pop.city, which // 8)])
    counterparties = pa.array(np.concatenate([pool, extra]).tolist(), pa.string())
    texts: list[str] = []
    start, count = [], []
    for t in FLOW_TYPES:
        start.append(len(texts))
        count.append(len(names.SUMMARIES[t]))
        texts.extend(names.SUMMARIES[t])
    r_start, r_count = [], []
    for words in RECEIPT_WORDS:
        r_start.append(len(texts))
        r_count.append(len(words))
        texts.extend(words)
    return _Pools(counterparties, POOL_SIZE, pa.array(texts, pa.string()),
                  np.array(start), np.array(count), np.array(r_start), np.array(r_count))


def _quarter_flows(fin: Financials, rows: slice, pop: Population) -> npt.NDArray[np.float64]:
    """Flow totals per firm, type and quarter (firms × types × quarters), all positive."""
    rev = fin["revenue"][rows]
    opex = fin["opex"][rows]
    debt = fin["short_term_debt"][rows] + fin["long_term_debt"][rows]
    floor = (pop.registered_capital[rows] * 0.01)[:, None]
    flows = np.stack([
        rev,
        fin["cost_of_sales"][rows] * 0.85 + fin["capex"][rows],
        opex * 0.45,
        rev * 0.02 + np.maximum(fin["operating_profit"][rows], 0.0) * 0.25,
        fin["interest_expense"][rows] + debt * 0.15,
        opex * 0.30,
        np.where(pop.zero_revenue[rows, None], pop.registered_capital[rows, None] * 0.05,
                 rev * 0.03),
    ], axis=1)
    return np.asarray(np.maximum(flows, floor[:, None, :] * np.ones_like(flows)))


@functools.cache
def _six_digits() -> npt.NDArray[np.uint8]:
    """ASCII digits of every number below one million (10**6 × 6 bytes), built once."""
    numbers = np.arange(10**6, dtype=np.int32)
    powers = 10 ** np.arange(5, -1, -1, dtype=np.int32)
    return np.asarray(((numbers[:, None] // powers) % 10 + ord("0")).astype(np.uint8))


def _txn_ids(first: int, count: int) -> pa.Array:
    """Ids ``T`` + 12 digits, numbered from ``first``, built as fixed-width bytes."""
    numbers = np.arange(first, first + count, dtype=np.int64)
    digits = _six_digits()
    raw = np.empty((count, 13), dtype=np.uint8)
    raw[:, 0] = ord("T")
    raw[:, 1:7] = digits[numbers // 10**6]
    raw[:, 7:] = digits[numbers % 10**6]
    return pa.array(raw.view("S13").ravel()).cast(pa.string())


def _last_day(default_date: npt.NDArray[np.datetime64],
              end: np.datetime64) -> npt.NDArray[np.datetime64]:
    """Last day of flows: the end date, or 60 days after the default date when earlier."""
    return np.asarray(np.where(np.isnat(default_date), end,
                               np.minimum(end, default_date + _FLOWS_AFTER_DEFAULT)))


def expected_rows(pop: Population, per_firm_year: float) -> npt.NDArray[np.float64]:
    """Expected transaction count per firm; sums to firms × years × ``per_firm_year``.

    Counts are those of the bank without an industry shock (see the module notes).
    """
    tl = pop.timeline
    lo = np.maximum(pop.relationship_start, tl.history_start)
    hi = _last_day(pop.calm_default_date, tl.end)
    days = (tl.end - tl.history_start).astype(np.int64) + 1
    active = np.clip((hi - lo).astype(np.int64) + 1, 0, days) / days
    weight = table("txn_intensity")[pop.persona] * SIZE_VOLUME[pop.size_target] * active
    total = pop.n * tl.years * per_firm_year
    return np.asarray(weight / max(weight.sum(), 1e-12) * total)


def chunk_bounds(pop: Population, per_firm_year: float) -> list[tuple[int, int]]:
    """Firm index ranges ``[a, b)`` of the chunks, each about :data:`CHUNK_ROWS` rows."""
    mean = max(float(expected_rows(pop, per_firm_year).mean()), 1.0)
    per_chunk = max(500, int(CHUNK_ROWS / mean))
    edges = list(range(0, pop.n, per_chunk)) + [pop.n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def chunks(
    seed: np.random.SeedSequence, pop: Population, fin: Financials, per_firm_year: float,
    *, first_id: int = 1,
) -> Iterator[tuple[dict[str, object], int]]:
    """Yield the ``transactions`` table chunk by chunk (firm order, then date).

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        Seed reserved for the transactions; every chunk gets its own child stream.
    pop, fin : Population, Financials
        The firms and their quarterly financials.
    per_firm_year : float
        Mean transactions per firm and year.
    first_id : int, default 1
        Number of the first ``txn_id`` (a block of a larger bank continues the numbering
        of the blocks before it).

    Yields
    ------
    dict
        Contract columns of one chunk (``firm_id`` and text columns as Arrow arrays).
    int
        The number the next chunk's ids start from (rows an industry shock drops keep
        their numbers, so this can exceed the rows yielded).
    """
    bounds = chunk_bounds(pop, per_firm_year)
    setup, *child = seed.spawn(len(bounds) + 1)
    ctx = _context(np.random.default_rng(setup), pop, per_firm_year)
    next_id = first_id
    for c, (a, b) in enumerate(bounds):
        out, kept = _chunk(np.random.default_rng(child[c]), pop, fin, ctx, a, b, next_id)
        next_id += kept.size
        yield (out if kept.all() else {k: _rows(v, kept) for k, v in out.items()}), next_id


@dataclass(frozen=True)
class _Context:
    """What every chunk shares: pools, expected rows and the activity calendar."""

    pools: _Pools
    mu: npt.NDArray[np.float64]
    hist_days: npt.NDArray[np.datetime64]
    cdf: npt.NDArray[np.float64]
    day_quarter: npt.NDArray[np.int64]
    firm_ids: pa.Array


def _context(rng: np.random.Generator, pop: Population, per_firm_year: float) -> _Context:
    tl = pop.timeline
    pools = _pools(rng, pop)
    hist_days = np.arange(tl.history_start, tl.end + 1)
    grid = tl.grid_days()
    first_hist = int((tl.history_start - grid[0]).astype(np.int64))
    act = tl.activity()[:, first_hist: first_hist + hist_days.size]
    cdf = np.cumsum(act, axis=1)
    cdf = np.concatenate([np.zeros((cdf.shape[0], 1)), cdf / cdf[:, -1:]], axis=1)
    day_quarter = np.clip(tl.quarter_index(hist_days), 0, tl.quarter_ends.size - 1)
    return _Context(pools, expected_rows(pop, per_firm_year), hist_days, cdf, day_quarter,
                    pa.array(pop.firm_id.tolist(), pa.string()))


def _chunk(rng: np.random.Generator, pop: Population, fin: Financials, ctx: _Context, a: int,
           b: int, next_id: int) -> tuple[dict[str, object], npt.NDArray[np.bool_]]:
    """The rows of firms ``a`` to ``b`` and which of them are kept (before any default)."""
    # The random draws are made in one fixed order: the same seed gives the same bank.
    local, day, ftype = _days_and_types(rng, pop, ctx, a, b)
    firm = local + a
    m = local.size
    kept = ctx.hist_days[day] <= _last_day(pop.default_date[firm], pop.timeline.end)
    amount = _amounts(rng, pop, fin, ctx, a, b, local, day, ftype, kept)
    counterparty = _counterparties(rng, pop, ctx.pools, firm, ftype)
    pools = ctx.pools
    persona = pop.persona[firm]
    s_idx = pools.summary_start[ftype] + (rng.random(m) * pools.summary_count[ftype]).astype(
        np.int64)
    receipt = pools.receipt_start[persona] + (
        rng.random(m) * pools.receipt_count[persona]).astype(np.int64)
    s_idx = np.where(ftype == 0, receipt, s_idx)
    channel = choose_grouped(rng, CHANNEL_MIX, pop.size_target[firm])
    out: dict[str, object] = {
        "txn_id": _txn_ids(next_id, m),
        "firm_id": ctx.firm_ids.take(pa.array(firm)),
        "txn_date": ctx.hist_days[day],
        "amount": amount,
        "counterparty": counterparty,
        "channel": _CHANNELS.take(pa.array(channel)),
        "summary": pools.summaries.take(pa.array(s_idx)),
    }
    return out, kept


def _days_and_types(rng: np.random.Generator, pop: Population, ctx: _Context, a: int, b: int
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                               npt.NDArray[np.int64]]:
    """Firm (local index), day and flow type of every row, sorted in file order."""
    tl = pop.timeline
    rows = slice(a, b)
    count = rng.poisson(ctx.mu[rows])
    local = np.repeat(np.arange(b - a), count)
    firm = local + a
    persona = pop.persona[firm]
    size = ctx.hist_days.size
    lo = np.maximum(pop.relationship_start[rows], tl.history_start)
    hi = _last_day(pop.calm_default_date[rows], tl.end)
    lo_i = np.clip((lo - tl.history_start).astype(np.int64), 0, size - 1)
    hi_i = np.clip((hi - tl.history_start).astype(np.int64), 0, size - 1)
    day = np.empty(local.size, dtype=np.int64)
    for i in range(len(PERSONAS)):
        sel = persona == i
        f_lo, f_hi = ctx.cdf[i, lo_i[local[sel]]], ctx.cdf[i, hi_i[local[sel]] + 1]
        u = f_lo + rng.random(int(sel.sum())) * (f_hi - f_lo)
        day[sel] = np.searchsorted(ctx.cdf[i], u, side="right") - 1
    day = np.clip(day, lo_i[local], hi_i[local])
    ftype = choose_grouped(rng, FLOW_MIX, persona)
    ftype = np.where(pop.zero_revenue[firm] & (ftype == 0), 6, ftype)
    # Sort once, by firm, date and flow type; every later draw is made in file order.
    order = np.argsort((local * size + day) * 8 + ftype, kind="stable")
    return local[order], day[order], ftype[order]


def _amounts(rng: np.random.Generator, pop: Population, fin: Financials, ctx: _Context, a: int,
             b: int, local: npt.NDArray[np.int64], day: npt.NDArray[np.int64],
             ftype: npt.NDArray[np.int64], kept: npt.NDArray[np.bool_]
             ) -> npt.NDArray[np.float64]:
    """Signed amounts: each quarter's flow of a type shared among its kept rows."""
    firm = local + a
    persona = pop.persona[firm]
    m, nq = local.size, pop.timeline.quarter_ends.size
    q = ctx.day_quarter[day]
    flows = _quarter_flows(fin, slice(a, b), pop)
    key = (local * len(FLOW_TYPES) + ftype) * nq + q
    top = ftype == 0
    conc = pop.concentrated[firm]
    noise = rng.lognormal(0.0, table("amount_sigma")[persona], m) * np.where(
        top & conc, 2.0, 1.0)
    weight = np.where(kept, noise, 0.0)
    group_total = np.bincount(key, weights=weight, minlength=(b - a) * len(FLOW_TYPES) * nq)
    # A kept row's group total is at least its own weight; a dropped row gets share 0.
    share = weight / np.maximum(group_total[key], noise)
    amount = flows[local, ftype, q] * share * rng.normal(1.0, 0.05, m).clip(0.8, 1.2)
    return np.asarray(np.round(np.maximum(amount, 10.0) * _SIGN[ftype], 2))


def _counterparties(rng: np.random.Generator, pop: Population, pools: _Pools,
                    firm: npt.NDArray[np.int64], ftype: npt.NDArray[np.int64]) -> pa.Array:
    """Recurring customers and suppliers per firm, a few dominant ones; none for payroll."""
    m, n = firm.size, pop.n
    offset_c = (firm * 7919) % pools.n_pool
    offset_s = (firm * 104729 + 17) % pools.n_pool
    n_cust = 8 + (firm % 33)
    top_share = np.where(pop.concentrated[firm], 0.75, 0.15)
    j = np.where(rng.random(m) < top_share, rng.integers(0, 3, m),
                 3 + (rng.random(m) * (n_cust - 3)).astype(np.int64))
    cp = np.where(ftype == 1, (offset_s + j * 31) % pools.n_pool,
                  (offset_c + j * 37) % pools.n_pool)
    cp = np.where(ftype == 3, pools.n_pool + firm, cp)
    cp = np.where(ftype == 4, pools.n_pool + n + firm, cp)
    cp = np.where(ftype == 5, pools.n_pool + 2 * n + firm, cp)
    # Payroll goes to the staff accounts: no single counterparty.
    return _mask(pools.counterparties.take(pa.array(cp)), ftype == 2)


def _rows(values: object, keep: npt.NDArray[np.bool_]) -> object:
    """The rows of a NumPy or Arrow column where ``keep`` is true."""
    if isinstance(values, pa.Array):
        return values.filter(pa.array(keep))
    return np.asarray(values)[keep]


def _mask(values: pa.Array, null: npt.NDArray[np.bool_]) -> pa.Array:
    """``values`` with nulls where ``null`` is true."""
    return pc.if_else(pa.array(null), pa.scalar(None, pa.string()), values)
