"""The decisions section of the HTML report: pricing waterfalls, limits, watch-list, tiers.

Rendering only: every number comes from a :class:`~creditpersona.decisions.DecisionResult`
(embedded) or from the Spark results (:class:`DecisionsView`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from creditpersona.decisions.config import TIERS, TIERS_ZH
from creditpersona.decisions.pricing import COMPONENTS
from creditpersona.decisions.stage import DecisionResult
from creditpersona.report.html import _figure, _table

_LABELS = {"ftp_bp": "FTP 资金成本", "operating_cost_bp": "运营成本 opex",
           "expected_loss_bp": "预期损失 EL", "capital_charge_bp": "资本成本 capital",
           "target_margin_bp": "目标利润 margin", "fee_credit_bp": "中收抵减 fees",
           "tax_bp": "增值税及附加 VAT", "strategy_bp": "客群策略 persona"}
WATCH_ROWS = 30
#: The columns of the ten largest limits and of the watch-list rows shown.
LIMIT_COLUMNS = ("firm_id", "persona_policy", "grade", "product", "sizing", "wc_line",
                 "capacity", "grade_multiplier", "persona_multiplier", "adjusted_capacity",
                 "single_borrower_cap", "leverage_cap", "recommended_limit", "new_lending",
                 "binding")
WATCH_COLUMNS = ("firm_id", "level", "points", "tier", "pd", "grade", "reasons_zh",
                 "reasons_en")


def _representative(pricing: pd.DataFrame) -> pd.DataFrame:
    """Per persona policy, the quoted firm whose floor is the persona's median floor."""
    p = pricing.assign(_gap=(pricing["floor_rate"] - pricing.groupby("persona_policy")[
        "floor_rate"].transform("median")).abs())
    return p.sort_values(["_gap", "firm_id"]).drop_duplicates("persona_policy").sort_values(
        "persona_policy")


@dataclass
class DecisionsView:
    """What the decisions section shows: the portfolio's aggregates and a few firms' rows.

    Built from a whole :class:`~creditpersona.decisions.DecisionResult` by
    :func:`decisions_view`, or by SQL over the Spark results (``report.spark``), so that
    both engines' reports draw the same figures.
    """

    as_of: object
    representative: pd.DataFrame  # the pricing row of each persona's median-floor firm
    by_persona: pd.DataFrame  # firms, mean spread, median RAROC, shares flagged
    binding: pd.DataFrame  # firms and total limit per binding constraint
    top_limits: pd.DataFrame  # the ten largest limits
    tiers: pd.Series  # borrowers per tier, in TIERS order
    watch_count: int
    watch_head: pd.DataFrame  # the first WATCH_ROWS rows of the watch-list


def decisions_view(result: DecisionResult) -> DecisionsView:
    """The aggregates and rows the section shows, from the stage's whole frames."""
    pricing, lim = result.pricing, result.limits
    representative = _representative(pricing) if len(pricing) else pricing
    summary = pricing.groupby("persona_policy").agg(
        firms=("firm_id", "size"), spread_bp=("spread_bp", "mean"),
        raroc=("raroc", "median"), below_hurdle=("below_hurdle", "mean"),
        floor_above_max=("floor_above_max", "mean")).round(3) if len(pricing) else pricing
    binding = lim.groupby(["binding", "binding_zh"]).agg(
        firms=("firm_id", "size"), total_limit=("recommended_limit", "sum")).reset_index() \
        if len(lim) else lim
    top = lim.nlargest(10, "recommended_limit")[
        [c for c in LIMIT_COLUMNS if c in lim.columns]] if len(lim) else lim
    tiers = result.classification["tier"].value_counts().reindex(list(TIERS), fill_value=0)
    w = result.watchlist
    head = w.head(WATCH_ROWS)[[c for c in WATCH_COLUMNS if c in w.columns]]
    return DecisionsView(result.as_of, representative, summary, binding, top, tiers, len(w),
                         head)


def decisions_section(result: DecisionResult | DecisionsView,
                      names: pd.Series | None = None) -> str:
    """Pricing waterfall per persona, limits and binding constraints, watch-list, five tiers
    (``names``: firm name by id, shown next to the code)."""
    view = result if isinstance(result, DecisionsView) else decisions_view(result)
    parts = [f"<h2>授信决策 Credit decisions — as of {view.as_of}</h2>",
             "<p class='note'>Parameters: decisions/decisions.yaml and warning_rules.yaml. "
             "Prices are indicative quotes of the recommended limit (or a reference amount) "
             "in each persona's main product.</p>"]
    if len(view.representative):
        parts.append("<h3>定价瀑布 Pricing waterfall — a representative firm per persona</h3>")
        charts = []
        for _, r in view.representative.iterrows():
            values = [float(r[c]) for c in COMPONENTS]
            fig = go.Figure(go.Waterfall(
                x=[_LABELS[c] for c in COMPONENTS] + ["利率 rate"],
                y=values + [0.0], measure=["relative"] * len(values) + ["total"],
                text=[f"{v:+.0f}" for v in values] + [f"{r['rate'] * 1e4:.0f}"]))
            fig.update_layout(
                title=(f"{html.escape(str(r['persona_policy']))}: PD {r['pd']:.2%}, "
                       f"{r['product']} — LPR+{r['spread_bp']:.0f} bp, "
                       f"RAROC {r['raroc']:.1%}"), yaxis_title="bp")
            charts.append(_figure(fig))
        parts.append("<div class='grid'>" + "".join(f"<div>{c}</div>" for c in charts)
                     + "</div>")
        parts += ["<h4>By persona 按客群 (mean spread, median RAROC, shares flagged)</h4>",
                  _table(view.by_persona, True)]
    if len(view.binding):
        parts += ["<h3>授信额度 Limits — binding constraints 约束条件</h3>",
                  _table(view.binding),
                  "<h4>Ten largest limits and their breakdown 额度最大的十家</h4>",
                  _table(view.top_limits, names=names)]
    fig = go.Figure(go.Bar(x=[f"{z} {t}" for t, z in zip(TIERS, TIERS_ZH, strict=True)],
                           y=view.tiers.tolist()))
    fig.update_layout(title="Five-tier classification 五级分类 (firms with loans)")
    parts += ["<h3>五级分类 Five-tier classification</h3>", _figure(fig)]
    parts.append(f"<h3>预警名单 Watch-list — {view.watch_count:,} firms</h3>")
    if view.watch_count:
        parts.append(_table(view.watch_head, names=names))
    return "\n".join(parts)
