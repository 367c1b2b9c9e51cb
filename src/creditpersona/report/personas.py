"""HTML report section of the customer personas (客户性格分类); formatting only."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from creditpersona.personas.segment import SCORE_COLUMNS
from creditpersona.personas.store import PersonaResult
from creditpersona.report.html import _figure, _table

_DIMENSIONS_ZH = {"scale_score": "规模", "financial_score": "财务", "credit_score": "信用",
                  "urgency_score": "紧迫度", "willingness_score": "意愿"}


def personas_section(result: PersonaResult, *, firms: int | None = None,
                     note: str = "") -> str:
    """The personas: radar profiles, sizes, default and response rates, cards, rules, metrics.

    Parameters
    ----------
    result : PersonaResult
        What :func:`creditpersona.personas.persona_stage` returned (or, for a Spark run,
        the cards and evaluation of a sample of firms).
    firms : int, optional
        The firms assigned (default: the rows of ``result.assignment``).
    note : str
        A further note (what the figures were computed on).

    Returns
    -------
    str
        An HTML fragment for :func:`creditpersona.report.html.render_report`'s ``sections``.
    """
    cards = result.cards.cards
    ev = result.evaluation
    labels = [f"{pid} {row['name_zh']}" for pid, row in cards.iterrows()]
    parts = [
        "<h2>客户性格分类 Customer personas</h2>",
        f"<p class='note'>As of {result.as_of}; persona model v{result.model_version} "
        f"({'fitted in this run' if result.fitted else 'registered earlier'}), "
        f"{len(result.assignment) if firms is None else firms:,} firms. Names and "
        "descriptions are generated from each persona's distinguishing features; rule-based "
        f"personas come from the policy.{(' ' + html.escape(note)) if note else ''}</p>",
    ]
    parts += _charts(result, labels)
    parts += _cards(result)
    metrics = pd.DataFrame({"metric": list(ev.summary()), "value": list(ev.summary().values())})
    parts += ["<h3>Evaluation 分类效果评估</h3>", _table(metrics),
              "<h4>Choice of the number of personas 类别数选择</h4>", _table(ev.selection)]
    if len(ev.value.columns) > 1:
        parts += ["<h4>Value by persona 价值（利息收入、预期损失）</h4>",
                  _table(ev.value, index=True)]
    if result.identity is not None:
        parts += ["<h4>Identity across re-fits 类别延续</h4>", _table(result.identity.pairs)]
    return "\n".join(parts)


def _charts(result: PersonaResult, labels: list[str]) -> list[str]:
    """The radar of mean scores, the firms per persona and the default and response rates."""
    cards = result.cards.cards
    ev = result.evaluation
    parts: list[str] = []
    theta = [f"{_DIMENSIONS_ZH[s]} {s.removesuffix('_score')}" for s in SCORE_COLUMNS]
    radar = go.Figure([
        go.Scatterpolar(r=[*row[list(SCORE_COLUMNS)].astype(float), float(row[SCORE_COLUMNS[0]])],
                        theta=[*theta, theta[0]], name=label, fill="none")
        for label, (_, row) in zip(labels, cards.iterrows(), strict=True)
    ])
    radar.update_layout(title="Five-dimension profile by persona 五维画像（均值）",
                        polar={"radialaxis": {"range": [0, 100]}})
    sizes = go.Figure(go.Bar(x=labels, y=cards["firms"]))
    sizes.update_layout(title="Firms per persona 各类客户数量", xaxis={"type": "category"})
    parts.append("<div class='grid'><div>" + _figure(radar) + "</div><div>" + _figure(sizes)
                 + "</div></div>")
    rates = go.Figure([go.Bar(x=labels, y=cards["default_rate"].reindex(cards.index),
                              name="observed default rate 违约率")])
    if ev.response is not None:
        rates.add_bar(x=labels, y=ev.response.table["rate"].reindex(cards.index),
                      name="campaign response rate 营销响应率")
    p_default = f"χ² p = {ev.default.p_value:.2g}"
    p_response = "" if ev.response is None else f"; response χ² p = {ev.response.p_value:.2g}"
    rates.update_layout(title=f"Default and response rates by persona ({p_default}"
                              f"{p_response})", barmode="group", yaxis_tickformat=".0%",
                        xaxis={"type": "category"})
    parts.append(_figure(rates))
    return parts


def _cards(result: PersonaResult) -> list[str]:
    """One card per persona, the overview table, products held and the assignment rules."""
    cards = result.cards.cards
    parts: list[str] = []
    parts.append("<h3>Persona cards 客户性格卡片</h3>")
    for pid, row in cards.iterrows():
        parts.append(
            f"<div class='card'><h4>{html.escape(str(pid))} {html.escape(str(row['name_zh']))}"
            f" / {html.escape(str(row['name_en']))} <small>({html.escape(str(row['source']))},"
            f" {int(row['firms']):,} firms)</small></h4>"
            f"<p>{html.escape(str(row['description_zh']))}</p>"
            f"<p>{html.escape(str(row['description_en']))}</p></div>")
    overview = cards[["name_zh", "name_en", "source", "firms", "share", *SCORE_COLUMNS,
                      "default_rate", "mean_pd", "median_revenue"]]
    parts.append(_table(overview, index=True))
    if len(result.cards.products):
        parts += ["<h3>Products held 产品持有率</h3>",
                  _table(result.cards.products.round(3), index=True)]
    surrogate = result.cards.surrogate
    if surrogate is not None:
        parts += [f"<h3>Assignment rules 分类规则</h3><p class='note'>A decision tree of depth "
                  f"{surrogate.depth} imitating the model: it agrees with the model for "
                  f"{surrogate.fidelity:.1%} of held-out firms (fidelity). Rule-based personas "
                  "are applied first, exactly as the policy states.</p>",
                  _table(surrogate.rules)]
    return parts
