"""Credit limits (授信额度): working-capital need, DSCR capacity, multipliers and caps.

DOMAIN.md §6. Per firm, from its latest annual statement published by the as-of date:

- **working capital** (CBRC 2010): 营运资金量 = revenue × (1 − sales margin) × (1 + growth)
  / turnover, turnover = 360 / (inventory + receivable − payable + prepayment − advance-receipt
  days), each balance averaged with the prior annual statement's when there is one. The
  need less own working capital is the firm's **total working-capital line** (all lenders,
  ``wc_line``); less its existing short-term borrowings it is the **new lending** the need
  supports (新增额度, ``wc_capacity``). Our bank's line is the total line less the *other*
  banks' short-term loans, so a renewal of what we already lend is not sized at zero;
- **project / term finance**: yearly debt service may reach CFADS / min DSCR (1.3× by
  default) less the existing service; the capacity is the loan that service repays over the
  term at the loan's rate (an annuity), plus what we already lend. CFADS is the operating
  cash flow as reported: on Chinese statements interest paid is a financing cash flow, so
  operating cash flow is already before interest and nothing is added back;
- the capacity is scaled by the grade and persona multipliers, then capped by the
  single-borrower concentration limit (share of the bank's net capital), the leverage cap
  (total bank debt ≤ a multiple of revenue, other banks' debt counted) and the product's
  maximum amount.

The recommended limit is our bank's total line to the firm (授信总额), the smallest of
these, never negative; ``new_lending`` is what it adds to what we lend now, and ``binding``
names the constraint that set it. A firm without a statement gets ``insufficient_data``
whatever the sizing. :func:`recommend_limits`'s examples show a line that renews what
we lend and a firm without a statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.decisions.config import DecisionsConfig, LimitsConfig, load_decisions, lookup
from creditpersona.decisions.value import require_columns

Tables = Mapping[str, ir.Table]
Floats = npt.NDArray[np.float64]

#: Constraint names, in the order ties are resolved.
CONSTRAINTS = ("no_new_credit", "insufficient_data", "capacity", "single_borrower_cap",
               "leverage_cap", "product_cap")
CONSTRAINTS_ZH = {"no_new_credit": "违约客户不新增授信", "insufficient_data": "财务数据不足",
                  "capacity": "需求测算", "working_capital_need": "营运资金需求测算",
                  "dscr": "偿债备付率测算", "single_borrower_cap": "单一客户集中度",
                  "leverage_cap": "负债/收入上限", "product_cap": "产品额度上限"}

#: Balances whose turnover days use the average of the two latest statements.
BALANCE_COLUMNS = ("receivables", "inventory", "prepayments", "payables", "advance_receipts")
STATEMENT_COLUMNS = ("revenue", "cost_of_sales", "net_profit", "interest_expense",
                     "current_assets", "current_liabilities", "receivables", "inventory",
                     "prepayments", "payables", "advance_receipts", "short_term_debt",
                     "long_term_debt", "operating_cash_flow", "depreciation_amortisation")


def working_capital_need(
    revenue: npt.ArrayLike, sales_margin: npt.ArrayLike, growth: npt.ArrayLike,
    inventory_days: npt.ArrayLike, receivable_days: npt.ArrayLike, payable_days: npt.ArrayLike,
    prepayment_days: npt.ArrayLike = 0.0, advance_days: npt.ArrayLike = 0.0,
) -> Floats:
    """营运资金量 by the CBRC 2010 formula (DOMAIN.md §6).

    A cash cycle of zero days or less needs no working capital (turnover is infinite).

    Examples
    --------
    Cycle 60 + 45 − 30 + 10 − 5 = 80 days, turnover 4.5:

    >>> float(working_capital_need(1e8, 0.05, 0.10, 60, 45, 30, 10, 5)[0].round(2))
    23222222.22
    """
    cycle = (np.asarray(inventory_days, dtype=float) + np.asarray(receivable_days, dtype=float)
             - np.asarray(payable_days, dtype=float) + np.asarray(prepayment_days, dtype=float)
             - np.asarray(advance_days, dtype=float))
    need = (np.asarray(revenue, dtype=float) * (1.0 - np.asarray(sales_margin, dtype=float))
            * (1.0 + np.asarray(growth, dtype=float)) * np.maximum(cycle, 0.0) / 360.0)
    return np.atleast_1d(need)


def working_capital_limit(
    need: npt.ArrayLike, own_funds: npt.ArrayLike, existing_loans: npt.ArrayLike,
    other_channels: npt.ArrayLike = 0.0,
) -> Floats:
    """New working-capital loan capacity: need − own funds − existing loans − other channels.

    Never negative.

    Examples
    --------
    >>> round(float(working_capital_limit(23_222_222.22, 8e6, 10e6, 2e6)[0]), 2)
    3222222.22
    """
    gap = (np.asarray(need, dtype=float) - np.asarray(own_funds, dtype=float)
           - np.asarray(existing_loans, dtype=float) - np.asarray(other_channels, dtype=float))
    return np.atleast_1d(np.maximum(gap, 0.0))


def dscr_capacity(
    cfads: npt.ArrayLike, existing_service: npt.ArrayLike, rate: npt.ArrayLike,
    term_months: npt.ArrayLike, min_dscr: float = 1.3,
) -> Floats:
    """Largest loan whose level yearly service keeps DSCR ≥ ``min_dscr``.

    Service room = CFADS / min DSCR − existing service; the loan is the present value of that
    room paid yearly over the term at ``rate`` (an annuity). Never negative.

    Examples
    --------
    CFADS 13 m, no other debt, 5 years at 0 %: 10 m a year for 5 years.

    >>> float(dscr_capacity(13e6, 0.0, 0.0, 60)[0])
    50000000.0
    >>> round(float(dscr_capacity(13e6, 4e6, 0.05, 60)[0]))
    25976860
    """
    room = np.maximum(np.asarray(cfads, dtype=float) / min_dscr
                      - np.asarray(existing_service, dtype=float), 0.0)
    n = np.asarray(term_months, dtype=float) / 12.0
    r = np.asarray(rate, dtype=float)
    safe = np.where(r > 1e-12, r, 1.0)
    annuity = np.where(r > 1e-12, (1.0 - (1.0 + safe) ** (-n)) / safe, n)
    return np.atleast_1d(np.nan_to_num(room * annuity))


def statement_inputs(tables: Tables, as_of: dt.date) -> pd.DataFrame:
    """The latest annual statement published by ``as_of`` per firm, with last year's revenue.

    Returns
    -------
    pandas.DataFrame
        ``firm_id``, ``period_end``, the :data:`STATEMENT_COLUMNS`, ``prev_revenue`` and the
        prior statement's balances ``prev_<line>`` of :data:`BALANCE_COLUMNS` (NaN when
        there is no prior statement).
    """
    day = ibis.literal(as_of, type="date")
    st = tables["financial_statements"]
    annual = st.filter((st.period_type == "annual") & (st.published_on <= day))
    ranked = annual.mutate(
        _rank=ibis.row_number().over(group_by="firm_id", order_by=ibis.desc("period_end")))
    cur = ranked.filter(ranked._rank == 0).select("firm_id", "period_end", *STATEMENT_COLUMNS)
    prev = ranked.filter(ranked._rank == 1).select(
        "firm_id", prev_revenue="revenue",
        **{f"prev_{c}": c for c in BALANCE_COLUMNS})
    joined = cur.left_join(prev, "firm_id").select(
        *cur.columns, "prev_revenue", *(f"prev_{c}" for c in BALANCE_COLUMNS))
    return joined.to_pandas().sort_values("firm_id", ignore_index=True)


# long: over 80 lines only through its docstring (22 output columns, worked examples); the
# sizing itself is in _terms, _capacity, _caps and _bind.
def recommend_limits(
    firms: pd.DataFrame,
    statements: pd.DataFrame,
    config: DecisionsConfig | None = None,
    *,
    product: str | pd.Series | None = None,
    term_months: float | pd.Series | None = None,
    rate: float | pd.Series | None = None,
    our_exposure: pd.Series | None = None,
    bank_debt: pd.Series | None = None,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Recommended credit limit per firm with every constraint and the binding one.

    Parameters
    ----------
    firms : pandas.DataFrame
        ``firm_id``, ``grade``; optional ``persona_strategy``.
    statements : pandas.DataFrame
        From :func:`statement_inputs` (firms without a statement get no capacity).
    config : DecisionsConfig, optional
    product : str or Series (indexed by ``firm_id``), optional
        Product the limit is for (default: the persona's main product). Project finance,
        green and equipment loans are sized by DSCR, the others by working-capital need.
    term_months, rate : float or Series (indexed by ``firm_id``), optional
        Term and yearly rate of the DSCR annuity (default: the product's term, LPR + 100 bp).
    our_exposure : Series, optional
        Outstanding at our bank by ``firm_id`` (single-borrower cap).
    bank_debt : Series, optional
        Debt at all banks by ``firm_id`` (leverage cap), e.g. the bureau balance; default
        the statement's short- and long-term borrowings.
    as_of : datetime.date, optional
        The date whose LPR the default DSCR rate is on (default: the latest fixing).

    Returns
    -------
    pandas.DataFrame
        One row per firm: ``product``, ``sizing`` (``working_capital_need`` or ``dscr``),
        ``wc_need``, ``own_working_capital``, ``wc_line`` (total working-capital line, all
        lenders), ``existing_short_term_debt``, ``wc_capacity`` (new lending the need
        supports, all lenders), ``our_exposure``, ``cfads``, ``existing_service``,
        ``dscr_capacity``, ``capacity`` (our line before multipliers),
        ``grade_multiplier``, ``persona_multiplier``, ``adjusted_capacity``,
        ``single_borrower_cap``, ``leverage_cap``, ``product_cap``, ``recommended_limit``
        (our total line), ``new_lending``, ``binding``, ``binding_zh``.

    Examples
    --------
    >>> firms = pd.DataFrame({"firm_id": ["A", "B"], "grade": ["5", "D"]})
    >>> st = pd.DataFrame({"firm_id": ["A"], "revenue": [1e8], "cost_of_sales": [8e7],
    ...     "net_profit": [5e6], "interest_expense": [1e6], "current_assets": [4e7],
    ...     "current_liabilities": [3.2e7], "receivables": [1.25e7], "inventory": [1.2e7],
    ...     "prepayments": [2e6], "payables": [6e6], "advance_receipts": [1e6],
    ...     "short_term_debt": [1e7], "long_term_debt": [0.0], "operating_cash_flow": [8e6],
    ...     "depreciation_amortisation": [1e6], "prev_revenue": [1e8 / 1.1]})
    >>> lim = recommend_limits(firms, st, product="working_capital")
    >>> lim[["wc_need", "wc_capacity", "recommended_limit"]].round(0).values.tolist()[0]
    [22467500.0, 4467500.0, 3819713.0]
    >>> lim["binding"].tolist()  # grade 5 × 0.95, unclassified persona × 0.9; D: none
    ['working_capital_need', 'no_new_credit']

    If the 10 m of short-term debt is ours, the line covers its renewal (new lending 0):

    >>> ours = recommend_limits(firms, st, product="working_capital",
    ...                         our_exposure=pd.Series({"A": 1e7}))
    >>> ours[["wc_line", "recommended_limit", "new_lending"]].round(0).values.tolist()[0]
    [14467500.0, 12369713.0, 2369713.0]

    Without a statement a project-finance limit is ``insufficient_data``, not a DSCR of 0:

    >>> recommend_limits(firms.iloc[:1].assign(firm_id="C"), st, product="project_finance"
    ...                  )["binding"].tolist()
    ['insufficient_data']
    """
    cfg = config or load_decisions()
    require_columns(firms, ["firm_id", "grade"], "the firms frame (PD scores)")
    require_columns(statements, ["firm_id", *STATEMENT_COLUMNS], "the statement inputs")
    ids = firms["firm_id"].astype(str).to_numpy()
    s = statements.drop_duplicates("firm_id").set_index(
        statements.drop_duplicates("firm_id")["firm_id"].astype(str)).reindex(ids)
    persona = cfg.persona_code(firms["persona_strategy"] if "persona_strategy" in firms.columns
                               else None,
                               len(ids))
    prod, term, loan_rate = _terms(persona, ids, cfg, product, term_months, rate, as_of)
    ours = (np.nan_to_num(our_exposure.reindex(ids).to_numpy(dtype=float))
            if our_exposure is not None else np.zeros(len(ids)))
    out: dict[str, Any] = {"firm_id": ids, "persona_policy": persona,
                           "grade": firms["grade"].astype(str).to_numpy(),
                           "product": prod.to_numpy()}
    _capacity(out, s, prod, ours, loan_rate, term, cfg)
    out.update(_caps(s, ours, bank_debt, ids, prod, cfg))
    no_data = s["revenue"].isna().to_numpy() | ~np.isfinite(out["capacity"])
    return _bind(pd.DataFrame(out), no_data, ours)


def _terms(persona: npt.NDArray[Any], ids: npt.NDArray[Any], cfg: DecisionsConfig,
           product: object, term_months: object, rate: object, as_of: dt.date | None,
           ) -> tuple[pd.Series, Floats, Floats]:
    """The product (the persona's main product unless given), term and DSCR rate."""
    main = cfg.persona_values(persona, "main_product")
    prod = pd.Series(_aligned(product, ids, main))
    prod = prod.where(prod.isin(list(cfg.products)), pd.Series(main))
    term = _aligned(term_months, ids, cfg.product_values(prod, "term_months")).astype(float)
    loan_rate = _aligned(rate, ids, cfg.lpr_rate(term, as_of) + 0.01).astype(float)
    return prod, term, loan_rate


def _capacity(out: dict[str, Any], s: pd.DataFrame, prod: pd.Series, ours: Floats,
              loan_rate: Floats, term: Floats, cfg: DecisionsConfig) -> None:
    """Add the sizing (working-capital need or DSCR), our line's capacity and the grade
    and persona multipliers to ``out``."""
    by_dscr = prod.isin(["project_finance", "green", "equipment"]).to_numpy()
    out["sizing"] = np.where(by_dscr, "dscr", "working_capital_need")
    wc = _wc_sizing(s, cfg.limits, ours)
    out.update({k: v for k, v in wc.items() if k != "wc_ours"}, our_exposure=ours)
    out.update(_dscr_sizing(s, cfg.limits, loan_rate, term))
    # DSCR capacity is new lending after every existing service: our line adds what we lend.
    out["capacity"] = np.where(by_dscr, out["dscr_capacity"] + ours,
                               np.where(np.isnan(wc["wc_need"]), np.nan, wc["wc_ours"]))
    out["grade_multiplier"] = lookup(out["grade"], cfg.limits.grade_multipliers,
                                     0.0).astype(float)
    out["persona_multiplier"] = cfg.persona_values(out["persona_policy"],
                                                   "limit_multiplier").astype(float)
    out["adjusted_capacity"] = (np.nan_to_num(out["capacity"]) * out["grade_multiplier"]
                                * out["persona_multiplier"])


def _aligned(value: object, ids: npt.NDArray[Any],
             default: npt.ArrayLike) -> npt.NDArray[np.generic]:
    """A per-firm option: ``default`` if None, a Series by ``firm_id``, else one value."""
    if value is None:
        return np.asarray(default)
    if isinstance(value, pd.Series):  # indexed by firm_id
        return value.reindex(ids).to_numpy()
    return np.full(len(ids), value)


def _wc_sizing(s: pd.DataFrame, lc: LimitsConfig, ours: Floats) -> dict[str, Floats]:
    """Working-capital need and the lines it supports (CBRC 2010, DOMAIN.md §6)."""

    def col(name: str) -> Floats:
        return s[name].to_numpy(dtype=float)

    def avg(name: str) -> Floats:
        """The balance averaged with the prior statement's where it exists."""
        now = col(name)
        prior = f"prev_{name}"
        if prior not in s.columns:
            return now
        before = s[prior].to_numpy(dtype=float)
        return np.where(np.isfinite(before), (now + before) / 2.0, now)

    revenue, cos = col("revenue"), col("cost_of_sales")
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.where(revenue > 0, col("net_profit") / revenue, np.nan)
        growth = np.where(col("prev_revenue") > 0, revenue / col("prev_revenue") - 1.0, 0.0)
        per_rev = np.where(revenue > 0, 360.0 / revenue, np.nan)
        per_cos = np.where(cos > 0, 360.0 / cos, np.nan)
    growth = np.clip(np.nan_to_num(growth), *lc.growth_bounds)
    need = working_capital_need(
        revenue, margin, growth, avg("inventory") * per_cos, avg("receivables") * per_rev,
        avg("payables") * per_cos, avg("prepayments") * per_cos,
        avg("advance_receipts") * per_rev)
    own = np.maximum(col("current_assets") - col("current_liabilities"), 0.0)
    short = col("short_term_debt")
    # The total working-capital line the need supports (all lenders), the new lending over
    # what the firm already borrows short term (新增额度), and our share of the line: the
    # line less the other banks' short-term loans (what we lend now is part of our line, so
    # a renewal is not sized at zero).
    wc_line = working_capital_limit(need, own, 0.0)
    others_short = np.maximum(np.nan_to_num(short) - ours, 0.0)
    return {"wc_need": need, "own_working_capital": own, "wc_line": wc_line,
            "existing_short_term_debt": short,
            "wc_capacity": working_capital_limit(need, own, short),
            "wc_ours": working_capital_limit(wc_line, 0.0, others_short)}


def _dscr_sizing(s: pd.DataFrame, lc: LimitsConfig, loan_rate: Floats,
                 term: Floats) -> dict[str, Floats]:
    """Cash flow available for debt service, existing service and the DSCR capacity."""
    # On Chinese statements interest paid is a financing cash flow: operating cash flow is
    # already before interest and is the cash available for debt service as it stands.
    cfads = s["operating_cash_flow"].to_numpy(dtype=float)
    service = (s["interest_expense"].to_numpy(dtype=float)
               + s["long_term_debt"].to_numpy(dtype=float) / lc.existing_debt_years)
    return {"cfads": cfads, "existing_service": service,
            "dscr_capacity": dscr_capacity(cfads, service, loan_rate, term, lc.min_dscr)}


def _caps(s: pd.DataFrame, ours: Floats, bank_debt: pd.Series | None,
          ids: npt.NDArray[Any], prod: pd.Series, cfg: DecisionsConfig) -> dict[str, Floats]:
    """Caps on our total line: single borrower, leverage and the product's own cap."""
    lc = cfg.limits
    revenue = s["revenue"].to_numpy(dtype=float)
    # The single-borrower concentration limit, and the firm's total bank debt within
    # max_debt_to_revenue × revenue (other banks' debt counted).
    single = np.full(len(ids), lc.single_borrower_share * lc.bank_net_capital_yuan)
    debt = (np.nan_to_num(bank_debt.reindex(ids).to_numpy(dtype=float))
            if bank_debt is not None
            else np.nan_to_num(s["short_term_debt"].to_numpy(dtype=float)
                               + s["long_term_debt"].to_numpy(dtype=float)))
    others = np.maximum(debt - ours, 0.0)
    leverage = np.where(revenue > 0,
                        np.maximum(lc.max_debt_to_revenue * revenue - others, 0.0), 0.0)
    prod_max = pd.Series(cfg.product_values(prod, "max_amount_yuan")).astype(float).to_numpy()
    return {"single_borrower_cap": single, "leverage_cap": np.nan_to_num(leverage),
            "product_cap": np.where(np.isnan(prod_max), np.inf, prod_max)}


def _bind(out: pd.DataFrame, no_data: npt.NDArray[np.bool_], ours: Floats) -> pd.DataFrame:
    """The recommended limit: the smallest constraint, and which one binds."""
    stopped = out["grade_multiplier"].to_numpy() <= 0
    candidates = np.vstack([
        np.where(stopped, 0.0, np.inf), np.where(no_data, 0.0, np.inf),
        out["adjusted_capacity"].to_numpy(), out["single_borrower_cap"].to_numpy(),
        out["leverage_cap"].to_numpy(), out["product_cap"].to_numpy(),
    ])
    which = candidates.argmin(axis=0)
    limit = np.maximum(candidates.min(axis=0), 0.0)
    binding = np.array(CONSTRAINTS, dtype=object)[which]
    binding = np.where(binding == "capacity", out["sizing"].to_numpy(), binding)
    out["recommended_limit"] = limit
    out["new_lending"] = np.maximum(limit - ours, 0.0)
    out["binding"] = binding
    out["binding_zh"] = lookup(binding, CONSTRAINTS_ZH, "")
    return out
