"""The HTML report of a Spark cycle, from its Parquet results (Spark 运行报告).

``creditpersona run --engine spark`` writes the same report as the embedded run — the same
sections and charts — from what the Spark run stored and handed on, never bringing a
firm-level table through Spark to the driver:

* the result tables are read on the driver through the result-store API with a Parquet
  backend (:class:`~creditpersona.store.parquet.ParquetResults`, DuckDB over the files):
  every count, sum, mean, median and distribution the report prints is a SQL aggregation
  over every firm, and every list of firms (the weakest credit records, the highest PDs,
  the largest limits, the watch-list, the text-risk firms) is a ``ORDER BY … LIMIT`` query
  of the columns it shows;
* the charts of distributions (the profile's histograms and box plots) and the persona
  cards and evaluation are drawn on a uniform sample of at most :data:`SAMPLE` firms (the
  smallest MD5 digests of the firm ids, :data:`SAMPLE_KEY`: the same firms every quarter
  and on every machine; every firm when the bank is smaller, so the figures are the
  embedded report's), and the section says so when it is a sample;
* what is small and not stored as a table comes from the run
  (:attr:`~creditpersona.spark.cycle.SparkCycleResult.values`): the PD validation tables,
  the personas' strategies and the review; the rules are read back from their table.

The marketing section shows the offers Spark kept; the out-of-fold uplift, the backtest and
the unmet needs are not computed on Spark (docs/spark.md) and the section says so.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from creditpersona.decisions.config import TIERS
from creditpersona.errors import StoreError
from creditpersona.profile.scoring import DIMENSIONS
from creditpersona.report.cycle import strategy_section
from creditpersona.report.decisions import (
    LIMIT_COLUMNS,
    WATCH_COLUMNS,
    WATCH_ROWS,
    DecisionsView,
    decisions_section,
)
from creditpersona.report.html import (
    WORST_COLUMNS,
    ProfileFigures,
    _table,
    pd_section,
    render_report,
    size_order,
)
from creditpersona.report.marketing import spark_marketing_section
from creditpersona.report.personas import personas_section
from creditpersona.report.review import review_section
from creditpersona.report.rules import rules_section
from creditpersona.report.text import ROWS as TEXT_ROWS
from creditpersona.report.text import text_section
from creditpersona.store import results
from creditpersona.store.parquet import ParquetResults, inputs_store
from creditpersona.store.store import Store

if TYPE_CHECKING:
    import datetime as dt

    from creditpersona.spark.cycle import SparkCycleResult

#: Most firms of the sample the distribution charts and the persona cards are drawn on.
SAMPLE = 20_000
#: The sample's order: the MD5 digest of the UTF-8 firm id as 32 lowercase hexadecimal
#: digits (DuckDB's ``md5``, RFC 1321, the same on every version and machine, unlike its
#: ``hash``), so a bank's report draws the same firms every quarter and everywhere: in
#: Python, ``hashlib.md5(firm_id.encode()).hexdigest()``.
SAMPLE_KEY = "md5({firm_id})"
_SCORES = [f"{d}_score" for d in DIMENSIONS]


def spark_report(path: str | Path, store: Store, result: SparkCycleResult, *,
                 title: str) -> Path:
    """Write the report of a Spark cycle and return its path.

    Parameters
    ----------
    path : str or Path
        The HTML file (written through ``safeio``).
    store : Store
        The run's store: its model registry, and its contract tables (the data section,
        firm names, the persona evaluation's contacts and loans) unless the run read other
        inputs (``--spark-inputs``: then those files, through DuckDB views).
    result : SparkCycleResult
        What :func:`creditpersona.spark.cycle.run_spark_cycle` returned.
    title : str

    Raises
    ------
    StoreError
        If the results folder is not readable on the driver or a table of the date is
        missing.
    """
    res = ParquetResults(result.results_root)
    if not res.exists(results.PROFILES, result.as_of):
        res.close()
        raise StoreError(f"{res.root}: no profiles of {result.as_of} there, where run "
                         f"{result.run_id} wrote its Parquet results (moved or deleted?); "
                         "pass the folder that holds them with --spark-results.")
    own = store.path.parent / f"{store.path.name}.spark-inputs"
    data = store if not result.inputs or Path(result.inputs).resolve() == own.resolve() \
        else inputs_store(result.inputs)
    try:
        return _render(path, store, data, res, result, title)
    finally:
        res.close()
        if data is not store:
            data.close()


def _render(path: str | Path, store: Store, data: Store, res: ParquetResults,
            result: SparkCycleResult, title: str) -> Path:
    """The report; ``store`` holds the registry, ``data`` the contract tables the run read
    (the store itself, or views of ``--spark-inputs``)."""
    day = result.as_of
    sample = _sample(res, day)
    figures = _profile_figures(res, day)
    scores = res.sql(
        "SELECT * FROM {s} WHERE coalesce(grade, '') <> 'D' AND pd < 1.0 "
        "ORDER BY pd DESC, firm_id LIMIT 10", s=(results.PD_SCORES, day))
    reasons = res.sql(
        "SELECT coalesce(reason_1_zh, '—') || ' ' || coalesce(reason_1_en, '') AS reason, "
        "count(*) AS firms FROM {s} GROUP BY reason ORDER BY firms DESC, reason LIMIT 12",
        s=(results.PD_SCORES, day)).set_index("reason")["firms"]
    decisions = _decisions(res, day)
    text, risky = _text(res, day)
    shown = [*figures.worst["firm_id"], *scores["firm_id"], *decisions.top_limits["firm_id"],
             *decisions.watch_head["firm_id"], *text["firm_id"]]
    names = _names(data, shown)
    sections = (
        review_section(result.values["review"]),
        pd_section(result.values["pd_models"], scores, names, reasons=reasons),
        _personas(store, data, res, result, sample),
        strategy_section(result.values["decisions"]),
        rules_section(_rules(res, day)),
        decisions_section(decisions, names),
        text_section(text, names=names, risky=risky),
        _marketing(res, result),
        lineage_section(result),
    )
    return render_report(path, title=title, summary=_summary(data, names),
                         profile=sample, sections=sections, profile_exact=figures)


def _sample(res: ParquetResults, day: dt.date) -> pd.DataFrame:
    """At most :data:`SAMPLE` firms' profiles with their PD: the firms of smallest
    :data:`SAMPLE_KEY` (the MD5 digest of the firm id, as hexadecimal text)."""
    return res.sql(f"SELECT p.*, s.pd FROM {{p}} LEFT JOIN {{s}} USING (firm_id) "
                   f"ORDER BY {SAMPLE_KEY.format(firm_id='p.firm_id')}, p.firm_id "
                   f"LIMIT {SAMPLE}", p=(results.PROFILES, day), s=(results.PD_SCORES, day))


def _profile_figures(res: ParquetResults, day: dt.date) -> ProfileFigures:
    """The profile's count, mean scores by size class and weakest records, over every firm."""
    p = (results.PROFILES, day)
    firms = int(res.sql("SELECT count(*) AS n FROM {p}", p=p)["n"].iloc[0])
    means = res.sql("SELECT coalesce(size_class, 'unknown') AS size_class, "
                    + ", ".join(f"avg({c}) AS {c}" for c in _SCORES)
                    + " FROM {p} GROUP BY 1", p=p).set_index("size_class")
    means = means.reindex(size_order(means.index))
    worst = res.sql(f"SELECT {', '.join(WORST_COLUMNS)} FROM {{p}} "
                    "ORDER BY credit_score NULLS LAST, firm_id LIMIT 10", p=p)
    return ProfileFigures(firms, means, worst)


def _decisions(res: ParquetResults, day: dt.date) -> DecisionsView:
    """The decisions section's figures by SQL over the stored decision tables."""
    pr, lim = (results.DECISION_PRICING, day), (results.DECISION_LIMITS, day)
    representative = res.sql(
        "WITH m AS (SELECT persona_policy, median(floor_rate) AS med FROM {p} "
        "WHERE persona_policy IS NOT NULL GROUP BY 1) "
        "SELECT p.* FROM {p} JOIN m USING (persona_policy) QUALIFY row_number() OVER "
        "(PARTITION BY persona_policy ORDER BY abs(floor_rate - med) NULLS LAST, firm_id) = 1 "
        "ORDER BY persona_policy", p=pr)
    by_persona = res.sql(
        "SELECT persona_policy, count(*) AS firms, avg(spread_bp) AS spread_bp, "
        "median(raroc) AS raroc, avg(below_hurdle::DOUBLE) AS below_hurdle, "
        "avg(floor_above_max::DOUBLE) AS floor_above_max FROM {p} "
        "WHERE persona_policy IS NOT NULL GROUP BY 1 ORDER BY 1", p=pr
    ).set_index("persona_policy").round(3)
    binding = res.sql(
        "SELECT binding, binding_zh, count(*) AS firms, sum(recommended_limit) AS total_limit "
        "FROM {l} WHERE binding IS NOT NULL AND binding_zh IS NOT NULL GROUP BY 1, 2 "
        "ORDER BY 1, 2", l=lim)
    top = res.sql(f"SELECT {', '.join(LIMIT_COLUMNS)} FROM {{l}} "
                  "ORDER BY recommended_limit DESC NULLS LAST, firm_id LIMIT 10", l=lim)
    tiers = res.sql("SELECT tier, count(*) AS firms FROM {c} GROUP BY tier",
                    c=(results.DECISION_CLASSIFICATION, day)).set_index("tier")["firms"]
    w = (results.DECISION_WATCHLIST, day)
    watched = int(res.sql("SELECT count(*) AS n FROM {w}", w=w)["n"].iloc[0])
    head = res.sql(f"SELECT {', '.join(WATCH_COLUMNS)} FROM {{w}} "
                   f"ORDER BY points DESC NULLS LAST, firm_id LIMIT {WATCH_ROWS}", w=w)
    return DecisionsView(day, representative, by_persona, binding, top,
                         tiers.reindex(list(TIERS), fill_value=0).astype(int), watched, head)


def _text(res: ParquetResults, day: dt.date) -> tuple[pd.DataFrame, int]:
    """The firms with the highest text-risk score and a top document, and the count of
    firms with a risk document."""
    p = (results.PROFILES, day)
    top = res.sql("SELECT firm_id, text_risk_score, text_top_document, text_top_document_date, "
                  "text_top_document_risk FROM {p} WHERE text_top_document IS NOT NULL "
                  f"ORDER BY text_risk_score DESC NULLS LAST, firm_id LIMIT {TEXT_ROWS}", p=p)
    risky = res.sql("SELECT count(*) AS n FROM {p} WHERE text_risk_documents > 0", p=p)
    return top, int(risky["n"].iloc[0])


def _rules(res: ParquetResults, day: dt.date) -> Any:
    from creditpersona.rules.store import load_rules

    return load_rules(res, day)


def _names(store: Store, firms: list[str]) -> pd.Series:
    """Firm name by id of the firms the report lists (only those are read)."""
    wanted = sorted({str(f) for f in firms})
    if not wanted or not results.has_table(store, "firms"):
        return pd.Series(dtype=object)
    t = store.table("firms")
    frame = t.filter(t.firm_id.isin(wanted)).select("firm_id", "name").to_pandas()
    return frame.drop_duplicates("firm_id").set_index("firm_id")["name"]


def _summary(store: Store, names: pd.Series) -> Any:
    """The store's summary (the data section), with the names of the listed firms only."""
    from creditpersona.store.summary import portfolio_summary

    return dataclasses.replace(portfolio_summary(store, names=False), firm_names=names)


def _personas(store: Store, data: Store, res: ParquetResults, result: SparkCycleResult,
              sample: pd.DataFrame) -> str:
    """The personas section on the sample: the stored assignment of the sampled firms, the
    cards and the evaluation as the embedded stage computes them (holdings and loan value
    from the store, contacts of the sampled firms, the previous quarter's personas); the
    firms per persona over every firm."""
    from creditpersona.personas.describe import describe_personas
    from creditpersona.personas.evaluation import evaluate_personas
    from creditpersona.personas.store import (
        DEFAULT_LGD,
        DEFAULT_LPR,
        PersonaResult,
        _contacts,
        _loan_inputs,
        load_model,
    )

    day = result.as_of
    model, version = load_model(store, as_of=day)
    stored = res.read(results.PERSONAS, day, firms=sample["firm_id"])
    frame = sample.reset_index(drop=True)
    assignment = frame[["firm_id"]].merge(stored, on="firm_id", how="left")[
        ["persona_id", "source", "cluster", "confidence"]]
    assignment.index = frame.index
    holdings, value = _loan_inputs(data, day, frame["firm_id"], DEFAULT_LPR)
    holdings.index, value.index = frame.index, frame.index
    pd_series = frame["pd"].astype("float64")
    cards = describe_personas(frame, assignment, model, pd_scores=pd_series,
                              holdings=holdings if len(holdings.columns) else None)
    contacts = _contacts(data, day)
    if contacts is not None:
        contacts = contacts[contacts["firm_id"].isin(set(frame["firm_id"]))]
    before = res.latest(results.PERSONAS, before=day)
    previous = None
    if before is not None:
        rows = res.read(results.PERSONAS, before, firms=frame["firm_id"],
                        columns=["firm_id", "persona_id"])
        previous = pd.Series(rows["persona_id"].astype(str).to_numpy(),
                             index=rows["firm_id"].astype(str).to_numpy())
    evaluation = evaluate_personas(frame, assignment, model, surrogate=cards.surrogate,
                                   contacts=contacts, value=value.assign(pd=pd_series,
                                                                         lgd=DEFAULT_LGD),
                                   previous=previous)
    counts = res.sql("SELECT persona_id, first(persona_name_zh) AS name_zh, "
                     "first(persona_name_en) AS name_en, count(*) AS firms FROM {a} "
                     "GROUP BY 1", a=(results.PERSONAS, day)).set_index("persona_id")
    total = int(counts["firms"].sum())
    table = cards.cards.copy()
    # The names the firms carry (the Spark stage's cards) and the firms of every persona.
    for column in ("name_zh", "name_en"):
        table[column] = counts[column].reindex(table.index).fillna(table[column])
    table["firms"] = counts["firms"].reindex(table.index).fillna(0).astype(int)
    table["share"] = table["firms"] / max(1, total)
    cards = dataclasses.replace(cards, cards=table)
    fitted = result.models.get("personas", {}).get("fitted_for") is not None
    persona = PersonaResult(day, assignment, cards, evaluation, model, version, fitted, None)
    note = "" if len(frame) >= total else (
        f"Firms per persona and the names count every firm; the cards' other figures, the "
        f"rules and the evaluation are computed on a uniform sample of {len(frame):,} firms.")
    return personas_section(persona, firms=total, note=note)


def _marketing(res: ParquetResults, result: SparkCycleResult) -> str:
    """The offers Spark kept: counts and sums over the stored offers."""
    o = (results.OFFERS, result.as_of)
    head = res.sql("SELECT count(*) AS n, coalesce(sum(expected_value), 0) AS ev FROM {o}",
                   o=o)
    cells = res.sql("SELECT coalesce(persona_name_zh, 'unknown') AS persona_name_zh, "
                    "product_zh, "
                    "count(*) AS n FROM {o} GROUP BY 1, 2", o=o)
    grid = cells.pivot_table(index="persona_name_zh", columns="product_zh", values="n",
                             aggfunc="sum", fill_value=0).sort_index().sort_index(axis=1)
    grid.index.name, grid.columns.name = "persona_name_zh", "product_zh"
    by = res.sql("SELECT product_zh, journey_zh, count(*) AS offers, "
                 "sum(expected_value) AS expected_value, avg(p_accept) AS mean_p_accept "
                 "FROM {o} GROUP BY 1, 2 ORDER BY 1, 2", o=o)
    stage = result.stages.get("marketing")
    return spark_marketing_section(result.as_of, int(head["n"].iloc[0]),
                                   float(head["ev"].iloc[0]), grid, by,
                                   "" if stage is None else stage.note)


def lineage_section(result: SparkCycleResult) -> str:
    """The run's lineage: where each stage ran, its rows and driver rows, models, inputs."""
    stages = pd.DataFrame([{
        "stage": s.stage, "ran on 运行于": s.ran_on,
        "seconds": round(result.seconds.get(s.stage, 0.0), 2),
        "rows written": ", ".join(f"{k} {v:,}" for k, v in s.tables.items()),
        "driver rows": s.driver_rows, "note": s.note} for s in result.stages.values()])
    models = pd.DataFrame([{"model": k, "version": v["version"],
                            "fitted for 拟合日期": v["fitted_for"] or "earlier"}
                           for k, v in result.models.items() if k != "stages_on"])
    lin = result.lineage
    parts = ["<h2>运行记录与数据血缘 Run lineage</h2>",
             f"<p class='note'>Run {html.escape(result.run_id)} as of {result.as_of} on "
             f"Spark; results {html.escape(str(result.results_root))}."
             + ("" if lin is None else
                f" Re-fits asked: {html.escape(', '.join(lin.refit) or 'none')}. Inputs "
                f"digest <code>{lin.inputs_sha256[:16]}</code>, lineage fingerprint "
                f"<code>{lin.fingerprint[:16]}</code>.")
             + f" The ledger keeps every run: <code>creditpersona runs --as-of "
             f"{result.as_of}</code>.</p>",
             "<h3>Stages 各阶段</h3>", _table(stages),
             "<div class='grid'><div><h3>Models used 所用模型</h3>", _table(models), "</div>"]
    if lin is not None:
        configs = pd.DataFrame({"file": list(lin.configs),
                                "sha256": [v[:16] for v in lin.configs.values()]})
        parts += ["<div><h3>Configuration 配置文件</h3>", _table(configs), "</div></div>",
                  "<h3>Input files 输入文件</h3>", _table(pd.DataFrame(lin.inputs))]
    else:
        parts.append("</div>")
    return "".join(parts)
