"""Backtests on a bank with known outcomes: persona-aware pricing against one flat spread, and
the early-warning rules against realised defaults.

**Pricing.** Every historical loan is priced at its origination with the PD and persona
known then (the caller supplies them per firm and quarter end — on the synthetic bank, the
truth file's PD at the last quarter end on or before the start date stands in for the PD
model, which is not part of this stage). Two policies quote each loan:

- *persona-aware*: :func:`~creditpersona.decisions.pricing.price_loans` — cost-plus floor
  plus the persona adjustment, loans whose floor exceeds the spread cap declined;
- *cost-plus only*: the same without the persona adjustment (isolates the persona's part);
- *flat*: one spread for every loan, the amount-weighted mean spread of the persona-aware
  quotes (the same average price, allocated without regard to risk).

Demand: the loan's recorded spread is what the borrower actually paid in the market, so a
borrower takes our quote when it is no more than ``tolerance_bp`` above that spread (a
cheaper quote is always taken). ``acceptance=False`` books every loan under both policies
instead (then expected loss is identical and only the price allocation differs).

Outcomes come from the data: a loan defaults if its firm's default date falls between the
start and the earlier of maturity and the end of the data. Exposure runs until then;
balances follow the product's repayment profile. Per policy: booked loans and volume,
expected loss (PD·LGD per exposure-year), realised loss (LGD × balance at default), capital
(IRB K per exposure-year), income (rate + fees − FTP − operating cost), and RAROC expected
(income − EL) and realised (income − realised loss) over capital.

**Early warning.** Flag firms with the rules on the profile of an as-of date (and the
earlier quarter's for change rules); among firms not in default then with a known 12-month
outcome: detection rate = flagged defaulters / defaulters, false-alarm rate = flagged
non-defaulters / non-defaulters, precision = defaulters among flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from creditpersona.decisions.config import DecisionsConfig, load_decisions
from creditpersona.decisions.pricing import price_loans
from creditpersona.decisions.value import require_columns
from creditpersona.decisions.warning import WarningRules, evaluate_warnings
from creditpersona.models.master_scale import load_master_scale


def price_at_origination(
    loans: pd.DataFrame, pd_history: pd.DataFrame, config: DecisionsConfig | None = None
) -> pd.DataFrame:
    """Price each loan with the PD and persona of the last quarter end on or before its start.

    The quote is on the LPR in force on the loan's start date.

    Parameters
    ----------
    loans : pandas.DataFrame
        Contract ``loans`` rows.
    pd_history : pandas.DataFrame
        ``firm_id``, ``as_of``, ``pd``; optional ``persona_strategy``, ``in_default``.

    Returns
    -------
    pandas.DataFrame
        The priced loans (loans with no earlier PD, or of firms already in default at
        origination, are left out), with the loan's own columns prefixed ``loan_``.
    """
    cfg = config or load_decisions()
    require_columns(pd_history, ["firm_id", "as_of", "pd"], "the PD history")
    hist = pd_history.assign(
        as_of=pd.to_datetime(pd_history["as_of"]).astype("datetime64[ns]"),
        firm_id=pd_history["firm_id"].astype(str)).sort_values("as_of")
    book = loans.assign(start=pd.to_datetime(loans["start_date"]).astype("datetime64[ns]"),
                        firm_id=loans["firm_id"].astype(str)).sort_values("start")
    at = pd.merge_asof(book, hist, left_on="start", right_on="as_of", by="firm_id",
                       direction="backward")
    at = at[at["pd"].notna()]
    if "in_default" in at.columns:
        at = at[~at["in_default"].astype(bool)]
    at = at.sort_values("loan_id", ignore_index=True)
    scale = load_master_scale()
    firms = pd.DataFrame({"firm_id": at["loan_id"], "pd": at["pd"],
                          "grade": scale.assign(at["pd"])})
    if "persona_strategy" in at.columns:
        firms["persona_strategy"] = at["persona_strategy"].to_numpy()
    requests = pd.DataFrame({
        "firm_id": at["loan_id"], "amount": at["amount"], "term_months": at["term_months"],
        "product": at["product"], "collateral_type": at["collateral_type"],
        "guarantee_type": at["guarantee_type"],
    })
    # Each loan is quoted on the LPR in force on its start date.
    priced = price_loans(requests, firms, cfg,
                         as_of=at["start"].to_numpy().astype("datetime64[D]"))
    priced = priced.rename(columns={"firm_id": "loan_id"})
    for c in ("firm_id", "spread_bp", "lpr_tenor", "start_date", "maturity_date"):
        priced[f"loan_{c}"] = at[c].to_numpy()
    return priced


def pricing_backtest(
    priced: pd.DataFrame,
    default_dates: pd.Series,
    end_date: dt.date,
    config: DecisionsConfig | None = None,
    *,
    tolerance_bp: float = 50.0,
    acceptance: bool = True,
) -> pd.DataFrame:
    """Realised and expected RAROC and loss of persona-aware pricing against a flat spread.

    Parameters
    ----------
    priced : pandas.DataFrame
        From :func:`price_at_origination`.
    default_dates : pandas.Series
        Default date by ``firm_id`` (missing: no default by ``end_date``).
    end_date : datetime.date
        The end of the observed data.
    tolerance_bp : float, default 50
        How far above the recorded market spread a borrower still takes a quote.
    acceptance : bool, default True
        Apply the demand rule; otherwise every loan is booked under both policies.

    Returns
    -------
    pandas.DataFrame
        One row per policy (``persona_aware``, ``cost_plus_only``, ``flat``) with
        ``spread_bp`` (mean quoted), ``loans``, ``volume``, ``defaults``, ``exposure_years``,
        ``expected_loss``, ``el_rate``, ``realised_loss``, ``loss_rate``, ``income``,
        ``capital_years``, ``raroc_expected``, ``raroc_realised``.
    """
    cfg = config or load_decisions()
    p = priced
    run = _loan_runs(p, default_dates, end_date, cfg)
    amount = p["amount"].to_numpy(dtype=float)
    aware_spread = p["spread_bp"].to_numpy(dtype=float)
    aware_ok = ~(p["floor_above_max"].to_numpy(dtype=bool) | p["declined"].to_numpy(dtype=bool))
    flat = float(np.average(aware_spread[aware_ok], weights=amount[aware_ok]))
    market = p["loan_spread_bp"].to_numpy(dtype=float)
    lo, hi = cfg.spread_bounds_bp
    cost_plus = np.clip(aware_spread - p["strategy_bp"].to_numpy(dtype=float), lo, hi)
    rows = []
    for name, spread, eligible in (("persona_aware", aware_spread, aware_ok),
                                   ("cost_plus_only", cost_plus, aware_ok),
                                   ("flat", np.full(len(p), flat), np.ones(len(p), bool))):
        booked = eligible & (spread <= market + tolerance_bp) if acceptance else eligible
        rows.append({"policy": name, **_outcome(p, run, spread, booked)})
    return pd.DataFrame(rows).set_index("policy")


def _loan_runs(p: pd.DataFrame, default_dates: pd.Series, end_date: dt.date,
               cfg: DecisionsConfig) -> dict[str, np.ndarray]:
    """Per loan: whether it defaulted, exposure-years and the share owed at default."""
    start = pd.to_datetime(p["loan_start_date"])
    maturity = pd.to_datetime(p["loan_maturity_date"])
    end = pd.Timestamp(end_date)
    dd = pd.to_datetime(p["loan_firm_id"].map(default_dates))
    stop = maturity.where(maturity < end, end)
    defaulted = (dd.notna() & (dd >= start) & (dd <= stop)).to_numpy()
    until = dd.where(defaulted, stop)
    years = np.maximum((until - start).dt.days.to_numpy() / 365.25, 0.0)
    term_years = p["term_months"].to_numpy(dtype=float) / 12.0
    amortising = pd.Series(cfg.product_values(p["product"], "amortising")).fillna(
        False).to_numpy(dtype=bool)
    frac_run = np.clip(years / term_years, 0.0, 1.0)
    avg_balance = np.where(amortising, 1.0 - frac_run / 2.0, 1.0)
    return {"defaulted": defaulted, "at_default": np.where(amortising, 1.0 - frac_run, 1.0),
            "exposure_years": p["amount"].to_numpy(dtype=float) * avg_balance * years}


def _outcome(p: pd.DataFrame, run: dict[str, np.ndarray], spread: np.ndarray,
             booked: np.ndarray) -> dict[str, float]:
    """Volume, losses, income and RAROC of the loans one policy books."""
    amount = p["amount"].to_numpy(dtype=float)
    exposure_years, defaulted = run["exposure_years"], run["defaulted"]
    lgd = p["lgd"].to_numpy(dtype=float)
    costs = (p["ftp_bp"] + p["operating_cost_bp"] + p["fee_credit_bp"]).to_numpy() / 1e4
    rate = p["lpr"].to_numpy(dtype=float) + spread / 1e4
    income = ((rate - costs) * exposure_years)[booked].sum()
    el = (p["pd"].to_numpy(dtype=float) * lgd * exposure_years)[booked].sum()
    loss = (lgd * amount * run["at_default"] * defaulted)[booked].sum()
    cap = (p["capital_k"].to_numpy() * exposure_years)[booked].sum()
    ey = exposure_years[booked].sum()
    return {
        "spread_bp": float(np.average(spread[booked], weights=amount[booked]))
        if booked.any() else np.nan,
        "loans": int(booked.sum()), "volume": float(amount[booked].sum()),
        "defaults": int((defaulted & booked).sum()), "exposure_years": float(ey),
        "expected_loss": float(el), "el_rate": float(el / ey) if ey else np.nan,
        "realised_loss": float(loss), "loss_rate": float(loss / ey) if ey else np.nan,
        "income": float(income), "capital_years": float(cap),
        "raroc_expected": float((income - el) / cap) if cap else np.nan,
        "raroc_realised": float((income - loss) / cap) if cap else np.nan,
    }


def warning_backtest(
    profile: pd.DataFrame,
    outcomes: pd.DataFrame,
    previous: Mapping[int, pd.DataFrame] | None = None,
    rules: WarningRules | None = None,
) -> pd.DataFrame:
    """Detection and false-alarm rates of the watch-list against realised 12-month defaults.

    Parameters
    ----------
    profile : pandas.DataFrame
        The profile on the as-of date (with ``persona_strategy`` if persona rules should apply).
    outcomes : pandas.DataFrame
        ``firm_id``, ``defaulted_within_12m``; optional ``in_default`` (those rows are left
        out), rows with no known outcome are left out.
    previous : mapping, optional
        Earlier profiles for the change rules.

    Returns
    -------
    pandas.DataFrame
        One row per flag (``watch`` = amber or red, ``red``): ``firms``, ``defaulters``,
        ``flagged``, ``detection_rate``, ``false_alarm_rate``, ``precision``.
    """
    require_columns(outcomes, ["firm_id", "defaulted_within_12m"], "the outcomes")
    o = outcomes[outcomes["defaulted_within_12m"].notna()]
    if "in_default" in o.columns:
        o = o[~o["in_default"].astype(bool)]
    y = o.drop_duplicates("firm_id").set_index("firm_id")["defaulted_within_12m"].astype(bool)
    res = evaluate_warnings(profile, previous, rules).firms.set_index("firm_id")
    res = res[res.index.isin(y.index)]
    y = y.reindex(res.index)
    rows = []
    for name, flag in (("watch", res["on_watch"].to_numpy()),
                       ("red", (res["level"] == "red").to_numpy())):
        d = y.to_numpy()
        rows.append({
            "flag": name, "firms": int(len(d)), "defaulters": int(d.sum()),
            "flagged": int(flag.sum()),
            "detection_rate": float((flag & d).sum() / max(d.sum(), 1)),
            "false_alarm_rate": float((flag & ~d).sum() / max((~d).sum(), 1)),
            "precision": float((flag & d).sum() / max(flag.sum(), 1)),
        })
    return pd.DataFrame(rows).set_index("flag")
