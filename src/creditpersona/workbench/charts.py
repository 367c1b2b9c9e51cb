"""Plotly charts of the workbench, drawn by the plotly.min.js the app serves.

Rendering only: the numbers come from the service's answers. The workbench's own charts are
written as plain Plotly.js figure specifications (data and layout as JSON) rather than built
through ``plotly.graph_objects``: validating a figure and copying its template costs a third of
a second per chart, which a page with three charts cannot afford within its one second. The
portfolio page's migration heatmaps are the HTML report's own
(:func:`creditpersona.report.review._heatmap`), so the two show the same figure.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from creditpersona.report.review import _heatmap

#: Colours of the house (the report's blue, a warning red, a neutral grey).
BLUE, RED, GREEN, GREY = "#1f4e79", "#b71c1c", "#2e7d32", "#9e9e9e"
_GRID = "#ebf0f8"
#: The look of Plotly's ``plotly_white`` template, the report's, spelt out.
BASE_LAYOUT: dict[str, Any] = {
    "font": {"family": "'WenQuanYi Zen Hei','PingFang SC','Microsoft YaHei',sans-serif",
             "size": 12, "color": "#2a3f5f"},
    "paper_bgcolor": "white", "plot_bgcolor": "white",
    "margin": {"l": 40, "r": 20, "t": 40, "b": 40},
    "xaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID, "automargin": True},
    "yaxis": {"gridcolor": _GRID, "zerolinecolor": _GRID, "automargin": True},
    "hoverlabel": {"align": "left"}, "autosize": True,
}
CONFIG = {"responsive": True, "displaylogo": False, "displayModeBar": False}


def _plain(value: Any) -> Any:
    """``value`` with numpy and pandas values as JSON ones (NaN and NaT as null).

    Examples
    --------
    >>> _plain({"y": np.array([1.0, np.nan]), "x": pd.Series([pd.Timestamp("2026-06-30")])})
    {'y': [1.0, None], 'x': ['2026-06-30T00:00:00']}
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, dt.date):  # pandas Timestamps are datetimes
        return value.isoformat()
    return value


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(
            out.get(key), dict) else value
    return out


def plot(data: Sequence[Mapping[str, Any]], layout: Mapping[str, Any], height: int) -> str:
    """A chart as an HTML fragment: a box and the script that draws ``data`` in it.

    The specification is JSON with ``</`` escaped, so text in the data (a firm's name, a
    document) can never close the script.

    Examples
    --------
    >>> html = plot([{"type": "bar", "x": ["a"], "y": [1]}], {"title": {"text": "</script>"}},
    ...             200)
    >>> "Plotly.newPlot" in html, html.count("</script>")
    (True, 1)
    """
    div = f"plot-{secrets.token_hex(6)}"
    spec = json.dumps(_plain([list(data), _merge(BASE_LAYOUT, {**layout, "height": height}),
                              CONFIG]), ensure_ascii=False, allow_nan=False)
    spec = spec.replace("</", "<\\/")
    return (f'<div id="{div}" class="plotly-graph-div" style="height:{height}px;width:100%">'
            f'</div><script>(function(){{var s={spec};Plotly.newPlot("{div}",s[0],s[1],s[2]);'
            "})();</script>")


def radar(scores: Mapping[str, float], title: str = "") -> str:
    """The five profile scores (0–100) as a closed radar.

    Parameters
    ----------
    scores : mapping
        Axis label -> score, in the order the axes go round.
    """
    labels, values = list(scores), [float(v) for v in scores.values()]
    trace = {"type": "scatterpolar", "r": [*values, values[0]], "theta": [*labels, labels[0]],
             "fill": "toself", "line": {"color": BLUE},
             "hovertemplate": "%{theta}: %{r:.0f}<extra></extra>"}
    return plot([trace], {"title": {"text": title}, "showlegend": False, "polar": {
        "radialaxis": {"range": [0, 100], "tickvals": [25, 50, 75], "showticklabels": False,
                       "gridcolor": _GRID},
        "angularaxis": {"gridcolor": _GRID}}}, 300)


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
    values = [float(v) for _, v in steps]
    fmt = (lambda v: f"{v:.2%}") if percent else (lambda v: f"{v:,.0f}")
    trace = {"type": "waterfall", "x": [label for label, _ in steps] + [total_label],
             "y": [*values, 0.0], "measure": ["relative"] * len(values) + ["total"],
             "text": [fmt(v) for v in values] + [fmt(sum(values))],
             "textposition": "outside", "connector": {"line": {"color": GREY}},
             "increasing": {"marker": {"color": BLUE}},
             "decreasing": {"marker": {"color": GREEN}},
             "totals": {"marker": {"color": RED}}, "hoverinfo": "skip", "cliponaxis": False}
    return plot([trace], {"title": {"text": title}, "showlegend": False,
                          "yaxis": {"tickformat": ".1%" if percent else ",.0f"},
                          "xaxis": {"type": "category"}}, 320)


def timeline(loans: pd.DataFrame, status: pd.DataFrame, title: str = "") -> str:
    """Loans as bars from drawdown to maturity, each loan's status as a dot (red when late).

    Parameters
    ----------
    loans : DataFrame
        ``label``, ``start``, ``end`` (dates).
    status : DataFrame
        ``label`` (the loan's), ``date``, ``late`` (bool), ``text`` (hover).
    """
    data: list[dict[str, Any]] = [
        {"type": "scatter", "x": [loan["start"], loan["end"]], "y": [loan["label"]] * 2,
         "mode": "lines", "line": {"color": BLUE, "width": 10}, "hoverinfo": "skip",
         "showlegend": False} for _, loan in loans.iterrows()]
    if len(status):
        late = status["late"].astype(bool)
        data.append({
            "type": "scatter", "x": status["date"], "y": status["label"], "mode": "markers",
            "marker": {"color": [RED if v else GREEN for v in late], "size": 10,
                       "line": {"color": "white", "width": 1}},
            "text": status["text"], "hovertemplate": "%{x|%Y-%m-%d} %{text}<extra></extra>",
            "showlegend": False})
    return plot(data, {"title": {"text": title},
                       "yaxis": {"type": "category", "autorange": "reversed"},
                       "xaxis": {"type": "date"}}, max(180, 40 * len(loans) + 100))


#: Colour of each repayment status (on time, late, overdue and unpaid, due today).
REPAYMENT_COLOURS = {"paid": GREEN, "paid_late": "#ef6c00", "overdue": RED, "due": GREY}


def repayments(rows: pd.DataFrame, names: Mapping[str, str], title: str = "") -> str:
    """Each instalment on its loan's line at its due date, coloured by status; a late
    payment is drawn as a segment from the due date to the day it was paid.

    Parameters
    ----------
    rows : DataFrame
        ``label`` (the loan's), ``due_date``, ``paid_date`` (or None), ``status``, ``text``.
    names : mapping
        Status -> legend label.
    """
    data: list[dict[str, Any]] = []
    late = rows[rows["paid_date"].notna() & (rows["status"] == "paid_late")]
    if len(late):  # one trace of segments, separated by gaps (None), not one trace each
        xs: list[Any] = []
        ys: list[Any] = []
        for _, r in late.iterrows():
            xs += [r["due_date"], r["paid_date"], None]
            ys += [r["label"], r["label"], None]
        data.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines",
                     "line": {"color": REPAYMENT_COLOURS["paid_late"], "width": 3},
                     "hoverinfo": "skip", "showlegend": False})
    for status, colour in REPAYMENT_COLOURS.items():
        part = rows[rows["status"] == status]
        if len(part):
            data.append({"type": "scatter", "x": part["due_date"], "y": part["label"],
                         "mode": "markers", "name": names.get(status, status),
                         "marker": {"color": colour, "size": 9, "symbol": "circle",
                                    "line": {"color": "white", "width": 1}},
                         "text": part["text"], "hovertemplate": "%{text}<extra></extra>"})
    loans = rows["label"].nunique()
    return plot(data, {"title": {"text": title},
                       "legend": {"orientation": "h", "y": -0.25},
                       "yaxis": {"type": "category", "autorange": "reversed"},
                       "xaxis": {"type": "date"}}, max(200, 36 * loans + 140))


def bars(labels: Sequence[str], values: Sequence[float], title: str = "",
         percent: bool = False, colour: str = BLUE, horizontal: bool = False) -> str:
    """A plain bar chart (persona mix, grade distribution, watch-list counts)."""
    text = [f"{v:.1%}" if percent else f"{v:,.0f}" for v in values]
    categories, numbers = ("y", "x") if horizontal else ("x", "y")
    trace = {"type": "bar", categories: list(labels), numbers: list(values), "text": text,
             "textposition": "outside", "cliponaxis": False, "marker": {"color": colour},
             "orientation": "h" if horizontal else "v",
             "hovertemplate": f"%{{{categories}}}: %{{text}}<extra></extra>"}
    axis: dict[str, Any] = {"type": "category"}
    if horizontal:
        axis["autorange"] = "reversed"
    layout = {"title": {"text": title}, "showlegend": False, f"{categories}axis": axis,
              f"{numbers}axis": {"tickformat": ".0%"} if percent else {}}
    return plot([trace], layout, max(300, 28 * len(labels) + 80) if horizontal else 300)


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
