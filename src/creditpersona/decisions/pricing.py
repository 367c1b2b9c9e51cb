"""Risk-based loan pricing (风险定价): LPR + spread, cost-plus floor and persona strategy.

For a requested loan (amount, term, product, collateral) of a firm with a PD and a persona,
every component is a yearly rate on the exposure, shown in basis points:

    capital C = K(PD, LGD, M, revenue) × 12.5 × total capital ratio requirement
    pre-tax   = FTP(term) + operating cost + expected loss (PD·LGD) + hurdle × C
                + target margin − fees
    floor     = pre-tax / (1 − t)      (t: VAT and surcharges on interest income; the
                                        ``tax_bp`` component is floor × t)
    rate  = max(floor + persona strategy adjustment, cost floor)
    spread = rate − LPR(tenor), kept within the configured spread bounds

M is the loan's effective maturity (an amortising loan's is about half its term), C the
capital the bank must hold at its total capital ratio requirement (10.5 % by default), not
the 8 % minimum. The cost floor is FTP + operating cost grossed up for the tax: no quote goes
below it unless the request carries an explicit ``pricing_exception``, which is logged and
kept in ``exception`` (``below_cost`` then says the rate is under it).

RAROC at the offered rate = (rate·(1 − t) + fees − FTP − operating cost − EL) / C: at the
floor with no target margin it equals the hurdle exactly; a strategic discount (or a spread
capped at the upper bound) pushes it below, and ``below_hurdle`` says so. A loan whose floor
exceeds the upper spread bound cannot earn the hurdle at any allowed price
(``floor_above_max``); a firm in default (grade ``D``) is not priced for new credit
(``declined``).

A deposit-secured trade-finance loan at PD 0.05 % is not quoted under FTP + operating
cost (grossed up for the tax) unless an exception is given, and then it is flagged:

>>> import pandas as pd
>>> low = pd.DataFrame({"firm_id": ["B"], "pd": [0.0005], "grade": ["1"]})
>>> req = pd.DataFrame({"firm_id": ["B", "B"], "amount": [1e7, 1e7], "term_months": [6, 6],
...                     "product": ["trade_finance"] * 2, "collateral_type": ["deposit"] * 2,
...                     "pricing_exception": [None, "strategic client, approved by CRO"]})
>>> from creditpersona.decisions.pricing import price_loans
>>> q = price_loans(req, low)
>>> (q["rate"] >= q["cost_floor_rate"] - 1e-12).tolist(), q["below_cost"].tolist()
([True, False], [False, True])
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from creditpersona.decisions.capital import effective_maturity, irb_capital
from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.value import require_columns
from creditpersona.errors import SchemaError

#: The pricing components in the order of the waterfall (bp per year).
COMPONENTS = ("ftp_bp", "operating_cost_bp", "expected_loss_bp", "capital_charge_bp",
              "target_margin_bp", "fee_credit_bp", "tax_bp", "strategy_bp")
_log = logging.getLogger(__name__)


# long: over 80 lines only through its docstring (inputs, every output column, a worked
# quote); the body is one pass of array columns, the parts in _components, _quote, _raroc.
def price_loans(
    requests: pd.DataFrame, firms: pd.DataFrame, config: DecisionsConfig | None = None,
    *, as_of: dt.date | npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Price requested loans: recommended rate with every component.

    Parameters
    ----------
    requests : pandas.DataFrame
        ``firm_id``, ``amount`` (yuan), ``term_months``; optional ``product`` (default: the
        persona's main product), ``collateral_type``/``guarantee_type`` (default: the
        product's usual collateral, no guarantee) and ``pricing_exception`` (a reason that
        allows a rate below the cost floor; logged).
    firms : pandas.DataFrame
        ``firm_id``, ``pd``, ``grade``; optional ``persona_strategy`` (unknown → ``default``) and
        ``revenue`` (SME capital adjustment). One row per firm.
    config : DecisionsConfig, optional
    as_of : datetime.date or array of dates, optional
        The date whose LPR the quote is on, or one per request (default: the latest fixing
        of the LPR table).

    Returns
    -------
    pandas.DataFrame
        One row per request, in order: the request, ``persona_policy``, ``lgd``,
        ``maturity_years`` (effective), ``capital_k`` (capital held per unit), the
        components of :data:`COMPONENTS`, ``floor_rate``, ``cost_floor_rate``,
        ``lpr_tenor``, ``lpr``, ``spread_bp`` (recommended), ``rate``,
        ``cost_floor_applied``, ``below_cost``, ``exception``, ``raroc``, ``hurdle_rate``,
        ``below_hurdle``, ``floor_above_max``, ``declined``.

    Raises
    ------
    SchemaError
        If a column is missing, a request's firm is not among ``firms``, or a request has a
        non-positive amount or term or an unknown product.

    Examples
    --------
    >>> firms = pd.DataFrame({"firm_id": ["A"], "pd": [0.01], "grade": ["5"],
    ...                       "persona_strategy": ["stable_manufacturer"]})
    >>> req = pd.DataFrame({"firm_id": ["A"], "amount": [1e7], "term_months": [12],
    ...                     "product": ["working_capital"], "collateral_type": ["none"]})
    >>> p = price_loans(req, firms).iloc[0]
    >>> [round(float(p[c]), 1) for c in COMPONENTS]  # FTP, opex, EL, capital, margin, fee,
    ... # tax, persona
    [200.0, 40.0, 40.0, 82.1, 0.0, -10.0, 25.4, -15.0]
    >>> round(float(p.floor_rate) * 1e4, 1), round(float(p.spread_bp), 1)
    (377.4, 62.4)
    >>> bool(p.below_hurdle), round(float(p.raroc), 4)  # the -15 bp discount costs RAROC
    (True, 0.0995)
    """
    cfg = config or load_decisions()
    out, fr = _requests(requests, firms, cfg)
    # Every column is computed as an array and the frame built once at the end: the engine's
    # cost is pandas' per-column overhead, not arithmetic, and the service prices quotes in
    # small batches (service/quoting.py), where that overhead is the whole cost.
    cols: dict[str, Any] = {}
    p = fr["pd"].to_numpy(dtype=float)
    term = out["term_months"].to_numpy(dtype=float)
    floor_bp = _components(cols, out, fr, p, term, cfg)
    cols["floor_rate"] = floor_bp / 1e4
    # The cost floor: FTP + operating cost grossed up for the tax on interest.
    cost_bp = (cols["ftp_bp"] + cols["operating_cost_bp"]) / (1.0 - cfg.pricing.vat_and_surcharges)
    cols["cost_floor_rate"] = cost_bp / 1e4
    cols["lpr_tenor"] = cfg.lpr_tenor(term)
    lpr = np.broadcast_to(np.asarray(cfg.lpr_rate(term, as_of), dtype=float), term.shape)
    cols["lpr"] = lpr
    exception = (out["pricing_exception"].fillna("").astype(str).str.strip().to_numpy()
                 if "pricing_exception" in out.columns else np.full(len(out), ""))
    _quote(cols, floor_bp, cost_bp, lpr, exception, cfg)
    tax = cfg.pricing.vat_and_surcharges
    raroc = _raroc(cols["rate"], tax, cols["capital_k"], cols["fee_credit_bp"],
                   cols["ftp_bp"], cols["operating_cost_bp"], cols["expected_loss_bp"])
    cols["raroc"] = raroc
    cols["hurdle_rate"] = np.full(len(out), cfg.hurdle_rate)
    cols["below_hurdle"] = ~(raroc >= cfg.hurdle_rate - 1e-9)
    cols["floor_above_max"] = floor_bp - lpr * 1e4 > cfg.spread_bounds_bp[1]
    cols["declined"] = (cols["grade"] == "D") | (p >= 1.0)
    for row in np.flatnonzero(cols["below_cost"] & (exception != "")).tolist():
        _log.warning("pricing exception for firm_id=%s (%s): rate %.4f%% below the cost floor "
                     "%.4f%%: %s", out["firm_id"].iloc[row], out["product"].iloc[row],
                     cols["rate"][row] * 100, cost_bp[row] / 100, exception[row])
    out = out.drop(columns=[c for c in (*cols, "pricing_exception") if c in out.columns])
    return pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)


#: The firm columns pricing reads.
_FIRM_COLUMNS = ("firm_id", "pd", "grade", "revenue", "persona_strategy")


def _requests(requests: pd.DataFrame, firms: pd.DataFrame,
              cfg: DecisionsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checked requests with product and collateral filled, and their firms' rows."""
    require_columns(requests, ["firm_id", "amount", "term_months"], "the loan requests")
    require_columns(firms, ["firm_id", "pd", "grade"], "the firms frame (PD scores)")
    # Only the columns pricing reads travel with each request (not every profile column).
    f = firms[[c for c in _FIRM_COLUMNS if c in firms.columns]]
    f = f.drop_duplicates("firm_id").reset_index(drop=True)
    fid = requests["firm_id"]
    pos = pd.Index(f["firm_id"]).get_indexer(pd.Index(fid))
    if (pos < 0).any():
        raise SchemaError(f"loan requests: firm_id={fid.iloc[int(np.argmin(pos))]} has no PD "
                          "score; score the firm first or remove the request.")
    out = requests.reset_index(drop=True)
    amount = out["amount"].to_numpy(dtype=float)
    term = out["term_months"].to_numpy(dtype=float)
    bad = ~(np.isfinite(amount) & (amount > 0) & np.isfinite(term) & (term >= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"loan requests row firm_id={fid.iloc[i]}: amount {amount[i]!r} and "
                          f"term_months {term[i]!r} must be positive; fix the request.")
    fr = f.take(pos).reset_index(drop=True)
    persona = cfg.persona_code(fr["persona_strategy"] if "persona_strategy" in fr.columns
                               else None, len(out))
    filled: dict[str, Any] = {}
    if "product" not in out.columns:
        filled["product"] = cfg.persona_values(persona, "main_product")
    product = pd.Series(filled.get("product", out.get("product")), index=out.index)
    if product.isna().any():
        product = product.fillna(pd.Series(cfg.persona_values(persona, "main_product")))
    filled["product"] = product
    known = product.isin(list(cfg.products))
    if not known.all():
        raise SchemaError(f"loan requests: product {product[~known].iloc[0]!r} is not in "
                          f"the catalogue ({', '.join(cfg.products)}).")
    usual = pd.Series(cfg.product_values(product, "default_collateral"))
    filled["collateral_type"] = (out["collateral_type"].fillna(usual)
                                 if "collateral_type" in out.columns else usual)
    if "guarantee_type" not in out.columns:
        filled["guarantee_type"] = "none"
    filled["persona_policy"] = persona
    # One assignment for the filled columns (each ``out[c] = …`` costs a copy of the frame's
    # column index and a dtype inference).
    out = out.assign(**filled)
    return out, fr


def _components(cols: dict[str, Any], out: pd.DataFrame, fr: pd.DataFrame, p: np.ndarray,
                term: np.ndarray, cfg: DecisionsConfig) -> np.ndarray:
    """Add LGD, maturity, capital and the waterfall components (bp); return the floor (bp)."""
    lgd = cfg.lgd_of(out["collateral_type"], out["guarantee_type"])
    revenue = fr["revenue"].to_numpy(dtype=float) if "revenue" in fr.columns else None
    pc = cfg.pricing
    product = out["product"]
    amortising = pd.Series(cfg.product_values(product, "amortising")).fillna(False)
    maturity = effective_maturity(term, amortising.to_numpy(dtype=bool), pc.maturity,
                                  pc.foundation_maturity_years)
    k_basel = irb_capital(p, lgd, maturity, revenue, config=cfg.capital)["capital"].to_numpy()
    # K is capital at the 8 % minimum (12.5·K = RWA); the bank holds its total requirement.
    k = k_basel * 12.5 * pc.capital_per_rwa
    n = len(out)
    cols["pd"] = p
    cols["grade"] = fr["grade"].astype(object).to_numpy()
    cols["lgd"] = lgd
    cols["maturity_years"] = maturity
    cols["capital_k"] = k
    cols["ftp_bp"] = cfg.ftp(term) * 1e4
    cols["operating_cost_bp"] = cfg.product_values(product, "operating_cost_bp").astype(float)
    cols["expected_loss_bp"] = np.clip(p, 0.0, 1.0) * lgd * 1e4
    cols["capital_charge_bp"] = cfg.hurdle_rate * k * 1e4
    cols["target_margin_bp"] = np.full(n, float(cfg.target_margin_bp))
    cols["fee_credit_bp"] = -cfg.product_values(product, "fee_bp").astype(float)
    pre_tax = np.zeros(n)
    for c in COMPONENTS[:6]:  # in the waterfall's order, a missing part counting 0 (as ever)
        part = np.asarray(cols[c], dtype=float)
        pre_tax = pre_tax + np.where(np.isnan(part), 0.0, part)
    floor_bp = pre_tax / (1.0 - pc.vat_and_surcharges)
    cols["tax_bp"] = floor_bp * pc.vat_and_surcharges
    cols["strategy_bp"] = cfg.persona_values(out["persona_policy"].to_numpy(dtype=object),
                                             "spread_adjustment_bp").astype(float)
    return np.asarray(floor_bp, dtype=float)


def _quote(cols: dict[str, Any], floor_bp: np.ndarray, cost_bp: np.ndarray, lpr: np.ndarray,
           exception: np.ndarray, cfg: DecisionsConfig) -> None:
    """Add the spread within bounds, lifted to the cost floor unless an exception is given."""
    lo, hi = cfg.spread_bounds_bp
    wanted = floor_bp + cols["strategy_bp"] - lpr * 1e4
    spread = np.clip(wanted, lo, hi)
    under = lpr * 1e4 + spread < cost_bp - 1e-9
    lifted = under & (exception == "") & cfg.pricing.cost_floor
    spread = np.where(lifted, np.minimum(cost_bp - lpr * 1e4, hi), spread)
    rate = lpr + spread / 1e4
    below = rate * 1e4 < cost_bp - 1e-9
    cols["spread_bp"] = spread
    cols["rate"] = rate
    cols["cost_floor_applied"] = lifted
    cols["below_cost"] = below
    cols["exception"] = np.where(below, exception, "").astype(object)


def _raroc(rate: np.ndarray, tax: float, k: np.ndarray, fee_credit_bp: np.ndarray,
           ftp_bp: np.ndarray, operating_cost_bp: np.ndarray,
           expected_loss_bp: np.ndarray) -> np.ndarray:
    earned = np.asarray(rate, dtype=float) * (1.0 - tax) + (
        -fee_credit_bp - ftp_bp - operating_cost_bp - expected_loss_bp) / 1e4
    return np.where(k > 0, earned / np.where(k > 0, k, 1.0), np.nan)


def raroc_at(rate: np.ndarray, priced: pd.DataFrame,
             config: DecisionsConfig | None = None) -> np.ndarray:
    """RAROC of priced loans at another rate (e.g. a flat spread), same components.

    Examples
    --------
    >>> firms = pd.DataFrame({"firm_id": ["A"], "pd": [0.01], "grade": ["5"]})
    >>> req = pd.DataFrame({"firm_id": ["A"], "amount": [1e7], "term_months": [12]})
    >>> p = price_loans(req, firms)
    >>> round(float(raroc_at(p["floor_rate"].to_numpy() , p)[0]), 4)  # the floor earns the hurdle
    0.12
    """
    tax = (config or load_decisions()).pricing.vat_and_surcharges
    return _raroc(rate, tax, priced["capital_k"].to_numpy(dtype=float),
                  *(priced[c].to_numpy(dtype=float) for c in (
                      "fee_credit_bp", "ftp_bp", "operating_cost_bp", "expected_loss_bp")))
