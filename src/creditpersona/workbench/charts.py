"""Plotly charts of the workbench, built in Python and drawn by the plotly.min.js the app serves.

Rendering only: the numbers come from the service's answers. The portfolio page's migration
heatmaps are the HTML report's own (:func:`creditpersona.report.review._heatmap`), so the
two show the same figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from creditpersona.report.review import _heatmap

#: Colours of the house (the report's blue, a warning red, a neutral grey).
BLUE, RED, GREEN, GREY = "#1f4e79", "#b71c1c", "#2e7d32", "#9e9e9e"
_FONT = {"family": "'WenQuanYi Zen Hei','PingFang SC','Microsoft YaHei',sans-serif",
         "size": 12}


def figure_html(fig: go.Figure, height: int = 320) -> str:
    """``fig`` as an HTML fragment that resizes with its box (plotly.js loaded by the page).

    Examples
    --------
    >>> "Plotly.newPlot" in figure_html(go.Figure(go.Bar(x=["a"], y=[1])))
    True
    """
    fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=height,
                      template="plotly_white", font=_FONT)
    return str(fig.to_html(full_html=False, include_plotlyjs=False,
                           config={"responsive": True, "displaylogo": False,
                                   "displayModeBar": False}))


def radar(scores: Mapping[str, float], title: str = "") -> str:
    """The five profile scores (0–100) as a closed radar.

    Parameters
    ----------
    scores : mapping
        Axis label -> score, in the order the axes go round.
    """
    labels, values = list(scores), [float(v) for v in scores.values()]
    fig = go.Figure(go.Scatterpolar(
        r=[*values, values[0]], theta=[*labels, labels[0]], fill="toself",
        line={"color": BLUE}, hovertemplate="%{theta}: %{r:.0f}<extra></extra>"))
    fig.update_layout(title=title, showlegend=False,
                      polar={"radialaxis": {"range": [0, 100], "tickvals": [25, 50, 75],
                                        "showticklabels": False}})
    return figure_html(fig, 300)


def waterfall(steps: Sequence[tuple[str, float]], total_label: str, title: str = "",
              percent: bool = True) -> str:
    """A price waterfall: each component added in turn, the total as the last bar.

    Parameters
    ----------
    steps : sequence of (label, value)
        The components in the order they build the price (rates as fractions when
        ``percent``).
    total_label : str
        Label of the closing bar (the price).
    """
    labels = [s[0] for s in steps] + [total_label]
    values = [float(s[1]) for s in steps]
    fmt = ".2%" if percent else ",.0f"
    fig = go.Figure(go.Waterfall(
        x=labels, y=[*values, 0.0], measure=["relative"] * len(values) + ["total"],
        text=[f"{v:{fmt}}" for v in values] + [f"{sum(values):{fmt}}"],
        textposition="outside", connector={"line": {"color": GREY}},
        increasing={"marker": {"color": BLUE}}, decreasing={"marker": {"color": GREEN}},
        totals={"marker": {"color": RED}}, hoverinfo="skip"))
    fig.update_layout(title=title, showlegend=False,
                      yaxis={"tickformat": ".1%" if percent else ",.0f"},
                      xaxis={"type": "category"})
    return figure_html(fig, 320)


def timeline(loans: pd.DataFrame, repayments: pd.DataFrame, title: str = "") -> str:
    """Loans as bars from drawdown to maturity, repayments as dots (red when late).

    Parameters
    ----------
    loans : DataFrame
        ``label``, ``start``, ``end`` (dates).
    repayments : DataFrame
        ``label`` (the loan's), ``date``, ``late`` (bool), ``text`` (hover).
    """
    fig = go.Figure()
    for _, loan in loans.iterrows():
        fig.add_trace(go.Scatter(x=[loan["start"], loan["end"]], y=[loan["label"]] * 2,
                                 mode="lines", line={"color": BLUE, "width": 10},
                                 hoverinfo="skip", showlegend=False))
    if len(repayments):
        late = repayments["late"].astype(bool)
        fig.add_trace(go.Scatter(
            x=repayments["date"], y=repayments["label"], mode="markers",
            marker={"color": [RED if v else GREEN for v in late], "size": 8,
                    "line": {"color": "white", "width": 1}},
            text=repayments["text"], hovertemplate="%{x|%Y-%m-%d} %{text}<extra></extra>",
            showlegend=False))
    fig.update_layout(title=title, yaxis={"type": "category", "autorange": "reversed"},
                      xaxis={"type": "date"})
    return figure_html(fig, max(180, 40 * len(loans) + 100))


def bars(labels: Sequence[str], values: Sequence[float], title: str = "",
         percent: bool = False, colour: str = BLUE, horizontal: bool = False) -> str:
    """A plain bar chart (persona mix, grade distribution, watch-list counts)."""
    fmt = ".1%" if percent else ","
    text = [f"{v:{fmt}}" for v in values]
    if horizontal:
        trace = go.Bar(y=list(labels), x=list(values), orientation="h", text=text,
                       marker={"color": colour}, hovertemplate="%{y}: %{text}<extra></extra>")
    else:
        trace = go.Bar(x=list(labels), y=list(values), text=text, marker={"color": colour},
                       hovertemplate="%{x}: %{text}<extra></extra>")
    fig = go.Figure(trace)
    fig.update_traces(textposition="outside", cliponaxis=False, textangle=0)
    axis = {"type": "category"}
    values_axis = {"tickformat": ".0%"} if percent else {}
    if horizontal:
        fig.update_layout(yaxis={**axis, "autorange": "reversed"}, xaxis=values_axis)
    else:
        fig.update_layout(xaxis=axis, yaxis=values_axis)
    fig.update_layout(title=title, showlegend=False)
    return figure_html(fig, max(300, 28 * len(labels) + 80) if horizontal else 300)


def migration(counts: pd.DataFrame, title: str, labels: Mapping[str, str] | None = None) -> str:
    """A migration heatmap (rows: last quarter, columns: this quarter), as the report draws it.

    Parameters
    ----------
    counts : DataFrame
        Firms moving from the row state to the column state.
    """
    totals = counts.sum(axis=1)
    rates = counts.div(totals.where(totals > 0), axis=0).fillna(0.0)
    return _heatmap(counts, rates, title, dict(labels or {}))
