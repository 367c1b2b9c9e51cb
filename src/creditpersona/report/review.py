"""HTML report section of the quarterly review (季度检视); formatting only."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from creditpersona.report.html import _figure, _table
from creditpersona.review.migration import LEFT, NEW
from creditpersona.review.stage import ReviewResult

_MODELS = {"pd_champion": "评分卡 scorecard (champion)", "pd_challenger": "LightGBM (challenger)"}
_COMPARISONS = {"qoq": "环比 vs previous quarter", "pd_baseline": "vs PD model's fit quarter",
                "persona_baseline": "vs persona model's fit quarter"}
_TRIGGERS = {
    "pd_auc_drop": "成熟样本AUC下降 matured AUC drop",
    "pd_score_psi": "PD分布漂移 PD score PSI",
    "persona_share_psi": "客户性格占比漂移 persona-share PSI",
    "persona_feature_drift": "分类特征漂移 segmentation feature drift",
    "persona_agreement": "客户性格稳定性 persona agreement",
    "persona_annual_review": "年度检视 annual review",
}
#: PSI colour scale: green below the watch band, amber in it, red from the drift band.
_PSI_CAP = 0.5


def _e(value: object) -> str:
    return html.escape(str(value))


def _grid(*figures: str) -> str:
    return "<div class='grid'>" + "".join(f"<div>{f}</div>" for f in figures) + "</div>"


def _psi_scale(watch: float, drift: float) -> list[list[object]]:
    w, d = watch / _PSI_CAP, drift / _PSI_CAP
    return [[0.0, "#e8f5e9"], [w, "#a5d6a7"], [w, "#ffe082"], [d, "#ffb74d"],
            [d, "#ef5350"], [1.0, "#b71c1c"]]


def _persona_labels(result: ReviewResult) -> dict[str, str]:
    names = result.history_personas
    if names.empty:
        return {}
    last = names.sort_values("as_of").drop_duplicates("persona_id", keep="last")
    return {str(p): f"{p} {z}" for p, z in zip(last["persona_id"], last["persona_name_zh"],
                                                 strict=True)}


def _heatmap(counts: pd.DataFrame, rates: pd.DataFrame, title: str,
             labels: dict[str, str] | None = None) -> str:
    labels = labels or {}
    rows = [labels.get(str(i), str(i)) for i in counts.index]
    cols = [labels.get(str(c), str(c)) for c in counts.columns]
    fig = go.Figure(go.Heatmap(
        z=rates.to_numpy(dtype=float), x=cols, y=rows, text=counts.to_numpy(),
        texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        colorbar={"title": "row rate", "tickformat": ".0%"},
        hovertemplate="%{y} → %{x}: %{text} firms (%{z:.1%} of the row)<extra></extra>"))
    fig.update_layout(title=title, xaxis={"title": "this quarter 本季", "type": "category"},
                      yaxis={"title": "previous quarter 上季", "type": "category",
                             "autorange": "reversed"},
                      height=max(380, 40 * len(rows) + 120))
    return _figure(fig)


def _triggers(result: ReviewResult) -> str:
    rows = []
    for _, t in result.triggers.iterrows():
        state = ("<b style='color:#b71c1c'>触发 fired</b>" if t["fired"]
                 else "未触发 not fired" if t["evaluated"] else "未评估 not evaluated")
        value = "" if pd.isna(t["value"]) else f"{t['value']:.3f}"
        command = f"<code>{_e(t['command'])}</code>" if t["command"] else ""
        rows.append(
            f"<tr><td>{_e(_TRIGGERS.get(t['trigger'], t['trigger']))}</td>"
            f"<td>{_e(t['target'])}</td><td>{state}</td><td>{value}</td>"
            f"<td>{t['threshold']:.2f}</td><td style='text-align:left'>"
            f"{_e(t['recommendation_zh'])}<br>{_e(t['recommendation_en'])}</td>"
            f"<td style='text-align:left'>{_e(t['evidence'])}</td><td>{command}</td></tr>")
    head = ("<tr><th>trigger 触发条件</th><th>model</th><th>status</th><th>value</th>"
            "<th>threshold</th><th>recommendation 建议</th><th>evidence 依据</th>"
            "<th>command 命令</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _psi_bars(result: ReviewResult) -> str:
    cfg = result.config.stability
    d = result.drift[result.drift["segment"] == "portfolio"]
    if d.empty:
        return ""
    figures = []
    for kind, title, top in (("score", "Scores 评分 PSI", None),
                             ("feature", "Most moving features 特征 CSI (top 15)", 15)):
        part = d[d["kind"] == kind]
        if part.empty:
            continue
        if top is not None:
            keep = part.groupby("variable")["psi"].max().nlargest(top).index
            part = part[part["variable"].isin(keep)]
        order = part.groupby("variable")["psi"].max().sort_values().index.tolist()
        fig = go.Figure()
        for comparison, g in part.groupby("comparison", sort=False):
            g = g.set_index("variable").reindex(order)
            fig.add_bar(y=order, x=g["psi"], orientation="h",
                        name=_COMPARISONS.get(str(comparison), str(comparison)))
        for x, dash, where in ((cfg.watch, "dot", "top left"),
                               (cfg.drift, "dash", "top right")):
            fig.add_vline(x=x, line={"dash": dash, "color": "#b71c1c"},
                          annotation_text=f"{x:.2f}", annotation_position=where)
        fig.update_layout(title=title, barmode="group", xaxis_title="PSI",
                          height=max(380, 24 * len(order) * max(1, part["comparison"].nunique())
                                     + 120), legend={"orientation": "h", "y": -0.15})
        figures.append(_figure(fig))
    return _grid(*figures)


def _industry_heatmap(result: ReviewResult) -> str:
    cfg = result.config.stability
    d = result.drift[(result.drift["segment"] != "portfolio")
                     & (result.drift["comparison"] == "qoq")]
    if d.empty:
        return ""
    scores = [v for v in dict.fromkeys(d.loc[d["kind"] == "score", "variable"])]
    features = (d[d["kind"] == "feature"].groupby("variable")["psi"].max()
                .nlargest(15).index.tolist())
    grid = d.pivot_table(index="segment", columns="variable", values="psi", aggfunc="first",
                         dropna=False).reindex(columns=[*scores, *features])
    ind = result.industries.set_index("segment")
    judged = [s for s in grid.index if s in ind.index and bool(ind.loc[s, "judged"])]
    grid = grid.loc[judged]
    if grid.empty:
        return ""
    rows = [f"{s} {ind.loc[s, 'name_zh'] if s in ind.index else ''}"
            + (" ⚑" if s in ind.index and bool(ind.loc[s, "flagged"]) else "")
            for s in grid.index]
    z = grid.to_numpy(dtype=float)
    text = np.where(np.isfinite(z), np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(z)), "")
    fig = go.Figure(go.Heatmap(
        z=np.minimum(z, _PSI_CAP), x=list(grid.columns), y=rows, text=text,
        texttemplate="%{text}", zmin=0, zmax=_PSI_CAP,
        colorscale=_psi_scale(cfg.watch, cfg.drift),
        colorbar={"title": "PSI", "tickvals": [0, cfg.watch, cfg.drift, _PSI_CAP]},
        hovertemplate="%{y} · %{x}: PSI %{text}<extra></extra>"))
    fig.update_layout(title="Industry × variable PSI, quarter on quarter 行业×变量漂移 "
                            "(⚑ flagged; blank: too few firms)",
                      xaxis={"tickangle": -45, "type": "category"},
                      yaxis={"type": "category", "autorange": "reversed"},
                      height=max(380, 30 * len(rows) + 200))
    return _figure(fig)


def _stability(summary: pd.DataFrame) -> str:
    """Rating stability of performing firms: the rating grade against the PIT grade."""
    if "stay_share" not in summary.columns:
        return ""
    rows = []
    labels = {"rating": "master-scale grade 评级 (rating philosophy)",
              "pit": "point-in-time grade 时点评级 (PD alone)"}
    for _, r in summary.iterrows():
        if pd.isna(r["stay_share"]):
            continue
        rows.append(f"<tr><td>{_e(labels.get(str(r.get('basis', 'rating')), ''))}</td>"
                    f"<td>{int(r['performing']):,}</td><td>{r['stay_share']:.1%}</td>"
                    f"<td>{r['within_one_share']:.1%}</td></tr>")
    if not rows:
        return ""
    return ("<p class='note'>Rating stability 评级稳定性 of the firms performing last quarter "
            "(docs/rating.md; targets: at least 75 % keep their grade, 95 % move at most "
            "one notch):</p><table><tr><th>grade</th><th>performing firms</th>"
            "<th>same grade</th><th>within one notch</th></tr>" + "".join(rows)
            + "</table>")


def _downgrades(result: ReviewResult) -> str:
    b = result.downgrades_by_section
    if b.empty:
        return ""
    flagged = set(result.flagged_industries["segment"])
    min_firms = result.config.industry.min_firms
    b = b[(b["firms"] >= min_firms) | b["segment"].isin(flagged)]
    if b.empty:
        return ""
    b = b.sort_values("downgrade_share", ascending=False)
    fig = go.Figure(go.Bar(
        x=[f"{s} {z}" for s, z in zip(b["segment"], b["name_zh"], strict=True)],
        y=b["downgrade_share"], text=[f"{n:,} firms" for n in b["firms"]],
        marker={"color": ["#b71c1c" if s in flagged else "#1f4e79" for s in b["segment"]]},
        hovertemplate="%{x}: %{y:.1%} downgraded of %{text}<extra></extra>"))
    overall = result.rating_summary["downgrade_share"].iloc[0]
    if pd.notna(overall):
        fig.add_hline(y=float(overall), line={"dash": "dash", "color": "#555"},
                      annotation_text=f"portfolio {overall:.1%}")
    fig.update_layout(title="Downgrade share by industry section and division 各行业评级下调占比 "
                            f"(red: flagged; {min_firms}+ firms)",
                      yaxis_tickformat=".0%", xaxis={"type": "category"})
    return _figure(fig)


def _flagged_ratings(result: ReviewResult) -> list[str]:
    cells = result.rating_by_section
    order = [str(i) for i in result.rating_migration.index if i != NEW]
    figures = []
    for seg in result.flagged_industries["segment"]:
        part = cells[cells["segment"] == seg]
        if part.empty:
            continue
        counts = part.pivot_table(index="from_state", columns="to_state", values="firms",
                                  aggfunc="sum", fill_value=0)
        counts = counts.reindex(index=order, columns=order, fill_value=0)
        counts = counts.loc[(counts.sum(axis=1) > 0).to_numpy(),
                            (counts.sum(axis=0) > 0).to_numpy()]
        totals = counts.sum(axis=1)
        rates = counts.div(totals.where(totals > 0), axis=0)
        name = result.flagged_industries.set_index("segment").loc[seg, "name_zh"]
        figures.append(_heatmap(counts, rates, f"Rating migration in {seg} {name} 评级迁移"))
    return figures


def _performance(result: ReviewResult) -> str:
    p = result.performance
    if result.cohort is None or p.empty:
        return ("<h3>成熟样本表现 Performance on matured outcomes</h3><p class='note'>No cohort "
                "has matured yet: the first PD scores are less than "
                f"{result.config.pd.horizon_months} months old.</p>")
    names = [_MODELS.get(m, m) for m in p["model"]]
    auc = go.Figure()
    auc.add_trace(go.Scatter(
        x=names, y=p["auc"], mode="markers", name=f"matured cohort {result.cohort}",
        marker={"size": 12}, error_y={"type": "data", "symmetric": False,
                                      "array": (p["auc_high"] - p["auc"]).tolist(),
                                      "arrayminus": (p["auc"] - p["auc_low"]).tolist()}))
    auc.add_trace(go.Scatter(
        x=names, y=p["dev_auc"], mode="markers", name="development 开发期",
        marker={"size": 12, "symbol": "diamond"},
        error_y={"type": "data", "symmetric": False,
                 "array": (p["dev_auc_high"] - p["dev_auc"]).tolist(),
                 "arrayminus": (p["dev_auc"] - p["dev_auc_low"]).tolist()}))
    auc.update_layout(title="AUC on matured outcomes vs development 区分能力 (95 % CI)",
                      yaxis_title="AUC", xaxis={"type": "category"})
    figures = [_figure(auc)]
    j = result.performance_grades
    if len(j):
        cal = go.Figure([
            go.Scatter(x=j["grade"], y=j["observed_dr"], mode="markers",
                       name="observed 实际违约率",
                       error_y={"type": "data", "symmetric": False,
                                "array": (j["high"] - j["observed_dr"]).tolist(),
                                "arrayminus": (j["observed_dr"] - j["low"]).tolist()}),
            go.Scatter(x=j["grade"], y=j["mean_pd"], mode="markers", name="mean PD 预测",
                       marker={"symbol": "diamond", "size": 10})])
        cal.update_layout(title="Calibration per grade, Jeffreys one-sided 95 % 分级校准",
                          yaxis_type="log", xaxis={"type": "category", "title": "grade"},
                          yaxis_title="default rate")
        figures.append(_figure(cal))
    show = pd.DataFrame({
        "model": names, "firms": p["firms"], "defaults": p["defaults"],
        "AUC": p["auc"].round(3), "development AUC": p["dev_auc"].round(3),
        "change": p["auc_change"].round(3),
        "mean PD": p["mean_pd"].map(lambda v: f"{v:.2%}"),
        "observed DR": p["observed_dr"].map(lambda v: f"{v:.2%}"),
        "observed / predicted": p["calibration_ratio"].round(2),
        "binomial p": p["binomial_p"].map(lambda v: f"{v:.2g}"),
        "judged": p["judged"].map({True: "yes", False: "too few defaults"})})
    return ("<h3>成熟样本表现 Performance on matured outcomes</h3>"
            f"<p class='note'>Firms scored on {result.cohort}; their 12-month outcomes are "
            "complete. The AUC is judged only with at least "
            f"{result.config.pd.min_matured_defaults} matured defaults; the binomial test "
            "assumes independent defaults and so overstates significance in a downturn.</p>"
            + _grid(*figures) + _table(show))


def _trend(result: ReviewResult) -> str:
    shares = result.history_personas
    summary = result.history
    figures = []
    if len(shares):
        labels = _persona_labels(result)
        area = go.Figure()
        for pid, g in shares.groupby("persona_id", sort=True):
            area.add_trace(go.Scatter(x=g["as_of"].astype(str), y=g["share"], mode="lines",
                                      stackgroup="one", name=labels.get(str(pid), str(pid))))
        area.update_layout(title="Persona shares by quarter 客户性格占比走势",
                           yaxis_tickformat=".0%", xaxis={"type": "category"})
        figures.append(_figure(area))
    if len(summary) and "mean_pd" in summary.columns:
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_trace(go.Scatter(x=summary["as_of"].astype(str), y=summary["mean_pd"],
                                 mode="lines+markers", name="mean PD 平均违约概率"))
        for column, name in (("npl_share", "NPL share 不良占比"),
                             ("special_mention_share", "special mention 关注类占比")):
            if column in summary.columns and summary[column].notna().any():
                fig.add_trace(go.Scatter(x=summary["as_of"].astype(str), y=summary[column],
                                         mode="lines+markers", name=name,
                                         line={"dash": "dot"}), secondary_y=True)
        fig.update_layout(title="Mean PD and classification by quarter 风险走势",
                          xaxis={"type": "category"})
        fig.update_yaxes(tickformat=".1%", title_text="mean PD", secondary_y=False)
        fig.update_yaxes(tickformat=".0%", title_text="share of borrowers", secondary_y=True)
        figures.append(_figure(fig))
    return _grid(*figures) if figures else ""


def _quarter_on_quarter(result: ReviewResult) -> list[str]:
    """Migration, stability and industries against the previous quarter."""
    cfg = result.config
    parts: list[str] = []
    labels = _persona_labels(result)
    s = result.rating_summary.iloc[0]
    parts.append("<h3>迁移 Migration</h3>")
    if len(result.persona_migration):
        agree = result.persona_agreement
        parts.append(f"<p class='note'>{agree['same_persona']:.1%} of "
                     f"{int(agree['firms']):,} firms in both quarters kept their persona "
                     f"(ARI {agree['ari']:.3f}). Row {NEW}: firms new this quarter; column "
                     f"{LEFT}: firms gone. Colour: share of the row.</p>")
    if pd.notna(s["downgrade_share"]):
        parts.append(f"<p class='note'>Ratings of {int(s['firms']):,} firms graded in both "
                     f"quarters: {s['upgrade_share']:.1%} upgraded, "
                     f"{s['stable_share']:.1%} unchanged, {s['downgrade_share']:.1%} "
                     f"downgraded (mean move {s['mean_notches']:+.2f} notches).</p>")
        parts.append(_stability(result.rating_summary))
    figs = []
    if len(result.persona_migration):
        figs.append(_heatmap(result.persona_migration, result.persona_migration_rates,
                             "Persona migration 客户性格迁移", labels))
    if len(result.rating_migration):
        figs.append(_heatmap(result.rating_migration, result.rating_migration_rates,
                             "Rating migration 评级迁移 (best grade first, default last)"))
    parts += [_grid(*figs), _downgrades(result)]
    parts += ["<h3>漂移 Stability (PSI / CSI)</h3>", _psi_bars(result),
              _industry_heatmap(result)]
    ind = result.industries
    ind = ind[ind["judged"].astype(bool)]
    if len(ind):
        shown = ind[["segment", "name_zh", "name_en", "firms_current", "pd_psi",
                     "features_drifted", "features_compared", "downgrade_share",
                     "downgrade_share_rest", "downgrade_z", "flagged", "reason"]].rename(
            columns={"segment": "industry", "firms_current": "firms", "pd_psi": "PD PSI",
                     "features_drifted": "features drifted", "features_compared": "of",
                     "downgrade_share": "downgraded", "downgrade_share_rest":
                     "rest downgraded", "downgrade_z": "z"})
        parts += ["<h4>Industry sections and divisions 行业门类与大类 (quarter on "
                  "quarter)</h4>",
                  f"<p class='note'>An industry is flagged when its PD PSI reaches "
                  f"{cfg.industry.pd_psi:.2f}, or at least {cfg.industry.feature_share:.0%} "
                  f"of its features drift, or its downgrade share exceeds the rest of the "
                  f"portfolio's by {cfg.industry.downgrade_excess:.0%} or more with z ≥ "
                  f"{cfg.industry.downgrade_z:.2f}. Industries with fewer than "
                  f"{cfg.industry.min_firms} firms in either quarter are not judged and "
                  "not shown.</p>", _table(shown)]
    flagged = _flagged_ratings(result)
    if flagged:
        parts += ["<h4>Rating migration of flagged industries 预警行业评级迁移</h4>",
                  _grid(*flagged)]
    return parts


def _overrides(result: ReviewResult) -> str:
    """Credit officers' rating overrides of the quarter: how many, which way, where."""
    o = result.overrides
    if o.empty:
        return ("<p class='note'>No rating override was recorded through the service for the "
                "quarter (评级人工调整：无).</p>")
    labels = _persona_labels(result)
    names = {"all": "all firms 全部", "persona": "persona 客户性格",
             "grade": "model grade 模型评级"}
    rows = []
    for _, r in o.iterrows():
        by, segment = str(r["by"]), str(r["segment"])
        shown = "" if by == "all" else labels.get(segment, segment) if by == "persona" else segment
        share = "" if pd.isna(r["share"]) else f"{r['share']:.1%}"
        rows.append(f"<tr><td>{_e(names.get(by, by))}</td><td>{_e(shown)}</td>"
                    f"<td>{int(r['overrides']):,}</td><td>{int(r['firms']):,}</td>"
                    f"<td>{share}</td><td>{int(r['up']):,}</td><td>{int(r['down']):,}</td></tr>")
    return ("<p class='note'>Overrides of the model grade kept beside it by credit officers "
            "through the service (the latest per firm of the quarter just worked); up = a "
            "better grade than the model's.</p><table><tr><th>by 维度</th><th>segment 分组</th>"
            "<th>overrides 调整数</th><th>firms graded 评级客户数</th><th>share 占比</th>"
            "<th>up 上调</th><th>down 下调</th></tr>" + "".join(rows) + "</table>")


def review_section(result: ReviewResult) -> str:
    """The quarterly review: triggers, migration, drift, matured performance and trend.

    Parameters
    ----------
    result : ReviewResult
        What :func:`creditpersona.review.review_stage` returned.

    Returns
    -------
    str
        An HTML fragment for :func:`creditpersona.report.html.render_report`'s ``sections``.
    """
    cfg = result.config
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(result.model_versions.items()))
    fitted = ", ".join(f"{k} fitted for {d}" for k, d in result.baselines.items() if d)
    parts = [
        f"<h2>季度检视 Quarterly review — {result.as_of}</h2>",
        "<p class='note'>"
        + (f"Compared with the previous quarter {result.previous}" if result.previous
           else "First quarter in the store: nothing to compare with yet")
        + f" and with the quarter each model in force was fitted for ({_e(fitted or 'none')})."
        f" Models in force: {_e(versions or 'none')}. PSI below {cfg.stability.watch:.2f} is "
        f"stable, {cfg.stability.watch:.2f}–{cfg.stability.drift:.2f} worth watching, from "
        f"{cfg.stability.drift:.2f} a significant shift (and counted only beyond sampling "
        "noise). Thresholds: review/review.yaml; method: docs/review.md.</p>",
    ]
    if result.notes:
        parts.append("<ul class='note'>" + "".join(f"<li>{_e(n)}</li>" for n in result.notes)
                     + "</ul>")
    parts += ["<h3>触发条件 Re-fit triggers</h3>", _triggers(result)]
    parts += ["<h3>评级人工调整 Rating overrides</h3>", _overrides(result)]
    if result.previous is None:
        parts.append("<p class='note'>No migration or quarter-on-quarter drift: this is the "
                     "first reviewed quarter.</p>")
    else:
        parts += _quarter_on_quarter(result)
    bars = _psi_bars(result) if result.previous is None else ""
    if bars:  # the first quarter compares with the models' fit quarters only
        parts += ["<h3>漂移 Stability (PSI / CSI)</h3>", bars]
    parts.append(_performance(result))
    parts += ["<h3>季度走势 Quarter-over-quarter trend</h3>", _trend(result)]
    return "\n".join(p for p in parts if p)
