"""The HTML report: one self-contained page (charts work offline) per store and as-of date.

Rendering only: every number comes from a table the library computed (the store summary,
the stored profile); this module lays them out and draws them with Plotly.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from creditpersona.domain import size_class
from creditpersona.profile.scoring import DIMENSIONS, load_scoring
from creditpersona.store.summary import PortfolioSummary

_CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9rem}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
"""


def _table(df: pd.DataFrame, index: bool = False) -> str:
    return df.to_html(index=index, border=0, float_format=lambda v: f"{v:,.2f}",
                      na_rep="", escape=True)


def _figure(fig: go.Figure) -> str:
    fig.update_layout(margin={"l": 40, "r": 20, "t": 50, "b": 40}, height=380,
                      template="plotly_white")
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def data_section(summary: PortfolioSummary) -> str:
    """Store contents, quarantine and portfolio mix."""
    parts = ["<h2>数据 Data</h2>",
             "<p class='note'>Rows per contract table; every row read was loaded or "
             "quarantined.</p>", _table(summary.tables)]
    if len(summary.quarantine_by_rule):
        parts += ["<h3>隔离 Quarantine by rule</h3>", _table(summary.quarantine_by_rule)]
    grid = summary.firms_by_section_size
    fig = go.Figure([go.Bar(name=c, x=grid.index.tolist(), y=grid[c].tolist())
                     for c in grid.columns])
    fig.update_layout(barmode="stack",
                      title="Firms by GB/T 4754 section and MIIT size class 行业×规模")
    parts.append(_figure(fig))
    return "\n".join(parts)


def profile_section(profile: pd.DataFrame) -> str:
    """Distributions of the five dimension scores, overall, by industry and by size."""
    if profile.empty:
        return "<h2>客户画像 Customer profile</h2><p>No profile stored yet.</p>"
    cfg = load_scoring()
    as_of = pd.Timestamp(profile["as_of"].iloc[0]).date()
    labels = {d: f"{cfg.dimensions[d].zh} {cfg.dimensions[d].en}" for d in DIMENSIONS}
    parts = [f"<h2>客户画像 Customer profile — as of {as_of}</h2>",
             f"<p class='note'>{len(profile):,} firms. Scores run 0–100; higher means larger "
             "(scale), healthier (financial), cleaner (credit), more urgent (urgency), more "
             "prudent and willing to repay (willingness). Construction: docs/profile.md.</p>"]
    fig = go.Figure([go.Histogram(x=profile[f"{d}_score"], name=labels[d], opacity=0.6,
                                  nbinsx=40) for d in DIMENSIONS])
    fig.update_layout(barmode="overlay", title="Distribution of each dimension 五维分布",
                      xaxis_title="score")
    parts.append(_figure(fig))
    sections = profile["industry_section"].fillna("?")
    sizes = profile["size_class"].fillna("unknown")
    size_order = [s for s in (*size_class.SIZE_CLASSES, "unknown") if (sizes == s).any()]
    charts = []
    for d in DIMENSIONS:
        by_ind = go.Figure(go.Box(x=sections, y=profile[f"{d}_score"], boxpoints=False))
        by_ind.update_layout(title=f"{labels[d]} by industry section 按行业",
                             xaxis={"categoryorder": "category ascending"})
        by_size = go.Figure(go.Box(x=sizes, y=profile[f"{d}_score"], boxpoints=False))
        by_size.update_layout(title=f"{labels[d]} by MIIT size class 按规模",
                              xaxis={"categoryorder": "array", "categoryarray": size_order})
        charts += [_figure(by_ind), _figure(by_size)]
    parts.append("<div class='grid'>" + "".join(f"<div>{c}</div>" for c in charts) + "</div>")
    means = profile.groupby(sizes)[[f"{d}_score" for d in DIMENSIONS]].mean().reindex(
        size_order)
    means.columns = [labels[d] for d in DIMENSIONS]
    parts += ["<h3>Mean scores by size class 各规模平均分</h3>", _table(means.round(1), True)]
    worst = profile.nsmallest(10, "credit_score")[
        ["firm_id", "industry_section", "size_class", "credit_score", "summary_zh",
         "summary_en"]]
    parts += ["<h3>Ten weakest credit records 信用记录最弱的十家</h3>", _table(worst)]
    return "\n".join(parts)


def render_report(
    path: str | Path, *, title: str, summary: PortfolioSummary, profile: pd.DataFrame
) -> Path:
    """Write the report and return its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join([
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Generated {dt.datetime.now():%Y-%m-%d %H:%M} by creditpersona.</p>",
        data_section(summary),
        profile_section(profile),
    ])
    page = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>{body}</body></html>")
    out.write_text(page, encoding="utf-8")
    return out
