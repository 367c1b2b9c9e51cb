"""Customer value and revenue contribution (客户价值与综合贡献) per firm.

For a firm with loans at the bank, one year's contribution at the as-of date:

- interest margin: Σ outstanding × (LPR + spread − FTP(term))
- fees: Σ outstanding × the product's yearly fee rate
- deposit spread: estimated average deposit balance × deposit margin (the contract has no
  balances: the balance is ``deposit_days_of_inflow`` days of the 12-month inflows)
- operating cost: the relationship cost of the size class + Σ outstanding × the product's
  operating-cost rate
- expected loss: PD × Σ LGD × outstanding
- capital: Σ K(PD, LGD, M, revenue) × outstanding
  (:func:`~creditpersona.decisions.capital.irb_capital`)
- RAROC = (margin + fees + deposit spread − operating cost − expected loss) / capital, and
  economic profit = the same numerator − hurdle × capital
- a three-year projection: economic profit growing with the firm's revenue (clipped) and
  surviving with probability (1 − PD) a year, discounted at the hurdle rate.

Firms with no history with us get a predicted revenue contribution from
:class:`ProspectValueModel`, a gradient-boosting regression of the contribution of existing
customers on their profile features.

The loan book comes from the store through Ibis (:func:`exposures`): one row per loan with
its repayment status, aggregated by the query engine; outstanding principal follows the
catalogue's repayment profile (equal principal, or bullet).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from creditpersona.decisions.capital import irb_capital
from creditpersona.decisions.config import DecisionsConfig, load_decisions, lookup
from creditpersona.errors import SchemaError, parameter_error
from creditpersona.models.base import NotFittedError

Tables = Mapping[str, ir.Table]

#: Profile features the prospect model reads by default (all numeric profile columns).
PROSPECT_FEATURES: tuple[str, ...] = (
    "revenue", "total_assets", "employees", "firm_age_years", "debt_to_assets", "gross_margin",
    "net_margin", "revenue_growth", "receivable_days", "inventory_days", "payable_days",
    "capex_intensity", "inflow_12m", "outflow_12m", "txn_count_12m", "bureau_outstanding",
    "bureau_lenders", "scale_score", "financial_score", "credit_score", "urgency_score",
    "willingness_score",
)


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a :class:`SchemaError` naming the columns ``what`` lacks.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"firm_id": []}), ["firm_id", "pd"], "scores")
    Traceback (most recent call last):
    ...
    creditpersona.errors.SchemaError: scores lacks the column(s) pd; ...
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{what} lacks the column(s) {', '.join(missing)}; it has "
                          f"{', '.join(map(str, frame.columns[:12]))}"
                          f"{' …' if len(frame.columns) > 12 else ''}.")


def exposures(tables: Tables, as_of: dt.date, config: DecisionsConfig | None = None
              ) -> pd.DataFrame:
    """The loan book on ``as_of``: one row per loan still owed, with its repayment status.

    A loan counts when it started by the as-of date and either matures after it or still has
    instalments unpaid on it. Per loan the query engine aggregates the instalments due by
    the as-of date (an instalment paid later counts as unpaid, as in the profile).

    Parameters
    ----------
    tables : mapping of str to ibis.Table
        At least ``loans`` and ``repayments`` of the contract.
    as_of : datetime.date
    config : DecisionsConfig, optional

    Returns
    -------
    pandas.DataFrame
        The loan's contract fields and ``dpd`` (days the oldest unpaid instalment is past
        due; 0 if none), ``unpaid_due`` (amount due and unpaid), ``active`` (not yet
        matured), ``outstanding`` (exposure at default: scheduled principal outstanding plus
        the amounts due and unpaid; for a matured loan what is still unpaid), ``lgd`` and
        ``maturity_years`` (remaining).
    """
    cfg = config or load_decisions()
    day = ibis.literal(as_of, type="date")
    loans = tables["loans"]
    rep = tables["repayments"]
    started = loans.filter(loans.start_date <= day)
    due = rep.filter(rep.due_date <= day)
    unpaid = due.paid_date.isnull() | (due.paid_date > day)
    status = due.mutate(
        _late=ibis.ifelse(unpaid, day.delta(due.due_date, unit="day"), 0),
        _owed=ibis.ifelse(unpaid, (due.amount_due - due.amount_paid).clip(lower=0.0), 0.0),
    ).group_by("loan_id").agg(dpd=lambda t: t._late.max(), unpaid_due=lambda t: t._owed.sum())
    book = started.left_join(status, "loan_id").select(
        "loan_id", "firm_id", "product", "purpose", "amount", "lpr_tenor", "spread_bp",
        "term_months", "start_date", "maturity_date", "collateral_type", "guarantee_type",
        dpd=lambda t: t.dpd.fill_null(0), unpaid_due=lambda t: t.unpaid_due.fill_null(0.0),
        elapsed_days=lambda t: day.delta(t.start_date, unit="day"),
        remaining_days=lambda t: t.maturity_date.delta(day, unit="day"),
    )
    book = book.filter((book.remaining_days > 0) | (book.unpaid_due > 0))
    frame = book.to_pandas().sort_values("loan_id", ignore_index=True)
    return add_exposure_columns(frame, cfg)


def add_exposure_columns(book: pd.DataFrame, config: DecisionsConfig) -> pd.DataFrame:
    """Outstanding, LGD and remaining maturity of each loan (vectorised).

    Needs ``amount, product, term_months, elapsed_days, remaining_days, unpaid_due,
    collateral_type, guarantee_type``.

    Examples
    --------
    >>> b = pd.DataFrame({"amount": [1200.0, 1200.0], "product": ["equipment", "trade_finance"],
    ...                   "term_months": [12, 12], "elapsed_days": [182.625, 182.625],
    ...                   "remaining_days": [182.625, 182.625], "unpaid_due": [0.0, 0.0],
    ...                   "collateral_type": ["none", "deposit"], "guarantee_type": "none"})
    >>> add_exposure_columns(b, load_decisions())[["outstanding", "lgd"]].values.tolist()
    [[600.0, 0.4], [1200.0, 0.05]]

    Two monthly instalments of 100 in arrears stay in the exposure of the amortising loan:

    >>> add_exposure_columns(b.assign(unpaid_due=[200.0, 0.0]), load_decisions())[
    ...     "outstanding"].tolist()
    [800.0, 1200.0]
    """
    out = book.copy()
    amortising = pd.Series(config.product_values(out["product"], "amortising")).fillna(False)
    term_days = out["term_months"].to_numpy(dtype=float) * 365.25 / 12.0
    left = np.clip(1.0 - out["elapsed_days"].to_numpy(dtype=float) / term_days, 0.0, 1.0)
    amount = out["amount"].to_numpy(dtype=float)
    scheduled = np.where(amortising.to_numpy(dtype=bool), amount * left, amount)
    active = out["remaining_days"].to_numpy(dtype=float) > 0
    out["active"] = active
    # Exposure at default: a running loan owes its scheduled principal plus the instalments
    # due and unpaid (arrears, which an amortising loan's schedule has already written
    # down); a matured one what is still unpaid.
    unpaid = out["unpaid_due"].to_numpy(dtype=float)
    out["outstanding"] = np.where(active, scheduled + unpaid, unpaid)
    out["lgd"] = config.lgd_of(out["collateral_type"], out["guarantee_type"])
    out["maturity_years"] = np.maximum(out["remaining_days"].to_numpy(dtype=float), 0) / 365.25
    return out


def customer_value(
    firms: pd.DataFrame, book: pd.DataFrame, config: DecisionsConfig | None = None,
    *, as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Yearly contribution, expected loss, capital, RAROC and 3-year value per firm.

    Parameters
    ----------
    firms : pandas.DataFrame
        One row per firm: ``firm_id``, ``pd``; optional ``revenue`` (SME adjustment),
        ``inflow_12m`` (deposit estimate), ``size_class`` (relationship cost),
        ``revenue_growth`` (projection).
    book : pandas.DataFrame
        Loans from :func:`exposures` (or any frame with ``firm_id, outstanding, lgd,
        maturity_years, term_months, product, lpr_tenor, spread_bp``).
    config : DecisionsConfig, optional
    as_of : datetime.date, optional
        The date whose LPR the loans earn (floating rates; default: the latest fixing).

    Returns
    -------
    pandas.DataFrame
        One row per firm of ``firms`` (same order): ``balance``, ``interest_margin``,
        ``fees``, ``deposit_balance``, ``deposit_spread``, ``operating_cost``,
        ``revenue_contribution`` (margin + fees + deposit spread), ``expected_loss``,
        ``capital``, ``risk_adjusted_return``, ``raroc`` (missing without capital),
        ``economic_profit``, ``value_y1`` … ``value_y3``, ``value_3y_pv``, ``customer``
        (holds a loan).

    Raises
    ------
    SchemaError
        If a required column is missing.

    Examples
    --------
    >>> firms = pd.DataFrame({"firm_id": ["A", "B"], "pd": [0.01, 0.02]})
    >>> book = pd.DataFrame({"firm_id": ["A"], "outstanding": [1e7], "lgd": [0.45],
    ...     "maturity_years": [2.5], "term_months": [36], "product": ["working_capital"],
    ...     "lpr_tenor": ["1Y"], "spread_bp": [100.0]})
    >>> v = customer_value(firms, book)
    >>> v[["balance", "expected_loss", "capital"]].round(0).values.tolist()
    [[10000000.0, 45000.0, 738534.0], [0.0, 0.0, 0.0]]
    """
    cfg = config or load_decisions()
    require_columns(firms, ["firm_id", "pd"], "the firms frame")
    require_columns(book, ["firm_id", "outstanding", "lgd", "maturity_years", "term_months",
                           "product", "lpr_tenor", "spread_bp"], "the loan book")
    index = pd.Index(firms["firm_id"], name="firm_id")
    if not index.is_unique:
        raise SchemaError("the firms frame has repeated firm_id values; give one row per firm.")
    n = len(index)
    pd_all = firms["pd"].to_numpy(dtype=float)
    revenue = firms["revenue"].to_numpy(dtype=float) if "revenue" in firms.columns else None

    where = index.get_indexer(pd.Index(book["firm_id"]))
    pos = where[where >= 0]
    loans = _loan_contribution(book[where >= 0], pd_all[pos],
                               None if revenue is None else revenue[pos], cfg, as_of)

    def per_firm(values: np.ndarray) -> np.ndarray:
        return np.bincount(pos, weights=values, minlength=n)

    out = pd.DataFrame({"firm_id": firms["firm_id"].to_numpy()})
    for column in ("balance", "interest_margin", "fees", "expected_loss", "capital"):
        out[column] = per_firm(loans[column])
    _returns(out, firms, per_firm(loans["operating_cost"]), cfg)
    return _projection(out, firms, pd_all, cfg)


def _returns(out: pd.DataFrame, firms: pd.DataFrame, loan_cost: np.ndarray,
             cfg: DecisionsConfig) -> None:
    """Add deposits, operating cost, contribution, RAROC and economic profit per firm."""
    inflow = (firms["inflow_12m"].to_numpy(dtype=float) if "inflow_12m" in firms.columns
              else np.zeros(len(firms)))
    out["deposit_balance"] = np.nan_to_num(inflow) * cfg.deposit_days_of_inflow / 365.0
    out["deposit_spread"] = out["deposit_balance"] * cfg.deposit_margin
    size = (firms["size_class"].astype(object).fillna("unknown") if "size_class" in firms.columns
            else pd.Series("unknown", index=firms.index))
    rel = lookup(size, cfg.relationship_cost_yuan,
                 cfg.relationship_cost_yuan.get("unknown", 0.0)).astype(float)
    customer = out["balance"].to_numpy() > 0
    out["customer"] = customer
    # The relationship cost is borne for customers; a prospect has none yet.
    out["operating_cost"] = loan_cost + np.where(customer, rel, 0.0)
    out["revenue_contribution"] = out["interest_margin"] + out["fees"] + out["deposit_spread"]
    out["risk_adjusted_return"] = (out["revenue_contribution"] - out["operating_cost"]
                                   - out["expected_loss"])
    cap = out["capital"].to_numpy()
    out["raroc"] = np.where(cap > 0, out["risk_adjusted_return"] / np.where(cap > 0, cap, 1.0),
                            np.nan)
    out["economic_profit"] = out["risk_adjusted_return"] - cfg.hurdle_rate * cap


def _loan_contribution(b: pd.DataFrame, p: np.ndarray, rev: np.ndarray | None,
                       cfg: DecisionsConfig, as_of: dt.date | None) -> dict[str, np.ndarray]:
    """Per loan: balance, interest margin, fees, expected loss, capital, operating cost."""
    bal = b["outstanding"].to_numpy(dtype=float)
    tenor = np.where((b["lpr_tenor"] == "5Y").to_numpy(dtype=bool), "5Y", "1Y")
    rate = cfg.lpr_table.rate(tenor, as_of) + b["spread_bp"].to_numpy(dtype=float) / 1e4
    lgd = b["lgd"].to_numpy(dtype=float)
    k = irb_capital(p, lgd, np.maximum(b["maturity_years"].to_numpy(dtype=float), 0.0), rev,
                    config=cfg.capital)["capital"].to_numpy()
    fee = np.nan_to_num(cfg.product_values(b["product"], "fee_bp").astype(float))
    opex = np.nan_to_num(cfg.product_values(b["product"], "operating_cost_bp").astype(float))
    return {"balance": bal,
            "interest_margin": bal * (rate - cfg.ftp(b["term_months"].to_numpy(dtype=float))),
            "fees": bal * fee / 1e4, "expected_loss": bal * lgd * np.minimum(p, 1.0),
            "capital": bal * k, "operating_cost": bal * opex / 1e4}


def _projection(out: pd.DataFrame, firms: pd.DataFrame, pd_all: np.ndarray,
                cfg: DecisionsConfig) -> pd.DataFrame:
    """Add the 3-year value: economic profit grown and survived, discounted at the hurdle."""
    growth = (firms["revenue_growth"].to_numpy(dtype=float) if "revenue_growth" in firms.columns
              else np.zeros(len(firms)))
    g = np.clip(np.nan_to_num(growth), *cfg.projection_growth)
    survive = 1.0 - np.clip(pd_all, 0.0, 1.0)
    pv = np.zeros(len(out))
    for year in (1, 2, 3):
        value = out["economic_profit"].to_numpy() * ((1.0 + g) * survive) ** (year - 1)
        out[f"value_y{year}"] = value
        pv += value / (1.0 + cfg.hurdle_rate) ** year
    out["value_3y_pv"] = pv
    return out


class ProspectValueModel(RegressorMixin, BaseEstimator):
    """Revenue contribution of a firm from its profile, fitted on existing customers.

    A histogram gradient-boosting regression of ``arcsinh(contribution / scale)`` on profile
    features (missing values allowed), so that large and small, positive and negative
    contributions weigh alike; predictions are transformed back to yuan.

    Parameters
    ----------
    features : sequence of str, optional
        Profile columns to use; default :data:`PROSPECT_FEATURES` that the frame has.
    scale : float, default 10000
        Yuan per unit before the arcsinh.
    max_iter, learning_rate, max_leaf_nodes, random_state
        Passed to :class:`sklearn.ensemble.HistGradientBoostingRegressor`.
    n_threads : int, default 1
        OpenMP threads while fitting and predicting. The model is small; on shared cores an
        oversubscribed OpenMP pool was measured 25× slower than one thread.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"revenue": 10 ** rng.uniform(6, 9, 400)})
    >>> y = 0.004 * X["revenue"]
    >>> m = ProspectValueModel(max_iter=50).fit(X, y)
    >>> float(np.corrcoef(np.log(m.predict(X)), np.log(y))[0, 1]) > 0.95
    True
    """

    def __init__(self, features: Sequence[str] | None = None, scale: float = 1e4,
                 max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 31,
                 random_state: int = 0, n_threads: int = 1) -> None:
        self.features = features
        self.scale = scale
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state
        self.n_threads = n_threads

    def _validate_params(self) -> None:
        owner = type(self).__name__
        if not (isinstance(self.scale, int | float) and self.scale > 0):
            raise parameter_error("scale", owner, "a positive number", self.scale)
        if not (isinstance(self.max_iter, int) and self.max_iter >= 1):
            raise parameter_error("max_iter", owner, "an int ≥ 1", self.max_iter)
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate <= 1):
            raise parameter_error("learning_rate", owner, "a float in (0, 1]",
                                  self.learning_rate)
        if not (isinstance(self.n_threads, int) and self.n_threads >= 1):
            raise parameter_error("n_threads", owner, "an int ≥ 1", self.n_threads)

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> ProspectValueModel:
        """Fit on customers' profiles ``X`` and their revenue contributions ``y`` (yuan)."""
        self._validate_params()
        names = list(self.features) if self.features is not None else [
            c for c in PROSPECT_FEATURES if c in X.columns]
        require_columns(X, names, "the training profile")
        if not names:
            raise SchemaError("the training profile has none of the prospect features; "
                              f"expected some of {', '.join(PROSPECT_FEATURES)}.")
        target = np.asarray(y, dtype=float)
        if len(target) != len(X) or not np.isfinite(target).all():
            raise SchemaError("the contributions must be finite and one per profile row.")
        self.features_ = names
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            self.model_ = HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, random_state=self.random_state,
            ).fit(X[names].to_numpy(dtype=float), np.arcsinh(target / self.scale))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted yearly revenue contribution in yuan."""
        if not hasattr(self, "model_"):
            raise NotFittedError("This ProspectValueModel is not fitted yet; call fit first.")
        require_columns(X, self.features_, "the profile to predict")
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            z = self.model_.predict(X[self.features_].to_numpy(dtype=float))
        return np.asarray(np.sinh(z) * self.scale, dtype=float)
