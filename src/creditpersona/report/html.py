"""The HTML report: one self-contained page (charts work offline) per store and as-of date.

Rendering only: every number comes from a table the library computed (the store summary,
the stored profile); this module lays them out and draws them with Plotly.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from creditpersona.domain import size_class
from creditpersona.profile.scoring import DIMENSIONS, load_scoring
from creditpersona.safeio import write_text
from creditpersona.store.summary import PortfolioSummary

_CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
td:first-child,th:first-child,td.text{text-align:left}.note{color:#555;font-size:.9rem}
.scroll{overflow-x:auto;max-width:100%}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
"""


def _table(df: pd.DataFrame, index: bool = False, names: pd.Series | None = None) -> str:
    """A table that scrolls sideways when wide; with ``names`` (by firm id) the firm's
    name follows its code."""
    df = with_names(df, names)
    return ("<div class='scroll'>" + df.to_html(
        index=index, border=0, float_format=lambda v: f"{v:,.2f}", na_rep="", escape=True)
        + "</div>")


def with_names(df: pd.DataFrame, names: pd.Series | None) -> pd.DataFrame:
    """``df`` with a ``name 名称`` column after its ``firm_id`` (or ``firm``) column.

    Examples
    --------
    >>> df = pd.DataFrame({"firm_id": ["a"], "pd": [0.1]})
    >>> with_names(df, pd.Series({"a": "甲公司"})).columns.tolist()
    ['firm_id', 'name 名称', 'pd']
    """
    key = next((c for c in ("firm_id", "firm") if c in df.columns), None)
    if names is None or key is None or not len(names) or "name 名称" in df.columns:
        return df
    out = df.copy()
    out.insert(list(out.columns).index(key) + 1, "name 名称",
               out[key].astype(str).map(names).fillna("").to_numpy())
    return out


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


def profile_section(profile: pd.DataFrame, names: pd.Series | None = None, *,
                    exact: ProfileFigures | None = None) -> str:
    """Distributions of the five dimension scores, overall, by industry and by size.

    ``profile`` holds every firm, or (with ``exact``) a sample of firms for the charts while
    ``exact`` gives the count, the means by size class and the weakest records of all firms
    (the Spark run's report computes them in SQL).
    """
    if profile.empty:
        return "<h2>客户画像 Customer profile</h2><p>No profile stored yet.</p>"
    cfg = load_scoring()
    as_of = pd.Timestamp(profile["as_of"].iloc[0]).date()
    labels = {d: f"{cfg.dimensions[d].zh} {cfg.dimensions[d].en}" for d in DIMENSIONS}
    firms = len(profile) if exact is None else exact.firms
    sampled = "" if firms == len(profile) else (
        f" The charts show a uniform sample of {len(profile):,} firms (a fixed hash of the "
        "firm id); the counts, means and lists cover every firm.")
    parts = [f"<h2>客户画像 Customer profile — as of {as_of}</h2>",
             f"<p class='note'>{firms:,} firms. Scores run 0–100; higher means larger "
             "(scale), healthier (financial), cleaner (credit), more urgent (urgency), more "
             "prudent and willing to repay (willingness). Construction: docs/profile.md."
             f"{sampled}</p>"]
    fig = go.Figure([go.Histogram(x=profile[f"{d}_score"], name=labels[d], opacity=0.6,
                                  nbinsx=40) for d in DIMENSIONS])
    fig.update_layout(barmode="overlay", title="Distribution of each dimension 五维分布",
                      xaxis_title="score")
    parts.append(_figure(fig))
    sections = profile["industry_section"].fillna("?")
    sizes = profile["size_class"].fillna("unknown")
    order = size_order(sizes)
    charts = []
    for d in DIMENSIONS:
        by_ind = go.Figure(go.Box(x=sections, y=profile[f"{d}_score"], boxpoints=False))
        by_ind.update_layout(title=f"{labels[d]} by industry section 按行业",
                             xaxis={"categoryorder": "category ascending"})
        by_size = go.Figure(go.Box(x=sizes, y=profile[f"{d}_score"], boxpoints=False))
        by_size.update_layout(title=f"{labels[d]} by MIIT size class 按规模",
                              xaxis={"categoryorder": "array", "categoryarray": order})
        charts += [_figure(by_ind), _figure(by_size)]
    parts.append("<div class='grid'>" + "".join(f"<div>{c}</div>" for c in charts) + "</div>")
    figures = profile_figures(profile) if exact is None else exact
    means = figures.means.rename(columns={f"{d}_score": labels[d] for d in DIMENSIONS})
    parts += ["<h3>Mean scores by size class 各规模平均分</h3>", _table(means.round(1), True)]
    parts += ["<h3>Ten weakest credit records 信用记录最弱的十家</h3>",
              _table(figures.worst, names=names)]
    return "\n".join(parts)


@dataclass
class ProfileFigures:
    """The profile section's figures over every firm: the count, the mean scores by size
    class (rows in the MIIT order) and the ten weakest credit records."""

    firms: int
    means: pd.DataFrame
    worst: pd.DataFrame


#: The columns of the weakest credit records shown.
WORST_COLUMNS = ("firm_id", "industry_section", "size_class", "credit_score", "summary_zh",
                 "summary_en")


def size_order(present: Iterable[str]) -> list[str]:
    """The size classes of ``present`` in the MIIT order, then outside-MIIT and unknown."""
    have = set(present)
    return [s for s in (*size_class.SIZE_CLASSES, size_class.OUTSIDE_MIIT, "unknown")
            if s in have]


def profile_figures(profile: pd.DataFrame) -> ProfileFigures:
    """:class:`ProfileFigures` of a whole profile (one row per firm)."""
    sizes = profile["size_class"].fillna("unknown")
    means = profile.groupby(sizes)[[f"{d}_score" for d in DIMENSIONS]].mean().reindex(
        size_order(sizes))
    worst = profile.nsmallest(10, "credit_score")[list(WORST_COLUMNS)]
    return ProfileFigures(len(profile), means, worst)


def render_report(
    path: str | Path,
    *,
    title: str,
    summary: PortfolioSummary,
    profile: pd.DataFrame,
    sections: tuple[str, ...] = (),
    profile_exact: ProfileFigures | None = None,
) -> Path:
    """Write the report and return its path; ``sections`` are further rendered sections.

    ``profile_exact``: the profile's figures over every firm when ``profile`` is a sample
    (:func:`profile_section`)."""
    out = Path(path)
    body = "\n".join([
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Generated {dt.datetime.now():%Y-%m-%d %H:%M} by creditpersona.</p>",
        data_section(summary),
        profile_section(profile, summary.firm_names, exact=profile_exact),
        *sections,
    ])
    page = (f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>{body}</body></html>")
    return write_text(out, page)


def pd_section(tables: Mapping[str, Any], scores: pd.DataFrame,
               firm_names: pd.Series | None = None, *,
               reasons: pd.Series | None = None) -> str:
    """Default-probability models: discrimination, calibration, stability, grades, reasons.

    ``tables`` is what :func:`creditpersona.models.development.validation_tables` returns;
    ``scores`` the graded firms of the as-of date (``pd``, ``grade``, reason columns), or
    only the rows shown (the highest PDs of performing firms) when ``reasons`` gives the
    firms per main reason code (:func:`reason_counts` of all firms, computed elsewhere).
    """
    metrics: dict[str, dict[str, float]] = tables["metrics"]
    names = {"champion": "评分卡 scorecard (champion)",
             "challenger": "LightGBM (challenger)"}
    parts = ["<h2>违约概率模型 Default-probability models</h2>",
             "<p class='note'>Out-of-fold figures on the development sample "
             f"({html.escape(', '.join(tables['dates']))}; 12-month default = 90+ days past due "
             "or write-off). Folds are grouped by firm, so no firm is in both training and "
             "validation. The scorecard sets the grade; the challenger is its benchmark. "
             "Full numbers: the JSON beside this report.</p>"]
    rows = pd.DataFrame([
        {"model": names.get(name, name), "AUC": m["auc"],
         "AUC 95% CI": f"{m['auc_low']:.3f}–{m['auc_high']:.3f}", "Gini": m["gini"],
         "KS": m["ks"], "Brier": m["brier"], "Hosmer–Lemeshow p": m["hosmer_lemeshow_p"],
         "samples": m["n"], "defaults": m["defaults"]} for name, m in metrics.items()])
    parts.append(_table(rows))
    parts.append(_pd_curves(tables, names))
    parts += _pd_grades(tables)
    parts.append(_pd_drivers(tables, reason_counts(scores) if reasons is None else reasons))
    parts += _pd_worst(scores, firm_names)
    return "\n".join(parts)


def _pd_curves(tables: Mapping[str, Any], names: dict[str, str]) -> str:
    """ROC curves and calibration by PD decile, side by side."""
    roc = go.Figure([go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=names.get(k, k))
                     for k, c in tables["roc"].items()])
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random",
                             line={"dash": "dot", "color": "#999"}))
    roc.update_layout(title="ROC curves 区分能力", xaxis_title="false-positive rate",
                      yaxis_title="true-positive rate")
    cal = go.Figure([go.Scatter(x=c["mean_pd"], y=c["observed_dr"], mode="markers+lines",
                                name=names.get(k, k))
                     for k, c in tables["calibration"].items()])
    top = max(float(c["mean_pd"].max()) for c in tables["calibration"].values())
    low = min(float(c["mean_pd"].min()) for c in tables["calibration"].values())
    cal.add_trace(go.Scatter(x=[low, top], y=[low, top], mode="lines", name="perfect",
                             line={"dash": "dash", "color": "#999"}))
    cal.update_layout(title="Calibration by PD decile 校准 (log scale)", xaxis_type="log",
                      yaxis_type="log", xaxis_title="mean predicted PD",
                      yaxis_title="observed default rate")
    return ("<div class='grid'><div>" + _figure(roc) + "</div><div>" + _figure(cal)
            + "</div></div>")


def _pd_grades(tables: Mapping[str, Any]) -> list[str]:
    """The Jeffreys test per grade and the grade distribution, with the reading note."""
    parts: list[str] = []
    j: pd.DataFrame = tables["jeffreys"]
    jf = go.Figure([
        go.Scatter(x=j["grade"], y=j["observed_dr"], mode="markers", name="observed 实际违约率",
                   error_y={"type": "data", "symmetric": False,
                            "array": (j["high"] - j["observed_dr"]).tolist(),
                            "arrayminus": (j["observed_dr"] - j["low"]).tolist()}),
        go.Scatter(x=j["grade"], y=j["mean_pd"], mode="markers", name="mean PD 预测",
                   marker={"symbol": "diamond", "size": 10}),
    ])
    jf.update_layout(title="Jeffreys test per grade 分级校准 (one-sided: a grade fails when its "
                           "mean PD is under the 95 % lower bound)",
                     yaxis_type="log", xaxis={"type": "category", "title": "grade"},
                     yaxis_title="default rate")
    g: pd.DataFrame = tables["grades"]
    dist = go.Figure(go.Bar(x=g["grade"], y=g["firms"]))
    dist.update_layout(title=f"Grades as of the report date 评级分布 (PSI vs development "
                             f"{tables['psi']:.3f})", xaxis={"type": "category"},
                       yaxis_title="firms")
    parts.append("<div class='grid'><div>" + _figure(jf) + "</div><div>" + _figure(dist)
                 + "</div></div>")
    failing = j.loc[~j["within"], "grade"].tolist()
    parts.append(f"<p class='note'>Jeffreys test: {len(j) - len(failing)} of {len(j)} grades "
                 "pass the one-sided test (default rate not significantly above the mean PD, "
                 "95 %)"
                 + (f"; PD understated in: {', '.join(map(str, failing))}." if failing
                    else ".")
                 + " PSI below 0.10 is stable, 0.10–0.25 worth investigating, above 0.25 a "
                   "significant shift.</p>")
    return parts


def reason_counts(scores: pd.DataFrame) -> pd.Series:
    """Firms per main reason code (``"<zh> <en>"``), the twelve most frequent.

    Examples
    --------
    >>> reason_counts(pd.DataFrame({"reason_1_zh": ["负债", "负债", None],
    ...                             "reason_1_en": ["debt", "debt", None]})).to_dict()
    {'负债 debt': 2, '— ': 1}
    """
    reasons = scores["reason_1_zh"].fillna("—") + " " + scores["reason_1_en"].fillna("")
    return reasons.value_counts().head(12)


def _pd_drivers(tables: Mapping[str, Any], counts: pd.Series) -> str:
    """Information value of the features and the main reason codes, side by side."""
    iv: pd.DataFrame = tables["iv"].head(25)
    ivf = go.Figure(go.Bar(
        y=[f"{zh} {en}" for zh, en in zip(iv["zh"], iv["en"], strict=True)][::-1],
        x=iv["iv"].tolist()[::-1], orientation="h",
        marker={"color": ["#1f4e79" if s else "#bbb" for s in iv["selected"]][::-1]}))
    ivf.update_layout(title="Information value 信息值 (grey: below the cut-off, not in the "
                            "scorecard)", height=max(380, 22 * len(iv)), xaxis_title="IV")
    rf = go.Figure(go.Bar(y=counts.index.tolist()[::-1], x=counts.tolist()[::-1],
                          orientation="h"))
    rf.update_layout(title="Main reason code across the portfolio 首要风险因素",
                     xaxis_title="firms")
    return ("<div class='grid'><div>" + _figure(ivf) + "</div><div>" + _figure(rf)
            + "</div></div>")


def _pd_worst(scores: pd.DataFrame, firm_names: pd.Series | None) -> list[str]:
    """The performing firms with the highest PD and their reasons."""
    # Performing firms only: the defaulted ones are already known.
    performing = scores[(scores["grade"].astype(str) != "D") & (scores["pd"] < 1.0)]
    worst = performing.sort_values("pd", ascending=False).head(10)
    show = pd.DataFrame({
        "firm": worst["firm_id"], "PD": worst["pd"].map(lambda v: f"{v:.2%}"),
        "grade": worst["grade"], "challenger PD": worst["pd_challenger"].map(
            lambda v: f"{v:.2%}"),
        "reasons 主要原因": [
            "；".join(str(r[f"reason_{k}_zh"]) for k in (1, 2, 3)
                     if isinstance(r[f"reason_{k}_zh"], str))
            for _, r in worst.iterrows()],
        "reasons": ["; ".join(str(r[f"reason_{k}_en"]) for k in (1, 2, 3)
                              if isinstance(r[f"reason_{k}_en"], str))
                    for _, r in worst.iterrows()]})
    return ["<h3>Highest default probabilities of performing firms 违约概率最高的正常客户</h3>",
            _table(show, names=firm_names)]
