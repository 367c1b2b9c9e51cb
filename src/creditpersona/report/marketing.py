"""The precision-marketing section of the HTML report (精准营销).

Rendering only: every number comes from a :class:`~creditpersona.marketing.stage.
MarketingResult`.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from creditpersona.marketing.stage import MarketingResult
from creditpersona.report.html import _figure, _table


def offer_figures(offers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offers per persona and product (a crosstab) and per product and journey (offers,
    expected value, mean acceptance), from the offers table's rows."""
    offers = offers.assign(persona_name_zh=offers["persona_name_zh"].fillna("unknown"))
    grid = pd.crosstab(offers["persona_name_zh"], offers["product_zh"])
    by = offers.groupby(["product_zh", "journey_zh"]).agg(
        offers=("firm_id", "size"), expected_value=("expected_value", "sum"),
        mean_p_accept=("p_accept", "mean")).reset_index()
    return grid, by


def _offers(grid: pd.DataFrame, by: pd.DataFrame) -> list[str]:
    fig = go.Figure([go.Bar(name=str(c), x=grid.index.tolist(), y=grid[c].tolist())
                     for c in grid.columns])
    fig.update_layout(barmode="stack", title="Offers by persona and product 推荐分布")
    return [_figure(fig), "<h3>Offers by product and journey 按产品与客户旅程</h3>", _table(by)]


def spark_marketing_section(as_of: object, offers: int, expected_value: float,
                            grid: pd.DataFrame, by: pd.DataFrame, note: str = "") -> str:
    """The marketing section of a Spark run: the offers it kept (``grid`` and ``by`` as
    :func:`offer_figures` gives them, computed over the stored offers) and the stage's note.

    The Spark stage prices the capacities on a sample and caps the proposals greedily
    (docs/spark.md): there is no certified bound, and the out-of-fold uplift, the backtest
    and the unmet needs are not computed there; the section says so.
    """
    parts = [f"<h2>精准营销 Precision marketing — as of {as_of}</h2>",
             f"<p class='note'>{offers:,} offers to as many firms; expected value "
             f"{expected_value:,.0f} yuan (lagrangian_sample: capacity prices solved on a "
             "sample of firms, proposals kept best first within every capacity; no upper "
             "bound is certified). " + html.escape(note) + "</p>",
             "<p class='note'>Not computed on Spark: the out-of-fold gains and Qini curves, "
             "the backtest, the response models' table and the unmet needs per persona "
             "(the embedded run's report shows them; docs/spark.md).</p>"]
    if offers:
        parts += _offers(grid, by)
    return "\n".join(parts)


def marketing_section(result: MarketingResult) -> str:
    """Gains chart, Qini curve, offers by persona and product, plan, backtest, unmet needs."""
    plan = result.plan
    parts = [f"<h2>精准营销 Precision marketing — as of {result.as_of}</h2>",
             f"<p class='note'>{len(result.offers):,} offers to as many firms from "
             f"{result.candidates:,} eligible firm × product pairs. Expected value "
             f"{plan.objective:,.0f} yuan ({html.escape(plan.method)}; upper bound "
             f"{plan.bound:,.0f}, gap {plan.gap:.3%}); the greedy plan on the same candidates "
             f"reaches {result.greedy_objective:,.0f} yuan.</p>"]
    for note in result.notes:
        parts.append(f"<p class='note'>Note: {html.escape(note)}</p>")
    charts = []
    if result.backtest is not None and len(result.backtest.gains):
        g = result.backtest.gains
        fig = go.Figure([go.Scatter(x=part["share"], y=part["responses_share"], name=policy,
                                    mode="lines")
                         for policy, part in g.groupby("policy", sort=False)])
        fig.update_layout(title="Cumulative gains on held-back contacts 累计响应捕获",
                          xaxis_title="share targeted", yaxis_title="share of responders")
        charts.append(_figure(fig))
    if len(result.qini):
        q = result.qini
        fig = go.Figure([
            go.Scatter(x=q["share"], y=q["incremental"], name="two-model uplift", mode="lines"),
            go.Scatter(x=q["share"], y=q["random"], name="random", mode="lines",
                       line={"dash": "dash"}),
        ])
        fig.update_layout(title="Qini curve, out of fold 增量响应曲线",
                          xaxis_title="share targeted", yaxis_title="incremental responses")
        charts.append(_figure(fig))
    if charts:
        parts.append("<div class='grid'>" + "".join(f"<div>{c}</div>" for c in charts)
                     + "</div>")
    if result.uplift:
        u = result.uplift
        parts.append(f"<p class='note'>Uplift (two-model, out of fold on {u['rows']:,.0f} "
                     f"contacts): Qini {u['qini']:.4f}; uplift in the top 20 % "
                     f"{u['uplift_at_20']:+.1%}; incremental responses in the top 20 % "
                     f"{u['ratio_to_random_at_20']:.2f}× random targeting.</p>")
    if len(result.propensity):
        parts += ["<h3>Response models 响应模型</h3>", _table(result.propensity)]
    if len(result.offers):
        parts += _offers(*offer_figures(result.offers))
    if len(plan.usage):
        use = plan.usage.assign(share=plan.usage["used"] / plan.usage["cap"])
        top = use.sort_values("share", ascending=False).head(12)
        parts += ["<h3>Capacity and risk appetite used 容量与风险偏好占用</h3>", _table(top)]
    if result.backtest is not None:
        bt = result.backtest
        parts += [f"<h3>Backtest 回测 ({html.escape(bt.holdout)})</h3>",
                  f"<p class='note'>{bt.metrics['rows']:,.0f} held-back contacts; propensity "
                  f"AUC {bt.metrics['propensity_auc']:.3f}. Same number of firms picked by "
                  "every policy.</p>", _table(bt.table)]
    if len(result.needs):
        view = result.needs.sort_values("unmet", ascending=False).head(20).rename(
            columns={"persona_name_zh": "persona 客户性格"})
        parts += ["<h3>Unmet needs per persona 未满足需求（产品创新视角）</h3>",
                  "<p class='note'><em>gap</em>: no product in the catalogue serves the need, "
                  "or none is open to the firms that have it.</p>", _table(view)]
    return "\n".join(parts)
