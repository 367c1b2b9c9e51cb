"""The association-rules section of the HTML report (rendering only).

It leads with the repayment question (贷款用途与还款行为), then the others in the
vocabulary's order; per question, the portfolio's rules as a chart of the rate with the
antecedent against the rate among the other firms, then every scope's rules as sentences.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from creditpersona.report.html import _table
from creditpersona.rules.items import load_items
from creditpersona.rules.mining import PORTFOLIO, RuleSet

#: Portfolio rules drawn per question in the chart.
CHART_RULES = 12


def _chart(rules: pd.DataFrame, title: str) -> str:
    best = rules.head(CHART_RULES)[::-1]
    label = [f"{' + '.join(a)} → {c}" for a, c in zip(best["antecedents"], best["consequent"],
                                                      strict=True)]
    fig = go.Figure([
        go.Bar(name="firms with the conditions 满足条件的企业", y=label, x=best["confidence"],
               orientation="h", text=[f"{v:.0%}" for v in best["confidence"]],
               customdata=best["antecedent_count"],
               hovertemplate="%{x:.0%} of %{customdata:,} firms<extra></extra>"),
        go.Bar(name="the other firms 其他企业", y=label, x=best["others_rate"],
               orientation="h", text=[f"{v:.0%}" for v in best["others_rate"]]),
    ])
    fig.update_layout(barmode="group", title=title, xaxis={"tickformat": ".0%"},
                      yaxis={"automargin": True}, template="plotly_white",
                      height=max(380, 46 * len(best) + 140),
                      margin={"l": 40, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15})
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _sentences(rules: pd.DataFrame) -> str:
    table = pd.DataFrame({
        "#": rules["rank"].to_numpy(),
        "规则 Rule": [f"{zh}<br>{en}" for zh, en in
                      zip(rules["sentence_zh"], rules["sentence_en"], strict=True)],
        "firms 企业数": rules["antecedent_count"].to_numpy(),
        "lift": rules["lift"].to_numpy(),
        "leverage": rules["leverage"].to_numpy(),
        "q": [f"{q:.1e}" for q in rules["q_value"]]})
    return _table(table).replace("&lt;br&gt;", "<br>")


def rules_section(ruleset: RuleSet) -> str:
    """The rules per question (repayment first) and scope, with their test and control.

    Parameters
    ----------
    ruleset : RuleSet
        Mined (or loaded) rules.

    Returns
    -------
    str
        An HTML fragment.
    """
    title = "<h2>关联规则 Association rules: what goes with repayment, uptake and response</h2>"
    rules = ruleset.rules
    if rules.empty:
        return title + "<p>No rules mined yet (creditpersona rules mine).</p>"
    if "question" not in rules.columns:
        return title + ("<p>These rules were mined by an earlier version, before rules were "
                        "tested; run the date again (creditpersona run --restart) to answer "
                        "the questions.</p>")
    p = ruleset.params
    correction = {"bh": "false-discovery rate (Benjamini–Hochberg)",
                  "holm": "family-wise error rate (Holm)"}.get(str(p.get("correction")),
                                                               str(p.get("correction")))
    note = (f"{len(rules):,} rules as of {ruleset.as_of}. Each of the {p.get('tested', 0):,} "
            f"candidate rules was tested with Fisher's exact test, against the other firms "
            f"and against every rule with fewer conditions (a kept rule is better than each), "
            f"with the {correction} held at {p.get('alpha', 0):g} over all of them. Per "
            "question and scope the rules are ranked by leverage (the share of firms the "
            "rule explains beyond chance); restatements of a better rule are left out. "
            "Pairs true by definition (a purpose and its product, default and overdue "
            "records) never form a rule.")
    control = p.get("shuffle_control")
    if control:
        note += (f" Shuffle control: with the {control['question']} outcomes permuted across "
                 f"firms (seed {control['seed']}), {control['shuffled']} rules survive against "
                 f"{control['real']} on the real data.")
    parts = [title, f"<p class='note'>{html.escape(note)}</p>"]
    vocab = load_items()
    asked = list(dict.fromkeys([*vocab.questions, *rules["question"]]))
    for question in asked:
        q_rules = rules[rules["question"] == question]
        spec = vocab.questions.get(question)
        heading = f"{spec.zh} · {spec.en}" if spec else question
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        if q_rules.empty:
            parts.append("<p>No rule beats chance for this question.</p>")
            continue
        portfolio = q_rules[q_rules["scope"] == PORTFOLIO]
        if len(portfolio):
            parts.append(_chart(portfolio, f"{heading}: portfolio rules, rate with the "
                                           "conditions against the other firms"))
        for scope in q_rules["scope"].drop_duplicates():
            r = q_rules[q_rules["scope"] == scope]
            parts += [f"<h4>{html.escape(str(scope))}</h4>", _sentences(r)]
    if not ruleset.scopes.empty:
        parts += ["<h3>Rules tested and kept per scope 各范围检验与保留的规则数</h3>",
                  _table(ruleset.scopes)]
    return "\n".join(parts)
