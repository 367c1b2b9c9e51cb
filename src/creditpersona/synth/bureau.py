"""Quarterly credit-bureau reports (PBOC enterprise credit reports) for every firm.

Monthly overdue events, days past due and credit inquiries are simulated per firm and
month from the latent risk; each report then counts them over its 1- to 24-month windows,
so the windows are nested by construction. Inquiries burst when the latent risk is high
(they follow the risk that drives defaults, not the drawn default date, so they carry no
more information than the true PD), and a defaulted firm shows 90+ days past due from its
default date on.

With an industry shock, inquiries before the shock start are those of the bank without it;
from the shock start on, months whose inquiry rate the shock changed are drawn again from
the shock's own stream.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from creditpersona.synth.financials import Columns, Financials
from creditpersona.synth.personas import INDEX
from creditpersona.synth.population import Floats, Population, sigmoid
from creditpersona.synth.timeline import Days

#: The inquiry burst: up to BURST more inquiries a month as the latent risk passes
#: BURST_RISK (the risk at which the quarterly default hazard reaches a few per cent).
BURST, BURST_SLOPE, BURST_RISK = 2.5, 3.0, 2.5


def _window(cum: np.ndarray, rows: np.ndarray, end: int, k: int) -> np.ndarray:
    """Events in the ``k`` months up to month ``end`` from a per-row cumulative count."""
    return np.asarray(cum[rows, end + 1] - cum[rows, max(end + 1 - k, 0)])


def _inquiry_rate(base: Floats, risk: Floats) -> Floats:
    """Expected credit inquiries per firm and month: more at high risk, bursting when the
    latent risk is high (a firm shopping for credit), whatever the drawn default date."""
    return np.asarray(base * (1.0 + 1.5 * sigmoid(2.0 * (risk - 1.5)))
                      + BURST * sigmoid(BURST_SLOPE * (risk - BURST_RISK)))


def _monthly(rng: np.random.Generator, pop: Population,
             shock_rng: np.random.Generator | None
             ) -> tuple[Floats, npt.NDArray[np.int64], npt.NDArray[np.int64],
                        npt.NDArray[np.int64]]:
    """Per firm and month: latent risk, days past due, and the cumulative counts of overdue
    events and of inquiries (a leading zero column, so a window is a difference)."""
    tl = pop.timeline
    n = pop.n
    months = tl.month_ends
    m = months.size
    q_of_month = np.clip(tl.quarter_index(months), 0, tl.quarter_ends.size - 1)
    risk = pop.risk[:, q_of_month]  # n × m

    stop = pop.stop_date
    has_stop = ~np.isnat(stop)
    since_stop = np.where(has_stop[:, None], (months[None, :] - stop[:, None]).astype(
        "timedelta64[D]").astype(np.int64), -1)
    stopped = has_stop[:, None] & (since_stop >= 0)
    overdue = (rng.random((n, m)) < sigmoid(-4.6 + 1.1 * risk)) | stopped
    dpd = np.where(stopped, since_stop + 1,
                   np.where(overdue, rng.integers(1, 31, (n, m)) + np.where(
                       risk > 1.5, rng.integers(0, 60, (n, m)), 0), 0))

    base = np.array([0.8, 0.5, 0.3, 0.2])[pop.size_target][:, None]
    # Poisson draws consume a number of random values that depends on the rate, so the
    # stream is always driven by the calm rates.
    lam = _inquiry_rate(base, pop.calm_risk[:, q_of_month])
    inquiries = rng.poisson(lam)
    if pop.has_shock:
        inquiries = _after_shock(shock_rng, pop, inquiries, lam,
                                 _inquiry_rate(base, risk), months)

    zero = np.zeros((n, 1), np.int64)
    c_overdue = np.concatenate([zero, np.cumsum(overdue, axis=1)], axis=1)
    c_inq = np.concatenate([zero, np.cumsum(inquiries, axis=1)], axis=1)
    return risk, np.asarray(dpd, dtype=np.int64), c_overdue, c_inq


def reports(rng: np.random.Generator, pop: Population, fin: Financials,
            shock_rng: np.random.Generator | None = None) -> Columns:
    """The ``bureau_reports`` rows, one per firm and history quarter the firm existed.

    The report is pulled a few days after the quarter end (on the end date at the latest).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream reserved for the bureau reports.
    pop, fin : Population, Financials
        The firms and their quarterly financials.
    shock_rng : numpy.random.Generator, optional
        Stream for the inquiries the industry shock changes; required when ``pop`` has one.

    Returns
    -------
    dict
        Contract columns (``firm`` holds firm indices), sorted by firm and report date.
    """
    tl = pop.timeline
    n = pop.n
    months = tl.month_ends
    risk, dpd, c_overdue, c_inq = _monthly(rng, pop, shock_rng)
    size = pop.size_target

    lenders_base = rng.poisson(np.array([7.0, 4.0, 2.0, 1.0])[size]) + 1
    guarantor = rng.random(n) < np.where(pop.persona == INDEX["leveraged_distressed"], 0.5, 0.25)
    guarantee_share = rng.uniform(0.02, 0.3, n) * guarantor

    cols: dict[str, list[np.ndarray]] = {}
    for qe in tl.hist_quarter_ends:
        j = int(np.searchsorted(months, qe))  # month index of the quarter end
        q = int(np.searchsorted(tl.quarter_ends, qe))
        alive = pop.founded_on <= qe
        firms = np.flatnonzero(alive)
        report = np.minimum(qe + rng.integers(1, 11, firms.size).astype("timedelta64[D]"),
                            tl.end)
        debt = (fin["short_term_debt"][:, q] + fin["long_term_debt"][:, q])[firms]
        outstanding = np.round(debt * rng.uniform(1.0, 1.3, firms.size), 2)
        lenders = np.where(outstanding > 0, lenders_base[firms] + (risk[firms, j] > 1.5), 0)
        lenders = lenders + rng.integers(-1, 2, firms.size).clip(-lenders, None)
        od12, od24 = _window(c_overdue, firms, j, 12), _window(c_overdue, firms, j, 24)
        dpd12 = dpd[firms, max(j - 11, 0): j + 1].max(axis=1)
        dpd24 = dpd[firms, max(j - 23, 0): j + 1].max(axis=1)
        defaulted_long = pop.defaulted_by(qe - np.timedelta64(180, "D"))[firms]
        written = np.where(defaulted_long, np.round(outstanding * rng.uniform(0.2, 0.6,
                                                                               firms.size), 2),
                           0.0)
        pieces = {
            "firm": firms, "report_date": report, "lenders": lenders,
            "outstanding_balance": outstanding, "overdue_count_12m": od12,
            "overdue_count_24m": od24, "max_dpd_12m": dpd12, "max_dpd_24m": dpd24,
            "guarantees_given": np.round(
                (fin["total_assets"][:, q] * guarantee_share)[firms], 2),
            "inquiries_1m": _window(c_inq, firms, j, 1),
            "inquiries_3m": _window(c_inq, firms, j, 3),
            "inquiries_6m": _window(c_inq, firms, j, 6),
            "inquiries_12m": _window(c_inq, firms, j, 12),
            "written_off": written,
        }
        for k, v in pieces.items():
            cols.setdefault(k, []).append(np.asarray(v))
    out: Columns = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((out["report_date"], out["firm"]))
    out = {k: v[order] for k, v in out.items()}
    for k in ("lenders", "overdue_count_12m", "overdue_count_24m", "max_dpd_12m",
              "max_dpd_24m", "inquiries_1m", "inquiries_3m", "inquiries_6m", "inquiries_12m"):
        out[k] = out[k].astype(np.int64)
    return out


def _after_shock(shock_rng: np.random.Generator | None, pop: Population,
                 inquiries: npt.NDArray[np.int64], calm: Floats, shocked: Floats,
                 months: Days) -> npt.NDArray[np.int64]:
    """Inquiries with the months from the shock start on redrawn where the rate changed."""
    if shock_rng is None:
        raise ValueError("bureau.reports needs shock_rng when the population has a shock")
    redraw = ~pop.before_shock(months)[None, :] & (shocked != calm)
    return np.asarray(np.where(redraw, shock_rng.poisson(shocked), inquiries))
