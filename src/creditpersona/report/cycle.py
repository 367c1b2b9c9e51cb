"""The report sections of one cycle (:func:`creditpersona.pipeline.run_cycle`), in order."""

from __future__ import annotations

import html

import pandas as pd

from creditpersona.pipeline import CycleResult
from creditpersona.report.decisions import decisions_section
from creditpersona.report.html import _table, pd_section
from creditpersona.report.marketing import marketing_section
from creditpersona.report.personas import personas_section
from creditpersona.report.review import review_section
from creditpersona.report.rules import rules_section
from creditpersona.report.text import text_section


def cycle_sections(result: CycleResult) -> tuple[str, ...]:
    """HTML of every stage after the profile: the quarterly review first, then PD models,
    personas and their strategies, rules, decisions, text risk, marketing, and the run's lineage."""
    return (
        review_section(result.review),
        pd_section(result.pd.tables, result.pd.scores, result.names),
        personas_section(result.personas),
        strategy_section(result.strategies),
        rules_section(result.rules),
        decisions_section(result.decisions, result.names),
        text_section(result.profile, names=result.names),
        marketing_section(result.marketing),
        lineage_section(result),
    )


def lineage_section(result: CycleResult) -> str:
    """The run's lineage: inputs, configuration digests, models, resumed stages (审计留痕)."""
    lin = result.inputs.lineage
    models = pd.DataFrame([{"model": k, "version": v["version"],
                            "fitted for 拟合日期": v["fitted_for"] or "earlier"}
                           for k, v in result.model_versions.items()])
    loads = pd.DataFrame(lin.inputs)
    keep = [c for c in ("load_id", "table_name", "source_file", "sha256", "rows_loaded",
                        "rows_quarantined") if c in loads.columns]
    configs = pd.DataFrame({"file": list(lin.configs), "sha256": [v[:16] for v in
                                                                  lin.configs.values()]})
    stages = pd.DataFrame({"stage": list(result.seconds),
                           "seconds": [round(v, 2) for v in result.seconds.values()],
                           "resumed 续跑": [k in result.resumed for k in result.seconds]})
    return (
        "<h2>运行记录与数据血缘 Run lineage</h2>"
        f"<p class='note'>Run {html.escape(result.run_id)} as of {result.as_of}, creditpersona "
        f"{html.escape(lin.package_version)}, engine {html.escape(lin.engine)}, re-fits asked: "
        f"{html.escape(', '.join(lin.refit) or 'none')}. Inputs digest "
        f"<code>{lin.inputs_sha256[:16]}</code>, lineage fingerprint "
        f"<code>{lin.fingerprint[:16]}</code>. The ledger keeps every run: "
        f"<code>creditpersona runs --as-of {result.as_of}</code>.</p>"
        "<div class='grid'><div><h3>Models used 所用模型</h3>" + _table(models)
        + "<h3>Stages 各阶段</h3>" + _table(stages) + "</div><div>"
        "<h3>Configuration 配置文件</h3>" + _table(configs) + "</div></div>"
        "<h3>Input loads 输入数据批次</h3>" + _table(loads[keep])
    )


def strategy_section(strategies: pd.DataFrame) -> str:
    """Which credit strategy each persona follows (decisions/strategy.yaml)."""
    shown = strategies.rename(columns={"persona_id": "persona 客户性格", "firms": "firms",
                                       "strategy": "strategy", "strategy_zh": "策略",
                                       "rule": "rule # in strategy.yaml"})
    return ("<h3>授信策略 Credit strategy per persona</h3><p class='note'>The first rule of "
            "decisions/strategy.yaml that holds on a persona's firms attaches a strategy "
            "(spread adjustment, limit multiplier, main product, monitoring plan); rule 0 "
            "means none held and the default strategy applies.</p>" + _table(shown))
