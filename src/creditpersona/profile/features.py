"""Point-in-time profile features, one row per firm, as Ibis expressions.

One definition runs on every Ibis backend (DuckDB by default, PySpark for large portfolios):
the expressions stay in the portable subset (per-group top-k through ``row_number``, the
as-of date passed in as a literal, null-safe division through ``nullif``). The same
definitions also give several dates at once (:func:`profile_features_by_day`: the as-of
date a column of (firm, date) pairs, every group and join per firm and date).

Point in time: a statement counts from its ``published_on`` date, bureau reports from their
``report_date``, transactions and instalments from their dates, and an instalment paid after
the as-of date counts as unpaid at the as-of date. Nothing dated after the as-of date is read.

Conventions for awkward firms (documented in ``docs/profile.md``): a ratio whose denominator
is zero or missing is missing; missing features drop out of the dimension scores, never as
zeros. Where a ratio's meaning survives a zero denominator it is capped instead: a firm with
no interest expense has interest coverage :data:`CAP`, a firm with debt and EBITDA ≤ 0 has
debt/EBITDA :data:`CAP`, a firm whose flows do not burn cash has a cash runway of
:data:`RUNWAY_CAP_MONTHS` months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

CAP = 99.0
RUNWAY_CAP_MONTHS = 36.0
#: Years over which long-term debt runs off in the yearly debt service of `dscr` (the
#: limit engine's `limits.existing_debt_years` in decisions.yaml).
DEBT_RUNOFF_YEARS = 5.0
FLOW_WINDOW_DAYS = 365
TREND_WINDOW_DAYS = 90

#: The as-of date column of :func:`profile_features_by_day` (each firm at several dates).
DAY = "_day"

Tables = Mapping[str, ir.Table]


@dataclass(frozen=True)
class AsOf:
    """The as-of date of the features: one date for every firm (``date``, a literal), or
    each firm at the dates of its rows of ``pairs`` (``firm_id``, :data:`DAY`).

    With ``pairs``, a table's rows are joined to their firm's dates, :data:`DAY` stands where
    the as-of date does, and every group, window and join is per firm and date.
    """

    date: ir.DateScalar | None = None
    pairs: ir.Table | None = None

    @classmethod
    def of(cls, as_of: ir.DateScalar | AsOf) -> AsOf:
        """``as_of`` itself, or one date as an :class:`AsOf`."""
        return as_of if isinstance(as_of, AsOf) else cls(date=as_of)

    @property
    def keys(self) -> list[str]:
        """The key of a row of the features: the firm (and the date)."""
        return ["firm_id"] if self.pairs is None else ["firm_id", DAY]

    def rows(self, table: ir.Table) -> ir.Table:
        """``table``'s rows, each once per date of its firm (``table`` has ``firm_id``)."""
        if self.pairs is None:
            return table
        return table.inner_join(self.pairs, "firm_id").select(*table.columns, DAY)

    def on(self, table: ir.Table) -> ir.DateValue:
        """The as-of date of each row of ``table`` (from :meth:`rows`), or the one date."""
        return self.date if self.pairs is None else table[DAY]


def _div(a: ir.NumericValue, b: ir.NumericValue) -> ir.FloatingValue:
    return a.cast("float64") / b.cast("float64").nullif(0.0)


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    return later.delta(earlier, unit="day")


def _latest_annuals(t: Tables, at: AsOf) -> ir.Table:
    """The latest annual statement published by the as-of date, one row per firm, with the
    revenue, net profit, assets, liabilities and receivables of the one before as
    ``prev_*`` (null without an earlier statement)."""
    st = at.rows(t["financial_statements"])
    annual = st.filter((st.period_type == "annual") & (st.published_on <= at.on(st)))
    ranked = annual.mutate(
        _rank=ibis.row_number().over(group_by=at.keys, order_by=ibis.desc("period_end"))
    )
    cur = ranked.filter(ranked._rank == 0)
    prev = ranked.filter(ranked._rank == 1).select(
        *at.keys, prev_revenue="revenue", prev_net_profit="net_profit",
        prev_total_assets="total_assets", prev_total_liabilities="total_liabilities",
        prev_receivables="receivables",
    )
    return cur.left_join(prev, at.keys).select(
        *[c for c in cur.columns if c != "_rank"],
        "prev_revenue", "prev_net_profit", "prev_total_assets", "prev_total_liabilities",
        "prev_receivables",
    )


def _wc_gap(s: ir.Table, revenue_growth: ir.FloatingValue, trade_days: ir.FloatingValue,
            working_capital: ir.NumericValue) -> ir.FloatingValue:
    """Working-capital need less own working capital and short-term debt.

    ``trade_days`` are inventory + receivable − payable days; prepayments add to the cash
    cycle and advance receipts shorten it. DOMAIN.md §6: 营运资金量 = revenue × (1 − sales
    margin) × (1 + growth) / turnover, with turnover = 360 / cycle days; growth is last
    year's, clipped to [-30 %, +50 %].
    """
    prepayment_days = 360.0 * _div(s.prepayments, s.cost_of_sales)
    advance_days = 360.0 * _div(s.advance_receipts, s.revenue)
    cycle_days = trade_days + prepayment_days - advance_days
    growth = revenue_growth.fill_null(0.0).clip(lower=-0.3, upper=0.5)
    wc_need = (s.revenue * (1.0 - _div(s.net_profit, s.revenue).fill_null(0.0))
               * (1.0 + growth) * cycle_days.clip(lower=0.0) / 360.0)
    return wc_need - working_capital.clip(lower=0.0) - s.short_term_debt


def statement_features(t: Tables, as_of: ir.DateScalar | AsOf) -> ir.Table:
    """Financial health, growth, efficiency and appetite features of the latest annual statement.

    The latest annual statement published by the as-of date, and the one before it for
    growth and trends.
    """
    at = AsOf.of(as_of)
    s = _latest_annuals(t, at)
    debt = s.short_term_debt + s.long_term_debt
    ebit = s.operating_profit + s.interest_expense
    ebitda = ebit + s.depreciation_amortisation
    working_capital = s.current_assets - s.current_liabilities
    debt_to_assets = _div(s.total_liabilities, s.total_assets)
    prev_debt_to_assets = _div(s.prev_total_liabilities, s.prev_total_assets)
    revenue_growth = _div(s.revenue, s.prev_revenue) - 1.0
    receivable_days = 360.0 * _div(s.receivables, s.revenue)
    prev_receivable_days = 360.0 * _div(s.prev_receivables, s.prev_revenue)
    # Debt service of a year: interest plus long-term debt running off over
    # DEBT_RUNOFF_YEARS (short-term borrowings roll over), as the limit engine assumes.
    service = s.interest_expense + s.long_term_debt / DEBT_RUNOFF_YEARS
    inventory_days = 360.0 * _div(s.inventory, s.cost_of_sales)
    payable_days = 360.0 * _div(s.payables, s.cost_of_sales)
    wc_gap = _wc_gap(s, revenue_growth, inventory_days + receivable_days - payable_days,
                     working_capital)
    return s.select(
        *at.keys,
        statement_period_end=s.period_end,
        revenue=s.revenue,
        total_assets=s.total_assets,
        cash=s.cash,
        current_ratio=_div(s.current_assets, s.current_liabilities),
        quick_ratio=_div(s.current_assets - s.inventory - s.prepayments, s.current_liabilities),
        cash_ratio=_div(s.cash, s.current_liabilities),
        debt_to_assets=debt_to_assets,
        debt_to_ebitda=ibis.cases(
            (debt <= 0, 0.0), (ebitda <= 0, CAP), else_=_div(debt, ebitda).clip(upper=CAP)
        ),
        interest_coverage=ibis.ifelse(
            s.interest_expense > 0, _div(ebit, s.interest_expense).clip(upper=CAP), CAP
        ),
        # Operating cash flow is before interest on Chinese statements (interest paid is a
        # financing cash flow): nothing is added back.
        dscr_proxy=_div(s.operating_cash_flow,
                        s.interest_expense + s.short_term_debt).clip(upper=CAP),
        dscr=ibis.ifelse(service > 0, _div(s.operating_cash_flow, service).clip(upper=CAP),
                         CAP),
        net_assets=s.equity,
        gross_margin=_div(s.revenue - s.cost_of_sales, s.revenue),
        net_margin=_div(s.net_profit, s.revenue),
        roa=_div(s.net_profit, s.total_assets),
        roe=ibis.ifelse(s.equity > 0, _div(s.net_profit, s.equity), ibis.null("float64")),
        receivable_days=receivable_days,
        receivable_days_change=receivable_days - prev_receivable_days,
        inventory_days=inventory_days,
        payable_days=payable_days,
        revenue_growth=revenue_growth,
        profit_growth=_div(s.net_profit - s.prev_net_profit, s.prev_net_profit.abs()),
        # Altman Z'' in the emerging-market form (constant 3.25; zones: distress < 4.35,
        # safe > 5.85, scored that way in scoring.yaml). Retained earnings are not in the
        # contract, so X2 uses total equity / total assets (paid-in capital included, which
        # flatters young, well-capitalised firms).
        altman_z=3.25 + 6.56 * _div(working_capital, s.total_assets)
        + 3.26 * _div(s.equity, s.total_assets) + 6.72 * _div(ebit, s.total_assets)
        + 1.05 * _div(s.equity, s.total_liabilities),
        negative_equity=s.equity < 0,
        leverage_trend=debt_to_assets - prev_debt_to_assets,
        capex_intensity=_div(s.capex, s.revenue),
        short_debt_to_cash=ibis.ifelse(
            s.short_term_debt > 0, _div(s.short_term_debt, s.cash).fill_null(CAP).clip(upper=CAP),
            0.0,
        ),
        wc_gap_to_revenue=_div(wc_gap, s.revenue),
    )


def bureau_features(t: Tables, as_of: ir.DateScalar | AsOf) -> ir.Table:
    """The latest credit-bureau report on or before the as-of date."""
    at = AsOf.of(as_of)
    b = at.rows(t["bureau_reports"])
    ranked = b.filter(b.report_date <= at.on(b)).mutate(
        _rank=ibis.row_number().over(group_by=at.keys, order_by=ibis.desc("report_date"))
    )
    r = ranked.filter(ranked._rank == 0)
    return r.select(
        *at.keys,
        bureau_lenders=r.lenders,
        bureau_outstanding=r.outstanding_balance,
        bureau_overdue_12m=r.overdue_count_12m,
        bureau_overdue_24m=r.overdue_count_24m,
        bureau_max_dpd_12m=r.max_dpd_12m,
        bureau_max_dpd_24m=r.max_dpd_24m,
        bureau_written_off=r.written_off,
        guarantees_given=r.guarantees_given,
        inquiries_3m=r.inquiries_3m,
        inquiries_12m=r.inquiries_12m,
        inquiry_burst=_div(r.inquiries_3m, r.inquiries_12m.cast("float64") / 4.0 + 1.0),
    )


def repayment_features(t: Tables, as_of: ir.DateScalar | AsOf) -> ir.Table:
    """Our own repayment history, as it stood on the as-of date."""
    at = AsOf.of(as_of)
    loans = at.rows(t["loans"])
    rep = t["repayments"]
    started = loans.filter(loans.start_date <= at.on(loans)).select("loan_id", *at.keys)
    if at.pairs is None:
        due = rep.filter(rep.due_date <= at.date).inner_join(started, "loan_id")
    else:   # each instalment once per date of its firm, then those due by the date
        due = rep.inner_join(started, "loan_id").select(*rep.columns, *at.keys)
        due = due.filter(due.due_date <= at.on(due))
    day = at.on(due)
    paid = due.paid_date.notnull() & (due.paid_date <= day)
    days_late = ibis.ifelse(paid, _days(due.paid_date, due.due_date), _days(day, due.due_date))
    d = due.mutate(
        _paid=paid, _days_late=days_late,
        _recent=due.due_date > day - ibis.interval(days=730),
    )
    return d.group_by(at.keys).agg(
        instalments_due=d.count(),
        late_share=(d._days_late > 0).cast("float64").mean(),
        early_share=(d._paid & (d._days_late < 0)).cast("float64").mean(),
        max_days_late_24m=d._days_late.max(where=d._recent).clip(lower=0),
        current_dpd=d._days_late.max(where=~d._paid).fill_null(0).clip(lower=0),
    )


def exposure_features(t: Tables, as_of: ir.DateScalar | AsOf) -> ir.Table:
    """Our active loans on the as-of date, and refinancing loans (借新还旧) of the last year."""
    at = AsOf.of(as_of)
    loans = at.rows(t["loans"])
    day = at.on(loans)
    active = loans.filter((loans.start_date <= day) & (loans.maturity_date > day))
    counts = active.group_by(at.keys).agg(
        active_loans=active.count(), active_loan_amount=active.amount.sum()
    )
    recent = loans.filter((loans.start_date <= day)
                          & (loans.start_date > day - ibis.interval(days=FLOW_WINDOW_DAYS))
                          & (loans.purpose == "refinancing"))
    refi = recent.group_by(at.keys).agg(refinancing_loans_12m=recent.count())
    everyone = loans.filter(loans.start_date <= day).select(*at.keys).distinct()
    out = everyone.left_join(counts, at.keys).select(
        *at.keys, "active_loans", "active_loan_amount")
    out = out.left_join(refi, at.keys).select(
        *out.columns, refinancing_loans_12m=refi.refinancing_loans_12m.fill_null(0))
    return out.filter(out.active_loans.notnull() | (out.refinancing_loans_12m > 0))


def flow_features(t: Tables, as_of: ir.DateScalar | AsOf) -> ir.Table:
    """Transaction-flow behaviour over the year before the as-of date."""
    at = AsOf.of(as_of)
    tx = at.rows(t["transactions"])
    day = at.on(tx)
    start = day - ibis.interval(days=FLOW_WINDOW_DAYS)
    w = tx.filter((tx.txn_date <= day) & (tx.txn_date > start))
    day = at.on(w)
    recent = w.txn_date > day - ibis.interval(days=TREND_WINDOW_DAYS)
    before = (w.txn_date <= day - ibis.interval(days=TREND_WINDOW_DAYS)) & (
        w.txn_date > day - ibis.interval(days=2 * TREND_WINDOW_DAYS)
    )
    inflow = ibis.ifelse(w.amount > 0, w.amount, 0.0)
    outflow = ibis.ifelse(w.amount < 0, -w.amount, 0.0)
    totals = w.mutate(_in=inflow, _out=outflow, _recent=recent, _before=before).group_by(
        at.keys
    ).agg(
        inflow_12m=lambda x: x._in.sum(),
        outflow_12m=lambda x: x._out.sum(),
        txn_count_12m=lambda x: x.count(),
        inflow_90d=lambda x: x._in.sum(where=x._recent),
        outflow_90d=lambda x: x._out.sum(where=x._recent),
        inflow_prev_90d=lambda x: x._in.sum(where=x._before),
    )
    monthly = (w.mutate(_month=w.txn_date.truncate("M"), _in=inflow)
               .group_by([*at.keys, "_month"]).agg(_in=lambda x: x._in.sum()))
    month_stats = monthly.group_by(at.keys).agg(
        _mean=lambda x: x._in.mean(), _std=lambda x: x._in.std(how="pop"),
        _max=lambda x: x._in.max(),
    )
    month_stats = month_stats.select(
        *at.keys,
        inflow_volatility=_div(month_stats._std, month_stats._mean),
        seasonality_index=_div(month_stats._max, month_stats._mean),
    )
    by_party = (w.filter(w.amount > 0).mutate(_party=w.counterparty.fill_null("(none)"))
                .group_by([*at.keys, "_party"]).agg(_in=lambda x: x.amount.sum()))
    ranked = by_party.mutate(
        _rank=ibis.row_number().over(group_by=at.keys, order_by=ibis.desc("_in"))
    )
    top3 = ranked.group_by(at.keys).agg(
        _top=lambda x: x._in.sum(where=x._rank < 3), _all=lambda x: x._in.sum()
    )
    top3 = top3.select(*at.keys, top3_share=_div(top3._top, top3._all))
    flows = totals.left_join(month_stats, at.keys).select(
        *totals.columns, "inflow_volatility", "seasonality_index"
    )
    flows = flows.left_join(top3, at.keys).select(*flows.columns, "top3_share")
    return flows.mutate(
        flow_trend_90d=_div(flows.inflow_90d, flows.inflow_prev_90d) - 1.0,
        net_burn_monthly=(flows.outflow_90d - flows.inflow_90d) / 3.0,
    )


def profile_features(t: Tables, as_of: dt.date) -> ir.Table:
    """Every numeric profile feature, one row per firm in ``firms``.

    Parameters
    ----------
    t : mapping of str to ibis.Table
        The contract tables on one backend (a store's, or Spark's).
    as_of : datetime.date
        The as-of date: nothing dated later is read.

    Returns
    -------
    ibis.Table
        Firm attributes and features (text signals are added separately, see
        :mod:`creditpersona.profile.text`).
    """
    return _features(t, AsOf(date=ibis.literal(as_of, type="date")))


def profile_features_by_day(t: Tables, pairs: ir.Table) -> ir.Table:
    """:func:`profile_features` of each firm on each of its dates, in one expression.

    Parameters
    ----------
    t : mapping of str to ibis.Table
        The contract tables on one backend.
    pairs : ibis.Table
        ``firm_id`` and :data:`DAY` (a date), one row per firm and date.

    Returns
    -------
    ibis.Table
        One row per pair whose firm was founded by its date: :func:`profile_features`'
        columns of the firm on that date, with :data:`DAY` after ``firm_id``.
    """
    return _features(t, AsOf(pairs=pairs.select("firm_id", DAY)))


def _features(t: Tables, at: AsOf) -> ir.Table:
    """:func:`profile_features` as of ``at`` (one date, or each firm's dates)."""
    firms = at.rows(t["firms"])
    firms = firms.filter(firms.founded_on <= at.on(firms))
    d = at.on(firms)
    base = firms.select(
        *at.keys, "industry_code", "region_code", "employees", "ownership_type", "listed",
        # Cast before dividing: Spark reads 365.25 as a DECIMAL and would round to 6 places.
        firm_age_years=_days(d, firms.founded_on).cast("float64") / 365.25,
        relationship_years=_days(d, firms.relationship_start).clip(lower=0).cast("float64")
        / 365.25,
    )
    out = base
    for part in (statement_features(t, at), bureau_features(t, at), repayment_features(t, at),
                 exposure_features(t, at), flow_features(t, at)):
        out = out.left_join(part, at.keys).select(
            *out.columns, *[c for c in part.columns if c not in at.keys]
        )
    return out.mutate(
        flow_to_revenue=_div(out.inflow_12m, out.revenue),
        cash_runway_months=ibis.cases(
            (out.net_burn_monthly > 0,
             _div(out.cash, out.net_burn_monthly).clip(upper=RUNWAY_CAP_MONTHS)),
            (out.net_burn_monthly.notnull(), RUNWAY_CAP_MONTHS),
            else_=ibis.null("float64"),
        ),
        debt_to_revenue=_div(out.bureau_outstanding, out.revenue).clip(upper=CAP),
        guarantees_to_assets=_div(out.guarantees_given, out.total_assets).clip(upper=CAP),
        guarantees_to_equity=ibis.cases(
            (out.guarantees_given.isnull(), ibis.null("float64")),
            (out.guarantees_given <= 0, 0.0),
            (out.net_assets > 0, _div(out.guarantees_given, out.net_assets).clip(upper=CAP)),
            else_=CAP,
        ),
    )
