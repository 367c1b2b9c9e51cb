"""The association-rules section of the HTML report (rendering only)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from creditpersona.report.html import _figure, _table
from creditpersona.rules.mining import PORTFOLIO, RuleSet

#: Rules listed with their sentences, and drawn in the bar chart.
TOP_RULES = 15
#: Rules per scope drawn in the scatter (the strongest by lift), to keep the page light.
SCATTER_RULES = 1500


def rules_section(ruleset: RuleSet, top: int = TOP_RULES) -> str:
    """Top rules: lift against confidence (sized by support), the strongest by lift, sentences.

    Parameters
    ----------
    ruleset : RuleSet
        Mined (or loaded) rules.
    top : int
        How many rules the bar chart and the sentence tables show per scope.

    Returns
    -------
    str
        An HTML fragment.
    """
    title = "<h2>行为关联规则 Association rules on loan behaviour</h2>"
    rules = ruleset.rules
    if rules.empty:
        return title + "<p>No rules mined yet (creditpersona rules mine).</p>"
    p = ruleset.params
    parts = [title, (
        f"<p class='note'>{len(rules):,} rules as of {ruleset.as_of} (FP-growth; support ≥ "
        f"{p.get('min_support', 0):g}, confidence ≥ {p.get('min_confidence', 0):g}, lift ≥ "
        f"{p.get('min_lift', 0):g}, at most {p.get('max_len', 0)} items; a rule is dropped when "
        "a shorter antecedent with the same consequent does as well). Lift is relative to the "
        "scope: the whole portfolio, or one persona's firms.</p>")]
    label = [f"{' + '.join(a)} → {c[0]}" for a, c in zip(rules["antecedents"],
                                                       rules["consequents"], strict=True)]
    scatter = go.Figure()
    for scope, group in rules.groupby("scope", sort=False):
        r = group.nlargest(SCATTER_RULES, "lift")
        idx = r.index
        scatter.add_trace(go.Scattergl(
            x=r["confidence"], y=r["lift"], mode="markers", name=str(scope),
            text=[label[i] for i in idx], hovertemplate="%{text}<extra></extra>",
            marker={"size": 4 + 60 * r["support"].clip(upper=0.4), "opacity": 0.55}))
    scatter.update_layout(title=f"Lift vs confidence, sized by support (up to {SCATTER_RULES:,} "
                                f"strongest per scope) 提升度与置信度",
                          xaxis_title="confidence", yaxis_title="lift")
    best = rules[rules["scope"] == PORTFOLIO].nlargest(top, "lift")
    bars = go.Figure(go.Bar(
        x=best["lift"][::-1], y=[label[i] for i in best.index][::-1], orientation="h",
        text=[f"{c:.0%}" for c in best["confidence"][::-1]], textposition="auto"))
    bars.update_layout(title=f"Top {len(best)} portfolio rules by lift 组合层面提升度最高的规则",
                       xaxis_title="lift", height=max(380, 26 * len(best) + 120),
                       yaxis={"automargin": True})
    parts.append(_figure(scatter))
    parts.append(_figure(bars))
    for scope in rules["scope"].drop_duplicates():
        r = rules[rules["scope"] == scope].nlargest(top, "lift")
        table = pd.DataFrame({
            "规则 Rule": [f"{zh}<br>{en}" for zh, en in
                          zip(r["sentence_zh"], r["sentence_en"], strict=True)],
            "support": r["support"], "confidence": r["confidence"], "lift": r["lift"],
            "conviction": r["conviction"]})
        parts += [f"<h3>{html.escape(str(scope))}</h3>",
                  _table(table).replace("&lt;br&gt;", "<br>")]
    return "\n".join(parts)
